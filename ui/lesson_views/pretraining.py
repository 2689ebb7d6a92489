"""Lesson 4's views (pretraining objectives): attention masks, masked-LM corruption, sentence pairs, the
encoder-decoder's three maps, and sampling at a temperature."""

from __future__ import annotations

import streamlit as st

from plm_core import generation
from plm_core.errors import PlmCoreError
from plm_core.i18n import _, _p, tr
from plm_core.models import CAUSAL_LMS
from plm_core.tokens import MAX_CHARS  # a text box keeps what the app keeps (and a link no more)
from plm_core.viz.attention_plots import attention_heatmap
from plm_core.viz.generation_plots import distribution_figure
from plm_core.viz.lesson_plots import mask_pair
from ui import charts, widgets
from ui.lesson_views.base import Ctx, View, controls, frame, per_token_caption
from ui.safe import md


def view_masks(ctx: Ctx) -> None:
    per_token_caption(ctx)
    m = ctx.lens.mask_lesson(ctx.text)
    own = _("causal (GPT-style)") if m.causal else _("bidirectional (BERT-style)")
    other = _("bidirectional (BERT-style), constructed") if m.causal else _("causal (GPT-style), constructed")
    charts.plotly_chart(mask_pair(m.mask, m.other_mask, m.encoding.tokens, _("loaded model: {mask}", mask=own), other),
                        key="lessons.masks")
    st.markdown(_("**this model is {mask}: attention given to later tokens = {future:.3f} of each row "
                  "(averaged over layers and heads)**", mask=md(own), future=m.future_attention))
    if m.order:  # the third family: permutation LM (XLNet), for one sampled factorisation order
        tokens = m.encoding.tokens
        order = " → ".join(f"{tokens[i]!r}" for i in m.order)
        charts.plotly_chart(mask_pair(m.permuted_content, m.permuted_query, tokens,
                                      _("permuted LM (XLNet): content stream"),
                                      _("permuted LM (XLNet): query stream")), key="lessons.masks.permuted")
        st.markdown(_("**permuted LM (XLNet), one sampled factorisation order: {order}.** Each token is predicted "
                      "from the tokens before it in this order — on both sides of it in the text. Its *query "
                      "stream* sees only those (not itself: it must predict itself); its *content stream* sees them "
                      "and itself. Another order, other masks: over many orders every token learns from both "
                      "sides, without a [MASK] token.", order=md(order)))


def view_mlm(ctx: Ctx) -> None:
    m = ctx.lens.mask_lesson(ctx.text)
    st.table(frame([{"#": i, _("original"): o, _("corrupted"): c, _("predict?"): i in m.mlm_targets}
                    for i, (o, c) in enumerate(zip(m.encoding.tokens, m.mlm_tokens))]))
    if m.predictions:
        for d in m.predictions:
            what = _("next token") if ctx.info.output == "next_token" else _("[MASK] at {position}",
                                                                                          position=d.position)
            st.text(f"{what}: " + ", ".join(f"{t!r} {p:.1%}" for t, p in zip(d.tokens, d.probs)))
    elif ctx.info.output == "masked_token":
        st.info(_("Put [MASK] in the sentence to see the model fill it in."))
    else:
        st.info(_("{model} is a {kind}: it has no language-model head to predict with (load a masked or causal LM to "
                  "see predictions).", model=md(ctx.info.model_id), kind=md(tr(ctx.info.kind_label))))


def view_nsp(ctx: Ctx) -> None:
    with controls("view"):
        pair = st.text_area(_("Second sentence (B)"), "It slept all afternoon.", max_chars=MAX_CHARS, key="lessons.pair.4", height=68,
                            bind="query-params")
    enc = ctx.lens.encode(ctx.text.replace("[MASK]", "mat"), pair)
    st.markdown(_("**{n} tokens, second sentence starts at {start}**", n=len(enc), start=md(enc.pair_start)))
    if ctx.info.target_prefix:
        st.caption(_("{model} reads no sentence pairs: its second segment is the decoder's input "
                     "(the decoder start token, then the target so far).", model=md(ctx.info.model_id)))
    st.table(frame([{"#": i, _p("column", "token"): t, _p("column", "segment"): s, _p("column", "special"): sp}
                    for i, (t, s, sp) in enumerate(zip(enc.tokens, enc.segments, enc.special))]))


def view_encdec(ctx: Ctx) -> None:
    with controls("view"):
        target = st.text_input(_("Target so far (decoder input; optional)"), "The cat sat", max_chars=MAX_CHARS, key="lessons.target.4",
                               bind="query-params")
    if not ctx.info.encoder_decoder:
        st.info(_("{model} is a {kind}: load an encoder-decoder (t5-small, facebook/bart-base) in the sidebar to see "
                  "its three attention maps computed live.", model=md(ctx.info.model_id),
                  kind=md(tr(ctx.info.kind_label))))
        return
    m = ctx.lens.encoder_decoder_lesson(ctx.text, target or None)
    src, tgt = m.source.tokens, m.target.tokens
    charts.plotly_chart(mask_pair(m.encoder_mask, m.decoder_mask, src, _("encoder: who may look at whom (source)"),
                                  _("decoder: who may look at whom (target)"), other_tokens=tgt), key="lessons.encdec.masks")
    charts.plotly_chart(attention_heatmap(m.cross, src, _("cross-attention, last layer, mean of heads (target × source)"),
                                          query_tokens=tgt), key="lessons.encdec.cross")
    st.markdown(_("**encoder: {encoder}; decoder: {decoder} (read from the weights); cross-attention: "
                  "{n_target} target × {n_source} source tokens**",
                  encoder=_("bidirectional") if m.encoder_bidirectional else _("causal"),
                  decoder=_("causal") if m.decoder_causal else _("not causal"), n_target=len(tgt), n_source=len(src)))
    d = m.prediction
    st.markdown(_("**next target token:**") + " " + ", ".join(f"{md(repr(t))} {p:.1%}" for t, p in zip(d.tokens, d.probs)))
    if m.spans:
        st.markdown(_("**span filling (greedy):**") + " " + "; ".join(f"{md(s)} → “{md(t)}”" for s, t in m.spans))


def view_generation(ctx: Ctx) -> None:
    """The LM's distribution at temperature 1 and T (a masked LM at its [MASK]); a model that generates
    (causal LM, encoder-decoder) samples."""
    mask = ctx.info.mask_token or "[MASK]"
    generates = ctx.info.generates
    text = (ctx.text.split(mask)[0].strip() or ctx.text) if generates else ctx.text
    with controls("view"):
        t = float(st.slider(_("Temperature"), 0.1, 3.0, 2.0, step=0.1, key="lessons.temperature", bind="query-params"))
    try:
        _encoding, dist = ctx.lens.text_distribution(text, generation.SamplingSettings(True, t))
    except PlmCoreError as err:  # a sentence encoder: no language-model head at all; offer a model that writes
        widgets.offer_models(md(tr(err)), lambda other: other.generates, suggested=CAUSAL_LMS, key="lessons.offer")
        return
    where = _("next token") if generates else _("{mask} (token {position})", mask=mask, position=dist.position)
    charts.plotly_chart(distribution_figure(dist, _("{where}: temperature 1 and {t:g}", where=where, t=t)),
                        key="lessons.temperature_chart")
    st.markdown(_("**entropy: {before:.2f} nats at T = 1 → {after:.2f} at T = {t:g}; top token {p:.1%} → {p_t:.1%}**",
                  before=dist.entropy, after=dist.entropy_final, t=t, p=dist.probs[0], p_t=dist.probs_temperature[0]))
    if not generates:
        return
    key = ("lessons.gen", ctx.spec, text)
    state = st.session_state.get("lessons.gen")
    if state is None or state[0] != key:
        state = (key, widgets.run_or_stop(lambda: ctx.lens.generation_start(text)))
    if st.button(_("Sample the next token at T = {t:g}", t=t),
                 key="lessons.sample"):
        state = (key, widgets.run_or_stop(lambda: ctx.lens.generate_steps(state[1], generation.SamplingSettings(True, t),
                                                                          1)))
    st.session_state["lessons.gen"] = state
    st.code(ctx.lens.text_of(state[1].ids), language=None, wrap_lines=True)


VIEWS = {"masks": View(view_masks), "mlm": View(view_mlm), "nsp": View(view_nsp), "encdec": View(view_encdec),
         "generation": View(view_generation)}
