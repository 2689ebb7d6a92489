"""Masking lab: click tokens to mask, delete or replace them, and watch the prediction change as you type."""

import streamlit as st

from plm_core.masking import STRATEGIES, STRATEGY_LABELS, MaskSpec, check_mask
from plm_core.viz.masking_plots import comparison_bars, fill_in_bars, occlusion_bars
from ui import masking as ui_masking
from ui import LIVE_PAUSE, url_state, widgets
from ui.safe import md, safe_figure
from ui.url_state import UrlParam

EXAMPLES = {
    "encoder": "The cat sat on the mat because it was tired.",
    "masked_lm": "The capital of France is [MASK].",
    "classifier": "A really good movie with excellent acting.",
    "causal_lm": "The cat sat on the",
}

handle = widgets.require_handle()
spec = widgets.active_spec()
kind = handle.kind
strategies = tuple(s for s in STRATEGIES if s != "mask_token" or handle.tokenizer.mask_token)  # GPT-2 has none
PARAMS = (
    UrlParam("masking.text", "text", EXAMPLES[kind]),
    UrlParam("masking.masks", "masks", [], "ints"),
    UrlParam("masking.strategy", "edit", "mask_token" if handle.tokenizer.mask_token else "delete", "str", strategies),
    UrlParam("masking.sub", "sub", ""),
    UrlParam("masking.ref", "ref", "A dog was sleeping on the rug."),
    UrlParam("masking.sweep", "sweep", False, "bool"),
)


@st.fragment
def masking_view() -> None:
    """The whole view: a change of any of its widgets reruns only this (not the sidebar and the app shell)."""
    url_state.sync(PARAMS)  # in the fragment, so that fragment reruns keep the URL current

    st.title("Masking lab")
    st.caption("Click tokens to hide or replace them and see how the model's prediction changes. "
               "The view follows the text as you type; the address bar is a link to this exact view.")

    text = st.text_input("Sentence", key="masking.text", live=LIVE_PAUSE)
    encoding = widgets.run_or_stop(lambda: ui_masking.cached_encoding(spec, text))
    widgets.show_notes(encoding)
    options = [i for i, s in enumerate(encoding.special) if not s]

    # positions from a link or an older text: keep the valid ones, say why the others were dropped
    asked = [int(p) for p in st.session_state.get("masking.masks") or []]
    dropped = [p for p in asked if p not in options]
    if dropped:
        try:
            check_mask(encoding, MaskSpec(tuple(dropped)))
        except ValueError as err:
            st.warning(f"Not masked: {md(err)}.")
        st.session_state["masking.masks"] = [p for p in asked if p in options]
        url_state.publish(PARAMS)  # the address bar links to the masks kept, not the ones dropped

    strategy = st.segmented_control("Edit chosen tokens by", strategies, key="masking.strategy",
                                    format_func=STRATEGY_LABELS.get) or strategies[0]
    substitute = None
    if strategy == "substitute":
        substitute = st.text_input("Substitute", key="masking.sub", live=LIVE_PAUSE, placeholder="a word or phrase")
    chosen = st.pills("Tokens — click to select", options, selection_mode="multi", key="masking.masks",
                      format_func=lambda i: md(encoding.tokens[i]),  # option labels are Markdown
                      help="Special tokens ([CLS], [SEP], <s>…) are not offered: the model always sees them.")
    reference = None
    if kind == "encoder":
        reference = st.text_input("Reference sentence", key="masking.ref", live=LIVE_PAUSE,
                                  help="The edited sentence is compared with the original and with this one.")

    if strategy == "substitute" and not (substitute or "").strip():
        st.info("Type the word to put in place of the chosen tokens.")
        return
    result = widgets.run_or_stop(lambda: ui_masking.cached_masking(
        spec, text, tuple(sorted(chosen)), strategy, substitute, reference))
    st.markdown("**Model input after the edit:**")
    st.code(" ".join(result.edit.edited.tokens), language=None, wrap_lines=True)
    for note in result.notes:
        widgets.show_note(note)

    if kind == "masked_lm":
        st.caption("Each mask is predicted on its own: the model sees the other masks as masks, so several fill-ins "
                   "are independent guesses, not one joint sentence.")
        cols = st.columns(min(3, max(1, len(result.fill_ins))))
        for n, fill in enumerate(result.fill_ins):
            cols[n % len(cols)].plotly_chart(safe_figure(fill_in_bars(fill)), key=f"masking.fill{n}")
        for n, cmp in enumerate(result.comparisons):
            st.plotly_chart(safe_figure(comparison_bars(cmp, names=("unmasked", "masked"))), key=f"masking.cmp{n}")
    else:
        cmp = result.comparisons[0]
        title = {"classifier": "Class probabilities", "causal_lm": "Next token",
                 "encoder": "Similarity of the edited sentence"}[kind]
        st.plotly_chart(safe_figure(comparison_bars(cmp, title, names=("original", "edited"))), key="masking.chart")
        if kind == "classifier" and cmp.label_changed:
            st.warning(f"The prediction flipped: {md(cmp.top_original)} → {md(cmp.top_perturbed)}.")
        elif kind == "causal_lm":
            st.markdown(f"Most likely next token: {md(repr(cmp.top_original))} → {md(repr(cmp.top_perturbed))}")

    if st.toggle("Occlusion sweep: mask each token in turn", key="masking.sweep"):
        sweep = widgets.run_or_stop(lambda: ui_masking.cached_occlusion(
            spec, text, tuple(sorted(chosen)), strategy, substitute))
        st.caption("All masked copies run in one batched forward pass. A positive bar: hiding that token lowers "
                   "the measured value.")
        st.plotly_chart(safe_figure(occlusion_bars(sweep)), key="masking.sweep_chart")
        for note in sweep.notes:
            widgets.show_note(note)


masking_view()
