"""AppTest: the neuron view on the Attention page (a repeated word picked by position), and the lesson steps
this feature adds — static versus contextual embeddings (lesson 1), the neuron view (lesson 2) and the live
generation step (lesson 4) on a causal LM, a masked LM and a sentence encoder."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import chart_specs, open_page, plotly_array, shown

from plm_core import generation as gen
from plm_core.attention import query_key
from plm_core.lessons.content import get_lesson
from plm_core.neuron_view import neuron_view


def _figure(at, starts: str) -> dict:
    found = [c for c in chart_specs(at) if c["layout"]["title"]["text"].startswith(starts)]
    assert len(found) == 1, [c["layout"]["title"]["text"] for c in chart_specs(at)]
    return found[0]


def test_attention_page_neuron_view_by_position(app_factory, tiny_dirs, tiny_mlm):
    at = open_page(app_factory, tiny_dirs["masked_lm"], "pages/attention.py")
    text = "the cat sat on the mat"
    at.text_area(key="attention.text").input(text).run()
    second_the = 5  # [CLS] the cat sat on the mat [SEP]
    at.selectbox(key="attention.qk.query").set_value(second_the).run()
    assert not at.exception, at.exception
    fig = _figure(at, "Neuron view, layer 0, head 0")
    assert "query 5:the" in fig["layout"]["title"]["text"] and fig["layout"]["annotations"][0]["text"] == "q"
    expected = neuron_view(query_key(tiny_mlm, text, 0, 0), second_the)
    bars = [t for t in fig["data"] if t["type"] == "bar"]
    np.testing.assert_allclose(plotly_array(bars[0]["x"]), expected.dots, atol=1e-5)
    np.testing.assert_allclose(plotly_array(bars[1]["x"]), expected.probs, atol=1e-6)
    assert any(shown(s.value).startswith("Σ q ⊙ k × scale equals row 5") for s in at.success)


def _lesson_step(app_factory, model_dir, lesson: int, step: int):
    at = open_page(app_factory, model_dir, "pages/lessons.py")
    at.session_state["lessons.lesson"] = lesson
    at.run()
    at.session_state["lessons.step"] = step + 1  # the step control is 1-based (its URL value)
    at.run()
    q = get_lesson(lesson).steps[step].question
    at.radio(key=f"lessons.guess.{lesson}.{step + 1}").set_value(q.answer).run()
    at.toggle(key=f"lessons.reveal.{lesson}.{step + 1}").set_value(True).run()
    assert not at.exception, at.exception
    return at


def test_lesson1_contextual_step(app_factory, tiny_dirs):
    at = _lesson_step(app_factory, tiny_dirs["encoder"], 1, 3)
    assert at.header[0].value == "Static versus contextual embeddings"
    fig = _figure(at, "“bank” in the two sentences")
    y = plotly_array(fig["data"][0]["y"])
    assert y[0] == pytest.approx(1.0, abs=1e-6) and len(y) == 1 + 3  # static row, embedding layer, 2 layers
    assert any("equals the first's (a static embedding): max |difference| = 0.0e+00" in shown(s.value) for s in at.success)
    at.text_input(key="lessons.ctx_word").input("river").run()  # not in the second sentence
    assert any("is not in the second sentence" in shown(e.value) for e in at.error)


def test_lesson2_neuron_view_follows_the_query(app_factory, tiny_dirs):
    at = _lesson_step(app_factory, tiny_dirs["causal_lm"], 2, 1)
    at.selectbox(key="lessons.query").set_value(4).run()
    fig = _figure(at, "Neuron view, layer 0, head 0")
    title = fig["layout"]["title"]["text"].replace("<br>", "")  # the theme breaks long titles into lines
    assert "query 4:" in title and "hidden by the causal mask" in title
    assert any("row 4 of the score matrix" in shown(s.value) for s in at.success)


def test_lesson4_generation_step_causal(app_factory, tiny_dirs, tiny_gpt2):
    at = _lesson_step(app_factory, tiny_dirs["causal_lm"], 4, 4)
    assert at.header[0].value == "Generating text, one token at a time"
    fig = _figure(at, "next token: temperature 1 and 2")
    series = {t["name"]: plotly_array(t["y"]) for t in fig["data"]}
    assert series["after temperature 2"][0] < series["model (T = 1)"][0]
    prompt = "The cat sat on the"  # the lesson's sentence up to its [MASK]
    assert at.code[0].value == prompt
    at.button(key="lessons.sample").click().run()
    at.button(key="lessons.sample").click().run()
    expected = gen.generate(tiny_gpt2, prompt, gen.SamplingSettings(True, 2.0), 2)
    assert at.code[0].value == gen.text_of(tiny_gpt2, expected.ids)


def test_lesson4_generation_step_masked_and_encoder(app_factory, tiny_dirs):
    at = _lesson_step(app_factory, tiny_dirs["masked_lm"], 4, 4)
    _figure(at, "[MASK] (token 6): temperature 1 and 2")
    at = _lesson_step(app_factory, tiny_dirs["encoder"], 4, 4)
    assert any("no language-model head" in shown(i.value) for i in at.info)


def test_lesson4_generation_step_encoder_decoder(app_factory, tiny_dirs, tiny_handles):
    """T5 generates through its adapter: the first target token's distribution, then samples = the core's."""
    handle = tiny_handles["t5"]
    at = _lesson_step(app_factory, tiny_dirs["t5"], 4, 4)
    assert not at.exception, at.exception
    _figure(at, "next token: temperature 1 and 2")
    prompt = "The cat sat on the"
    at.button(key="lessons.sample").click().run()
    assert not at.exception, at.exception
    expected = gen.generate(handle, prompt, gen.SamplingSettings(True, 2.0), 1)
    assert at.code[0].value == gen.text_of(handle, expected.ids)


def test_lesson2_neuron_view_on_t5_counts_the_position_bias(app_factory, tiny_dirs):
    at = _lesson_step(app_factory, tiny_dirs["t5"], 2, 1)
    assert not at.exception, at.exception
    assert not at.warning, [w.value for w in at.warning]
