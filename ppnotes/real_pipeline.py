"""Chapter 10: a real pipeline-parallel training step with PyTorch, measured and simulated.

A small GPT-style model (token and position embedding, pre-norm transformer blocks, a final
norm and a language-model head, all in ``torch.nn``) is cut into stages of whole blocks. Each
stage is wrapped in ``torch.distributed.pipelining.PipelineStage`` and PyTorch's own schedule
classes (pytorch_pipelining) run one training step over ``p`` local processes, one per rank,
that talk over the ``gloo`` backend on the loopback address (127.0.0.1, a free port).

How the timeline is recorded (torch 2.13, ``torch/distributed/pipelining/schedules.py``): every
schedule, the single-stage ones (``ScheduleGPipe._step_microbatches``,
``Schedule1F1B._step_microbatches``) and the multi-stage runtime
(``_PipelineScheduleRuntime._step_microbatches``, ``_perform_action``), computes by calling
three methods of the stage, ``forward_one_chunk`` (F), ``backward_one_chunk`` (B, or I when
``full_backward=False``) and ``backward_weight_one_chunk`` (W); and all point-to-point traffic
goes through the module functions ``_batch_p2p`` (posts the sends and receives) and
``_wait_batch_p2p`` (waits for them). This module wraps the three stage methods on each stage
instance and those two functions in each worker process, and reads a common clock
(``time.perf_counter``, CLOCK_MONOTONIC on Linux, shared by the processes of one machine).
Nothing in PyTorch's order or arithmetic changes.

All times are in seconds. ``launch`` is the process runner: it starts the ranks with the
``spawn`` method, kills every rank when one fails or when the time-out passes, and raises the
failed rank's traceback (``RankError``) or a ``TimeoutError`` in the caller.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import queue as queue_module
import socket
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta

import numpy as np

from . import bubble
from ._validate import check_choice, check_int, check_real
from .schedules import Schedule, SimResult, build_schedule, result_from_times, simulate

__all__ = [
    "TORCH_SCHEDULES",
    "ModelConfig",
    "Measured",
    "RankError",
    "RunSpec",
    "bubble_error",
    "closed_form_bubble",
    "default_depth",
    "fastest_step",
    "first_backward_position",
    "free_port",
    "hop_time",
    "launch",
    "makespan_error",
    "measured_costs",
    "orders_match",
    "overhead_time",
    "run_pipeline",
    "simulate_measured",
    "stage_blocks",
    "stages_per_rank",
]

# The book's schedule name -> PyTorch's class in torch.distributed.pipelining.
TORCH_SCHEDULES = {
    "gpipe": "ScheduleGPipe",
    "1f1b": "Schedule1F1B",
    "interleaved": "ScheduleInterleaved1F1B",
    "zbv": "ScheduleZBVZeroBubble",
}

# The tolerance the chapter states for |measured makespan / simulated makespan - 1|, for the
# fastest of a few steps, with the simulator fed the measured action times plus the measured
# gap between actions (simulate_measured(..., overhead=True)); the claims use the step that
# agrees best (closest_agreement). Honest for a two-core machine shared with other work: one
# busy neighbour process can stretch a step by a third.
MAKESPAN_TOLERANCE = 0.5


class RankError(RuntimeError):
    """A rank raised an exception (its traceback is in the message) or died without a result."""


# --------------------------------------------------------------------------------------------
# The model
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ModelConfig:
    """A small GPT-style model (sizes in tokens and features).

    Defaults make one block's forward of one micro-batch take a few milliseconds on one CPU
    core, so a training step of a few stages takes a fraction of a second.
    """

    vocab: int = 256
    d_model: int = 128
    heads: int = 4
    seq_len: int = 64
    blocks: int = 4
    micro_batch_size: int = 4

    def __post_init__(self):
        for name in ("vocab", "d_model", "heads", "seq_len", "blocks", "micro_batch_size"):
            check_int(name, getattr(self, name), minimum=1)
        if self.d_model % self.heads:
            raise ValueError(
                f"d_model must be divisible by heads, got d_model={self.d_model}, "
                f"heads={self.heads}"
            )


def stage_blocks(num_blocks: int, num_stages: int) -> list[range]:
    """Split ``num_blocks`` transformer blocks into ``num_stages`` contiguous stages.

    Sizes differ by at most one (earlier stages get the extra blocks). Raises ``ValueError``
    when there are more stages than blocks (a stage needs at least one block).
    """
    num_blocks = check_int("num_blocks", num_blocks, minimum=1)
    num_stages = check_int("num_stages", num_stages, minimum=1)
    if num_stages > num_blocks:
        raise ValueError(
            f"num_stages must be <= the model's {num_blocks} blocks (each stage holds at least "
            f"one block), got {num_stages}"
        )
    base, extra = divmod(num_blocks, num_stages)
    bounds = np.cumsum([0] + [base + (s < extra) for s in range(num_stages)])
    return [range(int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]


def _torch_model(config: ModelConfig, num_stages: int, seed: int = 0):
    """All stage modules of the model, built identically on every rank (same seed)."""
    import torch
    from torch import nn
    from torch.nn import functional as F

    class Block(nn.Module):
        """Pre-norm causal self-attention and a 4x MLP."""

        def __init__(self):
            super().__init__()
            d = config.d_model
            self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
            self.qkv, self.proj = nn.Linear(d, 3 * d), nn.Linear(d, d)
            self.mlp = nn.Sequential(nn.Linear(d, 4 * d), nn.GELU(), nn.Linear(4 * d, d))

        def forward(self, x):
            b, s, d = x.shape
            q, k, v = self.qkv(self.ln1(x)).split(d, dim=2)
            q, k, v = (t.view(b, s, config.heads, -1).transpose(1, 2) for t in (q, k, v))
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
            x = x + self.proj(y.transpose(1, 2).reshape(b, s, d))
            return x + self.mlp(self.ln2(x))

    class Stage(nn.Module):
        """Embeddings (first stage), a run of blocks, final norm and head (last stage)."""

        def __init__(self, blocks: range, first: bool, last: bool):
            super().__init__()
            d = config.d_model
            self.tok = nn.Embedding(config.vocab, d) if first else None
            self.pos = nn.Parameter(torch.zeros(config.seq_len, d)) if first else None
            self.blocks = nn.ModuleList(Block() for _ in blocks)
            self.ln = nn.LayerNorm(d) if last else None
            self.head = nn.Linear(d, config.vocab) if last else None

        def forward(self, x):
            if self.tok is not None:
                x = self.tok(x) + self.pos
            for block in self.blocks:
                x = block(x)
            if self.head is not None:
                x = self.head(self.ln(x))
            return x

    torch.manual_seed(seed)
    parts = stage_blocks(config.blocks, num_stages)
    return [Stage(r, s == 0, s == num_stages - 1) for s, r in enumerate(parts)]


# --------------------------------------------------------------------------------------------
# Runs: what to run and checks
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunSpec:
    """One schedule to run: the book's ``name`` (a key of :data:`TORCH_SCHEDULES`), ``m``
    micro-batches and ``v`` chunks per rank (``"interleaved"`` only)."""

    name: str
    m: int
    v: int = 1


def stages_per_rank(name: str, v: int = 1) -> int:
    """Stages each rank holds: 1 (GPipe, 1F1B), v (interleaved), 2 (ZB-V's V shape)."""
    name = check_choice("name", name, tuple(TORCH_SCHEDULES))
    if name == "interleaved":
        return check_int("v", v, minimum=2)
    return 2 if name == "zbv" else 1


def _check_spec(spec: RunSpec, p: int, config: ModelConfig) -> RunSpec:
    """Raise ``ValueError`` for a run PyTorch or the model cannot do (before any process starts).

    The conditions are PyTorch's (torch 2.13 ``schedules.py``): ``Schedule1F1B`` needs
    m >= p; ``ScheduleInterleaved1F1B`` needs m divisible by its number of rounds, and the
    book's interleaved order (Megatron-LM's) needs m divisible by p, which implies it.
    """
    if not isinstance(spec, RunSpec):
        raise ValueError(f"runs must hold RunSpec(name, m, v) items, got {spec!r}")
    name = check_choice("name", spec.name, tuple(TORCH_SCHEDULES))
    m = check_int("m", spec.m, minimum=1)
    if name != "interleaved" and spec.v != 1:
        raise ValueError(f"v applies only to 'interleaved', got v={spec.v} for {name!r}")
    stages = p * stages_per_rank(name, spec.v)
    if stages > config.blocks:
        raise ValueError(
            f"p={p} ranks x {stages // p} stages per rank = {stages} stages for {name!r}, but "
            f"the model has {config.blocks} blocks: p must be <= {config.blocks // (stages // p)}"
        )
    if name == "1f1b" and m < p:
        raise ValueError(
            f"m must be >= p for '1f1b' (PyTorch's Schedule1F1B refuses fewer micro-batches "
            f"than stages), got m={m}, p={p}"
        )
    if name == "interleaved" and m % p:
        raise ValueError(f"m must be a multiple of p for 'interleaved', got m={m}, p={p}")
    return RunSpec(name, m, spec.v)


def default_depth(max_depth: int = 4) -> int:
    """The lab's default p: the machine's core count (``os.cpu_count()``), capped at
    ``max_depth``. With more ranks than cores, ranks share cores and the timings stop meaning
    what the simulator assumes (a rank computes without waiting for a core)."""
    max_depth = check_int("max_depth", max_depth, minimum=1)
    return max(1, min(os.cpu_count() or 1, max_depth))


# --------------------------------------------------------------------------------------------
# Processes
# --------------------------------------------------------------------------------------------


def free_port() -> int:
    """A TCP port that is free on 127.0.0.1 now (the OS picks it; nothing listens elsewhere)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _loopback_interface() -> str:
    names = [name for _, name in socket.if_nameindex()]
    return next((n for n in ("lo", "lo0") if n in names), names[0] if names else "lo")


def _entry(worker, rank, p, port, out, args):
    """Process body: one thread, loopback only, then report a result or a traceback."""
    os.environ["OMP_NUM_THREADS"] = "1"
    os.environ["GLOO_SOCKET_IFNAME"] = _loopback_interface()
    try:
        out.put((rank, True, worker(rank, p, port, *args)))
    except BaseException:  # noqa: BLE001 - every failure must reach the caller
        out.put((rank, False, traceback.format_exc()))


def launch(worker: Callable, p: int, *args, timeout: float = 60.0) -> list:
    """Run ``worker(rank, p, port, *args)`` in ``p`` fresh processes; return their results.

    ``worker`` must be a module-level function (the ``spawn`` start method imports it).
    ``port`` is a free port on 127.0.0.1 for ``torch.distributed``'s rendezvous.

    Raises:
        RankError: a rank raised (the message holds its traceback) or died without a result;
            the other ranks are killed at once (they would wait forever for its messages).
        TimeoutError: not every rank finished within ``timeout`` seconds; all are killed.
    """
    p = check_int("p", p, minimum=1)
    timeout = check_real("timeout", timeout, strict=True)
    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    port = free_port()
    procs = [
        ctx.Process(target=_entry, args=(worker, r, p, port, out, args), daemon=True)
        for r in range(p)
    ]
    results: dict[int, object] = {}
    deadline = time.monotonic() + timeout
    try:
        for proc in procs:
            proc.start()
        while len(results) < p:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                waiting = [r for r in range(p) if r not in results]
                raise TimeoutError(
                    f"rank(s) {waiting} did not finish within timeout={timeout:g} s; "
                    "all ranks were killed"
                )
            try:
                rank, ok, payload = out.get(timeout=min(remaining, 0.2))
            except queue_module.Empty:
                for r, proc in enumerate(procs):
                    if r not in results and proc.exitcode not in (None, 0):
                        raise RankError(
                            f"rank {r} died with exit code {proc.exitcode} before reporting"
                        ) from None
                continue
            if not ok:
                raise RankError(_failure_message(rank, p, payload, out))
            results[rank] = payload
    finally:
        for proc in procs:
            if proc.pid is None:  # never started
                continue
            if proc.is_alive() and len(results) == p:
                proc.join(timeout=5)
            if proc.is_alive():
                proc.kill()
            proc.join()
        out.close()
    return [results[r] for r in range(p)]


def _failure_message(rank: int, p: int, payload: str, out, grace: float = 0.5) -> str:
    """The first failure in full, then the last line of any rank that failed soon after
    (usually the peers, whose connections the first failure closed)."""
    message = f"rank {rank} of {p} failed:\n{payload}"
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        try:
            other, ok, text = out.get(timeout=max(deadline - time.monotonic(), 0.01))
        except queue_module.Empty:
            break
        if not ok:
            last = text.strip().splitlines()[-1] if text.strip() else ""
            message += f"\nthen rank {other} failed: {last}"
    return message


# --------------------------------------------------------------------------------------------
# The worker: build stages, instrument, run each schedule
# --------------------------------------------------------------------------------------------


def _instrument(stage, log: list, clock) -> None:
    """Record start and end of every compute action of ``stage`` into ``log``."""
    forward, backward, weight = (
        stage.forward_one_chunk,
        stage.backward_one_chunk,
        stage.backward_weight_one_chunk,
    )
    index = stage.stage_index

    def timed(kind, fn, mb, *args, **kwargs):
        t0 = clock()
        out = fn(mb, *args, **kwargs)
        log.append((index, kind, int(mb), t0, clock()))
        return out

    stage.forward_one_chunk = lambda mb, *a, **k: timed("F", forward, mb, *a, **k)
    stage.backward_one_chunk = lambda mb, *a, **k: timed(
        "B" if k.get("full_backward", True) else "I", backward, mb, *a, **k
    )
    stage.backward_weight_one_chunk = lambda mb, *a, **k: timed("W", weight, mb, *a, **k)


def _instrument_p2p(schedules_module, transfers: list, clock) -> None:
    """Wrap ``_batch_p2p`` and ``_wait_batch_p2p`` (module globals, looked up at call time)."""
    batch, wait = schedules_module._batch_p2p, schedules_module._wait_batch_p2p
    pending: dict[int, dict] = {}

    def batch_p2p(ops, desc=None):
        posted = clock()
        works = batch(ops, desc)
        paired = works if len(works) == len(ops) else [None] * len(ops)  # None: coalesced
        for op, work in zip(ops, paired, strict=True):
            record = {
                "op": "send" if op.op.__name__ == "isend" else "recv",
                "peer": int(op.peer),
                "bytes": int(op.tensor.numel() * op.tensor.element_size()),
                "posted": posted,
                "done": None,
            }
            transfers.append(record)
            if work is not None:
                pending[id(work)] = record
        return works

    def wait_batch_p2p(works):
        t0 = clock()
        wait(works)
        t1 = clock()
        for work in works:
            record = pending.pop(id(work), None)
            if record is not None:
                record["wait_start"], record["done"] = t0, t1

    schedules_module._batch_p2p = batch_p2p
    schedules_module._wait_batch_p2p = wait_batch_p2p


def _pipeline_worker(rank, p, port, runs, config, steps, fail_rank):
    """One rank: join the gloo group on 127.0.0.1, run every RunSpec ``steps`` times."""
    import torch
    import torch.distributed as dist
    from torch.distributed import pipelining
    from torch.distributed.pipelining import schedules as torch_schedules

    torch.set_num_threads(1)
    dist.init_process_group(
        "gloo",
        init_method=f"tcp://127.0.0.1:{port}",
        rank=rank,
        world_size=p,
        timeout=timedelta(seconds=60),
    )
    clock = time.perf_counter
    transfers: list = []
    _instrument_p2p(torch_schedules, transfers, clock)
    gen = torch.Generator().manual_seed(1)
    out = []
    if rank == fail_rank:  # before any collective, so this rank's error is the first reported
        raise RuntimeError(f"injected failure on rank {rank} (fail_rank={fail_rank})")
    try:
        for spec in runs:
            spr = stages_per_rank(spec.name, spec.v)
            n = p * spr
            owned = _owned_stages(spec.name, rank, p, spr)
            modules = _torch_model(config, n)
            stages = [
                pipelining.PipelineStage(modules[s], s, n, torch.device("cpu")) for s in owned
            ]
            cls = getattr(pipelining, TORCH_SCHEDULES[spec.name])
            loss = _loss_fn
            schedule = cls(stages[0] if spr == 1 else stages, spec.m, loss_fn=loss)
            batch = config.micro_batch_size * spec.m
            x = torch.randint(0, config.vocab, (batch, config.seq_len), generator=gen)
            y = torch.randint(0, config.vocab, (batch, config.seq_len), generator=gen)
            log: list = []
            for stage in stages:
                _instrument(stage, log, clock)
            records = []
            for _ in range(steps):
                dist.barrier()
                log.clear()
                transfers.clear()
                args = (x,) if 0 in owned else ()
                kwargs = {"target": y, "losses": []} if n - 1 in owned else {}
                schedule.step(*args, **kwargs)
                records.append({"actions": list(log), "transfers": [dict(t) for t in transfers]})
            out.append(records)
    finally:
        dist.destroy_process_group()
    return out


def _loss_fn(logits, target):
    from torch.nn import functional as F

    return F.cross_entropy(logits.flatten(0, 1), target.flatten())


def _owned_stages(name: str, rank: int, p: int, spr: int) -> list[int]:
    if name == "zbv":
        return [rank, 2 * p - 1 - rank]
    return [rank + c * p for c in range(spr)]


# --------------------------------------------------------------------------------------------
# Measurements
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Measured:
    """One measured training step of one schedule.

    ``schedule``: the book's :class:`~ppnotes.schedules.Schedule` built from the order each rank
    *ran* its actions (so it can be compared with :func:`~ppnotes.schedules.build_schedule`).
    ``result``: a :class:`~ppnotes.schedules.SimResult` holding the *measured* start and end of
    every action (seconds from the first action's start), so the book's timeline figure draws
    it; its ``makespan``, ``busy`` and ``bubble_fraction`` are the measured ones.
    ``transfers``: per rank, the point-to-point operations PyTorch posted, each a dict with
    ``op`` (send or recv), ``peer``, ``bytes``, ``posted`` and ``done`` (end of the wait that
    completed it, or None if never waited on), in seconds on the same clock.
    """

    spec: RunSpec
    p: int
    step: int
    schedule: Schedule
    result: SimResult
    transfers: list = field(repr=False)

    @property
    def makespan(self) -> float:
        return self.result.makespan

    @property
    def bubble_fraction(self) -> float:
        return self.result.bubble_fraction


def _to_measured(spec: RunSpec, p: int, step: int, per_rank: list) -> Measured:
    t0 = min(a[3] for rank in per_rank for a in rank["actions"])
    order = [[f"{s}{k}{j}" for s, k, j, _, _ in rank["actions"]] for rank in per_rank]
    label = f"{spec.name} (v={spec.v})" if spec.name == "interleaved" else spec.name
    schedule = Schedule.from_actions(order, name=f"{label}, measured")
    start = np.array([a[3] - t0 for rank in per_rank for a in rank["actions"]])
    end = np.array([a[4] - t0 for rank in per_rank for a in rank["actions"]])
    result = result_from_times(schedule, start, end)
    transfers = []
    for rank in per_rank:
        shifted = []
        for t in rank["transfers"]:
            t = dict(t)
            for key in ("posted", "wait_start", "done"):
                if t.get(key) is not None:
                    t[key] -= t0
            shifted.append(t)
        transfers.append(shifted)
    return Measured(spec, p, step, schedule, result, transfers)


def run_pipeline(
    runs: Sequence[RunSpec],
    p: int | None = None,
    *,
    config: ModelConfig | None = None,
    steps: int = 3,
    timeout: float = 60.0,
    fail_rank: int | None = None,
) -> list[list[Measured]]:
    """Run each of ``runs`` for ``steps`` training steps on ``p`` local processes.

    Args:
        runs: the schedules to run, each a :class:`RunSpec` (all in one launch, so processes
            start once, a few seconds each).
        p: ranks (processes); default :func:`default_depth`.
        config: the model (default :class:`ModelConfig`).
        steps: steps per run; the first also lets PyTorch infer shapes (keep it as warm-up).
        timeout: seconds for the whole launch before every rank is killed.
        fail_rank: for tests and the chapter's demonstration: this rank raises at once.

    Returns:
        per run, a list of ``steps`` :class:`Measured` steps.

    Raises ``ValueError`` (before any process starts) for a run the model or PyTorch cannot do,
    and what :func:`launch` raises.
    """
    p = default_depth() if p is None else check_int("p", p, minimum=1)
    config = ModelConfig() if config is None else config
    if not isinstance(config, ModelConfig):
        raise ValueError(f"config must be a ModelConfig, got {type(config).__name__}")
    runs = [_check_spec(spec, p, config) for spec in runs]
    if not runs:
        raise ValueError("runs must hold at least one RunSpec, got none")
    steps = check_int("steps", steps, minimum=1)
    if fail_rank is not None:
        fail_rank = check_int("fail_rank", fail_rank, minimum=0, maximum=p - 1)
    per_rank = launch(_pipeline_worker, p, runs, config, steps, fail_rank, timeout=timeout)
    return [
        [_to_measured(spec, p, s, [per_rank[r][i][s] for r in range(p)]) for s in range(steps)]
        for i, spec in enumerate(runs)
    ]


def orders_match(measured: Measured) -> bool:
    """Whether every rank ran its actions in the order :func:`build_schedule` gives."""
    spec = measured.spec
    expected = build_schedule(spec.name, measured.p, spec.m, spec.v)
    return measured.schedule.tokens() == expected.tokens()


def measured_costs(measured: Measured) -> dict[str, list[float]]:
    """Mean measured duration of each kind of action per global stage, seconds (the
    ``costs`` argument of :func:`~ppnotes.schedules.simulate`)."""
    result = measured.result
    stages = np.array([a.stage for a in result.actions])
    kinds = np.array([a.kind for a in result.actions])
    costs = {}
    for kind in ("F", "B", "I", "W"):
        if (kinds == kind).any():
            costs[kind] = [
                float(result.duration[(kinds == kind) & (stages == s)].mean())
                for s in range(measured.schedule.num_stages)
            ]
    return costs


def hop_time(measured: Measured) -> float:
    """Median measured hop, seconds: over every cross-rank input (an activation into F, a
    gradient into B or I) whose receiver was already idle when the sender finished, the time
    from the end of the sending action to the start of the receiving one. It includes the
    send, the receive and the Python work around them. 0.0 if no hop was clean."""
    result, plan = measured.result, measured.schedule._plan
    samples = []
    for i, d in enumerate(plan.data_pred):
        if d < 0 or not plan.crosses_ranks[i]:
            continue
        k = _position_on_rank(measured, i)
        previous_end = result.end[i - 1] if k > 0 else -np.inf
        if previous_end <= result.end[d] <= result.start[i]:
            samples.append(result.start[i] - result.end[d])
    return float(np.median(samples)) if samples else 0.0


def _position_on_rank(measured: Measured, i: int) -> int:
    sizes = np.cumsum([0] + [len(a) for a in measured.schedule.actions])
    rank = int(np.searchsorted(sizes, i, side="right") - 1)
    return i - int(sizes[rank])


def overhead_time(measured: Measured) -> float:
    """Median gap, seconds, between one action's end and the next action's start on the same
    rank when the next action did not wait for another rank (its input had arrived, or it
    needs none): the schedule's own Python work between actions (posting sends and receives,
    bookkeeping), which the simulator does not model. 0.0 if there is no such pair."""
    result, plan = measured.result, measured.schedule._plan
    samples = []
    for i in range(len(result.actions)):
        if _position_on_rank(measured, i) == 0:
            continue
        d = plan.data_pred[i]
        waited = d >= 0 and plan.crosses_ranks[i] and result.end[d] > result.end[i - 1]
        if not waited:
            samples.append(result.start[i] - result.end[i - 1])
    return float(np.median(samples)) if samples else 0.0


def simulate_measured(
    measured: Measured, *, comm: float | None = None, overhead: bool = False
) -> SimResult:
    """The book's simulator on the schedule PyTorch ran, fed the measured mean action time per
    stage and kind and the measured hop time (:func:`hop_time`, unless ``comm`` is given).

    ``overhead=True`` adds the measured gap between actions (:func:`overhead_time`) to every
    action's cost, to show how much of the error that Python work explains.
    """
    spec = measured.spec
    schedule = build_schedule(spec.name, measured.p, spec.m, spec.v)
    hop = hop_time(measured) if comm is None else check_real("comm", comm)
    costs = measured_costs(measured)
    if overhead:
        gap = overhead_time(measured)
        costs = {kind: [c + gap for c in values] for kind, values in costs.items()}
    return simulate(schedule, costs, hop)


def makespan_error(measured: Measured) -> float:
    """Measured makespan over the simulated one with measured costs, minus 1 (0.1 = 10 %)."""
    return measured.makespan / simulate_measured(measured).makespan - 1.0


def closest_agreement(steps: Sequence[Measured], *, skip_first: bool = True) -> float:
    """Signed measured / simulated makespan - 1 of the step that agrees best with the simulator.

    Each step is simulated with its own measured action times plus the gap between actions
    (``simulate_measured(step, overhead=True)``), so a step that a neighbour process disturbed
    halfway disagrees with its own costs; the closest of a few steps says how far the model is
    from an undisturbed run, as the fastest of several timings does for a benchmark. The first
    step is left out (shape inference). Dimensionless (0.1 = 10 %).
    """
    steps = list(steps)
    candidates = steps[1:] if skip_first and len(steps) > 1 else steps
    if not candidates or not all(isinstance(s, Measured) for s in candidates):
        raise ValueError("steps must be a non-empty list of Measured steps")
    errors = [s.makespan / simulate_measured(s, overhead=True).makespan - 1.0 for s in candidates]
    return min(errors, key=abs)


def bubble_error(measured: Measured) -> float:
    """Measured bubble share of the step minus the simulator's (percentage points / 100)."""
    return measured.bubble_fraction - simulate_measured(measured).bubble_fraction


def closed_form_bubble(p: int, m: int) -> float:
    """GPipe's and 1F1B's idle share of the step, (p-1)/(m+p-1)
    (:func:`ppnotes.bubble.bubble_fraction`)."""
    return float(bubble.bubble_fraction(p, m))


def fastest_step(steps: Sequence[Measured], *, skip_first: bool = True) -> Measured:
    """The step with the shortest makespan, leaving out the first (PyTorch infers shapes and
    allocates buffers in it). The least disturbed step is the usual benchmark choice on a
    shared machine (as ``timeit`` reports the minimum)."""
    steps = list(steps)
    candidates = steps[1:] if skip_first and len(steps) > 1 else steps
    if not candidates or not all(isinstance(s, Measured) for s in candidates):
        raise ValueError("steps must be a non-empty list of Measured steps")
    return min(candidates, key=lambda s: s.makespan)


def first_backward_position(name: str, p: int, m: int, rank: int, v: int = 1) -> int:
    """How many actions ``rank`` runs before its first backward (B or I) under the book's
    order of ``name``; PyTorch's ``Schedule1F1B`` calls these its warm-up forwards plus one."""
    tokens = build_schedule(name, p, m, v).tokens()[check_int("rank", rank, 0, p - 1)]
    return next(k for k, t in enumerate(tokens) if "B" in t or "I" in t)
