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


def to_png(fig: Figure, dpi: int = 72) -> bytes:
    """Render ``fig`` to PNG bytes (72 dpi keeps explorer frames small)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()


def _register_notebook_display() -> None:
    """Show a returned Figure as a PNG in IPython even when pyplot was never imported."""
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython is a dependency of the book, not of ppnotes
        return
    shell = get_ipython()
    if shell is not None:
        png = shell.display_formatter.formatters["image/png"]
        png.for_type(Figure, lambda fig: to_png(fig, dpi=110))


_register_notebook_display()
