"""plm_core.viz.bertviz_html: the offline payload carries the same (quantized) weights, escapes text and
needs no network."""

from __future__ import annotations

import base64
import json
import re

import numpy as np
import pytest

from plm_core.attention import extract_attention
from plm_core.viz.bertviz_html import bertviz_html, quantize

PARAMS = re.compile(r"<script>window\.PLM_PARAMS = (.*?);</script>", re.S)


def _params(html: str) -> tuple[dict, str]:
    match = PARAMS.search(html)
    assert match, "no PLM_PARAMS script in the page"
    return json.loads(match.group(1)), match.group(1)


def _decode(params: dict) -> np.ndarray:
    n, heads, layers = params["n_tokens"], params["n_heads"], params["n_layers"]
    raw = np.frombuffer(base64.b64decode(params["blob"]), dtype=np.uint8)
    return raw.reshape(layers, heads, n, n).astype(np.float32) / 255.0


@pytest.mark.parametrize("view", ["head", "model"])
def test_payload_decodes_to_the_weights(tiny_mlm, view):
    res = extract_attention(tiny_mlm, "the cat sat on the mat")
    params, _ = _params(bertviz_html(res, view))
    decoded = _decode(params)
    assert decoded.shape == res.weights.shape
    assert np.max(np.abs(decoded - res.weights)) <= 0.5 / 255 + 1e-7
    assert params["attention"][0]["left_text"] == list(res.encoding.tokens)
    assert params["attention"][0]["rows"] == [0, len(res.encoding)]
    if view == "head":
        assert params["layer"] == 0
    else:
        assert params["include_heads"] == [0, 1, 2, 3] and params["total_heads"] == 4


def test_quantize_rounds_to_bytes():
    w = np.array([0.0, 1.0, 0.5, 1 / 255, 0.002, 1.2, -0.1], dtype=np.float32)
    assert list(quantize(w)) == [0, 255, 128, 1, 1, 255, 0]


def test_chosen_layers_only(tiny_mlm):
    res = extract_attention(tiny_mlm, "the cat sat")
    params, _ = _params(bertviz_html(res, "head", layers=[1]))
    assert params["include_layers"] == [1] and params["n_layers"] == 1 and params["layer"] == 1
    np.testing.assert_allclose(_decode(params)[0], res.weights[1], atol=0.5 / 255 + 1e-7)


def test_markup_in_tokens_is_escaped(tiny_mlm):
    res = extract_attention(tiny_mlm, "<img src=x onerror=alert(1)> & </script>")
    html = bertviz_html(res, "head")
    params, raw = _params(html)
    assert "<" not in raw and ">" not in raw and "&" not in raw
    assert "\\u003c" in raw and "\\u003e" in raw and "\\u0026" in raw
    assert "<img" not in html
    # json decoding restores the text exactly: bertviz draws it with .text(), never as markup
    assert "<" in params["attention"][0]["left_text"] and "&" in params["attention"][0]["left_text"]


def test_sentence_pair_filters(tiny_mlm):
    res = extract_attention(tiny_mlm, "the cat sat", "a dog ran")  # [CLS] the cat sat [SEP] | a dog ran [SEP]
    html = bertviz_html(res, "head")
    params, _ = _params(html)
    filters = params["attention"]
    assert [f["name"] for f in filters] == ["All", "Sentence A -> Sentence A", "Sentence B -> Sentence B",
                                            "Sentence A -> Sentence B", "Sentence B -> Sentence A"]
    a_to_b = filters[3]
    assert a_to_b["rows"] == [0, 5] and a_to_b["cols"] == [5, 9]
    assert a_to_b["left_text"] == ["[CLS]", "the", "cat", "sat", "[SEP]"]
    assert a_to_b["right_text"] == ["a", "dog", "ran", "[SEP]"]
    assert html.count("<option value=") == 5 and 'id="filter"' in html


def test_single_sentence_has_no_filter_menu(tiny_mlm):
    html = bertviz_html(extract_attention(tiny_mlm, "the cat"), "head")
    assert 'id="filter"' not in html and len(_params(html)[0]["attention"]) == 1


@pytest.mark.parametrize("view", ["head", "model"])
def test_offline_no_cdn(tiny_mlm, view):
    html = bertviz_html(extract_attention(tiny_mlm, "the cat"), view)
    assert not re.search(r"""src=["']?https?://""", html)
    assert "cdnjs" not in html and "require.config({" not in html.replace(" ", "")
    assert "d3" in html and "jQuery" in html  # inlined from pip packages (mpld3, xstatic-jquery)
    assert "window.PLM_PARAMS" in html


def test_head_subset_sends_only_those_heads(tiny_mlm):
    """A large view drawn for a subset of layers and heads (issue 21 b): only their weights travel."""
    from plm_core.viz.bertviz_html import MAX_SVG_ELEMENTS, fitting_subset, view_elements

    result = extract_attention(tiny_mlm, "the quick brown fox jumps over the lazy dog")
    params, _ = _params(bertviz_html(result, "model", layers=[1], head_subset=[3, 1]))
    assert params["include_heads"] == [1, 3] and params["include_layers"] == [1]
    np.testing.assert_allclose(_decode(params), quantize(result.weights[[1]][:, [1, 3]]).__len__() and
                               np.rint(result.weights[[1]][:, [1, 3]] * 255) / 255, atol=1e-6)
    # the subset offered for a long input fits the limit, a short input is drawn whole
    assert fitting_subset("model", 11, 2, 4) == ([0, 1], [0, 1, 2, 3])
    layers, heads = fitting_subset("model", 120, 6, 12)
    assert view_elements("model", 120, len(layers), len(heads)) <= MAX_SVG_ELEMENTS
    assert fitting_subset("head", 400, 6, 12) is None  # one head of 400 tokens is already too large
