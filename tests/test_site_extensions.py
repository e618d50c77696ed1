"""The book's own Sphinx extensions (book/_ext), on small documents, without a build."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from docutils import nodes
from docutils.frontend import get_default_settings
from docutils.parsers.rst import Parser
from docutils.utils import new_document

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
