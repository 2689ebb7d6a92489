"""Bias probes: template sets, CrowS-Pairs, BEC-Pro and SEAT, with intervals, stored runs, comparisons across
models, and drill-down into any item's explanation."""

import streamlit as st

from ui import bias as ui_bias
from ui import bias_forms, bias_runs, widgets

VIEWS = {"run": "New run", "runs": "Stored runs", "compare": "Compare models"}

handle = widgets.require_handle()
spec = widgets.active_spec()
st.title("Bias probes")
ui_bias.content_warning()
progress_slot = st.container()
c1, c2 = st.columns([3, 2])
probe = c1.radio("Probe", list(bias_forms.PROBES), format_func=bias_forms.PROBES.get, horizontal=True,
                 key="bias.probe", bind="query-params")
view = c2.radio("Show", list(VIEWS), format_func=VIEWS.get, horizontal=True, key="bias.view", bind="query-params")

if view == "runs":
    bias_runs.runs_view(probe)
elif view == "compare":
    bias_runs.compare_view(probe, ui_bias.current_run(probe, spec.model_id))
elif probe == "template":
    bias_forms.template_form(handle, spec)
elif probe == "seat":
    bias_forms.seat_form(handle, spec)
else:
    bias_forms.dataset_form(probe, handle, spec)

ui_bias.step_job(progress_slot)
