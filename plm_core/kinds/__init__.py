"""Model kinds: one adapter per kind (what its head predicts), the only place that knows kind names.

``handle.adapter`` is the adapter of a loaded model; :data:`KINDS` lists them in detection order. See
:mod:`plm_core.kinds.base` for the protocol and how to add a kind.
"""

from __future__ import annotations

from plm_core.errors import UnsupportedModelError
from plm_core.kinds.base import EditComparison, KindAdapter, Output, PairComparison
from plm_core.kinds.causal_lm import CausalLMAdapter
from plm_core.kinds.classifier import ClassifierAdapter
from plm_core.kinds.encoder import EncoderAdapter
from plm_core.kinds.masked_lm import MaskedLMAdapter
from plm_core.kinds.seq2seq import Seq2SeqAdapter

# detection order: the first adapter whose detect() accepts a config wins, then detect_fallback() in this order
KINDS: dict[str, KindAdapter] = {a.name: a for a in (
    MaskedLMAdapter(), CausalLMAdapter(), ClassifierAdapter(), Seq2SeqAdapter(), EncoderAdapter(),
)}
MODEL_KINDS: tuple[str, ...] = tuple(KINDS)
# the kind any checkpoint loads as (no head to lack): what load-time refusals suggest instead
FALLBACK_KIND: str = EncoderAdapter.name


def get_adapter(kind: str) -> KindAdapter:
    """The adapter of ``kind`` (a ``ModelHandle.kind`` value).

    Raises:
        UnsupportedModelError: no such kind.
    """
    try:
        return KINDS[kind]
    except KeyError:
        raise UnsupportedModelError(f"unknown model kind {kind!r}; choose one of {', '.join(KINDS)}") from None


def detect_kind(config) -> str:
    """The kind a checkpoint was saved as: the first adapter whose ``detect`` accepts ``config`` (from
    ``config.architectures``), else the first whose ``detect_fallback`` does."""
    for adapter in KINDS.values():
        if adapter.detect(config):
            return adapter.name
    for adapter in KINDS.values():
        if adapter.detect_fallback(config):
            return adapter.name
    raise UnsupportedModelError(f"no model kind fits a {getattr(config, 'model_type', '?')} configuration")


def kind_label(kind: str) -> str:
    """The human name of ``kind`` ("masked language model (BERT-style)")."""
    return get_adapter(kind).label


__all__ = ["FALLBACK_KIND", "KINDS", "MODEL_KINDS", "CausalLMAdapter", "ClassifierAdapter", "EditComparison", "EncoderAdapter",
           "KindAdapter", "MaskedLMAdapter", "Output", "PairComparison", "Seq2SeqAdapter", "detect_kind", "get_adapter", "kind_label"]
