"""Chapter 5 quiz: the unified performance model (综合性能模型).

Every answer is computed by :mod:`ppnotes.perf_model` (the note's model and the roofline),
:mod:`ppnotes.bubble`, :mod:`ppnotes.memory` or :mod:`ppnotes.runs`, and every question states
all of its inputs.
"""

from __future__ import annotations

from .. import bubble, comm, memory, partition, perf_model, runs
from ..hardware import A100_80GB, GB
from ..models import GPT3_175B
from ..quiz import choice, en_zh, many_choice, multiple_choice, numeric

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
            en_zh(
                "The note's section 5 model, run literally with its inputs: 96 layers, h = 12288, "
                "s = 2048, batch 32, M = 32 micro-batches, 25 GB/s, 312 TFLOP/s. What efficiency "
                "(compute time / total time, in %) does it print for PP = 8?",
                "按原样运行原笔记第 5 节的模型，用它自己的输入：96 层，h = 12288，s = 2048，"
                "batch 32，M = 32 个微批次，25 GB/s，312 TFLOP/s。PP = 8 时它打印的效率"
                "（计算时间 / 总时间，单位 %）是多少？",
            ),
            100 * literal8,
            rel_tol=0.01,
            correct_feedback=en_zh(
                "Right: its efficiency is just $1 - (p-1)/(p-1+M)$ minus a tiny "
                "communication share, because its stage time is for the *whole* batch.",
                "对：它的效率就是 $1 - (p-1)/(p-1+M)$ 再减去一点点通信占比，"
                "因为它的 stage 时间是按*整个* batch 算的。",
            ),
            wrong_feedback=en_zh(
                "Run it: `time_per_stage` = layer time for all 32 sequences $\\times$ "
                "96 / 8; bubble = 7 stage times, compute = 32 stage times, plus $32 \\times 7$ "
                "transfers.",
                "跑一遍：`time_per_stage` = 全部 32 条序列的每层时间 $\\times$ 96 / 8；"
                "气泡 = 7 个 stage 时间，计算 = 32 个 stage 时间，再加上 $32 \\times 7$ 次传输。",
            ),
            traps=[
                (
                    100 * fixed8,
                    en_zh(
                        "That is the model with its units fixed (stage time per micro-batch). "
                        "The literal code uses the whole batch.",
                        "这是修正单位之后的模型（stage 时间按一个微批次算）。"
                        "原样的代码用的是整个 batch。",
                    ),
                ),
            ],
        ),
        numeric(
            en_zh(
                "In the note's model (its inputs: 96 layers, h = 12288, s = 2048, batch 32, "
                "M = 32, 25 GB/s, 312 TFLOP/s), by what factor is compute_time too large, "
                "at any depth, because the stage time is computed for the whole batch of 32 and "
                "then multiplied by M = 32?",
                "原笔记的模型（输入：96 层，h = 12288，s = 2048，batch 32，M = 32，25 GB/s，"
                "312 TFLOP/s）先按整个 batch 的 32 条序列算 stage 时间，再乘以 M = 32。"
                "因此不论深度多少，compute_time 都被放大了多少倍？",
            ),
            stage_ratio,
            integer=True,
            correct_feedback=en_zh(
                "Right: $M$. Each micro-batch is $B/M$ sequences, so the stage time "
                "must be for $B/M$ sequences; the communication already is per micro-batch.",
                "对：$M$ 倍。每个微批次是 $B/M$ 条序列，所以 stage 时间应该按 $B/M$ 条序列算；"
                "通信本来就是按微批次算的。",
            ),
            wrong_feedback=en_zh(
                "Compare `compute_time` with the stage time computed for $B/M$ "
                "sequences: the ratio is the number of micro-batches.",
                "拿 `compute_time` 和按 $B/M$ 条序列算的 stage 时间比：比值就是微批次数。",
            ),
            traps=[
                (
                    1,
                    en_zh(
                        "Not 1: the note's stage time already covers the whole batch "
                        "($M$ micro-batches), and it is then counted once per micro-batch, "
                        "so $M$ times too much.",
                        "不是 1：原笔记的 stage 时间已经是整个 batch（$M$ 个微批次）的时间，"
                        "又按每个微批次各算一次，多算了 $M$ 倍。",
                    ),
                )
            ],
        ),
        numeric(
            en_zh(
                "With the note's units fixed (stage time for one micro-batch of B / M = 1 "
                "sequence; 96 layers, h = 12288, s = 2048, batch 32, M = 32, 312 TFLOP/s, one "
                "25 GB/s link, no overlap), what share of the step "
                "(in %) is communication at PP = 16?",
                "修正原笔记的单位后（stage 时间按一个微批次、即 B / M = 1 条序列算；96 层，"
                "h = 12288，s = 2048，batch 32，M = 32，312 TFLOP/s，一条 25 GB/s 的链路，"
                "不重叠），PP = 16 时通信占一步的多少（单位 %）？",
            ),
            100 * comm16,
            rel_tol=0.02,
            whole_percent=True,
            correct_feedback=en_zh(
                "Right: fixing the units makes communication $M$ times more "
                "important than the literal code says.",
                "对：修正单位后，通信的分量是原样代码所显示的 $M$ 倍。",
            ),
            wrong_feedback=en_zh(
                "Communication = $32 \\times 15$ transfers of $2sh$ bytes at 25 GB/s; "
                "divide by bubble + compute + communication with the per-micro-batch stage time.",
                "通信 = $32 \\times 15$ 次传输，每次 $2sh$ 字节，速率 25 GB/s；"
                "再除以按每个微批次的 stage 时间算出的气泡 + 计算 + 通信。",
            ),
            traps=[
                (
                    100 * comm16_literal,
                    en_zh(
                        "That is the literal code, whose compute is 32 times too large and so "
                        "hides the communication.",
                        "这是原样代码的结果：它的计算大了 32 倍，把通信掩盖了。",
                    ),
                )
            ],
        ),
        numeric(
            en_zh(
                f"Roofline: one token through one GPT-3 projection (h = 12288, an h x h bf16 "
                f"weight: $2h^2$ FLOPs, $2h^2$ bytes of weights plus the 2-byte input and "
                f"output) on an A100 80GB (312 TFLOP/s dense BF16; HBM 2,039 GB/s peak, "
                f"{A100_80GB.achievable_hbm_bandwidth / 1e9:,.0f} GB/s achievable) at "
                f"{EFFICIENCY:.0%} of peak on compute-bound kernels, plus a "
                f"{A100_80GB.kernel_launch_cost * 1e6:.0f} µs kernel launch. How many "
                "microseconds does it take?",
                f"屋顶线模型：一个 token 经过 GPT-3 的一个投影层（h = 12288，h x h 的 bf16 "
                f"权重：$2h^2$ FLOPs，$2h^2$ 字节的权重，外加各 2 字节的输入和输出），在一张 "
                f"A100 80GB 上（稠密 BF16 312 TFLOP/s；HBM 峰值 2039 GB/s，实测可达 "
                f"{A100_80GB.achievable_hbm_bandwidth / 1e9:.0f} GB/s），"
                f"计算受限的 kernel 按峰值的 {EFFICIENCY:.0%} 算，"
                f"另加 {A100_80GB.kernel_launch_cost * 1e6:.0f} 微秒的 kernel 启动开销。"
                "需要多少微秒？",
            ),
            roofline_us,
            rel_tol=0.03,
            correct_feedback=en_zh(
                "Right: $\\max(\\text{FLOPs}/(\\text{peak} \\cdot \\eta),\\ "
                "\\text{bytes}/\\text{bandwidth})$ plus the launch. "
                "Reading the weights dominates: one token is memory-bound.",
                "对：$\\max(\\text{FLOPs}/(\\text{peak} \\cdot \\eta),\\ "
                "\\text{bytes}/\\text{bandwidth})$ 再加上启动开销。"
                "读权重占了大头：单个 token 是访存受限的。",
            ),
            wrong_feedback=en_zh(
                "Take the larger of $\\text{FLOPs}/(312 \\cdot 10^{12}\\,\\eta)$ and "
                "bytes over the achievable bandwidth, and add the launch.",
                "取 $\\text{FLOPs}/(312 \\cdot 10^{12}\\,\\eta)$ 与字节数除以实测可达带宽两者中"
                "较大的那个，再加上启动开销。",
            ),
            traps=[
                (
                    compute_us,
                    en_zh(
                        "That is the compute time alone. The weights must be read from HBM "
                        "whatever the batch, which takes far longer.",
                        "这只是计算时间。不管 batch 多大，权重都得从 HBM 读出来，这要久得多。",
                    ),
                )
            ],
        ),
        numeric(
            en_zh(
                "GPT-3 175B, s = 2048, full activation recomputation. Hardware FLOPs count the "
                "recomputed forward, model FLOPs do not (the LM head is not recomputed). What is "
                "HFU / MFU?",
                "GPT-3 175B，s = 2048，完全激活重计算。硬件 FLOPs 算上重计算的那次前向，"
                "模型 FLOPs 不算（LM head 不重计算）。HFU / MFU 是多少？",
            ),
            hfu_ratio,
            rel_tol=0.01,
            correct_feedback=en_zh(
                "Right: about $4/3$. A step is 3 forwards of work (forward, two for "
                "the backward); full recomputation adds a fourth to every layer.",
                "对：约 $4/3$。一步是 3 次前向的工作量（前向 1 次，反向相当于 2 次）；"
                "完全重计算给每一层再加第 4 次。",
            ),
            wrong_feedback=en_zh(
                "Model FLOPs: $3 \\times$ forward (layers and head). Hardware FLOPs "
                "add one more forward of the layers.",
                "模型 FLOPs：$3 \\times$ 前向（各层和 LM head）。硬件 FLOPs 再加上各层的一次前向。",
            ),
            traps=[
                (
                    1.0,
                    en_zh(
                        "Recomputation is real work on the GPU: HFU counts it, MFU does not.",
                        "重计算是 GPU 上实实在在的工作：HFU 算它，MFU 不算。",
                    ),
                ),
                (
                    2.0,
                    en_zh(
                        "Recomputation repeats the forward (1 unit), not the backward (2 units).",
                        "重计算重复的是前向（1 份），不是反向（2 份）。",
                    ),
                ),
            ],
        ),
        multiple_choice(
            en_zh(
                f"Data parallelism over d replicas of GPT-3 175B with t = 8: one GPU of the "
                f"largest stage reduces its stage's fp32 gradients every step. That is "
                f"{grads8:.1f} GB at p = 8. What happens at p = 16 (same t)?",
                f"GPT-3 175B 做 d 路数据并行，t = 8：最大的那个 stage 上，每张 GPU 每步都要归约"
                f"本 stage 的 fp32 梯度，p = 8 时是 {grads8:.1f} GB。p = 16（t 不变）时会怎样？",
            ),
            [
                choice(
                    en_zh(
                        f"It falls to {grads16:.1f} GB: the stage holds about half as many "
                        "parameters",
                        f"降到 {grads16:.1f} GB：每个 stage 的参数大约减半",
                    ),
                    True,
                    en_zh(
                        "Yes: the gradient volume per GPU falls as $1/p$ (plus the embedding or "
                        "head on the end stages).",
                        "对：每张 GPU 的梯度量按 $1/p$ 下降（首尾 stage 另加词嵌入层或 LM head）。",
                    ),
                ),
                choice(
                    en_zh(
                        f"It stays {grads8:.1f} GB: every GPU reduces the whole model",
                        f"保持 {grads8:.1f} GB：每张 GPU 都归约整个模型",
                    ),
                    False,
                    en_zh(
                        "Only the stage's own parameters are reduced, among the d replicas of "
                        "that stage.",
                        "只归约本 stage 自己的参数，在这个 stage 的 d 个副本之间进行。",
                    ),
                ),
                choice(
                    en_zh(
                        f"It doubles to {2 * grads8:.1f} GB: more stages, more traffic",
                        f"翻倍到 {2 * grads8:.1f} GB：stage 越多，流量越大",
                    ),
                    False,
                    en_zh(
                        "More stages add pipeline hops, not gradient volume per GPU.",
                        "stage 多了，增加的是流水线的跳数，不是每张 GPU 的梯度量。",
                    ),
                ),
            ],
        ),
        numeric(
            en_zh(
                f"GPT-3 175B on {ZERO_GPUS} GPUs with t = 8, p = 8 (so d = "
                f"{zero_cfg.data_parallel}), b = 1 and a global batch of "
                f"{zero_cfg.global_batch} sequences (m = {zero_cfg.num_microbatches} "
                "micro-batches per pipeline). How many times more bytes "
                "per step does each GPU send to keep its data-parallel shard in sync under ZeRO-3 "
                "run per micro-batch, as written (weights gathered before every micro-batch's "
                "forward and backward) than under "
                "ZeRO-1 (one gradient reduce-scatter and one weight all-gather per step)?",
                f"GPT-3 175B 跑在 {ZERO_GPUS} 张 GPU 上，t = 8，p = 8（所以 d = "
                f"{zero_cfg.data_parallel}），b = 1，全局 batch 为 {zero_cfg.global_batch} 条序列"
                f"（每条流水线 m = {zero_cfg.num_microbatches} 个微批次）。为了让数据并行分片保持"
                "同步，按原样逐个微批次运行的 ZeRO-3（每个微批次的前向和反向之前都 gather 权重），"
                "每张 GPU 每步发送的字节数是 ZeRO-1（每步一次梯度 reduce-scatter、一次权重 "
                "all-gather）的多少倍？",
            ),
            zero_ratio,
            rel_tol=0.03,
            correct_feedback=en_zh(
                "Right: ZeRO-3 reduce-scatters the gradients after every "
                "micro-batch and gathers the weights twice per micro-batch, so its traffic grows "
                "with $m$ while ZeRO-1's does not. (FSDP under PyTorch's pipelining defers both "
                "to the last micro-batch: there the ratio is 1.)",
                "对：ZeRO-3 每个微批次之后都 reduce-scatter 一次梯度，每个微批次还要 gather 两次"
                "权重，所以它的流量随 $m$ 增长，ZeRO-1 的不会。（在 PyTorch 的流水线下，FSDP "
                "把这两步都推迟到最后一个微批次，那时比值是 1。）",
            ),
            wrong_feedback=en_zh(
                "ZeRO-1 per step: fp32 gradients (4 bytes per parameter) + bf16 "
                "weights (2). ZeRO-3: $4m + 2 + 2m \\times 2$ bytes per parameter.",
                "ZeRO-1 每步：fp32 梯度（每个参数 4 字节）+ bf16 权重（2 字节）。"
                "ZeRO-3：每个参数 $4m + 2 + 2m \\times 2$ 字节。",
            ),
            traps=[
                (
                    1.0,
                    en_zh(
                        "The bytes per gather are the same, but ZeRO-3 gathers $2m$ times per "
                        "step.",
                        "每次 gather 的字节数相同，但 ZeRO-3 每步要 gather $2m$ 次。",
                    ),
                ),
                (
                    3.0,
                    en_zh(
                        "That is one forward and one backward gather; there are $m$ micro-batches.",
                        "这只算了一次前向和一次反向的 gather；一共有 $m$ 个微批次。",
                    ),
                ),
            ],
        ),
        many_choice(
            en_zh(
                "A deep pipeline runs many micro-batches per step. Which data-parallel "
                "shardings, run as described, communicate more as the number of micro-batches "
                "m grows? Pick all that apply.",
                "深流水线每步要跑很多微批次。下面哪些数据并行分片方式，按所述方式运行时，"
                "通信量会随微批次数 m 增长？选出所有正确项。",
            ),
            [
                choice(
                    en_zh("ZeRO-1 (sharded optimizer state)", "ZeRO-1（分片优化器状态）"),
                    False,
                    en_zh(
                        "No: gradients accumulate over the m micro-batches and are "
                        "reduce-scattered once per step; the updated weights are gathered once.",
                        "不会：梯度在 m 个微批次上累加，每步只 reduce-scatter 一次；"
                        "更新后的权重也只 gather 一次。",
                    ),
                ),
                choice(
                    en_zh("ZeRO-2 (also sharded gradients)", "ZeRO-2（再分片梯度）"),
                    True,
                    en_zh(
                        "Yes: no rank holds the full gradient to accumulate into, so the "
                        "reduce-scatter runs after every micro-batch (DeepSpeed's pipeline "
                        "engine refuses it).",
                        "会：没有哪个 rank 持有完整的梯度可供累加，所以每个微批次之后都要 "
                        "reduce-scatter 一次（DeepSpeed 的流水线引擎不允许这样用）。",
                    ),
                ),
                choice(
                    en_zh(
                        "ZeRO-3 / FSDP resharding after every forward and backward (also "
                        "sharded weights)",
                        "每次前向和反向之后都重新分片的 ZeRO-3 / FSDP（再分片权重）",
                    ),
                    True,
                    en_zh(
                        "Yes: every micro-batch gathers the weights before its forward and "
                        "again before its backward, $2m$ gathers per step.",
                        "会：每个微批次在前向之前 gather 一次权重，反向之前再 gather 一次，"
                        "每步共 $2m$ 次。",
                    ),
                ),
                choice(
                    en_zh(
                        "FSDP (ZeRO-3) under PyTorch's pipelining, as torchtitan runs it",
                        "PyTorch 流水线下的 FSDP（ZeRO-3），即 torchtitan 的跑法",
                    ),
                    False,
                    en_zh(
                        "No: the pipeline stage keeps the gathered weights and the unsharded "
                        "gradients until the last micro-batch's backward (torchtitan turns "
                        "resharding after the forward off with pipelining), so it gathers and "
                        "reduce-scatters once per step, like ZeRO-1.",
                        "不会：流水线 stage 一直保留 gather 来的权重和未分片的梯度，直到最后一个"
                        "微批次的反向（开启流水线时，torchtitan 关掉前向之后的重新分片），所以"
                        "每步只 gather 和 reduce-scatter 一次，与 ZeRO-1 相同。",
                    ),
                ),
            ],
        ),
        numeric(
            en_zh(
                "Interleaved 1F1B with p = 8, m = 32 micro-batches and v = 2 chunks per rank: "
                "what is the idle share of the step (bubble fraction $(p-1)/(vm+p-1)$, in %)?",
                "交错式 1F1B，p = 8，m = 32 个微批次，每个 rank 有 v = 2 个模型块："
                "空闲时间占一步的多少（气泡占比 $(p-1)/(vm+p-1)$，单位 %）？",
            ),
            100 * interleaved,
            rel_tol=0.01,
            whole_percent=True,
            correct_feedback=en_zh(
                "Right: $v$ divides the bubble time, at $v$ times the point-to-point hops.",
                "对：气泡时间除以 $v$，代价是点对点的跳数变成 $v$ 倍。",
            ),
            wrong_feedback=en_zh(
                "Use $(p-1)/(vm+p-1)$ with $v = 2$.", "用 $(p-1)/(vm+p-1)$，取 $v = 2$。"
            ),
            traps=[
                (100 * plain, en_zh("That is plain 1F1B ($v = 1$).", "这是普通 1F1B（$v = 1$）。"))
            ],
        ),
        numeric(
            en_zh(
                f"Korthikanti et al. trained GPT-3 175B on {sp175.num_gpus} A100s with a global "
                f"batch of {sp175.global_batch} sequences of {sp175.seq_len} tokens, one step in "
                f"{sp175.measured_step_time} s. How many tokens per second is that (whole run)?",
                f"Korthikanti 等人在 {sp175.num_gpus} 张 A100 上训练 GPT-3 175B，全局 batch 为 "
                f"{sp175.global_batch} 条序列，每条 {sp175.seq_len} 个 token，一步用时 "
                f"{sp175.measured_step_time} 秒。整个训练每秒处理多少个 token？",
            ),
            tokens,
            rel_tol=0.01,
            correct_feedback=en_zh("Right: $Bs$ / step time.", "对：$Bs$ / 步时间。"),
            wrong_feedback=en_zh(
                "Tokens per step are $B \\times s$; divide by the step time.",
                "每步的 token 数是 $B \\times s$，再除以步时间。",
            ),
            traps=[
                (
                    tokens / sp175.num_gpus,
                    en_zh(
                        "That is per GPU; the question asks for the run.",
                        "这是每张 GPU 的；题目问的是整个训练。",
                    ),
                )
            ],
        ),
    ]
