"""Plotly figures for generation step by step, the logit lens, the neuron view and static/contextual embeddings.

Token strings come from user text and the model's vocabulary: they are HTML-escaped before plotly sees them
(plotly renders a subset of HTML in labels, text and hover boxes).
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from plm_core.generation import StepAttention, StepDistribution
from plm_core.logit_lens import LogitLens
from plm_core.neuron_view import NeuronView

_MARGIN = {"l": 10, "r": 10, "t": 60, "b": 10}
POSITIVE = "rgb(214,39,40)"  # red: raises the score (as on the attribution page)
NEGATIVE = "rgb(31,119,180)"  # blue: lowers it
DIVERGING = "RdBu"  # with reversescale: red positive, blue negative


def plain(text: str) -> str:
    """A token as literal text for plotly (no markup); spaces at the edges shown as ␣."""
    stripped = text.strip(" ")
    lead, trail = len(text) - len(text.lstrip(" ")), len(text) - len(text.rstrip(" "))
    shown = "␣" * lead + stripped + "␣" * trail if stripped else "␣" * len(text)
    return html.escape(shown or "∅", quote=False)


def _labels(tokens: Sequence[str]) -> list[str]:
    return [f"{i}:{plain(t)}" for i, t in enumerate(tokens)]


def distribution_figure(dist: StepDistribution, title: str, *, chosen: int | None = None) -> go.Figure:
    """Bars per candidate: the model's probability, after the temperature, and after top-k/top-p (drawn from).

    ``chosen``: vocabulary id of the token that was picked (marked when it is among the candidates).
    """
    x = list(range(len(dist.token_ids)))
    ticks = [plain(t) for t in dist.tokens]
    s = dist.settings
    series = [("model (T = 1)", dist.probs)]
    if s.do_sample:
        if s.temperature != 1.0:
            series.append((f"after temperature {s.temperature:g}", dist.probs_temperature))
        if s.top_k or s.top_p < 1:
            cut = " and ".join(([f"top-k {s.top_k}"] if s.top_k else []) + ([f"top-p {s.top_p:g}"] if s.top_p < 1 else []))
            series.append((f"after {cut} (drawn from)", dist.probs_final))
    else:
        series.append(("greedy: the most likely token", dist.probs_final))
    fig = go.Figure([
        go.Bar(name=name, x=x, y=np.asarray(v, float), customdata=ticks,
               hovertemplate="%{customdata}<br>%{y:.4f}<extra>" + html.escape(name) + "</extra>")
        for name, v in series
    ])
    if s.do_sample and s.top_p < 1:
        fig.add_trace(go.Scatter(name=f"cumulative (top-p {s.top_p:g} cut)", x=x, y=np.asarray(dist.cumulative, float),
                                 mode="lines+markers", line={"dash": "dot"}, customdata=ticks,
                                 hovertemplate="%{customdata}<br>cumulative %{y:.3f}<extra></extra>"))
    if chosen is not None and chosen in dist.token_ids:
        i = dist.token_ids.index(chosen)
        top = max(float(np.max(v[i])) for _, v in series)
        fig.add_annotation(x=i, y=top, text="chosen", showarrow=True, arrowhead=2, ay=-30)
    fig.update_layout(title=title, barmode="group", height=400, margin=_MARGIN,
                      xaxis={"tickmode": "array", "tickvals": x, "ticktext": ticks, "tickangle": -50},
                      yaxis={"title": "probability", "rangemode": "tozero"},
                      legend={"orientation": "h", "y": 1.02, "yanchor": "bottom"})
    return fig


def step_attention_figure(att: StepAttention, layer: int, head: int | None) -> go.Figure:
    """Bars over the earlier tokens: the attention of the step's query (one head, or the mean of heads)."""
    row = att.weights[layer].mean(0) if head is None else att.weights[layer, head]
    which = "mean of heads" if head is None else f"head {head}"
    fig = go.Figure(go.Bar(x=list(range(len(row))), y=np.asarray(row, float), customdata=_labels(att.encoding.tokens),
                           hovertemplate="%{customdata}<br>%{y:.4f}<extra></extra>"))
    fig.update_layout(title=f"Attention when generating “{plain(att.token)}” (layer {layer}, {which})", height=360,
                      margin=_MARGIN, yaxis={"title": "attention weight", "rangemode": "tozero"},
                      xaxis={"tickmode": "array", "tickvals": list(range(len(row))),
                             "ticktext": _labels(att.encoding.tokens), "tickangle": -60})
    return fig


def logit_lens_figure(lens: LogitLens) -> go.Figure:
    """Layers (rows, embeddings at the top) × top-k: each cell the token that layer ranks k-th, coloured by probability."""
    text = [[plain(t) for t in row] for row in lens.tokens]
    k = lens.probs.shape[1]
    fig = go.Figure(go.Heatmap(
        z=np.asarray(lens.probs, float), x=[f"#{i + 1}" for i in range(k)], y=list(lens.layers), text=text,
        texttemplate="%{text}", colorscale="Blues", zmin=0.0, colorbar={"title": "probability"},
        hovertemplate="%{y}, rank %{x}: %{text}<br>p = %{z:.4f}<extra></extra>",
    ))
    where = f"token {lens.position} “{plain(lens.encoding.tokens[lens.position])}”"
    fig.update_layout(title=f"Logit lens, read at {where}: each layer's top {k}", height=max(260, 44 * len(lens.layers) + 120),
                      margin=_MARGIN, yaxis={"autorange": "reversed"}, xaxis={"side": "top"})
    return fig


def logit_lens_trace(lens: LogitLens) -> go.Figure:
    """The final prediction's probability (bars) and rank (line, log axis) at each layer."""
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    layers = list(lens.layers)
    fig.add_trace(go.Bar(name=f"p(“{plain(lens.final_token)}”)", x=layers, y=np.asarray(lens.final_probs, float),
                         hovertemplate="%{x}<br>p = %{y:.4f}<extra></extra>"), secondary_y=False)
    fig.add_trace(go.Scatter(name="its rank (1 = top)", x=layers, y=[r + 1 for r in lens.final_ranks],
                             mode="lines+markers", hovertemplate="%{x}<br>rank %{y}<extra></extra>"), secondary_y=True)
    fig.update_yaxes(title_text="probability", rangemode="tozero", secondary_y=False)
    worst = max(10, max(lens.final_ranks) + 1)
    fig.update_yaxes(title_text="rank (log)", type="log", range=[math.log10(worst) + 0.1, -0.05], dtick=1,
                     secondary_y=True)
    fig.update_layout(title=f"The final prediction “{plain(lens.final_token)}”, layer by layer", height=340,
                      margin=_MARGIN, legend={"orientation": "h", "y": 1.02, "yanchor": "bottom", "x": 0.5})
    return fig


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
        rows=2, cols=4, column_widths=[0.34, 0.34, 0.16, 0.16], row_heights=[0.1, 0.9], shared_yaxes=False,
        horizontal_spacing=0.03, vertical_spacing=48 / height,
        specs=[[{}, {}, None, None], [{}, {}, {}, {}]],
        subplot_titles=(f"q: query {nv.query}:{plain(nv.encoding.tokens[nv.query])}", "q (again, to compare)",
                        "k: each key", "q ⊙ k (element-wise)", "q·k (sum)", "softmax"),
    )
    qrow = np.asarray(nv.q[:d], float)[None, :]
    for col in (1, 2):
        fig.add_trace(go.Heatmap(z=qrow, x=dims, y=["q"], coloraxis="coloraxis",
                                 hovertemplate="q, dim %{x}: %{z:.3f}<extra></extra>"), row=1, col=col)
    fig.add_trace(go.Heatmap(z=np.asarray(nv.keys[:, :d], float), x=dims, y=keys, coloraxis="coloraxis",
                             hovertemplate="k of %{y}, dim %{x}: %{z:.3f}<extra></extra>"), row=2, col=1)
    fig.add_trace(go.Heatmap(z=products, x=dims, y=keys, coloraxis="coloraxis2",
                             hovertemplate="q·k of %{y}, dim %{x}: %{z:.3f}<extra></extra>"), row=2, col=2)
    dots = np.where(nv.visible, nv.dots, 0.0).astype(float)
    fig.add_trace(go.Bar(x=dots, y=keys, orientation="h", marker_color=[POSITIVE if v >= 0 else NEGATIVE for v in dots],
                         customdata=np.where(nv.visible, nv.scores, np.nan).astype(float),
                         hovertemplate="%{y}<br>q·k = %{x:.3f}<br>× scale = %{customdata:.3f}<extra></extra>"),
                  row=2, col=3)
    fig.add_trace(go.Bar(x=np.asarray(nv.probs, float), y=keys, orientation="h", marker_color="rgb(99,110,250)",
                         hovertemplate="%{y}<br>softmax %{x:.4f}<extra></extra>"), row=2, col=4)
    for col in (1, 2, 3, 4):
        fig.update_yaxes(autorange="reversed", row=2, col=col, showticklabels=col == 1)
    fig.update_yaxes(showticklabels=False, row=1, col=2)
    for col in (1, 2):
        fig.update_xaxes(showticklabels=False, row=1, col=col)
        fig.update_xaxes(title_text="dimension", row=2, col=col)
    fig.update_xaxes(title_text="q·k (before × scale)", row=2, col=3)
    fig.update_xaxes(range=[0, 1], row=2, col=4)
    note = f" (first {d} of {nv.d_k} dimensions)" if d < nv.d_k else ""
    hidden_note = f"; keys {hidden[0]}–{hidden[-1]} hidden by the causal mask" if hidden else ""
    fig.update_layout(
        title=f"Neuron view, layer {nv.layer}, head {nv.head}: scale = {nv.scale:.4f}{note}{hidden_note}",
        height=height, margin=_MARGIN, showlegend=False,
        coloraxis={"colorscale": DIVERGING, "reversescale": True, "cmin": -lim_v, "cmax": lim_v, "showscale": False},
        coloraxis2={"colorscale": DIVERGING, "reversescale": True, "cmin": -lim_p, "cmax": lim_p,
                    "colorbar": {"title": "q ⊙ k", "len": 0.6, "y": 0.4}},
    )
    return fig


def contextual_figure(layers: Sequence[str], cosines: np.ndarray, static_cosine: float, word: str) -> go.Figure:
    """Cosine similarity of one word's vectors in two sentences: the static row, then after each layer."""
    x = ["token-embedding row (static)", *layers]
    y = [float(static_cosine), *np.asarray(cosines, float)]
    fig = go.Figure(go.Bar(x=x, y=y, marker_color=["rgb(150,150,150)"] + ["rgb(99,110,250)"] * len(layers),
                           hovertemplate="%{x}<br>cos = %{y:.4f}<extra></extra>", text=[f"{v:.3f}" for v in y],
                           textposition="outside"))
    fig.update_layout(title=f"“{plain(word)}” in the two sentences: cosine similarity of its vectors", height=380,
                      margin=_MARGIN, yaxis={"title": "cosine similarity", "range": [min(0.0, min(y)) - 0.05, 1.1]},
                      xaxis={"tickangle": -30})
    return fig
