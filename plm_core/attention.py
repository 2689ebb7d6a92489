"""Attention analyses: the model's own weights, head averages, rollout, token flow and the query·key view."""

from __future__ import annotations

from collections.abc import Sequence

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


def _qk_projections(module: torch.nn.Module) -> tuple[torch.nn.Module, torch.nn.Module | None]:
    for q_name, k_name in (("query", "key"), ("q_lin", "k_lin")):
        if hasattr(module, q_name):
            return getattr(module, q_name), getattr(module, k_name)
    return module.c_attn, None  # GPT-2: one projection to [q | k | v]


def query_key(handle: ModelHandle, text: str, layer: int, head: int, text_pair: str | None = None,
              *, max_tokens: int | None = None) -> QueryKeyResult:
    """Recompute one head's attention from the model's own Q and K projections (captured by hooks).

    Shows ``softmax(QK^T / sqrt(d_k))`` step by step and returns the model's own attention beside it,
    so the two can be checked equal.

    Raises:
        UnsupportedModelError: an attention implementation this view does not know, or relative positions.
        InvalidInputError: layer or head out of range.
    """
    layer = _check_index(layer, handle.n_layers, "layer")
    head = _check_index(head, handle.n_heads, "head")
    if getattr(handle.config, "position_embedding_type", "absolute") not in ("absolute", None):
        raise UnsupportedModelError("the query·key view does not cover relative position attention")
    captured: dict[str, torch.Tensor] = {}
    with handle.lock:
        module = attention_modules(handle)[layer]
        q_proj, k_proj = _qk_projections(module)
        hooks = [q_proj.register_forward_hook(lambda m, i, o: captured.__setitem__("q", o.detach()))]
        if k_proj is not None:
            hooks.append(k_proj.register_forward_hook(lambda m, i, o: captured.__setitem__("k", o.detach())))
        try:
            encoding, batch = encode(handle, text, text_pair, max_tokens=max_tokens)
            attentions = run_with_attention(handle, batch)
        finally:
            for h in hooks:
                h.remove()
        scale = float(module.scaling)
        causal = bool(getattr(module, "is_causal", False))
    q, k = captured["q"][0].float(), (captured["k"][0] if "k" in captured else None)
    hidden = handle.config.hidden_size if hasattr(handle.config, "hidden_size") else q.shape[-1] // 3
    if k is None:  # GPT-2's fused projection
        q, k = q[:, :hidden], q[:, hidden : 2 * hidden]
    k = k.float()
    d_head = q.shape[-1] // handle.n_heads
    q_h = q[:, head * d_head : (head + 1) * d_head]
    k_h = k[:, head * d_head : (head + 1) * d_head]
    scores = (q_h @ k_h.T) * scale
    if causal:
        n = scores.shape[0]
        scores = scores.masked_fill(torch.triu(torch.ones(n, n, dtype=torch.bool, device=scores.device), 1), float("-inf"))
    probs = torch.softmax(scores, dim=-1)
    return QueryKeyResult(
        model_id=handle.model_id, encoding=encoding, layer=layer, head=head,
        queries=q_h.cpu().numpy().astype(np.float32), keys=k_h.cpu().numpy().astype(np.float32),
        scores=scores.cpu().numpy().astype(np.float32), probs=probs.cpu().numpy().astype(np.float32),
        model_probs=attentions[layer][0, head].float().cpu().numpy(), scale=scale, causal=causal,
    )


def _check_index(value: int, size: int, what: str) -> int:
    if not 0 <= int(value) < size:
        raise InvalidInputError(f"{what} {value} is out of range: choose 0 to {size - 1}")
    return int(value)


def describe(encoding: Encoding) -> str:
    """One line for a page header: how many tokens, and whether two sentences."""
    pair = " (two sentences)" if encoding.pair_start is not None else ""
    return f"{len(encoding)} tokens{pair}"
