"""Chapter 3 quiz: communication in a pipeline (bytes per hop, critical path, TP vs PP)."""

from __future__ import annotations

from .. import comm
from ..hardware import IB_HDR, NVLINK3, MiB
from ..models import GPT3_175B
from ..quiz import choice, many_choice, multiple_choice, numeric

HOP_MS = 0.3  # a hop time, ms, typed as an input of the questions below


def questions() -> list[dict]:
    """The chapter 3 quiz; every answer is computed with :mod:`ppnotes.comm`."""
    hop_mib = comm.activation_bytes_per_hop(GPT3_175B, 1, 2048) / MiB
    nic_mib = comm.per_nic_bytes(GPT3_175B, 1, 2048, tensor_parallel=8) / MiB
    gpipe_ms = comm.critical_path_comm_time("gpipe", 8, 32, 1.0, 2.0, HOP_MS)
    note_like_ms = 7 * 32 * HOP_MS  # every forward transfer in a row, the note's picture
    hops_1f1b = comm.critical_path_hops("1f1b", 4, 8)
    hops_gpipe = comm.critical_path_hops("gpipe", 4, 8)
    tp_nv = comm.tp_comm_time_per_layer(GPT3_175B, 1, 8, NVLINK3, 2048)
    tp_ib = comm.tp_comm_time_per_layer(GPT3_175B, 1, 8, IB_HDR, 2048)
    tp_ratio = tp_ib / tp_nv
    blocking_1f1b = comm.blocking_comm_hops("1f1b", 4, 8)
    blocking_il = comm.blocking_comm_hops("interleaved", 4, 8, 2)
    async_il = comm.critical_path_hops("interleaved", 4, 8, 2)
    emb_mib = comm.embedding_allreduce_bytes(GPT3_175B, 8) / MiB
    return [
        numeric(
            "GPT-3 175B (h = 12288), micro-batch b = 1, sequence s = 2048, 16-bit activations: "
            "how many MiB cross one stage boundary per micro-batch in the forward pass?",
            hop_mib,
            rel_tol=0.01,
            correct_feedback="Right: $b s h \\times 2$ bytes = 50,331,648 bytes = 48 MiB.",
            wrong_feedback="Multiply $b \\cdot s \\cdot h \\cdot 2$ bytes and divide by $2^{20}$.",
            traps=[
                (2 * hop_mib, "That is forward plus backward; the question asks forward only."),
                (nic_mib, "That is one card's share with scatter/gather over $t = 8$."),
            ],
        ),
        numeric(
            "The same GPT-3 175B activation (h = 12288, b = 1, s = 2048, 16-bit), now with "
            "tensor parallelism t = 8 and Megatron-LM's scatter/gather: how many MiB does each "
            "network card send per micro-batch and boundary, forward?",
            nic_mib,
            rel_tol=0.01,
            correct_feedback="Right: each rank sends a $1/t$ slice; the receiver all-gathers it "
            "over NVLink.",
            wrong_feedback="Scatter/gather splits $b s h$ into $t$ slices, one per card.",
            traps=[(hop_mib, "Without scatter/gather each card would send all of it.")],
        ),
        numeric(
            "A GPipe training step with p = 8 uniform stages and m = 32 micro-batches; each "
            f"transfer over a stage boundary takes {HOP_MS} ms (forward or backward), every "
            "boundary has its own link, and sends are asynchronous (the sender goes on "
            "computing while its message travels). How many ms do the hops add to the step?",
            gpipe_ms,
            rel_tol=0.01,
            correct_feedback="Right: only the fill and the drain wait for hops, $2 (p - 1)$ of "
            "them; every other transfer overlaps compute on another stage.",
            wrong_feedback="Follow the critical path: down the stages once at the start and "
            "back up once at the end.",
            traps=[
                (
                    note_like_ms,
                    "That counts every forward transfer one after another, as the note does; "
                    "each boundary is its own link and transfers overlap compute.",
                ),
                (7 * HOP_MS, "The drain pays $p - 1$ hops too, on the way back."),
            ],
        ),
        numeric(
            "1F1B with p = 4 uniform stages and m = 8 micro-batches, asynchronous sends (a hop "
            "delays only its receiver), one link per boundary: how many hop latencies lie on "
            "the critical path of one step?",
            hops_1f1b,
            abs_tol=0.5,
            correct_feedback="Right: $2 \\lceil (m + p - 2)(p - 1) / p \\rceil$. The warm-up has "
            "no slack, so steady-state cycles wait for round trips too.",
            wrong_feedback="Count the round trips on the critical path: every step between "
            "actions crosses a boundary except the turns on one rank.",
            traps=[
                (hops_gpipe, "That is GPipe's $2 (p - 1)$; 1F1B also pays in steady state."),
                (blocking_1f1b, "That is the blocking count; here sends are asynchronous."),
            ],
        ),
        numeric(
            "The same 1F1B step (p = 4, m = 8, uniform stages), but every rank waits for its "
            "own send to finish before its next action, as Megatron-LM's non-interleaved "
            "1F1B does (batched send/receive, then wait). How many hop times does the step "
            "gain?",
            blocking_1f1b,
            abs_tol=0.5,
            correct_feedback="Right: $2 m + 2 p - 5$. A middle rank pays one hop after each of "
            "its $2 m$ actions, and the fill and drain add the rest.",
            wrong_feedback="Count the sends of a middle rank (one after every forward and "
            "every backward), then add the waits of the fill and drain: $2 m + 2 p - 5$.",
            traps=[(hops_1f1b, "That is the asynchronous critical path.")],
        ),
        numeric(
            "Interleaved 1F1B, p = 4, v = 2 chunks per rank, m = 8, uniform stages, backward "
            "= 2 x forward, hops "
            "shorter than 1/20 of a chunk's forward. How many more hop times does a step pay "
            "with blocking sends than with asynchronous ones?",
            blocking_il - async_il,
            abs_tol=0.5,
            correct_feedback="Right: blocking $(2 v - 1) m + 2 p - 3$ against asynchronous "
            "$2 (p v - 1)$. Interleaving hides the hops only if sends do not block.",
            wrong_feedback="Blocking: $(2 v - 1) m + 2 p - 3$ hops; asynchronous: "
            "$2 (p v - 1)$, the fill and drain of the $p v$ stages. Subtract.",
        ),
        numeric(
            "GPT-3 175B ties its input and output embeddings (vocabulary V = 50257, h = 12288). "
            "With p > 1 stages and tensor parallelism t = 8, how many MiB of fp32 embedding "
            "gradient does each GPU of the first stage all-reduce with its peer on the last "
            "stage after the flush?",
            emb_mib,
            rel_tol=0.01,
            correct_feedback="Right: $V h / t$ values $\\times$ 4 bytes, once per step, outside "
            "the pipeline schedule.",
            wrong_feedback="Each TP rank holds $V h / t$ of the embedding; its gradient is fp32 "
            "(4 bytes per value).",
            traps=[(emb_mib * 8, "That is the whole embedding; each TP rank holds $1/t$.")],
        ),
        multiple_choice(
            "Sends are asynchronous (a hop delays only its receiver) and stages uniform. Why "
            "can hop latency lengthen every steady-state cycle of 1F1B but not of GPipe?",
            [
                choice(
                    "1F1B's warm-up keeps just enough micro-batches in flight to cover compute, "
                    "so a backward waits for its round trip",
                    True,
                    "Yes: the loop $F(k)$ down to the last stage and back to $B(k)$ has exactly "
                    "the compute rank 0 does meanwhile; any hop time is added to it.",
                ),
                choice(
                    "1F1B sends more bytes per micro-batch",
                    False,
                    "Both send $b s h$ forward and the same backward per boundary.",
                ),
                choice(
                    "GPipe's sends are faster",
                    False,
                    "The links are the same; GPipe has all $m$ forwards queued, so the "
                    "receiver always has work while a message travels.",
                ),
            ],
        ),
        many_choice(
            "Sends are asynchronous (a hop delays only its receiver). Which of these keep hop "
            "latency off 1F1B's steady-state critical path? Pick all that apply.",
            [
                choice(
                    "A deeper warm-up (one extra micro-batch in flight per hop)",
                    True,
                    "Yes: Megatron-LM's interleaved order does this; the slack absorbs hops up "
                    "to about one chunk's compute.",
                ),
                choice(
                    "Deferring weight-gradient passes (ZB-H1)",
                    True,
                    "Yes: the W passes fill the wait, so the count stops growing with $m$.",
                ),
                choice(
                    "Dividing the total traffic over more links",
                    False,
                    "Each boundary already has its own link; the issue is waiting, not volume.",
                ),
                choice(
                    "Using fp32 activations",
                    False,
                    "That doubles every hop.",
                ),
            ],
        ),
        numeric(
            "GPT-3 175B (h = 12288), b = 1, s = 2048, 16-bit, t = 8, two ring all-reduces of "
            "the b s h layer output per layer forward. How many times longer do they take over "
            "InfiniBand HDR (24 GB/s per direction, 2.7 us per ring step) than over NVLink 3 "
            "(230 GB/s, 0.6 us per ring step), with NCCL's 6.6 us per call on both?",
            tp_ratio,
            rel_tol=0.03,
            correct_feedback="Right: the ring moves the same bytes; only the bandwidth (and "
            "latency) differ. That is why TP stays inside a node.",
            wrong_feedback="Divide `tp_comm_time_per_layer` over IB HDR by the same over NVLink 3.",
        ),
    ]
