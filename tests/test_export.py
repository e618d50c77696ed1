"""The exports run as timed: each rule below was read from the framework's own code.

Megatron-LM is not on the package registry with its argument parser (the ``megatron-core``
wheel does not ship ``megatron/training/arguments.py``), so its rules are written out here,
each citing ``megatron/training/arguments.py`` (abbreviated ``args.py``) at commit
d98e8a64ddf34856e74b24714e3bedb2f5a39553. ``tools/check_megatron_exports.py`` runs the exports
through that checkout's own ``parse_args``, ``validate_args`` and ``TransformerConfig`` on CPU:
it accepted all 408 exports of its grid (every model preset, t, p, 1F1B and interleaved v), 208
of them uneven splits written as ``--pipeline-model-parallel-layout``, each building the layers
per stage the step model timed; it refused the exports of an earlier version with
"max_position_embeddings argument is None".

torchtitan is on PyPI: ``pip install -e .[frameworks]`` installs torchtitan 0.3.0, and the
last tests run the exports through its own loader (``ConfigManager.parse_args``) and its own
stage builder; without it they are skipped with a loud reason.
"""

from __future__ import annotations

import importlib
import importlib.util
import itertools
import math
import shlex

import pytest

from ppnotes import export, models, serving_plan
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
        f = _flags(export.megatron_flags(cand, model, 64, seq))
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


def _torchtitan_missing() -> str | None:
    """Why torchtitan's loader cannot run here (None: it can)."""
    if importlib.util.find_spec("torchtitan") is None:
        return "torchtitan NOT INSTALLED"
    try:  # its llama3 registry imports triton, which CPU builds of torch do not pull in
        importlib.import_module("torchtitan.models.llama3.config_registry")
    except Exception as err:  # noqa: BLE001 - any import failure means: cannot check
        return f"torchtitan's llama3 config does NOT IMPORT ({type(err).__name__}: {err})"
    return None


TORCHTITAN_MISSING = _torchtitan_missing()
needs_torchtitan = pytest.mark.skipif(
    TORCHTITAN_MISSING is not None,
    reason=f"{TORCHTITAN_MISSING}: the exports were not run through torchtitan's own "
    "loader; pip install -e .[frameworks]",
)

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
