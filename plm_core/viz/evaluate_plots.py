"""Plotly figures of the Evaluate page: the confusion matrix (with each cell's bootstrap interval on hover),
per-class metrics with intervals, and the embedding map (a scatter coloured by any column, the text on hover)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go

from plm_core.i18n import _, tr
from plm_core.viz import theme


def confusion_figure(metrics, title: str | None = None) -> go.Figure:
    """Counts ``[gold, predicted]`` as a heatmap (viridis: counts cannot be negative); hover gives the count,
    its share of the gold class and the count's bootstrap interval."""
    cm = np.asarray(metrics.confusion)
    classes = [str(c) for c in metrics.classes]
    rows = cm.sum(1, keepdims=True)
    share = np.divide(cm, np.maximum(rows, 1))
    hover = [[_("gold {gold} → predicted {pred}: {n} ({share:.0%} of {gold}); interval {low:.0f}–{high:.0f}",
                gold=classes[i], pred=classes[j], n=int(cm[i, j]), share=share[i, j],
                low=metrics.confusion_low[i, j], high=metrics.confusion_high[i, j])
              for j in range(len(classes))] for i in range(len(classes))]
    fig = go.Figure(go.Heatmap(z=cm, x=classes, y=classes, colorscale=theme.SEQUENTIAL, text=cm,
                               texttemplate="%{text}", hovertext=hover, hoverinfo="text",
                               colorbar={"title": {"text": _("examples")}}))
    fig.update_layout(title=title or _("Confusion matrix ({n} examples)", n=metrics.n),
                      xaxis_title=_("predicted"), yaxis_title=_("gold label"), height=360 + 18 * len(classes))
    fig.update_yaxes(autorange="reversed", type="category")
    fig.update_xaxes(type="category")
    return theme.apply(fig)


def metrics_figure(metrics, names: dict[str, str]) -> go.Figure:
    """Precision, recall and F1 per class and macro/micro, each bar with its bootstrap interval."""
    groups = [*metrics.classes, "macro", "micro"]
    fig = go.Figure()
    for k, name in enumerate(("precision", "recall", "f1")):
        ms = [metrics.get(name, g) for g in groups]
        fig.add_bar(name=names[name], x=[_("macro") if g == "macro" else _("micro") if g == "micro" else str(g)
                                         for g in groups],
                    y=[m.value for m in ms], marker_color=theme.CATEGORICAL[k],
                    error_y={"type": "data", "symmetric": False, "array": [m.ci_high - m.value for m in ms],
                             "arrayminus": [m.value - m.ci_low for m in ms], "color": theme.MARKER},
                    hovertext=[f"{names[name]} {m.value:.3f} [{m.ci_low:.3f}, {m.ci_high:.3f}], n = {m.support}"
                               for m in ms], hoverinfo="text")
    fig.update_layout(barmode="group", title=_("Precision, recall and F1 with {confidence:.0%} intervals",
                                               confidence=0.95), yaxis_range=[0, 1.05], height=380)
    return theme.apply(fig)


def embedding_figure(coords: np.ndarray, colors: Sequence[str], hover: Sequence[str], title: str,
                     color_title: str, highlight: int | None = None) -> go.Figure:
    """A 2-D map: one trace per colour value (legend), the text on hover, the chosen point ringed.

    Args:
        coords: float ``[point, 2]``.
        colors: the colour value (a label, a prediction, …) of each point.
        hover: each point's hover text (user text: the page escapes it).
    """
    fig = go.Figure()
    values = list(dict.fromkeys(colors))
    colors_arr = np.asarray(colors, dtype=object)
    for k, v in enumerate(values):
        idx = np.flatnonzero(colors_arr == v)
        fig.add_scatter(x=coords[idx, 0], y=coords[idx, 1], mode="markers", name=str(v),
                        marker={"color": theme.CATEGORICAL[k % len(theme.CATEGORICAL)], "size": 8},
                        hovertext=[hover[i] for i in idx], hoverinfo="text", customdata=idx)
    if highlight is not None:
        fig.add_scatter(x=[coords[highlight, 0]], y=[coords[highlight, 1]], mode="markers", name=_("chosen"),
                        marker={"size": 16, "color": "rgba(0,0,0,0)", "line": {"width": 2, "color": theme.MARKER}},
                        hovertext=[hover[highlight]], hoverinfo="text")
    fig.update_layout(title=title, legend_title_text=tr(color_title), height=480,
                      xaxis_title=_("component 1"), yaxis_title=_("component 2"))
    return theme.apply(fig)
