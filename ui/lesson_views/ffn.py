"""Lesson 8's views (inside the model): what each half of each layer adds, the residual stream's parts adding up
to the model's own logit, the last FFN's neurons, and the logit lens."""

from __future__ import annotations

import streamlit as st

from plm_core import tolerances
from plm_core.errors import PlmCoreError
from plm_core.i18n import _, tr
from plm_core.lessons import compute
from plm_core.viz.generation_plots import logit_lens_trace
from plm_core.viz.inside_plots import contribution_heatmap, explained_label, ffn_bars, promoted_table
from plm_core.viz.lesson_plots import token_bars
from ui import charts, widgets
from ui.lesson_views.base import Ctx, View
from ui.safe import md


def _inside_text(ctx: Ctx) -> str:
    return compute.with_final_mask(ctx.text, ctx.info.mask_token,
                                   ctx.info.output == "masked_token")


def _inside_contributions(ctx: Ctx):
    try:
        return ctx.lens.contributions(_inside_text(ctx), None, None, text_pair=None)
    except PlmCoreError as err:
        st.info(md(tr(err)))  # says which model to load
        return None


def view_inside_halves(ctx: Ctx) -> None:
    res = _inside_contributions(ctx)
    if res is None:
        return
    attention, ffn = compute.layer_halves(res)
    layers = [_("layer {layer}", layer=i + 1) for i in range(res.n_layers)]
    values = {_("attention"): attention, _("FFN"): ffn}
    charts.plotly_chart(token_bars(values, layers, _("What each half of each layer added to {what}",
                                                        what=explained_label(res)), yaxis=_("contribution")),
                        key="lessons.inside_halves")


def view_inside_residual(ctx: Ctx) -> None:
    res = _inside_contributions(ctx)
    if res is None:
        return
    p = compute.residual_parts(res)
    parts = {_("embeddings"): p.embeddings, _("attention heads"): p.heads,
             _("attention output biases"): p.attention_bias, _("FFN blocks"): p.ffn,
             _("biases and norm offsets"): p.constant, _("sum of the parts"): p.total,
             _("the model's own value"): p.value}
    st.table({_("part"): list(parts), _("contribution"): [f"{v:+.5f}" for v in parts.values()]})
    widgets.check_equal(_("The sum of the parts"), _("the model's own logit"), abs(p.difference),
                        tolerances.CONTRIBUTION_SUM * (1 + abs(p.value)))
    charts.plotly_chart(contribution_heatmap(res), key="lessons.inside_heatmap")


def view_inside_neurons(ctx: Ctx) -> None:
    res = _inside_contributions(ctx)
    if res is None:
        return
    view = widgets.run_or_stop(lambda: ctx.lens.ffn_view(_inside_text(ctx), res.n_layers - 1, position=None, word=None,
                                                         text_pair=None, rank_by="activation"))
    charts.plotly_chart(ffn_bars(view), key="lessons.inside_neurons")
    st.table(promoted_table(view))


def view_inside_lens(ctx: Ctx) -> None:
    try:
        lens = ctx.lens.logit_lens(_inside_text(ctx), top_k=8)
    except PlmCoreError as err:
        st.info(md(tr(err)))
        return
    charts.plotly_chart(logit_lens_trace(lens), key="lessons.inside_lens")
    st.markdown(_("**final prediction: {token}; its rank after each layer: {ranks}**", token=md(repr(lens.final_token)),
                  ranks=md(", ".join(str(r + 1) for r in lens.final_ranks))))


VIEWS = {"inside_halves": View(view_inside_halves), "inside_residual": View(view_inside_residual),
         "inside_neurons": View(view_inside_neurons), "inside_lens": View(view_inside_lens)}
