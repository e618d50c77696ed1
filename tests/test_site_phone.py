"""The site for every reader (issue 22): figure text readable on a phone, unique ids, explorers
that say what they show."""

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


SLIDERS_JS = """
() => [...document.querySelectorAll('.cell_output .widget-hslider')].map(c => ({
  readout: c.querySelector('.widget-readout').textContent.trim(),
  valuetext: c.querySelector('.noUi-handle').getAttribute('aria-valuetext'),
}))
"""
FRAME_ALTS_JS = """
() => [...document.querySelectorAll('.cell_output .widget-subarea img')].map(i => i.alt)
"""


def test_explorer_sliders_announce_values_and_frames_have_alt_text(visit):
    v = visit("book/02_bubble")
    site.show_explorers(v.page)
    v.page.wait_for_selector(".jupyter-widgets img", timeout=20000)
    v.page.wait_for_timeout(500)
    sliders = v.page.evaluate(SLIDERS_JS)
    assert sliders and all(s["valuetext"] == s["readout"] for s in sliders), sliders
    alts = v.page.evaluate(FRAME_ALTS_JS)
    assert alts and all(a.startswith("Explorer frame for ") for a in alts), alts[:3]
    before = alts[0]
    handle = v.page.locator(".cell_output .widget-hslider .noUi-handle").first
    handle.focus()
    handle.press("ArrowRight")
    v.page.wait_for_timeout(500)
    after = v.page.evaluate(SLIDERS_JS)[0]
    assert after["valuetext"] == after["readout"] != sliders[0]["readout"]
    assert v.page.evaluate(FRAME_ALTS_JS)[0] != before
