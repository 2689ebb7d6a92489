"""Evaluate: how good is the model on your labelled data, where does it fail (and why, one click away), how do
its sentences lie in its embedding space, and which model to choose (model cards measured here)."""

import ui.preload  # noqa: F401  first: a page opened by its URL runs without app.py (see ui/preload.py)

import streamlit as st

from plm_core.i18n import N_, _, tr
from plm_core.errors import PlmCoreError
from plm_core.loading import ModelSpec
from ui import bias as ui_bias
from ui import evaluate as ue
from ui import widgets
from ui.safe import md

VIEWS = {"metrics": N_("Metrics on your data"), "map": N_("Embedding map"), "cards": N_("Model cards")}

info = widgets.require_info()
spec = widgets.active_spec()
st.title(_("Evaluate"))
st.caption(_("Run the model on a labelled set: accuracy, precision, recall and F1 with intervals, the confusion "
             "matrix, slices and the errors, each one click from its explanation; map the sentences' embeddings; "
             "compare what models cost on this machine."))
progress_slot = st.container()
view = st.radio(_("Show"), list(VIEWS), format_func=lambda v: _(VIEWS[v]), horizontal=True, key="evaluate.view",
                bind="query-params")
data = ue.data_input()
if data is not None:
    ue.describe(data)
run_id = ui_bias.current_run(ue.PROBE)
result = None
if run_id is not None:
    try:
        result = ui_bias.stored_result(run_id)
    except PlmCoreError as err:
        st.error(md(tr(err)))
# the map colours by predictions only of this model on this data
matching = result if (result is not None and data is not None and result.model_id == spec.model_id
                      and result.config.get("data_sha256") == data.sha256) else None

if view == "metrics":
    chosen = ue.mode_input(info, spec)
    if chosen is not None and data is not None:
        mode, config = chosen
        if st.button(_("Evaluate {n:,} examples", n=len(data.rows)), key="evaluate.run", type="primary"):
            ue.start(info, spec, data, config)
    ue.stored_runs()
    if result is not None:
        ui_bias.job_status(run_id)
        ue.describe_run(run_id)
        ue.show_result(result, ModelSpec(result.model_id))
elif view == "map":
    ue.map_view(info, spec, data, matching)
else:
    ue.cards_view(spec, data)

ui_bias.step_job(progress_slot)
