"""The site on a phone (issue 22): figure text stays readable, ids are unique."""

from __future__ import annotations

import pytest

from ppnotes.plots.style import FIGURE_CSS_DPI, STYLE

from . import test_site as site
from .test_site import PHONE, chapters, toc_pages

visit = site.visit  # the page-opening fixture, shared with test_site.py

pytestmark = pytest.mark.browser

#: The smallest text the book's style draws (the legend), in CSS px at the drawn width.
SMALLEST_FONT_PX = STYLE["legend.fontsize"] * FIGURE_CSS_DPI / 72
MIN_ON_SCREEN_PX = 9

# Each figure image: the width it was drawn at (myst-nb writes it inline) and the width shown.
FIGURE_SCALES_JS = """
() => [...document.querySelectorAll('figure img')].map(img => ({
  src: img.getAttribute('src'),
  drawn: parseFloat(img.style.width) || img.naturalWidth / 2,
  shown: img.getBoundingClientRect().width,
}))
"""

DUPLICATE_IDS_JS = """
() => {
  const seen = new Map();
  for (const el of document.querySelectorAll('[id]')) seen.set(el.id, (seen.get(el.id) || 0) + 1);
  return [...seen].filter(([, n]) => n > 1).map(([id]) => id);
}
"""


@pytest.mark.parametrize("page", chapters())
def test_phone_figures_keep_text_readable(visit, page):
    v = visit(page, PHONE)
    scales = v.page.evaluate(FIGURE_SCALES_JS)
    assert scales, f"{page}: no figures found"
    small = [
        (s["src"], round(SMALLEST_FONT_PX * s["shown"] / s["drawn"], 1))
        for s in scales
        if SMALLEST_FONT_PX * s["shown"] / s["drawn"] < MIN_ON_SCREEN_PX
    ]
    assert small == [], f"{page}: figure text under {MIN_ON_SCREEN_PX} px on a phone: {small}"


@pytest.mark.parametrize("page", toc_pages())
def test_ids_are_unique(visit, page):
    v = visit(page)
    assert v.page.evaluate(DUPLICATE_IDS_JS) == [], f"{page}: repeated element ids"
