"""Lesson 2's views (self-attention, one head): Q/K/V, the scaled scores with the neuron view, the softmax and the
weighted sum of V, each checked against what the model computed."""

from __future__ import annotations

import streamlit as st

from plm_core import tolerances
from plm_core.i18n import _
from plm_core.lessons import compute
from plm_core.neuron_view import neuron_view
from plm_core.viz.attention_plots import attention_heatmap
from plm_core.viz.generation_plots import neuron_view_figure
from plm_core.viz.lesson_plots import vectors_heatmap
from plm_core.words import aggregate_attention
from ui import charts, widgets
from ui.lesson_views.base import Ctx, View, attention_steps, controls, per_token_caption


def view_qkv(ctx: Ctx) -> None:
    per_token_caption(ctx)
    s, h = attention_steps(ctx), ctx.head
    tokens = s.encoding.tokens
    st.markdown(_("**layer {layer}, head {head}: X is {rows} × {cols}; Q, K, V of one head are {n} × {d_k} "
                  "(d_k = {d_k})**", layer=int(s.layer), head=int(h), rows=int(s.inputs.shape[0]),
                  cols=int(s.inputs.shape[1]), n=int(s.queries.shape[1]), d_k=int(s.d_k)))
    cols = st.columns(3)
    for col, (name, m) in zip(cols, (("Q", s.queries[h]), ("K", s.keys[h]), ("V", s.values[h]))):
        charts.plotly_chart(vectors_heatmap(m, tokens, _("{name} (head {head})", name=name, head=h)), key=f"lessons.{name}", container=col)


def view_scores(ctx: Ctx) -> None:
    per_token_caption(ctx)
    s, h = attention_steps(ctx), ctx.head
    st.markdown(_("**scale = 1/√d_k = 1/√{d_k} = {scale:.4f}**", d_k=int(s.d_k), scale=s.scale)
                + (" · " + _("causal mask: −∞ above the diagonal") if s.causal else ""))
    charts.plotly_chart(attention_heatmap(s.scores[h], s.encoding.tokens,
                                          _("QKᵀ/√d_k (layer {layer}, head {head})", layer=s.layer, head=h),
                                          signed=True, colorbar_title=_("score")), key="lessons.scores")
    _neuron_view(ctx, s)


def _neuron_view(ctx: Ctx, s: compute.AttentionSteps) -> None:
    """One query token against every key (bertviz's neuron view), from the lesson's own Q and K."""
    h, n = ctx.head, len(s.encoding)
    if st.session_state.get("lessons.query") not in range(n):  # a position of an older, longer sentence
        st.session_state.pop("lessons.query", None)
    labels = s.encoding.labels()
    with controls("view"):
        query = st.selectbox(_("Query token (neuron view)"), list(range(n)),
                             index=min(2, n - 1), format_func=lambda i: labels[i], key="lessons.query",
                             bind="query-params")
    nv = neuron_view(s.query_key(h), query)
    charts.plotly_chart(neuron_view_figure(nv), key="lessons.neuron")
    diff = nv.score_diff(s.scores[h][query])  # Σ q ⊙ k × scale (+ cap, bias)
    widgets.check_equal(_("Σ q ⊙ k × scale + position bias") if nv.bias is not None else _("Σ q ⊙ k × scale"),
                        _("row {row} of the score matrix", row=int(query)), diff, tolerances.SCORE_ROW)


def view_softmax(ctx: Ctx) -> None:
    s, h = attention_steps(ctx), ctx.head
    words = ctx.words(s.encoding)
    probs = s.probs[h] if words is None else aggregate_attention(s.probs[h], words)
    charts.plotly_chart(attention_heatmap(probs, (words or s.encoding).tokens, _("softmax (layer {layer}, head {head})", layer=s.layer, head=h)),
                        key="lessons.softmax")
    sums = probs.sum(-1)
    st.markdown(_("**row sums: min {low:.6f}, max {high:.6f}**", low=sums.min(), high=sums.max()))
    widgets.check_equal(_("Our softmax"), _("the attention the model returned"), s.head_probs_diff(h),
                        tolerances.PROBS)


def view_weighted_sum(ctx: Ctx) -> None:
    per_token_caption(ctx)
    s, h = attention_steps(ctx), ctx.head
    tokens = s.encoding.tokens
    d = s.d_k
    c1, c2 = st.columns(2)
    charts.plotly_chart(vectors_heatmap(s.context[h], tokens, _("ours: softmax · V (head {head})", head=h)),
                        key="lessons.ctx_ours", container=c1)
    charts.plotly_chart(vectors_heatmap(s.model_concat[:, h * d:(h + 1) * d], tokens,
                                        _("the model's (input of its output projection, head {head})", head=h)),
                        key="lessons.ctx_model", container=c2)
    diff = s.head_context_diff(h)
    widgets.check_equal(_("Step by step"), _("the model's own attention output"), diff, tolerances.VECTORS)


VIEWS = {"qkv": View(view_qkv), "scores": View(view_scores), "softmax": View(view_softmax),
         "weighted_sum": View(view_weighted_sum)}
