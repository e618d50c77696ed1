"""Model shapes used throughout the book, each with its source.

A :class:`ModelSpec` holds the architecture numbers a pipeline-parallel model needs: layers,
hidden size, heads, vocabulary, sequence length and the MLP shape. Parameter counts are
derived from these numbers (not typed in), and tests compare them with the published totals.
"""

from __future__ import annotations

from dataclasses import dataclass

from ._validate import MAX_LAYERS, check_bool, check_choice, check_instance, check_int

# Widths, vocabularies and contexts beyond any published model (the largest are about 10**5);
# a typo of a few extra digits gets a clear error instead of overflowing a count.
MAX_WIDTH = 10**7


@dataclass(frozen=True)
class ModelSpec:
    """Architecture of a decoder-only transformer.

    Attributes:
        name: display name.
        num_layers: transformer layers L.
        hidden_size: model width h.
        num_heads: attention heads a.
        num_kv_heads: key/value heads (equal to ``num_heads`` without grouped-query attention).
        ffn_hidden_size: inner width of the MLP.
        vocab_size: vocabulary size V.
        seq_len: training context length s (tokens).
        mlp_matrices: 2 for a GELU MLP (GPT), 3 for SwiGLU (Llama).
        biases: whether linear layers and norms carry biases (GPT: yes, Llama: no).
        tied_embeddings: whether the LM head reuses the input embedding matrix.
        learned_positions: whether there is a learned position-embedding table (GPT-3).
        source: key in ``book/references.bib``.

    Raises ``ValueError`` for a field out of range (counts must be integers >= 1, up to
    :data:`~ppnotes._validate.MAX_LAYERS` layers and :data:`MAX_WIDTH` for widths, vocabulary
    and context; heads must divide the hidden size and key/value heads the heads) and
    ``TypeError`` for a flag that is not ``True``/``False`` or a name that is not a string.
    """

    name: str
    num_layers: int
    hidden_size: int
    num_heads: int
    num_kv_heads: int
    ffn_hidden_size: int
    vocab_size: int
    seq_len: int
    mlp_matrices: int
    biases: bool
    tied_embeddings: bool
    learned_positions: bool
    source: str

    def __post_init__(self):
        # Validate once here, so every consumer can trust the shape (frozen: set through
        # object.__setattr__, which also turns 4.0 into 4).
        check_instance("name", self.name, str, "string")
        check_instance("source", self.source, str, "string")
        fields = {
            "num_layers": MAX_LAYERS,
            "hidden_size": MAX_WIDTH,
            "num_heads": MAX_WIDTH,
            "num_kv_heads": MAX_WIDTH,
            "ffn_hidden_size": MAX_WIDTH,
            "vocab_size": MAX_WIDTH,
            "seq_len": MAX_WIDTH,
        }
        for field, maximum in fields.items():
            object.__setattr__(self, field, check_int(field, getattr(self, field), 1, maximum))
        object.__setattr__(self, "mlp_matrices", check_int("mlp_matrices", self.mlp_matrices, 2, 3))
        for field in ("biases", "tied_embeddings", "learned_positions"):
            check_bool(field, getattr(self, field))
        if self.hidden_size % self.num_heads:
            raise ValueError(
                f"num_heads must divide hidden_size = {self.hidden_size}, got {self.num_heads}"
            )
        if self.num_heads % self.num_kv_heads:
            raise ValueError(
                f"num_kv_heads must divide num_heads = {self.num_heads}, got {self.num_kv_heads}"
            )

    @property
    def head_dim(self) -> int:
        """Width of one attention head, h / a."""
        return self.hidden_size // self.num_heads

    @property
    def params_per_layer(self) -> int:
        """Parameters in one transformer layer (attention, MLP, two norms)."""
        h, kv = self.hidden_size, self.num_kv_heads * self.head_dim
        attn = h * h + 2 * h * kv + h * h  # Q, K, V and output projections
        mlp = self.mlp_matrices * h * self.ffn_hidden_size
        norms = 2 * (2 * h if self.biases else h)  # LayerNorm has a bias, RMSNorm has none
        if self.biases:
            attn += h + 2 * kv + h
            mlp += self.ffn_hidden_size * (self.mlp_matrices - 1) + h
        return attn + mlp + norms

    @property
    def embedding_params(self) -> int:
        """Parameters on the first stage besides its layers: token (and position) embedding."""
        positions = self.seq_len * self.hidden_size if self.learned_positions else 0
        return self.vocab_size * self.hidden_size + positions

    @property
    def head_params(self) -> int:
        """Parameters on the last stage besides its layers: final norm and LM head.

        With tied embeddings the last stage still holds a copy of the word embedding
        (Megatron-LM keeps one there and all-reduces its gradient with the first stage),
        so the memory on that stage is the same either way.
        """
        final_norm = 2 * self.hidden_size if self.biases else self.hidden_size
        return self.vocab_size * self.hidden_size + final_norm

    @property
    def total_params(self) -> int:
        """Parameters of the model, counting a tied embedding once."""
        head = self.head_params
        if self.tied_embeddings:
            head -= self.vocab_size * self.hidden_size
        return self.num_layers * self.params_per_layer + self.embedding_params + head

    @property
    def layer_flops_per_token(self) -> float:
        """Forward FLOPs of one layer per token at full context (2 per multiply-add).

        Matrix multiplies 2 * params plus attention scores and values 4 * s * h
        (Narayanan et al. 2021, eq. 3 counts 24 b s h^2 + 4 b s^2 h for GPT shapes).
        """
        return 2.0 * self.params_per_layer + 4.0 * self.seq_len * self.hidden_size

    @property
    def head_flops_per_token(self) -> float:
        """Forward FLOPs of the LM head per token: 2 * V * h."""
        return 2.0 * self.vocab_size * self.hidden_size

    @property
    def head_layer_equivalents(self) -> float:
        """LM-head compute in units of one layer's compute (the last stage's extra load)."""
        return self.head_flops_per_token / self.layer_flops_per_token

    @property
    def embedding_layer_equivalents(self) -> float:
        """Embedding parameters in units of one layer's parameters (first stage's extra memory)."""
        return self.embedding_params / self.params_per_layer


GPT3_175B = ModelSpec(
    name="GPT-3 175B",
    num_layers=96,
    hidden_size=12288,
    num_heads=96,
    num_kv_heads=96,
    ffn_hidden_size=4 * 12288,
    vocab_size=50257,
    seq_len=2048,
    mlp_matrices=2,
    biases=True,
    tied_embeddings=True,
    learned_positions=True,
    source="brown2020language",
)

LLAMA3_70B = ModelSpec(
    name="Llama 3 70B",
    num_layers=80,
    hidden_size=8192,
    num_heads=64,
    num_kv_heads=8,
    ffn_hidden_size=28672,
    vocab_size=128256,
    seq_len=8192,
    mlp_matrices=3,
    biases=False,
    tied_embeddings=False,
    learned_positions=False,
    source="dubey2024llama3",
)

#: Llama 3 8B (dubey2024llama3; torchtitan's llama3_8b, used by ppnotes.runs for its FP8
#: runs, not a planner preset): 32 layers, width 4,096, 32 heads, 8 key-value heads, MLP
#: 14,336, vocabulary 128,256, sequences of 8,192.
LLAMA3_8B = ModelSpec(
    name="Llama 3 8B",
    num_layers=32,
    hidden_size=4096,
    num_heads=32,
    num_kv_heads=8,
    ffn_hidden_size=14336,
    vocab_size=128256,
    seq_len=8192,
    mlp_matrices=3,
    biases=False,
    tied_embeddings=False,
    learned_positions=False,
    source="dubey2024llama3",
)

LLAMA31_405B = ModelSpec(
    name="Llama 3.1 405B",
    num_layers=126,
    hidden_size=16384,
    num_heads=128,
    num_kv_heads=8,
    ffn_hidden_size=53248,
    vocab_size=128256,
    seq_len=8192,
    mlp_matrices=3,
    biases=False,
    tied_embeddings=False,
    learned_positions=False,
    source="dubey2024llama3",
)

MODELS: dict[str, ModelSpec] = {m.name: m for m in (GPT3_175B, LLAMA3_70B, LLAMA31_405B)}


def get_model(name: str) -> ModelSpec:
    """Return the preset called ``name`` (one of :data:`MODELS`)."""
    return MODELS[check_choice("model", name, MODELS)]


# --- Shapes used by published training runs (ppnotes.runs) ------------------------------


def megatron_gpt(
    name: str,
    num_layers: int,
    hidden_size: int,
    num_heads: int,
    source: str,
    *,
    vocab_size: int = 51200,
    seq_len: int = 2048,
    tied_embeddings: bool = True,
    learned_positions: bool = True,
):
    """A GPT shape as the Megatron-LM papers train it: vocabulary 51,200, sequence 2,048
    (other published runs of the same family override those and the head and positions).

    Narayanan et al. (2021, section 5.1) and Korthikanti et al. (2022, section 6) use a
    vocabulary of 51,200 (GPT-2's 50,257 padded to a multiple of 1024), sequence length
    2,048, a GELU MLP of width 4h, biases, learned positions and a tied LM head. Their
    parameter count is eq. (2) of Narayanan et al.: 12 l h^2 (1 + 13/(12h) + (V+s)/(12lh)).
    Raises ``ValueError`` for a shape :class:`ModelSpec` refuses.
    """
    hidden_size = check_int("hidden_size", hidden_size, 1, MAX_WIDTH // 4)  # the MLP is 4h
    return ModelSpec(
        name=name,
        num_layers=num_layers,
        hidden_size=hidden_size,
        num_heads=num_heads,
        num_kv_heads=num_heads,
        ffn_hidden_size=4 * hidden_size,
        vocab_size=vocab_size,
        seq_len=seq_len,
        mlp_matrices=2,
        biases=True,
        tied_embeddings=tied_embeddings,
        learned_positions=learned_positions,
        source=source,
    )


# Narayanan et al. 2021, Table 1 (name = the table's parameter count in billions).
MEGATRON_1_7B = megatron_gpt("GPT 1.7B (Megatron)", 24, 2304, 24, "narayanan2021efficient")
MEGATRON_18B = megatron_gpt("GPT 18.4B (Megatron)", 40, 6144, 48, "narayanan2021efficient")
MEGATRON_39B = megatron_gpt("GPT 39.1B (Megatron)", 48, 8192, 64, "narayanan2021efficient")
MEGATRON_145B = megatron_gpt("GPT 145.6B (Megatron)", 80, 12288, 96, "narayanan2021efficient")
MEGATRON_310B = megatron_gpt("GPT 310.1B (Megatron)", 96, 16384, 128, "narayanan2021efficient")
MEGATRON_530B = megatron_gpt("GPT 529.6B (Megatron)", 105, 20480, 128, "narayanan2021efficient")
MEGATRON_1T = megatron_gpt("GPT 1T (Megatron)", 128, 25600, 160, "narayanan2021efficient")
# Korthikanti et al. 2022, Table 3: 22B, and GPT-3's shape with Megatron's vocabulary
# (174.6B parameters, as Narayanan et al. Table 2 counts it). Their 530B and 1T rows
# have the same shapes as MEGATRON_530B and MEGATRON_1T.
MEGATRON_22B = megatron_gpt("GPT 22B (Megatron)", 48, 6144, 64, "korthikanti2022reducing")
GPT3_175B_MEGATRON = megatron_gpt(
    "GPT-3 175B (Megatron vocab)", 96, 12288, 96, "korthikanti2022reducing"
)

PAPER_MODELS: dict[str, ModelSpec] = {
    m.name: m
    for m in (
        MEGATRON_1_7B,
        MEGATRON_18B,
        MEGATRON_22B,
        MEGATRON_39B,
        MEGATRON_145B,
        GPT3_175B_MEGATRON,
        MEGATRON_310B,
        MEGATRON_530B,
        MEGATRON_1T,
    )
}
MODELS.update(PAPER_MODELS)  # after the book's main presets, so get_model finds them too


# --- Serving (chapter 6) ------------------------------------------------------------------

# Llama 3.1 70B: Llama 3 70B's shape with the context extended to 128K tokens (Dubey et al.
# 2024, Table 3 and section 3.4.2: "we increase the supported context length ... to 128K").
LLAMA31_70B = ModelSpec(
    name="Llama 3.1 70B",
    num_layers=LLAMA3_70B.num_layers,
    hidden_size=LLAMA3_70B.hidden_size,
    num_heads=LLAMA3_70B.num_heads,
    num_kv_heads=LLAMA3_70B.num_kv_heads,
    ffn_hidden_size=LLAMA3_70B.ffn_hidden_size,
    vocab_size=LLAMA3_70B.vocab_size,
    seq_len=131072,
    mlp_matrices=LLAMA3_70B.mlp_matrices,
    biases=LLAMA3_70B.biases,
    tied_embeddings=LLAMA3_70B.tied_embeddings,
    learned_positions=LLAMA3_70B.learned_positions,
    source="dubey2024llama3",
)
MODELS[LLAMA31_70B.name] = LLAMA31_70B
