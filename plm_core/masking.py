"""Masking lab: edit chosen tokens (mask, delete, substitute) and see what changes, for every model kind.

Edits are made on token ids, never by re-tokenizing an edited string, so position ``i`` is exactly the
token the user clicked. Each update is one batched forward (original + edited [+ reference]) under the
handle's lock; the occlusion sweep masks every token in turn in one batched pass.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch

from plm_core.errors import InvalidInputError, UnsupportedModelError, excerpt
from plm_core.inference import class_labels, forward, mean_pool, top_tokens
from plm_core.loading import ModelHandle
from plm_core.tokens import clean_text, clean_token, encode, no_mask_message, uses_token_types
from plm_core.types import Encoding, ModelKind, Prediction, TokenDistribution

Strategy = Literal["mask_token", "delete", "substitute"]
STRATEGIES: tuple[Strategy, ...] = ("mask_token", "delete", "substitute")
STRATEGY_LABELS: dict[str, str] = {
    "mask_token": "replace with the mask token",
    "delete": "delete",
    "substitute": "substitute a word",
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
            raise InvalidInputError(f"unknown masking strategy {self.strategy!r}; choose one of {', '.join(STRATEGIES)}")
        positions = tuple(sorted({int(p) for p in self.positions}))
        if any(p < 0 for p in positions):
            raise InvalidInputError(f"token positions must be 0 or more, got {list(self.positions)}")
        object.__setattr__(self, "positions", positions)
        if self.strategy == "substitute" and not (self.substitute or "").strip():
            raise InvalidInputError("substitute needs a word to put in place of the chosen tokens")


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
class OcclusionResult:
    """Effect of masking each token in turn (one batched pass)."""

    model_id: str
    kind: ModelKind
    encoding: Encoding  # the input swept (after any MaskSpec)
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
        raise InvalidInputError(f"token position(s) {bad} do not exist: the input has {n} tokens (0–{n - 1})")
    special = [p for p in spec.positions if encoding.special[p]]
    if special:
        names = ", ".join(f"{p}:{encoding.tokens[p]}" for p in special)
        raise InvalidInputError(
            f"cannot mask special token(s) {names}: the model always sees them (they mark the start, end and "
            "segments of the input, not words of the text); choose word tokens"
        )
    words = [i for i, s in enumerate(encoding.special) if not s]
    if spec.positions and set(words) <= set(spec.positions):
        return ("every word token is edited: the model sees only special tokens and positions",)
    return ()


def _piece_ids(handle: ModelHandle, text: str, after_space: bool) -> list[int]:
    tok = handle.tokenizer
    text = clean_text(text, "substitute")[0].strip()
    if after_space and getattr(handle.config, "model_type", "") in ("gpt2", "roberta", "bart", "gpt_neo", "opt", "camembert"):
        text = " " + text  # byte-level BPE: a word after a space carries the space in its first piece
    with handle.lock:
        ids = tok(text, add_special_tokens=False)["input_ids"]
    if not ids:
        raise InvalidInputError(f"the substitute {excerpt(text)} gives no tokens for this model")
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
    mask_id = tok.mask_token_id
    pieces: list[int] = []
    if spec.positions and spec.strategy == "mask_token" and mask_id is None:
        raise UnsupportedModelError(
            f"{handle.model_id} has no mask token (a {handle.kind} like GPT-2): delete or substitute instead"
        )
    if spec.positions and spec.strategy == "substitute":
        first_raw = tok.convert_ids_to_tokens(encoding.input_ids[spec.positions[0]])
        after_space = spec.positions[0] > 0 and not encoding.special[spec.positions[0] - 1] or str(first_raw).startswith("Ġ")
        pieces = _piece_ids(handle, spec.substitute or "", after_space)
        if len(pieces) > 1:
            shown = " ".join(clean_token(t) for t in tok.convert_ids_to_tokens(pieces))
            notes.append(f"the substitute {excerpt(spec.substitute)} is {len(pieces)} tokens for this model "
                         f"({excerpt(shown)}): each chosen token is replaced by all of them, so later positions shift")
    ids: list[int] = []
    origin: list[int] = []
    special: list[bool] = []
    segments: list[int] = []
    offsets: list[tuple[int, int]] = []
    for i, tid in enumerate(encoding.input_ids):
        if i not in chosen:
            new = [tid]
        elif spec.strategy == "mask_token":
            new = [mask_id]
        elif spec.strategy == "delete":
            new = []
        else:
            new = pieces
        for j, nid in enumerate(new):
            ids.append(int(nid))
            origin.append(i if j == 0 else -1)
            special.append(encoding.special[i])
            segments.append(encoding.segments[i])
            offsets.append(encoding.offsets[i])
    if not ids:
        raise InvalidInputError("deleting every token leaves nothing for the model to read")
    if len(ids) > limit:
        raise InvalidInputError(
            f"the edit makes the input {len(ids)} tokens, past the limit of {limit} here: the substitute "
            f"{excerpt(spec.substitute, 30)} is {len(pieces)} tokens in place of {len(chosen)}; choose a shorter "
            "substitute or a shorter text")
    with handle.lock:
        raw = tok.convert_ids_to_tokens(ids)
    edited = Encoding(
        text=encoding.text, text_pair=encoding.text_pair, tokens=tuple(clean_token(t) for t in raw),
        input_ids=tuple(ids), special=tuple(special), segments=tuple(segments), offsets=tuple(offsets),
        truncated=encoding.truncated, notes=encoding.notes,
    )
    return MaskedInput(spec, encoding, edited, _decode(handle, ids, special), tuple(origin), tuple(notes))


# ---------------------------------------------------------------- batched forward


def _uses_token_types(handle: ModelHandle) -> bool:
    return uses_token_types(handle)


def _batch(handle: ModelHandle, rows: Sequence[Encoding]) -> dict[str, torch.Tensor]:
    """Right-padded batch of several encodings (ids as given)."""
    n = max(len(r) for r in rows)
    pad = handle.tokenizer.pad_token_id if handle.tokenizer.pad_token_id is not None else 0
    ids = torch.full((len(rows), n), pad, dtype=torch.long)
    mask = torch.zeros((len(rows), n), dtype=torch.long)
    types = torch.zeros((len(rows), n), dtype=torch.long)
    for r, enc in enumerate(rows):
        ids[r, : len(enc)] = torch.tensor(enc.input_ids)
        mask[r, : len(enc)] = 1
        types[r, : len(enc)] = torch.tensor(enc.segments)
    batch = {"input_ids": ids, "attention_mask": mask}
    if _uses_token_types(handle):
        batch["token_type_ids"] = types
    return batch


class _Batch(dict):
    def to(self, device):  # forward() calls batch.to(device)
        return _Batch({k: v.to(device) for k, v in self.items()})


def _run(handle: ModelHandle, rows: Sequence[Encoding], positions: Sequence[int] | None = None) -> torch.Tensor:
    """One no-grad forward of ``rows``.

    Returns, by kind: classifier: logits [batch, label]; masked LM: logits [batch, query, vocab], or
    [batch, vocab] at ``positions`` (one per row); causal LM: logits at each row's last token
    [batch, vocab]; encoder: pooled, normalised embeddings [batch, hidden].
    """
    batch = _batch(handle, rows)
    out = forward(handle, _Batch(batch), output_hidden_states=handle.kind == "encoder")
    mask = batch["attention_mask"].to(handle.device)
    if handle.kind == "encoder":
        return mean_pool(out.hidden_states[-1], mask).float()
    if handle.kind == "causal_lm":
        last = mask.sum(1) - 1
        return out.logits[torch.arange(len(rows), device=last.device), last].float()
    if handle.kind == "masked_lm" and positions is not None:
        idx = torch.tensor(list(positions), device=out.logits.device)
        return out.logits[torch.arange(len(rows), device=idx.device), idx].float()
    return out.logits.float()


def _chunk_size(handle: ModelHandle, n_tokens: int, batch_size: int) -> int:
    """Rows per forward: ``batch_size``, fewer for LM heads whose [batch, query, vocab] logits are large."""
    if handle.kind not in ("masked_lm", "causal_lm"):
        return batch_size
    vocab = int(getattr(handle.config, "vocab_size", 30_000))
    return max(1, min(batch_size, int(256e6 // (4 * vocab * max(1, n_tokens)))))


# ---------------------------------------------------------------- predictions and comparisons


def _pair_comparison(handle: ModelHandle, what: str, before: torch.Tensor, after: torch.Tensor, k: int) -> PredictionComparison:
    """Compare two full distributions over the union of their top-k ([vocab] or [label] probabilities)."""
    if handle.kind == "classifier":
        labels = class_labels(handle)
        ids = list(range(len(labels)))
    else:
        ids = list(dict.fromkeys(before.topk(min(k, before.numel())).indices.tolist()
                                 + after.topk(min(k, after.numel())).indices.tolist()))
        with handle.lock:
            labels = tuple(clean_token(t) for t in handle.tokenizer.convert_ids_to_tokens(ids))
    idx = torch.tensor(ids, device=before.device)
    b = before[idx].cpu().numpy().astype(np.float32)
    a = after[idx].cpu().numpy().astype(np.float32)
    changed = int(before.argmax()) != int(after.argmax())
    return PredictionComparison(handle.kind, what, tuple(labels), b, a, (a - b).astype(np.float32), changed)


def _similarity_comparison(orig: np.ndarray, edited: np.ndarray, ref: np.ndarray | None) -> PredictionComparison:
    labels = ["to the original sentence"]
    before = [float(orig @ orig)]
    after = [float(edited @ orig)]
    if ref is not None:
        labels.append("to the reference sentence")
        before.append(float(orig @ ref))
        after.append(float(edited @ ref))
    b = np.asarray(before, np.float32)
    a = np.asarray(after, np.float32)
    return PredictionComparison("encoder", "cosine similarity", tuple(labels), b, a, (a - b).astype(np.float32), False)


def mask_and_predict(handle: ModelHandle, text: str, spec: MaskSpec, *, text_pair: str | None = None,
                     reference: str | None = None, top_k: int = 5, max_tokens: int | None = None) -> MaskingResult:
    """Edit ``text`` by ``spec`` and predict before and after, in one batched forward.

    - masked LM: top-k fill-ins at every mask of the edited input. Several masks are predicted
      independently (each sees the others as [MASK]), not jointly.
    - classifier: class probabilities before and after.
    - causal LM: the next-token distribution before and after.
    - encoder: cosine similarity of the edited sentence to the original and to ``reference``.

    Raises:
        InvalidInputError: empty text, special or missing positions.
        UnsupportedModelError: "mask_token" for a model without one.
    """
    with handle.lock:
        encoding, _ = encode(handle, text, text_pair, max_tokens=max_tokens)
        edit = apply_mask(handle, encoding, spec, max_tokens=max_tokens)
        rows = [encoding, edit.edited]
        ref_text = reference.strip() if reference and reference.strip() else None
        if handle.kind == "encoder" and ref_text:
            rows.append(encode(handle, ref_text, max_tokens=max_tokens)[0])
        out = _run(handle, rows)
    notes = list(edit.notes)
    kind = handle.kind
    model_id = handle.model_id
    if kind == "classifier":
        probs = torch.softmax(out, -1)
        labels = class_labels(handle)
        before = Prediction(model_id, kind, encoding, labels=labels, probs=probs[0].cpu().numpy())
        after = Prediction(model_id, kind, edit.edited, labels=labels, probs=probs[1].cpu().numpy())
        comparisons = (_pair_comparison(handle, "class probabilities", probs[0], probs[1], top_k),)
        return MaskingResult(model_id, kind, edit, before, after, comparisons, notes=tuple(notes))
    if kind == "causal_lm":
        probs = torch.softmax(out, -1)
        last_b, last_a = len(encoding) - 1, len(edit.edited) - 1
        before = Prediction(model_id, kind, encoding, distributions=(top_tokens(handle, out[0], last_b, top_k),))
        after = Prediction(model_id, kind, edit.edited, distributions=(top_tokens(handle, out[1], last_a, top_k),))
        comparisons = (_pair_comparison(handle, "next token", probs[0], probs[1], top_k),)
        return MaskingResult(model_id, kind, edit, before, after, comparisons, notes=tuple(notes))
    if kind == "encoder":
        emb = out.cpu().numpy().astype(np.float32)
        ref = emb[2] if len(rows) == 3 else None
        before = Prediction(model_id, kind, encoding, embedding=emb[0])
        after = Prediction(model_id, kind, edit.edited, embedding=emb[1])
        return MaskingResult(model_id, kind, edit, before, after, (_similarity_comparison(emb[0], emb[1], ref),),
                             reference=ref_text, notes=tuple(notes))
    # masked LM
    with handle.lock:
        mask_id = handle.tokenizer.mask_token_id
    masks_after = [i for i, t in enumerate(edit.edited.input_ids) if t == mask_id]
    if not masks_after:
        mask = handle.tokenizer.mask_token or "[MASK]"
        cut = no_mask_message(handle, encoding) if encoding.truncated else ""
        notes.append(cut if " past the limit" in cut else
                     f"the edited input has no {mask}: nothing to fill in (click a token with 'mask token' "
                     f"chosen, or type {mask} in the text)")
    if len(masks_after) > 1:
        notes.append(f"{len(masks_after)} masks are predicted independently: each fill-in is the model's guess "
                     "at that position while the other masks stay masked, not a joint guess")
    probs = torch.softmax(out, -1)
    fills, comparisons, dists_before, dists_after = [], [], [], []
    for p in masks_after:
        o = edit.origin[p]
        was_word = o >= 0 and encoding.input_ids[o] != mask_id
        dist = top_tokens(handle, out[1, p], p, top_k)
        dists_after.append(dist)
        orig_prob = orig_rank = orig_token = None
        if was_word:
            tid = encoding.input_ids[o]
            orig_token = encoding.tokens[o]
            orig_prob = float(probs[1, p, tid])
            orig_rank = int((probs[1, p] > probs[1, p, tid]).sum()) + 1
            dists_before.append(top_tokens(handle, out[0, o], o, top_k))
            comparisons.append(_pair_comparison(handle, f"position {o} ('{orig_token.strip()}') unmasked vs masked",
                                                probs[0, o], probs[1, p], top_k))
        elif o >= 0:  # a mask typed in the text: compare the mask's guesses before and after the edit
            dists_before.append(top_tokens(handle, out[0, o], o, top_k))
            comparisons.append(_pair_comparison(handle, f"mask at position {o}", probs[0, o], probs[1, p], top_k))
        fills.append(FillIn(p, o, orig_token, orig_prob, orig_rank, dist))
    before = Prediction(model_id, kind, encoding, distributions=tuple(dists_before))
    after = Prediction(model_id, kind, edit.edited, distributions=tuple(dists_after))
    return MaskingResult(model_id, kind, edit, before, after, tuple(comparisons), tuple(fills), notes=tuple(notes))


# ---------------------------------------------------------------- occlusion sweep


def occlusion_sweep(handle: ModelHandle, text: str, spec: MaskSpec | None = None, *, strategy: Strategy | None = None,
                    text_pair: str | None = None, reference: str | None = None, batch_size: int = SWEEP_BATCH,
                    max_tokens: int | None = None) -> OcclusionResult:
    """Occlude each word token in turn and measure the change, all copies in one batched pass.

    The input is ``text`` after ``spec`` (if given). Each non-special token that is not already a mask is
    occluded by ``strategy`` (default: the mask token, or deletion for a model without one).

    Measure, by kind: classifier: probability of the predicted label; masked LM: probability of the top
    fill-in at the first mask; causal LM: probability of the predicted next token; encoder: cosine
    similarity to the unoccluded sentence (or to ``reference`` when given).

    Args:
        batch_size: copies per forward; the default runs up to 128 copies in one pass, 1 gives one
            forward per copy (for comparison).

    Raises:
        InvalidInputError: a masked LM input with no mask to measure; nothing to occlude.
    """
    with handle.lock:
        has_mask = handle.tokenizer.mask_token_id is not None
    strategy = strategy or ("mask_token" if has_mask else "delete")
    if strategy == "substitute":
        raise InvalidInputError("the occlusion sweep masks or deletes tokens; choose mask_token or delete")
    if batch_size < 1:
        raise InvalidInputError(f"batch_size must be at least 1, got {batch_size}")
    with handle.lock:
        encoding, _ = encode(handle, text, text_pair, max_tokens=max_tokens)
        base = apply_mask(handle, encoding, spec, max_tokens=max_tokens).edited if spec and spec.positions else encoding
        mask_id = handle.tokenizer.mask_token_id
        masks = [i for i, t in enumerate(base.input_ids) if mask_id is not None and t == mask_id]
        if handle.kind == "masked_lm" and not masks:
            mask = handle.tokenizer.mask_token or "[MASK]"
            cut = no_mask_message(handle, encoding) if encoding.truncated else ""
            raise InvalidInputError(cut if " past the limit" in cut else
                                    f"the sweep measures the top fill-in at a mask: mask a token or type {mask}")
        targets = [i for i, s in enumerate(base.special) if not s and i not in masks]
        if not targets:
            raise InvalidInputError("there is no word token to occlude")
        copies = [apply_mask(handle, base, MaskSpec((i,), strategy)).edited for i in targets]
        extra = []
        ref_text = reference.strip() if reference and reference.strip() else None
        if handle.kind == "encoder" and ref_text:
            extra = [encode(handle, ref_text, max_tokens=max_tokens)[0]]
        rows = [base, *extra, *copies]
        positions = None
        if handle.kind == "masked_lm":  # the first mask; deleting a token before it shifts it left by one
            first = masks[0]
            positions = [first] * (1 + len(extra)) + [
                first - 1 if strategy == "delete" and t < first else first for t in targets]
        step = _chunk_size(handle, len(base), batch_size)
        outs = [_run(handle, rows[s : s + step], None if positions is None else positions[s : s + step])
                for s in range(0, len(rows), step)]
    out = torch.cat(outs)
    if extra:  # the reference row is the anchor, not a swept copy
        anchor, out = out[1], torch.cat([out[:1], out[2:]])
    else:
        anchor = out[0]
    measured, label = _measure(handle, out, anchor, masks, has_ref=bool(extra))
    values = np.full(len(base), np.nan, np.float32)
    values[targets] = measured[1:]
    effects = (measured[0] - values).astype(np.float32)
    notes = []
    if len(outs) > 1:
        notes.append(f"{len(rows)} copies were run in {len(outs)} batches of up to {step} (memory bound)")
    return OcclusionResult(handle.model_id, handle.kind, base, strategy, label, float(measured[0]), values, effects,
                           tuple(notes))


def _measure(handle: ModelHandle, out: torch.Tensor, anchor: torch.Tensor, masks: list[int],
             has_ref: bool) -> tuple[np.ndarray, str]:
    """The swept quantity for every row (row 0 = the unoccluded input, then one per occluded copy)."""
    kind = handle.kind
    if kind == "encoder":
        sims = (out @ anchor).cpu().numpy().astype(np.float32)
        return sims, "similarity to the reference sentence" if has_ref else "similarity to the unoccluded sentence"
    probs = torch.softmax(out, -1)
    top = int(probs[0].argmax())
    values = probs[:, top].cpu().numpy().astype(np.float32)
    if kind == "classifier":
        return values, f"probability of '{class_labels(handle)[top]}'"
    with handle.lock:
        word = clean_token(handle.tokenizer.convert_ids_to_tokens(top)).strip()
    if kind == "causal_lm":
        return values, f"probability of the next token '{word}'"
    return values, f"probability of the fill-in '{word}' at position {masks[0]}"
