"""The masking lab and comparison on the real embedded MiniLM (encoder kind)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from plm_core.compare import attribution_difference, compare_texts
from plm_core.inference import embed
from plm_core.masking import MaskSpec, mask_and_predict, occlusion_sweep
from plm_core.tokens import encode

pytestmark = pytest.mark.slow
TEXT = "The cat sat on the mat because it was tired."


def test_minilm_similarities_equal_plain_embeddings(minilm):
    res = mask_and_predict(minilm, TEXT, MaskSpec((2,)), reference="A dog was sleeping on the rug.")
    assert res.edit.text == "the [MASK] sat on the mat because it was tired."
    e = embed(minilm, [TEXT, "The [MASK] sat on the mat because it was tired.", "A dog was sleeping on the rug."])
    (cmp,) = res.comparisons
    np.testing.assert_allclose(cmp.original, [1.0, e[0] @ e[2]], atol=1e-5)
    np.testing.assert_allclose(cmp.perturbed, [e[1] @ e[0], e[1] @ e[2]], atol=1e-5)
    assert 0.3 < cmp.perturbed[0] < 0.99  # masking "cat" moves the sentence but keeps most of its meaning
    same = mask_and_predict(minilm, TEXT, MaskSpec())
    np.testing.assert_allclose(same.comparisons[0].prob_delta, 0.0, atol=1e-6)


def test_minilm_occlusion_equals_loop(minilm):
    res = occlusion_sweep(minilm, TEXT)
    enc, _ = encode(minilm, TEXT)
    ids = list(enc.input_ids)
    with torch.no_grad():
        def emb(row):
            h = minilm.model(input_ids=torch.tensor([row])).last_hidden_state[0].mean(0)
            return torch.nn.functional.normalize(h, dim=-1)

        base = emb(ids)
        for i in (1, 2, 5):
            row = ids[:i] + [minilm.tokenizer.mask_token_id] + ids[i + 1:]
            assert res.values[i] == pytest.approx(float(emb(row) @ base), abs=1e-5)
    assert np.isnan(res.values[0]) and np.isnan(res.values[-1])


def test_minilm_text_comparison_and_attribution_difference(minilm):
    same = compare_texts(minilm, TEXT, TEXT)
    np.testing.assert_allclose(same.attention.weights, 0.0, atol=1e-6)
    assert same.comparisons[0].perturbed[0] == pytest.approx(1.0, abs=1e-5)
    res = compare_texts(minilm, TEXT, "The dog sat on the mat because it was tired.")
    assert len(res.alignment.pairs) == len(res.a.encoding) - 1
    diff = attribution_difference(minilm, res, "input_x_gradient")
    assert diff.delta.shape == (len(res.alignment.pairs),)
    assert np.all(np.isfinite(diff.delta))
    for k, (i, j) in enumerate(diff.pairs):
        assert diff.delta[k] == pytest.approx(diff.scores_b[j] - diff.scores_a[i])
