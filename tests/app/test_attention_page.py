"""AppTest of the attention page and the sidebar model picker (embedded MiniLM and a tiny GPT-2 folder)."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from helpers import chart_specs, open_page, plotly_array, shown

from ui.widgets import OTHER

PAGE = "pages/attention.py"


def _markdown(at) -> list[str]:
    return [shown(m.value) for m in at.markdown]


def _summary(at) -> str:
    found = [m for m in _markdown(at) if re.match(r"\d+ tokens", m)]
    assert found, _markdown(at)
    return found[0]


def _set_text(at, text: str) -> None:
    at.text_area(key="attention.text").input(text).run()
    assert not at.exception, at.exception


@pytest.mark.slow
def test_opens_with_the_example_analysed(app_factory):
    at = open_page(app_factory, "embedded", PAGE)
    assert at.title[0].value == "Attention"
    assert _summary(at) == "13 tokens · 6 layers × 12 heads"
    frames = at.get("iframe")
    assert len(frames) == 2  # head view and model view
    for frame in frames:
        html = frame.proto.srcdoc
        assert "window.PLM_PARAMS" in html and "cdnjs" not in html
    charts = chart_specs(at)
    assert len(charts) == 5  # heatmap, token flow, QK^T scores, softmax, neuron view
    heat = charts[0]["data"][0]
    z = plotly_array(heat["z"])
    assert heat["type"] == "heatmap" and z.shape == (13, 13) and heat["x"][1] == "1:the"
    np.testing.assert_allclose(z.sum(-1), 1.0, atol=1e-5)  # layer 0, average of heads: rows sum to 1
    assert not at.error
    caption = " ".join(shown(c.value) for c in at.sidebar.caption)
    assert "all-MiniLM-L6-v2" in caption and "6 layers × 12 heads" in caption and "device: cpu" in caption


@pytest.mark.slow
def test_typing_updates_tokens_and_pair(app_factory):
    at = open_page(app_factory, "embedded", PAGE)
    _set_text(at, "the quick brown fox jumps over the lazy dog")
    assert _summary(at).startswith("11 tokens")
    heat = json.loads(at.get("plotly_chart")[0].proto.spec)["data"][0]
    assert plotly_array(heat["z"]).shape == (11, 11) and heat["x"][4] == "4:fox"
    at.text_area(key="attention.pair").input("a dog sleeps").run()
    assert _summary(at).startswith("15 tokens (two sentences)")
    html = at.get("iframe")[0].proto.srcdoc
    assert "Sentence A -\\u003e Sentence B" in html  # the pair filters, escaped in the JSON


@pytest.mark.slow
def test_query_key_tab_success_line(app_factory):
    at = open_page(app_factory, "embedded", PAGE)
    at.selectbox(key="attention.qk.layer").set_value(3).run()
    at.selectbox(key="attention.qk.head").set_value(7).run()
    assert not at.exception
    success = [shown(s.value) for s in at.success]
    assert len(success) == 2 and success[0].startswith("Recomputed softmax(QKᵀ/√d_k) equals the model's attention")
    assert success[1].startswith("Σ q ⊙ k × scale equals row 2 of QKᵀ/√d_k")  # the neuron view
    diff = float(success[0].rsplit("=", 1)[1].split("(")[0])
    assert diff < 1e-5
    assert any("Q and K of head 7" in m and "d_k = 32" in m for m in _markdown(at))
    titles = [c["layout"]["title"]["text"] for c in chart_specs(at)]
    assert "QKᵀ/√d_k (layer 3, head 7)" in titles


@pytest.mark.slow
def test_bad_input_gives_clear_messages(app_factory):
    at = open_page(app_factory, "embedded", PAGE)
    for text in ("", "   \n\t "):
        _set_text(at, text)
        assert [shown(e.value) for e in at.error] == ["the text is empty: type a sentence"]
        assert not at.get("iframe")

    _set_text(at, "the cat sat on the mat. " * 417)  # 10,008 characters
    infos = [shown(i.value) for i in at.info]
    assert any("only the first 256 (the limit here) are used" in i for i in infos), infos  # MiniLM's own limit
    # bertviz: every layer and head of 256 tokens is far past what Chromium draws in 2 s; a subset is offered
    assert any("would draw" in i and "2 s" in i for i in infos), infos
    assert _summary(at).startswith("256 tokens") and not at.error

    _set_text(at, "I love 😀 שלום עולם مرحبا بالعالم")
    assert not at.error and _summary(at)

    _set_text(at, "the\x00 cat\x07 sat")
    assert "Removed 2 control character(s) from the text." in [shown(i.value) for i in at.info]
    assert _summary(at).startswith("5 tokens")

    _set_text(at, "<img src=x onerror=alert(1)>")
    assert not at.error
    html = at.get("iframe")[0].proto.srcdoc
    assert "<img" not in html and "\\u003c" in html
    tokens = json.loads(at.get("plotly_chart")[0].proto.spec)["data"][0]["x"]
    assert tokens[1] == "1:&lt;"  # escaped once (ui.safe.safe_figure in ui.charts.plotly_chart): plotly shows "<"

    _set_text(at, "back to normal")  # the page keeps working after all of it
    assert _summary(at).startswith("5 tokens") and not at.error


def _submit_model(at, model_id: str) -> None:
    at.selectbox(key="model.choice").set_value(OTHER)
    at.text_input(key="model.custom").input(model_id)
    at.button(key="FormSubmitter:model.form-Load model").click().run()
    assert not at.exception, at.exception


@pytest.mark.slow
def test_unknown_model_keeps_the_previous_one(app_factory, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    at = open_page(app_factory, "embedded", PAGE)
    for model_id, reason in (("no-such-org/no-such-model", "the Hugging Face Hub cannot be reached (offline mode or no network)"),
                             ("/no/such/folder", "there is no folder")):
        _submit_model(at, model_id)
        errors = [shown(e.value) for e in at.sidebar.error]
        assert len(errors) == 1 and reason in errors[0], errors
        assert errors[0].endswith("still using sentence-transformers/all-MiniLM-L6-v2.")
        assert _summary(at) == "13 tokens · 6 layers × 12 heads"
    _set_text(at, "the app still works")
    assert _summary(at).startswith("6 tokens")
    assert "all-MiniLM-L6-v2" in " ".join(shown(c.value) for c in at.sidebar.caption)


def test_tiny_gpt2_folder_as_default(app_factory, tiny_dirs):
    at = open_page(app_factory, str(tiny_dirs["causal_lm"]), PAGE)
    assert _summary(at).endswith("2 layers × 4 heads")
    assert "causal language model" in " ".join(shown(c.value) for c in at.sidebar.caption)
    assert any("causal mask: a token sees only itself and earlier tokens" in m for m in _markdown(at))
    diff = float(shown(at.success[0].value).rsplit("=", 1)[1].split("(")[0])
    assert diff < 1e-5
    heat = json.loads(at.get("plotly_chart")[0].proto.spec)["data"][0]
    z = plotly_array(heat["z"])
    assert np.all(z[np.triu_indices(len(z), 1)] == 0)  # causal: the upper triangle is zero
    np.testing.assert_allclose(z.sum(-1), 1.0, atol=1e-5)


def test_switching_to_a_tiny_folder_in_the_sidebar(app_factory, tiny_dirs):
    at = open_page(app_factory, str(tiny_dirs["masked_lm"]), PAGE)
    _submit_model(at, str(tiny_dirs["classifier"]))
    assert not at.sidebar.error
    assert "sequence classifier" in " ".join(shown(c.value) for c in at.sidebar.caption)
    assert _summary(at).startswith("13 tokens")  # every word of the example is in the tiny vocab
