"""The neuron view under the Attention page's query·key tab: pick a query token (by position), see how it meets each key."""

from __future__ import annotations

import numpy as np
import streamlit as st

from plm_core.neuron_view import neuron_view
from plm_core.types import QueryKeyResult
from plm_core.viz.generation_plots import neuron_view_figure
from ui import charts, widgets
from ui.safe import md
from plm_core import tolerances
from plm_core.i18n import _



def render(qk: QueryKeyResult, prefix: str) -> None:
    """A query-token picker, the neuron-view figure and the check that its sums are the scores."""
    st.markdown(_("**Neuron view** (bertviz): one query token against every key — its query vector **q**, each key "
                  "vector **k**, their element-wise product **q ⊙ k** (red pushes the score up, blue down), the sum "
                  "**q·k** (the score before the scale) and the softmax."))
    labels = qk.encoding.labels()
    query = st.selectbox(_("Query token"), list(range(len(labels))), index=min(2, len(labels) - 1),
                         key=f"{prefix}.query", format_func=lambda i: labels[i], bind="query-params")
    nv = neuron_view(qk, query)
    charts.plotly_chart(neuron_view_figure(nv), key=f"{prefix}.neuron")
    vis = np.array(nv.visible)
    diff = nv.score_diff(qk.scores[query])  # Σ q ⊙ k × scale (+ cap, bias)
    what = _("Σ q ⊙ k × scale + position bias") if qk.bias is not None else _("Σ q ⊙ k × scale")
    widgets.check_equal(what, _("row {row} of QKᵀ/√d_k", row=int(query)), diff, tolerances.SCORE_ROW)
    top = ", ".join(_("dim {d} ({v:+.2f})", d=d, v=v)
                    for d, v in nv.top_dimensions(int(np.argmax(np.where(vis, nv.probs, -1)))))
    st.caption(_("For the key this query attends to most, the dimensions that matter most: {top}.", top=md(top)))
