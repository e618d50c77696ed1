"""Keep code out of the reader's way on the website, at build time (issue 22).

The notebooks keep their code, and the build and nbval still execute it; only the web page
folds it. Every code cell's source is folded the way myst-nb folds a cell tagged
``hide-input`` (a ``<details>`` element whose summary, "Show code cell source", opens it), so
nobody has to tag every cell. Cells already tagged keep their behaviour: ``remove-input``,
``remove-cell`` and ``hide-input`` cells are left as myst-nb renders them, and a ``hide-output``
cell gets its source folded as well.

A cell that shows nothing but its code (imports, glue calls) is not shown at all while the page
is in its reading mode: a folded summary with nothing under it is only noise. The button this
extension puts under each chapter's title ("Show all code", ``ppnotes-code.js``) shows every
cell and opens every fold; the reader's choice is kept for the next page.
"""

from __future__ import annotations

from docutils import nodes
from sphinx.transforms.post_transforms import SphinxPostTransform

#: Class of a cell container whose folded source is all it shows.
CODE_ONLY = "ppnotes-code-only"
#: The page-level button; ``ppnotes-code.js`` makes it work.
TOGGLE_HTML = (
    '<div class="ppnotes-code-toggle">'
    '<button type="button" aria-pressed="false" data-cells="{n}">'
    "Show all code ({n} cells)</button></div>"
)
# myst-nb's HideInputCells runs at 199 and wraps each folded source in <details>.
MYSTNB_HIDE_PRIORITY = 199


def fold_cell(node: nodes.Element, prompt_show: str, prompt_hide: str) -> bool:
    """Fold the source of one myst-nb code cell (a ``cell_code`` container).

    Returns True if the cell's source is now folded (or was already, by a tag), False if the
    node is not a code cell with a visible source (e.g. ``remove-input``).
    """
    if node.get("nb_element") != "cell_code" or not node.children:
        return False
    if node.children[0].get("nb_element") != "cell_code_source":
        return False  # remove-input: no source to fold
    mode = node.get("hide_mode")
    if mode in ("input", "input+output", "all"):
        return True  # hide-input, hide-cell: myst-nb folds it already
    node["hide_mode"] = "input+output" if mode == "output" else "input"
    node.setdefault("prompt_show", prompt_show)
    node.setdefault("prompt_hide", prompt_hide)
    if node.children[-1].get("nb_element") != "cell_code_output":
        node["classes"].append(CODE_ONLY)
    return True


def add_toggle(document: nodes.document, n_cells: int) -> bool:
    """Put the "Show all code" button right under the page's first title."""
    for section in document.findall(nodes.section):
        title = next(iter(section.findall(nodes.title)), None)
        if title is not None:
            button = nodes.raw("", TOGGLE_HTML.format(n=n_cells), format="html")
            section.insert(section.index(title) + 1, button)
            return True
    return False


class FoldCodeCells(SphinxPostTransform):
    """Fold every code cell's source before myst-nb wraps the folded ones."""

    default_priority = MYSTNB_HIDE_PRIORITY - 1
    formats = ("html",)

    def run(self, **kwargs):
        config = self.app.config
        show = getattr(config, "nb_code_prompt_show", None) or "Show code cell {type}"
        hide = getattr(config, "nb_code_prompt_hide", None) or "Hide code cell {type}"
        folded = [
            node
            for node in list(self.document.findall(nodes.container))
            if fold_cell(node, show, hide)
        ]
        if folded:
            add_toggle(self.document, len(folded))


def setup(app):
    app.add_post_transform(FoldCodeCells)
    app.add_js_file("ppnotes-code.js", defer="defer")
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
