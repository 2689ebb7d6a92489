"""Bias probes: template sets, CrowS-Pairs, BEC-Pro and SEAT, with intervals, stored runs, comparisons across
models, and drill-down into any item's explanation."""

import ui.preload  # noqa: F401  first: a page opened by its URL runs without app.py (see ui/preload.py)

import streamlit as st

from ui import bias as ui_bias
from ui import bias_forms, bias_runs, widgets
from plm_core.bias.probes import PROBE_SPECS
from plm_core.i18n import N_, _, tr

VIEWS = {"run": N_("New run"), "runs": N_("Stored runs"), "compare": N_("Compare models")}

info = widgets.require_info()
spec = widgets.active_spec()
st.title(_("Bias probes"))
ui_bias.content_warning()
progress_slot = st.container()
c1, c2 = st.columns([3, 2])
probe = c1.radio(_("Probe"), list(PROBE_SPECS), format_func=lambda p: tr(PROBE_SPECS[p].label), horizontal=True,  # md: trusted (ProbeSpec labels: core constants)
                 key="bias.probe", bind="query-params")
view = c2.radio(_("Show"), list(VIEWS), format_func=lambda v: _(VIEWS[v]), horizontal=True, key="bias.view",
                bind="query-params")

if view == "runs":
    bias_runs.runs_view(probe)
elif view == "compare":
    bias_runs.compare_view(probe, ui_bias.current_run(probe))
else:
    bias_forms.FORMS[PROBE_SPECS[probe].form](PROBE_SPECS[probe], info, spec)

ui_bias.step_job(progress_slot)
