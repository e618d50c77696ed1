"""Chapter 7: choosing the optimal depth (最优深度选择), a planner over t, p and d.

The note's ``find_optimal_pp_depth`` (section 7) compares a parameter count with bytes, leaves
out optimizer state, activations and KV cache, lets p range up to the GPU count, and, because
the efficiency of its section 5 model falls monotonically with depth, always returns the
smallest depth it tries (:func:`note_find_optimal_pp_depth`, :func:`note_efficiency_curve`).

:func:`plan_training` does the search the note implies, with chapters 4-5 doing the work:

- enumerate every (t, context parallelism c, p, d, micro-batch b, schedule and v,
  recomputation, sequence parallelism, distributed optimizer) with t c p d = the GPU count
  and m = G / (d b) whole (c > 1 only for sequences of at least 2 x
  :data:`MIN_CONTEXT_TOKENS` tokens);
- drop those that break a rule (a tensor group across nodes, t not dividing the heads,
  fewer layers than p x chunks, a schedule or a layer split the chosen framework
  (``framework=``) cannot run, G not a multiple of
  d b, interleaved m not a multiple of p, ZBV m < 2p - 1) or do not fit memory
  (:func:`ppnotes.memory.stage_memory` via :func:`ppnotes.perf_model.step_time`), each with
  its reason, so "why not p = 4?" has an answer (:meth:`Plan.explain`);
- prune cheaply before calling the step model: divisibility and placement first, a memory
  lower bound (weights, gradients and sharded optimizer state alone), options that cannot
  help (sequence parallelism and the distributed optimizer are never slower and always
  smaller in this model; a slower recomputation is tried only when a faster one does not fit),
  and a time bound for the simulated ZBV schedule;
- rank the rest by :func:`ppnotes.perf_model.step_time` and keep every part and the peak
  memory; :func:`verify` re-times the top few with the chapter 2 simulator.

:func:`ppnotes.serving_plan.plan_serving` is chapter 6's counterpart: the fewest GPUs, as
(t, p, replicas), that meet a TTFT and a TPOT target at a given load.

Which runtime each schedule assumes (it decides whether pipeline sends overlap compute):
"gpipe" and "1f1b" as in Megatron-LM (blocking sends), "interleaved" as in Megatron-LM with
``overlap_p2p_comm`` (on by default for that schedule in Megatron-LM), "zb-h1" and "zbv" as in
``torch.distributed.pipelining`` (asynchronous sends). Times are seconds, bytes are bytes.

Launch lines for the frameworks are :mod:`ppnotes.export`; the command line is :mod:`ppnotes.cli`
(run ``python -m ppnotes.optimum --help``).
"""

from __future__ import annotations

import math
import sys
import time
from dataclasses import dataclass, field, replace

from . import comm, gemm, memory, moe, partition, schedules
from . import perf_model as pm
from ._validate import (
    MAX_GPUS,
    MAX_MICROBATCHES,
    MAX_STAGES,
    WrongTypeError,
    check_bool,
    check_choice,
    check_instance,
    check_int,
    check_real,
)
from .hardware import (
    GPUS,
    IB_HDR,
    IB_NDR,
    LINKS,
    NVLINK3,
    NVLINK4,
    PCIE4_X16,
    PCIE5_X16,
    GPUSpec,
)
from .models import ModelSpec
from .partition import _divisors

GiB = 2**30

#: Whether each schedule's pipeline sends overlap compute in the planner (see module doc).
OVERLAP_P2P = {"gpipe": False, "1f1b": False, "interleaved": True, "zb-h1": True, "zbv": True}
#: Chunks per rank tried for the interleaved schedule.
VIRTUAL_STAGES = (2, 3, 4, 6, 8)
#: Recomputation from fastest to smallest.
RECOMPUTE_ORDER = ("none", "selective", "full")
#: Largest micro-batch tried.
MAX_MICRO_BATCH = 16

#: The rules a configuration can break; every dropped configuration names one.
RULES = {
    "tp-node": "every tensor-parallel group must lie inside one node: t divides the GPUs per "
    "node (its all-reduces sit on the critical path of every layer and are timed on the "
    "node's link; a group across nodes is not modelled)",
    "tp-heads": "t must divide the attention heads and the key/value heads",
    "gpus": "t x c x p must divide the GPU count (d = N / (t c p) replicas)",
    "context": "context parallelism c > 1 needs s a multiple of 2c and at least "
    "MIN_CONTEXT_TOKENS tokens of each sequence per GPU (s / c)",
    "layers": "every stage chunk needs at least one layer (p x chunks <= L); chunks that "
    "cannot be equal differ by a layer, the first L mod (p x chunks) one larger, and are timed "
    "by the simulator (:func:`ppnotes.perf_model.chunk_layers`)",
    "framework": "the chosen framework has no such schedule (see FRAMEWORK_SCHEDULES) or "
    "cannot build that layer split (see FRAMEWORK_SOURCES)",
    "batch": "the global batch must be a multiple of d x b (m = G / (d b) whole)",
    "schedule": "a schedule's own condition (interleaved: p >= 2 and m a multiple of p; "
    "ZBV: m >= 2p - 1; p = 1 has no pipeline schedule to choose)",
    "memory-bound": "weights, gradients and optimizer state alone exceed the GPU's budget",
    "memory": "the fullest stage does not fit the GPU's budget",
    "dominated": "another option is never slower and needs no more memory",
    "time-bound": "even with no bubble and no exposed hops it is slower than the best found",
}

#: Frameworks the planner can plan for (``framework=``, ``--framework``): "any" applies only
#: the rules every framework shares; the others add their own (:data:`FRAMEWORK_SCHEDULES`).
FRAMEWORKS = ("any", "megatron", "torchtitan")

#: Schedules each framework runs.
#: Megatron-LM (NVIDIA/Megatron-LM d98e8a64ddf34856e74b24714e3bedb2f5a39553,
#: megatron/core/pipeline_parallel/schedules.py): ``get_forward_backward_func`` chooses
#: ``forward_backward_no_pipelining``, ``forward_backward_pipelining_without_interleaving``
#: (1F1B) or ``forward_backward_pipelining_with_interleaving``: no GPipe, ZB-H1 or ZBV.
#: torchtitan (pytorch/torchtitan b5bcd76c66d0acb1a08b176d9639425bc55e0b2a,
#: torchtitan/distributed/pipeline_parallel.py) takes ``torch.distributed.pipelining``'s
#: schedules by name: GPipe, 1F1B (one stage per rank), Interleaved1F1B, ZBVZeroBubble (two
#: or more stages per rank); its ``InterleavedZeroBubble`` is a looped schedule (at least two
#: stages per rank), not the planner's one-chunk ZB-H1, which it therefore cannot run.
FRAMEWORK_SCHEDULES = {
    "any": pm.SCHEDULES,
    "megatron": ("1f1b", "interleaved"),
    "torchtitan": ("gpipe", "1f1b", "interleaved", "zbv"),
}

#: The layer-split rules each framework enforces, with where they are checked.
FRAMEWORK_SOURCES = {
    "megatron": "NVIDIA/Megatron-LM d98e8a64ddf34856e74b24714e3bedb2f5a39553: "
    "megatron/training/arguments.py asserts 'Number of layers should be divisible by the "
    "pipeline-model-parallel size' and, interleaved, that the layers per rank divide by the "
    "layers per virtual stage, unless --pipeline-model-parallel-layout lists each stage's "
    "layers (megatron/core/transformer/pipeline_parallel_layer_layout.py: one '|'-separated "
    "entry per stage in virtual-stage-major order, 'E' the embedding first, 'L' the loss last, "
    "'t' a decoder layer, 'x*n' repeats; the stage count a multiple of p): the planner's "
    "uneven splits are exported that way; megatron/core/pipeline_parallel/schedules.py "
    "(interleaved) needs m a multiple of microbatch_group_size_per_vp_stage (default p) or a "
    "remainder >= p; arguments.py turns sequence parallelism off at t = 1",
    "torchtitan": "pytorch/torchtitan b5bcd76c66d0acb1a08b176d9639425bc55e0b2a and 0.3.0 "
    "(PyPI): torchtitan/distributed/pipeline_parallel.py (_get_pipeline_metadata) builds one "
    "stage per rank for single-stage schedules and 2 per rank for looped ones, or "
    "ceil(L / pipeline_parallel_layers_per_stage) stages when that is set (a multiple of p); "
    "_generate_llm_fqn_per_model_part gives each stage L // S layers and the first L mod S one "
    "more (first/last_stage_less_layers 0): a split no layers_per_stage value reaches needs "
    "module_fqns_per_model_part written by hand, which the planner does not export",
}


def torchtitan_layers_per_stage(num_layers: int, p: int, chunks: int) -> int | None:
    """``parallelism.pipeline_parallel_layers_per_stage`` that makes torchtitan build p x
    ``chunks`` stages of ``num_layers`` layers (None: its default already does: 1 stage per
    rank for a single-stage schedule, 2 for a looped one). ``ValueError`` when no value does
    (see :data:`FRAMEWORK_SOURCES`). torchtitan's split is then the planner's: the first
    L mod S stages one layer larger."""
    n = check_int("num_layers", num_layers)
    stages = check_int("p", p) * check_int("chunks", chunks)
    if n < stages:
        raise ValueError(f"{n} layers cannot fill p x chunks = {stages} stages")
    if n % stages == 0:
        return n // stages
    if chunks <= 2:
        return None
    fits = [k for k in range(1, n + 1) if -(-n // k) == stages]
    if not fits:
        raise ValueError(
            f"no pipeline_parallel_layers_per_stage gives {stages} stages for {n} layers "
            "(torchtitan builds ceil(L / value) stages)"
        )
    return fits[0]


FIELDS = (
    "t",
    "cp",
    "p",
    "d",
    "b",
    "schedule",
    "v",
    "recompute",
    "sp",
    "dist_opt",
    "shard_gradients",
    "fp8",
)

# Each integer field of a Candidate and its largest value (t and d: GPUs, p and v: stages).
_INT_FIELDS = {
    "t": MAX_GPUS,
    "p": MAX_STAGES,
    "d": MAX_GPUS,
    "b": None,
    "v": MAX_STAGES,
    "cp": MAX_GPUS,
}


def _check_field(name: str, value, label: str):
    """One Candidate field (``name``), checked and normalised; errors say ``label``."""
    if name in _INT_FIELDS:
        return check_int(label, value, 1, _INT_FIELDS[name])
    if name == "schedule":
        return check_choice(label, value, pm.SCHEDULES)
    if name == "recompute":
        return check_choice(label, value, RECOMPUTE_ORDER)
    return check_bool(label, value)  # sp, dist_opt, shard_gradients


def _model(value, name: str = "model") -> ModelSpec:
    return check_instance(name, value, ModelSpec)


def _cluster(value, name: str = "cluster") -> pm.Cluster:
    return check_instance(name, value, pm.Cluster)


def _plan(value) -> Plan:
    return check_instance("plan", value, Plan)


def _candidate(value, name: str = "cand") -> Candidate:
    return check_instance(name, value, Candidate)


def _names(name: str, values, allowed) -> tuple:
    """A non-empty list or tuple of names, each one of ``allowed``."""
    if isinstance(values, str) or not isinstance(values, (list, tuple, set, frozenset)):
        raise WrongTypeError(
            f"{name} must be a list or tuple of names from {allowed}, got {values!r}"
        )
    if not values:
        raise ValueError(f"{name} must name at least one of {allowed}, got {values!r}")
    for value in values:
        check_choice(name, value, allowed)
    return tuple(values)


@dataclass(frozen=True)
class Candidate:
    """One training configuration the planner considers (the searched dimensions).

    ``shard_gradients`` (ZeRO-2; FSDP as Llama 3 used it: gradients sharded over d, see
    :class:`ppnotes.perf_model.Config`) is carried for published runs (:func:`run_candidate`)
    and timed by :meth:`Plan.time_exactly`, but the planner does not search it: every
    configuration it builds has ``shard_gradients=False``, so its picks stay those of a
    Megatron-LM-style run without gradient sharding. ``fp8`` (FP8 linear layers, see
    :class:`ppnotes.perf_model.Config`) is a setting of the whole plan
    (``plan_training(fp8=True)``), not a searched dimension. ``cp`` is the context
    parallelism c (GPUs that split each sequence); the GPUs are t x cp x p x d.
    """

    t: int
    p: int
    d: int
    b: int
    schedule: str = "1f1b"
    v: int = 1
    recompute: str = "none"
    sp: bool = True
    dist_opt: bool = True
    shard_gradients: bool = False
    fp8: bool = False
    cp: int = 1

    def __post_init__(self):
        # Fast path: the planner builds thousands of these from values it already checked.
        for name, top in _INT_FIELDS.items():
            value = getattr(self, name)
            if type(value) is not int or value < 1 or (top is not None and value > top):
                object.__setattr__(self, name, check_int(name, value, 1, top))
        if self.schedule not in pm.SCHEDULES:  # a tuple: no hashing of odd values
            check_choice("schedule", self.schedule, pm.SCHEDULES)
        if self.recompute not in RECOMPUTE_ORDER:
            check_choice("recompute", self.recompute, RECOMPUTE_ORDER)
        if self.sp is not True and self.sp is not False:
            check_bool("sp", self.sp)
        if self.dist_opt is not True and self.dist_opt is not False:
            check_bool("dist_opt", self.dist_opt)
        if self.shard_gradients is not True and self.shard_gradients is not False:
            check_bool("shard_gradients", self.shard_gradients)
        if self.fp8 is not True and self.fp8 is not False:
            check_bool("fp8", self.fp8)
        if self.v != 1 and self.schedule != "interleaved":
            raise ValueError(
                f"v applies only to the 'interleaved' schedule, got v={self.v} for "
                f"{self.schedule!r}"
            )

    @property
    def label(self) -> str:
        """Short text, e.g. ``t8 p8 d16 b1 interleaved v2 selective sp dopt`` (``cp2`` after
        t with context parallelism, ``zero2`` and ``fp8`` at the end); see :func:`parse`."""
        parts = [f"t{self.t}"] + ([f"cp{self.cp}"] if self.cp > 1 else [])
        parts += [f"p{self.p}", f"d{self.d}", f"b{self.b}", self.schedule]
        if self.schedule == "interleaved":
            parts.append(f"v{self.v}")
        parts.append(self.recompute)
        parts.append("sp" if self.sp else "nosp")
        parts.append("dopt" if self.dist_opt else "nodopt")
        if self.shard_gradients:
            parts.append("zero2")
        if self.fp8:
            parts.append("fp8")
        return " ".join(parts)

    def config(self, global_batch: int, seq_len: int | None = None) -> pm.Config:
        """The :class:`ppnotes.perf_model.Config` (overlap of sends by :data:`OVERLAP_P2P`);
        the Config checks ``global_batch`` and ``seq_len`` itself."""
        return pm.Config(
            self.t,
            self.p,
            self.d,
            self.b,
            global_batch,
            schedule=self.schedule,
            virtual_stages=self.v,
            recompute=self.recompute,
            sequence_parallel=self.sp,
            distributed_optimizer=self.dist_opt,
            shard_gradients=self.shard_gradients,
            fp8=self.fp8,
            overlap_p2p=OVERLAP_P2P[self.schedule],
            seq_len=seq_len,
            context_parallel=self.cp,
        )


def parse(text: str) -> dict:
    """Read a configuration label (all or some of its words, any order) into a field dict.

    ``"t8 p8 d16 b1 interleaved v2 selective sp dopt"`` -> ``{"t": 8, "p": 8, ...}``; ``"p4"``
    -> ``{"p": 4}``. Raises ``ValueError`` for a word it does not know.
    """
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"config must be words like 't8 p4 d2 b1 1f1b', got {text!r}")
    out: dict = {}
    flags = {"sp": ("sp", True), "nosp": ("sp", False)}
    flags |= {"dopt": ("dist_opt", True), "nodopt": ("dist_opt", False)}
    flags |= {"zero2": ("shard_gradients", True), "nozero2": ("shard_gradients", False)}
    flags |= {"fp8": ("fp8", True), "bf16": ("fp8", False)}
    for word in text.replace(",", " ").replace("=", "").lower().split():
        if word in pm.SCHEDULES:
            out["schedule"] = word
        elif word in RECOMPUTE_ORDER:
            out["recompute"] = word
        elif word in flags:
            out[flags[word][0]] = flags[word][1]
        elif word[:2] == "cp" and word[2:].isdigit() and int(word[2:]) >= 1:
            out["cp"] = int(word[2:])
        elif word[:1] in "tpdbv" and word[1:].isdigit() and int(word[1:]) >= 1:
            out[word[0]] = int(word[1:])
        else:
            raise ValueError(
                f"config word {word!r} is not one of t<N>, cp<N>, p<N>, d<N>, b<N>, v<N>, "
                "a schedule "
                f"{pm.SCHEDULES}, a recomputation {RECOMPUTE_ORDER}, sp/nosp, dopt/nodopt, "
                "zero2/nozero2 or fp8/bf16"
            )
    return out


@dataclass(frozen=True)
class Dropped:
    """Configurations left out: every one matching ``fields`` (the rest: any value)."""

    fields: dict
    rule: str
    reason: str
    excess: float = 0.0  # bytes over the budget ("memory", "memory-bound"), else 0
    #: the one configuration dropped when the drop was a pruning without timing
    #: ("time-bound", "dominated" recomputation): :meth:`Plan.explain` times it exactly
    candidate: Candidate | None = field(default=None, compare=False)

    def matches(self, cand: Candidate | dict) -> bool:
        """Whether this drop covers ``cand`` (a Candidate or a partial field dict)."""
        values = cand if isinstance(cand, dict) else cand.__dict__
        return all(k in values and values[k] == v for k, v in self.fields.items())

    @property
    def label(self) -> str:
        """The fields, e.g. ``t=16`` or ``t=8 p=2 b=4 schedule=gpipe``."""
        return " ".join(f"{k}={self.fields[k]}" for k in FIELDS if k in self.fields)


@dataclass
class Ranked:
    """A configuration that fits, with its :class:`ppnotes.perf_model.StepResult`."""

    candidate: Candidate
    result: pm.StepResult

    @property
    def step_time(self) -> float:
        return self.result.step_time

    @property
    def peak_bytes(self) -> float:
        """Bytes on the fullest GPU."""
        return max(r["total"] for r in self.result.memory)


@dataclass
class Plan:
    """What :func:`plan_training` found: ``ranked`` (fastest first) and ``dropped``."""

    model: ModelSpec
    cluster: pm.Cluster
    num_gpus: int
    global_batch: int
    seq_len: int
    ranked: list[Ranked]
    dropped: list[Dropped]
    searched: int
    evaluated: int
    seconds: float
    budget: float
    closest: list[Dropped] = field(default_factory=list)
    framework: str = "any"
    step_kwargs: dict = field(default_factory=dict)  # efficiency, reserve_fraction

    @property
    def best(self) -> Ranked | None:
        """The fastest fitting configuration, or ``None`` when none fits."""
        return self.ranked[0] if self.ranked else None

    @property
    def configs_per_second(self) -> float:
        """Configurations covered per second of search: ``searched`` counts every
        configuration of the search space, each either timed or dropped by a rule, most of
        them in groups without timing; see :attr:`timed_per_second` for those timed."""
        return self.searched / self.seconds if self.seconds > 0 else math.inf

    @property
    def timed_per_second(self) -> float:
        """Step-model evaluations (``evaluated``) per second of search."""
        return self.evaluated / self.seconds if self.seconds > 0 else math.inf

    def time_exactly(self, cand: Candidate) -> pm.StepResult:
        """The step model's result for ``cand`` in this plan's setting (what a pruned
        configuration would have been timed at)."""
        cand = _candidate(cand)
        cfg = cand.config(self.global_batch, self.seq_len)
        return pm.step_time(self.model, self.cluster, cfg, **self.step_kwargs)

    def _exact_line(self, drop: Dropped) -> str:
        """``drop`` as a line; a pruned single configuration timed exactly."""
        line = f"  {drop.label}: {drop.rule}: {drop.reason}"
        if drop.candidate is None:
            return line
        res = self.time_exactly(drop.candidate)
        if not res.fits:
            return line + f"; timed exactly: {res.step_time:.3f} s but does not fit memory"
        rank = 1 + sum(r.step_time < res.step_time for r in self.ranked)
        return line + f"; timed exactly: {res.step_time:.3f} s (would rank {rank})"

    def find(self, text: str | dict | Candidate) -> tuple[str, object]:
        """Where a configuration ended up: ``("ranked", (rank, Ranked))`` for the best ranked
        one with the given values (a label may be partial, e.g. ``"p4"``), else
        ``("dropped", [Dropped, ...])``, the drops that cover it (most specific first)."""
        want = _wanted(text)
        for i, r in enumerate(self.ranked):
            if all(r.candidate.__dict__[k] == v for k, v in want.items()):
                return "ranked", (i + 1, r)
        hits = [
            drop
            for drop in self.dropped
            if all(want[k] == v for k, v in drop.fields.items() if k in want)
            and all(k in want for k in ("sp", "dist_opt") if k in drop.fields)
        ]
        hits.sort(key=lambda drop: -sum(k in want for k in drop.fields))
        return "dropped", hits

    def explain(self, text: str | dict | Candidate) -> str:
        """Why a configuration ranks where it does or was dropped (plain text). A single
        configuration pruned without timing ("time-bound", a "dominated" recomputation) is
        timed exactly here (:meth:`time_exactly`), not only bounded."""
        want = _wanted(text)
        if want.get("shard_gradients"):
            return (
                f"{text}: not searched: the planner does not shard gradients (zero2); time such "
                "a configuration with Plan.time_exactly(Candidate(..., shard_gradients=True))"
            )
        where, what = self.find(want)
        if where == "ranked":
            rank, r = what
            best = self.best
            lines = [
                f"{r.candidate.label}: rank {rank} of {len(self.ranked)}, step "
                f"{r.step_time:.3f} s, peak {r.peak_bytes / GiB:.1f} GiB of "
                f"{self.budget / GiB:.1f} GiB"
            ]
            if rank == 1:
                lines.append("It is the fastest configuration that fits.")
                if len(self.ranked) > 1:
                    lines.append("Runner-up " + _compare(self.ranked[1], r))
            else:
                lines.append(_compare(r, best))
            return "\n".join(lines)
        size = want.get("t", 1) * want.get("cp", 1) * want.get("p", 1) * want.get("d", 1)
        if self.num_gpus % size or (
            "d" in want and size != self.num_gpus and "t" in want and "p" in want
        ):
            return (
                f"{text}: dropped (gpus): t x c x p x d must equal the {self.num_gpus} GPUs "
                f"({RULES['gpus']})"
            )
        if not what:
            return f"{text}: not among the configurations searched for {self.num_gpus} GPUs"
        rules = sorted({d.rule for d in what})
        lines = [f"{text}: no configuration with these values ranks; dropped by {', '.join(rules)}"]
        shown = what[:6]
        lines += [self._exact_line(d) for d in shown]
        if len(what) > len(shown):
            lines.append(f"  ... and {len(what) - len(shown)} more groups")
        return "\n".join(lines)


def _wanted(text) -> dict:
    """The field dict of a configuration given as a label, a field dict or a Candidate."""
    if isinstance(text, str):
        return parse(text)
    if isinstance(text, Candidate):
        return dict(text.__dict__)
    if not isinstance(text, dict):
        raise WrongTypeError(
            "config must be a label like 't8 p4 d2 b1 1f1b', a dict of its fields or a "
            f"Candidate, got {text!r}"
        )
    unknown = [k for k in text if k not in FIELDS]
    if unknown:
        raise ValueError(f"config fields must be among {FIELDS}, got {unknown!r}")
    return {k: _check_field(k, v, f"config {k}") for k, v in text.items()}


def _compare(slow: Ranked, fast: Ranked) -> str:
    """Which parts make ``slow`` slower than ``fast``, largest difference first."""
    diff = {k: slow.result.parts[k] - fast.result.parts[k] for k in pm.PARTS}
    order = sorted(diff, key=lambda k: -abs(diff[k]))[:3]
    gap = slow.step_time - fast.step_time
    text = ", ".join(f"{k} {diff[k]:+.3f} s" for k in order)
    return (
        f"{slow.candidate.label} is {gap:.3f} s slower than {fast.candidate.label}; "
        f"the parts that differ most: {text}."
    )


# --- the note's function -----------------------------------------------------------------


def note_efficiency_curve(model: ModelSpec, num_gpus: int, global_batch: int, gpu=None):
    """The note's section 5 efficiency for p = 1 .. min(L, N) (its search range, capped at the
    layers), with the fixed units (:func:`ppnotes.perf_model.note_performance_model_fixed`),
    m = G micro-batches of one sequence, an A100's FLOP/s and one HDR link's bandwidth.

    Efficiency = m T / ((m + p - 1) T + comm): the bubble and the traffic both grow with p,
    so it falls monotonically. Returns ``[(p, efficiency), ...]``.
    """
    model = _model(model)
    gpu = GPUS["A100 80GB"] if gpu is None else check_instance("gpu", gpu, GPUSpec)
    top = min(model.num_layers, check_int("num_gpus", num_gpus))
    m = check_int("global_batch", global_batch)
    out = []
    for p in range(1, top + 1):
        perf = pm.note_performance_model_fixed(
            model.num_layers,
            model.hidden_size,
            model.seq_len,
            m,
            p,
            m,
            IB_HDR.achievable_bandwidth,
            gpu.bf16_flops,
        )
        out.append((p, perf["efficiency"]))
    return out


def note_find_optimal_pp_depth(model_params: float, gpu_memory: float, num_gpus: int, model=None):
    """The note's ``find_optimal_pp_depth`` (section 7), runnable.

    Its missing pieces filled the way it implies: ``pipeline_performance_model(..., pp_depth=p)``
    is :func:`note_efficiency_curve` for ``model`` (default GPT-3 175B) with G = 1536. As in the
    note, the first branch returns a bare 1 while the loop returns ``(best_pp, efficiency)``;
    it compares a parameter count with bytes; and it starts at ``min_pp = ceil(params /
    memory)`` and keeps the highest efficiency, which is always the first p it tries.
    """
    from .models import GPT3_175B

    model_params = check_real("model_params", model_params, strict=True)
    gpu_memory = check_real("gpu_memory", gpu_memory, strict=True)
    num_gpus = check_int("num_gpus", num_gpus)
    model = GPT3_175B if model is None else _model(model)
    if model_params <= gpu_memory:
        return 1
    min_pp = math.ceil(model_params / gpu_memory)
    curve = dict(note_efficiency_curve(model, num_gpus, 1536))
    best_pp, best_eff = min_pp, 0.0
    for pp in range(min_pp, num_gpus + 1):
        if pp not in curve:  # the note's loop runs to num_gpus; its model needs p <= L
            break
        if curve[pp] > best_eff:
            best_eff, best_pp = curve[pp], pp
    return best_pp, best_eff


# --- the training planner ----------------------------------------------------------------


#: Fewest tokens of each sequence on one GPU for which the planner tries context parallelism:
#: below it the ring's blocks are short (attention runs below its rate, chapter 5's R(s)) and
#: the d replicas that c would replace cost no extra traffic per layer. Published
#: context-parallel runs held 8,192 (Llama 3, dubey2024llama3) and 32,768 tokens per GPU
#: (torchtitan2024h100). It also keeps the search of 2K- and 4K-token models as it was.
MIN_CONTEXT_TOKENS = 4096


def _context_options(seq_len: int, num_gpus: int) -> set[int]:
    """Context-parallel sizes c > 1 searched: c | N, s a multiple of 2c (two equal pieces per
    GPU) and s / c >= :data:`MIN_CONTEXT_TOKENS`."""
    return {
        c
        for c in _divisors(num_gpus)
        if c > 1 and seq_len % (2 * c) == 0 and seq_len // c >= MIN_CONTEXT_TOKENS
    }


def _schedule_options(model: ModelSpec, p: int, framework: str = "any") -> list[tuple[str, int]]:
    """(schedule, v) pairs searched at depth p: those ``framework`` runs
    (:data:`FRAMEWORK_SCHEDULES`), every v of :data:`VIRTUAL_STAGES` for interleaved."""
    if p == 1:
        return [("1f1b", 1)]
    have = FRAMEWORK_SCHEDULES[framework]
    opts = [(s, 1) for s in ("1f1b", "gpipe", "zb-h1", "zbv") if s in have]
    if "interleaved" in have:
        opts += [("interleaved", v) for v in VIRTUAL_STAGES]
    return opts


#: A safe fraction of the 1F1B twin's bubble that each schedule keeps (divided by v for
#: interleaved): closed forms give 1 (GPipe), 1 / v (interleaved, Narayanan et al. 2021),
#: (F + B - W) / (F + B) = 2/3 (ZB-H1 with W = B / 2, Qi et al. 2024) and about 0 (ZBV); half
#: of each is used, so unequal stages cannot make the floor exceed the real time.
BUBBLE_FLOOR = {"gpipe": 0.5, "1f1b": 0.5, "interleaved": 0.5, "zb-h1": 0.33, "zbv": 0.0}


def step_floor(twin: pm.StepResult, schedule: str, v: int = 1) -> float:
    """A lower bound on the step time of ``schedule`` (with v chunks) from its 1F1B twin
    (same t, p, d, b and recomputation): the twin's time without bubble and exposed hops, plus
    :data:`BUBBLE_FLOOR` of its bubble (over v for interleaved). The same work per rank, so
    nothing else changes; the tests check the bound against the full model."""
    check_instance("twin", twin, pm.StepResult)
    name = check_choice("schedule", schedule, pm.SCHEDULES)
    v = check_int("v", v, 1, MAX_STAGES)
    if v != 1 and name != "interleaved":
        raise ValueError(f"v applies only to the 'interleaved' schedule, got v={v} for {name!r}")
    return _step_floor(twin, name, v)


def _step_floor(twin: pm.StepResult, schedule: str, v: int) -> float:
    """:func:`step_floor` for checked arguments (the planner's inner loop)."""
    base = twin.step_time - twin.parts["bubble"] - twin.parts["pipeline_comm"]
    share = BUBBLE_FLOOR[schedule] / (v if schedule == "interleaved" else 1)
    return base + share * twin.parts["bubble"]


def states_lower_bound(model: ModelSpec, t: int, p: int, d: int) -> float:
    """Bytes per GPU of weights, fp32 gradients and sharded optimizer state on the fullest
    stage (balanced split, distributed optimizer): a lower bound on any configuration's peak
    with these t, p, d (:func:`ppnotes.memory.training_bytes_per_param`)."""
    model = _model(model)
    t = check_int("t", t, 1, model.num_heads)
    p = check_int("p", p, 1, model.num_layers)
    d = check_int("d", d, 1, MAX_GPUS)
    return _states_lower_bound(model, t, p, d)


def _states_lower_bound(model: ModelSpec, t: int, p: int, d: int) -> float:
    """:func:`states_lower_bound` for checked arguments (the planner's inner loop)."""
    counts = partition.balanced_split(model.num_layers, p)
    params = max(memory.stage_params(model, counts)) / t
    per = memory.training_bytes_per_param(True, True, d)
    return params * sum(per.values())


def search_space_size(
    model: ModelSpec,
    num_gpus: int,
    global_batch: int,
    max_micro_batch: int = MAX_MICRO_BATCH,
    framework: str = "any",
    seq_len: int | None = None,
) -> int:
    """Configurations the planner covers: every t | N, context parallelism c (1 and the
    sizes long sequences allow, :data:`MIN_CONTEXT_TOKENS`), p | N / (t c),
    b <= ``max_micro_batch`` with d b | G (one per (t, c, p) when d does not divide G), every
    schedule option the ``framework`` runs, recomputation, sequence parallelism and
    distributed optimizer setting. Most are dropped by a rule in groups, without timing
    (``Plan.evaluated`` counts the step-model calls)."""
    _model(model)
    num_gpus = check_int("num_gpus", num_gpus, 1, MAX_GPUS)
    global_batch = check_int("global_batch", global_batch)
    max_micro_batch = check_int("max_micro_batch", max_micro_batch)
    framework = check_choice("framework", framework, FRAMEWORKS)
    s = model.seq_len if seq_len is None else check_int("seq_len", seq_len)
    return _search_space_size(model, num_gpus, global_batch, max_micro_batch, framework, s)


def _search_space_size(
    model: ModelSpec,
    num_gpus: int,
    global_batch: int,
    max_micro_batch: int,
    framework: str = "any",
    seq_len: int | None = None,
) -> int:
    """:func:`search_space_size` for checked arguments."""
    contexts = {1} | _context_options(seq_len or model.seq_len, num_gpus)
    total = 0
    for t in _divisors(num_gpus):
        for c in (c for c in _divisors(num_gpus // t) if c in contexts):
            for p in _divisors(num_gpus // (t * c)):
                d = num_gpus // (t * c * p)
                if global_batch % d:
                    total += 1
                    continue
                nb = sum(1 for b in _divisors(global_batch // d) if b <= max_micro_batch)
                options = len(_schedule_options(model, p, framework))
                total += nb * options * len(RECOMPUTE_ORDER) * 4
    return total


def plan_training(
    model: ModelSpec,
    cluster: pm.Cluster,
    num_gpus: int,
    global_batch: int,
    seq_len: int | None = None,
    *,
    max_micro_batch: int = MAX_MICRO_BATCH,
    schedules_allowed=None,
    recompute_allowed=RECOMPUTE_ORDER,
    sequence_parallel: bool | None = None,
    distributed_optimizer: bool | None = None,
    keep_below: float = 0.0,
    framework: str = "any",
    efficiency: float | None = None,
    reserve_fraction: float = memory.DEFAULT_RESERVE_FRACTION,
    fp8: bool = False,
) -> Plan:
    """Search every training configuration of ``model`` on ``num_gpus`` GPUs of ``cluster``.

    Args:
        model: a :class:`~ppnotes.models.ModelSpec`.
        cluster: a :class:`~ppnotes.perf_model.Cluster` (GPU, GPUs per node, links).
        num_gpus: N = t p d (at most :data:`ppnotes._validate.MAX_GPUS`).
        global_batch: G, sequences per step (at most
            :data:`ppnotes._validate.MAX_MICROBATCHES`: m <= G micro-batches are simulated).
        seq_len: tokens per sequence (default: the model's).
        max_micro_batch: largest b tried.
        schedules_allowed: restrict the schedules (default: all of
            :data:`ppnotes.perf_model.SCHEDULES`).
        recompute_allowed: the recomputation choices tried (fastest first).
        sequence_parallel, distributed_optimizer: ``None`` (default) lets the planner choose
            (it always picks True: never slower, less memory); a bool fixes the option, e.g.
            to plan with only what a 2021 system had.
        keep_below: a schedule other than 1F1B is not timed when its floor
            (:func:`step_floor`) is above both the best found and ``keep_below`` seconds; give
            a configuration's step time to rank exactly every one faster than it.
        framework: one of :data:`FRAMEWORKS`. Every framework: a tensor group inside one
            node (t divides the GPUs per node); unequal chunks are timed by the simulator.
            "megatron" adds its schedules (1F1B, interleaved; uneven splits exported as a
            ``--pipeline-model-parallel-layout``); "torchtitan" its schedules (GPipe, 1F1B,
            interleaved, ZBV; not the one-chunk ZB-H1) and the splits its
            ``pipeline_parallel_layers_per_stage`` can build. Rules and sources:
            :data:`FRAMEWORK_SCHEDULES`, :data:`FRAMEWORK_SOURCES`.
        efficiency, reserve_fraction: passed to :func:`ppnotes.perf_model.step_time`.
        fp8: every configuration runs its linear layers in FP8 (H100-class GPUs only; see
            :class:`ppnotes.perf_model.Config`); its exports are refused (not yet checked).

    Returns:
        A :class:`Plan`: fitting configurations fastest first, every other one in ``dropped``
        with its rule and reason. When nothing fits, ``closest`` holds the configurations
        that miss memory by the least (drops with their excess bytes).
    """
    if isinstance(model, moe.MoESpec):  # chapter 11: expert parallelism, its own search
        return _plan_moe_training(
            model,
            cluster,
            num_gpus,
            global_batch,
            seq_len,
            max_micro_batch=max_micro_batch,
            schedules_allowed=schedules_allowed,
            recompute_allowed=recompute_allowed,
            sequence_parallel=sequence_parallel,
            distributed_optimizer=distributed_optimizer,
            keep_below=keep_below,
            framework=framework,
            efficiency=efficiency,
            reserve_fraction=reserve_fraction,
            fp8=fp8,
        )
    model, cluster = _model(model), _cluster(cluster)
    n = check_int("num_gpus", num_gpus, 1, MAX_GPUS)
    # m <= G, and the step model simulates m micro-batches: bound G like m.
    batch = check_int("global_batch", global_batch, 1, MAX_MICROBATCHES)
    s = model.seq_len if seq_len is None else check_int("seq_len", seq_len)
    bmax = check_int("max_micro_batch", max_micro_batch)
    if schedules_allowed is None or (
        isinstance(schedules_allowed, (list, tuple)) and not schedules_allowed
    ):
        allowed = pm.SCHEDULES  # None or empty: every schedule
    else:
        allowed = _names("schedules_allowed", schedules_allowed, pm.SCHEDULES)
    recompute_allowed = _names("recompute_allowed", recompute_allowed, RECOMPUTE_ORDER)
    rc_order = [rc for rc in RECOMPUTE_ORDER if rc in recompute_allowed]
    for key, value in (
        ("sequence_parallel", sequence_parallel),
        ("distributed_optimizer", distributed_optimizer),
    ):
        if value is not None and not isinstance(value, bool):
            raise WrongTypeError(f"{key} must be None, True or False, got {value!r}")
    keep_below = check_real("keep_below", keep_below)
    framework = check_choice("framework", framework, FRAMEWORKS)
    if efficiency is not None:
        efficiency = check_real("efficiency", efficiency, strict=True, maximum=1.0)
    fp8 = gemm.check_fp8(cluster.gpu, fp8)
    if fp8 and efficiency is not None:
        raise ValueError(f"fp8=True needs the kernel model (efficiency=None), got {efficiency}")
    reserve = check_real("reserve_fraction", reserve_fraction, 0.0, 0.99)
    budget = (1.0 - reserve) * cluster.gpu.memory_bytes
    kw = dict(efficiency=efficiency, reserve_fraction=reserve)
    start = time.perf_counter()

    ranked: list[Ranked] = []
    dropped: list[Dropped] = []
    deferred: list[Candidate] = []
    counts = {"evaluated": 0}

    def drop(fields, rule, reason, excess=0.0, candidate=None):
        dropped.append(Dropped(dict(fields), rule, reason, float(excess), candidate))

    def evaluate(cand: Candidate) -> pm.StepResult:
        counts["evaluated"] += 1
        return pm.step_time(model, cluster, cand.config(batch, s), **kw)

    twins: dict[tuple, pm.StepResult] = {}

    def twin(base: Candidate, rc: str) -> pm.StepResult:
        """1F1B with the same t, p, d, b and recomputation (timed once, cheap)."""
        key = (base.t, base.cp, base.p, base.d, base.b, rc)
        if key not in twins:
            twins[key] = evaluate(replace(base, schedule="1f1b", v=1, recompute=rc))
        return twins[key]

    def try_recompute(base: Candidate, best: float = math.inf):
        """Fastest recomputation first; slower ones only if the faster did not fit.

        Other schedules than 1F1B are first checked against their 1F1B twin: none holds
        fewer activations than 1F1B (checked in the tests), so a twin that does not fit
        rules them out, and none does less work, so the twin's time without bubble and
        exposed hops is a floor; above the best found they are not timed.
        """
        key = {f: getattr(base, f) for f in ("t", "p", "d", "b", "schedule", "v")}
        key |= {"cp": base.cp} if base.cp > 1 else {}
        for i, rc in enumerate(rc_order):
            cand = replace(base, recompute=rc)
            if base.schedule != "1f1b":
                ref = twin(base, rc)
                if not ref.fits:
                    peak = max(r["total"] for r in ref.memory)
                    drop(
                        key | {"recompute": rc},
                        "memory",
                        f"1F1B with the same t, p, d, b already needs {peak / GiB:.1f} GiB, "
                        f"budget {budget / GiB:.1f} GiB; {base.schedule} holds at least as "
                        "many activations",
                        ref.shortfall_bytes,
                    )
                    continue
                floor = _step_floor(ref, base.schedule, base.v)
                if floor >= max(best, keep_below):
                    for slower in rc_order[i:]:
                        drop(
                            key | {"recompute": slower},
                            "time-bound",
                            f"compute, recomputation, collectives and at least "
                            f"{BUBBLE_FLOOR[base.schedule] / base.v:.0%} of 1F1B's bubble / v "
                            f"take {floor:.3f} s, the best found {best:.3f} s",
                            candidate=replace(base, recompute=slower),
                        )
                    return
            res = twin(base, rc) if base.schedule == "1f1b" else evaluate(cand)
            if res.fits:
                ranked.append(Ranked(cand, res))
                for slower in rc_order[i + 1 :]:
                    drop(
                        key | {"recompute": slower},
                        "dominated",
                        f"recompute={rc} fits and is faster ({res.step_time:.3f} s)",
                        candidate=replace(base, recompute=slower),
                    )
                return
            peak = max(r["total"] for r in res.memory)
            drop(
                key | {"recompute": rc},
                "memory",
                f"stage {res.tightest_stage} needs {peak / GiB:.1f} GiB, budget "
                f"{budget / GiB:.1f} GiB (short by {res.shortfall_bytes / GiB:.1f} GiB)",
                res.shortfall_bytes,
            )

    for name in pm.SCHEDULES:
        if name not in FRAMEWORK_SCHEDULES[framework]:
            drop(
                {"schedule": name},
                "framework",
                f"{framework} has no {name!r} schedule (it runs "
                f"{', '.join(FRAMEWORK_SCHEDULES[framework])})",
            )
    contexts = _context_options(s, n)
    for c in _divisors(n):
        if c > 1 and c not in contexts:
            drop(
                {"cp": c},
                "context",
                f"context parallelism c = {c} needs s / c >= {MIN_CONTEXT_TOKENS} tokens "
                f"per GPU and s a multiple of 2c = {2 * c}, got s = {s}",
            )
    for t in _divisors(n):
        if cluster.gpus_per_node % t:
            drop(
                {"t": t},
                "tp-node",
                f"t = {t} does not divide the {cluster.gpus_per_node} GPUs per node: "
                "some tensor groups would span two nodes",
            )
            continue
        if model.num_heads % t or model.num_kv_heads % t:
            drop(
                {"t": t},
                "tp-heads",
                f"t = {t} does not divide {model.num_heads} heads / {model.num_kv_heads} "
                "key-value heads",
            )
            continue
        if sequence_parallel is None and t > 1:
            drop(
                {"t": t, "sp": False},
                "dominated",
                "sequence parallelism moves the same "
                "bytes in the same steps and shards activations: never slower, less memory",
            )
        elif sequence_parallel is None:
            drop({"t": 1, "sp": True}, "dominated", "sequence parallelism does nothing at t = 1")
        for c in _divisors(n // t):
            if c > 1 and c not in contexts:
                continue
            for p in _divisors(n // (t * c)):
                d = n // (t * c * p)
                key = {"t": t, "p": p} | ({"cp": c} if c > 1 else {})
                if p > model.num_layers:
                    drop(key, "layers", f"p = {p} > {model.num_layers} layers")
                    continue
                if batch % d:
                    drop(key, "batch", f"G = {batch} is not a multiple of d = {d}")
                    continue
                lower = _states_lower_bound(model, t, p, d * c)
                if lower > budget:
                    drop(
                        key,
                        "memory-bound",
                        f"weights, gradients and sharded optimizer state alone need "
                        f"{lower / GiB:.1f} GiB per GPU, budget {budget / GiB:.1f} GiB",
                        lower - budget,
                    )
                    continue
                if distributed_optimizer is None:
                    drop(
                        key | {"dist_opt": False},
                        "dominated",
                        "the distributed optimizer is never slower (0.75 of the all-reduce's "
                        "bytes, Adam on 1/d of the weights) and needs less memory"
                        if d > 1
                        else "the distributed optimizer does nothing at d = 1",
                    )
                for b in _divisors(batch // d):
                    if b > bmax:
                        break
                    m = batch // (d * b)
                    for name, v in _schedule_options(model, p, framework):
                        ck = key | {"d": d, "b": b, "schedule": name, "v": v}
                        if name not in allowed:
                            continue
                        chunks = memory.chunks_per_rank(name, v)
                        if p * chunks > model.num_layers:
                            drop(
                                ck,
                                "layers",
                                f"{name} needs a layer per chunk: p x {chunks} = {p * chunks} > "
                                f"{model.num_layers} layers",
                            )
                            continue
                        if framework == "torchtitan" and p > 1:
                            try:
                                torchtitan_layers_per_stage(model.num_layers, p, chunks)
                            except ValueError as err:
                                drop(ck, "framework", f"torchtitan cannot build it: {err}")
                                continue
                        if name == "interleaved" and m % p:
                            drop(
                                ck,
                                "schedule",
                                f"interleaved needs m = {m} to be a multiple of p = {p}",
                            )
                            continue
                        if name == "zbv" and m < 2 * p - 1:
                            drop(ck, "schedule", f"ZBV needs m = {m} >= 2p - 1 = {2 * p - 1}")
                            continue
                        sp = t > 1 if sequence_parallel is None else sequence_parallel and t > 1
                        dopt = True if distributed_optimizer is None else distributed_optimizer
                        base = Candidate(t, p, d, b, name, v, rc_order[0], sp, dopt, fp8=fp8, cp=c)
                        if name == "1f1b":
                            try_recompute(base)
                        else:
                            deferred.append(base)

    # The other schedules, the most promising first (their 1F1B twin's floor).
    def floor_of(base):
        return _step_floor(twin(base, rc_order[0]), base.schedule, base.v)

    for base in sorted(deferred, key=floor_of):
        best = min((r.step_time for r in ranked), default=math.inf)
        try_recompute(base, best)

    ranked.sort(key=lambda r: (r.step_time, r.peak_bytes, r.candidate.p))
    over = [x for x in dropped if x.rule in ("memory", "memory-bound")]
    closest = sorted(over, key=lambda x: x.excess)[:5] if not ranked else []
    return Plan(
        model=model,
        cluster=cluster,
        num_gpus=n,
        global_batch=batch,
        seq_len=s,
        ranked=ranked,
        dropped=dropped,
        searched=_search_space_size(model, n, batch, bmax, framework, s),
        evaluated=counts["evaluated"],
        seconds=time.perf_counter() - start,
        budget=budget,
        closest=closest,
        framework=framework,
        step_kwargs=kw,
    )


def _plan_moe_training(
    model,
    cluster,
    num_gpus,
    global_batch,
    seq_len,
    *,
    max_micro_batch,
    schedules_allowed,
    recompute_allowed,
    sequence_parallel,
    distributed_optimizer,
    keep_below,
    framework,
    efficiency,
    reserve_fraction,
    fp8,
):
    """:func:`plan_training` for a mixture-of-experts model: :func:`ppnotes.moe.plan_moe`
    over t, p, e, d, b and the MoE schedules, once per recomputation asked for that the MoE
    model times ("none", "full"; "selective" is not modelled for MoE and is skipped), merged
    fastest first. Returns a :class:`ppnotes.moe.MoEPlan` (its ranked items are
    :class:`ppnotes.moe.MoEStep`, labelled ``t1 e64 p16 d128 b1 dualpipe none`` by
    :attr:`ppnotes.moe.MoELayout.words`), not a dense :class:`Plan`: the dense planner's
    options that have no MoE meaning must keep their defaults (a clear ``ValueError``)."""
    for key, value, default in (
        ("schedules_allowed", schedules_allowed, None),
        ("sequence_parallel", sequence_parallel, None),
        ("distributed_optimizer", distributed_optimizer, None),
        ("keep_below", keep_below, 0.0),
        ("efficiency", efficiency, None),
    ):
        if value != default:
            raise ValueError(
                f"{key} must keep its default ({default!r}) for a mixture-of-experts model "
                f"(ppnotes.moe.plan_moe does not use it), got {value!r}"
            )
    wanted = _names("recompute_allowed", recompute_allowed, RECOMPUTE_ORDER)
    recomputes = [rc for rc in moe.RECOMPUTE if rc in wanted]
    if not recomputes:
        raise ValueError(
            f"recompute_allowed must include one of {moe.RECOMPUTE} for a mixture-of-experts "
            f"model, got {recompute_allowed!r}"
        )
    if isinstance(cluster, pm.Cluster):
        cluster = moe.MoECluster(
            cluster.gpu,
            cluster.intra_link,
            cluster.inter_link,
            cluster.gpus_per_node,
            name=cluster.name,
        )
    plans = [
        moe.plan_moe(
            model,
            cluster,
            num_gpus,
            global_batch,
            max_micro_batch=max_micro_batch,
            framework=framework,
            recompute=rc,
            reserve_fraction=reserve_fraction,
            seq_len=seq_len,
            fp8=fp8,
        )
        for rc in recomputes
    ]
    ranked = sorted((r for plan in plans for r in plan.ranked), key=lambda r: r.step_time)
    # the same drop (e not dividing E, say) comes once per recomputation: keep one
    dropped = list(
        {(d.label, d.rule, d.reason): d for plan in plans for d in plan.dropped}.values()
    )
    return moe.MoEPlan(ranked, dropped, sum(plan.seconds for plan in plans), plans[0].budget)


def table(plan: Plan, top: int = 10) -> list[dict]:
    """The first ``top`` ranked configurations as rows: label, t, cp, p, d, b, m, schedule,
    v, recompute, step time, every part (seconds), peak memory (GiB), MFU. A mixture-of-experts
    plan (:class:`ppnotes.moe.MoEPlan`) gets :func:`ppnotes.moe.table_moe`'s rows."""
    if isinstance(plan, moe.MoEPlan):
        return moe.table_moe(plan, top)
    rows = []
    for r in _plan(plan).ranked[: check_int("top", top)]:
        c = r.candidate
        row = {"config": c.label, "t": c.t, "cp": c.cp, "p": c.p, "d": c.d, "b": c.b}
        row |= {"m": r.result.config.num_microbatches, "schedule": c.schedule, "v": c.v}
        row |= {"recompute": c.recompute, "step_time": r.step_time}
        row |= {k: r.result.parts[k] for k in pm.PARTS}
        row |= {"peak_gib": r.peak_bytes / GiB, "mfu": r.result.mfu}
        rows.append(row)
    return rows


def smallest_fitting_depth(plan: Plan) -> int | None:
    """The smallest p among fitting configurations (what a memory-first rule would pick)."""
    _plan(plan)
    return min((r.candidate.p for r in plan.ranked), default=None)


def best_depth(plan: Plan) -> int | None:
    """p of the fastest fitting configuration."""
    best = _plan(plan).best
    return best.candidate.p if best else None


#: How many larger GPU counts :func:`fewest_gpus_that_fit` tries (multiples of the GPUs per
#: node): a hint, not a search of every cluster size.
FIT_SEARCH_TRIES = 16


def fewest_gpus_that_fit(plan: Plan, tries: int = FIT_SEARCH_TRIES) -> tuple[int | None, int]:
    """When nothing fits ``plan``: the fewest GPUs, among the next ``tries`` multiples of the
    GPUs per node above ``plan.num_gpus`` (at most :data:`ppnotes._validate.MAX_GPUS`), at
    which some configuration fits, with the same model, cluster, global batch, sequence
    length, framework and step-model settings (other restrictions given to
    :func:`plan_training` are not carried over).

    Only 1F1B is searched at each count: no other schedule holds fewer activations or does
    less work per rank (the planner's own pruning rests on it), so some configuration fits
    exactly when a 1F1B one does; each count costs milliseconds to a fraction of a second.

    Returns ``(gpus, largest)``: ``gpus`` the fewest count that fits (``None`` when none up
    to ``largest`` does) and ``largest`` the largest count tried (``plan.num_gpus`` when no
    larger count is allowed).
    """
    plan = _plan(plan)
    tries = check_int("tries", tries, 1, 1024)
    per_node = plan.cluster.gpus_per_node
    first = (plan.num_gpus // per_node + 1) * per_node
    counts = [n for n in range(first, first + tries * per_node, per_node) if n <= MAX_GPUS]
    for n in counts:
        other = plan_training(
            plan.model,
            plan.cluster,
            n,
            plan.global_batch,
            plan.seq_len,
            schedules_allowed=("1f1b",),
            framework=plan.framework,
            **plan.step_kwargs,
        )
        if other.ranked:
            return n, n
    return None, counts[-1] if counts else plan.num_gpus


def pareto_front(plan: Plan) -> list[Ranked]:
    """Ranked configurations not beaten on both step time and peak memory (fastest first)."""
    front, lowest = [], math.inf
    for r in sorted(_plan(plan).ranked, key=lambda r: (r.step_time, r.peak_bytes)):
        if r.peak_bytes < lowest:
            front.append(r)
            lowest = r.peak_bytes
    return front


def best_per_depth(plan: Plan) -> dict[int, Ranked]:
    """The fastest fitting configuration at each depth p."""
    out: dict[int, Ranked] = {}
    for r in _plan(plan).ranked:
        out.setdefault(r.candidate.p, r)
    return dict(sorted(out.items()))


def verify(plan: Plan, top: int = 3) -> list[dict]:
    """Re-time the pipeline of the ``top`` best with the chapter 2 simulator.

    The model's pipeline time (compute + recomputation + TP collectives + bubble + exposed
    hops) against the simulator's makespan for the same schedule, mean per-rank forward and
    backward times and the hop (:func:`ppnotes.schedules.simulate_named`; blocking sends via
    :func:`ppnotes.comm.simulated_comm_time`). Rows: ``config``, ``model``, ``simulated``
    (seconds) and ``error`` (model / simulated - 1). Ranks differ only by the LM head, so the
    two agree to a few per cent. Unequal chunks (:func:`ppnotes.perf_model.chunk_layers`) are
    simulated chunk by chunk at the mean time per layer, the head spread over all layers (the
    step model puts it on the last stage, and already times such schedules with the simulator).
    A mixture-of-experts plan is checked by :func:`ppnotes.moe.verify_moe`.
    """
    if isinstance(plan, moe.MoEPlan):
        return moe.verify_moe(plan, top)
    rows = []
    for r in _plan(plan).ranked[: check_int("top", top)]:
        res, c = r.result, r.candidate
        cfg = res.config
        m, p = cfg.num_microbatches, cfg.pipeline_parallel
        parts = res.parts
        mine = sum(parts[k] for k in ("compute", "recompute", "tp_comm", "cp_comm", "bubble"))
        mine += parts["pipeline_comm"]
        if p == 1:
            f, b = res.stage_times[0]
            sim = m * (f + b)
        else:
            f = sum(x for x, _ in res.stage_times) / p
            b = sum(y for _, y in res.stage_times) / p
            hop = pm.hop_time(plan.model, plan.cluster, cfg)
            blocking = not OVERLAP_P2P[c.schedule]
            layers = pm.chunk_layers(plan.model, cfg)
            if layers is None:
                zero = schedules.simulate_named(c.schedule, p, m, c.v, t_f=f, t_i=b / 2, t_w=b / 2)
            else:
                per_layer = p / plan.model.num_layers
                f_l, b_l = f * per_layer, b * per_layer
                costs = {
                    "F": [n * f_l for n in layers],
                    "B": [n * b_l for n in layers],
                    "I": [n * b_l / 2 for n in layers],
                    "W": [n * b_l / 2 for n in layers],
                }
                zero = schedules.simulate(schedules.build_schedule(c.schedule, p, m, c.v), costs)
            sim = zero.makespan + comm.simulated_comm_time(
                c.schedule, p, m, f, b, hop, c.v, blocking=blocking
            )
        rows.append({"config": c.label, "model": mine, "simulated": sim, "error": mine / sim - 1})
    return rows


# --- clusters ----------------------------------------------------------------------------

#: PCIe-only servers: 8 GPUs per node joined by PCIe (no NVLink), one network card per GPU.
PCIE_CLUSTERS = {
    "8x A100 80GB PCIe + HDR": pm.Cluster(
        GPUS["A100 80GB"], 8, PCIE4_X16, IB_HDR, 8, "8x A100 80GB PCIe + HDR"
    ),
    "8x H100 PCIe + NDR": pm.Cluster(
        GPUS["H100 SXM 80GB"], 8, PCIE5_X16, IB_NDR, 8, "8x H100 PCIe + NDR"
    ),
}
#: Every cluster the planner knows: chapter 5's and the PCIe-only ones.
ALL_CLUSTERS = {**pm.CLUSTERS, **PCIE_CLUSTERS}


def cluster_for(
    gpu: str, gpus_per_node: int = 8, intra: str | None = None, inter: str | None = None
) -> pm.Cluster:
    """A cluster of ``gpu`` (a :data:`ppnotes.hardware.GPUS` name): NVLink of its generation
    inside a node and InfiniBand HDR (A100) or NDR (H100/H200) between nodes, unless ``intra``
    or ``inter`` name another :data:`ppnotes.hardware.LINKS` preset (e.g. a PCIe link)."""
    spec = GPUS[check_choice("gpu", gpu, GPUS)]
    a100 = spec.name.startswith("A100")
    in_link = (
        (NVLINK3 if a100 else NVLINK4)
        if intra is None
        else LINKS[check_choice("intra", intra, LINKS)]
    )
    out_link = (
        (IB_HDR if a100 else IB_NDR)
        if inter is None
        else LINKS[check_choice("inter", inter, LINKS)]
    )
    g = check_int("gpus_per_node", gpus_per_node, 1, MAX_GPUS)
    name = f"{g}x {spec.name} ({in_link.name} + {out_link.name})"
    return pm.Cluster(spec, g, in_link, out_link, g, name)


# --- compared with practice --------------------------------------------------------------


def run_candidate(run) -> Candidate:
    """A published run's configuration as a :class:`Candidate`."""
    from .runs import PublishedRun

    check_instance("run", run, PublishedRun)
    return Candidate(
        run.tensor_parallel,
        run.pipeline_parallel,
        run.data_parallel,
        run.micro_batch,
        run.schedule,
        run.virtual_stages,
        run.recompute,
        run.sequence_parallel and run.tensor_parallel > 1,
        run.distributed_optimizer,
        run.shard_gradients,
        cp=run.context_parallel,
    )


#: The framework each published run's software corresponds to, so the planner is held to what
#: the authors could launch: the SC'21 and Korthikanti et al. runs used Megatron-LM; Meta's
#: Llama 3 stack is its own (uneven first and last stages, Dubey et al. 2024, sec. 3.3.2), so
#: only the shared rules apply.
PRACTICE_FRAMEWORKS = {"Megatron": "megatron", "Llama": "any"}


def _practice_framework(run) -> str:
    return next((fw for k, fw in PRACTICE_FRAMEWORKS.items() if run.name.startswith(k)), "any")


def practice_comparison(runs=None, *, same_features: bool = True, **kwargs) -> list[dict]:
    """The planner on published runs (default: a few of :data:`ppnotes.runs.RUNS`): the
    authors' configuration and the planner's pick for the same model, GPUs and global batch,
    both timed by :func:`ppnotes.perf_model.step_time` under the planner's assumptions
    (:data:`OVERLAP_P2P`, gradient reduction overlapped), the planner held to the rules of the
    framework the authors ran (:data:`PRACTICE_FRAMEWORKS`).

    ``same_features=True`` searches only what the authors had: their schedule family (1F1B
    and interleaved), their recomputation, sequence parallelism and optimizer sharding; the
    difference is then only t, p, d, b and v. ``False`` lets the planner use everything.

    Rows: ``name``, ``framework``, ``theirs`` and ``ours`` (labels), ``theirs_step`` and
    ``ours_step`` (seconds), ``theirs_fits``, ``speedup`` (theirs / ours), ``theirs_rank``
    (1 + the fitting configurations faster than theirs, all timed; None if theirs does not
    fit), ``why`` (the parts of the step that differ most between the two), ``ours_any``
    (the pick with only the shared rules: where it differs, the framework changed the pick)
    and ``plan``.
    """
    from .runs import RUNS, get_run

    default = [
        "Megatron 175B (SP + selective)",
        "Megatron 530B (SP + selective)",
        "Megatron 1T (SP + selective)",
        "Llama 3 405B (8K GPUs)",
    ]
    check_bool("same_features", same_features)
    if runs is None:
        chosen = [get_run(n) for n in default]
    elif isinstance(runs, (list, tuple)):
        chosen = list(runs)
    else:
        raise WrongTypeError(f"runs must be a list of ppnotes.runs.RUNS entries, got {runs!r}")
    for run in chosen:
        if run not in RUNS:
            raise ValueError(f"runs must be ppnotes.runs.RUNS entries, got {run!r}")
    rows = []
    for run in chosen:
        cluster = pm.run_cluster(run)
        mine = run_candidate(run)
        theirs = pm.step_time(run.model, cluster, mine.config(run.global_batch, run.seq_len))
        extra = dict(kwargs)
        if same_features:
            extra |= dict(
                schedules_allowed=("1f1b", "interleaved"),
                recompute_allowed=(run.recompute,),
                sequence_parallel=mine.sp,
                distributed_optimizer=mine.dist_opt,
            )
        framework = extra.pop("framework", _practice_framework(run))
        args = (run.model, cluster, run.num_gpus, run.global_batch, run.seq_len)
        plan = plan_training(*args, keep_below=theirs.step_time, framework=framework, **extra)
        free = plan if framework == "any" else plan_training(*args, **extra)
        best = plan.best
        faster = sum(r.step_time < theirs.step_time for r in plan.ranked)
        mine_ranked = Ranked(mine, theirs)
        if best is None or not theirs.fits:
            why = "theirs does not fit the model's memory" if not theirs.fits else ""
        elif best.candidate == mine:
            why = "the same configuration"
        else:
            why = _compare(mine_ranked, best)
        rows.append(
            {
                "name": run.name,
                "framework": framework,
                "theirs": mine.label,
                "theirs_step": theirs.step_time,
                "theirs_fits": theirs.fits,
                "theirs_rank": faster + 1 if theirs.fits else None,
                "ours": best.candidate.label if best else None,
                "ours_step": best.step_time if best else math.nan,
                "speedup": theirs.step_time / best.step_time if best else math.nan,
                "why": why,
                "ours_any": free.best.candidate.label if free.best else None,
                "plan": plan,
            }
        )
    return rows


# --- what moves the optimum ---------------------------------------------------------------


def sweep_point(model, cluster, num_gpus, global_batch, seq_len=None, *, x=None, **kwargs):
    """One point of a "what moves the optimum" sweep: the plan's fastest depth and the
    smallest depth that fits. Returns ``{"x", "best_p", "min_p", "best", "step_time",
    "plan"}`` (``best_p``/``min_p`` None and ``step_time`` NaN when nothing fits)."""
    plan = plan_training(model, cluster, num_gpus, global_batch, seq_len, **kwargs)
    return {
        "x": x,
        "best_p": best_depth(plan),
        "min_p": smallest_fitting_depth(plan),
        "best": plan.best.candidate.label if plan.best else None,
        "step_time": plan.best.step_time if plan.best else math.nan,
        "plan": plan,
    }


def with_memory(cluster: pm.Cluster, gib: float) -> pm.Cluster:
    """``cluster`` with its GPU's memory set to ``gib`` GiB (compute and links unchanged):
    isolates what memory alone does to the optimum."""
    cluster = _cluster(cluster)
    gib = check_real("gib", gib, strict=True)
    gpu = replace(
        cluster.gpu, name=f"{cluster.gpu.name} ({gib:g} GiB)", memory_bytes=int(gib * GiB)
    )
    return replace(cluster, gpu=gpu, name=f"{cluster.name} ({gib:g} GiB)")


#: Names that moved out of this module when it was split (issue 20), and their new homes:
#: ``optimum.plan_serving`` and friends still resolve, for code written before the split.
_MOVED = {
    "serving_plan": ("ServingChoice", "ServingPlan", "plan_serving", "MAX_UTILISATION"),
    "export": (
        "EXPORT_SOURCES",
        "megatron_compatible",
        "megatron_env",
        "megatron_flags",
        "megatron_command",
        "torchtitan_config",
        "vllm_args",
    ),
    "cli": ("main", "_parser", "model_from_args"),
}


def __getattr__(name: str):
    """Resolve a name that moved to :mod:`ppnotes.serving_plan`, :mod:`ppnotes.export` or
    :mod:`ppnotes.cli` (imported on first use: those modules import this one)."""
    import importlib

    for module, names in _MOVED.items():
        if name in names:
            return getattr(importlib.import_module(f"ppnotes.{module}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


if __name__ == "__main__":
    # ``python -m ppnotes.optimum`` is the planner's command line (:mod:`ppnotes.cli`).
    from ppnotes.cli import main

    sys.exit(main())
