"""Comparison core on tiny models: alignment, prediction/attention differences, two models."""

from __future__ import annotations

import numpy as np
import pytest

from plm_core.attention import extract_attention
from plm_core.compare import (
    align_by_characters,
    align_tokens,
    attention_difference,
    alignment_rows,
    compare_models,
    compare_predictions,
    compare_texts,
    describe_loaded,
)
from plm_core.errors import InvalidInputError
from plm_core.inference import embed, predict
from plm_core.tokens import encode


@pytest.mark.parametrize("kind", ["classifier", "causal_lm", "encoder", "masked_lm"])
def test_comparing_a_prediction_with_itself_gives_zero_delta(tiny_handles, kind):
    handle = tiny_handles[kind]
    text = "the cat sat on the [MASK]" if kind == "masked_lm" else "the cat sat on the mat"
    pred = predict(handle, text)
    comps = compare_predictions(pred, pred)
    assert comps
    for cmp in comps:
        np.testing.assert_allclose(cmp.prob_delta, 0.0, atol=1e-6)
        assert not cmp.label_changed and cmp.exact
    same = compare_texts(handle, text, text)
    for cmp in same.comparisons:
        np.testing.assert_allclose(cmp.prob_delta, 0.0, atol=1e-6)
    np.testing.assert_allclose(same.attention.weights, 0.0, atol=1e-6)
    assert same.alignment.pairs == tuple((i, i) for i in range(len(pred.encoding)))


def test_text_comparison_alignment_and_differences(tiny_classifier):
    a, b = "the cat sat on the mat", "the dog sat on a mat today"
    res = compare_texts(tiny_classifier, a, b)
    ta, tb = res.a.encoding.tokens, res.b.encoding.tokens
    assert ta == ("[CLS]", "the", "cat", "sat", "on", "the", "mat", "[SEP]")
    assert res.alignment.pairs == ((0, 0), (1, 1), (3, 3), (4, 4), (6, 6), (7, 8))
    assert res.alignment.only_a == (2, 5) and res.alignment.only_b == (2, 5, 7)
    # the aligned table reads both sentences in order, each token once
    rows = alignment_rows(res.alignment, res.a.encoding, res.b.encoding)
    assert [r[0] for r in rows if r[0]] == list(ta) and [r[1] for r in rows if r[1]] == list(tb)
    assert sum(r[2] for r in rows) == 6
    # prediction difference equals two plain predictions
    pa, pb = predict(tiny_classifier, a).probs, predict(tiny_classifier, b).probs
    np.testing.assert_allclose(res.comparisons[0].prob_delta, pb - pa, atol=1e-5)
    # attention difference on matched tokens equals two plain extractions
    wa = extract_attention(tiny_classifier, a).weights
    wb = extract_attention(tiny_classifier, b).weights
    ia = [i for i, _ in res.alignment.pairs]
    ib = [j for _, j in res.alignment.pairs]
    expected = wb[:, :, ib][:, :, :, ib] - wa[:, :, ia][:, :, :, ia]
    np.testing.assert_allclose(res.attention.weights, expected, atol=1e-5)
    assert res.attention.weights.shape == (2, 4, 6, 6)


def test_encoder_text_comparison_is_cosine(tiny_handles):
    handle = tiny_handles["encoder"]
    res = compare_texts(handle, "the cat sat", "a dog ran fast")
    e = embed(handle, ["the cat sat", "a dog ran fast"])
    assert float(res.comparisons[0].perturbed[0]) == pytest.approx(float(e[0] @ e[1]), abs=1e-5)


def test_mlm_masks_paired_in_order_and_missing_masks_noted(tiny_mlm):
    res = compare_texts(tiny_mlm, "the [MASK] sat on the mat", "a [MASK] ran to the [MASK]")
    assert len(res.comparisons) == 1 and any("paired in order" in n for n in res.notes)
    res = compare_texts(tiny_mlm, "the cat sat", "a dog ran")
    assert res.comparisons == () and any("put one in both" in n for n in res.notes)


def test_two_models_with_different_tokenizers_align_by_characters(tiny_mlm, tiny_gpt2):
    text = "the cat sat on the mat"
    res = compare_models(tiny_mlm, tiny_gpt2, text)
    assert res.alignment.by == "characters"
    ea, eb = res.attention_a.encoding, res.attention_b.encoding
    for i, j in res.alignment.pairs:  # every matched pair covers the same characters
        assert ea.offsets[i] == eb.offsets[j] and not ea.special[i]
    words = {ea.tokens[i] for i, _ in res.alignment.pairs}
    assert {"cat", "sat", "on", "mat"} <= words  # GPT-2 BPE splits "the" at the start differently
    assert res.comparisons == ()  # different kinds: side by side only
    assert any("tokenize differently" in n for n in res.notes)
    assert any("different kinds" in n for n in res.notes)
    assert any("gives no prediction" in n for n in res.notes)  # the masked LM needs a [MASK]
    assert res.a is None and res.b is not None
    assert res.attention is not None and res.attention.weights.shape[-1] == len(res.alignment.pairs)
    with pytest.raises(InvalidInputError):
        align_by_characters(encode(tiny_mlm, "a b")[0], encode(tiny_gpt2, "a c")[0])


def test_two_models_of_one_architecture_compare_predictions(tiny_handles, tiny_dirs):
    from plm_core.loading import ModelSpec, load_model

    again = load_model(ModelSpec(str(tiny_dirs["classifier"]), device="cpu"))  # a second copy: same weights
    res = compare_models(tiny_handles["classifier"], again, "the cat sat on the mat")
    assert res.alignment.by == "tokens"
    np.testing.assert_allclose(res.comparisons[0].prob_delta, 0.0, atol=1e-6)
    np.testing.assert_allclose(res.attention.weights, 0.0, atol=1e-6)
    other = compare_models(tiny_handles["classifier"], tiny_handles["encoder"], "the cat")
    assert other.comparisons == () and any("different kinds" in n for n in other.notes)


def test_align_tokens_and_describe_loaded(tiny_mlm):
    a, _ = encode(tiny_mlm, "the cat sat")
    assert align_tokens(a, a).pairs == tuple((i, i) for i in range(len(a)))
    (info,) = describe_loaded([tiny_mlm])
    assert info.n_parameters == sum(p.numel() for p in tiny_mlm.model.parameters())
    assert info.weight_bytes >= 4 * info.n_parameters and info.device == "cpu"


def test_word_level_alignment_and_attention_difference(tiny_mlm):
    """Words of two sentences aligned like tokens; the B − A attention between matched words, rows of each side
    still summing to 1."""
    from plm_core.words import word_attention, word_spans

    res = compare_texts(tiny_mlm, "the quickest cat sat", "the slowest cat sat")
    wa, wb = word_spans(res.a.encoding), word_spans(res.b.encoding)
    att_a, att_b = word_attention(res.attention_a, wa), word_attention(res.attention_b, wb)
    alignment = align_tokens(wa, wb)
    assert [(wa.tokens[i], wb.tokens[j]) for i, j in alignment.pairs] == [
        ("[CLS]", "[CLS]"), ("the", "the"), ("cat", "cat"), ("sat", "sat"), ("[SEP]", "[SEP]")]
    diff = attention_difference(att_a, att_b, alignment)
    ia = [i for i, _ in alignment.pairs]
    ib = [j for _, j in alignment.pairs]
    np.testing.assert_allclose(diff.weights, att_b.weights[:, :, ib][..., ib] - att_a.weights[:, :, ia][..., ia], atol=1e-6)
