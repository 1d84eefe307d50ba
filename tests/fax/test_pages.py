"""A fax document's pages: count and resolution, PNG pages, the PDF."""
from __future__ import annotations

import io
import re

import numpy as np
import pytest
from PIL import Image

from telephony.media.fax.pages import (
    FaxDocumentError,
    TiffInfo,
    document_pdf,
    page_png,
    tiff_info,
)

from .documents import make_tiff, page_bitmaps


def test_info_of_a_fine_and_a_standard_document(tmp_path, document):
    assert tiff_info(document) == TiffInfo(2, 203, 196)
    std = make_tiff(tmp_path / 'std.tif', pages=3, rows=550, dpi=(204, 98))
    assert tiff_info(std) == TiffInfo(3, 203, 98)


def test_a_fine_page_as_png_is_the_page(document):
    png = Image.open(io.BytesIO(page_png(document, 1)))
    assert png.format == 'PNG' and png.size == (1728, 1100)
    assert np.array_equal(np.array(png.convert('1')) == 0, page_bitmaps(document)[1])


def test_a_standard_page_as_png_has_square_pixels(tmp_path):
    std = make_tiff(tmp_path / 'std.tif', pages=1, rows=550, dpi=(204, 98))
    png = Image.open(io.BytesIO(page_png(std, 0)))
    assert png.size == (1728, round(550 * 204 / 98))
    rows = np.array(png.convert('1')) == 0
    src = page_bitmaps(std)[0]
    assert np.array_equal(rows[0], src[0]) and rows.sum() > src.sum()   # rows doubled


def test_the_pdf_has_every_page_at_paper_size(document):
    pdf = document_pdf(document)
    assert pdf.startswith(b'%PDF')
    boxes = re.findall(rb'/MediaBox\s*\[\s*0 0 ([\d.]+) ([\d.]+)\s*\]', pdf)
    assert len(boxes) == 2
    w, h = (float(v) for v in boxes[0])
    assert (round(w), round(h)) == (round(1728 / 204 * 72), round(1100 / 196 * 72))
    assert b'CCITTFaxDecode' in pdf    # bilevel pages stay G4, not a bitmap per pixel


@pytest.mark.parametrize('n', [-1, 2, 99])
def test_no_such_page(document, n):
    with pytest.raises(FaxDocumentError, match='no page'):
        page_png(document, n)


def test_what_is_not_a_tiff_is_refused(tmp_path):
    (tmp_path / 'x.tif').write_bytes(b'%PDF-1.4 not a tiff')
    Image.new('1', (10, 10)).save(tmp_path / 'y.png')
    for name in ('x.tif', 'y.png', 'missing.tif'):
        with pytest.raises(FaxDocumentError):
            tiff_info(tmp_path / name)


def test_too_many_pages_are_refused(tmp_path, monkeypatch):
    import telephony.media.fax.pages as pages
    monkeypatch.setattr(pages, 'MAX_PAGES', 1)
    with pytest.raises(FaxDocumentError, match='more than 1'):
        document_pdf(make_tiff(tmp_path / 'two.tif', pages=2, rows=100))


def test_too_large_pages_are_refused(tmp_path, monkeypatch):
    import telephony.media.fax.pages as pages
    monkeypatch.setattr(pages, 'MAX_PIXELS', 1000)
    with pytest.raises(FaxDocumentError, match='pixels'):
        page_png(make_tiff(tmp_path / 'one.tif', pages=1, rows=100), 0)


def test_a_large_later_page_is_refused_by_info_too(tmp_path, monkeypatch):
    import telephony.media.fax.pages as pages
    small, big = Image.new('1', (1728, 100), 1), Image.new('1', (1728, 400), 1)
    path = tmp_path / 'mixed.tif'
    small.save(path, format='TIFF', compression='group4', dpi=(204, 196), save_all=True,
               append_images=[big])
    monkeypatch.setattr(pages, 'MAX_PIXELS', 1728 * 200)
    assert page_png(path, 0).startswith(b'\x89PNG')
    for read in (tiff_info, document_pdf):       # a received TIFF is the far end's
        with pytest.raises(FaxDocumentError, match='page 2 is 1728 x 400 pixels'):
            read(path)


_PEAK = '''
import resource, sys
from telephony.media.fax.pages import document_pdf
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
pdf = document_pdf(sys.argv[1])
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(pdf.count(b'CCITTFaxDecode'), (after - before) // 1024)
'''


def test_the_pdf_is_written_page_by_page(tmp_path):
    """80 A4 fine pages decode to ~4 MB each in Pillow: all at once would be ~320 MB."""
    import subprocess
    import sys
    page = Image.new('1', (1728, 2292), 1)
    page.paste(0, (100, 100, 1600, 300))
    path = tmp_path / 'long.tif'
    page.save(path, format='TIFF', compression='group4', dpi=(204, 196), save_all=True,
              append_images=[page] * 79)
    out = subprocess.run([sys.executable, '-c', _PEAK, str(path)], capture_output=True,
                         text=True, check=True, timeout=300).stdout.split()
    g4_pages, grown_mb = (int(v) for v in out)
    assert g4_pages == 80                        # every page, each still G4
    assert grown_mb < 60, f'{grown_mb} MB more while writing the PDF'
