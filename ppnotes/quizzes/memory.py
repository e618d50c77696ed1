"""Chapter 4 quiz: memory per stage (显存占用影响)."""

from __future__ import annotations

from .. import hardware, memory, partition
from ..models import GPT3_175B, LLAMA3_70B
from ..quiz import choice, many_choice, multiple_choice, numeric

# The chapter's running configuration for GPT-3 175B.
TENSOR_PARALLEL = 8
MICRO_BATCHES = 32


def smallest_fitting_depth(
    gpu=hardware.H100_SXM,
    recompute: str = "selective",
    sequence_parallel: bool = True,
    **options,
) -> int | None:
    """Smallest depth dividing 96 at which every stage of GPT-3 175B fits on ``gpu``.

    1F1B, t = 8, b = 1, s = 2048, m = 32, the book's training baseline (18 bytes per
    parameter: bf16 weights, fp32 gradients, Adam; no distributed optimizer; FlashAttention;
    no dropout) and the training reserve :data:`ppnotes.memory.TRAINING_RESERVE_FRACTION`;
    None if no depth up to 32 fits. ``options`` go to :func:`ppnotes.memory.stage_memory`
    (for example ``distributed_optimizer=True, data_parallel=8``).
    """
    for p in partition.valid_depths(GPT3_175B.num_layers):
        if p > MICRO_BATCHES:
            break
        rows = memory.stage_memory(
            GPT3_175B,
            partition.balanced_split(GPT3_175B.num_layers, p),
            tensor_parallel=TENSOR_PARALLEL,
            num_microbatches=MICRO_BATCHES,
            schedule="1f1b",
            recompute=recompute,
            sequence_parallel=sequence_parallel,
            **options,
        )
        if memory.fits(rows, gpu):
            return p
    return None


def questions() -> list[dict]:
    """The chapter 4 quiz; every answer comes from :mod:`ppnotes.memory`."""
    per_param = sum(memory.training_bytes_per_param().values())
    per_param_16 = sum(memory.training_bytes_per_param(fp32_grads=False).values())
    sharded = sum(
        memory.training_bytes_per_param(distributed_optimizer=True, data_parallel=8).values()
    )
    layer_gb = memory.activation_bytes_per_layer(GPT3_175B, 1) / 1e9
    korthikanti_gb = (
        memory.activation_bytes_per_layer(GPT3_175B, 1, flash_attention=False, dropout=True) / 1e9
    )
    note_gb = 2048 * 12288 * 2 / 1e9  # the note's one s x h tensor, at 2 bytes
    sets_p8 = memory.in_flight_sets("1f1b", 8, MICRO_BATCHES, 0)
    kv_kib = memory.kv_cache_bytes_per_token(LLAMA3_70B) / 1024
    kv_mha_kib = 2 * LLAMA3_70B.num_layers * LLAMA3_70B.num_heads * LLAMA3_70B.head_dim * 2 / 1024
    full_ratio = memory.activation_bytes_per_layer(GPT3_175B, 1) / (
        memory.activation_bytes_per_layer(GPT3_175B, 1, recompute="full")
    )
    full_ratio_korthikanti = memory.activation_bytes_per_layer(
        GPT3_175B, 1, flash_attention=False, dropout=True
    ) / memory.activation_bytes_per_layer(GPT3_175B, 1, recompute="full")
    depth = smallest_fitting_depth(recompute="none")
    reserve = memory.TRAINING_RESERVE_FRACTION
    return [
        numeric(
            "Megatron-LM trains in bf16 with Adam and keeps fp32 gradients (main_grad). How "
            "many bytes does each parameter cost in weights, gradients and optimizer state "
            "together, without the distributed optimizer?",
            per_param,
            abs_tol=0.5,
            correct_feedback="Right: 2 (bf16 weights) + 4 (fp32 gradients) + 12 (fp32 master "
            "weights, momentum, variance) $= 18$ bytes.",
            wrong_feedback="Add bf16 weights, fp32 gradients and the fp32 optimizer state: "
            "master weights, Adam's momentum and variance, 4 bytes each.",
            traps=[
                (
                    per_param_16,
                    "16 is the ZeRO paper's count with 2-byte gradients; Megatron-LM keeps "
                    "its gradients in fp32 for bf16 training.",
                ),
                (2, "2 bytes is only the bf16 weights, what inference needs."),
                (12, "12 bytes is the optimizer state alone; add weights and gradients."),
            ],
        ),
        numeric(
            "The same training (bf16 weights, fp32 gradients, Adam) with Megatron-LM's "
            "distributed optimizer (ZeRO stage 1) over d = 8 data-parallel ranks: how many "
            "bytes per parameter does each GPU hold?",
            sharded,
            rel_tol=0.01,
            correct_feedback="Right: $2 + 4 + 12 / 8 = 7.5$. Only the 12 optimizer bytes are "
            "sharded; weights and gradients stay whole (Megatron-LM's $6 + 12/d$).",
            wrong_feedback="The distributed optimizer shards the fp32 master weights and "
            "Adam moments (12 bytes) over $d$; it keeps the 2-byte weights and 4-byte "
            "gradients on every rank.",
            traps=[
                (
                    per_param / 8,
                    "That shards everything (ZeRO stage 3); stage 1 shards only "
                    "the optimizer state.",
                ),
            ],
        ),
        numeric(
            "GPT-3 175B (h = 12288, a = 96), one sequence of s = 2048 tokens, 16-bit "
            "activations, FlashAttention (fp32 log-sum-exp), no dropout, no tensor "
            "parallelism, no recomputation: how many GB (10^9 bytes) of activations does "
            "ONE layer keep for the backward pass?",
            layer_gb,
            rel_tol=0.02,
            correct_feedback="Right: $32 s b h + 4 a s b$ bytes: Korthikanti et al.'s $34 s b h$ "
            "without the two 1-byte dropout masks, and no attention scores.",
            wrong_feedback="Start from Korthikanti et al.'s $s b h (34 + 5 a s / h)$: "
            "FlashAttention removes the $5 a s / h$ term (it keeps a 4-byte log-sum-exp per "
            "row and head), and no dropout removes two 1-byte masks.",
            traps=[
                (
                    korthikanti_gb,
                    "That is Korthikanti et al.'s 2022 count, which stores the attention "
                    "scores' softmax and dropout tensors; FlashAttention never stores them.",
                ),
                (
                    note_gb,
                    "That is one $s \\times h$ tensor at 2 bytes, the note's model. A layer keeps "
                    "about 32 bytes per element of $s \\times h$.",
                ),
            ],
        ),
        numeric(
            "1F1B with p = 8 stages and m = 32 micro-batches: how many micro-batches' "
            "activations does the first stage hold at its peak?",
            sets_p8,
            abs_tol=0.5,
            correct_feedback="Right: $p - i$ warm-up forwards for stage $i$, so $\\min(p, m) = 8$ "
            "on stage 0 (and 1 on the last stage).",
            wrong_feedback="Stage $i$ runs $p - 1 - i$ warm-up forwards and one more before its "
            "first backward: $\\min(p - i, m)$.",
            traps=[
                (MICRO_BATCHES, "That is GPipe, which runs all $m$ forwards before any backward."),
                (MICRO_BATCHES / 8 + 1, "That is the note's $M/PP + 1$, which has no derivation."),
            ],
        ),
        multiple_choice(
            "Under 1F1B with m >= p and p dividing L, how many layers' worth of activations "
            "(one micro-batch each) does the FIRST stage hold?",
            [
                choice(
                    "L, whatever p",
                    True,
                    "Yes: $p$ micro-batches $\\times L / p$ layers. Deeper pipelines do not "
                    "shrink it.",
                ),
                choice(
                    "L / p",
                    False,
                    "That is one micro-batch through the stage; stage 0 holds $p$ of them.",
                ),
                choice(
                    "m L / p",
                    False,
                    "That is GPipe, which holds all $m$ micro-batches.",
                ),
                choice(
                    "(m / p + 1) L / p",
                    False,
                    "The note's count; 1F1B's warm-up holds $p$ on stage 0, not $m/p + 1$.",
                ),
            ],
        ),
        many_choice(
            "1F1B, m >= p, fixed t, b and s, no distributed optimizer. Which of these shrink "
            "as the depth p grows? Pick all that apply.",
            [
                choice(
                    "Weights per stage",
                    True,
                    "Yes: about $1/p$ of the layers (plus the embedding or head at the ends).",
                ),
                choice(
                    "Optimizer state per stage",
                    True,
                    "Yes: it follows the parameters, 12 bytes each.",
                ),
                choice(
                    "Activations on the first stage",
                    False,
                    "No: $p$ micro-batches $\\times L / p = L$ layers' worth, whatever $p$.",
                ),
                choice(
                    "Activations on the last stage",
                    True,
                    "Yes: it holds one micro-batch of $L / p$ layers.",
                ),
            ],
        ),
        numeric(
            "Llama 3 70B (80 layers, 8 KV heads of dimension 128, bf16 cache): how many KiB of "
            "KV cache does one token take?",
            kv_kib,
            rel_tol=0.01,
            correct_feedback="Right: "
            "$2 \\times 80 \\times 8 \\times 128 \\times 2$ "
            "bytes = 320 KiB: grouped-query attention stores 8 KV heads, not 64.",
            wrong_feedback="Per token: 2 (K and V) $\\times$ layers $\\times$ KV heads "
            "$\\times$ head dim $\\times$ bytes.",
            traps=[
                (
                    kv_mha_kib,
                    "That counts all 64 query heads. With grouped-query attention only the 8 "
                    "KV heads are cached.",
                )
            ],
        ),
        numeric(
            "GPT-3 175B (h = 12288, a = 96), t = 1, s = 2048, FlashAttention, no dropout: by "
            "what factor does full recomputation (keeping only each layer's 2 s b h input) "
            "cut a layer's stored activations compared with storing everything?",
            full_ratio,
            rel_tol=0.02,
            correct_feedback=f"Right: $(32 + 4 a / h) / 2 = {full_ratio:.1f}$; the forward pass "
            "then runs twice. Before FlashAttention the factor was "
            f"$(34 + 5 a s / h) / 2 = {full_ratio_korthikanti:.0f}$.",
            wrong_feedback="Full recomputation keeps $2 s b h$ bytes per layer; compare with "
            "$32 s b h + 4 a s b$ under FlashAttention without dropout.",
            traps=[
                (
                    full_ratio_korthikanti,
                    "That is the factor against Korthikanti et al.'s 2022 count with stored "
                    "attention scores; FlashAttention has already removed them.",
                )
            ],
        ),
        numeric(
            "GPT-3 175B (96 layers), 1F1B, t = 8 with sequence parallelism, b = 1, s = 2048, "
            "m = 32, FlashAttention, no dropout, 18 bytes per parameter (bf16, fp32 "
            f"gradients, Adam, no distributed optimizer), no recomputation, H100 80GB with "
            f"{reserve * 100:.0f} % kept free: what is the smallest depth dividing 96 at "
            "which every stage fits?",
            depth,
            abs_tol=0.5,
            correct_feedback="Right: weights, gradients and optimizer state shrink as $1/p$, "
            "while stage 0's activations stay at $L$ layers' worth.",
            wrong_feedback="Compute stage 0: 18 bytes $\\times$ its parameters $/ t$, plus "
            "96 layers $\\times (32 s b h + 4 a s b) / t$ activation bytes; "
            "try $p = 4, 6, 8, \\dots$",
        ),
    ]
