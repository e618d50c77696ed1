"""The built pages themselves, read as files: every explorer's widget state is complete, and
nothing heavy stands in front of a page's text.

An explorer is a tree of widget models saved when the build executes the notebook. If any model
is missing (for instance messages dropped by a busy build machine), the page shows "widget
model not found" and a dead explorer; this catches it without a browser. The state lives in
``_widget_state/<page>.js``, loaded when an explorer comes near the screen (issue 22).
"""

from __future__ import annotations

import json
import re

import pytest

from .conftest import SITE, _missing

STATE = re.compile(
    r'<script type="application/vnd.jupyter.widget-state\+json">(.*?)</script>', re.S
)
STATE_LINK = re.compile(r'<div id="ppnotes-widget-state" data-src="([^"]+)" hidden></div>')
# The JSON text the state script puts into the document (a JavaScript string literal).
STATE_TEXT = re.compile(r"^\s*s\.textContent = (\".*\");$", re.M)
VIEW = re.compile(r'<script type="application/vnd.jupyter.widget-view\+json">(.*?)</script>', re.S)


def chapter_pages() -> list:
    return sorted((SITE / "book").glob("[0-9][0-9]_*.html"))


def test_there_are_built_chapters():
    if not (SITE / "index.html").exists():
        _missing("no built site in _build/html: run 'make book' first")
    assert len(chapter_pages()) >= 4


@pytest.mark.parametrize("page", chapter_pages(), ids=lambda p: p.stem)
def test_every_widget_model_a_page_needs_is_saved(page):
    html = page.read_text()
    views = [json.loads(v)["model_id"] for v in VIEW.findall(html)]
    if not views:
        pytest.skip(f"{page.name} has no explorer")
    assert not STATE.findall(html), f"{page.name}: the widget state is back in the page"
    states = widget_states(page)
    assert len(states) == 1, f"{page.name}: expected one widget state, found {len(states)}"
    state = json.loads(states[0])["state"]
    referenced = set(re.findall(r"IPY_MODEL_([0-9a-f]+)", states[0])) | set(views)
    missing = referenced - set(state)
    assert not missing, f"{page.name}: {len(missing)} widget models referenced but not saved"


def widget_states(page) -> list[str]:
    """The JSON texts of the widget state a page loads (from the file its link names)."""
    links = STATE_LINK.findall(page.read_text())
    assert len(links) <= 1, f"{page.name}: {len(links)} widget-state links"
    if not links:
        return []
    target = (page.parent / links[0]).resolve()
    assert target.is_relative_to(SITE.resolve()) and target.exists(), f"{page.name}: {target}"
    return [json.loads(literal) for literal in STATE_TEXT.findall(target.read_text())]


def all_pages() -> list:
    return sorted(SITE.rglob("*.html"))


HEAD = re.compile(r"<head>(.*?)</head>", re.S)


@pytest.mark.parametrize("page", chapter_pages(), ids=lambda p: p.stem)
def test_text_comes_before_anything_heavy(page):
    """Issue 22: a chapter's <head> holds no widget state and loads no icon script or search
    index; its own bytes are mostly text (under 600 kB, the widget state is elsewhere)."""
    html = page.read_text()
    head = HEAD.search(html).group(1)
    assert "widget-state" not in head, f"{page.name}: widget state in <head>"
    assert "fontawesome.js" not in html, f"{page.name}: still loads fontawesome.js"
    assert "searchindex.js" not in head, f"{page.name}: loads the search index before its text"
    assert page.stat().st_size < 600_000, f"{page.name}: {page.stat().st_size / 1e6:.2f} MB"


def test_icons_are_inline_and_the_icon_script_is_gone():
    if not (SITE / "index.html").exists():
        _missing("no built site in _build/html: run 'make book' first")
    assert not list((SITE / "_static").rglob("fontawesome.js")), "fontawesome.js still shipped"
    css = SITE / "_static" / "ppnotes-icons.css"
    assert css.exists() and ".svg-inline--fa{" in css.read_text()
    leftover = re.compile(r'<(i|span)\b[^>]*class="[^"]*\bfa-(solid|regular|brands)\b|class="fas ')
    for page in all_pages():
        html = page.read_text()
        assert not leftover.search(html), f"{page.name}: an icon was not made inline"
        if "svg-inline--fa" in html:
            assert "ppnotes-icons.css" in html, f"{page.name}: inline icons without their CSS"
    search = (SITE / "search.html").read_text()
    assert "searchindex.js" in search and "searchtools.js" in search


#: Page weight budget (issue 9: pages ready fast): explorers store their frames in the page.
MAX_PAGE_BYTES = 2_500_000


@pytest.mark.parametrize("page", chapter_pages(), ids=lambda p: p.stem)
def test_every_chapter_page_stays_within_its_weight_budget(page):
    size = page.stat().st_size
    assert size < MAX_PAGE_BYTES, f"{page.name} is {size / 1e6:.2f} MB (budget 2.5 MB)"
