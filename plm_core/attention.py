"""Attention analyses: the model's own weights, head averages, rollout, token flow and the query·key view."""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import torch

from plm_core.errors import InvalidInputError, UnsupportedModelError
from plm_core.loading import ModelHandle
from plm_core.tokens import encode
from plm_core.types import AttentionResult, Encoding, QueryKeyResult, TokenFlow


def run_with_attention(handle: ModelHandle, batch) -> tuple[torch.Tensor, ...]:
    """One forward pass that returns the attention of every layer (``[1, head, query, key]`` each)."""
    with handle.lock, torch.inference_mode():
        out = handle.model(**batch.to(handle.device), output_attentions=True)
    attentions = getattr(out, "attentions", None)
    if not attentions or attentions[0] is None:
        raise UnsupportedModelError(
            f"{handle.model_id} returned no attention weights (it must run with eager attention)"
        )
    return attentions


def extract_attention(
    handle: ModelHandle, text: str, text_pair: str | None = None, *, max_tokens: int | None = None
) -> AttentionResult:
    """Self-attention of every layer and head.

    Args:
        text_pair: optional second sentence (segment B for BERT-style models).
        max_tokens: truncate to this many tokens (the encoding's notes say so).

    Returns:
        An AttentionResult with weights ``[layer, head, query, key]``.
    """
    with handle.lock:
        encoding, batch = encode(handle, text, text_pair, max_tokens=max_tokens)
        attentions = run_with_attention(handle, batch)
    weights = torch.stack(attentions).squeeze(1).float().cpu().numpy()
    return AttentionResult(handle.model_id, encoding, weights)


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


def token_flow(result: AttentionResult, positions: Sequence[int], layer: int, head: int | None = None) -> TokenFlow:
    """Attention that the chosen tokens give (mean of their rows) and receive (sum of their columns).

    Raises:
        InvalidInputError: no positions, or one out of range.
    """
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


def attention_modules(handle: ModelHandle) -> list[torch.nn.Module]:
    """The self-attention module of each layer, in order (BERT, RoBERTa, DistilBERT, GPT-2 families).

    Each has ``scaling`` and its query/key projections: ``query``/``key``, ``q_lin``/``k_lin`` or the
    fused GPT-2 ``c_attn``.
    """
    found = [
        m for m in handle.model.modules()
        if hasattr(m, "scaling") and (hasattr(m, "query") or hasattr(m, "q_lin") or hasattr(m, "c_attn"))
        and not getattr(m, "is_cross_attention", False)
    ]
    if len(found) != handle.n_layers:
        raise UnsupportedModelError(
            f"the query·key view supports BERT-, RoBERTa-, DistilBERT- and GPT-2-style attention; "
            f"{handle.config.model_type} is not one of them"
        )
    return found


class CapturedLayer(NamedTuple):
    """One forward pass with one layer's attention inputs and projections captured (internal tensors)."""

    encoding: Encoding
    attentions: tuple[torch.Tensor, ...]  # the model's own weights, [1, head, query, key] per layer
    inputs: torch.Tensor  # [query, hidden]; what the Q/K/V projections read
    q: torch.Tensor  # [query, hidden]; all heads side by side (float32)
    k: torch.Tensor
    v: torch.Tensor
    context: torch.Tensor | None  # [query, hidden]; input of the output projection (heads concatenated)
    output: torch.Tensor | None  # [query, hidden]; output of the output projection
    output_projection: torch.nn.Module
    scale: float  # what the module multiplies QK^T by
    causal: bool


def attention_projections(handle: ModelHandle, module: torch.nn.Module) -> tuple[list[torch.nn.Module], torch.nn.Module]:
    """Q, K, V projections (or GPT-2's fused ``c_attn`` alone) and the output projection of one attention module."""
    for names, out_name in ((("query", "key", "value"), None), (("q_lin", "k_lin", "v_lin"), "out_lin")):
        if hasattr(module, names[0]):
            projs = [getattr(module, n) for n in names]
            if out_name:
                return projs, getattr(module, out_name)
            # BERT/RoBERTa: the output projection sits in the sibling BertSelfOutput
            parent = next((m for m in handle.model.modules() if getattr(m, "self", None) is module), None)
            if parent is None or not hasattr(getattr(parent, "output", None), "dense"):
                raise UnsupportedModelError("cannot find this model's attention output projection")
            return projs, parent.output.dense
    return [module.c_attn], module.c_proj


def capture_layer(handle: ModelHandle, text: str, layer: int, text_pair: str | None = None, *,
                  max_tokens: int | None = None) -> CapturedLayer:
    """Run the model once, capturing ``layer``'s Q, K, V and its output projection's input and output.

    Hooks are registered under the handle's lock and removed in ``finally``.

    Raises:
        UnsupportedModelError: an attention implementation this does not know, or relative positions.
        InvalidInputError: layer out of range.
    """
    layer = _check_index(layer, handle.n_layers, "layer")
    if getattr(handle.config, "position_embedding_type", "absolute") not in ("absolute", None):
        raise UnsupportedModelError("recomputing attention does not cover relative position attention")
    captured: dict[str, torch.Tensor] = {}

    def keep(name: str):
        return lambda module, args, out: captured.__setitem__(name, out.detach())

    with handle.lock:
        module = attention_modules(handle)[layer]
        projs, out_proj = attention_projections(handle, module)
        hooks = [projs[0].register_forward_pre_hook(lambda m, args: captured.__setitem__("x", args[0].detach())),
                 out_proj.register_forward_pre_hook(lambda m, args: captured.__setitem__("ctx", args[0].detach())),
                 out_proj.register_forward_hook(keep("out"))]
        hooks += [proj.register_forward_hook(keep(name)) for name, proj in zip("qkv", projs)]
        try:
            encoding, batch = encode(handle, text, text_pair, max_tokens=max_tokens)
            attentions = run_with_attention(handle, batch)
        finally:
            for h in hooks:
                h.remove()
        scale = float(module.scaling)
        causal = bool(getattr(module, "is_causal", False))
    if "k" in captured:
        q, k, v = (captured[c][0].float() for c in "qkv")
    else:  # GPT-2's fused projection: [q | k | v]
        q, k, v = captured["q"][0].float().chunk(3, dim=-1)
    first = lambda name: captured[name][0].float() if name in captured else None  # noqa: E731
    return CapturedLayer(encoding, attentions, first("x"), q, k, v, first("ctx"), first("out"), out_proj, scale, causal)


def causal_mask(n: int, device: torch.device | str = "cpu") -> torch.Tensor:
    """[query, key] True where a causal model hides the key (a later token) from the query."""
    return torch.triu(torch.ones(n, n, dtype=torch.bool, device=device), 1)


def query_key(handle: ModelHandle, text: str, layer: int, head: int, text_pair: str | None = None,
              *, max_tokens: int | None = None) -> QueryKeyResult:
    """Recompute one head's attention from the model's own Q and K projections (captured by hooks).

    Shows ``softmax(QK^T / sqrt(d_k))`` step by step and returns the model's own attention beside it,
    so the two can be checked equal.

    Raises:
        UnsupportedModelError: an attention implementation this view does not know, or relative positions.
        InvalidInputError: layer or head out of range.
    """
    head = _check_index(head, handle.n_heads, "head")
    cap = capture_layer(handle, text, layer, text_pair, max_tokens=max_tokens)
    d_head = cap.q.shape[-1] // handle.n_heads
    q_h = cap.q[:, head * d_head : (head + 1) * d_head]
    k_h = cap.k[:, head * d_head : (head + 1) * d_head]
    scores = (q_h @ k_h.T) * cap.scale
    if cap.causal:
        scores = scores.masked_fill(causal_mask(scores.shape[0], scores.device), float("-inf"))
    probs = torch.softmax(scores, dim=-1)
    as_np = lambda t: t.cpu().numpy().astype(np.float32)  # noqa: E731
    return QueryKeyResult(
        model_id=handle.model_id, encoding=cap.encoding, layer=int(layer), head=head,
        queries=as_np(q_h), keys=as_np(k_h), scores=as_np(scores), probs=as_np(probs),
        model_probs=as_np(cap.attentions[int(layer)][0, head].float()), scale=cap.scale, causal=cap.causal,
    )


def _check_index(value: int, size: int, what: str) -> int:
    if not 0 <= int(value) < size:
        raise InvalidInputError(f"{what} {value} is out of range: choose 0 to {size - 1}")
    return int(value)


def describe(encoding: Encoding) -> str:
    """One line for a page header: how many tokens, and whether two sentences."""
    pair = " (two sentences)" if encoding.pair_start is not None else ""
    return f"{len(encoding)} tokens{pair}"
