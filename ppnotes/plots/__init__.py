"""Every figure of the book, in one style.

``from ppnotes import plots`` gives every figure function: the style and palette live in
:mod:`ppnotes.plots.style`, and each chapter topic has its own module (``partition``,
``bubble``, ``comm``, ``memory``, ``perf_model``, ``inference``, ``optimum``,
``real_pipeline``), so chapters can grow without touching one another.
Functions build a :class:`matplotlib.figure.Figure` directly (never pyplot) and return it.
"""

from .bubble import *  # noqa: F403
from .case_study import *  # noqa: F403
from .comm import *  # noqa: F403
from .inference import *  # noqa: F403
from .memory import *  # noqa: F403
from .moe import *  # noqa: F403
from .optimum import *  # noqa: F403
from .partition import balance_efficiency_figure, split_comparison_figure, stage_loads_figure
from .perf_model import *  # noqa: F403
from .real_decode import *  # noqa: F403
from .real_pipeline import *  # noqa: F403
from .recommend import *  # noqa: F403
from .style import ROLE_COLORS, SERIES_COLORS, STYLE, new_figure, styled, to_png

__all__ = [
    "ROLE_COLORS",
    "SERIES_COLORS",
    "STYLE",
    "balance_efficiency_figure",
    "new_figure",
    "split_comparison_figure",
    "stage_loads_figure",
    "styled",
    "to_png",
]

# Figures and helpers added for issue 9 (kept apart, so merges with other chapters stay clean).
from .partition import megatron_rank_coords, parallel_layout_figure  # noqa: E402
from .style import bars_svg  # noqa: E402

__all__ += ["bars_svg", "megatron_rank_coords", "parallel_layout_figure"]

# Every name a topic module exports is public here too, so ``from ppnotes.plots import *``
# gives the same functions as ``plots.<name>`` (tests/test_plots.py checks it).
from . import (  # noqa: E402
    bubble,
    case_study,
    comm,
    inference,
    memory,
    moe,
    optimum,
    perf_model,
    real_decode,
    real_pipeline,
    recommend,
)

__all__ += [
    name
    for module in (
        bubble,
        case_study,
        comm,
        inference,
        memory,
        moe,
        optimum,
        perf_model,
        real_decode,
        real_pipeline,
        recommend,
    )
    for name in module.__all__
]
