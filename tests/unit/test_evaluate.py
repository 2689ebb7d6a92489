"""plm_core.evaluate: metrics against scikit-learn, bootstrap intervals against their definition, label-word
scoring against a hand-computed softmax, perplexity against a plain forward, uploads and stored runs."""

from __future__ import annotations

import io
import math

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, precision_score, recall_score

from plm_core import evaluate as ev
from plm_core.bias import jobs
from plm_core.bias.store import RunStore
from plm_core.errors import InvalidInputError, UnsupportedModelError

CLASSES = ("neg", "neu", "pos")


def _fixed(n=60, seed=3):
    rng = np.random.default_rng(seed)
    gold = [CLASSES[i] for i in rng.integers(0, 3, n)]
    pred = [g if rng.random() < 0.6 else CLASSES[rng.integers(0, 3)] for g in gold]
    return gold, pred


def test_metrics_equal_scikit_learn():
    gold, pred = _fixed()
    m = ev.classification_metrics(gold, pred, CLASSES, n_resamples=200)
    assert m.get("accuracy").value == pytest.approx(accuracy_score(gold, pred))
    for c in CLASSES:
        assert m.get("precision", c).value == pytest.approx(precision_score(gold, pred, labels=[c], average="macro",
                                                                            zero_division=0))
        assert m.get("recall", c).value == pytest.approx(recall_score(gold, pred, labels=[c], average="macro"))
        assert m.get("f1", c).value == pytest.approx(f1_score(gold, pred, labels=[c], average="macro"))
    for avg in ("macro", "micro"):
        assert m.get("f1", avg).value == pytest.approx(f1_score(gold, pred, average=avg))
        assert m.get("precision", avg).value == pytest.approx(precision_score(gold, pred, average=avg,
                                                                              zero_division=0))
    np.testing.assert_array_equal(m.confusion, confusion_matrix(gold, pred, labels=list(CLASSES)))


def test_confusion_arithmetic_equals_scikit_learn_on_resamples():
    """The bootstrap derives each resample's metrics from its confusion matrix: equal to scikit-learn there."""
    gold, pred = _fixed(40, seed=5)
    g = np.array([CLASSES.index(x) for x in gold])
    p = np.array([CLASSES.index(x) for x in pred])
    cms = ev.bootstrap_confusions(g, p, 3, n_resamples=20, seed=1)
    idx = np.random.default_rng(1).integers(0, len(g), size=(20, len(g)))
    got = ev._from_confusion(cms)
    for b in range(20):
        gb, pb = g[idx[b]], p[idx[b]]
        np.testing.assert_array_equal(cms[b], confusion_matrix(gb, pb, labels=[0, 1, 2]))
        assert got["accuracy"][b] == pytest.approx(accuracy_score(gb, pb))
        np.testing.assert_allclose(got["f1"][b], f1_score(gb, pb, labels=[0, 1, 2], average=None, zero_division=0))
        np.testing.assert_allclose(got["precision"][b],
                                   precision_score(gb, pb, labels=[0, 1, 2], average=None, zero_division=0))


def test_intervals_are_the_bootstrap_percentiles():
    gold, pred = _fixed(50, seed=7)
    m = ev.classification_metrics(gold, pred, CLASSES, n_resamples=300, seed=4)
    g = np.array([CLASSES.index(x) for x in gold])
    p = np.array([CLASSES.index(x) for x in pred])
    idx = np.random.default_rng(4).integers(0, len(g), size=(300, len(g)))
    macro = [f1_score(g[i], p[i], labels=[0, 1, 2], average="macro", zero_division=0) for i in idx]
    acc = [accuracy_score(g[i], p[i]) for i in idx]
    f = m.get("f1", "macro")
    assert (f.ci_low, f.ci_high) == pytest.approx(tuple(np.percentile(macro, [2.5, 97.5])))
    a = m.get("accuracy")
    assert (a.ci_low, a.ci_high) == pytest.approx(tuple(np.percentile(acc, [2.5, 97.5])))
    assert a.ci_low <= a.value <= a.ci_high


def test_labelled_upload_keeps_extra_columns_and_reads_tsv():
    rows, sha = ev.read_upload(b"text\tlabel\tsource\n=1+1\tpos\tweb\n<b>x</b>\tneg\tbook\n", "set.tsv")
    assert [r.text for r in rows] == ["=1+1", "<b>x</b>"]
    assert rows[0].extra == (("source", "web"),) and len(sha) == 64
    with pytest.raises(InvalidInputError, match="lacks the column"):
        ev.parse_labelled("sentence,label\na,b\n")
    with pytest.raises(InvalidInputError, match="row 3"):
        ev.parse_labelled("text,label\na,b\n,c\n")
    with pytest.raises(InvalidInputError, match="empty"):
        ev.read_upload(b"", "x.csv")
    with pytest.raises(InvalidInputError, match="UTF-8"):
        ev.read_upload(b"text,label\n\xff\xfe,a\n", "x.csv")


def test_label_words_equal_a_hand_computed_softmax(tiny_mlm):
    config = {"mode": "label_words", "template": "{text} it was {mask}.", "label_words": {"pos": "great",
                                                                                          "neg": "terrible"}}
    rows = [ev.LabelledRow(0, "the movie was fun", "pos"), ev.LabelledRow(1, "the plot {text} was boring", "neg")]
    out = ev.score_rows(tiny_mlm, config, rows)
    tok = tiny_mlm.tokenizer
    ids = [tok.convert_tokens_to_ids("great"), tok.convert_tokens_to_ids("terrible")]
    for r, row in zip(out, rows):
        prompt = f"{row.text} it was [MASK]."
        assert r.prompt == prompt
        enc = tok(prompt, return_tensors="pt")
        with torch.no_grad():
            logits = tiny_mlm.model(**enc).logits[0]
        pos = enc["input_ids"][0].tolist().index(tok.mask_token_id)
        want = torch.softmax(logits[pos, ids].double(), -1).numpy()
        np.testing.assert_allclose(r.probs, want, atol=1e-6)
        assert r.predicted == ("pos", "neg")[int(np.argmax(want))]


def test_label_words_causal_next_token(tiny_gpt2):
    config = {"mode": "label_words", "template": "{text} it was", "label_words": {"pos": "great", "neg": "terrible"}}
    (r,) = ev.score_rows(tiny_gpt2, config, [ev.LabelledRow(0, "the film", "pos")])
    tok = tiny_gpt2.tokenizer
    ids = [tok(" " + w, add_special_tokens=False)["input_ids"][0] for w in ("great", "terrible")]
    enc = tok("the film it was", return_tensors="pt")
    with torch.no_grad():
        logits = tiny_gpt2.model(**enc).logits[0, -1]
    np.testing.assert_allclose(r.probs, torch.softmax(logits[ids].double(), -1).numpy(), atol=1e-6)


def test_label_words_refused_with_reason(tiny_mlm, tiny_handles):
    rows = [ev.LabelledRow(0, "fun", "pos")]
    bad = {"mode": "label_words", "template": "{text} it was {mask}.", "label_words": {"pos": "zzzqx", "neg": "bad"}}
    with pytest.raises(InvalidInputError, match="tokens for this tokenizer"):
        ev.score_rows(tiny_mlm, bad, rows)
    with pytest.raises(InvalidInputError, match="exactly once"):
        ev.score_rows(tiny_mlm, bad | {"template": "{text} it was."}, rows)
    with pytest.raises(UnsupportedModelError, match="masked or causal"):
        ev.score_rows(tiny_handles["encoder"], bad, rows)
    with pytest.raises(InvalidInputError, match="not a class"):
        ev.score_rows(tiny_mlm, bad | {"label_words": {"a": "good", "b": "bad"}}, rows)


def test_perplexity_is_exp_of_mean_token_loss(tiny_gpt2):
    text = "the quick brown fox jumps over the lazy dog"
    (r,) = ev.score_rows(tiny_gpt2, {"mode": "perplexity"}, [ev.LabelledRow(0, text, "x")])
    enc = tiny_gpt2.tokenizer(text, return_tensors="pt")
    with torch.no_grad():
        loss = tiny_gpt2.model(**enc, labels=enc["input_ids"]).loss
    assert r.perplexity == pytest.approx(math.exp(float(loss)), rel=1e-5)


def test_pseudo_perplexity_masks_each_token(tiny_mlm):
    text = "the cat sat"
    (r,) = ev.score_rows(tiny_mlm, {"mode": "perplexity"}, [ev.LabelledRow(0, text, "x")])
    tok = tiny_mlm.tokenizer
    ids = tok(text)["input_ids"]
    total = 0.0
    for i in range(1, len(ids) - 1):
        masked = list(ids)
        masked[i] = tok.mask_token_id
        with torch.no_grad():
            logp = torch.log_softmax(tiny_mlm.model(torch.tensor([masked])).logits[0, i].double(), -1)
        total += float(logp[ids[i]])
    assert r.n_scored == len(ids) - 2
    assert r.perplexity == pytest.approx(math.exp(-total / (len(ids) - 2)), rel=1e-4)


def test_classifier_probs_and_stored_run(tiny_classifier):
    from plm_core.inference import class_labels

    labels = class_labels(tiny_classifier)
    rows = tuple(ev.LabelledRow(i, t, labels[i % 2], extra=(("src", "ab"[i % 2]),))
                 for i, t in enumerate(["good movie", "bad film", "a great book", "awful plot", "fun", "boring"]))
    config = {"mode": "classifier", "model_id": tiny_classifier.model_id, "classes": list(labels),
              "data": "test", "data_sha256": "0" * 64}
    store = RunStore()
    run_id = jobs.create_run(store, "evaluate", config, rows)
    jobs.score_next(store, run_id, tiny_classifier, 4)
    partial = jobs.load_result(store, run_id)
    assert len(partial.rows) == 4 and partial.n_items == 6
    res = jobs.run_to_end(store, run_id, tiny_classifier)
    direct = ev.evaluate(tiny_classifier, rows, {"mode": "classifier"})
    np.testing.assert_allclose([r.probs for r in res.rows], [r.probs for r in direct.rows], atol=1e-6)
    enc = tiny_classifier.tokenizer(["good movie"], return_tensors="pt")
    with torch.no_grad():
        want = torch.softmax(tiny_classifier.model(**enc).logits[0], -1).numpy()
    np.testing.assert_allclose(res.rows[0].probs, want, atol=1e-6)
    assert set(res.slices("src")) == {"a", "b"}
    frame = pd.read_csv(io.StringIO(res.to_csv()))
    assert list(frame.columns[:2]) == ["probe", "model_id"] and len(frame) == 6 and "src" in frame.columns


def test_csv_cells_never_become_formulas():
    text = ev.export_csv([{"text": "=HYPERLINK(\"x\")", "v": -1.5}], {"model_id": "m"})
    frame = pd.read_csv(io.StringIO(text))
    assert frame["text"][0].startswith("'=") and frame["v"][0] == -1.5
