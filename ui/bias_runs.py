"""Bias page: the stored runs list (configuration, status, resume, delete) and the comparison of one probe on
several models (same items), as a table and a chart with intervals, exportable as one CSV."""

from __future__ import annotations

import itertools
import time
from typing import Any

import numpy as np
import streamlit as st

from plm_core.bias import jobs, paired, stats
from plm_core.bias.common import provenance, table_to_csv
from plm_core.bias.probes import PROBE_SPECS
from plm_core.bias.store import RunInfo
from plm_core.viz.bias_plots import estimates_figure
from ui import bias as ui_bias
from ui import charts
from plm_core.i18n import N_, _, tr
from ui.safe import md



STATUS = {"running": N_("running"), "queued": N_("queued"), "stopped": N_("stopped"), "error": N_("error"),
          "complete": N_("complete"), "done": N_("done")}


def describe_run(info: RunInfo) -> str:
    """``#3 crows_pairs · bert-base-uncased · 120/1,508 (stopped) · sample`` in the viewer's language."""
    return (f"#{info.run_id} {info.probe} · {info.model_id} · {info.n_done:,}/{info.n_items:,} "
            f"({_(STATUS.get(info.status, info.status))}) · {ui_bias.sample_caption(info.config)}").rstrip(" ·")


def _when(t: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(t))


def _what(info: RunInfo) -> str:
    c = info.config
    return str(c.get("sample") or c.get("test") or c.get("set") or "")


def runs_table(runs: list[RunInfo], key: str) -> None:
    st.dataframe([{_("run"): r.run_id, _("model"): r.model_id, _("revision"): r.revision or "",
                   _("status"): _(STATUS.get(r.status, r.status)), _("scored"): r.n_done, _("items"): r.n_items,
                   _("data"): tr(r.data_source), _("sample / test / set"): tr(_what(r)),
                   _("data sha256"): r.data_sha256[:12], _("started"): _when(r.created)} for r in runs],
                 hide_index=True, key=key)


def runs_view(probe: str) -> None:
    """Every stored run of ``probe``: open one, resume it, delete it."""
    store = ui_bias.run_store()
    runs = store.runs(probe)
    st.caption(_("Runs are kept in {path} (set PLM_BIAS_STORE to move it); they survive reloads and server "
                 "restarts, and an unfinished run resumes from its last stored chunk.", path=md(store.path)))
    if not runs:
        st.info(_("No stored {probe} runs yet: start one under New run.", probe=md(tr(jobs.NAMES[probe]))))
        return
    runs_table(runs, "bias.runs.table")
    by_id = {r.run_id: r for r in runs}
    if st.session_state.get("bias.runs.pick") not in by_id:
        st.session_state.pop("bias.runs.pick", None)
    run_id = st.selectbox(_("Open run"), list(by_id), format_func=lambda i: describe_run(by_id[i]), key="bias.runs.pick",
                          persist_state="session")  # a run's label changes while it is scored: not for links
    info = by_id[run_id]
    active = ui_bias.is_active(info)  # scored now by a worker (any session's) or the command line: watched, not rerun
    st.text(describe_run(info))  # the run the box names is the run shown below
    ui_bias.watch_run(info)
    c1, c2, _rest = st.columns([1, 1, 4])
    if not info.complete and not active and c1.button(_("Resume"), key="bias.runs.resume", type="primary"):
        ui_bias.resume_run(run_id)
        st.rerun()
    if not active and c2.button(_("Delete"), key="bias.runs.delete"):
        store.delete_run(run_id)
        st.rerun()
    with st.expander(_("Configuration")):
        st.json(info.config, expanded=False)
    ui_bias.show_run(run_id)


def _label(info: RunInfo, same_model: bool) -> str:
    label = f"{info.model_id} (#{info.run_id})" if same_model else info.model_id
    return label if info.complete else f"{label}, {info.n_done}/{info.n_items}"


def compare_view(probe: str, current: int | None = None) -> None:
    """The same probe on the same items, several models side by side."""
    store = ui_bias.run_store()
    runs = [r for r in store.runs(probe) if r.n_done > 0]
    if not runs:
        st.info(_("No scored {probe} runs yet. Start one under New run, listing other models in "
                  "'Also run on these models': each is stored, then compared here.", probe=md(tr(jobs.NAMES[probe]))))
        return
    groups: dict[str, list[RunInfo]] = {}
    for r in runs:
        groups.setdefault(r.items_sha256, []).append(r)
    keys = list(groups)
    if current is not None:
        cur = next((r.items_sha256 for r in runs if r.run_id == current), None)
        if cur in keys and st.session_state.get("bias.compare.items") not in keys:
            st.session_state["bias.compare.items"] = cur
    if st.session_state.get("bias.compare.items") not in keys:
        st.session_state.pop("bias.compare.items", None)

    def describe(k: str) -> str:
        first = groups[k][0]
        return _("{source} · {what} · {n:,} items · {n_models} model(s)", source=tr(first.data_source),
                 what=tr(_what(first)), n=first.n_items, n_models=len({r.model_id for r in groups[k]}))

    key = st.selectbox(_("Data (runs on exactly the same items)"), keys, format_func=describe,
                       key="bias.compare.items", persist_state="session")
    group = groups[key]
    by_id = {r.run_id: r for r in group}
    latest: dict[str, int] = {}
    for r in group:  # newest first: the newest run of each model
        latest.setdefault(r.model_id, r.run_id)
    chosen = st.multiselect(_("Runs"), list(by_id), default=list(latest.values()),
                            format_func=lambda i: describe_run(by_id[i]), key=f"bias.compare.runs.{key[:12]}",
                            persist_state="session")
    if not chosen:
        st.info(_("Choose at least one run."))
        return
    compare_runs([by_id[i] for i in chosen], probe)


def model_tests(probe: str, infos: list[RunInfo], results: dict, labels: dict, key: str) -> None:
    """The paired test of every two runs on the items both scored: exact McNemar on CrowS-Pairs decisions,
    Wilcoxon signed-rank on scores, with the t interval of the mean difference (a − b)."""
    low, high = _("CI low"), _("CI high")
    rows = []
    for a, b in itertools.combinations(infos, 2):
        c = paired.compare_models(probe, results[a.run_id], results[b.run_id], labels[a.run_id], labels[b.run_id])
        rows.append({"A": c.label_a, "B": c.label_b, _("items"): c.n_items, _("estimate A"): c.estimate_a,
                     _("estimate B"): c.estimate_b, _("difference A − B"): c.difference, low: c.ci_low,
                     high: c.ci_high, **({_("only A / only B"): f"{c.discordant[0]} / {c.discordant[1]}"}
                                         if PROBE_SPECS[probe].decisions else {"W": c.statistic}),
                     "p": c.p_value, _("test"): tr(c.test)})
    st.markdown(_("**Between the models, on the same items** (paired by item)"))
    st.dataframe(rows, hide_index=True, key=f"{key}.model_tests",
                 column_config={_("estimate A"): ui_bias.NUMBER, _("estimate B"): ui_bias.NUMBER,
                                _("difference A − B"): ui_bias.NUMBER, low: ui_bias.NUMBER, high: ui_bias.NUMBER,
                                "p": ui_bias.P_VALUE})
    st.caption(_("CrowS-Pairs: % of pairs where each model prefers the more-stereotyping sentence; the exact McNemar "
                 "test counts the pairs on which the two models disagree. Other probes: mean score, Wilcoxon "
                 "signed-rank test of the paired scores. Intervals: 95% t interval of the mean paired difference."))


def compare_runs(infos: list[RunInfo], probe: str, key: str = "bias.compare") -> None:
    """Table and chart of the runs' estimates with intervals, and the comparison CSV."""
    view = PROBE_SPECS[probe].view
    default, digits, suffix = view.breakdown, view.digits, view.suffix
    infos = sorted(infos, key=lambda r: r.run_id)  # the same colour for a model in every view
    results = {r.run_id: ui_bias.stored_result(r.run_id) for r in infos}
    infos = [r for r in infos if results[r.run_id] is not None]
    if not infos:
        return
    models = [r.model_id for r in infos]
    labels = {r.run_id: _label(r, models.count(r.model_id) > 1) for r in infos}
    columns = results[infos[0].run_id].columns()
    column = default
    if columns:
        column = st.selectbox(_("Break down by"), columns, index=columns.index(default) if default in columns else 0,
                              key=f"{key}.by", format_func=tr, bind="query-params")
    series = {labels[r.run_id]: results[r.run_id].estimates(column) for r in infos}
    if any(not r.complete for r in infos):
        st.warning(_("Some runs are incomplete: their estimates cover only the items scored so far (shown in the "
                     "legend as scored/total)."))
    charts.plotly_chart(estimates_figure(series, title=_("{probe}: {n} model(s) side by side, {confidence:.0%} CI",
                                                         probe=tr(jobs.NAMES[probe]), n=len(series),
                                                         confidence=stats.CONFIDENCE),
                                     y_title=tr(view.y_title), digits=digits, suffix=suffix,
                                     reference=view.reference, reference_label=tr(view.reference_label),
                                     y_range=view.y_range), key=f"{key}.chart")
    groups = list(dict.fromkeys(e.group for es in series.values() for e in es))
    wide = []
    for g in groups:
        row: dict[str, Any] = {_("group"): tr(g)}
        for name, es in series.items():
            e = next((x for x in es if x.group == g), None)
            if e is None:
                row[name] = "–"
                continue
            extra = f"n = {e.n}" + (f", {stats.format_p(e.p_value, e.p_bound)}" if np.isfinite(e.p_value) else "")  # symbols
            row[name] = f"{stats.format_estimate(e, digits, suffix)} ({extra})"
        wide.append(row)
    st.dataframe(wide, hide_index=True, key=f"{key}.table")
    first = next(iter(series.values()))
    st.caption(_("estimate [{confidence:.0%} CI]; intervals: {methods}", confidence=first[0].confidence,
                 methods=md(", ".join(sorted({tr(e.interval) for es in series.values() for e in es if e.interval}))))
               + (_("; tests: {tests}", tests=md(", ".join(sorted({tr(e.test) for es in series.values() for e in es
                                                                     if e.test}))))
                  if any(e.test for es in series.values() for e in es) else "") + _("."))
    if len(infos) >= 2:
        model_tests(probe, infos, results, labels, key)
    if PROBE_SPECS[probe].gender_tests:
        low, high = _("CI low"), _("CI high")
        tests = [{_("model"): labels[r.run_id], _("professions"): tr(t.group), _("pairs"): t.n_pairs,
                  _("mean {a} − {b}", a=tr(t.label_a), b=tr(t.label_b)):
                  t.mean_difference, low: t.ci_low, high: t.ci_high, "W": t.statistic, "p": t.p_value}
                 for r in infos for t in results[r.run_id].gender_tests()]
        if tests:
            st.markdown(_("**Female vs male person words, per model** (Wilcoxon signed-rank test, paired)"))
            st.dataframe(tests, hide_index=True, key=f"{key}.tests",
                         column_config={low: ui_bias.NUMBER, high: ui_bias.NUMBER, "p": ui_bias.P_VALUE})
    records = [provenance(results[r.run_id].config) | {"model": labels[r.run_id]} | e.as_dict()
               for r in infos for e in results[r.run_id].estimates(column)]
    st.download_button(_("Comparison CSV"), table_to_csv(records, {}), file_name=f"{probe}_comparison.csv",
                       mime="text/csv", key=f"{key}.csv", on_click="ignore")
