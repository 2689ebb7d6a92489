"""BEC-Pro (Bartl, Nissim & Gatt, GeBNLP 2020): association of person words with professions.

association = log(p_target / p_prior), where p_target is the probability of the person word at its [MASK]
in ``Sent_TM`` (person masked) and p_prior the probability of the same word at the same [MASK] when the
profession is masked too (``Sent_TAM``). The profession gets one [MASK] per token of its tokenization, so
both inputs have the same length and the person [MASK] sits at the same position. A positive association
means the profession makes the person word more likely than the template alone does.

Uncertainty: group means get t intervals; female and male person words are compared with the Wilcoxon
signed-rank test, as Bartl et al. test their associations (their ``statistics()`` in
``bias_utils/utils.py`` calls ``scipy.stats.wilcoxon`` on paired samples). The pairs here are explicit: a
female-person row and the male-person row with the same template, the same profession and the same rank of
person word (She/He, woman/man, sister/brother, ... in the order the file lists them), within each
profession group and over all rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from plm_core.bias import stats
from plm_core.bias.common import (CAVEATS, ProgressFn, StopFn, masked_log_probs, report, require_masked_lm,
                                  result_to_json, rows_to_csv, single_token_id, table_to_csv)
from plm_core.bias.datasets import BecProRow, column_value, data_columns
from plm_core.bias.sampling import describe_sample, sample_items
from plm_core.errors import InvalidInputError, excerpt
from plm_core.handle import ModelHandle
from plm_core.i18n import msg

GROUP = "person gender / profession group"  # the default breakdown, as in Bartl et al.'s Table 2


@dataclass(frozen=True)
class BecProScore:
    index: int
    sentence: str
    template: str
    person: str
    gender: str
    profession: str
    prof_gender: str
    p_target: float  # p(person | Sent_TM)
    p_prior: float  # p(person | Sent_TAM)
    association: float  # log(p_target / p_prior)
    person_rank: int = -1  # pairs the row with its other-gender counterpart (see the module doc)
    extra: tuple[tuple[str, str], ...] = ()  # the row's other data columns
    truncated: bool = False  # Sent_TM was longer than the model's limit: scored on its first tokens only
    n_tokens: int = 0  # tokens of Sent_TM before any cut (special tokens included)
    limit: int = 0  # the model's limit it was cut to


@dataclass(frozen=True)
class BecProResult:
    model_id: str
    rows: tuple[BecProScore, ...]
    skipped: tuple[str, ...] = ()  # person words left out (several tokens for this tokenizer)
    config: dict[str, Any] = field(default_factory=dict)
    n_requested: int = 0
    caveat: str = CAVEATS["bec_pro"]
    include_truncated: bool = False  # count rows the model saw cut in the numbers (default: left out)

    @property
    def complete(self) -> bool:
        return len(self.rows) >= self.n_requested

    @property
    def n_truncated(self) -> int:
        """Rows whose Sent_TM was longer than the model's limit (scored on the cut text; flagged per row)."""
        return sum(r.truncated for r in self.rows)

    @property
    def counted(self) -> tuple[BecProScore, ...]:
        """The rows behind every estimate and test: those the model saw whole, unless ``include_truncated``."""
        return self.rows if self.include_truncated else tuple(r for r in self.rows if not r.truncated)

    def by_group(self) -> dict[str, dict[str, float]]:
        """Mean association (n, std, t interval) per "gender person × profession gender" group."""
        return _group(self.counted, _group_key)

    def by_gender(self) -> dict[str, dict[str, float]]:
        return _group(self.counted, lambda r: r.gender)

    def by_profession(self) -> dict[str, dict[str, float]]:
        """Mean association per profession and person gender ("nurse / female")."""
        return _group(self.counted, lambda r: f"{r.profession} / {r.gender}")

    def breakdown(self, column: str) -> dict[str, dict[str, float]]:
        """Mean association per value of a data column (Prof_Gender, Template, an extra column, ...)."""
        return _group(self.counted, lambda r: column_value(r, column))

    def columns(self) -> list[str]:
        return [GROUP, *data_columns("bec_pro", self.rows)]

    def estimates(self, column: str | None = GROUP) -> list[stats.Estimate]:
        """Mean association with its t interval: overall, then per value of ``column``."""
        out = [stats.mean_estimate("overall", "all", [r.association for r in self.counted])]
        if column:
            key = _group_key if column == GROUP else (lambda r: column_value(r, column))
            out += [stats.mean_estimate(column, k, [r.association for r in v])
                    for k, v in stats.grouped(self.counted, key).items()]
        return out

    def gender_tests(self) -> list[stats.PairedTest]:
        """Female vs male person words, paired (see the module doc): over all rows, then per profession group.
        Empty when the rows do not have exactly two Gender values."""
        pairs = counterparts(self.counted)
        if pairs is None:
            return []
        (label_a, label_b), matched = pairs
        out = [stats.paired_test("all", [a.association for a, _ in matched], [b.association for _, b in matched],
                                 label_a=label_a, label_b=label_b)]
        for group in sorted({a.prof_gender for a, _ in matched}):
            sub = [(a, b) for a, b in matched if a.prof_gender == group]
            out.append(stats.paired_test(f"{group} professions", [a.association for a, _ in sub],
                                         [b.association for _, b in sub], label_a=label_a, label_b=label_b))
        return out

    def summary(self) -> dict[str, Any]:
        return {"by_gender": self.by_gender(), "by_group": self.by_group(),
                "estimates": [e.as_dict() for e in self.estimates()],
                "gender_tests": [t.as_dict() for t in self.gender_tests()],
                "skipped_person_words": list(self.skipped), "complete": self.complete,
                "n_requested": self.n_requested, "n_scored": len(self.rows), "n_truncated": self.n_truncated,
                "truncated_included": self.include_truncated}

    def to_csv(self) -> str:
        return rows_to_csv(sorted(self.rows, key=lambda r: r.index), self.config)

    def summary_csv(self, column: str | None = GROUP) -> str:
        return table_to_csv((e.as_dict() | {"n_truncated": self.n_truncated, "truncated_included": self.include_truncated}
                             for e in self.estimates(column)), self.config)

    def to_json(self) -> str:
        return result_to_json("bec_pro", self.config, self.summary(), self.rows)


def _group_key(r) -> str:
    return f"{r.gender} person / {r.prof_gender} profession"


def pair_key(row) -> tuple[str, str, str, int]:
    """Rows with the same key are one counterfactual pair (female and male person word)."""
    return (row.template, row.prof_gender, row.profession, row.person_rank)


def counterparts(rows) -> tuple[tuple[str, str], list[tuple[Any, Any]]] | None:
    """((label a, label b), [(row of a, its counterpart of b), ...]) for the two Gender values ("female" first
    when present), pairing by :func:`pair_key`; None unless there are exactly two Gender values."""
    genders = sorted({r.gender for r in rows}, key=lambda g: (g != "female", g))
    if len(genders) != 2:
        return None
    by_key: dict[tuple, dict[str, Any]] = {}
    for r in rows:
        by_key.setdefault(pair_key(r), {})[r.gender] = r
    matched = [(d[genders[0]], d[genders[1]]) for d in by_key.values() if len(d) == 2]
    return (genders[0], genders[1]), matched

def _group(rows, key) -> dict[str, dict[str, float]]:
    groups: dict[str, list[float]] = {}
    for r in rows:
        groups.setdefault(key(r), []).append(r.association)
    out = {}
    for k, v in sorted(groups.items()):
        low, high = stats.mean_interval(v)
        out[k] = {"n": len(v), "mean": float(np.mean(v)), "std": float(np.std(v, ddof=1)) if len(v) > 1 else 0.0,
                  "ci_low": low, "ci_high": high}
    return out


def prepare(handle: ModelHandle, row: BecProRow) -> tuple[list[int], list[int], int, int]:
    """(Sent_TM ids, prior ids, person [MASK] position, person token id) for one row; the ids are cut to the
    model's limit (rows cut so are flagged ``truncated`` by :func:`score_rows`)."""
    with handle.lock:  # the tokenizer is shared
        return _prepare(handle, row)


def _prepare(handle: ModelHandle, row: BecProRow) -> tuple[list[int], list[int], int, int]:
    tok = handle.tokenizer
    target_id = single_token_id(handle, row.person)
    text = row.sent_tm.replace("[MASK]", tok.mask_token)
    enc = tok(text, add_special_tokens=True, return_offsets_mapping=True, truncation=True,
              max_length=handle.max_tokens)
    ids = list(enc["input_ids"])
    masks = [i for i, t in enumerate(ids) if t == tok.mask_token_id]
    if len(masks) != 1:
        full = tok(text, add_special_tokens=True, truncation=False, verbose=False)["input_ids"]
        cut = [i for i, t in enumerate(full) if t == tok.mask_token_id and i >= len(ids)]
        if cut and len(full) > len(ids):
            raise InvalidInputError(msg("BEC-Pro row {index}: its [MASK] is at token {position} of {n_full}, past the "
                                        "limit of {limit} tokens here",
                                        index=row.index, position=cut[0], n_full=len(full), limit=len(ids)))
        raise InvalidInputError(msg("BEC-Pro row {index}: Sent_TM needs exactly one [MASK], it has {n_masks}",
                                    index=row.index, n_masks=len(masks)))
    start = text.lower().find(row.profession.lower())
    if start < 0:
        raise InvalidInputError(msg("BEC-Pro row {index}: the profession {profession} is not in Sent_TM",
                                    index=row.index, profession=excerpt(row.profession)))
    end = start + len(row.profession)
    prior = [tok.mask_token_id if (s < end and e > start and e > s) else t
             for t, (s, e) in zip(ids, enc["offset_mapping"])]
    if prior == ids:
        raise InvalidInputError(msg("BEC-Pro row {index}: no token of {profession} found to mask", index=row.index,
                                    profession=excerpt(row.profession)))
    return ids, prior, masks[0], target_id


def run_bec_pro(handle: ModelHandle, rows: Sequence[BecProRow], *, sample_size: int | None = None, seed: int = 0,
                stratify: str | None = "Prof_Gender", batch_size: int | None = None, chunk_rows: int | None = None,
                progress: ProgressFn | None = None, should_stop: StopFn | None = None, data_source: str = "",
                data_sha256: str = "", profession_groups: Sequence[str] | None = None) -> BecProResult:
    """Association scores of ``rows`` (optionally some profession groups, and a seeded random sample of
    ``sample_size`` rows drawn as female/male pairs, stratified by ``stratify``). Person words that are several
    tokens for this tokenizer are skipped and listed in ``skipped``; if every row is skipped that is an error."""
    require_masked_lm(handle, "BEC-Pro")
    chosen = select_rows(rows, profession_groups, sample_size, seed=seed, stratify=stratify)
    config = bec_config(handle.model_id, handle.revision, data_source, data_sha256=data_sha256,
                        sample_size=sample_size, seed=seed, stratify=stratify, n_total=len(rows),
                        n_drawn=len(chosen), profession_groups=profession_groups)
    scores, skipped = score_rows(handle, chosen, batch_size=batch_size, chunk_rows=chunk_rows, progress=progress,
                                 should_stop=should_stop)
    return BecProResult(handle.model_id, scores, skipped, config, len(chosen))


def select_rows(rows: Sequence[BecProRow], profession_groups: Sequence[str] | None = None,
                sample_size: int | None = None, *, seed: int = 0,
                stratify: str | None = "Prof_Gender") -> tuple[BecProRow, ...]:
    """Rows of ``profession_groups`` (all when empty), then a seeded random sample of about ``sample_size`` rows
    drawn as whole female/male pairs (:func:`pair_key`), stratified by the data column ``stratify``."""
    chosen = [r for r in rows if not profession_groups or r.prof_gender in profession_groups]
    if not chosen:
        raise InvalidInputError(msg('no BEC-Pro row has the profession group(s) {value}', value=', '.join(profession_groups or [])))
    strata = (lambda r: column_value(r, stratify)) if stratify else None
    return sample_items(chosen, sample_size or None, seed=seed, strata=strata, units=pair_key)


def bec_config(model_id: str, revision: str | None, data_source: str, *, data_sha256: str = "",
               sample_size: int | None = None, seed: int = 0, stratify: str | None = None, n_total: int = 0,
               n_drawn: int = 0, profession_groups: Sequence[str] | None = None) -> dict[str, Any]:
    return {"probe": "bec_pro", "model_id": model_id, "revision": revision, "data": data_source,
            "data_sha256": data_sha256, "profession_groups": list(profession_groups or []),
            "sample_size": sample_size, "sample_seed": seed, "stratify": stratify,
            "sample": describe_sample(sample_size, seed, stratify, n_total, n_drawn),
            "score": "log(p_target / p_prior) (Bartl et al. 2020)",
            "interval": f"{stats.T_MEAN} ({stats.CONFIDENCE:.0%}); {stats.WILCOXON}, female vs male counterparts"}


def score_rows(handle: ModelHandle, rows: Sequence[BecProRow], *, batch_size: int | None = None,
               chunk_rows: int | None = None, progress: ProgressFn | None = None,
               should_stop: StopFn | None = None,
               require_any: bool = True) -> tuple[tuple[BecProScore, ...], tuple[str, ...]]:
    """Scores of ``rows`` and the person words skipped (several tokens for this tokenizer). With
    ``require_any`` (default) a call that skips every row raises InvalidInputError; a chunk of a longer job
    passes False."""
    require_masked_lm(handle, "BEC-Pro")
    if not rows:
        raise InvalidInputError(msg('no BEC-Pro rows to score'))
    chunk_rows = chunk_rows or (512 if handle.device.type == "cuda" else 64)
    out: list[BecProScore] = []
    skipped: dict[str, str] = {}
    done = 0
    for start in range(0, len(rows), chunk_rows):
        if should_stop is not None and should_stop():
            break
        chunk = rows[start:start + chunk_rows]
        prepared = []
        with handle.lock:
            for row in chunk:
                try:
                    prepared.append((row, *prepare(handle, row)))
                except InvalidInputError as err:
                    if "tokens for this tokenizer" not in str(err):
                        raise
                    skipped.setdefault(row.person, str(err))
            full = [len(handle.tokenizer(row.sent_tm.replace("[MASK]", handle.tokenizer.mask_token),
                                         truncation=False, verbose=False)["input_ids"]) for row, *_r in prepared]
        if prepared:
            seqs = [p[1] for p in prepared] + [p[2] for p in prepared]
            where = [p[3] for p in prepared] * 2
            logp = masked_log_probs(handle, seqs, where, batch_size)
            tid = [p[4] for p in prepared] * 2
            picked = logp[np.arange(len(seqs)), tid].double().numpy()
            n = len(prepared)
            for k, (row, *_rest) in enumerate(prepared):
                lt, lp = float(picked[k]), float(picked[n + k])
                out.append(BecProScore(row.index, row.sentence, row.template, row.person, row.gender,
                                       row.profession, row.prof_gender, float(np.exp(lt)), float(np.exp(lp)), lt - lp,
                                       row.person_rank, row.extra, truncated=full[k] > handle.max_tokens,
                                       n_tokens=full[k], limit=handle.max_tokens))
        done += len(chunk)
        report(progress, done, len(rows))
    if require_any and done and not out:
        words = ", ".join(sorted(skipped))
        raise InvalidInputError(msg("every BEC-Pro person word is several tokens for this tokenizer ({words}): "
                                    "nothing to score",
                                    words=excerpt(words)))
    return tuple(out), tuple(sorted(skipped))


__all__ = ["GROUP", "BecProResult", "BecProScore", "bec_config", "counterparts", "pair_key", "prepare", "run_bec_pro",
           "score_rows", "select_rows"]
