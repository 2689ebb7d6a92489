"""Masked (BERT-style) language models: the words the model fills in at each mask token."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import torch

from plm_core.errors import InvalidInputError
from plm_core.inference import mask_positions
from plm_core.kinds.base import EditComparison, KindAdapter, PairComparison, top_tokens
from plm_core.tokens import no_mask_message
from plm_core.types import Encoding, FillIn, Prediction
from plm_core.i18n import msg

if TYPE_CHECKING:
    from plm_core.handle import ModelHandle
    from plm_core.masking import MaskedInput


class MaskedLMAdapter(KindAdapter):
    name = "masked_lm"
    auto_class = "AutoModelForMaskedLM"
    architecture_suffixes = ("ForMaskedLM", "ForPreTraining")
    output = "masked_token"
    target_kinds = ("token", "contrast")
    token_outputs = True
    comparison_what = msg("fill-in at mask {n}", n=1)
    needs_mask_token = True  # a tokenizer without one gives no position to fill in: refused at load

    def mask_token(self, handle: ModelHandle) -> str:
        with handle.lock:
            return handle.tokenizer.mask_token or "[MASK]"

    def _cut_mask(self, handle: ModelHandle, encoding: Encoding) -> str:
        """Where a mask the limit cut off is (:func:`plm_core.tokens.no_mask_message`), or "" when none was."""
        cut = no_mask_message(handle, encoding) if encoding.truncated else ""
        return cut if " past the limit" in cut else ""

    def lm_position(self, handle: ModelHandle, encoding: Encoding, mask_index: int = 0) -> int:
        positions = mask_positions(handle, encoding)
        mask = self.mask_token(handle)
        if not positions:
            raise InvalidInputError(no_mask_message(handle, encoding))
        if not 0 <= mask_index < len(positions):
            raise InvalidInputError(msg("there are {n} {mask} tokens; {mask} number {number} does not exist",
                                        n=len(positions), mask=mask, number=mask_index + 1))
        return positions[mask_index]

    def outputs(self, handle: ModelHandle, out: Any, inputs: Mapping[str, torch.Tensor],
                positions: Sequence[int] | None = None) -> torch.Tensor:
        """Logits at ``positions`` (one per row) ``[batch, vocab]``, or at every position ``[batch, query, vocab]``."""
        if positions is None:
            return out.logits.float()
        idx = torch.tensor(list(positions), device=out.logits.device)
        return out.logits[torch.arange(len(idx), device=idx.device), idx].float()

    def predictions(self, handle: ModelHandle, rows: Sequence[Encoding], out: Any, inputs: Mapping[str, torch.Tensor],
                    top_k: int, *, strict: bool = False) -> list[Prediction]:
        preds = []
        for r, encoding in enumerate(rows):
            positions = mask_positions(handle, encoding)
            if strict and not positions:
                raise InvalidInputError(no_mask_message(handle, encoding))
            dists = tuple(top_tokens(handle, out.logits[r, p], p, top_k) for p in positions)
            preds.append(Prediction(handle.model_id, self.name, encoding, distributions=dists))
        return preds

    def edit_comparison(self, handle: ModelHandle, edit: MaskedInput, out: Any, inputs: Mapping[str, torch.Tensor],
                        top_k: int) -> EditComparison:
        """Top-k fill-ins at every mask of the edited input; a mask that replaced a word is compared with that
        position unmasked (its probability and rank), a mask typed in the text with its guesses before the edit."""
        logits = self.outputs(handle, out, inputs)
        encoding = edit.original
        with handle.lock:
            mask_id = handle.tokenizer.mask_token_id
        masks_after = [i for i, t in enumerate(edit.edited.input_ids) if t == mask_id]
        notes = []
        if not masks_after and self._cut_mask(handle, encoding):
            notes.append(self._cut_mask(handle, encoding))
        elif not masks_after:
            mask = self.mask_token(handle)
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
                comparisons.append(self.pair_comparison(
                    handle, msg("position {position} ('{token}') unmasked vs masked", position=o, token=orig_token.strip()), probs[0, o], probs[1, p], top_k))
            elif o >= 0:  # a mask typed in the text: compare the mask's guesses before and after the edit
                dists_before.append(top_tokens(handle, logits[0, o], o, top_k))
                comparisons.append(self.pair_comparison(handle, msg("mask at position {position}", position=o), probs[0, o], probs[1, p], top_k))
            fills.append(FillIn(p, o, orig_token, orig_prob, orig_rank, dist))
        before = Prediction(handle.model_id, self.name, encoding, distributions=tuple(dists_before))
        after = Prediction(handle.model_id, self.name, edit.edited, distributions=tuple(dists_after))
        return EditComparison(before, after, tuple(comparisons), tuple(fills), tuple(notes))

    def text_comparison(self, handle: ModelHandle, a: Encoding, b: Encoding, out: Any,
                        inputs: Mapping[str, torch.Tensor], top_k: int) -> PairComparison:
        """The masks of A and B paired in order."""
        ma, mb = mask_positions(handle, a), mask_positions(handle, b)
        logits = out.logits.float()
        pa = Prediction(handle.model_id, self.name, a, distributions=tuple(top_tokens(handle, logits[0, p], p, top_k) for p in ma))
        pb = Prediction(handle.model_id, self.name, b, distributions=tuple(top_tokens(handle, logits[1, p], p, top_k) for p in mb))
        comps = tuple(self.pair_comparison(handle, msg("fill-in at mask {n} (A:{a}, B:{b})", n=n + 1, a=p, b=q), torch.softmax(logits[0, p], -1),
                                           torch.softmax(logits[1, q], -1), top_k) for n, (p, q) in enumerate(zip(ma, mb)))
        # a mask the limit cut off: say where it is, per side
        notes = [msg("{side}: {note}", side=side, note=cut) for side, enc, found in (("A", a, ma), ("B", b, mb))
                 if not found and (cut := self._cut_mask(handle, enc))]
        if not ma or not mb:
            notes.append(msg("a masked LM predicts at {mask_token}: put one in both sentences to compare fill-ins",
                             mask_token=self.mask_token(handle)))
        elif len(ma) != len(mb):
            notes.append(msg('A has {n_ma} masks and B {n_mb}: the first {value} are paired in order', n_ma=len(ma), n_mb=len(mb), value=min(len(ma), len(mb))))
        return PairComparison(pa, pb, comps, tuple(notes))
