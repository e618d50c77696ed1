"""Chapter 4 quiz: memory per stage (显存占用)."""

from __future__ import annotations

from .. import hardware, memory, partition
from ..models import GPT3_175B, LLAMA3_70B
from ..quiz import choice, many_choice, multiple_choice, numeric

# The chapter's running configuration for GPT-3 175B.
TENSOR_PARALLEL = 8
MICRO_BATCHES = 32


def smallest_fitting_depth(
    gpu=hardware.H100_SXM, recompute: str = "selective", sequence_parallel: bool = True
) -> int | None:
    """Smallest depth dividing 96 at which every stage of GPT-3 175B fits on ``gpu``.

    1F1B, t = 8, b = 1, s = 2048, m = 32, no ZeRO sharding; None if no depth up to 32 fits.
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
        )
        if memory.fits(rows, gpu):
            return p
    return None


def questions() -> list[dict]:
    """The chapter 4 quiz; every answer comes from :mod:`ppnotes.memory`."""
    per_param = sum(memory.training_bytes_per_param().values())
    layer_gb = memory.activation_bytes_per_layer(GPT3_175B, 1) / 1e9
    note_gb = 2048 * 12288 * 2 / 1e9  # the note's one s x h tensor, at 2 bytes
    sets_p8 = memory.in_flight_sets("1f1b", 8, MICRO_BATCHES, 0)
    kv_kib = memory.kv_cache_bytes_per_token(LLAMA3_70B) / 1024
    kv_mha_kib = 2 * LLAMA3_70B.num_layers * LLAMA3_70B.num_heads * LLAMA3_70B.head_dim * 2 / 1024
    full_ratio = memory.activation_bytes_per_layer(GPT3_175B, 1) / (
        memory.activation_bytes_per_layer(GPT3_175B, 1, recompute="full")
    )
    depth = smallest_fitting_depth()
    return [
        numeric(
            "Mixed-precision Adam training: how many bytes does each parameter cost in weights, "
            "gradients and optimizer state together (no ZeRO sharding, 2-byte gradients)?",
            per_param,
            abs_tol=0.5,
            correct_feedback="Right: 2 (bf16 weights) + 2 (bf16 gradients) + 12 (fp32 master "
            "weights, momentum, variance) = 16 bytes (ZeRO paper, sec. 3.1).",
            wrong_feedback="Add bf16 weights and gradients to the fp32 optimizer state: master "
            "weights, Adam's momentum and variance, 4 bytes each.",
            traps=[
                (2, "2 bytes is only the bf16 weights, what inference needs."),
                (12, "12 bytes is the optimizer state alone; add weights and gradients."),
            ],
        ),
        numeric(
            "GPT-3 175B (h = 12288, a = 96), one sequence of s = 2048 tokens, no tensor "
            "parallelism, no recomputation: how many GB (10^9 bytes) of activations does ONE "
            "layer keep for the backward pass?",
            layer_gb,
            rel_tol=0.02,
            correct_feedback="Right: s b h (34 + 5 a s / h) = 2048 x 12288 x 114 bytes.",
            wrong_feedback="Use Korthikanti et al.: s b h (34 + 5 a s / h) bytes; here "
            "5 a s / h = 80.",
            traps=[
                (
                    note_gb,
                    "That is one s x h tensor at 2 bytes, the note's model. A layer keeps "
                    "34 + 5as/h bytes per element of s x h, not 2.",
                ),
                (
                    2048 * 12288 * 34 / 1e9,
                    "You dropped the attention term 5as/h: that is what selective "
                    "recomputation removes.",
                ),
            ],
        ),
        numeric(
            "1F1B with p = 8 stages and m = 32 micro-batches: how many micro-batches' "
            "activations does the first stage hold at its peak?",
            sets_p8,
            abs_tol=0.5,
            correct_feedback="Right: p - i warm-up forwards for stage i, so min(p, m) = 8 on "
            "stage 0 (and 1 on the last stage).",
            wrong_feedback="Stage i runs p - 1 - i warm-up forwards and one more before its "
            "first backward: min(p - i, m).",
            traps=[
                (MICRO_BATCHES, "That is GPipe, which runs all m forwards before any backward."),
                (MICRO_BATCHES / 8 + 1, "That is the note's M/PP + 1, which has no derivation."),
            ],
        ),
        multiple_choice(
            "Under 1F1B with m >= p and p dividing L, how many layers' worth of activations "
            "(one micro-batch each) does the FIRST stage hold?",
            [
                choice(
                    "L, whatever p",
                    True,
                    "Yes: p micro-batches x L / p layers. Deeper pipelines do not shrink it.",
                ),
                choice(
                    "L / p",
                    False,
                    "That is one micro-batch through the stage; stage 0 holds p of them.",
                ),
                choice(
                    "m L / p",
                    False,
                    "That is GPipe, which holds all m micro-batches.",
                ),
                choice(
                    "(m / p + 1) L / p",
                    False,
                    "The note's count; 1F1B's warm-up holds p on stage 0, not m/p + 1.",
                ),
            ],
        ),
        many_choice(
            "1F1B, m >= p, fixed t, b and s. Which of these shrink as the depth p grows? Pick "
            "all that apply.",
            [
                choice(
                    "Weights per stage",
                    True,
                    "Yes: about 1/p of the layers (plus the embedding or head at the ends).",
                ),
                choice(
                    "Optimizer state per stage",
                    True,
                    "Yes: it follows the parameters, 12 bytes each.",
                ),
                choice(
                    "Activations on the first stage",
                    False,
                    "No: p micro-batches x L / p layers = L layers' worth, whatever p.",
                ),
                choice(
                    "Activations on the last stage",
                    True,
                    "Yes: it holds one micro-batch of L / p layers.",
                ),
            ],
        ),
        numeric(
            "Llama 3 70B (80 layers, 8 KV heads of dimension 128, bf16 cache): how many KiB of "
            "KV cache does one token take?",
            kv_kib,
            rel_tol=0.01,
            correct_feedback="Right: 2 x 80 x 8 x 128 x 2 bytes = 320 KiB: grouped-query "
            "attention stores 8 KV heads, not 64.",
            wrong_feedback="Per token: 2 (K and V) x layers x KV heads x head dim x bytes.",
            traps=[
                (
                    kv_mha_kib,
                    "That counts all 64 query heads. With grouped-query attention only the 8 "
                    "KV heads are cached.",
                )
            ],
        ),
        numeric(
            "For GPT-3 175B (t = 1, s = 2048), by what factor does full recomputation cut a "
            "layer's stored activations compared with storing everything?",
            full_ratio,
            rel_tol=0.02,
            correct_feedback="Right: (34 + 5 a s / h) / 2 = 114 / 2; only the 2 s b h layer "
            "input is kept, and the forward pass runs twice.",
            wrong_feedback="Full recomputation keeps 2 s b h bytes per layer; compare with "
            "s b h (34 + 5 a s / h).",
        ),
        numeric(
            "GPT-3 175B, 1F1B, t = 8 with sequence parallelism and selective recomputation, "
            "b = 1, s = 2048, m = 32, no ZeRO, H100 80GB with 10 % kept free: what is the "
            "smallest depth dividing 96 at which every stage fits?",
            depth,
            abs_tol=0.5,
            correct_feedback="Right: weights, gradients and optimizer state shrink as 1/p, "
            "while stage 0's activations stay at L layers' worth.",
            wrong_feedback="Compute stage 0: 16 bytes x its parameters / t, plus 96 layers x "
            "34 s b h / t activation bytes; try p = 4, 6, 8, ...",
        ),
    ]
