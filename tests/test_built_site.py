"""The built pages themselves, read as files: every explorer's widget state is complete.

An explorer is a tree of widget models saved into the page when the build executes the
notebook. If any model is missing (for instance messages dropped by a busy build machine), the
page shows "widget model not found" and a dead explorer; this catches it without a browser.
"""

from __future__ import annotations

import json
import re

import pytest

from .conftest import SITE, _missing

STATE = re.compile(
    r'<script type="application/vnd.jupyter.widget-state\+json">(.*?)</script>', re.S
)
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
    states = STATE.findall(html)
    assert len(states) == 1, f"{page.name}: expected one widget state, found {len(states)}"
    state = json.loads(states[0])["state"]
    referenced = set(re.findall(r"IPY_MODEL_([0-9a-f]+)", states[0])) | set(views)
    missing = referenced - set(state)
    assert not missing, f"{page.name}: {len(missing)} widget models referenced but not saved"


#: Page weight budget (issue 9: pages ready fast): explorers store their frames in the page.
MAX_PAGE_BYTES = 2_500_000


@pytest.mark.parametrize("page", chapter_pages(), ids=lambda p: p.stem)
def test_every_chapter_page_stays_within_its_weight_budget(page):
    size = page.stat().st_size
    assert size < MAX_PAGE_BYTES, f"{page.name} is {size / 1e6:.2f} MB (budget 2.5 MB)"
