"""SEAT (May et al., NAACL 2019): the WEAT effect size and permutation test on sentence embeddings.

For targets X, Y and attributes A, B (cosine similarity of L2-normalised embeddings):
  s(w, A, B) = mean_a cos(w, a) - mean_b cos(w, b)
  effect size d = (mean_{x∈X} s(x) - mean_{y∈Y} s(y)) / std_{w∈X∪Y} s(w)   (sample std, ddof=1, as sent-bias)
  p = share of equal-size re-partitions (Xi, Yi) of X∪Y with sum s(Xi) - sum s(Yi) >= the observed value
      (one-sided; ties count, as in sent-bias). Exact when there are at most ``n_samples`` partitions;
      otherwise ``n_samples`` random ones with a seed, counting the observed partition once. When no sampled
      partition reaches the observed value, p is only known to be below 1/n_samples: it is reported as
      ``p < 1/n_samples`` (``p_bound``), never as an exact number.
  Interval of d: bootstrap (``scipy.stats.bootstrap``, BCa), resampling X, Y, A and B each with replacement.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np

from plm_core.bias import stats
from plm_core.bias.common import CAVEATS, ProgressFn, report, result_to_json, rows_to_csv, table_to_csv
from plm_core.bias.datasets import SeatTest
from plm_core.errors import InvalidInputError, excerpt
from plm_core.inference import embed
from plm_core.handle import ModelHandle
from plm_core.i18n import msg

DEFAULT_SAMPLES = 100_000  # sent-bias's default
DEFAULT_BOOTSTRAP = 2000  # resamples for the effect size's interval


class PermutationTest(NamedTuple):
    p_value: float
    exact: bool  # every partition enumerated
    n_permutations: int
    bound: bool  # sampled, and no partition but the observed one reached it: p_value = 1/n is an upper bound


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
    p_bound: bool = False  # p_value is an upper bound (1/n_permutations): no sampled partition reached d
    effect_size_ci: tuple[float, float] = (float("nan"), float("nan"))
    ci_method: str = ""

    @property
    def p_text(self) -> str:
        """``p = 0.0123`` or ``p < 1e-05`` (below the resolution of the sampled permutations)."""
        return stats.format_p(self.p_value, self.p_bound)

    def estimates(self, column: str | None = None) -> list[stats.Estimate]:
        """The effect size with its bootstrap interval and the permutation test's p (one row)."""
        return [stats.Estimate("test", self.test, sum(self.sizes[:2]), self.effect_size, *self.effect_size_ci,
                               interval=self.ci_method,
                               p_value=self.p_value,
                               test=(msg("permutation test, one-sided ({n:,} partitions, exact)", n=self.n_permutations)
                                     if self.exact else msg("permutation test, one-sided ({n:,} sampled partitions)",
                                                            n=self.n_permutations)),
                               unit="target items", p_bound=self.p_bound)]

    def columns(self) -> list[str]:
        return []

    def summary(self) -> dict[str, Any]:
        return {"test": self.test, "categories": list(self.categories), "effect_size": self.effect_size,
                "effect_size_ci": list(self.effect_size_ci), "ci_method": self.ci_method,
                "p_value": self.p_value, "p_value_is_upper_bound": self.p_bound, "p_text": self.p_text,
                "exact": self.exact, "n_permutations": self.n_permutations, "sizes": list(self.sizes)}

    def to_csv(self) -> str:
        return rows_to_csv(self.items, self.config)

    def summary_csv(self, column: str | None = None) -> str:
        return table_to_csv((e.as_dict() for e in self.estimates()), self.config)

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
                        progress: ProgressFn | None = None) -> PermutationTest:
    """One-sided p of the statistic sum s(Xi) - sum s(Yi) over partitions of ``s_xy`` (first ``n_x`` = X).

    Returns (p, exact, number of partitions evaluated, bound): ``bound`` is True when the partitions were
    sampled and none but the observed one reached the observed value, so p = 1/n is only an upper bound.
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
        return PermutationTest(hits / count, True, count, False)
    rng = np.random.default_rng(seed)
    hits, count = 1, 1  # the observed partition, as sent-bias does
    while count < n_samples:
        m = min(10_000, n_samples - count)
        perms = rng.permuted(np.broadcast_to(np.arange(n), (m, n)), axis=1)
        stats = 2 * s_xy[perms[:, :n_x]].sum(1) - total
        hits += int((stats >= observed - tol).sum())
        count += m
        report(progress, count, n_samples)
    return PermutationTest(hits / count, False, count, hits == 1)


def _chunks(iterable, size):
    while True:
        block = list(itertools.islice(iterable, size))
        if not block:
            return
        yield block


def effect_size_interval(X: np.ndarray, Y: np.ndarray, A: np.ndarray, B: np.ndarray, *,
                         n_resamples: int = DEFAULT_BOOTSTRAP, seed: int = 0,
                         confidence: float = stats.CONFIDENCE) -> tuple[float, float, str]:
    """Bootstrap interval of the effect size, resampling X, Y, A and B independently with replacement
    (``scipy.stats.bootstrap``, BCa, falling back to percentile). Returns (low, high, method);
    ``n_resamples=0`` gives no interval (NaN, NaN, "")."""
    if n_resamples <= 0:
        return float("nan"), float("nan"), ""
    c = {k: np.asarray(u @ v.T, np.float64) for k, (u, v) in
         {"xa": (X, A), "xb": (X, B), "ya": (Y, A), "yb": (Y, B)}.items()}

    def d(ix, iy, ia, ib):
        sx = c["xa"][np.ix_(ix, ia)].mean(1) - c["xb"][np.ix_(ix, ib)].mean(1)
        sy = c["ya"][np.ix_(iy, ia)].mean(1) - c["yb"][np.ix_(iy, ib)].mean(1)
        std = np.std(np.concatenate([sx, sy]), ddof=1)
        return (sx.mean() - sy.mean()) / std if std > 0 else 0.0

    return stats.bootstrap_interval((len(X), len(Y), len(A), len(B)), d, n_resamples=n_resamples, seed=seed,
                                    confidence=confidence)


def seat_from_embeddings(test: SeatTest, X: np.ndarray, Y: np.ndarray, A: np.ndarray, B: np.ndarray, *,
                         model_id: str = "", n_samples: int = DEFAULT_SAMPLES, seed: int = 0,
                         n_bootstrap: int = DEFAULT_BOOTSTRAP, progress: ProgressFn | None = None,
                         config: dict[str, Any] | None = None) -> SeatResult:
    sx, sy = associations(X, A, B), associations(Y, A, B)
    p, exact, n_perm, bound = permutation_p_value(np.concatenate([sx, sy]), len(sx), n_samples=n_samples,
                                                  seed=seed, progress=progress)
    low, high, method = effect_size_interval(X, Y, A, B, n_resamples=n_bootstrap, seed=seed)
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
                      (config or {}) | {"n_samples": n_samples, "seed": seed, "sample_seed": seed,
                                        "n_bootstrap": n_bootstrap},
                      p_bound=bound, effect_size_ci=(low, high), ci_method=method)


def check_whole(handle: ModelHandle, name: str, texts: list[str]) -> None:
    """Refuse a SEAT test with a sentence longer than the model's limit: the effect size pools every sentence of
    the four sets, so a cut one cannot be left out of it, and it is never counted silently.

    Raises:
        InvalidInputError: how many sentences are too long, the first of them and its length.
    """
    with handle.lock:  # the tokenizer is shared
        lengths = [len(handle.tokenizer(t, truncation=False, verbose=False)["input_ids"]) for t in texts]
    over = [(t, n) for t, n in zip(texts, lengths) if n > handle.max_tokens]
    if over:
        raise InvalidInputError(msg("SEAT test {name}: {n} sentence(s) are longer than this model's limit of {limit} "
                                    "tokens (the first, {sentence}, has {n_tokens}); the effect size pools every "
                                    "sentence, so none is cut: shorten them",
                                    name=excerpt(name), n=len(over), limit=handle.max_tokens,
                                    sentence=excerpt(over[0][0]), n_tokens=over[0][1]))


def run_seat(handle: ModelHandle, test: SeatTest, *, n_samples: int = DEFAULT_SAMPLES, seed: int = 0,
             n_bootstrap: int = DEFAULT_BOOTSTRAP, progress: ProgressFn | None = None, data_source: str = "",
             data_sha256: str = "") -> SeatResult:
    """Run one SEAT test on ``handle``'s sentence embeddings (mean pooling, as ``inference.embed``)."""
    for name, group in zip(("targ1", "targ2", "attr1", "attr2"), (test.targ1, test.targ2, test.attr1, test.attr2)):
        if len(group) < (2 if name.startswith("targ") else 1):
            raise InvalidInputError(msg('SEAT test {name}: {name2} needs at least {value} examples', name=test.name, name2=name, value=2 if name.startswith('targ') else 1))
    texts = list(test.targ1 + test.targ2 + test.attr1 + test.attr2)
    check_whole(handle, test.name, texts)
    emb = embed(handle, texts)
    a, b, c = len(test.targ1), len(test.targ1) + len(test.targ2), len(test.targ1) + len(test.targ2) + len(test.attr1)
    config = {"probe": "seat", "model_id": handle.model_id, "revision": handle.revision, "test": test.name,
              "data": data_source, "data_sha256": data_sha256,
              "embedding": "mean pooling of the last layer, L2-normalised"}
    return seat_from_embeddings(test, emb[:a], emb[a:b], emb[b:c], emb[c:], model_id=handle.model_id,
                                n_samples=n_samples, seed=seed, n_bootstrap=n_bootstrap, progress=progress,
                                config=config)


def counterpart(result: SeatResult, item: SeatItem) -> SeatItem | None:
    """The item at the same index in the opposite set (X↔Y, A↔B): the counterfactual to compare it with."""
    other = {"X": "Y", "Y": "X", "A": "B", "B": "A"}[item.role]
    same = [i for i in result.items if i.role == other]
    return same[item.index % len(same)] if same else None


__all__ = ["PermutationTest", "SeatItem", "SeatResult", "associations", "counterpart", "effect_size",
           "effect_size_interval", "permutation_p_value", "run_seat", "seat_from_embeddings"]
