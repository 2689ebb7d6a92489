"""The language switch: sidebar, every page, kept in the URL as ``?lang=zh`` (English when absent).

Every script run starts with :func:`language_switch` (app.py), which makes the session's language the active
language of :mod:`plm_core.i18n` for this run's thread (a ContextVar: sessions run in their own threads and never
see each other's language) and mirrors it into the address bar.

The switch is not ``bind="query-params"``: Streamlit matches a bound radio's URL value against the *displayed*
option, which would put ``?lang=中文`` in links; the codes ``en`` / ``zh`` are what a link carries, so the switch
reads ``?lang=`` once per session and writes it back on every run.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import streamlit as st

from plm_core.i18n import DEFAULT_LANGUAGE, LANGUAGES, _, set_language, use_language

PARAM = "lang"  # query parameter (?lang=zh)
KEY = "language"  # the switch's widget key


def _from_url() -> str:
    value = st.query_params.get(PARAM, DEFAULT_LANGUAGE)
    return value if value in LANGUAGES else DEFAULT_LANGUAGE


def current() -> str:
    """The session's language: the switch's value, else the URL's ``lang``, else English."""
    value = st.session_state.get(KEY)
    return value if value in LANGUAGES else _from_url()


def activate() -> str:
    """Make the session's language active for the rest of this script run; returns its code."""
    return set_language(current())


def language_switch() -> str:
    """Sidebar: English / 中文, kept in ``?lang=``. Call at the top of every run (app.py), before any text."""
    if st.session_state.get(KEY) not in LANGUAGES:
        st.session_state[KEY] = _from_url()  # a fresh session (an opened link)
    activate()  # the label below is already in the session's language
    lang = st.sidebar.radio(_("Language"), list(LANGUAGES), format_func=LANGUAGES.get, key=KEY, horizontal=True,
                            on_change=forget_translated_choices)
    lang = set_language(lang)
    if lang == DEFAULT_LANGUAGE:
        if PARAM in st.query_params:
            del st.query_params[PARAM]
    elif st.query_params.get(PARAM) != lang:
        st.query_params[PARAM] = lang
    return lang


def toggle() -> None:
    """Switch English ↔ 中文 (a button callback: the presenter view, where the sidebar is hidden)."""
    st.session_state[KEY] = "en" if current() == "zh" else "zh"
    forget_translated_choices()


def forget_translated_choices() -> None:
    """After a language change, let every choice widget whose options read differently start again.

    Streamlit 1.67 keeps a select box's, radio's or pill's value as the *displayed* option text; once the options are
    shown in the other language that text matches none of them and the widget would return the old label itself
    instead of an option. Those widgets (and only those: token pills, model ids and numbers read the same) are
    reset to their default (``st.session_state.pop``), which the URL-backed ones take from the address bar again.
    Which widgets those are, only Streamlit's widget registry knows: :func:`_choice_widgets` reads it.
    """
    new = current()
    for choice in _choice_widgets():
        if choice.key == KEY:
            continue
        try:
            with use_language(new):
                changed = (choice.format_func is None
                           or [str(choice.format_func(o)) for o in choice.options] != list(choice.shown))
        except Exception:  # noqa: BLE001 - a format_func that cannot run here: reset to be safe
            changed = True
        if changed:
            st.session_state.pop(choice.key, None)


@dataclass(frozen=True)
class Choice:
    """A choice widget of this session as Streamlit registered it."""

    key: str  # the widget's key (its st.session_state key)
    options: tuple[Any, ...]
    shown: tuple[str, ...]  # the options as displayed (format_func applied when it was drawn)
    format_func: Callable[[Any], Any] | None


def _choice_widgets() -> list[Choice]:
    """The session's keyed choice widgets (select box, radio, pills, segmented control…) with their options as
    displayed. The app's one read of Streamlit's private widget state: no documented API lists a widget's options
    (``st.session_state`` holds values only), and ``bind="query-params"`` would put the displayed text, not the
    language code, in links (see the module doc).

    Streamlit 1.67: ``SessionState._key_id_mapper._key_id_mapping`` (user key → widget id) and
    ``_new_widget_state.widget_metadata[id].deserializer`` (a bound method of the widget's serde, whose
    ``options``, ``formatted_options`` and ``format_func`` are read). Where that moved: [] (nothing is reset; the
    app keeps working) — and ``tests/app/test_streamlit_private.py`` fails.
    """
    try:
        from streamlit.runtime.state import get_session_state

        state = get_session_state()._state
        ids = dict(state._key_id_mapper._key_id_mapping)
        metas = state._new_widget_state.widget_metadata
    except Exception:  # noqa: BLE001 - internals moved
        return []
    choices = []
    for key, wid in ids.items():
        serde = getattr(getattr(metas.get(wid), "deserializer", None), "__self__", None)
        shown = getattr(serde, "formatted_options", None)
        if shown is None:
            continue
        choices.append(Choice(key, tuple(getattr(serde, "options", ())), tuple(shown),
                              getattr(serde, "format_func", None)))
    return choices
