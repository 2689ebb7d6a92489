"""Process-wide model handles and cached core results, keyed on primitives.

The model cache (``plm_core.model_cache.ModelCache``) is shared by every browser session of the server and
loads each model once however many students open the page at the same time. It evicts by memory
(``PLM_MODEL_MEMORY_MB``), never a model a session used in the last minutes; a count-based
``st.cache_resource(max_entries=3)`` reloaded models on every rerun once four were in use.
"""

from __future__ import annotations

from dataclasses import replace

import streamlit as st

from plm_core import models as embedded
from plm_core.i18n import _, tr
from plm_core.classroom import check_model_allowed
from plm_core.loading import ModelHandle, ModelSpec, load_model
from plm_core.model_cache import ModelCache, shared
from plm_core.patching import ablated_copy
from plm_core.types import AttentionResult, Prediction, QueryKeyResult
from ui.safe import md

from ui.backend import compute  # noqa: E402 - where the model work runs (this process or Ray Serve)

# one per process: every session shares it (load_model is looked up at each load, so tests can count loads); a
# Ray Serve replica (ui/ray_backend.py) loads its handles through get_handle too, so the budget applies there
def _load(spec: ModelSpec) -> ModelHandle:
    """A whole model from its files; an ablated one (``spec.ablation``) as a copy of the cached whole model, so
    the memory budget counts the copy and the shared model never carries its hooks."""
    if spec.ablation is None:
        return load_model(spec)
    return ablated_copy(MODELS.get(replace(spec, ablation=None)), spec.ablation)


MODELS: ModelCache[ModelSpec, ModelHandle] = shared(ModelCache(_load))  # generation's KV caches count here too


def get_handle(spec: ModelSpec) -> ModelHandle:
    """The shared handle for ``spec`` (loaded on first use, then reused by every session).

    Raises:
        ModelNotAllowedError: classroom mode is on and ``spec`` is not on its allowlist.
        PlmCoreError: the model cannot be loaded (the message says why).
    """
    check_model_allowed(spec.model_id, allow_pickle=spec.allow_pickle)
    if spec in MODELS:
        return MODELS.get(spec)
    prepare_embedded(spec.model_id)
    with st.spinner(_("Loading {model}…", model=md(spec.model_id))):
        return MODELS.get(spec)


def prepare_embedded(model_id: str) -> None:
    """First use of an embedded GGUF model (SmolLM2, Gemma 3): convert it once, with a progress bar (other
    sessions asking at the same time wait, with a message; ``plm_core.models.prepare``)."""
    found = embedded.lookup(model_id)
    if found is None or embedded.is_prepared(found):
        return
    bar = st.progress(0.0, text=_("Preparing {model} for its first use (once per machine)…", model=_(found.label)))  # md: trusted
    embedded.prepare(found.key, lambda fraction, text: bar.progress(min(max(fraction, 0.0), 1.0), text=tr(text)))  # md: trusted
    bar.empty()


def loaded_handles() -> list[ModelHandle]:
    """Every model loaded in this process (all sessions)."""
    return MODELS.values()


def unload_models() -> None:
    """Drop every loaded model and every cached result, for every session of the server (frees GPU
    memory once no session holds a reference)."""
    MODELS.clear()
    st.cache_data.clear()
    try:
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    except ImportError:  # pragma: no cover
        pass


# An AttentionResult holds layer × head × n² floats: 75 MB for MiniLM at 512 tokens, 150 MB for bert-base.
# Few entries, and recomputing one costs a forward pass (tens of milliseconds).
@st.cache_data(max_entries=16, ttl=3600, show_spinner=False)
def cached_attention(spec: ModelSpec, text: str, text_pair: str | None = None,
                     max_tokens: int | None = None) -> AttentionResult:
    return compute(spec, "extract_attention", text, text_pair, max_tokens=max_tokens)


@st.cache_data(max_entries=256, show_spinner=False)
def cached_query_key(spec: ModelSpec, text: str, layer: int, head: int, text_pair: str | None = None,
                     max_tokens: int | None = None, stack: str | None = None) -> QueryKeyResult:
    return compute(spec, "query_key", text, layer, head, text_pair, max_tokens=max_tokens, stack=stack)


@st.cache_data(max_entries=512, show_spinner=False)
def cached_prediction(spec: ModelSpec, text: str, text_pair: str | None = None, top_k: int = 10) -> Prediction:
    return compute(spec, "predict", text, text_pair, top_k=top_k)
