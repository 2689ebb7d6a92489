"""Frozen result types of plm_core: CPU float32 NumPy arrays and tuples, picklable and safe to share.

Shape vocabulary in comments: layer, head, query, key, label, hidden, position, k.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np

ModelKind = Literal["masked_lm", "causal_lm", "classifier", "encoder"]
MODEL_KINDS: tuple[ModelKind, ...] = ("masked_lm", "causal_lm", "classifier", "encoder")
KIND_LABELS: dict[str, str] = {
    "masked_lm": "masked language model (BERT-style)",
    "causal_lm": "causal language model (GPT-style)",
    "classifier": "sequence classifier",
    "encoder": "sentence encoder (no task head)",
}


@dataclass(frozen=True)
class Encoding:
    """A tokenized input: one sentence, or a pair (``text_pair``) for models that take two segments.

    A word-level encoding (:func:`plm_core.words.word_spans`) has the same shape with one entry per word:
    ``pieces`` then lists the token positions of each word and ``input_ids`` are -1 (a word has no id).
    """

    text: str
    tokens: tuple[str, ...]  # display strings (plm_core.display): "é 1/2", "␣", "[UNK:意]"
    input_ids: tuple[int, ...]
    special: tuple[bool, ...]  # parallel to tokens; True for [CLS], [SEP], <s>, ...
    segments: tuple[int, ...]  # parallel to tokens; 0 = first sentence, 1 = second sentence
    offsets: tuple[tuple[int, int], ...]  # character span in its own sentence; (0, 0) for specials
    text_pair: str | None = None
    truncated: bool = False
    notes: tuple[str, ...] = ()  # what was changed on the way in (truncation, removed characters)
    word_ids: tuple[int | None, ...] = ()  # parallel to tokens, or () if unknown: the tokenizer's word of each
    unknown: tuple[bool, ...] = ()  # parallel to tokens, or (): True where the model reads its unknown token
    pieces: tuple[tuple[int, ...], ...] = ()  # word-level encodings only: token positions of each word

    def __post_init__(self) -> None:
        n = len(self.tokens)
        for name in ("input_ids", "special", "segments", "offsets"):
            if len(getattr(self, name)) != n:
                raise ValueError(f"{name} has {len(getattr(self, name))} entries for {n} tokens")
        for name in ("word_ids", "unknown", "pieces"):
            if getattr(self, name) and len(getattr(self, name)) != n:
                raise ValueError(f"{name} has {len(getattr(self, name))} entries for {n} tokens")

    def __len__(self) -> int:
        return len(self.tokens)

    @property
    def pair_start(self) -> int | None:
        """Index of the first token of the second sentence, or None for a single sentence."""
        return self.segments.index(1) if 1 in self.segments else None

    def labels(self) -> list[str]:
        """Unique display labels "i:token" (plot axes need unique names)."""
        return [f"{i}:{t}" for i, t in enumerate(self.tokens)]


@dataclass(frozen=True)
class AttentionResult:
    """Self-attention of every layer and head for one input."""

    model_id: str
    encoding: Encoding
    weights: np.ndarray  # float32 [layer, head, query, key]; every row sums to 1

    def __post_init__(self) -> None:
        n = len(self.encoding.tokens)
        if self.weights.ndim != 4 or self.weights.shape[-2:] != (n, n):
            raise ValueError(f"attention shape {self.weights.shape} does not match {n} tokens")

    @property
    def n_layers(self) -> int:
        return int(self.weights.shape[0])

    @property
    def n_heads(self) -> int:
        return int(self.weights.shape[1])


@dataclass(frozen=True)
class TokenFlow:
    """Attention that a set of tokens gives (as queries) and receives (as keys) in one layer."""

    positions: tuple[int, ...]
    layer: int
    head: int | None  # None = average over heads
    given: np.ndarray  # float32 [key]; mean over the chosen query rows
    received: np.ndarray  # float32 [query]; sum over the chosen key columns


@dataclass(frozen=True)
class QueryKeyResult:
    """softmax(QK^T / sqrt(d_k)) for one layer and head, recomputed from the model's own projections."""

    model_id: str
    encoding: Encoding
    layer: int
    head: int
    queries: np.ndarray  # float32 [query, hidden]; hidden = d_k of one head
    keys: np.ndarray  # float32 [key, hidden]
    scores: np.ndarray  # float32 [query, key]; QK^T * scale, -inf where masked (causal)
    probs: np.ndarray  # float32 [query, key]; softmax of scores
    model_probs: np.ndarray  # float32 [query, key]; the attention the model itself returned
    scale: float  # 1/sqrt(d_k) as the model applies it
    causal: bool

    @property
    def max_abs_diff(self) -> float:
        """Largest difference between the recomputed and the model's attention."""
        return float(np.max(np.abs(self.probs - self.model_probs)))


@dataclass(frozen=True)
class TokenDistribution:
    """Top-k tokens of a vocabulary distribution at one position (a [MASK] or the next token)."""

    position: int  # token index the distribution is for (the mask, or the last token for next-token)
    token_ids: tuple[int, ...]  # [k]
    tokens: tuple[str, ...]  # [k], display strings
    probs: np.ndarray  # float32 [k]


@dataclass(frozen=True)
class Prediction:
    """What a model predicts for one input, whatever its kind.

    classifier: ``labels``/``probs`` over all classes. masked LM: one distribution per [MASK]
    (``distributions``). causal LM: one distribution for the next token. encoder: ``embedding``.
    """

    model_id: str
    kind: ModelKind
    encoding: Encoding
    labels: tuple[str, ...] = ()  # id2label order (classifier)
    probs: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))  # float32 [label]
    distributions: tuple[TokenDistribution, ...] = ()
    embedding: np.ndarray | None = None  # float32 [hidden]; mean-pooled, L2-normalised (encoder)

    @property
    def top_label(self) -> str | None:
        return self.labels[int(np.argmax(self.probs))] if len(self.labels) else None
