"""Text first: what a page loads before its first paint (issue 22).

On a slow phone (9 Mbps, 40 ms, a CPU four times slower) chapter 4 showed its text after
5.7 s. Everything below was in front of its text, or competed with the text for the link:

- the explorers' widget state (about 2 MB of JSON per chapter), which myst-nb puts in the
  page's ``<head>``: the browser had to download and parse all of it before the first line of
  text. Here it leaves the page: it is written to ``_widget_state/<page>.js``, and
  ``widgets-lazy.js`` loads it, just before the widget manager, when an explorer comes near
  the screen after the page has loaded (an element ``#ppnotes-widget-state`` at the end of the
  body says where it is). A ``<script src>``, not a fetch, so it also works from ``file://``;
- the theme's Font Awesome script (1.5 MB, every icon Font Awesome has), which replaces
  ``<i class="fa-solid fa-bars">`` with an SVG when the page loads, for the 16 icons the site
  uses. After the build each icon is its inline SVG (the markup the script would make, so the
  theme's CSS applies as before), the script's CSS is a small static file, and the script is
  neither loaded nor shipped. Icon shapes and CSS are read from the installed theme's own
  ``fontawesome.js``; an icon it does not have stops the build with its name. (The theme's
  script also drew icons for announcement and version banners, which this site has none of.)
- Sphinx's search scripts and the whole search index (160 kB), which the theme loads, render-
  blocking, on every page for its search-as-you-type option. The site does not turn that
  option on, so they are loaded on the search page only.
"""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

from sphinx.errors import ExtensionError

WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
ICON_CSS = "ppnotes-icons.css"

# Font Awesome's style prefixes, and the pack each one names.
PACKS = {"fa-solid": "fas", "fas": "fas", "fa-regular": "far", "far": "far"}
PACKS |= {"fa-brands": "fab", "fab": "fab"}
# An empty <i> or <span> whose classes name a Font Awesome icon.
ICON_TAG = re.compile(r'<(i|span)\b([^<>]*?)\bclass="([^"]*)"([^<>]*)>\s*</\1>')
HEAD_START = re.compile(r'<head>\s*(?:<meta charset="[^"]*"\s*/?>)?')
ICON_SCRIPT = re.compile(r'<script defer src="([^"]*?)scripts/fontawesome\.js[^"]*"></script>')
# One icon in fontawesome.js: name: [width, height, [aliases], "unicode", "path" or [paths]]
ICON_DEF = re.compile(
    r'(?:"([\w-]+)"|\b([A-Za-z_$][\w$]*)):\[(\d+),(\d+),\[[^\]]*\],"[0-9a-f]*",'
    r'("(?:[^"\\]|\\.)*"|\[(?:"(?:[^"\\]|\\.)*",?)*\])\]'
)
# The call that registers a pack, e.g. d("fas",p): the pack's icons are defined before it.
PACK_DEFINE = re.compile(r'\(\s*"(fa[srb])"\s*,\s*[A-Za-z_$][\w$]*\s*\)')


STATE_DIR = "_widget_state"
#: Where a page says its widget state is (read by widgets-lazy.js).
STATE_LINK = '<div id="ppnotes-widget-state" data-src="{url}" hidden></div>'
# Sphinx's search, loaded by the theme on every page (layout.html, for search-as-you-type).
SEARCH_SCRIPTS = re.compile(
    r'\s*<script src="[^"]*'
    r'(?:_static/searchtools\.js|_static/language_data\.js|searchindex\.js)"></script>'
)


def split_widget_state(scripts: list) -> tuple[list, list[str]]:
    """The page's scripts without its widget state, and the state's JSON texts."""
    states = [_attributes(s).get("body", "") for s in scripts if _is_state(s)]
    return [s for s in scripts if not _is_state(s)], states


def state_script(states: list[str]) -> str:
    """A script that puts the widget state into the document, where the manager reads it."""
    lines = ["(function () {"]
    for state in states:
        lines += [
            '  var s = document.createElement("script");',
            f'  s.type = "{WIDGET_STATE}";',
            f"  s.textContent = {json.dumps(state)};",
            "  document.body.appendChild(s);",
        ]
    return "\n".join([*lines, "})();", ""])


def _is_state(script) -> bool:
    return _attributes(script).get("type") == WIDGET_STATE


def _attributes(script) -> dict:
    return getattr(script, "attributes", None) or {}


def font_awesome_icons(script: str) -> dict[tuple[str, str], tuple[int, int, str]]:
    """Every icon of the theme's fontawesome.js: (pack, name) -> (width, height, SVG path)."""
    defines = [(m.start(), m.group(1)) for m in PACK_DEFINE.finditer(script)]
    icons: dict[tuple[str, str], tuple[int, int, str]] = {}
    for m in ICON_DEF.finditer(script):
        pack = next((p for pos, p in defines if pos > m.start()), None)
        if pack is None:
            continue
        name = m.group(1) or m.group(2)
        raw = m.group(5)
        paths = re.findall(r'"((?:[^"\\]|\\.)*)"', raw)
        path = paths[-1] if paths else ""
        icons.setdefault((pack, name), (int(m.group(3)), int(m.group(4)), path))
    return icons


def font_awesome_css(script: str) -> str:
    """The CSS fontawesome.js injects into every page (sizes and alignment of the SVGs)."""
    at = script.find(".svg-inline--fa{")
    if at < 0:
        raise ExtensionError("fontawesome.js: its CSS (.svg-inline--fa) was not found")
    start = script.rfind("'", 0, at)
    end = script.find("'", at)
    return script[start + 1 : end].replace("\\n", "\n")


def icon_name(classes: list[str]) -> tuple[str, str] | None:
    """(pack, icon name) named by an element's classes, or None if it is not an icon."""
    packs = [PACKS[c] for c in classes if c in PACKS]
    names = [c[3:] for c in classes if c.startswith("fa-") and c not in PACKS]
    names = [n for n in names if n not in SIZES]
    if not packs or len(names) != 1:
        return None
    return packs[0], names[0]


# Font Awesome's modifier classes (not icon names).
SIZES = {"2xs", "xs", "sm", "lg", "xl", "2xl", "fw", "1x", "2x", "3x", "4x", "5x", "6x"}
SIZES |= {"7x", "8x", "9x", "10x", "spin", "pulse", "border", "inverse", "flip"}


def icon_svg(tag: re.Match, icons: dict) -> str:
    """The inline SVG Font Awesome's script would put in place of one icon element."""
    classes = tag.group(3).split()
    found = icon_name(classes)
    if found is None:
        return tag.group(0)
    if found not in icons:
        raise ExtensionError(f"icon {found[1]!r} ({found[0]}) is not in the theme's Font Awesome")
    width, height, path = icons[found]
    kept = [c for c in classes if c not in PACKS and c != f"fa-{found[1]}"]
    attrs = (tag.group(2) + tag.group(4)).strip()
    title = re.search(r'\btitle="([^"]*)"', attrs)
    attrs = re.sub(r'\s*\btitle="[^"]*"', "", attrs).strip()
    label = f"<title>{title.group(1)}</title>" if title else ""
    cls = " ".join(["svg-inline--fa", f"fa-{found[1]}", *kept])
    return (
        f'<svg class="{cls}" {attrs + " " if attrs else ""}aria-hidden="true" '
        f'focusable="false" data-prefix="{found[0]}" data-icon="{found[1]}" role="img" '
        f'xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}">{label}'
        f'<path fill="currentColor" d="{html.escape(path)}"></path></svg>'
    )


def inline_icons(page: str, icons: dict) -> str:
    """A built page with inline SVG icons and the icon CSS instead of fontawesome.js."""
    page = ICON_TAG.sub(lambda m: icon_svg(m, icons), page)
    script = ICON_SCRIPT.search(page)
    if script is None:
        return page
    page = page[: script.start()] + page[script.end() :]
    # First in <head>, where the script put its CSS: the theme's CSS, later, must win (it sets
    # --fa-font-solid to the "Font Awesome 6 Free" web font of its admonition icons).
    link = f'\n<link rel="stylesheet" href="{script.group(1)}{ICON_CSS}" />'
    head = HEAD_START.search(page)
    at = head.end() if head else 0
    return page[:at] + link + page[at:]


def _on_page_context(app, pagename, templatename, context, doctree):
    scripts, body = context.get("script_files"), context.get("body")
    if not isinstance(scripts, list) or not isinstance(body, str):
        return
    kept, states = split_widget_state(scripts)
    if not states:
        return
    scripts[:] = kept
    target = Path(app.outdir) / STATE_DIR / f"{pagename}.js"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(state_script(states), encoding="utf-8")
    url = context["pathto"](f"{STATE_DIR}/{pagename}.js", 1)
    context["body"] = body + "\n" + STATE_LINK.format(url=html.escape(url, quote=True))


def lighten_page(page: str, icons: dict, *, search_page: bool) -> str:
    """A built page with inline icons, and without the search scripts unless it searches."""
    page = inline_icons(page, icons)
    return page if search_page else SEARCH_SCRIPTS.sub("", page)


def _on_build_finished(app, exception):
    if exception is not None or app.builder.format != "html":
        return
    static = Path(app.outdir) / "_static"
    script_path = static / "scripts" / "fontawesome.js"
    if not script_path.exists():
        return
    script = script_path.read_text(encoding="utf-8")
    icons = font_awesome_icons(script)
    (static / ICON_CSS).write_text(font_awesome_css(script), encoding="utf-8")
    as_you_type = (app.config.html_theme_options or {}).get("search_as_you_type", False)
    for page in Path(app.outdir).rglob("*.html"):
        text = page.read_text(encoding="utf-8")
        search_page = as_you_type or page.name == "search.html"
        new = lighten_page(text, icons, search_page=search_page)
        if new != text:
            page.write_text(new, encoding="utf-8")
    for leftover in script_path.parent.glob("fontawesome.js*"):
        leftover.unlink()


def setup(app):
    # after myst-nb has added the widget state to the page's scripts (default priority 500)
    app.connect("html-page-context", _on_page_context, priority=950)
    app.connect("build-finished", _on_build_finished)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
