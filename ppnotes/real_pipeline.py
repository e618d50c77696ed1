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
failed rank's traceback (``RankError``) or a ``TimeoutError`` in the caller. Ranks end with
their parent: each sets ``PR_SET_PDEATHSIG`` (Linux) and runs a watchdog thread that exits
when the parent is gone, so a restarted kernel or a ``kill -9`` leaves no orphans; a rank
stopped by SIGTERM says who sent it and why.

**Is a measurement clean?** A busy machine stretches actions and steps, and the stretch looks
like bubble. Each rank therefore also reads its own CPU clock (``time.thread_time``) around
every action: on a machine with a free core per rank an action's CPU time equals its wall time;
when other work takes the core, the wall time grows and the CPU time does not. With the spread
of repeated identical steps this decides, per run, whether the run is clean enough to support a
claim (:func:`judge`). A quiet reference run ships with the package
(``ppnotes/data/lab_reference.json``, :func:`load_reference`), regenerated with
``python -m ppnotes.real_pipeline --reference ppnotes/data/lab_reference.json``.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import pickle
import platform
import queue as queue_module
import signal
import socket
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from . import _rank, bubble
from ._validate import check_choice, check_int, check_real
from .schedules import Schedule, SimResult, build_schedule, result_from_times, simulate

__all__ = [
    "MAKESPAN_TOLERANCE",
    "MAX_STEP_SPREAD",
    "MIN_CPU_SHARE",
    "REFERENCE_PATH",
    "TORCH_SCHEDULES",
    "Claim",
    "LabPlan",
    "Measured",
    "ModelConfig",
    "RankError",
    "RunSpec",
    "Verdict",
    "available_cores",
    "bubble_error",
    "busy_box_html",
    "closed_form_bubble",
    "cpu_share",
    "default_depth",
    "first_backward_position",
    "free_port",
    "headline_numbers",
    "hop_time",
    "judge",
    "lab_claims",
    "lab_plan",
    "launch",
    "load_reference",
    "machine_info",
    "makespan_error",
    "measured_costs",
    "median_agreement",
    "median_step",
    "orders_match",
    "overhead_time",
    "run_lab",
    "run_pipeline",
    "run_verdict",
    "simulate_measured",
    "spread",
    "stage_blocks",
    "stages_per_rank",
    "step_spread",
    "summarize",
]

# The book's schedule name -> PyTorch's class in torch.distributed.pipelining.
TORCH_SCHEDULES = {
    "gpipe": "ScheduleGPipe",
    "1f1b": "Schedule1F1B",
    "interleaved": "ScheduleInterleaved1F1B",
    "zbv": "ScheduleZBVZeroBubble",
}

# The tolerance the chapter states for |measured makespan / simulated makespan - 1|, the median
# over the measured steps of a run, with the simulator fed each step's measured action times
# plus the measured gap between actions (simulate_measured(..., overhead=True)); asserted only
# for runs the machine check calls clean (judge).
MAKESPAN_TOLERANCE = 0.5

# The machine check (judge): a run is clean when every rank got at least this share of CPU
# time during its actions (thread CPU time / wall time, median over the measured steps) ...
MIN_CPU_SHARE = 0.9
# ... and repeated identical steps agree: interquartile range of their makespans over the median.
# Measured on this 2-core machine: 1-11 % when the cores were idle (the multi-stage schedules,
# whose actions are shortest, spread most), 13-66 % while other sessions were running.
MAX_STEP_SPREAD = 0.15

# Where the quiet reference run lives (read relative to this file, shipped as package data).
REFERENCE_PATH = Path(__file__).resolve().parent / "data" / "lab_reference.json"


class RankError(RuntimeError):
    """A rank raised an exception (its traceback is in the message) or died without a result."""


# --------------------------------------------------------------------------------------------
# The model
# --------------------------------------------------------------------------------------------


# Upper bounds for a model that one CPU core trains in seconds, not hours (a clear error instead).
_CONFIG_LIMITS = {
    "vocab": 1 << 17,
    "d_model": 4096,
    "heads": 256,
    "seq_len": 4096,
    "blocks": 128,
    "micro_batch_size": 1024,
}


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
        for name, top in _CONFIG_LIMITS.items():
            check_int(name, getattr(self, name), minimum=1, maximum=top)
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

    def __post_init__(self):
        check_choice("name", self.name, tuple(TORCH_SCHEDULES))
        check_int("m", self.m, minimum=1, maximum=1024)
        check_int("v", self.v, minimum=1, maximum=64)


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
        raise TypeError(f"runs must hold RunSpec(name, m, v) items, got {spec!r}")
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


def available_cores() -> int:
    """Cores this process may run on (``os.sched_getaffinity`` where it exists, else
    ``os.cpu_count()``), at least 1. A container or ``taskset`` can give fewer than the
    machine has."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def default_depth(max_depth: int = 4, cores: int | None = None) -> int:
    """The lab's default p: one rank per core, leaving one core for the notebook when the
    machine has more than two, capped at ``max_depth``; at least 2 (the smallest pipeline)
    when there are 2 cores or more, else 1.

    ``cores`` defaults to :func:`available_cores`. With more ranks than cores, ranks share
    cores and the timings stop meaning what the simulator assumes (a rank computes without
    waiting for a core). On two cores the notebook's kernel sleeps while the ranks run (it
    waits on a queue), so both cores go to the ranks.
    """
    max_depth = check_int("max_depth", max_depth, minimum=1, maximum=64)
    cores = available_cores() if cores is None else check_int("cores", cores, maximum=4096)
    if cores < 2:
        return 1
    return max(1, min(max_depth, max(2, cores - 1)))


# --------------------------------------------------------------------------------------------
# Processes
# --------------------------------------------------------------------------------------------


def free_port() -> int:
    """A TCP port that is free on 127.0.0.1 now (the OS picks it; nothing listens elsewhere)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def launch(worker: Callable, p: int, *args, timeout: float = 60.0) -> list:
    """Run ``worker(rank, p, port, *args)`` in ``p`` fresh processes; return their results.

    ``worker`` must be a module-level function (the ``spawn`` start method imports it).
    ``port`` is a free port on 127.0.0.1 for ``torch.distributed``'s rendezvous.

    The ranks end with the caller: each asks Linux for SIGKILL when its parent dies and checks
    every 0.5 s that its parent is alive. When the launcher stops the ranks (a rank failed, the
    time-out passed, the caller was interrupted) it sends SIGTERM with the reason, which each
    rank prints on its standard error, then SIGKILL to any rank still alive 3 s later. A rank
    stopped by a SIGTERM from elsewhere reports the sender, and the caller gets it as a
    ``RankError``.

    Raises:
        RankError: a rank raised (the message holds its traceback), died without a result or
            was terminated from outside; the other ranks are stopped at once (they would wait
            forever for its messages).
        TimeoutError: not every rank finished within ``timeout`` seconds; all are stopped.
    """
    if not callable(worker):
        raise TypeError(f"worker must be a module-level function, got {worker!r}")
    p = check_int("p", p, minimum=1, maximum=256)
    timeout = check_real("timeout", timeout, maximum=86400.0, strict=True)
    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    port = free_port()
    try:
        payload = pickle.dumps((worker, args))
    except (pickle.PicklingError, AttributeError, TypeError) as error:
        raise TypeError(
            f"worker must be a module-level function and args picklable, got {worker!r}: {error}"
        ) from None
    reason = ctx.Array("c", 512, lock=False)
    procs = [
        ctx.Process(
            target=_rank.entry,
            args=(payload, r, p, port, out, os.getpid(), reason),
            daemon=True,
        )
        for r in range(p)
    ]
    results: dict[int, object] = {}
    deadline = time.monotonic() + timeout
    cause = "the caller stopped the launch (an exception or an interrupt in the caller)"
    try:
        with _single_threaded_children():
            for proc in procs:
                proc.start()
        while len(results) < p:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                waiting = [r for r in range(p) if r not in results]
                cause = f"the time-out of {timeout:g} s passed before rank(s) {waiting} finished"
                raise TimeoutError(
                    f"rank(s) {waiting} did not finish within timeout={timeout:g} s; "
                    "all ranks were stopped"
                )
            try:
                rank, ok, payload = out.get(timeout=min(remaining, 0.2))
            except queue_module.Empty:
                dead = [
                    r
                    for r, proc in enumerate(procs)
                    if r not in results and proc.exitcode not in (None, 0)
                ]
                if not dead:
                    continue
                # a rank that dies may have said why just before: read the queue once more
                try:
                    rank, ok, payload = out.get(timeout=0.5)
                except queue_module.Empty:
                    r = dead[0]
                    cause = f"rank {r} died with exit code {procs[r].exitcode}"
                    raise RankError(_death_message(r, p, procs[r].exitcode)) from None
            if not ok:
                cause = f"rank {rank} failed (its error is raised in the caller)"
                raise RankError(_failure_message(rank, p, payload, out))
            results[rank] = payload
    finally:
        _stop(procs, reason, cause, finished=len(results) == p)
        out.close()
    return [results[r] for r in range(p)]


@contextmanager
def _single_threaded_children():
    """Start children with one numerical thread each (they inherit the environment): no
    thread pool starts before a rank blocks SIGTERM, and ranks do not compete for cores."""
    names = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
    saved = {name: os.environ.get(name) for name in names}
    os.environ.update(dict.fromkeys(names, "1"))
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _death_message(rank: int, p: int, exitcode: int) -> str:
    if exitcode in (-signal.SIGTERM, 128 + signal.SIGTERM):
        return (
            f"rank {rank} of {p} was terminated by SIGTERM (exit code {exitcode}) before "
            "reporting; the launcher did not send it (see the rank's message on standard error)"
        )
    if exitcode == -signal.SIGKILL:
        return (
            f"rank {rank} of {p} was killed by SIGKILL before reporting (out of memory, or "
            "killed by another process)"
        )
    return f"rank {rank} of {p} died with exit code {exitcode} before reporting"


def _stop(procs, reason, cause: str, finished: bool) -> None:
    """End every started rank: join them when all finished, otherwise SIGTERM with ``cause``
    (each rank prints it), then SIGKILL after 3 s."""
    started = [proc for proc in procs if proc.pid is not None]
    if finished:
        for proc in started:
            proc.join(timeout=5)
    alive = [proc for proc in started if proc.is_alive()]
    if alive:
        reason.value = cause.encode()[: len(reason) - 1]
        for proc in alive:
            proc.terminate()
        deadline = time.monotonic() + 3.0
        for proc in alive:
            proc.join(timeout=max(deadline - time.monotonic(), 0.01))
    for proc in started:
        if proc.is_alive():
            proc.kill()
        proc.join()


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
    """Record start and end of every compute action of ``stage`` into ``log``, and the CPU
    time the rank's thread got during it (``time.thread_time``: what the action computed,
    without the time it waited for a core)."""
    forward, backward, weight = (
        stage.forward_one_chunk,
        stage.backward_one_chunk,
        stage.backward_weight_one_chunk,
    )
    index = stage.stage_index

    def timed(kind, fn, mb, *args, **kwargs):
        c0, t0 = time.thread_time(), clock()
        out = fn(mb, *args, **kwargs)
        t1, c1 = clock(), time.thread_time()
        log.append((index, kind, int(mb), t0, t1, c1 - c0))
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
    ``cpu``: per rank, the CPU time its thread got during its actions, seconds (compare with
    ``result.busy``, their wall time: :func:`cpu_share`); None when not recorded.
    """

    spec: RunSpec
    p: int
    step: int
    schedule: Schedule
    result: SimResult
    transfers: list = field(repr=False)
    cpu: tuple | None = field(default=None, repr=False)

    def __post_init__(self):
        _check_type("spec", self.spec, RunSpec)
        check_int("p", self.p, minimum=1, maximum=256)
        check_int("step", self.step, minimum=0)
        _check_type("schedule", self.schedule, Schedule)
        _check_type("result", self.result, SimResult)
        if not isinstance(self.transfers, list | tuple):
            raise TypeError(
                f"transfers must be a list (per rank), got {type(self.transfers).__name__}"
            )
        if self.cpu is not None:
            if not isinstance(self.cpu, list | tuple) or len(self.cpu) != self.p:
                raise ValueError(
                    f"cpu must hold one CPU time per rank ({self.p}) or be None, got {self.cpu!r}"
                )
            object.__setattr__(
                self, "cpu", tuple(check_real("cpu", c, maximum=1e6) for c in self.cpu)
            )

    @property
    def makespan(self) -> float:
        return self.result.makespan

    @property
    def bubble_fraction(self) -> float:
        return self.result.bubble_fraction


def _to_measured(spec: RunSpec, p: int, step: int, per_rank: list) -> Measured:
    t0 = min(a[3] for rank in per_rank for a in rank["actions"])
    order = [[f"{a[0]}{a[1]}{a[2]}" for a in rank["actions"]] for rank in per_rank]
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
    cpu = tuple(float(sum(a[5] for a in rank["actions"])) for rank in per_rank)
    return Measured(spec, p, step, schedule, result, transfers, cpu)


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
        p: ranks (processes); default :func:`default_depth`. More ranks than available cores
            gives a ``RuntimeWarning`` naming both (the ranks then take turns on the cores, and
            :func:`judge` calls the run busy).
        config: the model (default :class:`ModelConfig`).
        steps: steps per run; the first also lets PyTorch infer shapes (keep it as warm-up).
        timeout: seconds for the whole launch before every rank is stopped.
        fail_rank: for tests and the chapter's demonstration: this rank raises at once.

    Returns:
        per run, a list of ``steps`` :class:`Measured` steps.

    Raises ``ValueError`` or ``TypeError`` (before any process starts) for a run the model or
    PyTorch cannot do, and what :func:`launch` raises.
    """
    p = default_depth() if p is None else check_int("p", p, minimum=1, maximum=64)
    config = ModelConfig() if config is None else _check_type("config", config, ModelConfig)
    if isinstance(runs, RunSpec | str | bytes) or not isinstance(runs, Sequence):
        raise TypeError(f"runs must be a list of RunSpec(name, m, v) items, got {runs!r}")
    runs = [_check_spec(spec, p, config) for spec in runs]
    if not runs:
        raise ValueError("runs must hold at least one RunSpec, got none")
    steps = check_int("steps", steps, minimum=1, maximum=1000)
    timeout = check_real("timeout", timeout, maximum=86400.0, strict=True)
    if fail_rank is not None:
        fail_rank = check_int("fail_rank", fail_rank, minimum=0, maximum=p - 1)
    cores = available_cores()
    if p > cores:
        warnings.warn(
            f"p={p} ranks on {cores} available cores: ranks will take turns on the cores, so "
            "the timings measure the operating system's scheduler as much as the pipeline "
            f"(use p <= {cores} to compare with the simulator)",
            RuntimeWarning,
            stacklevel=2,
        )
    per_rank = launch(_pipeline_worker, p, runs, config, steps, fail_rank, timeout=timeout)
    return [
        [_to_measured(spec, p, s, [per_rank[r][i][s] for r in range(p)]) for s in range(steps)]
        for i, spec in enumerate(runs)
    ]


def _check_type(name: str, value, cls):
    """``value`` if it is a ``cls``, else a ``TypeError`` naming ``name``."""
    if not isinstance(value, cls):
        raise TypeError(f"{name} must be a {cls.__name__}, got {type(value).__name__} {value!r}")
    return value


def _check_bool(name: str, value) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be True or False, got {value!r}")
    return value


def _check_steps(steps, skip_first) -> list[Measured]:
    """The measured steps of one run (the first left out when ``skip_first`` and there are
    more), each a :class:`Measured` of the same run."""
    skip_first = _check_bool("skip_first", skip_first)
    if isinstance(steps, Measured | str | bytes) or not isinstance(steps, Sequence):
        raise TypeError(
            f"steps must be a list of Measured steps of one run, got {type(steps).__name__}"
        )
    steps = list(steps)
    if not steps:
        raise ValueError("steps must be a non-empty list of Measured steps, got []")
    for s in steps:
        _check_type("steps (each item)", s, Measured)
    if len({(s.spec, s.p) for s in steps}) > 1:
        raise ValueError("steps must all belong to one run (one RunSpec and one p)")
    return steps[1:] if skip_first and len(steps) > 1 else steps


def orders_match(measured: Measured) -> bool:
    """Whether every rank ran its actions in the order :func:`build_schedule` gives."""
    _check_type("measured", measured, Measured)
    spec = measured.spec
    expected = build_schedule(spec.name, measured.p, spec.m, spec.v)
    return measured.schedule.tokens() == expected.tokens()


def measured_costs(measured: Measured) -> dict[str, list[float]]:
    """Mean measured duration of each kind of action per global stage, seconds (the
    ``costs`` argument of :func:`~ppnotes.schedules.simulate`)."""
    result = _check_type("measured", measured, Measured).result
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
    _check_type("measured", measured, Measured)
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
    _check_type("measured", measured, Measured)
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
    stage and kind and the measured hop time (:func:`hop_time`, unless ``comm`` is given, in
    seconds).

    ``overhead=True`` adds the measured gap between actions (:func:`overhead_time`) to every
    action's cost, to show how much of the error that Python work explains.
    """
    _check_type("measured", measured, Measured)
    overhead = _check_bool("overhead", overhead)
    spec = measured.spec
    schedule = build_schedule(spec.name, measured.p, spec.m, spec.v)
    hop = hop_time(measured) if comm is None else check_real("comm", comm, maximum=3600.0)
    costs = measured_costs(measured)
    if overhead:
        gap = overhead_time(measured)
        costs = {kind: [c + gap for c in values] for kind, values in costs.items()}
    return simulate(schedule, costs, hop)


def makespan_error(measured: Measured, *, overhead: bool = False) -> float:
    """Measured makespan over the simulated one with measured costs (and the gap between
    actions when ``overhead``), minus 1 (0.1 = 10 %)."""
    sim = simulate_measured(measured, overhead=overhead)
    return measured.makespan / sim.makespan - 1.0


def median_step(steps: Sequence[Measured], *, skip_first: bool = True) -> Measured:
    """The step whose makespan is the median of the run's measured steps (the lower of the
    two middle ones for an even count), leaving out the first (PyTorch infers shapes and
    allocates buffers in it). A typical step, not the luckiest: on a machine shared with other
    work the fastest step is the one least disturbed, and reporting it hides the noise."""
    candidates = sorted(_check_steps(steps, skip_first), key=lambda s: s.makespan)
    return candidates[(len(candidates) - 1) // 2]


def median_agreement(steps: Sequence[Measured], *, skip_first: bool = True) -> float:
    """Median over the run's measured steps of measured / simulated makespan - 1, each step
    simulated with its own measured action times plus the gap between actions
    (``makespan_error(step, overhead=True)``). Dimensionless (0.1 = 10 %); the first step is
    left out (shape inference)."""
    candidates = _check_steps(steps, skip_first)
    return float(np.median([makespan_error(s, overhead=True) for s in candidates]))


def bubble_error(measured: Measured) -> float:
    """Measured bubble share of the step minus the simulator's (percentage points / 100)."""
    _check_type("measured", measured, Measured)
    return measured.bubble_fraction - simulate_measured(measured).bubble_fraction


def closed_form_bubble(p: int, m: int) -> float:
    """GPipe's and 1F1B's idle share of the step, (p-1)/(m+p-1)
    (:func:`ppnotes.bubble.bubble_fraction`)."""
    return float(bubble.bubble_fraction(p, m))


def first_backward_position(name: str, p: int, m: int, rank: int, v: int = 1) -> int:
    """How many actions ``rank`` runs before its first backward (B or I) under the book's
    order of ``name``; PyTorch's ``Schedule1F1B`` calls these its warm-up forwards plus one."""
    name = check_choice("name", name, tuple(TORCH_SCHEDULES))
    p = check_int("p", p, minimum=1, maximum=256)
    m = check_int("m", m, minimum=1, maximum=4096)
    rank = check_int("rank", rank, 0, p - 1)
    tokens = build_schedule(name, p, m, v).tokens()[rank]
    return next(k for k, t in enumerate(tokens) if "B" in t or "I" in t)


# --------------------------------------------------------------------------------------------
# Is the measurement clean? The machine check
# --------------------------------------------------------------------------------------------


def cpu_share(measured: Measured) -> float:
    """The smallest share, over the ranks, of a rank's action (wall) time during which its
    thread had the CPU: sum of ``time.thread_time`` over its actions / sum of their
    ``perf_counter`` durations. About 1 when every rank has a core to itself; 0.5 when each
    rank shares its core with one other busy process. Raises ``ValueError`` when the step has
    no CPU times (made without :func:`run_pipeline`)."""
    _check_type("measured", measured, Measured)
    if measured.cpu is None:
        raise ValueError("measured has no CPU times (cpu=None): run it with run_pipeline")
    busy = np.asarray(measured.result.busy, dtype=float)
    shares = [c / b for c, b in zip(measured.cpu, busy, strict=True) if b > 0]
    return float(min(min(shares), 1.0)) if shares else 1.0


def step_spread(steps: Sequence[Measured], *, skip_first: bool = True) -> float:
    """Spread of repeated identical steps: interquartile range of their makespans over the
    median makespan (0.05 = the middle half of the steps lie within 5 % of the median), the
    first step left out. 0 for a single step."""
    return spread([s.makespan for s in _check_steps(steps, skip_first)])


def spread(values: Sequence[float]) -> float:
    """Interquartile range of repeated measurements over their median (dimensionless; 0 for
    one value): the spread :func:`judge` reads. Used for steps here and for the decode lab's
    repeated runs (:mod:`ppnotes.real_decode`)."""
    if isinstance(values, str | bytes) or not isinstance(values, Sequence | np.ndarray):
        raise TypeError(f"values must be a list of numbers, got {type(values).__name__}")
    if len(values) == 0:
        raise ValueError("values must hold at least one measurement, got []")
    values = [check_real("values", v, maximum=1e9) for v in values]
    q1, med, q3 = np.percentile(values, [25, 50, 75])
    return float((q3 - q1) / med) if med > 0 else 0.0


@dataclass(frozen=True)
class Verdict:
    """The machine check of one run: is it clean enough to support a claim?

    ``cpu_share``: :func:`cpu_share`, median over the measured steps (0 to 1).
    ``spread``: :func:`step_spread` of the run (dimensionless).
    ``p``, ``cores``: ranks and available cores. ``clean``: the rule of :func:`judge`.
    ``reason``: one sentence for the page.
    """

    clean: bool
    cpu_share: float
    spread: float
    p: int
    cores: int
    reason: str


def judge(
    cpu_share: float,
    spread: float,
    p: int = 1,
    cores: int | None = None,
    *,
    min_cpu_share: float = MIN_CPU_SHARE,
    max_spread: float = MAX_STEP_SPREAD,
) -> Verdict:
    """The rule that decides whether a measured run is clean enough to support a claim.

    A run is **clean** when all three hold:

    1. ``p <= cores``: every rank can have a core of its own (``cores`` defaults to
       :func:`available_cores`);
    2. ``cpu_share >= min_cpu_share`` (0.9): during its actions every rank had the CPU for at
       least 90 % of the wall time (median over the steps), so no other process took its core
       for long; a busy loop sharing the core gives about 0.5;
    3. ``spread <= max_spread`` (0.15): the interquartile range of the repeated identical
       steps' makespans is within 15 % of their median, so the steps agree with one another
       (disturbances between actions, which the CPU share cannot see, make steps differ).

    Otherwise the run is **busy**, and a claim that rests on it is not asserted: the page says
    the machine was too busy to show it and cites the quiet reference run instead.
    Returns a :class:`Verdict` whose ``reason`` names the failed conditions with their numbers.
    """
    cpu_share = check_real("cpu_share", cpu_share, maximum=1.5)
    spread = check_real("spread", spread, maximum=1e6)
    p = check_int("p", p, minimum=1, maximum=4096)
    cores = available_cores() if cores is None else check_int("cores", cores, maximum=4096)
    min_cpu_share = check_real("min_cpu_share", min_cpu_share, maximum=1.0)
    max_spread = check_real("max_spread", max_spread)
    problems = []
    if p > cores:
        problems.append(f"{p} ranks on {cores} cores")
    if cpu_share < min_cpu_share:
        problems.append(
            f"the ranks had the CPU for only {100 * cpu_share:.0f} % of their compute time "
            f"(needs {100 * min_cpu_share:.0f} %)"
        )
    if spread > max_spread:
        problems.append(
            f"repeated steps spread by {100 * spread:.0f} % (interquartile range over median; "
            f"needs at most {100 * max_spread:.0f} %)"
        )
    if problems:
        reason = "busy: " + "; ".join(problems)
    else:
        reason = (
            f"clean: CPU share {100 * cpu_share:.0f} %, step spread {100 * spread:.0f} %, "
            f"{p} ranks on {cores} cores"
        )
    return Verdict(not problems, cpu_share, spread, p, cores, reason)


def run_verdict(steps: Sequence[Measured], *, cores: int | None = None) -> Verdict:
    """:func:`judge` applied to one run's measured steps (the first left out)."""
    candidates = _check_steps(steps, True)
    share = float(np.median([cpu_share(s) for s in candidates]))
    return judge(share, step_spread(steps), candidates[0].p, cores)


# --------------------------------------------------------------------------------------------
# The chapter's lab: plan, summary, claims, reference run
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LabPlan:
    """What the chapter runs: ``p`` ranks, the main micro-batch count ``m`` = 2p, the 1F1B
    sweep ``sweep`` = (p, 2p, 4p) (1F1B needs m >= p), a model of 2p blocks (ZB-V and
    interleaving with v = 2 need two stages per rank), ``steps`` steps per run, and the runs:
    GPipe, 1F1B at each m of the sweep, interleaved 1F1B (v = 2) and ZB-V."""

    p: int
    m: int
    sweep: tuple
    config: ModelConfig
    steps: int
    runs: tuple


def lab_plan(p: int | None = None, steps: int = 7) -> LabPlan:
    """The chapter's plan for ``p`` ranks (default :func:`default_depth`) and ``steps`` steps
    per run (the first is warm-up; the median of the others is reported)."""
    p = default_depth() if p is None else check_int("p", p, minimum=1, maximum=16)
    steps = check_int("steps", steps, minimum=2, maximum=100)
    m = 2 * p
    sweep = (p, 2 * p, 4 * p)
    runs = (
        RunSpec("gpipe", m),
        *(RunSpec("1f1b", k) for k in sweep),
        RunSpec("interleaved", m, 2),
        RunSpec("zbv", m),
    )
    return LabPlan(p, m, sweep, ModelConfig(blocks=2 * p), steps, runs)


def run_lab(plan: LabPlan, *, timeout: float = 120.0) -> tuple[list, list]:
    """Run ``plan`` on ``plan.p`` ranks, then 1F1B at ``plan.m`` on one rank (the whole model
    in one process, for the speed-up; at most 5 steps). Returns ``(lab, single)``: per run its
    measured steps, and the one-rank run's steps."""
    _check_type("plan", plan, LabPlan)
    lab = run_pipeline(
        list(plan.runs), plan.p, config=plan.config, steps=plan.steps, timeout=timeout
    )
    single = run_pipeline(
        [RunSpec("1f1b", plan.m)], 1, config=plan.config, steps=min(plan.steps, 5), timeout=timeout
    )
    return lab, single[0]


MAIN_SCHEDULES = ("gpipe", "1f1b", "interleaved", "zbv")


def summarize(plan: LabPlan, lab: Sequence, single: Sequence[Measured] | None = None) -> dict:
    """The numbers the chapter states, from one lab run, as plain JSON-ready values.

    ``lab``: :func:`run_pipeline`'s result for ``plan.runs``; ``single``: the one-rank steps
    (optional). Every timing is from the run's median step (:func:`median_step`); the
    agreement is :func:`median_agreement`; each run carries its :class:`Verdict`. Times in
    milliseconds, shares as fractions.
    """
    _check_type("plan", plan, LabPlan)
    if len(lab) != len(plan.runs):
        raise ValueError(f"lab must hold one list of steps per run ({len(plan.runs)})")
    runs = {}
    for spec, steps in zip(plan.runs, lab, strict=True):
        med = median_step(steps)
        sim = simulate_measured(med)
        costs = measured_costs(med)
        runs[f"{spec.name} m={spec.m}"] = {
            "verdict": asdict(run_verdict(steps)),
            "orders_match": all(orders_match(s) for s in steps),
            "makespan_ms": 1e3 * med.makespan,
            "simulated_ms": 1e3 * sim.makespan,
            "error": makespan_error(med),
            "error_gap": makespan_error(med, overhead=True),
            "agreement": median_agreement(steps),
            "bubble": med.bubble_fraction,
            "bubble_simulated": sim.bubble_fraction,
            "bubble_closed": closed_form_bubble(plan.p, spec.m)
            if spec.name in ("gpipe", "1f1b")
            else None,
            "costs_ms": {k: [1e3 * c for c in v] for k, v in costs.items()},
            "mean_forward_ms": 1e3 * float(np.mean(costs["F"])),
            "hop_ms": 1e3 * hop_time(med),
            "gap_ms": 1e3 * overhead_time(med),
        }
    out = {
        "p": plan.p,
        "m": plan.m,
        "sweep": list(plan.sweep),
        "steps": plan.steps,
        "config": asdict(plan.config),
        "runs": runs,
    }
    if single is not None:
        alone = median_step(single)
        main = median_step(lab[plan.runs.index(RunSpec("1f1b", plan.m))])
        out["single_ms"] = 1e3 * alone.makespan
        out["single_verdict"] = asdict(run_verdict(single))
        out["speedup"] = alone.makespan / main.makespan
        out["speedup_closed"] = plan.p * plan.m / (plan.m + plan.p - 1)
    return out


def headline_numbers(summary: dict) -> dict[str, float]:
    """The numbers the chapter's prose cites from a :func:`summarize` result (the reader's run
    or the reference run's ``"summary"``), as plain floats for glue: depth and micro-batches,
    the largest median step-time error of the four schedules (``agree_max_pct``), the 1F1B
    bubble at ``m`` measured, simulated and in closed form, the bubble at the ends of the
    sweep, the machine check (smallest CPU share, largest step spread, clean runs), and the
    one-rank speed-up when the summary has it. Percentages where the name ends in ``_pct``."""
    if not isinstance(summary, dict) or "runs" not in summary:
        raise TypeError(f"summary must be a dict made by summarize, got {type(summary).__name__}")
    runs, m, sweep = summary["runs"], summary["m"], summary["sweep"]
    main = [runs[f"{name} m={m}"] for name in MAIN_SCHEDULES]
    one, small, big = runs[f"1f1b m={m}"], runs[f"1f1b m={sweep[0]}"], runs[f"1f1b m={sweep[-1]}"]
    verdicts = [r["verdict"] for r in runs.values()]
    out = {
        "p": float(summary["p"]),
        "m": float(m),
        "m_small": float(sweep[0]),
        "m_big": float(sweep[-1]),
        "agree_max_pct": 100 * max(abs(r["agreement"]) for r in main),
        "bub_meas_pct": 100 * one["bubble"],
        "bub_sim_pct": 100 * one["bubble_simulated"],
        "closed_pct": 100 * one["bubble_closed"],
        "bub_small_pct": 100 * small["bubble"],
        "bub_big_pct": 100 * big["bubble"],
        "closed_small_pct": 100 * small["bubble_closed"],
        "closed_big_pct": 100 * big["bubble_closed"],
        "cpu_share_pct": 100 * min(v["cpu_share"] for v in verdicts),
        "spread_pct": 100 * max(v["spread"] for v in verdicts),
        "clean_runs": float(sum(v["clean"] for v in verdicts)),
        "runs": float(len(verdicts)),
    }
    if "speedup" in summary:
        out["speedup"] = float(summary["speedup"])
        out["speedup_closed"] = float(summary["speedup_closed"])
    return {k: float(v) for k, v in out.items()}


@dataclass(frozen=True)
class Claim:
    """One measured claim of the chapter: what it says, whether the evidence is ``clean``
    (every run it rests on passed :func:`judge`), and whether it ``holds`` on this run."""

    key: str
    statement: str
    clean: bool
    holds: bool
    evidence: str

    @property
    def asserted(self) -> bool:
        """The chapter asserts a claim only on clean evidence."""
        return self.clean


def lab_claims(summary: dict) -> list[Claim]:
    """The chapter's measured claims, judged on one :func:`summarize` result (the reader's
    run or the reference run), in the order the chapter makes them."""
    if not isinstance(summary, dict) or "runs" not in summary:
        raise TypeError(f"summary must be a dict made by summarize, got {type(summary).__name__}")
    runs, m, sweep = summary["runs"], summary["m"], summary["sweep"]

    def clean(*keys):
        return all(runs[k]["verdict"]["clean"] for k in keys)

    main = [f"{name} m={m}" for name in MAIN_SCHEDULES]
    ends = [f"1f1b m={sweep[0]}", f"1f1b m={sweep[-1]}"]
    worst = max(abs(runs[k]["agreement"]) for k in main)
    first_i = runs[f"zbv m={m}"]["costs_ms"]["I"]
    forward_ratio = runs[f"interleaved m={m}"]["mean_forward_ms"] / runs[main[1]]["mean_forward_ms"]
    b_small, b_big = runs[ends[0]]["bubble"], runs[ends[1]]["bubble"]
    return [
        Claim(
            "orders",
            "every rank runs the order build_schedule gives, on every step",
            True,  # the order does not depend on timing
            all(r["orders_match"] for r in runs.values()),
            "orders compared on every rank of every step",
        ),
        Claim(
            "agreement",
            f"fed the measured costs and the gap between actions, the simulator's step time is "
            f"within {100 * MAKESPAN_TOLERANCE:.0f} % of the measured one for GPipe, 1F1B, "
            "interleaved 1F1B and ZB-V (median over the steps)",
            clean(*main),
            worst <= MAKESPAN_TOLERANCE,
            f"largest median error {100 * worst:.0f} %",
        ),
        Claim(
            "bubble_falls",
            f"the measured 1F1B bubble falls as m grows from {sweep[0]} to {sweep[-1]}",
            clean(*ends),
            b_small > b_big,
            f"{100 * b_small:.0f} % at m = {sweep[0]}, {100 * b_big:.0f} % at m = {sweep[-1]}",
        ),
        Claim(
            "zbv_first_input_gradient",
            "under ZB-V the first stage's input gradient I costs less than half of any other "
            "stage's (the token ids need no gradient)",
            clean(f"zbv m={m}"),
            first_i[0] < 0.5 * min(first_i[1:]),
            "I per stage: " + ", ".join(f"{t:.2f} ms" for t in first_i),
        ),
        Claim(
            "interleaved_shorter",
            "interleaving (v = 2) runs shorter actions: its mean forward is under 0.8 of 1F1B's",
            clean(f"interleaved m={m}", main[1]),
            forward_ratio < 0.8,
            f"ratio {forward_ratio:.2f}",
        ),
    ]


def machine_info() -> dict:
    """The machine a run was made on: CPU model, cores, load, Python and torch versions, date."""
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        import torch

        torch_version = torch.__version__
    except ImportError:  # pragma: no cover - the lab needs torch
        torch_version = "not installed"
    load = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "available_cores": available_cores(),
        "load_average_1_5_15_min": [round(x, 2) for x in load],
        "nice": os.getpriority(os.PRIO_PROCESS, 0) if hasattr(os, "getpriority") else 0,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "torch": torch_version,
        "date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def load_reference(path: str | Path | None = None) -> dict:
    """The committed quiet reference run (``ppnotes/data/lab_reference.json`` by default): a
    :func:`summarize` result under ``"summary"``, with ``"machine"`` (:func:`machine_info`),
    ``"command"`` (how to regenerate it) and ``"note"`` (how clean the machine was)."""
    if path is None:
        path = REFERENCE_PATH
    elif isinstance(path, str | Path):
        path = Path(path)
    else:
        raise TypeError(f"path must be a str or Path to a JSON file, got {path!r}")
    if not path.is_file():
        raise ValueError(f"path must name an existing reference JSON file, got {str(path)!r}")
    data = json.loads(path.read_text())
    for key in ("summary", "machine", "command"):
        if key not in data:
            raise ValueError(f"{path} is not a lab reference run: it has no {key!r}")
    return data


def busy_box_html(
    claims: Sequence[Claim], reference: Sequence[Claim], verdicts: dict, reference_note: str = ""
) -> str:
    """An admonition (HTML, styled like the site's ``warning`` boxes) for the claims this run
    did not show: those whose evidence was not clean, and those whose evidence passed the
    machine check yet which did not hold (contention the check cannot see, such as a
    neighbour's bursts between repeats, can do that: a reader's build must not fail on it).
    Each with what this run measured and what the book's reference run shows (``reference``:
    the same claims of that run; ``reference_note``: one sentence on how clean it was).
    ``verdicts``: run name -> verdict dict (from :func:`summarize`), listed with their
    reasons. An empty string when every claim's evidence was clean and every claim held."""
    by_key = {c.key: c for c in reference}
    busy = [c for c in claims if not c.clean]
    missed = [c for c in claims if c.clean and not c.holds]
    if not busy and not missed:
        return ""

    def cited(key):
        ref = by_key.get(key)
        if ref is None:
            return "not recorded"
        verdict = "holds" if ref.holds else "does not hold"
        quality = "clean evidence" if ref.clean else "itself measured on a busy machine"
        return f"{ref.evidence} ({verdict}; {quality})"

    def items(group):
        return "".join(
            f"<li><b>{c.statement}.</b> This run: {c.evidence}. The book's reference run: "
            f"{cited(c.key)}.</li>"
            for c in group
        )

    parts = []
    if busy:
        parts.append(
            "<p>Other work took the cores while the lab measured, so these claims are not "
            "checked on this run, and its numbers for them are not evidence:</p>"
            f"<ul>{items(busy)}</ul>"
        )
    if missed:
        parts.append(
            "<p>These passed the machine check on this run but did not hold; contention the "
            "check cannot see (a neighbour's bursts between repeats, shared memory bandwidth) "
            "can do that, so run the lab again on a quiet machine before reading much into "
            f"it:</p><ul>{items(missed)}</ul>"
        )
    reasons = "".join(f"<li>{name}: {v['reason']}</li>" for name, v in verdicts.items())
    return (
        '<div class="admonition warning"><p class="admonition-title">This machine was too busy '
        "to show some of this chapter's measured claims</p>"
        f"<p>The text cites the book's reference run for them instead. {reference_note}</p>"
        f"{''.join(parts)}<p>The machine check of each run:</p><ul>{reasons}</ul></div>"
    )


def _idle_share(seconds: float = 3.0) -> float:
    """Share of all cores' time spent idle over the next ``seconds`` (Linux ``/proc/stat``;
    1.0 elsewhere, where it cannot be read)."""

    def snapshot():
        values = [int(v) for v in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
        return values[3] + values[4], sum(values)  # idle + iowait, total

    try:
        idle0, total0 = snapshot()
        time.sleep(seconds)
        idle1, total1 = snapshot()
    except OSError:
        return 1.0
    return (idle1 - idle0) / max(total1 - total0, 1)


def _wait_until_idle(limit: float, threshold: float = 0.9) -> float:
    """Wait up to ``limit`` seconds for a 3 s window with at least ``threshold`` of the cores
    idle; return the last idle share seen."""
    deadline = time.monotonic() + limit
    idle = _idle_share()
    while idle < threshold and time.monotonic() < deadline:
        idle = _idle_share()
    return idle


def _write_reference(path: str, steps: int, attempts: int, wait: float = 0.0) -> dict:
    """Run the chapter's lab up to ``attempts`` times, keep the first run whose every run is
    clean (else the one with the most clean runs), and write it to ``path``. Before each
    attempt, wait up to ``wait`` seconds for idle cores."""
    best = None
    for attempt in range(1, attempts + 1):
        idle = _wait_until_idle(wait) if wait > 0 else _idle_share()
        before = {**machine_info(), "idle_share_before": round(idle, 3)}
        plan = lab_plan(steps=steps)
        lab, single = run_lab(plan)
        summary = summarize(plan, lab, single)
        n_clean = sum(r["verdict"]["clean"] for r in summary["runs"].values())
        if best is None or n_clean > best[0]:
            best = (n_clean, summary, before, attempt)
        if n_clean == len(summary["runs"]):
            break
    n_clean, summary, before, attempt = best
    note = (
        f"attempt {attempt} of {attempts}; {n_clean} of {len(summary['runs'])} runs clean "
        f"by ppnotes.real_pipeline.judge (CPU share >= {MIN_CPU_SHARE}, step spread <= "
        f"{MAX_STEP_SPREAD}); load average and idle share of the cores just before the "
        "run are recorded in 'machine'"
    )
    command = f"python -m ppnotes.real_pipeline --reference {path} --steps {steps}"
    return save_reference(path, command, before, note, lab_claims(summary), summary)


def save_reference(path, command: str, machine: dict, note: str, claims, summary: dict) -> dict:
    """Write a quiet reference run (JSON) the book cites, and return what was written."""
    data = {
        "command": command,
        "machine": machine,
        "note": note,
        "claims": {c.key: {"clean": c.clean, "holds": c.holds} for c in claims},
        "summary": summary,
    }
    Path(path).write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
    print(note)
    for key, claim in data["claims"].items():
        print(f"{key}: clean={claim['clean']} holds={claim['holds']}")
    return data


def _main(argv: Sequence[str] | None = None) -> int:
    """``python -m ppnotes.real_pipeline --reference OUT.json [--steps N] [--attempts K]``:
    regenerate the quiet reference run (run it on an otherwise idle machine)."""
    import argparse

    parser = argparse.ArgumentParser(
        prog="python -m ppnotes.real_pipeline", description=_main.__doc__
    )
    parser.add_argument("--reference", required=True, help="where to write the reference JSON")
    parser.add_argument("--steps", type=int, default=7, help="steps per run (first is warm-up)")
    parser.add_argument("--attempts", type=int, default=3, help="retries until a run is clean")
    parser.add_argument(
        "--wait", type=float, default=0.0, help="seconds to wait for idle cores before each try"
    )
    args = parser.parse_args(argv)
    _write_reference(args.reference, args.steps, args.attempts, args.wait)
    return 0


if __name__ == "__main__":
    sys.exit(_main())
