"""Lesson 3's views (multi-head attention): every head of the layer, then concatenation and W_O."""

from __future__ import annotations

import streamlit as st

from plm_core import tolerances
from plm_core.i18n import _
from plm_core.lessons import compute
from plm_core.viz.lesson_plots import head_grid, vectors_heatmap
from plm_core.words import aggregate_attention
from ui import charts, widgets
from ui.lesson_views.base import Ctx, View, attention_steps, per_token_caption


def view_heads(ctx: Ctx) -> None:
    s = attention_steps(ctx)
    words = ctx.words(s.encoding)
    probs = s.probs if words is None else aggregate_attention(s.probs, words)
    charts.plotly_chart(head_grid(probs, (words or s.encoding).tokens, _("All {n} heads of layer {layer}", n=s.n_heads, layer=s.layer)),
                        key="lessons.heads")
    ent = compute.head_entropy(probs)
    st.markdown(_("**mean entropy per head (low = focused):**") + " "
                + ", ".join(_("h{head} {entropy:.2f}", head=int(i), entropy=e) for i, e in enumerate(ent)))


def view_concat(ctx: Ctx) -> None:
    per_token_caption(ctx)
    s = attention_steps(ctx)
    tokens = s.encoding.tokens
    st.markdown(_("**{n_heads} heads × d_k {d_k} = {width} numbers per token → W_O ({width} × {out})**",
                  n_heads=int(s.n_heads), d_k=int(s.d_k), width=int(s.concat.shape[1]), out=int(s.projected.shape[1])))
    c1, c2 = st.columns(2)
    charts.plotly_chart(vectors_heatmap(s.concat, tokens, _("concatenated heads")), key="lessons.concat", container=c1)
    charts.plotly_chart(vectors_heatmap(s.projected, tokens, _("after the output projection W_O")),
                        key="lessons.proj", container=c2)
    widgets.check_equal(_("Concatenation"), _("the model's"), s.context_diff, tolerances.VECTORS)
    widgets.check_equal(_("Projection"), _("the output of its W_O layer"), s.projection_diff, tolerances.VECTORS)


VIEWS = {"heads": View(view_heads), "concat": View(view_concat)}
