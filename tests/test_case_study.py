"""Chapter 8: the GPT-3 175B serving case, recomputed."""

from __future__ import annotations

import dataclasses

import pytest

from ppnotes import case_study as cs
from ppnotes import inference
from ppnotes import perf_model as pm


@pytest.fixture(scope="module")
def rows():
    return {r.label: r for r in cs.all_rows()}


def test_shares_add_to_one_and_are_shares(rows):
    for r in rows.values():
        assert r.bubble + r.tp_comm + r.compute == pytest.approx(1.0)
        assert 0 <= r.bubble < 1 and 0 <= r.tp_comm < 1 and 0 < r.compute <= 1


def test_replicas_and_concurrency_split_the_batch(rows):
    assert rows["PP1 TP8 x4"].replicas == 4 and rows["PP1 TP8 x4"].concurrency == 8
    assert rows["PP4 TP8"].replicas == 1 and rows["PP4 TP8"].concurrency == 32
    assert rows["PP16 TP2"].serving.in_flight == 16


def test_a_replica_is_chapter_six_serve(rows):
    r = rows["PP2 TP8 x2"]
    srv = inference.serve(cs.MODEL, cs.CLUSTER, 8, 2, 16, cs.PROMPT, cs.OUTPUT)
    assert r.serving.tpot == srv.tpot
    assert r.tokens_per_s == pytest.approx(2 * srv.tokens_per_s)


def test_bubble_by_hand_for_one_stage(rows):
    """p = 1: the only stage is busy for the whole period (no bubble)."""
    assert rows["PP1 TP8 x4"].bubble == pytest.approx(0.0, abs=1e-12)


def test_tp_share_by_hand(rows):
    r = rows["PP4 TP8"]
    one = inference.tp_allreduce_seconds(cs.MODEL, cs.CLUSTER, 8, 8)
    assert r.tp_comm == pytest.approx(96 * 2 * one / 4 / r.serving.period)


def test_tp_across_nodes_costs_more_than_inside(rows):
    assert rows["PP2 TP16"].tp_comm > 2 * rows["PP4 TP8"].tp_comm
    assert rows["PP2 TP16"].tokens_per_s < rows["PP4 TP8"].tokens_per_s


def test_note_vs_ours_has_a_verdict_per_line(rows):
    table = cs.note_vs_ours(list(rows.values()))
    assert [r["config"] for r in table] == ["PP4 TP8", "PP16 TP2", "PP2 TP16"]
    assert table[0]["verdict"].startswith("good choice")
    assert table[1]["verdict"].startswith("right verdict, wrong reason")
    assert table[2]["verdict"].startswith("holds")


def test_capacity_grows_with_depth(rows):
    assert cs.capacity(rows["PP4 TP8"]).concurrency > cs.capacity(rows["PP1 TP8 x4"]).concurrency


def test_a100_40gb_one_node_does_not_fit():
    r = cs.case_row(8, 1, cluster=pm.CLUSTERS["DGX A100 40GB + HDR"])
    assert not r.fits and r.serving.shortfall > 0


def test_days_to_train_by_hand():
    assert cs.days_to_train(86400.0, 1, 1, tokens=10.0) == pytest.approx(10.0)
    assert cs.days_to_train(10.0, 1536, 2048) == pytest.approx(300e9 / (1536 * 2048) * 10 / 86400)


def test_training_side_matches_measured_step():
    ts = cs.training_side()
    assert ts["theirs_step"] == pytest.approx(ts["measured_step"], rel=0.05)
    assert ts["ours_step"] <= ts["theirs_step"]
    assert ts["days_measured"] > 300


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [({"num_gpus": 30}, "num_gpus"), ({"batch": 30, "t": 8, "p": 1}, "batch"), ({"t": 0}, "t")],
)
def test_bad_input(kwargs, name):
    args = {"t": 8, "p": 4, **kwargs}
    t, p = args.pop("t"), args.pop("p")
    with pytest.raises(ValueError, match=name):
        cs.case_row(t, p, **args)


@pytest.mark.parametrize(
    ("call", "name", "kind"),
    [
        (lambda r: cs.tp_seconds_per_stage(cs.MODEL, cs.CLUSTER, 0, 4, 8), "t", ValueError),
        (lambda r: cs.tp_seconds_per_stage(cs.MODEL, 1, 8, 4, 8), "cluster", TypeError),
        # allreduce is unused for t = 1 and still checked
        (
            lambda r: cs.tp_seconds_per_stage(cs.MODEL, cs.CLUSTER, 1, 4, 8, allreduce="x"),
            "allreduce",
            ValueError,
        ),
        (lambda r: cs.case_row(8, 4, num_gpus=10**7), "num_gpus", ValueError),
        (lambda r: cs.case_row(8, 4, model=1), "model", TypeError),
        (lambda r: cs.note_vs_ours(0), "rows", TypeError),
        (lambda r: cs.note_vs_ours([]), "rows", ValueError),
        (lambda r: cs.planner_choice(["8"]), "rows[0]", TypeError),
        (lambda r: cs.planner_choice(list(r.values()), cluster=None), "cluster", TypeError),
        (lambda r: cs.verdict(r["PP4 TP8"], {}, r["PP4 TP8"]), "note", TypeError),
        (lambda r: cs.verdict(0, cs.NOTE_CASE[(8, 4)], r["PP4 TP8"]), "row", TypeError),
        (lambda r: cs.capacity(0), "row", TypeError),
        (lambda r: cs.days_to_train(0, 1536, 2048), "step_seconds", ValueError),
        (lambda r: cs.days_to_train(10.0, -1, 2048), "global_batch", ValueError),
        (lambda r: cs.days_to_train(10.0, 1536, None), "seq_len", ValueError),
        (lambda r: cs.days_to_train(10.0, 1536, 2048, tokens=0), "tokens", ValueError),
        (lambda r: dataclasses.replace(r["PP4 TP8"], serving=None), "serving", TypeError),
    ],
)
def test_bad_input_names_the_parameter(rows, call, name, kind):
    with pytest.raises(kind) as err:
        call(rows)
    assert str(err.value).startswith(name + " "), str(err.value)


def test_days_to_train_is_never_negative():
    with pytest.raises(ValueError, match="global_batch"):
        cs.days_to_train(10.0, -1536, 2048)
    assert cs.days_to_train(10.0, 1536, 2048) > 0


# --- the note's bubble, engine by engine (issue 19) --------------------------------------


def test_the_notes_bubbles_are_its_own_gpipe_formula_with_32_microbatches():
    assert cs.note_formula_bubble(4) == pytest.approx(3 / 35)
    assert cs.note_formula_bubble(16) == pytest.approx(15 / 47)
    assert round(100 * cs.note_formula_bubble(4), 1) == 8.6
    assert round(100 * cs.note_formula_bubble(16), 1) == 31.9
    assert cs.note_formula_bubble(1) == 0.0


def test_static_engine_is_fastertransformer_flushing_every_token():
    ft = cs.engine_bubble(8, 4, "static")
    assert (ft.local, ft.microbatches) == (8, 4)
    whole = inference.static_batch_time(cs.MODEL, cs.CLUSTER, 8, 4, 32, cs.PROMPT, cs.OUTPUT)
    assert ft.tpot == pytest.approx(whole["step"])
    # equal stages and no hops would give GPipe's 3/7; hops and the LM head add a little
    assert 3 / 7 <= ft.bubble < 3 / 7 + 0.01
    ft16 = cs.engine_bubble(2, 16, "static")
    assert (ft16.local, ft16.microbatches) == (2, 16) and ft16.bubble > 15 / 31


def test_static_with_microbatches_of_one_is_the_notes_number():
    for t, p, printed in ((8, 4, 0.10), (2, 16, 0.35)):
        b = cs.bubble_by_engine(t, p)
        assert b["note"] < b["static, M = batch"] < b["note"] + 0.03
        assert b["static, M = batch"] == pytest.approx(printed, abs=0.02)
        assert b["continuous"] < b["note"] < b["static"]


def test_continuous_engine_is_the_case_rows_bubble(rows):
    c = cs.engine_bubble(8, 4, "continuous")
    assert c.bubble == rows["PP4 TP8"].bubble and c.microbatches == 4 and c.local == 8
    assert c.tpot == rows["PP4 TP8"].serving.tpot
    assert cs.engine_bubble(8, 1, "static", batch=8).bubble == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"engine": "dynamic"}, "engine"),
        ({"engine": "continuous", "local": 1}, "local is for the static engine"),
        ({"engine": "static", "local": 3}, "local must divide batch"),
        ({"engine": "static", "local": 0}, "local"),
        ({"engine": "static", "batch": 0}, "batch"),
    ],
)
def test_engine_bubble_refuses_bad_input(kwargs, message):
    with pytest.raises(ValueError, match=message):
        cs.engine_bubble(8, 4, **kwargs)


def test_note_formula_refuses_bad_input():
    with pytest.raises(ValueError, match="microbatches"):
        cs.note_formula_bubble(4, 0)
    with pytest.raises(ValueError, match="p must"):
        cs.note_formula_bubble(0)
