"""Chinese typography on the built pages (issue 23): no stray space where a source line broke
between two Chinese characters, none after a bold sentence ending in full-width punctuation."""

from __future__ import annotations

import re

import pytest

from .conftest import SITE

CJK = "\u3000-\u303f\u4e00-\u9fff\uff00-\uffef"
BREAK = re.compile(rf"[{CJK}][ \t]*\n[ \t]*[{CJK}]")
BOLD_SPACE = re.compile(rf"[，。；：！？、）](?:</strong>|</b>)\s+[{CJK}]")
SKIPPED = re.compile(r"<(pre|code|script|style|textarea)\b.*?</\1>", re.S)


def pages() -> list:
    return sorted(SITE.rglob("*.html")) if SITE.exists() else []


@pytest.mark.parametrize("page", pages(), ids=lambda p: str(p.relative_to(SITE)))
def test_no_stray_spaces_in_chinese(page):
    # code, scripts and the like become a Latin placeholder: the space before inline code is
    # the style's space between Chinese and Latin text, not a stray one
    text = SKIPPED.sub(" x ", page.read_text(encoding="utf-8"))
    breaks = [m.group(0) for m in BREAK.finditer(text)][:5]
    assert breaks == [], f"{page.name}: line breaks between Chinese characters {breaks!r}"
    spaces = [m.group(0) for m in BOLD_SPACE.finditer(text)][:5]
    assert spaces == [], f"{page.name}: a space after bold full-width punctuation {spaces!r}"
