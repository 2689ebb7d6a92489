"""Bias page building blocks: data loading (cached), stored chunked runs with progress, Stop and a queue of
models, result views with intervals, breakdowns by any data column and exports, and drill-down links to the
Compare, Attention and Attribution pages.

Every run lives in the bias run store (``plm_core.bias.store``, SQLite): each script run scores one chunk of
the current run, stores it, and reruns; Stop, a closed tab or a killed server keep every stored chunk, and
the run resumes from there (Stored runs → Resume).
"""

from __future__ import annotations

import dataclasses
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import streamlit as st

from plm_core.bias import bec_pro as bec_mod
from plm_core.bias import datasets, jobs, stats, templates
from plm_core.bias import store as store_mod
from plm_core.bias.sampling import describe_sample
from plm_core.bias.common import CAVEATS, CONTENT_WARNING, row_record
from plm_core.bias.seat import SeatResult, counterpart
from plm_core.errors import PlmCoreError
from plm_core.loading import ModelSpec
from plm_core.paths import is_dir, user_path
from plm_core.viz.bias_plots import (bec_pro_figure, crows_pairs_figure, estimates_figure, seat_figure,
                                     template_figure)
from ui import charts, resources, widgets
from ui.backend import compute_chunks, is_remote
from plm_core.i18n import _, _n, lazy_gettext, msg, N_, tr
from ui.safe import md

JOB = "bias.job"  # {"queue": [run ids], "running": bool, "chunk": int}: the runs this session is scoring
CURRENT = "bias.current"  # probe -> the run shown under "New run"
BATCH = "bias.batch"  # probe -> the run ids started together (one probe queued over several models)
DATA_FILES = {"crows_pairs": "crows_pairs/crows_pairs_anonymized.csv", "bec_pro": "bec_pro/BEC-Pro_EN.tsv"}
CHUNK_SECONDS = 1.5  # aim for one chunk per rerun in about this time, so Stop answers quickly
FIRST_CHUNK = 4
UPLOAD_MB = datasets.MAX_FILE_BYTES // 2**20  # the limit the loaders enforce; the uploader is told the same
PERCENT = st.column_config.NumberColumn(format="%.1f")
NUMBER = st.column_config.NumberColumn(format="%.4g")
P_VALUE = st.column_config.NumberColumn("p", format="%.3g")  # (a symbol: the same in every language)


_SAMPLE_ALL = re.compile(r"all ([\d,]+) items \(order shuffled with seed (\d+)\)")
_SAMPLE_SOME = re.compile(r"random sample of ([\d,]+) of ([\d,]+) items \(seed (\d+)(?:, stratified by (.+))?\)")


def sample_caption(config: dict) -> str:
    """The stored run's sample description in the viewer's language (the store keeps the English line)."""
    text = str(config.get("sample", ""))
    n = lambda s: int(s.replace(",", ""))  # noqa: E731
    if m := _SAMPLE_ALL.fullmatch(text):
        return tr(describe_sample(None, int(m[2]), None, n(m[1]), n(m[1])))
    if m := _SAMPLE_SOME.fullmatch(text):
        return tr(describe_sample(n(m[1]), int(m[3]), m[4], n(m[2]), n(m[1])))
    return tr(text)


# ---- warnings ---------------------------------------------------------------------------------------

def content_warning() -> None:
    st.warning(tr(CONTENT_WARNING), icon="⚠️")


def caveat(probe: str) -> None:
    st.info(tr(CAVEATS[probe]), icon="ℹ️")


# ---- the run store ----------------------------------------------------------------------------------

@st.cache_resource(show_spinner=False)
def _store(path: str) -> store_mod.RunStore:
    return store_mod.RunStore(path)


def run_store() -> store_mod.RunStore:
    """The process's run store at ``$PLM_BIAS_STORE`` (or the cache folder)."""
    return _store(str(store_mod.default_path()))


@st.cache_data(max_entries=32, show_spinner=False)
def _result(path: str, run_id: int, n_done: int, updated: float):
    return jobs.load_result(_store(path), run_id)


def stored_result(run_id: int):
    """The result object of a stored run (cached until the run gets another chunk)."""
    info = run_store().run(run_id)
    return _result(str(run_store().path), run_id, info.n_done, info.updated)


# ---- data -------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Data:
    items: tuple
    source: str  # a path, "upload <name>", or "download (cache ...)"
    sha256: str  # of the file's bytes


@st.cache_data(max_entries=16, show_spinner=lazy_gettext("Loading the data set…"))
def load_data(probe: str, path: str, upload: bytes | None = None, upload_name: str = "",
              seat_test: str = "sent-weat6") -> Data:
    """Items, source description and file hash from an upload, a local file or folder, or the cache/download."""
    if upload is not None:
        text = datasets.decode_upload(upload, upload_name or "the upload")
        parse = {"crows_pairs": datasets.parse_crows_pairs, "bec_pro": datasets.parse_bec_pro,
                 "seat": lambda t: (datasets.parse_seat(t, Path(upload_name).stem or "uploaded"),)}[probe]
        return Data(tuple(parse(text)), f"upload {upload_name}", datasets.sha256_bytes(upload))
    path = path.strip()
    if probe == "seat":
        p = user_path(path, msg("SEAT file or folder"))
        if path and is_dir(p):
            p = p / "seat" / f"{seat_test}.jsonl" if is_dir(p / "seat") else p / f"{seat_test}.jsonl"
        if not path:
            p = datasets.fetch(f"seat/{seat_test}.jsonl")
        return Data((datasets.load_seat(p),), str(p) if path else f"{seat_test} (downloaded)", datasets.file_sha256(p))
    loader = datasets.load_crows_pairs if probe == "crows_pairs" else datasets.load_bec_pro
    if path:
        p = user_path(path, msg("data file or folder"))
        if is_dir(p):
            p = p / DATA_FILES[probe]
        return Data(tuple(loader(p)), str(p), datasets.file_sha256(p) if p.is_file() else "")
    p = datasets.fetch(DATA_FILES[probe])
    return Data(tuple(loader(p)), "downloaded (cache: " + str(datasets.cache_dir()) + ")", datasets.file_sha256(p))


def data_source_inputs(probe: str, label: str) -> tuple[str, bytes | None, str]:
    """A path box (file or folder; empty = download into the cache once) and an upload that states its
    required columns, an example row and the real size limit."""
    c1, c2 = st.columns([3, 2])
    path = c1.text_input(label, key=f"bias.{probe}.path", placeholder=_("empty: download from the public source once"),
                         help=_("A local file, or a folder laid out like the source (crows_pairs/…, bec_pro/…). "
                                "Source: {source}", source=tr(datasets.LICENSES[probe])), bind="query-params")
    tab = probe == "bec_pro"
    # a file cannot be in a link, and Streamlit forgets an uploader's file when its page is left (a drill-down):
    # the session keeps the last upload until the user removes it from the uploader
    upload_key, kept_key = f"bias.{probe}.upload", f"bias.{probe}.upload_kept"

    def keep_upload() -> None:
        f = st.session_state.get(upload_key)
        st.session_state[kept_key] = (f.name, f.getvalue()) if f is not None else None

    up = c2.file_uploader(_("…or upload the file"), key=upload_key, type=["csv", "tsv", "txt"],
                          max_upload_size=UPLOAD_MB, on_change=keep_upload,
                          help=(_("A tab-separated file with a header row; at most {mb} MB.", mb=UPLOAD_MB) if tab else
                                _("A comma-separated file with a header row; at most {mb} MB.", mb=UPLOAD_MB)))
    kept = st.session_state.get(kept_key) if up is None else None
    if kept is not None:
        c2.text(_("Using {name}, uploaded earlier in this session.", name=kept[0]))
    with st.expander(_("File format: required columns and an example row")):
        st.text((_("Tab-separated text, UTF-8, at most {mb} MB.", mb=UPLOAD_MB) if tab else
                 _("Comma-separated text, UTF-8, at most {mb} MB.", mb=UPLOAD_MB)) + " "
                + _("Required columns: {columns}.\nEvery other column is kept: results can be broken down by it, and "
                    "exports carry it.", columns=", ".join(datasets.REQUIRED_COLUMNS[probe])))
        st.code(datasets.EXAMPLE_ROWS[probe], language=None)
    if kept is not None:
        return path, kept[1], kept[0]
    return path, (up.getvalue() if up is not None else None), (up.name if up is not None else "")


def available_data(probe: str, path: str, upload: bytes | None, upload_name: str) -> Data | None:
    """The data set, loaded now when it needs no download (a path, an upload, or already in the cache), so the
    filters list what the file contains; None when Run will download it (or it failed: the error is shown)."""
    cached = datasets.cache_dir() / DATA_FILES[probe]
    if not (path.strip() or upload is not None or cached.is_file()):
        return None
    try:
        return load_data(probe, path, upload, upload_name)
    except PlmCoreError as err:
        st.error(md(tr(err)))
        return None


def describe_data(data: Data | None, probe: str) -> None:
    """Size, source and columns of the loaded data set, shown as plain text (file names and column names are
    user text)."""
    if data is None:
        st.caption(_("No file given: the public data set is downloaded on Run (once, into the cache)."))
        return
    columns = datasets.data_columns(probe, data.items)
    st.text(_("{n:,} items from {source} · sha256 {sha}… · group columns: {columns}", n=len(data.items),
              source=tr(data.source), sha=data.sha256[:12], columns=", ".join(columns)))


def model_queue_input(probe: str, spec: ModelSpec) -> list[ModelSpec]:
    """'Also run on' box: other models (Hub ids or folders, one per line) queued after the sidebar's model."""
    text = st.text_area(_("Also run on these models, one after the other (Hub id or folder, one per line)"),
                        key=f"bias.{probe}.models", height=68, bind="query-params",
                        placeholder=_("bert-base-uncased\n/path/to/another/model"),
                        help=_("The same items are scored on each model and stored as separate runs; the "
                               "Compare models view puts them side by side."))
    out: list[ModelSpec] = []
    for line in (text or "").splitlines():
        model_id = widgets.canonical_model_id(line)
        if model_id and model_id != spec.model_id and model_id not in [s.model_id for s in out]:
            out.append(ModelSpec(model_id, device=spec.device))
    return out


def sample_inputs(probe: str, columns: list[str], default_stratify: str) -> tuple[int | None, int, str | None]:
    """Sample size (0 = all), seed, and the column to stratify by."""
    c1, c2, c3 = st.columns(3)
    size = c1.number_input(_("Random sample of N items (0 = all)"), 0, 1_000_000, 0, key=f"bias.{probe}.sample",
                           bind="query-params",
                           help=_("A seeded random sample, stratified by the column on the right, instead of the "
                                  "first rows (data files are often sorted by group)."))
    seed = c2.number_input(_("Sample seed"), 0, 2**31 - 1, 0, key=f"bias.{probe}.seed", bind="query-params")
    options = ["(none)", *columns]
    stratify = c3.selectbox(_("Stratify by"), options, index=options.index(default_stratify) if default_stratify in
                            options else 0, key=f"bias.{probe}.stratify", bind="query-params",
                            format_func=lambda c: _("(none)") if c == "(none)" else c)
    return (int(size) or None), int(seed), (None if stratify == "(none)" else stratify)


# ---- starting runs and the job loop -----------------------------------------------------------------

def start_runs(probe: str, spec: ModelSpec, revision: str | None, items: tuple, config: dict[str, Any],
               others: list[ModelSpec] = ()) -> list[int]:
    """Store one run per model (the sidebar's first, then ``others``, queued) and start scoring them."""
    store = run_store()
    ids = []
    for k, s in enumerate([spec, *others]):
        cfg = config | {"model_id": s.model_id, "revision": revision if k == 0 else s.revision,
                        "model_spec": dataclasses.asdict(s)}
        ids.append(jobs.create_run(store, probe, cfg, items, status="running" if k == 0 else "queued"))
    st.session_state[JOB] = {"queue": list(ids), "running": True, "chunk": FIRST_CHUNK}
    st.session_state.setdefault(CURRENT, {})[probe] = ids[0]
    st.session_state.setdefault(BATCH, {})[probe] = list(ids)
    return ids


def resume_run(run_id: int) -> None:
    """Continue a stored run in this session (after Stop, a closed tab or a server restart)."""
    info = run_store().run(run_id)
    run_store().set_status(run_id, "running")
    job = st.session_state.get(JOB)
    if job and job["running"]:
        if run_id not in job["queue"]:
            job["queue"].append(run_id)
    else:
        st.session_state[JOB] = {"queue": [run_id], "running": True, "chunk": FIRST_CHUNK}
    st.session_state.setdefault(CURRENT, {})[info.probe] = run_id


def _spec_of(info: store_mod.RunInfo) -> ModelSpec:
    fields = info.config.get("model_spec") or {"model_id": info.model_id}
    return ModelSpec.from_fields(fields)


def step_job(slot) -> None:
    """Show the running job's progress and Stop button in ``slot``; score the next chunk, store it, rerun."""
    job = st.session_state.get(JOB)
    if not job or not job["running"]:
        return
    store = run_store()
    while job["queue"]:
        info = store.run(job["queue"][0])
        if info.complete or info.status in ("stopped", "error"):
            job["queue"].pop(0)
            job["chunk"] = FIRST_CHUNK
            continue
        break
    if not job["queue"]:
        job["running"] = False
        st.rerun()
    more = len(job["queue"]) - 1
    c1, c2 = slot.columns([5, 1])
    bar = c1.progress(info.n_done / info.n_items if info.n_items else 1.0,
                      text=_("{probe} on {model}: {done:,} of {total:,} scored", probe=tr(jobs.NAMES[info.probe]),
                             model=info.model_id, done=info.n_done, total=info.n_items)
                           + (" · " + _("{n} more model(s) queued", n=more) if more else ""))
    if c2.button(_("Stop"), key="bias.stop", type="primary"):
        for run_id in job["queue"]:
            store.set_status(run_id, "stopped")
        job["running"] = False
        st.rerun()
    if info.status == "queued":
        store.set_status(info.run_id, "running")
    t0 = time.perf_counter()
    try:
        handle = resources.get_handle(_spec_of(info))
        if info.revision is None and handle.revision:
            store.set_revision(info.run_id, handle.revision)
        scorer = None
        if is_remote():  # the Ray backend cuts the chunk into pieces scored on several replicas at once
            def scorer(items, probe=info.probe, config=info.config, spec=_spec_of(info)):
                return jobs.merge_parts(compute_chunks(spec, "score_bias_chunk", items, probe=probe, config=config))
        jobs.score_next(store, info.run_id, handle, job["chunk"], scorer=scorer,
                        progress=lambda d, t: bar.progress(d / t if t else 1.0, text=_("{done:,} of {total:,}", done=d, total=t)))
    except PlmCoreError as err:
        # the chunks stored before the error stay; the queue moves on to the next model
        store.set_status(info.run_id, "error", tr(err))
        job["queue"].pop(0)
        st.rerun()
    elapsed = time.perf_counter() - t0
    job["chunk"] = max(1, min(512, int(job["chunk"] * CHUNK_SECONDS / max(elapsed, 1e-3))))
    st.rerun()


def job_status(run_id: int) -> None:
    """Why a run is incomplete (stopped, failed, queued, interrupted), in words."""
    info = run_store().run(run_id)
    job = st.session_state.get(JOB)
    active = bool(job and job["running"] and run_id in job["queue"])
    if info.status == "error":
        st.error(_("Stopped by an error: {error} — the {n:,} items scored before it are kept.", error=md(tr(info.error)),
                   n=info.n_done))
    elif info.complete or active:
        return
    elif info.status == "stopped":
        st.info(_("Stopped after {done:,} of {total:,} items; the results below cover those. Resume it under "
                  "Stored runs.", done=info.n_done, total=info.n_items))
    else:
        st.info(_("Run #{run_id} has {done:,} of {total:,} items scored and is not running in this session (a closed "
                  "tab or a restarted server); resume it under Stored runs.", run_id=int(run_id), done=info.n_done,
                  total=info.n_items))


def current_run(probe: str) -> int | None:
    """The run shown under "New run": the one this session started last, or None.

    Runs other sessions started (another student's on a shared server, or this browser's before a reload or a
    server restart) are never shown here: they are listed under "Stored runs", where they can be opened and
    resumed."""
    run_id = st.session_state.get(CURRENT, {}).get(probe)
    if run_id is None:
        return None
    try:
        run_store().run(run_id)
    except PlmCoreError:
        return None  # deleted meanwhile
    return run_id


def stored_runs_hint(probe: str) -> None:
    """Under "New run" when this session has none: how many stored runs of ``probe`` wait under Stored runs."""
    n = len(run_store().runs(probe))
    if n:
        st.caption(_n("{n:,} stored run of this probe (from earlier sessions or other users of this server): open or "
                      "resume it under Show → Stored runs.",
                      "{n:,} stored runs of this probe (from earlier sessions or other users of this server): open or "
                      "resume them under Show → Stored runs.", n))


# ---- result views -----------------------------------------------------------------------------------

def export_buttons(result, key: str, column: str | None = None) -> None:
    """Rows CSV, summary CSV (estimates with intervals, by ``column``) and JSON (configuration + everything)."""
    run = result.config.get("run_id")
    stem = f"{key}_run{run}" if run else key
    c1, c2, c3, _rest = st.columns([1, 1, 1, 3])
    c1.download_button(_("Rows CSV"), result.to_csv(), file_name=f"{stem}_rows.csv", mime="text/csv",
                       key=f"bias.{key}.csv")
    c2.download_button(_("Summary CSV"), result.summary_csv(column), file_name=f"{stem}_summary.csv", mime="text/csv",
                       key=f"bias.{key}.summary_csv")
    c3.download_button("JSON", result.to_json(), file_name=f"{stem}.json", mime="application/json",
                       key=f"bias.{key}.json")


def explain_links(text_a: str, text_b: str, key: str) -> None:
    """Buttons that open the two sentences in the Compare, Attention and Attribution pages."""
    cols = st.columns(5)
    if cols[0].button(_("Compare side by side"), key=f"{key}.compare"):
        widgets.open_page("pages/compare.py", **{"compare.mode": "texts", "compare.a": text_a, "compare.b": text_b})
    for i, (label, text) in enumerate((("A", text_a), ("B", text_b))):
        if cols[1 + i].button(_("Attention: {side}", side=label), key=f"{key}.attention_{label}"):
            widgets.open_page("pages/attention.py", **{"attention.text": text, "attention.pair": ""})
        if cols[3 + i].button(_("Attribution: {side}", side=label), key=f"{key}.attribution_{label}"):
            widgets.open_page("pages/attribution.py", **{"attribution.text": text})


def side_by_side(label_a: str, text_a: str, label_b: str, text_b: str, key: str) -> None:
    c1, c2 = st.columns(2)
    c1.text(f"A — {label_a}")
    c1.code(text_a, language=None, wrap_lines=True)
    c2.text(f"B — {label_b}")
    c2.code(text_b, language=None, wrap_lines=True)
    explain_links(text_a, text_b, key)


def _pick(label: str, options: list, fmt, key: str):
    if not options:
        return None
    if st.session_state.get(key) not in options:
        st.session_state.pop(key, None)
    # kept while another probe or page is shown (a drill-down and back), not in links: it picks from a stored run
    return st.selectbox(label, options, format_func=fmt, key=key, persist_state="session")


def breakdown_picker(result, key: str, default: str) -> str:
    """'Break down by' any column the rows carry (the data set's group columns and every extra column)."""
    options = result.columns()
    return st.selectbox(_("Break down by"), options, index=options.index(default) if default in options else 0,
                        key=key, format_func=tr, bind="query-params",
                        help=_("Any column of the data: the data set's own group columns and every extra column "
                               "of the file."))


def estimates_table(estimates: list[stats.Estimate], key: str, digits_label: str = "estimate") -> None:
    """Estimates as a table: group, n, estimate, CI, p, with the interval and test named below."""
    digits_label = tr(digits_label)
    low, high = _("CI low"), _("CI high")
    rows = [{_("group"): tr(e.group), "n": e.n, digits_label: e.estimate, low: e.ci_low, high: e.ci_high,
             **({"p": e.p_value} if any(x.test for x in estimates) else {})} for e in estimates]
    st.dataframe(rows, hide_index=True, key=key,
                 column_config={digits_label: NUMBER, low: NUMBER, high: NUMBER, "p": P_VALUE})
    methods = sorted({tr(e.interval) for e in estimates if e.interval})
    tests = sorted({tr(e.test) for e in estimates if e.test})
    st.caption(_("{confidence:.0%} intervals: {methods}", confidence=estimates[0].confidence,
                 methods=md(", ".join(methods) or "—"))
               + (_("; tests: {tests}", tests=md(", ".join(tests))) if tests else "") + _("."))


# result-row fields shown as table headers in the viewer's language (the data sets' own columns — sent_more,
# bias_type, Prof_Gender … — keep their names: they are the file's, and the exports use them)
ROW_FIELDS = {"score": N_("score"), "target": N_("target"), "value": N_("value"), "sentence": N_("sentence"),
              "template": N_("template"), "template_index": N_("template index"), "probe_value": N_("probe value"),
              "slot_values": N_("slot values"), "index": N_("index"), "text": N_("text"), "category": N_("category"),
              "role": N_("role"), "association": N_("association"), "direction": N_("direction"), "tie": N_("tie"),
              "n_shared": N_("shared tokens"), "more_higher": N_("more-stereotyping preferred"),
              "score_more": N_("score (more)"), "score_less": N_("score (less)"), "mean": N_("mean"),
              "std": N_("std"), "min": N_("min"), "max": N_("max"), "ci_low": N_("CI low"), "ci_high": N_("CI high"),
              "n_units": N_("units"), "unit": N_("unit"), "n_sentences": N_("sentences")}


def row_columns(records: list[dict]) -> dict:
    """``column_config`` naming the result-row fields of ``records`` in the viewer's language."""
    names = {k for r in records[:1] for k in r}
    return {k: st.column_config.Column(_(label)) for k, label in ROW_FIELDS.items() if k in names}


def _rows_table(rows, key: str) -> None:
    records = [row_record(r) for r in rows]
    st.dataframe(records, hide_index=True, height=260, key=key, column_config=row_columns(records))


def show_crows(result) -> None:
    caveat("crows_pairs")
    if not result.rows:
        return
    overall = result.estimates(None)[0]
    c1, c2, c3 = st.columns(3)
    c1.metric(_("CrowS-Pairs metric"), f"{result.metric:.1f}%", help=_("% of pairs where the more-stereotyping "
              "sentence has the higher pseudo-log-likelihood; 50% = no preference"))
    c2.metric(_("{confidence:.0%} CI (Wilson)", confidence=overall.confidence),
              f"{overall.ci_low:.1f} – {overall.ci_high:.1f}%",
              help=_("Wilson score interval of the share, n = {n} pairs", n=overall.n))
    c3.metric(_("Binomial test vs 50%"), stats.format_p(overall.p_value),
              help=_("Two-sided exact binomial test of the share against 50% (scipy.stats.binomtest)"))
    st.caption(md(sample_caption(result.config)))
    column = breakdown_picker(result, "bias.crows.by", "bias_type")
    charts.plotly_chart(crows_pairs_figure(result, column), key="bias.crows.chart")
    def share(v: dict, which: str) -> str:
        if not v[f"n_{which}"]:
            return "–"
        return f"{v[which]:.1f} [{v[which + '_ci_low']:.1f}, {v[which + '_ci_high']:.1f}] (n = {v['n_' + which]})"

    table = [{column: k, **{c: v[c] for c in ("n", "metric", "ci_low", "ci_high", "p_value")},
              "stereo [CI]": share(v, "stereo"), "antistereo [CI]": share(v, "antistereo"), "ties": v["ties"]}
             for k, v in result.breakdown(column).items()]
    st.dataframe(table, hide_index=True, key="bias.crows.types",
                 column_config={"metric": st.column_config.NumberColumn(_("metric"), format="%.1f"),
                                "ci_low": PERCENT, "ci_high": PERCENT, "p_value": P_VALUE,
                                "ties": st.column_config.Column(_("ties")),
                                "stereo [CI]": st.column_config.Column(_("stereo [CI]")),
                                "antistereo [CI]": st.column_config.Column(_("antistereo [CI]"))})
    st.caption(_("metric: % more-stereotyping preferred, with its 95% Wilson interval (ci_low, ci_high) and the "
                 "exact binomial test against 50% (p_value); stereo/antistereo: the same share within each "
                 "direction, with its Wilson interval."))
    _rows_table(sorted(result.rows, key=lambda r: r.index), "bias.crows.rows")
    export_buttons(result, "crows_pairs", column)
    st.subheader(_("Open a pair"))
    by_index = {r.index: r for r in sorted(result.rows, key=lambda r: r.index)}
    index = _pick(_("Pair"), list(by_index), lambda i: f"#{i} {by_index[i].bias_type}: {by_index[i].sent_more[:70]}",
                  "bias.crows.item")
    if index is not None:
        r = by_index[index]
        st.text(_("{direction} · {n} shared tokens scored · sent_more {more:.3f} vs sent_less {less:.3f} → {verdict}",
                  direction=r.direction, n=r.n_shared, more=r.score_more, less=r.score_less,
                  verdict=_("more-stereotyping preferred") if r.more_higher else _("not preferred")))
        side_by_side(_("more stereotyping"), r.sent_more, _("less stereotyping"), r.sent_less, "bias.crows.open")


def show_bec(result) -> None:
    caveat("bec_pro")
    if result.skipped:
        st.info(_("Left out: person words that are several tokens for this tokenizer ({words}); the association "
                  "needs one [MASK] token.", words=md(", ".join(result.skipped))))
    if not result.rows:
        return
    st.caption(md(sample_caption(result.config)))
    charts.plotly_chart(bec_pro_figure(result), key="bias.bec.chart")
    tests = result.gender_tests()
    if tests:
        st.markdown(_("**Female vs male person words** (paired: same template, profession and rank of person word; "
                      "Wilcoxon signed-rank test, two-sided)"))
        low, high = _("CI low"), _("CI high")
        st.dataframe([{_("professions"): tr(t.group), _("pairs"): t.n_pairs,
                       _("mean {a} − {b}", a=tr(t.label_a), b=tr(t.label_b)): t.mean_difference, low: t.ci_low,
                       high: t.ci_high, _("median difference"): t.median_difference, "W": t.statistic,
                       "p": t.p_value} for t in tests], hide_index=True, key="bias.bec.tests",
                     column_config={low: NUMBER, high: NUMBER, "p": P_VALUE})
    column = breakdown_picker(result, "bias.bec.by", bec_mod.GROUP)
    estimates = result.estimates(column)
    if column != bec_mod.GROUP:
        charts.plotly_chart(estimates_figure({_("mean association"): estimates[1:]},
                                             title=_("BEC-Pro by {column}", column=column),
                                             y_title=_("association"), reference=0.0), key="bias.bec.breakdown_chart")
    estimates_table(estimates, "bias.bec.groups", _("mean association"))
    _rows_table(sorted(result.rows, key=lambda r: r.index), "bias.bec.rows")
    export_buttons(result, "bec_pro", column)
    st.subheader(_("Open a sentence"))
    by_index = {r.index: r for r in sorted(result.rows, key=lambda r: r.index)}
    index = _pick(_("Row"), list(by_index), lambda i: f"#{i} {by_index[i].sentence}", "bias.bec.item")
    if index is not None:
        r = by_index[index]
        st.text(_("p_target {target:.4g} · p_prior {prior:.4g} · association {association:+.3f}", target=r.p_target,
                  prior=r.p_prior, association=r.association))
        side_by_side(_("sentence"), r.sentence, _("person masked (the model predicts {person!r})", person=r.person),
                     r.sentence.replace(r.person, "[MASK]", 1), "bias.bec.open")


def show_seat(result: SeatResult) -> None:
    caveat("seat")
    low, high = result.effect_size_ci
    c1, c2, c3, c4 = st.columns(4)
    c1.metric(_("Effect size d"), f"{result.effect_size:.3f}")
    c2.metric(_("95% CI of d"), f"{low:.3f} – {high:.3f}", help=tr(result.ci_method) or None)
    c3.metric(_("p-value (one-sided)"), result.p_text.removeprefix("p = ").removeprefix("p "),
              help=_("Below the resolution: no sampled partition reached the observed statistic, so only "
                     "p < 1/permutations is known.") if result.p_bound else _("Share of partitions at least as extreme."))
    c4.metric(_("Permutations (exact)") if result.exact else _("Permutations (sampled)"), f"{result.n_permutations:,}")
    st.text(_("X = {x}, Y = {y}, A = {a}, B = {b}; sizes {sizes}. d > 0: X is closer to A (and Y to B).",
              x=result.categories[0], y=result.categories[1], a=result.categories[2], b=result.categories[3],
              sizes=result.sizes))
    charts.plotly_chart(seat_figure(result), key="bias.seat.chart")
    items = [dataclasses.asdict(i) for i in result.items]
    st.dataframe(items, hide_index=True, height=260, key="bias.seat.rows", column_config=row_columns(items))
    export_buttons(result, "seat")
    st.subheader(_("Open an item"))
    items = list(result.items)
    pos = _pick(_("Item"), list(range(len(items))),
                lambda k: f"{items[k].role} {items[k].category} #{items[k].index}: {items[k].text}", "bias.seat.item")
    if pos is not None:
        item = items[pos]
        other = counterpart(result, item)
        if other is not None:
            side_by_side(f"{item.category} (s = {item.association:+.4f})", item.text,
                         f"{other.category} (s = {other.association:+.4f})", other.text, "bias.seat.open")


def show_template(result: templates.TemplateResult) -> None:
    caveat("template")
    if not result.rows:
        return
    charts.plotly_chart(template_figure(result), key="bias.template.chart")
    st.caption(_("Bars: mean over templates of each template's mean score, with the 95% t interval across "
                 "templates (one template: across its sentences); dots: each sentence."))
    column = breakdown_picker(result, "bias.template.by", "value · target")
    if column == "value · target":
        summary = result.summary_table()
        st.dataframe(summary, hide_index=True, key="bias.template.summary",
                     column_config=row_columns(summary) | {
                         c: st.column_config.NumberColumn(_(ROW_FIELDS[c]), format="%.4g")
                         for c in ("mean", "ci_low", "ci_high", "std", "min", "max")})
    else:
        estimates = result.estimates(column)
        charts.plotly_chart(estimates_figure({tr(result.metric): estimates},
                                             title=_("{name} by {column}", name=tr(result.template_set.name),
                                                     column=tr(column)),
                                             y_title=tr(result.metric), digits=4), key="bias.template.breakdown_chart")
        estimates_table(estimates, "bias.template.summary", result.metric)
    records = [{**row_record(r), "slot_values": ", ".join(f"{k}={v}" for k, v in r.slot_values)} for r in result.rows]
    st.dataframe(records, hide_index=True, height=260, key="bias.template.rows", column_config=row_columns(records))
    export_buttons(result, "template_probe", column)
    st.subheader(_("Open a template row"))
    sentences = list(dict.fromkeys((r.template_index, r.slot_values, r.sentence) for r in result.rows))
    k = _pick(_("Sentence"), list(range(len(sentences))), lambda k: sentences[k][2], "bias.template.item")
    if k is None:
        return
    ti, values, sentence = sentences[k]
    same_template = [s for s in sentences if s[0] == ti and s != sentences[k]]
    if not same_template:
        return
    other = _pick(_("Compare with"), list(range(len(same_template))), lambda j: same_template[j][2],
                  "bias.template.other")
    scores = {(r.sentence, r.target): r.score for r in result.rows}
    fmt = lambda s: ", ".join(f"{t} {scores[(s, t)]:.4g}" for t in result.template_set.targets  # noqa: E731
                              if (s, t) in scores)
    side_by_side(fmt(sentence), sentence, fmt(same_template[other][2]), same_template[other][2],
                 "bias.template.open")


SHOW = {"crows_pairs": show_crows, "bec_pro": show_bec, "seat": show_seat, "template": show_template}


def show_run(run_id: int) -> None:
    """A stored run's status and its result so far."""
    info = run_store().run(run_id)
    job_status(run_id)
    result = stored_result(run_id)
    st.text(_("Run #{run_id}: {probe} on {model}", run_id=run_id, probe=tr(jobs.NAMES[info.probe]),
              model=info.model_id)
            + (" " + _("(revision {revision})", revision=info.revision) if info.revision else "")
            + " · " + _("{done:,} of {total:,} items · data: {source}", done=info.n_done, total=info.n_items,
                        source=tr(info.data_source)))
    if result is None:
        caveat(info.probe)
        return
    SHOW[info.probe](result)
