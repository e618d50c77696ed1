"""The book's structure: table of contents, stored notebooks, glue keys, the chapter template."""

from __future__ import annotations

import importlib
import importlib.util
import json
import re
from pathlib import Path

import pytest
import yaml

from ppnotes.quizzes import CHAPTER_QUIZZES

ROOT = Path(__file__).resolve().parents[1]
BOOK = ROOT / "book"


def toc_files() -> list[str]:
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [toc["root"]]

    def walk(entries):
        for e in entries:
            if "file" in e:
                files.append(e["file"])
            walk(e.get("sections", []))

    for part in toc["parts"]:
        walk(part["chapters"])
    return files


def chapter_notebooks() -> list[Path]:
    return sorted(BOOK.glob("[0-9][0-9]_*.ipynb"))


def cells(path: Path, kind: str | None = None) -> list[dict]:
    nb = json.loads(path.read_text())
    return [c for c in nb["cells"] if kind is None or c["cell_type"] == kind]


def source(cell: dict) -> str:
    s = cell["source"]
    return "".join(s) if isinstance(s, list) else s


def test_toc_matches_the_files_in_book():
    listed = set(toc_files())
    on_disk = {
        str(p.relative_to(ROOT).with_suffix(""))
        for p in BOOK.iterdir()
        if p.suffix in (".md", ".ipynb") and not p.name.startswith(("_", "."))
    }
    assert listed == on_disk, f"in toc only: {listed - on_disk}; on disk only: {on_disk - listed}"
    for f in listed:
        assert any((ROOT / f"{f}{s}").exists() for s in (".md", ".ipynb")), f


@pytest.mark.parametrize("path", sorted(BOOK.glob("*.ipynb")), ids=lambda p: p.name)
def test_notebooks_are_stored_without_outputs(path):
    for c in cells(path, "code"):
        assert not c.get("outputs") and c.get("execution_count") is None, (
            f"{path.name} has stored outputs; clear them before committing"
        )


GLUE_USE = re.compile(r"\{glue(?::\w+)?\}`([A-Za-z0-9_\-]+)")
GLUE_DEF = re.compile(r"""glue\(\s*(f?)["']([^"']+)["']""")


def glue_definitions(path: Path) -> list[re.Pattern]:
    """Keys glued by a notebook's code; f-string keys become patterns (`{p}` matches anything)."""
    patterns = []
    for c in cells(path, "code"):
        for is_f, key in GLUE_DEF.findall(source(c)):
            if is_f:
                parts = re.split(r"\{[^}]*\}", key)
                patterns.append(re.compile(".+".join(map(re.escape, parts)) + "$"))
            else:
                patterns.append(re.compile(re.escape(key) + "$"))
        for key in re.findall(r"""glue_all\(\s*["']([^"']*)["']""", source(c)):
            patterns.append(re.compile(re.escape(key) + ".+$"))
    return patterns


@pytest.mark.parametrize("path", sorted(BOOK.glob("*.ipynb")), ids=lambda p: p.name)
def test_every_glue_key_used_in_prose_is_defined(path):
    defined = glue_definitions(path)
    for c in cells(path, "markdown"):
        for key in GLUE_USE.findall(source(c)):
            assert any(p.match(key) for p in defined), f"{path.name}: glue key {key!r} not defined"


@pytest.mark.parametrize("path", sorted(BOOK.glob("*.ipynb")), ids=lambda p: p.name)
def test_no_role_inside_inline_code(path):
    """A role inside backticks (`` `{glue:text}`key`` ``) breaks MyST's inline parsing: the
    rest of the paragraph turns into code (seen in chapter 11)."""
    for c in cells(path, "markdown"):
        assert not re.search(r"`\{(glue|cite|numref|eq)", source(c)), (
            f"{path.name}: a role inside inline code: {source(c)[:80]!r}"
        )


@pytest.mark.parametrize("path", sorted(BOOK.glob("*.ipynb")), ids=lambda p: p.name)
def test_no_visible_cell_ends_in_a_glue_call(path):
    """glue() returns its value, so a visible cell ending in one prints a stray number under
    an exercise (seen in chapter 11): such cells are tagged remove-cell."""
    for c in cells(path, "code"):
        lines = [line for line in source(c).splitlines() if line.strip()]
        if lines and lines[-1].startswith("glue("):
            assert "remove-cell" in c.get("metadata", {}).get("tags", []), (
                f"{path.name}: a visible cell ends in {lines[-1][:60]!r}"
            )


TEMPLATE = [
    ("learning goals", re.compile(r"^## Learning goals", re.M)),
    ("folded interview answer", re.compile(r"The interview answer[\s\S]*?:class: dropdown")),
    ("theory", re.compile(r"^## Theory", re.M)),
    ("explorer", re.compile(r"^## Explorer", re.M)),
    ("note check", re.compile(r"^## What the note says / what holds", re.M)),
    ("exercises", re.compile(r"^## Exercises", re.M)),
    ("an exercise", re.compile(r"```\{exercise\}")),
    ("a folded solution", re.compile(r"```\{solution\}[^\n]*\n:class: dropdown")),
    ("quiz", re.compile(r"^## Quiz", re.M)),
    ("summary", re.compile(r"^## Summary", re.M)),
    ("a citation", re.compile(r"\{cite\}`")),
    ("a labelled equation", re.compile(r":label: eq-")),
]


@pytest.mark.parametrize("path", chapter_notebooks(), ids=lambda p: p.name)
def test_chapter_follows_the_template(path):
    md = "\n".join(source(c) for c in cells(path, "markdown"))
    title = md.lstrip().splitlines()[0]
    assert re.match(r"# .+ \(.*[\u4e00-\u9fff].*\)$", title), (
        f"title needs the Chinese term: {title}"
    )
    missing = [name for name, pattern in TEMPLATE if not pattern.search(md)]
    assert not missing, f"{path.name} lacks: {missing}"
    code = cells(path, "code")
    captions = [c for c in code if c["metadata"].get("mystnb", {}).get("figure", {}).get("caption")]
    assert len(captions) >= 2, f"{path.name} needs at least two captioned figures"
    assert any("widgets.explorer(" in source(c) for c in code), f"{path.name} needs an explorer"
    last = code[-1]
    assert "remove-cell" in last["metadata"].get("tags", []) and "assert" in source(last), (
        f"{path.name} must end with a hidden cell asserting its claims"
    )


@pytest.mark.parametrize("path", chapter_notebooks(), ids=lambda p: p.name)
def test_chapter_shows_its_computed_quiz(path):
    module = CHAPTER_QUIZZES.get(path.stem)
    assert module, f"add {path.stem!r} to ppnotes.quizzes.CHAPTER_QUIZZES"
    questions = importlib.import_module(f"ppnotes.quizzes.{module}").questions()
    assert len(questions) >= 6
    shown = [c for c in cells(path, "code") if "quiz.show(" in source(c)]
    assert shown and re.search(rf"from ppnotes\.quizzes import {module}\b", source(shown[0]))
    assert ".questions())" in source(shown[0])
    assert "remove-input" in shown[0]["metadata"].get("tags", [])


# A number glued with a percent format renders as "17.9%". Typed inputs and quotes (a 5 %
# target, the note's printed "31.9 %") are written with a space before "%", by convention.
TYPED_PERCENT = re.compile(r"(?<![\w.{`])\d+(?:\.\d+)?%")


@pytest.mark.parametrize("path", sorted(BOOK.glob("*.ipynb")), ids=lambda p: p.name)
def test_no_hand_typed_percentages_in_prose(path):
    """Computed results are usually percentages; in prose they must come from glue.

    Inputs and quotations are allowed when written with a space ("a 5 % target").
    """
    for c in cells(path, "markdown"):
        text = re.sub(r"\{glue[^`]*`[^`]*`|`[^`]*`|\$[^$]*\$", "", source(c))
        found = TYPED_PERCENT.findall(text)
        assert not found, f"{path.name}: typed percentages {found}; glue them"


def test_readme_starts_with_the_two_commands():
    readme = (ROOT / "README.md").read_text()
    head = readme[:1500]
    assert "make book" in head and "make test" in head


def test_ci_runs_the_readme_test_command():
    ci = (ROOT / ".ci" / "run").read_text()
    assert "set -euo pipefail" in ci and "make test" in ci


# ------------------------------------------------------------ the interview answer in two tabs
# Issue 14: every chapter's folded interview answer, and the intro's one-minute answer, come as
# two sphinx-design tabs, "English" and "中文", with the same glued numbers in the same order.

CJK = re.compile(r"[\u4e00-\u9fff]")
ANSWER_TITLE = re.compile(r"^:{3,}\{admonition\} The (?:interview|one-minute) answer", re.M)
TAB_ITEM = re.compile(r"^:::\{tab-item\} (?P<label>[^\n]+)\n(?P<body>[\s\S]*?)^:::$", re.M)

# The glossary's English term for each chapter's subject; its Chinese term must appear in the
# 中文 tab. A new chapter adds its line here.
SUBJECT_TERMS = {
    "intro": "pipeline depth",
    "01": "pipeline depth",
    "02": "bubble",
    "03": "communication",
    "04": "GPU memory",
    "05": "performance model",
    "06": "inference (serving)",
    "07": "optimal depth",
    "08": "case study",
    "09": "recommendations",
    "10": "real pipeline run",
    "11": "mixture of experts",
}


def glossary_terms() -> dict[str, str]:
    """English term -> Chinese term, from the table in book/glossary.md."""
    terms = {}
    for line in (BOOK / "glossary.md").read_text(encoding="utf-8").splitlines():
        cols = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("|") and len(cols) >= 3 and not set(cols[0]) <= {"-", " "}:
            terms[cols[0]] = cols[1]
    return terms


def answer_text(path: Path) -> str:
    """The markdown holding the folded answer (a notebook cell, or the intro page)."""
    texts = (
        [path.read_text(encoding="utf-8")]
        if path.suffix == ".md"
        else [source(c) for c in cells(path, "markdown")]
    )
    found = [t for t in texts if ANSWER_TITLE.search(t)]
    assert len(found) == 1, f"{path.name}: expected one folded answer, found {len(found)}"
    text = found[0]
    return text[ANSWER_TITLE.search(text).start() :]


def answer_tabs(path: Path) -> dict[str, str]:
    text = answer_text(path)
    head = text.split("\n", 2)
    assert head[1].strip() == ":class: dropdown", f"{path.name}: the answer must be folded"
    assert "::::{tab-set}" in text, f"{path.name}: the answer needs a ::::{{tab-set}}"
    return {m["label"].strip(): m["body"] for m in TAB_ITEM.finditer(text)}


def glue_keys_in_order(text: str) -> list[str]:
    keys: list[str] = []
    for key in GLUE_USE.findall(text):
        if key not in keys:
            keys.append(key)
    return keys


ANSWER_PAGES = [BOOK / "intro.md", *chapter_notebooks()]


def page_id(path: Path) -> str:
    return "intro" if path.stem == "intro" else path.stem[:2]


@pytest.mark.parametrize("path", ANSWER_PAGES, ids=lambda p: p.name)
def test_interview_answer_has_english_and_chinese_tabs(path):
    tabs = answer_tabs(path)
    assert list(tabs) == ["English", "中文"], f"{path.name}: tabs {list(tabs)}"
    en, zh = tabs["English"], tabs["中文"]
    assert re.search(r"^:sync: en$", en, re.M) and re.search(r"^:sync: zh$", zh, re.M)
    assert re.search(r"^:class-content: lang-zh-hans$", zh, re.M), (
        f"{path.name}: the 中文 tab needs ':class-content: lang-zh-hans' (lang=\"zh-Hans\")"
    )
    assert len(CJK.findall(zh)) >= 100, f"{path.name}: the 中文 tab has too little Chinese"
    assert len(CJK.findall(en)) <= 10, f"{path.name}: the English tab is not in English"


@pytest.mark.parametrize("path", ANSWER_PAGES, ids=lambda p: p.name)
def test_both_tabs_glue_the_same_numbers_in_the_same_order(path):
    tabs = answer_tabs(path)
    en, zh = glue_keys_in_order(tabs["English"]), glue_keys_in_order(tabs.get("中文", ""))
    assert set(zh) == set(en), (
        f"{path.name}: only in English {set(en) - set(zh)}, only in 中文 {set(zh) - set(en)}"
    )
    assert zh == en, f"{path.name}: same claims in the same order: {en} vs {zh}"
    # every use, repeats included: the page shows them in this order in both tabs
    every_en, every_zh = GLUE_USE.findall(tabs["English"]), GLUE_USE.findall(tabs["中文"])
    assert every_zh == every_en, f"{path.name}: numbers in another order: {every_en} vs {every_zh}"


@pytest.mark.parametrize("path", ANSWER_PAGES, ids=lambda p: p.name)
def test_chinese_tab_uses_the_glossary_term_of_the_subject(path):
    subject = SUBJECT_TERMS.get(page_id(path))
    assert subject, f"add {page_id(path)!r} to SUBJECT_TERMS (its subject's glossary term)"
    term = glossary_terms().get(subject)
    assert term, f"the glossary has no row for {subject!r}"
    assert term in answer_tabs(path).get("中文", ""), (
        f"{path.name}: the 中文 tab should use the glossary term {term!r} ({subject})"
    )


def test_glossary_has_the_subject_terms():
    terms = glossary_terms()
    assert terms["pipeline depth"] == "流水线深度" and terms["bubble"] == "气泡"
    assert all(CJK.search(terms[s]) for s in SUBJECT_TERMS.values())


def _lang_marks():
    spec = importlib.util.spec_from_file_location("lang_marks", BOOK / "_ext" / "lang_marks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_lang_marks_is_registered():
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    assert config["sphinx"]["local_extensions"] == {
        "lang_marks": "book/_ext",
        "site_hygiene": "book/_ext",
        "patient_execution": "book/_ext",
        "code_folding": "book/_ext",
        "chinese_search": "book/_ext",
        "fast_pages": "book/_ext",
    }


def _site_hygiene():
    path = BOOK / "_ext" / "site_hygiene.py"
    spec = importlib.util.spec_from_file_location("site_hygiene", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_site_hygiene_marks_chinese_outside_marked_passages():
    mark = _site_hygiene().mark_chinese
    assert (
        mark("<h1>Glossary (术语表)</h1>")
        == '<h1>Glossary (<span lang="zh-Hans">术语表</span>)</h1>'
    )
    inside = '<div lang="zh-Hans"><p>流水线 <b>深度</b></p></div>'
    assert mark(inside) == inside
    assert mark("<script>var a = '中';</script>") == "<script>var a = '中';</script>"


def test_site_hygiene_alt_text_from_caption():
    fix = _site_hygiene().caption_alt_text
    figure = (
        '<figure id="f"><img alt="../_images/x.png" src="../_images/x.png" />'
        '<figcaption><p><span class="caption-number">Fig. 1 </span><span class="caption-text">'
        'Load per <em>stage</em> &amp; mean</span><a class="headerlink" href="#f">#</a></p>'
        "</figcaption></figure>"
    )
    out = fix(figure)
    assert 'alt="Load per stage &amp; mean"' in out
    assert '<a class="ppnotes-full-size" href="../_images/x.png"' in out and "/></a>" in out


@pytest.mark.parametrize("path", sorted(BOOK.glob("*.ipynb")), ids=lambda p: p.name)
def test_every_figure_caption_opens_with_its_idea(path):
    """Issue 22: one idea per figure, stated first, in one bold sentence."""
    nb = json.loads(path.read_text())
    for cell in nb["cells"]:
        figure = cell.get("metadata", {}).get("mystnb", {}).get("figure")
        if not figure:
            continue
        caption = figure.get("caption", "")
        idea, _, rest = caption[2:].partition("**")
        assert caption.startswith("**") and idea.endswith(".") and rest.strip(), (
            f"{path.name} {figure.get('name')}: the caption must open with its idea as one "
            f"bold sentence, then the details: {caption[:80]!r}"
        )
        assert len(idea.split()) <= 40 and ". " not in idea, (
            f"{path.name} {figure.get('name')}: one sentence of at most 40 words: {idea!r}"
        )


def test_site_hygiene_tidies_chinese_typography():
    tidy = _site_hygiene().tidy_chinese
    assert tidy("<p>每个微批次\n都要</p>") == "<p>每个微批次都要</p>"
    assert tidy("<p><strong>结论。</strong> 每个</p>") == "<p><strong>结论。</strong>每个</p>"
    assert tidy("<p>stage\n要</p>") == "<p>stage\n要</p>"  # Latin next to Chinese keeps a space
    assert tidy("<pre>中\n文</pre>") == "<pre>中\n文</pre>"
    # A script's "a < b" or "</div>" in a string must not hide the rest of the page.
    script = '<script>if (a < b) x = "中\n文";</script>'
    assert tidy(f"{script}<p>每个微批次\n都要</p>") == f"{script}<p>每个微批次都要</p>"
    mark = _site_hygiene().mark_chinese
    assert mark(f"{script}<p>中文</p>") == f'{script}<p><span lang="zh-Hans">中文</span></p>'


def test_site_hygiene_makes_ids_unique():
    unique = _site_hygiene().unique_ids
    page = (
        '<section id="exercise-content"></section><p id="x"></p>'
        '<section id="exercise-content"></section><b id="exercise-content-2"></b>'
        '<section id="exercise-content"></section>'
    )
    out = unique(page)
    ids = [m.group(1) for m in __import__("re").finditer(r' id="([^"]+)"', out)]
    assert len(ids) == len(set(ids)) == 5
    assert ids[0] == "exercise-content" and ids[1] == "x" and ids[3] == "exercise-content-2"
    assert unique('<a id="a"></a>') == '<a id="a"></a>'


def test_lang_marks_adds_lang_to_the_chinese_tab_only():
    add = _lang_marks().add_lang_attributes
    html = (
        '<div class="sd-tab-content docutils lang-zh-hans" name="x">'
        '<p class="lang-zh-hansx">a</p><span class="lang-zh-hans"/>'
        '<div lang="en" class="lang-zh-hans"></div><div class="other"></div>'
    )
    out = add(html)
    assert '<div class="sd-tab-content docutils lang-zh-hans" name="x" lang="zh-Hans">' in out
    assert '<p class="lang-zh-hansx">' in out  # a different class
    assert '<span class="lang-zh-hans" lang="zh-Hans"/>' in out
    assert '<div lang="en" class="lang-zh-hans">' in out  # an explicit lang is kept
    assert '<div class="other">' in out and add("<p>no tabs</p>") == "<p>no tabs</p>"


def _bound_and_used(source: str) -> tuple[set, set]:
    """Names a cell binds (assignments, arguments, defs, imports) and names it reads."""
    import ast

    tree = ast.parse(source)
    bound, used = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            (bound if isinstance(node.ctx, ast.Store) else used).add(node.id)
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
        elif isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            bound.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            bound.update((a.asname or a.name).split(".")[0] for a in node.names)
    return bound, used


@pytest.mark.parametrize("path", chapter_notebooks(), ids=lambda p: p.stem)
def test_visible_code_uses_no_name_defined_only_in_hidden_cells(path):
    """Issue 9: code a reader sees runs when copied, so it may not lean on remove-cell cells."""
    import builtins

    cells = json.loads(path.read_text())["cells"]
    hidden_only, visible, bad = set(), set(dir(builtins)), []
    for cell in cells:
        if cell["cell_type"] != "code":
            continue
        bound, used = _bound_and_used("".join(cell["source"]))
        if "remove-cell" in cell.get("metadata", {}).get("tags", []):
            hidden_only |= bound - visible
            continue
        bad += sorted((used & hidden_only) - bound - visible)
        visible |= bound
    assert bad == [], f"{path.name}: visible cells use names defined only in hidden cells: {bad}"


def test_every_function_named_in_prose_exists():
    """Prose names functions as `module.function` (chapter 9's one-page summary names dozens):
    each must resolve in ppnotes, so a rename cannot leave the book pointing at nothing."""
    import pkgutil

    import ppnotes

    modules = {m.name for m in pkgutil.iter_modules(ppnotes.__path__)}
    named = set()
    for path in chapter_notebooks():
        for cell in cells(path, "markdown"):
            named |= set(re.findall(r"`(?:ppnotes\.)?([a-z_]+)\.([A-Za-z_]\w*)`", source(cell)))
    checked = [(m, f) for m, f in named if m in modules and f != "py"]  # not file names
    assert len(checked) >= 20, f"expected the summary's function names, found {checked}"
    missing = [
        f"{m}.{f}"
        for m, f in sorted(checked)
        if not hasattr(importlib.import_module(f"ppnotes.{m}"), f)
    ]
    assert not missing, f"prose names functions that do not exist: {missing}"


def test_patient_execution_covers_the_mode_the_book_uses():
    """The book executes in "force" mode: myst-nb then runs nbclient's own execute(), whose
    client must be the patient one (a 4 s IOPub wait dropped explorer widgets under load)."""
    import nbclient.client
    import nbformat
    from myst_nb.core.execute import inline

    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    assert config["execute"]["execute_notebooks"] == "force"
    spec = importlib.util.spec_from_file_location(
        "patient_execution", BOOK / "_ext" / "patient_execution.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    before = (nbclient.client.NotebookClient, inline.ModifiedNotebookClient)
    try:
        module.setup(None)
        client = nbclient.client.NotebookClient(nb=nbformat.v4.new_notebook())
        assert client.iopub_timeout == module.IOPUB_TIMEOUT and client.raise_on_iopub_timeout
        assert inline.ModifiedNotebookClient is module.PatientNotebookClient
    finally:
        nbclient.client.NotebookClient, inline.ModifiedNotebookClient = before


# --- Chinese style (docs/zh_style.md, issue 23) -------------------------------------------------

#: Forms the style sheet forbids anywhere in the book's Chinese text, with the form to use.
ZH_FORBIDDEN = {
    "规约": "归约",
    "完整重计算": "完全重计算",
    "显存带宽瓶颈": "访存受限",
    "首 token 时间": "首 token 延迟（TTFT）",
    "首 token 时延": "首 token 延迟（TTFT）",
    "每 token 生成时间": "每输出 token 延迟（TPOT）",
    "对数和指数": "log-sum-exp（对数求和指数）",
    "原文": "原笔记",
    "阶段边界": "stage 边界",
    "虚拟阶段": "虚拟 stage",
    "推理（推理服务）": "推理服务",
    "interleaved 调度": "交错式 1F1B",
    "KV 缓存": "KV cache",
}
#: In a 中文 tab: ms or µs after a number (write 毫秒, 微秒). Percentages keep the book's rule:
#: computed ones come from glue ("17.9%"), typed inputs and quotes have a space ("20 %").
ZH_NUMBER_FORMS = re.compile(r"(?:\d|`) (?:ms|µs|μs)\b")
#: A four-digit number with a thousands separator before Chinese ("1,024 张": write 1024 张).
ZH_FOUR_DIGITS = re.compile(r"(?<![\d,.])\d,\d{3}(?![\d,.]) ?[\u4e00-\u9fff]")


def chinese_sources():
    """(name, text) of every Markdown source that may hold Chinese."""
    for path in sorted(BOOK.glob("*.ipynb")):
        yield path.name, "\n".join(source(c) for c in cells(path, "markdown"))
    for path in sorted(BOOK.glob("*.md")):
        yield path.name, path.read_text(encoding="utf-8")


def test_chinese_text_follows_the_style_sheet():
    found = [
        f"{name}: {bad!r} (write {good!r})"
        for name, text in chinese_sources()
        for bad, good in ZH_FORBIDDEN.items()
        if bad in text
    ]
    found += [
        f"{name}: {m.group(0)!r} (no thousands separator in four digits)"
        for name, text in chinese_sources()
        for m in ZH_FOUR_DIGITS.finditer(text)
    ]
    assert found == [], "forbidden forms (docs/zh_style.md):\n" + "\n".join(found)
    numbers = [
        f"{path.name}: {m.group(0)!r}"
        for path in ANSWER_PAGES
        for m in ZH_NUMBER_FORMS.finditer(answer_tabs(path).get("中文", ""))
    ]
    assert numbers == [], "write 5 毫秒, 3 微秒 in Chinese text:\n" + "\n".join(numbers)


# --- Scaffolding in both languages (issue 23) ---------------------------------------------------
# Goals and summary come as the answer's two tabs (sphinx-design remembers the reader's choice of
# 中文 across the site); the answer box, the section headings and the verdict tables carry their
# Chinese; the quizzes are checked in tests/test_quiz_chinese.py.

BILINGUAL_HEADINGS = [
    "## Learning goals（学习目标）",
    "## What the note says / what holds（原笔记的说法与核查）",
    "## Quiz（测验）",
    "## Summary（小结）",
]
VERDICT_ZH = re.compile(r"（(?:成立|有条件成立|不成立)：[^）]*[\u4e00-\u9fff][^）]*）")


def section_cell(path: Path, heading: str) -> str:
    found = [s for s in map(source, cells(path, "markdown")) if s.startswith(heading)]
    assert len(found) == 1, f"{path.name}: expected one cell opening with {heading!r}"
    return found[0]


@pytest.mark.parametrize("path", chapter_notebooks(), ids=lambda p: p.name)
def test_section_headings_carry_their_chinese(path):
    md = "\n".join(source(c) for c in cells(path, "markdown"))
    missing = [zh for zh in BILINGUAL_HEADINGS if not re.search(f"^{zh}$", md, re.M)]
    assert missing == [], f"{path.name}: headings should read {missing}"


@pytest.mark.parametrize("heading", ["## Learning goals", "## Summary"])
@pytest.mark.parametrize("path", chapter_notebooks(), ids=lambda p: p.name)
def test_goals_and_summary_come_in_both_languages(path, heading):
    text = section_cell(path, heading)
    tabs = {m["label"].strip(): m["body"] for m in TAB_ITEM.finditer(text)}
    assert list(tabs) == ["English", "中文"], f"{path.name} {heading}: tabs {list(tabs)}"
    assert re.search(r"^:sync: en$", tabs["English"], re.M)
    assert re.search(r"^:sync: zh$", tabs["中文"], re.M)
    assert re.search(r"^:class-content: lang-zh-hans$", tabs["中文"], re.M)
    en_items = re.findall(r"^- ", tabs["English"], re.M)
    zh_items = re.findall(r"^- ", tabs["中文"], re.M)
    assert len(en_items) == len(zh_items) >= 3, f"{path.name} {heading}: one bullet per bullet"
    assert len(CJK.findall(tabs["English"])) <= 10 and len(CJK.findall(tabs["中文"])) >= 60


@pytest.mark.parametrize("path", ANSWER_PAGES, ids=lambda p: p.name)
def test_answer_box_title_is_bilingual(path):
    title = answer_text(path).split("\n", 1)[0]
    assert "面试回答" in title or "一分钟回答" in title, f"{path.name}: {title}"


@pytest.mark.parametrize("path", chapter_notebooks(), ids=lambda p: p.name)
def test_verdicts_read_in_chinese(path):
    text = section_cell(path, "| The note says")
    rows = [[c.strip() for c in line.strip().strip("|").split("|")] for line in text.splitlines()]
    head, body = rows[0], rows[2:]
    assert head[:3] == ["The note says", "原笔记的说法", "Verdict"] or (
        head[0].startswith("The note says") and head[1:3] == ["原笔记的说法", "Verdict"]
    ), f"{path.name}: columns {head}"
    bad = [
        row[0]
        for row in body
        if not CJK.search(row[1]) or not VERDICT_ZH.search(row[2].replace("**", ""))
    ]
    assert bad == [], f"{path.name}: rows without the claim in Chinese or 成立/…：reason: {bad}"


def _patient_module():
    spec = importlib.util.spec_from_file_location(
        "patient_execution", BOOK / "_ext" / "patient_execution.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


WIDGET_NOTEBOOK = (
    "import ipywidgets as w\n"
    "pages = [w.HTML(str(i)) for i in range(5)]\n"
    "stack = w.Stack(pages, selected_index=0)\n"
    "stack"
)


def _lossy_client(module, lose_in: set[int]):
    """A patient client whose executions in ``lose_in`` drop widget messages, as a starved
    build did."""

    class Lossy(module.PatientClient):
        execution = -1  # nbclient resets its trackers once on construction, then per run

        def reset_execution_trackers(self):
            super().reset_execution_trackers()
            Lossy.execution += 1

        def handle_comm_msg(self, outs, msg, cell_index):
            data = msg["content"].get("data", {}).get("state", {})
            if Lossy.execution in lose_in and data.get("_model_name") == "HTMLModel":
                return  # lost on the way
            super().handle_comm_msg(outs, msg, cell_index)

    return Lossy


@pytest.mark.parametrize("lose_in, recovers", [({1}, True), ({1, 2, 3}, False)])
def test_lost_widget_state_is_executed_again_or_fails_the_build(lose_in, recovers):
    import nbformat

    module = _patient_module()
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(WIDGET_NOTEBOOK)])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3"}
    client = _lossy_client(module, lose_in)(nb=nb, timeout=60)
    if recovers:
        done = client.execute()
        assert module.missing_widget_models(done) == set() and client.execution == 2
        state = done.metadata["widgets"][module.WIDGET_STATE]["state"]
        assert sum(s["model_name"] == "HTMLModel" for s in state.values()) == 5
    else:
        with pytest.raises(module.IncompleteWidgetState, match="5 widget models"):
            client.execute()
        assert client.execution == module.ATTEMPTS


def test_missing_widget_models_follows_references():
    module = _patient_module()
    view = {module.WIDGET_VIEW: {"model_id": "a" * 32}}
    nb = {
        "cells": [{"outputs": [{"data": view}]}],
        "metadata": {
            "widgets": {
                module.WIDGET_STATE: {
                    "state": {"a" * 32: {"state": {"children": ["IPY_MODEL_" + "b" * 32]}}}
                }
            }
        },
    }
    assert module.missing_widget_models(nb) == {"b" * 32}
    nb["cells"][0]["outputs"][0]["data"] = {module.WIDGET_VIEW: {"model_id": "c" * 32}}
    assert module.missing_widget_models(nb) == {"b" * 32, "c" * 32}
