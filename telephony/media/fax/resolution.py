"""T.4 resolutions in the numbers the Q-loud document reports (its example fax: x_res 203,
y_res 98 for R8 across and standard lines down)."""
from __future__ import annotations

__all__ = ['t4_dpi']

# spandsp keeps resolutions in pixels per metre: R8/R16 are 8 and 16 pels/mm (203, 406 dpi;
# spandsp's 8031 would round to 204), standard/fine/superfine 3.85, 7.7, 15.4 lines/mm
_T4_DPI = {8031: 203, 8000: 203, 16063: 406, 16000: 406,
           3850: 98, 3861: 98, 7700: 196, 7721: 196, 15400: 391, 15442: 391}


def t4_dpi(pixels_per_metre: int) -> int:
    """Dots per inch of a resolution in pixels per metre (spandsp's and TIFF's unit)."""
    return _T4_DPI.get(pixels_per_metre, round(pixels_per_metre * 0.0254))
