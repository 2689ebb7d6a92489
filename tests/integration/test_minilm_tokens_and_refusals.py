"""Checks of the core on the real embedded all-MiniLM-L6-v2 that lived among the unit tests (issue 26, item 6: a unit
test loads no real model): its unknown characters, its word pieces, comparisons with a tiny model, its declared limit
and the refusals it meets."""

from __future__ import annotations

import pytest

from plm_core.bias.crows_pairs import run_crows_pairs
from plm_core.bias.datasets import CrowsPair
from plm_core.compare import alignment_rows, compare_models, compare_predictions, compare_texts
from plm_core.errors import UnsupportedModelError
from plm_core.inference import predict
from plm_core.loading import ModelSpec, load_model
from plm_core.tokens import encode
from plm_core.words import jieba_segmenter, word_spans

pytestmark = pytest.mark.slow


def test_words_from_the_tokenizer(tiny_handles, minilm):
    enc, _ = encode(tiny_handles["masked_lm"], "the quickest fox, tired.")
    words = word_spans(enc)
    assert words.tokens[0] == "[CLS]" and words.tokens[-1] == "[SEP]" and words.special[0] and words.special[-1]
    assert words.tokens[1:-1] == ("the", "quickest", "fox", ",", "tired", ".")
    assert all(len(p) >= 1 for p in words.pieces) and sum(len(p) for p in words.pieces) == len(enc)
    # byte-level BPE: a split character and its word stay one word; a lone space token is a word shown visibly
    enc, _ = encode(tiny_handles["causal_lm"], "a café 😂 the  cat")
    assert word_spans(enc).tokens == ("a", "café", "😂", "the", "␣", "cat")
    # [UNK] pieces of a word show the characters, marked as the model reads them
    enc, _ = encode(minilm, "老师说今天的课很有意思。")
    assert word_spans(enc).tokens[1:4] == ("[UNK:老]", "[UNK:师]", "[UNK:说]")
    assert word_spans(enc, jieba_segmenter).tokens == (
        "[CLS]", "[UNK:老师]", "[UNK:说]", "[UNK:今]天", "的", "[UNK:课]", "[UNK:很]", "有[UNK:意思]", "。", "[SEP]")


def test_the_embedded_model_has_no_classifier_head(minilm):
    with pytest.raises(UnsupportedModelError, match="classifier.weight"):
        load_model(ModelSpec("embedded", kind="classifier", device="cpu"))


def test_the_embedded_model_declares_256_tokens(minilm):
    """sentence_bert_config.json says max_seq_length 256; plm-lens used 512 (case 12)."""
    assert minilm.max_tokens == 256


def test_embedded_model_counts_unknown_characters(minilm):
    """Issue 12: on the embedded model 8 of 12 characters of 老师说今天的课很有意思。 are [UNK], with no note."""
    text = "老师说今天的课很有意思。"
    enc, _ = encode(minilm, text)
    assert "[UNK]" not in enc.tokens
    unknown = [t for t in enc.tokens if t.startswith("[UNK:")]
    assert unknown == [f"[UNK:{c}]" for c in "老师说今课很意思"]
    # independently: a character is unknown when the vocabulary lacks it (MiniLM lower-cases, no accents to strip)
    vocab = minilm.tokenizer.get_vocab()
    assert sum(1 for c in text if c not in vocab) == 8
    assert any(n.startswith("8 of 12 characters are unknown") and "Chinese or multilingual" in n for n in enc.notes)


def test_unknown_count_covers_both_sentences_and_ignores_spaces(minilm):
    enc, _ = encode(minilm, "the 😂 cat", "课 and 课")
    (note,) = [n for n in enc.notes if "unknown" in n]
    # non-space characters: 3 + 1 + 3 in A, 1 + 3 + 1 in B = 12; unknown: 😂, 课, 课 = 3
    assert note.startswith("3 of 12 characters are unknown") and "(😂课)" in note


def test_typed_unknown_token_is_not_counted(minilm):
    enc, _ = encode(minilm, "the [UNK] cat")
    assert "[UNK]" in enc.tokens and not any(enc.unknown)
    assert not any("unknown" in n for n in enc.notes)


@pytest.mark.slow
def test_attention_difference_refuses_different_shapes(tiny_mlm, minilm):
    res = compare_models(minilm, tiny_mlm, "the cat sat on the mat")
    assert res.attention is None and any("cannot be subtracted" in n for n in res.notes)
    with pytest.raises(UnsupportedModelError):
        compare_predictions(predict(minilm, "the cat"), predict(tiny_mlm, "the [MASK]"))


def test_unknown_tokens_align_on_their_characters(minilm):
    """Issue 12: 意↔无 and 思↔聊 were paired as "unchanged" because both are [UNK] on the embedded model."""
    res = compare_texts(minilm, "老师说今天的课很有意思。", "老师说今天的课很无聊。")
    rows = alignment_rows(res.alignment, res.a.encoding, res.b.encoding)
    matched = [(a, b) for a, b, same in rows if same]
    assert all(a == b for a, b in matched), matched
    text_a, text_b = res.a.encoding, res.b.encoding
    pairs = {(text_a.text[slice(*text_a.offsets[i])], text_b.text[slice(*text_b.offsets[j])])
             for i, j in res.alignment.pairs if not text_a.special[i]}
    assert ("意", "无") not in pairs and ("思", "聊") not in pairs
    assert {(c, c) for c in "老师说今天的课很"} <= pairs
    assert [p for p in pairs if p[0] != p[1]] == []


def test_crows_pairs_needs_a_masked_lm(minilm):
    with pytest.raises(UnsupportedModelError, match="masked language model"):
        run_crows_pairs(minilm, [CrowsPair(0, "a b", "a c", "stereo", "x")])
