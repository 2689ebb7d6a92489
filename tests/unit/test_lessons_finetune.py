"""Lesson 5: a linear head trained on the frozen encoder, saved as a BertForSequenceClassification folder."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from plm_core.errors import InvalidInputError, UnsupportedModelError
from plm_core.inference import predict
from plm_core.lessons import finetune
from plm_core.loading import ModelSpec, load_model

TINY_SET = """
positive: good movie
positive: great film
positive: excellent fun book
positive: really loved the story
positive: fine acting
positive: happy and fun
negative: bad movie
negative: terrible film
negative: awful boring book
negative: really hated the story
negative: bad acting
negative: sad and boring
"""


def test_example_set_ships_with_the_app():
    data = finetune.load_examples()
    assert len(data.texts) == 40 and data.names == ("negative", "positive")
    assert data.labels.count(0) == data.labels.count(1) == 20


def test_parse_examples_formats_and_errors():
    data = finetune.parse_examples("pos\tgood\n# comment\npos: great\nneg, bad\nneg: awful")
    assert data.texts == ("good", "great", "bad", "awful") and data.names == ("neg", "pos")
    assert data.labels == (1, 1, 0, 0)
    with pytest.raises(InvalidInputError, match="at least two labels"):
        finetune.parse_examples("pos: a\npos: b")
    with pytest.raises(InvalidInputError, match="only one example"):
        finetune.parse_examples("pos: a\npos: b\nneg: c")
    with pytest.raises(InvalidInputError, match="line 1 has no label"):
        finetune.parse_examples("no label here")
    with pytest.raises(InvalidInputError, match="at most"):
        finetune.parse_examples("\n".join(f"{'ab'[i % 2]}: x{i}" for i in range(finetune.MAX_EXAMPLES + 2)))


def test_fit_linear_separates_separable_points():
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.normal(-2, 0.5, (20, 3)), rng.normal(2, 0.5, (20, 3))]).astype(np.float32)
    y = np.array([0] * 20 + [1] * 20)
    head = finetune.fit_linear(x, y, 2)
    assert (finetune.predict_probs(head, x).argmax(-1) == y).all()
    assert not head.weight.requires_grad
    assert finetune.cross_validated_accuracy(x, y, 2) == 1.0


@pytest.mark.parametrize("kind", ["encoder", "masked_lm"])
def test_trained_head_saves_as_a_classifier_with_the_same_probabilities(tiny_handles, kind, tmp_path):
    handle = tiny_handles[kind]
    before = {k: v.clone() for k, v in handle.model.state_dict().items()}
    data = finetune.parse_examples(TINY_SET)
    trained = finetune.train_head(handle, data, folds=2)
    assert trained.train_accuracy >= 0.9  # 12 points in 32 dimensions
    assert trained.identity_pooler == (kind == "masked_lm")  # BertForMaskedLM has no pooler
    folder = finetune.save_classifier(handle, trained, tmp_path / "clf")
    clf = load_model(ModelSpec(str(folder), device="cpu"))
    assert clf.kind == "classifier" and clf.config.id2label == {0: "negative", 1: "positive"}
    texts = ["good fun movie", "boring bad film"]
    ours = finetune.classify(handle, trained, texts)
    for text, p in zip(texts, ours):
        np.testing.assert_allclose(predict(clf, text).probs, p, atol=1e-5)
    # the shared model was neither trained nor moved
    after = handle.model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert not any(p.requires_grad for p in handle.model.parameters())


def test_only_bert_models_are_saved_as_classifiers(tiny_gpt2):
    with pytest.raises(UnsupportedModelError, match="BERT"):
        finetune.features(tiny_gpt2, ["a b"])


@pytest.mark.parametrize("seed", range(8))
def test_cross_validation_loses_no_fold(seed):
    """Two examples of the rare label: a plain k-fold split could put both in one test fold, skip it (its
    training split has one label) and count its examples wrong. Stratified k-fold keeps one in each split."""
    rng = np.random.default_rng(seed)
    y = np.array([0] * 8 + [1] * 2)
    x = np.where(y[:, None] == 1, 3.0, -3.0) + rng.normal(0, 0.3, (10, 3))
    assert finetune.cross_validated_accuracy(x.astype(np.float32), y, 2, folds=2, seed=seed) == 1.0


def test_cross_validation_predicts_every_example_once_and_metrics_equal_scikit_learn():
    from sklearn.metrics import confusion_matrix, f1_score

    rng = np.random.default_rng(1)
    y = np.array([0] * 9 + [1] * 7 + [2] * 5)
    x = (np.eye(3)[y] * 1.5 + rng.normal(0, 1.0, (21, 3))).astype(np.float32)
    cv = finetune.cross_validate(x, y, 3, folds=5)
    assert cv.n_folds == 5 and (cv.predictions >= 0).all()
    data = finetune.LabelledSet(tuple(f"t{i}" for i in range(21)), tuple(int(v) for v in y), ("a", "b", "c"))
    trained = finetune.TrainedHead("m", data, np.zeros((3, 3), np.float32), np.zeros(3, np.float32),
                                   np.zeros((21, 3), np.float32), 0.0, cv.accuracy(y), 0.0, False, cv.predictions, 5)
    m = trained.heldout_metrics()
    assert m.get("f1", "macro").value == pytest.approx(f1_score(y, cv.predictions, average="macro"))
    np.testing.assert_array_equal(m.confusion, confusion_matrix(y, cv.predictions))
