"""Chapter 5 quiz: the unified performance model (综合性能模型).

Every answer is computed by :mod:`ppnotes.perf_model` (the note's model and the roofline),
:mod:`ppnotes.bubble`, :mod:`ppnotes.memory` or :mod:`ppnotes.runs`, and every question states
all of its inputs.
"""

from __future__ import annotations

from .. import bubble, comm, memory, partition, perf_model, runs
from ..hardware import A100_80GB, GB
from ..models import GPT3_175B
from ..quiz import choice, many_choice, multiple_choice, numeric

# The note's own inputs (section 5): GPT-3 175B shape, batch 32, M = 32, 25 GB/s, 312 TFLOP/s.
NOTE_INPUTS = perf_model.NOTE_EXAMPLE_INPUTS
EFFICIENCY = comm.DEFAULT_UTILISATION  # the book's achieved fraction of peak


def note_efficiency(depth: int, fixed: bool = False) -> float:
    """The note's printed efficiency at ``depth`` (literal, or with the units fixed)."""
    model = perf_model.note_performance_model_fixed if fixed else perf_model.note_performance_model
    return model(pp_depth=depth, **NOTE_INPUTS)["efficiency"]


def note_comm_ratio(depth: int, fixed: bool = False) -> float:
    """The note's communication share of the step at ``depth``."""
    model = perf_model.note_performance_model_fixed if fixed else perf_model.note_performance_model
    return model(pp_depth=depth, **NOTE_INPUTS)["comm_ratio"]


def one_token_projection_us(efficiency: float = EFFICIENCY) -> tuple[float, float]:
    """(roofline time, compute-only time) in microseconds of an h x h bf16 projection of
    GPT-3 (h = 12288) for ONE token on an A100 80GB at ``efficiency`` of its peak."""
    h = GPT3_175B.hidden_size
    flops, nbytes = 2 * h * h, 2 * h * h + 2 * 2 * h
    roofline = perf_model.matmul_time(flops, nbytes, A100_80GB, efficiency)
    return 1e6 * roofline, 1e6 * flops / (A100_80GB.bf16_flops * efficiency)


def hfu_over_mfu_full_recompute() -> float:
    """HFU / MFU for GPT-3 175B with full recomputation (B = 1, s = 2048)."""
    config = perf_model.Config(1, 1, 1, 1, 1, recompute="full")
    useful = perf_model.model_flops_per_step(GPT3_175B, config)
    return (useful + perf_model.recompute_flops_per_step(GPT3_175B, config)) / useful


def gradient_gb_per_gpu(depth: int, tensor_parallel: int = 8) -> float:
    """GB of fp32 gradients one GPU of GPT-3 175B's largest stage reduces over d per step."""
    split = partition.balanced_split(GPT3_175B.num_layers, depth)
    return max(memory.stage_params(GPT3_175B, split)) / tensor_parallel * 4 / GB


ZERO_GPUS = 1024


def zero_bytes_ratio(config) -> float:
    """ZeRO-3 over ZeRO-1 bytes per GPU per step for GPT-3 175B (perf_model.sharding_bytes)."""
    return perf_model.sharding_bytes_per_step(
        GPT3_175B, config, 3
    ) / perf_model.sharding_bytes_per_step(GPT3_175B, config, 1)


def questions() -> list[dict]:
    """The chapter 5 quiz; every answer comes from the book's functions."""
    literal8, fixed8 = note_efficiency(8), note_efficiency(8, fixed=True)
    comm16, comm16_literal = note_comm_ratio(16, fixed=True), note_comm_ratio(16)
    stage_ratio = (
        perf_model.note_performance_model(pp_depth=8, **NOTE_INPUTS)["compute_time"]
        / perf_model.note_performance_model_fixed(pp_depth=8, **NOTE_INPUTS)["compute_time"]
    )
    roofline_us, compute_us = one_token_projection_us()
    hfu_ratio = hfu_over_mfu_full_recompute()
    grads8, grads16 = gradient_gb_per_gpu(8), gradient_gb_per_gpu(16)
    interleaved = bubble.bubble_fraction(8, 32, 2)
    plain = bubble.bubble_fraction(8, 32)
    sp175 = runs.get_run("Megatron 175B (SP + selective)")
    zero_cfg = perf_model.Config.for_gpus(ZERO_GPUS, 8, 8, micro_batch=1, global_batch=1536)
    zero_ratio = zero_bytes_ratio(zero_cfg)
    tokens = sp175.measured_tokens_per_second
    return [
        numeric(
            "The note's section 5 model, run literally with its inputs: 96 layers, h = 12288, "
            "s = 2048, batch 32, M = 32 micro-batches, 25 GB/s, 312 TFLOP/s. What efficiency "
            "(compute time / total time, in %) does it print for PP = 8?",
            100 * literal8,
            rel_tol=0.01,
            correct_feedback="Right: its efficiency is just $1 - (p-1)/(p-1+M)$ minus a tiny "
            "communication share, because its stage time is for the *whole* batch.",
            wrong_feedback="Run it: `time_per_stage` = layer time for all 32 sequences $\\times$ "
            "96 / 8; bubble = 7 stage times, compute = 32 stage times, plus $32 \\times 7$ "
            "transfers.",
            traps=[
                (
                    100 * fixed8,
                    "That is the model with its units fixed (stage time per micro-batch). "
                    "The literal code uses the whole batch.",
                ),
            ],
        ),
        numeric(
            "In the note's model (its inputs: 96 layers, h = 12288, s = 2048, batch 32, M = 32, "
            "25 GB/s, 312 TFLOP/s), by what factor is compute_time too large, "
            "at any depth, because the stage time is computed for the whole batch of 32 and "
            "then multiplied by M = 32?",
            stage_ratio,
            integer=True,
            correct_feedback="Right: $M$. Each micro-batch is $B/M$ sequences, so the stage time "
            "must be for $B/M$ sequences; the communication already is per micro-batch.",
            wrong_feedback="Compare `compute_time` with the stage time computed for $B/M$ "
            "sequences: the ratio is the number of micro-batches.",
            traps=[(1, "It is not exact: the whole-batch stage time is counted $M$ times.")],
        ),
        numeric(
            "With the note's units fixed (stage time for one micro-batch of B / M = 1 "
            "sequence; 96 layers, h = 12288, s = 2048, batch 32, M = 32, 312 TFLOP/s, one "
            "25 GB/s link, no overlap), what share of the step "
            "(in %) is communication at PP = 16?",
            100 * comm16,
            rel_tol=0.02,
            whole_percent=True,
            correct_feedback="Right: fixing the units makes communication $M$ times more "
            "important than the literal code says.",
            wrong_feedback="Communication = $32 \\times 15$ transfers of $2sh$ bytes at 25 GB/s; "
            "divide by bubble + compute + communication with the per-micro-batch stage time.",
            traps=[
                (
                    100 * comm16_literal,
                    "That is the literal code, whose compute is 32 times too large and so "
                    "hides the communication.",
                )
            ],
        ),
        numeric(
            f"Roofline: one token through one GPT-3 projection (h = 12288, an h x h bf16 "
            f"weight: $2h^2$ FLOPs, $2h^2$ bytes of weights plus the 2-byte input and output) on "
            f"an A100 80GB (312 TFLOP/s dense BF16; HBM 2,039 GB/s peak, "
            f"{A100_80GB.achievable_hbm_bandwidth / 1e9:,.0f} GB/s achievable) at "
            f"{EFFICIENCY:.0%} of peak on compute-bound kernels, plus a "
            f"{A100_80GB.kernel_launch_cost * 1e6:.0f} µs kernel launch. How many "
            "microseconds does it take?",
            roofline_us,
            rel_tol=0.03,
            correct_feedback="Right: $\\max(\\text{FLOPs}/(\\text{peak} \\cdot \\eta),\\ "
            "\\text{bytes}/\\text{bandwidth})$ plus the launch. "
            "Reading the weights dominates: one token is memory-bound.",
            wrong_feedback="Take the larger of $\\text{FLOPs}/(312 \\cdot 10^{12}\\,\\eta)$ and "
            "bytes over the achievable bandwidth, and add the launch.",
            traps=[
                (
                    compute_us,
                    "That is the compute time alone. The weights must be read from HBM "
                    "whatever the batch, which takes far longer.",
                )
            ],
        ),
        numeric(
            "GPT-3 175B, s = 2048, full activation recomputation. Hardware FLOPs count the "
            "recomputed forward, model FLOPs do not (the LM head is not recomputed). What is "
            "HFU / MFU?",
            hfu_ratio,
            rel_tol=0.01,
            correct_feedback="Right: about $4/3$. A step is 3 forwards of work (forward, two for "
            "the backward); full recomputation adds a fourth to every layer.",
            wrong_feedback="Model FLOPs: $3 \\times$ forward (layers and head). Hardware FLOPs "
            "add one more forward of the layers.",
            traps=[
                (1.0, "Recomputation is real work on the GPU: HFU counts it, MFU does not."),
                (2.0, "Recomputation repeats the forward (1 unit), not the backward (2 units)."),
            ],
        ),
        multiple_choice(
            f"Data parallelism over d replicas of GPT-3 175B with t = 8: one GPU of the largest "
            f"stage reduces its stage's fp32 gradients every step. That is "
            f"{grads8:.1f} GB at p = 8. What happens at p = 16 (same t)?",
            [
                choice(
                    f"It falls to {grads16:.1f} GB: the stage holds about half as many parameters",
                    True,
                    "Yes: the gradient volume per GPU falls as $1/p$ (plus the embedding or "
                    "head on the end stages).",
                ),
                choice(
                    f"It stays {grads8:.1f} GB: every GPU reduces the whole model",
                    False,
                    "Only the stage's own parameters are reduced, among the d replicas of "
                    "that stage.",
                ),
                choice(
                    f"It doubles to {2 * grads8:.1f} GB: more stages, more traffic",
                    False,
                    "More stages add pipeline hops, not gradient volume per GPU.",
                ),
            ],
        ),
        numeric(
            f"GPT-3 175B on {ZERO_GPUS} GPUs with t = 8, p = 8 (so d = {zero_cfg.data_parallel}), "
            f"b = 1 and a global batch of {zero_cfg.global_batch} sequences (m = "
            f"{zero_cfg.num_microbatches} micro-batches per pipeline). How many times more bytes "
            "per step does each GPU send to keep its data-parallel shard in sync under ZeRO-3 "
            "run per micro-batch, as written (weights gathered before every micro-batch's "
            "forward and backward) than under "
            "ZeRO-1 (one gradient reduce-scatter and one weight all-gather per step)?",
            zero_ratio,
            rel_tol=0.03,
            correct_feedback="Right: ZeRO-3 reduce-scatters the gradients after every "
            "micro-batch and gathers the weights twice per micro-batch, so its traffic grows "
            "with $m$ while ZeRO-1's does not. (FSDP under PyTorch's pipelining defers both "
            "to the last micro-batch: there the ratio is 1.)",
            wrong_feedback="ZeRO-1 per step: fp32 gradients (4 bytes per parameter) + bf16 "
            "weights (2). ZeRO-3: $4m + 2 + 2m \\times 2$ bytes per parameter.",
            traps=[
                (1.0, "The bytes per gather are the same, but ZeRO-3 gathers $2m$ times per step."),
                (3.0, "That is one forward and one backward gather; there are $m$ micro-batches."),
            ],
        ),
        many_choice(
            "A deep pipeline runs many micro-batches per step. Which data-parallel shardings, "
            "run as described, communicate more as the number of micro-batches m grows? Pick "
            "all that apply.",
            [
                choice(
                    "ZeRO-1 (sharded optimizer state)",
                    False,
                    "No: gradients accumulate over the m micro-batches and are reduce-scattered "
                    "once per step; the updated weights are gathered once.",
                ),
                choice(
                    "ZeRO-2 (also sharded gradients)",
                    True,
                    "Yes: no rank holds the full gradient to accumulate into, so the "
                    "reduce-scatter runs after every micro-batch (DeepSpeed's pipeline engine "
                    "refuses it).",
                ),
                choice(
                    "ZeRO-3 / FSDP resharding after every forward and backward (also sharded "
                    "weights)",
                    True,
                    "Yes: every micro-batch gathers the weights before its forward and again "
                    "before its backward, $2m$ gathers per step.",
                ),
                choice(
                    "FSDP (ZeRO-3) under PyTorch's pipelining, as torchtitan runs it",
                    False,
                    "No: the pipeline stage keeps the gathered weights and the unsharded "
                    "gradients until the last micro-batch's backward (torchtitan turns "
                    "resharding after the forward off with pipelining), so it gathers and "
                    "reduce-scatters once per step, like ZeRO-1.",
                ),
            ],
        ),
        numeric(
            "Interleaved 1F1B with p = 8, m = 32 micro-batches and v = 2 chunks per rank: what "
            "is the idle share of the step (bubble fraction $(p-1)/(vm+p-1)$, in %)?",
            100 * interleaved,
            rel_tol=0.01,
            whole_percent=True,
            correct_feedback="Right: $v$ divides the bubble time, at $v$ times the point-to-point "
            "hops.",
            wrong_feedback="Use $(p-1)/(vm+p-1)$ with $v = 2$.",
            traps=[(100 * plain, "That is plain 1F1B ($v = 1$).")],
        ),
        numeric(
            f"Korthikanti et al. trained GPT-3 175B on {sp175.num_gpus} A100s with a global "
            f"batch of {sp175.global_batch} sequences of {sp175.seq_len} tokens, one step in "
            f"{sp175.measured_step_time} s. How many tokens per second is that (whole run)?",
            tokens,
            rel_tol=0.01,
            correct_feedback="Right: $Bs$ / step time.",
            wrong_feedback="Tokens per step are $B \\times s$; divide by the step time.",
            traps=[(tokens / sp175.num_gpus, "That is per GPU; the question asks for the run.")],
        ),
    ]
