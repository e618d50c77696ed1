"""Mark Chinese passages with ``lang="zh-Hans"`` in the HTML, with no JavaScript.

The book writes its Chinese interview answers in a sphinx-design tab whose content carries the
class ``lang-zh-hans`` (``:class-content: lang-zh-hans``). sphinx-design has no option for a
``lang`` attribute, so this extension adds one, at ``html-page-context`` time, to every start
tag of the page body whose class list contains ``lang-zh-hans``. Screen readers, fonts and
hyphenation then treat the passage as Simplified Chinese.
"""

from __future__ import annotations

import re

LANG_CLASSES = {"lang-zh-hans": "zh-Hans"}

# A start tag with a class attribute; group 1 is everything before ">", group 2 the classes.
_START_TAG = re.compile(r"<([a-zA-Z][\w-]*)(\s[^<>]*?\bclass=\"([^\"]*)\"[^<>]*?)(/?)>")


def add_lang_attributes(html: str) -> str:
    """Return ``html`` with ``lang="..."`` on each start tag carrying a class of LANG_CLASSES.

    A tag that already has a ``lang`` attribute is left as it is.
    """

    def mark(match: re.Match) -> str:
        tag, attrs, classes, slash = match.group(1), match.group(2), match.group(3), match.group(4)
        langs = [LANG_CLASSES[c] for c in classes.split() if c in LANG_CLASSES]
        if not langs or re.search(r"\slang=", attrs):
            return match.group(0)
        return f'<{tag}{attrs} lang="{langs[0]}"{slash}>'

    return _START_TAG.sub(mark, html)


def _on_page_context(app, pagename, templatename, context, doctree):
    body = context.get("body")
    if isinstance(body, str) and "lang-zh-hans" in body:
        context["body"] = add_lang_attributes(body)


def setup(app):
    app.connect("html-page-context", _on_page_context)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
