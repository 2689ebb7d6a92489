"""The neuron view: how one query vector meets each key, dimension by dimension (bertviz's neuron view).

Vig (2019), "A Multiscale Visualization of Attention in the Transformer Model" (bertviz): for one head and
one query token, the query vector q, every key vector k_j, their element-wise product q ⊙ k_j, its sum
q·k_j, the score q·k_j × scale and the softmax over keys. The sum of a row of products *is* the dot product,
so the figure shows which dimensions push a score up (positive products) or down (negative ones).

Takes a :class:`~plm_core.types.QueryKeyResult` (or anything with the same fields: ``encoding``, ``layer``,
``head``, ``queries [query, d_k]``, ``keys [key, d_k]``, ``scale``, ``causal``; optional ``scores`` — whose −inf
entries are the keys the model's mask hides —, ``bias`` and ``softcap``), so it composes with any way of capturing
Q and K (rotary, QK-norm, grouped-query attention included: the vectors given are used as they are).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from plm_core.errors import InvalidInputError
from plm_core.i18n import msg
from plm_core.types import Encoding


class QueryKeyLike(Protocol):
    model_id: str
    encoding: Encoding
    layer: int
    head: int
    queries: np.ndarray  # [query, d_k]
    keys: np.ndarray  # [key, d_k]
    scale: float
    causal: bool


@dataclass(frozen=True)
class NeuronView:
    """One query token of one head, against every key."""

    model_id: str
    encoding: Encoding  # the key tokens (the source, for cross-attention; else the same tokens as the queries)
    layer: int
    head: int
    query: int  # token position of the query (a position, never a label: words repeat)
    query_token: str
    q: np.ndarray  # float32 [d_k]
    keys: np.ndarray  # float32 [key, d_k]
    products: np.ndarray  # float32 [key, d_k]; q ⊙ k_j
    dots: np.ndarray  # float32 [key]; products summed over d_k = q·k_j (the score before the scale)
    scale: float
    scores: np.ndarray  # float32 [key]; dots × scale (soft-capped, + bias), −inf where the model's mask hides the key
    probs: np.ndarray  # float32 [key]; softmax of scores
    visible: tuple[bool, ...]  # [key]; False for keys the model's mask hides (causal, sliding window)
    bias: np.ndarray | None = None  # float32 [key]; a relative position bias added to the scores (T5), else None
    softcap: float | None = None  # scores are cap·tanh(dots·scale / cap) (Gemma-2), else None

    def __post_init__(self) -> None:
        n, d = self.keys.shape
        if n != len(self.encoding) or self.q.shape != (d,) or self.products.shape != (n, d):
            raise ValueError(f"neuron view shapes q {self.q.shape}, keys {self.keys.shape} do not match {len(self.encoding)} tokens")

    @property
    def d_k(self) -> int:
        return int(self.q.shape[0])

    def score_diff(self, row: np.ndarray) -> float:
        """Max |Σ q ⊙ k × scale (+ cap, bias) − ``row``| over the visible keys: ``row`` is float [key], the model's
        own score row for this query (the check that the products add up to the scores)."""
        vis = np.array(self.visible)
        return float(np.max(np.abs(self.scores[vis] - np.asarray(row)[vis])))

    def top_dimensions(self, key: int, n: int = 5) -> list[tuple[int, float]]:
        """The ``n`` dimensions with the largest |q_d·k_d| for ``key``: (dimension, product)."""
        row = self.products[key]
        order = np.argsort(-np.abs(row), kind="stable")[:n]
        return [(int(d), float(row[d])) for d in order]


def neuron_view(qk: QueryKeyLike, query: int) -> NeuronView:
    """Break ``qk``'s scores for one query token into per-dimension products.

    Args:
        qk: a QueryKeyResult (``plm_core.attention.query_key``) or the same fields.
        query: the query token's position.

    Returns:
        A :class:`NeuronView`; ``dots × scale`` (+ the position bias, T5) equals ``qk.scores[query]`` where
        visible. Cross-attention: the keys are the source tokens (``qk.key_encoding``).

    Raises:
        InvalidInputError: ``query`` out of range.
    """
    n = qk.queries.shape[0]
    if not 0 <= int(query) < n:
        raise InvalidInputError(msg("query token {query} is out of range: choose 0 to {last}", query=query, last=n - 1))
    query = int(query)
    q = np.asarray(qk.queries[query], np.float64)
    keys = np.asarray(qk.keys, np.float64)
    products = keys * q[None, :]
    dots = products.sum(-1)
    given = getattr(qk, "scores", None)
    if given is not None:  # the model's own mask (causal, sliding window, padding): −inf where it hides a key
        visible = np.isfinite(np.asarray(given[query]))
    else:
        visible = np.ones(keys.shape[0], bool)
        if qk.causal:
            visible[query + 1 :] = False
    bias = getattr(qk, "bias", None)
    bias = None if bias is None else np.asarray(bias[query], np.float64)
    scaled = dots * qk.scale
    cap = getattr(qk, "softcap", None)
    if cap:  # Gemma-2's soft-capping of the scores: cap·tanh(score / cap)
        scaled = np.tanh(scaled / cap) * cap
    scores = np.where(visible, scaled + (0.0 if bias is None else bias), -np.inf)
    shifted = np.exp(scores - scores[visible].max())
    probs = shifted / shifted.sum()
    f32 = lambda a: np.asarray(a, np.float32)  # noqa: E731
    keys_encoding = getattr(qk, "key_encoding", None) or qk.encoding
    return NeuronView(
        model_id=qk.model_id, encoding=keys_encoding, layer=int(qk.layer), head=int(qk.head), query=query,
        query_token=qk.encoding.tokens[query], q=f32(q), keys=f32(keys), products=f32(products), dots=f32(dots),
        scale=float(qk.scale), scores=f32(scores), probs=f32(probs), visible=tuple(bool(v) for v in visible),
        bias=None if bias is None else f32(bias), softcap=float(cap) if cap else None,
    )
