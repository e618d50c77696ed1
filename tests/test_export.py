"""The exports run as timed: each rule below was read from the framework's own code.

Megatron-LM is not on the package registry with its argument parser (the ``megatron-core``
wheel does not ship ``megatron/training/arguments.py``), so its rules are written out here,
each citing ``megatron/training/arguments.py`` (abbreviated ``args.py``) at commit
d98e8a64ddf34856e74b24714e3bedb2f5a39553. ``tools/check_megatron_exports.py`` runs the exports
through that checkout's own ``parse_args``, ``validate_args`` and ``TransformerConfig`` on CPU:
it accepted all 816 exports of its grid (every model preset, t, p, 1F1B and interleaved v,
uneven splits written as ``--pipeline-model-parallel-layout``), each building the layers per
stage the step model timed (run at 90b0846); it refused the exports of an earlier version with
"max_position_embeddings argument is None". Its mixture-of-experts grid (every ppnotes.moe
preset x the layouts plan_moe ranks first for Megatron-LM on 64 to 2,048 H100s, both
recomputations, plus uneven splits) was accepted whole, 256 of 256 exports at 90b0846, each
building E / e whole experts per rank and per stage the dense and MoE layers
ppnotes.moe.stage_layers timed.

torchtitan is on PyPI: ``pip install -e .[frameworks]`` installs torchtitan 0.3.0, and the
last tests run the exports through its own loader (``ConfigManager.parse_args``) and its own
stage builder, and the MoE exports through its mesh (``ParallelDims.build_mesh`` on
torch.distributed's fake backend) and its rank-to-stage mapping; without it they are skipped
with a loud reason.
"""

from __future__ import annotations

import importlib
import importlib.util
import itertools
import math
import shlex

import pytest

from ppnotes import export, models, moe, serving_plan
from ppnotes import optimum as o
from ppnotes import perf_model as pm
from ppnotes.models import GPT3_175B, LLAMA3_70B, LLAMA31_405B

H100 = pm.CLUSTERS["DGX H100 + NDR"]

SHAPES = [m for m in models.MODELS.values()]


def _megatron_candidates(model):
    for t, p, (sched, v), rc, sp, dopt, cp in itertools.product(
        (1, 2, 8),
        (1, 2, 4, 8),
        (("1f1b", 1), ("interleaved", 2), ("interleaved", 3)),
        o.RECOMPUTE_ORDER,
        (False, True),
        (False, True),
        (1, 4),
    ):
        if p == 1 and sched == "interleaved":
            continue
        cand = o.Candidate(t, p, 4, 2, sched, v, rc, sp, dopt, cp=cp)
        if export.megatron_compatible(cand, model):
            yield cand


def _flags(words: list[str]) -> dict:
    """``["--a 1", "--b"]`` -> ``{"--a": "1", "--b": True}``."""
    out = {}
    for w in words:
        key, _, value = w.partition(" ")
        assert key not in out, f"{key} given twice"
        out[key] = value or True
    return out


def _shell_flags(words: list[str]) -> dict:
    """:func:`_flags` with each value read as the shell reads it (quotes removed)."""
    return {k: v if v is True else shlex.split(v)[0] for k, v in _flags(words).items()}


def _megatron_layout_stages(text: str) -> list[str]:
    """Megatron-LM's layout rules, written out (pipeline_parallel_layer_layout.py at the same
    commit: parse_str_to_list and validate_layer_layout): ``x*n`` repeats a character, ``|``
    separates stages, characters E (embedding), L (loss), t (decoder layer); E exactly once
    and first, L exactly once and last."""
    import re

    flat = re.sub(r"(.)\*(\d+)", lambda mt: mt.group(1) * int(mt.group(2)), text)
    stages = flat.split("|")
    assert set(flat) <= set("ELt|"), text
    assert flat.count("E") == 1 and stages[0].startswith("E"), text
    assert flat.count("L") == 1 and stages[-1].endswith("L"), text
    return stages


def _timed_stage_layers(cand, model, global_batch=64) -> list[int]:
    """Layers per global stage in the configuration the step model times."""
    cfg = cand.config(global_batch, min(model.seq_len, 8192))
    layers = pm.chunk_layers(model, cfg)
    if layers is not None:
        return layers
    chunks = cfg.chunks_per_rank
    if chunks == 1:
        return pm.layers_per_rank(model, cfg)
    return [model.num_layers // (cand.p * chunks)] * (cand.p * chunks)


@pytest.mark.parametrize("model", SHAPES, ids=lambda m: m.name)
def test_megatron_rules(model):
    seq = min(model.seq_len, 8192)
    seen = 0
    for cand in _megatron_candidates(model):
        seen += 1
        f = _shell_flags(export.megatron_flags(cand, model, 64, seq))
        # args.py:1314-1317: max_position_embeddings is required; 1354: >= seq_length.
        assert int(f["--max-position-embeddings"]) >= int(f["--seq-length"]) == seq
        # args.py:995: layers divisible by p; 969-975: p-stage layers by the virtual-stage size;
        # unless a layout is given (args.py:927-952), exclusive with the virtual-stage flags.
        L, p = int(f["--num-layers"]), int(f["--pipeline-model-parallel-size"])
        if "--pipeline-model-parallel-layout" in f:
            assert "--num-layers-per-virtual-pipeline-stage" not in f
            stages = _megatron_layout_stages(f["--pipeline-model-parallel-layout"])
            chunks = 1 if cand.schedule == "1f1b" else cand.v
            assert len(stages) == p * chunks and L % (p * chunks)
            # The layers per stage are those the step model timed (first L mod S one larger).
            assert [st.count("t") for st in stages] == _timed_stage_layers(cand, model)
        else:
            assert L % p == 0
        if "--num-layers-per-virtual-pipeline-stage" in f:
            per_virtual = int(f["--num-layers-per-virtual-pipeline-stage"])
            assert (L // p) % per_virtual == 0 and L // p // per_virtual == cand.v
            # args.py:1001-1009: interleaving needs p > 2 unless overlap_p2p_comm, which is
            # on by default (args.py:3118 --no-overlap-p2p-communication) and never disabled.
            assert "--no-overlap-p2p-communication" not in f
        # args.py:1335-1338: with context parallelism, the sequence splits into 2c pieces;
        # args.py:427-434: the world (t x c x p x d, megatron_command) is a multiple of t c p.
        assert f.get("--context-parallel-size", "1") == str(cand.cp)
        assert seq % (2 * cand.cp) == 0
        # num_microbatches_calculator.py:381: global batch divisible by micro-batch x d.
        assert int(f["--global-batch-size"]) % (cand.b * cand.d) == 0
        # args.py:1024-1029: --overlap-param-gather needs the distributed optimizer and
        # --overlap-grad-reduce. The time model overlaps both (perf_model.Config.overlap_dp).
        assert "--overlap-grad-reduce" in f
        assert ("--overlap-param-gather" in f) == ("--use-distributed-optimizer" in f)
        assert ("--use-distributed-optimizer" in f) == cand.dist_opt
        # args.py:1425-1428: selective recomputation takes no --recompute-method.
        if cand.recompute == "selective":
            assert "--recompute-method" not in f
        assert f.get("--recompute-granularity", "none") == cand.recompute
        # args.py:1433-1439: SP is dropped when t = 1; emitted only with t > 1.
        assert ("--sequence-parallel" in f) == (cand.sp and cand.t > 1)
        # args.py:1453-1479: t > 1 or c > 1 before Blackwell needs CUDA_DEVICE_MAX_CONNECTIONS=1
        # (found by running the exports through validate_args, tools/check_megatron_exports.py).
        assert export.megatron_env(cand) == (
            {"CUDA_DEVICE_MAX_CONNECTIONS": "1"} if cand.t > 1 or cand.cp > 1 else {}
        )
    assert seen, f"no Megatron-LM configuration of {model.name} was checked"


@pytest.mark.parametrize("model", SHAPES, ids=lambda m: m.name)
def test_megatron_builds_the_timed_shape(model):
    """Megatron-LM's defaults are GPT's (LayerNorm, learned positions, biases, a 4h GELU MLP,
    a tied head: args.py:2382-2460); its own mapping of a Llama checkpoint (args.py:213-227)
    asks for swiglu, RMSNorm, group_query_attention with num_query_groups, rope and an untied
    head. Every difference from those defaults must be written."""
    cand = next(_megatron_candidates(model))
    f = _flags(export.megatron_flags(cand, model, 64, min(model.seq_len, 8192)))
    assert int(f["--ffn-hidden-size"]) == model.ffn_hidden_size
    gqa = model.num_kv_heads < model.num_heads
    assert ("--group-query-attention" in f) == gqa
    assert f.get("--num-query-groups") == (str(model.num_kv_heads) if gqa else None)
    assert ("--swiglu" in f) == (model.mlp_matrices == 3)
    assert f.get("--normalization", "LayerNorm") == ("LayerNorm" if model.biases else "RMSNorm")
    assert ("--disable-bias-linear" in f) == (not model.biases)
    rope = f.get("--position-embedding-type", "learned_absolute") == "rope"
    assert rope == (not model.learned_positions)
    assert ("--untie-embeddings-and-output-weights" in f) == (not model.tied_embeddings)
    assert "--bf16" in f


def test_megatron_command_is_one_launch_line():
    cand = o.Candidate(8, 4, 32, 1, "interleaved", 3, "selective", True, True)
    line = export.megatron_command(cand, GPT3_175B, 1536, 2048)
    words = shlex.split(line)
    assert words[:6] == [
        "CUDA_DEVICE_MAX_CONNECTIONS=1",
        "torchrun",
        "--nnodes",
        "128",
        "--nproc-per-node",
        "8",
    ]
    assert words[6] == "pretrain_gpt.py"
    one = o.Candidate(1, 1, 4, 1)
    assert export.megatron_command(one, GPT3_175B, 8, 2048).startswith(
        "torchrun --nnodes 1 --nproc-per-node 4 pretrain_gpt.py"
    )
    with pytest.raises(ValueError, match="do not fill nodes"):
        export.megatron_command(o.Candidate(1, 3, 4, 1), GPT3_175B, 8, 2048)
    # an uneven layout is one shell word (its | and * would otherwise be read by the shell)
    words = shlex.split(export.megatron_command(o.Candidate(1, 3, 8, 1), LLAMA3_70B, 64, 8192))
    at = words.index("--pipeline-model-parallel-layout")
    assert words[at + 1] == "Et*27|t*27|t*26L"


# --- torchtitan: rules read from torchtitan 0.3.0 (and run below when it is installed) -------


def _tt(cand, model, global_batch=1024, seq=8192):
    return _flags(export.torchtitan_config(cand, global_batch, seq, model))


def test_torchtitan_writes_what_was_timed():
    # trainer.py Trainer.Config: the default activation_checkpoint is SelectiveAC, so "none"
    # must be written; _validate_cuda_graphs refuses PP without training.disable_cuda_graphs.
    cand = o.Candidate(8, 4, 32, 1, "zbv", 1, "none", True, True)
    f = _tt(cand, LLAMA3_70B)
    assert f["activation-checkpoint:none"] is True
    assert f["--training.disable-cuda-graphs"] is True
    assert f["--parallelism.pipeline_parallel_schedule"] == "ZBVZeroBubble"
    # the planner splits layers only: no layer is taken off the first or last stage
    assert f["--parallelism.pipeline_parallel_first_stage_less_layers"] == "0"
    assert f["--parallelism.pipeline_parallel_last_stage_less_layers"] == "0"
    assert f["--parallelism.pipeline_parallel_layers_per_stage"] == "10"  # 80 / (4 x 2)
    assert f["--training.local_batch_size"] == "32"  # 1024 / 32: m = 32 micro-batches of 1
    assert f["--module"] == "llama3" and f["--config"] == "llama3_70b"
    f = _tt(o.Candidate(8, 8, 16, 1, "interleaved", 5, "selective", False, True), LLAMA3_70B)
    assert f["--parallelism.pipeline_parallel_layers_per_stage"] == "2"  # 80 / (8 x 5)
    assert f["--parallelism.no-enable-sequence-parallel"] is True
    f = _tt(o.Candidate(8, 1, 16, 1), LLAMA3_70B)
    assert "--training.disable-cuda-graphs" not in f  # no pipeline: CUDA graphs allowed


def test_torchtitan_refuses_what_it_cannot_build():
    # PyTorch's zero-bubble classes run 2 or more stages per rank: no single-chunk ZB-H1.
    with pytest.raises(ValueError, match="ZB-H1"):
        export.torchtitan_config(o.Candidate(8, 8, 16, 1, "zb-h1"), 1024, 8192, LLAMA3_70B)
    # 126 layers in 64 x 1 stages: no layers_per_stage gives 64 stages, but 1 stage per rank
    # is torchtitan's default for a single-stage schedule (extra layers to the first stages,
    # as the planner's balanced split).
    f = _tt(o.Candidate(1, 64, 16, 1, "1f1b"), LLAMA31_405B)
    assert "--parallelism.pipeline_parallel_layers_per_stage" not in f
    with pytest.raises(ValueError, match="stages"):  # 126 layers, 8 x 6 = 48 stages
        export.torchtitan_config(
            o.Candidate(8, 8, 16, 1, "interleaved", 6), 1024, 8192, LLAMA31_405B
        )


# --- vLLM ---------------------------------------------------------------------------------


def test_vllm_serve_line():
    plan = serving_plan.plan_serving(LLAMA3_70B, H100, load=5000, tpot=0.05)
    best = plan.best
    words = export.vllm_args(best, 1024, 256, LLAMA3_70B)
    assert words[:2] == ["vllm serve", export.HF_MODEL_IDS["Llama 3 70B"]]
    f = _flags(words[2:])
    assert f["--tensor-parallel-size"] == str(best.t)
    assert f["--pipeline-parallel-size"] == str(best.p)
    assert f["--data-parallel-size"] == str(best.replicas)
    assert int(f["--max-model-len"]) == 1280
    assert best.t * best.p * best.replicas == best.gpus


# --- torchtitan's own loader (test-only extra) -------------------------------------------------


def _torchtitan_missing(*models: str) -> str | None:
    """Why torchtitan's loader cannot run here for these model packages (None: it can)."""
    if importlib.util.find_spec("torchtitan") is None:
        return "torchtitan NOT INSTALLED"
    try:  # its llama3 registry imports triton, which CPU builds of torch do not pull in
        for name in models:
            importlib.import_module(f"torchtitan.models.{name}.config_registry")
    except Exception as err:  # noqa: BLE001 - any import failure means: cannot check
        return f"torchtitan's {name} config does NOT IMPORT ({type(err).__name__}: {err})"
    return None


def _needs_torchtitan(*models: str, what: str = "the exports"):
    """Skip, with a loud reason, unless torchtitan and these model packages import."""
    missing = _torchtitan_missing(*models)
    return pytest.mark.skipif(
        missing is not None,
        reason=f"{missing}: {what} were not run through torchtitan's own loader; "
        "pip install -e .[frameworks]",
    )


needs_torchtitan = _needs_torchtitan("llama3")

TT_CASES = [
    (o.Candidate(8, 4, 32, 1, "zbv", 1, "full", True, True), LLAMA3_70B),
    (o.Candidate(8, 8, 16, 1, "interleaved", 5, "none", True, True), LLAMA3_70B),
    (o.Candidate(2, 4, 16, 2, "interleaved", 2, "selective", False, True), LLAMA3_70B),
    (o.Candidate(2, 4, 16, 1, "gpipe", 1, "none", False, True), LLAMA3_70B),
    (o.Candidate(2, 3, 16, 1, "1f1b", 1, "none", False, True), LLAMA3_70B),  # 80 = 27+27+26
    (o.Candidate(8, 1, 16, 1), LLAMA3_70B),
    # uneven chunks, timed chunk by chunk: 80 layers in 12 (ZBV, torchtitan's default of 2
    # stages per rank) and in 6 stages (layers_per_stage 14: ceil(80 / 14) = 6)
    (o.Candidate(8, 6, 16, 1, "zbv", 1, "none", True, True), LLAMA3_70B),
    (o.Candidate(8, 2, 16, 1, "interleaved", 3, "none", True, True), LLAMA3_70B),
    # context parallelism: the 8,192-token sequence split over 4 GPUs of t x 4 x p x d
    (o.Candidate(8, 4, 8, 1, "zbv", 1, "none", True, True, cp=4), LLAMA3_70B),
]


def _torchtitan_build(cand, model, global_batch=1024, seq=8192):
    """torchtitan's loader on the export, then its own stage builder; the layers per stage."""
    import types

    from torchtitan.config import ConfigManager
    from torchtitan.distributed import pipeline_parallel as tpp

    cfg = ConfigManager().parse_args(
        shlex.split(" ".join(export.torchtitan_config(cand, global_batch, seq, model)))
    )
    par = cfg.parallelism
    dims = types.SimpleNamespace(pp=par.pipeline_parallel_degree)
    n, layers, first, last = tpp._get_pipeline_metadata(dims, par, cfg.model_spec.model)
    parts = tpp._generate_llm_fqn_per_model_part(n, layers, first, last)
    return cfg, [sum(x.startswith("layers.") for x in part) for part in parts]


@needs_torchtitan
@pytest.mark.parametrize("cand,model", TT_CASES, ids=lambda x: getattr(x, "label", ""))
def test_torchtitan_loader_builds_the_timed_stages(cand, model):
    from torchtitan.distributed.parallel_dims import ParallelDims

    cfg, counts = _torchtitan_build(cand, model)
    # torchtitan's own checks: the model's attention supports context parallelism
    # (SDPA or FlexAttention, llama3/model.py), and the mesh's degrees multiply to the world
    cfg.model_spec.model.update_from_config(config=cfg)
    par = cfg.parallelism
    assert par.context_parallel_degree == cand.cp
    world = cand.t * cand.cp * cand.p * cand.d
    dims = ParallelDims.from_config(par, world)  # asserts dp x cp x tp x pp == world
    assert (dims.dp_shard, dims.cp) == (cand.d, cand.cp)
    chunks = o.memory.chunks_per_rank(cand.schedule, cand.v)
    assert len(counts) == cand.p * chunks and sum(counts) == model.num_layers
    # torchtitan builds, stage by stage, the layers the step model timed
    assert counts == _timed_stage_layers(cand, model, 1024)
    par, training = cfg.parallelism, cfg.training
    assert (par.tensor_parallel_degree, par.pipeline_parallel_degree) == (cand.t, cand.p)
    assert par.data_parallel_shard_degree == cand.d
    assert training.local_batch_size // par.pipeline_parallel_microbatch_size == 1024 // (
        cand.d * cand.b
    )
    assert training.seq_len == 8192 and training.global_batch_size == 1024
    ac = type(cfg.activation_checkpoint).__qualname__ if cfg.activation_checkpoint else "none"
    assert (
        ac
        == {"none": "none", "full": "FullAC.Config", "selective": "SelectiveAC.Config"}[
            cand.recompute
        ]
    )
    if cand.p > 1:
        assert training.disable_cuda_graphs
        assert par.pipeline_parallel_schedule == export.TORCH_SCHEDULES[cand.schedule]
    assert par.enable_sequence_parallel == (cand.sp and cand.t > 1) or cand.t == 1


@needs_torchtitan
def test_torchtitan_405b_stages():
    """Llama 3.1 405B (126 layers): torchtitan's stage builder on the exported settings (its
    registered llama3_405b config trains in float8, so the shape is given by layer count)."""
    from torchtitan.distributed import pipeline_parallel as tpp

    for cand in (o.Candidate(8, 9, 16, 1, "zbv"), o.Candidate(8, 7, 16, 1, "interleaved", 3)):
        f = _tt(cand, LLAMA31_405B)
        per = int(f["--parallelism.pipeline_parallel_layers_per_stage"])
        stages = math.ceil(126 / per)
        assert stages == cand.p * o.memory.chunks_per_rank(cand.schedule, cand.v)
        counts = tpp._generate_llm_fqn_per_model_part(stages, 126, 0, 0)
        assert all(sum(x.startswith("layers.") for x in part) == per for part in counts)


# --- mixture-of-experts layouts (ppnotes.moe, chapter 11) ---------------------------------
# Megatron-LM's MoE rules, written out from the same commit (d98e8a64): args.py is
# megatron/training/arguments.py, tc.py megatron/core/transformer/transformer_config.py,
# specs.py megatron/core/models/gpt/gpt_layer_specs.py, ps.py megatron/core/parallel_state.py.
# tools/check_megatron_exports.py runs the same grid through that checkout on CPU.

MOE_SHAPES = list(moe.MOE_MODELS.values())


def _moe_layouts(model):
    """The layouts plan_moe ranks first for Megatron-LM (64 to 1,024 H100s, both
    recomputations), then uneven splits (L not a multiple of p)."""
    seen = []
    for n, rc in itertools.product((64, 256, 1024), moe.RECOMPUTE):
        plan = moe.plan_moe(model, moe.H100_CLUSTER, n, 1024, framework="megatron", recompute=rc)
        seen += [s.layout for s in plan.ranked[:3] if s.layout not in seen]
    for p in (3, 5, 7):
        if model.num_layers % p:
            seen.append(moe.MoELayout(2, p, 8, 8, 1, 64, "1f1b", "full"))
    return seen


def _megatron_pattern(text: str) -> list[int]:
    """args.py:327-350 moe_freq_type: a list expression, evaluated; 1 = MoE, 0 = dense."""
    return eval(text, {"__builtins__": {}})  # noqa: S307 - Megatron-LM evaluates it the same way


@pytest.mark.parametrize("model", MOE_SHAPES, ids=lambda m: m.name)
def test_megatron_moe_rules(model):
    layouts = _moe_layouts(model)
    assert any(model.num_layers % lay.pipeline_parallel for lay in layouts), "no uneven split"
    for lay in layouts:
        t, p, e, d = (
            lay.tensor_parallel,
            lay.pipeline_parallel,
            lay.expert_parallel,
            lay.data_parallel,
        )
        f = _shell_flags(export.megatron_moe_flags(lay, model))
        assert (f["--tensor-model-parallel-size"], f["--pipeline-model-parallel-size"]) == (
            str(t),
            str(p),
        )
        # args.py:587-588: the expert tensor parallel size defaults to t; moe.py keeps every
        # expert whole on its GPU (_layer_compute: E / e experts of full width f_e).
        assert f["--expert-tensor-parallel-size"] == "1"
        # args.py:1655-1658: e divides the experts; ps.py:874-884: the world t p d is a
        # multiple of expert-tensor x e x p (moe.py: e divides t d).
        assert f["--expert-model-parallel-size"] == str(e)
        assert int(f["--num-experts"]) % e == 0 and (t * p * d) % (1 * e * p) == 0
        # tc.py:1446-1450 and 1460-1467: t divides the heads; the query groups are a multiple
        # or a divisor of t. args.py:1973-1974: MLA excludes grouped-query attention.
        assert model.num_heads % t == 0
        if model.mla is None:
            g = int(f.get("--num-query-groups", model.num_heads))
            assert g % t == 0 or t % g == 0
        else:
            assert "--group-query-attention" not in f and "--multi-latent-attention" in f
            ranks = ("--q-lora-rank", "--kv-lora-rank", "--qk-head-dim")
            ranks += ("--qk-pos-emb-head-dim", "--v-head-dim")
            assert tuple(int(f[k]) for k in ranks) == model.mla
            assert "--qk-layernorm" in f  # specs.py:244-254: MLA's latent norms
        # tc.py:891: the dispatcher defaults to allgather; moe.py times the all-to-all.
        assert f["--moe-token-dispatcher-type"] == "alltoall"
        # moe_module_specs.py:65-98: without --moe-grouped-gemm each local expert is its own
        # multiply (SequentialMLP), as moe.py times it; tc.py:917: dropless by default.
        assert "--moe-grouped-gemm" not in f and "--moe-expert-capacity-factor" not in f
        assert int(f["--moe-router-topk"]) == model.top_k
        assert int(f["--moe-ffn-hidden-size"]) == model.expert_ffn
        shared = f.get("--moe-shared-expert-intermediate-size")
        assert shared == (
            str(model.shared_experts * model.expert_ffn) if model.shared_experts else None
        )
        # args.py:1650-1652: dense layers (and an unset MoE width) use --ffn-hidden-size.
        if model.dense_layers:
            assert int(f["--ffn-hidden-size"]) == model.dense_ffn
        # specs.py:643-671: the pattern is indexed by global layer (default 1: all MoE);
        # with a layout (args.py:940-952, specs.py:693-704) stages hold its layer ids.
        pattern = _megatron_pattern(f.get("--moe-layer-freq", f"[1]*{model.num_layers}"))
        assert len(pattern) == model.num_layers
        if "--pipeline-model-parallel-layout" in f:
            stages = [
                s.count("t") for s in _megatron_layout_stages(f["--pipeline-model-parallel-layout"])
            ]
            assert len(stages) == p and model.num_layers % p
        else:
            assert model.num_layers % p == 0
            stages = [model.num_layers // p] * p
        starts = list(itertools.accumulate([0, *stages]))
        built = [
            (pattern[a:b].count(0), pattern[a:b].count(1)) for a, b in itertools.pairwise(starts)
        ]
        assert built == moe.stage_layers(model, p)
        # moe_layer.py:636-640: training MoE with t > 1 raises without sequence parallelism
        # (moe.py routes b s / t tokens per GPU).
        assert ("--sequence-parallel" in f) == (t > 1)
        assert int(f["--global-batch-size"]) % (lay.micro_batch * d) == 0
        assert int(f["--max-position-embeddings"]) >= int(f["--seq-length"])
        assert "--overlap-param-gather" in f and "--use-distributed-optimizer" in f
        assert f.get("--recompute-granularity", "none") == lay.recompute
        assert f.get("--recompute-method", "uniform") == "uniform" and "--bf16" in f


def test_megatron_moe_refusals():
    v3 = moe.DEEPSEEK_V3
    for sched in ("zbv", "dualpipev", "dualpipe"):
        with pytest.raises(ValueError, match=f"schedule '{sched}' has no Megatron-LM.*torchtitan"):
            export.megatron_moe_flags(moe.deepseek_v3_layout(sched), v3)
    with pytest.raises(ValueError, match="expert_parallel must divide num_experts = 8"):
        export.megatron_moe_flags(moe.MoELayout(1, 4, 16, 16, 1, 64), moe.MIXTRAL_8X7B)
    with pytest.raises(ValueError, match="tensor_parallel must divide num_heads = 48"):
        export.megatron_moe_flags(moe.MoELayout(32, 1, 8, 1, 1, 64), moe.MIXTRAL_8X22B)
    with pytest.raises(ValueError, match="num_kv_heads = 4 .* got 6"):
        odd = moe.MoESpec("odd", 8, 768, 12, 4, 64, 100, 128, 0, 0, 8, 0, 2, 64)
        export.megatron_moe_flags(moe.MoELayout(6, 1, 2, 1, 1, 8), odd)
    with pytest.raises(TypeError, match="layout"):
        export.megatron_moe_flags(o.Candidate(1, 1, 8, 1), v3)


def test_megatron_moe_command_is_one_shell_line():
    lay = moe.MoELayout(2, 5, 8, 8, 1, 64, "1f1b", "full")
    line = export.megatron_moe_command(lay, moe.DEEPSEEK_V3)
    words = shlex.split(line)
    launch = "CUDA_DEVICE_MAX_CONNECTIONS=1 torchrun --nnodes 10 --nproc-per-node 8"
    assert words[:7] == [*launch.split(), "pretrain_gpt.py"]  # 2 x 5 x 8 = 80 GPUs
    # the layout and the pattern are one shell word each (| and * would be read by the shell)
    at = words.index("--pipeline-model-parallel-layout")
    assert words[at + 1] == "Et*13|t*12|t*12|t*12|t*12L"
    assert words[words.index("--moe-layer-freq") + 1] == "([0]*3+[1]*58)"
    assert "|" not in line.replace("'Et*13|t*12|t*12|t*12|t*12L'", "")
    one = moe.MoELayout(1, 1, 8, 8, 1, 64)
    assert export.megatron_moe_command(one, moe.MIXTRAL_8X7B).startswith(
        "torchrun --nnodes 1 --nproc-per-node 8 pretrain_gpt.py"
    )
    with pytest.raises(ValueError, match="do not fill nodes"):
        export.megatron_moe_command(moe.MoELayout(1, 3, 4, 4, 1, 64), moe.MIXTRAL_8X7B)


# --- MoE for torchtitan: rules read from torchtitan 0.3.0 (and run below when installed) -----


def test_torchtitan_moe_writes_what_was_timed():
    lay = moe.deepseek_v3_layout("zbv")  # t1 e64 p16 d128, G = 15,360
    f = _flags(export.torchtitan_moe_config(lay, moe.DEEPSEEK_V3))
    assert (f["--module"], f["--config"]) == ("deepseek_v3", "deepseek_v3_671b")
    assert f["--parallelism.expert_parallel_degree"] == "64"
    assert f["--parallelism.data_parallel_shard_degree"] == "128"
    assert f["--parallelism.pipeline_parallel_schedule"] == "ZBVZeroBubble"
    assert f["--parallelism.no-enable-sequence-parallel"] is True  # t = 1
    # trainer.py _validate_cuda_graphs: PP, and EP with the all-to-all dispatcher
    assert f["--training.disable-cuda-graphs"] is True
    assert f["--training.local_batch_size"] == "120" and f["activation-checkpoint:none"]
    f = _flags(export.torchtitan_moe_config(moe.MoELayout(1, 1, 8, 8, 1, 64), moe.MIXTRAL_8X7B))
    assert "--module" not in f  # no Mixtral in torchtitan 0.3.0
    assert f["--training.disable-cuda-graphs"] is True  # EP alone needs it too
    assert "--parallelism.pipeline_parallel_schedule" not in f
    f = _flags(export.torchtitan_moe_config(moe.MoELayout(1, 1, 1, 8, 1, 64), None, 4096))
    assert "--training.disable-cuda-graphs" not in f  # neither PP nor EP: CUDA graphs allowed


@pytest.mark.parametrize("model", MOE_SHAPES, ids=lambda m: m.name)
def test_torchtitan_moe_stages_hold_the_timed_layers(model):
    """Every rank holds the (dense, MoE) layers moe.stage_layers timed: 1F1B one stage per
    rank; ZB-V's V (stage s on rank s, then on 2p - 1 - s: pipeline_parallel.py
    _get_pp_rank_to_stage_indices_mapping, style "v")."""
    for p, sched in itertools.product((2, 3, 4, 8, 16), ("1f1b", "zbv")):
        lay = moe.MoELayout(1, p, 8, 8, 1, 64, sched)
        try:
            stages = export.torchtitan_moe_stages(lay, model)
        except ValueError as err:
            assert sched == "zbv" and "without layers" in str(err)
            assert min(d + m for d, m in moe.stage_layers(model, p)) == 1
            continue
        assert [j for s in stages for j in s] == list(range(model.num_layers))
        ranks = [(r,) if sched == "1f1b" else (r, 2 * p - 1 - r) for r in range(p)]
        held = [[j for s in own for j in stages[s]] for own in ranks]
        got = [
            (sum(j < model.dense_layers for j in h), sum(j >= model.dense_layers for j in h))
            for h in held
        ]
        assert got == moe.stage_layers(model, p)
        assert all(stages[s] for s in range(len(stages) - 1))  # only the last may be empty


def test_torchtitan_moe_refusals():
    v3 = moe.DEEPSEEK_V3
    with pytest.raises(ValueError, match="'dualpipe' .* no torchtitan"):
        export.torchtitan_moe_config(moe.deepseek_v3_layout("dualpipe"), v3)
    # torch schedules.py _PipelineScheduleRuntime: OVERLAP_F_B runs its sub-actions in turn
    with pytest.raises(ValueError, match="'dualpipev' is not exported .* one after the other"):
        export.torchtitan_moe_config(moe.deepseek_v3_layout("dualpipev"), v3)
    # moe_sharding.py: without EP the experts are split over TP (moe.py: whole)
    with pytest.raises(ValueError, match="expert_parallel = 1 with tensor_parallel = 2"):
        export.torchtitan_moe_config(moe.MoELayout(2, 1, 1, 4, 1, 64), moe.MIXTRAL_8X7B)
    with pytest.raises(ValueError, match="V stage of DeepSeek-V3 without layers"):
        export.torchtitan_moe_config(moe.MoELayout(1, 61, 8, 8, 1, 64, "zbv"), v3)
    with pytest.raises(ValueError, match="seq_len must be given"):
        export.torchtitan_moe_config(moe.MoELayout(1, 1, 8, 8, 1, 64))


# --- torchtitan's own loader, mesh and stage mapping on the MoE exports --------------------


needs_torchtitan_moe = _needs_torchtitan("deepseek_v3", "qwen3", what="the MoE exports")

TT_MOE_CASES = [
    (moe.deepseek_v3_layout("zbv"), moe.DEEPSEEK_V3),
    (moe.deepseek_v3_layout("1f1b", 8), moe.DEEPSEEK_V3),
    (moe.MoELayout(2, 5, 8, 8, 1, 64, "zbv", "full"), moe.DEEPSEEK_V3),
    # rank 0 holds the 3 dense layers only: the last stage is the final norm and head alone
    (moe.MoELayout(1, 30, 8, 8, 1, 512, "zbv"), moe.DEEPSEEK_V3),
    (moe.MoELayout(2, 4, 8, 8, 2, 64, "zbv", "full"), moe.QWEN3_30B_A3B),
    (moe.MoELayout(1, 1, 8, 8, 1, 64), moe.QWEN3_30B_A3B),
    (moe.MoELayout(4, 3, 8, 2, 1, 64, "1f1b"), moe.QWEN3_30B_A3B),
]


@pytest.fixture
def fake_world():
    """A function that starts torch.distributed's fake backend for a number of ranks (meshes
    then build on CPU); the process group is destroyed after the test."""
    import torch.distributed as dist
    from torch.testing._internal.distributed.fake_pg import FakeStore

    def start(world: int):
        if dist.is_initialized():
            dist.destroy_process_group()
        dist.init_process_group("fake", rank=0, world_size=world, store=FakeStore())

    yield start
    if dist.is_initialized():
        dist.destroy_process_group()


@needs_torchtitan_moe
@pytest.mark.parametrize("lay,model", TT_MOE_CASES, ids=lambda x: getattr(x, "words", ""))
def test_torchtitan_moe_loader_builds_the_timed_layout(lay, model, fake_world):
    import torch
    from torchtitan.config import ConfigManager
    from torchtitan.distributed import pipeline_parallel as tpp
    from torchtitan.distributed.parallel_dims import ParallelDims

    words = shlex.split(" ".join(export.torchtitan_moe_config(lay, model)))
    cfg = ConfigManager().parse_args(words)
    par, training, spec = cfg.parallelism, cfg.training, cfg.model_spec.model
    t, p, e, d = lay.tensor_parallel, lay.pipeline_parallel, lay.expert_parallel, lay.data_parallel
    assert (par.tensor_parallel_degree, par.pipeline_parallel_degree) == (t, p)
    assert (par.data_parallel_shard_degree, par.expert_parallel_degree) == (d, e)
    assert par.enable_sequence_parallel == (t > 1)
    assert training.global_batch_size == lay.global_batch
    assert (
        training.local_batch_size // par.pipeline_parallel_microbatch_size == lay.num_microbatches
    )
    assert training.seq_len == model.seq_len
    ac = type(cfg.activation_checkpoint).__qualname__ if cfg.activation_checkpoint else "none"
    assert ac == {"none": "none", "full": "FullAC.Config"}[lay.recompute]
    spec.update_from_config(config=cfg)  # its sharding plan for the EP and SP settings
    # the registered model is the book's shape: layers, dense first, experts, widths
    moe_layers = [layer.moe for layer in spec.layers if layer.moe is not None]
    assert len(spec.layers) == model.num_layers and spec.dim == model.hidden_size
    assert len(spec.layers) - len(moe_layers) == model.dense_layers
    assert all(layer.moe is None for layer in spec.layers[: model.dense_layers])
    block = moe_layers[0]
    assert (block.num_experts, block.router.top_k) == (model.num_experts, model.top_k)
    assert block.routed_experts.inner_experts.hidden_dim == model.expert_ffn
    shared = block.shared_experts.w1.out_features if block.shared_experts else 0
    assert shared == model.shared_experts * model.expert_ffn
    assert not getattr(spec, "mtp_layers", None)  # no multi-token prediction (moe.py: none)
    # torchtitan's mesh on CPU (fake backend): world = d t p, EP carved from d x t
    fake_world(lay.num_gpus)
    dims = ParallelDims.from_config(par, lay.num_gpus)
    dims.build_mesh()
    if e > 1:
        assert (dims.get_mesh("ep").size(), dims.get_mesh("efsdp").size()) == (e, d * t // e)
    if p == 1:
        return
    # every stage's modules name real modules of the model (built on the meta device) ...
    with torch.device("meta"):
        built = spec.build()
    names = {n for n, _ in built.named_children() if n != "layers"}
    names |= {f"layers.{k}" for k in built.layers}
    parts = par.module_fqns_per_model_part
    assert {x for part in parts for x in part} == names
    # ... and torchtitan's own rank mapping gives each rank the layers moe.py timed
    sched = par.pipeline_parallel_schedule
    assert sched == export.TORCHTITAN_MOE_SCHEDULES[lay.schedule]
    for rank, (dense, moe_n) in enumerate(moe.stage_layers(model, p)):
        own = tpp._get_pp_rank_to_stage_indices_mapping(rank, p, sched, len(parts))
        held = [int(x.split(".")[1]) for s in own for x in parts[s] if x.startswith("layers.")]
        assert sum(spec.layers[j].moe is None for j in held) == dense
        assert sum(spec.layers[j].moe is not None for j in held) == moe_n


@needs_torchtitan_moe
def test_torchtitan_mesh_refuses_what_moe_refuses(fake_world):
    """parallel_dims.py build_mesh: efsdp = d t / e must fill the world (configs.py: EP borrows
    from dp_shard x cp x tp); MoELayout refuses the same layouts (e must divide t d)."""
    from torchtitan.config.configs import ParallelismConfig
    from torchtitan.distributed.parallel_dims import ParallelDims

    for t, p, d, e in ((2, 4, 8, 8), (2, 4, 8, 3), (1, 2, 4, 8), (4, 2, 2, 8)):
        par = ParallelismConfig(
            tensor_parallel_degree=t,
            pipeline_parallel_degree=p,
            data_parallel_shard_degree=d,
            expert_parallel_degree=e,
        )
        fake_world(t * p * d)
        try:
            ParallelDims.from_config(par, t * p * d).build_mesh()
            torchtitan_ok = True
        except (ValueError, RuntimeError, AssertionError):
            torchtitan_ok = False
        assert torchtitan_ok == ((t * d) % e == 0)
        if not torchtitan_ok:
            with pytest.raises(ValueError, match="expert_parallel must divide"):
                moe.MoELayout(t, p, e, d, 1, 64 * d)
