"""Every page on a tiny T5 folder (encoder-decoder) and a tiny Llama folder (rotary, grouped-query attention),
loaded through the real loader as a user's folder would be."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import chart_specs, open_page, plotly_array, shown

from plm_core.lessons.content import LESSONS

MODELS = ("t5", "llama")


def _titles(at) -> list[str]:
    return [c["layout"]["title"]["text"] for c in chart_specs(at)]


@pytest.mark.parametrize("name", MODELS)
def test_home_and_sidebar(app_factory, tiny_dirs, name):
    at = open_page(app_factory, tiny_dirs[name], "pages/home.py")
    label = {"t5": "encoder-decoder (T5/BART-style)", "llama": "causal language model (GPT-style)"}[name]
    assert any(label in shown(c.value) for c in at.sidebar.caption)


def test_attention_page_t5_three_stacks(app_factory, tiny_dirs):
    at = open_page(app_factory, tiny_dirs["t5"], "pages/attention.py")
    stacks = at.segmented_control(key="attention.stack")
    assert stacks.options == ["encoder self-attention", "decoder self-attention", "cross-attention (target → source)"]
    at.text_area(key="attention.pair").input("the cat").run()
    stacks = at.segmented_control(key="attention.stack")
    stacks.set_value("cross").run()
    assert not at.exception, at.exception
    z = plotly_array([c for c in chart_specs(at) if c["layout"]["title"]["text"].startswith("Layer")][0]["data"][0]["z"])
    n_src = len(at.session_state["attention.text"].split())  # at least one token per word
    assert z.shape[0] == 3 and z.shape[1] >= n_src  # target (start + "the cat") × source
    assert any(shown(s.value).startswith("Recomputed softmax(QKᵀ/√d_k) equals the model's attention") for s in at.success)
    assert any("Relative positions" in c.value for c in at.caption)
    at.radio(key="attention.mode").set_value("rollout").run()
    assert not at.exception and any("Cross-attention rollout" in c.value for c in at.caption)
    assert any("Token flow follows one self-attention" in i.value for i in at.info)


def test_attention_page_llama_query_key(app_factory, tiny_dirs):
    at = open_page(app_factory, tiny_dirs["llama"], "pages/attention.py")
    assert not [w for w in at.get("segmented_control") if w.key == "attention.stack"]  # one stack: no picker
    at.selectbox(key="attention.qk.head").set_value(3).run()
    assert not at.exception
    success = [shown(s.value) for s in at.success]
    assert success and float(success[0].rsplit("=", 1)[1].split("(")[0]) < 1e-5
    captions = " ".join(c.value for c in at.caption)
    assert "Rotary positions (RoPE)" in captions and "head 3 reads key/value head 1" in captions


@pytest.mark.parametrize("name", MODELS)
def test_attribution_page(app_factory, tiny_dirs, name):
    at = open_page(app_factory, tiny_dirs[name], "pages/attribution.py")
    asked = [b for b in at.button if b.key == "attribution.run"]  # a busy machine: the page may ask first
    if asked:
        asked[0].click().run()
    assert not at.error, [e.value for e in at.error]
    assert "Integrated Gradients" in at.subheader[0].value
    assert any("Completeness error" in c.value for c in [*at.caption, *at.warning])
    if name == "t5":  # the target token is explained by the source and the target so far
        at.text_area(key="attribution.pair").input("the cat").run()
        assert not at.exception and not at.error


@pytest.mark.parametrize("name", MODELS)
def test_masking_page(app_factory, tiny_dirs, name):
    at = open_page(app_factory, tiny_dirs[name], "pages/masking.py")
    strategies = at.segmented_control(key="masking.strategy").options
    masks = at.pills(key="masking.masks")
    masks.set_value([masks.options[1]]).run()
    assert not at.exception and not at.error
    title = _titles(at)[0]
    if name == "t5":  # a T5 token is masked with its next free sentinel
        assert strategies[0] == "replace with the mask token" and title == "Next target token"
        assert "<extra_id_2>" in at.code[0].value
        assert any("Span filling" in m.value for m in at.markdown)
        at.text_input(key="masking.target").input("the").run()
        assert not at.exception and not at.error
    else:
        assert strategies == ["delete", "substitute a word"] and title == "Next token"


@pytest.mark.parametrize("name", MODELS)
def test_compare_page(app_factory, tiny_dirs, name):
    at = open_page(app_factory, tiny_dirs[name], "pages/compare.py")
    assert not at.error, [e.value for e in at.error]
    titles = _titles(at)
    assert any("next" in t for t in titles) and any("B − A" in t for t in titles)


@pytest.mark.parametrize("name", MODELS)
def test_bias_page_opens(app_factory, tiny_dirs, name):
    at = open_page(app_factory, tiny_dirs[name], "pages/bias.py")
    assert not at.exception


@pytest.mark.parametrize(("name", "lessons"), [("t5", (2, 3, 4, 6)), ("llama", (2, 3, 4))])
def test_lessons(app_factory, tiny_dirs, name, lessons):
    """Every step of the attention and pre-training lessons; lesson 4's encoder-decoder step is live on T5."""
    at = open_page(app_factory, tiny_dirs[name], "pages/lessons.py")
    for lesson in (x for x in LESSONS if x.number in lessons):
        at.session_state["lessons.lesson"] = lesson.number
        for i, step in enumerate(lesson.steps):
            at.session_state["lessons.step"] = i + 1
            at.run()
            at.radio(key=f"lessons.guess.{lesson.number}.{i + 1}").set_value(step.question.answer).run()
            at.toggle(key=f"lessons.reveal.{lesson.number}.{i + 1}").set_value(True).run()
            assert not at.exception, (lesson.number, i, at.exception)
            assert not at.error, (lesson.number, i, [e.value for e in at.error])
            if step.view == "encdec":
                if name == "t5":
                    masks, cross = chart_specs(at)
                    z = plotly_array(cross["data"][0]["z"])
                    n_tgt = plotly_array(masks["data"][1]["z"]).shape[0]  # decoder start + "The cat sat"
                    assert z.shape[0] == n_tgt > 1 and np.allclose(z.sum(-1), 1.0, atol=1e-5)
                    decoder = plotly_array(masks["data"][1]["z"])
                    assert (np.triu(decoder, 1) == 0).all() and (decoder[np.tril_indices(n_tgt)] == 1).all()  # causal
                else:
                    assert any("not an encoder-decoder" in m.value or "load an encoder-decoder" in m.value
                               for m in at.info)
