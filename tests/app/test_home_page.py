"""AppTest of the landing page and the app shell (sidebar model picker) on the embedded and a tiny model."""

from __future__ import annotations

import pytest
from helpers import shown


@pytest.mark.slow
def test_home_opens_on_the_embedded_model(app_factory):
    at = app_factory("embedded").run()
    assert not at.exception, at.exception
    assert at.title[0].value == "plm-lens"
    table = next(m.value for m in at.markdown if "| page | what it shows |" in m.value)
    assert "| **Attention** |" in table
    # the sidebar: the embedded model preselected, its kind, shape and device shown
    assert at.selectbox(key="model.choice").value == "sentence-transformers/all-MiniLM-L6-v2"
    caption = " ".join(shown(c.value) for c in at.sidebar.caption)
    assert "sentence encoder" in caption and "6 layers × 12 heads" in caption and "device: cpu" in caption
    assert at.query_params["model"] == "sentence-transformers/all-MiniLM-L6-v2"
    assert not at.error and not at.sidebar.error


def test_home_on_a_tiny_folder(app_factory, tiny_dirs):
    at = app_factory(str(tiny_dirs["classifier"])).run()
    assert not at.exception, at.exception
    assert at.selectbox(key="model.choice").value.startswith("Other")
    assert at.text_input(key="model.custom").value == str(tiny_dirs["classifier"])
    caption = " ".join(shown(c.value) for c in at.sidebar.caption)
    assert "sequence classifier" in caption and "2 layers × 4 heads" in caption


def test_unloadable_default_model_shows_why(app_factory, tmp_path):
    at = app_factory(str(tmp_path)).run()  # an empty folder: no config.json
    assert not at.exception, at.exception
    assert any("has no config.json" in shown(e.value) for e in at.sidebar.error)
    assert at.title[0].value == "plm-lens"  # the landing page still renders
    at.switch_page("pages/attention.py").run()
    assert not at.exception, at.exception
    assert [shown(w.value) for w in at.warning] == ["No model is loaded: choose one in the sidebar."]


@pytest.mark.slow
def test_bad_model_link_opens_the_default(app_factory):
    at = app_factory("embedded", query={"model": "/no/such/folder"}).run()
    assert not at.exception, at.exception
    errors = [shown(e.value) for e in at.sidebar.error]
    assert len(errors) == 1 and "there is no folder '/no/such/folder'" in errors[0]
    assert errors[0].endswith("opened sentence-transformers/all-MiniLM-L6-v2 instead.")
    assert at.query_params["model"] == "sentence-transformers/all-MiniLM-L6-v2"
    at.switch_page("pages/attention.py").run()
    assert not at.exception and not at.sidebar.error  # the next run is on the default, no error left over
    assert any(m.value.startswith("**13 tokens**") for m in at.markdown)


def test_model_loaded_once_for_reruns_and_sessions(app_factory, tiny_dirs, monkeypatch):
    """The model cache: one handle per process, whatever the reruns and the number of sessions."""
    from streamlit.testing.v1 import AppTest

    import ui.resources as resources

    loaded = []
    real = resources.load_model
    monkeypatch.setattr(resources, "load_model", lambda spec: loaded.append(spec) or real(spec))
    first = app_factory(str(tiny_dirs["masked_lm"])).run()
    first.switch_page("pages/attention.py").run()
    first.text_area(key="attention.text").input("the cat sat").run()
    first.run()
    second = AppTest.from_file(first._script_path, default_timeout=120).run()  # another session, same process
    second.switch_page("pages/attention.py").run()
    assert not first.exception and not second.exception
    assert len(loaded) == 1
    assert any(m.value.startswith("**5 tokens**") for m in first.markdown)
    assert any(m.value.startswith("**13 tokens**") for m in second.markdown)
