"""Lesson 5: transfer learning — train a linear head on the frozen encoder, save it as a real classifier.

The shared model is never trained: its features are computed once under the lock with no gradients, and a
separate ``torch.nn.Linear`` is fitted on them (full-batch L-BFGS, L2-regularised logistic regression:
seconds on a CPU).

Pooling, honestly: ``BertForSequenceClassification`` classifies the *pooler* output, ``tanh(W·h_[CLS] + b)``.
So the head is trained on exactly that representation, and the saved folder (encoder weights copied, the
model's own pooler, the new head as ``classifier``) predicts the same probabilities as the in-memory head.
A model without a trained pooler (a masked-LM checkpoint) gets an identity pooler, ``tanh(h_[CLS])``, written
into the folder, so the two still agree. Sentence-transformers models such as MiniLM were trained for *mean*
pooling; :func:`compare_pooling` reports the leave-out accuracy of a head on mean-pooled features beside the
pooler one so the class can see what this choice costs.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from transformers import BertConfig, BertForSequenceClassification

from plm_core.classroom import token_cap
from plm_core.errors import InvalidInputError, UnsupportedModelError, excerpt
from plm_core.inference import mean_pool, run
from plm_core.metrics import classification_metrics
from plm_core.handle import MODEL_CONSTRUCTION_LOCK, ModelHandle
from plm_core.tokens import clean_text
from plm_core.i18n import msg

DATA_DIR = Path(__file__).resolve().parent / "data"
EXAMPLE_SET = DATA_DIR / "sentiment.tsv"
MAX_EXAMPLES = 500  # a classroom server trains in seconds, not minutes


@dataclass(frozen=True)
class LabelledSet:
    texts: tuple[str, ...]
    labels: tuple[int, ...]  # [example]; index into names
    names: tuple[str, ...]  # label names in id order

    def __post_init__(self) -> None:
        if len(self.texts) != len(self.labels):
            raise ValueError(f"{len(self.texts)} texts but {len(self.labels)} labels")

    @property
    def digest(self) -> str:
        h = hashlib.sha256(repr((self.texts, self.labels, self.names)).encode("utf-8"))
        return h.hexdigest()[:12]


def parse_examples(text: str) -> LabelledSet:
    """Parse "label<TAB>sentence" lines (or "label: sentence" / "label, sentence"); '#' starts a comment.

    Raises:
        InvalidInputError: fewer than 2 labels, fewer than 2 examples of a label, or too many lines.
    """
    texts: list[str] = []
    raw_labels: list[str] = []
    for n, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        for sep in ("\t", ":", ","):
            if sep in line:
                label, sentence = line.split(sep, 1)
                break
        else:
            raise InvalidInputError(msg("line {n} has no label: write 'positive<TAB>a great film' or 'positive: a "
                                        "great film'",
                                        n=n))
        label, sentence = label.strip().lower(), sentence.strip()
        if not label or not sentence:
            raise InvalidInputError(msg('line {n} needs both a label and a sentence', n=n))
        texts.append(clean_text(sentence)[0])
        raw_labels.append(label)
    if len(texts) > MAX_EXAMPLES:
        raise InvalidInputError(msg('{n_texts} examples: at most {MAX_EXAMPLES} are trained here', n_texts=len(texts), MAX_EXAMPLES=MAX_EXAMPLES))
    names = tuple(sorted(set(raw_labels)))
    if len(names) < 2:
        raise InvalidInputError(msg('give examples of at least two labels (for example positive and negative)'))
    for name in names:
        if raw_labels.count(name) < 2:
            raise InvalidInputError(msg("the label {name} has only one example: give at least two of each label",
                                        name=excerpt(name)))
    return LabelledSet(tuple(texts), tuple(names.index(lab) for lab in raw_labels), names)


def example_text() -> str:
    """The example set shipped with the app (40 sentiment sentences written for this lesson)."""
    return EXAMPLE_SET.read_text(encoding="utf-8")


def load_examples() -> LabelledSet:
    return parse_examples(example_text())


def _bert_parts(handle: ModelHandle) -> tuple[torch.nn.Module, torch.nn.Module | None]:
    """(the BertModel inside the handle's model, its pooler or None)."""
    model = handle.model
    if getattr(handle.config, "model_type", "") != "bert":
        raise UnsupportedModelError(
            msg('the transfer lesson saves a BERT classifier; {model_id} is a {model_type} model', model_id=handle.model_id, model_type=handle.config.model_type))
    base = model if hasattr(model, "embeddings") else getattr(model, "bert", None)
    if base is None or not hasattr(base, "encoder"):
        raise UnsupportedModelError(msg('cannot find a BERT encoder inside {model_id}', model_id=handle.model_id))
    return base, getattr(base, "pooler", None)


@dataclass(frozen=True)
class Features:
    pooled: np.ndarray  # float32 [example, hidden]; the pooler output BertForSequenceClassification classifies
    mean: np.ndarray  # float32 [example, hidden]; mean of the last hidden states (sentence-transformers pooling)
    identity_pooler: bool  # True when the model has no pooler and tanh(h_CLS) is used


def features(handle: ModelHandle, texts: tuple[str, ...] | list[str], batch_size: int = 32) -> Features:
    """Frozen-encoder features of ``texts``: the classifier pooler and mean pooling (no gradients, under the lock)."""
    if not texts:
        raise InvalidInputError(msg('no sentences to embed'))
    base, pooler = _bert_parts(handle)
    pooled, mean = [], []
    limit = token_cap(handle.max_tokens)
    for start in range(0, len(texts), batch_size):
        chunk = [clean_text(t)[0] for t in texts[start:start + batch_size]]
        with handle.lock:  # per batch: another session's work can run between two batches of the training set
            batch = handle.tokenizer(chunk, padding=True, truncation=True, max_length=limit, return_tensors="pt")
            out = run(handle, batch, module=base)
            hidden = out.last_hidden_state.float()
            cls = hidden[:, 0]
            pooled.append(pooler(out.last_hidden_state).float() if pooler is not None else torch.tanh(cls))
            mean.append(mean_pool(hidden, batch["attention_mask"].to(hidden.device), normalize=False))
    return Features(_np(torch.cat(pooled)), _np(torch.cat(mean)), pooler is None)


def _np(t: torch.Tensor) -> np.ndarray:
    return t.detach().float().cpu().numpy().astype(np.float32)


def fit_linear(x: np.ndarray, y: np.ndarray, n_labels: int, *, l2: float = 1e-2, max_iter: int = 50,
               seed: int = 0) -> torch.nn.Linear:
    """L2-regularised multinomial logistic regression as a torch.nn.Linear (full-batch L-BFGS).

    A new module, separate from the shared model: the only parameters that ever get gradients here.
    """
    gen = torch.Generator().manual_seed(seed)
    head = torch.nn.Linear(x.shape[1], n_labels)
    with torch.no_grad():
        head.weight.copy_(torch.randn(n_labels, x.shape[1], generator=gen) * 0.01)
        head.bias.zero_()
    x = np.asarray(x, np.float64)
    # fit on standardised features (L-BFGS converges in a few dozen steps), then fold the scaling into W, b
    mu, sd = x.mean(0), x.std(0) + 1e-6
    xt = torch.from_numpy(((x - mu) / sd).astype(np.float32))
    yt = torch.from_numpy(np.asarray(y, np.int64))
    opt = torch.optim.LBFGS(head.parameters(), lr=1.0, max_iter=max_iter, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(head(xt), yt) + l2 * head.weight.pow(2).sum()
        loss.backward()  # the head's own parameters only; the shared model is not in this graph
        return loss

    with torch.enable_grad():
        opt.step(closure)
    with torch.no_grad():  # W·(x − μ)/σ + b  =  (W/σ)·x + (b − W·μ/σ)
        w = head.weight.double() / torch.from_numpy(sd)
        head.bias.copy_(head.bias.double() - w @ torch.from_numpy(mu))
        head.weight.copy_(w)
    head.requires_grad_(False)
    return head


def predict_probs(head: torch.nn.Linear, x: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return torch.softmax(head(torch.from_numpy(np.asarray(x, np.float32))), -1).numpy().astype(np.float32)


@dataclass(frozen=True)
class CrossValidation:
    """Held-out predictions of k-fold cross-validation: every example predicted once, by a head that never saw it."""

    predictions: np.ndarray  # int [example]; the label id predicted for each example when it was held out
    n_folds: int

    def accuracy(self, y: np.ndarray) -> float:
        return float((self.predictions == np.asarray(y)).mean())


def cross_validate(x: np.ndarray, y: np.ndarray, n_labels: int, folds: int = 5, seed: int = 0) -> CrossValidation:
    """Stratified k-fold cross-validation (scikit-learn ``StratifiedKFold``, shuffled with ``seed``): each fold
    keeps the label proportions, so every training split holds every label and no fold is skipped.

    ``folds`` is lowered to the smallest label's count (each fold needs one example of each label), at least 2.

    Returns:
        The held-out prediction of every example.
    """
    from sklearn.model_selection import StratifiedKFold

    y = np.asarray(y)
    n_splits = max(2, min(folds, int(np.bincount(y).min()) if len(y) else 2))
    pred = np.full(len(y), -1)
    splitter = StratifiedKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    for train, test in splitter.split(np.zeros(len(y)), y):
        head = fit_linear(x[train], y[train], n_labels, seed=seed)
        pred[test] = predict_probs(head, x[test]).argmax(-1)
    return CrossValidation(pred, n_splits)


def cross_validated_accuracy(x: np.ndarray, y: np.ndarray, n_labels: int, folds: int = 5, seed: int = 0) -> float:
    """Accuracy on held-out examples (:func:`cross_validate`)."""
    return cross_validate(x, y, n_labels, folds, seed).accuracy(y)


@dataclass(frozen=True)
class TrainedHead:
    """A linear head trained on the frozen encoder's pooler output."""

    model_id: str  # the encoder it sits on
    data: LabelledSet
    weight: np.ndarray  # float32 [label, hidden]
    bias: np.ndarray  # float32 [label]
    train_probs: np.ndarray  # float32 [example, label]
    train_accuracy: float
    heldout_accuracy: float  # k-fold, pooler features (what is saved)
    heldout_accuracy_mean_pooling: float  # k-fold, mean-pooled features (for comparison, not saved)
    identity_pooler: bool
    heldout_predictions: np.ndarray = None  # int [example]; stratified k-fold, pooler features
    n_folds: int = 0

    def heldout_metrics(self):
        """Precision, recall, F1 and the confusion matrix of the held-out predictions (scikit-learn, with
        bootstrap intervals: :func:`plm_core.metrics.classification_metrics`)."""
        names = self.data.names
        return classification_metrics([names[i] for i in self.data.labels],
                                      [names[i] for i in self.heldout_predictions], names)

    def head(self) -> torch.nn.Linear:
        lin = torch.nn.Linear(self.weight.shape[1], self.weight.shape[0])
        with torch.no_grad():
            lin.weight.copy_(torch.from_numpy(self.weight))
            lin.bias.copy_(torch.from_numpy(self.bias))
        return lin.requires_grad_(False)


def train_head(handle: ModelHandle, data: LabelledSet, *, folds: int = 5, seed: int = 0) -> TrainedHead:
    """Fit the classification head on the frozen encoder (see the module docstring for the pooling choice)."""
    feats = features(handle, data.texts)
    y = np.asarray(data.labels)
    n_labels = len(data.names)
    head = fit_linear(feats.pooled, y, n_labels, seed=seed)
    probs = predict_probs(head, feats.pooled)
    cv = cross_validate(feats.pooled, y, n_labels, folds, seed)
    return TrainedHead(
        model_id=handle.model_id, data=data,
        weight=head.weight.detach().numpy().astype(np.float32).copy(),
        bias=head.bias.detach().numpy().astype(np.float32).copy(),
        train_probs=probs, train_accuracy=float((probs.argmax(-1) == y).mean()),
        heldout_accuracy=cv.accuracy(y),
        heldout_accuracy_mean_pooling=cross_validated_accuracy(feats.mean, y, n_labels, folds, seed),
        identity_pooler=feats.identity_pooler, heldout_predictions=cv.predictions, n_folds=cv.n_folds,
    )


def classify(handle: ModelHandle, trained: TrainedHead, texts: list[str]) -> np.ndarray:
    """The in-memory head's probabilities for ``texts``: float32 [example, label]."""
    return predict_probs(trained.head(), features(handle, texts).pooled)


def save_classifier(handle: ModelHandle, trained: TrainedHead, folder: str | Path) -> Path:
    """Write a ``BertForSequenceClassification`` folder: the encoder's weights, its pooler (or an identity
    pooler), and the trained head. Loads with ``load_model`` as a classifier. Returns the folder."""
    base, pooler = _bert_parts(handle)
    folder = Path(folder)
    names = trained.data.names
    config_dict = base.config.to_dict()
    for key in ("architectures", "id2label", "label2id", "num_labels", "_name_or_path", "transformers_version"):
        config_dict.pop(key, None)
    config = BertConfig(**config_dict, num_labels=len(names), id2label=dict(enumerate(names)),
                        label2id={n: i for i, n in enumerate(names)}, architectures=["BertForSequenceClassification"])
    with MODEL_CONSTRUCTION_LOCK, torch.device("cpu"):  # not while another session's load swaps init functions
        clf = BertForSequenceClassification(config)
    with handle.lock:  # copy, on the CPU, from the shared model (which stays where it is)
        state = {f"bert.{k}": v.detach().to("cpu", copy=True) for k, v in base.state_dict().items()}
    if pooler is None:
        hidden = config.hidden_size
        state["bert.pooler.dense.weight"] = torch.eye(hidden)
        state["bert.pooler.dense.bias"] = torch.zeros(hidden)
    state["classifier.weight"] = torch.from_numpy(trained.weight.copy())
    state["classifier.bias"] = torch.from_numpy(trained.bias.copy())
    missing, unexpected = clf.load_state_dict(state, strict=False)
    missing = [k for k in missing if not k.endswith("position_ids")]
    if missing or unexpected:
        raise UnsupportedModelError(msg('could not build the classifier: missing {missing}, unexpected {unexpected}', missing=missing[:5], unexpected=unexpected[:5]))
    clf.eval()
    folder.mkdir(parents=True, exist_ok=True)
    clf.save_pretrained(folder)
    with handle.lock:
        handle.tokenizer.save_pretrained(folder)
    return folder
