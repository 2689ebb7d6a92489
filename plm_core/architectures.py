"""Architecture facts: what is read from the model itself, and a table for what cannot be.

Most facts are read from the loaded model (:func:`arch_of` with the model): whether it is causal (its attention
modules' ``is_causal``, the config's ``is_decoder``), its position scheme (a rotary-embedding module), its LM
head (``get_output_embeddings``) and final norm (:func:`final_norm_of`: the base model's last norm, found by
running it). The query·key view and the lessons' step-by-step attention capture query and key through
transformers' attention interface (:mod:`plm_core.capture`), so they need no entry here.

The table :data:`ARCHITECTURES` (one entry per ``config.model_type``) keeps only what cannot be read from the
model: the position-id offset (``ModelHandle.max_tokens``), the encoder-decoder stacks' module paths, heads
that are several modules in a row (DistilBERT), and the lessons' embedding tables.

Paths are relative to ``model.base_model`` (``BertForMaskedLM.bert``, ``LlamaForCausalLM.model``; the model
itself for T5) and name one module per layer, ``*`` standing for the layer index.
"""

from __future__ import annotations

from collections.abc import Callable
import weakref
from dataclasses import dataclass, replace
from typing import Literal

import torch

from plm_core.errors import UnsupportedModelError
from plm_core.i18n import N_, msg

Positions = Literal["absolute", "rotary", "relative_bias", "unknown"]
StackName = Literal["self", "encoder", "decoder", "cross"]


@dataclass(frozen=True)
class Stack:
    """One stack of attention modules (one per layer): self-attention, or an encoder-decoder's three stacks.

    Args:
        name: "self" (encoder-only and decoder-only models), or "encoder", "decoder", "cross".
        path: the attention module of layer ``*``, under ``model.base_model`` (an encoder-decoder's stacks: the
            query·key view tells its attention calls apart by these modules).
        causal: queries see only themselves and earlier keys.
        cross: the keys and values are the encoder's output (queries: target tokens, keys: source tokens).
        queries, keys: which segment of the input encoding the query and key tokens are (an encoder-decoder's
            input is the source, segment 0, then the target prefix, segment 1); None = every token.
    """

    name: StackName
    path: str = ""
    causal: bool = False
    cross: bool = False
    queries: int | None = None
    keys: int | None = None

    def module_path(self, layer: int) -> str:
        return (self.path or "").replace("*", str(layer))


@dataclass(frozen=True)
class Arch:
    """What one ``model_type`` looks like inside.

    Args:
        stacks: an encoder-decoder's attention stacks, in the order a forward pass returns them (empty: one
            self-attention stack, whose modules the query·key view finds by running the model).
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
            the head. "unknown": read from the model (:func:`final_norm_of`). The logit lens reads intermediate
            layers through these facts.
        capture_refusal: why the query·key view cannot capture this type's attention (XLNet), shown with the
            refusal.
    """

    stacks: tuple[Stack, ...] = ()
    positions: Positions = "absolute"
    position_offset: int = 0
    token_types: bool = False
    causal: bool = False
    encoder_decoder: bool = False
    grouped_query: bool = False
    head: str | None = None
    final_norm: str | None = None
    norm: Literal["post", "pre", "unknown"] = "unknown"
    capture_refusal: str = ""  # why the attention capture cannot read this type (N_-marked), shown when refused

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


def encoder_decoder_stacks(encoder: str = "", decoder: str = "", cross: str = ""
                           ) -> tuple[Stack, Stack, Stack]:
    """The three stacks of an encoder-decoder, as its ModelOutput returns them: encoder self-attention over the
    source (segment 0), causal decoder self-attention over the target (segment 1), and cross-attention from
    the target to the source."""
    return (Stack("encoder", encoder, queries=0, keys=0), Stack("decoder", decoder, causal=True, queries=1, keys=1),
            Stack("cross", cross, cross=True, queries=1, keys=0))


_BERT = Arch(token_types=True, head="cls", norm="post")
_ROBERTA = replace(_BERT, position_offset=2, head="lm_head")
_LLAMA = Arch(positions="rotary", causal=True, grouped_query=True, head="lm_head", final_norm="norm", norm="pre")
# decoder-only models whose attention does not go through transformers' attention interface: they load as
# causal LMs and show their attention weights; the query·key view says why it cannot capture them
_CAUSAL_UNMAPPED = Arch(positions="unknown", causal=True, head="lm_head")

_T5 = Arch(
    stacks=encoder_decoder_stacks("encoder.block.*.layer.0.SelfAttention", "decoder.block.*.layer.0.SelfAttention",
                                  "decoder.block.*.layer.1.EncDecAttention"),
    positions="relative_bias", encoder_decoder=True, norm="pre",
)
_BART = Arch(
    stacks=encoder_decoder_stacks("encoder.layers.*.self_attn", "decoder.layers.*.self_attn",
                                  "decoder.layers.*.encoder_attn"),
    position_offset=2, encoder_decoder=True, norm="post",
)

ARCHITECTURES: dict[str, Arch] = {
    "bert": _BERT,
    "roberta": _ROBERTA,
    "xlm-roberta": _ROBERTA,
    "camembert": _ROBERTA,
    "distilbert": Arch(norm="post"),
    "gpt2": Arch(causal=True, head="lm_head", final_norm="ln_f", norm="pre"),
    "llama": _LLAMA,
    "mistral": _LLAMA,
    "qwen2": _LLAMA,
    "gemma": _LLAMA,
    "phi3": _LLAMA,
    "t5": _T5,
    "mt5": _T5,
    "bart": _BART,
    "mbart": replace(_BART, norm="pre"),
    "gpt_neo": replace(_CAUSAL_UNMAPPED, final_norm="ln_f", norm="pre"),
    "gptj": replace(_CAUSAL_UNMAPPED, final_norm="ln_f", norm="pre"),
    "opt": replace(_CAUSAL_UNMAPPED, position_offset=2, final_norm="decoder.final_layer_norm", norm="pre"),
    # XLNet (Yang et al., 2019) attends in its own code: relative positions (Transformer-XL) and, in
    # pre-training, two streams; the weights its forward returns are the content stream's
    "xlnet": Arch(positions="unknown", token_types=True, capture_refusal=N_(
        "XLNet computes relative-position attention (Transformer-XL) with a content stream and a query stream "
        "(two-stream attention, used in pre-training with a permutation of the factorisation order) in its own "
        "module; the heatmaps show the content stream, whose weights it returns")),
}
UNKNOWN = Arch(positions="unknown")


# an encoder-decoder whose modules are not mapped: its three stacks are shown, nothing is recomputed
UNKNOWN_ENCODER_DECODER = Arch(stacks=encoder_decoder_stacks(), positions="unknown", encoder_decoder=True)


def arch_of(config: object, model: torch.nn.Module | None = None) -> Arch:
    """The facts for ``config.model_type`` (an empty :data:`UNKNOWN` entry for types not listed), completed from
    ``model`` when it is given: causality (:func:`causal_of`), the position scheme and grouped-query heads of a
    type the table does not list. Cached per model."""
    arch = ARCHITECTURES.get(getattr(config, "model_type", ""))
    listed = arch is not None
    if arch is None:
        arch = UNKNOWN_ENCODER_DECODER if getattr(config, "is_encoder_decoder", False) else UNKNOWN
    elif arch.encoder_decoder and not getattr(config, "is_encoder_decoder", True):
        # an encoder-decoder type's decoder alone (BartForCausalLM, is_decoder): one causal self-attention stack
        arch = replace(arch, stacks=(), encoder_decoder=False, causal=True)
    if model is None:
        return arch
    key = (id(config), listed)
    cached = _ARCH_CACHE.get(model)
    if cached is not None and cached[0] == key:
        return cached[1]
    facts = {"causal": causal_of(model, arch)}
    if not listed:
        facts["positions"] = _positions_of(model, arch)
        kv = getattr(config, "num_key_value_heads", None)
        heads = getattr(config, "num_attention_heads", None)
        facts["grouped_query"] = bool(kv and heads and int(kv) < int(heads))
    arch = replace(arch, **facts)
    _ARCH_CACHE[model] = (key, arch)
    return arch


_ARCH_CACHE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def causal_of(model: torch.nn.Module, arch: Arch | None = None) -> bool:
    """Whether a query sees only itself and earlier keys, read from the model: its self-attention modules'
    ``is_causal`` (set from the config by transformers: ``is_decoder``, ``use_bidirectional_attention``), else
    the config's ``is_decoder``, else the table's fact. An encoder-decoder as a whole is not causal (its
    decoder stack is; see :data:`Stack.causal`).

    A Qwen3 or Llama sequence classifier is causal (its attention modules say so), whatever its head.
    """
    config = model.config
    if getattr(config, "is_encoder_decoder", False):
        return False
    flags = [m.is_causal for m in model.modules()
             if isinstance(getattr(m, "is_causal", None), bool) and not getattr(m, "is_cross_attention", False)]
    if flags:
        return all(flags)
    if getattr(config, "is_decoder", False):
        return True
    return bool(arch.causal if arch is not None else arch_of(config).causal)


def _positions_of(model: torch.nn.Module, arch: Arch) -> Positions:
    """"rotary" when the model has a rotary-embedding module, "absolute" when it has a position table."""
    names = [name.rsplit(".", 1)[-1].lower() for name, _ in model.named_modules()]
    if any("rotary" in n or n == "rope" for n in names) or any("Rotary" in type(m).__name__ for m in model.modules()):
        return "rotary"
    if any(n in ("position_embeddings", "wpe", "embed_positions") for n in names):
        return "absolute"
    return arch.positions


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


def final_norm(model: torch.nn.Module, arch: Arch) -> torch.nn.Module | None:
    """The norm between the last layer and the LM head (GPT-2 ``ln_f``, Llama ``norm``), or None.

    The table's ``final_norm`` where it names one; otherwise the base model's last norm, found by running the
    model once (:func:`final_norm_of`). The logit lens applies it to an intermediate hidden state before
    :func:`lm_head` (nostalgebraist, 2020).
    """
    if arch.final_norm is not None:
        try:
            return body(model).get_submodule(arch.final_norm)
        except AttributeError:
            return None
    if arch.norm == "post":
        return None
    return final_norm_of(model)


_NORM_CACHE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _is_norm(module: torch.nn.Module) -> bool:
    return isinstance(module, (torch.nn.LayerNorm, torch.nn.GroupNorm)) or "Norm" in type(module).__name__


def layer_list(model: torch.nn.Module) -> torch.nn.ModuleList | None:
    """The base model's repeated blocks: its longest ``ModuleList`` (``layers``, ``h``, ``encoder.layer``)."""
    lists = [m for m in body(model).modules() if isinstance(m, torch.nn.ModuleList) and len(m)]
    return max(lists, key=len) if lists else None


def final_norm_of(model: torch.nn.Module) -> torch.nn.Module | None:
    """The base model's last norm: the first norm module outside its blocks that runs after the last block
    (Llama ``norm``, GPT-NeoX ``final_layer_norm``, OPT ``decoder.final_layer_norm``), found by running the model
    once on two tokens (then cached); None when no norm follows the blocks (post-LN models such as BERT, whose
    every block already ends in a norm).

    Call it under the handle's lock.

    Raises:
        UnsupportedModelError: the body does not run on token ids alone (the norm is not guessed).
    """
    if model in _NORM_CACHE:
        return _NORM_CACHE[model]() if _NORM_CACHE[model] is not None else None
    blocks = layer_list(model)
    if blocks is None:
        return None
    inside = {id(m) for m in blocks.modules()}
    candidates = [m for m in body(model).modules() if _is_norm(m) and id(m) not in inside]
    clock = {"t": 0, "last_block": -1}
    seen: list[tuple[int, torch.nn.Module]] = []

    def block_done(module, args, out):
        clock["t"] += 1
        clock["last_block"] = clock["t"]

    def norm_called(module, args):
        clock["t"] += 1
        seen.append((clock["t"], module))

    hooks = [b.register_forward_hook(block_done) for b in blocks]
    hooks += [c.register_forward_pre_hook(norm_called) for c in candidates]
    try:
        with torch.inference_mode():
            vocab = int(getattr(model.config, "vocab_size", 3) or 3)
            body(model)(input_ids=torch.tensor([[1 % vocab, 2 % vocab]], device=next(model.parameters()).device))
    except (TypeError, ValueError, RuntimeError) as err:  # a body that needs more than token ids: not guessed
        raise UnsupportedModelError(msg(
            "{model_type}'s final norm is found by running its body on two tokens, which failed: {error}",
            model_type=getattr(model.config, "model_type", ""), error=str(err).splitlines()[0][:80])) from None
    finally:
        for h in hooks:
            h.remove()
    after = [m for t, m in seen if t > clock["last_block"]]
    norm = after[0] if after else None
    _NORM_CACHE[model] = weakref.ref(norm) if norm is not None else None
    return norm


def lm_head(model: torch.nn.Module, arch: Arch, generic: bool = True) -> Callable[[torch.Tensor], torch.Tensor] | None:
    """The LM head as a function ``[..., hidden] -> [..., vocab]`` of the body's output, or None.

    The table's ``head`` where it names one; otherwise the model's child that holds its output embeddings
    (``get_output_embeddings``: Llama's ``lm_head``, BERT's ``cls``, ALBERT's ``predictions``, GPT-NeoX's
    ``embed_out``). DistilBERT's head is four modules in a row; Gemma-2-style soft-capping of the logits is
    applied. ``generic=False``: the table's head only (a caller that cannot check the result against the model).
    """
    if hasattr(model, "distilbert") and hasattr(model, "vocab_projector"):
        def distilbert_head(h: torch.Tensor) -> torch.Tensor:
            return model.vocab_projector(model.vocab_layer_norm(model.activation(model.vocab_transform(h))))
        return distilbert_head
    base = body(model)
    if base is model:
        return None
    head = None
    if arch.head is not None and hasattr(model, arch.head.split(".")[0]):
        head = model.get_submodule(arch.head)
    elif generic:
        out = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
        if out is not None:
            for _, child in model.named_children():
                if child is not base and any(m is out for m in child.modules()):
                    head = child
                    break
    if head is None:
        return None
    cap = getattr(model.config, "final_logit_softcapping", None)
    if cap:
        return lambda h: torch.tanh(head(h) / cap) * cap
    return head


def lens_readout(model: torch.nn.Module, arch: Arch) -> tuple[Callable[[torch.Tensor], torch.Tensor],
                                                               Callable[[torch.Tensor], torch.Tensor]] | None:
    """(norm, LM head) that read an intermediate hidden state as the model reads its last one, or None when
    the model has no LM head (the logit lens; nostalgebraist, 2020).

    A pre-LN model's residual stream goes through its final norm first (:func:`final_norm`); a post-LN model's
    layers are already normalised (no norm follows its blocks: the identity). Hugging Face returns the last
    hidden state already normalised. Call it under the handle's lock (the norm may be found by running the model).
    """
    head = lm_head(model, arch)
    if head is None:
        return None
    if arch.norm == "post":
        return (lambda h: h), head
    norm = final_norm(model, arch)
    if norm is None:
        if arch.norm == "pre":  # the table says there is one, and it is not where the table says
            return None
        return (lambda h: h), head
    return norm, head


def lm_body_and_head(model: torch.nn.Module) -> tuple[torch.nn.Module, Callable[[torch.Tensor], torch.Tensor]] | None:
    """(body, head) of a language model, so a caller can run the vocabulary projection only at the positions
    it needs (for bert-base it is ~20% of a forward pass); None when the split is not known."""
    head = lm_head(model, arch_of(model.config), generic=False)  # only heads known to be the whole read-out
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


@dataclass(frozen=True)
class Projections:
    """Where each attention block's value and output projections are, for the views inside the model (the
    query·key view finds its modules by running the model; a head's value·output path needs them by name).

    Args:
        paths: stack name ("self"; an encoder-decoder's "encoder", "decoder", "cross") -> the attention module of
            layer ``*`` under ``model.base_model``.
        v: the value projection's attribute on the attention module; or ``qkv``: a fused [q | k | v] projection.
        out: the output projection W_O's attribute on the attention module; or ``output``: stack -> its path
            (BERT keeps W_O in the sibling ``BertSelfOutput``).
    """

    paths: tuple[tuple[str, str], ...]
    v: str | None = None
    qkv: str | None = None
    out: str | None = None
    output: tuple[tuple[str, str], ...] = ()

    def attention(self, model: torch.nn.Module, stack: str, layer: int) -> torch.nn.Module:
        return body(model).get_submodule(dict(self.paths)[stack].replace("*", str(layer)))

    def value(self, model: torch.nn.Module, stack: str, layer: int) -> tuple[torch.nn.Module, bool]:
        """(the value projection, fused): a fused projection holds v in its last third."""
        attn = self.attention(model, stack, layer)
        return (getattr(attn, self.qkv), True) if self.qkv else (getattr(attn, str(self.v)), False)

    def output_projection(self, model: torch.nn.Module, stack: str, layer: int) -> torch.nn.Module:
        if self.out:
            return getattr(self.attention(model, stack, layer), self.out)
        return body(model).get_submodule(dict(self.output)[stack].replace("*", str(layer)))


_LLAMA_PROJ = Projections((("self", "layers.*.self_attn"),), v="v_proj", out="o_proj")
_BERT_PROJ = Projections((("self", "encoder.layer.*.attention.self"),), v="value",
                         output=(("self", "encoder.layer.*.attention.output.dense"),))
_T5_PROJ = Projections((("encoder", "encoder.block.*.layer.0.SelfAttention"),
                        ("decoder", "decoder.block.*.layer.0.SelfAttention"),
                        ("cross", "decoder.block.*.layer.1.EncDecAttention")), v="v", out="o")
PROJECTIONS: dict[str, Projections] = {
    "gpt2": Projections((("self", "h.*.attn"),), qkv="c_attn", out="c_proj"),
    "llama": _LLAMA_PROJ, "mistral": _LLAMA_PROJ, "qwen2": _LLAMA_PROJ, "gemma": _LLAMA_PROJ,
    "phi3": replace(_LLAMA_PROJ, v=None, qkv="qkv_proj"),
    "bert": _BERT_PROJ, "roberta": _BERT_PROJ, "xlm-roberta": _BERT_PROJ, "camembert": _BERT_PROJ,
    "distilbert": Projections((("self", "transformer.layer.*.attention"),), v="v_lin", out="out_lin"),
    "t5": _T5_PROJ, "mt5": _T5_PROJ,
    "bart": Projections((("encoder", "encoder.layers.*.self_attn"), ("decoder", "decoder.layers.*.self_attn"),
                         ("cross", "decoder.layers.*.encoder_attn")), v="v_proj", out="out_proj"),
}


def layout_of(config: object) -> Layout | None:
    """The residual-stream layout of ``config.model_type`` (:data:`LAYOUTS`), or None when it is not mapped."""
    return LAYOUTS.get(getattr(config, "model_type", ""))
