"""Attribution scores grouped by segment: sentences, lines, or spans the user marks.

A segment's score is the sum of its tokens' scores (as inseq's and captum's ``TextTemplateInput`` group
features, and LIT's sequence salience shows by sentence), so completeness holds: the segments' scores add up to
the tokens' scores. Special tokens ([CLS], <s>, …) have no characters and form their own segment; a token belongs
to the segment where it starts. A pair input's second text is segmented on its own.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from plm_core.errors import InvalidInputError, clip
from plm_core.i18n import msg
from plm_core.types import Encoding

SegmentBy = Literal["sentence", "line", "spans"]
# a sentence ends at . ! ? (and the Chinese 。！？) followed by white space or the end of the text
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|(?<=[。！？])")


@dataclass(frozen=True)
class SegmentScores:
    """Scores per segment: ``labels`` [segment] (the segment's text, cut to 60 characters), ``scores`` float32
    [segment], ``token_segment`` [token] (the segment of each token)."""

    labels: tuple[str, ...]
    scores: np.ndarray
    token_segment: tuple[int, ...]
    by: SegmentBy


def _bounds(text: str, by: SegmentBy, spans: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
    """Character ranges [start, end) of the segments of ``text`` (every character in one of them)."""
    if by == "line":
        cuts = [m.end() for m in re.finditer(r"\n", text)]
    elif by == "sentence":
        cuts = [m.end() for m in _SENTENCE_END.finditer(text)]
    else:
        marked = sorted((max(0, int(a)), min(len(text), int(b))) for a, b in spans)
        for (a, b), (c, _d) in zip(marked, marked[1:]):
            if c < b:
                raise InvalidInputError(msg("the marked spans overlap"))
        cuts = sorted({p for a, b in marked for p in (a, b) if 0 < p < len(text)})
    edges = [0, *[c for c in cuts if 0 < c < len(text)], len(text)]
    return [(a, b) for a, b in zip(edges, edges[1:]) if b > a] or [(0, len(text))]


def group_scores(encoding: Encoding, scores: np.ndarray, by: SegmentBy = "sentence",
                 spans: Sequence[tuple[int, int]] = ()) -> SegmentScores:
    """Sum token ``scores`` (float [token]) over the segments of ``encoding``'s text.

    Args:
        by: "sentence", "line", or "spans": ``spans`` are character ranges [start, end) of the first text that the
            user marked; the text between them forms segments too, so every token is counted once.

    Returns:
        :class:`SegmentScores`; ``scores.sum()`` equals ``scores`` of the tokens summed (completeness kept).

    Raises:
        InvalidInputError: a word-level encoding, scores that do not match the tokens, overlapping spans.
    """
    values = np.asarray(scores, np.float64)
    if encoding.pieces:
        raise InvalidInputError(msg("segments are built from tokens, not words"))
    if values.shape != (len(encoding),):
        raise InvalidInputError(msg("{n_scores} scores for {n} tokens", n_scores=values.shape[0], n=len(encoding)))
    texts = {0: encoding.text, 1: encoding.text_pair or ""}
    segments: dict[tuple[int, int], int] = {}
    labels: list[str] = []
    bounds = {s: _bounds(t, by if s == 0 or by != "spans" else "sentence", spans if s == 0 else ())
              for s, t in texts.items()}
    token_segment: list[int] = []
    special = None
    for i in range(len(encoding)):
        start, end = encoding.offsets[i]
        if encoding.special[i] or end <= start:
            if special is None:
                special = len(labels)
                labels.append(str(msg("special tokens")))
            token_segment.append(special)
            continue
        seg = encoding.segments[i] if encoding.segments[i] in texts else 0
        k = next((j for j, (a, b) in enumerate(bounds[seg]) if a <= start < b), len(bounds[seg]) - 1)
        if (seg, k) not in segments:
            a, b = bounds[seg][k]
            segments[(seg, k)] = len(labels)
            labels.append(clip(texts[seg][a:b].strip(), 60))
        token_segment.append(segments[(seg, k)])
    sums = np.zeros(len(labels), np.float64)
    np.add.at(sums, np.asarray(token_segment, int), values)
    return SegmentScores(tuple(labels), sums.astype(np.float32), tuple(token_segment), by)
