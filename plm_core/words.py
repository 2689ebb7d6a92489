"""Words from tokens: which pieces make each word, and attention and attribution summed up to words.

Words come from the tokenizer itself (its word ids: the pre-tokenizer's words, with their character
offsets). Chinese has no spaces, so a tokenizer's "words" there are single characters (BERT) or a whole
run of Han characters (byte-level BPE); an optional segmenter (:func:`jieba_segmenter`, jieba's own
dictionary, offline) splits Chinese runs into real words.

Aggregation follows Clark et al. (2019), "What Does BERT Look At? An Analysis of BERT's Attention",
§4 (word-level attention): attention *to* a word is the sum of the attention to its pieces, attention
*from* a word is the mean of its pieces' rows, so every row still sums to 1. An attribution of a word is
the sum of its pieces' attributions, so completeness (sum = f(x) − f(baseline)) still holds.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Sequence

import numpy as np

from plm_core.display import is_cjk, visible
from plm_core.errors import InvalidInputError
from plm_core.types import AttentionResult, Encoding

Segmenter = Callable[[str], Sequence[tuple[int, int]]]  # text -> character spans of its words, in order


@functools.cache
def _jieba():
    import logging

    import jieba

    jieba.setLogLevel(logging.WARNING)  # it logs the dictionary load at INFO
    jieba.initialize()
    return jieba


def jieba_segmenter(text: str) -> list[tuple[int, int]]:
    """Chinese word spans by jieba (its default dictionary, shipped with the package: no download).

    Returns:
        ``[(start, end)]`` character spans covering ``text`` in order (spaces are words of their own).
    """
    return [(int(a), int(b)) for _, a, b in _jieba().tokenize(text)]


def has_cjk(text: str | None) -> bool:
    """Whether ``text`` has a Chinese character (where word segmentation changes the words)."""
    return bool(text) and any(is_cjk(c) for c in text)


def _word_index(spans: Sequence[tuple[int, int]], length: int) -> list[int]:
    """For each character of a text of ``length``: the index of the segmenter word that holds it."""
    index = [-1] * length
    for w, (a, b) in enumerate(spans):
        for c in range(max(0, a), min(b, length)):
            index[c] = w
    return index


def word_spans(encoding: Encoding, segmenter: Segmenter | None = None) -> Encoding:
    """Group the tokens of ``encoding`` into words: the word-level Encoding.

    A word is a run of tokens with the same tokenizer word id (``encoding.word_ids``). With a
    ``segmenter``, tokens that cover only Chinese characters are grouped by the segmenter's words instead
    (a token that spans two segmenter words joins them). Without word ids (a slow tokenizer), tokens whose
    character spans touch are one word. Special tokens are words of their own.

    Args:
        encoding: a token-level encoding from :func:`plm_core.tokens.encode`.
        segmenter: e.g. :func:`jieba_segmenter`; None keeps the tokenizer's words.

    Returns:
        An Encoding with one entry per word: ``tokens`` the word's text (an unknown part shown as
        ``[UNK:意思]``), ``offsets`` its character span, ``pieces`` its token positions, ``input_ids`` -1.

    Raises:
        InvalidInputError: ``encoding`` is already word level.
    """
    if encoding.pieces:
        raise InvalidInputError("this encoding is already word level")
    n = len(encoding)
    texts = (encoding.text, encoding.text_pair or "")
    seg_index: dict[int, list[int]] = {}
    if segmenter is not None:
        for s in set(encoding.segments):
            if has_cjk(texts[s]):
                seg_index[s] = _word_index(segmenter(texts[s]), len(texts[s]))

    groups: list[list[int]] = []

    def start(i: int) -> None:
        """A new word at token i, unless the last word is only a space piece of the same tokenizer word
        (byte-level BPE splits " 老" into a space piece and the character's pieces): then it joins it."""
        last = groups[-1] if groups else []
        if (last and encoding.word_ids and encoding.word_ids[i] is not None
                and all(not encoding.special[j] and encoding.offsets[j][0] == encoding.offsets[j][1]
                        and encoding.word_ids[j] == encoding.word_ids[i]
                        and encoding.segments[j] == encoding.segments[i] for j in last)):
            last.append(i)
        else:
            groups.append([i])

    prev_key: object = None
    prev_seg_words: set[int] = set()
    prev_end = -1
    for i in range(n):
        a, b = encoding.offsets[i]
        s = encoding.segments[i]
        if encoding.special[i]:
            groups.append([i])
            prev_key, prev_end = None, -1
            continue
        chars = texts[s][a:b]
        if s in seg_index and chars and all(is_cjk(c) for c in chars):
            words = {seg_index[s][c] for c in range(a, b)}
            if isinstance(prev_key, tuple) and prev_key[0] == "seg" and prev_key[1] == s and words & prev_seg_words:
                groups[-1].append(i)
                prev_seg_words |= words
            else:
                start(i)
                prev_seg_words = words
            prev_key = ("seg", s)
            prev_end = b
            continue
        if encoding.word_ids and encoding.word_ids[i] is not None:
            key: object = ("word", s, encoding.word_ids[i])
            same = key == prev_key
        else:  # no word ids: pieces whose spans touch belong together
            key = ("touch", s)
            same = prev_key == key and a == prev_end and a < b
        if same and groups:
            groups[-1].append(i)
        else:
            start(i)
        prev_key, prev_end = key, b
    return _word_encoding(encoding, groups)


def _word_encoding(encoding: Encoding, groups: list[list[int]]) -> Encoding:
    texts = (encoding.text, encoding.text_pair or "")
    words, offsets, special, segments, unknown = [], [], [], [], []
    for g in groups:
        s = encoding.segments[g[0]]
        spans = [encoding.offsets[i] for i in g if encoding.offsets[i][1] > encoding.offsets[i][0]]
        special.append(all(encoding.special[i] for i in g))
        segments.append(s)
        unknown.append(any(encoding.unknown[i] for i in g) if encoding.unknown else False)
        if special[-1] or not spans:  # a special token, or pieces with no characters (a lone space)
            words.append("".join(encoding.tokens[i] for i in g))
            offsets.append((0, 0) if not spans else (min(a for a, _ in spans), max(b for _, b in spans)))
            continue
        a, b = min(a for a, _ in spans), max(b for _, b in spans)
        offsets.append((a, b))
        words.append(_word_text(encoding, g, texts[s], a, b))
    return Encoding(
        text=encoding.text, text_pair=encoding.text_pair, tokens=tuple(words), input_ids=(-1,) * len(groups),
        special=tuple(special), segments=tuple(segments), offsets=tuple(offsets), truncated=encoding.truncated,
        notes=encoding.notes, unknown=tuple(unknown), pieces=tuple(tuple(g) for g in groups),
    )


def _word_text(encoding: Encoding, group: list[int], text: str, a: int, b: int) -> str:
    """The word's characters, with the runs the model reads as its unknown token marked as the token is."""
    marks = [None] * (b - a)  # the unknown token (its display text) covering each character
    for i in group:
        if encoding.unknown and encoding.unknown[i]:
            ta, tb = encoding.offsets[i]
            for c in range(ta, tb):
                marks[c - a] = i
    out, c = [], a
    while c < b:
        i = marks[c - a]
        if i is None:
            out.append(text[c])
            c += 1
            continue
        end = c
        while end < b and marks[end - a] is not None:
            end += 1
        ta, tb = encoding.offsets[i]
        shown, own = encoding.tokens[i], visible(text[ta:tb])
        prefix, _, suffix = shown.rpartition(own)  # "[UNK:意]" -> "[UNK:", "]"
        out.append(f"{prefix}{visible(text[c:end])}{suffix}")
        c = end
    return visible("".join(out))


def _membership(words: Encoding, n_tokens: int) -> np.ndarray:
    """float64 [word, key]: 1 where the token is a piece of the word."""
    if not words.pieces:
        raise InvalidInputError("a word-level encoding (plm_core.words.word_spans) is needed")
    m = np.zeros((len(words), n_tokens), np.float64)
    for w, pieces in enumerate(words.pieces):
        m[w, list(pieces)] = 1.0
    if not np.all(m.sum(0) == 1.0):
        raise InvalidInputError("the words do not cover each token exactly once")
    return m


def aggregate_attention(weights: np.ndarray, words: Encoding, key_words: Encoding | None = None) -> np.ndarray:
    """Attention between words (Clark et al. 2019, §4): to a word = sum over its pieces, from a word = mean.

    Args:
        weights: ``[..., query, key]`` over tokens (any leading axes: layer, head); rows that sum to 1
            (attention, rollout) still sum to 1 afterwards.
        words: the word-level encoding of the query tokens (and of the keys, unless ``key_words`` is given).
        key_words: cross-attention: the word-level encoding of the key tokens (another sequence).

    Returns:
        float32 ``[..., word, word]`` (query words × key words).

    Raises:
        InvalidInputError: ``words`` is not word level or does not match the token count.
    """
    nq, nk = weights.shape[-2], weights.shape[-1]
    if key_words is None and nq != nk:
        raise InvalidInputError(f"attention {weights.shape} is not square over {nk} tokens")
    mq = _membership(words, nq)
    mk = mq if key_words is None else _membership(key_words, nk)
    to_words = np.asarray(weights, np.float64) @ mk.T  # [..., query, word]: sum over each word's key pieces
    mean = mq / mq.sum(1, keepdims=True)
    return (mean @ to_words).astype(np.float32)  # [..., word, word]: mean over each word's query pieces


def aggregate_scores(scores: np.ndarray, words: Encoding) -> np.ndarray:
    """Per-word attribution: the sum of the word's pieces (completeness is kept).

    Args:
        scores: ``[..., key]`` over tokens.

    Returns:
        float32 ``[..., word]``.
    """
    m = _membership(words, scores.shape[-1])
    return (np.asarray(scores, np.float64) @ m.T).astype(np.float32)


def word_positions(words: Encoding, chosen: Sequence[int]) -> tuple[int, ...]:
    """Token positions of the chosen words (masking a word masks all its pieces), sorted."""
    return tuple(sorted({p for w in chosen for p in words.pieces[int(w)]}))


def word_attention(result: AttentionResult, words: Encoding, key_words: Encoding | None = None) -> AttentionResult:
    """``result`` (one stack) with words for tokens (:func:`aggregate_attention` on every layer and head).

    ``key_words``: for cross-attention (``result.square`` False), the words of the key sequence.
    """
    return AttentionResult(result.model_id, words, aggregate_attention(result.weights, words, key_words),
                           key_encoding=key_words, stack=result.stack)


def word_attribution(result, words: Encoding):
    """An AttributionResult with words for tokens: scores summed per word, everything else kept."""
    return dataclasses.replace(result, encoding=words, scores=aggregate_scores(result.scores, words))
