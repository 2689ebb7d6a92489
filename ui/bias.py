"""Bias page building blocks: data loading (cached), chunked data-set runs with progress and Stop, result
views with export, and drill-down links to the Compare, Attention and Attribution pages.

A data-set run is a job in session state: each script run scores one chunk, appends its rows and reruns;
Stop ends the job and keeps every row computed so far.
"""

from __future__ import annotations

import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import streamlit as st

from plm_core.bias import bec_pro as bec_mod
from plm_core.bias import crows_pairs as crows_mod
from plm_core.bias import datasets, templates
from plm_core.bias.common import CAVEATS, CONTENT_WARNING
from plm_core.bias.seat import SeatResult, counterpart, run_seat
from plm_core.errors import PlmCoreError
from plm_core.loading import ModelSpec
from plm_core.paths import is_dir, user_path
from plm_core.viz.bias_plots import bec_pro_figure, crows_pairs_figure, seat_figure, template_figure
from ui import resources, widgets
from ui.safe import md, safe_figure

JOB = "bias.job"
RESULTS = "bias.results"  # probe -> result object
DATA_FILES = {"crows_pairs": "crows_pairs/crows_pairs_anonymized.csv", "bec_pro": "bec_pro/BEC-Pro_EN.tsv"}
CHUNK_SECONDS = 1.5  # aim for one chunk per rerun in about this time, so Stop answers quickly


# ---- warnings ---------------------------------------------------------------------------------------

def content_warning() -> None:
    st.warning(CONTENT_WARNING, icon="⚠️")


def caveat(probe: str) -> None:
    st.info(CAVEATS[probe], icon="ℹ️")


# ---- data -------------------------------------------------------------------------------------------

@st.cache_data(max_entries=16, show_spinner="Loading the data set…")
def load_data(probe: str, path: str, upload: bytes | None = None, upload_name: str = "",
              seat_test: str = "sent-weat6") -> tuple[Any, str]:
    """(items, source description) from an upload, a local file or folder, or the cache/download."""
    if upload is not None:
        text = datasets.decode_upload(upload, upload_name or "the upload")
        parse = {"crows_pairs": datasets.parse_crows_pairs, "bec_pro": datasets.parse_bec_pro,
                 "seat": lambda t: datasets.parse_seat(t, Path(upload_name).stem or "uploaded")}[probe]
        return parse(text), f"upload {upload_name}"
    path = path.strip()
    if probe == "seat":
        p = user_path(path, "SEAT file or folder")
        if path and is_dir(p):
            p = p / "seat" / f"{seat_test}.jsonl" if is_dir(p / "seat") else p / f"{seat_test}.jsonl"
        return datasets.load_seat(p if path else seat_test), str(p) if path else f"{seat_test} (downloaded)"
    if path:
        p = user_path(path, "data file or folder")
        if is_dir(p):
            p = p / DATA_FILES[probe]
        loader = datasets.load_crows_pairs if probe == "crows_pairs" else datasets.load_bec_pro
        return loader(p), str(p)
    loader = datasets.load_crows_pairs if probe == "crows_pairs" else datasets.load_bec_pro
    return loader(), "downloaded (cache: " + str(datasets.cache_dir()) + ")"


def data_source_inputs(probe: str, label: str) -> tuple[str, bytes | None, str]:
    """A path box (file or folder; empty = download into the cache once) and an upload."""
    c1, c2 = st.columns([3, 2])
    path = c1.text_input(label, key=f"bias.{probe}.path", placeholder="empty: download from the public source once",
                         help="A local file, or a folder laid out like the source (crows_pairs/…, bec_pro/…). "
                              f"Source: {datasets.LICENSES[probe]}")
    up = c2.file_uploader("…or upload the file", key=f"bias.{probe}.upload", type=["csv", "tsv", "jsonl", "json"])
    return path, (up.getvalue() if up is not None else None), (up.name if up is not None else "")


# ---- chunked jobs -----------------------------------------------------------------------------------

def start_job(probe: str, spec: ModelSpec, items: tuple, config: dict[str, Any]) -> None:
    st.session_state[JOB] = {"probe": probe, "spec": spec, "items": items, "done": 0, "rows": [],
                             "skipped": [], "config": config, "running": True, "chunk": 4, "error": None}
    st.session_state.setdefault(RESULTS, {}).pop(probe, None)


def job_result(probe: str):
    """The result of ``probe``'s job so far (None if there is none)."""
    job = st.session_state.get(JOB)
    if job and job["probe"] == probe:
        return _result_of(job)
    return st.session_state.get(RESULTS, {}).get(probe)


def _result_of(job):
    model_id = job["spec"].model_id
    if job["probe"] == "crows_pairs":
        return crows_mod.CrowsPairsResult(model_id, tuple(job["rows"]), job["config"], len(job["items"]))
    return bec_mod.BecProResult(model_id, tuple(job["rows"]), tuple(sorted(set(job["skipped"]))), job["config"],
                                len(job["items"]))


def step_job(slot) -> None:
    """Show the running job's progress bar and Stop button in ``slot``; score the next chunk and rerun."""
    job = st.session_state.get(JOB)
    if not job or not job["running"]:
        return
    total, done = len(job["items"]), job["done"]
    name = {"crows_pairs": "CrowS-Pairs pairs", "bec_pro": "BEC-Pro rows"}[job["probe"]]
    c1, c2 = slot.columns([5, 1])
    c1.progress(done / total if total else 1.0, text=f"{name}: {done} of {total} scored")
    if c2.button("Stop", key="bias.stop", type="primary"):
        job["running"] = False
        st.rerun()
    chunk = job["items"][done:done + job["chunk"]]
    handle = resources.get_handle(job["spec"])
    t0 = time.perf_counter()
    try:
        if job["probe"] == "crows_pairs":
            rows, skipped = crows_mod.score_pairs(handle, chunk), ()
        else:
            rows, skipped = bec_mod.score_rows(handle, chunk)
    except PlmCoreError as err:
        if not (job["probe"] == "bec_pro" and "every BEC-Pro person word" in str(err)):
            job["running"], job["error"] = False, str(err)
            st.rerun()
        rows, skipped = (), tuple(r.person for r in chunk)
    # store before any other st call: an interrupted rerun never loses a finished chunk
    job["rows"].extend(rows)
    job["skipped"].extend(skipped)
    job["done"] = done + len(chunk)
    elapsed = time.perf_counter() - t0
    job["chunk"] = max(1, min(256, int(len(chunk) * CHUNK_SECONDS / max(elapsed, 1e-3))))
    if job["done"] >= total:
        job["running"] = False
    st.rerun()


def job_status(probe: str) -> None:
    job = st.session_state.get(JOB)
    if not job or job["probe"] != probe:
        return
    if job["error"]:
        st.error(f"Stopped by an error: {md(job['error'])} — the {len(job['rows'])} items scored before it are kept.")
    elif not job["running"] and job["done"] < len(job["items"]):
        st.info(f"Stopped after {job['done']:d} of {len(job['items'])} items; the results below cover those.")


# ---- result views -----------------------------------------------------------------------------------

def export_buttons(result, key: str) -> None:
    c1, c2, _ = st.columns([1, 1, 4])
    c1.download_button("Export CSV", result.to_csv(), file_name=f"{key}.csv", mime="text/csv", key=f"bias.{key}.csv")
    c2.download_button("Export JSON", result.to_json(), file_name=f"{key}.json", mime="application/json",
                       key=f"bias.{key}.json")


def explain_links(text_a: str, text_b: str, key: str) -> None:
    """Buttons that open the two sentences in the Compare, Attention and Attribution pages."""
    cols = st.columns(5)
    if cols[0].button("Compare side by side", key=f"{key}.compare"):
        widgets.open_page("pages/compare.py", **{"compare.mode": "texts", "compare.a": text_a, "compare.b": text_b})
    for i, (label, text) in enumerate((("A", text_a), ("B", text_b))):
        if cols[1 + i].button(f"Attention: {label}", key=f"{key}.attention_{label}"):
            widgets.open_page("pages/attention.py", **{"attention.text": text, "attention.pair": ""})
        if cols[3 + i].button(f"Attribution: {label}", key=f"{key}.attribution_{label}"):
            widgets.open_page("pages/attribution.py", **{"attribution.text": text})


def side_by_side(label_a: str, text_a: str, label_b: str, text_b: str, key: str) -> None:
    c1, c2 = st.columns(2)
    c1.markdown(f"**A — {md(label_a)}**")
    c1.code(text_a, language=None, wrap_lines=True)
    c2.markdown(f"**B — {md(label_b)}**")
    c2.code(text_b, language=None, wrap_lines=True)
    explain_links(text_a, text_b, key)


def _pick(label: str, options: list, fmt, key: str):
    if not options:
        return None
    if st.session_state.get(key) not in options:
        st.session_state.pop(key, None)
    return st.selectbox(label, options, format_func=fmt, key=key)


def show_crows(result: crows_mod.CrowsPairsResult) -> None:
    caveat("crows_pairs")
    if not result.rows:
        return
    st.metric("CrowS-Pairs metric", f"{result.metric:.1f}%", help="% of pairs where the more-stereotyping sentence "
              "has the higher pseudo-log-likelihood; 50% = no preference")
    st.plotly_chart(safe_figure(crows_pairs_figure(result)), key="bias.crows.chart")
    table = [{"bias type": k, **{c: v[c] for c in ("n", "metric", "stereo", "antistereo", "ties")}}
             for k, v in result.by_bias_type().items()]
    st.dataframe(table, hide_index=True, key="bias.crows.types")
    st.dataframe([asdict(r) for r in result.rows], hide_index=True, height=260, key="bias.crows.rows")
    export_buttons(result, "crows_pairs")
    st.subheader("Open a pair")
    by_index = {r.index: r for r in result.rows}
    index = _pick("Pair", list(by_index), lambda i: f"#{i} {by_index[i].bias_type}: {by_index[i].sent_more[:70]}",
                  "bias.crows.item")
    if index is not None:
        r = by_index[index]
        verdict = "more-stereotyping preferred" if r.more_higher else "not preferred"
        st.caption(f"{md(r.direction)} · {r.n_shared:d} shared tokens scored · sent_more {r.score_more:.3f} vs "
                   f"sent_less {r.score_less:.3f} → {md(verdict)}")
        side_by_side("more stereotyping", r.sent_more, "less stereotyping", r.sent_less, "bias.crows.open")


def show_bec(result: bec_mod.BecProResult) -> None:
    caveat("bec_pro")
    if result.skipped:
        st.info("Left out: person words that are several tokens for this tokenizer "
                f"({md(', '.join(result.skipped))}); the association needs one [MASK] token.")
    if not result.rows:
        return
    st.plotly_chart(safe_figure(bec_pro_figure(result)), key="bias.bec.chart")
    st.dataframe([{"group": k, **v} for k, v in result.by_group().items()], hide_index=True, key="bias.bec.groups")
    st.dataframe([asdict(r) for r in result.rows], hide_index=True, height=260, key="bias.bec.rows")
    export_buttons(result, "bec_pro")
    st.subheader("Open a sentence")
    by_index = {r.index: r for r in result.rows}
    index = _pick("Row", list(by_index), lambda i: f"#{i} {by_index[i].sentence}", "bias.bec.item")
    if index is not None:
        r = by_index[index]
        st.caption(f"p_target {r.p_target:.4g} · p_prior {r.p_prior:.4g} · association {r.association:+.3f}")
        side_by_side("sentence", r.sentence, f"person masked (the model predicts {r.person!r})",
                     r.sentence.replace(r.person, "[MASK]", 1), "bias.bec.open")


def show_seat(result: SeatResult) -> None:
    caveat("seat")
    c1, c2, c3 = st.columns(3)
    c1.metric("Effect size d", f"{result.effect_size:.3f}")
    c2.metric("p-value (one-sided)", f"{result.p_value:.3g}")
    c3.metric("Permutations", f"{result.n_permutations:,}" + (" (exact)" if result.exact else " (sampled)"))
    cats = result.categories
    st.caption(f"X = {md(cats[0])}, Y = {md(cats[1])}, A = {md(cats[2])}, B = {md(cats[3])}; sizes {md(result.sizes)}. "
               "d > 0: X is closer to A (and Y to B).")
    st.plotly_chart(safe_figure(seat_figure(result)), key="bias.seat.chart")
    st.dataframe([asdict(i) for i in result.items], hide_index=True, height=260, key="bias.seat.rows")
    export_buttons(result, "seat")
    st.subheader("Open an item")
    items = list(result.items)
    pos = _pick("Item", list(range(len(items))),
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
    st.plotly_chart(safe_figure(template_figure(result)), key="bias.template.chart")
    st.dataframe(result.summary_table(), hide_index=True, key="bias.template.summary")
    st.dataframe([{**asdict(r), "slot_values": ", ".join(f"{k}={v}" for k, v in r.slot_values)} for r in result.rows],
                 hide_index=True, height=260, key="bias.template.rows")
    export_buttons(result, "template_probe")
    st.subheader("Open a template row")
    sentences = list(dict.fromkeys((r.template_index, r.slot_values, r.sentence) for r in result.rows))
    k = _pick("Sentence", list(range(len(sentences))), lambda k: sentences[k][2], "bias.template.item")
    if k is None:
        return
    ti, values, sentence = sentences[k]
    same_template = [s for s in sentences if s[0] == ti and s != sentences[k]]
    if not same_template:
        return
    other = _pick("Compare with", list(range(len(same_template))), lambda j: same_template[j][2],
                  "bias.template.other")
    scores = {(r.sentence, r.target): r.score for r in result.rows}
    fmt = lambda s: ", ".join(f"{t} {scores[(s, t)]:.4g}" for t in result.template_set.targets)  # noqa: E731
    side_by_side(fmt(sentence), sentence, fmt(same_template[other][2]), same_template[other][2],
                 "bias.template.open")


def run_template_probe(spec: ModelSpec, tset: templates.TemplateSet) -> None:
    bar = st.progress(0.0, text="Scoring templates…")
    result = widgets.run_or_stop(lambda: templates.probe_templates(
        resources.get_handle(spec), tset, progress=lambda d, t: bar.progress(d / t, text=f"{d} of {t} scores")))
    bar.empty()
    st.session_state.setdefault(RESULTS, {})["template"] = result


def seat_probe(spec: ModelSpec, test, source: str, n_samples: int) -> None:
    bar = st.progress(0.0, text="Embedding and permuting…")
    result = widgets.run_or_stop(lambda: run_seat(
        resources.get_handle(spec), test, n_samples=n_samples, data_source=source,
        progress=lambda d, t: bar.progress(d / t, text=f"permutation test: {d:,} of {t:,}")))
    bar.empty()
    st.session_state.setdefault(RESULTS, {})["seat"] = result


def saved(probe: str):
    return st.session_state.get(RESULTS, {}).get(probe)

