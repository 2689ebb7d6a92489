"""AppTest: pair classifiers (BART NLI) and multi-label heads on the Masking and Compare pages (issue 21 b)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from helpers import chart_specs as figures, open_page, plotly_array

from plm_core.loading import ModelSpec, load_model

PREMISE, HYPOTHESIS = "a man is eating", "a person eats"


@pytest.fixture(scope="module")
def head_dirs(tmp_path_factory):
    from tiny_models import save_tiny_head

    base = tmp_path_factory.mktemp("tiny_heads_app")
    return {kind: save_tiny_head(kind, base / kind) for kind in ("bart_nli", "multilabel")}


def _probs(folder, text, pair=None, sigmoid=False):
    handle = load_model(ModelSpec(str(folder), device="cpu"))
    with torch.no_grad():
        logits = handle.model(**handle.tokenizer(text, pair, return_tensors="pt")).logits[0]
    return (torch.sigmoid(logits) if sigmoid else torch.softmax(logits, -1)).numpy()


def test_masking_page_reads_the_hypothesis(app_factory, head_dirs):
    at = open_page(app_factory, head_dirs["bart_nli"], "pages/masking.py")
    assert at.text_input(key="masking.text").label == "Premise"
    at.text_input(key="masking.text").input(PREMISE).run()
    at.text_input(key="masking.target").input(HYPOTHESIS).run()
    assert not at.exception, at.exception
    options = at.pills(key="masking.masks").options
    assert "person" in " ".join(options)  # the hypothesis's tokens can be masked too
    at.pills(key="masking.masks").set_value([2]).run()
    assert not at.exception, at.exception
    by_name = {t["name"]: t for t in figures(at)[0]["data"]}
    labels = list(by_name["original"]["y"])
    expected = _probs(head_dirs["bart_nli"], PREMISE, HYPOTHESIS)
    order = [["contradiction", "neutral", "entailment"].index(x) for x in labels]
    np.testing.assert_allclose(plotly_array(by_name["original"]["x"]), expected[order], atol=1e-6)


def test_compare_page_reads_both_sentences_with_the_hypothesis(app_factory, head_dirs):
    query = {"compare.a": PREMISE, "compare.b": "a woman is sleeping", "compare.pair": HYPOTHESIS}
    at = open_page(app_factory, head_dirs["bart_nli"], "pages/compare.py", query)
    assert not at.exception, at.exception
    by_name = {t["name"]: t for t in figures(at)[0]["data"]}
    labels = list(by_name["A"]["y"]) if "A" in by_name else None
    assert labels, by_name.keys()
    expected = _probs(head_dirs["bart_nli"], PREMISE, HYPOTHESIS)
    order = [["contradiction", "neutral", "entailment"].index(x) for x in labels]
    np.testing.assert_allclose(plotly_array(by_name["A"]["x"]), expected[order], atol=1e-6)


def test_multilabel_masking_chart_is_per_label_sigmoid(app_factory, head_dirs):
    at = open_page(app_factory, head_dirs["multilabel"], "pages/masking.py")
    at.text_input(key="masking.text").input("you are a terrible person").run()
    at.pills(key="masking.masks").set_value([4]).run()
    assert not at.exception, at.exception
    fig = figures(at)[0]
    assert "sigmoid" in str(fig["layout"]["xaxis"]["title"]["text"])
    by_name = {t["name"]: t for t in fig["data"]}
    labels = list(by_name["original"]["y"])
    expected = _probs(head_dirs["multilabel"], "you are a terrible person", sigmoid=True)
    order = [["toxic", "insult", "threat"].index(x) for x in labels]
    np.testing.assert_allclose(plotly_array(by_name["original"]["x"]), expected[order], atol=1e-6)


@pytest.fixture(scope="module")
def chat_dir(tmp_path_factory):
    from tiny_models import save_tiny_head

    return save_tiny_head("chat", tmp_path_factory.mktemp("tiny_chat") / "chat")


@pytest.mark.parametrize("page, key, box", [
    ("pages/attribution.py", "attribution.chat", "attribution.text"),
    ("pages/masking.py", "masking.chat", "masking.text"),
    ("pages/generation.py", "generation.chat", "generation.prompt"),
    ("pages/compare.py", "compare.chat", "compare.a"),
])
def test_chat_template_option_on_every_prompt_page(app_factory, chat_dir, page, key, box):
    at = open_page(app_factory, chat_dir, page)
    widget = at.text_area(key=box) if page in ("pages/attribution.py", "pages/generation.py") else at.text_input(key=box)
    widget.input("the cat sat").run()
    assert not at.exception, at.exception
    at.toggle(key=key).set_value(True).run()
    assert not at.exception, at.exception
    assert any(c.value.startswith("<|im_start|>user\nthe cat sat<|im_end|>") for c in at.code)
    if page == "pages/masking.py":  # the template's special tokens cannot be masked
        assert not any("im_start" in o or "im_end" in o for o in at.pills(key="masking.masks").options)
