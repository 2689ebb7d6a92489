"""AppTest of the "Inside the model" page: its charts equal the core's numbers, every LM kind renders, a model
without an LM head is refused with the reason, and a link reproduces the view."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import chart_specs as figures
from helpers import open_page, plotly_array, shown

from plm_core.contributions import contributions
from plm_core.loading import ModelSpec, load_model
from plm_core.patching import patch

TEXT, CORRUPT = "the cat sat on the", "the dog sat on the"


def test_contributions_heatmap_and_patching_equal_the_core(app_factory, tiny_dirs):
    query = {"inside.text": TEXT, "inside.corrupt": CORRUPT}
    at = open_page(app_factory, tiny_dirs["causal_lm"], "pages/inside.py", query)
    handle = load_model(ModelSpec(str(tiny_dirs["causal_lm"]), device="cpu"))
    res = contributions(handle, TEXT)
    specs = {f["layout"]["title"]["text"]: f for f in figures(at)}
    heat = next(f for t, f in specs.items() if t.startswith("Who wrote"))
    z = plotly_array(heat["data"][0]["z"])
    np.testing.assert_allclose(z[:, :-1], res.heads[0], atol=1e-5)
    np.testing.assert_allclose(z[:, -1], res.ffn, atol=1e-5)
    assert any("equals the model's own logit" in shown(s.value) for s in at.success)
    trace = next(f for t, f in specs.items() if t.startswith("Causal tracing"))
    pres = patch(handle, TEXT, CORRUPT, "residual")
    np.testing.assert_allclose(plotly_array(trace["data"][0]["z"]), pres.restored, atol=1e-5)


@pytest.mark.parametrize("kind", ["llama", "masked_lm", "t5", "bart"])
def test_every_lm_kind_renders(app_factory, tiny_dirs, kind):
    text = "the cat [MASK] on the mat" if kind == "masked_lm" else TEXT
    corrupt = "the dog [MASK] on the mat" if kind == "masked_lm" else CORRUPT
    at = open_page(app_factory, tiny_dirs[kind], "pages/inside.py", {"inside.text": text, "inside.corrupt": corrupt})
    assert not at.error, [e.value for e in at.error]
    assert len(figures(at)) >= 4  # heatmap, sources, flow, patching, FFN


def test_ablation_and_ffn_tab(app_factory, tiny_dirs):
    at = open_page(app_factory, tiny_dirs["causal_lm"], "pages/inside.py",
                   {"inside.text": TEXT, "inside.corrupt": CORRUPT, "inside.ffn.layer": "2"})
    at.multiselect(key="inside.ablate").select(("ffn", -1, 0, -1)).run()
    assert not at.exception
    assert any(f["layout"]["title"]["text"].startswith("Prediction with and without") for f in figures(at))
    assert any(f["layout"]["title"]["text"].startswith("Layer 2 FFN") for f in figures(at))


def test_a_model_without_an_lm_head_is_refused_with_the_reason(app_factory, tiny_dirs):
    at = open_page(app_factory, tiny_dirs["classifier"], "pages/inside.py")
    assert any("no language-model head" in shown(e.value) for e in at.error)


def test_prompts_of_different_lengths_get_a_message(app_factory, tiny_dirs):
    at = open_page(app_factory, tiny_dirs["causal_lm"], "pages/inside.py",
                   {"inside.text": TEXT, "inside.corrupt": "the dog sat on the mat today"})
    assert any("same number of tokens" in shown(e.value) for e in at.error)


@pytest.mark.parametrize("kind", ["masked_lm", "causal_lm"])
def test_the_page_in_chinese(app_factory, tiny_dirs, kind):
    from i18n_screen import english_on_screen, screen_texts

    from plm_core.i18n import set_language

    set_language("zh")  # AppTest formats widget options in the test's own thread
    try:
        at = app_factory(str(tiny_dirs[kind]), {"lang": "zh", "inside.corrupt": "the dog sat on the"
                                                if kind == "causal_lm" else "the dog is [MASK] ."})
        at.run()
        at.switch_page("pages/inside.py").run()
        assert not at.exception, at.exception
        found = english_on_screen(screen_texts(at))
        assert not found, "; ".join(f"{m!r} in {w!r}" for m, w in found[:8])
    finally:
        set_language("en")


@pytest.mark.parametrize("kind", ["causal_lm", "masked_lm"])
def test_lesson_8_runs_live_step_by_step(app_factory, tiny_dirs, kind):
    from helpers import lesson_query

    from plm_core.lessons.content import get_lesson

    lesson = get_lesson(8)
    assert lesson.number == 8 and len(lesson.steps) == 4
    for step in range(1, len(lesson.steps) + 1):
        at = open_page(app_factory, tiny_dirs[kind], "pages/lessons.py", lesson_query(8, step, reveal=True))
        assert not at.error, [e.value for e in at.error]
        assert figures(at) or at.table, step
        if lesson.steps[step - 1].key == "residual":
            assert any("equals the model's own logit" in shown(s.value) for s in at.success)


def test_lesson_8_in_chinese(app_factory, tiny_dirs):
    from helpers import lesson_query
    from i18n_screen import english_on_screen, screen_texts

    from plm_core.i18n import set_language

    set_language("zh")
    try:
        for step in (1, 2, 3, 4):
            at = app_factory(str(tiny_dirs["causal_lm"]), lesson_query(8, step, lang="zh", reveal=True))
            at.run()
            at.switch_page("pages/lessons.py").run()
            assert not at.exception, at.exception
            found = english_on_screen(screen_texts(at))
            assert not found, "; ".join(f"{m!r} in {w!r}" for m, w in found[:8])
    finally:
        set_language("en")


def test_attribution_page_segments_and_continuation(app_factory, tiny_dirs):
    from plm_core.attribution import attribute
    from plm_core.attribution.continuation import attribute_continuation

    text = "the cat sat. the dog ran on the"
    at = open_page(app_factory, tiny_dirs["causal_lm"], "pages/attribution.py",
                   {"attribution.text": text, "attribution.methods": "Gradient × Input",
                    "attribution.segments": "sentences", "attribution.continuation": " mat"})
    assert not at.error, [e.value for e in at.error]
    handle = load_model(ModelSpec(str(tiny_dirs["causal_lm"]), device="cpu"))
    res = attribute(handle, text, "input_x_gradient")
    table = next(t for t in at.table if "segment" in t.value.columns)
    assert len(table.value) == 2 and float(table.value["score"].astype(float).sum()) == pytest.approx(
        float(res.scores.sum()), abs=2e-4)
    cont = attribute_continuation(handle, text, " mat", "input_x_gradient", per_token=False)
    bar = next(f for f in figures(at) if f["layout"]["title"]["text"].startswith("Whole continuation"))
    np.testing.assert_allclose(plotly_array(bar["data"][0]["y"]), cont.sequence.scores, atol=1e-5)


def test_a_head_opens_in_the_attention_page(app_factory, tiny_dirs):
    at = open_page(app_factory, tiny_dirs["causal_lm"], "pages/inside.py",
                   {"inside.text": TEXT, "inside.corrupt": CORRUPT, "inside.layer": "2", "inside.head": "3"})
    at.button(key="inside.open_head").click().run()
    assert not at.exception, at.exception
    assert at.session_state["attention.heat.layer"] == 1 and at.session_state["attention.heat.head"] == 2
    assert at.text_area(key="attention.text").value == TEXT
