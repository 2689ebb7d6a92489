"""Bias page building blocks: data loading (cached), stored chunked runs with progress, Stop and a queue of
models, result views with intervals, breakdowns by any data column and exports, and drill-down links to the
Compare, Attention and Attribution pages.

Every run lives in the bias run store (``plm_core.bias.store``, SQLite) and is scored by a worker thread of the
server (``plm_core.bias.worker``, at the command line's pace, under a lease); the page only shows its progress
(``st.fragment(run_every=…)``). A closed tab does not stop it; Stop does, after the chunk being scored; a
killed server keeps every stored chunk, and the run resumes from there (Stored runs → Resume).
"""

from __future__ import annotations

import dataclasses
import functools
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import streamlit as st

from plm_core.bias import bec_pro as bec_mod
from plm_core.bias import datasets, jobs, stats, templates, worker
from plm_core.bias import store as store_mod
from plm_core.bias.probes import PROBE_SPECS
from plm_core.bias.sampling import describe_sample
from plm_core.bias.common import CAVEATS, CONTENT_WARNING, model_files, row_record
from plm_core.bias.seat import SeatResult, counterpart
from plm_core.classroom import check_model_allowed
from plm_core.errors import PlmCoreError
from plm_core.loading import ModelSpec
from plm_core.paths import is_dir, user_path
from plm_core.viz.bias_plots import (bec_pro_figure, crows_pairs_figure, estimates_figure, seat_figure,
                                     template_figure)
from ui import charts, handles, widgets
from ui.lens import backend_lens, is_remote
from plm_core.i18n import _, _n, lazy_gettext, msg, N_, tr
from plm_core.tokens import MAX_CHARS  # a text box keeps what the app keeps (and a link no more)
from ui.safe import md

JOB = "bias.job"  # {"runs": [run ids]}: the runs this session started or resumed (scored by their worker)
CURRENT = "bias.current"  # probe -> the run shown under "New run"
BATCH = "bias.batch"  # probe -> the run ids started together (one probe queued over several models)
PROGRESS_SECONDS = 1.0  # the progress bar's refresh (a fragment: the page itself does not rerun)
CHUNK: int | None = None  # items per chunk; None: the probe's own default, the same as the command line's
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
    data_spec = PROBE_SPECS[probe].data  # None: a SEAT test (one JSON object per file)
    if upload is not None:
        text = datasets.decode_upload(upload, upload_name or "the upload")
        items = (data_spec.parse(text) if data_spec else
                 (datasets.parse_seat(text, Path(upload_name).stem or "uploaded"),))
        return Data(tuple(items), f"upload {upload_name}", datasets.sha256_bytes(upload))
    path = path.strip()
    if data_spec is None:
        p = user_path(path, msg("SEAT file or folder"))
        if path and is_dir(p):
            p = p / "seat" / f"{seat_test}.jsonl" if is_dir(p / "seat") else p / f"{seat_test}.jsonl"
        if not path:
            p = datasets.fetch(f"seat/{seat_test}.jsonl")
        return Data((datasets.load_seat(p),), str(p) if path else f"{seat_test} (downloaded)", datasets.file_sha256(p))
    if path:
        p = user_path(path, msg("data file or folder"))
        if is_dir(p):
            p = p / data_spec.file
        return Data(tuple(data_spec.load(p)), str(p), datasets.file_sha256(p) if p.is_file() else "")
    p = datasets.fetch(data_spec.file)
    return Data(tuple(data_spec.load(p)), "downloaded (cache: " + str(datasets.cache_dir()) + ")", datasets.file_sha256(p))


SOURCES = {"public": N_("the public data set (downloaded once)"), "file": N_("a file or folder on the server"),
           "upload": N_("an uploaded file")}


def data_source_inputs(probe: str, label: str) -> tuple[str | None, str, bytes | None, str]:
    """The data source, chosen explicitly (never switched on its own: a rejected upload leaves "an uploaded file"
    with no file, and Run says so), a path box (file or folder) and an upload that states its required columns,
    an example row and the real size limit.

    Returns:
        (source, path, upload bytes, upload name): source is "public", "file", "upload" or None (not chosen);
        only the chosen source's input is returned (the others empty).
    """
    source_key, path_key = f"bias.{probe}.source", f"bias.{probe}.path"
    if source_key not in st.session_state and (st.session_state.get(path_key) or "").strip():
        st.session_state[source_key] = "file"  # a link from before the choice existed names a path

    def path_changed() -> None:
        if (st.session_state.get(path_key) or "").strip():
            st.session_state[source_key] = "file"

    source = st.radio(_("Data"), list(SOURCES), format_func=lambda s: _(SOURCES[s]), index=None, horizontal=True,
                      key=source_key, bind="query-params")
    c1, c2 = st.columns([3, 2])
    path = c1.text_input(label, max_chars=MAX_CHARS, key=path_key, placeholder=_("a file, or a folder laid out like the source"),  # md: trusted (label: a translated string from the caller)
                         help=_("A local file, or a folder laid out like the source (crows_pairs/…, bec_pro/…). "
                                "Source: {source}", source=tr(datasets.LICENSES[probe])), bind="query-params",
                         on_change=path_changed)
    tab = PROBE_SPECS[probe].data.tab_separated
    # a file cannot be in a link, and Streamlit forgets an uploader's file when its page is left (a drill-down):
    # the session keeps the last upload until the user removes it from the uploader
    upload_key, kept_key = f"bias.{probe}.upload", f"bias.{probe}.upload_kept"

    def keep_upload() -> None:
        f = st.session_state.get(upload_key)
        st.session_state[kept_key] = (f.name, f.getvalue()) if f is not None else None
        st.session_state[source_key] = "upload"  # removed: still the upload, now with no file

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
    data = (kept[1], kept[0]) if kept is not None else \
        ((up.getvalue(), up.name) if up is not None else (None, ""))
    if source == "upload":
        return source, "", *data
    return source, (path if source == "file" else ""), None, ""


def missing_source(probe: str, source: str | None, path: str, upload: bytes | None) -> str | None:
    """Why Run cannot start with this choice of data (no source chosen, no file uploaded, no path), or None."""
    if source is None:
        return _("Choose the data first: the public data set, a file on the server, or an upload.")
    if source == "upload" and upload is None:
        return _("No file is loaded: upload one (at most {mb} MB; a bigger file is refused by the uploader), or "
                 "choose another data source.", mb=UPLOAD_MB)
    if source == "file" and not path.strip():
        return _("No file or folder given: type its path, or choose another data source.")
    return None


def available_data(probe: str, source: str | None, path: str, upload: bytes | None, upload_name: str) -> Data | None:
    """The data set, loaded now when it needs no download (a path, an upload, or already in the cache), so the
    filters list what the file contains; None when Run will download it, when nothing is chosen or loaded, or
    when loading failed (the error is shown)."""
    cached = datasets.cache_dir() / PROBE_SPECS[probe].data.file
    if missing_source(probe, source, path, upload) or (source == "public" and not cached.is_file()):
        return None
    try:
        return load_data(probe, path, upload, upload_name)
    except PlmCoreError as err:
        st.error(md(tr(err)))
        return None


def describe_data(data: Data | None, probe: str, source: str | None = "public", missing: str | None = None) -> None:
    """Size, source and columns of the loaded data set, shown as plain text (file names and column names are
    user text); what is missing when nothing is loaded."""
    if data is None:
        if missing:
            st.info(md(missing))
        elif source == "public":
            st.caption(_("The public data set is downloaded on Run (once, into the cache)."))
        return
    columns = datasets.data_columns(probe, data.items)
    st.text(_("{n:,} items from {source} · sha256 {sha}… · group columns: {columns}", n=len(data.items),
              source=tr(data.source), sha=data.sha256[:12], columns=", ".join(columns)))


def model_queue_input(probe: str, spec: ModelSpec) -> list[ModelSpec]:
    """'Also run on' box: other models (Hub ids or folders, one per line) queued after the sidebar's model."""
    text = st.text_area(_("Also run on these models, one after the other (Hub id or folder, one per line)"),
                        max_chars=MAX_CHARS, key=f"bias.{probe}.models", height=68, bind="query-params",
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

def _worker_handle(store: store_mod.RunStore, info: store_mod.RunInfo):
    """The model of a run, for its worker thread (no Streamlit call: the thread has no session)."""
    spec = _spec_of(info)
    check_model_allowed(spec.model_id, allow_pickle=spec.allow_pickle)
    handle = handles.MODELS.get(spec)
    if info.revision is None and handle.revision:
        store.set_revision(info.run_id, handle.revision)
    return handle


def _remote_scorer(info: store_mod.RunInfo):
    """On the Ray backend, a chunk is cut into pieces scored on several replicas at once; locally None."""
    if not is_remote():
        return None
    lens = backend_lens(_spec_of(info))
    return lambda items: lens.score_bias_chunk(items, probe=info.probe, config=info.config)


def start_worker(run_ids: list[int]) -> None:
    """Score ``run_ids`` in a worker thread of the server (plm_core.bias.worker), at the command line's pace; a
    run another session's worker already scores is attached to, not computed again."""
    store = run_store()
    worker.start_worker(store, run_ids, functools.partial(_worker_handle, store), scorer_of=_remote_scorer,
                        chunk=CHUNK)
    st.session_state[JOB] = {"runs": list(run_ids)}


def start_runs(probe: str, spec: ModelSpec, revision: str | None, items: tuple, config: dict[str, Any],
               others: list[ModelSpec] = ()) -> list[int]:
    """Store one run per model (the sidebar's first, then ``others``, queued) and start their worker."""
    store = run_store()
    ids = []
    for k, s in enumerate([spec, *others]):
        cfg = config | {"model_id": s.model_id, "revision": revision if k == 0 else s.revision,
                        "model_spec": dataclasses.asdict(s)} | model_files(s.model_id)  # a folder: its weights' hash
        ids.append(jobs.create_run(store, probe, cfg, items, status="queued"))
    start_worker(ids)
    st.session_state.setdefault(CURRENT, {})[probe] = ids[0]
    st.session_state.setdefault(BATCH, {})[probe] = list(ids)
    return ids


def resume_run(run_id: int) -> None:
    """Continue a stored run (after Stop, a closed tab or a server restart) in a worker of this server."""
    info = run_store().run(run_id)
    start_worker([run_id])
    st.session_state.setdefault(CURRENT, {})[info.probe] = run_id


def _spec_of(info: store_mod.RunInfo) -> ModelSpec:
    fields = info.config.get("model_spec") or {"model_id": info.model_id}
    return ModelSpec.from_fields(fields)


def is_active(info: store_mod.RunInfo) -> bool:
    """Being scored now (a live lease: a worker of this server or a command line), or waiting in a worker's
    queue."""
    return not info.complete and info.status in ("running", "queued")


@st.fragment(run_every=PROGRESS_SECONDS)
def _progress(run_ids: tuple[int, ...], key: str) -> None:
    """Progress of the runs being scored, refreshed every PROGRESS_SECONDS without rerunning the page; Stop asks
    their worker to stop after its chunk. When none is left the whole page reruns once to show the results."""
    store = run_store()
    infos = []
    for run_id in run_ids:
        try:
            infos.append(store.run(run_id))
        except PlmCoreError:
            continue  # deleted
    active = [i for i in infos if is_active(i)]
    if not active:
        if st.session_state.get(JOB, {}).get("runs") == list(run_ids):
            st.session_state.pop(JOB, None)
        st.rerun(scope="app")
    info, more = active[0], len(active) - 1
    c1, c2 = st.columns([5, 1])
    c1.progress(info.n_done / info.n_items if info.n_items else 1.0,
                text=_("{probe} on {model}: {done:,} of {total:,} scored", probe=tr(jobs.NAMES[info.probe]),
                       model=md(info.model_id), done=info.n_done, total=info.n_items)
                + (" · " + _("{n} more model(s) queued", n=int(more)) if more else ""))
    if c2.button(_("Stop"), key=key, type="primary"):
        for i in active:
            store.request_stop(i.run_id)
        st.rerun(scope="app")


def step_job(slot) -> None:
    """Show the progress and Stop button of the runs this session started or resumed, in ``slot``; the scoring
    itself runs in their worker (a closed tab does not stop it)."""
    job = st.session_state.get(JOB)
    if not job:
        return
    with slot:
        _progress(tuple(job["runs"]), "bias.stop")


def watch_run(info: store_mod.RunInfo) -> None:
    """Progress and Stop of a run scored elsewhere (another session, the command line), shown in its details."""
    job = st.session_state.get(JOB)
    if is_active(info) and not (job and info.run_id in job["runs"]):
        _progress((info.run_id,), f"bias.stop.{info.run_id}")


def job_status(run_id: int) -> None:
    """Why a run is incomplete (stopped, failed, queued, scored elsewhere), in words."""
    info = run_store().run(run_id)
    job = st.session_state.get(JOB)
    mine = bool(job and run_id in job["runs"])
    if info.status == "error":
        st.error(_("Stopped by an error: {error} — the {n:,} items scored before it are kept.", error=md(tr(info.error)),
                   n=info.n_done))
    elif info.complete or (mine and is_active(info)):
        return
    elif is_active(info):
        st.info(_("Run #{run_id} is being scored ({done:,} of {total:,} so far) by a worker of this server or by "
                  "the command line: it is computed there once, and its progress shows above as it is stored.",
                  run_id=int(run_id), done=info.n_done, total=info.n_items))
    else:
        st.info(_("Stopped after {done:,} of {total:,} items; the results below cover those. Resume it under "
                  "Stored runs.", done=info.n_done, total=info.n_items))


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
    # Each file is made when its button is clicked (a callable: Streamlit's deferred download) and the click does
    # not rerun the page. Made on every rerun, a 100,000-row run's three files cost seconds per rerun, and the
    # rerun a click started replaced the files being downloaded: the browser cancelled the large JSON mid-way.
    c1, c2, c3, _rest = st.columns([1, 1, 1, 3])
    c1.download_button(_("Rows CSV"), result.to_csv, file_name=f"{stem}_rows.csv", mime="text/csv",
                       key=f"bias.{key}.csv", on_click="ignore")
    c2.download_button(_("Summary CSV"), functools.partial(result.summary_csv, column), file_name=f"{stem}_summary.csv",
                       mime="text/csv", key=f"bias.{key}.summary_csv", on_click="ignore")
    c3.download_button("JSON", result.to_json, file_name=f"{stem}.json", mime="application/json",
                       key=f"bias.{key}.json", on_click="ignore")


def result_origin(config: dict[str, Any]) -> widgets.Origin:
    """The model (as loaded to score it) and revision of a result, from its configuration: a drill-down
    explains the item with this model, not the sidebar's."""
    run_id = config.get("run_id")
    if run_id is not None:
        try:
            info = run_store().run(int(run_id))
        except PlmCoreError:
            pass
        else:
            return widgets.Origin(_spec_of(info), msg("bias run #{run_id} ({probe})", run_id=int(run_id),
                                                      probe=jobs.NAMES[info.probe]), info.revision)
    fields = config.get("model_spec") or {"model_id": config.get("model_id", "")}
    spec = ModelSpec(**{k: v for k, v in fields.items() if k in {f.name for f in dataclasses.fields(ModelSpec)}})
    return widgets.Origin(spec, msg("a bias probe result"), config.get("revision"))


def explain_links(text_a: str, text_b: str, key: str, origin: widgets.Origin) -> None:
    """Buttons that open the two sentences in the Compare, Attention and Attribution pages, on the model that
    scored them (``origin``)."""
    st.caption(_("Opens on {model}, the model that scored this item.", model=md(origin.spec.model_id)))
    cols = st.columns(5)
    if cols[0].button(_("Compare side by side"), key=f"{key}.compare"):
        widgets.open_page("pages/compare.py", origin,
                          **{"compare.mode": "texts", "compare.a": text_a, "compare.b": text_b})
    for i, (label, text) in enumerate((("A", text_a), ("B", text_b))):
        if cols[1 + i].button(_("Attention: {side}", side=label), key=f"{key}.attention_{label}"):  # md: trusted (A or B)
            widgets.open_page("pages/attention.py", origin, **{"attention.text": text, "attention.pair": ""})
        if cols[3 + i].button(_("Attribution: {side}", side=label), key=f"{key}.attribution_{label}"):  # md: trusted (A or B)
            widgets.open_page("pages/attribution.py", origin, **{"attribution.text": text})


def side_by_side(label_a: str, text_a: str, label_b: str, text_b: str, key: str, origin: widgets.Origin) -> None:
    c1, c2 = st.columns(2)
    c1.text(f"A — {label_a}")
    c1.code(text_a, language=None, wrap_lines=True)
    c2.text(f"B — {label_b}")
    c2.code(text_b, language=None, wrap_lines=True)
    explain_links(text_a, text_b, key, origin)


def _pick(label: str, options: list, fmt, key: str):
    if not options:
        return None
    if st.session_state.get(key) not in options:
        st.session_state.pop(key, None)
    # kept while another probe or page is shown (a drill-down and back), not in links: it picks from a stored run
    return st.selectbox(label, options, format_func=fmt, key=key, persist_state="session")  # md: trusted (label from the caller, translated)


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
              "n_units": N_("units"), "unit": N_("unit"), "n_sentences": N_("sentences"),
              "truncated": N_("truncated"), "n_tokens_more": N_("tokens (more)"),
              "n_tokens_less": N_("tokens (less)"), "n_tokens": N_("tokens"), "limit": N_("token limit")}


def row_columns(records: list[dict]) -> dict:
    """``column_config`` naming the result-row fields of ``records`` in the viewer's language."""
    names = {k for r in records[:1] for k in r}
    return {k: st.column_config.Column(_(label)) for k, label in ROW_FIELDS.items() if k in names}  # md: trusted (ROW_FIELDS)


def _rows_table(rows, key: str) -> None:
    records = [row_record(r) for r in rows]
    st.dataframe(records, hide_index=True, height=260, key=key, column_config=row_columns(records))


def truncation_switch(result, key: str, message) -> Any:
    """Items the model saw cut: ``message(n, limit)`` says how many; they are left out of every number unless the
    switch counts them. Returns the result with that choice."""
    n = result.n_truncated
    if not n:
        return result
    limit = max(r.limit for r in result.rows if r.truncated)
    include = st.toggle(_("Count the cut items too"), key=key, bind="query-params",
                        help=_("Off: every estimate, interval and test covers only the items the model saw whole."))
    st.warning(md(message(n, int(limit)))
               + " " + (_("They are counted in the numbers below (switch above).") if include else
                        _("They are left out of every number below; the rows table flags them (truncated).")))
    return dataclasses.replace(result, include_truncated=bool(include))


def show_crows(result) -> None:
    caveat("crows_pairs")
    if not result.rows:
        return
    result = truncation_switch(result, "bias.crows.include_truncated", lambda n, limit: _n(
        "{n:,} pair has a sentence longer than this model's limit of {limit:,} tokens: it was scored on the cut text.",
        "{n:,} pairs have a sentence longer than this model's limit of {limit:,} tokens: they were scored on the cut "
        "text.", n, limit=limit))
    overall = result.estimates(None)[0]
    c1, c2, c3 = st.columns(3)
    c1.metric(_("CrowS-Pairs metric"), f"{result.metric:.1f}%", help=_("% of pairs where the more-stereotyping "
              "sentence has the higher pseudo-log-likelihood; 50% = no preference"))
    c2.metric(_("{confidence:.0%} CI (Wilson)", confidence=overall.confidence),
              f"{overall.ci_low:.1f} – {overall.ci_high:.1f}%",
              help=_("Wilson score interval of the share, n = {n} pairs", n=int(overall.n)))
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
        side_by_side(_("more stereotyping"), r.sent_more, _("less stereotyping"), r.sent_less, "bias.crows.open", result_origin(result.config))


def show_bec(result) -> None:
    caveat("bec_pro")
    if result.skipped:
        st.info(_("Left out: person words that are several tokens for this tokenizer ({words}); the association "
                  "needs one [MASK] token.", words=md(", ".join(result.skipped))))
    if not result.rows:
        return
    result = truncation_switch(result, "bias.bec.include_truncated", lambda n, limit: _n(
        "{n:,} row's sentence is longer than this model's limit of {limit:,} tokens: it was scored on the cut text.",
        "{n:,} rows' sentences are longer than this model's limit of {limit:,} tokens: they were scored on the cut "
        "text.", n, limit=limit))
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
                     r.sentence.replace(r.person, "[MASK]", 1), "bias.bec.open", result_origin(result.config))


def show_seat(result: SeatResult) -> None:
    caveat("seat")
    low, high = result.effect_size_ci
    c1, c2, c3, c4 = st.columns(4)
    c1.metric(_("Effect size d"), f"{result.effect_size:.3f}")
    c2.metric(_("95% CI of d"), f"{low:.3f} – {high:.3f}", help=md(tr(result.ci_method)) or None)
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
                         f"{other.category} (s = {other.association:+.4f})", other.text, "bias.seat.open", result_origin(result.config))


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
    contrasts_view(result)
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
                 "bias.template.open", result_origin(result.config))


def contrasts_view(result: templates.TemplateResult) -> None:
    """Per-sentence contrasts of the targets (he − she, he − they, she − they; each case apart) with the paired
    test per case and pair, the contrasts themselves, and their CSV."""
    tests = result.contrast_tests()
    if not tests:
        return
    st.subheader(_("Per-sentence contrasts"))
    st.caption(_("Each filled sentence scored for two of its targets (same grammatical case): the difference a − b "
                 "per sentence; per case and pair its mean with the 95% t interval and the two-sided Wilcoxon "
                 "signed-rank test (paired: the same sentence)."))
    low, high = _("CI low"), _("CI high")
    st.dataframe([{_("case"): tr(t.group), _("contrast"): f"{t.label_a} − {t.label_b}", _("pairs"): t.n_pairs,
                   _("mean difference"): t.mean_difference, low: t.ci_low, high: t.ci_high,
                   _("median difference"): t.median_difference, "W": t.statistic, "p": t.p_value} for t in tests],
                 hide_index=True, key="bias.template.contrast_tests",
                 column_config={_("mean difference"): NUMBER, low: NUMBER, high: NUMBER,
                                _("median difference"): NUMBER, "p": P_VALUE})
    contrasts = result.contrasts()
    st.dataframe([{_("sentence"): c.sentence, _("case"): c.case, _("value"): c.probe_value,
                   _("contrast"): f"{c.target_a} − {c.target_b}", "a": c.score_a, "b": c.score_b,
                   _("difference"): c.difference} for c in contrasts], hide_index=True, height=220,
                 key="bias.template.contrasts",
                 column_config={"a": NUMBER, "b": NUMBER, _("difference"): NUMBER})
    run = result.config.get("run_id")
    st.download_button(_("Contrasts CSV"), result.contrasts_csv(),
                       file_name=f"template_probe_run{run}_contrasts.csv" if run else "template_probe_contrasts.csv",
                       mime="text/csv", key="bias.template.contrasts_csv")


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
