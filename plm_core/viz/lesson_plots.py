"""Plotly figures for the lessons (vectors, head grids, masks, score bars)."""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from plm_core.viz import theme
from plm_core.i18n import _


def _labels(tokens: Sequence[str]) -> list[str]:
    """Unique "i:token" axis labels (escaped once as the app draws the chart: ui.safe.safe_figure)."""
    return [f"{i}:{t}" for i, t in enumerate(tokens)]


def template_label(template: str) -> str:
    """A probe template as a reader sees it: ``this is {a} {x}.`` → ``this is a/an ___.``

    The placeholders of plm_core.lessons (``{x}``, ``{a}``, ``{mask}``) and of plm_core.bias (``[JOB]``,
    ``[MASK]``) become a blank (the word being probed), "a/an" and [MASK].
    """
    text = template.replace("{a} {x}", "a/an ___").replace("{x}", "___").replace("{mask}", "[MASK]")
    text = text.replace("{a}", "a/an")
    return re.sub(r"\[(?!MASK\])[A-Z_]+\]", "___", text)


def vectors_heatmap(matrix: np.ndarray, tokens: Sequence[str], title: str, *, max_dims: int = 64) -> go.Figure:
    """Rows = tokens, columns = vector dimensions (the first ``max_dims``, named in the title when the vectors
    have more), the app's diverging colours."""
    full = np.asarray(matrix)
    m = full[:, :max_dims]
    if m.shape[1] < full.shape[1]:  # never a part shown as the whole: the title says which dimensions
        title = _("{title} — dimensions 0–{last} of {total}", title=title, last=m.shape[1] - 1, total=full.shape[1])
    lim = float(np.max(np.abs(m))) or 1.0
    fig = go.Figure(go.Heatmap(z=m, y=_labels(tokens), x=list(range(m.shape[1])), colorscale=theme.DIVERGING,
                               zmid=0.0, zmin=-lim, zmax=lim, colorbar={"title": {"text": theme.signed_title(_("value"))}},
                               hovertemplate=_("%{y}<br>dim %{x}<br>%{z:.3f}<extra></extra>")))
    fig.update_layout(title=title, height=max(280, min(700, 24 * m.shape[0] + 140)),
                      xaxis={"title": _("dimension")}, yaxis={"autorange": "reversed"})
    return theme.apply(fig)


def token_bars(values: dict[str, np.ndarray], tokens: Sequence[str], title: str, *, yaxis: str = "") -> go.Figure:
    """Grouped bars, one group per token, one colour per series."""
    labels = _labels(tokens)
    fig = go.Figure([go.Bar(name=name, x=labels, y=np.asarray(v, float)) for name, v in values.items()])
    fig.update_layout(title=title, barmode="group", height=400, xaxis={"tickangle": -60},
                      yaxis={"title": yaxis})
    return theme.apply(fig)


def head_grid(probs: np.ndarray, tokens: Sequence[str], title: str, *, cols: int = 4) -> go.Figure:
    """Every head's attention ([head, query, key]) as small heat maps, shared colour scale 0…1."""
    n_heads = probs.shape[0]
    rows = (n_heads + cols - 1) // cols
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=[_("head {head}", head=h) for h in range(n_heads)],
                        horizontal_spacing=0.03, vertical_spacing=0.12 if rows > 1 else 0.1)
    labels = _labels(tokens)
    for h in range(n_heads):
        fig.add_trace(go.Heatmap(z=probs[h], x=labels, y=labels, coloraxis="coloraxis",
                                 hovertemplate=_("head {head}<br>query %{{y}}<br>key %{{x}}<br>%{{z:.3f}}<extra></extra>", head=h)),
                      row=h // cols + 1, col=h % cols + 1)
    fig.update_xaxes(showticklabels=False)
    fig.update_yaxes(showticklabels=False, autorange="reversed")
    fig.update_layout(title=title, height=80 + 200 * rows,
                      coloraxis={"colorscale": theme.SEQUENTIAL, "cmin": 0.0, "cmax": 1.0,
                                 "colorbar": {"title": {"text": _("weight")}}})
    return theme.apply(fig)


def mask_pair(mask: np.ndarray, other: np.ndarray, tokens: Sequence[str], left: str, right: str, *,
              other_tokens: Sequence[str] | None = None) -> go.Figure:
    """Two 0/1 masks side by side (1 = the query may attend to the key); ``other_tokens``: the right mask's
    tokens when they differ (an encoder-decoder's encoder and decoder)."""
    labels = _labels(tokens)
    other_labels = _labels(other_tokens) if other_tokens is not None else labels
    # each title over half the width: broken into lines, so two never run into each other down to a 390 px phone
    fig = make_subplots(rows=1, cols=2, subplot_titles=[theme.wrap(left, 16), theme.wrap(right, 16)],
                        horizontal_spacing=0.12)
    for c, m, lab in ((1, mask, labels), (2, other, other_labels)):
        fig.add_trace(go.Heatmap(z=m, x=lab, y=lab, coloraxis="coloraxis",
                                 hovertemplate=_("query %{y}<br>key %{x}<br>%{z:.0f}<extra></extra>")), row=1, col=c)
    fig.update_yaxes(autorange="reversed")
    fig.update_xaxes(tickangle=-60)
    side = max(340, min(720, 26 * len(labels) + 180))
    seen, hidden = theme.CATEGORICAL[0], theme.MUTED  # categories (may attend / masked), not a sign
    fig.update_layout(height=side, coloraxis={"colorscale": [[0, hidden], [1, seen]], "cmin": 0, "cmax": 1,
                                              "showscale": False})
    return theme.apply(fig)


def probe_bars(scores: np.ndarray, words: Sequence[str], templates: Sequence[str], title: str, yaxis: str) -> go.Figure:
    """[template, word] association scores: bars per word, one colour per template, plus the mean.

    Templates are named as a reader sees them (:func:`template_label`), never with raw placeholders.
    """
    scores = np.asarray(scores, float)
    fig = go.Figure([go.Bar(name=template_label(t), x=list(words), y=scores[i]) for i, t in enumerate(templates)])
    fig.add_trace(go.Scatter(name=_("mean of templates"), x=list(words), y=scores.mean(0), mode="markers",
                             marker={"symbol": "diamond", "size": 12, "color": theme.MARKER,
                                     "line": {"width": 1.5, "color": "#ffffff"}}))
    fig.update_layout(title=title, barmode="group", height=440, yaxis={"title": yaxis, "zeroline": True})
    return theme.apply(fig)
