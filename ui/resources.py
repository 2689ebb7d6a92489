"""Process-wide model handles and cached core results, keyed on primitives.

``st.cache_resource`` is shared by every browser session of the server and takes a per-key lock, so
a model is loaded once per process however many students open the page at the same time.
"""

from __future__ import annotations

import streamlit as st

from plm_core.classroom import check_model_allowed
from plm_core.loading import ModelHandle, ModelSpec, load_model
from plm_core.types import AttentionResult, Prediction, QueryKeyResult

from ui.backend import compute  # noqa: E402 - where the model work runs (this process or Ray Serve)

# how many models may be loaded at once (two side by side, plus the one being switched to)
MAX_MODELS = 3


@st.cache_resource(max_entries=MAX_MODELS, show_spinner="Loading model…")
def get_handle(spec: ModelSpec) -> ModelHandle:
    """The shared handle for ``spec`` (loaded on first use, then reused by every session).

    Raises:
        ModelNotAllowedError: classroom mode is on and ``spec`` is not on its allowlist.
    """
    check_model_allowed(spec.model_id, allow_pickle=spec.allow_pickle)
    return load_model(spec)


def unload_models() -> None:
    """Drop every loaded model (frees GPU memory once no session holds a reference)."""
    get_handle.clear()
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
