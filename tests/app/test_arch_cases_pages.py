"""The pages on the newer architectures and the other models of the overviews (plm_core.testing.TINY_CASES, group "arch"),
loaded from their folders through the real loader as a user's would be."""

from __future__ import annotations

import pytest
from helpers import chart_specs, open_page, shown

from plm_core.lessons.content import LESSONS

CAPTURED = ("qwen3", "gemma3", "albert_mlm", "mobilebert_mlm", "distilbert_mlm")


def _qk_success(at) -> float:
    found = [shown(s.value) for s in at.success if shown(s.value).startswith("Recomputed softmax")]
    assert found, [shown(s.value) for s in at.success] + [e.value for e in at.error]
    return float(found[0].rsplit("=", 1)[1].split("(")[0])


@pytest.mark.parametrize("name", CAPTURED)
def test_attention_page_query_key_equals_the_model(app_factory, tiny_dirs, name):
    at = open_page(app_factory, tiny_dirs[name], "pages/attention.py")
    assert not at.error, [e.value for e in at.error]
    assert _qk_success(at) <= 1e-5
    if name == "gemma3":  # layer 0 has a sliding window of 3 (the picker starts at layer 0)
        at.selectbox(key="attention.qk.layer").set_value(0).run()
        assert any("at most the last 3 tokens" in c.value for c in at.caption), [c.value for c in at.caption]


@pytest.mark.parametrize("name", ("qwen3", "gemma3", "albert_mlm", "mobilebert_mlm"))
@pytest.mark.parametrize("page", ("pages/attribution.py", "pages/masking.py", "pages/compare.py",
                                  "pages/generation.py"))
def test_other_pages_open(app_factory, tiny_dirs, name, page):
    at = open_page(app_factory, tiny_dirs[name], page)
    asked = [b for b in at.button if b.key == "attribution.run"]  # a busy machine: the page may ask first
    if asked:
        asked[0].click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]


def test_xlnet_is_refused_as_a_causal_lm_with_the_reason(app_factory, tiny_dirs):
    at = app_factory(str(tiny_dirs["xlnet_lm"]))
    at.run()
    text = " ".join(shown(e.value) for e in at.error)
    assert "not causal" in text and "encoder" in text


@pytest.mark.parametrize("name", ("gemma3", "albert_mlm"))
def test_attention_lessons(app_factory, tiny_dirs, name):
    """Lessons 2–4 step by step; lesson 4's masks step adds XLNet's permuted-LM masks."""
    at = open_page(app_factory, tiny_dirs[name], "pages/lessons.py")
    for lesson in (x for x in LESSONS if x.number in (2, 3, 4)):
        at.session_state["lessons.lesson"] = lesson.number
        for i, step in enumerate(lesson.steps):
            at.session_state["lessons.step"] = i + 1
            at.run()
            at.radio(key=f"lessons.guess.{lesson.number}.{i + 1}").set_value(step.question.answer).run()
            at.toggle(key=f"lessons.reveal.{lesson.number}.{i + 1}").set_value(True).run()
            assert not at.exception, (lesson.number, i, at.exception)
            assert not at.error, (lesson.number, i, [e.value for e in at.error])
            if step.view == "masks":
                titles = [c["layout"].get("annotations", [{}])[0].get("text", "") for c in chart_specs(at)]
                assert any("permuted LM (XLNet)" in t.replace("<br>", "") for t in titles), titles  # titles wrap


def test_xlnet_as_an_encoder_shows_attention_and_says_why_not_query_key(app_factory, tiny_dirs):
    at = app_factory(str(tiny_dirs["xlnet_lm"]))
    at.run()
    at.selectbox(key="model.kind").set_value("encoder")
    next(b for b in at.button if b.label == "Load model").click().run()
    at.switch_page("pages/attention.py").run()
    assert not at.exception, at.exception
    assert chart_specs(at)  # the content stream's heatmaps
    text = " ".join(shown(e.value) for e in at.error)
    assert "query stream" in text and "Transformer-XL" in text
