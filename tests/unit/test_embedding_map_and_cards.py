"""plm_core.embedding_map and plm_core.model_card against independent computations (scikit-learn's PCA, a
brute-force cosine search, sum(p.numel()), a plain forward of the model)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.decomposition import PCA

from plm_core import embedding_map as em
from plm_core import model_card
from plm_core.errors import InvalidInputError

TEXTS = ["the cat sat on the mat", "a dog ran", "the film was fun", "good movie", "the plot was boring",
         "paris is a city"]


def test_pca_coordinates_equal_scikit_learn(tiny_mlm):
    x = em.sentence_embeddings(tiny_mlm, TEXTS, layer=1)
    np.testing.assert_allclose(em.project(x, "pca"), PCA(n_components=2, random_state=0).fit_transform(
        x.astype(np.float64)), atol=1e-10)
    assert em.project(x, "tsne").shape == (len(TEXTS), 2)


def test_layer_embeddings_are_mean_pooled_hidden_states(tiny_mlm):
    x = em.sentence_embeddings(tiny_mlm, TEXTS[:2], layer=2)
    enc = tiny_mlm.tokenizer(TEXTS[0], return_tensors="pt")
    with torch.no_grad():
        hidden = tiny_mlm.model(**enc, output_hidden_states=True).hidden_states[2][0].mean(0)
    np.testing.assert_allclose(x[0], (hidden / hidden.norm()).numpy(), atol=1e-5)
    with pytest.raises(InvalidInputError, match="out of range"):
        em.sentence_embeddings(tiny_mlm, TEXTS, layer=9)


def test_nearest_neighbours_equal_brute_force_cosine():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(30, 8))
    for i in (0, 7, 29):
        sims = [(j, float(x[i] @ x[j] / np.linalg.norm(x[i]) / np.linalg.norm(x[j]))) for j in range(30) if j != i]
        want = sorted(sims, key=lambda t: -t[1])[:5]
        got = em.nearest_neighbours(x, i, 5)
        assert [j for j, _ in got] == [j for j, _ in want]
        np.testing.assert_allclose([c for _, c in got], [c for _, c in want])


def test_analogy_is_the_nearest_row_to_a_minus_b_plus_c(tiny_mlm):
    res = em.analogy(tiny_mlm, "man", "woman", "girl", k=3)
    table = tiny_mlm.model.get_input_embeddings().weight.detach().double()
    ids = [tiny_mlm.tokenizer.convert_tokens_to_ids(w) for w in ("man", "woman", "girl")]
    q = table[ids[0]] - table[ids[1]] + table[ids[2]]
    sims = torch.nn.functional.cosine_similarity(table, q[None], dim=-1)
    banned = set(ids) | set(tiny_mlm.tokenizer.all_special_ids)
    order = [int(i) for i in sims.argsort(descending=True) if int(i) not in banned][:3]
    assert list(res.token_ids) == order
    with pytest.raises(InvalidInputError, match="tokens for this tokenizer"):
        em.analogy(tiny_mlm, "zzzqx", "man", "woman")


@pytest.mark.parametrize("kind", ["masked_lm", "causal_lm", "classifier"])
def test_model_card_counts(tiny_handles, kind):
    h = tiny_handles[kind]
    c = model_card.card(h, measure=True)
    assert c.n_parameters == sum(p.numel() for p in h.model.parameters())
    assert c.n_layers == h.config.num_hidden_layers if kind != "causal_lm" else c.n_layers == h.config.n_layer
    assert c.vocab == h.model.get_input_embeddings().weight.shape[0]
    assert c.memory_mb * 2**20 >= 4 * c.n_parameters  # float32 weights at least
    assert set(c.latency_ms) == {16, 128} and all(v > 0 for v in c.latency_ms.values())
    with h.lock:
        n_zh = len(h.tokenizer(model_card.CHINESE_SAMPLE, add_special_tokens=False)["input_ids"])
    assert c.tokens_per_100_chars["zh"] == pytest.approx(100 * n_zh / len(model_card.CHINESE_SAMPLE))
    assert model_card.guide([c])
