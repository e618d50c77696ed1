"""Make every page of the site clean, light and readable, with no JavaScript of its own.

Done at ``html-page-context`` time, on the HTML Sphinx is about to write (issue 9):

- drop sphinx-thebe's scripts (the site has no kernel; thebe's inline script declares
  ``THEBE_JS_URL`` twice, a console error on every page, and names a CDN);
- give the theme a default light/dark mode (``auto``), so a first visit logs no
  "invalid theme mode" error;
- put ``lang="zh-Hans"`` on every run of Chinese text outside a passage already marked
  (chapter titles in the body and in the navigation, the glossary's 中文 column), so browsers
  pick Simplified Chinese glyphs;
- give every figure image alt text from its caption (not its file path), and let a reader open
  the figure at full size (the image links to itself);
- tidy Chinese typography: a line break between two Chinese characters in the source renders
  as a stray space ("每个微批次 都要"), so it is removed, and so is the space after a bold
  sentence that ends in full-width punctuation ("。** 每个");
- make element ids unique (sphinx-exercise gives every exercise ``id="exercise-content"`` and
  every solution ``id="solution-content"``): later copies get ``-2``, ``-3``, ...
"""

from __future__ import annotations

import html
import re

# CJK Unified Ideographs, CJK punctuation and full-width forms.
CJK_RUN = re.compile(r"[\u3000-\u303f\u4e00-\u9fff\uff00-\uffef]+")
_TOKEN = re.compile(r"(<[^>]*>)")
_SKIP = {"script", "style", "textarea", "title", "code", "pre"}
_TAG_NAME = re.compile(r"<\s*(/?)\s*([a-zA-Z][\w-]*)")
_VOID = {"area", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "wbr"}
# Elements whose content is raw text, not markup: a script may hold "a < b" or "</div>" in a
# string, which a tag tokenizer would misread (a quiz's script once hid the rest of its page).
_RAW_TEXT = re.compile(r"<(script|style|textarea|title)\b[^>]*>.*?</\1\s*>", re.S | re.I)


def _tokens(markup: str):
    """The page as tags and text, each raw-text element (script, style, ...) one whole token."""
    start = 0
    for raw in _RAW_TEXT.finditer(markup):
        yield from _TOKEN.split(markup[start : raw.start()])
        yield raw.group(0)
        start = raw.end()
    yield from _TOKEN.split(markup[start:])


def mark_chinese(markup: str) -> str:
    """Wrap each run of Chinese text in ``<span lang="zh-Hans">``, unless an enclosing element
    already says ``lang="zh-Hans"`` or the text is inside script, style, code or pre."""
    out = []
    stack: list[tuple[str, bool]] = []  # (tag, whether it marks or skips its content)
    for token in _tokens(markup):
        if _RAW_TEXT.fullmatch(token):
            out.append(token)
            continue
        if token.startswith("<"):
            out.append(token)
            m = _TAG_NAME.match(token)
            if not m or token.startswith("<!"):
                continue
            closing, name = m.group(1) == "/", m.group(2).lower()
            if closing:
                for i in range(len(stack) - 1, -1, -1):
                    if stack[i][0] == name:
                        del stack[i:]
                        break
            elif name not in _VOID and not token.endswith("/>"):
                covered = name in _SKIP or 'lang="zh' in token
                stack.append((name, covered))
            continue
        if token and not any(c for _, c in stack) and CJK_RUN.search(token):
            token = CJK_RUN.sub(lambda r: f'<span lang="zh-Hans">{r.group(0)}</span>', token)
        out.append(token)
    return "".join(out)


_CJK = "\u3000-\u303f\u4e00-\u9fff\uff00-\uffef"
_CJK_BREAK = re.compile(rf"(?<=[{_CJK}])[ \t]*\n[ \t]*(?=[{_CJK}])")
_BOLD_SPACE = re.compile(rf"(?<=[，。；：！？、）])(</strong>|</b>)\s+(?=[{_CJK}])")


def tidy_chinese(markup: str) -> str:
    """Remove the line breaks between two Chinese characters (outside code and scripts), and the
    space after bold text that ends in full-width punctuation before more Chinese."""
    out = []
    skip = 0
    for token in _tokens(_BOLD_SPACE.sub(r"\1", markup)):
        if _RAW_TEXT.fullmatch(token):
            out.append(token)
            continue
        if token.startswith("<"):
            m = _TAG_NAME.match(token)
            if m and m.group(2).lower() in _SKIP and not token.endswith("/>"):
                skip += -1 if m.group(1) == "/" else 1
                skip = max(skip, 0)
            out.append(token)
        else:
            out.append(token if skip else _CJK_BREAK.sub("", token))
    return "".join(out)


_FIGURE = re.compile(r"<figure\b.*?</figure>", re.DOTALL)
_IMG = re.compile(r'<img alt="[^"]*" src="([^"]+)"')
_CAPTION = re.compile(r'<span class="caption-text">(.*?)</span><a class="headerlink"', re.DOTALL)


def caption_alt_text(markup: str) -> str:
    """Alt text from each figure's caption, and a link from each figure image to itself."""

    def fix(match: re.Match) -> str:
        figure = match.group(0)
        caption = _CAPTION.search(figure)
        if not caption or 'class="ppnotes-full-size"' in figure:
            return figure
        text = html.unescape(re.sub(r"<[^>]+>", "", caption.group(1)))
        text = " ".join(text.replace("\\(", "").replace("\\)", "").split())
        alt = html.escape(text, quote=True)

        def img(m: re.Match) -> str:
            src = m.group(1)
            return (
                f'<a class="ppnotes-full-size" href="{src}" title="Open the figure at full size">'
                f'<img alt="{alt}" src="{src}"'
            )

        figure = _IMG.sub(img, figure, count=1)
        # close the link right after the image tag
        return re.sub(
            r'(<a class="ppnotes-full-size"[^>]*><img [^>]*?/?>)', r"\1</a>", figure, count=1
        )

    return _FIGURE.sub(fix, markup)


_ID = re.compile(r'(\sid=")([^"]+)(")')


def unique_ids(markup: str) -> str:
    """Rename the second and later elements with the same id to ``id-2``, ``id-3``, ... (links
    to the first keep working; a page with repeated ids is invalid HTML and confuses screen
    readers)."""
    seen: dict[str, int] = {}
    taken = set(m.group(2) for m in _ID.finditer(markup))

    def fix(m: re.Match) -> str:
        name = m.group(2)
        seen[name] = seen.get(name, 0) + 1
        if seen[name] == 1:
            return m.group(0)
        k = seen[name]
        while f"{name}-{k}" in taken:
            k += 1
        taken.add(f"{name}-{k}")
        return f"{m.group(1)}{name}-{k}{m.group(3)}"

    return _ID.sub(fix, markup)


_THEBE_CONFIG = re.compile(r'<script type="text/x-thebe-config">.*?</script>', re.DOTALL)


def _is_thebe(script) -> bool:
    name = str(getattr(script, "filename", "") or script)
    body = str(getattr(script, "attributes", {}).get("body", ""))
    return "thebe" in name.lower() or "THEBE_JS_URL" in body or "thebe" in body.lower()


def _marked(make_html):
    """``make_html`` with its HTML passed through :func:`mark_chinese`."""

    def marked(*args, **kwargs):
        # pydata-sphinx-theme returns a str or a BeautifulSoup object; both print as HTML. With
        # nothing to mark, the theme gets its own object back (its templates test its length).
        made = make_html(*args, **kwargs)
        text = str(made)
        out = mark_chinese(text)
        return made if out == text else out

    marked._ppnotes = True
    return marked


def _on_page_context(app, pagename, templatename, context, doctree):
    for key in ("script_files", "css_files"):
        assets = context.get(key)
        if isinstance(assets, list):
            assets[:] = [s for s in assets if not _is_thebe(s)]
    context.setdefault("default_mode", "auto")
    body = context.get("body")
    if isinstance(body, str):
        body = _THEBE_CONFIG.sub("", body)
        context["body"] = unique_ids(mark_chinese(tidy_chinese(caption_alt_text(body))))
    # the navigation (left) and the page's contents (right sidebar) are built by the theme
    for key in ("generate_toctree_html", "generate_toc_html"):
        toctree = context.get(key)
        if callable(toctree) and not getattr(toctree, "_ppnotes", False):
            context[key] = _marked(toctree)
    for key in ("prev", "next"):
        link = context.get(key)
        if isinstance(link, dict) and isinstance(link.get("title"), str):
            link["title"] = mark_chinese(link["title"])


def setup(app):
    # after sphinx-thebe and the theme have filled the context
    app.connect("html-page-context", _on_page_context, priority=900)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
