"""Plotly figures for the lessons (vectors, head grids, masks, score bars)."""

from __future__ import annotations

import html
from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

_MARGIN = {"l": 10, "r": 10, "t": 50, "b": 10}


def _labels(tokens: Sequence[str]) -> list[str]:
    """Unique "i:token" axis labels, escaped (plotly reads a few HTML tags: T5's "</s>" would vanish)."""
    return [f"{i}:{html.escape(t, quote=False)}" for i, t in enumerate(tokens)]


def vectors_heatmap(matrix: np.ndarray, tokens: Sequence[str], title: str, *, max_dims: int = 64) -> go.Figure:
    """Rows = tokens, columns = vector dimensions (the first ``max_dims``), diverging colours."""
    m = np.asarray(matrix)[:, :max_dims]
    lim = float(np.max(np.abs(m))) or 1.0
    fig = go.Figure(go.Heatmap(z=m, y=_labels(tokens), x=list(range(m.shape[1])), colorscale="RdBu", zmid=0.0,
                               zmin=-lim, zmax=lim, hovertemplate="%{y}<br>dim %{x}<br>%{z:.3f}<extra></extra>"))
    fig.update_layout(title=title, height=max(260, min(700, 24 * m.shape[0] + 120)), margin=_MARGIN,
                      xaxis={"title": "dimension"}, yaxis={"autorange": "reversed"})
    return fig


def token_bars(values: dict[str, np.ndarray], tokens: Sequence[str], title: str, *, yaxis: str = "") -> go.Figure:
    """Grouped bars, one group per token, one colour per series."""
    labels = _labels(tokens)
    fig = go.Figure([go.Bar(name=name, x=labels, y=np.asarray(v, float)) for name, v in values.items()])
    fig.update_layout(title=title, barmode="group", height=380, margin=_MARGIN, xaxis={"tickangle": -60},
                      yaxis={"title": yaxis}, legend={"orientation": "h", "y": 1.02, "yanchor": "bottom"})
    return fig


def head_grid(probs: np.ndarray, tokens: Sequence[str], title: str, *, cols: int = 4) -> go.Figure:
    """Every head's attention ([head, query, key]) as small heat maps, shared colour scale 0…1."""
    n_heads = probs.shape[0]
    rows = (n_heads + cols - 1) // cols
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=[f"head {h}" for h in range(n_heads)],
                        horizontal_spacing=0.03, vertical_spacing=0.08 if rows > 1 else 0.1)
    labels = _labels(tokens)
    for h in range(n_heads):
        fig.add_trace(go.Heatmap(z=probs[h], x=labels, y=labels, coloraxis="coloraxis",
                                 hovertemplate=f"head {h}<br>query %{{y}}<br>key %{{x}}<br>%{{z:.3f}}<extra></extra>"),
                      row=h // cols + 1, col=h % cols + 1)
    fig.update_xaxes(showticklabels=False)
    fig.update_yaxes(showticklabels=False, autorange="reversed")
    fig.update_layout(title=title, height=60 + 190 * rows, margin=_MARGIN,
                      coloraxis={"colorscale": "Blues", "cmin": 0.0, "cmax": 1.0})
    return fig


def mask_pair(mask: np.ndarray, other: np.ndarray, tokens: Sequence[str], left: str, right: str, *,
              other_tokens: Sequence[str] | None = None) -> go.Figure:
    """Two 0/1 masks side by side (1 = the query may attend to the key); ``other_tokens``: the right mask's
    tokens when they differ (an encoder-decoder's encoder and decoder)."""
    labels = _labels(tokens)
    other_labels = _labels(other_tokens) if other_tokens is not None else labels
    fig = make_subplots(rows=1, cols=2, subplot_titles=[left, right], horizontal_spacing=0.12)
    for c, m, lab in ((1, mask, labels), (2, other, other_labels)):
        fig.add_trace(go.Heatmap(z=m, x=lab, y=lab, coloraxis="coloraxis",
                                 hovertemplate="query %{y}<br>key %{x}<br>%{z:.0f}<extra></extra>"), row=1, col=c)
    fig.update_yaxes(autorange="reversed")
    fig.update_xaxes(tickangle=-60)
    side = max(320, min(700, 26 * len(labels) + 160))
    fig.update_layout(height=side, margin=_MARGIN, coloraxis={"colorscale": [[0, "#f2f2f2"], [1, "#1f77b4"]],
                                                              "cmin": 0, "cmax": 1, "showscale": False})
    return fig


def probe_bars(scores: np.ndarray, words: Sequence[str], templates: Sequence[str], title: str, yaxis: str) -> go.Figure:
    """[template, word] association scores: bars per word, one colour per template, plus the mean."""
    scores = np.asarray(scores, float)
    fig = go.Figure([go.Bar(name=t, x=list(words), y=scores[i]) for i, t in enumerate(templates)])
    fig.add_trace(go.Scatter(name="mean of templates", x=list(words), y=scores.mean(0), mode="markers",
                             marker={"symbol": "diamond", "size": 12, "color": "black"}))
    fig.update_layout(title=title, barmode="group", height=420, margin=_MARGIN, yaxis={"title": yaxis, "zeroline": True},
                      legend={"orientation": "h", "y": -0.25})
    return fig
