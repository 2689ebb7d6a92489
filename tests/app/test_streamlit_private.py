"""The app's two uses of Streamlit internals, each behind one function (ui.widgets._leave_legacy_pages_mode,
ui.language._choice_widgets): these tests fail when the installed Streamlit no longer has what they rely on."""

from __future__ import annotations

import inspect

from streamlit.testing.v1 import AppTest

from helpers import app_timeout


def test_legacy_pages_flag_is_what_streamlit_reads_and_st_navigation_sets(tmp_path, monkeypatch):
    from streamlit.commands import navigation
    from streamlit.runtime.pages_manager import PagesManager
    from streamlit.runtime.scriptrunner import script_runner

    from ui import widgets

    assert "uses_pages_directory" in vars(PagesManager)  # a class attribute: one flag for the process
    assert "main_script_path" in inspect.signature(PagesManager.__init__).parameters
    # a run picks the legacy pages/ runner by this flag; st.navigation (documented) clears it
    assert "PagesManager.uses_pages_directory" in inspect.getsource(script_runner.ScriptRunner)
    assert "PagesManager.uses_pages_directory = False" in inspect.getsource(navigation.navigation)

    monkeypatch.setattr(PagesManager, "uses_pages_directory", None)  # a fresh process
    (tmp_path / "pages").mkdir()
    (tmp_path / "app.py").write_text("")
    PagesManager(str(tmp_path / "app.py"))
    assert PagesManager.uses_pages_directory is True  # a pages/ folder beside the entrypoint: legacy mode
    assert widgets._leave_legacy_pages_mode() is True
    assert PagesManager.uses_pages_directory is False
    assert widgets._leave_legacy_pages_mode() is False  # once left, nothing to do


def _script():
    import streamlit as st

    from ui import language

    st.selectbox("pick", [1, 2, 3], key="pick", format_func=lambda i: f"item {i}")
    st.radio("way", ["a", "b"], key="way")
    st.segmented_control("step", [1, 2], key="step", default=1)
    st.text_input("text", key="text")  # not a choice
    st.selectbox("unkeyed", [1, 2])  # no user key: nothing to reset
    st.session_state["found"] = {c.key: (c.options, c.shown, c.format_func is not None)
                                 for c in language._choice_widgets()}


def test_choice_widgets_are_read_from_streamlits_widget_registry():
    at = AppTest.from_function(_script, default_timeout=app_timeout(60))
    at.run()
    assert not at.exception, at.exception
    at.run()  # the registry as a callback sees it: after a run
    found = at.session_state["found"]
    assert found["pick"] == ((1, 2, 3), ("item 1", "item 2", "item 3"), True)
    assert found["way"][:2] == (("a", "b"), ("a", "b"))
    assert found["step"][:2] == ((1, 2), ("1", "2"))
    assert set(found) == {"pick", "way", "step"}
