"""Every quiz can be read in Chinese (issue 23): stems, worded answers and feedback carry their
Chinese, written with ``quiz.en_zh`` to the style sheet (docs/zh_style.md)."""

from __future__ import annotations

import importlib
import re

import pytest

from ppnotes import quiz
from ppnotes.quizzes import CHAPTER_QUIZZES
from tests.test_book_structure import ZH_FORBIDDEN

CJK = re.compile(r"[\u4e00-\u9fff]")
# An answer needs its Chinese when it is worded (two English words), not a number or a name.
WORDED = re.compile(r"[A-Za-z]{3,}\W+[A-Za-z]{3,}")


def quiz_texts(module: str):
    """(where, text, needs Chinese) for every piece of text of one chapter's quiz."""
    questions = importlib.import_module(f"ppnotes.quizzes.{module}").questions()
    for i, q in enumerate(questions, 1):
        yield f"{module} Q{i} stem", q["question"], True
        for j, a in enumerate(q["answers"], 1):
            if "answer" in a:
                text = a["answer"]
                worded = bool(WORDED.search(re.sub(r"\$[^$]*\$|`[^`]*`", "", text)))
                yield f"{module} Q{i} answer {j}", text, worded
            yield f"{module} Q{i} feedback {j}", a["feedback"], True


@pytest.mark.parametrize("module", sorted(CHAPTER_QUIZZES.values()))
def test_every_quiz_text_has_its_chinese(module):
    missing = [
        f"{where}: {text[:70]!r}"
        for where, text, needed in quiz_texts(module)
        if needed and not CJK.search(quiz.chinese_part(text))
    ]
    assert missing == [], "write these with quiz.en_zh(english, chinese):\n" + "\n".join(missing)


@pytest.mark.parametrize("module", sorted(CHAPTER_QUIZZES.values()))
def test_quiz_chinese_follows_the_style_sheet(module):
    found = [
        f"{where}: {bad!r} (write {good!r})"
        for where, text, _ in quiz_texts(module)
        for bad, good in ZH_FORBIDDEN.items()
        if bad in quiz.chinese_part(text)
    ]
    assert found == [], "forbidden forms (docs/zh_style.md):\n" + "\n".join(found)


def test_en_zh_puts_the_chinese_under_the_english():
    text = quiz.en_zh("The slowest stage", "最慢的 stage")
    assert text.startswith("The slowest stage") and quiz.chinese_part(text) == "最慢的 stage"
    shown = quiz.markdown_inline(quiz.en_zh("**Yes**: $p = 8$.", "**对**：$p = 8$。"))
    assert "<strong>Yes</strong>" in shown and "<strong>对</strong>" in shown and "$p = 8$" in shown
    assert quiz.chinese_part("only English") == ""


@pytest.mark.parametrize(
    "en, zh, word",
    [("", "中文", "en"), ("text", "", "zh"), ("text", "no Chinese here", "zh"), (3, "中文", "en")],
)
def test_en_zh_refuses_bad_text(en, zh, word):
    with pytest.raises((ValueError, TypeError), match=word):
        quiz.en_zh(en, zh)
