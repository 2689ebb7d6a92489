"""The compute seam (ui.backend) and the operations table (plm_core.ops), in process: the local backend gives
what the core function gives, a merged batch of predictions equals one call each, and the default app never
imports Ray."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from helpers import TINY_KINDS
from plm_core.errors import PlmCoreError, UnknownMethodError
from plm_core.inference import predict
from plm_core.ops import FORWARD_OPS, MERGED, OPS, TOKENIZER_OPS, predict_many, resolve

ROOT = Path(__file__).resolve().parents[2]
TEXTS = {
    "masked_lm": ["the cat [MASK] on the mat .", "a [MASK] dog", "[MASK] [MASK] and more words here to pad"],
    "causal_lm": ["the cat sat on the", "a dog", "many more words in this one to make it longer"],
    "classifier": ["good movie", "a bad , bad film with long words", "fine"],
    "encoder": ["the cat sat", "a much longer sentence with many words in it", "dog"],
}


def test_every_op_resolves_and_the_sets_name_only_ops():
    for op in OPS:
        assert callable(resolve(op)), op
    assert TOKENIZER_OPS <= set(OPS) and FORWARD_OPS <= set(OPS) and set(MERGED) <= FORWARD_OPS
    with pytest.raises(UnknownMethodError, match="choose one of"):
        resolve("no_such_op")


@pytest.mark.parametrize("kind", TINY_KINDS)
def test_predict_many_equals_predict_each(tiny_handles, kind):
    """One padded forward for texts of different lengths == one predict call per text (float rounding only)."""
    handle = tiny_handles[kind]
    texts = [t.replace("[MASK]", handle.tokenizer.mask_token or "[MASK]") for t in TEXTS[handle.kind]]
    merged = predict_many(handle, texts, top_k=5)
    for text, got in zip(texts, merged):
        want = predict(handle, text, top_k=5)
        assert got.encoding == want.encoding and got.labels == want.labels
        np.testing.assert_allclose(got.probs, want.probs, atol=1e-6)
        if want.embedding is not None:
            np.testing.assert_allclose(got.embedding, want.embedding, atol=1e-6)
        assert len(got.distributions) == len(want.distributions)
        for g, w in zip(got.distributions, want.distributions):
            assert g.position == w.position
            np.testing.assert_allclose(g.probs, w.probs, atol=1e-6)
            # equal probabilities may swap places: compare the sets of tokens above the k-th probability
            assert set(g.token_ids[:-1]) <= set(w.token_ids) or np.allclose(g.probs, w.probs, atol=1e-6)


def test_predict_many_returns_each_items_own_error(tiny_handles):
    handle = tiny_handles["masked_lm"]
    out = predict_many(handle, ["no mask here", f"a {handle.tokenizer.mask_token} here", ""])
    assert isinstance(out[0], PlmCoreError) and isinstance(out[2], PlmCoreError)
    for text, got in (("no mask here", out[0]), ("", out[2])):
        with pytest.raises(type(got)) as err:
            predict(handle, text)
        assert str(err.value) == str(got)
    assert out[1].distributions
