"""BEC-Pro (Bartl, Nissim & Gatt, GeBNLP 2020): association of person words with professions.

association = log(p_target / p_prior), where p_target is the probability of the person word at its [MASK]
in ``Sent_TM`` (person masked) and p_prior the probability of the same word at the same [MASK] when the
profession is masked too (``Sent_TAM``). The profession gets one [MASK] per token of its tokenization, so
both inputs have the same length and the person [MASK] sits at the same position. A positive association
means the profession makes the person word more likely than the template alone does.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from plm_core.bias.common import (CAVEATS, ProgressFn, StopFn, masked_log_probs, report, require_masked_lm,
                                  result_to_json, rows_to_csv, single_token_id)
from plm_core.bias.datasets import BecProRow
from plm_core.errors import InvalidInputError, excerpt
from plm_core.loading import ModelHandle


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


@dataclass(frozen=True)
class BecProResult:
    model_id: str
    rows: tuple[BecProScore, ...]
    skipped: tuple[str, ...] = ()  # person words left out (several tokens for this tokenizer)
    config: dict[str, Any] = field(default_factory=dict)
    n_requested: int = 0
    caveat: str = CAVEATS["bec_pro"]

    @property
    def complete(self) -> bool:
        return len(self.rows) >= self.n_requested

    def by_group(self) -> dict[str, dict[str, float]]:
        """Mean (and std, n) association per "gender person × profession gender" group."""
        return _group(self.rows, lambda r: f"{r.gender} person / {r.prof_gender} profession")

    def by_gender(self) -> dict[str, dict[str, float]]:
        return _group(self.rows, lambda r: r.gender)

    def by_profession(self) -> dict[str, dict[str, float]]:
        """Mean association per profession and person gender ("nurse / female")."""
        return _group(self.rows, lambda r: f"{r.profession} / {r.gender}")

    def summary(self) -> dict[str, Any]:
        return {"by_gender": self.by_gender(), "by_group": self.by_group(), "skipped_person_words": list(self.skipped),
                "complete": self.complete, "n_requested": self.n_requested}

    def to_csv(self) -> str:
        return rows_to_csv(self.rows, self.config)

    def to_json(self) -> str:
        return result_to_json("bec_pro", self.config, self.summary(), self.rows)


def _group(rows, key) -> dict[str, dict[str, float]]:
    groups: dict[str, list[float]] = {}
    for r in rows:
        groups.setdefault(key(r), []).append(r.association)
    return {k: {"n": len(v), "mean": float(np.mean(v)), "std": float(np.std(v, ddof=1)) if len(v) > 1 else 0.0}
            for k, v in sorted(groups.items())}


def prepare(handle: ModelHandle, row: BecProRow) -> tuple[list[int], list[int], int, int]:
    """(Sent_TM ids, prior ids, person [MASK] position, person token id) for one row."""
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
            raise InvalidInputError(f"BEC-Pro row {row.index}: its [MASK] is at token {cut[0]} of {len(full)}, past "
                                    f"the limit of {len(ids)} tokens here")
        raise InvalidInputError(f"BEC-Pro row {row.index}: Sent_TM needs exactly one [MASK], it has {len(masks)}")
    start = text.lower().find(row.profession.lower())
    if start < 0:
        raise InvalidInputError(f"BEC-Pro row {row.index}: the profession {excerpt(row.profession)} is not in "
                                "Sent_TM")
    end = start + len(row.profession)
    prior = [tok.mask_token_id if (s < end and e > start and e > s) else t
             for t, (s, e) in zip(ids, enc["offset_mapping"])]
    if prior == ids:
        raise InvalidInputError(f"BEC-Pro row {row.index}: no token of {excerpt(row.profession)} found to mask")
    return ids, prior, masks[0], target_id


def run_bec_pro(handle: ModelHandle, rows: Sequence[BecProRow], *, limit: int | None = None,
            batch_size: int | None = None, chunk_rows: int | None = None, progress: ProgressFn | None = None,
            should_stop: StopFn | None = None, data_source: str = "") -> BecProResult:
    """Association scores of ``rows`` (the first ``limit``). Person words that are several tokens for this
    tokenizer are skipped and listed in ``skipped``; if every row is skipped that is an error."""
    require_masked_lm(handle, "BEC-Pro")
    chosen = list(rows[:limit] if limit else rows)
    config = {"probe": "bec_pro", "model_id": handle.model_id, "revision": handle.revision, "limit": limit,
              "data": data_source, "score": "log(p_target / p_prior) (Bartl et al. 2020)"}
    scores, skipped = score_rows(handle, chosen, batch_size=batch_size, chunk_rows=chunk_rows, progress=progress,
                                 should_stop=should_stop)
    return BecProResult(handle.model_id, scores, skipped, config, len(chosen))


def score_rows(handle: ModelHandle, rows: Sequence[BecProRow], *, batch_size: int | None = None,
               chunk_rows: int | None = None, progress: ProgressFn | None = None,
               should_stop: StopFn | None = None) -> tuple[tuple[BecProScore, ...], tuple[str, ...]]:
    require_masked_lm(handle, "BEC-Pro")
    if not rows:
        raise InvalidInputError("no BEC-Pro rows to score")
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
                                       row.profession, row.prof_gender, float(np.exp(lt)), float(np.exp(lp)), lt - lp))
        done += len(chunk)
        report(progress, done, len(rows))
    if done and not out:
        words = ", ".join(sorted(skipped))
        raise InvalidInputError(f"every BEC-Pro person word is several tokens for this tokenizer ({excerpt(words)}): "
                                "nothing to score")
    return tuple(out), tuple(sorted(skipped))


__all__ = ["BecProResult", "BecProScore", "prepare", "run_bec_pro", "score_rows"]
