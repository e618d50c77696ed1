"""Chapter 11 quiz: pipeline depth in mixture-of-experts training (混合专家).

Plain English for now: this worktree's ppnotes.quiz has no en_zh helper yet (to be merged).
"""

from __future__ import annotations

from .. import moe as M
from ..quiz import choice, multiple_choice, numeric


def active_share() -> float:
    """DeepSeek-V3's active parameters over its total, in percent."""
    return 100.0 * M.DEEPSEEK_V3.active_params / M.DEEPSEEK_V3.total_params


def experts_per_gpu() -> int:
    """Routed experts of one DeepSeek-V3 layer on one GPU at e = 64."""
    return M.DEEPSEEK_V3.num_experts // 64


def published_step() -> float:
    """Seconds per step implied by DeepSeek-V3's report."""
    return M.deepseek_v3_published_step()


def network_crossings() -> float:
    """Network crossings per token with node-limited routing, e = 64, 8 GPUs per node."""
    return M.a2a_split(64, 8, 8, 4, "node-limited")["network"]


def questions() -> list[dict]:
    """The chapter 11 quiz; every answer comes from :mod:`ppnotes.moe`."""
    share = active_share()
    rows = {r["schedule"]: r for r in M.deepseek_v3_case()}
    return [
        numeric(
            "What share of DeepSeek-V3's parameters does one token use, in percent?",
            share,
            correct_feedback="Right: 37B of 671B; the other experts sit idle for that token.",
            wrong_feedback="Divide the active parameters (all but the E - k skipped experts "
            "per MoE layer) by the total.",
            rel_tol=0.05,
        ),
        numeric(
            "DeepSeek-V3 has 256 routed experts per MoE layer. How many does one GPU hold "
            "with expert parallelism e = 64?",
            experts_per_gpu(),
            correct_feedback="Right: 256 / 64 = 4 experts per layer on each GPU.",
            wrong_feedback="Expert parallelism spreads E experts evenly over e GPUs.",
        ),
        numeric(
            "From the report's 180K H800 GPU-hours per trillion tokens, 2,048 GPUs and "
            "15,360 sequences of 4,096 tokens per step, how many seconds is one step?",
            published_step(),
            correct_feedback="Right: 62.9M tokens x 0.648 GPU-ms per token / 2,048 GPUs.",
            wrong_feedback="GPU-seconds per token = 180,000 x 3,600 / 10^12; multiply by the "
            "tokens per step and divide by the GPUs.",
            rel_tol=0.03,
        ),
        numeric(
            "With e = 64 over 8-GPU nodes, top-8 routing and at most 4 nodes per token, how "
            "many network crossings does one token's dispatch need on average?",
            network_crossings(),
            correct_feedback="Right: at most 4 nodes, 7/8 of them remote, one crossing each; "
            "NVLink forwards inside the node.",
            wrong_feedback="Count remote nodes, not copies: a token crosses the network once "
            "per remote node it reaches.",
            rel_tol=0.05,
        ),
        multiple_choice(
            "Under plain 1F1B, where is an MoE layer's all-to-all?",
            [
                choice(
                    "On the critical path: inside every forward and backward",
                    True,
                    "Right: dispatch and combine sit between a layer's kernels, so each "
                    "action waits for them.",
                ),
                choice(
                    "Hidden by the pipeline bubble",
                    False,
                    "The bubble is idle time at the ends; the all-to-all happens in every "
                    "steady-state action.",
                ),
                choice(
                    "Overlapped with the next stage's compute automatically",
                    False,
                    "Only a schedule that pairs another micro-batch's compute with it hides "
                    "it (DualPipe, or Megatron-Core's all-to-all overlap).",
                ),
            ],
        ),
        multiple_choice(
            "DualPipe versus DualPipeV on the same ranks: what differs?",
            [
                choice(
                    "DualPipe keeps two copies of the parameters; the step time is the same",
                    True,
                    f"Right: states {rows['dualpipe']['states_gib']:.0f} GiB versus "
                    f"{rows['dualpipev']['states_gib']:.0f} GiB per GPU in this model.",
                ),
                choice(
                    "DualPipeV has a larger bubble",
                    False,
                    "The V-shape holds the same two-directional schedule on half the ranks' "
                    "copies; the bubble is the same in this model.",
                ),
                choice(
                    "DualPipe cannot overlap the all-to-all",
                    False,
                    "Both pair forward and backward chunks to hide it.",
                ),
            ],
        ),
    ]
