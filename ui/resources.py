"""Cached core results, keyed on primitives, and (re-exported from :mod:`ui.handles`) the process-wide model
handles every session shares.

Each cached wrapper runs its operation through :func:`ui.backend.compute` (this process or Ray Serve), which takes
its handles from :mod:`ui.handles`: ``handles`` ← ``backend`` ← ``resources``, no cycle.
"""

from __future__ import annotations

import streamlit as st

from plm_core.loading import ModelSpec
from plm_core.types import AttentionResult, Prediction, QueryKeyResult
from ui.backend import compute  # where the model work runs (this process or Ray Serve)
from ui.handles import (  # noqa: F401 - re-exported: the pages' and tests' historical names
    MODELS,
    get_handle,
    loaded_handles,
    prepare_embedded,
    unload_models,
)


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
