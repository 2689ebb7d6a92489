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
    from plm_core.testing import save_tiny_head

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
    from plm_core.testing import save_tiny_head

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


def test_large_bertviz_views_offer_a_subset_within_the_limit(app_factory, tiny_dirs):
    """Past the size limit the head and model views say why and draw a layer/head subset (was: everything up to
    128 tokens, 1.2 million SVG lines for MiniLM's model view)."""
    import json
    import re

    from plm_core.viz.bertviz_html import MAX_SVG_ELEMENTS, view_elements

    at = open_page(app_factory, tiny_dirs["masked_lm"], "pages/attention.py")
    at.text_area(key="attention.text").input("the cat sat on the mat " * 17).run()  # 104 tokens, 2 layers × 4 heads
    assert not at.exception, at.exception
    infos = [i.value for i in at.info]
    assert sum("would draw" in i for i in infos) == 2, infos
    heads = at.multiselect(key="attention.model_heads").value
    layers = at.multiselect(key="attention.model_layers").value
    assert view_elements("model", 104, len(layers), len(heads)) <= MAX_SVG_ELEMENTS < view_elements("model", 104, 2, 4)
    frames = [f.proto.srcdoc for f in at.get("iframe")]
    params = [json.loads(re.search(r"window\.PLM_PARAMS = (.*?);</script>", f, re.S).group(1)) for f in frames]
    model = next(p for p in params if "include_heads" in p)
    assert model["include_heads"] == list(heads) and model["n_layers"] == len(layers)
    at.multiselect(key="attention.model_heads").set_value([0, 1, 2, 3]).run()  # too many: refused with the reason
    at.multiselect(key="attention.model_layers").set_value([0, 1]).run()
    assert any("choose fewer" in w.value for w in at.warning)


def test_explain_every_label_table_and_export(app_factory, head_dirs):
    from plm_core.attribution import Target, attribute

    at = open_page(app_factory, head_dirs["multilabel"], "pages/attribution.py")
    at.text_area(key="attribution.text").input("you are a terrible person").run()
    run = [b for b in at.button if b.key == "attribution.run"]
    if run:  # a busy machine: the page asks before a run it estimates as slow
        run[0].click().run()
    at.toggle(key="attribution.every_label").set_value(True).run()
    assert not at.exception, at.exception
    table = next(d.value for d in at.dataframe if "threat" in d.value.columns)
    assert list(table.columns) == ["token", "toxic", "insult", "threat"]
    handle = load_model(ModelSpec(str(head_dirs["multilabel"]), device="cpu"))
    expected = attribute(handle, "you are a terrible person", "integrated_gradients",
                         target=Target("class", label="insult"))
    np.testing.assert_allclose(table["insult"].to_numpy(), expected.scores, atol=1e-5)
    assert {b.proto.label for b in at.get("download_button")} >= {"Download every label (CSV)",
                                                                  "Download every label (JSON)"}
