"""Token highlights (safe HTML) and plotly figures for attribution results."""

from __future__ import annotations

import html
from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go

from plm_core.attribution.types import AttributionResult

POSITIVE = (214, 39, 40)  # red: the token raises the target
NEGATIVE = (31, 119, 180)  # blue: the token lowers it


def score_color(value: float) -> str:
    """Diverging colour centred on 0 for a score in [-1, 1]: white at 0, red positive, blue negative."""
    v = float(np.clip(value, -1.0, 1.0))
    r, g, b = POSITIVE if v >= 0 else NEGATIVE
    a = abs(v)
    mix = tuple(int(round(255 + (c - 255) * a)) for c in (r, g, b))
    return f"rgb({mix[0]},{mix[1]},{mix[2]})"


def token_highlight_html(result: AttributionResult, *, show_specials: bool = True) -> str:
    """The input as coloured tokens (score / max |score|), every token HTML-escaped.

    Returns a self-contained ``<div>``: safe for ``st.html`` since no user text is left unescaped.
    """
    norm = result.normalized()
    enc = result.encoding
    spans = []
    for i, (tok, special) in enumerate(zip(enc.tokens, enc.special)):
        if special and not show_specials:
            continue
        raw = tok
        glue = raw.startswith("##")
        shown = raw[2:] if glue else raw.strip() or raw
        if not glue and i > 0 and _space_before(enc, i):
            spans.append(" ")
        value = float(norm[i])
        text_color = "#fff" if abs(value) > 0.6 else "#111"
        style = (f"background:{score_color(value)};color:{text_color};padding:2px 3px;margin:1px 0;"
                 "border-radius:3px;line-height:2.1;" + ("opacity:0.6;font-size:0.85em;" if special else ""))
        title = f"{i}: {raw} = {float(result.scores[i]):.4g}"
        spans.append(f'<span class="plm-token" data-score="{value:.4f}" title="{html.escape(title, quote=True)}" '
                     f'style="{style}">{html.escape(shown)}</span>')
    label = html.escape(f"{result.method} · {result.target_label}")
    return (f'<div class="plm-attribution" aria-label="{label}" '
            f'style="font-family:sans-serif;font-size:1.05rem;">{"".join(spans)}</div>')


def _space_before(enc, i: int) -> bool:
    """A space between tokens i-1 and i unless their characters touch in the text ("老师", "ca|fé")."""
    (pa, pb), (a, b) = enc.offsets[i - 1], enc.offsets[i]
    if enc.special[i] or enc.special[i - 1] or enc.segments[i] != enc.segments[i - 1] or a == b or pa == pb:
        return True
    return a != pb


def color_legend_html() -> str:
    """A small legend: blue lowers the target, white neutral, red raises it."""
    stops = "".join(f'<span style="display:inline-block;width:18px;height:12px;background:{score_color(v)}"></span>'
                    for v in np.linspace(-1, 1, 11))
    return (f'<div style="font-family:sans-serif;font-size:0.8rem;color:#555;">lowers the target {stops} '
            'raises the target</div>')


def token_bar_chart(result: AttributionResult, title: str | None = None) -> go.Figure:
    """Bars of the per-token scores, red positive and blue negative."""
    labels = result.encoding.labels()
    scores = result.scores.astype(float)
    colors = [f"rgb{POSITIVE}" if s >= 0 else f"rgb{NEGATIVE}" for s in scores]
    fig = go.Figure(go.Bar(x=labels, y=scores, marker_color=colors,
                           hovertemplate="%{x}<br>score %{y:.4g}<extra></extra>"))
    fig.update_layout(title=title or result.method, height=320, margin={"l": 10, "r": 10, "t": 40, "b": 10},
                      xaxis={"tickangle": -60}, yaxis={"title": "score", "zeroline": True})
    return fig


def methods_heatmap(results: Sequence[AttributionResult]) -> go.Figure:
    """Methods (rows) × tokens (columns), each row scaled by its max |score|, diverging around 0."""
    labels = results[0].encoding.labels()
    z = np.stack([r.normalized() for r in results]).astype(float)
    names = [r.method for r in results]
    fig = go.Figure(go.Heatmap(z=z, x=labels, y=names, colorscale="RdBu", reversescale=True, zmid=0, zmin=-1,
                               zmax=1, colorbar={"title": "score / max"},
                               hovertemplate="%{y}<br>%{x}<br>%{z:.3f}<extra></extra>"))
    fig.update_layout(title="All methods (each row scaled to its largest |score|)",
                      height=140 + 32 * len(results), margin={"l": 10, "r": 10, "t": 40, "b": 10},
                      xaxis={"tickangle": -60}, yaxis={"autorange": "reversed"})
    return fig


def agreement_heatmap(names: Sequence[str], matrix: np.ndarray, title: str) -> go.Figure:
    """Method × method rank correlation, −1 to 1."""
    text = [[("" if np.isnan(v) else f"{v:.2f}") for v in row] for row in matrix]
    fig = go.Figure(go.Heatmap(z=np.where(np.isnan(matrix), None, matrix).tolist(), x=list(names),
                               y=list(names), colorscale="RdBu", reversescale=True, zmin=-1, zmax=1, zmid=0,
                               text=text, texttemplate="%{text}", colorbar={"title": "ρ"}))
    fig.update_layout(title=title, height=120 + 40 * len(names), margin={"l": 10, "r": 10, "t": 40, "b": 10},
                      yaxis={"autorange": "reversed"})
    return fig
