"""The neuron view: per-dimension products sum to the query·key scores of plm_core.attention.query_key (1e-5),
the softmax equals its attention row, and the causal mask hides later keys."""

from __future__ import annotations

import numpy as np
import pytest

from plm_core.attention import query_key
from plm_core.errors import InvalidInputError
from plm_core.neuron_view import neuron_view

TEXT = "the cat sat on the mat"  # a repeated word: queries are picked by position


@pytest.mark.parametrize("kind", ["masked_lm", "causal_lm", "distilbert_mlm", "roberta_mlm"])
def test_sums_equal_the_query_key_scores(tiny_handles, kind):
    handle = tiny_handles[kind]
    for layer, head in ((0, 0), (handle.n_layers - 1, handle.n_heads - 1)):
        qk = query_key(handle, TEXT, layer, head)
        for query in range(len(qk.encoding)):
            nv = neuron_view(qk, query)
            vis = np.array(nv.visible)
            np.testing.assert_allclose(nv.products.sum(-1), nv.dots, atol=1e-5)
            np.testing.assert_allclose(nv.dots[vis] * qk.scale, qk.scores[query][vis], atol=1e-5)
            np.testing.assert_allclose(nv.scores[vis], qk.scores[query][vis], atol=1e-5)
            np.testing.assert_allclose(nv.probs, qk.probs[query], atol=1e-5)
            np.testing.assert_allclose(nv.probs, qk.model_probs[query], atol=1e-5)  # the model's own weights
            np.testing.assert_allclose(nv.products, qk.keys * qk.queries[query], atol=1e-6)
            if not qk.causal:
                assert vis.all()
            if qk.causal:
                assert not vis[query + 1:].any() and (nv.probs[query + 1:] == 0).all()


def test_repeated_word_positions_are_distinct(tiny_mlm):
    qk = query_key(tiny_mlm, TEXT, 1, 2)
    the = [i for i, t in enumerate(qk.encoding.tokens) if t == "the"]
    assert len(the) == 2
    a, b = (neuron_view(qk, i) for i in the)
    assert a.query != b.query and not np.allclose(a.q, b.q)  # position embeddings differ


def test_query_out_of_range(tiny_mlm):
    qk = query_key(tiny_mlm, TEXT, 0, 0)
    for bad in (-1, len(qk.encoding)):
        with pytest.raises(InvalidInputError):
            neuron_view(qk, bad)


def test_top_dimensions_are_the_largest_products(tiny_mlm):
    nv = neuron_view(query_key(tiny_mlm, TEXT, 0, 1), 2)
    top = nv.top_dimensions(3, 4)
    assert [abs(v) for _, v in top] == sorted(np.abs(nv.products[3]), reverse=True)[:4]


@pytest.mark.parametrize("kind, stack", [("t5", "encoder"), ("t5", "decoder"), ("t5", "cross"), ("bart", "cross"),
                                         ("llama", None)])
def test_encoder_decoder_stacks_bias_and_rotary(tiny_handles, kind, stack):
    """T5 adds a relative position bias to QKᵀ (counted in the scores); cross-attention's keys are the source."""
    handle = tiny_handles[kind]
    qk = query_key(handle, TEXT, 0, 1, "the cat" if stack else None, stack=stack)
    keys = qk.key_encoding or qk.encoding
    for query in range(qk.queries.shape[0]):
        nv = neuron_view(qk, query)
        vis = np.array(nv.visible)
        assert nv.encoding == keys and nv.query_token == qk.encoding.tokens[query]
        bias = 0.0 if qk.bias is None else qk.bias[query][vis]
        np.testing.assert_allclose(nv.dots[vis] * qk.scale + bias, qk.scores[query][vis], atol=1e-5)
        np.testing.assert_allclose(nv.probs, qk.model_probs[query], atol=1e-5)
    assert (qk.bias is not None) == (kind == "t5")  # (zero for cross-attention)
