"""Attribution on the real embedded MiniLM (similarity target): completeness of adaptive IG, every method."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from helpers import assert_never_worse, assert_no_hooks
from plm_core.attribution import METHODS, Target, attribute
from plm_core.errors import UnsupportedModelError

warnings.filterwarnings("ignore", message=".*required_grads.*")
TARGET = Target("similarity", other="A man is playing a guitar.")

pytestmark = pytest.mark.slow


PAGE_OTHER = Target("similarity", other="A tired dog lay on the rug.")  # the page's default second sentence


@pytest.mark.parametrize("text", ["the children were happy today", "The cat sat on the mat because it was tired."])
def test_issue_16_auto_never_worse_than_fixed_50(minilm, text):
    """Issue 16: at the page's defaults the old auto gave 6.22 % (children) and 0.136 % (cat) completeness error
    where fixed 50 steps gave 0.003 % and 0.000 %. Auto now stays within max(fixed-50's, 0.1 %), and its scores
    agree with a converged reference (Gauss–Legendre 300 = captum LIG-300) to 1 % of the largest |score|."""
    auto = attribute(minilm, text, target=PAGE_OTHER)
    fixed = attribute(minilm, text, target=PAGE_OTHER, n_steps=50)
    assert_never_worse(auto, fixed)
    ref = attribute(minilm, text, target=PAGE_OTHER, n_steps=300)
    assert np.abs(auto.scores - ref.scores).max() <= 0.01 * np.abs(ref.scores).max(), auto.params


@pytest.mark.parametrize("text,baseline", [
    ("A man plays music on stage.", "pad"),
    ("Students learn how language models make predictions.", "mask"),
    ("The weather today is cold and rainy, so we stayed inside and read books.", "zero"),
])
def test_adaptive_ig_completeness_within_1_percent(minilm, text, baseline):
    res = attribute(minilm, text, target=TARGET, baseline=baseline)
    assert res.delta_rel < 0.01, res.params
    assert abs(res.scores.sum() - (res.f_x - res.f_baseline)) == pytest.approx(res.delta_abs, abs=1e-6)
    # and it agrees with a fine plain Gauss-Legendre reference (128 steps) token by token
    ref = attribute(minilm, text, target=TARGET, baseline=baseline, n_steps=128)
    assert ref.delta_rel < 0.005
    scale = np.abs(ref.scores).max()
    assert np.abs(res.scores - ref.scores).max() < 0.1 * scale
    assert np.argmax(res.scores) == np.argmax(ref.scores)


def test_every_method_on_minilm_similarity(minilm):
    text = "a dog runs fast"
    seen = {}
    for method in METHODS:
        try:
            res = attribute(minilm, text, method, target=TARGET, n_samples=8)
        except UnsupportedModelError as err:
            assert method == "deeplift", err
            assert "DeepLift" in str(err) and "not available" in str(err) and "LayerNorm" in str(err)
            continue
        assert res.scores.shape == (6,) and np.isfinite(res.scores).all(), method
        assert res.f_x == pytest.approx(seen.setdefault("f_x", res.f_x), abs=1e-5)  # same target everywhere
        seen[method] = res
    assert len(seen) == len(METHODS)  # f_x + every method but DeepLift
    assert_no_hooks(minilm.model)
    # the word "dog" (closest to "man") should raise the similarity in IG: the target is cosine to "a man ..."
    ig = seen["integrated_gradients"]
    assert ig.scores.sum() == pytest.approx(ig.f_x - ig.f_baseline, rel=0.01)
