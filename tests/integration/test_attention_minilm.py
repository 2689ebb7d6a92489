"""The foundation on the real embedded all-MiniLM-L6-v2 (no network): attention, query·key, embeddings,
bertviz payload size."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from plm_core.attention import extract_attention, query_key
from plm_core.inference import cosine, embed, predict
from plm_core.viz.bertviz_html import bertviz_html, stock_bertviz_html

pytestmark = pytest.mark.slow

TEXT = "The cat sat on the mat because it was tired."


def test_minilm_is_the_embedded_encoder(minilm):
    assert minilm.kind == "encoder"
    assert (minilm.n_layers, minilm.n_heads) == (6, 12)
    assert minilm.config.hidden_size == 384
    assert minilm.model.config._attn_implementation == "eager"


def test_attention_shape_rows_and_plain_transformers(minilm):
    res = extract_attention(minilm, TEXT)
    assert res.encoding.tokens[:3] == ("[CLS]", "the", "cat") and res.encoding.tokens[-1] == "[SEP]"
    n = len(res.encoding)
    assert n == 13
    assert res.weights.shape == (6, 12, n, n)
    np.testing.assert_allclose(res.weights.sum(-1), 1.0, atol=1e-5)
    batch = minilm.tokenizer(TEXT, return_tensors="pt")
    with torch.no_grad():
        plain = torch.stack(minilm.model(**batch, output_attentions=True).attentions).squeeze(1).numpy()
    np.testing.assert_allclose(res.weights, plain, rtol=0, atol=1e-6)


def test_query_key_equals_model_attention_all_layers(minilm):
    res = extract_attention(minilm, TEXT)
    for layer in range(6):
        qk = query_key(minilm, TEXT, layer, 5)
        assert qk.queries.shape == (13, 32) and qk.scale == pytest.approx(32**-0.5)
        assert qk.max_abs_diff < 1e-5, (layer, qk.max_abs_diff)
        np.testing.assert_allclose(qk.model_probs, res.weights[layer, 5], atol=1e-6)
        assert not qk.causal


def test_embeddings_reproduce_published_similarity(minilm):
    """sentence-transformers' model card example: 0.7553 for these two sentences."""
    a, b = embed(minilm, ["A man is eating food.", "A man is eating a piece of bread."])
    assert np.linalg.norm(a) == pytest.approx(1.0, abs=1e-5)
    assert float(a @ b) == pytest.approx(0.755, abs=0.01)
    assert cosine(a, b) == pytest.approx(float(a @ b), abs=1e-6)
    unrelated = embed(minilm, ["The new movie is awesome."])[0]
    assert float(a @ unrelated) < 0.3
    # predict() on an encoder gives the same embedding as embed()
    pred = predict(minilm, "A man is eating food.")
    np.testing.assert_allclose(pred.embedding, a, atol=1e-5)


def test_long_input_truncated_to_model_limit(minilm):
    """all-MiniLM-L6-v2 is defined on 256 tokens (max_seq_length in its sentence-transformers config)."""
    res = extract_attention(minilm, "word " * 600)
    assert len(res.encoding) == minilm.max_tokens == 256
    assert res.encoding.truncated and any("only the first 256" in n for n in res.encoding.notes)


def test_bertviz_payload_is_a_tenth_of_stock(minilm):
    words = "the quick brown fox jumps over the lazy dog and".split()
    res = extract_attention(minilm, " ".join((words * 7)[:62]))
    assert len(res.encoding) == 64
    ours = len(bertviz_html(res, "head").encode())
    stock = len(stock_bertviz_html(res, "head").encode())
    assert stock > 10_000_000  # 13.2 MB in PERF_NOTES
    assert ours <= stock / 10, (ours, stock)
