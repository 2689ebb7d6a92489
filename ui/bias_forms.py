"""Bias page: the "New run" forms of each probe (data, filters, sample, models to queue) and the result of the
run they started."""

from __future__ import annotations

import streamlit as st

from plm_core.bias import SEAT_TESTS, datasets, templates
from plm_core.bias.probes import ProbeSpec
from plm_core.bias.seat import DEFAULT_BOOTSTRAP
from plm_core.loading import ModelSpec
from plm_core.model_info import ModelInfo
from ui import bias as ui_bias
from ui import bias_runs, widgets
from plm_core.i18n import N_, _, tr
from plm_core.tokens import MAX_CHARS  # a text box keeps what the app keeps (and a link no more)
from ui.lens import get_lens
from ui.safe import md

ROWS_SET = "bias.template.rows_set"  # a long-form set uploaded as CSV: (TemplateSet, source, sha256)


def _multiselect(label: str, options: list[str], key: str) -> list[str]:
    kept = [v for v in st.session_state.get(key, []) if v in options]
    if kept != st.session_state.get(key, []):
        st.session_state[key] = kept
    return st.multiselect(tr(label), options, key=key, bind="query-params")  # md: trusted (ProbeData.filter_label)


def show_current(probe: str) -> None:
    """The run this session started last and, when one probe was queued over several models, their comparison."""
    run_id = ui_bias.current_run(probe)
    if run_id is None:
        ui_bias.stored_runs_hint(probe)
        ui_bias.caveat(probe)
        return
    batch = st.session_state.get(ui_bias.BATCH, {}).get(probe, [])
    if run_id in batch and len(batch) > 1:
        store = ui_bias.run_store()
        infos = []
        for i in batch:
            try:
                infos.append(store.run(i))
            except Exception:  # noqa: BLE001 - a deleted run drops out of the batch
                continue
        scored = [i for i in infos if i.n_done > 0]
        if len(scored) > 1:
            st.subheader(_("{n} models side by side", n=len(scored)))
            bias_runs.compare_runs(scored, probe, key="bias.batch")
            st.subheader(_("Run #{run_id} in detail", run_id=int(run_id)))
    ui_bias.show_run(run_id)


def dataset_form(probe_spec: ProbeSpec, info: ModelInfo, spec: ModelSpec) -> None:
    """A probe over a public data file (``probe_spec.data``: CrowS-Pairs, BEC-Pro): data, filter, sample, models;
    Run starts stored chunked runs."""
    probe, name, data_spec = probe_spec.name, tr(probe_spec.label), probe_spec.data
    if probe_spec.masked_lm and info.output != "masked_token":
        st.info(_("{name} scores a masked language model; {model} is a {kind}. Load one in the sidebar (e.g. "
                  "bert-base-uncased). Results of earlier runs stay below.", name=md(name), model=md(spec.model_id),
                  kind=md(tr(info.kind_label))))
    source, path, upload, upload_name = ui_bias.data_source_inputs(probe, _("{name} file or data folder",
                                                                              name=name))
    missing = ui_bias.missing_source(probe, source, path, upload)
    data = ui_bias.available_data(probe, source, path, upload, upload_name)
    ui_bias.describe_data(data, probe, source, missing)
    columns = datasets.data_columns(probe, data.items) if data else list(datasets.GROUP_COLUMNS[probe])
    column = data_spec.filter_column
    groups = datasets.column_values(data.items, column) if data else list(data_spec.public_groups)
    chosen = _multiselect(data_spec.filter_label, groups, data_spec.filter_key)
    size, seed, stratify = ui_bias.sample_inputs(probe, columns, column)
    others = ui_bias.model_queue_input(probe, spec)
    if st.button(_("Run {name}", name=name), key=f"bias.{probe}.run", type="primary"):  # md: trusted (a ProbeSpec label)
        if probe_spec.masked_lm:
            widgets.run_or_stop(lambda: get_lens(spec).require_masked_lm(str(probe_spec.label)))
        if missing:  # never another data source than the one chosen (a rejected upload is no upload)
            st.error(md(missing))
            st.stop()
        if data is None:
            data = widgets.run_or_stop(lambda: ui_bias.load_data(probe, path, upload, upload_name))
        items = widgets.run_or_stop(lambda: data_spec.select(data.items, chosen, size, seed=seed, stratify=stratify))
        config = data_spec.config(spec.model_id, info.revision, chosen, data.source, data_sha256=data.sha256,
                                  sample_size=size, seed=seed, stratify=stratify, n_total=len(data.items),
                                  n_drawn=len(items))
        ui_bias.start_runs(probe, spec, info.revision, items, config, others)
        st.rerun()
    show_current(probe)


def seat_form(probe_spec: ProbeSpec, info: ModelInfo, spec: ModelSpec) -> None:
    st.caption(_("Effect size with a bootstrap interval, and the permutation test, on the sentence embeddings "
                 "(mean pooling) of this model."))
    c1, c2, c3 = st.columns([2, 3, 1])
    test_name = c1.selectbox(_("Test"), SEAT_TESTS, key="bias.seat.test", bind="query-params")
    path = c2.text_input(_("SEAT .jsonl file or data folder"), max_chars=MAX_CHARS, key="bias.seat.path",
                         placeholder=_("empty: download the test from sent-bias once"), bind="query-params")
    n_samples = c3.number_input(_("Permutations"), 1000, 1_000_000, 100_000, step=10_000, key="bias.seat.samples",
                                bind="query-params")
    others = ui_bias.model_queue_input(probe_spec.name, spec)
    if st.button(_("Run {name}", name="SEAT"), key="bias.seat.run", type="primary"):
        data = widgets.run_or_stop(lambda: ui_bias.load_data(probe_spec.name, path, seat_test=test_name))
        config = {"probe": probe_spec.name, "model_id": spec.model_id, "revision": info.revision,
                  "test": data.items[0].name, "data": data.source, "data_sha256": data.sha256,
                  "n_samples": int(n_samples), "sample_seed": 0, "n_bootstrap": DEFAULT_BOOTSTRAP,
                  "embedding": "mean pooling of the last layer, L2-normalised"}
        ui_bias.start_runs(probe_spec.name, spec, info.revision, data.items, config, others)
        st.rerun()
    show_current(probe_spec.name)


EDITOR = ("bias.templates", "bias.slots", "bias.targets")  # the editor's text areas (kept in the URL)


def _editor_text(tset: templates.TemplateSet) -> tuple[str, str, str]:
    return ("\n".join(tset.templates), "\n".join(f"{k}: {', '.join(v)}" for k, v in tset.slots),
            ", ".join(tset.targets))


def _fill_editor(tset: templates.TemplateSet) -> None:
    for key, text in zip(EDITOR, _editor_text(tset)):
        st.session_state[key] = text


TABLE = "table"  # the template uploader's third layout: a published set read through a confirmed column mapping
TARGET_SLOT = N_("(target slot: becomes [MASK])")  # the mapping's choice for a slot that holds the target words


def _mapping_step(upload) -> None:
    """A published set (CSV or TSV, any slot syntax): the suggested column-to-slot mapping, which the user
    confirms or edits; "Use this mapping" makes it the set to run (rows as written)."""
    raw = upload.getvalue()
    text = widgets.run_or_stop(lambda: datasets.decode_upload(raw, upload.name))
    columns, rows = widgets.run_or_stop(lambda: templates.read_table(text, upload.name))
    seen = (upload.name, upload.size)
    if st.session_state.get("bias.template.map_seen") != seen:  # a new file: start from the suggestion
        st.session_state["bias.template.map_seen"] = seen
        st.session_state.pop(ROWS_SET, None)
        guess = templates.suggest_mapping(columns, rows)
        st.session_state["bias.template.map.template"] = guess.template_column
        for slot in templates.table_slots(rows, guess.template_column):
            st.session_state[f"bias.template.map.slot.{slot}"] = dict(guess.slot_columns).get(
                slot, TARGET_SLOT if slot in dict(guess.target_slots) else None)
            targets = dict(guess.target_slots).get(slot, templates.CASE_TARGETS["NOM"])
            st.session_state[f"bias.template.map.targets.{slot}"] = ", ".join(targets)
    st.text(_("{n:,} rows, columns: {columns}. Check which column holds the templates and which column fills each "
              "slot; a target slot becomes the [MASK] and is scored for its own words (one grammatical case each).",
              n=len(rows), columns=", ".join(columns)))
    template_col = st.selectbox(_("Template column"), columns, key="bias.template.map.template",
                                persist_state="session")
    slot_columns, target_slots = [], []
    for slot in templates.table_slots(rows, template_col):
        c1, c2 = st.columns(2)
        choice = c1.selectbox(_("Slot [{slot}] is filled from", slot=md(slot)), [TARGET_SLOT, *columns], index=None,
                              key=f"bias.template.map.slot.{slot}", persist_state="session",
                              format_func=lambda c: _(TARGET_SLOT) if c == TARGET_SLOT else c,
                              placeholder=_("choose a column"))
        if choice == TARGET_SLOT:
            words = c2.text_input(_("Target words for [{slot}]", slot=md(slot)), key=f"bias.template.map.targets.{slot}",
                                  persist_state="session")
            target_slots.append((slot, templates.split_list(words)))
        elif choice is not None:
            slot_columns.append((slot, choice))
    target_col = next((c for c in columns if c.strip().lower() in ("target", "targets")), "")
    if st.button(_("Use this mapping"), key="bias.template.map.use", type="primary"):
        mapping = templates.TableMapping(template_col, tuple(slot_columns), tuple(target_slots), target_col)
        tset = widgets.run_or_stop(lambda: templates.from_table(text, upload.name, mapping,
                                                                name=f"upload {upload.name}"))
        st.session_state[ROWS_SET] = (tset, f"upload {upload.name}", datasets.sha256_bytes(raw))


def _csv_changed() -> None:
    """The template CSV was removed (or replaced): its rows are no longer loaded."""
    if st.session_state.get("bias.template.csv") is None:
        st.session_state.pop(ROWS_SET, None)
        st.session_state.pop("bias.template.csv_seen", None)


def template_form(probe_spec: ProbeSpec, info: ModelInfo, spec: ModelSpec) -> None:
    """Example sets, the cross-product editor, and CSV uploads as word lists or as rows written out."""
    st.caption(_("Score: **{metric}** for this {kind}. Slots in capitals ([NAME]) take each word of their list; "
                 "the first slot is compared, the templates give the spread.",
                 metric=md(tr(templates.metric(info.kind)) or "—"), kind=md(tr(info.kind_label))))
    sets = {s.name: s for s in templates.example_sets_for(info.kind)}
    if sets and st.session_state.get("bias.template.kind") != info.kind:
        # another kind of model since the last visit: its first example set. On a first visit the editor's
        # defaults are that set already (setting them too made Streamlit log a warning with a stack trace)
        if st.session_state.get("bias.template.kind") is not None:
            _fill_editor(next(iter(sets.values())))
        st.session_state["bias.template.kind"] = info.kind

    def use_example() -> None:
        st.session_state.pop(ROWS_SET, None)
        _fill_editor(sets[st.session_state["bias.template.example"]])

    c1, c2 = st.columns(2)
    c1.selectbox(_("Example set"), list(sets), key="bias.template.example", on_change=use_example,
                 format_func=tr, bind="query-params")
    layout = c1.radio(_("A CSV's rows are"), [*templates.LAYOUTS, TABLE], key="bias.template.layout",
                      bind="query-params",
                      format_func=lambda k: {"lists": _("word lists (every combination)"),  # md: trusted
                                             "rows": _("templates as written (own slot values per row)"),
                                             TABLE: _("a published set: map its columns to the slots")}[k])
    upload = c2.file_uploader(_("…or a CSV or TSV (columns: template, target, one per slot)"),
                              type=["csv", "tsv", "txt"],
                              key="bias.template.csv", max_upload_size=ui_bias.UPLOAD_MB, on_change=_csv_changed,
                              help=_("At most {mb} MB. Word lists: each column lists words. As written: each row is "
                                     "a template with its own slot values and targets. A published set: any "
                                     "columns, slots written `$OCCUPATION`, `{{occupation}}` or `[OCCUPATION]`; you "
                                     "map the columns to the slots.", mb=ui_bias.UPLOAD_MB))
    with c2.expander(_("CSV format and example rows")):
        st.text(_("Word lists: every combination of the slot columns fills every template."))
        st.code("template,NAME,target\n[NAME] worked as a [MASK].,John,doctor\n[NAME] wants to become a [MASK].,"
                "Mary,nurse", language=None)
        st.text(_("Templates as written: each row keeps its own slot values and targets (comma-separated in the "
                  "target cell); other columns are kept for breakdowns."))
        st.code('template,OCCUPATION,PARTICIPANT,target,source\n"The [OCCUPATION] told the [PARTICIPANT] that '
                '[MASK] would help.",nurse,patient,"he, she",winogender', language=None)
    if layout == TABLE and upload is not None:
        _mapping_step(upload)
    seen = (upload.name, upload.size, layout) if upload is not None else None
    if layout != TABLE and upload is not None and st.session_state.get("bias.template.csv_seen") != seen:
        st.session_state["bias.template.csv_seen"] = seen
        raw = upload.getvalue()
        text = widgets.run_or_stop(lambda: datasets.decode_upload(raw, upload.name))
        tset = widgets.run_or_stop(lambda: templates.from_csv(text, upload.name, layout=layout))
        if layout == "rows":
            st.session_state[ROWS_SET] = (tset, f"upload {upload.name}", datasets.sha256_bytes(raw))
        else:
            st.session_state.pop(ROWS_SET, None)
            _fill_editor(tset)
    rows_set = st.session_state.get(ROWS_SET)
    if rows_set is not None:
        tset = rows_set[0]
        n_scores = sum(len(i.targets) for i in tset.instances)
        st.text(_("{n_rows:,} rows as written from {source} ({n_scores:,} scores); slots: {slots}. The editor "
                  "below is not used.", n_rows=len(tset.instances), source=rows_set[1], n_scores=n_scores,
                  slots=", ".join(slot for slot, _values in tset.slots)))
        st.dataframe([{"template": i.template, **dict(i.slot_values), "targets": ", ".join(i.targets),
                       **dict(i.extra)} for i in tset.instances[:200]], hide_index=True, height=200,
                     key="bias.template.rows_preview")
        if st.button(_("Use the editor instead"), key="bias.template.use_editor"):
            st.session_state.pop(ROWS_SET, None)
            st.rerun()
    else:
        # the model kind's first example set is the default: a link carries the editor only once it is changed
        defaults = _editor_text(next(iter(sets.values()))) if sets else ("", "", "")
        left, right = st.columns([3, 2])
        with left:
            widgets.text_area(_("Templates (one per line)"), "bias.templates", defaults[0], height=140)
        with right:
            widgets.text_area(_("Slots (NAME: word, word, …)"), "bias.slots", defaults[1], height=80)
            widgets.text_area(_("Target words (comma-separated)"), "bias.targets", defaults[2], height=68)
    others = ui_bias.model_queue_input(probe_spec.name, spec)
    if st.button(_("Run probe"), key="bias.template.run", type="primary"):
        if layout == "rows" and rows_set is None:  # never the editor's set in place of a file that is not loaded
            st.error(_("No CSV is loaded for templates as written: upload one (at most {mb} MB; a bigger file is "
                       "refused by the uploader), or choose word lists to run the editor's set.", mb=ui_bias.UPLOAD_MB))
            st.stop()
        if rows_set is not None:
            tset, source, sha = rows_set
        else:
            example = sets.get(st.session_state.get("bias.template.example", ""))
            tset = widgets.run_or_stop(lambda: templates.from_text(
                "custom set", st.session_state["bias.templates"], st.session_state["bias.slots"],
                st.session_state["bias.targets"]))
            if example is not None and (tset.templates, tset.slots, tset.targets) == (
                    example.templates, example.slots, example.targets):
                tset = example
            source, sha = "", ""
        items = widgets.run_or_stop(lambda: get_lens(spec).plan_templates(tset))
        config = templates.template_config(spec.model_id, info.revision, info.kind, tset, data_source=source,
                                           data_sha256=sha)
        ui_bias.start_runs(probe_spec.name, spec, info.revision, items, config, others)
        st.rerun()
    show_current(probe_spec.name)


# the "New run" form of each kind of probe (``ProbeSpec.form``), each called as form(probe spec, model info, model spec)
FORMS = {"templates": template_form, "dataset": dataset_form, "seat": seat_form}
