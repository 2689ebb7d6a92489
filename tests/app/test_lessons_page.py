"""The lessons page through AppTest: every step of every lesson, shared links, presenter view, reveal gating,
saving the lesson-5 classifier, and the classroom-mode sidebar."""

from __future__ import annotations

import re

import pytest
from helpers import shown

from plm_core.lessons.content import LESSONS

PAGE = "pages/lessons.py"


def _open(app_factory, model_id, query=None):
    at = app_factory(model_id, query=query)
    at.run()
    assert not at.exception, at.exception
    at.switch_page(PAGE).run()
    assert not at.exception, at.exception
    return at


def _diffs(at) -> list[float]:
    """Every "max |difference| = x" number on the page."""
    text = " ".join(shown(s.value) for s in at.success)
    return [float(x) for x in re.findall(r"max \|difference\| = ([0-9.e+-]+)", text)]


@pytest.fixture
def trained_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("PLM_TRAINED_DIR", str(tmp_path / "trained"))
    return tmp_path / "trained"


def test_every_step_of_every_lesson(app_factory, tiny_dirs, trained_dir):
    at = _open(app_factory, str(tiny_dirs["encoder"]))
    checked = 0
    for lesson in LESSONS:
        at.session_state["lessons.lesson"] = lesson.number
        for i, step in enumerate(lesson.steps):
            at.session_state["lessons.step"] = i
            at.run()
            assert not at.exception, (lesson.number, i, at.exception)
            assert at.header[0].value == step.title.en
            n_charts = len(at.get("plotly_chart"))
            q = step.question
            reveal = at.button(key=f"lessons.reveal.{lesson.number}.{i}")
            assert reveal.disabled  # no guess yet: nothing to reveal
            if step.view not in ("data",):
                assert n_charts == 0 and not at.success  # the live view waits for the guess
            at.radio(key=f"lessons.guess.{lesson.number}.{i}").set_value(q.answer).run()
            at.button(key=f"lessons.reveal.{lesson.number}.{i}").click().run()
            assert not at.exception, (lesson.number, i, at.exception)
            assert any("Right:" in shown(s.value) for s in at.success), (lesson.number, i)
            for d in _diffs(at):
                assert d < 1e-5, (lesson.number, i, d)
                checked += 1
    # embeddings, static rows, neuron view, softmax, weighted sum, concatenation, projection
    assert checked == 7


def test_shared_link_opens_the_step_with_its_inputs(app_factory, tiny_dirs):
    text = "the dog sat on the mat"
    at = _open(app_factory, str(tiny_dirs["masked_lm"]),
               {"lesson": "2", "step": "3", "text": text, "layer": "1", "head": "3", "reveal": "1"})
    assert at.session_state["lessons.lesson"] == 2 and at.session_state["lessons.step"] == 2
    assert at.header[0].value == LESSONS[1].steps[2].title.en
    assert at.text_area(key="lessons.w.text.2").value == text
    assert at.selectbox(key="lessons.w.layer").value == 1 and at.selectbox(key="lessons.w.head").value == 3
    assert any("row sums: min 1.000000" in shown(m.value) for m in at.markdown)  # revealed by the link
    assert "softmax (layer 1, head 3)" in at.get("plotly_chart")[0].proto.spec
    # the address bar mirrors the state
    at.button(key="lessons.next").click().run()
    assert at.session_state["lessons.step"] == 3
    qp = {k: v if isinstance(v, str) else v[0] for k, v in at.query_params.items()}
    assert qp["lesson"] == "2" and qp["step"] == "4" and qp["text"] == text and qp["head"] == "3"
    assert any("presenter=1" in c.value and "lesson=2" in c.value for c in at.code)


def test_presenter_view_hides_controls_and_steps(app_factory, tiny_dirs):
    at = _open(app_factory, str(tiny_dirs["masked_lm"]), {"lesson": "1", "presenter": "1", "lang": "zh"})
    assert not at.text_area and not at.selectbox(key="model.choice").proto is None
    assert [s for s in at.selectbox if s.key and s.key.startswith("lessons")] == []
    assert at.title[0].value.startswith("1. 词元与嵌入")
    html = " ".join(h.proto.body for h in at.get("html"))
    assert "stSidebar" in html and "font-size" in html
    at.button(key="lessons.next").click().run()
    assert at.session_state["lessons.step"] == 1 and at.header[0].value == LESSONS[0].steps[1].title.zh
    at.button(key="lessons.exit").click().run()
    assert not at.exception and at.text_area(key="lessons.w.text.1").value == LESSONS[0].default_text
    assert at.session_state["lessons.step"] == 1  # state survived the hidden controls


def test_wrong_guess_is_corrected(app_factory, tiny_dirs):
    at = _open(app_factory, str(tiny_dirs["masked_lm"]), {"lesson": "2", "step": "3"})
    wrong = 1 - LESSONS[1].steps[2].question.answer if LESSONS[1].steps[2].question.answer < 2 else 0
    at.radio(key="lessons.guess.2.2").set_value(wrong).run()
    at.button(key="lessons.reveal.2.2").click().run()
    assert any("Not quite" in shown(i.value) for i in at.info)


def test_lesson5_saves_a_classifier_and_switches_the_model(app_factory, tiny_dirs, trained_dir):
    at = _open(app_factory, str(tiny_dirs["encoder"]), {"lesson": "5", "step": "3", "reveal": "1"})
    at.button(key="lessons.save").click().run()
    assert not at.exception, at.exception
    spec = at.session_state["model.spec"]
    assert spec.model_id.startswith(str(trained_dir))
    msg = " ".join(shown(s.value) for s in at.success)
    assert "saved classifier's prediction equals the trained model's" in msg and _diffs(at)[0] < 1e-5
    assert any("sequence classifier" in shown(c.value) for c in at.sidebar.caption)


def test_classroom_mode_sidebar_offers_only_the_allowlist(app_factory, tiny_dirs, monkeypatch):
    monkeypatch.setenv("PLM_CLASSROOM", "1")
    monkeypatch.setenv("PLM_ALLOWED_MODELS", str(tiny_dirs["masked_lm"]))
    at = _open(app_factory, str(tiny_dirs["encoder"]), {"model": str(tiny_dirs["causal_lm"])})
    assert at.session_state["model.spec"].model_id == str(tiny_dirs["encoder"])  # link's model refused
    assert at.selectbox(key="model.choice").options == [str(tiny_dirs["encoder"]), str(tiny_dirs["masked_lm"])]
    assert not [t for t in at.sidebar.text_input if t.key == "model.custom"]
    assert not [c for c in at.sidebar.checkbox if c.key == "model.allow_pickle"]
    assert any("classroom mode" in shown(c.value) for c in at.sidebar.caption)
