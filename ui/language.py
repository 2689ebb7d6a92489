"""The language switch: sidebar, every page, kept in the URL as ``?lang=zh`` (English when absent).

The switch is a radio bound to the query parameter ``lang`` (Streamlit's ``bind="query-params"``). Every script
run starts by :func:`activate`, which makes the session's language the active language of :mod:`plm_core.i18n`
for this run's thread (a ContextVar: sessions run in their own threads and never see each other's language).
"""

from __future__ import annotations

import streamlit as st

from plm_core.i18n import DEFAULT_LANGUAGE, LANGUAGES, _, set_language

KEY = "lang"  # widget key = query parameter


def current() -> str:
    """The session's language: the switch's value, else the URL's ``lang``, else English."""
    value = st.session_state.get(KEY)
    if value not in LANGUAGES:
        value = st.query_params.get(KEY, DEFAULT_LANGUAGE)
    return value if value in LANGUAGES else DEFAULT_LANGUAGE


def activate() -> str:
    """Make the session's language active for the rest of this script run; returns its code."""
    return set_language(current())


def language_switch() -> str:
    """Sidebar: English / 中文, bound to ``?lang=``. Call at the top of every run (app.py), before any text."""
    activate()  # the label below is already in the session's language
    lang = st.sidebar.radio(_("Language"), list(LANGUAGES), format_func=LANGUAGES.get, key=KEY, horizontal=True,
                            bind="query-params")
    return set_language(lang)


def toggle() -> None:
    """Switch English ↔ 中文 (a button callback: the presenter view, where the sidebar is hidden)."""
    st.session_state[KEY] = "en" if current() == "zh" else "zh"
