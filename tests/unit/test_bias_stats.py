"""Intervals and tests of the bias probes against scipy.stats called directly and against the textbook formulas
(hand-made counts and scores), and seeded stratified sampling."""

from __future__ import annotations

import json
import math
from collections import Counter

import numpy as np
import pytest
import scipy.stats

from plm_core.bias import stats
from plm_core.bias.bec_pro import BecProResult, BecProScore
from plm_core.bias.crows_pairs import CrowsPairRow, CrowsPairsResult, summarize
from plm_core.bias.datasets import BecProRow, CrowsPair, SeatTest
from plm_core.bias.sampling import allocate, sample_items
from plm_core.bias.seat import effect_size, effect_size_interval, seat_from_embeddings
from plm_core.bias.templates import TemplateResult, TemplateRow, TemplateSet

COUNTS = [(0, 10), (3, 10), (7, 20), (15, 24), (24, 24), (1, 1), (0, 1), (52, 100), (809, 1508)]
Z = scipy.stats.norm.ppf(0.975)


def wilson_by_hand(k: int, n: int, z: float = Z) -> tuple[float, float]:
    """Wilson (1927): (p + z²/2n ± z √(p(1−p)/n + z²/4n²)) / (1 + z²/n)."""
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return centre - half, centre + half


def binomial_p_by_hand(k: int, n: int) -> float:
    """Two-sided exact test at p = 0.5: the total probability of outcomes no more likely than k."""
    pmf = [math.comb(n, i) / 2**n for i in range(n + 1)]
    return min(1.0, sum(q for q in pmf if q <= pmf[k] * (1 + 1e-7)))


@pytest.mark.parametrize("k, n", COUNTS)
def test_wilson_interval_equals_scipy_and_the_formula(k, n):
    low, high = stats.proportion_interval(k, n)
    ref = scipy.stats.binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
    assert (low, high) == pytest.approx((ref.low, ref.high), abs=1e-12)
    assert (low, high) == pytest.approx(wilson_by_hand(k, n), abs=1e-9)


@pytest.mark.parametrize("k, n", COUNTS)
def test_binomial_test_equals_scipy_and_the_formula(k, n):
    p = stats.binomial_p_value(k, n)
    assert p == pytest.approx(scipy.stats.binomtest(k, n, 0.5).pvalue, abs=1e-12)
    assert p == pytest.approx(binomial_p_by_hand(k, n), rel=1e-9)


def test_no_pairs_give_nan_not_an_error():
    assert all(math.isnan(v) for v in stats.proportion_interval(0, 0))
    assert math.isnan(stats.binomial_p_value(0, 0))
    with pytest.raises(ValueError, match="k = 5 successes out of n = 3"):
        stats.proportion_interval(5, 3)


def _crows_rows(outcomes):
    return [CrowsPairRow(i, t, d, "m", "l", 0.0, 0.0, 3, hi, False)
            for i, (t, d, hi) in enumerate(outcomes)]


def test_crows_summary_and_estimates_carry_wilson_and_binomial_per_group():
    outcomes = [("gender", "stereo", True)] * 15 + [("gender", "antistereo", False)] * 9 + \
               [("age", "stereo", True)] * 3 + [("age", "stereo", False)] * 12
    result = CrowsPairsResult("m", tuple(_crows_rows(outcomes)), {}, 39)
    s = summarize(result.rows)
    assert s["metric"] == pytest.approx(100 * 18 / 39)
    assert (s["ci_low"], s["ci_high"]) == pytest.approx(tuple(100 * v for v in wilson_by_hand(18, 39)))
    assert s["p_value"] == pytest.approx(binomial_p_by_hand(18, 39))
    gender = result.by_bias_type()["gender"]
    assert (gender["ci_low"], gender["ci_high"]) == pytest.approx(tuple(100 * v for v in wilson_by_hand(15, 24)))
    assert (gender["stereo_ci_low"], gender["stereo_ci_high"]) == pytest.approx(
        tuple(100 * v for v in wilson_by_hand(15, 15)))
    est = {e.group: e for e in result.estimates("bias_type")}
    assert set(est) == {"all", "age", "gender"}
    assert est["age"].p_value == pytest.approx(scipy.stats.binomtest(3, 15).pvalue)
    assert est["age"].interval == stats.WILSON and est["all"].unit == "pairs"


def test_t_interval_of_a_mean_by_hand():
    x = [0.3, -0.1, 0.25, 0.7, 0.05, 0.4]
    m, s = np.mean(x), np.std(x, ddof=1)
    half = scipy.stats.t.ppf(0.975, len(x) - 1) * s / math.sqrt(len(x))
    assert stats.mean_interval(x) == pytest.approx((m - half, m + half), abs=1e-12)
    assert all(math.isnan(v) for v in stats.mean_interval([1.0]))
    assert stats.mean_interval([2.0, 2.0, 2.0]) == (2.0, 2.0)


def _bec(index, gender, person, rank, prof_gender, association, template="t", profession="nurse"):
    return BecProScore(index, "s", template, person, gender, profession, prof_gender, 0.1, 0.1, association, rank)


def test_bec_pro_wilcoxon_pairs_counterparts_and_equals_scipy():
    rng = np.random.default_rng(4)
    rows, female, male, by_group = [], [], [], {}
    k = 0
    for prof_gender, shift in (("female", 0.4), ("male", -0.3)):
        for profession in ("p1", "p2", "p3", "p4"):
            for template in ("t1", "t2"):
                for rank, (he, she) in enumerate((("he", "she"), ("man", "woman"))):
                    a_f, a_m = shift + rng.normal(0, 0.3), rng.normal(0, 0.3)
                    rows += [_bec(k, "female", she, rank, prof_gender, a_f, template, profession),
                             _bec(k + 1, "male", he, rank, prof_gender, a_m, template, profession)]
                    female.append(a_f)
                    male.append(a_m)
                    by_group.setdefault(prof_gender, ([], []))
                    by_group[prof_gender][0].append(a_f)
                    by_group[prof_gender][1].append(a_m)
                    k += 2
    rows.append(_bec(k, "female", "aunt", 5, "male", 9.0))  # no counterpart (its "uncle" was skipped): left out
    rng.shuffle(rows)  # pairing does not depend on the order
    result = BecProResult("m", tuple(rows))
    tests = {t.group: t for t in result.gender_tests()}
    assert set(tests) == {"all", "female professions", "male professions"}
    ref = scipy.stats.wilcoxon(female, male)
    assert tests["all"].n_pairs == 32 and (tests["all"].label_a, tests["all"].label_b) == ("female", "male")
    assert tests["all"].statistic == pytest.approx(ref.statistic) and tests["all"].p_value == pytest.approx(ref.pvalue)
    d = np.array(female) - np.array(male)
    assert tests["all"].mean_difference == pytest.approx(d.mean())
    # W by hand: the smaller of the signed rank sums
    ranks = scipy.stats.rankdata(np.abs(d))
    assert tests["all"].statistic == pytest.approx(min(ranks[d > 0].sum(), ranks[d < 0].sum()))
    f, m = by_group["female"]
    assert tests["female professions"].p_value == pytest.approx(scipy.stats.wilcoxon(f, m).pvalue)
    # group means carry t intervals
    est = {e.group: e for e in result.estimates()}
    grp = [r.association for r in rows if r.gender == "female" and r.prof_gender == "female"]
    assert (est["female person / female profession"].ci_low, est["female person / female profession"].ci_high) == \
        pytest.approx(stats.mean_interval(grp))


def _unit(v):
    v = np.asarray(v, np.float64)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def test_seat_effect_size_bootstrap_interval_equals_scipy_bootstrap_of_the_formula():
    rng = np.random.default_rng(0)
    X, Y = _unit(rng.normal(0.3, 1, (8, 5))), _unit(rng.normal(-0.3, 1, (8, 5)))
    A, B = _unit(rng.normal(0.5, 1, (4, 5))), _unit(rng.normal(-0.5, 1, (4, 5)))

    def d_by_hand(ix, iy, ia, ib):  # the WEAT effect size, with loops, on resampled rows
        def s(w):
            return np.mean([w @ A[a] for a in ia]) - np.mean([w @ B[b] for b in ib])
        sx, sy = [s(X[i]) for i in ix], [s(Y[i]) for i in iy]
        sd = np.std(sx + sy, ddof=1)
        return (np.mean(sx) - np.mean(sy)) / sd if sd > 0 else 0.0

    ref = scipy.stats.bootstrap(tuple(np.arange(n) for n in (8, 8, 4, 4)),
                                lambda *i: d_by_hand(*(np.asarray(j, int) for j in i)), n_resamples=300,
                                vectorized=False, rng=np.random.default_rng(7))
    low, high, method = effect_size_interval(X, Y, A, B, n_resamples=300, seed=7)
    assert (low, high) == pytest.approx((ref.confidence_interval.low, ref.confidence_interval.high), abs=1e-9)
    assert method.startswith("bootstrap BCa") and low < effect_size(X, Y, A, B) < high


def test_seat_p_below_resolution_is_reported_as_a_bound():
    X = _unit([[1, 0.1 * i, 0] for i in range(8)])
    Y = _unit([[0.1 * i, 1, 0] for i in range(8)])
    A, B = _unit([[1, 0, 0], [0.9, 0.1, 0]]), _unit([[0, 1, 0], [0.1, 0.9, 0]])
    test = SeatTest("sep", *(tuple(f"{r}{i}" for i in range(n)) for r, n in (("x", 8), ("y", 8), ("a", 2), ("b", 2))),
                    categories=("X", "Y", "A", "B"))
    sampled = seat_from_embeddings(test, X, Y, A, B, n_samples=5000, n_bootstrap=200)  # C(16, 8) = 12870 > 5000
    assert not sampled.exact and sampled.p_bound and sampled.p_value == pytest.approx(1 / 5000)
    assert sampled.p_text == "p < 0.0002"
    summary = json.loads(sampled.to_json())["summary"]
    assert summary["p_value_is_upper_bound"] and summary["p_text"] == "p < 0.0002"
    est = sampled.estimates()[0]
    assert est.p_bound and est.ci_low < est.estimate < est.ci_high
    exact = seat_from_embeddings(test, X, Y, A, B, n_samples=20_000, n_bootstrap=200)  # all 12870 partitions
    assert exact.exact and not exact.p_bound and exact.p_text == f"p = {1 / 12870:.3g}"


def test_template_means_have_t_intervals_across_templates():
    scores = {0: [0.1, 0.3], 1: [0.2, 0.6], 2: [0.5, 0.7]}  # template -> scores of "nurse"/"he" (two names each)
    rows = tuple(TemplateRow(t, f"t{t}", (("JOB", "nurse"), ("NAME", n)), "nurse", "s", "he", v)
                 for t, vs in scores.items() for n, v in zip(("a", "b"), vs))
    # cosine similarities (an encoder): the t interval on the scores themselves
    result = TemplateResult("m", "encoder", "cos", TemplateSet("s", ("t0", "t1", "t2"), (("JOB", ("nurse",)),), ("he",)),
                            rows)
    (row,) = result.summary_table()
    means = [np.mean(v) for v in scores.values()]
    half = scipy.stats.t.ppf(0.975, 2) * np.std(means, ddof=1) / math.sqrt(3)
    assert row["mean"] == pytest.approx(np.mean(means)) and row["n_units"] == 3 and row["unit"] == "templates"
    assert (row["ci_low"], row["ci_high"]) == pytest.approx((np.mean(means) - half, np.mean(means) + half))
    by_name = {e.group: e for e in result.estimates("NAME")}
    assert set(by_name) == {"a · he", "b · he"} and by_name["a · he"].estimate == pytest.approx(np.mean([0.1, 0.2, 0.5]))


# ---- sampling -----------------------------------------------------------------------------------------

def test_allocate_is_proportional_by_largest_remainder():
    assert allocate([50, 30, 20], 10) == [5, 3, 2]
    assert allocate([1, 1, 1], 2) == [1, 1, 0]
    got = allocate([700, 200, 100, 8], 101)
    assert sum(got) == 101 and all(abs(g - s * 101 / 1008) < 1 for g, s in zip(got, [700, 200, 100, 8]))
    assert allocate([3, 2], 99) == [3, 2]


def test_stratified_sample_keeps_group_proportions_and_is_seeded():
    groups = ["a"] * 600 + ["b"] * 300 + ["c"] * 90 + ["d"] * 10  # sorted by group, like the data files
    items = [CrowsPair(i, "x", "y", "stereo", g) for i, g in enumerate(groups)]
    sample = sample_items(items, 100, seed=3, strata=lambda p: p.bias_type)
    assert len(sample) == 100 and len({p.index for p in sample}) == 100
    assert Counter(p.bias_type for p in sample) == {"a": 60, "b": 30, "c": 9, "d": 1}
    assert sample == sample_items(items, 100, seed=3, strata=lambda p: p.bias_type)  # the seed fixes it
    assert sample != sample_items(items, 100, seed=4, strata=lambda p: p.bias_type)
    assert [p.index for p in items[:100]] != sorted(p.index for p in sample)  # not the first N
    everything = sample_items(items, None, seed=1)
    assert sorted(p.index for p in everything) == list(range(1000))


def test_units_are_drawn_whole():
    rows = [BecProRow(i, "s", "tm", "tam", f"t{i // 36}", "p", g, f"job{(i // 2) % 18}", pg, (), 0)
            for i, (g, pg) in enumerate((g, pg) for pg in ("female", "male", "balanced") for _ in range(36)
                                        for g in ("female", "male"))]
    sample = sample_items(rows, 40, seed=0, strata=lambda r: r.prof_gender,
                          units=lambda r: (r.template, r.prof_gender, r.profession, r.person_rank))
    keys = Counter((r.template, r.prof_gender, r.profession, r.person_rank) for r in sample)
    assert len(sample) == 40 and set(keys.values()) == {2}


def test_bec_pro_first_rows_are_one_group_but_the_sample_is_stratified(shared_data):
    from plm_core.bias.bec_pro import pair_key, select_rows
    from plm_core.bias.datasets import load_bec_pro

    rows = load_bec_pro(shared_data / "bec_pro" / "BEC-Pro_EN.tsv")
    assert {r.prof_gender for r in rows[:200]} == {"male"}  # the case: "first 200" measures one group
    sample = select_rows(rows, None, 200, seed=0)
    counts = Counter((r.prof_gender, r.gender) for r in sample)
    assert len(sample) == 200 and all(32 <= c <= 34 for c in counts.values()) and len(counts) == 6
    # every sampled row has its other-gender counterpart: He/She, man/woman, ... by rank
    keys = Counter(pair_key(r) for r in sample)
    assert set(keys.values()) == {2}
    pairs = {r.person: r.person_rank for r in rows}
    assert [p for p, k in sorted(pairs.items(), key=lambda x: (x[1], x[0])) if k == 0] == ["He", "She"]
    by_rank = {}
    for r in rows:
        by_rank.setdefault(r.person_rank, set()).add(r.person.lower())
    assert by_rank[1] == {"man", "woman"} and by_rank[8] == {"dad", "mom"}


def test_crows_pairs_sample_of_the_public_file_keeps_bias_type_shares(shared_data):
    from plm_core.bias.crows_pairs import select_pairs
    from plm_core.bias.datasets import load_crows_pairs

    pairs = load_crows_pairs(shared_data / "crows_pairs" / "crows_pairs_anonymized.csv")
    total = Counter(p.bias_type for p in pairs)
    sample = select_pairs(pairs, None, 200, seed=11)
    got = Counter(p.bias_type for p in sample)
    assert len(sample) == 200
    for t, n in total.items():
        assert abs(got[t] - 200 * n / len(pairs)) < 1
