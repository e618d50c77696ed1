"""The book's own Sphinx extensions (book/_ext), on small documents, without a build."""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

import pytest
from docutils import nodes
from docutils.frontend import get_default_settings
from docutils.parsers.rst import Parser
from docutils.utils import new_document
from sphinx.errors import ExtensionError

EXT = Path(__file__).resolve().parents[1] / "book" / "_ext"


def load(name: str):
    """Import book/_ext/<name>.py (it is not a package)."""
    spec = importlib.util.spec_from_file_location(name, EXT / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def code_cell(*, output: bool = True, source: bool = True, hide_mode: str | None = None):
    """A container shaped like myst-nb's rendering of one code cell."""
    cell = nodes.container(nb_element="cell_code", classes=["cell"])
    if hide_mode:
        cell["hide_mode"] = hide_mode
        cell["prompt_show"], cell["prompt_hide"] = "tagged show", "tagged hide"
    if source:
        cell += nodes.container(nb_element="cell_code_source", classes=["cell_input"])
    if output:
        cell += nodes.container(nb_element="cell_code_output", classes=["cell_output"])
    return cell


def test_every_code_source_is_folded():
    fold = load("code_folding").fold_cell
    cell = code_cell()
    assert fold(cell, "Show {type}", "Hide {type}")
    assert cell["hide_mode"] == "input"
    assert (cell["prompt_show"], cell["prompt_hide"]) == ("Show {type}", "Hide {type}")
    assert "ppnotes-code-only" not in cell["classes"]


def test_a_cell_with_only_code_is_marked_to_disappear():
    mod = load("code_folding")
    cell = code_cell(output=False)
    assert mod.fold_cell(cell, "s", "h")
    assert mod.CODE_ONLY in cell["classes"]


def test_tagged_cells_keep_their_behaviour():
    fold = load("code_folding").fold_cell
    removed_input = code_cell(source=False)
    assert not fold(removed_input, "s", "h") and "hide_mode" not in removed_input
    for mode in ("input", "input+output", "all"):
        cell = code_cell(hide_mode=mode)
        assert fold(cell, "s", "h")
        assert cell["hide_mode"] == mode and cell["prompt_show"] == "tagged show"
    hidden_output = code_cell(hide_mode="output")
    assert fold(hidden_output, "s", "h") and hidden_output["hide_mode"] == "input+output"
    markdown = nodes.container(nb_element="cell_markdown")
    markdown += nodes.paragraph(text="prose")
    assert not fold(markdown, "s", "h")


def test_the_show_all_button_sits_under_the_first_title():
    mod = load("code_folding")
    doc = new_document("page", get_default_settings(Parser))
    section = nodes.section(ids=["a"])
    section += nodes.title(text="1. A chapter")
    section += nodes.paragraph(text="Why it matters.")
    doc += section
    assert mod.add_toggle(doc, 7)
    raw = section.children[1]
    assert isinstance(raw, nodes.raw) and raw["format"] == "html"
    assert "Show all code (7 cells)" in raw.astext() and 'data-cells="7"' in raw.astext()
    assert not mod.add_toggle(new_document("empty", get_default_settings(Parser)), 1)


def test_chinese_is_indexed_by_characters_and_pairs_and_queried_by_pairs():
    mod = load("chinese_search")
    assert mod.han_terms("流水线") == ["流", "水", "线", "流水", "水线"]
    assert mod.han_terms("流水线", query=True) == ["流水", "水线"]
    assert mod.han_terms("泡", query=True) == ["泡"]
    words = ["PP4流水线", "bubble", "气泡"]
    assert mod.split_words(words, query=True) == ["PP4", "流水", "水线", "bubble", "气泡"]
    indexed = mod.split_words(words)
    assert "气泡" in indexed and "气" in indexed and "bubble" in indexed and "PP4" in indexed


def test_chinese_search_keeps_english_stemming():
    mod = load("chinese_search")
    lang = mod.SearchEnglishChinese({})
    assert lang.lang == "en" and lang.stem("pipelines") == lang.stem("pipeline")
    assert lang.split("1F1B 的气泡（bubble）更小") == [
        "1F1B",
        "的",
        "气",
        "泡",
        "的气",
        "气泡",
        "bubble",
        "更",
        "小",
        "更小",
    ]


def test_toc_order_is_depth_first_from_the_root():
    mod = load("chinese_search")

    class Env:
        class config:
            root_doc = "intro"

        toctree_includes = {"intro": ["ch1", "ch2", "back"], "ch1": ["ch1a"], "back": ["ch1"]}

    assert mod.toc_order(Env) == ["intro", "ch1", "ch1a", "ch2", "back"]


class Script:
    """Stands in for Sphinx's _JavaScript: a filename and attributes."""

    def __init__(self, filename, **attributes):
        self.filename, self.attributes = filename, attributes


def test_widget_state_leaves_the_page_head():
    mod = load("fast_pages")
    state = '{"state": {"a": 1}, "note": "</script> \\"quoted\\""}'
    scripts = [Script("a.js"), Script(None, type=mod.WIDGET_STATE, body=state), Script("b.js")]
    kept, states = mod.split_widget_state(scripts)
    assert [s.filename for s in kept] == ["a.js", "b.js"] and states == [state]
    code = mod.state_script(states)
    literal = re.search(r"s\.textContent = (\".*\");$", code, re.M).group(1)
    assert json.loads(literal) == state  # the page gets the state back byte for byte
    assert mod.split_widget_state([scripts[0]]) == ([scripts[0]], [])


FA_SNIPPET = (
    'var p={bars:[448,512,["navicon"],"f0c9","M0 96Z"],"magnifying-glass":[512,512,[],"f002",'
    '"M416 208Z"]};d("fas",p);var q={"file":[384,512,[],"f15b","M0 64R"]};d("far",q);'
)


def test_font_awesome_icons_are_read_by_pack():
    mod = load("fast_pages")
    icons = mod.font_awesome_icons(FA_SNIPPET)
    assert icons[("fas", "bars")] == (448, 512, "M0 96Z")
    assert icons[("fas", "magnifying-glass")] == (512, 512, "M416 208Z")
    assert icons[("far", "file")] == (384, 512, "M0 64R") and ("fas", "file") not in icons


def test_icons_become_inline_svg_keeping_classes_and_attributes():
    mod = load("fast_pages")
    icons = mod.font_awesome_icons(FA_SNIPPET)
    page = (
        '<head>\n<meta charset="utf-8" />\n<link rel="stylesheet" href="theme.css" />'
        '<script defer src="../_static/scripts/fontawesome.js?digest=1"></script></head>'
        '<span class="fa-solid fa-bars"></span>'
        '<i class="theme-switch fa-solid fa-magnifying-glass fa-lg" data-mode="x" '
        'title="Find"></i><i class="not-an-icon"></i>'
    )
    out = mod.inline_icons(page, icons)
    assert "fontawesome.js" not in out
    icon_css = '<link rel="stylesheet" href="../_static/ppnotes-icons.css" />'
    assert out.startswith(f'<head>\n<meta charset="utf-8" />\n{icon_css}')  # before the theme
    assert '<svg class="svg-inline--fa fa-bars" aria-hidden="true"' in out
    assert 'viewBox="0 0 448 512"' in out and 'd="M0 96Z"' in out
    assert 'class="svg-inline--fa fa-magnifying-glass theme-switch fa-lg" data-mode="x"' in out
    assert "<title>Find</title>" in out and 'title="Find"' not in out
    assert '<i class="not-an-icon"></i>' in out
    with pytest.raises(ExtensionError, match="'moon'"):
        mod.inline_icons('<i class="fa-solid fa-moon"></i>', icons)


def test_search_scripts_stay_on_the_search_page_only():
    mod = load("fast_pages")
    page = (
        '<head><script src="../_static/searchtools.js"></script>\n'
        '    <script src="../_static/language_data.js"></script>\n'
        '    <script src="../searchindex.js"></script><script src="../_static/x.js"></script>'
    )
    light = mod.lighten_page(page, {}, search_page=False)
    assert "search" not in light.replace("x.js", "") and "x.js" in light
    assert mod.lighten_page(page, {}, search_page=True) == page
