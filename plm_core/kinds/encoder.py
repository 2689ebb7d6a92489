"""Sentence encoders (no task head): the mean-pooled, L2-normalised sentence embedding."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from plm_core.errors import UnsupportedModelError
from plm_core.kinds.base import KindAdapter, mean_pool
from plm_core.types import Encoding, Prediction, PredictionComparison
from plm_core.i18n import msg

if TYPE_CHECKING:
    from plm_core.handle import ModelHandle

SIMILARITY = msg("cosine similarity")


class EncoderAdapter(KindAdapter):
    name = "encoder"
    auto_class = "AutoModel"
    output = "embedding"
    target_kinds = ("similarity",)
    want = ("hidden_states",)
    comparison_what = SIMILARITY
    unused_missing_weights = ("pooler.",)  # the sentence embedding mean-pools; a checkpoint may lack the pooler

    def detect_fallback(self, config) -> bool:
        return True  # a body with no head this app knows: its sentence embedding

    def outputs(self, handle: ModelHandle, out: Any, inputs: Mapping[str, torch.Tensor],
                positions: Sequence[int] | None = None) -> torch.Tensor:
        """Mean-pooled, normalised last hidden states ``[batch, hidden]``."""
        hidden = out.hidden_states[-1]
        return mean_pool(hidden, inputs["attention_mask"].to(hidden.device)).float()

    def prediction(self, handle: ModelHandle, encoding: Encoding, vector: torch.Tensor, top_k: int) -> Prediction:
        return Prediction(handle.model_id, self.name, encoding, embedding=vector.float().cpu().numpy())

    def compare_predictions(self, original: Prediction, perturbed: Prediction) -> tuple[PredictionComparison, ...]:
        """Cosine similarity of the two embeddings."""
        ea, eb = original.embedding, perturbed.embedding
        if ea is None or eb is None or ea.shape != eb.shape:
            raise UnsupportedModelError(msg('the two embeddings have different sizes: their similarity is undefined'))
        sim = float(ea @ eb / max(np.linalg.norm(ea) * np.linalg.norm(eb), 1e-12))
        one = float(ea @ ea / max(np.linalg.norm(ea) ** 2, 1e-12))
        o, p = np.asarray([one], np.float32), np.asarray([sim], np.float32)
        return (PredictionComparison(self.name, SIMILARITY, (msg("to the first input"),), o, p, (p - o).astype(np.float32),
                                     False, measure=SIMILARITY),)
