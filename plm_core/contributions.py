"""Direct logit attribution: the explained logit split into the embeddings, every attention head and every
feed-forward (FFN) block, through the residual stream.

A Transformer layer adds its attention output and its FFN output to one residual stream; the LM head reads the
stream at one position through the final norm (Elhage et al., 2021, "A Mathematical Framework for Transformer
Circuits"; TransformerLens ``ActivationCache.logit_attrs`` / ``decompose_resid`` / ``stack_head_results``). An
attention block's output is the sum of its heads' outputs, ``z_h W_O^h`` (plus the projection's bias), so

    logit = Σ_parts readout(part) + constant

is exact once every norm on the way to the head is a linear map: **the scale of each norm (its 1/σ or 1/rms) is
frozen at the value of the real run**, as TransformerLens does (``apply_ln`` with the cached scale). Post-LN models
(BERT, BART) add their norms after every block; each is frozen the same way and applied to everything already
in the stream. BERT's MLM head has a GELU between two linear maps: its gate ``gelu(u)/u`` is frozen at the real
run too. With the scales and the gate frozen the parts add up to the model's own logit exactly (up to float
rounding: :attr:`Contributions.difference`); what is approximate is the attribution, which ignores how a part
would change the scales.

Per head, which source tokens the contribution came from: the head's output at the read position is
``Σ_s A[h, p, s] · v_s^h W_O^h`` (its attention times its value·output path), so the head's share splits over
the source tokens exactly.

Where the blocks are comes from :mod:`plm_core.architectures` (``Arch`` for attention and its projections,
``Layout`` for the residual stream). Cost: one forward pass with hooks, then small matrix products.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from plm_core.architectures import (
    PROJECTIONS,
    Layout,
    STACK_OUTPUTS,
    Sublayer,
    body,
    layout_of,
    n_stack_layers,
)
from plm_core.errors import InvalidInputError, UnsupportedModelError, excerpt
from plm_core.i18n import msg
from plm_core.kinds.texts import kind_label
from plm_core.handle import ModelHandle
from plm_core import tolerances
from plm_core.types import Encoding

# a head's source tokens are listed when the layers × heads × sources vectors stay below this many
MAX_SOURCE_ROWS = 200_000


# ----------------------------------------------------------------------------------------------- hooks ----


@contextlib.contextmanager
def hooks(pairs: Sequence[tuple[torch.nn.Module, Callable[..., Any]]], *, pre: bool = False,
          with_kwargs: bool = False) -> Iterator[None]:
    """Register forward (``pre``: forward-pre) hooks on modules for the duration of the block; always removed,
    also when the forward pass fails (captum, TransformerLens do the same)."""
    handles = []
    try:
        for module, fn in pairs:
            if pre:
                handles.append(module.register_forward_pre_hook(fn, with_kwargs=with_kwargs))
            else:
                handles.append(module.register_forward_hook(fn, with_kwargs=with_kwargs))
        yield
    finally:
        for h in handles:
            h.remove()


def first(output: Any) -> torch.Tensor:
    """The hidden states of a module output (a tensor, or the first item of a tuple)."""
    return output[0] if isinstance(output, tuple) else output


def replace_first(output: Any, value: torch.Tensor) -> Any:
    return (value, *output[1:]) if isinstance(output, tuple) else value


# ------------------------------------------------------------------------------------------ the layout ----


def block_layout(handle: ModelHandle) -> Layout:
    """Where ``handle``'s attention and FFN blocks are (any head: ablation needs no LM head).

    Raises:
        UnsupportedModelError: a model type whose blocks are not mapped.
    """
    lay = layout_of(handle.config)
    model_type = getattr(handle.config, "model_type", "")
    if lay is None:
        from plm_core.architectures import LAYOUTS

        raise UnsupportedModelError(msg(
            "the views inside the model need to know where its attention and feed-forward blocks are; {model_id} "
            "({model_type}) is not mapped (mapped: {known})", model_id=handle.model_id, model_type=model_type,
            known=", ".join(sorted(LAYOUTS))))
    return lay


def layout(handle: ModelHandle) -> Layout:
    """The residual-stream layout of ``handle``'s model.

    Raises:
        UnsupportedModelError: a model type whose blocks are not mapped, or a model without an LM head (a
            classifier, a sentence encoder): there is no logit of a token to decompose.
    """
    lay = block_layout(handle)
    try:
        handle.model.get_submodule(lay.head_vocab)
    except AttributeError:
        raise UnsupportedModelError(msg(
            "{model_id} is a {kind}: it has no language-model head, so there is no token logit to split into heads "
            "and feed-forward blocks (load a masked, causal or encoder-decoder language model)",
            model_id=handle.model_id, kind=kind_label(handle.kind))) from None
    if getattr(handle.config, "final_logit_softcapping", None):
        raise UnsupportedModelError(msg(
            "{model_id} caps its logits with tanh, which is not linear: its logit cannot be split into parts",
            model_id=handle.model_id))
    return lay


def layer_path(path: str, layer: int) -> str:
    return path.replace("*", str(layer))


def n_layers(handle: ModelHandle, lay: Layout) -> int:
    """Layers of the stack the head reads."""
    from plm_core.architectures import Stack

    return n_stack_layers(handle.model, Stack("self", lay.layers))


def sub_label(sub: Sublayer) -> str:
    return {"attn": msg("attention"), "cross": msg("cross-attention"), "ffn": msg("FFN")}[sub.kind]


# --------------------------------------------------------------------------------- frozen norms ----


@dataclass(frozen=True)
class FrozenNorm:
    """A LayerNorm or RMSNorm with its scale frozen at one input: ``y = w ⊙ P(x) / s + b`` (P centres the
    vector for a LayerNorm), linear in x. float64 tensors."""

    weight: torch.Tensor  # [hidden]
    bias: torch.Tensor  # [hidden]
    scale: float
    centered: bool

    def linear(self, x: torch.Tensor) -> torch.Tensor:
        if self.centered:
            x = x - x.mean(-1, keepdim=True)
        return x * self.weight / self.scale


def _eps(module: torch.nn.Module) -> float | None:
    for name in ("eps", "variance_epsilon", "epsilon"):
        value = getattr(module, name, None)
        if isinstance(value, (int, float)):
            return float(value)
    return None


def freeze_norm(module: torch.nn.Module, x0: torch.Tensor, y0: torch.Tensor, where: str) -> FrozenNorm:
    """Read ``module``'s weight and bias by probing it (so LayerNorm, RMSNorm, T5's and Gemma's ``1 + w`` all
    work), freeze its scale at ``x0`` (``[hidden]``) and check that it reproduces ``y0 = module(x0)``.

    Raises:
        UnsupportedModelError: the norm is not of the form ``w ⊙ P(x)/s(x) + b`` (it would be guessed).
    """
    eps = _eps(module)
    refuse = UnsupportedModelError(msg(
        "the norm {where} ({name}) is not a LayerNorm or RMSNorm the contributions can freeze",
        where=where, name=type(module).__name__))
    if eps is None:
        raise refuse
    n = x0.shape[-1]
    dtype = next((p.dtype for p in module.parameters()), torch.float32)
    u = torch.ones(n, dtype=torch.float64)
    u[1::2] = -1.0
    if n % 2:
        u[-1] = 0.0
        u = u - u.mean()
    s_u = math.sqrt(float((u * u).mean()) + eps)
    with torch.no_grad():
        probe = torch.stack([u, -u, torch.full_like(u, 3.0)]).to(device=x0.device, dtype=dtype)
        out = module(probe).double().cpu()
    bias = (out[0] + out[1]) / 2
    weight = torch.where(u.abs() > 1e-3, (out[0] - out[1]) / 2 * s_u / torch.where(u == 0, 1.0, u), 0.0)
    centered = bool(torch.allclose(out[2], bias, atol=1e-4 * (1 + float(bias.abs().max()))))
    x = x0.double().cpu()
    p = x - x.mean() if centered else x
    scale = math.sqrt(float((p * p).mean()) + eps)
    frozen = FrozenNorm(weight, bias, scale, centered)
    y = y0.double().cpu()
    if float((frozen.linear(x) + bias - y).abs().max()) > 1e-3 * (1 + float(y.abs().max())):
        raise refuse
    return frozen


# ------------------------------------------------------------------------------------- the capture ----


@dataclass
class Captured:
    """What one forward pass leaves at the read position (float64, CPU)."""

    embeddings: torch.Tensor  # [hidden]
    z: dict[tuple[int, int], torch.Tensor] = field(default_factory=dict)  # (layer, sub) -> [in] input of W_O / down
    delta: dict[tuple[int, int], torch.Tensor] = field(default_factory=dict)  # (layer, sub) -> [hidden] block output
    values: dict[tuple[int, int], torch.Tensor] = field(default_factory=dict)  # (layer, sub) -> [source, v width]
    norms: dict[tuple[int, int], tuple[torch.Tensor, torch.Tensor]] = field(default_factory=dict)  # post norm x, y
    final: tuple[torch.Tensor, torch.Tensor] | None = None  # final norm input, output
    attentions: dict[tuple[int, int], torch.Tensor] = field(default_factory=dict)  # (layer, sub) -> [head, source]
    logits: torch.Tensor | None = None  # [vocab] the model's own


def sub_module(handle: ModelHandle, lay: Layout, sub: Sublayer, layer: int) -> torch.nn.Module:
    """The module whose input is a block's per-head values / neuron activations and whose output is the block's
    contribution to the residual stream (W_O of an attention block, the down projection of an FFN)."""
    if sub.kind == "ffn":
        return body(handle.model).get_submodule(layer_path(sub.proj, layer))
    return PROJECTIONS[handle.config.model_type].output_projection(handle.model, sub.stack, layer)


def value_module(handle: ModelHandle, sub: Sublayer, layer: int) -> tuple[torch.nn.Module, bool]:
    """(the value projection, fused): a fused q|k|v projection leaves v in its last third of the key/value width."""
    return PROJECTIONS[handle.config.model_type].value(handle.model, sub.stack, layer)


def model_inputs(handle: ModelHandle, encoding: Encoding) -> dict[str, torch.Tensor]:
    return handle.adapter.model_inputs(handle, [encoding])


def read_position(handle: ModelHandle, encoding: Encoding, mask_index: int = 0) -> tuple[int, int]:
    """(position in the stack the head reads, position in ``encoding``): a masked LM's [MASK], a causal LM's
    last token, an encoder-decoder's last target token (its decoder input).

    Raises:
        UnsupportedModelError: the kind has no language-model prediction.
    """
    if handle.arch.encoder_decoder:
        n_target = sum(1 for s in encoding.segments if s == 1)
        return n_target - 1, len(encoding) - 1
    p = handle.adapter.lm_position(handle, encoding, mask_index)
    return p, p


def stack_tokens(handle: ModelHandle, encoding: Encoding, sub: Sublayer | None = None) -> tuple[str, ...]:
    """The tokens a block's queries (``sub`` None or self-attention) or keys (cross-attention) are."""
    if not handle.arch.encoder_decoder:
        return tuple(encoding.tokens)
    segment = 0 if sub is not None and sub.kind == "cross" else 1
    return tuple(t for t, s in zip(encoding.tokens, encoding.segments) if s == segment)


def forward_at(handle: ModelHandle, inputs: dict[str, torch.Tensor], position: int,
               want: tuple[str, ...] = ()) -> tuple[Any, torch.Tensor]:
    """One forward, the LM head run at ``position`` only where the model splits into body and head (the head
    over every position is most of a forward for a large vocabulary): (model output, logits ``[batch, vocab]``)."""
    from plm_core.inference import lm_body_and_head, run

    parts = None if handle.arch.encoder_decoder else lm_body_and_head(handle.model)
    if parts is None:
        out = run(handle, inputs, want=want)
        return out, out.logits[:, position]
    base, head = parts
    out = run(handle, inputs, want=want, module=base)
    with torch.inference_mode():
        return out, head(out[0][:, position])


def capture(handle: ModelHandle, lay: Layout, encoding: Encoding, position: int, *,
            values: bool = True) -> Captured:
    """One forward pass with hooks that keep, at ``position`` of the stack the head reads, every block's output
    and the input of its output projection, the post-norms' inputs and outputs, the final norm's, the value
    vectors (``values``) and the attention weights. Hooks are removed when it returns or fails."""
    model = handle.model
    n = n_layers(handle, lay)
    store: dict[str, Any] = {}
    pairs = []

    def keep_block(key):
        def hook(module, args, output):
            store.setdefault("z", {})[key] = args[0][0, position].detach().double().cpu()
            store.setdefault("delta", {})[key] = first(output)[0, position].detach().double().cpu()
        return hook

    def keep_values(key, fused, n_q):
        def hook(module, args, output):
            out = first(output)[0].detach().double().cpu()
            if fused:
                kv = (out.shape[-1] - n_q) // 2
                out = out[:, n_q + kv:]
            store.setdefault("values", {})[key] = out
        return hook

    def keep_norm(key):
        def hook(module, args, output):
            store.setdefault("norms", {})[key] = (args[0][0, position].detach().double().cpu(),
                                                  first(output)[0, position].detach().double().cpu())
        return hook

    for layer in range(n):
        for j, sub in enumerate(lay.sublayers):
            proj = sub_module(handle, lay, sub, layer)
            pairs.append((proj, keep_block((layer, j))))
            if values and sub.kind != "ffn":
                vmod, fused = value_module(handle, sub, layer)
                n_q = (proj.in_features if hasattr(proj, "in_features") else proj.weight.shape[0])
                pairs.append((vmod, keep_values((layer, j), fused, n_q)))
            if sub.post_norm:
                pairs.append((body(model).get_submodule(layer_path(sub.post_norm, layer)), keep_norm((layer, j))))
    final = body(model).get_submodule(lay.final_norm) if lay.final_norm else None
    if final is not None:
        def keep_final(module, args, output):
            store["final"] = (args[0][0, position].detach().double().cpu(),
                              first(output)[0, position].detach().double().cpu())
        pairs.append((final, keep_final))

    with handle.lock, hooks(pairs):
        out, logits = forward_at(handle, model_inputs(handle, encoding), position, want=("attentions", "hidden_states"))
    cap = Captured(embeddings=getattr(out, lay.hidden_states)[0][0, position].detach().double().cpu(),
                   z=store.get("z", {}), delta=store.get("delta", {}), values=store.get("values", {}),
                   norms=store.get("norms", {}), final=store.get("final"),
                   logits=logits[0].detach().double().cpu())
    for j, sub in enumerate(lay.sublayers):
        if sub.kind == "ffn":
            continue
        weights = getattr(out, STACK_OUTPUTS[sub.stack], None)
        if weights is None or len(weights) != n or weights[0] is None:
            continue
        for layer in range(n):
            cap.attentions[(layer, j)] = weights[layer][0, :, position].detach().double().cpu()
    if cap.final is None and lay.final_norm is None:
        last = getattr(out, lay.hidden_states)[-1][0, position].detach().double().cpu()
        cap.final = (last, last)
    return cap


# ------------------------------------------------------------------------------------- the read-out ----


def _weight_cols(proj: torch.nn.Module) -> torch.Tensor:
    """W as ``[out, in]`` (nn.Linear's layout; GPT-2's Conv1D stores ``[in, out]``), float64 CPU."""
    w = proj.weight.detach().double().cpu()
    return w if isinstance(proj, torch.nn.Linear) else w.T


@dataclass
class Readout:
    """The linear path from a vector written into the residual stream (at a block) to the logits, with every
    norm's scale (and BERT's head gate) frozen at the real run; and the constant it adds (biases, norm offsets).

    ``ops``: (entry threshold, linear map) in order; a vector written at entry e goes through the maps whose
    threshold is ≥ e. Entry of block (layer, j) is ``layer * n_sub + j``; the embeddings are −1.
    """

    ops: list[tuple[float, Callable[[torch.Tensor], torch.Tensor]]]
    biases: list[tuple[float, torch.Tensor, str]]  # (entry, vector written there, what it is)
    vocab: torch.Tensor  # [vocab, hidden'] the head's own weight (not copied: rows are read as needed)
    vocab_bias: torch.Tensor  # [vocab] (head bias + any bias added to the logits)

    @property
    def n_vocab(self) -> int:
        return int(self.vocab.shape[0])

    def unembed(self, direction: torch.Tensor) -> tuple[torch.Tensor, float]:
        """(W_Uᵀ · direction ``[hidden']``, bias · direction) over the direction's non-zero entries only."""
        idx = direction.nonzero().flatten()
        rows = self.vocab[idx.to(self.vocab.device)].detach().double().cpu()
        return rows.T @ direction[idx], float(self.vocab_bias[idx.to(self.vocab_bias.device)].detach().double().cpu()
                                              @ direction[idx])

    def apply(self, x: torch.Tensor, entry: float) -> torch.Tensor:
        """``[n, hidden]`` written at ``entry`` → ``[n, hidden']`` at the vocabulary projection."""
        for threshold, fn in self.ops:
            if entry <= threshold:
                x = fn(x)
        return x

    def project(self, x: torch.Tensor, entry: float, direction: torch.Tensor | None = None) -> torch.Tensor:
        """Logits (``direction`` None: ``[n, vocab]``) or their projection on ``direction`` (``[vocab]`` →
        ``[n]``) of vectors written at ``entry``, without the constant."""
        h = self.apply(x, entry)
        if direction is None:
            return (h.float().to(self.vocab.device) @ self.vocab.detach().float().T).double().cpu()
        return h @ self.unembed(direction)[0]

    def constant(self, direction: torch.Tensor) -> tuple[float, list[tuple[str, float]]]:
        """The logit-space constant on ``direction``: the sum, and each bias's share."""
        shares = [(what, float(self.project(vec[None], entry, direction)[0])) for entry, vec, what in self.biases]
        shares.append((msg("output bias"), self.unembed(direction)[1]))
        return sum(v for _, v in shares), shares


def readout(handle: ModelHandle, lay: Layout, cap: Captured) -> Readout:
    """Build the frozen linear read-out from the capture (post norms, final norm, head transform, scale)."""
    model = handle.model
    n_sub = len(lay.sublayers)
    ops: list[tuple[float, Callable[[torch.Tensor], torch.Tensor]]] = []
    biases: list[tuple[float, torch.Tensor, str]] = []
    for (layer, j), (x0, y0) in sorted(cap.norms.items()):
        sub = lay.sublayers[j]
        module = body(model).get_submodule(layer_path(sub.post_norm, layer))
        frozen = freeze_norm(module, x0, y0, msg("after layer {layer}'s {block}", layer=layer + 1,
                                                  block=sub_label(sub)))
        e = layer * n_sub + j
        ops.append((e, frozen.linear))
        biases.append((e + 0.5, frozen.bias, msg("norm offsets")))
    head = 1e9  # the head's maps come after every block, in this order (a bias enters after the map before it)
    if lay.final_norm:
        x0, y0 = cap.final
        frozen = freeze_norm(body(model).get_submodule(lay.final_norm), x0, y0, msg("before the head"))
        ops.append((head, frozen.linear))
        biases.append((head + 0.5, frozen.bias, msg("norm offsets")))
        h = y0
    else:
        h = cap.final[1]
    if lay.head_transform:
        dense_p, act_p, norm_p = lay.head_transform
        dense = model.get_submodule(dense_p)
        w = _weight_cols(dense)
        ops.append((head + 1, lambda x, w=w: x @ w.T))
        b = dense.bias.detach().double().cpu() if dense.bias is not None else torch.zeros(w.shape[0], dtype=torch.float64)
        biases.append((head + 1.5, b, msg("head offsets")))
        u0 = h @ w.T + b
        try:
            act = model.get_submodule(act_p)
        except AttributeError:
            from transformers.activations import ACT2FN

            act = ACT2FN[act_p]
        with torch.no_grad():
            a0 = act(u0.to(dense.weight.dtype).to(dense.weight.device)).double().cpu()
        nonzero = u0.abs() > 1e-12
        gate = torch.where(nonzero, a0 / torch.where(nonzero, u0, 1.0), 0.5)  # gelu(u)/u frozen at the real run
        ops.append((head + 2, lambda x, g=gate: x * g))
        norm = model.get_submodule(norm_p)
        with torch.no_grad():
            y_norm = norm(a0.to(dense.weight.dtype).to(dense.weight.device)).double().cpu()
        frozen = freeze_norm(norm, a0, y_norm, msg("in the head"))
        ops.append((head + 3, frozen.linear))
        biases.append((head + 3.5, frozen.bias, msg("head offsets")))
    if lay.head_scale and getattr(handle.config, "scale_decoder_outputs", False):
        scale = float(handle.config.d_model) ** -0.5
        ops.append((head + 4, lambda x, s=scale: x * s))
    vocab_mod = model.get_submodule(lay.head_vocab)
    vocab = vocab_mod.weight if isinstance(vocab_mod, torch.nn.Linear) else vocab_mod.weight.T
    vocab_bias = (vocab_mod.bias if getattr(vocab_mod, "bias", None) is not None
                  else torch.zeros(vocab.shape[0], dtype=vocab.dtype, device=vocab.device))
    if lay.head_bias:
        vocab_bias = vocab_bias + getattr(model, lay.head_bias).reshape(-1)[: vocab.shape[0]]
    # the ops are ordered by threshold so a vector meets them in the order the model applies them
    ops.sort(key=lambda t: t[0])
    return Readout(ops, biases, vocab, vocab_bias)


# ------------------------------------------------------------------------------------- the result ----


@dataclass(frozen=True)
class Contributions:
    """The explained number split into parts (float64 arithmetic, float32 arrays).

    ``heads[k]`` is ``[layer, head]`` for attention stack k of :attr:`stacks` ("attention", and "cross-attention"
    in an encoder-decoder's decoder); ``ffn`` is ``[layer]``. ``sources[k]`` is ``[layer, head, source]``: each
    head's share split over the tokens it attended to (None when not computed, ``source_note`` says why).
    ``embeddings + Σ heads + Σ attention_bias + Σ ffn + constant == total``; ``value`` is the model's own number
    and ``difference = total − value``.
    """

    model_id: str
    encoding: Encoding
    position: int  # in encoding
    stack_position: int  # in the stack the head reads (decoder for an encoder-decoder)
    target_id: int
    target_token: str
    contrast_id: int | None
    contrast_token: str | None
    value: float
    stacks: tuple[str, ...]  # labels of the attention stacks
    stack_tokens: tuple[tuple[str, ...], ...]  # [stack] the source tokens of each attention stack
    embeddings: float
    heads: tuple[np.ndarray, ...]  # [stack] float32 [layer, head]
    attention_bias: tuple[np.ndarray, ...]  # [stack] float32 [layer] (W_O's bias)
    ffn: np.ndarray  # float32 [layer]
    constant: float  # biases and norm offsets on the way to the head, the output bias
    constant_parts: tuple[tuple[str, float], ...]
    sources: tuple[np.ndarray | None, ...]  # [stack] float32 [layer, head, source]
    source_note: str | None
    total: float
    notes: tuple[str, ...] = ()

    @property
    def difference(self) -> float:
        return self.total - self.value

    @property
    def adds_up(self) -> bool:
        """Whether the parts add up to the model's number within :data:`plm_core.tolerances.CONTRIBUTION_SUM`."""
        return abs(self.difference) <= tolerances.CONTRIBUTION_SUM * (1 + abs(self.value))

    @property
    def n_layers(self) -> int:
        return int(self.ffn.shape[0])


def direction(vocab: int, target: int, contrast: int | None) -> torch.Tensor:
    d = torch.zeros(vocab, dtype=torch.float64)
    d[target] += 1.0
    if contrast is not None:
        d[contrast] -= 1.0
    return d


def resolve_token(handle: ModelHandle, word: str | None, logits: torch.Tensor, *, leading_space: bool,
                  notes: list[str]) -> int:
    """The vocabulary id of ``word`` (its first piece), or the top prediction when ``word`` is None/empty."""
    if word is None or not word.strip():
        return int(logits.argmax())
    from plm_core.attribution.objective import word_ids

    with handle.lock:
        ids = word_ids(handle, word, leading_space=leading_space)
        exact = handle.tokenizer.convert_tokens_to_ids(word.strip())
    if len(ids) > 1 and isinstance(exact, int) and exact != handle.tokenizer.unk_token_id:
        return int(exact)
    if len(ids) > 1:
        notes.append(msg("{value} is {n_ids} tokens for this model; its first piece is explained",
                         value=excerpt(word.strip()), n_ids=len(ids)))
    return int(ids[0])


def leading_space(handle: ModelHandle, encoding: Encoding) -> bool:
    """Whether a word predicted at the read position is written after a space (a continuation, or a word at a
    [MASK] that follows a space)."""
    return not encoding.text.endswith((" ", "\n", "\t"))


def encode_input(handle: ModelHandle, text: str, text_pair: str | None = None, *,
                 max_tokens: int | None = None) -> Encoding:
    if not text or not text.strip():
        raise InvalidInputError(msg("the text is empty: type a sentence"))
    encoding, _ = handle.adapter.encode(handle, text, text_pair, max_tokens=max_tokens)
    return encoding


def contributions(handle: ModelHandle, text: str, word: str | None = None, contrast: str | None = None, *,
                  text_pair: str | None = None, mask_index: int = 0, max_tokens: int | None = None,
                  sources: bool = True) -> Contributions:
    """Direct logit attribution of logit(``word``) (− logit(``contrast``)) at the read position.

    Args:
        text: the input (a masked LM: with a [MASK]; an encoder-decoder: the source).
        word: the token explained (its first piece); None = the model's top prediction.
        contrast: a second token; the explained number is then logit(word) − logit(contrast).
        text_pair: an encoder-decoder's target so far (its decoder input after the start token).
        mask_index: which [MASK] a masked LM is read at.
        sources: also split each head's share over its source tokens.

    Returns:
        :class:`Contributions`; embeddings, ``[layer, head]`` per attention stack, ``[layer]`` FFN blocks,
        the constant; ``total`` adds them, ``value`` is the model's own logit (difference).

    Raises:
        UnsupportedModelError: no LM head, an unmapped architecture, or a norm that cannot be frozen.
        InvalidInputError: empty text, a masked LM text without a [MASK].

    Method: Elhage et al. (2021); TransformerLens ``logit_attrs`` (norm scale frozen at the real run).
    """
    lay = layout(handle)
    encoding = encode_input(handle, text, text_pair, max_tokens=max_tokens)
    p_stack, p_enc = read_position(handle, encoding, mask_index)
    cap = capture(handle, lay, encoding, p_stack, values=sources)
    return decompose(handle, lay, encoding, p_stack, p_enc, cap, word, contrast, sources=sources)


def decompose(handle: ModelHandle, lay: Layout, encoding: Encoding, p_stack: int, p_enc: int, cap: Captured,
              word: str | None, contrast: str | None, *, sources: bool = True) -> Contributions:
    """The decomposition of a :func:`capture` (see :func:`contributions`)."""
    from plm_core.display import token_text

    notes: list[str] = []
    space = leading_space(handle, encoding)
    target_id = resolve_token(handle, word, cap.logits, leading_space=space, notes=notes)
    contrast_id = (resolve_token(handle, contrast, cap.logits, leading_space=space, notes=notes)
                   if contrast and contrast.strip() else None)
    ro = readout(handle, lay, cap)
    d = direction(ro.n_vocab, target_id, contrast_id)
    n = n_layers(handle, lay)
    n_sub = len(lay.sublayers)
    att_subs = [j for j, s in enumerate(lay.sublayers) if s.kind != "ffn"]
    ffn_j = next(j for j, s in enumerate(lay.sublayers) if s.kind == "ffn")
    heads: list[np.ndarray] = []
    att_bias: list[np.ndarray] = []
    srcs: list[np.ndarray | None] = []
    source_note = None
    # the residual stream at the read position, rebuilt from the blocks, checked at every post norm and at the end
    residual = cap.embeddings.clone()

    def check(where: str, actual: torch.Tensor, expected: torch.Tensor) -> None:
        if float((actual - expected).abs().max()) > 1e-3 * (1 + float(expected.abs().max())):
            raise UnsupportedModelError(msg(
                "the blocks of {model_id} do not add up to its residual stream {where} (the architecture is not "
                "what the contributions assume), so no split is shown", model_id=handle.model_id, where=where))

    per_head: dict[tuple[int, int], torch.Tensor] = {}
    for layer in range(n):
        for j, sub in enumerate(lay.sublayers):
            key = (layer, j)
            delta = cap.delta[key]
            if sub.kind != "ffn":
                proj = sub_module(handle, lay, sub, layer)
                w = _weight_cols(proj)  # [hidden, in]
                z = cap.z[key]
                n_heads = cap.attentions[key].shape[0] if key in cap.attentions else _n_heads(handle)
                dh = z.shape[0] // n_heads
                vecs = torch.stack([w[:, h * dh:(h + 1) * dh] @ z[h * dh:(h + 1) * dh] for h in range(n_heads)])
                b = proj.bias.detach().double().cpu() if getattr(proj, "bias", None) is not None else None
                check(msg("at layer {layer}'s {block}", layer=layer + 1, block=sub_label(sub)),
                      vecs.sum(0) + (b if b is not None else 0), delta)
                per_head[key] = vecs
            residual = residual + delta
            if sub.post_norm:
                x0, y0 = cap.norms[key]
                check(msg("after layer {layer}'s {block}", layer=layer + 1, block=sub_label(sub)),
                      residual, x0)
                residual = y0.clone()
    check(msg("before the head"), residual, cap.final[0])
    for j in att_subs:
        grid = np.zeros((n, max(v.shape[0] for (lay_, jj), v in per_head.items() if jj == j)), np.float64)
        bias_row = np.zeros(n, np.float64)
        for layer in range(n):
            key = (layer, j)
            e = layer * n_sub + j
            grid[layer, : per_head[key].shape[0]] = ro.project(per_head[key], e, d).numpy()
            proj = sub_module(handle, lay, lay.sublayers[j], layer)
            if getattr(proj, "bias", None) is not None:
                bias_row[layer] = float(ro.project(proj.bias.detach().double().cpu()[None], e, d)[0])
        heads.append(grid)
        att_bias.append(bias_row)
    ffn = np.array([float(ro.project(cap.delta[(layer, ffn_j)][None], layer * n_sub + ffn_j, d)[0])
                    for layer in range(n)])
    emb = float(ro.project(cap.embeddings[None], -1, d)[0])
    constant, shares = ro.constant(d)
    merged: dict[str, float] = {}
    for what, v in shares:
        merged[what] = merged.get(what, 0.0) + v
    total = emb + sum(float(g.sum()) for g in heads) + sum(float(b.sum()) for b in att_bias) + float(ffn.sum()) + constant
    value = float(cap.logits[target_id] - (cap.logits[contrast_id] if contrast_id is not None else 0.0))
    if sources:
        srcs, source_note = _sources(handle, lay, cap, ro, d, per_head, att_subs, n, n_sub)
    else:
        srcs, source_note = [None] * len(att_subs), None
    return Contributions(
        model_id=handle.model_id, encoding=encoding, position=p_enc, stack_position=p_stack,
        target_id=target_id, target_token=token_text(handle, target_id).strip() or token_text(handle, target_id),
        contrast_id=contrast_id,
        contrast_token=None if contrast_id is None else (token_text(handle, contrast_id).strip()
                                                         or token_text(handle, contrast_id)),
        value=value, stacks=tuple(sub_label(lay.sublayers[j]) for j in att_subs),
        stack_tokens=tuple(stack_tokens(handle, encoding, lay.sublayers[j]) for j in att_subs),
        embeddings=emb, heads=tuple(g.astype(np.float32) for g in heads),
        attention_bias=tuple(b.astype(np.float32) for b in att_bias), ffn=ffn.astype(np.float32),
        constant=constant, constant_parts=tuple(merged.items()),
        sources=tuple(s if s is None else s.astype(np.float32) for s in srcs), source_note=source_note,
        total=total, notes=tuple(notes))


def _n_heads(handle: ModelHandle) -> int:
    cfg = handle.config
    for name in ("num_attention_heads", "n_head", "num_heads", "decoder_attention_heads", "n_heads"):
        value = getattr(cfg, name, None)
        if isinstance(value, int):
            return value
    raise UnsupportedModelError(msg("the number of attention heads of {model_id} is not in its config",
                                    model_id=handle.model_id))


def _sources(handle: ModelHandle, lay: Layout, cap: Captured, ro: Readout, d: torch.Tensor,
             per_head: dict[tuple[int, int], torch.Tensor], att_subs: list[int], n: int,
             n_sub: int) -> tuple[list[np.ndarray | None], str | None]:
    """Each head's share split over its source tokens: A[h, p, s] · readout(v_s^h W_O^h)."""
    out: list[np.ndarray | None] = []
    note = None
    for j in att_subs:
        keys = [(layer, j) for layer in range(n)]
        if any(k not in cap.values or k not in cap.attentions for k in keys):
            out.append(None)
            note = msg("the attention weights or value vectors of this model were not returned: no split by "
                       "source token")
            continue
        n_heads, n_src = cap.attentions[keys[0]].shape
        if n * n_heads * n_src > MAX_SOURCE_ROWS:
            out.append(None)
            note = msg("too many tokens to split every head by source token")
            continue
        grid = np.zeros((n, n_heads, n_src), np.float64)
        for layer in range(n):
            key = (layer, j)
            a = cap.attentions[key]  # [head, source]
            v = cap.values[key]  # [source, n_kv * dh]
            proj = sub_module(handle, lay, lay.sublayers[j], layer)
            w = _weight_cols(proj)
            dh = w.shape[1] // n_heads
            n_kv = v.shape[1] // dh
            group = max(1, n_heads // max(1, n_kv))
            rows = []
            for h in range(n_heads):
                vh = v[:, (h // group) * dh:(h // group + 1) * dh]  # [source, dh]
                mixed = a[h][:, None] * vh  # [source, dh]
                if float((mixed.sum(0) - cap.z[key][h * dh:(h + 1) * dh]).abs().max()) > 1e-3 * (
                        1 + float(vh.abs().max())):
                    return [None] * len(att_subs), msg(
                        "this model's attention output is not its weights times its values (layer {layer}): no "
                        "split by source token", layer=layer + 1)
                rows.append(mixed @ w[:, h * dh:(h + 1) * dh].T)  # [source, hidden]
            grid[layer] = ro.project(torch.cat(rows), layer * n_sub + j, d).reshape(n_heads, n_src).numpy()
        out.append(grid)
    return out, note
