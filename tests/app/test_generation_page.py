"""The generation page through AppTest: tiny GPT-2 (generate, sliders, Next, click a token), tiny BERT MLM
(the [MASK] distribution and the logit lens), and a sentence encoder (a clear message)."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import chart_specs, open_page, plotly_array, shown

from plm_core import generation as gen

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
    at.button(key="generation.next").click().run()
    assert not at.exception, at.exception
    at.button(key="generation.next").click().run()
    assert not at.exception, at.exception
    expected = gen.generate(tiny_gpt2, prompt, gen.SamplingSettings(do_sample=True), 2)
    assert _text(at) == gen.text_of(tiny_gpt2, expected.ids)
    assert "2 generated token(s)" in " ".join(shown(m.value) for m in at.markdown)


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


def test_run_to_n_and_inspect_a_token(gpt2_page, tiny_gpt2):
    at = gpt2_page
    at.number_input(key="generation.n").set_value(6).run()
    at.button(key="generation.run").click().run()
    assert not at.exception, at.exception
    assert "6 generated token(s)" in " ".join(shown(m.value) for m in at.markdown)
    at.button_group(key="generation.pick").set_value(4).run()
    assert not at.exception, at.exception
    prompt = at.text_area(key="generation.prompt").value
    g = gen.generate(tiny_gpt2, prompt, gen.SamplingSettings(do_sample=True), 6)
    # the chosen step's own distribution, with the chosen token marked
    step_chart = [c for c in chart_specs(at) if c["layout"]["title"]["text"].startswith("Step 5")]
    assert len(step_chart) == 1
    assert any(a.get("text") == "chosen" for a in step_chart[0]["layout"].get("annotations", [])) == (
        g.steps[4].token_id in g.steps[4].distribution.token_ids)
    # attribution of that token over the 4 + prompt tokens before it
    bars = [c for c in chart_specs(at) if c["layout"]["title"]["text"] == "Integrated Gradients"]
    assert len(bars) == 1 and len(plotly_array(bars[0]["data"][0]["y"])) == g.position(4)
    expected = gen.attribute_step(tiny_gpt2, g, 4)
    np.testing.assert_allclose(plotly_array(bars[0]["data"][0]["y"]), expected.scores, atol=1e-6)
    # attention at that step and the logit lens before it
    titles = [c["layout"]["title"]["text"] for c in chart_specs(at)]
    assert any(t.startswith("Attention when generating") for t in titles)
    assert any(t.startswith("Logit lens, read at token") for t in titles)
    assert any("read-out equals the model's own output" in shown(s.value) for s in at.success)
    # Restart forgets the tokens
    at.button(key="generation.restart").click().run()
    assert "0 generated token(s)" in " ".join(shown(m.value) for m in at.markdown)


def test_greedy_mode(gpt2_page, tiny_gpt2):
    at = gpt2_page
    at.button_group(key="generation.mode").set_value("greedy").run()
    series = _series(_dist_chart(at))
    final = series["greedy: the most likely token"]
    assert final[0] == 1.0 and final[1:].sum() == 0
    at.button(key="generation.next").click().run()
    prompt = at.text_area(key="generation.prompt").value
    assert _text(at) == gen.text_of(tiny_gpt2, gen.generate(tiny_gpt2, prompt, gen.SamplingSettings(), 1).ids)


def test_user_text_stays_literal(gpt2_page):
    at = gpt2_page
    at.text_area(key="generation.prompt").input("**bold** <b>x</b> $x$").run()
    assert not at.exception and _text(at) == "**bold** <b>x</b> $x$"
    at.button(key="generation.next").click().run()
    assert _text(at).startswith("**bold** <b>x</b> $x$") and len(_text(at)) > len("**bold** <b>x</b> $x$")
    assert "1 generated token(s)" in " ".join(shown(m.value) for m in at.markdown)


def test_masked_lm_shows_the_mask_distribution_and_lens(app_factory, tiny_dirs):
    at = open_page(app_factory, tiny_dirs["masked_lm"], PAGE)
    assert any("does not generate" in shown(i.value) for i in at.info)
    assert "generation.next" not in [b.key for b in at.button]  # a masked LM does not generate
    at.slider(key="generation.top_p").set_value(0.5).run()
    series = _series(_dist_chart(at))
    assert "after top-p 0.5 (drawn from)" in series
    titles = [c["layout"]["title"]["text"] for c in chart_specs(at)]
    assert any("Logit lens, read at token" in t and "[MASK]" in t for t in titles)


def test_encoder_says_what_to_load_and_offers_it(app_factory, tiny_dirs):
    """Issue 24, item 5: a red error with every control still active; now why, what to load, and a button."""
    from ui.widgets import OTHER

    at = open_page(app_factory, tiny_dirs["causal_lm"], PAGE)  # a causal LM loaded on this server
    at.selectbox(key="model.choice").set_value(OTHER)
    at.text_input(key="model.custom").input(str(tiny_dirs["encoder"]))
    at.button(key="FormSubmitter:model.form-Load model").click().run()
    assert not at.exception and not at.error, [shown(e.value) for e in at.error]
    assert any("no language-model head" in shown(i.value) and "Load a causal LM (the embedded SmolLM2" in shown(i.value) for i in at.info)
    assert not at.slider and "generation.prompt" not in [t.key for t in at.text_area]  # no dead controls
    offers = {shown(b.label): b for b in at.button if (b.key or "").startswith("generation.offer.")}
    loaded = next(b for label, b in offers.items() if str(tiny_dirs["causal_lm"]) in label and "(loaded)" in label)
    assert any("gpt2" in label for label in offers)
    assert any("SmolLM2-135M-Instruct" in label for label in offers)  # the embedded causal LMs first
    loaded.click().run()
    assert not at.exception, at.exception
    assert at.session_state["model.spec"].model_id == str(tiny_dirs["causal_lm"])
    assert at.text_input(key="model.custom").value == str(tiny_dirs["causal_lm"])
    assert "generation.next" in [b.key for b in at.button]  # the page now generates


@pytest.mark.parametrize("kind", ["t5", "bart"])
def test_encoder_decoder_generates_and_refuses_what_it_cannot_show(app_factory, tiny_dirs, tiny_handles, kind):
    """Seq2seq through its kind adapter: Next = the core's tokens; attribution and the lens say why not."""
    handle = tiny_handles[kind]
    at = open_page(app_factory, tiny_dirs[kind], PAGE)
    assert not at.exception, at.exception
    assert any("encoder-decoder" in shown(c.value) for c in at.caption)
    at.button_group(key="generation.mode").set_value("greedy").run()
    at.number_input(key="generation.n").set_value(3).run()
    at.button(key="generation.run").click().run()
    assert not at.exception, at.exception
    prompt = at.text_area(key="generation.prompt").value
    g = gen.generate(handle, prompt, gen.SamplingSettings(), 3)
    assert _text(at) == gen.text_of(handle, g.ids)
    at.button_group(key="generation.pick").set_value(0).run()
    assert not at.exception, at.exception
    assert any("causal LMs only" in shown(e.value) for e in at.error)  # attribution
    assert any("encoder-decoder" in shown(i.value) and "logit lens" in shown(i.value) for i in at.info)  # lens
    titles = [c["layout"]["title"]["text"] for c in chart_specs(at)]
    assert any(t.startswith("Attention when generating") for t in titles)
