"""The real embedded MiniLM: "bank" has one token-embedding row but different contextual vectors (cosines by
hand), and the neuron view's sums equal the query·key scores."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from plm_core.attention import query_key
from plm_core.lessons.compute import contextual_embeddings
from plm_core.neuron_view import neuron_view

pytestmark = pytest.mark.slow


def test_minilm_bank_is_static_at_input_and_contextual_after(minilm):
    a, b = "We sat on the bank of the river and watched the water.", "She went to the bank to ask for a loan."
    res = contextual_embeddings(minilm, a, b, "bank")
    assert res.static_diff == 0.0 and len(res.spans[0]) == 1
    vecs = []
    for text, span in zip((a, b), res.spans):
        batch = minilm.tokenizer(text, return_tensors="pt")
        with torch.no_grad():
            hs = minilm.model(**batch, output_hidden_states=True).hidden_states
        vecs.append(np.stack([h[0, span[0]].double().numpy() for h in hs]))
    cos = (vecs[0] * vecs[1]).sum(-1) / np.linalg.norm(vecs[0], axis=-1) / np.linalg.norm(vecs[1], axis=-1)
    np.testing.assert_allclose(res.cosines, cos, atol=1e-5)
    assert res.cosines[-1] < 0.9  # the two senses of "bank" end up clearly apart


def test_minilm_neuron_view_sums_equal_scores(minilm):
    qk = query_key(minilm, "The cat sat on the mat because it was tired.", 3, 7)
    for q in range(len(qk.encoding)):
        nv = neuron_view(qk, q)
        np.testing.assert_allclose(nv.dots * qk.scale, qk.scores[q], atol=1e-5)
        np.testing.assert_allclose(nv.probs, qk.model_probs[q], atol=1e-5)
