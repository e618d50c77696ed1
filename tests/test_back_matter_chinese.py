"""The back matter in both languages (issue 23): the glossary's 中文释义 column, the notation
tables' 中文含义 column and the notation page's prose as English / 中文 tabs."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from markdown_it import MarkdownIt

ROOT = Path(__file__).resolve().parents[1]
BOOK = ROOT / "book"
GLOSSARY = BOOK / "glossary.md"
NOTATION = BOOK / "notation.md"

CJK = re.compile(r"[\u4e00-\u9fff]")
MATH = re.compile(r"\$[^$]+\$")
CODE = re.compile(r"`[^`]+`")
CITE = re.compile(r"\{cite\}`[^`]+`")
TAB_SET = re.compile(r"^::::\{tab-set\}\n(?P<body>[\s\S]*?)^::::$", re.M)
TAB_ITEM = re.compile(r"^:::\{tab-item\} (?P<label>[^\n]+)\n(?P<body>[\s\S]*?)^:::$", re.M)
#: Chinese run straight into Latin letters, digits, math or code, or the other way round
#: (docs/zh_style.md: one space between them).
NO_SPACE = re.compile(r"[\u4e00-\u9fff][A-Za-z0-9$`]|[A-Za-z0-9$`][\u4e00-\u9fff]")
#: ASCII punctuation next to Chinese (docs/zh_style.md: full-width punctuation).
HALF_WIDTH = re.compile(r"[\u4e00-\u9fff][,;:!?()]|[(][\u4e00-\u9fff]")

GLOSSARY_HEADER = ["English", "中文", "Meaning", "中文释义", "Ch."]
NOTATION_HEADER = ["Symbol", "Meaning", "中文含义", "Unit", "Ch."]


def cells(line: str) -> list[str]:
    return [c.strip() for c in line.strip().strip("|").split("|")]


def tables(text: str) -> list[list[list[str]]]:
    """Every pipe table of ``text``, as rows of cells (header first, separator dropped)."""
    found: list[list[list[str]]] = []
    current: list[list[str]] | None = None
    for line in text.splitlines():
        if line.startswith("|"):
            if current is None:
                current = []
                found.append(current)
            if not re.fullmatch(r"\|(?:\s*:?-+:?\s*\|)+", line.strip()):
                current.append(cells(line))
        else:
            current = None
    return found


def table_lines(text: str) -> list[list[str]]:
    """The raw lines of every pipe table, separator included."""
    blocks: list[list[str]] = []
    inside = False
    for line in text.splitlines():
        if line.startswith("|"):
            if not inside:
                blocks.append([])
            blocks[-1].append(line)
        inside = line.startswith("|")
    return blocks


def glossary_table() -> list[list[str]]:
    (table,) = tables(GLOSSARY.read_text(encoding="utf-8"))
    return table


def notation_tables() -> list[list[list[str]]]:
    return tables(NOTATION.read_text(encoding="utf-8"))


def tab_sets(text: str) -> list[dict[str, str]]:
    return [
        {m["label"].strip(): m["body"] for m in TAB_ITEM.finditer(s["body"])}
        for s in TAB_SET.finditer(text)
    ]


# --- the glossary ------------------------------------------------------------------------------


def test_glossary_header_adds_the_chinese_definition_after_the_meaning():
    assert glossary_table()[0] == GLOSSARY_HEADER


def test_every_glossary_row_has_a_chinese_definition():
    rows = glossary_table()[1:]
    assert len(rows) >= 100
    missing = [row[0] for row in rows if not CJK.search(row[3])]
    assert missing == [], f"rows without a 中文释义: {missing}"
    english = [row[0] for row in rows if CJK.search(row[2])]
    assert english == [], f"Chinese in the English Meaning: {english}"


def test_glossary_chinese_definition_keeps_the_formulas():
    lost = [
        (row[0], sorted(set(MATH.findall(row[2])) - set(MATH.findall(row[3]))))
        for row in glossary_table()[1:]
        if set(MATH.findall(row[2])) - set(MATH.findall(row[3]))
    ]
    assert lost == [], f"formulas of the Meaning missing from the 中文释义: {lost}"


def test_glossary_intro_comes_in_both_languages():
    text = GLOSSARY.read_text(encoding="utf-8")
    intro = text[: text.index("\n|")].split("\n", 1)[1]
    paragraphs = [p.strip() for p in intro.split("\n\n") if p.strip()]
    assert len(paragraphs) == 2, paragraphs
    english, chinese = paragraphs
    assert not CJK.search(english) and "each language" in english, english
    assert len(CJK.findall(chinese)) >= 10 and "释义" in chinese


def test_glossary_terms_still_read_english_to_chinese():
    """tests/test_book_structure.py::glossary_terms reads the first two columns."""
    from tests.test_book_structure import glossary_terms

    terms = glossary_terms()
    assert terms == {row[0]: row[1] for row in glossary_table()}  # header row included
    assert terms["pipeline depth"] == "流水线深度"
    assert terms["bubble"] == "气泡"


# --- the notation page -------------------------------------------------------------------------


def test_notation_tables_add_the_chinese_meaning_after_the_meaning():
    found = notation_tables()
    assert len(found) == 2
    assert [t[0] for t in found] == [NOTATION_HEADER, NOTATION_HEADER]


def test_every_notation_row_has_a_chinese_meaning():
    rows = [row for table in notation_tables() for row in table[1:]]
    assert len(rows) >= 45
    missing = [row[0] for row in rows if not CJK.search(row[2])]
    assert missing == [], f"rows without a 中文含义: {missing}"
    english = [row[0] for row in rows if CJK.search(row[1])]
    assert english == [], f"Chinese in the English Meaning: {english}"


def test_notation_chinese_meaning_keeps_formulas_and_no_new_code_names():
    rows = [row for table in notation_tables() for row in table[1:]]
    lost = [row[0] for row in rows if set(MATH.findall(row[1])) - set(MATH.findall(row[2]))]
    assert lost == [], f"formulas of the Meaning missing from the 中文含义: {lost}"
    code = [row[0] for row in rows if set(CODE.findall(row[2])) - set(CODE.findall(row[1]))]
    assert code == [], f"code names in the 中文含义 that the Meaning does not have: {code}"


def test_notation_prose_comes_as_english_and_chinese_tabs():
    text = NOTATION.read_text(encoding="utf-8")
    sets = tab_sets(text)
    assert len(sets) == 2, f"expected the opening and the closing prose as tabs, got {len(sets)}"
    for tabs in sets:
        assert list(tabs) == ["English", "中文"], list(tabs)
        assert re.search(r"^:sync: en$", tabs["English"], re.M)
        assert re.search(r"^:sync: zh$", tabs["中文"], re.M)
        assert re.search(r"^:class-content: lang-zh-hans$", tabs["中文"], re.M)
        assert not CJK.search(tabs["English"])
        assert len(CJK.findall(tabs["中文"])) >= 40
        assert CITE.findall(tabs["English"]) == CITE.findall(tabs["中文"])
        assert tabs["English"].count("\n\n") == tabs["中文"].count("\n\n"), "one paragraph each"
    # the tables stay outside the tabs, shared by both languages
    outside = TAB_SET.sub("", text)
    assert [t[0] for t in tables(outside)] == [NOTATION_HEADER, NOTATION_HEADER]
    assert not any(
        line.startswith("|") for s in TAB_SET.finditer(text) for line in s[0].split("\n")
    )
    # every citation of the page is in the tabs, so both languages keep it
    assert sorted(CITE.findall(text)) == sorted(
        c for tabs in sets for body in tabs.values() for c in CITE.findall(body)
    )
    for key in ("pytorch_pipelining", "huang2019gpipe", "narayanan2021efficient"):
        assert f"{{cite}}`{key}`" in sets[1]["中文"], key


# --- both pages --------------------------------------------------------------------------------


@pytest.mark.parametrize("path", [GLOSSARY, NOTATION], ids=lambda p: p.name)
def test_tables_have_the_same_number_of_cells_in_every_row(path):
    text = path.read_text(encoding="utf-8")
    blocks = table_lines(text)
    assert blocks
    for block in blocks:
        widths = {len(cells(line)) for line in block}
        assert len(widths) == 1, f"{path.name}: rows of {widths} cells in {block[0]}"


@pytest.mark.parametrize("path", [GLOSSARY, NOTATION], ids=lambda p: p.name)
def test_markdown_parses_every_table_row_as_a_table_row(path):
    """The pipe tables survive a CommonMark + GFM-table parse (what MyST builds on)."""
    text = path.read_text(encoding="utf-8")
    tokens = MarkdownIt("commonmark").enable("table").parse(text)
    row_cells: list[int] = []
    for tok in tokens:
        if tok.type == "tr_open":
            row_cells.append(0)
        elif tok.type in ("th_open", "td_open"):
            row_cells[-1] += 1
    expected = [len(cells(line)) for block in table_lines(text) for line in block[:1] + block[2:]]
    assert row_cells == expected, f"{path.name}: parsed rows {row_cells}"


@pytest.mark.parametrize("path", [GLOSSARY, NOTATION], ids=lambda p: p.name)
def test_chinese_spacing_and_punctuation(path):
    """docs/zh_style.md: a space between Chinese and Latin or digits, full-width punctuation."""
    text = path.read_text(encoding="utf-8")
    chinese = [
        cell for table in tables(text) for row in table[1:] for cell in row if CJK.search(cell)
    ]
    chinese += [tabs["中文"] for tabs in tab_sets(text)]
    bad = [m.group(0) for part in chinese for m in NO_SPACE.finditer(part)]
    bad += [m.group(0) for part in chinese for m in HALF_WIDTH.finditer(part)]
    assert bad == [], f"{path.name}: {bad}"
