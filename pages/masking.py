"""Masking lab: click tokens to mask, delete or replace them, and watch the prediction change as you type."""

import ui.preload  # noqa: F401  first: a page opened by its URL runs without app.py (see ui/preload.py)

import streamlit as st

from plm_core.masking import STRATEGIES, STRATEGY_LABELS, MaskSpec, check_mask
from plm_core.viz.masking_plots import comparison_bars, fill_in_bars, occlusion_bars
from ui import masking as ui_masking
from ui import LIVE_PAUSE, charts, widgets
from ui import text as ui_text
from ui.safe import md
from plm_core.i18n import _, tr
from plm_core.tokens import MAX_CHARS  # a text box keeps what the app keeps (and a link no more)

info = widgets.require_info()  # what the model kind predicts and how the lab shows it (plm_core.model_info)
spec = widgets.active_spec()
lens = widgets.lens()
strategies = tuple(s for s in STRATEGIES if s != "mask_token" or info.can_mask)  # GPT-2 has none
REFERENCE = "A dog was sleeping on the rug."


@st.fragment
def masking_view() -> None:
    """The whole view: a change of any of its widgets reruns only this (not the sidebar and the app shell).

    Every widget is bound to the URL (bind="query-params" works in a fragment's reruns too), so the address bar
    is a link to this exact view: ?masking.text=…&masking.masks=cat (masks are named by their pill labels).
    """
    st.title(_("Masking lab"))
    st.caption(_("Click tokens to hide or replace them and see how the model's prediction changes. "
                 "The view follows the text as you type; the address bar is a link to this exact view."))

    first_label, pair_label, pair_help = info.text_labels
    text = st.text_input(tr(first_label), info.example("masking"),  # md: trusted
                         max_chars=MAX_CHARS, key="masking.text", live=LIVE_PAUSE, bind="query-params")
    text = widgets.chat_wrapped(spec, text, "masking.chat")
    target = None
    if info.takes_pair:  # a pair classifier's second text; an encoder-decoder predicts the next token of this target
        target = st.text_input(tr(pair_label), max_chars=MAX_CHARS, key="masking.target", live=LIVE_PAUSE,  # md: trusted
                               help=tr(pair_help), bind="query-params") or None  # md: trusted
    encoding = widgets.run_or_stop(lambda: lens.encode(text, target))
    widgets.show_notes(encoding)
    options = [i for i, s in enumerate(encoding.special) if not s]

    # positions chosen on an older text: keep the valid ones, say why the others were dropped (the URL follows:
    # a bound widget's value set here is written to it; a link's labels that name no pill are dropped by Streamlit)
    asked = [int(p) for p in st.session_state.get("masking.masks") or []]
    dropped = [p for p in asked if p not in options]
    if dropped:
        try:
            check_mask(encoding, MaskSpec(tuple(dropped)))
        except ValueError as err:
            st.warning(_("Not masked: {error}.", error=md(tr(err))))
        st.session_state["masking.masks"] = [p for p in asked if p in options]

    strategy = st.segmented_control(_("Edit chosen tokens by"), strategies, default=strategies[0], key="masking.strategy",
                                    format_func=lambda s: tr(STRATEGY_LABELS[s]), bind="query-params") or strategies[0]
    substitute = None
    if strategy == "substitute":
        substitute = st.text_input(_("Substitute"), max_chars=MAX_CHARS, key="masking.sub", live=LIVE_PAUSE,
                                   placeholder=_("a word or phrase"), bind="query-params")
    units = ui_text.unit_switch(text)
    words = units.of(encoding)
    if words is None:
        chosen = ui_masking.token_pills(encoding, options)
    else:
        chosen = ui_masking.word_pills(words)
    reference = None
    if info.uses_reference:
        reference = st.text_input(_("Reference sentence"), REFERENCE, max_chars=MAX_CHARS, key="masking.ref", live=LIVE_PAUSE,
                                  help=_("The edited sentence is compared with the original and with this one."),
                                  bind="query-params")

    if strategy == "substitute" and not (substitute or "").strip():
        st.info(_("Type the word to put in place of the chosen tokens."))
        return
    result = widgets.run_or_stop(lambda: lens.mask_and_predict(
        text, ui_masking.mask_spec(chosen, strategy, substitute), reference=reference, text_pair=target))
    st.markdown(_("**Model input after the edit:**"))
    st.code(" ".join(result.edit.edited.tokens), language=None, wrap_lines=True)
    for note in result.notes:
        widgets.show_note(note)

    if info.output == "masked_token":
        st.caption(_("Each mask is predicted on its own: the model sees the other masks as masks, so several "
                     "fill-ins are independent guesses, not one joint sentence."))
        cols = st.columns(min(3, max(1, len(result.fill_ins))))
        for n, fill in enumerate(result.fill_ins):
            charts.plotly_chart(fill_in_bars(fill), key=f"masking.fill{n}", container=cols[n % len(cols)])
        for n, cmp in enumerate(result.comparisons):
            charts.plotly_chart(comparison_bars(cmp, names=(_("unmasked"), _("masked"))), key=f"masking.cmp{n}")
    else:
        cmp = result.comparisons[0]
        charts.plotly_chart(comparison_bars(cmp, tr(info.prediction_title), names=(_("original"), _("edited"))),
                            key="masking.chart")
        if info.output == "classes" and cmp.label_changed:
            st.warning(_("The prediction flipped: {before} → {after}.", before=md(cmp.top_original),
                         after=md(cmp.top_perturbed)))
        elif info.output == "next_token":
            st.text(_("Most likely next token: {before!r} → {after!r}", before=cmp.top_original, after=cmp.top_perturbed))
    if result.before.spans or result.after.spans:  # T5 span filling (greedy decoding)
        st.markdown(_("**Span filling** (greedy decoding: what the model writes for each sentinel)"))
        before, after = dict(result.before.spans), dict(result.after.spans)
        st.table({_("sentinel"): list(dict.fromkeys([*before, *after])),
                  _("original"): [before.get(k, "") for k in dict.fromkeys([*before, *after])],
                  _("edited"): [after.get(k, "") for k in dict.fromkeys([*before, *after])]})

    if st.toggle(_("Occlusion sweep: mask each word in turn") if units.words else
                 _("Occlusion sweep: mask each token in turn"), key="masking.sweep", bind="query-params"):
        sweep = widgets.run_or_stop(lambda: lens.occlusion_sweep(
            text, ui_masking.mask_spec(chosen, strategy, substitute), text_pair=target, words=words))
        st.caption(_("All masked copies run in one batched forward pass. A positive bar: hiding that token lowers "
                     "the measured value."))
        charts.plotly_chart(occlusion_bars(sweep), key="masking.sweep_chart")
        for note in sweep.notes:
            widgets.show_note(note)


masking_view()
