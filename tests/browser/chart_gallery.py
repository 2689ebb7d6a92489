"""A Streamlit script that draws every figure builder of plm_core.viz once, through ui.charts (the path every page
uses), for the layout tests: ``streamlit run tests/browser/chart_gallery.py`` (``?presenter=1`` for the presenter
scale). Encoder figures come from the embedded MiniLM, masked-LM ones from a tiny config-built BERT.
"""

from __future__ import annotations

import sys
from pathlib import Path

import plotly.graph_objects as go
import streamlit as st

ROOT = Path(__file__).resolve().parents[2]
for path in (ROOT, ROOT / "tests"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

from plm_core.loading import ModelSpec, load_model  # noqa: E402
from plm_core.testing import save_tiny, temp_folder  # noqa: E402
from ui import charts  # noqa: E402
from viz_samples import figures_of, sample_figures  # noqa: E402

st.set_page_config(page_title="chart gallery", layout="wide")


@st.cache_resource
def handles():
    folder = temp_folder("plm-gallery-")  # removed when the server stops (the suite leaves no plm-gallery-*)
    return (load_model(ModelSpec("embedded", device="cpu")),
            load_model(ModelSpec(str(save_tiny("masked_lm", folder / "mlm")), device="cpu")),
            load_model(ModelSpec(str(save_tiny("causal_lm", folder / "causal")), device="cpu")))


@st.cache_resource
def figures():
    encoder, mlm, causal = handles()
    return {name: figures_of(make()) for name, make in sample_figures(encoder, mlm, causal).items()}


presenter = st.query_params.get("presenter") == "1"
only = st.query_params.get("only")
st.title("Chart gallery")
charts.chart_text_contrast()  # as app.py does
with charts.presenter(presenter):
    for name, figs in figures().items():
        if only and not name.startswith(only):
            continue
        for n, fig in enumerate(figs):
            charts.plotly_chart(go.Figure(fig), key=f"gallery.{name}.{n}")  # a copy: the cache keeps scale 1
