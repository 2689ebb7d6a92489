"""Plotly figures for attention results."""

from __future__ import annotations

import html
from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go

from plm_core.types import QueryKeyResult, TokenFlow

ATTENTION_SCALE = "Blues"


def attention_heatmap(matrix: np.ndarray, tokens: Sequence[str], title: str, *,
                      query_tokens: Sequence[str] | None = None, colorscale: str = ATTENTION_SCALE,
                      zmid: float | None = None, colorbar_title: str = "weight") -> go.Figure:
    """A [query, key] matrix as a heatmap: rows are queries (who attends), columns keys (attended to).

    Axis labels are made unique ("3:the") because plotly merges equal category names, and escaped: plotly reads
    a few HTML tags in labels, so T5's and BART's ``</s>`` would vanish (strike-through) without it.
    """
    keys = [f"{i}:{_label(t)}" for i, t in enumerate(tokens)]
    queries = [f"{i}:{_label(t)}" for i, t in enumerate(query_tokens if query_tokens is not None else tokens)]
    z = np.where(np.isfinite(matrix), matrix, np.nan)
    fig = go.Figure(go.Heatmap(
        z=z, x=keys, y=queries, colorscale=colorscale, zmid=zmid, colorbar={"title": colorbar_title},
        hovertemplate="query %{y}<br>key %{x}<br>%{z:.4f}<extra></extra>",
    ))
    side = max(320, min(900, 28 * len(queries) + 160))
    fig.update_layout(title=title, height=side, margin={"l": 10, "r": 10, "t": 50, "b": 10},
                      xaxis={"title": "key (attended to)", "tickangle": -60, "side": "bottom"},
                      yaxis={"title": "query (attending)", "autorange": "reversed"})
    return fig


def _label(token: str) -> str:
    return html.escape(token, quote=False)


def query_key_figures(result: QueryKeyResult) -> dict[str, go.Figure]:
    """The steps of one head: QK^T·scale (diverging), its softmax, and the model's own attention."""
    queries = result.encoding.tokens
    keys = (result.key_encoding or result.encoding).tokens  # cross-attention: target queries, source keys
    where = f"layer {result.layer}, head {result.head}"
    return {
        "scores": attention_heatmap(result.scores, keys, f"QKᵀ/√d_k ({where})", query_tokens=queries,
                                    colorscale="RdBu", zmid=0.0, colorbar_title="score"),
        "probs": attention_heatmap(result.probs, keys, f"softmax(QKᵀ/√d_k) ({where})", query_tokens=queries),
        "model": attention_heatmap(result.model_probs, keys, f"attention returned by the model ({where})",
                                   query_tokens=queries),
    }


def token_flow_figure(flow: TokenFlow, tokens: Sequence[str]) -> go.Figure:
    """Bars: attention the chosen tokens give to each key, and receive from each query."""
    labels = [f"{i}:{t}" for i, t in enumerate(tokens)]
    chosen = ", ".join(labels[p] for p in flow.positions)
    head = "mean of heads" if flow.head is None else f"head {flow.head}"
    fig = go.Figure([
        go.Bar(name="given (mean over chosen queries)", x=labels, y=flow.given),
        go.Bar(name="received (sum over chosen keys)", x=labels, y=flow.received),
    ])
    fig.update_layout(title=f"Attention of {chosen} (layer {flow.layer}, {head})", barmode="group",
                      height=380, margin={"l": 10, "r": 10, "t": 50, "b": 10}, xaxis={"tickangle": -60},
                      legend={"orientation": "h", "y": 1.02, "yanchor": "bottom"})
    return fig
