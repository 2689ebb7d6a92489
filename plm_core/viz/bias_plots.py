"""Plotly figures for the bias probes: template spread, CrowS-Pairs per group, BEC-Pro groups, SEAT, and the
side-by-side comparison of several models. Every bar carries its confidence interval as an error bar."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go

from plm_core.bias.bec_pro import BecProResult
from plm_core.bias.crows_pairs import CrowsPairsResult
from plm_core.bias.seat import SeatResult
from plm_core.bias.stats import Estimate
from plm_core.bias.templates import TemplateResult
from plm_core.viz import theme
from plm_core.i18n import _, tr

# One distinct hue per series (target word, model, gender). Not a palette of light/dark pairs: a legend of
# paired shades reads as pairs of series ("career" and "salary" one blue pair, "office" and "family" one red
# pair) that do not exist.
SERIES_COLORS = theme.CATEGORICAL
ERROR_COLOR = theme.MARKER  # error bars and reference lines: readable on light and dark backgrounds


def series_color(k: int) -> str:
    return SERIES_COLORS[k % len(SERIES_COLORS)]


def _error(estimates: Sequence[Estimate | None]) -> dict:
    """Asymmetric error bars from the intervals (none where an estimate has no interval)."""
    plus, minus = [], []
    for e in estimates:
        ok = e is not None and np.isfinite(e.ci_low) and np.isfinite(e.ci_high) and np.isfinite(e.estimate)
        plus.append(float(e.ci_high - e.estimate) if ok else 0.0)
        minus.append(float(e.estimate - e.ci_low) if ok else 0.0)
    return {"type": "data", "symmetric": False, "array": plus, "arrayminus": minus, "visible": True,
            "color": ERROR_COLOR, "thickness": 1.5, "width": 4}


def _hover(e: Estimate | None, digits: int, suffix: str) -> str:
    if e is None:
        return ""
    ci = ("<br>" + _("{confidence:.0%} CI [{low}, {high}]{suffix} ({interval})", confidence=e.confidence,
                     low=f"{e.ci_low:.{digits}f}", high=f"{e.ci_high:.{digits}f}", suffix=suffix, interval=tr(e.interval))
          if np.isfinite(e.ci_low) else "<br>" + _("no interval (n < 2)"))
    p = f"<br>p = {e.p_value:.3g}" if np.isfinite(e.p_value) else ""
    if e.p_bound:
        p = f"<br>p < {e.p_value:.3g}"
    return f"n = {e.n} {tr(e.unit)}{ci}{p}"


def _reference_line(fig: go.Figure, y: float, label: str) -> None:
    """A dashed reference line under the bars, named in the legend (a label on the plot would hide bar labels)."""
    fig.add_hline(y=y, line_dash="dash", line_color=ERROR_COLOR, layer="below")
    if label:
        fig.add_trace(go.Scatter(x=[None], y=[None], mode="lines", name=label, hoverinfo="skip",
                                 line={"dash": "dash", "color": ERROR_COLOR}))


def estimates_figure(series: Mapping[str, Sequence[Estimate]], *, title: str, y_title: str, digits: int = 3,
                     suffix: str = "", reference: float | None = None, reference_label: str = "",
                     y_range: tuple[float, float] | None = None) -> go.Figure:
    """Grouped bars: one bar group per estimate group (x), one bar per series (a model, a gender, ...), each
    with its confidence interval as an asymmetric error bar; ``reference`` draws a dashed line (e.g. 50%)."""
    groups = list(dict.fromkeys(e.group for estimates in series.values() for e in estimates))
    fig = go.Figure()
    for k, (name, estimates) in enumerate(series.items()):
        by_group = {e.group: e for e in estimates}
        chosen = [by_group.get(g) for g in groups]
        fig.add_trace(go.Bar(
            name=name, x=groups, y=[e.estimate if e is not None else None for e in chosen],
            error_y=_error(chosen), marker_color=series_color(k),
            customdata=[_hover(e, digits, suffix) for e in chosen],
            # the series name through plotly's fullData (the trace name, escaped with the rest by ui.safe.safe_figure):
            # never user text (a model id, a group) inside the template itself
            hovertemplate=f"%{{fullData.name}}<br>%{{x}}: %{{y:.{digits}f}}{suffix}<br>%{{customdata}}<extra></extra>",
        ))
    if reference is not None:
        _reference_line(fig, reference, reference_label)
    fig.update_layout(title=title, barmode="group", height=460, yaxis_title=y_title,
                      legend_title_text="", showlegend=True)
    if y_range is not None:
        fig.update_yaxes(range=list(y_range))
    return theme.apply(fig)


def template_figure(result: TemplateResult) -> go.Figure:
    """One bar group per compared slot value, one bar per target (mean over templates of each template's mean),
    error bars = the t interval across templates, and a dot per sentence so the spread is visible."""
    table = result.summary_table()
    values = list(dict.fromkeys(r["value"] for r in table))
    targets = list(dict.fromkeys([*result.template_set.targets, *(r["target"] for r in table)]))
    fig = go.Figure()
    for k, target in enumerate(targets):
        rows = {r["value"]: r for r in table if r["target"] == target}
        if not rows:
            continue
        est = [Estimate("value", v, rows[v]["n_units"], rows[v]["mean"], rows[v]["ci_low"], rows[v]["ci_high"],
                        interval=result.interval, unit=rows[v]["unit"]) if v in rows else None
               for v in values]
        fig.add_trace(go.Bar(
            name=target, x=values, y=[e.estimate if e is not None else None for e in est], error_y=_error(est),
            marker_color=series_color(k), customdata=[_hover(e, 4, "") for e in est],
            # the target through plotly's fullData (the trace name, escaped by ui.safe.safe_figure), never in the template
            hovertemplate=_("target {target}<br>%{{x}}: %{{y:.4g}}<br>%{{customdata}}<extra></extra>",
                            target="%{fullData.name}"),
            offsetgroup=target, legendgroup=target,
        ))
    # one dot per sentence, in the colour of its target (never a second legend entry)
    for k, target in enumerate(targets):
        pts = [r for r in result.rows if r.target_label == target]
        if pts:
            fig.add_trace(go.Box(
                x=[r.probe_value for r in pts], y=[r.score for r in pts], name=_("{target} (each sentence)", target=target),
                offsetgroup=target, legendgroup=target, boxpoints="all", fillcolor="rgba(0,0,0,0)",
                line={"width": 0}, marker={"size": 4, "color": series_color(k), "opacity": 0.55,
                                           "line": {"width": 0.5, "color": ERROR_COLOR}},
                showlegend=False, jitter=0.3, pointpos=0, hovertext=[r.sentence for r in pts], hoverinfo="y+text",
            ))
    slot = result.template_set.probe_slot
    fig.update_layout(title=_("{name}: {metric} by [{slot}]", name=tr(result.template_set.name),
                              metric=tr(result.metric), slot=slot), barmode="group",
                      boxmode="group", height=420, legend_title_text=_("target"),
                      xaxis_title=f"[{slot}]", yaxis_title=tr(result.metric))
    return theme.apply(fig)


def crows_pairs_figure(result: CrowsPairsResult, column: str = "bias_type") -> go.Figure:
    """% of pairs where the more-stereotyping sentence scores higher, per value of ``column`` and overall, with
    Wilson intervals (50% line: no preference)."""
    estimates = result.estimates(column)
    overall, groups = estimates[0], estimates[1:]
    ordered = [*groups, Estimate(overall.group_by, _("overall"), overall.n, overall.estimate, overall.ci_low,
                                 overall.ci_high, overall.confidence, overall.interval, overall.p_value,
                                 overall.test, overall.unit)]
    fig = go.Figure(go.Bar(
        x=[e.group for e in ordered], y=[e.estimate for e in ordered], error_y=_error(ordered),
        text=[f"n={e.n}" for e in ordered], textposition="inside", insidetextanchor="start",
        marker_color=[series_color(0)] * len(groups) + [series_color(1)],
        customdata=[_hover(e, 1, "%") for e in ordered],
        hovertemplate="%{x}: %{y:.1f}%<br>%{customdata}<extra></extra>",
    ))
    _reference_line(fig, 50, _("50%: no preference"))
    fig.update_layout(title=_("CrowS-Pairs: % more-stereotyping sentence preferred, 95% Wilson CI ({model})",
                              model=result.model_id),
                      yaxis={"range": [0, 100], "title": _("% of pairs")}, xaxis_title=tr(column), height=420,
                      showlegend=True)
    return theme.apply(fig)


def bec_pro_figure(result: BecProResult) -> go.Figure:
    """Mean association (log p_target/p_prior) per person gender, grouped by the profession's gender, with t
    intervals."""
    from plm_core.bias import stats

    series: dict[str, list[Estimate]] = {}
    for gender, rows in stats.grouped(result.counted, lambda r: r.gender).items():
        series[_("{gender} person words", gender=tr(gender))] = [
            stats.mean_estimate("Prof_Gender", _("{group} professions", group=tr(p)), [r.association for r in sub])
            for p, sub in stats.grouped(rows, lambda r: r.prof_gender).items()]
    fig = estimates_figure(series, title=_("BEC-Pro: mean association log(p_target / p_prior), 95% t interval"),
                           y_title=_("association"), digits=3)
    fig.add_hline(y=0, line_color=ERROR_COLOR)
    return theme.apply(fig)


def seat_figure(result: SeatResult) -> go.Figure:
    """s(w, A, B) of every target sentence: X against Y (the effect size is their standardised difference)."""
    fig = go.Figure()
    for k, role in enumerate(("X", "Y")):
        items = [i for i in result.items if i.role == role]
        if items:
            fig.add_trace(go.Box(y=[i.association for i in items], name=items[0].category, boxpoints="all",
                                 jitter=0.4, pointpos=0, marker={"color": series_color(k), "size": 5},
                                 hovertext=[i.text for i in items], hoverinfo="y+text"))
    a, b = result.categories[2], result.categories[3]
    low, high = result.effect_size_ci
    ci = f" [{low:.2f}, {high:.2f}]" if np.isfinite(low) and np.isfinite(high) else ""
    fig.update_layout(
        title=_("SEAT {test}: effect size d = {d:.3f}{ci}, {p}", test=result.test, d=result.effect_size, ci=ci,
                p=result.p_text),
        yaxis_title=f"s(w) = mean cos(w, {a}) − mean cos(w, {b})", height=420, showlegend=False)
    return theme.apply(fig)
