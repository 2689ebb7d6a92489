"""Side by side: two inputs on one model, or one input on two models.

Two inputs: tokens aligned with difflib (on token strings), the prediction difference, the attention
difference on matched tokens for every layer and head, and the attribution difference (Attribution core).
Two models: predictions and attentions next to each other; tokens aligned by token strings when the
tokenizers agree, else by character spans (``Encoding.offsets``); what cannot be compared is said.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch

from plm_core.errors import InvalidInputError, PlmCoreError, UnsupportedModelError
from plm_core.inference import mask_positions, model_inputs, predict, run, top_tokens
from plm_core.kinds import EncoderAdapter, MaskedLMAdapter, get_adapter
from plm_core.handle import ModelHandle
from plm_core.tokens import cut_mask_message, encode
from plm_core.types import AttentionResult, Encoding, Prediction, PredictionComparison
from plm_core.i18n import error_message, msg

AlignBy = Literal["tokens", "characters"]


@dataclass(frozen=True)
class TokenAlignment:
    """Which token of input A corresponds to which token of input B."""

    by: AlignBy  # "tokens": equal token strings (difflib); "characters": equal character spans
    pairs: tuple[tuple[int, int], ...]  # (index in A, index in B) of matched tokens, in order
    only_a: tuple[int, ...]  # tokens of A with no partner
    only_b: tuple[int, ...]
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class AttentionDifference:
    """Attention of B minus attention of A, on the matched tokens only."""

    pairs: tuple[tuple[int, int], ...]  # [query] = [key]: (index in A, index in B)
    tokens: tuple[str, ...]  # display label of each matched token ("a3/b4:cat")
    weights: np.ndarray  # float32 [layer, head, query, key]; B − A

    def __post_init__(self) -> None:
        n = len(self.pairs)
        if self.weights.ndim != 4 or self.weights.shape[-2:] != (n, n) or len(self.tokens) != n:
            raise ValueError(f"attention difference {self.weights.shape} does not match {n} matched tokens")


@dataclass(frozen=True)
class AttributionDifference:
    """Attribution of the same target on A and on B, and B − A on matched tokens."""

    method: str
    target_label: str
    scores_a: np.ndarray  # float32 [key of A]
    scores_b: np.ndarray  # float32 [key of B]
    pairs: tuple[tuple[int, int], ...]
    delta: np.ndarray  # float32 [pair]; scores_b − scores_a on matched tokens


@dataclass(frozen=True)
class PairComparison:
    """A kind's read-out of two inputs side by side (:meth:`PairReadout.read`), A as the original."""

    a: Prediction
    b: Prediction
    comparisons: tuple[PredictionComparison, ...]  # A as "original", B as "perturbed"
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class TextComparison:
    """Two inputs on one model."""

    model_id: str
    alignment: TokenAlignment
    a: Prediction
    b: Prediction
    comparisons: tuple[PredictionComparison, ...]  # A as "original", B as "perturbed"
    attention_a: AttentionResult
    attention_b: AttentionResult
    attention: AttentionDifference
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class ModelComparison:
    """One input on two models."""

    text: str
    a: Prediction | None  # None when that model cannot predict this input (the note says why)
    b: Prediction | None
    attention_a: AttentionResult
    attention_b: AttentionResult
    alignment: TokenAlignment
    comparisons: tuple[PredictionComparison, ...]  # empty when the outputs are not comparable
    attention: AttentionDifference | None  # None when layers/heads differ
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class LoadedModel:
    """A loaded model and the memory its weights take."""

    model_id: str
    kind: str
    device: str
    n_parameters: int
    weight_bytes: int


# ---------------------------------------------------------------- alignment


def align_tokens(a: Encoding, b: Encoding) -> TokenAlignment:
    """Match tokens of two encodings of one tokenizer by their strings (difflib's longest matching blocks)."""
    matcher = difflib.SequenceMatcher(a=list(a.tokens), b=list(b.tokens), autojunk=False)
    pairs = tuple((block.a + k, block.b + k) for block in matcher.get_matching_blocks() for k in range(block.size))
    return _alignment("tokens", pairs, len(a), len(b), ())


def align_by_characters(a: Encoding, b: Encoding) -> TokenAlignment:
    """Match tokens of two tokenizers on one text: tokens covering the same character span.

    Special tokens have no span; the first and the last special tokens are matched with each other
    (start and end markers), the others are left out.
    """
    if (a.text, a.text_pair) != (b.text, b.text_pair):
        raise InvalidInputError(msg('aligning by characters needs the same text on both sides'))
    span_b = {(b.segments[j], b.offsets[j]): j for j in range(len(b)) if not b.special[j]}
    pairs = [(i, span_b[(a.segments[i], a.offsets[i])]) for i in range(len(a))
             if not a.special[i] and (a.segments[i], a.offsets[i]) in span_b]
    sa = [i for i in range(len(a)) if a.special[i]]
    sb = [j for j in range(len(b)) if b.special[j]]
    if sa and sb:
        pairs.append((sa[0], sb[0]))
        if len(sa) > 1 and len(sb) > 1:
            pairs.append((sa[-1], sb[-1]))
    pairs.sort()
    words_a = sum(1 for s in a.special if not s)
    matched = sum(1 for i, _ in pairs if not a.special[i])
    notes = (msg("the two tokenizers split the text differently: {matched} of {words_a} word tokens of A cover the "
                 "same characters as a token of B; attention and attribution are compared on those only",
                 matched=matched, words_a=words_a),) \
        if matched < words_a else ()
    return _alignment("characters", tuple(pairs), len(a), len(b), notes)


def _alignment(by: AlignBy, pairs: tuple[tuple[int, int], ...], na: int, nb: int, notes: tuple[str, ...]) -> TokenAlignment:
    ia = {i for i, _ in pairs}
    ib = {j for _, j in pairs}
    return TokenAlignment(by, pairs, tuple(i for i in range(na) if i not in ia), tuple(j for j in range(nb) if j not in ib), notes)


def attention_difference(att_a: AttentionResult, att_b: AttentionResult, alignment: TokenAlignment) -> AttentionDifference:
    """B − A attention on the matched tokens, for every layer and head.

    Raises:
        UnsupportedModelError: different numbers of layers or heads.
    """
    if att_a.weights.shape[:2] != att_b.weights.shape[:2]:
        raise UnsupportedModelError(
            msg('attention cannot be subtracted: {n_layers}×{n_heads} against {n_layers2}×{n_heads2} layers × heads; '
                'they are shown side by side instead',
                n_layers=att_a.n_layers, n_heads=att_a.n_heads, n_layers2=att_b.n_layers, n_heads2=att_b.n_heads))
    ia = [i for i, _ in alignment.pairs]
    ib = [j for _, j in alignment.pairs]
    wa = att_a.weights[:, :, ia][:, :, :, ia]
    wb = att_b.weights[:, :, ib][:, :, :, ib]
    ta, tb = att_a.encoding.tokens, att_b.encoding.tokens
    labels = tuple(f"{i}:{ta[i]}" if i == j and ta[i] == tb[j] else f"{i}/{j}:{ta[i]}" for i, j in alignment.pairs)
    return AttentionDifference(alignment.pairs, labels, (wb - wa).astype(np.float32))


@dataclass(frozen=True)
class WordComparison:
    """Two inputs (or two models) seen as words: aligned words and the attention between them."""

    words_a: Encoding  # word level (plm_core.words.word_spans)
    words_b: Encoding
    alignment: TokenAlignment  # over words
    attention_a: AttentionResult  # word level: to a word = sum over its pieces, from a word = mean
    attention_b: AttentionResult
    attention: AttentionDifference | None  # None when layers/heads differ


def compare_words(att_a: AttentionResult, att_b: AttentionResult, words_a: Encoding, words_b: Encoding,
                  by: AlignBy = "tokens") -> WordComparison:
    """The word view of a comparison: words aligned by their text (``by="tokens"``, two sentences) or by their
    character spans (``by="characters"``, one sentence on two tokenizers), and the B − A attention between the
    matched words (plm_core.words.aggregate_attention on each side first)."""
    from plm_core.words import word_attention

    alignment = align_tokens(words_a, words_b) if by == "tokens" else align_by_characters(words_a, words_b)
    wa, wb = word_attention(att_a, words_a), word_attention(att_b, words_b)
    try:
        diff: AttentionDifference | None = attention_difference(wa, wb, alignment)
    except UnsupportedModelError:
        diff = None
    return WordComparison(words_a, words_b, alignment, wa, wb, diff)


# ---------------------------------------------------------------- predictions


def compare_predictions(original: Prediction, perturbed: Prediction) -> tuple[PredictionComparison, ...]:
    """Compare two Predictions of one kind (from :func:`plm_core.inference.predict`), as the kind's adapter does.

    classifier: the class probabilities (same labels needed). masked/causal LM: each distribution pair,
    over the union of both top-k lists; a token outside one list counts as 0 there (``exact`` False).
    encoder: cosine similarity of the two embeddings.

    Raises:
        UnsupportedModelError: different kinds, label sets or embedding sizes.
    """
    if original.kind != perturbed.kind:
        raise UnsupportedModelError(msg('different model kinds ({kind}, {kind2}) predict different things', kind=original.kind, kind2=perturbed.kind))
    return get_adapter(original.kind).compare_predictions(original, perturbed)


class PairReadout:
    """How Compare reads out two inputs on one model for one model kind; one instance per kind that differs in
    :data:`PAIR_READOUTS`.

    The default is that of a model with one output distribution per input (a classifier, a causal LM's next
    token, an encoder-decoder's next target token): the kind's prediction on each input, and the two
    distributions compared entry by entry (``KindAdapter.pair_comparison``).
    """

    def read(self, handle: ModelHandle, a: Encoding, b: Encoding, out: Any, inputs: Mapping[str, torch.Tensor],
             top_k: int) -> PairComparison:
        """Read-out of one batched forward of the rows ``[a, b]``, A as the original and B as the changed one.

        Args:
            out: the model output of that forward (:func:`plm_core.inference.run`; ``handle.adapter.want`` and
                attentions).
            inputs: the padded batch it ran on (``input_ids``, ``attention_mask``: ``[row, query]``).
            top_k: entries of each distribution (and of each side of a comparison).

        Returns:
            The default: the kind's Prediction of A and of B and one PredictionComparison of their probabilities
            (``[label]``: all classes, or the union of both top-k tokens), no notes.

        Raises:
            Nothing of its own: an error of the adapter's read-out (``outputs``, ``prediction``) passes through.
        """
        adapter = handle.adapter
        vectors = adapter.outputs(handle, out, inputs)
        probs = adapter.probabilities(handle, vectors)
        return PairComparison(adapter.prediction(handle, a, vectors[0], top_k), adapter.prediction(handle, b, vectors[1], top_k),
                              (adapter.pair_comparison(handle, adapter.comparison_what, probs[0], probs[1], top_k),))


class MaskPairReadout(PairReadout):
    """Masked LM: the fill-ins at the masks of A and B, paired in order."""

    def read(self, handle: ModelHandle, a: Encoding, b: Encoding, out: Any, inputs: Mapping[str, torch.Tensor],
             top_k: int) -> PairComparison:
        """The masks of A and B paired in order.

        Returns:
            ``a``/``b``: the top-k fill-ins at each mask of that input; one PredictionComparison per pair of
            masks, the n-th of A with the n-th of B (probabilities over the union of both top-k tokens);
            ``notes``: where the limit cut a side's mask off, a side without a mask, unequal numbers of masks.
        """
        adapter = handle.adapter
        ma, mb = mask_positions(handle, a), mask_positions(handle, b)
        logits = out.logits.float()  # [row, query, vocab]
        pa = Prediction(handle.model_id, adapter.name, a, distributions=tuple(top_tokens(handle, logits[0, p], p, top_k) for p in ma))
        pb = Prediction(handle.model_id, adapter.name, b, distributions=tuple(top_tokens(handle, logits[1, p], p, top_k) for p in mb))
        comps = tuple(adapter.pair_comparison(handle, msg("fill-in at mask {n} (A:{a}, B:{b})", n=n + 1, a=p, b=q), torch.softmax(logits[0, p], -1),
                                              torch.softmax(logits[1, q], -1), top_k) for n, (p, q) in enumerate(zip(ma, mb)))
        # a mask the limit cut off: say where it is, per side
        notes = [msg("{side}: {note}", side=side, note=cut) for side, enc, found in (("A", a, ma), ("B", b, mb))
                 if not found and (cut := cut_mask_message(handle, enc))]
        if not ma or not mb:
            notes.append(msg("a masked LM predicts at {mask_token}: put one in both sentences to compare fill-ins",
                             mask_token=adapter.mask_token(handle)))
        elif len(ma) != len(mb):
            notes.append(msg('A has {n_ma} masks and B {n_mb}: the first {value} are paired in order', n_ma=len(ma), n_mb=len(mb), value=min(len(ma), len(mb))))
        return PairComparison(pa, pb, comps, tuple(notes))


class SimilarityPairReadout(PairReadout):
    """Sentence encoder: the cosine similarity of the two sentence embeddings."""

    def read(self, handle: ModelHandle, a: Encoding, b: Encoding, out: Any, inputs: Mapping[str, torch.Tensor],
             top_k: int) -> PairComparison:
        """The two sentence embeddings and their cosine similarity (``KindAdapter.compare_predictions``).

        Returns:
            ``a``/``b``: the embeddings ``[hidden]``; one PredictionComparison ``[1]``: A's similarity to itself
            (1) as the original, B's to A as the changed one.

        Raises:
            UnsupportedModelError: the two embeddings differ in size.
        """
        adapter = handle.adapter
        emb = adapter.outputs(handle, out, inputs).cpu().numpy()
        pa, pb = (adapter.prediction(handle, enc, torch.from_numpy(emb[r]), top_k) for r, enc in enumerate((a, b)))
        return PairComparison(pa, pb, adapter.compare_predictions(pa, pb))


# model kind -> how Compare reads out two inputs; a kind absent here gets the default (its prediction on each,
# compared entry by entry), as every kind without its own read-out did when this lived on the kind adapters
PAIR_READOUTS: dict[str, PairReadout] = {
    MaskedLMAdapter.name: MaskPairReadout(),
    EncoderAdapter.name: SimilarityPairReadout(),
}
_DEFAULT_READOUT = PairReadout()


def pair_readout(kind: str) -> PairReadout:
    """How Compare reads out two inputs on a model of ``kind`` (:data:`PAIR_READOUTS`)."""
    return PAIR_READOUTS.get(kind, _DEFAULT_READOUT)


def _attentions(handle: ModelHandle, rows: Sequence[Encoding]) -> tuple[object, dict, list[AttentionResult]]:
    """One batched forward with attentions: model output, its inputs and each row's AttentionResult."""
    from plm_core.attention import attention_result

    inputs = model_inputs(handle, rows)
    out = run(handle, inputs, want=("attentions", *handle.adapter.want))
    return out, inputs, [attention_result(handle, e, out, r) for r, e in enumerate(rows)]


def compare_texts(handle: ModelHandle, text_a: str, text_b: str, *, top_k: int = 5,
                  max_tokens: int | None = None, text_pair: str | None = None) -> TextComparison:
    """Two inputs on one model, in one batched forward: alignment, prediction and attention differences.

    The prediction difference treats A as the original and B as the changed input (the kind's
    :data:`PAIR_READOUTS` entry reads it out). Masked LM: the masks of A and B are paired in order.
    ``text_pair``: the second text both are read with (a pair classifier's hypothesis, an encoder-decoder's target
    so far).

    Raises:
        InvalidInputError: an empty input.
    """
    with handle.lock:
        enc_a, _ = encode(handle, text_a, text_pair, max_tokens=max_tokens)
        enc_b, _ = encode(handle, text_b, text_pair, max_tokens=max_tokens)
        out, inputs, (att_a, att_b) = _attentions(handle, [enc_a, enc_b])
        read = pair_readout(handle.kind).read(handle, enc_a, enc_b, out, inputs, top_k)
    alignment = align_tokens(enc_a, enc_b)
    # an encoder-decoder's attention result is its encoder's, over the source tokens only
    att_alignment = alignment if att_a.encoding == enc_a else align_tokens(att_a.encoding, att_b.encoding)
    notes = tuple(_input_notes(((msg("sentence A"), enc_a), (msg("sentence B"), enc_b)))) + read.notes
    return TextComparison(handle.model_id, alignment, read.a, read.b, read.comparisons, att_a, att_b,
                          attention_difference(att_a, att_b, att_alignment), notes)


def attribution_difference(handle: ModelHandle, comparison: TextComparison, method: str = "input_x_gradient",
                           **params: int | float | str) -> AttributionDifference:
    """Attribute the same target on A and on B (``plm_core.attribution.attribute``) and subtract on matched tokens.

    The target is resolved on A (its predicted class, word or next token) and reused for B, so both
    explain the same number. Encoder: A's similarity to B, and B's similarity to A.
    """
    from plm_core.attribution import Target, attribute

    a_text, b_text = comparison.a.encoding.text, comparison.b.encoding.text
    pair = comparison.a.encoding.text_pair  # the second text both were read with
    if "similarity" in handle.adapter.target_kinds:
        res_a = attribute(handle, a_text, method, target=Target("similarity", other=b_text), **params)
        res_b = attribute(handle, b_text, method, target=Target("similarity", other=a_text), **params)
    else:
        res_a = attribute(handle, a_text, method, text_pair=pair, **params)
        res_b = attribute(handle, b_text, method, target=res_a.target, text_pair=pair, **params)
    pairs = comparison.alignment.pairs
    if len(res_a.scores) != len(comparison.a.encoding) or len(res_b.scores) != len(comparison.b.encoding):
        raise UnsupportedModelError(msg('the attribution tokenized the inputs differently from the comparison'))
    delta = np.asarray([res_b.scores[j] - res_a.scores[i] for i, j in pairs], np.float32)
    return AttributionDifference(method, res_a.target_label, res_a.scores.astype(np.float32),
                                 res_b.scores.astype(np.float32), pairs, delta)


# ---------------------------------------------------------------- two models


def compare_models(handle_a: ModelHandle, handle_b: ModelHandle, text: str, *, top_k: int = 5,
                   max_tokens: int | None = None, text_pair: str | None = None) -> ModelComparison:
    """One input on two models: predictions and attentions side by side, differences where defined.
    ``text_pair``: a second text both read with (two pair classifiers' hypothesis).

    Tokens are aligned by strings when both tokenizers give the same tokens, else by character spans.
    Predictions are compared only for the same kind with the same labels or vocabulary; attention is
    subtracted only for the same number of layers and heads. Notes say what was left out and why.
    """
    from plm_core.attention import extract_attention

    att_a = extract_attention(handle_a, text, text_pair, max_tokens=max_tokens)
    att_b = extract_attention(handle_b, text, text_pair, max_tokens=max_tokens)
    enc_a, enc_b = att_a.encoding, att_b.encoding
    notes: list[str] = _input_notes(((msg("model A"), enc_a), (msg("model B"), enc_b)))
    same_tokens = enc_a.tokens == enc_b.tokens and enc_a.input_ids == enc_b.input_ids
    alignment = align_tokens(enc_a, enc_b) if same_tokens else align_by_characters(enc_a, enc_b)
    if not same_tokens:
        notes.append(msg('the two models tokenize differently: tokens are matched by the characters they cover'))
    preds: list[Prediction | None] = []
    for side, handle in (("A", handle_a), ("B", handle_b)):
        try:
            preds.append(predict(handle, text, text_pair, top_k=top_k, max_tokens=max_tokens))
        except PlmCoreError as err:
            preds.append(None)
            notes.append(msg('model {side} ({model_id}) gives no prediction here: {err}', side=side, model_id=handle.model_id, err=err))
    pa, pb = preds
    comps: tuple[PredictionComparison, ...] = ()
    if handle_a.kind != handle_b.kind:
        notes.append(msg("the models are of different kinds (A: {kind}, B: {kind2}) and predict different things: "
                         "shown side by side, not subtracted",
                         kind=handle_a.kind, kind2=handle_b.kind))
    elif handle_a.adapter.token_outputs and _vocabulary(handle_a) != _vocabulary(handle_b):
        notes.append(msg("the vocabularies differ: the word lists are shown side by side, not subtracted"))
    elif pa is not None and pb is not None:
        try:
            comps = compare_predictions(pa, pb)
        except UnsupportedModelError as err:
            notes.append(error_message(err))
    try:
        diff: AttentionDifference | None = attention_difference(att_a, att_b, alignment)
    except UnsupportedModelError as err:
        diff = None
        notes.append(error_message(err))
    return ModelComparison(text, pa, pb, att_a, att_b, alignment, comps, diff, tuple(notes) + alignment.notes)


def _vocabulary(handle: ModelHandle) -> dict[str, int]:
    with handle.lock:
        return handle.tokenizer.get_vocab()


def _input_notes(sides: Sequence[tuple[str, Encoding]]) -> list[str]:
    """What was changed on the way in (truncation to the limit, a giant word as [UNK]), per side."""
    return [msg("{side}: {note}", side=side, note=note) for side, enc in sides for note in enc.notes]


def describe_loaded(handles: Sequence[ModelHandle]) -> tuple[LoadedModel, ...]:
    """Model id, kind, device and weight memory of each handle."""
    out = []
    for h in handles:
        n = sum(p.numel() for p in h.model.parameters())
        size = sum(p.numel() * p.element_size() for p in h.model.parameters()) + sum(
            b.numel() * b.element_size() for b in h.model.buffers())
        out.append(LoadedModel(h.model_id, h.kind, str(h.device), int(n), int(size)))
    return tuple(out)


def gpu_memory() -> dict[str, int] | None:
    """CUDA memory of the current device in bytes (allocated, reserved, total), or None without CUDA."""
    if not torch.cuda.is_available():
        return None
    free, total = torch.cuda.mem_get_info()
    return {"allocated": int(torch.cuda.memory_allocated()), "reserved": int(torch.cuda.memory_reserved()),
            "free": int(free), "total": int(total)}


def alignment_rows(alignment: TokenAlignment, a: Encoding, b: Encoding) -> list[tuple[str, str, bool]]:
    """Aligned tokens in reading order: (token of A or "", token of B or "", matched)."""
    rows: list[tuple[str, str, bool]] = []
    ia = ib = 0
    for i, j in [*alignment.pairs, (len(a), len(b))]:
        while ia < i:
            rows.append((a.tokens[ia], "", False))
            ia += 1
        while ib < j:
            rows.append(("", b.tokens[ib], False))
            ib += 1
        if i < len(a) and j < len(b):
            rows.append((a.tokens[i], b.tokens[j], True))
        ia, ib = i + 1, j + 1
    return rows
