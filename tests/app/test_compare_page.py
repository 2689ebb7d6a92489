"""AppTest of the compare page on tiny models: two sentences, two models, the loaded list and unloading."""

from __future__ import annotations

import numpy as np
from helpers import chart_specs as figures, shown
from helpers import open_page, plotly_array

from plm_core.attention import extract_attention
from plm_core.compare import compare_texts
from plm_core.kinds import kind_label
from plm_core.loading import ModelSpec, load_model


def test_two_sentences_prediction_and_attention_difference(app_factory, tiny_dirs):
    query = {"compare.a": "the cat sat on the mat", "compare.b": "the dog sat on a mat", "compare.layer": "1",
             "compare.head": "2"}  # a link: every widget is bound to the query parameter named by its key
    at = open_page(app_factory, tiny_dirs["classifier"], "pages/compare.py", query)
    titles = [f["layout"]["title"]["text"] for f in figures(at)]
    assert titles[:2] == ["class probabilities", "Layer 1, head 2: B − A"]
    handle = load_model(ModelSpec(str(tiny_dirs["classifier"]), device="cpu"))
    expected = compare_texts(handle, "the cat sat on the mat", "the dog sat on a mat")
    heat = figures(at)[1]["data"][0]
    z = plotly_array(heat["z"])
    np.testing.assert_allclose(z.reshape(expected.attention.weights.shape[-2:]),
                               expected.attention.weights[1, 2], atol=1e-6)
    table = at.dataframe[0].value
    assert list(table["A"])[:3] == ["[CLS]", "the", "cat"] and list(table["B"])[:3] == ["[CLS]", "the", ""]
    at.toggle(key="compare.attr").set_value(True).run()
    assert not at.exception and not at.error
    assert "Gradient × Input on matched tokens" in figures(at)[-1]["layout"]["title"]["text"]  # its name, not its id
    # (the URL the browser shows after a click: tests/browser/test_links_browser.py; AppTest has no address bar)


def test_two_models_with_different_tokenizers_and_unload(app_factory, tiny_dirs):
    at = open_page(app_factory, tiny_dirs["classifier"], "pages/compare.py", {"compare.mode": "one sentence, two models"})
    assert any("Enter a second model" in shown(i.value) for i in at.info)
    at.text_input(key="compare.model_b").input(str(tiny_dirs["causal_lm"])).run()
    assert not at.exception and not at.error
    notes = " ".join(shown(i.value) for i in at.info)
    assert "tokenize differently" in notes and "different kinds" in notes
    titles = [f["layout"]["title"]["text"] for f in figures(at)]
    assert "Class probabilities" in titles and any(t.startswith("Top tokens") for t in titles)
    loaded = at.dataframe[-1].value
    assert len(loaded) == 2 and set(loaded["kind"]) == {kind_label("classifier"), kind_label("causal_lm")}  # shown names
    at.button(key="compare.unload").click().run()
    assert not at.exception
    assert len(at.dataframe[-1].value) == 2  # the page loads both again for its view


def test_two_checkpoints_of_one_architecture_per_head_and_difference(app_factory, tiny_dirs):
    """Tiny BERT classifier (A) and tiny BERT masked LM (B): same tokenizer, layers and heads. The chosen head is
    drawn for both models, and B − A equals the two models' own attentions subtracted."""
    query = {"compare.mode": "one sentence, two models", "compare.model_b": str(tiny_dirs["masked_lm"]),
             "compare.text": "the cat sat on the mat", "compare.layer_from_top": "1 from the top", "compare.head": "3"}
    at = open_page(app_factory, tiny_dirs["classifier"], "pages/compare.py", query)
    assert not at.error
    charts = [(f["layout"]["title"]["text"], plotly_array(f["data"][0]["z"]))
              for f in figures(at) if "z" in f["data"][0]]
    a = load_model(ModelSpec(str(tiny_dirs["classifier"]), device="cpu"))
    b = load_model(ModelSpec(str(tiny_dirs["masked_lm"]), device="cpu"))
    att_a = extract_attention(a, "the cat sat on the mat").weights[1, 3]
    att_b = extract_attention(b, "the cat sat on the mat").weights[1, 3]
    heat_a, heat_b = (z.reshape(att_a.shape) for t, z in charts if t == "Layer 1, head 3")
    np.testing.assert_allclose(heat_a, att_a, atol=1e-6)
    np.testing.assert_allclose(heat_b, att_b, atol=1e-6)
    (diff,) = (z.reshape(att_a.shape) for t, z in charts if t == "Layer 1, head 3: B − A")
    np.testing.assert_allclose(diff, att_b - att_a, atol=1e-6)
    assert np.abs(diff).max() > 1e-3  # two different models: the difference is not zero
    at.selectbox(key="compare.head").select_index(0).run()  # "average of heads" (AVERAGE_OF_HEADS)
    titles = [f["layout"]["title"]["text"] for f in figures(at)]
    assert "Layer 1, average of heads: B − A" in titles
