"""Bias probes: template sets, CrowS-Pairs, BEC-Pro and SEAT, with drill-down into any item's explanation."""

import streamlit as st

from plm_core.bias import SEAT_TESTS, templates
from plm_core.bias.crows_pairs import select_pairs
from plm_core.bias.common import require_masked_lm
from ui import bias as ui_bias
from ui import widgets
from ui.safe import md

PROBES = {"template": "Templates", "crows_pairs": "CrowS-Pairs", "bec_pro": "BEC-Pro", "seat": "SEAT"}
BIAS_TYPES = ["race-color", "gender", "socioeconomic", "nationality", "religion", "age", "sexual-orientation",
              "physical-appearance", "disability"]

handle = widgets.require_handle()
spec = widgets.active_spec()
st.title("Bias probes")
ui_bias.content_warning()
progress_slot = st.container()
probe = st.radio("Probe", list(PROBES), format_func=PROBES.get, horizontal=True, key="bias.probe")


def fill_editor(tset: templates.TemplateSet) -> None:
    st.session_state["bias.templates"] = "\n".join(tset.templates)
    st.session_state["bias.slots"] = "\n".join(f"{k}: {', '.join(v)}" for k, v in tset.slots)
    st.session_state["bias.targets"] = ", ".join(tset.targets)


if probe == "template":
    st.caption(f"Score: **{md(templates.METRICS.get(handle.kind, '—'))}** for this {md(handle.kind)}. Slots in capitals "
               "([NAME]) take each word of their list; the first slot is compared, the templates give the spread.")
    sets = {s.name: s for s in templates.example_sets_for(handle.kind)}
    if sets and st.session_state.get("bias.template.kind") != handle.kind:
        st.session_state["bias.template.kind"] = handle.kind
        fill_editor(next(iter(sets.values())))
    c1, c2 = st.columns(2)
    c1.selectbox("Example set", list(sets), key="bias.template.example",
                 on_change=lambda: fill_editor(sets[st.session_state["bias.template.example"]]))
    upload = c2.file_uploader("…or a CSV (columns: template, target, one per slot)", type=["csv"],
                              key="bias.template.csv")
    if upload is not None and st.session_state.get("bias.template.csv_seen") != (upload.name, upload.size):
        st.session_state["bias.template.csv_seen"] = (upload.name, upload.size)
        from plm_core.bias import datasets

        fill_editor(widgets.run_or_stop(lambda: templates.from_csv(datasets.decode_upload(upload.getvalue(), upload.name),
                                                                   upload.name)))
    left, right = st.columns([3, 2])
    with left:
        text = widgets.text_area("Templates (one per line)", "bias.templates", height=140)
    with right:
        slots = widgets.text_area("Slots (NAME: word, word, …)", "bias.slots", height=80)
        targets = widgets.text_area("Target words (comma-separated)", "bias.targets", height=68)
    if st.button("Run probe", key="bias.template.run", type="primary"):
        example = sets.get(st.session_state.get("bias.template.example", ""))
        tset = widgets.run_or_stop(lambda: templates.from_text("custom set", text, slots, targets))
        if example is not None and (tset.templates, tset.slots, tset.targets) == (
                example.templates, example.slots, example.targets):
            tset = example
        ui_bias.run_template_probe(spec, tset)
    if (result := ui_bias.saved("template")) is not None:
        ui_bias.show_template(result)

elif probe in ("crows_pairs", "bec_pro"):
    name = PROBES[probe]
    if handle.kind != "masked_lm":
        st.info(f"{md(name)} scores a masked language model; {md(spec.model_id)} is a {md(handle.kind)}. Load one in the "
                "sidebar (e.g. bert-base-uncased). Results of earlier runs stay below.")
    path, data, upload_name = ui_bias.data_source_inputs(probe, f"{name} file or data folder")
    c1, c2 = st.columns(2)
    limit = c1.number_input("Only the first N items (0 = all)", 0, 100_000, 0, key=f"bias.{probe}.limit")
    types = c2.multiselect("Bias types (none = all)", BIAS_TYPES, key="bias.crows_pairs.types") \
        if probe == "crows_pairs" else None
    if st.button(f"Run {name}", key=f"bias.{probe}.run", type="primary"):
        widgets.run_or_stop(lambda: require_masked_lm(handle, name))
        items, source = widgets.run_or_stop(lambda: ui_bias.load_data(probe, path, data, upload_name))
        if probe == "crows_pairs":
            items = widgets.run_or_stop(lambda: select_pairs(items, types, limit or None))
        else:
            items = items[:limit] if limit else items
        config = {"probe": probe, "model_id": spec.model_id, "revision": handle.revision, "data": source,
                  "limit": int(limit) or None, "bias_types": types or []}
        ui_bias.start_job(probe, spec, tuple(items), config)
        st.rerun()
    ui_bias.job_status(probe)
    if (result := ui_bias.job_result(probe)) is not None:
        (ui_bias.show_crows if probe == "crows_pairs" else ui_bias.show_bec)(result)
    else:
        ui_bias.caveat(probe)

else:
    st.caption("Effect size and permutation test on the sentence embeddings (mean pooling) of this model.")
    c1, c2, c3 = st.columns([2, 3, 1])
    test_name = c1.selectbox("Test", SEAT_TESTS, key="bias.seat.test")
    path = c2.text_input("SEAT .jsonl file or data folder", key="bias.seat.path",
                         placeholder="empty: download the test from sent-bias once")
    n_samples = c3.number_input("Permutations", 1000, 1_000_000, 100_000, step=10_000, key="bias.seat.samples")
    if st.button("Run SEAT", key="bias.seat.run", type="primary"):
        test, source = widgets.run_or_stop(lambda: ui_bias.load_data("seat", path, seat_test=test_name))
        ui_bias.seat_probe(spec, test, source, int(n_samples))
    if (result := ui_bias.saved("seat")) is not None:
        ui_bias.show_seat(result)
    else:
        ui_bias.caveat("seat")

ui_bias.step_job(progress_slot)
