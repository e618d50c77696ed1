"""Explorers that stay alive on the static website, with no kernel.

The website has no Python behind it, so a control cannot call a function. Instead every frame
(one per combination of control values) is computed in advance: a figure becomes a PNG image
and numbers become HTML. Frames sit in nested ``widgets.Stack`` containers, one level per
control, and each control's ``index`` is linked to its level's stacks with ``widgets.jslink``.
Links run in the browser, so moving a slider on the website shows the right frame; the same
explorer works in a running notebook. Keep an explorer to about 100 frames (a PNG frame, drawn
at 2x with a 64-colour palette, is about 10 kB; an HTML frame of numbers almost nothing).

Identical frames are stored once, and so are identical stacks: a frame (or a whole subtree of
frames) that does not depend on a control value is one widget model shown from several places.
Page weight then follows the number of distinct pictures, not the size of the grid, which is
what lets an explorer with a few hundred combinations stay light.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence

import ipywidgets as widgets
from ipywidgets.widgets.widget_string import HTMLStyle
from matplotlib.figure import Figure

from ._validate import WrongTypeError, check_int
from .plots.style import FRAME_CSS_DPI, to_png_2x

MAX_FRAMES = 120


class Explorer:
    """A precomputed explorer: controls, nested stacks and a way to look frames up in tests.

    Attributes:
        axes: control name -> list of its values, in the order the controls are shown.
        controls: control name -> the slider or dropdown widget.
        widget: the ``VBox`` to display (the explorer displays itself as this box).
    """

    def __init__(self, axes: dict[str, list], controls: dict, root, links: list, widget):
        self.axes = axes
        self.controls = controls
        self.root = root
        self.links = links
        self.widget = widget

    def indices(self, **values) -> tuple[int, ...]:
        """Control indices for the given values (all controls must be named)."""
        missing = set(self.axes) - set(values)
        if missing:
            raise ValueError(f"values needed for every control; missing {sorted(missing)}")
        out = []
        for name, options in self.axes.items():
            if values[name] not in options:
                raise ValueError(f"{name} must be one of {options!r}, got {values[name]!r}")
            out.append(options.index(values[name]))
        return tuple(out)

    def frame(self, **values):
        """The frame widget shown when the controls hold ``values``."""
        node = self.root
        for i in self.indices(**values):
            node = node.children[i]
        return node

    def selected_frame(self):
        """The frame the stacks currently select (follows ``selected_index`` down the tree)."""
        node = self.root
        while isinstance(node, widgets.Stack):
            node = node.children[node.selected_index]
        return node

    def frame_count(self) -> int:
        """Number of combinations of control values (each shows one frame)."""
        return math.prod(len(v) for v in self.axes.values())

    def distinct_frames(self) -> int:
        """Number of frame widgets stored in the page (identical frames are stored once)."""
        leaves, todo = {}, [self.root]
        while todo:
            node = todo.pop()
            if isinstance(node, widgets.Stack):
                todo.extend(node.children)
            else:
                leaves[id(node)] = node
        return len(leaves)

    def _repr_mimebundle_(self, **kwargs):
        return self.widget._repr_mimebundle_(**kwargs)


def _once(cache: dict, key, make):
    """``cache[key]``, made by ``make()`` the first time it is asked for."""
    if key not in cache:
        cache[key] = make()
    return cache[key]


_SHARED: dict = {}


def _shared(key, make):
    """One Layout or Style model shared by every frame that needs the same one.

    Each widget otherwise brings its own Layout (and an HTML its own style) into the page's
    widget state: a third of an explorer's bytes for HTML frames.
    """
    return _once(_SHARED, key, make)


def _frame_widget(content, seen: dict | None = None):
    """Turn what ``make_frame`` returned into a widget: Figure -> Image, str -> HTML.

    ``seen`` maps a frame's content to the widget already made for it, so an identical frame
    is one model (pass the same dict for every frame of one explorer).
    """
    seen = {} if seen is None else seen
    if isinstance(content, Figure):
        # 2x pixels, shown at FRAME_CSS_DPI (text of 10 pt is then about 13 px), never wider
        # than the column; a 64-colour palette keeps a frame at about 10 kB.
        png, width = to_png_2x(content, FRAME_CSS_DPI, colors=64)
        layout = _shared(
            ("image", width),
            lambda: widgets.Layout(width=f"{width}px", max_width="100%", height="auto"),
        )
        return _once(
            seen, ("png", png), lambda: widgets.Image(value=png, format="png", layout=layout)
        )
    if isinstance(content, str):
        return _once(
            seen,
            ("html", content),
            lambda: widgets.HTML(
                value=content,
                layout=_shared("layout", widgets.Layout),
                style=_shared("html-style", HTMLStyle),
            ),
        )
    if isinstance(content, (list, tuple)):
        parts = [_frame_widget(part, seen) for part in content]
        return _once(
            seen,
            ("box", *map(id, parts)),
            lambda: widgets.VBox(parts, layout=_shared("layout", widgets.Layout)),
        )
    raise ValueError(
        "make_frame must return a matplotlib Figure, an HTML string, or a list of them, "
        f"got {type(content).__name__}"
    )


def _control(name: str, options: list, label: Callable, kind: str, index: int):
    pairs = [(label(v), i) for i, v in enumerate(options)]
    common = {"options": pairs, "description": name, "style": {"description_width": "initial"}}
    if kind == "slider":
        ctrl = widgets.SelectionSlider(**common, continuous_update=True)
    else:
        ctrl = widgets.Dropdown(**common)
    ctrl.index = index
    return ctrl


def explorer(
    make_frame: Callable,
    *,
    labels: dict[str, Callable] | None = None,
    initial: dict | None = None,
    max_frames: int = MAX_FRAMES,
    header: str | None = None,
    **axes: Sequence,
) -> Explorer:
    """Build an explorer over the product of ``axes``' values.

    Args:
        make_frame: called as ``make_frame(**values)`` for every combination; returns a Figure,
            an HTML string, or a list of them.
        labels: optional control name -> function formatting a value for display.
        initial: optional control name -> value shown first (default: each axis' first value).
        max_frames: refuse to build more combinations than this (page weight; identical
            frames are stored once, so a grid with many repeats can afford a higher limit).
        header: optional HTML shown once between the controls and the frames, for what every
            frame shares (a legend), so that it is not repeated in each.
        **axes: control name -> values. Numbers get a slider, anything else a dropdown.

    Returns:
        An :class:`Explorer`; display it as a cell's last expression.
    """
    if not callable(make_frame):
        raise WrongTypeError(f"make_frame must be a function returning a frame, got {make_frame!r}")
    for name, values in axes.items():
        if isinstance(values, (str, bytes)) or not hasattr(values, "__iter__"):
            raise WrongTypeError(f"{name} needs a list of values, got {values!r}")
    axes = {name: list(values) for name, values in axes.items()}
    if not axes:
        raise ValueError("explorer needs at least one control, e.g. p=[2, 4, 8]")
    for name, values in axes.items():
        if not values or len(set(map(repr, values))) != len(values):
            raise ValueError(f"{name} needs a non-empty list of distinct values, got {values!r}")
    max_frames = check_int("max_frames", max_frames)
    n_frames = math.prod(len(v) for v in axes.values())
    if n_frames > max_frames:
        raise ValueError(f"explorer would have {n_frames} frames; max_frames is {max_frames}")
    labels = {} if labels is None else labels
    initial = {} if initial is None else initial
    for arg, given in (("labels", labels), ("initial", initial)):
        if not isinstance(given, dict):
            raise WrongTypeError(f"{arg} must be a dict keyed by control name, got {given!r}")
        unknown = sorted(set(given) - set(axes))
        if unknown:
            raise ValueError(f"{arg} names controls that do not exist: {unknown}")
    for name, label in labels.items():
        if not callable(label):
            raise WrongTypeError(f"labels[{name!r}] must be a function, got {label!r}")
    for name, value in initial.items():
        if value not in axes[name]:
            raise ValueError(f"initial {name} must be one of {axes[name]!r}, got {value!r}")
    start = {n: axes[n].index(initial[n]) if n in initial else 0 for n in axes}

    names = list(axes)
    levels: list[list[widgets.Stack]] = [[] for _ in names]
    frames: dict = {}  # content -> frame widget
    stacks: dict = {}  # (level, children) -> stack: identical subtrees are one model

    def build(level: int, chosen: tuple):
        if level == len(names):
            return _frame_widget(make_frame(**dict(zip(names, chosen, strict=True))), frames)
        name = names[level]
        children = [build(level + 1, chosen + (v,)) for v in axes[name]]
        key = (level, *(id(child) for child in children))
        if key not in stacks:
            stacks[key] = widgets.Stack(
                children, selected_index=start[name], layout=_shared("layout", widgets.Layout)
            )
            levels[level].append(stacks[key])
        return stacks[key]

    root = build(0, ())
    controls = {}
    for name in names:
        is_numeric = all(isinstance(v, (int, float)) for v in axes[name])
        kind = "slider" if is_numeric else "dropdown"
        controls[name] = _control(name, axes[name], labels.get(name, str), kind, start[name])
    links = [
        widgets.jslink((controls[name], "index"), (stack, "selected_index"))
        for name, stacks in zip(names, levels, strict=True)
        for stack in stacks
    ]
    row = widgets.HBox(list(controls.values()), layout={"flex_flow": "row wrap"})
    shared = [widgets.HTML(header)] if header else []
    box = widgets.VBox([row, *shared, root])
    return Explorer(axes, controls, root, links, box)


def free_inputs(make_frame: Callable, **bounds) -> widgets.interactive:
    """Free numeric inputs over the same ``make_frame``, for a running kernel (issue 9).

    The website has no kernel, so chapters put this in a cell tagged ``remove-cell``: readers
    who run the notebook get it, the website keeps the precomputed explorer.

    Args:
        make_frame: as for :func:`explorer`; a ``ValueError`` it raises is shown as text.
        **bounds: control name -> ``(minimum, maximum, start)`` for a number (all ints give an
            integer box) or a list of choices (a dropdown). Boxes clamp to their bounds.
    """
    if not callable(make_frame):
        raise WrongTypeError(f"make_frame must be a function returning a frame, got {make_frame!r}")
    if not bounds:
        raise ValueError("free_inputs needs at least one control, e.g. p=(1, 128, 8)")
    controls = {}
    for name, spec in bounds.items():
        numeric = (
            isinstance(spec, tuple)
            and len(spec) == 3
            and all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in spec)
        )
        if numeric:
            lo, hi, start = spec
            if not all(math.isfinite(x) for x in spec) or not lo <= start <= hi:
                raise ValueError(f"{name} needs finite minimum <= start <= maximum, got {spec!r}")
            box = (
                widgets.BoundedIntText
                if all(isinstance(x, int) for x in spec)
                else widgets.BoundedFloatText
            )
            controls[name] = box(value=start, min=lo, max=hi, description=name)
        elif isinstance(spec, (list, tuple)) and spec:
            controls[name] = widgets.Dropdown(options=list(spec), description=name)
        else:
            raise ValueError(f"{name}: give (minimum, maximum, start) or a list, got {spec!r}")

    def show(**values):
        from IPython.display import display

        try:
            content = make_frame(**values)
        except ValueError as error:
            content = f"<p>{error}</p>"
        display(_frame_widget(content))

    return widgets.interactive(show, {"manual": False}, **controls)


def grid(**axes: Sequence) -> list[dict]:
    """Every combination of ``axes``' values as dicts (handy to test an explorer)."""
    names = list(axes)
    return [dict(zip(names, combo, strict=True)) for combo in itertools.product(*axes.values())]
