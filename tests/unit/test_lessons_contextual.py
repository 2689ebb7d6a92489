"""Lesson 1's static-versus-contextual step: one token-embedding row in both sentences, per-layer cosines equal
a hand computation from Hugging Face's hidden states."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from plm_core.errors import InvalidInputError
from plm_core.lessons.compute import contextual_embeddings

A = "the cat sat on the mat"
B = "a dog sat with the cat"


def hand_cosines(handle, a: str, b: str, word: str) -> tuple[np.ndarray, np.ndarray]:
    vecs, rows = [], []
    for text in (a, b):
        batch = handle.tokenizer(text, return_tensors="pt")
        ids = batch["input_ids"][0].tolist()
        target = handle.tokenizer(word, add_special_tokens=False)["input_ids"]
        if not any(ids[i:i + len(target)] == target for i in range(len(ids))):
            target = handle.tokenizer(" " + word, add_special_tokens=False)["input_ids"]
        start = next(i for i in range(len(ids)) if ids[i:i + len(target)] == target)
        span = list(range(start, start + len(target)))
        with torch.no_grad():
            if handle.config.is_encoder_decoder:  # the encoder reads the sentence
                hs = handle.model.get_encoder()(**batch, output_hidden_states=True).hidden_states
            else:
                hs = handle.model(**batch, output_hidden_states=True).hidden_states
        vecs.append(np.stack([h[0, span].double().mean(0).numpy() for h in hs]))
        rows.append(handle.model.get_input_embeddings().weight[target].double().mean(0).detach().numpy())
    a_, b_ = vecs
    cos = (a_ * b_).sum(-1) / np.linalg.norm(a_, axis=-1) / np.linalg.norm(b_, axis=-1)
    return cos, np.stack(rows)


@pytest.mark.parametrize("kind", ["masked_lm", "encoder", "causal_lm", "roberta_mlm", "t5", "bart"])
def test_static_rows_identical_and_cosines_by_hand(tiny_handles, kind):
    handle = tiny_handles[kind]
    res = contextual_embeddings(handle, A, B, "cat")
    cos, rows = hand_cosines(handle, A, B, "cat")
    assert res.static_diff == 0.0 and res.static_cosine == pytest.approx(1.0, abs=1e-6)
    np.testing.assert_allclose(res.static, rows, atol=1e-6)
    np.testing.assert_allclose(res.cosines, cos, atol=1e-5)
    assert len(res.layers) == handle.n_layers + 1
    assert res.encodings[0].tokens[res.spans[0][0]].strip() == "cat"
    assert res.spans[0] != res.spans[1]  # different positions, so even the embedding layer differs
    assert res.cosines[-1] < 1 - 1e-4


def test_multi_piece_word(tiny_mlm):
    res = contextual_embeddings(tiny_mlm, "the bank of the river", "a bank loan", "bank")
    assert len(res.spans[0]) == 4  # b ##a ##n ##k: the tiny vocabulary has no "bank"
    cos, _ = hand_cosines(tiny_mlm, "the bank of the river", "a bank loan", "bank")
    np.testing.assert_allclose(res.cosines, cos, atol=1e-5)


def test_missing_or_empty_word(tiny_mlm):
    with pytest.raises(InvalidInputError, match="second"):
        contextual_embeddings(tiny_mlm, A, "a dog ran", "cat")
    with pytest.raises(InvalidInputError):
        contextual_embeddings(tiny_mlm, A, B, "  ")
