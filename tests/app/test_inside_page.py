"""AppTest of the "Inside the model" page: its charts equal the core's numbers, every LM kind renders, a model
without an LM head is refused with the reason, and a link reproduces the view."""

from __future__ import annotations

import ast
import html

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


def test_an_ablation_applied_to_every_page_and_restored(app_factory, tiny_dirs):
    """"Apply to every page": the Masking lab and the Attention page run on the ablated copy (equal to the core on
    ``ablated_copy``, different from the whole model); "Restore the full model" brings the whole model back."""
    from plm_core.attention import extract_attention
    from plm_core.masking import MaskSpec, mask_and_predict
    from plm_core.patching import Ablation, ablated_copy

    ablation = Ablation(heads=((0, 0, 2),), ffn=(0,))
    at = open_page(app_factory, tiny_dirs["causal_lm"], "pages/inside.py", {"inside.text": TEXT,
                                                                           "inside.corrupt": CORRUPT})
    at.multiselect(key="inside.ablate").select(("head", 0, 0, 2)).select(("ffn", -1, 0, -1)).run()
    at.button(key="inside.ablate.apply").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert at.session_state["model.spec"].ablation == ablation
    assert at.query_params["ablate"] in ("zero:L1H3,L1F", ["zero:L1H3,L1F"])
    assert any("Ablated model: L1 H3, L1 FFN replaced by zero" in shown(w.value) for w in at.sidebar.warning)

    whole = load_model(ModelSpec(str(tiny_dirs["causal_lm"]), device="cpu"))
    cut = ablated_copy(whole, ablation)
    edit = MaskSpec((1,), strategy="delete")

    def masking_original(at):
        at.switch_page("pages/masking.py").run()
        at.text_input(key="masking.text").input(TEXT).run()
        at.pills(key="masking.masks").set_value([1]).run()
        assert not at.exception
        by_name = {t["name"]: t for t in figures(at)[0]["data"]}
        return [ast.literal_eval(html.unescape(x)) for x in by_name["original"]["y"]], plotly_array(by_name["original"]["x"])

    def attention_layer_2(at):
        at.switch_page("pages/attention.py").run()
        at.text_area(key="attention.text").input(TEXT).run()
        at.selectbox(key="attention.heat.layer").set_value(1).run()
        at.selectbox(key="attention.heat.head").set_value(1).run()
        assert not at.exception
        heat = next(f for f in figures(at) if f["layout"]["title"]["text"].startswith("Layer 1, head 1"))
        return plotly_array(heat["data"][0]["z"])

    for handle, restore in ((cut, True), (whole, False)):
        labels, probs = masking_original(at)
        cmp = mask_and_predict(handle, TEXT, edit).comparisons[0]
        np.testing.assert_allclose(probs, cmp.original[[cmp.labels.index(x) for x in labels]], atol=1e-6)
        np.testing.assert_allclose(attention_layer_2(at), extract_attention(handle, TEXT).weights[1, 1], atol=1e-6)
        if restore:
            other = mask_and_predict(whole, TEXT, edit).comparisons[0]
            assert set(labels) != set(other.labels) or not np.allclose(
                probs, other.original[[other.labels.index(x) for x in labels]], atol=1e-4)
            assert not np.allclose(extract_attention(whole, TEXT).weights[1, 1],
                                   extract_attention(cut, TEXT).weights[1, 1], atol=1e-4)
            at.sidebar.button(key="model.restore").click().run()
            assert at.session_state["model.spec"].ablation is None and "ablate" not in at.query_params
            assert not at.sidebar.warning


@pytest.mark.parametrize("value,expected", [("half:L1H1", "unknown ablation mode"), ("<b>L1H1</b>", "not an ablation"),
                                            ("zero:L9H1", "no head 1 in layer 9"), ("L1H99", "no head 99 in layer 1"),
                                            ("=cmd|' /C calc'!A0", "not an ablation")])
def test_a_hostile_ablation_link_gets_a_message_and_the_full_model(app_factory, tiny_dirs, value, expected):
    at = app_factory(str(tiny_dirs["causal_lm"]), {"ablate": value})
    at.run()
    assert not at.exception, at.exception
    errors = [shown(e.value) for e in at.sidebar.error]
    assert any(expected in e for e in errors), errors
    assert at.session_state["model.spec"].ablation is None and "ablate" not in at.query_params
    assert not any("<b>" in e.value for e in at.sidebar.error)  # escaped, never markup
