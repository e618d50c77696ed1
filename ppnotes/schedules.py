"""Pipeline schedules as data, and a simulator that times them.

A *schedule* says, for every rank (GPU), the order in which it runs its actions. An action is a
forward ``F``, a full backward ``B``, or the two halves of a split backward: the input-gradient
backward ``I`` and the weight-gradient backward ``W`` (qi2024zero). Actions are written as in
``torch.distributed.pipelining`` (pytorch_pipelining): ``"{stage}{kind}{microbatch}"``, so
``"5F3"`` is the forward of micro-batch 3 on stage 5. Stage numbers are global; a rank may hold
several stages (interleaved: rank r holds r, r+p, r+2p, ...; V-shape: r and 2p-1-r).

:func:`simulate` runs a schedule as-soon-as-possible: each rank runs its actions in its order,
and an action starts when its rank is free and its inputs have arrived:

- ``F(s, j)`` after ``F(s-1, j)``;
- ``B(s, j)`` or ``I(s, j)`` after ``F(s, j)`` and after the input gradient from stage s+1
  (``B`` or ``I`` of ``(s+1, j)``); the last stage's backward needs only its own forward;
- ``W(s, j)`` after ``I(s, j)``.

How it is fast (about 1-2 million actions per second here, see ``python -m ppnotes.bench``):

1. Validation happens once, in :meth:`Schedule.from_actions`. Actions are integer-encoded into
   flat lists, and each action's two predecessors are looked up once: its *rank predecessor*
   (the action before it on its rank) and its *data predecessor* (the cross-stage input above).
   The other data inputs (a backward's own forward, a ``W``'s ``I``) live on the same rank, so
   once they come earlier in the rank's order they are implied by the rank predecessor; if they
   come later, the order deadlocks and the check below says so.
2. One pass over the ranks, advancing each rank's pointer while its next action's inputs are
   done, yields a topological order. If a full sweep advances no rank, the order deadlocks, and
   each blocked rank's pointer says exactly what it waits for.
3. :func:`simulate` then walks that stored order once: ``start = max(end[rank_pred],
   end[data_pred] + hop latency)``, two list look-ups and a comparison per action. Durations,
   latencies and the statistics (busy time, peaks of held activations) are numpy vector work.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from ._validate import (
    MAX_MICROBATCHES,
    MAX_SCHEDULE_ACTIONS,
    MAX_STAGES,
    check_bool,
    check_choice,
    check_instance,
    check_int,
    check_real,
    check_size,
)

KINDS = ("F", "B", "I", "W")
_CODE = {kind: code for code, kind in enumerate(KINDS)}
_F, _B, _I, _W = range(4)
_TOKEN = re.compile(r"(\d+)([FBIW])(\d+)")
TOKEN_FORMAT = "'{stage}{kind}{microbatch}' with kind in F, B, I, W, e.g. '5F3'"

DEFAULT_COSTS = {"F": 1.0, "B": 2.0, "I": 1.0, "W": 1.0}
_REPR_TOKENS = 24  # tokens per rank shown by repr(Schedule)


class _ActionFields(NamedTuple):
    stage: int
    kind: str
    microbatch: int


class Action(_ActionFields):
    """One unit of work: ``kind`` of ``microbatch`` on global ``stage``.

    ``kind`` is ``"F"`` (forward), ``"B"`` (full backward), ``"I"`` (input-gradient backward)
    or ``"W"`` (weight-gradient backward), as in qi2024zero and pytorch_pipelining.
    ``str(action)`` is its token, e.g. ``"5F3"``.
    """

    __slots__ = ()

    def __new__(cls, stage: int, kind: str, microbatch: int):
        stage = check_int("stage", stage, minimum=0)
        kind = check_choice("kind", kind, KINDS)
        microbatch = check_int("microbatch", microbatch, minimum=0)
        return tuple.__new__(cls, (stage, kind, microbatch))

    @classmethod
    def _trusted(cls, stage: int, kind: str, microbatch: int) -> Action:
        # Generators build hundreds of thousands of actions whose fields are correct by
        # construction; skipping the checks keeps building a schedule cheap.
        return tuple.__new__(cls, (stage, kind, microbatch))

    @classmethod
    def parse(cls, token: str) -> Action:
        """Parse a token such as ``"5F3"`` (stage 5, forward, micro-batch 3)."""
        match = _TOKEN.fullmatch(token) if isinstance(token, str) else None
        if match is None:
            raise ValueError(f"malformed action token {token!r}: expected {TOKEN_FORMAT}")
        return cls._trusted(int(match[1]), match[2], int(match[3]))

    def __str__(self) -> str:
        return f"{self.stage}{self.kind}{self.microbatch}"


def parse_action(token) -> Action:
    """Return ``token`` as an :class:`Action`; accepts a token string or an ``Action``."""
    if isinstance(token, Action):
        return token
    return Action.parse(token)


def format_action(action: Action) -> str:
    """Return the token of ``action``, e.g. ``"12I0"``."""
    return str(parse_action(action))


class _Plan(NamedTuple):
    """Integer encoding of a validated schedule (private; built once per schedule)."""

    kind: list[int]  # kind code per flat action
    stage: list[int]
    microbatch: list[int]
    rank: list[int]
    data_pred: list[int]  # cross-stage input (or -1)
    crosses_ranks: list[bool]  # whether data_pred lives on another rank
    order: list[int]  # a topological order of the flat actions
    rank_pred_in_order: list[int]  # rank predecessor of order[k] (-1 for the first)
    data_pred_in_order: list[int]
    release: list[int]  # flat index of the action whose end frees the (stage, mb) activations


@dataclass(frozen=True, eq=False)
class Schedule:
    """Per-rank ordered actions of one training (or forward-only) step.

    Build one with :meth:`from_actions` (your own order) or :func:`build_schedule` (a named
    schedule). Attributes: ``actions`` (per rank, a tuple of :class:`Action`), ``num_ranks``,
    ``num_stages``, ``num_microbatches``, ``stage_to_rank`` (rank of each global stage),
    ``rank_stages`` (stages of each rank, ascending), ``name``, ``forward_only``.
    """

    actions: tuple[tuple[Action, ...], ...]
    num_stages: int
    num_microbatches: int
    stage_to_rank: tuple[int, ...]
    name: str
    forward_only: bool
    _plan: _Plan

    @property
    def num_ranks(self) -> int:
        return len(self.actions)

    @property
    def rank_stages(self) -> tuple[tuple[int, ...], ...]:
        owned: list[list[int]] = [[] for _ in range(self.num_ranks)]
        for stage, rank in enumerate(self.stage_to_rank):
            owned[rank].append(stage)
        return tuple(tuple(stages) for stages in owned)

    @property
    def flat_actions(self) -> list[Action]:
        """All actions, rank 0's first, in each rank's order (aligned with SimResult arrays)."""
        return [action for rank_actions in self.actions for action in rank_actions]

    def tokens(self) -> list[list[str]]:
        """Per-rank lists of tokens, the form :meth:`from_actions` accepts."""
        return [[str(a) for a in rank_actions] for rank_actions in self.actions]

    def to_strings(self) -> list[str]:
        """One string per rank, its tokens in order separated by spaces (what
        :meth:`from_strings` reads), e.g. ``["0F0 0F1 0B0 0B1", "1F0 1B0 1F1 1B1"]``."""
        return [" ".join(rank_tokens) for rank_tokens in self.tokens()]

    def __repr__(self) -> str:
        """The schedule as it reads: one line per rank (long ranks cut after 24 tokens)."""
        head = (
            f"Schedule({self.name!r}: {self.num_ranks} ranks, {self.num_stages} stages, "
            f"{self.num_microbatches} micro-batches)"
        )
        lines = []
        for rank, rank_tokens in enumerate(self.tokens()):
            shown = " ".join(rank_tokens[:_REPR_TOKENS])
            more = len(rank_tokens) - _REPR_TOKENS
            lines.append(f"  rank {rank}: {shown}" + (f" ... (+{more})" if more > 0 else ""))
        return "\n".join([head, *lines])

    @classmethod
    def from_strings(
        cls, per_rank: Sequence[str], *, name: str = "custom", forward_only: bool = False
    ) -> Schedule:
        """Build a schedule from one string per rank of whitespace-separated tokens.

        ``Schedule.from_strings(["0F0 0F1 0B0 0B1", "1F0 1B0 1F1 1B1"])`` is the same schedule
        as :meth:`from_actions` with the token lists; :meth:`to_strings` gives the strings back.
        Raises ``ValueError`` naming the rank, position and text of a malformed token, and
        everything :meth:`from_actions` raises.
        """
        if isinstance(per_rank, str | bytes) or not isinstance(per_rank, Sequence):
            raise ValueError(
                "per_rank must be a list with one string of tokens per rank, e.g. "
                f'["0F0 0B0", "1F0 1B0"], got {per_rank!r}'
            )
        rows = []
        for rank, line in enumerate(per_rank):
            if not isinstance(line, str):
                raise ValueError(
                    f"per_rank[{rank}] must be a string of space-separated tokens, got {line!r}"
                )
            tokens = line.split()
            for position, token in enumerate(tokens):
                if _TOKEN.fullmatch(token) is None:
                    raise ValueError(
                        f"per_rank[{rank}] token {position} is {token!r}: expected {TOKEN_FORMAT}"
                    )
            rows.append(tokens)
        return cls.from_actions(rows, name=name, forward_only=forward_only)

    @classmethod
    def from_actions(
        cls,
        per_rank: Sequence[Iterable[str | Action]],
        *,
        name: str = "custom",
        forward_only: bool = False,
    ) -> Schedule:
        """Validate and encode a schedule given as each rank's actions in order.

        ``per_rank[r]`` lists rank r's actions (tokens like ``"0F1"`` or :class:`Action`).
        The number of stages and micro-batches is inferred: stages must be 0..S-1 and every
        stage must run micro-batches 0..M-1. Each (stage, micro-batch) needs one ``F`` and,
        unless ``forward_only``, either one ``B`` or one ``I`` and one ``W``.

        Raises ``ValueError`` for a malformed token, a stage on two ranks, a duplicated or
        missing action, a ``B`` mixed with ``I``/``W``, or an order that deadlocks (the message
        says which rank waits at which action for which input).
        """
        if isinstance(per_rank, str | bytes) or not isinstance(per_rank, Sequence):
            raise ValueError(
                f"per_rank must be a list with one list of actions per rank, got {per_rank!r}"
            )
        if len(per_rank) == 0:
            raise ValueError("per_rank must hold at least one rank, got an empty list")
        actions = tuple(
            _parse_rank(rank, rank_actions) for rank, rank_actions in enumerate(per_rank)
        )
        stage_to_rank = _place_stages(actions)
        num_microbatches = 1 + max(a.microbatch for rank_actions in actions for a in rank_actions)
        plan = _encode(actions, stage_to_rank, num_microbatches, forward_only)
        return cls(
            actions, len(stage_to_rank), num_microbatches, stage_to_rank, name, forward_only, plan
        )


def _parse_rank(rank: int, rank_actions) -> tuple[Action, ...]:
    if isinstance(rank_actions, str | bytes) or not isinstance(rank_actions, Iterable):
        raise ValueError(f"rank {rank}'s actions must be a list of tokens, got {rank_actions!r}")
    parsed = tuple(parse_action(token) for token in rank_actions)
    if not parsed:
        raise ValueError(f"rank {rank} has no actions; every rank must hold at least one stage")
    return parsed


def _place_stages(actions: tuple[tuple[Action, ...], ...]) -> tuple[int, ...]:
    """Map each global stage to its rank; a stage must live on exactly one rank."""
    owner: dict[int, int] = {}
    for rank, rank_actions in enumerate(actions):
        for action in rank_actions:
            first = owner.setdefault(action.stage, rank)
            if first != rank:
                raise ValueError(
                    f"stage {action.stage} appears on rank {first} and rank {rank} "
                    f"(at {action}); a stage must live on exactly one rank"
                )
    num_stages = max(owner) + 1
    missing = [s for s in range(num_stages) if s not in owner]
    if missing:
        raise ValueError(
            f"missing action: stage {missing[0]} has no actions; stages must be numbered "
            f"0..{num_stages - 1} with none skipped"
        )
    return tuple(owner[s] for s in range(num_stages))


def _encode(actions, stage_to_rank, num_microbatches, forward_only) -> _Plan:
    num_stages = len(stage_to_rank)
    kind, stage, microbatch, rank = [], [], [], []
    for r, rank_actions in enumerate(actions):
        for a in rank_actions:
            stage.append(a.stage)
            kind.append(_CODE[a.kind])
            microbatch.append(a.microbatch)
            rank.append(r)
    # index_of[(s * M + j) * 4 + kind] = flat index of that action, or -1
    index_of = [-1] * (num_stages * num_microbatches * 4)
    for i, (s, k, j) in enumerate(zip(stage, kind, microbatch, strict=True)):
        key = (s * num_microbatches + j) * 4 + k
        if index_of[key] >= 0:
            first = index_of[key]
            where = (
                f"twice on rank {rank[i]}"
                if rank[first] == rank[i]
                else f"on rank {rank[first]} and on rank {rank[i]}"
            )
            raise ValueError(
                f"duplicated action {s}{KINDS[k]}{j}: {where}; each action must appear once"
            )
        index_of[key] = i
    release = _check_complete(index_of, num_stages, num_microbatches, forward_only)
    data_pred, local_pred = _predecessors(
        index_of, stage, kind, microbatch, num_stages, num_microbatches
    )
    crosses = [d >= 0 and rank[d] != r for d, r in zip(data_pred, rank, strict=True)]
    order, rank_pred = _topological_order(
        actions, data_pred, local_pred, stage, kind, microbatch, rank
    )
    return _Plan(
        kind,
        stage,
        microbatch,
        rank,
        data_pred,
        crosses,
        order,
        [rank_pred[i] for i in order],
        [data_pred[i] for i in order],
        release,
    )


def _check_complete(index_of, num_stages, num_microbatches, forward_only) -> list[int]:
    """Every (stage, mb) needs F and either B or I+W; return the releasing action per pair."""
    release = []
    for s in range(num_stages):
        for j in range(num_microbatches):
            base = (s * num_microbatches + j) * 4
            f, b, i, w = index_of[base : base + 4]
            pair = f"stage {s}, micro-batch {j}"
            if f < 0:
                raise ValueError(
                    f"missing action: {s}F{j} ({pair} has no forward; every stage must run "
                    f"micro-batches 0..{num_microbatches - 1})"
                )
            if forward_only:
                if max(b, i, w) >= 0:
                    bad = f"{s}{KINDS[[b, i, w].index(max(b, i, w)) + 1]}{j}"
                    raise ValueError(f"forward-only schedule holds a backward action {bad}")
                release.append(f)
                continue
            if b >= 0 and (i >= 0 or w >= 0):
                other = f"{s}I{j}" if i >= 0 else f"{s}W{j}"
                raise ValueError(
                    f"mixing B and I/W for {pair}: {s}B{j} and {other}; use either one full "
                    f"backward B or its two halves I and W"
                )
            if b < 0 and i < 0 and w < 0:
                raise ValueError(
                    f"missing action: {s}B{j} (forward {s}F{j} has no backward; give B, or I and W)"
                )
            if i >= 0 and w < 0:
                raise ValueError(f"missing action: {s}W{j} ({s}I{j} has no W)")
            if w >= 0 and i < 0:
                raise ValueError(f"missing action: {s}I{j} ({s}W{j} has no I)")
            release.append(b if b >= 0 else w)
    return release


def _predecessors(index_of, stage, kind, microbatch, num_stages, num_microbatches):
    """Data predecessor (cross-stage input) and same-stage predecessor of every action."""
    last = num_stages - 1
    data_pred, local_pred = [], []
    for s, k, j in zip(stage, kind, microbatch, strict=True):
        here = (s * num_microbatches + j) * 4
        if k == _F:
            data_pred.append(index_of[here - num_microbatches * 4] if s > 0 else -1)
            local_pred.append(-1)
        elif k == _W:
            data_pred.append(index_of[here + _I])
            local_pred.append(-1)
        elif s == last:
            data_pred.append(index_of[here + _F])
            local_pred.append(-1)
        else:
            below = here + num_microbatches * 4  # stage s+1 sends the input gradient
            grad = index_of[below + _B]
            data_pred.append(grad if grad >= 0 else index_of[below + _I])
            local_pred.append(index_of[here + _F])
    return data_pred, local_pred


def _topological_order(actions, data_pred, local_pred, stage, kind, microbatch, rank):
    """Advance every rank while its next action's inputs are done; stall means deadlock."""
    starts, position = [], 0
    for rank_actions in actions:
        starts.append(position)
        position += len(rank_actions)
    ends = starts[1:] + [position]
    pointer = list(starts)
    done = bytearray(position)
    order: list[int] = []
    rank_pred = [i - 1 for i in range(position)]
    for first in starts:
        rank_pred[first] = -1
    progress = True
    while progress:
        progress = False
        for r in range(len(actions)):
            i, stop = pointer[r], ends[r]
            while i < stop:
                d, loc = data_pred[i], local_pred[i]
                if (d >= 0 and not done[d]) or (loc >= 0 and not done[loc]):
                    break
                done[i] = 1
                order.append(i)
                i += 1
            if i != pointer[r]:
                pointer[r] = i
                progress = True
    if len(order) < position:
        waits = []
        for r in range(len(actions)):
            i = pointer[r]
            if i == ends[r]:
                continue
            d = data_pred[i] if data_pred[i] >= 0 and not done[data_pred[i]] else local_pred[i]

            here = f"{stage[i]}{KINDS[kind[i]]}{microbatch[i]}"
            needed = f"{stage[d]}{KINDS[kind[d]]}{microbatch[d]}"
            waits.append(f"rank {r} waits at {here} for {needed} (rank {rank[d]})")
        raise ValueError("deadlock: " + ", ".join(waits))
    return order, rank_pred


# --------------------------------------------------------------------------------------------
# Simulation
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class SimResult:
    """Timing of one simulated step. Times are in the unit of ``costs`` (e.g. seconds).

    Arrays ``start``, ``end``, ``duration`` and ``rank`` are aligned with ``actions``
    (:attr:`Schedule.flat_actions`: rank 0's actions in order, then rank 1's, ...).

    - ``makespan``: end of the last action (the step time).
    - ``busy``, ``idle`` (per rank): work given to the rank, and ``makespan - busy``.
    - ``bubble_fraction``: sum of idle / (ranks x makespan), the idle share of the step
      (huang2019gpipe's definition).
    - ``bubble_ratio``: sum of idle / sum of busy, idle relative to ideal time
      (narayanan2021efficient's definition).
    - ``peak_activations`` (per rank) and ``peak_activations_per_stage``: the most activation
      sets held at once. A set is one micro-batch through one *stage's* layers (for interleaved
      schedules a stage is one chunk, 1/v of a rank's layers). It is held from the start of its
      ``F`` until the end of its ``B`` (or of its ``W`` when the backward is split); at equal
      times a release counts before an acquire. Forward-only sets are freed when ``F`` ends.
    """

    schedule: Schedule
    actions: list[Action]
    start: np.ndarray
    end: np.ndarray
    duration: np.ndarray
    rank: np.ndarray
    makespan: float
    busy: np.ndarray
    idle: np.ndarray
    bubble_fraction: float
    bubble_ratio: float
    peak_activations: np.ndarray
    peak_activations_per_stage: np.ndarray
    _latency: np.ndarray
    send_time: np.ndarray | None = None

    @property
    def blocking(self) -> bool:
        """Whether sends occupied their sender (``simulate(..., blocking=True)``)."""
        return self.send_time is not None

    def critical_path(self) -> list[tuple[Action, bool]]:
        """The chain of actions that sets the makespan, first to last.

        Each entry is ``(action, after_hop)``; ``after_hop`` is True when the action waited
        for an input from another rank (so the hop latency ``comm`` lies on the critical path).
        Ties prefer the data input over the rank order.
        """
        plan = self.schedule._plan
        tolerance = 1e-9 * max(1.0, self.makespan)
        i = int(np.argmax(self.end))
        rank_pred = _rank_predecessors(self.schedule)
        path = []
        while i >= 0:
            d = plan.data_pred[i]
            via_data = d >= 0 and abs(self.end[d] + self._latency[i] - self.start[i]) <= tolerance
            path.append((self.actions[i], bool(via_data and plan.crosses_ranks[i])))
            if via_data:
                i = d
            elif rank_pred[i] >= 0 and abs(self._free(rank_pred[i]) - self.start[i]) <= tolerance:
                i = rank_pred[i]
            else:
                i = -1
        return path[::-1]

    def _free(self, i: int) -> float:
        """When action i's rank may start its next action (after a blocking send)."""
        return float(self.end[i] + (self.send_time[i] if self.send_time is not None else 0.0))


def _rank_predecessors(schedule: Schedule) -> list[int]:
    rank_pred, position = [], 0
    for rank_actions in schedule.actions:
        rank_pred.extend([position - 1 + k if k else -1 for k in range(len(rank_actions))])
        position += len(rank_actions)
    return rank_pred


def _cost_table(costs: Mapping, num_stages: int) -> np.ndarray:
    """Durations as a (4 kinds x stages) table; scalars broadcast over stages."""
    if not isinstance(costs, Mapping):
        raise ValueError(f"costs must be a dict with keys among {', '.join(KINDS)}, got {costs!r}")
    for key in costs:
        check_choice("costs key", key, KINDS)
    table = np.empty((4, num_stages))
    for code, kind in enumerate(KINDS):
        value = costs.get(kind, DEFAULT_COSTS[kind])
        if isinstance(value, Sequence | np.ndarray) and not isinstance(value, str):
            if len(value) != num_stages:
                raise ValueError(
                    f"costs[{kind!r}] must be a number or a list of {num_stages} per-stage "
                    f"numbers, got {len(value)} numbers"
                )
            table[code] = [check_real(f"costs[{kind!r}][{s}]", x) for s, x in enumerate(value)]
        else:
            table[code] = check_real(f"costs[{kind!r}]", value)
    return table


def _hop_latencies(comm, num_stages: int) -> np.ndarray:
    """Latency of each stage boundary s -> s+1 (same in both directions)."""
    if isinstance(comm, Sequence | np.ndarray) and not isinstance(comm, str):
        if len(comm) != max(num_stages - 1, 0):
            raise ValueError(
                f"comm must be a number or a list of {num_stages - 1} per-boundary latencies, "
                f"got {len(comm)} numbers"
            )
        return np.array([check_real(f"comm[{b}]", x) for b, x in enumerate(comm)] + [0.0])
    return np.full(max(num_stages, 1), check_real("comm", comm))


def simulate(
    schedule: Schedule,
    costs: Mapping[str, float | Sequence[float]] | None = None,
    comm: float | Sequence[float] = 0.0,
    blocking: bool = False,
) -> SimResult:
    """Time ``schedule`` as soon as possible: each action starts when its rank is free and
    its inputs have arrived.

    Args:
        schedule: a :class:`Schedule`.
        costs: duration of each kind of action, in any time unit (seconds, or "units of one
            forward"). Keys among ``F``, ``B``, ``I``, ``W``; missing keys take
            ``DEFAULT_COSTS`` (F=1, B=2, I=1, W=1). A value is a number (every stage) or a list
            with one number per *global stage* (unbalanced stages; for interleaved schedules a
            stage is one chunk, so give a chunk's time).
        comm: hop latency, same unit. It is added to every data dependency between actions
            on *different ranks*: ``F(s-1, j) -> F(s, j)`` (activation) and
            ``B/I(s+1, j) -> B/I(s, j)`` (gradient). It is zero within a rank (e.g. the V-shape
            turnaround) and never occupies the rank: sends overlap compute and links have no
            contention, so ``comm`` delays only the receiver. A list gives one latency per
            stage boundary s -> s+1 (``num_stages - 1`` numbers).
        blocking: how a hop occupies the ranks. ``False`` (the default, asynchronous): as
            above, a hop only delays its receiver, as when sends are posted and waited for
            later (``torch.distributed.pipelining``'s multi-stage runtime). ``True``
            (blocking): the sender also waits for its own send to finish before it starts
            its next action, so each action that feeds another rank occupies its rank for
            ``comm`` longer; the receiver gets the data when the send ends, as before. This
            is Megatron-LM's non-interleaved 1F1B (``batch_isend_irecv`` then ``wait`` after
            every forward and backward); a send and the receive batched with it share the
            same interval (full-duplex links). The send time is not counted in ``busy``, and
            it is in :attr:`SimResult.send_time`.

    Returns:
        a :class:`SimResult`.
    """
    check_instance("schedule", schedule, Schedule, "ppnotes.schedules.Schedule")
    check_bool("blocking", blocking)
    plan = schedule._plan
    table = _cost_table(DEFAULT_COSTS if costs is None else costs, schedule.num_stages)
    kind = np.asarray(plan.kind)
    stage = np.asarray(plan.stage)
    duration = table[kind, stage]
    # The boundary a cross-stage input crosses is min(stage, its producer's stage).
    hops = _hop_latencies(comm, schedule.num_stages)
    crosses = np.asarray(plan.crosses_ranks)
    producer_stage = np.where(crosses, stage[np.maximum(plan.data_pred, 0)], stage)
    latency = np.where(crosses, hops[np.minimum(stage, producer_stage)], 0.0)

    send = _send_times(plan, latency) if blocking else None
    start, end = _earliest_times(plan, duration, latency, send)
    return _summarise(schedule, start, end, duration, latency, send)


PAIRINGS = ("none", "microbatch", "chunk")


def overlap_pairs(schedule: Schedule, pair: str = "chunk") -> list[tuple[int, int]]:
    """Which consecutive actions on a rank run together, one's communication hidden behind the
    other's compute (flat action indices, first to last).

    On each rank, scanning its order, an action and the next one form a pair when the first is
    a forward ``F`` and the second a backward ``B`` or ``I`` of a *different micro-batch*
    (so neither needs the other's output; pairing a backward with the *next* forward can
    deadlock 1F1B's last stages), and, for ``pair="chunk"``, of a different stage too
    (DualPipe pairs a forward chunk with a backward chunk of the other direction,
    deepseek2024v3 sec. 3.2.1). ``pair="microbatch"`` also pairs the forward and backward of
    one stage, as Megatron-Core's 1F1B all-to-all overlap does in 1F1B's steady state
    (``--overlap-moe-expert-parallel-comm``, megatron2026moereadme). ``pair="none"``: no pairs.
    Pairs do not overlap each other: after a pair the scan continues after its second action.
    """
    check_instance("schedule", schedule, Schedule, "ppnotes.schedules.Schedule")
    pair = check_choice("pair", pair, PAIRINGS)
    if pair == "none":
        return []
    plan = schedule._plan
    pairs, position = [], 0
    for rank_actions in schedule.actions:
        k, n = 0, len(rank_actions)
        while k + 1 < n:
            i, j = position + k, position + k + 1
            ok = plan.kind[i] == _F and plan.kind[j] in (_B, _I)
            ok = ok and plan.microbatch[i] != plan.microbatch[j]
            if pair == "chunk":
                ok = ok and plan.stage[i] != plan.stage[j]
            if ok:
                pairs.append((i, j))
                k += 2
            else:
                k += 1
        position += n
    return pairs


def simulate_overlap(
    schedule: Schedule,
    costs: Mapping[str, float | Sequence[float]] | None = None,
    a2a: Mapping[str, float | Sequence[float]] | None = None,
    pair: str = "chunk",
    comm: float | Sequence[float] = 0.0,
) -> SimResult:
    """Time ``schedule`` when actions carry communication of their own (the expert-parallel
    all-to-all of a mixture-of-experts layer) that a paired action's compute can hide.

    Each action has a compute time (``costs``, as in :func:`simulate`) and a communication
    time (``a2a``: keys among ``F``, ``B``, ``I``, ``W``, missing keys 0; a number or one per
    stage). The communication sits inside the action, between its own kernels (dispatch before
    the experts, combine after), so it cannot overlap its own compute:

    - an unpaired action takes ``compute + a2a`` (the all-to-all on the critical path, as in
      plain 1F1B);
    - a pair (:func:`overlap_pairs`) starts when the rank is free and the inputs of *both*
      actions have arrived, and both end ``max(cA + cB, xA + xB)`` later: each one's
      all-to-all runs while the other computes (DualPipe's overlapped forward and backward
      chunks, deepseek2024v3 fig. 4). This is the ideal overlap: communication fully hidden
      when it is shorter than the pair's compute, compute hidden when it is longer. The SMs
      a real overlap gives to communication are not modelled here (scale ``costs`` for that).

    ``comm`` is the pipeline hop latency, as in :func:`simulate` (asynchronous). With no
    ``a2a`` and ``pair="none"`` the result equals :func:`simulate`'s. ``busy`` counts compute
    only, so the exposed all-to-all shows up as idle time. Raises ``ValueError`` for a pairing
    that deadlocks (a pair whose one action waits, through other ranks, for the other).
    """
    check_instance("schedule", schedule, Schedule, "ppnotes.schedules.Schedule")
    plan = schedule._plan
    table = _cost_table(DEFAULT_COSTS if costs is None else costs, schedule.num_stages)
    zero = dict.fromkeys(KINDS, 0.0)
    comm_table = _cost_table(zero if a2a is None else {**zero, **a2a}, schedule.num_stages)
    kind = np.asarray(plan.kind)
    stage = np.asarray(plan.stage)
    compute = table[kind, stage]
    talk = comm_table[kind, stage]
    hops = _hop_latencies(comm, schedule.num_stages)
    crosses = np.asarray(plan.crosses_ranks)
    producer_stage = np.where(crosses, stage[np.maximum(plan.data_pred, 0)], stage)
    latency = np.where(crosses, hops[np.minimum(stage, producer_stage)], 0.0)
    partner = dict(overlap_pairs(schedule, pair))
    start, end = _overlap_times(
        schedule, compute.tolist(), talk.tolist(), latency.tolist(), partner
    )
    return _summarise(schedule, start, end, compute, latency)


def _overlap_times(schedule, compute, talk, latency, partner):
    """Rank by rank, advance while the next unit's (action's or pair's) inputs are done."""
    plan = schedule._plan
    n = len(compute)
    start, end = [0.0] * n, [-1.0] * n
    done = [False] * n
    offsets = np.cumsum([0] + [len(a) for a in schedule.actions]).tolist()
    pointer = offsets[:-1]
    free = [0.0] * schedule.num_ranks
    remaining = n
    while remaining:
        progress = False
        for r in range(schedule.num_ranks):
            while pointer[r] < offsets[r + 1]:
                i = pointer[r]
                unit = (i, partner[i]) if i in partner else (i,)
                t = free[r]
                ready = True
                for a in unit:
                    d = plan.data_pred[a]
                    if d >= 0 and d not in unit:
                        if not done[d]:
                            ready = False
                            break
                        t = max(t, end[d] + latency[a])
                if not ready:
                    break
                if len(unit) == 1:
                    span = compute[i] + talk[i]
                else:
                    a, b = unit
                    span = max(compute[a] + compute[b], talk[a] + talk[b])
                for a in unit:
                    start[a], end[a], done[a] = t, t + span, True
                free[r] = t + span
                pointer[r] += len(unit)
                remaining -= len(unit)
                progress = True
        if not progress:
            waits = [
                f"rank {r} at {schedule.flat_actions[pointer[r]]}"
                for r in range(schedule.num_ranks)
                if pointer[r] < offsets[r + 1]
            ]
            raise ValueError("deadlock: the pairing makes " + ", ".join(waits) + " wait")
    return np.array(start), np.array(end)


def result_from_times(schedule: Schedule, start, end) -> SimResult:
    """Summarise actions timed elsewhere (measured on real processes, for instance) exactly as
    :func:`simulate` summarises its own: makespan, busy and idle time per rank, both bubble
    measures and the activation sets held at the peak.

    Args:
        schedule: the :class:`Schedule` the times belong to.
        start, end: one start and one end time per action (any one unit, end >= start), in
            the order of ``schedule.flat_actions`` (rank by rank, each rank's actions in order).

    Returns:
        a :class:`SimResult` with no hop latencies.
    """
    check_instance("schedule", schedule, Schedule, "ppnotes.schedules.Schedule")
    start = _times_array("start", start)
    end = _times_array("end", end)
    n = len(schedule.flat_actions)
    if start.shape != (n,) or end.shape != (n,):
        raise ValueError(
            f"start and end need one time per action ({n}), got {start.shape} and {end.shape}"
        )
    if np.any(end < start) or not np.all(np.isfinite(start) & np.isfinite(end)):
        raise ValueError("every action needs finite times with end >= start")
    return _summarise(schedule, start, end, end - start, np.zeros(n))


def _times_array(name: str, times) -> np.ndarray:
    try:
        return np.asarray(times, dtype=float)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a list of times (numbers), got {times!r}") from None


def _send_times(plan: _Plan, latency: np.ndarray) -> np.ndarray:
    """Per action, how long its rank stays blocked sending its output to another rank."""
    send = np.zeros(len(plan.kind))
    receivers = np.flatnonzero(np.asarray(plan.crosses_ranks, dtype=bool))
    if len(receivers):
        senders = np.asarray(plan.data_pred)[receivers]
        np.maximum.at(send, senders, latency[receivers])
    return send


def _earliest_times(
    plan: _Plan, duration: np.ndarray, latency: np.ndarray, send: np.ndarray | None = None
):
    """One pass in topological order; ``end[-1]`` is a 0.0 sentinel for "no predecessor".

    ``send`` (blocking mode) delays the rank's next action: it starts no earlier than
    ``end + send`` of the action before it on the rank.
    """
    n = len(plan.kind)
    order = plan.order
    durations = duration[order].tolist()
    latencies = latency[order].tolist()
    start = [0.0] * n
    end = [0.0] * (n + 1)
    if send is None:
        free = end  # asynchronous: the rank is free when its action ends
        blocked = [0.0] * n
    else:
        free = [0.0] * (n + 1)
        blocked = send[order].tolist()
    for i, a, b, lat, dur, snd in zip(
        order,
        plan.rank_pred_in_order,
        plan.data_pred_in_order,
        latencies,
        durations,
        blocked,
        strict=True,
    ):
        t = free[a]
        u = end[b] + lat
        if u > t:
            t = u
        start[i] = t
        end[i] = t + dur
        if free is not end:
            free[i] = t + dur + snd
    end.pop()
    return np.array(start), np.array(end)


def _summarise(schedule, start, end, duration, latency, send=None) -> SimResult:
    plan = schedule._plan
    rank = np.asarray(plan.rank)
    makespan = float(end.max()) if len(end) else 0.0
    if send is not None and len(end):
        makespan = max(makespan, float((end + send).max()))  # a last send still blocks
    busy = np.bincount(rank, weights=duration, minlength=schedule.num_ranks)
    idle = makespan - busy
    total_idle, total_busy = float(idle.sum()), float(busy.sum())
    fraction = total_idle / (schedule.num_ranks * makespan) if makespan > 0 else 0.0
    ratio = total_idle / total_busy if total_busy > 0 else 0.0

    # Activation sets: +1 at the start of F, -1 at the end of the releasing action.
    f_index = np.flatnonzero(np.asarray(plan.kind) == _F)
    acquire_time = start[f_index]
    release_time = end[np.asarray(plan.release)]
    stage_of_f = np.asarray(plan.stage)[f_index]
    # plan.release is ordered by (stage, microbatch); F indices must match that order.
    order = np.lexsort((np.asarray(plan.microbatch)[f_index], stage_of_f))
    f_index, acquire_time, stage_of_f = f_index[order], acquire_time[order], stage_of_f[order]
    stage_to_rank = np.asarray(schedule.stage_to_rank)
    per_rank = _peak_held(stage_to_rank[stage_of_f], acquire_time, release_time, schedule.num_ranks)
    per_stage = _peak_held(stage_of_f, acquire_time, release_time, schedule.num_stages)
    return SimResult(
        schedule,
        schedule.flat_actions,
        start,
        end,
        duration,
        rank,
        makespan,
        busy,
        idle,
        fraction,
        ratio,
        per_rank,
        per_stage,
        latency,
        send,
    )


def _peak_held(group, acquire, release, num_groups) -> np.ndarray:
    """Most sets held at once per group; at equal times releases come first."""
    groups = np.concatenate([group, group])
    times = np.concatenate([acquire, release])
    deltas = np.concatenate([np.ones(len(group), int), -np.ones(len(group), int)])
    order = np.lexsort((deltas, times, groups))
    held = np.cumsum(deltas[order])  # each group nets to zero, so the sum restarts per group
    first = np.searchsorted(groups[order], np.arange(num_groups))
    return np.maximum.reduceat(held, first)


# --------------------------------------------------------------------------------------------
# Named schedules
# --------------------------------------------------------------------------------------------

SCHEDULE_NAMES = (
    "gpipe",
    "1f1b",
    "interleaved",
    "zb-h1",
    "zb-h2",
    "zbv",
    "dualpipev",
    "forward",
)


def build_schedule(name: str, p: int, m: int, v: int = 1) -> Schedule:
    """Build a named schedule for ``p`` ranks and ``m`` micro-batches.

    Names (see each ``*_actions`` function for its order and source):
    ``"gpipe"`` (huang2019gpipe), ``"1f1b"`` (narayanan2021memory, PipeDream-Flush),
    ``"interleaved"`` (``v`` chunks per rank, narayanan2021efficient; needs m divisible by p
    when v > 1), ``"zb-h1"``, ``"zb-h2"`` and ``"zbv"`` (qi2024zero; zbv holds 2 stages per
    rank in a V), ``"dualpipev"`` (deepseek2024v3's DualPipe cut in half, also a V; needs
    m >= 2p),
    ``"forward"`` (forward only, as in inference). ``v`` applies to ``"interleaved"`` only.

    Sizes beyond any real pipeline raise ``ValueError`` instead of taking minutes: p up to
    :data:`~ppnotes._validate.MAX_STAGES`, m up to :data:`~ppnotes._validate.MAX_MICROBATCHES`
    and p * m * (stages per rank) up to :data:`~ppnotes._validate.MAX_SCHEDULE_ACTIONS`.
    """
    name = check_choice("name", name, SCHEDULE_NAMES)
    p, m, v = _check_sizes(p, m, v, 2 if name in ("zbv", "dualpipev") else 1)
    if v != 1 and name != "interleaved":
        raise ValueError(
            f"v applies only to 'interleaved' (chunks per rank), got v={v} for {name!r}"
        )
    if name == "interleaved":
        per_rank = [interleaved_actions(r, p, m, v) for r in range(p)]
    else:
        make = _GENERATORS[name]
        per_rank = [make(r, p, m) for r in range(p)]
    label = f"{name} (v={v})" if name == "interleaved" else name
    return Schedule.from_actions(per_rank, name=label, forward_only=name == "forward")


def simulate_named(
    name: str,
    p: int,
    m: int,
    v: int = 1,
    *,
    t_f: float = 1.0,
    t_i: float = 1.0,
    t_w: float = 1.0,
    comm: float = 0.0,
) -> SimResult:
    """Build the named schedule and simulate it with one set of *per-rank* costs.

    ``t_f``, ``t_i``, ``t_w``: forward, input-gradient and weight-gradient time of one
    micro-batch through one rank's layers (L/p layers); schedules with a full backward use
    ``B = t_i + t_w``. A rank that holds several stages (``"interleaved"`` with v chunks,
    ``"zbv"`` with 2) gives each stage its share, so every schedule does the same work per rank
    and their step times compare directly. ``comm``: hop latency per cross-rank dependency (see
    :func:`simulate`). Same unit as the costs. Returns a :class:`SimResult`.
    """
    t_f, t_i, t_w = check_real("t_f", t_f), check_real("t_i", t_i), check_real("t_w", t_w)
    schedule = build_schedule(name, p, m, v)
    share = schedule.num_stages / schedule.num_ranks
    costs = {"F": t_f / share, "B": (t_i + t_w) / share, "I": t_i / share, "W": t_w / share}
    return simulate(schedule, costs, comm)


def activation_sets_per_rank_layers(result: SimResult) -> np.ndarray:
    """Peak activations per rank in units of one micro-batch through L/p layers (one 1F1B stage).

    :attr:`SimResult.peak_activations` counts sets of one *stage*; a rank with several stages
    (interleaved: v chunks of 1/v of its layers; ZB-V: 2 halves) holds smaller sets, so this
    divides by the number of stages per rank. Dimensionless.
    """
    check_instance("result", result, SimResult, "ppnotes.schedules.SimResult")
    schedule = result.schedule
    return result.peak_activations / (schedule.num_stages / schedule.num_ranks)


def _check_sizes(p, m, v=1, chunks=1) -> tuple[int, int, int]:
    """Check p ranks, m micro-batches and v chunks per rank (``chunks`` stages per rank for
    V-shaped schedules), and that the schedule stays small enough to build in seconds."""
    p = check_size("p", p, MAX_STAGES)
    m = check_size("m", m, MAX_MICROBATCHES)
    v = check_size("v", v, MAX_STAGES)
    if p * m * v * chunks > MAX_SCHEDULE_ACTIONS:
        raise ValueError(
            f"p * m * v (stages times micro-batches) must be at most {MAX_SCHEDULE_ACTIONS:,} "
            f"(larger schedules take minutes to build), got p={p}, m={m}, v={v}"
        )
    return p, m, v


def _check_rank_args(rank, p, m, v=1, chunks=1) -> tuple[int, int, int, int]:
    """Check the arguments of a per-rank generator: rank in [0, p - 1], then the sizes."""
    p, m, v = _check_sizes(p, m, v, chunks)
    rank = check_int("rank", rank, minimum=0, maximum=p - 1)
    return rank, p, m, v


def _act(stage: int, kind: str, microbatch: int) -> Action:
    return Action._trusted(stage, kind, microbatch)


def gpipe_actions(rank: int, p: int, m: int) -> list[Action]:
    """GPipe (huang2019gpipe): all m forwards, then all m backwards (as pytorch_pipelining).

    Every per-rank generator raises ``ValueError`` for a rank outside [0, p - 1] or sizes that
    :func:`build_schedule` refuses."""
    rank, p, m, _ = _check_rank_args(rank, p, m)
    return [_act(rank, "F", j) for j in range(m)] + [_act(rank, "B", j) for j in range(m)]


def forward_actions(rank: int, p: int, m: int) -> list[Action]:
    """Forward only (inference, no backward): the m forwards in order."""
    rank, p, m, _ = _check_rank_args(rank, p, m)
    return [_act(rank, "F", j) for j in range(m)]


def one_f_one_b_actions(rank: int, p: int, m: int) -> list[Action]:
    """1F1B (PipeDream-Flush, narayanan2021memory): min(p-1-rank, m) warm-up forwards,
    then alternate one forward and one backward, then the remaining backwards. Works for any
    m >= 1 (with m < p the warm-up is capped at m)."""
    rank, p, m, _ = _check_rank_args(rank, p, m)
    warmup = min(p - 1 - rank, m)
    order = [_act(rank, "F", j) for j in range(warmup)]
    for k in range(m - warmup):
        order += [_act(rank, "F", warmup + k), _act(rank, "B", k)]
    order += [_act(rank, "B", j) for j in range(m - warmup, m)]
    return order


def interleaved_actions(rank: int, p: int, m: int, v: int) -> list[Action]:
    """Interleaved 1F1B (narayanan2021efficient, Megatron-LM's order); rank r holds stages
    r, r+p, ..., r+(v-1)p. Micro-batches go in groups of p: chunk 0 of the group, chunk 1 of
    the group, ...; backwards visit chunks in reverse. Warm-up: (v-1)p + 2(p-1-r) forwards
    (Megatron-LM's count), capped at v*m; for v = 1 this is exactly 1F1B (p-1-r). With zero
    hop latency (p-1-r) extra warm-ups would give the same step time; the second one per hop
    is slack that keeps hop latency off the critical path, paid for in activation memory.

    Requires m divisible by p when v > 1 (Megatron-LM's condition); raises ValueError otherwise.
    """
    rank, p, m, v = _check_rank_args(rank, p, m, v)
    if v > 1 and m % p != 0:
        raise ValueError(
            f"interleaved schedule with v={v} needs m divisible by p (Megatron-LM's order), "
            f"got m={m}, p={p}"
        )
    if v == 1:
        return one_f_one_b_actions(rank, p, m)
    forwards = [(c, j) for g in range(0, m, p) for c in range(v) for j in range(g, g + p)]
    backwards = [(v - 1 - c, j) for c, j in forwards]
    total = v * m
    warmup = min((v - 1) * p + 2 * (p - 1 - rank), total)
    order = [_act(c * p + rank, "F", j) for c, j in forwards[:warmup]]
    for k in range(total - warmup):
        c, j = forwards[warmup + k]
        cb, jb = backwards[k]
        order += [_act(c * p + rank, "F", j), _act(cb * p + rank, "B", jb)]
    order += [_act(c * p + rank, "B", j) for c, j in backwards[total - warmup :]]
    return order


def zb_h1_actions(rank: int, p: int, m: int) -> list[Action]:
    """ZB-H1 (qi2024zero): 1F1B with the backward split into I and W. Rank r defers its W's by
    r steps (``W(k-r)`` follows ``I(k)``), so every rank holds at most p micro-batches, like
    1F1B's first stage, and the deferred W's fill the cool-down bubble. The trailing W's run
    last. Same order as pytorch_pipelining's ZB1P with one chunk. Works for any m >= 1."""
    rank, p, m, _ = _check_rank_args(rank, p, m)
    warmup = min(p - 1 - rank, m)
    order = [_act(rank, "F", j) for j in range(warmup)]
    for k in range(m):
        if warmup + k < m:
            order.append(_act(rank, "F", warmup + k))
        order.append(_act(rank, "I", k))
        if k >= rank:
            order.append(_act(rank, "W", k - rank))
    order += [_act(rank, "W", j) for j in range(max(m - rank, 0), m)]
    return order


def zb_h2_actions(rank: int, p: int, m: int) -> list[Action]:
    """ZB-H2 (qi2024zero, Section 3.1): more warm-up forwards fill the wait for the first input
    gradient, and the last ranks defer their W's to fill the tail.

    Rank r runs 2(p-1-r)+1 warm-up forwards (capped at m): with t_f = t_i that is exactly the
    wait ``p t_f + (p-1-r) t_i - r t_f`` for its first ``I``. Then, for each micro-batch k:
    ``I(k)``, ``W(k - 2r)`` once k >= 2r, and the next forward; the 2r deferred W's run at the
    end. Every rank holds up to 2p-1 micro-batches (warm-up forwards on the first rank, deferred
    W's on the last), twice ZB-H1's p. With t_f = t_i = t_w each rank is busy without a gap from
    its first forward to its last action (the paper's parallelogram). Works for any m >= 1; the
    step time is derived in :func:`ppnotes.bubble.zb_h2_bubble_time`.
    """
    rank, p, m, _ = _check_rank_args(rank, p, m)
    warmup = min(2 * (p - 1 - rank) + 1, m)
    deferred = 2 * rank
    order = [_act(rank, "F", j) for j in range(warmup)]
    done_w = 0
    for k in range(m):
        order.append(_act(rank, "I", k))
        if k >= deferred:
            order.append(_act(rank, "W", done_w))
            done_w += 1
        if warmup + k < m:
            order.append(_act(rank, "F", warmup + k))
    order += [_act(rank, "W", j) for j in range(done_w, m)]
    return order


def zbv_actions(rank: int, p: int, m: int) -> list[Action]:
    """ZB-V (qi2024zero, Section 6): 2p stages in a V, rank r holds stages r and 2p-1-r.
    Handcrafted for F = I = W, where it has no bubble once m >= 2p-1 (checked by the tests);
    the order follows pytorch_pipelining's ScheduleZBVZeroBubble. Works for any m >= 1
    (shorter runs drop the missing micro-batches from the m >= 2p-1 order)."""
    rank, p, m, _ = _check_rank_args(rank, p, m, chunks=2)
    n = max(2 * p - 1, m)
    down, up = rank, 2 * p - 1 - rank
    count = {"f0": 0, "f1": 0, "b0": 0, "b1": 0}
    order: list[Action] = []

    def emit(stage, kind, key):
        order.append(_act(stage, kind, count[key]))
        if kind != "W":
            count[key] += 1

    for _ in range(2 * (p - rank) - 1):
        emit(down, "F", "f0")
    for _ in range(rank):
        emit(up, "F", "f1")
        emit(down, "F", "f0")
    for _ in range(p - rank):
        emit(up, "F", "f1")
        emit(up, "I", "b1")
        order.append(_act(up, "W", count["b1"] - 1))
    while count["f1"] < count["f0"] or count["f0"] < n:
        if count["f0"] < n:
            emit(down, "F", "f0")
        emit(down, "I", "b0")
        order.append(_act(down, "W", count["b0"] - 1))
        emit(up, "F", "f1")
        emit(up, "I", "b1")
        order.append(_act(up, "W", count["b1"] - 1))
    w0, w1 = count["b0"], count["b1"]
    for _ in range(rank):
        emit(down, "I", "b0")
        emit(up, "I", "b1")
    for _ in range(p - rank):
        emit(down, "I", "b0")
        order.append(_act(down, "W", w0))
        w0 += 1
    order += [_act(up, "W", j) for j in range(w1, count["b1"])]
    order += [_act(down, "W", j) for j in range(w0, count["b0"])]
    return [a for a in order if a.microbatch < m]


def dualpipev_actions(rank: int, p: int, m: int) -> list[Action]:
    """DualPipeV (deepseek2024v3's DualPipe "cut in half", as pytorch_pipelining's
    ScheduleDualPipeV): 2p stages in a V, rank r holds stages r and 2p-1-r, in DualPipe's eight
    steps: nF0, nF0F1, nB1W1F1 (split backward), the main nF0B1F1B0, nB1F1B0, nB1B0 (the second
    half with split backward), nWB0, nW. Deferred W's run first in, first out.

    What it models: with :func:`simulate` each overlapped "F&B" pair runs as the forward, then
    the full backward (no compute-communication overlap). :func:`simulate_overlap` with
    ``pair="chunk"`` runs each such pair together, one chunk's all-to-all hidden behind the
    other's compute (DualPipe's point, deepseek2024v3 fig. 4). Needs m >= 2p; raises
    ValueError otherwise (as the original).
    """
    rank, p, m, _ = _check_rank_args(rank, p, m, chunks=2)
    if m < 2 * p:
        raise ValueError(f"dualpipev needs m >= 2p = {2 * p} micro-batches, got m={m}")
    down, up = rank, 2 * p - 1 - rank
    forwards = {down: 0, up: 0}
    backwards = {down: 0, up: 0}
    pending: list[tuple[int, int]] = []
    order: list[Action] = []

    def forward(stage):
        order.append(_act(stage, "F", forwards[stage]))
        forwards[stage] += 1

    def backward(stage, split=False):
        j = backwards[stage]
        backwards[stage] += 1
        order.append(_act(stage, "I" if split else "B", j))
        if split:
            pending.append((stage, j))

    def weight():
        stage, j = pending.pop(0)
        order.append(_act(stage, "W", j))

    for _ in range(2 * (p - rank - 1)):  # 1: nF0
        forward(down)
    for _ in range(rank + 1):  # 2: nF0F1
        forward(down)
        forward(up)
    for _ in range(p - rank - 1):  # 3: nB1W1F1
        backward(up, split=True)
        weight()
        forward(up)
    for _ in range(m - 2 * p + rank + 1):  # 4: nF0B1F1B0 (F&B pairs, run in sequence)
        forward(down)
        backward(up)
        forward(up)
        backward(down)
    for _ in range(p - rank - 1):  # 5: nB1F1B0
        backward(up)
        forward(up)
        backward(down)
    split = False
    for i in range(rank + 1):  # 6: nB1B0, the second half with split backward
        if i == (rank + 1) // 2 and rank % 2 == 1:
            split = True
        backward(up, split)
        if i == (rank + 1) // 2 and rank % 2 == 0:
            split = True
        backward(down, split)
    for _ in range(p - rank - 1):  # 7: nWB0
        weight()
        backward(down, split=True)
    while pending:  # 8: nW
        weight()
    return order


_GENERATORS: dict[str, Callable[[int, int, int], list[Action]]] = {
    "gpipe": gpipe_actions,
    "1f1b": one_f_one_b_actions,
    "zb-h1": zb_h1_actions,
    "zb-h2": zb_h2_actions,
    "zbv": zbv_actions,
    "dualpipev": dualpipev_actions,
    "forward": forward_actions,
}


# --------------------------------------------------------------------------------------------
# Decode loop (serving): forward-only, k batches in flight, token j + 1 waits for token j
# --------------------------------------------------------------------------------------------


def decode_loop_schedule(p: int, k: int, steps: int) -> Schedule:
    """Forward-only schedule of autoregressive decoding with ``k`` batches in flight.

    Micro-batch index ``j = n k + b`` is decode step n of batch b (b < k). Every rank runs
    its forwards in index order, so the ranks take the k batches round-robin, as a serving
    engine does when it keeps k batches queued (vLLM keeps ``max_concurrent_batches`` =
    the pipeline size, vllm_multiproc_executor). Besides the usual ``F(s-1, j) -> F(s, j)``,
    the first stage's ``F(0, j)`` waits for the last stage's ``F(p-1, j - k)``: the next token
    of a batch needs the token its previous step sampled. That loop is what a training
    schedule lacks; with k = 1 only one rank works at a time.

    Built by :meth:`Schedule.from_actions` (``"forward"`` order, m = k x steps) and then given
    the loop-back dependency; :func:`simulate` times it unchanged (the loop-back crosses ranks
    when p > 1 and pays the hop latency of boundary 0 -> 1, ``comm``).

    Args:
        p: pipeline stages (one per rank), >= 1.
        k: batches in flight, >= 1.
        steps: decode steps (tokens) per batch, >= 1.

    Returns:
        A forward-only :class:`Schedule` named ``"decode (k=...)"``.
    """
    p = check_size("p", p, MAX_STAGES)
    k = check_size("k", k, MAX_MICROBATCHES)
    steps = check_size("steps", steps, MAX_SCHEDULE_ACTIONS)
    n = k * steps
    if p * n > MAX_SCHEDULE_ACTIONS:
        raise ValueError(
            f"p * k * steps (forward actions) must be at most {MAX_SCHEDULE_ACTIONS:,} (larger "
            f"schedules take minutes to build), got p={p}, k={k}, steps={steps}"
        )
    base = Schedule.from_actions(
        [forward_actions(r, p, n) for r in range(p)], name=f"decode (k={k})", forward_only=True
    )
    plan = base._plan
    data_pred = list(plan.data_pred)
    crosses = list(plan.crosses_ranks)
    last = (p - 1) * n  # flat index of F(p-1, 0): ranks are stored one after another
    for j in range(k, n):
        data_pred[j] = last + j - k  # F(0, j) on rank 0 is flat index j
        crosses[j] = p > 1
    order = [r * n + j for j in range(n) for r in range(p)]  # step-major: a topological order
    rank_pred = [i - 1 if i % n else -1 for i in range(p * n)]
    new_plan = plan._replace(
        data_pred=data_pred,
        crosses_ranks=crosses,
        order=order,
        rank_pred_in_order=[rank_pred[i] for i in order],
        data_pred_in_order=[data_pred[i] for i in order],
    )
    return dataclasses.replace(base, _plan=new_plan)


def simulate_decode_loop(
    p: int,
    k: int,
    steps: int,
    stage_times: float | Sequence[float] = 1.0,
    comm: float = 0.0,
) -> SimResult:
    """Simulate ``steps`` decode steps of ``k`` batches through ``p`` stages.

    Args:
        p, k, steps: see :func:`decode_loop_schedule`.
        stage_times: one decode step of one batch through a stage (a number, or one per
            stage), any time unit.
        comm: latency of every hop, including the loop-back of the sampled tokens from the
            last stage to the first (same unit).

    Returns:
        A :class:`SimResult`; see :func:`decode_period` for the steady-state rate.
    """
    schedule = decode_loop_schedule(p, k, steps)
    if isinstance(stage_times, Sequence | np.ndarray) and not isinstance(stage_times, str):
        if len(stage_times) != schedule.num_stages:
            raise ValueError(
                f"stage_times must be a number or a list of {schedule.num_stages} per-stage "
                f"times, got {stage_times!r}"
            )
        stage_times = [check_real(f"stage_times[{i}]", x) for i, x in enumerate(stage_times)]
    else:
        stage_times = check_real("stage_times", stage_times)
    return simulate(schedule, {"F": stage_times}, comm)


def decode_period(result: SimResult, warmup_steps: int = 0) -> float:
    """Measured time between successive batch-steps leaving the last stage, after warm-up.

    (end of the last stage's final action - end of its action before the window) / the
    number of batch-steps in the window, where the window skips the first ``warmup_steps``
    decode steps (k batch-steps each). In steady state this is the period of the pipeline:
    one batch-step of tokens leaves it every period.
    """
    check_instance("result", result, SimResult, "ppnotes.schedules.SimResult")
    schedule = result.schedule
    n = schedule.num_microbatches
    k = _decode_batches(schedule)
    w = check_int("warmup_steps", warmup_steps, minimum=0)
    skip = w * k
    if skip >= n - 1:
        raise ValueError(
            f"warmup_steps must leave at least two batch-steps, got {w} of {n // k} steps"
        )
    last_rank = schedule.stage_to_rank[-1]
    ends = result.end[np.asarray(result.rank) == last_rank]
    first = ends[skip - 1] if skip > 0 else ends[0]
    count = n - skip if skip > 0 else n - 1
    return float((ends[-1] - first) / count)


def _decode_batches(schedule: Schedule) -> int:
    name = schedule.name
    if not name.startswith("decode (k="):
        raise ValueError(f"result must come from simulate_decode_loop, got schedule {name!r}")
    return int(name[len("decode (k=") : -1])
