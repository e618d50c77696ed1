"""Run the planner's Megatron-LM exports through Megatron-LM's own argument checks, on CPU.

Megatron-LM's parser and ``validate_args`` live in ``megatron/training/arguments.py``, which the
``megatron-core`` wheel does not ship, so this needs a source checkout (the book pins commit
d98e8a64ddf34856e74b24714e3bedb2f5a39553)::

    git clone https://github.com/NVIDIA/Megatron-LM && git -C Megatron-LM checkout d98e8a64
    .venv/bin/python tools/check_megatron_exports.py Megatron-LM

For a grid over every model preset, t, p, schedule, v and context parallelism, it builds the export
(:func:`ppnotes.export.megatron_flags`), then runs Megatron-LM's ``parse_args``,
``validate_args`` and ``core_transformer_config_from_args`` (whose TransformerConfig parses and
validates a ``--pipeline-model-parallel-layout``), and checks that Megatron-LM would build the
layers per stage and the virtual-stage count the step model timed. Two things a CPU lacks are
stood in for: the device generation (Hopper) and Transformer Engine's fused RoPE kernel. Prints
how many exports were accepted and each kind of refusal; exits 1 if any was refused.

Then the same for mixture-of-experts layouts (:func:`ppnotes.export.megatron_moe_flags`): every
:mod:`ppnotes.moe` preset x the layouts ``plan_moe(..., framework="megatron")`` ranks first for
a few GPU counts and both recomputations, plus uneven splits (L not a multiple of p). Beyond
Megatron-LM's argument checks and TransformerConfig's MoE checks, each must build what was timed:
the experts per rank (E / e, expert tensor parallelism 1), the expert and dense rank grids of
``megatron/core/parallel_state.py`` (world divisible by etp x e x p, the same pipeline groups),
and per pipeline stage the dense and MoE layers of ``ppnotes.moe.stage_layers``, read from
Megatron-LM's own layer specs (``get_gpt_decoder_block_spec``).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import itertools
import logging
import os
import shlex
import sys
import typing
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _load_megatron(checkout: Path):
    """Import Megatron-LM's argument code from ``checkout`` with the GPU-only parts stubbed."""
    sys.path.insert(0, str(checkout))
    if not hasattr(typing, "override"):  # Python < 3.12; Megatron-LM only decorates with it
        typing.override = lambda f: f
    warnings.filterwarnings("ignore")
    logging.disable(logging.CRITICAL)
    import megatron.core.models.common.embeddings.rope_utils as rope
    import megatron.training.arguments as args_module
    from megatron.core.transformer.enums import LayerType
    from megatron.training.argument_utils import core_transformer_config_from_args

    args_module.get_device_arch_version = lambda: 9  # validate_args asks the GPU (Hopper)
    rope.fused_apply_rotary_pos_emb = lambda *a, **k: None  # Transformer Engine's kernel
    return args_module, core_transformer_config_from_args, LayerType


def _megatron_run(megatron_args, build_config, flags, vocab, world, env):
    """Megatron-LM's parse_args, validate_args and TransformerConfig on ``flags``."""
    sys.argv = ["pretrain_gpt.py", *flags, "--tokenizer-type", "NullTokenizer"]
    sys.argv += ["--vocab-size", str(vocab)]
    os.environ.update(WORLD_SIZE=str(world), RANK="0")
    os.environ.pop("CUDA_DEVICE_MAX_CONNECTIONS", None)
    os.environ.update(env)
    with contextlib.redirect_stdout(io.StringIO()):
        args = megatron_args.parse_args()
        megatron_args.validate_args(args)
        return args, build_config(args)


def _moe_grid(moe):
    """(model, layout) for every MoE preset: plan_moe's top 4 Megatron-LM layouts on 64 to
    2,048 H100s for both recomputations, then uneven splits (L not a multiple of p)."""
    seen = set()
    for model in moe.MOE_MODELS.values():
        for n, rc in itertools.product((64, 256, 1024, 2048), moe.RECOMPUTE):
            plan = moe.plan_moe(
                model, moe.H100_CLUSTER, n, 1024, framework="megatron", recompute=rc
            )
            for step in plan.ranked[:4]:
                if (model.name, step.layout) not in seen:
                    seen.add((model.name, step.layout))
                    yield model, step.layout
        for p, t, rc in itertools.product((3, 5, 7, 13), (1, 2), moe.RECOMPUTE):
            if model.num_layers % p == 0 or model.num_heads % t:
                continue
            lay = moe.MoELayout(t, p, 8, 8 // t * 2, 1, 64, "1f1b", rc)
            if (model.name, lay) not in seen:
                seen.add((model.name, lay))
                yield model, lay


def _check_moe(megatron_args, build_config) -> tuple[int, dict, dict]:
    """Run every MoE export of :func:`_moe_grid`; (accepted, Megatron refusals, exporter
    refusals), each refusal keyed by its message with the cases."""
    from megatron.core import parallel_state
    from megatron.core.models.gpt.gpt_layer_specs import get_gpt_decoder_block_spec
    from megatron.core.transformer.moe.moe_layer import MoELayer

    from ppnotes import export, moe

    accepted, refused, not_exported = 0, {}, {}
    for model, lay in _moe_grid(moe):
        case = f"{model.name}: {lay.words}"
        try:
            flags = shlex.split(" ".join(export.megatron_moe_flags(lay, model)))
        except ValueError as err:
            not_exported.setdefault(str(err)[:160], []).append(case)
            continue
        t, p, e, d = (
            lay.tensor_parallel,
            lay.pipeline_parallel,
            lay.expert_parallel,
            lay.data_parallel,
        )
        env = {"CUDA_DEVICE_MAX_CONNECTIONS": "1"} if t > 1 else {}
        try:
            args, config = _megatron_run(
                megatron_args, build_config, flags, model.vocab_size, lay.num_gpus, env
            )
            # experts per rank, whole (expert tensor parallelism 1), and the batch
            assert config.num_moe_experts // config.expert_model_parallel_size == (
                model.num_experts // e
            ), "experts per rank"
            assert config.expert_tensor_parallel_size == 1, "expert tensor parallel size"
            assert config.moe_router_topk == model.top_k, "top-k"
            assert config.moe_ffn_hidden_size == model.expert_ffn, "expert width"
            shared = model.shared_experts * model.expert_ffn or None
            assert config.moe_shared_expert_intermediate_size == shared, "shared experts"
            assert config.moe_token_dispatcher_type == "alltoall", "dispatcher"
            assert config.moe_expert_capacity_factor is None, "dropless"
            assert config.sequence_parallel == (t > 1), "sequence parallel"
            assert config.multi_latent_attention == (model.mla is not None), "MLA"
            assert args.data_parallel_size == d, f"d {args.data_parallel_size}"
            # parallel_state.initialize_model_parallel's two rank grids, on CPU
            dense = parallel_state.RankGenerator(
                tp=t, ep=1, dp=d, pp=p, cp=1, order="tp-cp-ep-dp-pp"
            )
            assert lay.num_gpus % (1 * e * p) == 0, "world not divisible by etp x ep x pp"
            expert = parallel_state.RankGenerator(
                tp=1, ep=e, dp=lay.num_gpus // (e * p), pp=p, cp=1, order="tp-cp-ep-dp-pp"
            )
            assert dense.get_ranks("pp") == expert.get_ranks("pp"), "pipeline groups differ"
            assert all(len(g) == e for g in expert.get_ranks("ep")), "EP group size"
            # Megatron-LM's own layer specs, stage by stage: (dense, MoE) as timed
            # (a layout's get_num_layers_to_build asks parallel_state for the pipeline rank
            # even when pp_rank is given: set it with Megatron-LM's own setters, as a rank does)
            built = []
            parallel_state.set_pipeline_model_parallel_world_size(p)
            for rank in range(p):
                parallel_state.set_pipeline_model_parallel_rank(rank)
                spec = get_gpt_decoder_block_spec(config, False, "RMSNorm", pp_rank=rank)
                mlps = [ls.submodules.mlp for ls in spec.layer_specs]
                moes = [m for m in mlps if getattr(m, "func", None) is MoELayer]
                built.append((len(mlps) - len(moes), len(moes)))
                for m in moes:  # no grouped GEMM: one multiply per local expert, as timed
                    experts = m.keywords["submodules"].experts
                    cls = getattr(experts, "module", getattr(experts, "func", experts))
                    assert cls.__name__ == "SequentialMLP", f"experts run as {cls}"
            want = moe.stage_layers(model, p)
            assert built == want, f"stages build {built}, timed {want}"
            accepted += 1
        except BaseException as err:  # noqa: BLE001 - argparse exits, asserts: all refusals
            key = f"{type(err).__name__}: {err}"[:200]
            refused.setdefault(key, []).append(case)
    return accepted, refused, not_exported


def _grid(models, optimum):
    """(model, candidate, global batch, sequence length) for every preset and layout tried."""
    schedules = (("1f1b", 1), ("interleaved", 2), ("interleaved", 3), ("interleaved", 8))
    for model in models.MODELS.values():
        grid = itertools.product((1, 8), (1, 3, 4, 5, 16), schedules, (1, 4))
        for t, p, (name, v), cp in grid:
            if (p == 1 and name == "interleaved") or p * v > model.num_layers:
                continue
            if model.num_heads % t or model.num_kv_heads % t:
                continue
            cand = optimum.Candidate(t, p, 2, 1, name, v, "selective", True, True, cp=cp)
            yield model, cand, 2 * p * 2, min(model.seq_len, 4096)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("megatron", type=Path, help="a Megatron-LM source checkout")
    opts = ap.parse_args(argv)
    megatron_args, build_config, LayerType = _load_megatron(opts.megatron.resolve())
    sys.path.insert(0, str(ROOT))
    from ppnotes import export, models, optimum
    from ppnotes import perf_model as pm

    accepted, refused = 0, {}
    for model, cand, batch, seq in _grid(models, optimum):
        flags = shlex.split(" ".join(export.megatron_flags(cand, model, batch, seq)))
        world = cand.t * cand.cp * cand.p * cand.d
        try:
            args, config = _megatron_run(
                megatron_args,
                build_config,
                flags,
                model.vocab_size,
                world,
                export.megatron_env(cand),
            )
            timed = cand.config(batch, seq)
            want = pm.chunk_layers(model, timed)
            layout = config.pipeline_model_parallel_layout
            if layout is not None:
                got = [
                    layout.layout[r][c].count(LayerType.decoder)
                    for c in range(layout.virtual_pipeline_model_parallel_size)
                    for r in range(cand.p)
                ]
                want = want or pm.layers_per_rank(model, timed)
                assert got == want, f"layout builds {got}, the step model timed {want}"
            assert args.context_parallel_size == cand.cp, f"cp {args.context_parallel_size}"
            assert args.data_parallel_size == cand.d, f"d {args.data_parallel_size}"
            chunks = args.virtual_pipeline_model_parallel_size or 1
            assert chunks == timed.chunks_per_rank, f"{chunks} virtual stages, timed {cand.v}"
            accepted += 1
        except BaseException as err:  # noqa: BLE001 - argparse exits, asserts: all refusals
            key = f"{type(err).__name__}: {err}"[:200]
            refused.setdefault(key, []).append(f"{model.name}: {cand.label}")
    print(f"Megatron-LM accepted {accepted} exports, refused {sum(map(len, refused.values()))}")
    for reason, cases in refused.items():
        print(f"  {len(cases)} x {reason} (e.g. {cases[0]})")
    moe_ok, moe_refused, not_exported = _check_moe(megatron_args, build_config)
    n_refused = sum(map(len, moe_refused.values()))
    print(f"Megatron-LM accepted {moe_ok} MoE exports, refused {n_refused}")
    for reason, cases in moe_refused.items():
        print(f"  {len(cases)} x {reason} (e.g. {cases[0]})")
    for reason, cases in not_exported.items():
        print(f"  not exported (ppnotes refused), {len(cases)} x {reason} (e.g. {cases[0]})")
    return 1 if refused or moe_refused else 0


if __name__ == "__main__":
    sys.exit(main())
