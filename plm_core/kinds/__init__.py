"""Model kinds: one adapter per kind (what its head predicts), the only place that knows kind names.

``handle.adapter`` is the adapter of a loaded model; :data:`KINDS` lists them in detection order. See
:mod:`plm_core.kinds.base` for the protocol and how to add a kind.
"""

from __future__ import annotations

from plm_core.errors import UnsupportedModelError
from plm_core.kind_registry import KINDS, get_adapter, register
from plm_core.kinds.base import KindAdapter, Output
from plm_core.kinds.causal_lm import CausalLMAdapter
from plm_core.kinds.classifier import ClassifierAdapter
from plm_core.kinds.encoder import EncoderAdapter
from plm_core.kinds.masked_lm import MaskedLMAdapter
from plm_core.kinds.seq2seq import Seq2SeqAdapter
from plm_core.i18n import msg
from plm_core.kinds.texts import kind_label

# detection order: the first adapter whose detect() accepts a config wins, then detect_fallback() in this order.
# KINDS is plm_core.kind_registry's dict (ModelHandle.adapter reads it there without importing the adapters).
for _adapter in (MaskedLMAdapter(), CausalLMAdapter(), ClassifierAdapter(), Seq2SeqAdapter(), EncoderAdapter()):
    register(_adapter)
del _adapter
MODEL_KINDS: tuple[str, ...] = tuple(KINDS)
# the kind any checkpoint loads as (no head to lack): what load-time refusals suggest instead
FALLBACK_KIND: str = EncoderAdapter.name


# task heads no kind explains yet, by the end of their ``config.architectures`` class name: what the head predicts.
# A checkpoint saved with one is refused when its kind is detected ("auto"), naming the head; loading it as an
# encoder would silently drop the head (captum #1524's confusion). "Load as: encoder" still shows its encoder.
UNEXPLAINED_HEADS: dict[str, str] = {
    "ForQuestionAnswering": msg("question answering (the start and end of an answer span in a context)"),
    "ForTokenClassification": msg("token classification (a label for every token, e.g. named entities)"),
    "ForMultipleChoice": msg("multiple choice (a score for each of several choices)"),
}


def unexplained_head(config) -> tuple[str, str] | None:
    """(architecture class, what its head predicts) when ``config`` was saved with a head of
    :data:`UNEXPLAINED_HEADS` and with no head a kind explains, else None."""
    archs = list(getattr(config, "architectures", None) or [])
    if any(a.detect(config) for a in KINDS.values()):
        return None
    for arch in archs:
        for suffix, what in UNEXPLAINED_HEADS.items():
            if arch.endswith(suffix):
                return arch, what
    return None


def detect_kind(config) -> str:
    """The kind a checkpoint was saved as: the first adapter whose ``detect`` accepts ``config`` (from
    ``config.architectures``), else the first whose ``detect_fallback`` does."""
    for adapter in KINDS.values():
        if adapter.detect(config):
            return adapter.name
    for adapter in KINDS.values():
        if adapter.detect_fallback(config):
            return adapter.name
    raise UnsupportedModelError(msg('no model kind fits a {value} configuration', value=getattr(config, 'model_type', '?')))


__all__ = ["FALLBACK_KIND", "KINDS", "UNEXPLAINED_HEADS", "unexplained_head", "MODEL_KINDS", "CausalLMAdapter", "ClassifierAdapter", "EncoderAdapter",
           "KindAdapter", "MaskedLMAdapter", "Output", "Seq2SeqAdapter", "detect_kind", "get_adapter", "kind_label"]
