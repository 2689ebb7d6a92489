"""Plotly figures for generation step by step, the logit lens, the neuron view and static/contextual embeddings.

Token strings are the display texts of :mod:`plm_core.display` (from the results). Titles, tick labels, legend
names, annotations and x/y values are escaped for plotly by ``ui.safe.safe_figure`` when the page draws the
chart; the figure's own ``text`` and ``customdata`` (read by its hover and text templates, which safe_figure
leaves alone) are HTML-escaped here. Every figure ends with :func:`plm_core.viz.theme.apply`: one look, and the
colours of the theme (red positive, blue negative on :data:`~plm_core.viz.theme.DIVERGING`; probabilities on
:data:`~plm_core.viz.theme.SEQUENTIAL`; named series from :data:`~plm_core.viz.theme.CATEGORICAL`).
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from plm_core.attention import layer_head
from plm_core.generation import StepAttention, StepDistribution
from plm_core.types import AVERAGE_OF_HEADS
from plm_core.logit_lens import LogitLens
from plm_core.neuron_view import NeuronView
from plm_core.i18n import _, tr
from plm_core.viz import theme

CHOSEN = theme.CATEGORICAL[1]  # orange: the token that was drawn


def _own(text: str) -> str:
    """Text for the figure's own templates (``text``, ``customdata``): plotly's HTML metacharacters escaped."""
    return html.escape(text, quote=False)


def _labels(tokens: Sequence[str]) -> list[str]:
    return [f"{i}:{t}" for i, t in enumerate(tokens)]


def distribution_figure(dist: StepDistribution, title: str, *, chosen: int | None = None) -> go.Figure:
    """Bars per candidate: the model's probability, after the temperature, and after top-k/top-p (drawn from).

    ``chosen``: vocabulary id of the token that was picked (marked when it is among the candidates).
    """
    x = list(range(len(dist.token_ids)))
    ticks = list(dist.tokens)
    hover = [_own(t) for t in ticks]
    s = dist.settings
    series = [(_("model (T = 1)"), dist.probs)]
    if s.do_sample:
        if s.temperature != 1.0:
            series.append((_("after temperature {t:g}", t=s.temperature), dist.probs_temperature))
        if s.top_k or s.top_p < 1:
            cuts = ([f"top-k {s.top_k}"] if s.top_k else []) + ([f"top-p {s.top_p:g}"] if s.top_p < 1 else [])
            cut = cuts[0] if len(cuts) == 1 else _("{a} and {b}", a=cuts[0], b=cuts[1])
            series.append((_("after {cut} (drawn from)", cut=cut), dist.probs_final))
    else:
        series.append((_("greedy: the most likely token"), dist.probs_final))
    fig = go.Figure([
        go.Bar(name=name, x=x, y=np.asarray(v, float), customdata=hover,
               marker_color=color, hovertemplate="%{customdata}<br>%{y:.4f}<extra>" + _own(name) + "</extra>")
        for (name, v), color in zip(series, (theme.MUTED, theme.CATEGORICAL[2], theme.CATEGORICAL[0]))
    ])
    if s.do_sample and s.top_p < 1:
        fig.add_trace(go.Scatter(name=_("cumulative (top-p {p:g} cut)", p=s.top_p), x=x, y=np.asarray(dist.cumulative, float),
                                 mode="lines+markers", line={"dash": "dot", "color": theme.MARKER},
                                 marker={"color": theme.MARKER}, customdata=hover,
                                 hovertemplate=_("%{customdata}<br>cumulative %{y:.3f}<extra></extra>")))
    if chosen is not None and chosen in dist.token_ids:
        i = dist.token_ids.index(chosen)
        top = max(float(np.max(v[i])) for _name, v in series)
        fig.add_annotation(x=i, y=top, text=_("chosen"), showarrow=True, arrowhead=2, ay=-30, arrowcolor=CHOSEN,
                           font={"color": CHOSEN})
    fig.update_layout(title=title, barmode="group", height=420,
                      xaxis={"tickmode": "array", "tickvals": x, "ticktext": ticks, "tickangle": -50},
                      yaxis={"title": _("probability"), "rangemode": "tozero"})
    return theme.apply(fig)


def step_attention_figure(att: StepAttention, layer: int, head: int | None) -> go.Figure:
    """Bars over the earlier tokens: the attention of the step's query (one head, or the mean of heads)."""
    row = layer_head(att.weights, layer, head)
    which = _("mean of heads") if head is AVERAGE_OF_HEADS else _("head {head}", head=head)
    labels = _labels(att.encoding.tokens)
    fig = go.Figure(go.Bar(x=list(range(len(row))), y=np.asarray(row, float), customdata=[_own(t) for t in labels],
                           marker_color=theme.CATEGORICAL[2], hovertemplate="%{customdata}<br>%{y:.4f}<extra></extra>"))
    fig.update_layout(title=_("Attention when generating “{token}” (layer {layer}, {which})", token=att.token, layer=layer, which=which), height=360,
                      yaxis={"title": _("attention weight"), "rangemode": "tozero"},
                      xaxis={"tickmode": "array", "tickvals": list(range(len(row))), "ticktext": labels,
                             "tickangle": -60})
    return theme.apply(fig)


def logit_lens_figure(lens: LogitLens) -> go.Figure:
    """Layers (rows, embeddings at the top) × top-k: each cell the token that layer ranks k-th, coloured by probability."""
    text = [[_own(t) for t in row] for row in lens.tokens]
    k = lens.probs.shape[1]
    fig = go.Figure(go.Heatmap(
        z=np.asarray(lens.probs, float), x=[f"#{i + 1}" for i in range(k)], y=[tr(name) for name in lens.layers], text=text,
        texttemplate="%{text}", colorscale=theme.SEQUENTIAL, zmin=0.0, colorbar={"title": _("probability")},
        hovertemplate=_("%{y}, rank %{x}: %{text}<br>p = %{z:.4f}<extra></extra>"),
    ))
    where = _("token {position} “{token}”", position=lens.position, token=lens.encoding.tokens[lens.position])
    fig.update_layout(title=_("Logit lens, read at {where}: each layer's top {k}", where=where, k=k),
                      height=max(280, 44 * len(lens.layers) + 140), yaxis={"autorange": "reversed"},
                      xaxis={"type": "category", "title": _("rank")})  # "#1" is a rank label, not the number 1
    # (the ranks sit under the cells: on top they ran into a title wrapped over two lines at phone width)
    return theme.apply(fig)


def logit_lens_trace(lens: LogitLens) -> go.Figure:
    """The final prediction's probability (bars) and rank (line, log axis) at each layer."""
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    layers = [tr(name) for name in lens.layers]
    fig.add_trace(go.Bar(name=f"p(“{lens.final_token}”)", x=layers, y=np.asarray(lens.final_probs, float),
                         marker_color=theme.CATEGORICAL[2], hovertemplate="%{x}<br>p = %{y:.4f}<extra></extra>"),
                  secondary_y=False)
    fig.add_trace(go.Scatter(name=_("its rank (1 = top)"), x=layers, y=[r + 1 for r in lens.final_ranks],
                             mode="lines+markers", line={"color": theme.CATEGORICAL[1]},
                             hovertemplate=_("%{x}<br>rank %{y}<extra></extra>")), secondary_y=True)
    fig.update_yaxes(title_text=_("probability"), rangemode="tozero", secondary_y=False)
    worst = max(10, max(lens.final_ranks) + 1)
    fig.update_yaxes(title_text=_("rank (log)"), type="log", range=[math.log10(worst) + 0.1, -0.05], dtick=1,
                     secondary_y=True)
    fig.update_layout(title=_("The final prediction “{token}”, layer by layer", token=lens.final_token), height=360)
    return theme.apply(fig)


def neuron_view_figure(nv: NeuronView, *, max_dims: int = 64) -> go.Figure:
    """bertviz's neuron view: q (top), each k, q ⊙ k, their sum q·k and the softmax, keys as rows.

    Red is positive, blue negative; a product is red where q and k agree in sign and push the score up.
    """
    d = min(nv.d_k, max_dims)
    keys = _labels(nv.encoding.tokens)
    hidden = [i for i, v in enumerate(nv.visible) if not v]
    masked = np.array(nv.visible)[:, None]
    products = np.where(masked, nv.products[:, :d], np.nan).astype(float)
    lim_v = float(max(np.max(np.abs(nv.q[:d])), np.max(np.abs(nv.keys[:, :d])))) or 1.0
    lim_p = float(np.nanmax(np.abs(products))) if np.isfinite(products).any() else 1.0
    dims = list(range(d))
    height = max(340, 26 * len(keys) + 230)
    fig = make_subplots(
        rows=2, cols=4, column_widths=[0.31, 0.31, 0.19, 0.19], row_heights=[0.1, 0.9], shared_yaxes=False,
        horizontal_spacing=0.03, vertical_spacing=48 / height,
        specs=[[{}, {}, None, None], [{}, {}, {}, {}]],
        # short symbols (the hovers say the rest): side by side over narrow columns they never overlap, down to a
        # 390 px phone; the query token is named in the title
        subplot_titles=("q", _("q (again)"), "k", "q ⊙ k", "q·k", "softmax"),
    )
    qrow = np.asarray(nv.q[:d], float)[None, :]
    vectors = theme.signed_title(_("value"))
    for col in (1, 2):
        fig.add_trace(go.Heatmap(z=qrow, x=dims, y=["q"], colorscale=theme.DIVERGING, zmid=0.0, zmin=-lim_v,
                                 zmax=lim_v, showscale=False,
                                 colorbar={"title": vectors},
                                 hovertemplate=_("q, dim %{x}: %{z:.3f}<extra></extra>")), row=1, col=col)
    fig.add_trace(go.Heatmap(z=np.asarray(nv.keys[:, :d], float), x=dims, y=keys, colorscale=theme.DIVERGING,
                             zmid=0.0, zmin=-lim_v, zmax=lim_v, showscale=False, colorbar={"title": vectors},
                             hovertemplate=_("k of %{y}, dim %{x}: %{z:.3f}<extra></extra>")), row=2, col=1)
    fig.add_trace(go.Heatmap(z=products, x=dims, y=keys, colorscale=theme.DIVERGING, zmid=0.0, zmin=-lim_p, zmax=lim_p,
                             colorbar={"title": theme.signed_title("q ⊙ k"), "len": 0.6, "y": 0.4},
                             hovertemplate=_("q·k of %{y}, dim %{x}: %{z:.3f}<extra></extra>")), row=2, col=2)
    dots = np.where(nv.visible, nv.dots, 0.0).astype(float)
    fig.add_trace(go.Bar(x=dots, y=keys, orientation="h", marker_color=[theme.sign_color(v) for v in dots],
                         customdata=np.where(nv.visible, nv.scores, np.nan).astype(float),
                         hovertemplate=_("%{y}<br>q·k = %{x:.3f}<br>× scale = %{customdata:.3f}<extra></extra>")),
                  row=2, col=3)
    fig.add_trace(go.Bar(x=np.asarray(nv.probs, float), y=keys, orientation="h", marker_color=theme.CATEGORICAL[2],
                         hovertemplate="%{y}<br>softmax %{x:.4f}<extra></extra>"), row=2, col=4)
    for col in (1, 2, 3, 4):
        fig.update_yaxes(autorange="reversed", row=2, col=col, showticklabels=col == 1)
    fig.update_yaxes(showticklabels=False, row=1, col=2)
    for col in (1, 2):
        fig.update_xaxes(showticklabels=False, row=1, col=col)
        fig.update_xaxes(title_text=_("dimension"), row=2, col=col)
    fig.update_xaxes(range=[0, 1], row=2, col=4)
    note = _(" (first {d} of {d_k} dimensions)", d=d, d_k=nv.d_k) if d < nv.d_k else ""
    hidden_note = _("; keys {first}–{last} hidden by the causal mask", first=hidden[0], last=hidden[-1]) if hidden else ""
    fig.update_layout(
        title=_("Neuron view, layer {layer}, head {head}, query {label}: scale = {scale:.4f}", layer=nv.layer,
                head=nv.head, label=f"{nv.query}:{nv.query_token}", scale=nv.scale) + note + hidden_note,
        height=height, showlegend=False,
    )
    return theme.apply(fig)


def contextual_figure(layers: Sequence[str], cosines: np.ndarray, static_cosine: float, word: str) -> go.Figure:
    """Cosine similarity of one word's vectors in two sentences: the static row, then after each layer."""
    x = [_("token-embedding row (static)"), *(tr(name) for name in layers)]
    y = [float(static_cosine), *np.asarray(cosines, float)]
    fig = go.Figure(go.Bar(x=x, y=y, marker_color=[theme.MUTED] + [theme.CATEGORICAL[2]] * len(layers),
                           hovertemplate="%{x}<br>cos = %{y:.4f}<extra></extra>", text=[f"{v:.3f}" for v in y],
                           textposition="outside"))
    fig.update_layout(title=_("“{word}” in the two sentences: cosine similarity of its vectors", word=word), height=380,
                      yaxis={"title": _("cosine similarity"), "range": [min(0.0, min(y)) - 0.05, 1.1]},
                      xaxis={"tickangle": -30})
    return theme.apply(fig)
