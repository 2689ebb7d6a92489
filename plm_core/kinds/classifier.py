"""Sequence classifiers: probabilities over the classes of ``config.id2label``."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch

from plm_core.kinds.base import KindAdapter, softmax_np
from plm_core.types import Encoding, Prediction
from plm_core.i18n import msg

if TYPE_CHECKING:
    from plm_core.handle import ModelHandle


class ClassifierAdapter(KindAdapter):
    name = "classifier"
    auto_class = "AutoModelForSequenceClassification"
    architecture_suffixes = ("ForSequenceClassification",)
    output = "classes"
    target_kinds = ("class",)
    comparison_what = msg("class probabilities")

    takes_pair = True  # pair classifiers (NLI, paraphrase) read two texts as segments A and B

    def labels(self, handle: ModelHandle) -> tuple[str, ...]:
        n = handle.config.num_labels
        names = handle.config.id2label or {}
        return tuple(str(names.get(i, f"LABEL_{i}")) for i in range(n))

    def multi_label(self, handle: ModelHandle) -> bool:
        # transformers' own reading of the head: BCEWithLogitsLoss per label when problem_type says so
        # (BertForSequenceClassification.forward); pipelines' "sigmoid" function_to_apply likewise
        return getattr(handle.config, "problem_type", None) == "multi_label_classification"

    def prediction(self, handle: ModelHandle, encoding: Encoding, vector: torch.Tensor, top_k: int) -> Prediction:
        multi = self.multi_label(handle)
        probs = self.probabilities(handle, vector).cpu().numpy().astype(np.float32) if multi else softmax_np(vector)
        return Prediction(handle.model_id, self.name, encoding, labels=self.labels(handle), probs=probs,
                          multi_label=multi)

    def comparison_labels(self, handle: ModelHandle, before: torch.Tensor, after: torch.Tensor,
                          k: int) -> tuple[list[int], tuple[str, ...]]:
        labels = self.labels(handle)
        return list(range(len(labels))), labels

    def compare_predictions(self, original: Prediction, perturbed: Prediction):
        import numpy as np

        from plm_core.errors import UnsupportedModelError
        from plm_core.types import PredictionComparison

        if original.labels != perturbed.labels:
            raise UnsupportedModelError(msg('different classes: {labels} against {labels2}', labels=original.labels, labels2=perturbed.labels))
        a, b = original.probs.astype(np.float32), perturbed.probs.astype(np.float32)
        return (PredictionComparison(self.name, self.comparison_what, original.labels, a, b, (b - a).astype(np.float32),
                                     int(a.argmax()) != int(b.argmax()), measure=self.measure(original.multi_label)),)

    @staticmethod
    def measure(multi_label: bool) -> str:
        """The axis title of compared class probabilities (a multi-label head's do not sum to 1)."""
        return msg("probability (sigmoid, each label on its own)") if multi_label else "probability"

    def pair_comparison(self, handle: ModelHandle, what: str, before: torch.Tensor, after: torch.Tensor,
                        k: int):
        from dataclasses import replace

        return replace(super().pair_comparison(handle, what, before, after, k),
                       measure=self.measure(self.multi_label(handle)))

    def query_row(self, handle: ModelHandle, encoding: Encoding) -> int:
        """The row the classification head pools, as transformers reads it.

        - decoder-only (causality read from the model: a Qwen3 classifier is): the last token that is not the
          pad token (``GenericForSequenceClassification`` / ``GPT2ForSequenceClassification``:
          ``last_non_pad_token``);
        - XLNet's sequence summary (``summary_type`` "last"): the last token;
        - an encoder-decoder (BART): its last end-of-sequence token (``BartForSequenceClassification``'s
          ``eos_mask``); -1 when the input has none;
        - otherwise (BERT-style) the first token, [CLS].
        """
        ids = encoding.input_ids
        if handle.arch.encoder_decoder:
            eos = getattr(handle.config, "eos_token_id", None)
            found = [i for i, t in enumerate(ids) if t == eos]
            return found[-1] if found else -1
        if getattr(handle.config, "summary_type", None) == "last":  # XLNet's SequenceSummary: hidden[:, -1]
            return len(ids) - 1
        if handle.arch.causal:
            text_config = handle.config.get_text_config() if hasattr(handle.config, "get_text_config") else handle.config
            pad = getattr(text_config, "pad_token_id", None)
            kept = [i for i, t in enumerate(ids) if pad is None or t != pad]
            return kept[-1] if kept else 0  # transformers' argmax over an all-pad row is 0
        return 0
