"""The command line of chapter 7's planners: ``python -m ppnotes.optimum`` (training, the
default) and ``--mode serve``.

It owns argument parsing, the one-line errors for bad flags, the text and JSON output and the
exit codes; the work is done by :mod:`ppnotes.optimum` (training search),
:mod:`ppnotes.serving_plan` (serving) and :mod:`ppnotes.export` (launch lines).
Run ``python -m ppnotes.optimum --help``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from dataclasses import replace

from . import gemm, moe
from . import perf_model as pm
from ._names import resolve
from ._validate import MAX_GPUS, WrongTypeError, check_choice, check_int
from .export import (
    megatron_command,
    megatron_moe_command,
    torchtitan_config,
    torchtitan_moe_config,
    vllm_args,
)
from .hardware import GPUS, LINKS
from .models import MODELS, ModelSpec
from .optimum import (
    FIELDS,
    FRAMEWORKS,
    GiB,
    Plan,
    _divisors,
    cluster_for,
    fewest_gpus_that_fit,
    parse,
    plan_training,
    table,
)
from .serving_plan import plan_serving

#: Every model the command line knows: chapter 7's dense presets and chapter 11's MoE ones.
ALL_MODELS = {**MODELS, **moe.MOE_MODELS}

# --- command line -------------------------------------------------------------------------

EXIT_OK, EXIT_UNSATISFIABLE, EXIT_BAD_INPUT = 0, 1, 2
#: The reader of the output closed it early (``| head``): 128 + SIGPIPE, what a shell reports
#: for any Unix tool stopped that way, so ``set -o pipefail`` scripts see the usual code.
EXIT_BROKEN_PIPE = 141
EXIT_INTERRUPTED = 130  # 128 + SIGINT (Ctrl-C)

#: Values used when a flag is not given (a flag's default is None in the parser, so that
#: "given" can be told from "defaulted" and a flag the chosen mode ignores is refused).
CLI_DEFAULTS = {
    "model": "GPT-3 175B",
    "gpu": "A100 80GB",
    "gpus": 64,
    "gpus_per_node": 8,
    "global_batch": 512,
    "load": 1000.0,
    "prompt": 1024,
    "output": 256,
    "top": 10,
    "framework": "any",
}

#: Flags only one mode reads. Given in the other mode they are an error, not ignored: the
#: reader asked for something (64 GPUs, a TTFT target) the answer would not respect.
MODE_FLAGS = {
    "train": ("gpus", "global_batch", "seq_len", "explain", "framework", "fp8"),
    "serve": ("ttft", "tpot", "load", "prompt", "output"),
}
_MODE_HINTS = {"gpus": "serve mode finds the fewest GPUs itself"}

#: The largest value of each numeric flag: sizes beyond any real system are refused before
#: any work is done. The global batch is bounded by the planner's cost: one replica's
#: micro-batches are simulated, so G = 32,768 costs about 15 s and 1.5 GB (twice DeepSeek-V3's
#: 15,360 sequences per step, Table 4 of arXiv 2412.19437, is still allowed).
CLI_LIMITS = {
    "layers": (10_000, "no model has that many layers"),
    "hidden": (2**20, "no model is that wide"),
    "heads": (2**20, "no model has that many heads"),
    "vocab": (2**24, "no model has that large a vocabulary"),
    "gpus": (10**6, "larger than any GPU cluster"),
    "gpus_per_node": (1024, "larger than any NVLink domain"),
    "global_batch": (2**15, "larger than any published training batch"),
    "seq_len": (2**24, "longer than any model's context"),
    "prompt": (2**24, "longer than any model's context"),
    "output": (2**24, "longer than any model's context"),
    "load": (1e9, "more than any serving fleet"),
    "top": (None, ""),
    "ttft": (None, ""),
    "tpot": (None, ""),
}


def _int_flag(name: str):
    """An argparse ``type`` for a whole number >= 1 within :data:`CLI_LIMITS`."""
    top, why = CLI_LIMITS[name]

    def convert(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            try:
                number = float(text)
            except ValueError:
                number = math.nan
            if not (math.isfinite(number) and number.is_integer()):
                raise argparse.ArgumentTypeError(
                    f"must be a whole number >= 1, got {text!r}"
                ) from None
            value = int(number)
        if value < 1:
            raise argparse.ArgumentTypeError(f"must be a whole number >= 1, got {text!r}")
        if top is not None and value > top:
            raise argparse.ArgumentTypeError(f"must be at most {top:,} ({why}), got {value:,}")
        return value

    convert.__name__ = "int"
    return convert


def _real_flag(name: str):
    """An argparse ``type`` for a finite number > 0 within :data:`CLI_LIMITS`."""
    top, why = CLI_LIMITS[name]

    def convert(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not (math.isfinite(value) and value > 0):
            raise argparse.ArgumentTypeError(f"must be a finite number > 0, got {text!r}")
        if top is not None and value > top:
            raise argparse.ArgumentTypeError(f"must be at most {top:g} ({why}), got {value:g}")
        return value

    convert.__name__ = "float"
    return convert


def _name_flag(names, what: str):
    """An argparse ``type`` for a name: exact, or a short form only one name contains
    (``H100``), else an error with the matches or the nearest names (:mod:`ppnotes._names`)."""

    def convert(text: str) -> str:
        try:
            return resolve(text, names, what)
        except ValueError as err:
            raise argparse.ArgumentTypeError(str(err)) from None

    convert.__name__ = what
    return convert


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors: ``prog: error: argument --flag: what is wrong``."""

    def error(self, message: str):
        line = " ".join(str(message).split())
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: error: {line} (see --help)\n")


def _parser() -> argparse.ArgumentParser:
    d = CLI_DEFAULTS
    ap = _Parser(
        prog="python -m ppnotes.optimum",
        description="Choose t, p, d and the rest for training (or t, p, replicas for serving). "
        "Names accept any unambiguous part (--gpu H100). Flags of the other mode are refused.",
        epilog="Exit codes: 0 found, 1 nothing meets the request (closest listed), 2 bad input, "
        "141 output closed early (e.g. by head).",
    )
    ints = {
        k: _int_flag(k) for k, (_, _) in CLI_LIMITS.items() if k not in ("load", "ttft", "tpot")
    }
    reals = {k: _real_flag(k) for k in ("load", "ttft", "tpot")}
    ap.add_argument(
        "--model",
        type=_name_flag(ALL_MODELS, "model"),
        help=f"a preset (default {d['model']}): {', '.join(ALL_MODELS)} (MoE: train only)",
    )
    ap.add_argument(
        "--layers", type=ints["layers"], help="a custom shape: layers (with --hidden, --heads)"
    )
    ap.add_argument("--hidden", type=ints["hidden"], help="custom shape: hidden size h")
    ap.add_argument(
        "--heads", type=ints["heads"], help="custom shape: attention heads a (divides h)"
    )
    ap.add_argument(
        "--vocab", type=ints["vocab"], help="custom shape: vocabulary size (default 51200)"
    )
    ap.add_argument(
        "--gpu", type=_name_flag(GPUS, "GPU"), help=f"default {d['gpu']}; one of: {', '.join(GPUS)}"
    )
    ap.add_argument("--gpus", type=ints["gpus"], help=f"train: GPU count N (default {d['gpus']})")
    ap.add_argument(
        "--gpus-per-node", type=ints["gpus_per_node"], help=f"default {d['gpus_per_node']}"
    )
    ap.add_argument(
        "--intra", type=_name_flag(LINKS, "link"), help=f"link inside a node: {', '.join(LINKS)}"
    )
    ap.add_argument(
        "--inter", type=_name_flag(LINKS, "link"), help="network link between nodes (same choices)"
    )
    ap.add_argument(
        "--global-batch",
        type=ints["global_batch"],
        help=f"train: G, sequences per step (default {d['global_batch']})",
    )
    ap.add_argument(
        "--seq-len", type=ints["seq_len"], help="train: tokens per sequence (default: the model's)"
    )
    ap.add_argument("--mode", choices=("train", "serve"), default="train")
    ap.add_argument(
        "--framework",
        choices=FRAMEWORKS,
        help="train: plan only what this framework can launch (its schedules and layer "
        "splits; default any: rules every framework shares)",
    )
    ap.add_argument(
        "--fp8",
        action="store_true",
        default=None,
        help="train: FP8 linear layers (H100-class GPUs; not exported)",
    )
    ap.add_argument("--ttft", type=reals["ttft"], help="serve: TTFT target, seconds")
    ap.add_argument("--tpot", type=reals["tpot"], help="serve: TPOT target, seconds")
    ap.add_argument(
        "--load", type=reals["load"], help=f"serve: output tokens/s (default {d['load']:g})"
    )
    ap.add_argument(
        "--prompt", type=ints["prompt"], help=f"serve: prompt tokens (default {d['prompt']})"
    )
    ap.add_argument(
        "--output", type=ints["output"], help=f"serve: output tokens (default {d['output']})"
    )
    ap.add_argument("--top", type=ints["top"], help=f"rows to print (default {d['top']})")
    ap.add_argument(
        "--explain", metavar="CONFIG", help="train: why this one? e.g. 'p4' or 't8 p4 d2 b1 1f1b'"
    )
    ap.add_argument("--export", action="store_true", help="print launch flags for the best")
    ap.add_argument(
        "--json",
        action="store_true",
        help="print one JSON document instead of the table (same exit codes; with --explain "
        "the explanation is its 'explain' field)",
    )
    return ap


def _flag(dest: str) -> str:
    return "--" + dest.replace("_", "-")


def _check_args(ap: argparse.ArgumentParser, args) -> None:
    """Refuse what argparse cannot see: flags of the other mode, a preset and a custom shape
    together, a partial shape, heads not dividing the hidden size, an unreadable --explain.
    Then fill in :data:`CLI_DEFAULTS`. Errors exit through ``ap.error`` (code 2)."""
    other = "serve" if args.mode == "train" else "train"
    for dest in MODE_FLAGS[other]:
        if getattr(args, dest) is not None:
            hint = f"; {_MODE_HINTS[dest]}" if dest in _MODE_HINTS else ""
            ap.error(
                f"argument {_flag(dest)}: only --mode {other} uses it, this is --mode "
                f"{args.mode}{hint}"
            )
    shape = [k for k in ("layers", "hidden", "heads") if getattr(args, k) is not None]
    if shape and args.model is not None:
        ap.error(
            f"argument --model: not allowed with {', '.join(map(_flag, shape))}: give a preset "
            "or a custom shape, not both"
        )
    if shape and len(shape) < 3:
        missing = [_flag(k) for k in ("layers", "hidden", "heads") if k not in shape]
        ap.error(
            f"argument {_flag(shape[0])}: a custom shape needs --layers, --hidden and --heads "
            f"together (missing {', '.join(missing)})"
        )
    if shape and args.hidden % args.heads:
        divs = _divisors(args.hidden)
        below = max(k for k in divs if k <= args.heads)
        above = min((k for k in divs if k >= args.heads), default=None)
        near = f"{below} or {above}" if above else f"{below}"
        ap.error(
            f"argument --heads: must divide --hidden {args.hidden} (each head gets hidden / "
            f"heads dimensions), got {args.heads}; the nearest that do: {near}"
        )
    if not shape and args.vocab is not None:
        name = args.model or CLI_DEFAULTS["model"]
        ap.error(
            f"argument --vocab: only for a custom shape (--layers, --hidden, --heads); the "
            f"preset {name!r} has its own ({MODELS[name].vocab_size})"
        )
    if args.explain is not None:
        for dest in ("top", "export"):
            if getattr(args, dest) not in (None, False):
                ap.error(
                    f"argument {_flag(dest)}: not used with --explain (which explains one "
                    "configuration); run them separately"
                )
        try:
            (moe.parse_moe if args.model in moe.MOE_MODELS else parse)(args.explain)
        except ValueError as err:
            ap.error(f"argument --explain: {err}")
    if args.model in moe.MOE_MODELS and args.mode == "serve":
        ap.error(
            f"argument --model: {args.model} is a mixture-of-experts model; --mode serve plans "
            "dense models only (chapter 11's decode_step_moe times MoE decoding)"
        )
    for dest, value in CLI_DEFAULTS.items():
        if getattr(args, dest) is None and (dest != "model" or not shape):
            setattr(args, dest, value)


def model_from_args(args) -> ModelSpec | moe.MoESpec:
    """The preset named by ``--model`` (dense or mixture-of-experts), or a GPT-style shape
    from ``--layers/--hidden/--heads`` (``args``: the parsed :class:`argparse.Namespace`)."""
    if not isinstance(args, argparse.Namespace):
        raise TypeError(f"args must be an argparse.Namespace (parsed flags), got {args!r}")
    if args.layers or args.hidden or args.heads:
        if not (args.layers and args.hidden and args.heads):
            raise ValueError("a custom shape needs --layers, --hidden and --heads together")
        from .models import megatron_gpt

        base = megatron_gpt(
            f"custom L={args.layers} h={args.hidden}",
            check_int("layers", args.layers),
            check_int("hidden", args.hidden),
            check_int("heads", args.heads),
            "narayanan2021efficient",
        )
        vocab = base.vocab_size if args.vocab is None else check_int("vocab", args.vocab)
        return replace(base, vocab_size=vocab)
    return ALL_MODELS[check_choice("model", args.model or CLI_DEFAULTS["model"], ALL_MODELS)]


def _fmt_row(row: dict) -> str:
    parts = " ".join(f"{row[k]:7.3f}" for k in pm.PARTS)
    return (
        f"{row['config']:<48} {row['step_time']:8.3f} {parts} {row['peak_gib']:6.1f} "
        f"{row['mfu']:5.2f}"
    )


def _finite(value):
    """``value`` for JSON: a float that is not finite becomes ``None`` (JSON has no inf)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _print_json(doc: dict, out) -> None:
    print(json.dumps(doc, indent=2, allow_nan=False), file=out)


def _train_exports(plan: Plan, model: ModelSpec, cluster: pm.Cluster) -> dict[str, str]:
    """The launch line of each framework's fastest configuration, by framework. With
    ``--framework any`` a framework that cannot run the overall best (its schedule or layer
    split) gets its own fastest, planned under its rules and labelled with the gap."""
    best = plan.best
    exporters = {
        "torchtitan": lambda c: " ".join(
            torchtitan_config(c, plan.global_batch, plan.seq_len, model)
        ),
        "Megatron-LM": lambda c: megatron_command(
            c, model, plan.global_batch, plan.seq_len, cluster.gpus_per_node
        ),
    }
    lines = {}
    for name, framework in (("torchtitan", "torchtitan"), ("Megatron-LM", "megatron")):
        if plan.framework not in ("any", framework):
            continue
        try:
            lines[name] = exporters[name](best.candidate)
            continue
        except ValueError as err:
            if plan.framework != "any" or best.candidate.fp8:
                lines[name] = str(err)
                continue
        own = plan_training(
            model,
            cluster,
            plan.num_gpus,
            plan.global_batch,
            plan.seq_len,
            framework=framework,
            **plan.step_kwargs,
        ).best
        if own is None:
            lines[name] = f"nothing {name} can run fits"
            continue
        gap = own.step_time / best.step_time - 1
        lines[name] = (
            f"(its own fastest, {own.candidate.label}, {gap:.1%} slower than the best) "
            + exporters[name](own.candidate)
        )
    return lines


def _train_json(args, model, cluster, plan: Plan) -> dict:
    """The training answer as one JSON-ready dict (``--json``); times in seconds."""
    doc = {
        "mode": "train",
        "query": {
            "model": model.name,
            "gpu": cluster.gpu.name,
            "cluster": cluster.name,
            "gpus": plan.num_gpus,
            "gpus_per_node": cluster.gpus_per_node,
            "global_batch": plan.global_batch,
            "seq_len": plan.seq_len,
        },
        "framework": plan.framework,
        "covered": plan.searched,
        "timed": plan.evaluated,
        "fit": len(plan.ranked),
        "seconds": plan.seconds,
    }
    rows = []
    for r in plan.ranked[: args.top]:
        c = r.candidate
        row = {"label": c.label} | {k: getattr(c, k) for k in FIELDS}
        row |= {"m": r.result.config.num_microbatches, "step_time_s": r.step_time}
        row |= {"parts_s": {k: r.result.parts[k] for k in pm.PARTS}}
        row |= {"peak_gib": r.peak_bytes / GiB, "mfu": r.result.mfu}
        rows.append(row)
    doc["configurations"] = rows
    return doc


def _train(args, model, cluster, out) -> int:
    gemm.check_fp8(cluster.gpu, bool(args.fp8))  # before the search: refused in one line
    plan = plan_training(
        model,
        cluster,
        args.gpus,
        args.global_batch,
        args.seq_len,
        framework=args.framework,
        fp8=bool(args.fp8),
    )
    code = EXIT_OK if plan.ranked else EXIT_UNSATISFIABLE
    if isinstance(plan, moe.MoEPlan):
        return _train_moe(args, model, cluster, plan, out, code)
    if args.json:
        doc = _train_json(args, model, cluster, plan)
        if args.explain:
            doc["explain"] = {"config": args.explain, "explanation": plan.explain(args.explain)}
            doc["configurations"] = []
        elif not plan.ranked:
            rest = [x for x in plan.dropped if x.rule not in ("dominated", "time-bound")]
            doc["closest"] = [
                {
                    "config": x.label,
                    "rule": x.rule,
                    "reason": x.reason,
                    "excess_gib": x.excess / GiB,
                }
                for x in plan.closest or rest[:5]
            ]
            gpus, largest = fewest_gpus_that_fit(plan)
            doc["fits_on_gpus"] = gpus
            doc["largest_gpus_tried"] = largest
        elif args.export:
            doc["export"] = _train_exports(plan, model, cluster)
        _print_json(doc, out)
        return code
    print(
        f"{model.name} on {args.gpus} x {cluster.gpu.name} ({cluster.name}), "
        f"G = {plan.global_batch}, s = {plan.seq_len}, framework {plan.framework}: "
        f"{plan.searched} configurations covered ({plan.evaluated} timed by the step model, "
        f"the rest dropped by a rule without timing), {len(plan.ranked)} fit, "
        f"{plan.seconds:.2f} s",
        file=out,
    )
    if args.explain:
        print(plan.explain(args.explain), file=out)
        return code
    if not plan.ranked:
        print("No configuration fits. Closest, with the constraint each breaks:", file=out)
        rest = [x for x in plan.dropped if x.rule not in ("dominated", "time-bound")]
        for drop in plan.closest or rest[:5]:
            print(f"  {drop.label:<40} {drop.rule}: {drop.reason}", file=out)
        print(_fit_hint(plan), file=out)
        return code
    head = " ".join(f"{k[:7]:>7}" for k in pm.PARTS)
    print(f"{'config':<48} {'step s':>8} {head} {'GiB':>6} {'MFU':>5}", file=out)
    for row in table(plan, args.top):
        print(_fmt_row(row), file=out)
    if args.export:
        for name, line in _train_exports(plan, model, cluster).items():
            print(f"{name}:", line, file=out)
    return code


#: Columns of the MoE table: (row key, header).
_MOE_COLUMNS = (
    ("step_time", "step s"),
    ("compute", "compute"),
    ("a2a_exposed", "a2a exp"),
    ("bubble", "bubble"),
    ("tp", "tp"),
    ("dp", "dp"),
)


def _train_moe(args, model, cluster, plan: moe.MoEPlan, out, code: int) -> int:
    """The training answer for a mixture-of-experts model (chapter 11's planner over t, e,
    p, d, b and the MoE schedules): the table, ``--explain``, ``--export`` or ``--json``."""
    rows = moe.table_moe(plan, args.top) if plan.ranked else []
    exports = {}
    if args.export and plan.ranked:
        exports = _moe_exports(plan, model, cluster, args.seq_len, bool(args.fp8))
    memory = sorted((x for x in plan.dropped if x.rule == "memory"), key=lambda x: x.need)
    closest = memory[:5] or plan.dropped[:5]
    drops = [{"config": x.label, "rule": x.rule, "reason": x.reason} for x in closest]
    if args.json:
        doc = {
            "mode": "train",
            "query": {
                "model": model.name,
                "gpu": cluster.gpu.name,
                "gpus": args.gpus,
                "global_batch": args.global_batch,
                "seq_len": args.seq_len or model.seq_len,
            },
            "framework": args.framework,
            "fit": len(plan.ranked),
            "seconds": plan.seconds,
            "configurations": [] if args.explain else rows,
        }
        if args.explain:
            doc["explain"] = {"config": args.explain, "explanation": plan.explain(args.explain)}
        elif not plan.ranked:
            doc["closest"] = drops
        if exports:
            doc["export"] = exports
        _print_json(doc, out)
        return code
    print(
        f"{model.name} (mixture of experts) on {args.gpus} x {cluster.gpu.name} "
        f"({cluster.name}), G = {args.global_batch}, framework {args.framework}: "
        f"{len(plan.ranked)} layouts fit, {len(plan.dropped)} left out, {plan.seconds:.2f} s",
        file=out,
    )
    if args.explain:
        print(plan.explain(args.explain), file=out)
        return code
    if not plan.ranked:
        print("No layout fits. Closest, with the reason each was left out:", file=out)
        for x in drops:
            print(f"  {x['config']:<40} {x['rule']}: {x['reason']}", file=out)
        return code
    head = " ".join(f"{h:>8}" for _, h in _MOE_COLUMNS)
    print(f"{'config':<36} {head} {'GiB':>6} {'MFU':>5}", file=out)
    for row in rows:
        cells = " ".join(f"{row[k]:8.3f}" for k, _ in _MOE_COLUMNS)
        print(f"{row['config']:<36} {cells} {row['peak_gib']:6.1f} {row['mfu']:5.2f}", file=out)
    for name, line in exports.items():
        print(f"{name}:", line, file=out)
    return code


#: How many ranked layouts :func:`_moe_exports` tries per framework before giving up.
MOE_EXPORT_TRIES = 200


def _moe_exports(plan: moe.MoEPlan, model, cluster, seq_len=None, fp8=False) -> dict[str, str]:
    """The launch line of each framework's fastest layout: the overall best when the framework
    runs it as timed, else the fastest ranked layout it runs and exports (labelled with the
    gap), else why there is none. FP8 plans are not exported (their flags are unchecked)."""
    if fp8:
        why = "fp8 is not exported: the book has not checked the frameworks' FP8 flags"
        return {"torchtitan": why, "Megatron-LM": why}
    exporters = {
        "torchtitan": lambda lay: " ".join(torchtitan_moe_config(lay, model, seq_len)),
        "Megatron-LM": lambda lay: megatron_moe_command(lay, model, seq_len, cluster.gpus_per_node),
    }
    best, lines = plan.best, {}
    for name, framework in (("torchtitan", "torchtitan"), ("Megatron-LM", "megatron")):
        runs = moe.FRAMEWORK_SCHEDULES[framework]
        why = f"nothing {name} can run as timed fits ({name} runs {', '.join(runs)})"
        for r in plan.ranked[:MOE_EXPORT_TRIES]:
            if r.layout.schedule not in runs:
                continue
            try:
                line = exporters[name](r.layout)
            except ValueError as err:
                why = f"{r.layout.words}: {err}"
                continue
            if r is not best:
                gap = r.step_time / best.step_time - 1
                line = f"(its own fastest, {r.layout.words}, {gap:.1%} slower than the best) {line}"
            lines[name] = line
            break
        else:
            lines[name] = why
    return lines


def _fit_hint(plan: Plan) -> str:
    """One line: the fewest GPUs at which something fits (:func:`fewest_gpus_that_fit`)."""
    gpus, largest = fewest_gpus_that_fit(plan)
    per_node = plan.cluster.gpus_per_node
    if gpus is not None:
        return (
            f"With more GPUs: something fits on {gpus} GPUs (the fewest multiple of "
            f"{per_node} GPUs per node above {plan.num_gpus} that does), same G and s."
        )
    if largest <= plan.num_gpus:
        return f"With more GPUs: no larger count is allowed (at most {MAX_GPUS:,} GPUs)."
    return (
        f"With more GPUs: nothing fits on any multiple of {per_node} up to {largest} GPUs "
        "either, at the same G and s; change the model, GPU, batch or sequence length."
    )


def _serve(args, model, cluster, out) -> int:
    plan = plan_serving(
        model,
        cluster,
        load=args.load,
        ttft=args.ttft,
        tpot=args.tpot,
        prompt=args.prompt,
        output=args.output,
    )
    if args.json:
        doc = {
            "mode": "serve",
            "query": {
                "model": model.name,
                "gpu": cluster.gpu.name,
                "cluster": cluster.name,
                "gpus_per_node": cluster.gpus_per_node,
                "load_tokens_per_s": args.load,
                "ttft_s": args.ttft,
                "tpot_s": args.tpot,
                "prompt": args.prompt,
                "output": args.output,
            },
            "choices": [
                {
                    "label": c.label,
                    "t": c.t,
                    "p": c.p,
                    "replicas": c.replicas,
                    "gpus": c.gpus,
                    "max_num_seqs": c.concurrency,
                    "utilisation": c.loaded.utilisation,
                    "ttft_s": c.loaded.ttft,
                    "tpot_s": c.loaded.tpot,
                    "output_tokens_per_s": c.loaded.output_tokens_per_s * c.replicas,
                    "tokens_per_s": c.loaded.tokens_per_s * c.replicas,
                }
                for c in plan.choices[: args.top]
            ],
        }
        if not plan.choices:
            doc["closest"] = [
                {"t": t, "p": p, "reason": why, "miss": _finite(miss)}
                for t, p, why, miss in plan.closest[:8]
            ]
        elif args.export:
            doc["export"] = {
                "vLLM": " ".join(vllm_args(plan.best, args.prompt, args.output, model))
            }
        _print_json(doc, out)
        return EXIT_OK if plan.choices else EXIT_UNSATISFIABLE
    ttft = "any" if args.ttft is None else f"{args.ttft:g} s"
    tpot = "any" if args.tpot is None else f"{args.tpot:g} s"
    print(
        f"{model.name} on {cluster.name}: {args.load:g} output tokens/s, TTFT {ttft}, TPOT {tpot}",
        file=out,
    )
    if not plan.choices:
        print("No replica shape meets the request. Closest, by how far each misses:", file=out)
        for t, p, why, miss in plan.closest[:8]:
            far = "weights do not fit" if math.isinf(miss) else f"misses by {miss:.0%}"
            print(f"  t{t} p{p}: {why} ({far})", file=out)
        return EXIT_UNSATISFIABLE
    print(
        "Under load (continuous batching, k = p batches in flight; utilisation counts prefill "
        "and decode):",
        file=out,
    )
    print(
        f"{'replicas':<36} {'GPUs':>5} {'util':>5} {'TTFT ms':>8} {'TPOT ms':>8} "
        f"{'out tok/s':>10} {'all tok/s':>10}",
        file=out,
    )
    for c in plan.choices[: args.top]:
        ld = c.loaded
        print(
            f"{c.label:<36} {c.gpus:5d} {ld.utilisation:5.2f} {ld.ttft * 1e3:8.1f} "
            f"{ld.tpot * 1e3:8.2f} {ld.output_tokens_per_s * c.replicas:10.0f} "
            f"{ld.tokens_per_s * c.replicas:10.0f}",
            file=out,
        )
    if args.export:
        print("vLLM:", " ".join(vllm_args(plan.best, args.prompt, args.output, model)), file=out)
    return EXIT_OK


def _quiet_stdout(out) -> None:
    """After the reader closed stdout (``| head``): point its file descriptor at /dev/null,
    so the interpreter's final flush does not raise again (the Python documentation's recipe,
    "Note on SIGPIPE" in the signal module)."""
    if out is not sys.stdout:
        return
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, out.fileno())
    except (OSError, ValueError, AttributeError):  # no real file descriptor (e.g. captured)
        pass


def main(argv=None, out=None) -> int:
    """The command line; returns the exit code (0 found, 1 unsatisfiable, 2 bad input,
    141 output closed early, 130 interrupted). Bad input is one line on stderr, never a
    traceback.

    Args:
        argv: the arguments as a list of strings (default: ``sys.argv[1:]``).
        out: where the results go (default: standard output).
    """
    if argv is not None and (
        isinstance(argv, (str, bytes))
        or not isinstance(argv, (list, tuple))
        or not all(isinstance(a, str) for a in argv)
    ):
        raise WrongTypeError(f"argv must be a list of strings or None, got {argv!r}")
    out = out or sys.stdout
    ap = _parser()
    try:
        args = ap.parse_args(argv)
        _check_args(ap, args)
        model = model_from_args(args)
        cluster = cluster_for(args.gpu, args.gpus_per_node, args.intra, args.inter)
        code = (_train if args.mode == "train" else _serve)(args, model, cluster, out)
        out.flush()  # inside the try: a closed pipe shows up here when output is buffered
        return code
    except SystemExit as err:  # ap.error (message printed) or --help
        return EXIT_BAD_INPUT if err.code else EXIT_OK
    except ValueError as err:  # a check deeper in the library, already one clear sentence
        line = " ".join(str(err).split())
        print(f"{ap.prog}: error: {line}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except BrokenPipeError:
        _quiet_stdout(out)
        return EXIT_BROKEN_PIPE
    except KeyboardInterrupt:
        print(f"{ap.prog}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
