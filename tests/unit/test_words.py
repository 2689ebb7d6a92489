"""Word-level views (plm_core.words): words from the tokenizer and jieba, attention and attribution per word."""

from __future__ import annotations

import numpy as np
import pytest

from plm_core.attention import attention_rollout, extract_attention
from plm_core.attribution import attribute
from plm_core.errors import InvalidInputError
from plm_core.tokens import encode
from plm_core.types import Encoding
from plm_core.words import (
    aggregate_attention,
    aggregate_scores,
    jieba_segmenter,
    word_attention,
    word_attribution,
    word_positions,
    word_spans,
)


def test_hand_computed_two_words():
    """Tokens un ##bel (one word) and cat: to a word = sum of its key columns, from a word = mean of its rows."""
    enc = Encoding(text="unbel cat", tokens=("un", "##bel", "cat"), input_ids=(5, 6, 7), special=(False,) * 3,
                   segments=(0, 0, 0), offsets=((0, 2), (2, 5), (6, 9)), word_ids=(0, 0, 1))
    words = word_spans(enc)
    assert words.tokens == ("unbel", "cat") and words.pieces == ((0, 1), (2,)) and words.offsets == ((0, 5), (6, 9))
    a = np.array([[0.5, 0.3, 0.2],
                  [0.1, 0.1, 0.8],
                  [0.6, 0.0, 0.4]], np.float32)
    # from "unbel" (mean of rows 0 and 1) to "unbel" (columns 0+1): ((0.5+0.3) + (0.1+0.1)) / 2 = 0.5
    # from "unbel" to "cat": (0.2 + 0.8) / 2 = 0.5; from "cat" to "unbel": 0.6 + 0.0; to "cat": 0.4
    np.testing.assert_allclose(aggregate_attention(a, words), [[0.5, 0.5], [0.6, 0.4]], atol=1e-7)
    np.testing.assert_allclose(aggregate_scores(np.array([0.25, -0.5, 2.0]), words), [-0.25, 2.0], atol=1e-7)
    assert word_positions(words, [0]) == (0, 1)


@pytest.mark.parametrize("kind", ["masked_lm", "causal_lm", "roberta_mlm"])
def test_attention_rows_still_sum_to_one(tiny_handles, kind):
    text = "the quickest brownish foxes jumped over a café 😂 老师说"
    res = extract_attention(tiny_handles[kind], text)
    words = word_spans(res.encoding, jieba_segmenter)
    assert len(words) < len(res.encoding)  # some words are several pieces
    w = word_attention(res, words)
    assert w.weights.shape == (res.n_layers, res.n_heads, len(words), len(words))
    np.testing.assert_allclose(w.weights.sum(-1), 1.0, atol=1e-5)
    roll = aggregate_attention(attention_rollout(res.weights), words)
    np.testing.assert_allclose(roll.sum(-1), 1.0, atol=1e-5)


def test_attribution_word_sums_equal_piece_sums(tiny_mlm):
    res = attribute(tiny_mlm, "the quickest brownish [MASK] jumped", "integrated_gradients", n_steps=64)
    words = word_spans(res.encoding)
    per_word = word_attribution(res, words)
    assert per_word.encoding is words and per_word.tokens == words.tokens
    for w, pieces in enumerate(words.pieces):
        assert per_word.scores[w] == pytest.approx(float(res.scores[list(pieces)].sum()), abs=1e-6)
    # completeness is kept: the words sum to what the tokens sum to (f(x) - f(baseline) up to the delta)
    assert per_word.scores.sum() == pytest.approx(float(res.scores.sum()), abs=1e-5)
    assert per_word.convergence_delta == res.convergence_delta


def test_chinese_segmentation_with_jieba(tiny_gpt2):
    """Byte-level BPE reads a run of Han characters as one pre-tokenizer word; jieba splits it into words."""
    enc, _ = encode(tiny_gpt2, "老师说今天的课很有意思。")
    assert word_spans(enc).tokens == ("老师说今天的课很有意思", "。")
    words = word_spans(enc, jieba_segmenter)
    assert words.tokens == ("老师", "说", "今天", "的", "课", "很", "有意思", "。")
    # every byte piece of a character belongs to the character's word
    assert words.pieces[0] == tuple(range(6))  # 老 and 师: three bytes each


def test_sentence_pairs_keep_their_segments(tiny_mlm):
    enc, _ = encode(tiny_mlm, "the cat", "the cat")
    words = word_spans(enc)
    assert words.tokens == ("[CLS]", "the", "cat", "[SEP]", "the", "cat", "[SEP]")
    assert words.segments == enc.segments and words.pair_start == 4


def test_errors():
    enc = Encoding(text="a", tokens=("a",), input_ids=(1,), special=(False,), segments=(0,), offsets=((0, 1),))
    words = word_spans(enc)
    with pytest.raises(InvalidInputError, match="already word level"):
        word_spans(words)
    with pytest.raises(InvalidInputError, match="word-level encoding"):
        aggregate_scores(np.ones(1), enc)
    with pytest.raises(InvalidInputError, match="square"):
        aggregate_attention(np.ones((2, 1)), words)


@pytest.mark.parametrize("strategy", ["mask_token", "delete"])
def test_occlusion_by_words_masks_every_piece(tiny_classifier, strategy):
    """A word's occlusion value is the prediction with all its pieces occluded at once (checked one by one)."""
    from plm_core.masking import MaskSpec, mask_and_predict, occlusion_sweep

    text = "the quickest brownish cat sat"
    enc, _ = encode(tiny_classifier, text)
    words = word_spans(enc)
    res = occlusion_sweep(tiny_classifier, text, strategy=strategy, words=words)
    assert res.encoding is words and res.values.shape == (len(words),)
    assert np.isnan(res.values[0]) and np.isnan(res.values[-1])  # [CLS], [SEP]
    top = int(np.argmax(mask_and_predict(tiny_classifier, text, MaskSpec()).before.probs))
    for w, pieces in enumerate(words.pieces):
        if words.special[w]:
            continue
        one = mask_and_predict(tiny_classifier, text, MaskSpec(pieces, strategy))
        assert res.values[w] == pytest.approx(float(one.after.probs[top]), abs=1e-5)
    assert any(len(p) > 1 for p in words.pieces)


def test_words_without_word_ids_join_touching_pieces():
    enc = Encoding(text="unbel cat.", tokens=("un", "##bel", "cat", "."), input_ids=(5, 6, 7, 8),
                   special=(False,) * 4, segments=(0,) * 4, offsets=((0, 2), (2, 5), (6, 9), (9, 10)))
    assert word_spans(enc).tokens == ("unbel", "cat.")


def test_a_space_piece_joins_the_chinese_word_after_it(tiny_gpt2):
    """Byte-level BPE spells " 老" as a space piece and the character's bytes: the space belongs to that word."""
    enc, _ = encode(tiny_gpt2, "a 老师")
    assert enc.tokens[:2] == ("a", "␣")
    words = word_spans(enc, jieba_segmenter)
    assert words.tokens == ("a", "老师") and words.pieces[1] == tuple(range(1, len(enc)))
