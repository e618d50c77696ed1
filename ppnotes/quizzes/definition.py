"""Chapter 1 quiz: what pipeline depth is."""

from __future__ import annotations

from .. import partition
from ..models import GPT3_175B, LLAMA3_70B
from ..quiz import choice, many_choice, multiple_choice, numeric


def best_efficiency(model, p: int) -> float:
    """Balance efficiency of the best whole-layer split, LM head on the last stage."""
    head = partition.head_layer_equivalents(model)
    split = partition.optimal_split(model.num_layers, p, 0.0, head)
    return partition.balance_efficiency(partition.stage_loads(split, 0.0, head))


def questions() -> list[dict]:
    """The chapter 1 quiz; numbers come from :mod:`ppnotes.partition` and :mod:`ppnotes.models`."""
    p = partition.depth_from_gpus(64, tensor_parallel=8)
    valid = set(partition.valid_depths(GPT3_175B.num_layers))
    offered = [5, 8, 12, 20, 32, 64]
    n_gpus = partition.total_gpus(16, 8, 4)
    eff64 = 100 * best_efficiency(GPT3_175B, 64)
    gpt3_head = partition.head_layer_equivalents(GPT3_175B)
    llama = LLAMA3_70B
    llama_head = partition.head_layer_equivalents(llama)
    idle5 = partition.imbalance_idle_layers(
        partition.stage_loads(partition.balanced_split(96, 5)), 32
    )[1]
    return [
        numeric(
            "A 96-layer model is trained on 64 GPUs with tensor parallelism 8 and no data "
            "parallelism. What is the pipeline depth p?",
            p,
            abs_tol=0.5,
            correct_feedback=f"Right: $p = N / (t d) = 64 / 8 = {p}$.",
            wrong_feedback="Use $N = p t d$: each stage is $t$ GPUs, so $p = N / (t d)$.",
            traps=[(64, "64 is the number of GPUs; each stage spans t = 8 of them.")],
        ),
        many_choice(
            "Which of these depths split GPT-3's 96 layers into equal whole-layer stages? "
            "Pick all that apply.",
            [
                choice(
                    str(d),
                    d in valid,
                    f"{d} divides 96." if d in valid else f"96 / {d} = {96 / d:.2f} layers.",
                )
                for d in offered
            ],
        ),
        multiple_choice(
            "In steady state, what sets the pace at which a pipeline finishes micro-batches?",
            [
                choice(
                    "The slowest stage",
                    True,
                    "Yes: each stage can accept the next micro-batch only when done, so the "
                    "maximum stage time is the period.",
                ),
                choice(
                    "The average stage",
                    False,
                    "The average sets the ideal; every stage still waits for the slowest one.",
                ),
                choice(
                    "The first stage",
                    False,
                    "Only if it is the slowest; a slow later stage backs up the whole pipeline.",
                ),
                choice(
                    "The number of GPUs per stage",
                    False,
                    "That changes each stage's time, but the pace is set by the slowest stage.",
                ),
            ],
        ),
        numeric(
            f"GPT-3 has 96 layers, and its LM head weighs {gpt3_head:.2f} of a layer. With the "
            "head on the last stage and the best whole-layer split into p = 64 stages, what is "
            "the balance efficiency (mean stage load / max stage load), in percent?",
            eff64,
            rel_tol=0.01,
            correct_feedback="Right: 1.5 layers per stage on average, but whole layers force a "
            "bottleneck of 2.",
            wrong_feedback="Mean load is (96 + 0.33) / 64 layers; the slowest stage holds 2 "
            "whole layers. Divide the mean by the max.",
            traps=[(100.0, "Whole layers cannot be split: 96 / 64 is not an integer.")],
        ),
        numeric(
            "How many GPUs does a job with p = 16, t = 8, d = 4 use?",
            n_gpus,
            abs_tol=0.5,
            correct_feedback="Right: $N = p t d$.",
            wrong_feedback="Multiply the three degrees of parallelism: $N = p t d$.",
        ),
        multiple_choice(
            "The note says depth = the number of GPUs in the pipeline. When is that exactly true?",
            [
                choice(
                    "Only without tensor parallelism (t = 1)",
                    True,
                    "Yes: with TP each stage is t GPUs, so one replica uses $p t$ GPUs.",
                ),
                choice(
                    "Always",
                    False,
                    "With t = 8, 64 GPUs form only 8 stages.",
                ),
                choice(
                    "Only with data parallelism",
                    False,
                    "Data parallelism replicates the pipeline; it does not change a replica's p.",
                ),
            ],
        ),
        numeric(
            f"Llama 3 70B: vocabulary V = {llama.vocab_size:,}, hidden size h = "
            f"{llama.hidden_size}, {llama.params_per_layer:,} parameters per layer, trained at "
            f"sequence length s = {llama.seq_len}. A layer's forward costs 2 x its parameters "
            "+ 4 s h FLOPs per token, the LM head 2 V h. How heavy is the head, in layers? "
            "(Two decimals.)",
            llama_head,
            rel_tol=0.03,
            correct_feedback="Right: $2 V h$ FLOPs per token for the head, more than one layer.",
            wrong_feedback="Compare $2 V h$ (the head) with "
            "$2 \\times$ (parameters per layer) $+ 4 s h$.",
            traps=[
                (
                    2 * llama.vocab_size * llama.hidden_size / (2 * llama.params_per_layer),
                    "That leaves out the attention term 4 s h, which grows with the sequence.",
                )
            ],
        ),
        numeric(
            "GPipe runs m = 32 micro-batches through 5 stages holding 20, 19, 19, 19 and 19 "
            "layers (equal layers, no embedding or head load). Beyond the fill and drain, how "
            "long does a 19-layer stage idle per step, in units of one layer's forward plus "
            "backward?",
            idle5,
            abs_tol=0.5,
            correct_feedback="Right: (m - 1)(20 - 19). Every micro-batch slot after the first "
            "lasts as long as the 20-layer stage.",
            wrong_feedback="Each of the m - 1 slots after the first lasts max(loads); the stage "
            "works 19 of those 20.",
            traps=[(1.0, "One layer per micro-batch slot, not per step: m - 1 slots per step.")],
        ),
    ]
