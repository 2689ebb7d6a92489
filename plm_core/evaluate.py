"""Evaluate a model on a labelled data set: predictions, metrics with bootstrap intervals, slices and errors.

What is scored, by model (``mode``):

- ``classifier``: the model's own classes (a task head, or lesson 5's trained classifier); the file's labels
  must name the model's classes (or their ids).
- ``label_words``: a masked or causal LM without a task head classifies by label words (PET, Schick & Schütze
  2021): the text goes into a template, and the label whose word gets the highest logit at ``{mask}`` (masked
  LM) or as the next token after the template (causal LM) wins; the probabilities are the softmax over the label
  words' logits only. Each label word must be one token of the model's vocabulary (otherwise it is refused with
  its pieces: the logit of a word of several tokens is not defined).
- ``perplexity``: per sentence, a causal LM's perplexity ``exp(mean token NLL)`` (tokens after the first), or a
  masked LM's pseudo-perplexity ``exp(−PLL / n)`` with each token masked in turn (Salazar et al. 2020).

Metrics are scikit-learn's (``accuracy_score``, ``precision_recall_fscore_support``, ``confusion_matrix``);
each has a 95 % percentile bootstrap interval over the examples (Efron & Tibshirani 1993), computed from the
confusion matrices of the same resamples. A run is stored and scored chunk by chunk like the bias runs
(``plm_core.bias.jobs`` probe ``"evaluate"``), so it can be stopped and resumed.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import torch

from plm_core.bias import datasets
from plm_core.bias import jobs as _jobs
from plm_core.bias.common import masked_log_probs, provenance, row_record, table_to_csv, _plain
from plm_core.classroom import token_cap
from plm_core.errors import InvalidInputError, UnsupportedModelError, clip, excerpt
from plm_core.i18n import msg
from plm_core.inference import run, tokenize
from plm_core.metrics import (  # noqa: F401 - re-exported: the Evaluate page's metrics
    CONFIDENCE,
    N_BOOTSTRAP,
    Metric,
    Metrics,
    _from_confusion,
    bootstrap_confusions,
    classification_metrics,
)
from plm_core.handle import ModelHandle
from plm_core.kinds import CausalLMAdapter, ClassifierAdapter, MaskedLMAdapter
from plm_core.tokens import clean_text

Mode = Literal["classifier", "label_words", "perplexity"]
REQUIRED_COLUMNS = ("text", "label")
OPTIONAL_COLUMNS = ("text_pair",)
EXAMPLE_ROW = "text,label,source\nThe film was a joy from the first scene to the last.,positive,reviews"
MAX_ROWS = 20_000  # a labelled set this long takes minutes on a CPU; more is refused, not cut
MASK = "{mask}"
TEXT = "{text}"
DEFAULT_TEMPLATES = {"masked_lm": "{text} It was {mask}.", "causal_lm": "{text} It was"}
DEFAULT_LABEL_WORDS = "positive: great\nnegative: terrible"
CHUNK = {"cpu": 16, "cuda": 128}


@dataclass(frozen=True)
class LabelledRow:
    """One example of a labelled set: its text (and second text), gold label and every other column."""

    index: int
    text: str
    label: str
    text_pair: str = ""
    extra: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class EvalRow:
    """What the model made of one example."""

    index: int
    text: str
    text_pair: str
    label: str  # gold ('' when the set has no labels: perplexity only)
    predicted: str  # '' in perplexity mode
    probs: tuple[float, ...]  # [class] in ``config["classes"]`` order; () in perplexity mode
    correct: bool
    n_tokens: int  # tokens the model read
    log_likelihood: float  # perplexity mode: summed log p of the scored tokens (nats); NaN otherwise
    n_scored: int  # perplexity mode: tokens scored
    prompt: str = ""  # label words: the filled template the model read
    extra: tuple[tuple[str, str], ...] = ()

    @property
    def perplexity(self) -> float:
        return math.exp(-self.log_likelihood / self.n_scored) if self.n_scored else float("nan")


# ---- data ---------------------------------------------------------------------------------------------

def parse_labelled(text: str, name: str = "the labelled file") -> tuple[LabelledRow, ...]:
    """Rows of a labelled CSV or TSV (header ``text[,text_pair],label[, other columns]``).

    The delimiter is a tab when the header line has one, else a comma. Every other column is kept in ``extra``.

    Raises:
        InvalidInputError: empty file, missing columns, an empty text or label (with its row), too many rows.
    """
    header = text.lstrip("\ufeff").split("\n", 1)[0]
    delimiter = "\t" if "\t" in header else ","
    table = datasets._table(text, REQUIRED_COLUMNS, name, delimiter)
    if len(table) > MAX_ROWS:
        raise InvalidInputError(msg("{what} has {n:,} rows; at most {limit:,} are evaluated here: take a sample",
                                    what=name, n=len(table), limit=MAX_ROWS))
    used = REQUIRED_COLUMNS + OPTIONAL_COLUMNS
    rows = []
    for i, row in enumerate(table):
        body, label = (row.get("text") or "").strip(), (row.get("label") or "").strip()
        if not body or not label:
            raise InvalidInputError(msg("row {n} of {what} has an empty text or label", n=i + 2, what=name))
        rows.append(LabelledRow(i, clean_text(body)[0], label, (row.get("text_pair") or "").strip(),
                                datasets._extra(row, used)))
    return tuple(rows)


def read_upload(data: bytes, name: str) -> tuple[tuple[LabelledRow, ...], str]:
    """(rows, SHA-256) of an uploaded labelled file: the bias uploads' rules (UTF-8, size limit)."""
    return parse_labelled(datasets.decode_upload(data, name), name), datasets.sha256_bytes(data)


def builtin_set() -> tuple[tuple[LabelledRow, ...], str]:
    """Lesson 5's 40 sentiment sentences (label<TAB>sentence) as a labelled set, with their SHA-256."""
    from plm_core.lessons.finetune import EXAMPLE_SET, load_examples

    data = load_examples()
    rows = tuple(LabelledRow(i, t, data.names[y]) for i, (t, y) in enumerate(zip(data.texts, data.labels)))
    return rows, datasets.file_sha256(EXAMPLE_SET)


def columns(rows: Sequence[LabelledRow | EvalRow]) -> list[str]:
    """The extra columns the rows carry (slices can be taken by any of them)."""
    return list(dict.fromkeys(name for r in rows for name, _ in r.extra))


# ---- what the model is asked --------------------------------------------------------------------------

CLASSES_MODE: Mode = "classifier"  # the evaluation mode that reads the model's own classes (not a model kind)


# model kind -> how it answers a label-word prompt and scores perplexity: "mask" (a masked LM: the label word at
# its [MASK], pseudo-perplexity) or "next_word" (a decoder-only LM: the word after the prompt); a kind absent here
# is refused for label words and perplexity (modes() says why)
LM_READOUTS: dict[str, Literal["mask", "next_word"]] = {MaskedLMAdapter.name: "mask", CausalLMAdapter.name: "next_word"}
# model kinds whose own classes the "classifier" mode reads
CLASS_HEADS: frozenset[str] = frozenset({ClassifierAdapter.name})


def _masked(handle: ModelHandle) -> bool:
    """A masked LM: label words are scored at its [MASK] (:data:`LM_READOUTS`)."""
    return LM_READOUTS.get(handle.kind) == "mask"


def _causal(handle: ModelHandle) -> bool:
    """A decoder-only LM: label words are scored as the next word after the prompt (:data:`LM_READOUTS`)."""
    return LM_READOUTS.get(handle.kind) == "next_word"


def modes(handle: ModelHandle) -> dict[Mode, str | None]:
    """Each mode with None when it works on this model, else the reason it does not."""
    kind, masked, causal = handle.kind, _masked(handle), _causal(handle)
    head = None if kind in CLASS_HEADS else msg("this model has no classification head (it is a {kind}); "
                                                  "train one in lesson 5, or use label words with a masked or "
                                                  "causal LM", kind=kind)
    lm = None if masked or causal else msg("label words and perplexity need a masked or causal "
                                                            "language model; this one is a {kind}", kind=kind)
    return {"classifier": head, "label_words": lm, "perplexity": lm}


def parse_label_words(text: str) -> dict[str, str]:
    """``label: word`` lines (or ``label=word``) -> {label: word}.

    Raises:
        InvalidInputError: a line without a word, a label twice, fewer than two labels.
    """
    out: dict[str, str] = {}
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        sep = ":" if ":" in line else "=" if "=" in line else None
        if sep is None:
            raise InvalidInputError(msg("label words line {n}: write 'label: word'", n=n))
        label, word = (s.strip() for s in line.split(sep, 1))
        if not label or not word:
            raise InvalidInputError(msg("label words line {n}: write 'label: word'", n=n))
        if label in out:
            raise InvalidInputError(msg("the label {label} has two label words", label=excerpt(label)))
        out[label] = word
    if len(out) < 2:
        raise InvalidInputError(msg("give label words for at least two labels"))
    return out


def label_word_ids(handle: ModelHandle, words: dict[str, str]) -> dict[str, int]:
    """The vocabulary id of each label word, as the model would read it at ``{mask}`` or as the next word.

    Raises:
        InvalidInputError: a word that is not one token (its pieces are named), or two labels on one token.
    """
    from plm_core.display import spacing_scheme, token_texts

    causal = _causal(handle)
    ids: dict[str, int] = {}
    for label, word in words.items():
        spaced = causal or spacing_scheme(handle.tokenizer).space_in_piece  # the word follows a space in the template
        with handle.lock:
            pieces = handle.tokenizer(" " + word if spaced else word, add_special_tokens=False)["input_ids"]
        if len(pieces) != 1:
            shown = " ".join(token_texts(handle, pieces[:8]))
            raise InvalidInputError(msg("the label word {word} is {n} tokens for this tokenizer ({pieces}); the "
                                        "logit of a word is defined for one token: choose a single-token word",
                                        word=excerpt(word), n=len(pieces), pieces=clip(shown)))
        ids[label] = int(pieces[0])
    if len(set(ids.values())) < len(ids):
        raise InvalidInputError(msg("two labels have the same label word token"))
    return ids


def check_template(handle: ModelHandle, template: str) -> None:
    """A label-word template needs ``{text}``; a masked LM's exactly one ``{mask}``, a causal LM's none (the
    label word is the next token after the template)."""
    if template.count(TEXT) != 1:
        raise InvalidInputError(msg("the template needs {text} exactly once", text=TEXT))
    n_mask = template.count(MASK)
    if _masked(handle) and n_mask != 1:
        raise InvalidInputError(msg("a masked LM's template needs {mask} exactly once", mask=MASK))
    if _causal(handle) and (n_mask or template.rstrip() != template):
        raise InvalidInputError(msg("a causal LM's template ends where the label word follows: no {mask} and no "
                                    "trailing space", mask=MASK))


def class_names(handle: ModelHandle, config: dict[str, Any]) -> tuple[str, ...]:
    """The classes a run predicts: the model's labels (classifier) or the label-words' labels."""
    if config["mode"] == CLASSES_MODE:
        from plm_core.inference import class_labels

        return class_labels(handle)
    if config["mode"] == "label_words":
        return tuple(config["label_words"])
    return ()


def match_labels(gold: Sequence[str], classes: Sequence[str]) -> dict[str, str]:
    """Each gold label -> the class it names: the same name, the same name in another case, or the class id.

    Raises:
        InvalidInputError: a gold label that names no class (both lists are given).
    """
    by_lower = {c.lower(): c for c in classes}
    out = {}
    for g in dict.fromkeys(gold):
        if g in classes:
            out[g] = g
        elif g.lower() in by_lower:
            out[g] = by_lower[g.lower()]
        elif g.isdigit() and int(g) < len(classes):
            out[g] = classes[int(g)]
        else:
            raise InvalidInputError(msg("the label {label} is not a class of this model ({classes}); the file's "
                                        "labels must name the classes or their ids", label=excerpt(g),
                                        classes=clip(", ".join(classes))))
    return out


def fill_template(template: str, text: str, mask_token: str) -> tuple[str, int]:
    """(the template with ``text`` and the mask token in, character offset of the template's mask or −1).

    Plain replacement, never ``str.format``: braces in the text stay text."""
    before, after = template.split(TEXT, 1)
    left = before.replace(MASK, mask_token)
    if MASK in after:
        a1, a2 = after.split(MASK, 1)
        return left + text + a1 + mask_token + a2, len(left) + len(text) + len(a1)
    mask_at = before.find(MASK)
    return left + text + after, mask_at


def _fit_text(handle: ModelHandle, template: str, text: str, mask_token: str, limit: int) -> str:
    """``text`` cut (at a token boundary) so that the filled template fits ``limit`` tokens."""
    with handle.lock:
        overhead = len(handle.tokenizer(fill_template(template, "", mask_token)[0])["input_ids"])
        enc = handle.tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    room = max(1, limit - overhead - 1)
    if len(enc["input_ids"]) <= room:
        return text
    return text[: enc["offset_mapping"][room - 1][1]]


# ---- scoring ------------------------------------------------------------------------------------------

def score_rows(handle: ModelHandle, config: dict[str, Any], rows: Sequence[LabelledRow]) -> list[EvalRow]:
    """Score ``rows`` under ``config`` (``mode``, and ``template`` / ``label_words`` for label words).

    Raises:
        InvalidInputError: a bad template or label word, labels that name no class.
        UnsupportedModelError: a mode this model cannot do (:func:`modes` says why).
    """
    mode = config["mode"]
    why = modes(handle).get(mode, msg("unknown mode {mode}", mode=excerpt(str(mode))))
    if why is not None:
        raise UnsupportedModelError(why)
    if mode == "perplexity":
        return _score_perplexity(handle, rows)
    classes = class_names(handle, config)
    gold = match_labels([r.label for r in rows], classes)
    probs, prompts = (_classifier_probs(handle, rows) if mode == CLASSES_MODE
                      else _label_word_probs(handle, config, rows))
    out = []
    for r, p, (prompt, n_tok) in zip(rows, probs, prompts):
        pred = classes[int(np.argmax(p))]
        out.append(EvalRow(r.index, r.text, r.text_pair, r.label, pred, tuple(float(x) for x in p),
                           pred == gold[r.label], n_tok, float("nan"), 0, prompt, r.extra))
    return out


def _classifier_probs(handle: ModelHandle, rows: Sequence[LabelledRow]):
    limit = token_cap(handle.max_tokens)
    texts = [r.text for r in rows]
    pairs = [r.text_pair or None for r in rows]
    kwargs = dict(padding=True, truncation=True, max_length=limit, return_tensors="pt")
    batch = (tokenize(handle, texts, [p or "" for p in pairs], **kwargs) if any(pairs)
             else tokenize(handle, texts, **kwargs))
    logits = run(handle, batch).logits.float().cpu()
    probs = torch.softmax(logits, -1).numpy()
    n_tok = batch["attention_mask"].sum(1).tolist()
    return probs, [("", int(n)) for n in n_tok]


def _label_word_probs(handle: ModelHandle, config: dict[str, Any], rows: Sequence[LabelledRow]):
    template = str(config["template"])
    check_template(handle, template)
    ids = label_word_ids(handle, dict(config["label_words"]))
    word_ids = torch.tensor(list(ids.values()))
    limit = token_cap(handle.max_tokens)
    with handle.lock:
        mask_token = handle.tokenizer.mask_token or ""
    sequences, positions, prompts = [], [], []
    for r in rows:
        body = _fit_text(handle, template, r.text, mask_token, limit)
        prompt, mask_at = fill_template(template, body, mask_token)
        with handle.lock:
            enc = handle.tokenizer(prompt, return_offsets_mapping=True, truncation=True, max_length=limit)
        seq = list(enc["input_ids"])
        if _masked(handle):
            where = [i for i, (a, _b) in enumerate(enc["offset_mapping"]) if a == mask_at
                     and seq[i] == handle.tokenizer.mask_token_id]
            if not where:
                raise InvalidInputError(msg("row {n}: the template's {mask} was not found after tokenizing",
                                            n=r.index + 2, mask=MASK))
            positions.append(where[0])
        else:
            positions.append(len(seq) - 1)  # the next token after the template
        sequences.append(seq)
        prompts.append((prompt, len(seq)))
    if _masked(handle):
        logp = masked_log_probs(handle, sequences, positions)  # [row, vocab]
    else:
        logp = _next_token_log_probs(handle, sequences)
    # softmax over the label words' logits = softmax over their log-probs (log-softmax only shifts them)
    probs = torch.softmax(logp[:, word_ids].double(), -1).numpy()
    return probs, prompts


def _padded(handle: ModelHandle, sequences: Sequence[Sequence[int]]) -> tuple[torch.Tensor, torch.Tensor]:
    with handle.lock:
        pad = handle.tokenizer.pad_token_id if handle.tokenizer.pad_token_id is not None else 0
    width = max(len(s) for s in sequences)
    ids = torch.full((len(sequences), width), pad, dtype=torch.long)
    att = torch.zeros((len(sequences), width), dtype=torch.long)
    for i, s in enumerate(sequences):
        ids[i, : len(s)] = torch.tensor(s)
        att[i, : len(s)] = 1
    return ids, att


def _next_token_log_probs(handle: ModelHandle, sequences: Sequence[Sequence[int]]) -> torch.Tensor:
    """log p(next token | sequence) over the vocabulary: float32 [sequence, vocab] (right-padded batch)."""
    ids, att = _padded(handle, sequences)
    logits = run(handle, {"input_ids": ids, "attention_mask": att}).logits.float().cpu()
    last = att.sum(1) - 1
    return torch.log_softmax(logits[torch.arange(len(sequences)), last], -1)


def _score_perplexity(handle: ModelHandle, rows: Sequence[LabelledRow]) -> list[EvalRow]:
    limit = token_cap(handle.max_tokens)
    with handle.lock:
        encs = [handle.tokenizer(r.text, truncation=True, max_length=limit, return_special_tokens_mask=True)
                for r in rows]
    out = []
    if _causal(handle):
        for r, enc in zip(rows, encs):
            ll, n = causal_log_likelihood(handle, list(enc["input_ids"]))
            out.append(EvalRow(r.index, r.text, r.text_pair, r.label, "", (), False, len(enc["input_ids"]), ll, n,
                               extra=r.extra))
        return out
    from plm_core.bias.crows_pairs import pseudo_log_likelihoods

    requests = [(list(e["input_ids"]), [i for i, s in enumerate(e["special_tokens_mask"]) if not s]) for e in encs]
    lls = pseudo_log_likelihoods(handle, requests)
    for r, (ids, pos), ll in zip(rows, requests, lls):
        out.append(EvalRow(r.index, r.text, r.text_pair, r.label, "", (), False, len(ids), ll, len(pos),
                           extra=r.extra))
    return out


def causal_log_likelihood(handle: ModelHandle, ids: Sequence[int]) -> tuple[float, int]:
    """(Σ log p(token_t | tokens_<t) over t ≥ 1, number of those tokens) of one sequence, in nats."""
    if len(ids) < 2:
        return 0.0, 0
    t = torch.tensor([list(ids)])
    logits = run(handle, {"input_ids": t, "attention_mask": torch.ones_like(t)}).logits.float().cpu()[0]
    logp = torch.log_softmax(logits[:-1].double(), -1)
    picked = logp[torch.arange(len(ids) - 1), t[0, 1:]]
    return float(picked.sum()), len(ids) - 1


# ---- results ------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class EvalResult:
    """A (possibly partial) evaluation run: rows scored so far and the run's configuration."""

    model_id: str
    rows: tuple[EvalRow, ...]
    config: dict[str, Any] = field(default_factory=dict)
    n_items: int = 0

    @property
    def mode(self) -> str:
        return str(self.config.get("mode", ""))

    @property
    def classes(self) -> tuple[str, ...]:
        return tuple(self.config.get("classes", ()))

    def gold(self, rows: Sequence[EvalRow] | None = None) -> list[str]:
        gold = match_labels([r.label for r in self.rows], self.classes)
        return [gold[r.label] for r in (self.rows if rows is None else rows)]

    def metrics(self, rows: Sequence[EvalRow] | None = None, **kwargs: Any) -> Metrics:
        rows = list(self.rows if rows is None else rows)
        return classification_metrics(self.gold(rows), [r.predicted for r in rows], self.classes, **kwargs)

    def columns(self) -> list[str]:
        return columns(self.rows)

    def slices(self, column: str, **kwargs: Any) -> dict[str, Metrics]:
        """Metrics per value of an extra column (each slice with its own intervals)."""
        groups: dict[str, list[EvalRow]] = {}
        for r in self.rows:
            groups.setdefault(dict(r.extra).get(column, ""), []).append(r)
        return {v: self.metrics(rs, **kwargs) for v, rs in sorted(groups.items())}

    def errors(self) -> list[EvalRow]:
        return [r for r in self.rows if not r.correct]

    def perplexity(self) -> dict[str, float]:
        """Per-corpus (pseudo-)perplexity: the mean of the sentences' values, and exp of the mean token NLL."""
        rows = [r for r in self.rows if r.n_scored]
        if not rows:
            return {"mean": float("nan"), "corpus": float("nan"), "n": 0}
        total = sum(r.log_likelihood for r in rows)
        tokens = sum(r.n_scored for r in rows)
        return {"mean": float(np.mean([r.perplexity for r in rows])), "corpus": math.exp(-total / tokens),
                "n": len(rows)}

    def records(self) -> list[dict[str, Any]]:
        out = []
        for r in self.rows:
            rec = row_record(r)
            probs = rec.pop("probs")
            for c, p in zip(self.classes, probs):
                rec[f"p({c})"] = p
            if self.mode == "perplexity":
                rec["perplexity"] = r.perplexity
            out.append(rec)
        return out

    def to_csv(self) -> str:
        return export_csv(self.records(), self.config)

    def summary(self) -> dict[str, Any]:
        if self.mode == "perplexity":
            return self.perplexity()
        m = self.metrics()
        return {"n": m.n, "interval": str(m.interval), "metrics": [_plain(x) for x in m.metrics],
                "confusion": m.confusion.tolist(), "classes": list(m.classes)}

    def summary_csv(self) -> str:
        if self.mode == "perplexity":
            return export_csv([self.perplexity()], self.config)
        m = self.metrics()
        return export_csv([_plain(x) for x in m.metrics], self.config)

    def to_json(self) -> str:
        return json.dumps({"provenance": provenance(self.config), "config": _plain(self.config),
                           "summary": self.summary(), "rows": _plain(self.records())}, indent=1, ensure_ascii=False)


def export_csv(records: Sequence[dict[str, Any]], config: dict[str, Any]) -> str:
    """The one CSV writer of this module: ``plm_core.bias.common.table_to_csv`` (provenance columns first), which
    writes through ``plm_core.export`` (cells a spreadsheet would run as a formula get a leading ``'``)."""
    return table_to_csv(records, config)


def evaluate(handle: ModelHandle, rows: Sequence[LabelledRow], config: dict[str, Any], *,
             chunk: int = 32) -> EvalResult:
    """Score every row now (no store): :func:`score_rows` chunk by chunk, as an :class:`EvalResult`."""
    config = dict(config) | {"model_id": handle.model_id, "classes": list(class_names(handle, config))}
    out: list[EvalRow] = []
    for start in range(0, len(rows), chunk):
        out.extend(score_rows(handle, config, rows[start:start + chunk]))
    return EvalResult(handle.model_id, tuple(out), config, len(rows))


def _score_job(handle: ModelHandle, config: dict[str, Any], items: list, progress: Any) -> tuple[list, dict]:
    return score_rows(handle, config, items), {}


def _job_result(info: Any, rows: list, metas: list) -> EvalResult:
    return EvalResult(info.model_id, tuple(rows), info.config, info.n_items)


# stored, chunked, resumable runs like the bias probes' (plm_core.bias.jobs runs them; this module registers its own)
_jobs.PROBES["evaluate"] = _jobs.ProbeJob(LabelledRow, EvalRow, _score_job, _job_result, lambda h, c: CHUNK[
    "cuda" if h.device.type == "cuda" else "cpu"])

__all__ = ["DEFAULT_LABEL_WORDS", "DEFAULT_TEMPLATES", "EvalResult", "EvalRow", "LabelledRow", "Metric", "Metrics",
           "bootstrap_confusions", "builtin_set", "causal_log_likelihood", "check_template", "class_names",
           "classification_metrics", "evaluate", "fill_template", "label_word_ids", "match_labels", "modes",
           "parse_label_words", "parse_labelled", "read_upload", "score_rows"]
