"""Test documents for fax objects: real PDFs made by Pillow, and what their pages look like.

Page n of `pdf(n_pages)` is white with its left half black when n is odd and its right half
black when n is even, so a rastered page shows which page it was and that it kept its side.
"""
from __future__ import annotations

import io

from PIL import Image, ImageStat

A4_PT = (595, 842)      # an A4 page in PDF points (1/72 inch)


def page_image(n: int, size: tuple[int, int] = A4_PT) -> Image.Image:
    w, h = size
    im = Image.new('L', size, 255)
    box = (0, 0, w // 2, h) if n % 2 else (w // 2, 0, w, h)
    im.paste(0, box)
    return im


def pdf(pages: int = 2, size: tuple[int, int] = A4_PT) -> bytes:
    images = [page_image(n, size) for n in range(1, pages + 1)]
    out = io.BytesIO()
    images[0].save(out, format='PDF', save_all=True, append_images=images[1:], resolution=72.0)
    return out.getvalue()


def dark_side(im: Image.Image) -> str:
    """'left' or 'right': which half of a rastered page is (mostly) black."""
    g = im.convert('L')
    w, h = g.size
    left, right = mean(g.crop((0, 0, w // 2, h))), mean(g.crop((w // 2, 0, w, h)))
    assert abs(left - right) > 100, (left, right)      # one half black, one white
    return 'left' if left < right else 'right'


def mean(im: Image.Image) -> float:
    """Mean grey level, 0 (black) to 255 (white)."""
    return ImageStat.Stat(im.convert('L')).mean[0]
