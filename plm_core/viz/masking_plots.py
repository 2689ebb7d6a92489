"""Plotly figures for the masking lab and the comparison page."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go

from plm_core.masking import OcclusionResult
from plm_core.types import FillIn, PredictionComparison
from plm_core.viz import theme

BEFORE, AFTER = theme.MUTED, theme.CATEGORICAL[2]  # grey, purple: categories, not a sign
ORIGINAL = theme.CATEGORICAL[1]  # orange: the word that was there


def _height(n: int) -> int:
    return max(220, min(700, 34 * n + 110))


def comparison_bars(cmp: PredictionComparison, title: str | None = None, *, names: tuple[str, str] = ("before", "after"),
                    max_labels: int = 12) -> go.Figure:
    """Before/after values of one comparison as grouped horizontal bars (largest first)."""
    order = np.argsort(-np.maximum(cmp.original, cmp.perturbed))[:max_labels]
    labels = [repr(cmp.labels[i]) if cmp.token_labels else cmp.labels[i] for i in order]
    fig = go.Figure([
        go.Bar(y=labels, x=cmp.original[order], name=names[0], orientation="h", marker_color=BEFORE,
               hovertemplate="%{y}: %{x:.4f}<extra>" + names[0] + "</extra>"),
        go.Bar(y=labels, x=cmp.perturbed[order], name=names[1], orientation="h", marker_color=AFTER,
               hovertemplate="%{y}: %{x:.4f}<extra>" + names[1] + "</extra>"),
    ])
    axis = cmp.measure
    fig.update_layout(title=title or cmp.what, barmode="group", height=_height(2 * len(order)) + 30,
                      xaxis={"title": axis}, yaxis={"autorange": "reversed", "type": "category"})
    return theme.apply(fig)


def fill_in_bars(fill: FillIn, title: str | None = None) -> go.Figure:
    """Top-k fill-ins at one mask; the original word (if it is in the list) is highlighted."""
    dist = fill.distribution
    labels = [repr(t) for t in dist.tokens]
    original = (fill.original_token or "").strip()
    colors = [ORIGINAL if t.strip() == original else AFTER for t in dist.tokens]
    fig = go.Figure(go.Bar(y=labels, x=dist.probs, orientation="h", marker_color=colors,
                           hovertemplate="%{y}: %{x:.4f}<extra></extra>"))
    if title is None:
        title = f"Fill-ins at position {fill.position}"
        if fill.original_token is not None:
            title += f" (was {fill.original_token.strip()!r}: p={fill.original_prob:.3f}, rank {fill.original_rank})"
    fig.update_layout(title=title, height=_height(len(labels)),
                      xaxis={"title": "probability"}, yaxis={"autorange": "reversed", "type": "category"})
    return theme.apply(fig)


def occlusion_bars(result: OcclusionResult) -> go.Figure:
    """Effect of occluding each token: base value − value with the token occluded (drop > 0)."""
    tokens = result.encoding.tokens
    idx = [i for i in range(len(tokens)) if np.isfinite(result.effects[i])]
    labels = [f"{i}:{tokens[i]}" for i in idx]
    eff = result.effects[idx]
    colors = [theme.sign_color(e) for e in eff]  # red: hiding the token lowers the value (it raised it)
    fig = go.Figure(go.Bar(x=labels, y=eff, marker_color=colors, customdata=result.values[idx],
                           hovertemplate="%{x}<br>drop %{y:.4f}<br>value when occluded %{customdata:.4f}<extra></extra>"))
    fig.update_layout(title=f"Occlusion ({result.strategy.replace('_', ' ')}): drop in {result.target} "
                            f"(unoccluded {result.base_value:.3f})",
                      height=360, xaxis={"type": "category", "tickangle": -45},
                      yaxis={"title": "drop when hidden (red > 0: the token raised the value)"})
    return theme.apply(fig)


def token_pair_bars(labels: Sequence[str], a: np.ndarray, b: np.ndarray, title: str,
                    names: tuple[str, str] = ("A", "B"), axis: str = "attribution") -> go.Figure:
    """Two values per matched token (e.g. attribution on A and on B) as grouped vertical bars."""
    fig = go.Figure([go.Bar(x=list(labels), y=a, name=names[0], marker_color=BEFORE),
                     go.Bar(x=list(labels), y=b, name=names[1], marker_color=AFTER)])
    fig.update_layout(title=title, barmode="group", height=380,
                      xaxis={"type": "category", "tickangle": -45}, yaxis={"title": axis})
    return theme.apply(fig)


def distribution_bars(labels: Sequence[str], probs: np.ndarray, title: str, axis: str = "probability") -> go.Figure:
    """One list of labels with values (a model's own prediction, shown side by side with another's)."""
    fig = go.Figure(go.Bar(y=[str(x) for x in labels], x=probs, orientation="h", marker_color=AFTER,
                           hovertemplate="%{y}: %{x:.4f}<extra></extra>"))
    fig.update_layout(title=title, height=_height(len(labels)),
                      xaxis={"title": axis}, yaxis={"autorange": "reversed", "type": "category"})
    return theme.apply(fig)
