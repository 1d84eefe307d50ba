"""Fax documents as files: PDF in, TIFF-F kept (Q-loud §3.13); the transmission report.
Reading a kept TIFF (its pages, PNG and PDF out) is media/fax/pages.py's alone.

A fax is kept as one multi-page bilevel TIFF: 1728 pixels wide (the T.4 A4 line),
204 x 196 dpi ("fine"), CCITT T.6 (G4) compressed.  An uploaded PDF is rastered by
ghostscript (its own process, under a time limit and a file size limit), each page
fitted onto an A4 page, and thresholded to black and white (or dithered, for
photos) by Pillow.  Every function here blocks: callers run them in worker threads.
"""
from __future__ import annotations

import io
import logging
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont, ImageOps

from .audiofile import write_atomic
from .fax.pages import FaxDocumentError, page_image
from .fax.resolution import t4_dpi

log = logging.getLogger('telephony.fax')

WIDTH = 1728                  # pixels in a T.4 A4 scan line
HEIGHT = 2292                 # 297 mm at 196 lines per inch
X_RES, Y_RES = 204, 196       # dpi, T.30 "fine"
GS_FILE_LIMIT = 64 * 1024 * 1024       # bytes one file ghostscript writes may reach
GS_MEMORY_LIMIT = 1024 * 1024 * 1024   # bytes of address space it may use
_ERR_TAIL = 300               # characters of ghostscript's complaint that reach the log


class DocumentError(Exception):
    """ghostscript or Pillow could not read the document."""


class ConvertTimeout(DocumentError):
    """ghostscript took longer than it was allowed."""


@dataclass(frozen=True)
class Pages:
    count: int
    x_res: int
    y_res: int


def _gs(args: list[str], timeout: float) -> str:
    """Run ghostscript (-dSAFER, bounded in time, memory and file size); its stdout."""
    gs = shutil.which('gs')
    if gs is None:
        raise DocumentError('ghostscript (gs) is not installed')
    cmd = [gs, '-q', '-dSAFER', '-dBATCH', '-dNOPAUSE', '-dNOPROMPT', *args]
    limit = shutil.which('prlimit')
    if limit:
        cmd = [limit, f'--as={GS_MEMORY_LIMIT}', f'--fsize={GS_FILE_LIMIT}', '--', *cmd]
    try:
        r = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout,
                           check=False)
    except subprocess.TimeoutExpired:
        raise ConvertTimeout(f'ghostscript took more than {timeout:g} s') from None
    if r.returncode != 0:
        err = r.stderr.decode(errors='replace').strip()[-_ERR_TAIL:]
        raise DocumentError(f'ghostscript exit {r.returncode}: {err}')
    return r.stdout.decode(errors='replace')


def is_pdf(head: bytes) -> bool:
    """A PDF starts with %PDF- within its first kilobyte (ISO 32000 7.5.2, as readers allow)."""
    return b'%PDF-' in head[:1024]


def pdf_page_count(pdf: Path, timeout: float) -> int:
    """Pages in the PDF; DocumentError when ghostscript finds none (not a PDF it can read)."""
    path = os.fspath(pdf)
    ps_path = path.replace('\\', '\\\\').replace('(', '\\(').replace(')', '\\)')
    out = _gs(['-dNODISPLAY', f'--permit-file-read={path}', '-c',
               f'({ps_path}) (r) file runpdfbegin pdfpagecount = quit'], timeout)
    last = out.strip().splitlines()[-1:] or ['']
    if not last[0].strip().isdigit() or int(last[0]) <= 0:
        raise DocumentError('no pages in the document')
    return int(last[0])


def pdf_to_tiff(pdf: Path, tiff: Path, *, landscape: bool = False, photo: bool = False,
                max_pages: int = 100, timeout: float = 120.0) -> Pages:
    """Raster the PDF onto A4 fax pages and write them as one TIFF-F (atomically)."""
    with tempfile.TemporaryDirectory(prefix='.fax-', dir=tiff.parent) as tmp:
        # landscape: laid out on a landscape sheet, which is then turned 90 degrees clockwise
        # onto the fax's portrait page (so the x resolution before the turn is the fax's y).
        # ghostscript's fitting already turns a landscape page onto a portrait sheet (counter-
        # clockwise), and a portrait page onto a landscape one.
        geometry = f'-g{HEIGHT}x{WIDTH}' if landscape else f'-g{WIDTH}x{HEIGHT}'
        res = f'-r{Y_RES}x{X_RES}' if landscape else f'-r{X_RES}x{Y_RES}'
        smooth = ['-dTextAlphaBits=4', '-dGraphicsAlphaBits=4'] if photo else []
        _gs(['-sDEVICE=pnggray', res, geometry, '-dFIXEDMEDIA', '-dPDFFitPage',
             f'-dLastPage={max_pages}', *smooth, f'-sOutputFile={tmp}/p-%05d.png',
             os.fspath(pdf)], timeout)
        files = sorted(Path(tmp).glob('p-*.png'))[:max_pages]
        if not files:
            raise DocumentError('ghostscript rendered no pages')
        pages = [_bilevel(f, landscape, photo) for f in files]
        write_tiff(tiff, pages)
    # as the reading side reports them (media/fax/pages.py tiff_info): 203 x 196
    return Pages(len(pages), t4_dpi(round(X_RES / 0.0254)), t4_dpi(round(Y_RES / 0.0254)))


def _bilevel(png: Path, landscape: bool, photo: bool) -> Image.Image:
    with Image.open(png) as im:
        gray = im.convert('L')
    if landscape:
        gray = gray.transpose(Image.Transpose.ROTATE_270)
    if photo:           # Floyd-Steinberg: grey levels become dot density
        return gray.convert('1')
    return gray.point(lambda v: 255 if v >= 128 else 0, mode='1')


def write_tiff(path: Path, pages: list[Image.Image], dpi: tuple[int, int] = (X_RES, Y_RES)) -> None:
    buf = io.BytesIO()      # Pillow's multi-page writer reads back what it wrote
    pages[0].save(buf, format='TIFF', compression='group4', dpi=dpi, save_all=True,
                  append_images=pages[1:])
    write_atomic(path, lambda f: f.write(buf.getvalue()))


def report_pdf(title: str, lines: list[tuple[str, str]], tiff: Path | None) -> bytes:
    """A one-page transmission report: the fields, then the first page at half size."""
    page = Image.new('1', (WIDTH, HEIGHT), 1)
    draw = ImageDraw.Draw(page)
    big, font = ImageFont.load_default(size=44), ImageFont.load_default(size=30)
    draw.text((110, 100), title, font=big, fill=0)
    y = 200
    for key, value in lines:
        draw.text((110, y), key, font=font, fill=0)
        draw.text((560, y), value, font=font, fill=0)
        y += 46
    if tiff is not None:
        try:
            thumb = ImageOps.contain(page_image(tiff, 0).convert('L'), (WIDTH // 2, HEIGHT // 2))
            top = y + 40
            page.paste(thumb.convert('1'), ((WIDTH - thumb.width) // 2, top))
            draw.rectangle(((WIDTH - thumb.width) // 2 - 2, top - 2,
                            (WIDTH + thumb.width) // 2 + 1, top + thumb.height + 1), outline=0)
        except FaxDocumentError as exc:
            log.warning('event=fax-report-thumb-failed path=%s error=%s', tiff, exc)
    out = io.BytesIO()
    page.save(out, format='PDF', dpi=(X_RES, Y_RES))
    return out.getvalue()
