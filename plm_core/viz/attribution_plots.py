"""Token highlights (safe HTML) and plotly figures for attribution results.

Colours follow :mod:`plm_core.viz.theme`: red = the token raises the explained number, blue = it lowers it, the
same red and blue as every signed chart of the app. The highlights are translucent over the page and keep the
page's own text colour, so they read in the light and the dark theme (WCAG AA: at most
:data:`HIGHLIGHT_ALPHA` opacity keeps ≥ 4.5:1 against Streamlit's light and dark text).
"""

from __future__ import annotations

import html
from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go

from plm_core.attribution import METHOD_LABELS
from plm_core.attribution.types import AttributionResult
from plm_core.viz import theme

POSITIVE = theme.POSITIVE  # red: the token raises the target
NEGATIVE = theme.NEGATIVE  # blue: the token lowers it
HIGHLIGHT_ALPHA = 0.5  # strongest highlight opacity (|score| = max)
SCORE_AXIS = "score (red raises, blue lowers)"


def method_label(method: str) -> str:
    """A method's name as people say it ("Integrated Gradients", never ``integrated_gradients``)."""
    return METHOD_LABELS.get(method, method.replace("_", " "))


def score_color(value: float) -> str:
    """Highlight colour of a score in [-1, 1]: red (raises) or blue (lowers), its opacity |value|·0.5.

    Translucent over the page background, so 0 is the page itself in either theme.
    """
    v = float(np.clip(value, -1.0, 1.0))
    return theme.rgba(theme.sign_color(v), HIGHLIGHT_ALPHA * abs(v))


def token_highlight_html(result: AttributionResult, *, show_specials: bool = True) -> str:
    """The input as coloured tokens (score / max |score|), every token HTML-escaped.

    Returns a self-contained ``<div>``: safe for ``st.html`` since no user text is left unescaped. Text keeps the
    page's colour (``color: inherit``) and the background is a translucent red or blue.
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
        style = (f"background:{score_color(value)};color:inherit;padding:2px 3px;margin:1px 0;"
                 "border-radius:3px;line-height:2.1;" + ("font-size:0.85em;" if special else ""))
        title = f"{i}: {raw} = {float(result.scores[i]):.4g}"
        spans.append(f'<span class="plm-token" data-score="{value:.4f}" title="{html.escape(title, quote=True)}" '
                     f'style="{style}">{html.escape(shown)}</span>')
    label = html.escape(f"{method_label(result.method)} · {result.target_label}")
    return (f'<div class="plm-attribution" aria-label="{label}" '
            f'style="font-family:inherit;font-size:1.05rem;color:inherit;">{"".join(spans)}</div>')


def _space_before(enc, i: int) -> bool:
    """A space between tokens i-1 and i unless their characters touch in the text ("老师", "ca|fé")."""
    (pa, pb), (a, b) = enc.offsets[i - 1], enc.offsets[i]
    if enc.special[i] or enc.special[i - 1] or enc.segments[i] != enc.segments[i - 1] or a == b or pa == pb:
        return True
    return a != pb


def color_legend_html() -> str:
    """A small legend: blue lowers the target, no colour neutral, red raises it."""
    stops = "".join(f'<span style="display:inline-block;width:18px;height:12px;background:{score_color(v)}"></span>'
                    for v in np.linspace(-1, 1, 11))
    return (f'<div class="plm-legend" style="font-family:inherit;font-size:0.8rem;color:inherit;">'
            f'blue: lowers the target {stops} red: raises the target</div>')


def token_bar_chart(result: AttributionResult, title: str | None = None) -> go.Figure:
    """Bars of the per-token scores, red positive (raises) and blue negative (lowers)."""
    labels = result.encoding.labels()
    scores = result.scores.astype(float)
    fig = go.Figure(go.Bar(x=labels, y=scores, marker_color=[theme.sign_color(s) for s in scores],
                           hovertemplate="%{x}<br>score %{y:.4g}<extra></extra>"))
    fig.update_layout(title=title or method_label(result.method), height=320,
                      xaxis={"tickangle": -60}, yaxis={"title": SCORE_AXIS, "zeroline": True})
    return theme.apply(fig)


def methods_heatmap(results: Sequence[AttributionResult]) -> go.Figure:
    """Methods (rows) × tokens (columns), each row scaled by its max |score|, diverging around 0."""
    labels = results[0].encoding.labels()
    z = np.stack([r.normalized() for r in results]).astype(float)
    names = [method_label(r.method) for r in results]
    fig = go.Figure(go.Heatmap(z=z, x=labels, y=names, colorscale=theme.DIVERGING, zmid=0, zmin=-1, zmax=1,
                               colorbar={"title": {"text": theme.signed_title("score / max", "raises", "lowers")}},
                               hovertemplate="%{y}<br>%{x}<br>%{z:.3f}<extra></extra>"))
    fig.update_layout(title="All methods (each row scaled to its largest |score|)",
                      height=max(320, 140 + 32 * len(results)), xaxis={"tickangle": -60},
                      yaxis={"autorange": "reversed"})
    return theme.apply(fig)


def agreement_heatmap(names: Sequence[str], matrix: np.ndarray, title: str, *, statistic: str = "ρ") -> go.Figure:
    """Method × method rank correlation, −1 to 1; the colour bar is labelled with the statistic's own symbol
    (``"ρ"`` Spearman, ``"τ"`` Kendall). Raw method ids in ``names`` are shown as their labels."""
    names = [method_label(n) for n in names]
    text = [[("" if np.isnan(v) else f"{v:.2f}") for v in row] for row in matrix]
    fig = go.Figure(go.Heatmap(z=np.where(np.isnan(matrix), None, matrix).tolist(), x=list(names),
                               y=list(names), colorscale=theme.DIVERGING, zmin=-1, zmax=1, zmid=0,
                               text=text, texttemplate="%{text}",
                               colorbar={"title": {"text": theme.signed_title(statistic)}}))
    fig.update_layout(title=title, height=max(300, 160 + 40 * len(names)), yaxis={"autorange": "reversed"})
    return theme.apply(fig)
