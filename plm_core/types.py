"""Frozen result types of plm_core: CPU float32 NumPy arrays and tuples, picklable and safe to share.

Shape vocabulary in comments: layer, head, query, key, label, hidden, position, k.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np

# one value per adapter in plm_core.kinds (the registry: plm_core.kinds.KINDS, labels and detection there)
ModelKind = Literal["masked_lm", "causal_lm", "classifier", "encoder", "seq2seq"]



AVERAGE_OF_HEADS = None
"""The head value that means "average of heads": the one sentinel of every head picker, link and core function
(``plm_core.attention.layer_head`` / ``token_flow``, ``TokenFlow.head``, the pages' pickers). Links written
before it used ``-1`` or ``none``: ``plm_core.attention.head_choice`` reads those as this."""

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

    def segment(self, index: int | None) -> Encoding:
        """The tokens of one segment as an encoding of their own (None: all of them).

        An encoder-decoder's input is one Encoding, the source as segment 0 and the decoder's target prefix as
        segment 1; each attention stack reads one of them.
        """
        if index is None:
            return self
        keep = [i for i, s in enumerate(self.segments) if s == index]
        pick = lambda seq: tuple(seq[i] for i in keep)  # noqa: E731
        return Encoding(text=self.text if index == 0 else (self.text_pair or ""), tokens=pick(self.tokens),
                        input_ids=pick(self.input_ids), special=pick(self.special), segments=(0,) * len(keep),
                        offsets=pick(self.offsets), truncated=self.truncated, notes=self.notes)


@dataclass(frozen=True)
class AttentionResult:
    """Attention of every layer and head for one input: self-attention, or one stack of an encoder-decoder.

    An encoder-decoder's result is its encoder self-attention (``stack`` "encoder", over the source), with the
    decoder self-attention and the cross-attention (queries: target tokens, keys: source tokens, so
    ``key_encoding`` is the source) in ``stacks``.
    """

    model_id: str
    encoding: Encoding  # the query tokens (and the keys, unless key_encoding is given)
    weights: np.ndarray  # float32 [layer, head, query, key]; every row sums to 1
    key_encoding: Encoding | None = None  # cross-attention: the key tokens, another sequence
    stack: str = "self"  # "self", or "encoder", "decoder", "cross" (plm_core.architectures)
    stacks: tuple[AttentionResult, ...] = ()  # the other stacks of an encoder-decoder

    def __post_init__(self) -> None:
        n, m = len(self.encoding.tokens), len(self.keys.tokens)
        if self.weights.ndim != 4 or self.weights.shape[-2:] != (n, m):
            size = f"{n}" if self.key_encoding is None else f"{n} × {m}"
            raise ValueError(f"attention shape {self.weights.shape} does not match {size} tokens")

    @property
    def keys(self) -> Encoding:
        """The key tokens (the query tokens, except for cross-attention)."""
        return self.key_encoding if self.key_encoding is not None else self.encoding

    @property
    def square(self) -> bool:
        """Queries and keys are the same tokens (self-attention)."""
        return self.key_encoding is None

    @property
    def stack_names(self) -> tuple[str, ...]:
        return (self.stack, *(s.stack for s in self.stacks))

    def get(self, stack: str | None) -> AttentionResult:
        """The result of ``stack`` (None or this stack's name: this one).

        Raises:
            KeyError: no such stack.
        """
        if stack in (None, self.stack):
            return self
        for s in self.stacks:
            if s.stack == stack:
                return s
        raise KeyError(stack)

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
    head: int | None  # AVERAGE_OF_HEADS (None) = average over heads
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
    scores: np.ndarray  # float32 [query, key]; QK^T * scale (soft-capped, + bias), -inf where the model's mask hides a key
    probs: np.ndarray  # float32 [query, key]; softmax of scores
    model_probs: np.ndarray  # float32 [query, key]; the attention the model itself returned
    scale: float  # 1/sqrt(d_k) as the model applies it
    causal: bool
    key_encoding: Encoding | None = None  # cross-attention: the key tokens (the source)
    stack: str = "self"
    positions: str = "absolute"  # "rotary": queries and keys are shown rotated (RoPE), as multiplied
    kv_head: int | None = None  # the key/value head this query head reads (grouped-query attention)
    n_kv_heads: int | None = None
    bias: np.ndarray | None = None  # float32 [query, key]; relative position bias added to the scores (T5)
    softcap: float | None = None  # scores are cap·tanh(QKᵀ·scale / cap) before the mask (Gemma-2), else None
    window: int | None = None  # sliding window of this layer: a query sees this many keys back at most

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
    spans: tuple[tuple[str, str], ...] = ()  # T5 span filling: (sentinel, the text the model puts there)
    multi_label: bool = False  # classifier: probs are a sigmoid per label (they need not sum to 1)

    @property
    def top_label(self) -> str | None:
        return self.labels[int(np.argmax(self.probs))] if len(self.labels) else None


@dataclass(frozen=True)
class FillIn:
    """Masked LM: the model's top-k fill-ins at one mask of the edited input."""

    position: int  # index in the edited encoding
    original_position: int  # index in the original encoding (-1 if the mask was inserted)
    original_token: str | None  # the token the mask replaced (None if the mask was typed in the text)
    original_prob: float | None  # probability the model gives the original token at the mask
    original_rank: int | None  # 1 = top fill-in
    distribution: TokenDistribution  # top-k


@dataclass(frozen=True)
class PredictionComparison:
    """One prediction before and after a change, over the same labels.

    classifier: the classes. causal LM: the union of both next-token top-k lists. masked LM: the union of
    the two distributions at one mask. encoder: similarity "to the original" and "to the reference".
    """

    kind: ModelKind
    what: str  # what is compared, for titles ("class probabilities", "next token", ...)
    labels: tuple[str, ...]  # [label]
    original: np.ndarray  # float32 [label]
    perturbed: np.ndarray  # float32 [label]
    prob_delta: np.ndarray  # float32 [label]; perturbed - original
    label_changed: bool  # the top label differs
    exact: bool = True  # False when values outside a top-k list were taken as 0
    measure: str = "probability"  # what the values are (an axis title): "probability", "cosine similarity"
    token_labels: bool = False  # labels are vocabulary tokens (shown quoted: spaces matter)

    def __post_init__(self) -> None:
        n = len(self.labels)
        for name in ("original", "perturbed", "prob_delta"):
            if getattr(self, name).shape != (n,):
                raise ValueError(f"{name} has shape {getattr(self, name).shape} for {n} labels")

    @property
    def top_original(self) -> str:
        return self.labels[int(np.argmax(self.original))] if self.labels else ""

    @property
    def top_perturbed(self) -> str:
        return self.labels[int(np.argmax(self.perturbed))] if self.labels else ""


AblationMode = Literal["zero", "mean"]


@dataclass(frozen=True)
class Ablation:
    """Which heads and FFN blocks to remove: ``heads`` as (stack index, layer, head) — stack 0 is the
    self-attention the head reads (1: an encoder-decoder's cross-attention) — and ``ffn`` as layers (0-based);
    ``mode``: replace their output by zero or by its mean over the input's positions.

    Frozen, hashable and picklable: it is part of a ``ModelSpec`` (an ablated model is its own cached model).
    The items are stored sorted and without repeats, so one set of parts is one value.

    Raises:
        ValueError: an unknown mode, or an index that is not a non-negative integer.
    """

    heads: tuple[tuple[int, int, int], ...] = ()
    ffn: tuple[int, ...] = ()
    mode: AblationMode = "zero"

    def __post_init__(self) -> None:
        if self.mode not in ("zero", "mean"):
            raise ValueError(f"ablation mode must be 'zero' or 'mean', got {self.mode!r}")
        heads = tuple(sorted({tuple(int(i) for i in h) for h in self.heads}))
        ffn = tuple(sorted({int(i) for i in self.ffn}))
        if any(len(h) != 3 or min(h) < 0 for h in heads) or any(i < 0 for i in ffn):
            raise ValueError(f"ablation indices must be non-negative (stack, layer, head) / layer: {heads}, {ffn}")
        object.__setattr__(self, "heads", heads)
        object.__setattr__(self, "ffn", ffn)

    def __bool__(self) -> bool:
        return bool(self.heads or self.ffn)
