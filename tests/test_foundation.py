"""Tests for the shared parts: input checks, glue, quiz builders, explorers, the figure style."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from matplotlib.figure import Figure

from ppnotes import _validate, glue, plots, quiz, widgets

# ------------------------------------------------------------------ _validate


def test_check_int_accepts_integral_values():
    assert _validate.check_int("p", 4) == 4
    assert _validate.check_int("p", 4.0) == 4
    assert _validate.check_int("p", np.int64(3)) == 3


@pytest.mark.parametrize("bad", [0, -1, 2.5, True, "4", None, float("nan")])
def test_check_int_refuses_with_a_clear_message(bad):
    with pytest.raises(ValueError, match=r"^p must be an integer >= 1, got "):
        _validate.check_int("p", bad)


def test_check_int_with_maximum():
    with pytest.raises(ValueError, match=r"p must be an integer in \[1, 3\], got 4"):
        _validate.check_int("p", 4, maximum=3)


def test_check_real_bounds():
    assert _validate.check_real("x", 0) == 0.0
    with pytest.raises(ValueError, match="x must be a finite number > 0, got 0"):
        _validate.check_real("x", 0, strict=True)
    with pytest.raises(ValueError, match="x must be a finite number >= 0 and <= 1, got 2"):
        _validate.check_real("x", 2, maximum=1)
    with pytest.raises(ValueError, match="x must be a finite number, got inf"):
        _validate.check_real("x", float("inf"), minimum=None)


def test_check_choice():
    assert _validate.check_choice("kind", "F", "FB") == "F"
    with pytest.raises(ValueError, match="kind must be one of 'F', 'B', got 'X'"):
        _validate.check_choice("kind", "X", "FB")


# ------------------------------------------------------------------ glue


def test_plain_converts_numpy_scalars():
    assert type(glue.plain(np.float64(0.5))) is float
    assert type(glue.plain(np.int32(3))) is int
    assert glue.plain("a, b") == "a, b"


@pytest.mark.parametrize("bad", [[1, 2], np.array([1.0]), True, None])
def test_plain_refuses_non_scalars(bad):
    with pytest.raises(ValueError, match="value must be a number or a string"):
        glue.plain(bad)


def test_glue_checks_the_key():
    with pytest.raises(ValueError, match="key must be letters"):
        glue.glue("bad key", 1)
    with pytest.raises(ValueError, match="prefix must be a string"):
        glue.glue_all(0, x=1)


def test_count_puts_the_noun_in_the_right_number():
    assert glue.count(1, "replica") == "1 replica"
    assert glue.count(np.int64(4), "replica") == "4 replicas"
    assert glue.count(1024, "GPU") == "1,024 GPUs"
    assert glue.count(2, "batch", "batches") == "2 batches"
    with pytest.raises(ValueError, match="whole number"):
        glue.count(1.5, "replica")
    with pytest.raises(ValueError, match="noun"):
        glue.count(2, "")


# ------------------------------------------------------------------ quiz


def test_numeric_question_accepts_within_tolerance_and_explains_traps():
    q = quiz.numeric(
        "p?", 8, abs_tol=0.5, correct_feedback="yes", wrong_feedback="no", traps=[(64, "GPUs")]
    )
    assert quiz.numeric_answer(q) == 8
    assert quiz.accepts(q, 8) and not quiz.accepts(q, 9) and not quiz.accepts(q, 64)
    assert not quiz.accepts(q, 8.2), "a whole-number answer is exact"
    trap = next(a for a in q["answers"] if a.get("feedback") == "GPUs")
    assert trap["range"][0] <= 64 < trap["range"][1] and trap["correct"] is False


def test_whole_number_answers_are_exact_even_with_a_relative_tolerance():
    q = quiz.numeric("How many GPUs?", 512, correct_feedback="y", wrong_feedback="n")
    assert quiz.accepts(q, 512)
    assert not any(quiz.accepts(q, x) for x in (502, 511, 511.9, 512.1, 513, 522))
    loose = quiz.numeric("t?", 512, integer=False, correct_feedback="y", wrong_feedback="n")
    assert quiz.accepts(loose, 510), "integer=False keeps the relative tolerance"
    with pytest.raises(ValueError, match="whole-number"):
        quiz.numeric("t?", 2.5, integer=True, correct_feedback="y", wrong_feedback="n")


def test_percent_questions_accept_percent_and_fraction_and_say_so():
    q = quiz.numeric(
        "What share is idle, in percent?",
        17.948,
        rel_tol=0.01,
        correct_feedback="y",
        wrong_feedback="n",
        traps=[(21.875, "ratio")],
    )
    assert quiz.numeric_answer(q) == pytest.approx(17.948)
    assert quiz.accepts(q, 17.9) and quiz.accepts(q, 0.179)
    assert not quiz.accepts(q, 21.9) and not quiz.accepts(q, 0.219) and not quiz.accepts(q, 1.79)
    fraction_trap = [a for a in q["answers"] if a.get("feedback") == "ratio"]
    assert [a["range"][0] < 0.219 < a["range"][1] for a in fraction_trap] == [False, True]
    assert quiz.PERCENT_HINT in q["question"]
    plain = quiz.numeric("How long, in ms?", 17.9, correct_feedback="y", wrong_feedback="n")
    assert not quiz.accepts(plain, 0.179) and quiz.PERCENT_HINT not in plain["question"]


def test_display_copy_renders_markdown_outside_math_and_carries_the_answer():
    assert quiz.markdown_inline("over *ideal* time, $a*b*c$, **x**, `f()`") == (
        "over <em>ideal</em> time, $a*b*c$, <strong>x</strong>, <code>f()</code>"
    )
    assert quiz.markdown_inline("32 x 3 = 96, p*m stays") == "32 x 3 = 96, p*m stays"
    q = quiz.numeric("p?", 8, correct_feedback="Right, *8*.", wrong_feedback="n")
    shown = quiz.for_display(q)
    revealed = '<div class="ppq-answer" hidden>The answer<span lang="zh-Hans">（答案）</span>: '
    revealed += "<strong>8</strong>."
    assert revealed in shown["question"]
    assert shown["answers"][0]["feedback"] == "Right, <em>8</em>."
    assert q["answers"][0]["feedback"] == "Right, *8*.", "the original is left as it was"
    mc = quiz.multiple_choice(
        "Which?", [quiz.choice("A", True, "yes"), quiz.choice("B", False, "no")]
    )
    assert quiz.answer_text(mc) == "**A**: yes"


def test_numeric_relative_tolerance():
    q = quiz.numeric("x?", 200.0, rel_tol=0.01, correct_feedback="y", wrong_feedback="n")
    assert quiz.accepts(q, 201.9) and not quiz.accepts(q, 202.1)


def test_numeric_needs_a_tolerance():
    with pytest.raises(ValueError, match="tolerance > 0"):
        quiz.numeric("x?", 0.0, rel_tol=0.02, correct_feedback="y", wrong_feedback="n")


def test_multiple_choice_needs_exactly_one_correct():
    answers = [quiz.choice("a", True, "f"), quiz.choice("b", True, "f")]
    with pytest.raises(ValueError, match="exactly 1 correct"):
        quiz.multiple_choice("q?", answers)
    assert quiz.many_choice("q?", answers)["type"] == "many_choice"


@pytest.mark.parametrize(
    ("question", "message"),
    [
        ({"question": "", "type": "numeric", "answers": []}, "non-empty string"),
        ({"question": "q", "type": "essay", "answers": [1]}, "type must be one of"),
        ({"question": "q", "type": "multiple_choice", "answers": []}, "non-empty list"),
        (
            {"question": "q", "type": "many_choice", "answers": [{"answer": "a", "feedback": "f"}]},
            ">= 2 answers",
        ),
        (
            {
                "question": "q",
                "type": "many_choice",
                "answers": [
                    {"answer": "a", "correct": True, "feedback": "f"},
                    {"answer": "a", "correct": False, "feedback": "f"},
                ],
            },
            "distinct",
        ),
        (
            {
                "question": "q",
                "type": "multiple_choice",
                "answers": [
                    {"answer": "a", "correct": True},
                    {"answer": "b", "correct": False, "feedback": "f"},
                ],
            },
            "feedback that teaches",
        ),
        (
            {
                "question": "q",
                "type": "numeric",
                "answers": [{"type": "range", "range": [2, 1], "correct": True, "feedback": "f"}],
            },
            "bad range",
        ),
        (
            {
                "question": "q",
                "type": "numeric",
                "answers": [{"type": "range", "range": [1, 2], "correct": True, "feedback": "f"}],
            },
            "default feedback",
        ),
    ],
)
def test_validate_question_errors(question, message):
    with pytest.raises(ValueError, match=message):
        quiz.validate_question(question)


def test_empty_quiz_refused():
    with pytest.raises(ValueError, match="at least one question"):
        quiz.validate([])


@given(st.floats(min_value=-1e6, max_value=1e6, allow_nan=False).filter(lambda x: abs(x) > 1e-3))
def test_numeric_always_accepts_its_own_answer(value):
    q = quiz.numeric("x?", value, rel_tol=0.02, correct_feedback="y", wrong_feedback="n")
    assert quiz.accepts(q, value)
    assert quiz.numeric_answer(q) == pytest.approx(value)


# ------------------------------------------------------------------ widgets


def _html_frame(a, b):
    return f"<b>{a * b}</b>"


def test_explorer_frames_follow_the_controls():
    ex = widgets.explorer(_html_frame, a=[1, 2, 3], b=[10, 20], initial={"a": 2})
    assert ex.frame_count() == 6
    for values in widgets.grid(a=[1, 2, 3], b=[10, 20]):
        assert ex.frame(**values).value == f"<b>{values['a'] * values['b']}</b>"
    # the initial selection is a=2, b=10, and the stacks select it
    assert ex.selected_frame().value == "<b>20</b>"
    assert ex.controls["a"].index == 1 and ex.controls["b"].index == 0


def test_explorer_links_each_control_to_every_stack_of_its_level():
    ex = widgets.explorer(_html_frame, a=[1, 2, 3], b=[10, 20])
    by_control = {}
    for link in ex.links:
        (src, src_attr), (dst, dst_attr) = link.source, link.target
        assert (src_attr, dst_attr) == ("index", "selected_index")
        by_control.setdefault(src.description, []).append(dst)
    assert len(by_control["a"]) == 1  # the root stack
    assert len(by_control["b"]) == 3  # one stack under each value of a


def test_explorer_controls_kind():
    ex = widgets.explorer(lambda s, p: f"{s}{p}", s=["gpipe", "1f1b"], p=[2, 4])
    assert type(ex.controls["s"]).__name__ == "Dropdown"
    assert type(ex.controls["p"]).__name__ == "SelectionSlider"


def test_explorer_figure_frames_are_png_images():
    def frame(p):
        fig = Figure(figsize=(2, 1))
        fig.subplots().plot([0, p])
        return fig

    ex = widgets.explorer(frame, p=[1, 2])
    image = ex.frame(p=2)
    assert image.format == "png" and bytes(image.value[:4]) == b"\x89PNG"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, "at least one control"),
        ({"p": []}, "non-empty list of distinct values"),
        ({"p": [1, 1]}, "non-empty list of distinct values"),
        ({"p": list(range(200))}, "200 frames; max_frames is 120"),
        ({"p": 8}, "p needs a list of values"),
        ({"p": "1f1b"}, "p needs a list of values"),
        ({"p": [1, 2], "max_frames": 0}, "max_frames must be an integer >= 1"),
        ({"p": [1, 2], "initial": {"p": 3}}, r"initial p must be one of \[1, 2\], got 3"),
        ({"p": [1, 2], "initial": {"q": 1}}, r"initial names controls that do not exist: \['q'\]"),
        ({"p": [1, 2], "initial": 1}, "initial must be a dict"),
        ({"p": [1, 2], "labels": {"p": "x"}}, r"labels\['p'\] must be a function"),
    ],
)
def test_explorer_bad_axes(kwargs, message):
    with pytest.raises(ValueError, match=message):
        widgets.explorer(lambda **kw: "x", **kwargs)


@pytest.mark.parametrize("bad", [None, 3, "frame"])
def test_explorer_and_free_inputs_need_a_function(bad):
    with pytest.raises(TypeError, match="make_frame must be a function"):
        widgets.explorer(bad, p=[1, 2])
    with pytest.raises(TypeError, match="make_frame must be a function"):
        widgets.free_inputs(bad, p=(1, 8, 2))


@pytest.mark.parametrize("spec", [(1, float("inf"), 2), (1, 8, float("nan")), (1, 8, 9)])
def test_free_inputs_refuse_nonsense_bounds(spec):
    with pytest.raises(ValueError, match=r"^p needs finite minimum <= start <= maximum"):
        widgets.free_inputs(lambda p: "x", p=spec)


def test_explorer_bad_frame_and_lookup():
    with pytest.raises(ValueError, match="make_frame must return"):
        widgets.explorer(lambda p: 3, p=[1])
    ex = widgets.explorer(lambda p: "x", p=[1, 2])
    with pytest.raises(ValueError, match=r"p must be one of \[1, 2\], got 5"):
        ex.frame(p=5)
    with pytest.raises(ValueError, match="missing"):
        ex.frame()


# ------------------------------------------------------------------ plots


def test_stage_loads_figure_has_one_panel_per_depth_and_one_bar_per_stage():
    fig = plots.stage_loads_figure({2: [1.0, 1.5], 4: [1, 1, 1, 2]})
    assert isinstance(fig, Figure)
    axes = fig.get_axes()
    assert len(axes) == 2
    assert [len(ax.patches) for ax in axes] == [2, 4]
    # the slowest stage is drawn in the backward (highlight) colour
    last = axes[1].patches[-1]
    assert last.get_facecolor()[:3] == pytest.approx(
        tuple(int(plots.ROLE_COLORS["backward"][i : i + 2], 16) / 255 for i in (1, 3, 5))
    )


def test_balance_and_split_figures():
    fig = plots.balance_efficiency_figure({"a": ([1, 2, 4], [1.0, 0.9, 0.8])})
    assert len(fig.get_axes()[0].get_lines()) == 1
    fig = plots.split_comparison_figure({"naive": [1, 2], "best": [1.5, 1.5]})
    assert len(fig.get_axes()) == 2


def test_to_png_returns_png_bytes():
    fig = Figure(figsize=(1, 1))
    assert plots.to_png(fig)[:4] == b"\x89PNG"


def test_figures_and_frames_are_drawn_at_twice_the_shown_size():
    import io

    from PIL import Image

    from ppnotes.plots import style

    fig = plots.stage_loads_figure({4: [24.0, 24.0, 24.0, 24.33]})
    png, width = style.to_png_2x(fig)
    assert width == round(fig.get_figwidth() * style.FIGURE_CSS_DPI)
    assert Image.open(io.BytesIO(png)).size[0] == pytest.approx(2 * width, abs=2)
    assert Image.open(io.BytesIO(plots.to_png(fig, colors=64))).mode == "P"
    with pytest.raises(ValueError, match="colors"):
        plots.to_png(fig, colors=1)
    frame = widgets.explorer(lambda p: plots.stage_loads_figure({p: [1.0] * p}), p=[2, 3])
    image = frame.frame(p=2)
    shown = int(image.layout.width.removesuffix("px"))
    assert Image.open(io.BytesIO(image.value)).size[0] == pytest.approx(2 * shown, abs=2)
    assert image.layout.max_width == "100%"


def test_palette_roles_are_distinct():
    colors = list(plots.ROLE_COLORS.values())
    assert len(set(colors)) == len(colors)
    assert set(plots.ROLE_COLORS) == {"forward", "backward", "weight", "idle", "comm"}


def test_stage_axes_show_whole_stage_numbers():
    for p in (3, 5):
        fig = plots.split_comparison_figure({"a": [1.0] * p, "b": [2.0] * p})
        fig.canvas.draw()
        for ax in fig.get_axes():
            lo, hi = ax.get_xlim()
            ticks = [t for t in ax.get_xticks() if lo <= t <= hi]
            assert ticks and all(float(t).is_integer() for t in ticks), ticks


def test_megatron_rank_order_keeps_tp_groups_inside_a_node():
    coords = [plots.megatron_rank_coords(r, 4, 2) for r in range(32)]
    assert coords[0] == (0, 0, 0) and coords[3] == (3, 0, 0) and coords[4] == (0, 1, 0)
    assert coords[8] == (0, 0, 1) and coords[31] == (3, 1, 3)
    assert len(set(coords)) == 32
    fig = plots.parallel_layout_figure(4, 4, 2, 8)
    texts = {t.get_text() for t in fig.get_axes()[0].texts}
    assert {"node 0", "node 3", "stage 3, replica 1"} <= texts and "31" in texts
    with pytest.raises(ValueError, match="tensor_parallel must divide"):
        plots.parallel_layout_figure(3, 4, 2, 8)


def test_bars_svg_scales_to_the_column_and_explains_missing_values():
    from ppnotes.plots.style import bars_svg

    svg = bars_svg({"1F1B": 0.18, "interleaved": None}, notes={"interleaved": "needs m % p = 0"})
    assert svg.startswith("<svg") and 'viewBox="0 0 600' in svg
    assert "18.0%" in svg and "needs m % p = 0" in svg and svg.count("<rect") == 1


def test_free_inputs_clamp_and_show_errors():
    import ipywidgets

    def frame(p, kind):
        if p > 64:
            raise ValueError("p too large")
        return f"<p>{kind} {p}</p>"

    box = widgets.free_inputs(frame, p=(1, 128, 8), kind=["a", "b"])
    p_box = next(c for c in box.children if getattr(c, "description", "") == "p")
    assert isinstance(p_box, ipywidgets.BoundedIntText) and p_box.max == 128
    p_box.value = 500
    assert p_box.value == 128, "the box clamps to its bounds"
    with pytest.raises(ValueError, match="start"):
        widgets.free_inputs(frame, p=(1, 8, 9))


def test_explorer_frames_share_layout_models_to_keep_pages_light():
    ex = widgets.explorer(lambda p, m: f"<p>{p} {m}</p>", p=[1, 2, 3], m=[4, 5])
    frames = [ex.frame(**values) for values in widgets.grid(p=[1, 2, 3], m=[4, 5])]
    assert len({id(f.layout) for f in frames}) == 1 and len({id(f.style) for f in frames}) == 1
    assert len({f.value for f in frames}) == 6


def test_show_starts_the_quiz_only_once_mathjax_is_loaded(monkeypatch):
    import IPython.display

    shown = []
    monkeypatch.setattr(IPython.display, "display", lambda *objs, **kw: shown.extend(objs))
    q = quiz.numeric("How many GPUs, in all?", 512, correct_feedback="y", wrong_feedback="n")
    quiz.show([q])
    html, quiz_js, reveal_js = (o.data for o in shown)
    assert "data-maxwidth" in html and ".ppq-show" in html
    assert "MathJax.version" in quiz_js and "How many GPUs, in all?" in quiz_js
    assert "show_questions" in quiz_js and "ppnotesRevealAfter = 2" in reveal_js


def test_explorer_stores_identical_frames_and_subtrees_once():
    # the frame ignores m, so every m-subtree under one p is the same stack
    ex = widgets.explorer(lambda p, m: f"<p>{p}</p>", p=[1, 2, 3], m=[4, 5], header="<i>key</i>")
    assert ex.frame_count() == 6 and ex.distinct_frames() == 3
    assert ex.frame(p=2, m=4) is ex.frame(p=2, m=5)
    assert ex.frame(p=1, m=4) is not ex.frame(p=2, m=4)
    # the frame ignores p: one m-stack serves every p, and it has one link, not three
    ex = widgets.explorer(lambda p, m: f"<p>{m}</p>", p=[1, 2, 3], m=[4, 5])
    assert ex.distinct_frames() == 2
    assert len({id(s) for s in ex.root.children}) == 1 and len(ex.links) == 2
    for values in widgets.grid(p=[1, 2, 3], m=[4, 5]):
        assert ex.frame(**values).value == f"<p>{values['m']}</p>"
    header = ex.widget.children[1]
    assert header is ex.root  # no header given: controls, then frames
    keyed = widgets.explorer(lambda p: "x", p=[1], header="<i>key</i>")
    assert keyed.widget.children[1].value == "<i>key</i>"
