"""Architecture facts, one entry per ``config.model_type``: where attention lives and how it is computed.

Facts, not code paths (inseq keeps one class per architecture; TransformerLens one config per model). Every
view that reaches inside a model reads them here: the query·key view and the lessons' step-by-step
attention (:func:`plm_core.attention.capture_layer`), ``ModelHandle.max_tokens`` (the position-id offset),
the LM body/head split used by attribution and the bias probes, and the final norm before the head.

Paths are relative to ``model.base_model`` (``BertForMaskedLM.bert``, ``LlamaForCausalLM.model``; the model
itself for T5) and name one module per layer, ``*`` standing for the layer index.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Literal

import torch

Positions = Literal["absolute", "rotary", "relative_bias", "unknown"]
StackName = Literal["self", "encoder", "decoder", "cross"]


@dataclass(frozen=True)
class Stack:
    """One stack of attention modules (one per layer): self-attention, or an encoder-decoder's three stacks.

    Args:
        name: "self" (encoder-only and decoder-only models), or "encoder", "decoder", "cross".
        path: the attention module of layer ``*``, under ``model.base_model``.
        output: the output projection of layer ``*`` when it is not on the attention module (BERT keeps it
            in the sibling ``BertSelfOutput``), else None.
        causal: queries see only themselves and earlier keys.
        cross: the keys and values are the encoder's output (queries: target tokens, keys: source tokens).
        queries, keys: which segment of the input encoding the query and key tokens are (an encoder-decoder's
            input is the source, segment 0, then the target prefix, segment 1); None = every token.
    """

    name: StackName
    path: str = ""
    output: str | None = None
    causal: bool = False
    cross: bool = False
    queries: int | None = None
    keys: int | None = None

    def module_path(self, layer: int, output: bool = False) -> str:
        path = self.output if output else self.path
        return (path or "").replace("*", str(layer))


@dataclass(frozen=True)
class Arch:
    """What one ``model_type`` looks like inside.

    Args:
        stacks: attention stacks, in the order a forward pass returns them (empty = modules not mapped: the
            model still shows its attention weights, but nothing is recomputed from its projections).
        q, k, v: attribute names of the query/key/value projections on the attention module.
        qkv: a fused projection instead (GPT-2's ``c_attn``, Phi-3's ``qkv_proj``): [q | k | v] along the
            last dimension, k and v with ``n_kv_heads`` heads each.
        out: attribute name of the output projection on the attention module (None: ``Stack.output``).
        positions: "absolute" (a learned or sinusoidal table added to the word embeddings), "rotary" (RoPE:
            Q and K rotated inside attention; Su et al., 2021), "relative_bias" (a learned bias added to the
            attention scores; T5, Raffel et al., 2020).
        position_offset: position ids start here (RoBERTa and BART skip the padding index: 2).
        token_types: the model has segment (token-type) embeddings.
        causal: a decoder-only language model (its classifier reads the last token).
        encoder_decoder: separate encoder and decoder stacks joined by cross-attention.
        grouped_query: keys/values may have fewer heads than queries (Ainslie et al., 2023, GQA); each
            query head h reads key/value head ``h // (n_heads // n_kv_heads)``.
        head: attribute path of the LM head on the LM model (None: none, or a custom one below).
        final_norm: path under ``model.base_model`` of the norm applied to the last hidden states before
            the head (None: the head has its own, as BERT's transform, or there is none).
        norm: where the layer norms sit. "post" (BERT, BART; Vaswani et al., 2017): every layer's output is
            already normalised, so any layer's hidden state can go straight into the LM head. "pre" (GPT-2,
            Llama, T5; Xiong et al., 2020): the residual stream is normalised only by ``final_norm`` before
            the head. "unknown": not mapped. The logit lens reads intermediate layers through these facts.
    """

    stacks: tuple[Stack, ...] = ()
    q: str | None = None
    k: str | None = None
    v: str | None = None
    qkv: str | None = None
    out: str | None = None
    positions: Positions = "absolute"
    position_offset: int = 0
    token_types: bool = False
    causal: bool = False
    encoder_decoder: bool = False
    grouped_query: bool = False
    head: str | None = None
    final_norm: str | None = None
    norm: Literal["post", "pre", "unknown"] = "unknown"

    @property
    def recomputable(self) -> bool:
        """Whether the query·key view can rebuild this architecture's attention from its projections."""
        return (bool(self.stacks) and all(s.path for s in self.stacks) and (self.qkv is not None or self.q is not None)
                and self.positions != "unknown")

    @property
    def stack_names(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.stacks) or ("self",)

    def stack(self, name: str | None = None) -> Stack:
        """The stack called ``name`` (None: the first — the only one of a single-stack model)."""
        if name is None:
            return self.stacks[0]
        for s in self.stacks:
            if s.name == name:
                return s
        raise KeyError(name)


def encoder_decoder_stacks(encoder: str = "", decoder: str = "", cross: str = "", output: str | None = None
                           ) -> tuple[Stack, Stack, Stack]:
    """The three stacks of an encoder-decoder, as its ModelOutput returns them: encoder self-attention over the
    source (segment 0), causal decoder self-attention over the target (segment 1), and cross-attention from
    the target to the source."""
    return (Stack("encoder", encoder, queries=0, keys=0), Stack("decoder", decoder, causal=True, queries=1, keys=1),
            Stack("cross", cross, cross=True, queries=1, keys=0))


_BERT = Arch(
    stacks=(Stack("self", "encoder.layer.*.attention.self", output="encoder.layer.*.attention.output.dense"),),
    q="query", k="key", v="value", token_types=True, head="cls", norm="post",
)
_ROBERTA = replace(_BERT, position_offset=2, head="lm_head")
_LLAMA = Arch(
    stacks=(Stack("self", "layers.*.self_attn", causal=True),), q="q_proj", k="k_proj", v="v_proj", out="o_proj",
    positions="rotary", causal=True, grouped_query=True, head="lm_head", final_norm="norm", norm="pre",
)
# decoder-only models whose attention modules are not mapped here: they load as causal LMs and show their
# attention weights; the query·key view says it does not know them
_CAUSAL_UNMAPPED = Arch(positions="unknown", causal=True, head="lm_head")

_T5 = Arch(
    stacks=encoder_decoder_stacks("encoder.block.*.layer.0.SelfAttention", "decoder.block.*.layer.0.SelfAttention",
                                  "decoder.block.*.layer.1.EncDecAttention"),
    q="q", k="k", v="v", out="o", positions="relative_bias", encoder_decoder=True, norm="pre",
)
_BART = Arch(
    stacks=encoder_decoder_stacks("encoder.layers.*.self_attn", "decoder.layers.*.self_attn",
                                  "decoder.layers.*.encoder_attn"),
    q="q_proj", k="k_proj", v="v_proj", out="out_proj", position_offset=2, encoder_decoder=True, norm="post",
)

ARCHITECTURES: dict[str, Arch] = {
    "bert": _BERT,
    "roberta": _ROBERTA,
    "xlm-roberta": _ROBERTA,
    "camembert": _ROBERTA,
    "distilbert": Arch(stacks=(Stack("self", "transformer.layer.*.attention"),), q="q_lin", k="k_lin", v="v_lin",
                       out="out_lin", norm="post"),
    "gpt2": Arch(stacks=(Stack("self", "h.*.attn", causal=True),), qkv="c_attn", out="c_proj", causal=True,
                 head="lm_head", final_norm="ln_f", norm="pre"),
    "llama": _LLAMA,
    "mistral": _LLAMA,
    "qwen2": _LLAMA,
    "gemma": _LLAMA,
    "phi3": replace(_LLAMA, q=None, k=None, v=None, qkv="qkv_proj"),
    "t5": _T5,
    "mt5": _T5,
    "bart": _BART,
    "mbart": replace(_BART, norm="pre"),
    "gpt_neo": replace(_CAUSAL_UNMAPPED, final_norm="ln_f", norm="pre"),
    "gptj": replace(_CAUSAL_UNMAPPED, final_norm="ln_f", norm="pre"),
    "opt": replace(_CAUSAL_UNMAPPED, position_offset=2, final_norm="decoder.final_layer_norm", norm="pre"),
}
UNKNOWN = Arch(positions="unknown")


# an encoder-decoder whose modules are not mapped: its three stacks are shown, nothing is recomputed
UNKNOWN_ENCODER_DECODER = Arch(stacks=encoder_decoder_stacks(), positions="unknown", encoder_decoder=True)


def arch_of(config: object) -> Arch:
    """The facts for ``config.model_type`` (an empty :data:`UNKNOWN` entry for types not listed)."""
    arch = ARCHITECTURES.get(getattr(config, "model_type", ""))
    if arch is None:
        return UNKNOWN_ENCODER_DECODER if getattr(config, "is_encoder_decoder", False) else UNKNOWN
    return arch


def causal_model_types() -> tuple[str, ...]:
    """Decoder-only model types: a config of one of these with no ``architectures`` loads as a causal LM."""
    return tuple(name for name, arch in ARCHITECTURES.items() if arch.causal)


# ---------------------------------------------------------------- module accessors


def body(model: torch.nn.Module) -> torch.nn.Module:
    """The transformer body under a task head (``model.base_model``; the model itself when it has no head)."""
    return getattr(model, "base_model", model)


def attention_module(model: torch.nn.Module, arch: Arch, stack: Stack, layer: int) -> torch.nn.Module:
    """The attention module of ``layer`` in ``stack``."""
    return body(model).get_submodule(stack.module_path(layer))


def n_stack_layers(model: torch.nn.Module, stack: Stack) -> int:
    """How many layers ``stack`` has (counted from the modules, so encoder and decoder may differ)."""
    n = 0
    while True:
        try:
            body(model).get_submodule(stack.module_path(n))
        except AttributeError:
            return n
        n += 1


def output_projection(model: torch.nn.Module, arch: Arch, stack: Stack, layer: int) -> torch.nn.Module:
    """The output projection W_O of ``layer``'s attention in ``stack``."""
    if arch.out is not None:
        return getattr(attention_module(model, arch, stack, layer), arch.out)
    return body(model).get_submodule(stack.module_path(layer, output=True))


def final_norm(model: torch.nn.Module, arch: Arch) -> torch.nn.Module | None:
    """The norm between the last layer and the LM head (GPT-2 ``ln_f``, Llama ``norm``), or None.

    The logit lens applies it to an intermediate hidden state before :func:`lm_head` (nostalgebraist, 2020).
    """
    if arch.final_norm is None:
        return None
    try:
        return body(model).get_submodule(arch.final_norm)
    except AttributeError:
        return None


def lm_head(model: torch.nn.Module, arch: Arch) -> Callable[[torch.Tensor], torch.Tensor] | None:
    """The LM head as a function ``[..., hidden] -> [..., vocab]`` of the body's output, or None.

    DistilBERT's head is four modules in a row; Gemma-2-style soft-capping of the logits is applied.
    """
    if hasattr(model, "distilbert") and hasattr(model, "vocab_projector"):
        def distilbert_head(h: torch.Tensor) -> torch.Tensor:
            return model.vocab_projector(model.vocab_layer_norm(model.activation(model.vocab_transform(h))))
        return distilbert_head
    if arch.head is None or not hasattr(model, arch.head.split(".")[0]) or body(model) is model:
        return None
    head = model.get_submodule(arch.head)
    cap = getattr(model.config, "final_logit_softcapping", None)
    if cap:
        return lambda h: torch.tanh(head(h) / cap) * cap
    return head


def lens_readout(model: torch.nn.Module, arch: Arch) -> tuple[Callable[[torch.Tensor], torch.Tensor],
                                                               Callable[[torch.Tensor], torch.Tensor]] | None:
    """(norm, LM head) that read an intermediate hidden state as the model reads its last one, or None when
    this architecture's facts do not say (the logit lens; nostalgebraist, 2020).

    A pre-LN model's residual stream goes through ``final_norm`` first; a post-LN model's layers are already
    normalised (the norm is the identity). Hugging Face returns the last hidden state already normalised.
    """
    head = lm_head(model, arch)
    if head is None or arch.norm == "unknown":
        return None
    if arch.norm == "post":
        return (lambda h: h), head
    norm = final_norm(model, arch)
    return None if norm is None else (norm, head)


def lm_body_and_head(model: torch.nn.Module) -> tuple[torch.nn.Module, Callable[[torch.Tensor], torch.Tensor]] | None:
    """(body, head) of a language model, so a caller can run the vocabulary projection only at the positions
    it needs (for bert-base it is ~20% of a forward pass); None when the split is not known."""
    head = lm_head(model, arch_of(model.config))
    return None if head is None else (body(model), head)


# the field of a transformers ModelOutput that holds each stack's attention weights
STACK_OUTPUTS: dict[str, str] = {
    "self": "attentions", "encoder": "encoder_attentions", "decoder": "decoder_attentions", "cross": "cross_attentions",
}


def stack_output(arch: Arch, stack: str | None = None) -> str:
    """Name of the model-output field with the attention weights of ``stack`` (None: the first stack)."""
    if stack is None:
        stack = arch.stacks[0].name if arch.stacks else "self"
    return STACK_OUTPUTS[stack]


# ---------------------------------------------------------------- residual-stream layout (inside the model)


@dataclass(frozen=True)
class Sublayer:
    """One block that adds to the residual stream of the stack the LM head reads.

    Args:
        kind: "attn" (self-attention), "cross" (an encoder-decoder's cross-attention) or "ffn" (feed-forward).
        stack: for "attn"/"cross", the :class:`Stack` whose output projection W_O writes the block's output.
        proj: for "ffn", the path (under ``model.base_model``, ``*`` = layer) of the down projection whose
            input is the neuron activations and whose output is the block's output.
        post_norm: the norm applied after the block's output is added (post-LN models: BERT, BART), else None.
    """

    kind: Literal["attn", "cross", "ffn"]
    stack: str = "self"
    proj: str = ""
    post_norm: str | None = None


@dataclass(frozen=True)
class Layout:
    """How the residual stream read by the LM head is built: embeddings, then per layer ``sublayers`` in order,
    then ``final_norm`` (pre-LN models) and the head.

    Args:
        head_vocab: path (under the model) of the linear map to the vocabulary (``get_output_embeddings()``).
        head_transform: (dense, activation, norm) paths under the model between the residual stream and
            ``head_vocab`` (BERT's MLM transform); the activation may name a ``transformers`` ACT2FN function.
        head_scale: the decoder output is multiplied by d_model**-0.5 before the head when the config's
            ``scale_decoder_outputs`` says so (T5).
        head_bias: a model attribute added to the logits after the head (BART ``final_logits_bias``).
        final_norm: path under ``model.base_model`` of the norm before the head; None for post-LN models.
        hidden_states: the model-output field whose first entry is the embedding output of this stack.
        layers: path under ``model.base_model`` of layer ``*`` of the stack the head reads (its input is the
            residual stream before that layer).
        source_layers: an encoder-decoder's encoder layers (the stack its prompt goes into), else None.
    """

    sublayers: tuple[Sublayer, ...]
    head_vocab: str
    layers: str = ""
    source_layers: str | None = None
    head_transform: tuple[str, str, str] | None = None
    head_scale: bool = False
    head_bias: str | None = None
    final_norm: str | None = None
    hidden_states: str = "hidden_states"


_LLAMA_LAYOUT = Layout((Sublayer("attn"), Sublayer("ffn", proj="layers.*.mlp.down_proj")), "lm_head", "layers.*",
                       final_norm="norm")
_BERT_LAYOUT = Layout(
    (Sublayer("attn", post_norm="encoder.layer.*.attention.output.LayerNorm"),
     Sublayer("ffn", proj="encoder.layer.*.output.dense", post_norm="encoder.layer.*.output.LayerNorm")),
    "cls.predictions.decoder", "encoder.layer.*",
    head_transform=("cls.predictions.transform.dense", "cls.predictions.transform.transform_act_fn",
                    "cls.predictions.transform.LayerNorm"))

LAYOUTS: dict[str, Layout] = {
    "gpt2": Layout((Sublayer("attn"), Sublayer("ffn", proj="h.*.mlp.c_proj")), "lm_head", "h.*",
                   final_norm="ln_f"),
    "llama": _LLAMA_LAYOUT, "mistral": _LLAMA_LAYOUT, "qwen2": _LLAMA_LAYOUT, "gemma": _LLAMA_LAYOUT,
    "phi3": _LLAMA_LAYOUT,
    "bert": _BERT_LAYOUT,
    "roberta": replace(_BERT_LAYOUT, head_vocab="lm_head.decoder",
                       head_transform=("lm_head.dense", "gelu", "lm_head.layer_norm")),
    "distilbert": Layout(
        (Sublayer("attn", post_norm="transformer.layer.*.sa_layer_norm"),
         Sublayer("ffn", proj="transformer.layer.*.ffn.lin2", post_norm="transformer.layer.*.output_layer_norm")),
        "vocab_projector", "transformer.layer.*", head_transform=("vocab_transform", "activation", "vocab_layer_norm")),
    "t5": Layout((Sublayer("attn", stack="decoder"), Sublayer("cross", stack="cross"),
                  Sublayer("ffn", proj="decoder.block.*.layer.2.DenseReluDense.wo")),
                 "lm_head", "decoder.block.*", "encoder.block.*", head_scale=True, final_norm="decoder.final_layer_norm", hidden_states="decoder_hidden_states"),
    "bart": Layout((Sublayer("attn", stack="decoder", post_norm="decoder.layers.*.self_attn_layer_norm"),
                    Sublayer("cross", stack="cross", post_norm="decoder.layers.*.encoder_attn_layer_norm"),
                    Sublayer("ffn", proj="decoder.layers.*.fc2", post_norm="decoder.layers.*.final_layer_norm")),
                   "lm_head", "decoder.layers.*", "encoder.layers.*", head_bias="final_logits_bias", hidden_states="decoder_hidden_states"),
}
LAYOUTS["xlm-roberta"] = LAYOUTS["camembert"] = LAYOUTS["roberta"]
LAYOUTS["mt5"] = LAYOUTS["t5"]


def layout_of(config: object) -> Layout | None:
    """The residual-stream layout of ``config.model_type`` (:data:`LAYOUTS`), or None when it is not mapped."""
    return LAYOUTS.get(getattr(config, "model_type", ""))
