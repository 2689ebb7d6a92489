"""Lessons on the real embedded MiniLM: step-by-step attention equals the model; the transfer head learns the
shipped example set and its saved classifier predicts the same probabilities."""

from __future__ import annotations

import numpy as np
import pytest

from plm_core.inference import predict
from plm_core.lessons import compute, finetune
from plm_core.loading import ModelSpec, load_model

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("layer", [0, 5])
def test_minilm_attention_steps_equal_the_model(minilm, layer):
    s = compute.attention_steps(minilm, "The cat sat on the mat because it was tired.", layer, 7)
    assert s.n_heads == 12 and s.d_k == 32
    assert s.probs_diff < 1e-5 and s.context_diff < 1e-5 and s.projection_diff < 1e-5


def test_minilm_embeddings_rebuild_the_input(minilm):
    res = compute.token_embeddings(minilm, "The unbelievably quick brown fox.")
    assert res.max_abs_diff < 1e-5
    assert ("un", "##bel", "##ie", "##va", "##bly") in [p for _, p in compute.word_pieces(minilm, ["unbelievably"])]


def test_minilm_transfer_head_learns_and_saves(minilm, tmp_path):
    data = finetune.load_examples()
    trained = finetune.train_head(minilm, data)
    assert trained.train_accuracy >= 0.95
    assert trained.heldout_accuracy >= 0.6 and trained.heldout_accuracy_mean_pooling >= 0.6  # chance is 0.5
    folder = finetune.save_classifier(minilm, trained, tmp_path / "sentiment")
    clf = load_model(ModelSpec(str(folder), device="cpu"))
    texts = ["What a lovely, funny film.", "The plot was dull and the acting was awful."]
    ours = finetune.classify(minilm, trained, texts)
    for text, p in zip(texts, ours):
        np.testing.assert_allclose(predict(clf, text).probs, p, atol=1e-5)
    assert ours[0].argmax() == data.names.index("positive") and ours[1].argmax() == data.names.index("negative")


def test_minilm_bias_probe_runs(minilm):
    res = compute.bias_probe(minilm, ["nurse", "engineer"])
    assert res.scores.shape == (3, 2) and np.isfinite(res.scores).all()
