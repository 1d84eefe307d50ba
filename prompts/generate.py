"""Regenerate the prompt WAVs from prompts.toml with espeak-ng (8 kHz mono, 16-bit): all of
them, or only the ids given (`python prompts/generate.py conference-pin-enter`)."""
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> None:
    spec = tomllib.loads((HERE / 'prompts.toml').read_text())
    voice = spec.get('language', 'en')
    wanted = set(sys.argv[1:])
    for pid, text in spec['prompts'].items():
        if wanted and pid not in wanted:
            continue
        with tempfile.NamedTemporaryFile(suffix='.wav') as raw:
            subprocess.run(['espeak-ng', '-v', voice, '-s', '150', '-w', raw.name, text], check=True)
            subprocess.run(['sox', raw.name, '-r', '8000', '-c', '1', '-b', '16',
                            str(HERE / f'{pid}.wav')], check=True)
        print(pid, file=sys.stderr)


if __name__ == '__main__':
    main()
