"""Token and word text on the pages: the tokens/words switch (kept in the URL) and picker labels.

Streamlit maps a widget's choice back by its label (1.67 sends the formatted option, and for repeated labels
the last or the first option wins), so every picker over token or word positions gets unique labels from
:func:`picker_labels`; pills and segmented controls render labels as Markdown, so theirs are escaped
(:func:`ui.safe.md`, the app's one escaping helper).
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import streamlit as st

from plm_core.types import AttentionResult, Encoding
from plm_core.words import aggregate_attention, has_cjk, jieba_segmenter, word_attention, word_spans
from plm_core.i18n import _
from ui.safe import WORD_JOINER, md

UNITS = ("tokens", "words")
UNITS_KEY = "units"  # widget key = query parameter (?units=words), shared by every page
SEGMENT_KEY = "zh_words"  # ?zh_words=false: Chinese words as the tokenizer has them (no jieba)
_SUPERSCRIPT = str.maketrans("0123456789", "⁰¹²³⁴⁵⁶⁷⁸⁹")


def picker_labels(texts: Sequence[str], *, markdown: bool = False) -> list[str]:
    """One unique label per option of a picker over positions: copies of one text are numbered (the¹, the²).

    Args:
        texts: display text of each option (token or word), in order.
        markdown: the widget renders labels as Markdown (st.pills, st.segmented_control): escape them.
    """
    counts = Counter(texts)
    seen: Counter[str] = Counter()
    used: set[str] = set()
    labels = []
    for t in texts:
        label = md(t or "∅") if markdown else t or "∅"  # escaped first: md drops word joiners
        if counts[t] > 1:
            seen[t] += 1
            label += str(seen[t]).translate(_SUPERSCRIPT)
        while label in used:  # a text that already ends in a superscript digit: still unique
            label += WORD_JOINER  # invisible
        used.add(label)
        labels.append(label)
    return labels


@dataclass(frozen=True)
class Units:
    """What the views show: tokens, or words (with Chinese segmented by jieba when ``segment``)."""

    words: bool
    segment: bool = True

    def of(self, encoding: Encoding) -> Encoding | None:
        """The word-level encoding of ``encoding`` in word mode, None in token mode."""
        return cached_words(encoding, self.segment) if self.words else None

    def attention(self, result: AttentionResult) -> AttentionResult:
        """``result`` with every stack in words (word mode), else ``result`` itself."""
        if not self.words:
            return result

        def one(r: AttentionResult) -> AttentionResult:
            return word_attention(r, self.of(r.encoding), None if r.square else self.of(r.keys))

        return dataclasses.replace(one(result), stacks=tuple(one(s) for s in result.stacks))

    def matrix(self, weights: np.ndarray, result: AttentionResult) -> np.ndarray:
        """A token-level ``[..., query, key]`` matrix of ``result``'s tokens (a rollout) in words (word mode)."""
        if not self.words:
            return weights
        return aggregate_attention(weights, self.of(result.encoding), None if result.square else self.of(result.keys))

    @property
    def name(self) -> str:
        return "words" if self.words else "tokens"


@st.cache_data(max_entries=512, show_spinner=False)
def cached_words(encoding: Encoding, segment: bool) -> Encoding:
    return word_spans(encoding, jieba_segmenter if segment else None)


def unit_switch(*texts: str | None, container=None) -> Units:
    """The tokens/words switch (``?units=words``) and, for Chinese text in word mode, the jieba toggle."""
    where = container or st
    unit = where.segmented_control(
        _("Show"), UNITS, default="tokens", required=True, key=UNITS_KEY, bind="query-params",
        format_func=lambda u: _("tokens") if u == "tokens" else _("words"),
        help=_("Words: the tokenizer's words (Chinese split into words by jieba). Attention to a word is the sum over "
               "its pieces, from a word the mean (Clark et al. 2019); a word's attribution is the sum of its pieces."))
    segment = True
    if unit == "words" and any(has_cjk(t) for t in texts):
        segment = where.toggle(_("Chinese words (jieba)"), value=True, key=SEGMENT_KEY, bind="query-params",
                               help=_("Off: each Chinese character (or byte-level run) as the tokenizer groups it."))
    return Units(unit == "words", bool(segment))

