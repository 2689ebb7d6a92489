"""Cached wrappers for the masking lab and the comparison page (keyed on primitives + ModelSpec)."""

from __future__ import annotations

import weakref

import streamlit as st

from plm_core.compare import (
    AttributionDifference,
    LoadedModel,
    ModelComparison,
    TextComparison,
    attribution_difference,
    compare_models,
    compare_texts,
    describe_loaded,
    gpu_memory,
)
from plm_core import classroom
from plm_core.loading import ModelHandle, ModelSpec
from plm_core.masking import MaskingResult, MaskSpec, OcclusionResult, mask_and_predict, occlusion_sweep
from plm_core.tokens import encode
from plm_core.types import Encoding
from ui import resources

# handles this process has handed to the masking/compare pages and that are still alive (weakly held:
# an unloaded model disappears from the list once no session uses it)
_SEEN: weakref.WeakValueDictionary[ModelSpec, ModelHandle] = weakref.WeakValueDictionary()


def handle_for(spec: ModelSpec) -> ModelHandle:
    """The shared handle (ui.resources.get_handle), remembered for the "loaded models" list."""
    handle = resources.get_handle(spec)
    _SEEN[spec] = handle
    return handle


def _mask(positions: tuple[int, ...], strategy: str, substitute: str | None) -> MaskSpec:
    return MaskSpec(tuple(positions), strategy, substitute if strategy == "substitute" else None)  # type: ignore[arg-type]


@st.cache_data(max_entries=512, show_spinner=False)
def cached_encoding(spec: ModelSpec, text: str) -> Encoding:
    return encode(handle_for(spec), text)[0]


@st.cache_data(max_entries=512, show_spinner=False)
def cached_masking(spec: ModelSpec, text: str, positions: tuple[int, ...], strategy: str = "mask_token",
                   substitute: str | None = None, reference: str | None = None, top_k: int = 5) -> MaskingResult:
    return mask_and_predict(handle_for(spec), text, _mask(positions, strategy, substitute), reference=reference,
                            top_k=top_k)


@st.cache_data(max_entries=128, show_spinner=False)
def cached_occlusion(spec: ModelSpec, text: str, positions: tuple[int, ...], strategy: str = "mask_token",
                     substitute: str | None = None, reference: str | None = None) -> OcclusionResult:
    return occlusion_sweep(handle_for(spec), text, _mask(positions, strategy, substitute), reference=reference)


@st.cache_data(max_entries=256, show_spinner=False)
def cached_text_comparison(spec: ModelSpec, text_a: str, text_b: str, top_k: int = 5) -> TextComparison:
    return compare_texts(handle_for(spec), text_a, text_b, top_k=top_k)


@st.cache_data(max_entries=64, show_spinner="Attributing both sentences…")
def cached_attribution_difference(spec: ModelSpec, text_a: str, text_b: str, method: str) -> AttributionDifference:
    handle = handle_for(spec)
    return attribution_difference(handle, compare_texts(handle, text_a, text_b), method)


@st.cache_data(max_entries=64, show_spinner=False)
def cached_model_comparison(spec_a: ModelSpec, spec_b: ModelSpec, text: str, top_k: int = 5) -> ModelComparison:
    return compare_models(handle_for(spec_a), handle_for(spec_b), text, top_k=top_k)


def loaded_models() -> tuple[LoadedModel, ...]:
    """Every model loaded on this server (all sessions; ui.resources evicts idle ones past its memory budget)."""
    return describe_loaded(resources.loaded_handles())


def memory_budget_mb() -> float:
    return resources.MODELS.budget / 2**20


CONFIRM_KEY = "compare.confirm_unload"


def unload_controls() -> None:
    """"Unload all models", which asks first: it affects every user of the server. Absent in classroom mode."""
    if classroom.current().enabled:  # one student must not empty the class's models
        return
    if not st.session_state.get(CONFIRM_KEY):
        if st.button("Unload all models…", key="compare.unload",
                     help="Frees the memory of every loaded model, for every user of this server (asks first)."):
            st.session_state[CONFIRM_KEY] = True
            st.rerun()
        return
    st.warning("Unload every model for **every user of this server**? Everyone's pages load their model again on "
               "their next view (seconds, or minutes for a large model), and every cached result is computed again.")
    yes, no = st.columns(2)
    if yes.button("Unload for everyone", key="compare.unload_confirm", type="primary"):
        st.session_state[CONFIRM_KEY] = False
        unload()
        st.rerun()
    if no.button("Cancel", key="compare.unload_cancel"):
        st.session_state[CONFIRM_KEY] = False
        st.rerun()


def gpu_report() -> dict[str, int] | None:
    return gpu_memory()


def unload() -> None:
    """Drop every loaded model and cached result (ui.resources.unload_models)."""
    resources.unload_models()
    _SEEN.clear()
