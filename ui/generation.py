"""Generation page helpers: the sampling controls and this session's generation (the model work goes through the
page's lens, ``widgets.lens()``)."""

from __future__ import annotations

import streamlit as st

from plm_core.generation import Generation, SamplingSettings
from plm_core.loading import ModelSpec
from plm_core.i18n import _

STATE = "generation.state"  # the Generation of this session (a small frozen result; the KV cache stays in the core)
MAX_RUN = 64  # "Run to N tokens" limit on the page


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
