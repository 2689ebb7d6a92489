"""Issue 10 on the pages: user text never becomes markup (case 5), long model ids (case 1), the untrained-head
refusal reaches the sidebar (case 9), "Unload all models" (case 14), and one user's models do not evict
another's (case 15).

Every page's text boxes get each hostile fragment (tests/hostile_ui.py); after every run no exception, no
link or image from user text, and every echo escaped by ``ui.safe.md``.
"""

from __future__ import annotations

import pytest
from helpers import app_timeout, open_page
from hostile_ui import DRIVES, FRAGMENTS, Recorder, open_drive

from plm_core.loading import ModelSpec

# fragments joined in small groups: each group stays under the 60 characters a message quotes
GROUPS = [" ".join(FRAGMENTS[i:i + 2]) for i in range(0, len(FRAGMENTS), 2)]


@pytest.mark.parametrize("drive", DRIVES, ids=[d.name for d in DRIVES])
def test_user_text_never_becomes_markup(app_factory, tiny_dirs, drive):
    rec = Recorder()
    at = open_drive(app_factory, tiny_dirs, drive)
    for text in GROUPS:
        drive.fill(at, text, rec)
    assert rec.runs
    assert not rec.problems, f"{len(rec.problems)} problems:\n" + "\n".join(dict.fromkeys(rec.problems))


# ------------------------------------------------------------------ case 1: long model ids ----

@pytest.mark.parametrize("n", [256, 300, 5000])
def test_a_long_model_id_in_the_sidebar_is_a_message_and_later_runs_work(app_factory, tiny_dirs, n):
    from ui.widgets import OTHER

    at = app_factory(str(tiny_dirs["masked_lm"]))
    at.run()
    at.sidebar.selectbox(key="model.choice").set_value(OTHER)
    at.sidebar.text_input(key="model.custom").input("a" * n)
    at.sidebar.button[0].click().run()
    assert not at.exception, at.exception
    (err,) = at.sidebar.error
    assert "still using" in err.value and len(err.value) < 600
    for page in ("pages/attention.py", "pages/masking.py", "pages/home.py"):
        at.switch_page(page).run()
        assert not at.exception, at.exception
    assert at.session_state["model.spec"] == ModelSpec(str(tiny_dirs["masked_lm"]))


def test_a_link_with_a_300_character_model_opens_the_default(app_factory, tiny_dirs):
    at = app_factory(str(tiny_dirs["masked_lm"]), {"model": "a" * 300})
    at.run()
    assert not at.exception, at.exception
    assert any("opened" in e.value for e in at.sidebar.error)
    at.run()
    at.switch_page("pages/attention.py").run()
    assert not at.exception, at.exception
    assert at.query_params["model"] == [str(tiny_dirs["masked_lm"])] or \
        at.query_params["model"] == str(tiny_dirs["masked_lm"])


# ------------------------------------------------------------------ case 9: untrained head ----

def test_loading_a_checkpoint_without_its_head_says_why_in_the_sidebar(app_factory, tiny_dirs):
    at = app_factory(str(tiny_dirs["encoder"]))
    at.run()
    at.sidebar.selectbox(key="model.kind").set_value("classifier")
    at.sidebar.button[0].click().run()
    assert not at.exception
    (err,) = at.sidebar.error
    assert "random" in err.value and "classifier" in err.value


# ------------------------------------------------------------------ case 14: unload ----

def test_unload_asks_first_and_says_it_affects_everyone(app_factory, tiny_dirs, monkeypatch):
    """It dropped every model and every session's cached results at one click, without a word."""
    from plm_core import loading

    loads: list[str] = []
    real = loading.load_model
    monkeypatch.setattr(loading, "load_model", lambda spec: loads.append(spec.model_id) or real(spec))
    at = open_page(app_factory, tiny_dirs["classifier"], "pages/compare.py")
    n = len(loads)
    at.button(key="compare.unload").click().run()
    assert not at.exception
    assert len(loads) == n  # nothing was unloaded (and loaded again): a question first
    text = " ".join(w.value for w in at.warning)
    assert "every user" in text and "server" in text
    at.button(key="compare.unload_cancel").click().run()
    assert len(loads) == n and not at.exception
    at.button(key="compare.unload").click().run()
    at.button(key="compare.unload_confirm").click().run()
    assert not at.exception
    assert len(loads) == n + 1  # unloaded, and the page's model loaded again for its view


def test_classroom_mode_has_no_unload_button(app_factory, tiny_dirs, monkeypatch):
    monkeypatch.setenv("PLM_CLASSROOM", "1")
    monkeypatch.setenv("PLM_ALLOWED_MODELS", str(tiny_dirs["classifier"]))
    at = open_page(app_factory, tiny_dirs["classifier"], "pages/compare.py")
    keys = {b.key for b in at.button}
    assert "compare.unload" not in keys and "compare.unload_confirm" not in keys
    assert not any("Unload" in str(b.label) for b in at.button)


# ------------------------------------------------------------------ case 15: 4 sessions, 4 models ----

def test_four_sessions_on_four_models_load_each_model_once(app_factory, tiny_dirs, monkeypatch):
    """With max_entries=3 the cache evicted on every rerun: 16 loads for 4 sessions × (1 view + 3 edits)."""
    from plm_core import loading

    loads: list[str] = []
    real = loading.load_model

    def counting(spec):
        loads.append(spec.model_id)
        return real(spec)

    monkeypatch.setattr(loading, "load_model", counting)
    kinds = ("masked_lm", "classifier", "encoder", "causal_lm")
    sessions = []
    for kind in kinds:
        at = app_factory(str(tiny_dirs[kind]), {"model": str(tiny_dirs[kind])}) if not sessions else \
            _session(tiny_dirs[kind])
        sessions.append(at)
    for at in sessions:
        at.run()
        at.switch_page("pages/attention.py").run()
    for edit in range(3):
        for at in sessions:
            at.text_area(key="attention.text").input(f"the cat sat on the mat {edit}").run()
            assert not at.exception
    assert sorted(loads) == sorted(str(tiny_dirs[k]) for k in kinds), f"{len(loads)} loads"


def _session(folder):
    """Another AppTest session of the same server process (no cache clearing, unlike app_factory)."""
    from helpers import ROOT
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=app_timeout())
    at.query_params["model"] = str(folder)
    return at
