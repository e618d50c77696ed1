"""The book's figure style: palette with fixed roles, rc settings, figure and PNG helpers.

Figure functions (one module per chapter topic in this package) build a
:class:`matplotlib.figure.Figure` directly (never pyplot, whose global state would show a
figure twice in a notebook) and return it. Colours have fixed roles across
the book, from the Okabe-Ito palette, which stays distinct for the common forms of colour
blindness (Okabe & Ito 2008).
"""

from __future__ import annotations

import functools
import io

import matplotlib
from matplotlib.figure import Figure

# Fixed roles: a forward pass is always blue, idle time always light grey, and so on.
ROLE_COLORS = {
    "forward": "#0072B2",  # blue
    "backward": "#E69F00",  # orange (full backward B, and input-gradient I)
    "weight": "#009E73",  # bluish green (weight-gradient W)
    "idle": "#E4E4E4",  # light grey
    "comm": "#CC79A7",  # reddish purple
}
# Series colours for curves (depths, micro-batch counts, schedules), in a fixed order.
SERIES_COLORS = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000"]

STYLE = {
    "font.size": 10,
    "axes.titlesize": 10,
    "axes.labelsize": 10,
    "legend.fontsize": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.prop_cycle": matplotlib.cycler(color=SERIES_COLORS),
    "figure.dpi": 100,
    "savefig.dpi": 100,
    "figure.constrained_layout.use": True,
}


def styled(func):
    """Draw a figure inside the book's rc settings (fonts, grid, colour cycle)."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        with matplotlib.rc_context(STYLE):
            return func(*args, **kwargs)

    return wrapper


def new_figure(
    width: float = 7.0,
    height: float = 3.6,
    nrows: int = 1,
    ncols: int = 1,
    *,
    fixed_margins: bool = False,
    **kw,
):
    """Return ``(figure, axes)`` with the book's style; call it inside a ``@styled`` function.

    ``fixed_margins=True`` skips constrained layout (about a third faster, which adds up over
    an explorer's frames); the caller then sets margins with ``fig.subplots_adjust``.
    """
    fig = Figure(figsize=(width, height), layout="none" if fixed_margins else None)
    kw.setdefault("squeeze", True)
    axes = fig.subplots(nrows, ncols, **kw)
    return fig, axes


# CSS pixels per inch at which the book shows a figure (static figures and explorer frames),
# and the pixel density they are drawn at: 2x, sharp on phones and high-density screens.
FIGURE_CSS_DPI = 110
FRAME_CSS_DPI = 96
DENSITY = 2


def to_png(fig: Figure, dpi: int = 72, *, colors: int | None = None) -> bytes:
    """Render ``fig`` to PNG bytes.

    Args:
        dpi: pixels per inch of the image.
        colors: if given, reduce the image to a palette of this many colours (2 to 256), which
            keeps a 2x image of a line or bar chart smaller than a 1x full-colour one.
    """
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    if colors is None:
        return buffer.getvalue()
    if not 2 <= colors <= 256:
        raise ValueError(f"colors must be an integer in 2..256, got {colors!r}")
    from PIL import Image

    buffer.seek(0)
    image = Image.open(buffer).convert("RGB").quantize(colors=colors, method=Image.MEDIANCUT)
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True)
    return out.getvalue()


def to_png_2x(
    fig: Figure, css_dpi: int = FIGURE_CSS_DPI, *, colors: int | None = 256
) -> tuple[bytes, int]:
    """A PNG drawn at twice the pixels it is shown at, and the width (CSS px) to show it at."""
    width_px = int(round(fig.get_figwidth() * css_dpi))
    return to_png(fig, dpi=DENSITY * css_dpi, colors=colors), width_px


def _register_notebook_display() -> None:
    """Show a returned Figure as a PNG in IPython even when pyplot was never imported."""
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython is a dependency of the book, not of ppnotes
        return
    shell = get_ipython()
    if shell is not None:
        png = shell.display_formatter.formatters["image/png"]
        png.for_type(Figure, _png_with_width)


def _png_with_width(fig: Figure):
    """IPython's PNG formatter for a Figure: 2x pixels, shown at ``FIGURE_CSS_DPI``."""
    data, width = to_png_2x(fig)
    return data, {"width": width}


_register_notebook_display()


def bars_svg(
    values: dict,
    *,
    maximum: float | None = None,
    unit: str = "%",
    scale: float = 100.0,
    notes: dict | None = None,
    width: int = 600,
) -> str:
    """A horizontal bar chart as an SVG string: a light explorer frame (about 1 kB).

    Args:
        values: label -> value (None draws no bar and shows the label's note instead).
        maximum: value of a full-width bar (default: the largest value).
        unit, scale: each value is shown as ``value * scale`` followed by ``unit``.
        notes: label -> text shown instead of a missing value (e.g. why a schedule is n/a).
        width: width of the drawing in its own units; the SVG scales to the column (viewBox).
    """
    notes = notes or {}
    shown = [v for v in values.values() if v is not None]
    top = maximum if maximum is not None else (max(shown) if shown else 1.0)
    top = top or 1.0
    row, label_w, font = 30, 150, 15
    bar_w = width - label_w - 90
    height = row * len(values) + 6
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" font-family="sans-serif" font-size="{font}" '
        'role="img">'
    ]
    for i, (label, value) in enumerate(values.items()):
        y = 3 + i * row
        color = SERIES_COLORS[i % len(SERIES_COLORS)]
        out.append(f'<text x="0" y="{y + 20}" fill="currentColor">{label}</text>')
        if value is None:
            note = notes.get(label, "n/a")
            out.append(
                f'<text x="{label_w}" y="{y + 20}" fill="currentColor" opacity="0.7">{note}</text>'
            )
            continue
        w = max(1.0, bar_w * min(value / top, 1.0))
        out.append(f'<rect x="{label_w}" y="{y + 4}" width="{w:.1f}" height="22" fill="{color}"/>')
        out.append(
            f'<text x="{label_w + w + 6:.1f}" y="{y + 20}" fill="currentColor">'
            f"{value * scale:.1f}{unit}</text>"
        )
    out.append("</svg>")
    return "".join(out)
