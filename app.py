"""plm-lens: see why a pretrained language model predicts what it does.

Run with ``streamlit run app.py``. The sidebar picks the language (``?lang=zh``) and the model (the embedded
all-MiniLM-L6-v2 by default); each page is a thin script over ``plm_core``.
"""

from __future__ import annotations

import ui.preload  # noqa: F401  first: imports the whole app in one thread (sessions are threads; see its docstring)

import streamlit as st  # noqa: E402  (isort: after the preload)

from plm_core.i18n import _
from ui import charts, language, widgets

# the favicon must not be a :material/…: icon: the frontend fetches that one from fonts.gstatic.com (fails offline)
st.set_page_config(page_title="plm-lens", page_icon="🔍", layout="wide")

language.language_switch()  # first: every string below is in the session's language
PAGES = [
    st.Page("pages/home.py", title=_("Home"), icon=":material/home:", default=True),
    st.Page("pages/attention.py", title=_("Attention"), icon=":material/visibility:", url_path="attention"),
    st.Page("pages/attribution.py", title=_("Attribution"), icon=":material/target:", url_path="attribution"),
    st.Page("pages/bias.py", title=_("Bias probes"), icon=":material/balance:", url_path="bias"),
    st.Page("pages/masking.py", title=_("Masking lab"), icon=":material/masks:", url_path="masking"),
    st.Page("pages/generation.py", title=_("Generation"), icon=":material/edit_note:", url_path="generation"),
    st.Page("pages/compare.py", title=_("Compare"), icon=":material/compare_arrows:", url_path="compare"),
    st.Page("pages/lessons.py", title=_("Lessons"), icon=":material/school:", url_path="lessons"),
    st.Page("pages/inside.py", title=_("Inside the model"), icon=":material/hub:", url_path="inside"),
    st.Page("pages/evaluate.py", title=_("Evaluate"), icon=":material/analytics:", url_path="evaluate"),
]

navigation = st.navigation(PAGES)
widgets.mark_shell_ran()
widgets.model_picker()
charts.export_format_picker()
charts.chart_text_contrast()
widgets.link_check()  # before the page (which may stop early): a cut link text, a view too long for a link
navigation.run()
