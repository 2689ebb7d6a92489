"""The adaptive IG quadrature on integrands with known integrals (pure NumPy, no model)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.polynomial import legendre

from plm_core.attribution.quadrature import (
    LEVELS,
    PROBE_INTERVALS,
    SinhMap,
    clenshaw_curtis,
    integrate_adaptive,
    locate_change,
)


@pytest.mark.parametrize("n", LEVELS)
def test_clenshaw_curtis_exact_to_degree_n_and_nested(n):
    t, w = clenshaw_curtis(n)
    for k in range(n + 1):
        exact = 2.0 / (k + 1) if k % 2 == 0 else 0.0
        assert w @ t**k == pytest.approx(exact, abs=1e-13), k
    assert t[0] == 1.0 and t[-1] == pytest.approx(-1.0)
    if 2 * n in (m for m in LEVELS):
        fine, _ = clenshaw_curtis(2 * n)
        np.testing.assert_allclose(fine[::2], t, atol=1e-15)  # refining reuses every node


@pytest.mark.parametrize("center,width", [(0.4, 0.05), (0.02, 0.03), (0.97, 0.1), (0.5, 0.5)])
def test_sinh_map_covers_the_path_once(center, width):
    t, w = clenshaw_curtis(64)
    alpha, jac = SinhMap(center, width)(t)
    assert alpha[-1] == pytest.approx(0.0, abs=1e-12) and alpha[0] == pytest.approx(1.0, abs=1e-12)
    assert np.all(np.diff(alpha) < 0) and np.all(jac > 0)  # t runs from +1 to -1
    assert w @ jac == pytest.approx(1.0, abs=1e-10)  # ∫ dα = 1
    if width < 0.5:  # nodes gather at the centre: more than a plain rule puts within ± width
        plain = np.abs((t + 1) / 2 - center) <= width
        assert (np.abs(alpha - center) <= width).sum() > plain.sum()


def _arctan_probe(center: float, width: float) -> np.ndarray:
    a = np.linspace(0, 1, PROBE_INTERVALS + 1)
    return np.arctan((a - center) / width)


@pytest.mark.parametrize("center", [0.1, 0.37, 0.5, 0.83])
def test_locate_change_finds_a_step(center):
    c, d = locate_change(_arctan_probe(center, 0.02))
    assert abs(c - center) <= 1.0 / PROBE_INTERVALS
    assert d < 0.15


@pytest.mark.parametrize("values", [np.linspace(0, 3, 17), np.zeros(17), np.full(17, 2.0)])
def test_locate_change_flat_or_linear_is_plain(values):
    assert locate_change(values) == (0.5, 0.5)


def _bumps(centers, widths, amps):
    """Vector integrand: token i is amps[i] / ((α − c)² + w²) (a Lorentzian bump), plus its exact integrals."""
    c, w, a = (np.asarray(v, float)[None, :] for v in (centers, widths, amps))

    def f(alpha):
        return a / ((np.asarray(alpha)[:, None] - c) ** 2 + w**2)

    exact = (a / w * (np.arctan((1 - c) / w) + np.arctan(c / w)))[0]
    grid = np.linspace(0, 1, PROBE_INTERVALS + 1)[:, None]
    probe = (a / w * (np.arctan((grid - c) / w) + np.arctan(c / w))).sum(1)  # F(α) − F(0), as f along the path
    return f, exact, probe


def test_sharp_bump_resolved_with_few_nodes():
    """A bump of width 0.03, where the 50-node Gauss–Legendre rule has 1e-3 error: adaptive gets 1e-5 with ≤ 33."""
    f, exact, probe = _bumps([0.4, 0.42], [0.03, 0.05], [1.0, -0.5])
    res = integrate_adaptive(f, float(exact.sum()), probe, tolerance=1e-4, token_tolerance=1e-3)
    assert res.met and res.nodes <= 33
    np.testing.assert_allclose(res.scores, exact, rtol=1e-5)
    assert res.completeness_error == pytest.approx(abs(res.scores.sum() - exact.sum()), abs=1e-12)
    x, w = legendre.leggauss(50)
    gl50 = (w / 2) @ f((x + 1) / 2)
    assert np.abs(gl50 - exact).max() > 10 * np.abs(res.scores - exact).max()


def test_smooth_integrand_stops_at_nine_nodes():
    def f(a):
        return np.stack([np.cos(a), 1 + a**2], 1)

    exact = np.array([np.sin(1.0), 4 / 3])
    probe = np.sin(np.linspace(0, 1, 17)) + np.linspace(0, 1, 17) + np.linspace(0, 1, 17) ** 3 / 3
    res = integrate_adaptive(f, float(exact.sum()), probe, tolerance=1e-6, token_tolerance=1e-6)
    assert res.met and res.nodes == 9 and res.tries == 1
    np.testing.assert_allclose(res.scores, exact, rtol=1e-9)


def test_unresolvable_within_budget_says_so():
    """Width 1e-4 between probe points: not met within 33 nodes; the result says so and what it used."""
    f, exact, probe = _bumps([0.5001], [1e-4], [1.0])
    res = integrate_adaptive(f, float(exact.sum()), probe, tolerance=1e-3, token_tolerance=1e-2, max_nodes=33)
    assert not res.met and res.nodes == 33 and res.level == 33
    assert [h[0] for h in res.history] == [n + 1 for n in LEVELS if res.history[0][0] <= n + 1 <= 33]
    with pytest.raises(ValueError, match="at least 9"):
        integrate_adaptive(f, 1.0, probe, tolerance=1e-3, token_tolerance=1e-2, max_nodes=8)


@settings(max_examples=60, deadline=None, derandomize=True, database=None)
@given(center=st.floats(0.0, 1.0), width=st.floats(0.02, 0.5), amp=st.floats(-3, 3).filter(lambda a: abs(a) > 0.1),
       tolerance=st.sampled_from([1e-2, 1e-3, 1e-4]))
def test_property_met_means_within_tolerance(center, width, amp, tolerance):
    """Whatever the bump, a result that says ``met`` is within the tolerances it was given (true errors)."""
    f, exact, probe = _bumps([center, min(center + 0.1, 1.0)], [width, 2 * width], [amp, 1.0])
    res = integrate_adaptive(f, float(exact.sum()), probe, tolerance=tolerance, token_tolerance=tolerance)
    assert res.completeness_error == pytest.approx(abs(res.scores.sum() - exact.sum()), rel=1e-9, abs=1e-12)
    if res.met:
        assert abs(res.scores.sum() - exact.sum()) <= tolerance * abs(exact.sum()) + 1e-6 * np.abs(res.scores).sum()
        assert np.abs(res.scores - exact).max() <= tolerance * np.abs(exact).max()
