"""The command line of chapter 7's planner (``python -m ppnotes.optimum``).

Every bad command line gets one line on stderr naming the flag, exit code 2, no traceback,
and no search (the planners are replaced by a function that fails the test)."""

from __future__ import annotations

import io
import json
import math
import os
import re
import subprocess
import sys
import time

import pytest

from ppnotes import _names, cli, export, moe, serving_plan
from ppnotes import optimum as o
from ppnotes.hardware import GPUS, LINKS
from ppnotes.models import LLAMA3_70B, MODELS
from ppnotes.perf_model import CLUSTERS
from tests.conftest import ROOT

PROG = "python -m ppnotes.optimum: error:"


def run(*argv):
    out = io.StringIO()
    code = cli.main(list(argv), out=out)
    return code, out.getvalue()


@pytest.fixture
def no_search(monkeypatch):
    """Bad input must be refused before any planning starts."""

    def refuse(*args, **kwargs):
        raise AssertionError("the planner ran on a bad command line")

    monkeypatch.setattr(cli, "plan_training", refuse)
    monkeypatch.setattr(cli, "plan_serving", refuse)


SERVE = ("--mode", "serve")
SHAPE = ("--layers", "24", "--hidden", "2048", "--heads", "16")

# (command line, text the one-line message must contain: the flag, and the point)
BAD = [
    # flags of the other mode
    (("--gpus", "64", *SERVE), "--gpus: only --mode train"),
    (("--global-batch", "64", *SERVE), "--global-batch: only --mode train"),
    (("--seq-len", "4096", *SERVE), "--seq-len: only --mode train"),
    (("--explain", "p4", *SERVE), "--explain: only --mode train"),
    (("--framework", "megatron", *SERVE), "--framework: only --mode train"),
    (("--fp8", *SERVE), "--fp8: only --mode train"),
    (("--fp8", "--gpus", "64"), "fp8=True needs a GPU with FP8 Tensor Cores, got the A100 80GB"),
    (
        (
            "--ttft",
            "1.0",
        ),
        "--ttft: only --mode serve",
    ),
    (
        (
            "--tpot",
            "0.05",
        ),
        "--tpot: only --mode serve",
    ),
    (
        (
            "--load",
            "100",
        ),
        "--load: only --mode serve",
    ),
    (
        (
            "--prompt",
            "512",
        ),
        "--prompt: only --mode serve",
    ),
    (
        (
            "--output",
            "128",
        ),
        "--output: only --mode serve",
    ),
    # a preset and a custom shape; a partial shape; heads that do not divide h
    (("--model", "Llama 3 70B", *SHAPE), "--model: not allowed with --layers, --hidden, --heads"),
    (("--model", "GPT-3 175B", "--heads", "16"), "--model: not allowed with --heads"),
    (("--layers", "24"), "missing --hidden, --heads"),
    (("--layers", "24", "--hidden", "2048"), "missing --heads"),
    (("--layers", "24", "--hidden", "4096", "--heads", "7"), "--heads: must divide --hidden"),
    (("--vocab", "32000"), "--vocab: only for a custom shape"),
    (("--model", "Llama 3 70B", "--vocab", "32000"), "'Llama 3 70B' has its own (128256)"),
    # --explain takes one configuration, and must be readable before the search
    (("--explain", "p4", "--top", "3"), "--top: not used with --explain"),
    (("--explain", "p4", "--export"), "--export: not used with --explain"),
    (("--explain", "q7"), "--explain: config word 'q7'"),
    (("--explain", " "), "--explain: config must be words"),
    # numbers: zero, negative, not a number, not whole, beyond any real system
    (("--gpus", "0"), "--gpus: must be a whole number >= 1, got '0'"),
    (("--gpus", "-1"), "--gpus: must be a whole number >= 1"),
    (("--gpus", "nan"), "--gpus: must be a whole number >= 1, got 'nan'"),
    (("--gpus", "1.5"), "--gpus: must be a whole number"),
    (("--gpus", "many"), "--gpus: must be a whole number"),
    (("--gpus", "1000000007"), "--gpus: must be at most 1,000,000"),
    (("--gpus-per-node", "0"), "--gpus-per-node: must be a whole number >= 1"),
    (("--gpus-per-node", "4096"), "--gpus-per-node: must be at most 1,024"),
    (("--global-batch", "0"), "--global-batch: must be a whole number >= 1"),
    (("--global-batch", "1000000"), "--global-batch: must be at most 32,768"),
    (("--seq-len", "-2048"), "--seq-len: must be a whole number >= 1"),
    (("--seq-len", "1e12"), "--seq-len: must be at most"),
    (("--top", "0"), "--top: must be a whole number >= 1, got '0'"),
    (("--top", "-5"), "--top: must be a whole number >= 1"),
    (("--layers", "0", "--hidden", "2048", "--heads", "16"), "--layers: must be a whole number"),
    (("--layers", "99999", "--hidden", "2048", "--heads", "16"), "--layers: must be at most"),
    (("--layers", "24", "--hidden", "1e9", "--heads", "16"), "--hidden: must be at most"),
    (("--layers", "24", "--hidden", "2048", "--heads", "0"), "--heads: must be a whole number"),
    (("--vocab", "0", *SHAPE), "--vocab: must be a whole number"),
    (("--ttft", "0", *SERVE), "--ttft: must be a finite number > 0"),
    (("--ttft", "nan", *SERVE), "--ttft: must be a finite number > 0, got 'nan'"),
    (("--tpot", "inf", *SERVE), "--tpot: must be a finite number > 0, got 'inf'"),
    (("--tpot", "-0.05", *SERVE), "--tpot: must be a finite number > 0"),
    (("--load", "0", *SERVE), "--load: must be a finite number > 0"),
    (("--load", "1e15", *SERVE), "--load: must be at most"),
    (("--prompt", "0", *SERVE), "--prompt: must be a whole number >= 1"),
    (("--output", "99999999999", *SERVE), "--output: must be at most"),
    # names: unknown (with the nearest), ambiguous (with the matches), empty
    (("--gpu", "B200"), "--gpu: unknown GPU 'B200'; did you mean 'H200 141GB'?"),
    (("--gpu", "A100"), "--gpu: 'A100' is ambiguous, it matches 'A100 40GB', 'A100 80GB'"),
    (("--gpu", ""), "--gpu: GPU must be one of"),
    (
        ("--model", "Lamma 3 70B"),
        "--model: unknown model 'Lamma 3 70B'; did you mean 'Llama 3 70B'",
    ),
    (("--model", "70B"), "--model: '70B' is ambiguous, it matches 'Llama 3 70B', 'Llama 3.1 70B'"),
    (("--intra", "PCIe"), "--intra: 'PCIe' is ambiguous"),
    (("--inter", "InfiniBand XDR"), "--inter: unknown link 'InfiniBand XDR'; did you mean"),
    # argparse's own
    (("--mode", "fly"), "--mode: invalid choice: 'fly'"),
    (("--gpus",), "--gpus: expected one argument"),
    (("--frobnicate",), "unrecognized arguments: --frobnicate"),
    (("--json=yes",), "--json: ignored explicit argument 'yes'"),
    (("--json", "--gpus", "0"), "--gpus: must be a whole number >= 1"),  # not JSON: one line
]


@pytest.mark.parametrize("argv, message", BAD, ids=[" ".join(a) for a, _ in BAD])
def test_bad_command_line_is_one_clear_line(argv, message, capsys, no_search):
    code, text = run(*argv)
    err = capsys.readouterr().err
    assert code == cli.EXIT_BAD_INPUT == 2
    assert text == ""
    assert "Traceback" not in err
    assert err.count("\n") == 1 and err.startswith(PROG), err
    assert message in err, err


def test_cli_train_prints_a_table():
    code, text = run("--model", "GPT-3 175B", "--gpus", "64", "--global-batch", "64", "--top", "3")
    assert code == 0
    lines = text.splitlines()
    assert "configurations" in lines[0] and lines[1].startswith("config")
    assert len(lines) == 5 and all(line.startswith("t") for line in lines[2:])


def test_cli_explain_and_export():
    code, text = run("--gpus", "64", "--global-batch", "64", "--explain", "t16")
    assert code == 0 and "tp-node" in text
    code, text = run("--gpus", "64", "--global-batch", "64", "--export", "--top", "1")
    assert code == 0 and "torchtitan: --parallelism.tensor_parallel_degree" in text
    assert "Megatron-LM:" in text


def test_cli_export_gives_each_framework_a_line_it_runs():
    """With --framework any the best (here ZBV) has no Megatron-LM schedule: Megatron-LM gets
    its own fastest, planned under its rules, with the gap to the best."""
    shape = ("--layers", "48", "--hidden", "6144", "--heads", "48", "--gpus", "64")
    code, text = run(*shape, "--global-batch", "512", "--export", "--top", "1")
    lines = text.splitlines()
    assert code == 0 and " zbv " in lines[2]
    titan, mega = (line for line in lines if line.startswith(("torchtitan:", "Megatron-LM:")))
    assert "ZBVZeroBubble" in titan
    code, own = run(*shape, "--global-batch", "512", "--framework", "megatron", "--top", "1")
    label = own.splitlines()[2].split("  ")[0]
    assert f"(its own fastest, {label}, " in mega and "pretrain_gpt.py" in mega


def test_cli_custom_shape_and_serving():
    code, text = run(
        "--layers", "24", "--hidden", "2048", "--heads", "16", "--gpus", "8", "--global-batch", "32"
    )
    assert code == 0 and "custom L=24" in text
    code, text = run(
        "--mode",
        "serve",
        "--model",
        "Llama 3 70B",
        "--gpu",
        "H100 SXM 80GB",
        "--tpot",
        "0.05",
        "--load",
        "2000",
        "--export",
    )
    assert code == 0 and "vLLM: vllm serve meta-llama/" in text and "--data-parallel-size" in text


def test_cli_exit_codes():
    assert run("--gpus", "8", "--global-batch", "64")[0] == cli.EXIT_UNSATISFIABLE
    assert run("--gpu", "B200")[0] == cli.EXIT_BAD_INPUT
    assert run("--gpus", "0")[0] == cli.EXIT_BAD_INPUT
    assert run("--mode", "fly")[0] == cli.EXIT_BAD_INPUT
    assert run("--layers", "24")[0] == cli.EXIT_BAD_INPUT
    code, text = run("--mode", "serve", "--model", "Llama 3 70B", "--tpot", "0.0001")
    assert code == cli.EXIT_UNSATISFIABLE and "No replica shape" in text


def test_a_load_beyond_any_cluster_is_a_miss_not_an_input_error():
    # 10**9 tokens/s needs millions of GPUs: every shape is listed as a miss, none crashes.
    code, text = run("--mode", "serve", "--model", "Llama 3 70B", "--load", "1e9")
    assert code == cli.EXIT_UNSATISFIABLE
    assert "beyond any real system" in text and "Traceback" not in text


def test_there_are_many_bad_command_lines():
    assert len(BAD) >= 35
    # every flag that only one mode reads is in the table, in the other mode
    flags = {a[0] for a, m in BAD if "only --mode" in m}
    every = {cli._flag(d) for names in cli.MODE_FLAGS.values() for d in names}
    assert flags == every


def test_every_flag_is_tested_with_a_bad_value_or_a_conflict():
    tested = {word.split("=")[0] for argv, _ in BAD for word in argv if word.startswith("--")}
    options = {s for action in cli._parser()._actions for s in action.option_strings}
    assert options - tested == {"-h", "--help"}


def test_flags_of_the_other_mode_name_the_mode(capsys, no_search):
    run("--gpus", "8", "--mode", "serve")
    assert "serve mode finds the fewest GPUs itself" in capsys.readouterr().err


def test_heads_suggest_the_nearest_divisors(capsys, no_search):
    run("--layers", "24", "--hidden", "4096", "--heads", "7")
    assert "the nearest that do: 4 or 8" in capsys.readouterr().err  # 4096 = 2**12


def test_short_names_resolve_when_only_one_name_matches():
    code, text = run(
        "--model", "1.7b", "--gpu", "H100", "--intra", "gen5", "--inter", "ndr",
        "--gpus", "8", "--global-batch", "16", "--top", "1",
    )  # fmt: skip
    first = text.splitlines()[0]
    assert code == 0
    assert first.startswith("GPT 1.7B (Megatron) on 8 x H100 SXM 80GB")
    assert "(PCIe Gen5 x16 + InfiniBand NDR)" in first


def test_help_exits_cleanly(capsys):
    assert cli.main(["--help"]) == cli.EXIT_OK
    assert "--gpu" in capsys.readouterr().out


def test_defaults_still_apply():
    code, text = run("--mode", "serve", "--model", "GPT 1.7B (Megatron)", "--top", "1")
    assert code == 0 and "1000 output tokens/s, TTFT any, TPOT any" in text
    code, text = run("--layers", "24", "--hidden", "2048", "--heads", "16", "--top", "1")
    assert code in (0, 1) and "on 64 x A100 80GB" in text and "G = 512" in text


def test_custom_vocab_is_used():
    args = cli._parser().parse_args([*SHAPE, "--vocab", "32000"])
    cli._check_args(cli._parser(), args)
    assert cli.model_from_args(args).vocab_size == 32000


def test_model_from_args_needs_parsed_flags():
    with pytest.raises(TypeError, match="args must be an argparse.Namespace"):
        cli.model_from_args("GPT-3 175B")


def test_library_errors_are_one_line(monkeypatch, capsys):
    def bad(*args, **kwargs):
        raise ValueError("num_gpus must be\n an integer >= 1, got 0")

    monkeypatch.setattr(cli, "plan_training", bad)
    assert run()[0] == cli.EXIT_BAD_INPUT
    assert capsys.readouterr().err == f"{PROG} num_gpus must be an integer >= 1, got 0\n"


def test_interrupt_is_quiet(monkeypatch, capsys):
    def stop(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "plan_training", stop)
    assert run()[0] == cli.EXIT_INTERRUPTED == 130
    assert capsys.readouterr().err == "python -m ppnotes.optimum: interrupted\n"


# --- names ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "typed, names, meant",
    [
        ("H100", GPUS, "H100 SXM 80GB"),
        ("h200", GPUS, "H200 141GB"),
        ("a100 80gb", GPUS, "A100 80GB"),
        ("nvlink4", LINKS, "NVLink 4"),
        ("NDR", LINKS, "InfiniBand NDR"),
        ("gpt-3 175b", MODELS, "GPT-3 175B"),  # exact beats the longer name containing it
        ("405B", MODELS, "Llama 3.1 405B"),
    ],
)
def test_resolve_short_forms(typed, names, meant):
    assert _names.resolve(typed, names) == meant


def test_resolve_refuses_what_is_not_one_name():
    with pytest.raises(ValueError, match="ambiguous.*'PCIe Gen4 x16', 'PCIe Gen5 x16'"):
        _names.resolve("pcie", LINKS, "link")
    with pytest.raises(ValueError, match="did you mean 'H200 141GB'"):
        _names.resolve("B200", GPUS, "GPU")
    with pytest.raises(ValueError, match="choose from 'A100 40GB'"):
        _names.resolve("TPU v5", GPUS, "GPU")
    assert _names.nearest("zzzz", GPUS) == []


# --- cost -------------------------------------------------------------------------------------


def test_divisors_match_the_definition():
    for n in range(1, 500):
        assert o._divisors(n) == [k for k in range(1, n + 1) if n % k == 0]


def test_divisors_of_a_large_prime_are_fast():
    start = time.perf_counter()
    assert o._divisors(1_000_000_007) == [1, 1_000_000_007]  # trial division took 143 s
    assert o._divisors(2**40) == [2**k for k in range(41)]
    assert time.perf_counter() - start < 1.0


def test_a_prime_gpu_count_within_the_limit_is_quick():
    start = time.perf_counter()
    code, text = run("--gpus", "999983", "--top", "1")
    assert code == cli.EXIT_UNSATISFIABLE and "not a multiple of d = 999983" in text
    assert time.perf_counter() - start < 10.0  # about 0.5 s alone


# --- output closed early ----------------------------------------------------------------------


def test_closed_stdout_exits_quietly():
    """``python -m ppnotes.optimum ... | head`` where head has already gone: no traceback."""
    env = os.environ | {"PYTHONPATH": str(ROOT)}
    argv = [sys.executable, "-m", "ppnotes.optimum", "--gpus", "64", "--global-batch", "64"]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=ROOT)
    proc.stdout.close()  # the reader is gone before the first line is written
    err = proc.stderr.read().decode()
    proc.stderr.close()
    assert proc.wait(timeout=120) == cli.EXIT_BROKEN_PIPE == 141
    assert err == ""


# --- serving under load (issue 19) ---------------------------------------------------------

MISS = re.compile(r"^  t(\d+) p(\d+): .*\((?:misses by (\d+)%|weights do not fit)\)$", re.M)


def test_serve_nothing_carries_the_load_lists_the_closest_by_miss():
    """5,000 output tokens/s of Llama 3 70B within a 12 ms TPOT: no A100 shape reaches it even
    idle (t8 p1 decodes in about 13 ms), so exit 1 and the closest shapes, nearest first."""
    code, text = run(*SERVE, "--model", "Llama 3 70B", "--load", "5000", "--tpot", "0.012")
    assert code == cli.EXIT_UNSATISFIABLE == 1
    assert "No replica shape meets the request. Closest, by how far each misses:" in text
    shapes = MISS.findall(text)
    assert len(shapes) >= 5
    misses = [math.inf if m == "" else int(m) for _, _, m in shapes]
    assert misses == sorted(misses) and misses[0] > 0
    assert len({(t, p) for t, p, _ in shapes}) == len(shapes)
    assert ("8", "1", str(misses[0])) == shapes[0]  # the shallowest full-node shape is closest
    assert "Under load" not in text


def test_serve_closest_puts_shapes_whose_weights_do_not_fit_last():
    plan = serving_plan.plan_serving(
        LLAMA3_70B, CLUSTERS["DGX A100 80GB + HDR"], load=5000, tpot=0.012
    )
    assert not plan.choices
    misses = [m for *_, m in plan.closest]
    assert misses == sorted(misses) and math.isinf(misses[-1]) and not math.isinf(misses[0])


def test_serve_feasible_plan_keeps_utilisation_at_most_090():
    code, text = run(*SERVE, "--model", "Llama 3 70B", "--load", "5000", "--top", "5")
    assert code == 0 and "Under load" in text
    head = next(line for line in text.splitlines() if line.startswith("replicas"))
    assert head.split()[1:3] == ["GPUs", "util"]
    # a row: the replica label, then GPUs, util, TTFT, TPOT, output and all tokens/s
    rows = [line.split() for line in text.splitlines() if re.match(r"t\d+ p\d+ ", line)]
    assert 1 <= len(rows) <= 5
    utils = [float(r[-5]) for r in rows]
    assert all(0 < u <= 0.9 for u in utils)
    assert [int(r[-6]) for r in rows] == sorted(int(r[-6]) for r in rows)  # fewest GPUs first


def test_cli_framework_flag():
    code, text = run(
        "--gpus", "64", "--global-batch", "64", "--framework", "megatron", "--top", "3"
    )
    assert code == 0 and "framework megatron" in text.splitlines()[0]
    assert "timed by the step model" in text.splitlines()[0]
    rows = text.splitlines()[2:]
    assert rows and all(("1f1b" in r or "interleaved" in r) for r in rows)
    code, text = run("--gpus", "64", "--global-batch", "64", "--framework", "megatron", "--export")
    assert code == 0 and "Megatron-LM:" in text and "torchtitan:" not in text
    code, _ = run("--mode", "serve", "--framework", "megatron")
    assert code == cli.EXIT_BAD_INPUT


# --- --json (issue 20) ---------------------------------------------------------------------

TRAIN_QUERY = ("--gpus", "64", "--global-batch", "64")


def test_json_training_matches_the_library_plan():
    code, text = run(*TRAIN_QUERY, "--top", "3", "--json")
    assert code == cli.EXIT_OK
    doc = json.loads(text)
    assert doc["mode"] == "train" and doc["framework"] == "any"
    assert doc["query"]["gpus"] == 64
    assert doc["query"]["model"] == "GPT-3 175B" and doc["query"]["global_batch"] == 64
    plan = o.plan_training(MODELS["GPT-3 175B"], o.cluster_for("A100 80GB", 8, None, None), 64, 64)
    assert (doc["covered"], doc["timed"], doc["fit"]) == (
        plan.searched,
        plan.evaluated,
        len(plan.ranked),
    )
    rows = doc["configurations"]
    assert len(rows) == 3 and "export" not in doc and "closest" not in doc
    for row, r in zip(rows, plan.ranked, strict=False):
        c = r.candidate
        assert row["label"] == c.label
        for key in o.FIELDS:
            assert row[key] == getattr(c, key), key
        assert row["step_time_s"] == pytest.approx(r.step_time, rel=1e-12)
        assert row["parts_s"] == pytest.approx(r.result.parts, rel=1e-12)
        assert sum(row["parts_s"].values()) == pytest.approx(row["step_time_s"], rel=1e-9)
        assert row["peak_gib"] == pytest.approx(r.peak_bytes / 2**30)
        assert row["mfu"] == pytest.approx(r.result.mfu)


def test_json_training_export_has_the_table_commands_lines():
    _, text = run(*TRAIN_QUERY, "--top", "1", "--export")
    code, js = run(*TRAIN_QUERY, "--top", "1", "--export", "--json")
    assert code == cli.EXIT_OK
    export = json.loads(js)["export"]
    assert set(export) == {"torchtitan", "Megatron-LM"}
    for name, line in export.items():
        assert f"{name}: {line}" in text


def test_json_training_nothing_fits_exits_1_with_the_closest_and_the_gpu_hint():
    code, text = run("--gpus", "8", "--global-batch", "64", "--json")
    assert code == cli.EXIT_UNSATISFIABLE == 1
    doc = json.loads(text)
    assert doc["fit"] == 0 and doc["configurations"] == []
    assert doc["closest"] and {"config", "rule", "reason", "excess_gib"} <= set(doc["closest"][0])
    assert doc["fits_on_gpus"] == 48 and doc["largest_gpus_tried"] == 48


def test_json_with_explain_is_a_field():
    """--explain's answer is prose: --json carries it whole as a string field."""
    _, text = run(*TRAIN_QUERY, "--explain", "p2")
    code, js = run(*TRAIN_QUERY, "--explain", "p2", "--json")
    doc = json.loads(js)
    assert code == cli.EXIT_OK and doc["explain"]["config"] == "p2"
    assert doc["explain"]["explanation"] in text and "memory-bound" in doc["explain"]["explanation"]


def test_json_serving_matches_the_library_plan():
    argv = (*SERVE, "--model", "Llama 3 70B", "--load", "5000", "--top", "3")
    code, text = run(*argv, "--json", "--export")
    assert code == cli.EXIT_OK
    doc = json.loads(text)
    plan = serving_plan.plan_serving(LLAMA3_70B, CLUSTERS["DGX A100 80GB + HDR"], load=5000)
    assert doc["mode"] == "serve" and doc["query"]["load_tokens_per_s"] == 5000
    assert len(doc["choices"]) == min(3, len(plan.choices)) >= 1
    for row, c in zip(doc["choices"], plan.choices, strict=False):
        assert (row["t"], row["p"], row["replicas"], row["gpus"]) == (c.t, c.p, c.replicas, c.gpus)
        assert row["utilisation"] == pytest.approx(c.loaded.utilisation)
        assert row["ttft_s"] == pytest.approx(c.loaded.ttft)
        assert row["tpot_s"] == pytest.approx(c.loaded.tpot)
        assert row["output_tokens_per_s"] == pytest.approx(
            c.loaded.output_tokens_per_s * c.replicas
        )
    assert doc["export"]["vLLM"].startswith("vllm serve meta-llama/")


def test_json_serving_nothing_fits_lists_the_misses():
    argv = (*SERVE, "--model", "Llama 3 70B", "--load", "5000", "--tpot", "0.012", "--json")
    code, text = run(*argv)
    assert code == cli.EXIT_UNSATISFIABLE
    doc = json.loads(text)
    assert doc["choices"] == [] and len(doc["closest"]) >= 5
    misses = [math.inf if r["miss"] is None else r["miss"] for r in doc["closest"]]
    assert misses == sorted(misses) and (doc["closest"][0]["t"], doc["closest"][0]["p"]) == (8, 1)


# --- nothing fits: how many GPUs would (issue 20) ------------------------------------------


def test_nothing_fits_says_how_many_gpus_would():
    code, text = run("--gpus", "8", "--global-batch", "64")
    assert code == cli.EXIT_UNSATISFIABLE
    assert "something fits on 48 GPUs" in text.splitlines()[-1]


def test_fewest_gpus_that_fit_is_the_first_count_that_fits():
    cluster = o.cluster_for("A100 80GB", 8, None, None)
    model = MODELS["GPT-3 175B"]
    plan = o.plan_training(model, cluster, 8, 64)
    assert o.fewest_gpus_that_fit(plan) == (48, 48)
    for n in (16, 24, 32, 40):  # every smaller multiple of 8 fits nothing, 48 does
        assert not o.plan_training(model, cluster, n, 64).ranked
    assert o.plan_training(model, cluster, 48, 64).ranked
    assert o.fewest_gpus_that_fit(plan, tries=2) == (None, 24)
    with pytest.raises(ValueError, match="tries"):
        o.fewest_gpus_that_fit(plan, tries=0)


def test_no_gpu_count_fits_is_said_and_bounded():
    code, text = run("--gpus", "999983", "--top", "1")
    assert code == cli.EXIT_UNSATISFIABLE
    assert "nothing fits on any multiple of 8 up to 1000000 GPUs" in text.splitlines()[-1]


# --- mixture-of-experts models (chapter 11) ------------------------------------------------

MOE_ARGS = ("--model", "Mixtral 8x7B", "--gpu", "H100", "--gpus", "64", "--global-batch", "256")


def test_cli_plans_an_moe_model_over_expert_parallelism():
    code, text = run(*MOE_ARGS, "--top", "4")
    assert code == cli.EXIT_OK
    assert "mixture of experts" in text and "a2a exp" in text
    rows = [line.split() for line in text.splitlines()[2:6]]
    assert len(rows) == 4 and all(row[1].startswith("e") for row in rows)
    steps = [float(row[7]) for row in rows]  # t e p d b schedule recompute, then the step
    assert steps == sorted(steps)
    plan = o.plan_training(moe.MIXTRAL_8X7B, o.cluster_for("H100 SXM 80GB"), 64, 256)
    assert rows[0][:7] == plan.best.layout.words.split()


def test_cli_moe_json_explain_and_refusals(capsys):
    code, text = run(*MOE_ARGS, "--json", "--top", "2")
    doc = json.loads(text)
    assert code == 0 and len(doc["configurations"]) == 2
    first = doc["configurations"][0]
    assert first["step_time"] == pytest.approx(sum(first[k] for k in moe.STEP_PARTS))
    code, text = run(*MOE_ARGS, "--explain", "e16")
    assert code == 0 and "e16: no layout with these values ranks; dropped by whole experts" in text
    code, text = run(*MOE_ARGS, "--explain", "x9")
    assert code == cli.EXIT_BAD_INPUT and "config word 'x9'" in capsys.readouterr().err
    code, _ = run("--model", "Mixtral 8x7B", "--mode", "serve")
    assert code == cli.EXIT_BAD_INPUT and "dense models only" in capsys.readouterr().err


def test_cli_moe_nothing_fits_lists_the_closest_by_memory():
    code, text = run(
        "--model", "DeepSeek-V3", "--gpu", "H100", "--gpus", "64", "--global-batch", "64"
    )
    assert code == cli.EXIT_UNSATISFIABLE
    needs = [float(x) for x in re.findall(r"needs ([0-9.]+) GiB", text)]
    assert len(needs) == 5 and needs == sorted(needs)


def test_cli_moe_export_gives_each_framework_a_line_it_runs_as_timed():
    code, text = run(*MOE_ARGS, "--top", "1", "--export")
    assert code == 0
    lines = dict(
        line.split(": ", 1) for line in text.splitlines() if line.startswith(("torch", "Meg"))
    )
    plan = o.plan_training(moe.MIXTRAL_8X7B, o.cluster_for("H100 SXM 80GB"), 64, 256)
    best = plan.best.layout
    assert lines["torchtitan"] == " ".join(export.torchtitan_moe_config(best, moe.MIXTRAL_8X7B))
    # Megatron-LM runs 1F1B only: its own fastest, labelled with the gap
    own = next(r for r in plan.ranked if r.layout.schedule == "1f1b")
    assert lines["Megatron-LM"].startswith(f"(its own fastest, {own.layout.words}, ")
    assert lines["Megatron-LM"].endswith(export.megatron_moe_command(own.layout, moe.MIXTRAL_8X7B))
    _, text = run(*MOE_ARGS, "--top", "1", "--export", "--fp8")
    assert "fp8 is not exported" in text
