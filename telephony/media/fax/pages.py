"""A fax document's pages for people: the TIFF-F spandsp wrote (or a converted upload),
as page count and resolution, one page as PNG, the whole document as PDF (Pillow).

Fax pixels are not square at standard resolution (204 x 98 dpi): a PNG page is stretched to
square pixels so it looks like the paper; the PDF keeps each page's own resolution, so its
pages have the paper's size.  Costs are bounded: at most MAX_PAGES pages and MAX_PIXELS
pixels per page are read; anything else is `FaxDocumentError`.  These calls read files and
take milliseconds per page: the layers above run them off the event loop.
"""
from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from .resolution import t4_dpi

__all__ = ['FaxDocumentError', 'TiffInfo', 'tiff_info', 'page_png', 'document_pdf',
           'MAX_PAGES', 'MAX_PIXELS']

MAX_PAGES = 500             # a fax longer than this is not a fax
MAX_PIXELS = 4864 * 8000    # A3 at 600 dpi, a little over: the largest T.4 page


class FaxDocumentError(ValueError):
    """Not a fax document we can read (not a TIFF, too many or too large pages, no page)."""


@dataclass(frozen=True)
class TiffInfo:
    pages: int
    x_res: int     # dpi of the first page, as the Q-loud document reports them (203 x 98)
    y_res: int


def _open(path: str | Path) -> Image.Image:
    try:
        img = Image.open(path)
    except (UnidentifiedImageError, OSError) as e:
        raise FaxDocumentError(f'not a readable TIFF: {e}') from None
    if img.format != 'TIFF':
        img.close()
        raise FaxDocumentError(f'not a TIFF but {img.format}')
    n = getattr(img, 'n_frames', 1)
    if n > MAX_PAGES:
        img.close()
        raise FaxDocumentError(f'{n} pages, more than {MAX_PAGES}')
    return img


def _dpi(img: Image.Image) -> tuple[float, float]:
    x, y = img.info.get('dpi', (204.0, 196.0))
    x, y = float(x) or 204.0, float(y) or 196.0
    return x, y


def _page(img: Image.Image, n: int) -> Image.Image:
    if not 0 <= n < getattr(img, 'n_frames', 1):
        raise FaxDocumentError(f'no page {n + 1}')
    img.seek(n)
    if img.width * img.height > MAX_PIXELS:
        raise FaxDocumentError(f'page {n + 1} is {img.width} x {img.height} pixels')
    img.load()
    return img


def tiff_info(path: str | Path) -> TiffInfo:
    with _open(path) as img:
        x, y = _dpi(img)
        return TiffInfo(getattr(img, 'n_frames', 1), t4_dpi(round(x / 0.0254)),
                        t4_dpi(round(y / 0.0254)))


def page_png(path: str | Path, n: int) -> bytes:
    """Page n (0 = the first) as a PNG with square pixels."""
    with _open(path) as img:
        page = _page(img, n)
        x, y = _dpi(page)
        out = page.convert('1')
        if abs(x - y) / x > 0.1:        # standard resolution: each row is two rows tall
            out = out.resize((out.width, round(out.height * x / y)), Image.NEAREST)
        buf = io.BytesIO()
        out.save(buf, 'PNG', optimize=True, dpi=(x, x))
        return buf.getvalue()


def document_pdf(path: str | Path) -> bytes:
    """Every page in one PDF, each the size of its paper (CCITT G4 inside)."""
    with _open(path) as img:
        pages, dpis = [], []
        for n in range(getattr(img, 'n_frames', 1)):
            page = _page(img, n)
            pages.append(page.convert('1'))
            dpis.append(_dpi(page))
    if not pages:
        raise FaxDocumentError('no page')
    buf = io.BytesIO()
    # one resolution per PDF in Pillow: fax pages of one document share theirs
    pages[0].save(buf, 'PDF', save_all=True, append_images=pages[1:], dpi=dpis[0])
    return buf.getvalue()
