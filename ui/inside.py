"""Cached wrappers for the "Inside the model" page (keyed on primitives + ModelSpec, computed through
``ui.backend.compute`` so the Ray backend serves them too)."""

from __future__ import annotations

import streamlit as st

from plm_core.contributions import Contributions
from plm_core.ffn import FFNView
from plm_core.i18n import lazy_gettext
from plm_core.loading import ModelSpec
from plm_core.patching import Ablation, AblationResult, PatchingResult
from ui.backend import compute


@st.cache_data(max_entries=128, show_spinner=lazy_gettext("Splitting the logit into heads and FFN blocks…"))
def cached_contributions(spec: ModelSpec, text: str, word: str | None, contrast: str | None,
                         text_pair: str | None) -> Contributions:
    return compute(spec, "contributions", text, word, contrast, text_pair=text_pair)


@st.cache_data(max_entries=64, show_spinner=lazy_gettext("Patching activations…"))
def cached_patch(spec: ModelSpec, clean: str, corrupt: str, what: str, word: str | None, contrast: str | None,
                 text_pair: str | None) -> PatchingResult:
    return compute(spec, "patch", clean, corrupt, what, word=word, contrast=contrast, text_pair=text_pair)


@st.cache_data(max_entries=64, show_spinner=lazy_gettext("Running the model without them…"))
def cached_ablation(spec: ModelSpec, text: str, ablation: Ablation, text_pair: str | None) -> AblationResult:
    return compute(spec, "ablate", text, ablation, text_pair=text_pair)


@st.cache_data(max_entries=128, show_spinner=lazy_gettext("Reading the FFN neurons…"))
def cached_ffn(spec: ModelSpec, text: str, layer: int, position: int | None, word: str | None, text_pair: str | None,
               rank_by: str) -> FFNView:
    return compute(spec, "ffn_view", text, layer, position=position, word=word, text_pair=text_pair,
                   rank_by=rank_by)
