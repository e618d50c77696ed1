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
        sys.argv = ["pretrain_gpt.py", *flags, "--tokenizer-type", "NullTokenizer"]
        sys.argv += ["--vocab-size", str(model.vocab_size)]
        os.environ.update(WORLD_SIZE=str(cand.t * cand.cp * cand.p * cand.d), RANK="0")
        os.environ.pop("CUDA_DEVICE_MAX_CONNECTIONS", None)
        os.environ.update(export.megatron_env(cand))
        try:
            with contextlib.redirect_stdout(io.StringIO()):
                args = megatron_args.parse_args()
                megatron_args.validate_args(args)
                config = build_config(args)
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
    return 1 if refused else 0


if __name__ == "__main__":
    sys.exit(main())
