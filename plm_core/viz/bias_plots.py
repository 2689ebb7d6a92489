"""Plotly figures for the bias probes: template spread, CrowS-Pairs per bias type, BEC-Pro groups, SEAT."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from plm_core.bias.bec_pro import BecProResult
from plm_core.bias.crows_pairs import CrowsPairsResult
from plm_core.bias.seat import SeatResult
from plm_core.bias.templates import TemplateResult
from plm_core.viz import theme


def template_figure(result: TemplateResult) -> go.Figure:
    """One bar group per compared slot value, one bar per target (mean over templates), error bars = std across
    templates, and a dot per template so the spread is visible."""
    table = result.summary_table()
    values = list(dict.fromkeys(r["value"] for r in table))
    fig = go.Figure()
    for target in result.template_set.targets:
        rows = {r["value"]: r for r in table if r["target"] == target}
        if not rows:
            continue
        fig.add_trace(go.Bar(
            name=target, x=values, y=[rows[v]["mean"] if v in rows else None for v in values],
            error_y={"type": "data", "array": [rows[v]["std"] if v in rows else 0 for v in values], "visible": True},
            hovertemplate=f"target {target}<br>%{{x}}: %{{y:.4g}}<extra></extra>", offsetgroup=target,
        ))
    # per-template points
    for target in result.template_set.targets:
        pts = [r for r in result.rows if r.target == target]
        if pts:
            fig.add_trace(go.Box(
                x=[r.probe_value for r in pts], y=[r.score for r in pts], name=f"{target} (each template)",
                offsetgroup=target, boxpoints="all", fillcolor="rgba(0,0,0,0)", line={"width": 0},
                marker={"size": 4, "color": theme.rgba(theme.MARKER, 0.8)}, showlegend=False, jitter=0.3, pointpos=0,
                hovertext=[r.sentence for r in pts], hoverinfo="y+text",
            ))
    slot = result.template_set.probe_slot
    fig.update_layout(title=f"{result.template_set.name}: {result.metric} by [{slot}]", barmode="group",
                      boxmode="group", height=440, legend_title_text="target",
                      xaxis_title=f"[{slot}]", yaxis_title=result.metric)
    return theme.apply(fig)


def crows_pairs_figure(result: CrowsPairsResult) -> go.Figure:
    """% of pairs where the more-stereotyping sentence scores higher, per bias type and overall (50% line)."""
    by_type = result.by_bias_type()
    names = [*by_type, "overall"]
    scores = [by_type[n]["metric"] for n in by_type] + [result.metric]
    counts = [by_type[n]["n"] for n in by_type] + [len(result.rows)]
    fig = go.Figure(go.Bar(
        x=names, y=scores, text=[f"{s:.1f}%<br>n={c}" for s, c in zip(scores, counts)], textposition="outside",
        marker_color=[theme.CATEGORICAL[2]] * len(by_type) + [theme.CATEGORICAL[1]], name="% of pairs",
        hovertemplate="%{x}: %{y:.1f}%<extra></extra>",
    ))
    # the 50% line runs under the bars and their labels, and is named in the legend instead of on the plot
    fig.add_hline(y=50, line_dash="dash", line_color=theme.MARKER, layer="below")
    fig.add_trace(go.Scatter(x=[None], y=[None], mode="lines", name="50%: no preference",
                             line={"dash": "dash", "color": theme.MARKER}, hoverinfo="skip"))
    fig.update_layout(title=f"CrowS-Pairs: % more-stereotyping sentence preferred ({result.model_id})",
                      yaxis={"range": [0, 118], "title": "% of pairs", "tickvals": [0, 25, 50, 75, 100]},
                      height=440, showlegend=True)
    return theme.apply(fig)


def bec_pro_figure(result: BecProResult) -> go.Figure:
    """Mean association (log p_target/p_prior) per person gender, grouped by the profession's gender."""
    groups: dict[tuple[str, str], list[float]] = {}
    for r in result.rows:
        groups.setdefault((r.prof_gender, r.gender), []).append(r.association)
    prof = sorted({k[0] for k in groups})
    fig = go.Figure()
    for gender in sorted({k[1] for k in groups}):
        means = [float(np.mean(groups[(p, gender)])) if (p, gender) in groups else None for p in prof]
        stds = [float(np.std(groups[(p, gender)])) if (p, gender) in groups else 0 for p in prof]
        fig.add_trace(go.Bar(name=f"{gender} person words", x=[f"{p} professions" for p in prof], y=means,
                             error_y={"type": "data", "array": stds, "visible": True}))
    fig.add_hline(y=0, line_color=theme.MARKER)
    fig.update_layout(title="BEC-Pro: mean association log(p_target / p_prior)", barmode="group", height=440,
                      yaxis_title="association", legend_title_text="")
    return theme.apply(fig)


def seat_figure(result: SeatResult) -> go.Figure:
    """s(w, A, B) of every target sentence: X against Y (the effect size is their standardised difference)."""
    fig = go.Figure()
    for role, color in (("X", theme.CATEGORICAL[0]), ("Y", theme.CATEGORICAL[1])):
        items = [i for i in result.items if i.role == role]
        if items:
            fig.add_trace(go.Box(y=[i.association for i in items], name=items[0].category, boxpoints="all",
                                 jitter=0.4, pointpos=0, marker={"color": color, "size": 5},
                                 hovertext=[i.text for i in items], hoverinfo="y+text"))
    a, b = result.categories[2], result.categories[3]
    fig.update_layout(
        title=f"SEAT {result.test}: effect size d = {result.effect_size:.3f}, p = {result.p_value:.3g}",
        yaxis_title=f"s(w) = mean cos(w, {a}) − mean cos(w, {b})", height=440, showlegend=False)
    return theme.apply(fig)
