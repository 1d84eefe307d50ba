"""A fax document's pages for people: the TIFF-F spandsp wrote (or a converted upload),
as page count and resolution, one page as PNG, the whole document as PDF (Pillow).  The
one module that reads fax TIFFs: the engine, the store's downloads and reports use it
(media/faxpages.py only writes them, from uploaded PDFs).

Fax pixels are not square at standard resolution (204 x 98 dpi): a PNG page is stretched to
square pixels so it looks like the paper; the PDF keeps each page's own resolution, so its
pages have the paper's size.  Costs are bounded: at most MAX_PAGES pages and MAX_PIXELS
pixels per page are read; anything else is `FaxDocumentError`.  Pillow keeps a bilevel page
at a byte per pixel (~4 MB for A4 fine), so the PDF is written page by page: one decoded
page at a time, whatever the page count.  These calls read files and take milliseconds
per page: the layers above run them off the event loop, a bounded number at once.
"""
from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from .resolution import t4_dpi

__all__ = ['FaxDocumentError', 'TiffInfo', 'tiff_info', 'page_png', 'page_image',
           'document_pdf', 'MAX_PAGES', 'MAX_PIXELS']

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


def _seek(img: Image.Image, n: int) -> None:
    """To page n, its size checked (headers only: nothing decoded yet)."""
    if not 0 <= n < getattr(img, 'n_frames', 1):
        raise FaxDocumentError(f'no page {n + 1}')
    try:
        img.seek(n)
    except (OSError, ValueError, EOFError) as e:
        raise FaxDocumentError(f'page {n + 1}: {e}') from None
    if img.width * img.height > MAX_PIXELS:
        raise FaxDocumentError(f'page {n + 1} is {img.width} x {img.height} pixels')


def _page(img: Image.Image, n: int) -> Image.Image:
    _seek(img, n)
    try:
        img.load()
    except (OSError, ValueError) as e:
        raise FaxDocumentError(f'page {n + 1}: {e}') from None
    return img


def _check_pages(img: Image.Image) -> int:
    """Every page's size within MAX_PIXELS (a received TIFF is the far end's); the count."""
    n = getattr(img, 'n_frames', 1)
    for i in range(n):
        _seek(img, i)
    img.seek(0)
    return n


def tiff_info(path: str | Path) -> TiffInfo:
    with _open(path) as img:
        x, y = _dpi(img)
        return TiffInfo(_check_pages(img), t4_dpi(round(x / 0.0254)),
                        t4_dpi(round(y / 0.0254)))


def page_image(path: str | Path, n: int) -> Image.Image:
    """Page n (0 = the first) as a bilevel image of its own (the report's thumbnail)."""
    with _open(path) as img:
        return _page(img, n).convert('1')


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
    """Every page in one PDF, each the size of its paper (CCITT G4 inside).  Pillow's PDF
    writer walks a multi-page image frame by frame, so only one page is decoded at a time."""
    with _open(path) as img:
        _check_pages(img)
        dpi = _dpi(img)
        if img.mode != '1':
            raise FaxDocumentError(f'not a bilevel fax page but mode {img.mode}')
        buf = io.BytesIO()
        try:
            # one resolution per PDF in Pillow: fax pages of one document share theirs
            img.save(buf, 'PDF', save_all=True, dpi=dpi)
        except (OSError, ValueError) as e:
            raise FaxDocumentError(f'unreadable page: {e}') from None
    return buf.getvalue()
