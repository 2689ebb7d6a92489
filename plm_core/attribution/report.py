"""Comparing and exporting attribution results: rank agreement between methods, CSV and JSON."""

from __future__ import annotations

import json
from collections.abc import Sequence

import numpy as np
from scipy import stats

from plm_core.attribution.types import AttributionResult
from plm_core.export import records_to_csv


def _content(result: AttributionResult) -> np.ndarray:
    """Indices of the non-special tokens (specials carry no meaning to rank, and IG gives them 0)."""
    idx = np.array([i for i, s in enumerate(result.encoding.special) if not s], dtype=int)
    return idx if idx.size else np.arange(len(result.encoding))


def rank_agreement(results: Sequence[AttributionResult], measure: str = "spearman") -> np.ndarray:
    """Pairwise rank correlation of the methods' scores over the non-special tokens.

    Args:
        results: results for the same input (same tokens), e.g. one per method.
        measure: "spearman" or "kendall" (tau-b).

    Returns:
        float32 ``[method, method]``; 1 on the diagonal; NaN where a method gives all-equal scores.

    Raises:
        ValueError: results for different inputs, or an unknown measure.
    """
    if measure not in ("spearman", "kendall"):
        raise ValueError(f"measure must be 'spearman' or 'kendall', got {measure!r}")
    if not results:
        return np.zeros((0, 0), np.float32)
    tokens = results[0].encoding.input_ids
    for r in results[1:]:
        if r.encoding.input_ids != tokens:
            raise ValueError(f"results are for different inputs ({len(tokens)} vs {len(r.encoding)} tokens)")
    idx = _content(results[0])
    n = len(results)
    out = np.eye(n, dtype=np.float32)
    fn = stats.spearmanr if measure == "spearman" else stats.kendalltau
    for i in range(n):
        for j in range(i + 1, n):
            a, b = results[i].scores[idx], results[j].scores[idx]
            if len(idx) < 2 or np.ptp(a) == 0 or np.ptp(b) == 0:
                value = np.nan
            else:
                value = float(fn(a, b)[0])
            out[i, j] = out[j, i] = value
    return out


def to_records(results: Sequence[AttributionResult]) -> list[dict[str, object]]:
    """One row per (method, token): the configuration columns repeated on each row."""
    rows = []
    for r in results:
        n_steps = r.params.get("n_steps")
        for i, (tok, score) in enumerate(zip(r.encoding.tokens, r.scores.tolist())):
            rows.append({
                "model_id": r.model_id, "revision": r.revision or "", "method": r.method,
                "target": r.target_label, "baseline": r.baseline, "n_steps": "" if n_steps is None else n_steps,
                "completeness_error_abs": "" if r.delta_abs is None else r.delta_abs,
                "completeness_error_rel": "" if r.delta_rel is None else r.delta_rel,
                "position": i, "token": tok, "special": r.encoding.special[i], "score": score,
            })
    return rows


def to_csv(results: Sequence[AttributionResult]) -> str:
    """CSV text of :func:`to_records`, written by :func:`plm_core.export.records_to_csv` (tokens are text:
    commas, quotes and line breaks quoted; a token such as ``=`` or ``-`` neutralised for spreadsheets)."""
    rows = to_records(results)
    return records_to_csv(rows) if rows else ""


def to_json(results: Sequence[AttributionResult]) -> str:
    """JSON with the full configuration of every result and its per-token scores."""
    def clean(v: object) -> object:
        if isinstance(v, float) and not np.isfinite(v):
            return None
        return v

    payload = [{**{k: clean(v) for k, v in r.config().items()},
                "tokens": list(r.encoding.tokens), "scores": [float(s) for s in r.scores]} for r in results]
    return json.dumps({"attributions": payload}, indent=2, ensure_ascii=False, default=str)
