"""CrowS-Pairs (Nangia et al., EMNLP 2020), scored as the authors' ``metric.py`` does.

Each sentence is scored by the pseudo-log-likelihood of the tokens it SHARES with its pair (difflib
alignment of the token ids), masking one shared token at a time (special tokens never masked). A pair
counts when the more-stereotyping sentence (``sent_more``) scores higher — for "antistereo" pairs their code
swaps the two sentences and then counts sent2 > sent1, which is again sent_more > sent_less. Ties count
as neither; the metric is the share over all pairs (50% = no preference).

Uncertainty: the share of pairs gets a Wilson interval and an exact binomial test against 50%, overall and
per group (bias type, stereo/antistereo, or any extra column of the data file).
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from plm_core.bias import stats
from plm_core.bias.common import (CAVEATS, ProgressFn, StopFn, masked_log_probs, report, require_masked_lm,
                                  result_to_json, rows_to_csv, table_to_csv)
from plm_core.bias.datasets import CrowsPair, column_value, data_columns
from plm_core.bias.sampling import describe_sample, sample_items
from plm_core.errors import InvalidInputError
from plm_core.handle import ModelHandle
from plm_core.i18n import msg


@dataclass(frozen=True)
class CrowsPairRow:
    index: int
    bias_type: str
    direction: str
    sent_more: str
    sent_less: str
    score_more: float  # PLL of the shared tokens in sent_more
    score_less: float
    n_shared: int  # shared tokens scored in each sentence
    more_higher: bool  # sent_more scores higher: counts towards the metric
    tie: bool
    extra: tuple[tuple[str, str], ...] = ()  # the pair's other data columns
    truncated: bool = False  # a sentence was longer than the model's limit: scored on its first tokens only
    n_tokens_more: int = 0  # tokens of sent_more / sent_less before any cut (special tokens included)
    n_tokens_less: int = 0
    limit: int = 0  # the model's limit they were cut to


@dataclass(frozen=True)
class CrowsPairsResult:
    model_id: str
    rows: tuple[CrowsPairRow, ...]
    config: dict[str, Any] = field(default_factory=dict)
    n_requested: int = 0  # pairs asked for; more than len(rows) when stopped early
    caveat: str = CAVEATS["crows_pairs"]
    include_truncated: bool = False  # count pairs the model saw cut in the numbers (default: left out)

    @property
    def complete(self) -> bool:
        return len(self.rows) >= self.n_requested

    @property
    def n_truncated(self) -> int:
        """Pairs with a sentence longer than the model's limit (scored on the cut text; flagged per row)."""
        return sum(r.truncated for r in self.rows)

    @property
    def counted(self) -> tuple[CrowsPairRow, ...]:
        """The rows behind every estimate: the pairs the model saw whole, unless ``include_truncated``."""
        return self.rows if self.include_truncated else tuple(r for r in self.rows if not r.truncated)

    @property
    def metric(self) -> float:
        """% of counted pairs where the more-stereotyping sentence scores higher (NaN with no rows)."""
        return _metric(self.counted)

    def by_bias_type(self) -> dict[str, dict[str, float]]:
        """Per bias type: n, metric % with its Wilson interval and binomial p, stereo %, antistereo % (as in
        their metric.py)."""
        return self.breakdown("bias_type")

    def breakdown(self, column: str) -> dict[str, dict[str, float]]:
        """:func:`summarize` per value of a data column (``bias_type``, ``stereo_antistereo`` or an extra one)."""
        return {k: summarize(v) for k, v in stats.grouped(self.counted, lambda r: column_value(r, column)).items()}

    def columns(self) -> list[str]:
        """Data columns the rows can be broken down by."""
        return data_columns("crows_pairs", self.rows)

    def estimates(self, column: str | None = "bias_type") -> list[stats.Estimate]:
        """The metric with its Wilson interval and binomial test: overall, then per value of ``column``."""
        out = [_estimate("overall", "all", self.counted)]
        if column:
            out += [_estimate(column, k, v)
                    for k, v in stats.grouped(self.counted, lambda r: column_value(r, column)).items()]
        return out

    def summary(self) -> dict[str, Any]:
        return {"overall": summarize(self.counted), "by_bias_type": self.by_bias_type(),
                "estimates": [e.as_dict() for e in self.estimates()],
                "complete": self.complete, "n_requested": self.n_requested, "n_scored": len(self.rows),
                "n_truncated": self.n_truncated, "truncated_included": self.include_truncated}

    def to_csv(self) -> str:
        return rows_to_csv(sorted(self.rows, key=lambda r: r.index), self.config)

    def summary_csv(self, column: str | None = "bias_type") -> str:
        return table_to_csv((e.as_dict() | self.truncation_columns() for e in self.estimates(column)), self.config)

    def truncation_columns(self) -> dict[str, Any]:
        """What the summary CSV says of cut pairs: how many, and whether the estimates count them."""
        return {"n_truncated": self.n_truncated, "truncated_included": self.include_truncated}

    def to_json(self) -> str:
        return result_to_json("crows_pairs", self.config, self.summary(), self.rows)


def _metric(rows: Sequence[CrowsPairRow]) -> float:
    return 100.0 * sum(r.more_higher for r in rows) / len(rows) if rows else float("nan")


def _estimate(group_by: str, group: str, rows) -> stats.Estimate:
    rows = list(rows)
    return stats.share_estimate(group_by, group, sum(r.more_higher for r in rows), len(rows), unit="pairs")


def summarize(rows) -> dict[str, float]:
    """n, metric % with Wilson interval (ci_low, ci_high) and exact binomial p against 50%, stereo % and
    antistereo % with their intervals, ties. Ties count as 'not preferred', as in the metric."""
    rows = list(rows)
    stereo = [r for r in rows if r.direction == "stereo"]
    anti = [r for r in rows if r.direction == "antistereo"]
    overall, est_s, est_a = _estimate("", "", rows), _estimate("", "", stereo), _estimate("", "", anti)
    return {"n": len(rows), "metric": _metric(rows), "ci_low": overall.ci_low, "ci_high": overall.ci_high,
            "p_value": overall.p_value, "stereo": _metric(stereo), "stereo_ci_low": est_s.ci_low,
            "stereo_ci_high": est_s.ci_high, "antistereo": _metric(anti), "antistereo_ci_low": est_a.ci_low,
            "antistereo_ci_high": est_a.ci_high, "n_stereo": len(stereo), "n_antistereo": len(anti),
            "ties": sum(r.tie for r in rows)}


def shared_positions(ids_a: Sequence[int], ids_b: Sequence[int], special_a: Sequence[bool],
                     special_b: Sequence[bool]) -> tuple[list[int], list[int]]:
    """Indices of the tokens the two sequences share (difflib "equal" blocks), specials left out."""
    matcher = difflib.SequenceMatcher(None, [str(x) for x in ids_a], [str(x) for x in ids_b], autojunk=False)
    a_pos, b_pos = [], []
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            for i, j in zip(range(i1, i2), range(j1, j2)):
                if not special_a[i] and not special_b[j]:
                    a_pos.append(i)
                    b_pos.append(j)
    return a_pos, b_pos


def _tokenize(handle: ModelHandle, text: str) -> tuple[list[int], list[bool], int]:
    """(ids cut to the model's limit, special-token mask, number of tokens before the cut)."""
    n_full = len(handle.tokenizer(text, add_special_tokens=True, truncation=False, verbose=False)["input_ids"])
    enc = handle.tokenizer(text, add_special_tokens=True, truncation=True, max_length=handle.max_tokens,
                           return_special_tokens_mask=True)
    return list(enc["input_ids"]), [bool(s) for s in enc["special_tokens_mask"]], n_full


def pseudo_log_likelihoods(handle: ModelHandle, requests: Sequence[tuple[Sequence[int], Sequence[int]]],
                           batch_size: int | None = None) -> list[float]:
    """Sum over ``positions`` of log p(token | sequence with that one token masked), per (ids, positions).

    All masked copies of all requests go through the model together, in batches.
    """
    with handle.lock:
        mask_id = handle.tokenizer.mask_token_id
    copies, where, targets = [], [], []
    owner = []
    for k, (ids, positions) in enumerate(requests):
        for p in positions:
            masked = list(ids)
            masked[p] = mask_id
            copies.append(masked)
            where.append(p)
            targets.append(ids[p])
            owner.append(k)
    totals = [0.0] * len(requests)
    if not copies:
        return totals
    logp = masked_log_probs(handle, copies, where, batch_size)
    picked = logp[np.arange(len(copies)), targets].double().numpy()
    for k, v in zip(owner, picked):
        totals[k] += float(v)
    return totals


def score_pairs(handle: ModelHandle, pairs: Sequence[CrowsPair], *, batch_size: int | None = None,
                chunk_pairs: int | None = None, progress: ProgressFn | None = None,
                should_stop: StopFn | None = None) -> tuple[CrowsPairRow, ...]:
    """Score ``pairs``; ``chunk_pairs`` pairs share each round of batched forwards (progress and stop checks
    between rounds). Returns the rows computed, fewer than asked for when ``should_stop`` said so."""
    require_masked_lm(handle, "CrowS-Pairs")
    chunk_pairs = chunk_pairs or (64 if handle.device.type == "cuda" else 8)
    rows: list[CrowsPairRow] = []
    for start in range(0, len(pairs), chunk_pairs):
        if should_stop is not None and should_stop():
            break
        chunk = pairs[start:start + chunk_pairs]
        requests = []
        shared = []
        with handle.lock:
            for pair in chunk:
                if not pair.sent_more.strip() or not pair.sent_less.strip():
                    raise InvalidInputError(msg('CrowS-Pairs pair {index} has an empty sentence', index=pair.index))
                ids_m, sp_m, full_m = _tokenize(handle, pair.sent_more)
                ids_l, sp_l, full_l = _tokenize(handle, pair.sent_less)
                pos_m, pos_l = shared_positions(ids_m, ids_l, sp_m, sp_l)
                requests += [(ids_m, pos_m), (ids_l, pos_l)]
                shared.append((len(pos_m), full_m, full_l))
        scores = pseudo_log_likelihoods(handle, requests, batch_size)
        for k, pair in enumerate(chunk):
            more, less = scores[2 * k], scores[2 * k + 1]
            n_shared, full_m, full_l = shared[k]
            limit = handle.max_tokens
            rows.append(CrowsPairRow(pair.index, pair.bias_type, pair.direction, pair.sent_more, pair.sent_less,
                                     more, less, n_shared, more > less, more == less, pair.extra,
                                     truncated=max(full_m, full_l) > limit, n_tokens_more=full_m,
                                     n_tokens_less=full_l, limit=limit))
        report(progress, len(rows), len(pairs))
    return tuple(rows)


def run_crows_pairs(handle: ModelHandle, pairs: Sequence[CrowsPair], *, bias_types: Sequence[str] | None = None,
                    sample_size: int | None = None, seed: int = 0, stratify: str | None = "bias_type",
                    batch_size: int | None = None, progress: ProgressFn | None = None,
                    should_stop: StopFn | None = None, data_source: str = "",
                    data_sha256: str = "") -> CrowsPairsResult:
    """The CrowS-Pairs metric of ``handle`` on ``pairs``: optionally some bias types, and a seeded random
    sample of ``sample_size`` pairs stratified by ``stratify`` (a data column; None: unstratified)."""
    chosen = select_pairs(pairs, bias_types, sample_size, seed=seed, stratify=stratify)
    rows = score_pairs(handle, chosen, batch_size=batch_size, progress=progress, should_stop=should_stop)
    config = crows_config(handle.model_id, handle.revision, bias_types, data_source, data_sha256=data_sha256,
                          sample_size=sample_size, seed=seed, stratify=stratify, n_total=len(pairs),
                          n_drawn=len(chosen))
    return CrowsPairsResult(handle.model_id, rows, config, len(chosen))


def select_pairs(pairs: Sequence[CrowsPair], bias_types: Sequence[str] | None = None,
                 sample_size: int | None = None, *, seed: int = 0,
                 stratify: str | None = "bias_type") -> tuple[CrowsPair, ...]:
    """The pairs of ``bias_types`` (all when empty), then a seeded random sample of ``sample_size`` of them,
    stratified by the data column ``stratify`` (see :func:`plm_core.bias.sampling.sample_items`)."""
    chosen = [p for p in pairs if not bias_types or p.bias_type in bias_types]
    if not chosen:
        raise InvalidInputError(msg('no CrowS-Pairs pair has the bias type(s) {value}', value=', '.join(bias_types or [])))
    strata = (lambda p: column_value(p, stratify)) if stratify else None
    return sample_items(chosen, sample_size or None, seed=seed, strata=strata)


def crows_config(model_id: str, revision: str | None, bias_types: Sequence[str] | None, data_source: str, *,
                 data_sha256: str = "", sample_size: int | None = None, seed: int = 0,
                 stratify: str | None = None, n_total: int = 0, n_drawn: int = 0) -> dict[str, Any]:
    return {"probe": "crows_pairs", "model_id": model_id, "revision": revision,
            "bias_types": list(bias_types or []), "data": data_source, "data_sha256": data_sha256,
            "sample_size": sample_size, "sample_seed": seed, "stratify": stratify,
            "sample": describe_sample(sample_size, seed, stratify, n_total, n_drawn),
            "score": "pseudo-log-likelihood of shared tokens (Nangia et al. 2020)",
            "interval": f"{stats.WILSON} ({stats.CONFIDENCE:.0%}); {stats.BINOMIAL}"}
