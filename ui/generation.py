"""Generation page helpers: cached core results (keyed on primitives, computed through ``ui.backend.compute`` so
the Ray backend serves them too) and the sampling controls."""

from __future__ import annotations

from typing import TYPE_CHECKING

import streamlit as st

from plm_core.generation import Generation, SamplingSettings, StepAttention, StepDistribution
from plm_core.loading import ModelSpec
from plm_core.logit_lens import LogitLens
from plm_core.types import Encoding
from ui.backend import compute
from plm_core.i18n import _, lazy_gettext

if TYPE_CHECKING:
    from plm_core.attribution import AttributionResult

STATE = "generation.state"  # the Generation of this session (a small frozen result; the KV cache stays in the core)
MAX_RUN = 64  # "Run to N tokens" limit on the page


def start(spec: ModelSpec, prompt: str) -> Generation:
    return compute(spec, "generation_start", prompt)


def generate_steps(spec: ModelSpec, generation: Generation, settings: SamplingSettings, n: int) -> Generation:
    return compute(spec, "generate_steps", generation, settings, n)


def next_distribution(spec: ModelSpec, generation: Generation, settings: SamplingSettings) -> StepDistribution:
    return compute(spec, "next_distribution", generation, settings)


# The generation itself is not cached here: it is the session's state. The underscore arguments are left out
# of the cache key; the ids (and the step index) identify the result.
@st.cache_data(max_entries=128, show_spinner=lazy_gettext("Attributing the token…"))
def cached_step_attribution(spec: ModelSpec, ids: tuple[int, ...], n_start: int, index: int, method: str,
                            _generation: Generation) -> AttributionResult:
    return compute(spec, "attribute_step", _generation, index, method)


@st.cache_data(max_entries=128, show_spinner=False)
def cached_step_attention(spec: ModelSpec, ids: tuple[int, ...], n_start: int, index: int,
                          _generation: Generation) -> StepAttention:
    return compute(spec, "step_attention", _generation, index)


@st.cache_data(max_entries=128, show_spinner=False)
def cached_lens_ids(spec: ModelSpec, ids: tuple[int, ...], top_k: int = 8) -> LogitLens:
    return compute(spec, "logit_lens_ids", ids, top_k=top_k)


@st.cache_data(max_entries=128, show_spinner=False)
def cached_lens(spec: ModelSpec, text: str, top_k: int = 8) -> LogitLens:
    return compute(spec, "logit_lens", text, top_k=top_k)


@st.cache_data(max_entries=256, show_spinner=False)
def cached_text_distribution(spec: ModelSpec, text: str, settings: SamplingSettings) -> tuple[Encoding, StepDistribution]:
    return compute(spec, "text_distribution", text, settings)


def settings_controls(prefix: str = "generation", *, columns: bool = True) -> SamplingSettings:
    """Decoding mode, temperature, top-k, top-p and seed; returns the settings they describe."""
    c1, c2, c3, c4, c5 = st.columns([1.3, 1.4, 1.4, 1.4, 0.9]) if columns else [st.container()] * 5
    mode = c1.segmented_control(_("Decoding"), ["greedy", "sample"], default="sample", key=f"{prefix}.mode",
                                bind="query-params",
                                format_func={"greedy": _("Greedy"), "sample": _("Sampling")}.get,
                                help=_("Greedy always takes the most likely token; sampling draws one at random "
                                       "from the distribution after temperature, top-k and top-p.")) or "sample"
    sampling = mode == "sample"
    temperature = c2.slider(_("Temperature"), 0.05, 3.0, 1.0, 0.05, key=f"{prefix}.temperature", disabled=not sampling,
                            bind="query-params",
                            help=_("Logits are divided by T before the softmax: below 1 sharpens, above 1 flattens."))
    top_k = c3.slider(_("Top-k"), 0, 100, 0, 1, key=f"{prefix}.top_k", disabled=not sampling, bind="query-params",
                      help=_("Keep only the k most likely tokens (0 = off)."))
    top_p = c4.slider(_("Top-p (nucleus)"), 0.05, 1.0, 1.0, 0.05, key=f"{prefix}.top_p", disabled=not sampling,
                      bind="query-params",
                      help=_("Keep the smallest set of most likely tokens whose probability adds up to at least p "
                             "(1 = off)."))
    seed = c5.number_input(_("Seed"), 0, 2**31 - 1, 0, 1, key=f"{prefix}.seed", disabled=not sampling,
                           bind="query-params", help=_("The same seed and settings draw the same tokens."))
    return SamplingSettings(do_sample=sampling, temperature=float(temperature), top_k=int(top_k),
                            top_p=float(top_p), seed=int(seed))


def current(spec: ModelSpec, prompt: str) -> Generation | None:
    """This session's generation if it belongs to ``spec`` and ``prompt``, else None."""
    state = st.session_state.get(STATE)
    if state is None or state[0] != (spec, prompt):
        return None
    return state[1]


def store(spec: ModelSpec, prompt: str, generation: Generation) -> None:
    st.session_state[STATE] = ((spec, prompt), generation)
