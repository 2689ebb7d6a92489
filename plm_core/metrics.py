"""Classification metrics with percentile bootstrap intervals: accuracy, per-class and macro/micro precision,
recall and F1 (scikit-learn's ``accuracy_score``, ``precision_recall_fscore_support``, ``confusion_matrix``) and
the confusion matrix, each with an interval from resampling the examples (Efron & Tibshirani, 1993).

A leaf of the core's import graph, shared by the Evaluate page (:mod:`plm_core.evaluate`, which re-exports these
names) and lesson 5's held-out predictions (:mod:`plm_core.lessons.finetune`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from sklearn.metrics import accuracy_score, confusion_matrix, precision_recall_fscore_support

from plm_core.errors import InvalidInputError
from plm_core.i18n import msg

N_BOOTSTRAP = 1000
CONFIDENCE = 0.95


@dataclass(frozen=True)
class Metric:
    """One metric with its percentile bootstrap interval."""

    name: str  # "accuracy", "precision", "recall", "f1"
    average: str  # a class name, "macro" or "micro" ("" for accuracy)
    value: float
    ci_low: float
    ci_high: float
    support: int  # examples (per class: of that gold class)


@dataclass(frozen=True)
class Metrics:
    classes: tuple[str, ...]
    n: int
    metrics: tuple[Metric, ...]
    confusion: np.ndarray  # int [gold class, predicted class]
    confusion_low: np.ndarray  # float [gold, predicted]: bootstrap interval of each cell's count
    confusion_high: np.ndarray
    interval: str  # how the intervals were computed

    def get(self, name: str, average: str = "") -> Metric:
        return next(m for m in self.metrics if m.name == name and m.average == average)


def _from_confusion(cm: np.ndarray) -> dict[str, np.ndarray]:
    """Accuracy, per-class and macro/micro P/R/F1 of confusion matrices ``[..., gold, predicted]`` (what
    scikit-learn computes, with ``zero_division=0``)."""
    tp = np.diagonal(cm, axis1=-2, axis2=-1).astype(float)
    pred = cm.sum(-2).astype(float)
    true = cm.sum(-1).astype(float)
    n = cm.sum((-2, -1)).astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = np.where(pred > 0, tp / np.maximum(pred, 1), 0.0)
        r = np.where(true > 0, tp / np.maximum(true, 1), 0.0)
        f = np.where(pred + true > 0, 2 * tp / np.maximum(pred + true, 1), 0.0)
        acc = tp.sum(-1) / np.maximum(n, 1)
    return {"accuracy": acc, "precision": p, "recall": r, "f1": f}


def bootstrap_confusions(gold: np.ndarray, pred: np.ndarray, k: int, n_resamples: int = N_BOOTSTRAP,
                         seed: int = 0) -> np.ndarray:
    """Confusion matrices of ``n_resamples`` resamples of the examples (with replacement): int
    ``[resample, gold, predicted]``. Resample b takes ``rng.integers(0, n, n)`` for b = 0, 1, ... with
    ``rng = numpy.random.default_rng(seed)``."""
    rng = np.random.default_rng(seed)
    n = len(gold)
    cell = gold * k + pred  # [example]
    idx = rng.integers(0, n, size=(n_resamples, n))
    flat = cell[idx] + (np.arange(n_resamples) * k * k)[:, None]
    return np.bincount(flat.ravel(), minlength=n_resamples * k * k).reshape(n_resamples, k, k)


def classification_metrics(gold: Sequence[str], predicted: Sequence[str], classes: Sequence[str], *,
                           n_resamples: int = N_BOOTSTRAP, seed: int = 0,
                           confidence: float = CONFIDENCE) -> Metrics:
    """Accuracy, per-class and macro/micro precision, recall and F1, and the confusion matrix (scikit-learn),
    each with a percentile bootstrap interval over the examples.

    Args:
        gold, predicted: class names per example (gold already matched to ``classes``).
        classes: every class, in the model's order (the confusion matrix's rows and columns).

    Raises:
        InvalidInputError: no examples.
    """
    if not gold:
        raise InvalidInputError(msg("no examples to evaluate"))
    classes = list(classes)
    k = len(classes)
    index = {c: i for i, c in enumerate(classes)}
    g = np.array([index[x] for x in gold])
    p = np.array([index[x] for x in predicted])
    labels = list(range(k))
    cm = confusion_matrix(g, p, labels=labels)
    acc = accuracy_score(g, p)
    per = precision_recall_fscore_support(g, p, labels=labels, zero_division=0)
    avg = {a: precision_recall_fscore_support(g, p, labels=labels, average=a, zero_division=0)
           for a in ("macro", "micro")}
    boot = _from_confusion(bootstrap_confusions(g, p, k, n_resamples, seed))
    q = ((1 - confidence) / 2 * 100, (1 + confidence) / 2 * 100)

    def ci(values: np.ndarray) -> tuple[float, float]:
        lo, hi = np.percentile(values, q)
        return float(lo), float(hi)

    support = cm.sum(1)
    out = [Metric("accuracy", "", float(acc), *ci(boot["accuracy"]), len(g))]
    for j, name in enumerate(("precision", "recall", "f1")):
        for c in range(k):
            out.append(Metric(name, classes[c], float(per[j][c]), *ci(boot[name][:, c]), int(support[c])))
        out.append(Metric(name, "macro", float(avg["macro"][j]), *ci(boot[name].mean(-1)), len(g)))
        micro_boot = boot["accuracy"]  # single-label, every class counted: micro P = R = F1 = accuracy
        out.append(Metric(name, "micro", float(avg["micro"][j]), *ci(micro_boot), len(g)))
    cms = bootstrap_confusions(g, p, k, n_resamples, seed)
    lo, hi = np.percentile(cms, q, axis=0)
    how = msg("{confidence:.0%} percentile bootstrap over examples ({n_resamples:,} resamples, seed {seed})",
              confidence=confidence, n_resamples=n_resamples, seed=seed)
    return Metrics(tuple(classes), len(g), tuple(out), cm, lo, hi, how)
