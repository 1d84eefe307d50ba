"""Test documents: multi-page TIFF-F (bilevel, 1728 pixels wide, 204 x 196 dpi, G3/G4)
with real content (text lines, a checkerboard, diagonal lines), and page bitmaps to
compare what was sent with what arrived."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

WIDTH = 1728            # pixels of an A4 fax line at R8 (204 dpi)
DPI = (204, 196)        # fine resolution


def _page(number: int, rows: int) -> Image.Image:
    img = Image.new('1', (WIDTH, rows), 1)   # 1 = white
    draw = ImageDraw.Draw(img)
    font = ImageFont.load_default()
    for line in range(0, rows // 3, 24):
        draw.text((80, 60 + line), f'Page {number} line {line // 24}: the quick brown fox '
                  f'jumps over the lazy dog 0123456789', font=font, fill=0)
    top = rows // 3 + 40
    for y in range(top, top + 320, 32):             # a checkerboard
        for x in range(80, WIDTH - 80, 32):
            if ((x // 32) + (y // 32) + number) % 2:
                draw.rectangle((x, y, x + 31, y + 31), fill=0)
    for k in range(0, WIDTH, 96):                  # diagonals to the bottom
        draw.line((k, top + 360, k + 400 * number, rows - 1), fill=0, width=2)
    draw.rectangle((0, 0, WIDTH - 1, rows - 1), outline=0, width=3)
    return img


def make_tiff(path: Path, pages: int = 2, rows: int = 1100,
              compression: str = 'group4', dpi: tuple[int, int] = DPI) -> Path:
    """A TIFF-F document of `pages` pages (1100 rows at 196 lpi: about 14 cm of paper)."""
    imgs = [_page(n + 1, rows) for n in range(pages)]
    imgs[0].save(path, format='TIFF', compression=compression, dpi=dpi, save_all=True,
                 append_images=imgs[1:])
    return path


def page_bitmaps(path: Path) -> list[np.ndarray]:
    """Every page of a TIFF as a bool array (True = black)."""
    out = []
    with Image.open(path) as img:
        for n in range(getattr(img, 'n_frames', 1)):
            img.seek(n)
            out.append(np.array(img.convert('1')) == 0)
    return out


def page_dpi(path: Path) -> list[tuple[int, int]]:
    out = []
    with Image.open(path) as img:
        for n in range(getattr(img, 'n_frames', 1)):
            img.seek(n)
            x, y = img.info.get('dpi', (0, 0))
            out.append((round(float(x)), round(float(y))))
    return out
