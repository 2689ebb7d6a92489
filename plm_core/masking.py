"""Masking lab: edit chosen tokens (mask, delete, substitute) and see what changes, for every model kind.

Edits are made on token ids, never by re-tokenizing an edited string, so position ``i`` is exactly the
token the user clicked. Each update is one batched forward (original + edited [+ reference]) under the
handle's lock; the occlusion sweep masks every token in turn in one batched pass.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import numpy as np
import torch

from plm_core.errors import InvalidInputError, UnsupportedModelError, clip, excerpt
from plm_core.inference import mask_positions, model_inputs, run, top_tokens
from plm_core.handle import ModelHandle
from plm_core.kinds import CausalLMAdapter, ClassifierAdapter, EncoderAdapter, MaskedLMAdapter, Seq2SeqAdapter
from plm_core.kinds.encoder import SIMILARITY
from plm_core.display import spacing_scheme, token_text, token_texts
from plm_core.tokens import clean_text, cut_mask_message, encode
from plm_core.types import Encoding, FillIn, ModelKind, Prediction, PredictionComparison
from plm_core.i18n import msg

Strategy = Literal["mask_token", "delete", "substitute"]
STRATEGIES: tuple[Strategy, ...] = ("mask_token", "delete", "substitute")
STRATEGY_LABELS: dict[str, str] = {
    "mask_token": msg("replace with the mask token"),
    "delete": msg("delete"),
    "substitute": msg("substitute a word"),
}
# rows per forward in the occlusion sweep: one pass up to this many masked copies
SWEEP_BATCH = 128


@dataclass(frozen=True)
class MaskSpec:
    """Which tokens to edit and how.

    Args:
        positions: token indices (of the encoding, specials included in the count); special tokens are
            rejected by :func:`apply_mask` (the model always sees them: they are not words of the text).
        strategy: "mask_token" (the model's [MASK]), "delete", or "substitute" (``substitute`` instead).
        substitute: the replacement text for "substitute"; several tokens replace the span with all pieces.
    """

    positions: tuple[int, ...] = ()
    strategy: Strategy = "mask_token"
    substitute: str | None = None

    def __post_init__(self) -> None:
        if self.strategy not in STRATEGIES:
            raise InvalidInputError(msg('unknown masking strategy {strategy!r}; choose one of {value}', strategy=self.strategy, value=', '.join(STRATEGIES)))
        positions = tuple(sorted({int(p) for p in self.positions}))
        if any(p < 0 for p in positions):
            raise InvalidInputError(msg('token positions must be 0 or more, got {value}', value=list(self.positions)))
        object.__setattr__(self, "positions", positions)
        if self.strategy == "substitute" and not (self.substitute or "").strip():
            raise InvalidInputError(msg('substitute needs a word to put in place of the chosen tokens'))


@dataclass(frozen=True)
class MaskedInput:
    """An encoding after a MaskSpec was applied (token ids are exact; ``text`` is for display)."""

    spec: MaskSpec
    original: Encoding
    edited: Encoding
    text: str  # the edited input decoded without special tokens
    origin: tuple[int, ...]  # [position of edited]; index in ``original``, -1 for an inserted substitute piece
    notes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if len(self.origin) != len(self.edited):
            raise ValueError(f"origin has {len(self.origin)} entries for {len(self.edited)} edited tokens")


@dataclass(frozen=True)
class MaskingResult:
    """What changed when the tokens of ``edit.spec`` were edited."""

    model_id: str
    kind: ModelKind
    edit: MaskedInput
    before: Prediction  # on the original input
    after: Prediction  # on the edited input
    comparisons: tuple[PredictionComparison, ...]  # classifier/causal/encoder: one; masked LM: one per mask
    fill_ins: tuple[FillIn, ...] = ()  # masked LM: one per mask of the edited input
    reference: str | None = None  # encoder: the reference sentence
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class EditComparison:
    """A kind's read-out of one edit (:meth:`EditReadout.read`): predictions before and after, and what changed."""

    before: Prediction  # on the original input
    after: Prediction  # on the edited input
    comparisons: tuple[PredictionComparison, ...]
    fill_ins: tuple[FillIn, ...] = ()  # masked LM: one per mask of the edited input
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class OcclusionResult:
    """Effect of masking each token in turn (one batched pass)."""

    model_id: str
    kind: ModelKind
    encoding: Encoding  # the input swept (after any MaskSpec); the words of the input when swept by words
    strategy: Strategy  # how each token was occluded
    target: str  # what is measured ("probability of 'positive'", ...)
    base_value: float  # the measure on the unoccluded input
    values: np.ndarray  # float32 [key]; the measure with that token occluded; NaN where not occluded
    effects: np.ndarray  # float32 [key]; base_value - values (a drop is positive); NaN where not occluded
    notes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        n = len(self.encoding)
        if self.values.shape != (n,) or self.effects.shape != (n,):
            raise ValueError(f"values {self.values.shape} / effects {self.effects.shape} do not match {n} tokens")


# ---------------------------------------------------------------- editing


def check_mask(encoding: Encoding, spec: MaskSpec) -> tuple[str, ...]:
    """Validate ``spec`` against ``encoding``; returns notes (e.g. every word masked).

    Raises:
        InvalidInputError: a position past the end, or a special token.
    """
    n = len(encoding)
    bad = [p for p in spec.positions if p >= n]
    if bad:
        raise InvalidInputError(msg('token position(s) {bad} do not exist: the input has {n} tokens (0–{last})', bad=bad, n=n, last=n - 1))
    special = [p for p in spec.positions if encoding.special[p]]
    if special:
        names = ", ".join(f"{p}:{encoding.tokens[p]}" for p in special)
        raise InvalidInputError(
            msg('cannot mask special token(s) {names}: the model always sees them (they mark the start, end and '
                'segments of the input, not words of the text); choose word tokens',
                names=names)
        )
    words = [i for i, s in enumerate(encoding.special) if not s]
    if spec.positions and set(words) <= set(spec.positions):
        return ("every word token is edited: the model sees only special tokens and positions",)
    return ()


def _piece_ids(handle: ModelHandle, text: str, after_space: bool) -> list[int]:
    tok = handle.tokenizer
    text = clean_text(text, msg("substitute"))[0].strip()
    if after_space and spacing_scheme(tok).space_in_piece:
        text = " " + text  # byte-level BPE, SentencePiece: a word after a space carries the space in its first piece
    with handle.lock:
        ids = tok(text, add_special_tokens=False)["input_ids"]
    if not ids:
        raise InvalidInputError(msg("the substitute {text} gives no tokens for this model", text=excerpt(text)))
    return list(ids)


def _decode(handle: ModelHandle, ids: Sequence[int], special: Sequence[bool]) -> str:
    keep = [i for i, s in zip(ids, special) if not s]
    with handle.lock:
        return handle.tokenizer.decode(keep, skip_special_tokens=False, clean_up_tokenization_spaces=False).strip()


def apply_mask(handle: ModelHandle, encoding: Encoding, spec: MaskSpec, *,
               max_tokens: int | None = None) -> MaskedInput:
    """Apply ``spec`` to ``encoding`` on token ids (no re-tokenization).

    Args:
        max_tokens: a lower limit than the model's own for the edited input; None = the model's.

    Returns:
        The MaskedInput: the edited encoding (offsets of an edited token are the span it replaced), the
        decoded edited text, and for each edited token its index in the original.

    Raises:
        InvalidInputError: special or missing positions; a deletion that leaves nothing; a substitute that
            makes the input longer than the limit.
        UnsupportedModelError: "mask_token" on a tokenizer without a mask token (GPT-2).
    """
    with handle.lock:  # the tokenizer is shared
        return _apply_mask(handle, encoding, spec, min(handle.max_tokens, max_tokens or handle.max_tokens))


def _apply_mask(handle: ModelHandle, encoding: Encoding, spec: MaskSpec, limit: int) -> MaskedInput:
    notes = list(check_mask(encoding, spec))
    chosen = set(spec.positions)
    tok = handle.tokenizer
    pieces: list[int] = []
    masks: dict[int, int] = {}
    if spec.positions and spec.strategy == "mask_token":  # what the mask token is: the model kind's adapter says
        ids_for = handle.adapter.mask_ids(handle, encoding, spec.positions)
        if ids_for is None:
            raise UnsupportedModelError(
                msg('{model_id} has no mask token (a {kind} like GPT-2): delete or substitute instead', model_id=handle.model_id, kind=handle.kind)
            )
        masks = dict(zip(spec.positions, ids_for))
    if spec.positions and spec.strategy == "substitute":
        first_raw = tok.convert_ids_to_tokens(encoding.input_ids[spec.positions[0]])
        spacing = spacing_scheme(tok)  # "Ġcat" / "▁cat": the piece says it follows a space
        after_space = (spec.positions[0] > 0 and not encoding.special[spec.positions[0] - 1]
                       or spacing.space_in_piece and str(first_raw).startswith(spacing.value))
        pieces = _piece_ids(handle, spec.substitute or "", after_space)
        if len(pieces) > 1:
            shown = " ".join(token_texts(handle, pieces))
            notes.append(msg("the substitute {substitute} is {n_pieces} tokens for this model ({shown}): each "
                             "chosen token is replaced by all of them, so later positions shift",
                             substitute=excerpt(spec.substitute), n_pieces=len(pieces), shown=clip(shown)))
    ids: list[int] = []
    origin: list[int] = []
    special: list[bool] = []
    segments: list[int] = []
    offsets: list[tuple[int, int]] = []
    tokens: list[str] = []  # kept tokens keep their display text ([UNK:意]); new pieces are shown in context
    word_ids: list[int | None] = []
    unknown: list[bool] = []
    piece_texts = token_texts(handle, pieces) if pieces else ()
    for i, tid in enumerate(encoding.input_ids):
        if i not in chosen:
            new, texts = [tid], [encoding.tokens[i]]
        elif spec.strategy == "mask_token":
            new, texts = [masks[i]], [token_text(handle, masks[i])]
        elif spec.strategy == "delete":
            new, texts = [], []
        else:
            new, texts = pieces, list(piece_texts)
        tokens.extend(texts)
        kept = i not in chosen
        word_ids += [encoding.word_ids[i] if encoding.word_ids else None] * len(new)
        unknown += [kept and bool(encoding.unknown and encoding.unknown[i])] * len(new)
        for j, nid in enumerate(new):
            ids.append(int(nid))
            origin.append(i if j == 0 else -1)
            special.append(encoding.special[i])
            segments.append(encoding.segments[i])
            offsets.append(encoding.offsets[i])
    if not ids:
        raise InvalidInputError(msg("deleting every token leaves nothing for the model to read"))
    # an encoder-decoder reads its source and its target prefix each up to the limit; other models read one input
    longest = max(Counter(segments).values()) if handle.adapter.target_prefix else len(ids)
    if longest > limit:
        raise InvalidInputError(
            msg("the edit makes the input {longest} tokens, past the limit of {limit} here: the substitute "
                "{substitute} is {n_pieces} tokens in place of {n_chosen}; choose a shorter substitute or a shorter "
                "text", longest=longest, limit=limit, substitute=excerpt(spec.substitute, 30), n_pieces=len(pieces),
                n_chosen=len(chosen)))
    edited = Encoding(
        text=encoding.text, text_pair=encoding.text_pair, tokens=tuple(tokens),
        input_ids=tuple(ids), special=tuple(special), segments=tuple(segments), offsets=tuple(offsets),
        truncated=encoding.truncated, notes=encoding.notes,
        word_ids=tuple(word_ids) if encoding.word_ids else (), unknown=tuple(unknown) if encoding.unknown else (),
    )
    return MaskedInput(spec, encoding, edited, _decode(handle, ids, special), tuple(origin), tuple(notes))


# ---------------------------------------------------------------- batched forward


def _run(handle: ModelHandle, rows: Sequence[Encoding], positions: Sequence[int] | None = None) -> torch.Tensor:
    """One no-grad forward of ``rows``: what the kind reads out of each row (``handle.adapter.outputs``)."""
    adapter = handle.adapter
    inputs = model_inputs(handle, rows)
    return adapter.outputs(handle, run(handle, inputs, want=adapter.want), inputs, positions)


def _chunk_size(handle: ModelHandle, n_tokens: int, batch_size: int) -> int:
    """Rows per forward: ``batch_size``, fewer for LM heads whose [batch, query, vocab] logits are large."""
    if not handle.adapter.token_outputs:
        return batch_size
    vocab = int(getattr(handle.config, "vocab_size", 30_000))
    return max(1, min(batch_size, int(256e6 // (4 * vocab * max(1, n_tokens)))))


# ---------------------------------------------------------------- predictions and comparisons


class EditReadout:
    """How the masking lab reads out one edit for one model kind; one instance per kind that differs in
    :data:`EDIT_READOUTS`.

    The default is that of a model with one output distribution per input (a classifier, a causal LM's next
    token, an encoder-decoder's next target token): the kind's prediction on each row, and the two rows'
    distributions compared entry by entry (``KindAdapter.pair_comparison``).
    """

    uses_reference: ClassVar[bool] = False  # the masking lab compares with a reference sentence (a third row)

    def read(self, handle: ModelHandle, edit: MaskedInput, out: Any, inputs: Mapping[str, torch.Tensor],
             top_k: int) -> EditComparison:
        """Before/after read-out of one batched forward of ``[original, edited (, reference)]`` rows.

        Args:
            edit: the edit; ``edit.original`` and ``edit.edited`` are rows 0 and 1 of the batch.
            out: the model output of that forward (:func:`plm_core.inference.run` with ``handle.adapter.want``).
            inputs: the padded batch it ran on (``input_ids``, ``attention_mask``: ``[row, query]``).
            top_k: entries of each distribution (and of each side of a comparison).

        Returns:
            The default: ``before`` and ``after`` (the kind's Prediction of rows 0 and 1) and one
            PredictionComparison of their probabilities (``[label]``: all classes, or the union of both top-k
            tokens), no fill-ins, no notes.

        Raises:
            Nothing of its own: an error of the adapter's read-out (``outputs``, ``prediction``) passes through.
        """
        adapter = handle.adapter
        vectors = adapter.outputs(handle, out, inputs)
        before = adapter.prediction(handle, edit.original, vectors[0], top_k)
        after = adapter.prediction(handle, edit.edited, vectors[1], top_k)
        probs = adapter.probabilities(handle, vectors)
        return EditComparison(before, after, (adapter.pair_comparison(handle, adapter.comparison_what, probs[0], probs[1],
                                                                      top_k),))


class FillInReadout(EditReadout):
    """Masked LM: the fill-ins at every mask of the edited input."""

    def read(self, handle: ModelHandle, edit: MaskedInput, out: Any, inputs: Mapping[str, torch.Tensor],
             top_k: int) -> EditComparison:
        """Top-k fill-ins at every mask of the edited input; a mask that replaced a word is compared with that
        position unmasked (its probability and rank), a mask typed in the text with its guesses before the edit.

        Returns:
            ``fill_ins``: one FillIn per mask of the edited input, in order; ``after``: their distributions;
            ``before`` and ``comparisons``: one distribution and one PredictionComparison (probabilities over the
            union of both top-k tokens) per mask with a position in the original input (a substitute's later
            pieces have none); ``notes``: an edited input without a mask (nothing to fill in, or where the
            limit cut its mask off), several masks predicted independently.
        """
        adapter = handle.adapter
        logits = adapter.outputs(handle, out, inputs)  # [row, query, vocab]
        encoding = edit.original
        with handle.lock:
            mask_id = handle.tokenizer.mask_token_id
        masks_after = [i for i, t in enumerate(edit.edited.input_ids) if t == mask_id]
        notes = []
        if not masks_after and cut_mask_message(handle, encoding):
            notes.append(cut_mask_message(handle, encoding))
        elif not masks_after:
            mask = adapter.mask_token(handle)
            notes.append(msg("the edited input has no {mask}: nothing to fill in (click a token with 'mask token' "
                             'chosen, or type {mask} in the text)',
                             mask=mask))
        if len(masks_after) > 1:
            notes.append(msg("{n_masks_after} masks are predicted independently: each fill-in is the model's guess "
                             'at that position while the other masks stay masked, not a joint guess',
                             n_masks_after=len(masks_after)))
        probs = torch.softmax(logits, -1)
        fills, comparisons, dists_before, dists_after = [], [], [], []
        for p in masks_after:
            o = edit.origin[p]
            was_word = o >= 0 and encoding.input_ids[o] != mask_id
            dist = top_tokens(handle, logits[1, p], p, top_k)
            dists_after.append(dist)
            orig_prob = orig_rank = orig_token = None
            if was_word:
                tid = encoding.input_ids[o]
                orig_token = encoding.tokens[o]
                orig_prob = float(probs[1, p, tid])
                orig_rank = int((probs[1, p] > probs[1, p, tid]).sum()) + 1
                dists_before.append(top_tokens(handle, logits[0, o], o, top_k))
                comparisons.append(adapter.pair_comparison(
                    handle, msg("position {position} ('{token}') unmasked vs masked", position=o, token=orig_token.strip()), probs[0, o], probs[1, p], top_k))
            elif o >= 0:  # a mask typed in the text: compare the mask's guesses before and after the edit
                dists_before.append(top_tokens(handle, logits[0, o], o, top_k))
                comparisons.append(adapter.pair_comparison(handle, msg("mask at position {position}", position=o), probs[0, o], probs[1, p], top_k))
            fills.append(FillIn(p, o, orig_token, orig_prob, orig_rank, dist))
        before = Prediction(handle.model_id, adapter.name, encoding, distributions=tuple(dists_before))
        after = Prediction(handle.model_id, adapter.name, edit.edited, distributions=tuple(dists_after))
        return EditComparison(before, after, tuple(comparisons), tuple(fills), tuple(notes))


class SimilarityReadout(EditReadout):
    """Sentence encoder: cosine similarity of the edited sentence to the original, and to a reference sentence."""

    uses_reference = True

    def read(self, handle: ModelHandle, edit: MaskedInput, out: Any, inputs: Mapping[str, torch.Tensor],
             top_k: int) -> EditComparison:
        """Cosine similarity of the edited sentence to the original and to the reference (a third row).

        Returns:
            ``before``/``after``: the two sentence embeddings; one PredictionComparison ``[1]`` (to the original
            sentence) or ``[2]`` (and to the reference): the original's similarities before, the edited
            sentence's after (dot products of the adapter's L2-normalised embeddings).
        """
        adapter = handle.adapter
        emb = adapter.outputs(handle, out, inputs).cpu().numpy().astype(np.float32)
        orig, edited = emb[0], emb[1]
        ref = emb[2] if len(emb) == 3 else None
        labels = [msg("to the original sentence")]
        before, after = [float(orig @ orig)], [float(edited @ orig)]
        if ref is not None:
            labels.append(msg("to the reference sentence"))
            before.append(float(orig @ ref))
            after.append(float(edited @ ref))
        b = np.asarray(before, np.float32)
        a = np.asarray(after, np.float32)
        cmp = PredictionComparison(adapter.name, SIMILARITY, tuple(labels), b, a, (a - b).astype(np.float32), False,
                                   measure=SIMILARITY)
        return EditComparison(adapter.prediction(handle, edit.original, torch.from_numpy(orig), top_k),
                              adapter.prediction(handle, edit.edited, torch.from_numpy(edited), top_k), (cmp,))


# model kind -> how the masking lab reads out an edit; a kind absent here gets the default (its prediction before
# and after, compared entry by entry), as every kind without its own read-out did when this lived on the kind adapters
EDIT_READOUTS: dict[str, EditReadout] = {
    MaskedLMAdapter.name: FillInReadout(),
    EncoderAdapter.name: SimilarityReadout(),
}
_DEFAULT_READOUT = EditReadout()


def edit_readout(kind: str) -> EditReadout:
    """How the masking lab reads out an edit for a model of ``kind`` (:data:`EDIT_READOUTS`), and whether it
    compares with a reference sentence (``uses_reference``)."""
    return EDIT_READOUTS.get(kind, _DEFAULT_READOUT)


def mask_and_predict(handle: ModelHandle, text: str, spec: MaskSpec, *, text_pair: str | None = None,
                     reference: str | None = None, top_k: int = 5, max_tokens: int | None = None) -> MaskingResult:
    """Edit ``text`` by ``spec`` and predict before and after, in one batched forward, read out by the kind's
    :data:`EDIT_READOUTS` entry (``reference`` is read only where it ``uses_reference``):

    - masked LM: top-k fill-ins at every mask of the edited input. Several masks are predicted
      independently (each sees the others as [MASK]), not jointly.
    - classifier: class probabilities before and after.
    - causal LM: the next-token distribution before and after.
    - encoder: cosine similarity of the edited sentence to the original and to ``reference``.

    Raises:
        InvalidInputError: empty text, special or missing positions.
        UnsupportedModelError: "mask_token" for a model without one.
    """
    readout = edit_readout(handle.kind)
    with handle.lock:
        encoding, _ = encode(handle, text, text_pair, max_tokens=max_tokens)
        edit = apply_mask(handle, encoding, spec, max_tokens=max_tokens)
        rows = [encoding, edit.edited]
        ref_text = reference.strip() if reference and reference.strip() and readout.uses_reference else None
        if ref_text:
            rows.append(encode(handle, ref_text, max_tokens=max_tokens)[0])
        inputs = model_inputs(handle, rows)
        read = readout.read(handle, edit, run(handle, inputs, want=handle.adapter.want), inputs, top_k)
    return MaskingResult(handle.model_id, handle.kind, edit, read.before, read.after, read.comparisons, read.fill_ins,
                         reference=ref_text, notes=tuple(edit.notes) + read.notes)


# ---------------------------------------------------------------- occlusion sweep


class SweepMeasure:
    """What the occlusion sweep measures for one model kind, and where it reads each row; one instance per kind
    in :data:`SWEEP_MEASURES`.

    The default is that of a model with one output distribution per input: the probability of the unoccluded
    input's top prediction, read where the kind reads its prediction (``KindAdapter.outputs``).
    """

    def positions(self, handle: ModelHandle, base: Encoding, units: Sequence[Sequence[int]], n_extra: int,
                  strategy: str) -> list[int] | None:
        """Where each row is read: one index per row of ``[base, *extra rows, *one copy per unit]`` (``units``:
        the token positions occluded together in each copy), or None for the kind's own read-out position.

        Raises:
            InvalidInputError: the input has nothing to measure.
        """
        return None

    def measure(self, handle: ModelHandle, out: torch.Tensor, anchor: torch.Tensor, masks: Sequence[int],
                has_ref: bool) -> tuple[np.ndarray, str]:
        """The swept quantity, float32 ``[row]`` (row 0 = the unoccluded input), and its name, from the kind's
        read-out vectors ``out`` ``[row, label]`` (``anchor``: the vector compared with, row 0 or the reference)."""
        probs = handle.adapter.probabilities(handle, out)
        top = int(probs[0].argmax())
        return probs[:, top].cpu().numpy().astype(np.float32), self.label(handle, top, masks)

    def label(self, handle: ModelHandle, top: int, masks: Sequence[int]) -> str:
        """The name of the measure when ``top`` (a vocabulary id) is the unoccluded input's top prediction."""
        return msg("probability of '{token}'", token=token_text(handle, top).strip())


class ClassSweep(SweepMeasure):
    """Classifier: the probability of the predicted label."""

    def label(self, handle: ModelHandle, top: int, masks: Sequence[int]) -> str:
        return msg("probability of '{token}'", token=handle.adapter.labels(handle)[top])


class NextTokenSweep(SweepMeasure):
    """Causal LM: the probability of the predicted next token."""

    def label(self, handle: ModelHandle, top: int, masks: Sequence[int]) -> str:
        return msg("probability of the next token '{token}'", token=token_text(handle, top).strip())


class NextTargetTokenSweep(SweepMeasure):
    """Encoder-decoder: the probability of the predicted next target token."""

    def label(self, handle: ModelHandle, top: int, masks: Sequence[int]) -> str:
        return msg("probability of the next target token '{token}'", token=token_text(handle, top).strip())


class FillInSweep(SweepMeasure):
    """Masked LM: the probability of the top fill-in at the first mask."""

    def positions(self, handle: ModelHandle, base: Encoding, units: Sequence[Sequence[int]], n_extra: int,
                  strategy: str) -> list[int] | None:
        """The first mask; deleting tokens before it shifts it left by as many."""
        masks = mask_positions(handle, base)
        if not masks:
            cut = cut_mask_message(handle, base)
            with handle.lock:
                mask = handle.tokenizer.mask_token or "[MASK]"
            raise InvalidInputError(cut or msg(
                "the sweep measures the top fill-in at a mask: mask a token or type {value}", value=mask))
        first = masks[0]
        return [first] * (1 + n_extra) + [
            first - sum(1 for t in u if t < first) if strategy == "delete" else first for u in units]

    def label(self, handle: ModelHandle, top: int, masks: Sequence[int]) -> str:
        return msg("probability of the fill-in '{token}' at position {position}",
                   token=token_text(handle, top).strip(), position=masks[0])


class SimilaritySweep(SweepMeasure):
    """Sentence encoder: cosine similarity to the unoccluded sentence, or to the reference sentence."""

    def measure(self, handle: ModelHandle, out: torch.Tensor, anchor: torch.Tensor, masks: Sequence[int],
                has_ref: bool) -> tuple[np.ndarray, str]:
        sims = (out @ anchor).cpu().numpy().astype(np.float32)
        return sims, msg("similarity to the reference sentence") if has_ref else msg("similarity to the unoccluded sentence")


# model kind -> what the occlusion sweep measures; a kind absent here gets the default (the probability of its
# top prediction), as every kind without its own measure did when this lived on the kind adapters
SWEEP_MEASURES: dict[str, SweepMeasure] = {
    MaskedLMAdapter.name: FillInSweep(),
    CausalLMAdapter.name: NextTokenSweep(),
    ClassifierAdapter.name: ClassSweep(),
    EncoderAdapter.name: SimilaritySweep(),
    Seq2SeqAdapter.name: NextTargetTokenSweep(),
}
_DEFAULT_SWEEP = SweepMeasure()


def sweep_measure(kind: str) -> SweepMeasure:
    """What the occlusion sweep measures for a model of ``kind`` (:data:`SWEEP_MEASURES`)."""
    return SWEEP_MEASURES.get(kind, _DEFAULT_SWEEP)


def occlusion_sweep(handle: ModelHandle, text: str, spec: MaskSpec | None = None, *, strategy: Strategy | None = None,
                    text_pair: str | None = None, reference: str | None = None, batch_size: int = SWEEP_BATCH,
                    max_tokens: int | None = None, words: Encoding | None = None) -> OcclusionResult:
    """Occlude each word token in turn and measure the change, all copies in one batched pass.

    The input is ``text`` after ``spec`` (if given). Each non-special token that is not already a mask is
    occluded by ``strategy`` (default: the mask token, or deletion for a model without one). With ``words``
    (:func:`plm_core.words.word_spans` of the unedited input), each word is occluded whole, all its pieces at
    once, and the result is per word.

    Measure, by kind: classifier: probability of the predicted label; masked LM: probability of the top
    fill-in at the first mask; causal LM: probability of the predicted next token; encoder: cosine
    similarity to the unoccluded sentence (or to ``reference`` when given).

    Args:
        batch_size: copies per forward; the default runs up to 128 copies in one pass, 1 gives one
            forward per copy (for comparison).

    Raises:
        InvalidInputError: a masked LM input with no mask to measure; nothing to occlude.
    """
    strategy = strategy or ("mask_token" if handle.adapter.can_mask(handle) else "delete")
    sweep = sweep_measure(handle.kind)
    if strategy == "substitute":
        raise InvalidInputError(msg('the occlusion sweep masks or deletes tokens; choose mask_token or delete'))
    if batch_size < 1:
        raise InvalidInputError(msg('batch_size must be at least 1, got {batch_size}', batch_size=batch_size))
    with handle.lock:
        encoding, _ = encode(handle, text, text_pair, max_tokens=max_tokens)
        base = apply_mask(handle, encoding, spec, max_tokens=max_tokens).edited if spec and spec.positions else encoding
        masks = mask_positions(handle, base)
        targets = [i for i, s in enumerate(base.special) if not s and i not in masks]
        if not targets:
            raise InvalidInputError(msg('there is no word token to occlude'))
        units = [(i,) for i in targets]
        if words is not None:  # one unit per word: its pieces as they sit in the edited input
            origin = apply_mask(handle, encoding, spec).origin if spec and spec.positions else range(len(base))
            kept = set(targets)
            units = [tuple(k for k, o in enumerate(origin) if o in set(pieces) and k in kept) for pieces in words.pieces]
            if not any(units):
                raise InvalidInputError(msg('there is no word to occlude'))
        swept = [u for u in units if u]
        copies = [apply_mask(handle, base, MaskSpec(u, strategy)).edited for u in swept]
        extra = []
        ref_text = reference.strip() if reference and reference.strip() else None
        if edit_readout(handle.kind).uses_reference and ref_text:
            extra = [encode(handle, ref_text, max_tokens=max_tokens)[0]]
        rows = [base, *extra, *copies]
        positions = sweep.positions(handle, base, swept, len(extra), strategy)
        step = _chunk_size(handle, len(base), batch_size)
        outs = [_run(handle, rows[s : s + step], None if positions is None else positions[s : s + step])
                for s in range(0, len(rows), step)]
    out = torch.cat(outs)
    if extra:  # the reference row is the anchor, not a swept copy
        anchor, out = out[1], torch.cat([out[:1], out[2:]])
    else:
        anchor = out[0]
    measured, label = sweep.measure(handle, out, anchor, masks, bool(extra))
    values = np.full(len(units) if words is not None else len(base), np.nan, np.float32)
    values[[n for n, u in enumerate(units) if u] if words is not None else targets] = measured[1:]
    effects = (measured[0] - values).astype(np.float32)
    notes = []
    if len(outs) > 1:
        notes.append(msg('{n_rows} copies were run in {n_outs} batches of up to {step} (memory bound)', n_rows=len(rows), n_outs=len(outs), step=step))
    return OcclusionResult(handle.model_id, handle.kind, base if words is None else words, strategy, label,
                           float(measured[0]), values, effects, tuple(notes))
