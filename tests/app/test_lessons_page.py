"""The lessons page through AppTest: every step of every lesson, shared links, presenter view, reveal gating,
saving the lesson-5 classifier, and the classroom-mode sidebar."""

from __future__ import annotations

import re

import pytest
from helpers import open_page, shown

from plm_core.i18n import use_language
from plm_core.lessons.content import LESSONS

PAGE = "pages/lessons.py"


def lesson_label(number: int, lang: str = "en") -> str:
    """The lesson picker's label: the value a link carries (Streamlit binds a choice to the URL by its label)."""
    return f"{number}. {LESSONS[number - 1].title(lang)}"


def _diffs(at) -> list[float]:
    """Every "max |difference| = x" number on the page."""
    text = " ".join(shown(s.value) for s in at.success)
    return [float(x) for x in re.findall(r"max \|difference\| = ([0-9.e+-]+)", text)]


@pytest.fixture
def trained_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("PLM_TRAINED_DIR", str(tmp_path / "trained"))
    return tmp_path / "trained"


def test_every_step_of_every_lesson(app_factory, tiny_dirs, trained_dir):
    at = open_page(app_factory, str(tiny_dirs["encoder"]), PAGE)
    checked = 0
    for lesson in LESSONS:
        at.session_state["lessons.lesson"] = lesson.number
        for i, step in enumerate(lesson.steps):
            at.session_state["lessons.step"] = i + 1
            at.run()
            assert not at.exception, (lesson.number, i, at.exception)
            assert at.header[0].value == step.title.en
            n_charts = len(at.get("plotly_chart"))
            q = step.question
            reveal = at.toggle(key=f"lessons.reveal.{lesson.number}.{i + 1}")
            assert reveal.disabled and not reveal.value  # no guess yet: nothing to reveal
            if step.view not in ("data",):
                assert n_charts == 0 and not at.success  # the live view waits for the guess
            at.radio(key=f"lessons.guess.{lesson.number}.{i + 1}").set_value(q.answer).run()
            at.toggle(key=f"lessons.reveal.{lesson.number}.{i + 1}").set_value(True).run()
            assert not at.exception, (lesson.number, i, at.exception)
            assert any("Right:" in shown(s.value) for s in at.success), (lesson.number, i)
            for d in _diffs(at):
                assert d < 1e-5, (lesson.number, i, d)
                checked += 1
    # embeddings, static rows, neuron view, softmax, weighted sum, concatenation, projection
    assert checked == 7


def test_shared_link_opens_the_step_with_its_inputs(app_factory, tiny_dirs):
    """Issue 13: a `reveal` link greeted a class that never guessed with "Not quite —"."""
    text = "the dog sat on the mat"
    at = open_page(app_factory, str(tiny_dirs["masked_lm"]), PAGE, {"lessons.lesson": lesson_label(2), "lessons.step": "3", "lessons.text.2": text, "lessons.layer": "1",
                "lessons.head": "3", "lessons.reveal.2.3": "true"})
    assert at.session_state["lessons.lesson"] == 2 and at.session_state["lessons.step"] == 3
    assert at.header[0].value == LESSONS[1].steps[2].title.en
    assert at.text_area(key="lessons.text.2").value == text
    assert at.selectbox(key="lessons.layer").value == 1 and at.selectbox(key="lessons.head").value == 3
    assert any("row sums: min 1.000000" in shown(m.value) for m in at.markdown)  # revealed by the link
    assert "softmax (layer 1, head 3)" in at.get("plotly_chart")[0].proto.spec
    answer = LESSONS[1].steps[2].question.options[LESSONS[1].steps[2].question.answer].en
    assert any(i.value.startswith(f"The answer: **{answer}**") for i in at.info)  # shown, not judged
    assert not any("Not quite" in i.value for i in at.info) and not any("Right:" in s.value for s in at.success)
    at.button(key="lessons.next").click().run()
    assert at.session_state["lessons.step"] == 4 and not at.exception
    link = at.code[-1].value  # the presenter link: the address bar's parameters, presenter view on
    assert "lessons.presenter=true" in link and "lessons.step=4" in link and "lessons.layer=1" in link


def test_a_link_with_invalid_values_opens_the_defaults(app_factory, tiny_dirs):
    at = open_page(app_factory, str(tiny_dirs["masked_lm"]), PAGE, {"lessons.lesson": "99. Nope", "lessons.step": "-3", "lessons.layer": "x", "lang": "fr",
                "lessons.presenter": "maybe", "lessons.reveal.1.1": "yes"})
    assert not at.exception and not at.error
    assert at.session_state["lessons.lesson"] == 1 and at.session_state["lessons.step"] == 1
    assert at.session_state["language"] == "en" and at.session_state["lessons.presenter"] is False
    assert at.header[0].value == LESSONS[0].steps[0].title.en


def test_presenter_view_hides_controls_and_steps(app_factory, tiny_dirs):
    with use_language("zh"):  # AppTest formats widget options in the test's thread: the session's language there too
        _presenter_view_in_chinese(app_factory, tiny_dirs)


def _presenter_view_in_chinese(app_factory, tiny_dirs):
    at = open_page(app_factory, str(tiny_dirs["masked_lm"]), PAGE, {"lessons.lesson": lesson_label(1, "zh"), "lessons.presenter": "true", "lang": "zh"})
    # the controls are drawn (their values stay in the link) inside containers the presenter CSS hides
    html = " ".join(h.proto.body for h in at.get("html"))
    assert "stSidebar" in html and "font-size" in html and '[class*="st-key-lessons-ctl-"]' in html
    assert at.title[-1].value.startswith("1. 词元与嵌入")
    at.button(key="lessons.next").click().run()
    assert at.session_state["lessons.step"] == 2 and at.header[0].value == LESSONS[0].steps[1].title.zh
    at.button(key="lessons.exit").click().run()
    assert not at.exception and at.text_area(key="lessons.text.1").value == LESSONS[0].default_text
    assert at.session_state["lessons.step"] == 2 and at.session_state["lessons.presenter"] is False
    assert '[class*="st-key-lessons-ctl-"]' not in " ".join(h.proto.body for h in at.get("html"))


def test_wrong_guess_is_corrected(app_factory, tiny_dirs):
    at = open_page(app_factory, str(tiny_dirs["masked_lm"]), PAGE, {"lessons.lesson": lesson_label(2), "lessons.step": "3"})
    wrong = 1 - LESSONS[1].steps[2].question.answer if LESSONS[1].steps[2].question.answer < 2 else 0
    at.radio(key="lessons.guess.2.3").set_value(wrong).run()
    at.toggle(key="lessons.reveal.2.3").set_value(True).run()
    assert any("Not quite" in shown(i.value) for i in at.info)
    # the guess survives moving between steps (persist_state), and so does the revealed answer
    at.button(key="lessons.next").click().run()
    at.button(key="lessons.prev").click().run()
    assert at.radio(key="lessons.guess.2.3").value == wrong and any("Not quite" in shown(i.value) for i in at.info)


def test_lesson5_saves_a_classifier_and_switches_the_model(app_factory, tiny_dirs, trained_dir):
    at = open_page(app_factory, str(tiny_dirs["encoder"]), PAGE, {"lessons.lesson": lesson_label(5), "lessons.step": "3", "lessons.reveal.5.3": "true"})
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
    at = open_page(app_factory, str(tiny_dirs["encoder"]), PAGE, {"model": str(tiny_dirs["causal_lm"])})
    assert at.session_state["model.spec"].model_id == str(tiny_dirs["encoder"])  # link's model refused
    assert at.selectbox(key="model.choice").options == [str(tiny_dirs["encoder"]), str(tiny_dirs["masked_lm"])]
    assert not [t for t in at.sidebar.text_input if t.key == "model.custom"]
    assert not [c for c in at.sidebar.checkbox if c.key == "model.allow_pickle"]
    assert any("classroom mode" in shown(c.value) for c in at.sidebar.caption)


def test_next_after_a_lessons_last_step_opens_the_next_lesson(app_factory, tiny_dirs):
    """Issue 24, item 2: at a lesson's last step nothing moved on; the teacher had to use the sidebar."""
    last = len(LESSONS[0].steps)
    at = open_page(app_factory, str(tiny_dirs["encoder"]), PAGE, {"lessons.step": str(last), "lessons.presenter": "true"})
    assert at.session_state["lessons.lesson"] == 1 and at.session_state["lessons.step"] == last
    assert not at.button(key="lessons.next").disabled
    at.button(key="lessons.next").click().run()
    assert not at.exception, at.exception
    assert at.session_state["lessons.lesson"] == 2 and at.session_state["lessons.step"] == 1
    assert at.header[0].value == LESSONS[1].steps[0].title.en
    at.button(key="lessons.prev").click().run()  # back across the boundary: the previous lesson's last step
    assert at.session_state["lessons.lesson"] == 1 and at.session_state["lessons.step"] == last
    assert at.header[0].value == LESSONS[0].steps[-1].title.en
    # presenter view lists every lesson: one click opens another lesson's first step, no sidebar needed
    last_lesson = len(LESSONS)
    at.button(key=f"lessons.open.{last_lesson}").click().run()
    assert at.session_state["lessons.lesson"] == last_lesson and at.session_state["lessons.step"] == 1
    at.session_state["lessons.step"] = len(LESSONS[-1].steps)
    at.run()
    assert at.button(key="lessons.next").disabled  # the very last step of all stays put


def test_the_token_split_step_needs_no_position_table(app_factory, tiny_dirs):
    """A fresh tester: on SmolLM2 (rotary positions, no position table) lesson 1's first step, the split into
    tokens, was refused with the position-table message of the steps after it. The split needs only the
    tokenizer; the tables' steps still say why they cannot be shown."""
    at = open_page(app_factory, str(tiny_dirs["llama"]), PAGE, {"lessons.lesson": lesson_label(1), "lessons.step": "1",
                                                                 "lessons.reveal.1.1": "true"})
    assert not at.exception and not [e.value for e in at.error]
    assert "rotating Q and K" not in shown(at) and " · " in " ".join(c.value for c in at.code)
