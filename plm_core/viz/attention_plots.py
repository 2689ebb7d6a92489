"""Plotly figures for attention results."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go

from plm_core.types import AVERAGE_OF_HEADS, QueryKeyResult, TokenFlow
from plm_core.viz import theme
from plm_core.i18n import _

ATTENTION_SCALE = theme.SEQUENTIAL


def attention_heatmap(matrix: np.ndarray, tokens: Sequence[str], title: str, *,
                      query_tokens: Sequence[str] | None = None, signed: bool | None = None,
                      zmid: float | None = None, colorscale: str | None = None,
                      colorbar_title: str | None = None,
                      axis_titles: tuple[str, str] | None = None) -> go.Figure:
    """A [query, key] matrix as a heatmap: rows are queries (who attends), columns keys (attended to).

    Axis labels are made unique ("3:the") because plotly merges equal category names. Plotly reads a few HTML tags
    in labels (T5's and BART's ``</s>`` would vanish): the app escapes every chart once, as it draws it
    (``ui.safe.safe_figure`` in ``ui.charts.plotly_chart``).

    Args:
        signed: values with a sign (scores, differences, similarities): the app's diverging scale, symmetric
            around 0, its colour bar titled with the sign. Default: ``zmid is not None``. Otherwise the sequential
            scale (weights, probabilities).
        zmid, colorscale: kept for callers written before the theme; the scale is always the theme's.
        axis_titles: (x, y) titles for a matrix that is not attention (a similarity of positions or tokens):
            the axes and the hover then name these, never query and key.
    """
    signed = zmid is not None if signed is None else signed
    colorbar_title = _("weight") if colorbar_title is None else colorbar_title
    keys = [f"{i}:{t}" for i, t in enumerate(tokens)]
    queries = [f"{i}:{t}" for i, t in enumerate(query_tokens if query_tokens is not None else tokens)]
    z = np.where(np.isfinite(matrix), matrix, np.nan)
    if signed:
        finite = np.abs(z[np.isfinite(z)])
        lim = float(finite.max()) if finite.size and finite.max() > 0 else 1.0
        scale = {"colorscale": theme.DIVERGING, "zmid": 0.0, "zmin": -lim, "zmax": lim,
                 "colorbar": {"title": {"text": theme.signed_title(colorbar_title)}}}
    else:
        scale = {"colorscale": theme.SEQUENTIAL, "colorbar": {"title": {"text": colorbar_title}}}
    fig = go.Figure(go.Heatmap(
        z=z, x=keys, y=queries, **scale,
        hovertemplate=(_("query %{y}<br>key %{x}<br>%{z:.4f}<extra></extra>") if axis_titles is None else
                       "%{y} · %{x}<br>%{z:.4f}<extra></extra>"),
    ))
    side = max(320, min(900, 28 * len(queries) + 160))
    x_title, y_title = axis_titles or (_("key (attended to)"), _("query (attending)"))
    fig.update_layout(title=title, height=side,
                      xaxis={"title": x_title, "tickangle": -60, "side": "bottom"},
                      yaxis={"title": y_title, "autorange": "reversed"})
    return theme.apply(fig)


def query_key_figures(result: QueryKeyResult) -> dict[str, go.Figure]:
    """The steps of one head: QK^T·scale (diverging), its softmax, and the model's own attention."""
    queries = result.encoding.tokens
    keys = (result.key_encoding or result.encoding).tokens  # cross-attention: target queries, source keys
    where = _("layer {layer}, head {head}", layer=result.layer, head=result.head)
    return {
        "scores": attention_heatmap(result.scores, keys, f"QKᵀ/√d_k ({where})", query_tokens=queries, signed=True,
                                    colorbar_title=_("score")),
        "probs": attention_heatmap(result.probs, keys, f"softmax(QKᵀ/√d_k) ({where})", query_tokens=queries),
        "model": attention_heatmap(result.model_probs, keys, _("attention returned by the model ({where})", where=where),
                                   query_tokens=queries),
    }


def token_flow_figure(flow: TokenFlow, tokens: Sequence[str]) -> go.Figure:
    """Bars: attention the chosen tokens give to each key, and receive from each query."""
    labels = [f"{i}:{t}" for i, t in enumerate(tokens)]
    chosen = ", ".join(labels[p] for p in flow.positions)
    head = _("mean of heads") if flow.head is AVERAGE_OF_HEADS else _("head {head}", head=flow.head)
    fig = go.Figure([
        go.Bar(name=_("given (mean over chosen queries)"), x=labels, y=flow.given),
        go.Bar(name=_("received (sum over chosen keys)"), x=labels, y=flow.received),
    ])
    fig.update_layout(title=_("Attention of {chosen} (layer {layer}, {head})", chosen=chosen, layer=flow.layer, head=head),
                      barmode="group", height=380, xaxis={"tickangle": -60}, yaxis={"title": _("attention")})
    return theme.apply(fig)
