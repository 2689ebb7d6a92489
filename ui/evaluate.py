"""Evaluate page building blocks: the labelled data (upload or lesson 5's set), metrics with intervals and the
confusion matrix, slices, the errors table with links into the explanation pages, the embedding map, and model
cards side by side.

Runs are the bias runs' (``plm_core.bias.jobs`` probe ``"evaluate"``): stored chunk by chunk, stoppable, resumed
from the store; the page reuses ``ui.bias``'s job loop (:func:`ui.bias.step_job`).
"""

from __future__ import annotations

import urllib.parse
from dataclasses import dataclass

import numpy as np
import streamlit as st

from plm_core import embedding_map as em
from plm_core import evaluate as ev
from plm_core import model_card
from plm_core.bias import datasets
from plm_core.bias.store import items_sha256
from plm_core.errors import PlmCoreError
from plm_core.lens import Lens
from plm_core.i18n import N_, _, msg, tr
from plm_core.loading import ModelSpec
from plm_core.model_info import ModelInfo
from plm_core.viz.evaluate_plots import confusion_figure, embedding_figure, metrics_figure
from plm_core.tokens import MAX_CHARS  # a text box keeps what the app keeps (and a link no more)
from ui import bias as ui_bias
from ui import charts, language, handles, widgets
from ui.lens import get_lens
from ui.safe import md

PROBE = "evaluate"
UPLOAD_MB = datasets.MAX_FILE_BYTES // 2**20
DATA_CHOICES = {"lesson": N_("Lesson 5's examples"), "upload": N_("Upload a labelled file")}
MODE_LABELS = {"classifier": N_("The model's classes"), "label_words": N_("Label words (zero-shot)"),
               "perplexity": N_("(Pseudo-)perplexity per sentence")}
METRIC_NAMES = {"accuracy": N_("accuracy"), "precision": N_("precision"), "recall": N_("recall"), "f1": N_("F1")}
NUMBER = st.column_config.NumberColumn(format="%.3f")


@dataclass(frozen=True)
class Data:
    rows: tuple[ev.LabelledRow, ...]
    source: str
    sha256: str


# ---- data ---------------------------------------------------------------------------------------------

def data_input() -> Data | None:
    """Lesson 5's examples (as edited in the lesson, in this session) or an uploaded CSV/TSV; None (after a
    message) when there is none yet or it cannot be read."""
    choice = st.radio(_("Data"), list(DATA_CHOICES), format_func=lambda c: _(DATA_CHOICES[c]), horizontal=True,
                      key="evaluate.data", bind="query-params")
    if choice == "lesson":
        from plm_core.lessons import finetune

        text = st.session_state.get("lessons.examples") or finetune.example_text()
        try:
            data = finetune.parse_examples(text)
        except PlmCoreError as err:
            st.error(md(tr(err)))
            return None
        rows = tuple(ev.LabelledRow(i, t, data.names[y]) for i, (t, y) in enumerate(zip(data.texts, data.labels)))
        st.caption(_("The labelled examples of lesson 5 (as edited there in this session). A classifier trained in "
                     "lesson 5 has seen them: its scores here are training scores; the lesson's cross-validated "
                     "scores are the held-out ones."))
        return Data(rows, "lesson 5 examples", datasets.sha256_bytes(text.encode("utf-8")))
    upload_key, kept_key = "evaluate.upload", "evaluate.upload_kept"

    def keep_upload() -> None:
        f = st.session_state.get(upload_key)
        st.session_state[kept_key] = (f.name, f.getvalue()) if f is not None else None

    up = st.file_uploader(_("Labelled file (CSV or TSV)"), key=upload_key, type=["csv", "tsv", "txt"],
                          max_upload_size=UPLOAD_MB, on_change=keep_upload,
                          help=_("A comma- or tab-separated file with a header row; at most {mb} MB.", mb=UPLOAD_MB))
    kept = st.session_state.get(kept_key) if up is None else None
    if kept is not None:
        st.text(_("Using {name}, uploaded earlier in this session.", name=kept[0]))
    with st.expander(_("File format: required columns and an example row")):
        st.text(_("Comma- or tab-separated text, UTF-8, at most {mb} MB.", mb=UPLOAD_MB) + " "
                + _("Required columns: text, label; optional: text_pair.\nEvery other column is kept: results can "
                    "be sliced by it, and exports carry it."))
        st.code(ev.EXAMPLE_ROW, language=None)
    name, payload = (kept if kept is not None else (up.name, up.getvalue()) if up is not None else (None, None))
    if payload is None:
        st.info(_("Upload a labelled file, or choose lesson 5's examples."))
        return None
    try:
        rows, sha = ev.read_upload(payload, name)
    except PlmCoreError as err:
        st.error(md(tr(err)))
        return None
    return Data(rows, f"upload {name}", sha)


def describe(data: Data) -> None:
    labels = sorted({r.label for r in data.rows})
    st.text(_("{n:,} examples from {source} · sha256 {sha}… · labels: {labels} · columns to slice by: {columns}",
              n=len(data.rows), source=data.source, sha=data.sha256[:12], labels=", ".join(labels)[:200],
              columns=", ".join(ev.columns(data.rows)) or "—"))


# ---- runs ---------------------------------------------------------------------------------------------

def mode_input(info: ModelInfo, spec: ModelSpec) -> tuple[str, dict] | None:
    """The scoring mode (only those this model can do; the others with the reason) and its settings."""
    options = info.evaluate_modes
    offered = [m for m, why in options.items() if why is None]
    for m, why in options.items():
        if why is not None:
            st.caption(_("Not offered for this model — {mode}: {reason}", mode=_(MODE_LABELS[m]), reason=md(tr(why))))
    if not offered:
        return None
    mode = st.radio(_("Score by"), offered, format_func=lambda m: _(MODE_LABELS[m]), horizontal=True,
                    key="evaluate.mode", bind="query-params")
    config: dict = {"mode": mode}
    if mode == "label_words":
        c1, c2 = st.columns(2)
        template = c1.text_input(_("Template ({text} = the example; {mask} = where the label word goes)"),
                                 ev.DEFAULT_TEMPLATES[info.kind], key="evaluate.template", max_chars=MAX_CHARS, bind="query-params",
                                 help=_("PET-style: the label whose word scores highest at {mask} (masked LM) or as "
                                        "the next word after the template (causal LM) is the prediction."))
        words = c2.text_area(_("Label words (label: word, one per line)"), ev.DEFAULT_LABEL_WORDS,
                             key="evaluate.label_words", max_chars=MAX_CHARS, bind="query-params", height=90)
        try:
            config |= {"template": template, "label_words": ev.parse_label_words(words)}
            lens = get_lens(spec)  # the tokenizer reads the template and the label words
            lens.check_template(template)
            lens.label_word_ids(config["label_words"])
        except PlmCoreError as err:
            st.error(md(tr(err)))
            return None
        example = ev.fill_template(template, _("<the example>"), info.mask_token or "")[0]
        st.text(_("The model reads: {prompt}", prompt=example))
    return mode, config


def start(info: ModelInfo, spec: ModelSpec, data: Data, config: dict) -> None:
    try:
        classes = list(info.labels if config["mode"] == ev.CLASSES_MODE else
                       get_lens(spec).class_names(config))
        if config["mode"] != "perplexity":
            ev.match_labels([r.label for r in data.rows], classes)
    except PlmCoreError as err:
        st.error(md(tr(err)))
        return
    cfg = config | {"data": data.source, "data_sha256": data.sha256, "classes": classes,
                    "sample": f"all {len(data.rows):,} items"}
    ui_bias.start_runs(PROBE, spec, info.revision, data.rows, cfg)
    st.rerun()


def stored_runs() -> None:
    """Every stored evaluation: open one (its result below), resume an unfinished one."""
    runs = ui_bias.run_store().runs(PROBE)
    if not runs:
        return
    with st.expander(_("Stored runs ({n})", n=len(runs))):
        by_id = {r.run_id: r for r in runs}
        if st.session_state.get("evaluate.runs.pick") not in by_id:
            st.session_state.pop("evaluate.runs.pick", None)
        # a run's label changes while it is scored: kept in the session, not in links
        run_id = st.selectbox(_("Run"), list(by_id), key="evaluate.runs.pick", persist_state="session",
                              format_func=lambda i: by_id[i].describe())
        info = by_id[run_id]
        active = ui_bias.is_active(info)  # its worker is scoring it (this session's or another's)
        c1, c2, _rest = st.columns([1, 1, 4])
        if c1.button(_("Open"), key="evaluate.runs.open"):
            st.session_state.setdefault(ui_bias.CURRENT, {})[PROBE] = run_id
            st.rerun()
        if not info.complete and not active and c2.button(_("Resume"), key="evaluate.runs.resume"):
            ui_bias.resume_run(run_id)
            st.rerun()


def describe_run(run_id: int) -> None:
    info = ui_bias.run_store().run(run_id)
    label = MODE_LABELS.get(info.config.get("mode"))
    st.text(_("Run #{run_id}: {model} · {mode} · data: {source} · {done:,} of {total:,} scored", run_id=run_id,
              model=info.model_id, mode=_(label) if label else "—",
              source=info.data_source, done=info.n_done, total=info.n_items))


def link(page: str, model_id: str, **params: str) -> str:
    """A relative link to ``page`` with its widgets preset by query parameters (and this session's language)."""
    query = {"model": model_id, **params}
    if language.current() != "en":
        query["lang"] = language.current()
    return f"{page}?{urllib.parse.urlencode(query)}"


def show_result(result: ev.EvalResult, spec: ModelSpec) -> None:
    if not result.rows:
        st.info(_("No example scored yet."))
        return
    if result.mode == "perplexity":
        show_perplexity(result)
    else:
        show_metrics(result, spec)
    c1, c2, c3, _rest = st.columns([1, 1, 1, 3])
    c1.download_button(_("Rows CSV"), result.to_csv(), file_name="evaluate_rows.csv", mime="text/csv",
                       key="evaluate.csv")
    c2.download_button(_("Summary CSV"), result.summary_csv(), file_name="evaluate_summary.csv", mime="text/csv",
                       key="evaluate.summary_csv")
    c3.download_button("JSON", result.to_json(), file_name="evaluate.json", mime="application/json",
                       key="evaluate.json")


def show_perplexity(result: ev.EvalResult) -> None:
    ppl = result.perplexity()
    c1, c2 = st.columns(2)
    c1.metric(_("mean of the sentences' perplexities"), f"{ppl['mean']:.2f}")
    c2.metric(_("corpus perplexity: exp(mean token loss)"), f"{ppl['corpus']:.2f}")
    st.caption(_("Causal LM: exp of the mean negative log-likelihood of each token given the ones before it. "
                 "Masked LM: pseudo-perplexity, each token masked in turn (Salazar et al. 2020); the two are not "
                 "comparable with each other."))
    rows = [{_("text"): r.text, _("label"): r.label, _("perplexity"): r.perplexity, _("tokens scored"): r.n_scored,
             **dict(r.extra)} for r in result.rows]
    st.dataframe(rows, hide_index=True, key="evaluate.ppl_rows", column_config={_("perplexity"): NUMBER})


def _metric_label(m) -> str:
    return f"{m.value:.3f} [{m.ci_low:.3f}, {m.ci_high:.3f}]"


def show_metrics(result: ev.EvalResult, spec: ModelSpec) -> None:
    m = result.metrics()
    if result.n_items > len(result.rows):
        st.info(_("These numbers cover the {done:,} of {total:,} examples scored so far.", done=len(result.rows),
                  total=result.n_items))
    c1, c2, c3 = st.columns(3)
    acc, macro = m.get("accuracy"), m.get("f1", "macro")
    c1.metric(_("accuracy"), f"{acc.value:.1%}", help=_metric_label(acc))  # md: trusted
    c2.metric(_("macro-F1"), f"{macro.value:.3f}", help=_metric_label(macro))  # md: trusted
    c3.metric(_("errors"), f"{len(result.errors()):,} / {len(result.rows):,}")
    st.caption(_("Intervals: {how}. Metrics: scikit-learn.", how=md(tr(m.interval))))
    names = {k: _(v) for k, v in METRIC_NAMES.items()}
    left, right = st.columns(2)
    charts.plotly_chart(metrics_figure(m, names), key="evaluate.metrics_chart", container=left)
    charts.plotly_chart(confusion_figure(m), key="evaluate.confusion", container=right)
    table = [{_("metric"): names[x.name], _("class / average"): _(x.average) if x.average in ("macro", "micro")
              else x.average, _("value"): x.value, _("CI low"): x.ci_low, _("CI high"): x.ci_high, "n": x.support}
             for x in m.metrics]
    with st.expander(_("All metrics with intervals")):
        st.dataframe(table, hide_index=True, key="evaluate.metrics_table",
                     column_config={_("value"): NUMBER, _("CI low"): NUMBER, _("CI high"): NUMBER})
    show_slices(result)
    show_errors(result, spec)


def show_slices(result: ev.EvalResult) -> None:
    cols = result.columns()
    if not cols:
        st.caption(_("Slices: the data has no extra column to slice by."))
        return
    column = st.selectbox(_("Slice by"), cols, key="evaluate.slice", bind="query-params")
    rows = []
    for value, m in result.slices(column).items():
        acc, f1 = m.get("accuracy"), m.get("f1", "macro")
        rows.append({column: value, "n": m.n, _("accuracy"): acc.value, _("accuracy CI"): _metric_label(acc)[6:],
                     _("macro-F1"): f1.value, _("macro-F1 CI"): _metric_label(f1)[6:]})
    st.dataframe(rows, hide_index=True, key="evaluate.slices",
                 column_config={_("accuracy"): NUMBER, _("macro-F1"): NUMBER})


def _explain_links(result: ev.EvalResult, r: ev.EvalRow, model_id: str) -> dict[str, str]:
    """Attribution, Masking lab and Compare links for one example, its text and target filled in."""
    if result.mode == "label_words":
        words = dict(result.config.get("label_words", {}))
        text = r.prompt
        target = {"attribution.word": words.get(r.predicted, "")}
    else:
        text = r.text
        target = {"attribution.class": r.predicted}
    return {"attribution": link("attribution", model_id, **{"attribution.text": text}, **target),
            "masking": link("masking", model_id, **{"masking.text": text}),
            "compare": link("compare", model_id, **{"compare.a": text, "compare.b": text})}


def show_errors(result: ev.EvalResult, spec: ModelSpec) -> None:
    errors = result.errors()
    st.subheader(_("Errors ({n:,})", n=len(errors)))
    if not errors:
        st.caption(_("No example is misclassified."))
        return
    classes = result.classes
    rows = []
    for r in errors[:500]:
        links = _explain_links(result, r, spec.model_id)
        rows.append({_("text"): r.text, _("gold"): r.label, _("predicted"): r.predicted,
                     _("p(predicted)"): r.probs[classes.index(r.predicted)],
                     _("Attribution"): links["attribution"], _("Masking lab"): links["masking"],
                     _("Compare"): links["compare"], **dict(r.extra)})
    st.caption(_("Each link opens the example in that page with its text and the predicted class (or label word) "
                 "filled in."))
    st.dataframe(rows, hide_index=True, key="evaluate.errors", column_config={
        _("p(predicted)"): NUMBER,
        _("Attribution"): st.column_config.LinkColumn(_("Attribution"), display_text=_("explain")),
        _("Masking lab"): st.column_config.LinkColumn(_("Masking lab"), display_text=_("mask")),
        _("Compare"): st.column_config.LinkColumn(_("Compare"), display_text=_("compare"))})
    if len(errors) > 500:
        st.caption(_("The first 500 errors are listed; the rows CSV has all of them."))
    shown = errors[:500]
    pick = st.selectbox(_("Open an error"), list(range(len(shown))), key="evaluate.error", bind="query-params",
                        format_func=lambda i: _("{gold} → {predicted}: {text}", gold=shown[i].label,
                                                predicted=shown[i].predicted, text=shown[i].text[:80]))
    r = shown[pick]
    text = r.prompt if result.mode == "label_words" else r.text
    target = ({"attribution.word": dict(result.config.get("label_words", {})).get(r.predicted, "")}
              if result.mode == "label_words" else {"attribution.class": r.predicted})
    origin = widgets.Origin(spec, msg("an error of the evaluation"))  # the model that scored it
    c1, c2, c3, _rest = st.columns([2, 2, 1, 1])
    if c1.button(_("Explain in Attribution"), key="evaluate.open.attribution"):
        widgets.open_page("pages/attribution.py", origin, **{"attribution.text": text}, **target)
    if c2.button(_("Open in the Masking lab"), key="evaluate.open.masking"):
        widgets.open_page("pages/masking.py", origin, **{"masking.text": text})
    if c3.button(_("Compare"), key="evaluate.open.compare"):
        widgets.open_page("pages/compare.py", origin, **{"compare.a": text, "compare.b": text})


# ---- embedding map ------------------------------------------------------------------------------------

@st.cache_data(max_entries=16, show_spinner=False)
def cached_projection(x_bytes: bytes, shape: tuple[int, int], method: str) -> np.ndarray:
    return em.project(np.frombuffer(x_bytes, np.float32).reshape(shape), method)


def map_view(info: ModelInfo, spec: ModelSpec, data: Data | None, result: ev.EvalResult | None) -> None:
    """The embedding map of the data's sentences or of typed words, neighbours and the analogy probe."""
    sources = {"sentences": _("the data's sentences"), "words": _("words (input embedding table)")}
    source = st.radio(_("Map"), list(sources), format_func=sources.get, horizontal=True, key="evaluate.map.source",
                      bind="query-params")
    c1, c2, c3 = st.columns(3)
    proj_options = em.projections()
    offered = [p for p, why in proj_options.items() if why is None]
    projection = c1.radio(_("Projection"), offered, horizontal=True, key="evaluate.map.projection",
                          format_func={"pca": "PCA", "tsne": "t-SNE", "umap": "UMAP"}.get, bind="query-params")
    for p, why in proj_options.items():
        if why is not None:
            c1.caption(md(tr(why)))
    if source == "sentences":
        if data is None:
            st.info(_("Choose a data set above to map its sentences."))
            return
        layers = ["pooled", *range(info.n_layers + 1)]
        layer = c2.selectbox(_("Layer"), layers, key="evaluate.map.layer", bind="query-params",
                             format_func=lambda v: _("last layer, mean-pooled (the sentence embedding)")
                             if v == "pooled" else _("layer {layer} (0 = embeddings)", layer=v))
        texts = tuple(r.text for r in data.rows)
        by = {"label": _("label")}
        scored = {r.index: r for r in result.rows} if result is not None and result.mode != "perplexity" else {}
        if scored:
            by |= {"prediction": _("prediction"), "correct": _("correct or not")}
        by |= {c: c for c in ev.columns(data.rows)}
        color_by = c3.selectbox(_("Colour by"), list(by), format_func=by.get, key="evaluate.map.color",
                                bind="query-params")
        try:
            with st.spinner(_("Embedding {n:,} sentences…", n=len(texts))):
                x = get_lens(spec).sentence_embeddings(list(texts), None if layer == "pooled" else int(layer))
        except PlmCoreError as err:
            st.error(md(tr(err)))
            return

        def colour(r: ev.LabelledRow) -> str:
            s = scored.get(r.index)
            if color_by == "label":
                return r.label
            if color_by == "prediction":
                return s.predicted if s else _("not scored")
            if color_by == "correct":
                return (_("correct") if s.correct else _("wrong")) if s else _("not scored")
            return dict(r.extra).get(color_by, "")

        colors = [colour(r) for r in data.rows]
        # one line: plotly renders <br> (and <b>, <a>) in hover text, so user text is escaped as a whole
        hover = [f"{r.text[:200]} · {by[color_by]}: {c}" for r, c in zip(data.rows, colors)]
        labels = list(texts)
    else:
        words_text = c2.text_area(_("Words, one per line (each must be one token)"),
                                  "king\nqueen\nman\nwoman\nboy\ngirl\nparis\nfrance\nlondon\nengland\ncat\ndog\n"
                                  "one\ntwo\nthree\nred\ngreen\nblue", key="evaluate.map.words", height=140,
                                  max_chars=MAX_CHARS, bind="query-params")
        lens = get_lens(spec)  # word ids and the input embedding table: the model's own
        ids, words, refused = [], [], []
        for w in dict.fromkeys(w.strip() for w in words_text.splitlines() if w.strip()):
            try:
                ids += lens.word_ids([w])
                words.append(w)
            except PlmCoreError as err:  # a word of several tokens has no row of its own: left out, with why
                refused.append(tr(err))
        if refused:
            st.caption(_("Left out: {reasons}", reasons=md("; ".join(refused[:10]))))
        if len(words) < 3:
            st.info(_("Type at least 3 words that are one token each."))
            return
        x = lens.input_embeddings(ids)
        colors = [_("word")] * len(words)
        hover = list(words)
        labels = words
    try:
        coords = cached_projection(np.ascontiguousarray(x, np.float32).tobytes(), x.shape, projection)
    except PlmCoreError as err:
        st.error(md(tr(err)))
        return
    point = st.selectbox(_("Point"), list(range(len(labels))), key="evaluate.map.point", bind="query-params",
                         format_func=lambda i: f"{i}: {labels[i][:80]}")
    title = _("{projection} of {n:,} points", projection={"pca": "PCA", "tsne": "t-SNE", "umap": "UMAP"}[projection],
              n=len(labels))
    charts.plotly_chart(embedding_figure(coords, colors, hover, title, _("colour"), highlight=point),
                        key="evaluate.map.chart", on_select=_clicked_point, selection_mode="points")
    st.caption(_("Distances in a 2-D projection are approximate; the neighbours below are computed in the full "
                 "space (cosine)."))
    st.markdown(_("**Nearest neighbours of the chosen point (cosine, full dimension)**"))
    st.text(labels[point][:300])
    neighbours = em.nearest_neighbours(x, point, min(8, len(labels) - 1))
    st.dataframe([{_("neighbour"): labels[i], _("cosine"): c} for i, c in neighbours], hide_index=True,
                 key="evaluate.map.neighbours", column_config={_("cosine"): NUMBER})
    if source == "sentences":
        c1, c2, _rest = st.columns([1, 1, 3])
        if c1.button(_("Explain it in Attribution"), key="evaluate.map.attribution"):
            widgets.open_page("pages/attribution.py", widgets.Origin(spec, msg("the embedding map")),
                              **{"attribution.text": labels[point]})
        if c2.button(_("Open it in the Masking lab"), key="evaluate.map.masking"):
            widgets.open_page("pages/masking.py", widgets.Origin(spec, msg("the embedding map")),
                              **{"masking.text": labels[point]})
    else:
        analogy_view(lens)


def _clicked_point() -> None:
    """A click on the map chooses that point (its row index rides in the trace's customdata)."""
    event = st.session_state.get("evaluate.map.chart")
    points = (event or {}).get("selection", {}).get("points", [])
    if points and points[0].get("customdata") is not None:
        data = points[0]["customdata"]
        st.session_state["evaluate.map.point"] = int(data[0] if isinstance(data, list) else data)


def analogy_view(lens: Lens, prefix: str = "evaluate") -> None:
    """The word-analogy probe on the input embedding table (also lesson 1's static-embedding step)."""
    st.subheader(_("Word analogy: a − b + c"))
    st.caption(_("The tokens nearest to a − b + c in the input embedding table (a, b and c left out). Word2Vec "
                 "and GloVe learn one vector per word for exactly this; a subword vocabulary splits many words and "
                 "its input embeddings are trained only as the first layer of a deep model, so analogies come out "
                 "weaker here. A word must be one token."))
    c1, c2, c3 = st.columns(3)
    a = c1.text_input("a", "king", key=f"{prefix}.analogy.a", max_chars=MAX_CHARS, bind="query-params")
    b = c2.text_input("b", "man", key=f"{prefix}.analogy.b", max_chars=MAX_CHARS, bind="query-params")
    c = c3.text_input("c", "woman", key=f"{prefix}.analogy.c", max_chars=MAX_CHARS, bind="query-params")
    if not (a.strip() and b.strip() and c.strip()):
        return
    try:
        res = lens.analogy(a, b, c, k=10)
    except PlmCoreError as err:  # a word of several tokens: said, not guessed (the probe needs one row each)
        st.info(md(tr(err)))
        return
    st.dataframe([{_("token"): t, _("cosine"): v} for t, v in zip(res.tokens, res.cosines)], hide_index=True,
                 key=f"{prefix}.analogy.table", column_config={_("cosine"): NUMBER})


# ---- model cards --------------------------------------------------------------------------------------

def stored_macro_f1(model_id: str, data: Data | None) -> float | None:
    """Macro-F1 of the newest complete stored run of ``model_id`` on ``data`` (classes or label words)."""
    if data is None:
        return None
    sha = items_sha256(list(data.rows))
    for info in ui_bias.run_store().runs(PROBE, items_sha256=sha, model_id=model_id):
        if info.complete and info.config.get("mode") != "perplexity":
            try:
                return ui_bias.stored_result(info.run_id).metrics().get("f1", "macro").value
            except PlmCoreError:
                return None
    return None


def cards_view(spec: ModelSpec, data: Data | None) -> None:
    loaded = {h.spec: h for h in handles.loaded_handles()}
    specs = list(dict.fromkeys([spec, ModelSpec(widgets.default_model_id()), *loaded]))
    cards = []
    with st.spinner(_("Measuring {n} model(s) on this machine…", n=len(specs))):
        for s in specs:
            try:
                c = get_lens(s).model_card()
            except PlmCoreError as err:
                st.error(md(tr(err)))
                continue
            f1 = stored_macro_f1(s.model_id, data)
            cards.append(c if f1 is None else model_card.ModelCard(**{**c.__dict__, "macro_f1": f1}))
    if not cards:
        return
    facts = {_("kind"): lambda c: c.kind, _("architecture"): lambda c: c.model_type,
             _("parameters (M)"): lambda c: f"{c.n_parameters / 1e6:.1f}", _("layers"): lambda c: c.n_layers,
             _("heads (key/value heads)"): lambda c: f"{c.n_heads} ({c.n_kv_heads})", _("hidden size"): lambda c: c.hidden,
             _("vocabulary"): lambda c: f"{c.vocab:,}", _("context (tokens)"): lambda c: f"{c.context:,}",
             _("position scheme"): lambda c: c.positions, _("memory (MB)"): lambda c: f"{c.memory_mb:.0f}",
             _("device"): lambda c: c.device,
             _("forward, 16 tokens (ms)"): lambda c: f"{c.latency_ms.get(16, float('nan')):.1f}",
             _("forward, 128 tokens (ms)"): lambda c: f"{c.latency_ms.get(128, float('nan')):.1f}",
             _("tokens per 100 characters, English"): lambda c: f"{c.tokens_per_100_chars.get('en', float('nan')):.0f}",
             _("tokens per 100 characters, Chinese"): lambda c: f"{c.tokens_per_100_chars.get('zh', float('nan')):.0f}",
             _("macro-F1 on the chosen data"): lambda c: "—" if c.macro_f1 is None else f"{c.macro_f1:.3f}"}
    table = [{"": name, **{c.model_id: str(fn(c)) for c in cards}} for name, fn in facts.items()]
    st.dataframe(table, hide_index=True, key="evaluate.cards")
    st.caption(_("Parameters are sum(p.numel()); latency is the median of 5 forward passes (batch 1) after a "
                 "warm-up, measured now on this machine with whatever else it runs; the samples are one English "
                 "and one Chinese sentence. Macro-F1 comes from a complete stored evaluation of the model on the "
                 "chosen data (run it under Metrics)."))
    st.subheader(_("Which model for my task?"))
    for note in model_card.guide(cards):
        st.markdown("- " + md(tr(note)))
