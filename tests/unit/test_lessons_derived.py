"""The numbers the lesson views derive (moved from ui/lessons.py into plm_core.lessons.compute), each against an
independent computation (scipy, scikit-learn, NumPy written out)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from scipy.stats import entropy, spearmanr
from sklearn.metrics.pairwise import cosine_similarity

from plm_core.lessons import compute
from plm_core.neuron_view import neuron_view

TEXT = "the cat sat on the mat because it was tired"


def test_head_entropy_is_the_mean_row_entropy(tiny_mlm):
    s = compute.attention_steps(tiny_mlm, TEXT, 1)
    expected = [np.mean([entropy(row.astype(np.float64)) for row in head]) for head in s.probs]
    np.testing.assert_allclose(compute.head_entropy(s.probs), expected, atol=1e-5)


def test_rank_agreement_is_spearman_over_word_tokens():
    rng = np.random.default_rng(0)
    base, other = rng.random(9), rng.random(9)
    other[3] = other[5]  # a tie: average ranks
    special = (True, *[False] * 7, True)
    got = compute.rank_agreement(base, {"x": other}, special)
    assert got["x"] == pytest.approx(spearmanr(base[1:8], other[1:8]).statistic, abs=1e-12)
    assert np.isnan(compute.rank_agreement(base, {"x": other}, (True,) * 8 + (False,))["x"])  # one word token


def test_relative_importance_scales_each_series_to_max_one():
    got = compute.relative_importance({"a": np.array([-2.0, 1.0, 0.5]), "zero": np.zeros(3)})
    np.testing.assert_allclose(got["a"], [1.0, 0.5, 0.25])
    np.testing.assert_array_equal(got["zero"], np.zeros(3))


def test_position_neighbours_against_sklearn_cosines(tiny_mlm):
    res = compute.token_embeddings(tiny_mlm, TEXT)
    sim = cosine_similarity(res.position.astype(np.float64))
    n = len(sim)
    near = np.mean([sim[i, i + 1] for i in range(n - 1)])
    far = np.mean([sim[i, j] for i in range(n) for j in range(i + max(3, n // 2), n)])
    assert res.position_neighbours() == pytest.approx((near, far), abs=1e-5)
    one = dataclasses.replace(res, position=res.position[:1])
    assert all(np.isnan(v) for v in one.position_neighbours())


def test_query_key_and_score_diff_of_the_steps(tiny_handles):
    for kind in ("masked_lm", "causal_lm"):
        s = compute.attention_steps(tiny_handles[kind], TEXT, 0)
        for h in range(s.n_heads):
            qk = s.query_key(h)
            np.testing.assert_array_equal(qk.scores, s.scores[h])
            assert s.head_probs_diff(h) == pytest.approx(float(np.max(np.abs(s.probs[h] - s.model_probs[h]))))
            for query in (0, len(s.encoding) - 1):
                nv = neuron_view(qk, query)
                vis = np.isfinite(s.scores[h][query])  # the keys the model's mask leaves
                by_hand = (s.queries[h][query].astype(np.float64) @ s.keys[h].T.astype(np.float64)) * s.scale
                assert nv.score_diff(s.scores[h][query]) < 1e-5
                assert float(np.max(np.abs(by_hand[vis] - s.scores[h][query][vis]))) < 1e-5


def test_with_final_mask():
    assert compute.with_final_mask("The cat sat ", "[MASK]", True) == "The cat sat [MASK]."
    assert compute.with_final_mask("The [MASK] sat", "[MASK]", True) == "The [MASK] sat"
    assert compute.with_final_mask("The cat sat", "[MASK]", False) == "The cat sat"
    assert compute.with_final_mask("The cat sat", None, True) == "The cat sat"


def test_residual_parts_and_halves_add_up_to_the_models_logit(tiny_gpt2):
    from plm_core.contributions import contributions

    res = contributions(tiny_gpt2, TEXT)
    p = compute.residual_parts(res)
    assert p.embeddings + p.heads + p.attention_bias + p.ffn + p.constant == pytest.approx(p.total, abs=1e-4)
    assert abs(p.difference) <= 1e-4 * (1 + abs(p.value))
    attention, ffn = compute.layer_halves(res)
    assert attention.shape == ffn.shape == (res.n_layers,)
    assert float(attention.sum()) == pytest.approx(p.heads + p.attention_bias, abs=1e-4)
    assert float(ffn.sum()) == pytest.approx(p.ffn, abs=1e-4)


def test_the_bias_features_probe_folds_into_the_lessons_matrix(tiny_mlm):
    """plm_core.bias's template probe, folded: score(he) − score(she) per template and occupation."""
    from plm_core.bias import probe_templates

    words = ("nurse", "engineer")
    tset = compute.lesson_template_set(words)
    result = probe_templates(tiny_mlm, tset)
    folded = compute.fold_template_probe(tiny_mlm.model_id, result, words)
    assert folded.templates == tset.templates and folded.scores.shape == (len(tset.templates), 2)
    for row in result.rows:
        other = next(r for r in result.rows if r.template_index == row.template_index
                     and r.probe_value == row.probe_value and r.target != row.target)
        sign = 1 if row.target == "he" else -1
        assert folded.scores[row.template_index, words.index(row.probe_value)] == pytest.approx(
            sign * (row.score - other.score), abs=1e-6)
