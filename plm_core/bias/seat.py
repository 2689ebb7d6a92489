"""SEAT (May et al., NAACL 2019): the WEAT effect size and permutation test on sentence embeddings.

For targets X, Y and attributes A, B (cosine similarity of L2-normalised embeddings):
  s(w, A, B) = mean_a cos(w, a) - mean_b cos(w, b)
  effect size d = (mean_{x∈X} s(x) - mean_{y∈Y} s(y)) / std_{w∈X∪Y} s(w)   (sample std, ddof=1, as sent-bias)
  p = share of equal-size re-partitions (Xi, Yi) of X∪Y with sum s(Xi) - sum s(Yi) >= the observed value
      (one-sided; ties count, as in sent-bias). Exact when there are at most ``n_samples`` partitions;
      otherwise ``n_samples`` random ones with a seed, counting the observed partition once.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from plm_core.bias.common import CAVEATS, ProgressFn, report, result_to_json, rows_to_csv
from plm_core.bias.datasets import SeatTest
from plm_core.errors import InvalidInputError
from plm_core.inference import embed
from plm_core.loading import ModelHandle

DEFAULT_SAMPLES = 100_000  # sent-bias's default


@dataclass(frozen=True)
class SeatItem:
    role: str  # "X" | "Y" (targets: association s) | "A" | "B" (attributes: mean cos with X minus Y)
    category: str
    index: int
    text: str
    association: float


@dataclass(frozen=True)
class SeatResult:
    model_id: str
    test: str
    categories: tuple[str, str, str, str]
    effect_size: float
    p_value: float
    exact: bool
    n_permutations: int
    sizes: tuple[int, int, int, int]
    items: tuple[SeatItem, ...]
    config: dict[str, Any] = field(default_factory=dict)
    caveat: str = CAVEATS["seat"]

    def summary(self) -> dict[str, Any]:
        return {"test": self.test, "categories": list(self.categories), "effect_size": self.effect_size,
                "p_value": self.p_value, "exact": self.exact, "n_permutations": self.n_permutations,
                "sizes": list(self.sizes)}

    def to_csv(self) -> str:
        return rows_to_csv(self.items, self.config | self.summary())

    def to_json(self) -> str:
        return result_to_json("seat", self.config, self.summary(), self.items)


def associations(X: np.ndarray, A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """s(w, A, B) for every row w of X (rows L2-normalised: cosine = dot product)."""
    return (X @ A.T).mean(1) - (X @ B.T).mean(1)


def effect_size(X: np.ndarray, Y: np.ndarray, A: np.ndarray, B: np.ndarray) -> float:
    sx, sy = associations(X, A, B), associations(Y, A, B)
    std = np.std(np.concatenate([sx, sy]), ddof=1)
    return float((sx.mean() - sy.mean()) / std) if std > 0 else 0.0


def permutation_p_value(s_xy: np.ndarray, n_x: int, *, n_samples: int = DEFAULT_SAMPLES, seed: int = 0,
                        progress: ProgressFn | None = None) -> tuple[float, bool, int]:
    """One-sided p of the statistic sum s(Xi) - sum s(Yi) over partitions of ``s_xy`` (first ``n_x`` = X).

    Returns (p, exact, number of partitions evaluated).
    """
    s_xy = np.asarray(s_xy, np.float64)
    n = len(s_xy)
    total = s_xy.sum()
    observed = 2 * s_xy[:n_x].sum() - total  # sum X - sum Y
    tol = 1e-12 * max(1.0, abs(observed))
    n_partitions = math.comb(n, n_x)
    if n_partitions <= n_samples:
        hits = count = 0
        for combo in _chunks(itertools.combinations(range(n), n_x), 20_000):
            idx = np.asarray(combo)
            stats = 2 * s_xy[idx].sum(1) - total
            hits += int((stats >= observed - tol).sum())
            count += len(idx)
            report(progress, count, n_partitions)
        return hits / count, True, count
    rng = np.random.default_rng(seed)
    hits, count = 1, 1  # the observed partition, as sent-bias does
    while count < n_samples:
        m = min(10_000, n_samples - count)
        perms = rng.permuted(np.broadcast_to(np.arange(n), (m, n)), axis=1)
        stats = 2 * s_xy[perms[:, :n_x]].sum(1) - total
        hits += int((stats >= observed - tol).sum())
        count += m
        report(progress, count, n_samples)
    return hits / count, False, count


def _chunks(iterable, size):
    while True:
        block = list(itertools.islice(iterable, size))
        if not block:
            return
        yield block


def seat_from_embeddings(test: SeatTest, X: np.ndarray, Y: np.ndarray, A: np.ndarray, B: np.ndarray, *,
                         model_id: str = "", n_samples: int = DEFAULT_SAMPLES, seed: int = 0,
                         progress: ProgressFn | None = None, config: dict[str, Any] | None = None) -> SeatResult:
    sx, sy = associations(X, A, B), associations(Y, A, B)
    p, exact, n_perm = permutation_p_value(np.concatenate([sx, sy]), len(sx), n_samples=n_samples, seed=seed,
                                           progress=progress)
    # attributes: how much closer each is to X than to Y
    sa, sb = associations(A, X, Y), associations(B, X, Y)
    items = tuple(
        SeatItem(role, cat, i, text, float(v))
        for role, cat, texts, values in (("X", test.categories[0], test.targ1, sx), ("Y", test.categories[1], test.targ2, sy),
                                         ("A", test.categories[2], test.attr1, sa), ("B", test.categories[3], test.attr2, sb))
        for i, (text, v) in enumerate(zip(texts, values))
    )
    return SeatResult(model_id, test.name, test.categories, effect_size(X, Y, A, B), p, exact, n_perm,
                      (len(X), len(Y), len(A), len(B)), items,
                      (config or {}) | {"n_samples": n_samples, "seed": seed})


def run_seat(handle: ModelHandle, test: SeatTest, *, n_samples: int = DEFAULT_SAMPLES, seed: int = 0,
         progress: ProgressFn | None = None, data_source: str = "") -> SeatResult:
    """Run one SEAT test on ``handle``'s sentence embeddings (mean pooling, as ``inference.embed``)."""
    for name, group in zip(("targ1", "targ2", "attr1", "attr2"), (test.targ1, test.targ2, test.attr1, test.attr2)):
        if len(group) < (2 if name.startswith("targ") else 1):
            raise InvalidInputError(f"SEAT test {test.name}: {name} needs at least "
                                    f"{2 if name.startswith('targ') else 1} examples")
    texts = list(test.targ1 + test.targ2 + test.attr1 + test.attr2)
    emb = embed(handle, texts)
    a, b, c = len(test.targ1), len(test.targ1) + len(test.targ2), len(test.targ1) + len(test.targ2) + len(test.attr1)
    config = {"probe": "seat", "model_id": handle.model_id, "revision": handle.revision, "test": test.name,
              "data": data_source, "embedding": "mean pooling of the last layer, L2-normalised"}
    return seat_from_embeddings(test, emb[:a], emb[a:b], emb[b:c], emb[c:], model_id=handle.model_id,
                                n_samples=n_samples, seed=seed, progress=progress, config=config)


def counterpart(result: SeatResult, item: SeatItem) -> SeatItem | None:
    """The item at the same index in the opposite set (X↔Y, A↔B): the counterfactual to compare it with."""
    other = {"X": "Y", "Y": "X", "A": "B", "B": "A"}[item.role]
    same = [i for i in result.items if i.role == other]
    return same[item.index % len(same)] if same else None


__all__ = ["SeatItem", "SeatResult", "associations", "counterpart", "effect_size", "permutation_p_value", "run_seat",
           "seat_from_embeddings"]
