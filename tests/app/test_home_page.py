"""AppTest of the landing page and the app shell (sidebar model picker) on the embedded and a tiny model."""

from __future__ import annotations

import pytest
from helpers import app_timeout, shown


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

    from plm_core import loading

    loaded = []
    real = loading.load_model
    monkeypatch.setattr(loading, "load_model", lambda spec: loaded.append(spec) or real(spec))
    first = app_factory(str(tiny_dirs["masked_lm"])).run()
    first.switch_page("pages/attention.py").run()
    first.text_area(key="attention.text").input("the cat sat").run()
    first.run()
    second = AppTest.from_file(first._script_path, default_timeout=app_timeout()).run()  # another session, same process
    second.switch_page("pages/attention.py").run()
    assert not first.exception and not second.exception
    assert len(loaded) == 1
    assert any(m.value.startswith("**5 tokens**") for m in first.markdown)
    assert any(m.value.startswith("**13 tokens**") for m in second.markdown)


def _sidebar_titles() -> list[str]:
    """The page titles in app.py's navigation order (the sidebar's)."""
    import ast
    from pathlib import Path

    tree = ast.parse((Path(__file__).resolve().parents[2] / "app.py").read_text(encoding="utf-8"))
    return [kw.value.args[0].value for node in ast.walk(tree) if isinstance(node, ast.Call)
            and getattr(node.func, "attr", "") == "Page" for kw in node.keywords if kw.arg == "title"]


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_home_lists_the_pages_in_the_sidebars_order(app_factory, tiny_dirs, lang):
    """Issue 24, item 5: Home listed the pages in another order than the sidebar."""
    import re

    from plm_core.i18n import translations

    at = app_factory(str(tiny_dirs["classifier"]), query={"lang": lang} if lang != "en" else None).run()
    assert not at.exception, at.exception
    table = next(m.value for m in at.markdown if m.value.count("| **") >= 5)
    listed = re.findall(r"^\| \*\*(.+?)\*\* \|", table, flags=re.M)
    sidebar = [translations(lang).gettext(t) for t in _sidebar_titles() if t != "Home"]
    assert listed == [t for t in sidebar if t in listed] and len(listed) == len(sidebar), (listed, sidebar)


def test_a_typed_folder_loads_without_choosing_other_and_a_failed_load_resets_the_list(app_factory, tiny_dirs,
                                                                                       tmp_path):
    """Issue 24, item 5: a Hub id or folder typed into "Hub id or folder" was ignored unless the list was first set
    to "Other…"; after a failed load the list still showed the failed id while the app kept the old model."""
    at = app_factory("embedded").run()
    at.text_input(key="model.custom").input(str(tiny_dirs["classifier"]))  # the list still shows the embedded model
    at.button(key="FormSubmitter:model.form-Load model").click().run()
    assert not at.exception and not at.sidebar.error, [shown(e.value) for e in at.sidebar.error]
    assert at.session_state["model.spec"].model_id == str(tiny_dirs["classifier"])
    assert "sequence classifier" in " ".join(shown(c.value) for c in at.sidebar.caption)
    broken = tmp_path / "not-a-model"
    broken.mkdir()
    at.text_input(key="model.custom").input(str(broken))
    at.button(key="FormSubmitter:model.form-Load model").click().run()
    assert not at.exception, at.exception
    (err,) = at.sidebar.error
    assert "still using" in shown(err.value) and str(tiny_dirs["classifier"]) in shown(err.value)
    assert at.session_state["model.spec"].model_id == str(tiny_dirs["classifier"])
    assert at.text_input(key="model.custom").value == str(tiny_dirs["classifier"])  # the picker shows what is used
