"""Search that finds Chinese words, and results in the book's order (issue 22).

Sphinx's English index splits text at non-word characters, so a run of Chinese characters
(a whole clause: Chinese has no spaces) became one "word", and "气泡" found only the pages
where it stood alone. Here the index also holds every single Chinese character and every
pair of adjacent ones (character bigrams, the usual way to index Chinese without a
dictionary), and the page's query splitter (``splitQuery``, the same rule in JavaScript)
turns a Chinese query into its bigrams: a page matches when it holds all of them, so "气泡"
finds every page that contains it, and "流水线深度" the pages holding its four pairs.
English words are indexed and stemmed exactly as before.

Results are shown in the order of the table of contents (intro, chapters 1 to 10, back
matter), not by score and then title (which sorted "1.", "10.", "2."): the search page gets
the order as ``window.ppnotesTocOrder`` and ``ppnotes-search.js`` sorts by it.
"""

from __future__ import annotations

import json
import re

from sphinx.search.en import SearchEnglish

# CJK Unified Ideographs (with extension A) and the compatibility ideographs.
HAN_RUN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")


def han_terms(run: str, *, query: bool = False) -> list[str]:
    """Index terms of one run of Chinese characters: each character and each adjacent pair.

    For a query (``query=True``) only the pairs, so that every pair must be on the page; a
    one-character query is that character.
    """
    pairs = [run[i : i + 2] for i in range(len(run) - 1)]
    if query:
        return pairs or [run]
    return list(run) + pairs


def split_words(words: list[str], *, query: bool = False) -> list[str]:
    """Split each word that holds Chinese into its other parts and its Chinese terms."""
    out: list[str] = []
    for word in words:
        pos = 0
        for run in HAN_RUN.finditer(word):
            if run.start() > pos:
                out.append(word[pos : run.start()])
            out.extend(han_terms(run.group(), query=query))
            pos = run.end()
        if pos < len(word):
            out.append(word[pos:])
    return out


# The same rule as split_words(query=True), for the page (Sphinx embeds it in language_data.js).
JS_SPLITTER = r"""
function splitQuery(query) {
  var HAN = /[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+/g;
  var out = [];
  query.split(/[^\p{Letter}\p{Number}_\p{Emoji_Presentation}]+/gu).forEach(function (word) {
    if (!word) return;
    var pos = 0;
    word.replace(HAN, function (run, start) {
      if (start > pos) out.push(word.slice(pos, start));
      if (run.length === 1) out.push(run);
      for (var i = 0; i + 1 < run.length; i++) out.push(run.slice(i, i + 2));
      pos = start + run.length;
      return run;
    });
    if (pos < word.length) out.push(word.slice(pos));
  });
  return out;
}
"""


class SearchEnglishChinese(SearchEnglish):
    """English search (stop words, Porter stemmer) that also indexes Chinese by bigrams."""

    lang = "en"
    js_splitter_code = JS_SPLITTER

    def split(self, input: str) -> list[str]:
        return split_words(super().split(input))


def toc_order(env) -> list[str]:
    """Every document in the order of the table of contents (depth first from the root)."""
    order: list[str] = []

    def walk(docname: str) -> None:
        if docname in order:
            return
        order.append(docname)
        for child in env.toctree_includes.get(docname, []):
            walk(child)

    walk(env.config.root_doc)
    return order


def _on_page_context(app, pagename, templatename, context, doctree):
    """Give the search page the book's order (in its <head>, before the search scripts)."""
    if pagename != "search":
        return
    order = json.dumps(toc_order(app.env))
    script = f"<script>window.ppnotesTocOrder = {order};</script>\n"
    context["metatags"] = context.get("metatags", "") + script


def setup(app):
    app.add_search_language(SearchEnglishChinese)
    app.connect("html-page-context", _on_page_context)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
