"""Uncertainty for the bias probes: intervals and tests from ``scipy.stats``, one row type for every estimate.

Every number a probe reports is an :class:`Estimate`: a point estimate with its confidence interval, the
interval's method, and (where one applies) a test's p-value. The Bias page draws them as error bars, the
comparison view puts several models' estimates side by side, and the summary CSV writes them one per row.

Methods (all two-sided, 95% by default):

- a share of pairs (CrowS-Pairs): Wilson score interval (Wilson 1927) and the exact binomial test against
  50% (``scipy.stats.binomtest``);
- a mean (BEC-Pro associations, template scores across templates): Student-t interval of the mean
  (``scipy.stats.t``), from the sample standard deviation (ddof=1);
- paired differences (BEC-Pro female vs male person words): Wilcoxon signed-rank test
  (``scipy.stats.wilcoxon``), as Bartl et al. (2020) test their associations;
- a statistic of several samples (SEAT effect size): bootstrap over each sample separately
  (``scipy.stats.bootstrap``, BCa; percentile where BCa is undefined);
- a mean of probabilities (masked-LM template scores): the t interval on the logit scale (delta method:
  ``logit(m) ± t · se / (m (1 − m))``, back-transformed; Korn & Graubard 1998, as Stata's ``proportion``), so
  the interval stays inside [0, 1] and is asymmetric near 0 and 1;
- two models on the same items: the exact McNemar test of paired decisions (CrowS-Pairs: the binomial test of
  the discordant pairs, ``scipy.stats.binomtest``; McNemar 1947) and the Wilcoxon signed-rank test of paired
  scores (``scipy.stats.wilcoxon``), each with the t interval of the mean paired difference.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy import stats as sps
from scipy.special import expit
from plm_core.i18n import msg

CONFIDENCE = 0.95
WILSON = msg("Wilson score")
T_MEAN = msg("t interval of the mean")
BINOMIAL = msg("exact binomial test vs 50%")
WILCOXON = msg("Wilcoxon signed-rank test")
T_LOGIT = msg("t interval of the mean on the logit scale")
MCNEMAR = msg("exact McNemar test")
T_DIFFERENCE = msg("t interval of the mean paired difference")


@dataclass(frozen=True)
class Estimate:
    """One reported number with its uncertainty (a row of every summary table and of the summary CSV)."""

    group_by: str  # what the rows were grouped by ("overall", "bias_type", a data column, ...)
    group: str  # the group's value ("gender", "all", ...)
    n: int  # observations behind the estimate (pairs, rows, templates, ...)
    estimate: float  # the number shown (a %, a mean, an effect size)
    ci_low: float  # NaN when there is no interval (n too small)
    ci_high: float
    confidence: float = CONFIDENCE
    interval: str = ""  # the interval's method
    p_value: float = float("nan")  # NaN when no test applies
    test: str = ""  # the test's name (and its null hypothesis)
    unit: str = ""  # what n counts
    p_bound: bool = False  # True: p_value is an upper bound (no resample reached the observed value)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class PairedTest:
    """A paired comparison of two groups: mean difference (a − b) with its t interval and a Wilcoxon test."""

    group: str  # the subset the pairs come from ("all", "female professions", ...)
    label_a: str
    label_b: str
    n_pairs: int
    mean_difference: float  # mean of a − b
    ci_low: float
    ci_high: float
    median_difference: float
    statistic: float  # Wilcoxon's W (the smaller rank sum, scipy's two-sided statistic)
    p_value: float
    confidence: float = CONFIDENCE
    test: str = WILCOXON

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def proportion_interval(k: int, n: int, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """Wilson score interval of the proportion ``k / n`` (as fractions, not %).

    Args:
        k: successes, ``0 <= k <= n``.
        n: trials; with ``n == 0`` the interval is (NaN, NaN).
        confidence: the interval's confidence level.

    Returns:
        (low, high) in [0, 1], from ``scipy.stats.binomtest(k, n).proportion_ci(method="wilson")``
        (Wilson 1927).

    Raises:
        ValueError: ``k`` outside ``0..n``.
    """
    if n == 0:
        return float("nan"), float("nan")
    if not 0 <= k <= n:
        raise ValueError(f"k = {k} successes out of n = {n} trials")
    ci = sps.binomtest(int(k), int(n)).proportion_ci(confidence_level=confidence, method="wilson")
    return float(ci.low), float(ci.high)


def binomial_p_value(k: int, n: int, p: float = 0.5) -> float:
    """Two-sided exact binomial test of ``k`` successes in ``n`` trials against probability ``p``
    (``scipy.stats.binomtest``); NaN with ``n == 0``."""
    if n == 0:
        return float("nan")
    return float(sps.binomtest(int(k), int(n), p, alternative="two-sided").pvalue)


def mean_interval(values: Sequence[float], confidence: float = CONFIDENCE) -> tuple[float, float]:
    """Student-t interval of the mean of ``values`` (sample std, ddof=1); (NaN, NaN) with fewer than 2
    values. A constant sample gives the zero-width interval (mean, mean)."""
    x = np.asarray(values, dtype=np.float64)
    if len(x) < 2:
        return float("nan"), float("nan")
    mean = float(x.mean())
    sem = float(x.std(ddof=1) / math.sqrt(len(x)))
    if sem == 0:
        return mean, mean
    low, high = sps.t.interval(confidence, len(x) - 1, loc=mean, scale=sem)
    return float(low), float(high)


def logit_mean_interval(values: Sequence[float], confidence: float = CONFIDENCE) -> tuple[float, float]:
    """Interval of the mean of probabilities ``values`` (each in [0, 1]) that stays inside [0, 1]: the Student-t
    interval built on the logit scale with the delta method (``logit(m) ± t · s / (√n · m (1 − m))``) and
    transformed back (Korn & Graubard 1998; Stata's ``proportion``). A t interval on the probabilities
    themselves went below 0 for a quarter of the occupation·target means of a published template set.

    Args:
        values: probabilities, shape [n].
        confidence: the interval's confidence level.

    Returns:
        (low, high) with ``0 <= low <= mean <= high <= 1``; (NaN, NaN) with fewer than 2 values; (m, m) for a
        constant sample or a mean of exactly 0 or 1.

    Raises:
        ValueError: a value outside [0, 1] (or NaN).
    """
    x = np.asarray(values, dtype=np.float64)
    if not np.all((x >= 0) & (x <= 1)):
        raise ValueError("probabilities must lie in [0, 1]")
    if len(x) < 2:
        return float("nan"), float("nan")
    mean = float(x.mean())
    sem = float(x.std(ddof=1) / math.sqrt(len(x)))
    if sem == 0 or mean <= 0 or mean >= 1:
        return mean, mean
    half = float(sps.t.ppf(0.5 + confidence / 2, len(x) - 1)) * sem / (mean * (1 - mean))
    centre = math.log(mean) - math.log1p(-mean)
    low, high = float(expit(centre - half)), float(expit(centre + half))
    return min(low, mean), max(high, mean)  # rounding can put a tiny interval a hair past its mean


def probability_mean_estimate(group_by: str, group: str, values: Sequence[float], *, unit: str = "rows",
                              confidence: float = CONFIDENCE) -> Estimate:
    """The mean of probabilities with its logit-scale t interval (inside [0, 1]; no test)."""
    x = np.asarray(values, dtype=np.float64)
    low, high = logit_mean_interval(x, confidence)
    return Estimate(group_by, group, len(x), float(x.mean()) if len(x) else float("nan"), low, high, confidence,
                    T_LOGIT, unit=unit)


def share_estimate(group_by: str, group: str, successes: int, n: int, *, unit: str = "pairs",
                   confidence: float = CONFIDENCE) -> Estimate:
    """A share in % with its Wilson interval and the exact binomial test against 50%."""
    low, high = proportion_interval(successes, n, confidence)
    return Estimate(group_by, group, n, 100.0 * successes / n if n else float("nan"), 100.0 * low, 100.0 * high,
                    confidence, WILSON, binomial_p_value(successes, n), BINOMIAL, unit)


def mean_estimate(group_by: str, group: str, values: Sequence[float], *, unit: str = "rows",
                  confidence: float = CONFIDENCE) -> Estimate:
    """The mean of ``values`` with its t interval (no test)."""
    x = np.asarray(values, dtype=np.float64)
    low, high = mean_interval(x, confidence)
    return Estimate(group_by, group, len(x), float(x.mean()) if len(x) else float("nan"), low, high, confidence,
                    T_MEAN, unit=unit)


def paired_test(group: str, a: Sequence[float], b: Sequence[float], *, label_a: str = "a", label_b: str = "b",
                confidence: float = CONFIDENCE) -> PairedTest:
    """Wilcoxon signed-rank test of the paired samples ``a`` and ``b`` (two-sided, scipy's defaults:
    zero differences dropped, exact distribution for small samples without ties), plus the mean difference
    a − b with its t interval. Fewer than 2 pairs give NaN statistics.

    Raises:
        ValueError: ``a`` and ``b`` differ in length.
    """
    x, y = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if x.shape != y.shape:
        raise ValueError(f"paired samples of different lengths: {len(x)} and {len(y)}")
    d = x - y
    low, high = mean_interval(d, confidence)
    if len(d) < 2 or not np.any(d != 0):
        stat, p = float("nan"), float("nan")
    else:
        res = sps.wilcoxon(x, y)
        stat, p = float(res.statistic), float(res.pvalue)
    return PairedTest(group, label_a, label_b, len(d), float(d.mean()) if len(d) else float("nan"), low, high,
                      float(np.median(d)) if len(d) else float("nan"), stat, p, confidence)


@dataclass(frozen=True)
class ModelComparison:
    """Two models on the same items: each model's estimate, their difference (a − b) with its interval, and a
    paired test (McNemar for decisions, Wilcoxon for scores)."""

    label_a: str
    label_b: str
    n_items: int  # items both models scored (matched by item)
    estimate_a: float  # % of decisions "yes" (decisions) or mean score (scores)
    estimate_b: float
    difference: float  # estimate_a − estimate_b (percentage points for decisions)
    ci_low: float
    ci_high: float
    statistic: float  # McNemar: the smaller discordant count; Wilcoxon: W
    p_value: float
    test: str
    interval: str = T_DIFFERENCE
    discordant: tuple[int, int] = (0, 0)  # decisions: (a yes & b no, a no & b yes)
    confidence: float = CONFIDENCE

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def mcnemar_test(a: Sequence[bool], b: Sequence[bool]) -> tuple[int, int, float]:
    """Exact McNemar test of paired binary decisions (McNemar 1947; exact form: the two-sided binomial test of
    the discordant pairs against 1/2, ``scipy.stats.binomtest``, as ``statsmodels``' ``mcnemar(exact=True)``).

    Args:
        a, b: one decision per item from each model, same length and item order.

    Returns:
        (n_ab, n_ba, p): items where only ``a`` says yes, where only ``b`` does, and the p-value (1.0 when no
        item is discordant).

    Raises:
        ValueError: ``a`` and ``b`` differ in length.
    """
    x, y = np.asarray(a, dtype=bool), np.asarray(b, dtype=bool)
    if x.shape != y.shape:
        raise ValueError(f"paired decisions of different lengths: {len(x)} and {len(y)}")
    n_ab, n_ba = int(np.sum(x & ~y)), int(np.sum(~x & y))
    if n_ab + n_ba == 0:
        return n_ab, n_ba, 1.0
    return n_ab, n_ba, float(sps.binomtest(min(n_ab, n_ba), n_ab + n_ba, 0.5).pvalue)


def compare_decisions(label_a: str, label_b: str, a: Sequence[bool], b: Sequence[bool], *,
                      confidence: float = CONFIDENCE) -> ModelComparison:
    """Two models' shares of "yes" decisions on the same items (in %), the difference with the t interval of
    the mean paired difference (per item: 1, 0 or −1), and the exact McNemar test."""
    x, y = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    n_ab, n_ba, p = mcnemar_test(a, b)
    low, high = mean_interval(x - y, confidence)
    nan = float("nan")
    return ModelComparison(label_a, label_b, len(x), 100 * float(x.mean()) if len(x) else nan,
                           100 * float(y.mean()) if len(y) else nan, 100 * float((x - y).mean()) if len(x) else nan,
                           100 * low, 100 * high, float(min(n_ab, n_ba)), p, MCNEMAR, discordant=(n_ab, n_ba),
                           confidence=confidence)


def compare_scores(label_a: str, label_b: str, a: Sequence[float], b: Sequence[float], *,
                   confidence: float = CONFIDENCE) -> ModelComparison:
    """Two models' mean scores on the same items, the mean paired difference with its t interval, and the
    Wilcoxon signed-rank test (:func:`paired_test`)."""
    t = paired_test("all", a, b, label_a=label_a, label_b=label_b, confidence=confidence)
    x, y = np.asarray(a, np.float64), np.asarray(b, np.float64)
    nan = float("nan")
    return ModelComparison(label_a, label_b, t.n_pairs, float(x.mean()) if len(x) else nan,
                           float(y.mean()) if len(y) else nan, t.mean_difference, t.ci_low, t.ci_high, t.statistic,
                           t.p_value, WILCOXON, confidence=confidence)


def bootstrap_interval(sizes: Sequence[int], statistic: Callable[..., float], *, n_resamples: int = 2000,
                       seed: int = 0, confidence: float = CONFIDENCE) -> tuple[float, float, str]:
    """Bootstrap interval of ``statistic(idx_1, ..., idx_k)``, resampling each of the k samples (of the given
    sizes) with replacement independently (``scipy.stats.bootstrap``, ``paired=False``).

    ``statistic`` receives one integer index array per sample, so samples may be rows of embedding matrices.
    BCa first; when BCa is undefined (a degenerate jackknife) the percentile interval; none (NaN) when a sample
    has fewer than two items.

    Returns:
        (low, high, method name).
    """
    if min(sizes, default=0) < 2:  # scipy resamples nothing from a sample of one (a SEAT attribute of one item)
        return float("nan"), float("nan"), msg("bootstrap (undefined: a sample of one)")
    data = tuple(np.arange(n) for n in sizes)

    def stat(*idx: np.ndarray) -> float:
        return float(statistic(*(np.asarray(i, dtype=np.intp) for i in idx)))

    for method in ("BCa", "percentile"):
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a degenerate BCa warns, then we fall back to percentile
            res = sps.bootstrap(data, stat, n_resamples=n_resamples, vectorized=False, paired=False,
                                confidence_level=confidence, method=method, rng=np.random.default_rng(seed))
        low, high = float(res.confidence_interval.low), float(res.confidence_interval.high)
        if np.isfinite(low) and np.isfinite(high):
            return low, high, msg("bootstrap {method} ({n_resamples:,} resamples, seed {seed})", method=method,
                                  n_resamples=n_resamples, seed=seed)
    return float("nan"), float("nan"), msg("bootstrap (undefined)")


def grouped(rows: Iterable[Any], key: Callable[[Any], str]) -> dict[str, list[Any]]:
    """Rows by ``key(row)``, groups sorted by name."""
    groups: dict[str, list[Any]] = {}
    for r in rows:
        groups.setdefault(str(key(r)), []).append(r)
    return dict(sorted(groups.items()))


def format_p(p: float, bound: bool = False) -> str:
    """``p = 0.0123`` / ``p < 1e-05`` (an upper bound: the resolution of the permutations), ``p = –`` for NaN."""
    if not np.isfinite(p):
        return "p = –"
    return f"p < {p:.3g}" if bound else f"p = {p:.3g}"


def format_estimate(e: Estimate, digits: int = 1, suffix: str = "") -> str:
    """``62.3% [55.1, 69.0]``: the estimate and its interval (no interval: the estimate alone)."""
    if not np.isfinite(e.estimate):
        return "–"
    text = f"{e.estimate:.{digits}f}{suffix}"
    if np.isfinite(e.ci_low) and np.isfinite(e.ci_high):
        text += f" [{e.ci_low:.{digits}f}, {e.ci_high:.{digits}f}]"
    return text


__all__ = ["BINOMIAL", "CONFIDENCE", "Estimate", "MCNEMAR", "ModelComparison", "PairedTest", "T_DIFFERENCE",
           "T_LOGIT", "T_MEAN", "WILCOXON", "WILSON", "binomial_p_value", "bootstrap_interval", "compare_decisions",
           "compare_scores", "format_estimate", "format_p", "grouped", "logit_mean_interval", "mcnemar_test",
           "mean_estimate", "mean_interval", "paired_test", "probability_mean_estimate", "proportion_interval",
           "share_estimate"]
