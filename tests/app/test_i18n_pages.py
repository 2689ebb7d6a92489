"""``?lang=zh``: every page and every lesson step renders with no string of the English catalogue on screen
(numbers, model names, token text and the user's own sentences aside), and two sessions in different languages,
sharing one server's cached results, each see their own language (issue 12, item 4)."""

from __future__ import annotations

import pytest
from helpers import app_timeout, open_page
from i18n_screen import english_on_screen, screen_texts

from plm_core.i18n import set_language, use_language
from plm_core.lessons.content import LESSONS

PAGES = ("pages/home.py", "pages/attention.py", "pages/attribution.py", "pages/masking.py", "pages/generation.py",
         "pages/compare.py", "pages/bias.py", "pages/lessons.py")


@pytest.fixture
def zh_thread():
    """AppTest formats widget options in the test's own thread: give it the session's language too."""
    set_language("zh")
    yield
    set_language("en")


def _assert_chinese(at, where):
    found = english_on_screen(screen_texts(at))
    assert not found, f"{where}: English on screen: " + "; ".join(f"{m!r} in {w!r}" for m, w in found[:8])


@pytest.mark.parametrize("page", PAGES)
def test_every_page_in_chinese(app_factory, tiny_dirs, zh_thread, page):
    at = open_page(app_factory, tiny_dirs["masked_lm"], page, {"lang": "zh"})
    _assert_chinese(at, page)
    assert at.sidebar.radio(key="language").value == "zh"
    assert any("\u4e00" <= c <= "\u9fff" for t in screen_texts(at) for c in t)


def test_pages_with_their_views_open_in_chinese(app_factory, tiny_dirs, zh_thread):
    """The views behind buttons, toggles and choices: masks and the occlusion sweep, words, attribution with several
    methods, comparison with attribution, a template bias probe run to the end."""
    at = open_page(app_factory, tiny_dirs["masked_lm"], "pages/masking.py", {"lang": "zh"})
    at.pills(key="masking.masks").set_value([2]).run()
    at.toggle(key="masking.sweep").set_value(True).run()
    assert not at.exception, at.exception
    _assert_chinese(at, "masking lab with a mask and the sweep")
    at.switch_page("pages/attention.py").run()
    at.segmented_control(key="units").set_value("words").run()
    _assert_chinese(at, "attention in words")
    at.switch_page("pages/attribution.py").run()
    at.multiselect(key="attribution.methods").set_value(["integrated_gradients", "saliency"]).run()
    assert not at.exception, at.exception
    _assert_chinese(at, "attribution, two methods")
    at.switch_page("pages/compare.py").run()
    at.toggle(key="compare.attr").set_value(True).run()
    assert not at.exception, at.exception
    _assert_chinese(at, "compare with attribution")
    at.switch_page("pages/bias.py").run()
    at.button(key="bias.template.run").click().run()
    from plm_core.bias import worker

    assert worker.wait_all(180)  # the run's worker thread (the page shows its progress)
    at.run()
    assert not at.exception, at.exception
    _assert_chinese(at, "bias: a template probe's result")


def test_generation_step_by_step_in_chinese(app_factory, tiny_dirs, zh_thread):
    """A causal LM writes two tokens; a generated token opened on each tab (distribution, attribution, attention,
    logit lens), with sampling settings moved: no English catalogue string on screen."""
    at = open_page(app_factory, tiny_dirs["causal_lm"], "pages/generation.py", {"lang": "zh"})
    at.slider(key="generation.temperature").set_value(1.5).run()
    at.slider(key="generation.top_k").set_value(5).run()
    at.button(key="generation.next").click().run()
    at.button(key="generation.next").click().run()
    assert not at.exception, at.exception
    at.pills(key="generation.pick").set_value(1).run()
    assert not at.exception, at.exception
    _assert_chinese(at, "generation: two tokens, the second opened")
    assert "第 2 个词元" in " ".join(screen_texts(at))


def test_every_lesson_step_in_chinese(app_factory, tiny_dirs, zh_thread, monkeypatch, tmp_path):
    monkeypatch.setenv("PLM_TRAINED_DIR", str(tmp_path / "trained"))
    at = open_page(app_factory, tiny_dirs["encoder"], "pages/lessons.py", {"lang": "zh"})
    for lesson in LESSONS:
        for i, step in enumerate(lesson.steps):
            at.session_state["lessons.lesson"] = lesson.number
            at.session_state["lessons.step"] = i + 1
            at.session_state[f"lessons.reveal.{lesson.number}.{i + 1}"] = True
            at.run()
            assert not at.exception, (lesson.number, i, at.exception)
            assert at.header[0].value == step.title.zh
            _assert_chinese(at, f"lesson {lesson.number} step {i + 1}")


def test_presenter_view_in_chinese_and_its_language_button(app_factory, tiny_dirs, zh_thread):
    at = open_page(app_factory, tiny_dirs["masked_lm"], "pages/lessons.py", {"lang": "zh", **{"lessons.lesson": f"2. {LESSONS[1].title('zh')}", "lessons.presenter": "true"}})
    _assert_chinese(at, "presenter view")
    assert at.button(key="lessons.lang").label == "English"
    at.button(key="lessons.lang").click().run()  # (the test thread formats this run's widgets in Chinese)
    set_language("en")
    assert at.header[0].value == LESSONS[1].steps[0].title.en and "lang" not in at.query_params


def test_two_sessions_each_see_their_own_language(app_factory, tiny_dirs):
    """One process, one cache: a Chinese session after an English one (the attention note, computed and cached
    for the English session, is shown to the Chinese one in Chinese), then the English one again."""
    from streamlit.testing.v1 import AppTest

    from helpers import ROOT

    text = "the cat sat on the mat " * 40  # over the tiny model's limit: the encoding carries a note
    en = app_factory(str(tiny_dirs["masked_lm"]), {"text": text})
    en.run()
    en.switch_page("pages/attention.py").run()
    en.text_area(key="attention.text").input(text).run()
    notes_en = [i.value for i in en.info]
    assert any("only the first" in n for n in notes_en), notes_en
    zh = AppTest.from_file(str(ROOT / "app.py"), default_timeout=app_timeout())  # a second session: same caches
    zh.query_params["lang"] = "zh"
    with use_language("zh"):
        zh.run()
        zh.switch_page("pages/attention.py").run()
        zh.text_area(key="attention.text").input(text).run()
    notes_zh = [i.value for i in zh.info]
    assert any("只使用前" in n for n in notes_zh) and not any("only the first" in n for n in notes_zh), notes_zh
    assert zh.title[0].value == "注意力" and en.title[0].value == "Attention"
    en.run()  # the English session is still English
    assert [i.value for i in en.info] == notes_en and en.title[0].value == "Attention"
