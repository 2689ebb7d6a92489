"""Masked (BERT-style) language models: the words the model fills in at each mask token."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import torch

from plm_core.errors import InvalidInputError
from plm_core.inference import mask_positions
from plm_core.kinds.base import KindAdapter, top_tokens
from plm_core.tokens import no_mask_message
from plm_core.types import Encoding, Prediction
from plm_core.i18n import msg

if TYPE_CHECKING:
    from plm_core.handle import ModelHandle


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
