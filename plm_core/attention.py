"""Attention analyses: the model's own weights, head averages, rollout, token flow and the query·key view."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import torch

from plm_core.architectures import (
    ARCHITECTURES,
    Stack,
    attention_module,
    n_stack_layers,
    output_projection,
    stack_output,
)
from plm_core.errors import InvalidInputError, UnsupportedModelError
from plm_core.inference import run
from plm_core.loading import ModelHandle
from plm_core.tokens import encode
from plm_core.types import AttentionResult, Encoding, QueryKeyResult, TokenFlow


def run_with_attention(handle: ModelHandle, batch, stack: str | None = None) -> tuple[torch.Tensor, ...]:
    """One forward pass that returns the attention of every layer of ``stack`` (``[1, head, query, key]`` each).

    ``stack``: "encoder", "decoder" or "cross" of an encoder-decoder model; None = the model's first stack
    (its self-attention).
    """
    out = run(handle, batch, want=("attentions",))
    attentions = getattr(out, stack_output(handle.arch, stack), None)
    if not attentions or attentions[0] is None:
        raise UnsupportedModelError(
            f"{handle.model_id} returned no attention weights (it must run with eager attention)"
        )
    return attentions


def extract_attention(
    handle: ModelHandle, text: str, text_pair: str | None = None, *, max_tokens: int | None = None
) -> AttentionResult:
    """Attention of every layer and head: self-attention, or an encoder-decoder's three stacks.

    Args:
        text_pair: optional second sentence (segment B for BERT-style models; an encoder-decoder's target
            prefix, ``handle.adapter.pair_label``).
        max_tokens: truncate to this many tokens (the encoding's notes say so).

    Returns:
        An AttentionResult with weights ``[layer, head, query, key]`` (an encoder-decoder's encoder, with the
        decoder and cross-attention in ``stacks``).
    """
    with handle.lock:
        encoding, batch = encode(handle, text, text_pair, max_tokens=max_tokens)
        out = run(handle, batch, want=("attentions",))
    return attention_result(handle, encoding, out)


def stack_encodings(handle: ModelHandle, encoding: Encoding, stack: Stack | None = None
                    ) -> tuple[Encoding, Encoding | None]:
    """The query tokens of ``stack`` and its key tokens when they differ (cross-attention), from ``encoding``."""
    if stack is None:
        return encoding, None
    queries = encoding.segment(stack.queries)
    return queries, (encoding.segment(stack.keys) if stack.keys != stack.queries else None)


def attention_result(handle: ModelHandle, encoding: Encoding, out, row: int = 0) -> AttentionResult:
    """Row ``row`` of a forward pass run with ``output_attentions``, as an AttentionResult of every stack
    (right-padded rows are cut to their own length).

    Raises:
        UnsupportedModelError: the model returned no attention weights.
    """
    results = []
    for stack in handle.arch.stacks or (None,):
        name = stack.name if stack is not None else "self"
        attentions = getattr(out, stack_output(handle.arch, name if stack is not None else None), None)
        if not attentions or attentions[0] is None:
            raise UnsupportedModelError(
                f"{handle.model_id} returned no attention weights (it must run with eager attention)")
        queries, keys = stack_encodings(handle, encoding, stack)
        n, m = len(queries), len(keys if keys is not None else queries)
        weights = torch.stack([a[row, :, :n, :m] for a in attentions]).float().cpu().numpy()
        results.append(AttentionResult(handle.model_id, queries, weights, keys, name))
    first, *rest = results
    return dataclasses.replace(first, stacks=tuple(rest))


def head_average(result: AttentionResult, layer: int | None = None) -> np.ndarray:
    """Mean over heads: ``[layer, query, key]``, or ``[query, key]`` for one ``layer``."""
    mean = result.weights.mean(axis=1)
    return mean if layer is None else mean[_check_index(layer, result.n_layers, "layer")]


def attention_rollout(weights: np.ndarray, residual: bool = True) -> np.ndarray:
    """Attention rollout (Abnar & Zuidema, 2020, "Quantifying Attention Flow in Transformers").

    Heads are averaged; with ``residual`` each layer becomes 0.5·A + 0.5·I (the skip connection),
    rows renormalised; then the layers are multiplied from the bottom up.

    Args:
        weights: ``[layer, head, query, key]``.

    Returns:
        float32 ``[layer, query, key]``: entry l is the flow from the input tokens up to layer l.
    """
    mean = weights.astype(np.float64).mean(axis=1)
    n = mean.shape[-1]
    rollout = np.empty_like(mean)
    current = np.eye(n)
    for layer, a in enumerate(mean):
        if residual:
            a = 0.5 * a + 0.5 * np.eye(n)
            a = a / a.sum(axis=-1, keepdims=True)
        current = a @ current
        rollout[layer] = current
    return rollout.astype(np.float32)


def cross_attention_rollout(cross: np.ndarray, encoder: np.ndarray, residual: bool = True) -> np.ndarray:
    """How the source tokens flow into each target position through cross-attention: the encoder's rollout
    (:func:`attention_rollout` of its last layer), then the head-averaged cross-attention of each decoder layer.

    Args:
        cross: ``[layer, head, query, key]`` (target × source); encoder: ``[layer, head, key, key]``.

    Returns:
        float32 ``[layer, query, key]``; rows sum to 1. It follows the path through the encoder and one
        cross-attention, not the decoder's own mixing (an approximation, like rollout itself).
    """
    source = attention_rollout(encoder, residual)[-1].astype(np.float64)  # [key, key]
    return (cross.astype(np.float64).mean(axis=1) @ source).astype(np.float32)


def token_flow(result: AttentionResult, positions: Sequence[int], layer: int, head: int | None = None) -> TokenFlow:
    """Attention that the chosen tokens give (mean of their rows) and receive (sum of their columns).

    Raises:
        InvalidInputError: no positions, or one out of range.
    """
    if not result.square:
        raise InvalidInputError("token flow follows self-attention (queries and keys are the same tokens): "
                                f"choose the encoder or the decoder, not the {result.stack} attention")
    n = len(result.encoding)
    positions = tuple(sorted({int(p) for p in positions}))
    if not positions:
        raise InvalidInputError("choose at least one token")
    for p in positions:
        _check_index(p, n, "token")
    layer = _check_index(layer, result.n_layers, "layer")
    matrix = head_average(result, layer) if head is None else result.weights[layer, _check_index(head, result.n_heads, "head")]
    idx = list(positions)
    return TokenFlow(
        positions=positions, layer=layer, head=head,
        given=matrix[idx].mean(axis=0).astype(np.float32),
        received=matrix[:, idx].sum(axis=1).astype(np.float32),
    )


def attention_modules(handle: ModelHandle, stack: str | None = None) -> list[torch.nn.Module]:
    """The attention module of each layer of ``stack``, in order (``plm_core.architectures`` maps them).

    Raises:
        UnsupportedModelError: an architecture whose attention modules are not mapped.
    """
    arch = handle.arch
    if not arch.recomputable:
        known = ", ".join(sorted(t for t, a in ARCHITECTURES.items() if a.recomputable))
        raise UnsupportedModelError(
            f"the query·key view knows the attention of {known}; {handle.config.model_type} is not one of them")
    s = _stack(handle, stack)
    return [attention_module(handle.model, arch, s, i) for i in range(n_stack_layers(handle.model, s))]


def _stack(handle: ModelHandle, name: str | None) -> Stack:
    try:
        return handle.arch.stack(name)
    except (KeyError, IndexError):
        names = ", ".join(s.name for s in handle.arch.stacks) or "none"
        raise InvalidInputError(f"{handle.model_id} has no {name!r} attention (its stacks: {names})") from None


class CapturedLayer(NamedTuple):
    """One forward pass with one layer's attention inputs and projections captured (internal tensors).

    q, k, v are per head, as the model multiplies them: rotary positions applied to q and k, and grouped-query
    key/value heads repeated so that head h of k and v is the one query head h reads.
    """

    encoding: Encoding
    attentions: tuple[torch.Tensor, ...]  # the model's own weights of this stack, [1, head, query, key] per layer
    inputs: torch.Tensor  # [query, hidden]; what the query projection reads
    q: torch.Tensor  # [head, query, d_k] (float32)
    k: torch.Tensor  # [head, key, d_k]
    v: torch.Tensor  # [head, key, d_k]
    bias: torch.Tensor | None  # [head, query, key]; a relative position bias added to the scores (T5), or None
    context: torch.Tensor | None  # [query, hidden]; input of the output projection (heads concatenated)
    output: torch.Tensor | None  # [query, hidden]; output of the output projection
    output_projection: torch.nn.Module
    scale: float  # what the module multiplies QK^T by
    causal: bool
    n_kv_heads: int  # key/value heads before repetition (= n_heads without grouped-query attention)
    positions: str  # "absolute", "rotary", "relative_bias" (plm_core.architectures)
    window: int | None = None  # sliding window: a query sees at most this many keys back (Mistral)
    key_encoding: Encoding | None = None  # cross-attention: the key tokens (the source)
    stack: str = "self"

    def mask(self) -> torch.Tensor | None:
        """[query, key] True where the model hides a key from a query (causal, sliding window), else None."""
        if not self.causal:
            return None
        n, m = self.q.shape[1], self.k.shape[1]
        hidden = causal_mask(n, self.q.device) if n == m else torch.zeros(n, m, dtype=torch.bool)
        if self.window is not None:
            i = torch.arange(n)[:, None]
            hidden = hidden | (torch.arange(m)[None, :] <= i - self.window)
        return hidden


def attention_projections(handle: ModelHandle, module: torch.nn.Module, layer: int | None = None,
                          stack: str | None = None) -> tuple[list[torch.nn.Module], torch.nn.Module]:
    """Q, K, V projections (or a fused ``qkv`` alone) and the output projection of one attention module."""
    arch = handle.arch
    projs = [getattr(module, arch.qkv)] if arch.qkv else [getattr(module, n) for n in (arch.q, arch.k, arch.v)]
    if arch.out is not None:
        return projs, getattr(module, arch.out)
    if layer is None:
        layer = attention_modules(handle, stack).index(module)
    return projs, output_projection(handle.model, arch, _stack(handle, stack), layer)


def _heads(x: torch.Tensor, n_heads: int, d: int) -> torch.Tensor:
    """[query, n_heads * d] -> [head, query, d]."""
    return x.reshape(x.shape[0], n_heads, d).transpose(0, 1)


def capture_layer(handle: ModelHandle, text: str, layer: int, text_pair: str | None = None, *,
                  max_tokens: int | None = None, stack: str | None = None) -> CapturedLayer:
    """Run the model once, capturing ``layer``'s Q, K, V and its output projection's input and output.

    Which modules to hook, and how positions enter the scores, come from ``plm_core.architectures``. Hooks
    are registered under the handle's lock and removed in ``finally``.

    Raises:
        UnsupportedModelError: an attention implementation this does not know, or relative positions.
        InvalidInputError: layer out of range.
    """
    modules = attention_modules(handle, stack)
    layer = _check_index(layer, len(modules), "layer")
    if getattr(handle.config, "position_embedding_type", "absolute") not in ("absolute", None):
        raise UnsupportedModelError("recomputing attention does not cover relative position attention")
    arch = handle.arch
    captured: dict[str, torch.Tensor] = {}

    def keep(name: str):
        return lambda module, args, out: captured.__setitem__(name, out.detach())

    def keep_rotary(module, args, kwargs):  # RoPE: the (cos, sin) tables the layer rotates Q and K with
        cos, sin = kwargs["position_embeddings"]
        captured["cos"], captured["sin"] = cos.detach(), sin.detach()

    def keep_bias(module, args, out):  # T5: the relative position bias the layer adds to its scores
        captured["bias"] = out[1].detach()

    with handle.lock:
        module = modules[layer]
        projs, out_proj = attention_projections(handle, module, layer, stack)
        hooks = [projs[0].register_forward_pre_hook(lambda m, args: captured.__setitem__("x", args[0].detach())),
                 out_proj.register_forward_pre_hook(lambda m, args: captured.__setitem__("ctx", args[0].detach())),
                 out_proj.register_forward_hook(keep("out"))]
        hooks += [proj.register_forward_hook(keep(name)) for name, proj in zip("qkv", projs)]
        if arch.positions == "rotary":
            hooks.append(module.register_forward_pre_hook(keep_rotary, with_kwargs=True))
        elif arch.positions == "relative_bias":
            hooks.append(module.register_forward_hook(keep_bias))
        try:
            encoding, batch = encode(handle, text, text_pair, max_tokens=max_tokens)
            attentions = run_with_attention(handle, batch, stack)
        finally:
            for h in hooks:
                h.remove()
        scale = float(module.scaling)
        causal = bool(getattr(module, "is_causal", _stack(handle, stack).causal))
    n_heads = int(attentions[layer].shape[1])
    if "k" in captured:
        q, k, v = (captured[c][0].float() for c in "qkv")
    else:  # a fused projection: [q | k | v], k and v with the key/value heads
        fused = captured["q"][0].float()
        width_q = n_heads * _head_dim(module, fused.shape[-1], n_heads)
        kv = (fused.shape[-1] - width_q) // 2
        q, k, v = fused.split([width_q, kv, kv], dim=-1)
    d = q.shape[-1] // n_heads
    n_kv = k.shape[-1] // d
    qh, kh, vh = _heads(q, n_heads, d), _heads(k, n_kv, d), _heads(v, n_kv, d)
    if "cos" in captured:
        qh, kh = apply_rotary(qh, kh, captured["cos"][0].float(), captured["sin"][0].float())
    if n_kv != n_heads:  # grouped-query attention: each key/value head serves n_heads // n_kv query heads
        kh, vh = kh.repeat_interleave(n_heads // n_kv, 0), vh.repeat_interleave(n_heads // n_kv, 0)
    bias = captured["bias"][0].float() if "bias" in captured else None
    window = _sliding_window(handle, layer) if causal else None
    first = lambda name: captured[name][0].float() if name in captured else None  # noqa: E731
    queries, keys = stack_encodings(handle, encoding, _stack(handle, stack))
    n, m = len(queries), len(keys if keys is not None else queries)
    attentions = tuple(a[:, :, :n, :m] for a in attentions)
    return CapturedLayer(queries, attentions, first("x"), qh, kh, vh, bias, first("ctx"), first("out"), out_proj,
                         scale, causal, n_kv, arch.positions, window, keys, _stack(handle, stack).name)


def rotate_half(x: torch.Tensor) -> torch.Tensor:
    """[x1, x2] -> [-x2, x1] on the last dimension (the rotation RoPE applies to each pair of coordinates)."""
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat((-x2, x1), dim=-1)


def apply_rotary(q: torch.Tensor, k: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Rotary position embedding (Su et al., 2021, "RoFormer"), as Llama-family models apply it.

    Args:
        q, k: ``[head, query, d_k]``.
        cos, sin: ``[query, rotary_dim]``, the model's own tables for these positions; with partial rotary
            (Phi-3, ``rotary_dim < d_k``) the remaining coordinates pass unrotated.

    Returns:
        q and k rotated: position p turns each coordinate pair by p·θ_i, so q·k depends on the distance.
    """
    r = cos.shape[-1]

    def rot(x: torch.Tensor) -> torch.Tensor:
        return torch.cat([x[..., :r] * cos + rotate_half(x[..., :r]) * sin, x[..., r:]], dim=-1)

    return rot(q), rot(k)


def _sliding_window(handle: ModelHandle, layer: int) -> int | None:
    """Keys farther back than this are hidden from a query in ``layer`` (Mistral-style sliding window), or None."""
    window = getattr(handle.config, "sliding_window", None)
    types = getattr(handle.config, "layer_types", None)
    if not window or (types and types[layer] != "sliding_attention"):
        return None
    return int(window)


def _head_dim(module: torch.nn.Module, width: int, n_heads: int) -> int:
    d = getattr(module, "head_dim", None)
    return int(d) if d else width // (3 * n_heads)


def causal_mask(n: int, device: torch.device | str = "cpu") -> torch.Tensor:
    """[query, key] True where a causal model hides the key (a later token) from the query."""
    return torch.triu(torch.ones(n, n, dtype=torch.bool, device=device), 1)


def query_key(handle: ModelHandle, text: str, layer: int, head: int, text_pair: str | None = None,
              *, max_tokens: int | None = None, stack: str | None = None) -> QueryKeyResult:
    """Recompute one head's attention from the model's own Q and K projections (captured by hooks).

    Shows ``softmax(QK^T / sqrt(d_k))`` step by step and returns the model's own attention beside it,
    so the two can be checked equal.

    Raises:
        UnsupportedModelError: an attention implementation this view does not know, or relative positions.
        InvalidInputError: layer or head out of range.
    """
    cap = capture_layer(handle, text, layer, text_pair, max_tokens=max_tokens, stack=stack)
    head = _check_index(head, cap.q.shape[0], "head")
    q_h, k_h = cap.q[head], cap.k[head]
    scores = (q_h @ k_h.T) * cap.scale
    if cap.bias is not None:
        scores = scores + cap.bias[head]
    mask = cap.mask()
    if mask is not None:
        scores = scores.masked_fill(mask, float("-inf"))
    probs = torch.softmax(scores, dim=-1)
    as_np = lambda t: t.cpu().numpy().astype(np.float32)  # noqa: E731
    n_heads = cap.q.shape[0]
    return QueryKeyResult(
        model_id=handle.model_id, encoding=cap.encoding, layer=int(layer), head=head,
        queries=as_np(q_h), keys=as_np(k_h), scores=as_np(scores), probs=as_np(probs),
        model_probs=as_np(cap.attentions[int(layer)][0, head].float()), scale=cap.scale, causal=cap.causal,
        positions=cap.positions, kv_head=head // (n_heads // cap.n_kv_heads), n_kv_heads=cap.n_kv_heads,
        bias=None if cap.bias is None else as_np(cap.bias[head]), key_encoding=cap.key_encoding, stack=cap.stack,
    )


def _check_index(value: int, size: int, what: str) -> int:
    if not 0 <= int(value) < size:
        raise InvalidInputError(f"{what} {value} is out of range: choose 0 to {size - 1}")
    return int(value)


def describe(encoding: Encoding) -> str:
    """One line for a page header: how many tokens, and whether two sentences."""
    pair = " (two sentences)" if encoding.pair_start is not None else ""
    return f"{len(encoding)} tokens{pair}"
