"""Chapter 8: the note's GPT-3 175B serving case (section 8), recomputed.

The note serves GPT-3 175B at batch 32 on 32 GPUs in three shapes and prints bubble,
communication and efficiency shares. Its bubbles (~10 %, ~35 %) are its own section-2 GPipe
formula with M = 32 micro-batches of one (:func:`note_formula_bubble`: 8.6 %, 31.9 %), right
for a static engine that flushes every token with micro-batches of one; :func:`engine_bubble`
times them per engine (FasterTransformer's static batching, continuous batching with k = p).
Its communication and efficiency shares come from no formula. Here each shape is
timed by chapter 6 (:func:`ppnotes.inference.serve`, decode with k = min(p, R) batches in
flight) and chapter 4 (:func:`ppnotes.inference.serving_memory`), and the shares are read off
one steady-state decode period: every stage is busy for its own compute and tensor-parallel
all-reduces and idle for the rest of the period (the bubble, which includes waiting on hops).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from . import bubble as bubble_mod
from . import comm, inference, models, optimum, partition, serving_plan, serving_queue
from . import perf_model as pm
from ._validate import MAX_GPUS, WrongTypeError, check_choice, check_instance, check_int, check_real
from .models import ModelSpec
from .runs import get_run

#: The model of the case.
MODEL = models.GPT3_175B
#: 32 GPUs = 4 DGX A100 80GB nodes (NVLink 3 inside, one HDR card per GPU): the hardware
#: GPT-3-class serving was published on (FasterTransformer, chapter 6).
CLUSTER = pm.CLUSTERS["DGX A100 80GB + HDR"]
NUM_GPUS = 32
BATCH = 32
#: Lengths the note does not state: a 1,024-token prompt and 256 output tokens (the chapter 7
#: planner's defaults; 1,280 tokens fits GPT-3's 2,048-token window).
PROMPT, OUTPUT = 1024, 256

#: The note's section 8, line by line: (t, p) -> its printed numbers and verdict.
NOTE_CASE = {
    (8, 4): {"bubble": 0.10, "comm": 0.08, "efficiency": 0.82, "verdict": "recommended"},
    (2, 16): {"bubble": 0.35, "comm": 0.15, "efficiency": 0.50, "verdict": "bubble too large"},
    (16, 2): {
        "bubble": None,
        "comm": None,
        "efficiency": None,
        "verdict": "TP across nodes: communication is the bottleneck",
    },
}


#: The note's section 2 splits the batch of 32 into M = 32 micro-batches of one request.
NOTE_MICROBATCHES = 32


def note_formula_bubble(p, microbatches: int = NOTE_MICROBATCHES) -> float:
    """The note's own section-2 formula (p-1)/(p-1+M) (GPipe's idle share of a step,
    :func:`ppnotes.bubble.bubble_fraction`) at M = 32 micro-batches of one: 8.6 % for p = 4,
    31.9 % for p = 16, the source of its printed ~10 % and ~35 %."""
    p = check_int("p", p, 1, MAX_GPUS)
    m = check_int("microbatches", microbatches)
    return bubble_mod.bubble_fraction(p, m)


@dataclass(frozen=True)
class EngineBubble:
    """The idle share of one replica's decode under one serving engine (see
    :func:`engine_bubble`). ``engine`` is one of :data:`ppnotes.serving_queue.ENGINES`;
    ``local`` sequences per micro-batch, ``microbatches`` per token step (static) or batches
    in flight (continuous); ``bubble`` the idle fraction of the stages' time; ``tpot`` the
    seconds between two tokens of one sequence."""

    engine: str
    t: int
    p: int
    batch: int
    local: int
    microbatches: int
    bubble: float
    tpot: float


def engine_bubble(
    t: int,
    p: int,
    engine: str,
    *,
    model: ModelSpec = MODEL,
    cluster: pm.Cluster = CLUSTER,
    batch: int = BATCH,
    prompt: int = PROMPT,
    output: int = OUTPUT,
    local: int | None = None,
) -> EngineBubble:
    """Idle share of the stages in one replica of t x p decoding ``batch`` sequences.

    ``"static"`` (FasterTransformer): the batch is cut into m = batch / local micro-batches
    (``local`` defaults to :func:`ppnotes.inference.ft_local_batch_size`), pipelined through
    the stages and flushed every token; the step is
    :func:`ppnotes.inference.static_batch_time`'s (sum_s d_s + (m-1) max_s d_s + hops), busy
    time m d_s per stage, so with equal stages and no hops the bubble is GPipe's
    (p-1)/(m+p-1). ``local=1`` is the note's own micro-batching (M = batch).
    ``"continuous"`` (vLLM V1, SGLang): k = p batches in flight, never flushed
    (:func:`case_row`'s bubble); an idealisation, since vLLM V1 does not balance the k
    batches exactly."""
    check_instance("model", model, ModelSpec)
    check_instance("cluster", cluster, pm.Cluster)
    e = check_choice("engine", engine, serving_queue.ENGINES)
    t, p = check_int("t", t, 1, MAX_GPUS), _check_depth(model, p)
    b = check_int("batch", batch)
    s, out = check_int("prompt", prompt), check_int("output", output)
    if e == "continuous":
        if local is not None:
            raise ValueError(f"local is for the static engine only, got local = {local!r}")
        row = case_row(
            t, p, model=model, cluster=cluster, batch=b, prompt=s, output=out, num_gpus=t * p
        )
        k = row.serving.in_flight
        return EngineBubble(e, t, p, b, math.ceil(b / k), k, row.bubble, row.serving.tpot)
    size = inference.ft_local_batch_size(b, 1, p) if local is None else check_int("local", local)
    if b % size:
        raise ValueError(f"local must divide batch = {b}, got {size}")
    m = b // size
    times = inference.stage_times(model, cluster, t, p, size, s + out // 2, "decode")
    hop = inference.hop_seconds(model, cluster, t, p, size)
    back = inference.return_seconds(cluster, t, p, b)
    step = inference.cycle_time(times, hop, back) + (m - 1) * max(times)
    busy = m * sum(times) / p
    return EngineBubble(e, t, p, b, size, m, 1.0 - busy / step, step)


def bubble_by_engine(t: int, p: int, **kwargs) -> dict[str, float]:
    """The bubble of one of the note's shapes three ways: ``"note"`` (its formula, M = 32),
    ``"static"`` (FasterTransformer as it runs), ``"static, M = batch"`` (a static engine
    with the note's micro-batches of one) and ``"continuous"`` (k = p in flight)."""
    p = check_int("p", p, 1, MAX_GPUS)
    b = kwargs.get("batch", BATCH)
    return {
        "note": note_formula_bubble(p, b),
        "static": engine_bubble(t, p, "static", **kwargs).bubble,
        "static, M = batch": engine_bubble(t, p, "static", local=1, **kwargs).bubble,
        "continuous": engine_bubble(t, p, "continuous", **kwargs).bubble,
    }


@dataclass(frozen=True)
class CaseRow:
    """One serving shape on the case's GPUs: ``replicas`` copies of t x p, R sequences each.

    Shares are fractions of one decode period P summed over a replica's GPUs:
    ``compute`` (= ``efficiency``), ``tp_comm`` and ``bubble`` (idle, hops included) add to 1.
    Times in seconds, memory in bytes (the fullest GPU).
    """

    t: int
    p: int
    replicas: int
    concurrency: int
    serving: inference.Serving
    compute: float
    tp_comm: float
    bubble: float
    hop: float

    def __post_init__(self):
        for key in ("t", "p", "replicas", "concurrency"):
            check_int(key, getattr(self, key))
        check_instance("serving", self.serving, inference.Serving)
        for key in ("compute", "tp_comm", "bubble"):
            check_real(key, getattr(self, key), None)
        check_real("hop", self.hop)

    @property
    def label(self) -> str:
        tail = f" x{self.replicas}" if self.replicas > 1 else ""
        return f"PP{self.p} TP{self.t}{tail}"

    @property
    def efficiency(self) -> float:
        return self.compute

    @property
    def fits(self) -> bool:
        return self.serving.fits

    @property
    def tokens_per_s(self) -> float:
        """Output tokens per second of all replicas."""
        return self.replicas * self.serving.tokens_per_s


def _check_depth(model: ModelSpec, p) -> int:
    p = check_int("p", p)
    if p > model.num_layers:
        raise ValueError(
            f"p must be at most the {model.num_layers} layers of {model.name}, got {p}"
        )
    return p


def _check_rows(rows) -> list[CaseRow]:
    """``rows`` (default :func:`all_rows`) as a non-empty list of :class:`CaseRow`."""
    if rows is None:
        return all_rows()
    if isinstance(rows, (str, bytes, dict)) or not hasattr(rows, "__iter__"):
        raise WrongTypeError(f"rows must be a list of CaseRow (or None), got {rows!r}")
    rows = list(rows)
    for i, r in enumerate(rows):
        check_instance(f"rows[{i}]", r, CaseRow)
    return rows


def _row(rows: list[CaseRow], t: int, p: int) -> CaseRow:
    for r in rows:
        if (r.t, r.p) == (t, p):
            return r
    raise ValueError(f"rows must include the shape t = {t}, p = {p} (see all_rows())")


def tp_seconds_per_stage(
    model: ModelSpec, cluster: pm.Cluster, t: int, p: int, batch: int, allreduce: str = "ring"
) -> list[float]:
    """Seconds of tensor-parallel all-reduce in one decode step of each stage (two per layer,
    :func:`ppnotes.inference.tp_allreduce_seconds`); zero for t = 1."""
    check_instance("model", model, ModelSpec)
    check_instance("cluster", cluster, pm.Cluster)
    t = check_int("t", t, 1, MAX_GPUS)
    p = _check_depth(model, p)
    b = check_int("batch", batch)
    check_choice("allreduce", allreduce, inference.ALLREDUCES)
    one = inference.tp_allreduce_seconds(model, cluster, t, b, allreduce) if t > 1 else 0.0
    counts = partition.balanced_split(model.num_layers, p)
    return [n * comm.TP_ALLREDUCES_PER_LAYER_FORWARD * one for n in counts]


def case_row(
    t: int,
    p: int,
    *,
    model: ModelSpec = MODEL,
    cluster: pm.Cluster = CLUSTER,
    batch: int = BATCH,
    prompt: int = PROMPT,
    output: int = OUTPUT,
    num_gpus: int = NUM_GPUS,
    allreduce: str = "ring",
) -> CaseRow:
    """The case's numbers for replicas of t x p GPUs sharing ``num_gpus`` and ``batch``.

    ``num_gpus / (t p)`` replicas each decode R = ``batch`` / replicas sequences (chapter 6's
    :func:`~ppnotes.inference.serve`). Shares of one period P: compute = mean over stages of
    (stage time - TP time) / P; tp_comm = mean TP time / P; bubble = 1 - mean stage time / P.
    """
    check_instance("model", model, ModelSpec)
    t, p = check_int("t", t, 1, MAX_GPUS), _check_depth(model, p)
    n, b = check_int("num_gpus", num_gpus, 1, MAX_GPUS), check_int("batch", batch)
    if n % (t * p):
        raise ValueError(f"t x p must divide num_gpus = {n}, got t = {t}, p = {p}")
    replicas = n // (t * p)
    if b % replicas:
        raise ValueError(
            f"batch must be a multiple of the num_gpus / (t p) = {replicas} replicas "
            f"(num_gpus = {n}, t = {t}, p = {p}), got {b}"
        )
    r = b // replicas
    srv = inference.serve(model, cluster, t, p, r, prompt, output, allreduce=allreduce)
    per_batch = math.ceil(r / srv.in_flight)
    tp = tp_seconds_per_stage(model, cluster, t, p, per_batch, allreduce)
    busy = sum(srv.stage_times) / p
    tp_mean = sum(tp) / p
    hop = inference.hop_seconds(model, cluster, t, p, per_batch)
    return CaseRow(
        t,
        p,
        replicas,
        r,
        srv,
        (busy - tp_mean) / srv.period,
        tp_mean / srv.period,
        1.0 - busy / srv.period,
        hop,
    )


#: The shapes people run on the same 32 GPUs, besides the note's three.
PRACTICE = ((8, 1), (8, 2), (4, 2))


def all_rows(**kwargs) -> list[CaseRow]:
    """The note's three shapes, then :data:`PRACTICE`, all on the case's GPUs and batch."""
    return [case_row(t, p, **kwargs) for t, p in (*NOTE_CASE, *PRACTICE)]


def note_vs_ours(rows: list[CaseRow] | None = None) -> list[dict]:
    """The note's printed numbers beside ours for its three shapes, with a verdict each."""
    rows = _check_rows(rows)
    shapes = {(t, p): _row(rows, t, p) for t, p in NOTE_CASE}
    fitting = [r for r in rows if r.fits]
    if not fitting:
        raise ValueError("rows must include at least one shape that fits memory, got none")
    best = max(fitting, key=lambda r: r.tokens_per_s)
    out = []
    for (t, p), note in NOTE_CASE.items():
        r = shapes[(t, p)]
        out.append(
            {
                "config": f"PP{p} TP{t}",
                "note": note,
                "ours": r,
                "best": best.label,
                "verdict": verdict(r, note, best),
            }
        )
    return out


def verdict(row: CaseRow, note: dict, best: CaseRow) -> str:
    """One line: does the note's claim about this shape survive the computation (timed with
    continuous batching, k = p in flight; :func:`engine_bubble` gives the static engine)?"""
    check_instance("row", row, CaseRow)
    if not isinstance(note, dict) or not isinstance(note.get("verdict"), str):
        raise WrongTypeError(
            f"note must be one of NOTE_CASE's dicts (with a 'verdict'), got {note!r}"
        )
    check_instance("best", best, CaseRow)
    if not row.fits:
        return "does not hold: it does not even fit in memory"
    share = f"bubble {row.bubble:.0%}, TP comm {row.tp_comm:.0%}, efficiency {row.efficiency:.0%}"
    if note["verdict"] == "recommended":
        ratio = best.tokens_per_s / row.tokens_per_s
        if ratio < 1.05:
            return (
                f"good choice, wrong numbers: {share}; within {ratio - 1:.1%} of the best "
                f"({best.label})"
            )
        return f"does not hold: {share}; {best.label} gives {ratio:.1f}x the tokens/s"
    ratio = best.tokens_per_s / row.tokens_per_s
    if row.t > 8:
        return f"holds: {share} (TP over the network); {ratio:.1f}x fewer tokens/s than the best"
    return (
        f"right verdict, wrong reason with continuous batching: {share}; {ratio:.1f}x fewer "
        f"tokens/s, because R is split into {row.serving.in_flight} batches of "
        f"{row.concurrency // row.serving.in_flight} (a static engine that flushes every token "
        "also pays the bubble: see engine_bubble)"
    )


def planner_choice(
    rows: list[CaseRow] | None = None,
    cluster: pm.Cluster = CLUSTER,
    prompt: int = PROMPT,
    output: int = OUTPUT,
) -> serving_plan.ServingChoice:
    """Chapter 7's :func:`~ppnotes.serving_plan.plan_serving` asked for the note's shape's
    throughput (its batch-32 output tokens/s, now arriving as requests whose prefill counts)
    at the TPOT the note's shape itself keeps under that load
    (:func:`ppnotes.serving_queue.under_load`), on at most the case's GPUs. (Before issue 19
    the target was the note's decode-only TPOT, which no shape meets once prefill is in the
    load.)"""
    rows = _check_rows(rows)
    check_instance("cluster", cluster, pm.Cluster)
    prompt = check_int("prompt", prompt)
    output = check_int("output", output)
    ref = _row(rows, 8, 4)
    target = serving_queue.under_load(
        MODEL, cluster, 8, 4, ref.tokens_per_s / output, prompt, output
    ).tpot
    plan = serving_plan.plan_serving(
        MODEL,
        cluster,
        load=ref.tokens_per_s,
        tpot=target,
        prompt=prompt,
        output=output,
        max_gpus=NUM_GPUS,
    )
    return plan.best


def capacity(
    row: CaseRow,
    *,
    model: ModelSpec = MODEL,
    cluster: pm.Cluster = CLUSTER,
    prompt: int = PROMPT,
    output: int = OUTPUT,
    utilisation: float = serving_plan.MAX_UTILISATION,
) -> serving_queue.Loaded:
    """One replica of ``row``'s shape at the load its queue can carry: ``utilisation`` (0.9,
    the planner's ceiling) of its capacity with prefill counted
    (:func:`ppnotes.serving_queue.under_load`, continuous batching, k = p). The KV cache alone
    caps the sequences (``--max-num-seqs`` raised to what fits), so depth's extra room counts.
    ``row.replicas`` times its ``output_tokens_per_s`` is what the 32 GPUs give. (Before
    issue 19 this was the decode-only rate at the KV limit, which needed more than the
    GPUs' FLOPs for the prefill of that many requests.)"""
    check_instance("row", row, CaseRow)
    u = check_real("utilisation", utilisation, 0.0, 1.0, strict=True)
    if u >= 1.0:
        raise ValueError(f"utilisation must be below 1, got {utilisation!r}")
    cost = serving_queue.costs(
        model, cluster, row.t, row.p, prompt, output, max_num_seqs=serving_queue.MAX_ENGINE_SEQS
    )
    return serving_queue.under_load(
        model, cluster, row.t, row.p, u * cost.capacity, prompt, output, cost=cost
    )


# --- training the same model -------------------------------------------------------------

TRAIN_RUN = "Megatron 175B (SP + selective)"
TRAIN_TOKENS = 300e9  # GPT-3's training tokens (Brown et al. 2020, Table 2.2)


def days_to_train(
    step_seconds: float, global_batch: int, seq_len: int, tokens: float = TRAIN_TOKENS
) -> float:
    """Days to train on ``tokens`` tokens at ``global_batch`` x ``seq_len`` tokens per step."""
    step = check_real("step_seconds", step_seconds, strict=True)
    batch = check_int("global_batch", global_batch)
    s = check_int("seq_len", seq_len)
    total = check_real("tokens", tokens, strict=True)
    return total / (batch * s) * step / 86400


def training_side(max_micro_batch: int = 4) -> dict:
    """The published GPT-3 175B run (:data:`TRAIN_RUN`) against the planner's pick with the same
    features: step times (predicted and measured), memory, days for 300 B tokens."""

    run = get_run(TRAIN_RUN)
    row = optimum.practice_comparison([run], max_micro_batch=max_micro_batch)[0]
    cluster = pm.run_cluster(run)
    theirs = pm.step_time(
        run.model, cluster, optimum.run_candidate(run).config(run.global_batch, run.seq_len)
    )
    best = row["plan"].best
    tokens_step = run.global_batch * run.seq_len
    flops = 6 * run.model.total_params * tokens_step  # not including attention
    measured = run.measured_step_time or (
        pm.model_flops_per_step(run.model, pm.run_config(run))
        / (run.measured_tflops_per_gpu * 1e12 * run.num_gpus)
    )
    return {
        "run": run,
        "theirs": row["theirs"],
        "ours": row["ours"],
        "theirs_step": theirs.step_time,
        "ours_step": best.step_time,
        "measured_step": measured,
        "theirs_peak": max(row["total"] for row in theirs.memory),
        "ours_peak": best.peak_bytes,
        "theirs_result": theirs,
        "best": best,
        "flops_6n": flops,
        "days_measured": days_to_train(measured, run.global_batch, run.seq_len),
        "days_theirs": days_to_train(theirs.step_time, run.global_batch, run.seq_len),
        "days_ours": days_to_train(best.step_time, run.global_batch, run.seq_len),
    }
