"""plm_core.tokens.encode: cleaning, truncation, sentence pairs and hostile input, on tiny models."""

from __future__ import annotations

import pytest

from plm_core.errors import InvalidInputError
from plm_core.tokens import MAX_CHARS, clean_text, clean_token, encode


def test_single_sentence(tiny_mlm):
    enc, batch = encode(tiny_mlm, "The cat sat on the mat.")
    assert enc.tokens == ("[CLS]", "the", "cat", "sat", "on", "the", "mat", ".", "[SEP]")
    assert enc.special == (True,) + (False,) * 7 + (True,)
    assert enc.segments == (0,) * 9 and enc.pair_start is None
    assert enc.input_ids == tuple(batch["input_ids"][0].tolist())
    assert enc.offsets[2] == (4, 7) and enc.text[4:7] == "cat"
    assert enc.offsets[0] == (0, 0)
    assert not enc.truncated and enc.notes == ()
    assert batch["input_ids"].device.type == "cpu"
    assert enc.labels()[:3] == ["0:[CLS]", "1:the", "2:cat"]


def test_sentence_pair_segments(tiny_mlm):
    enc, batch = encode(tiny_mlm, "the cat sat", "a dog ran")
    assert enc.tokens == ("[CLS]", "the", "cat", "sat", "[SEP]", "a", "dog", "ran", "[SEP]")
    assert enc.pair_start == 5
    # the [SEP] closing sentence A belongs to segment 0, the last [SEP] to segment 1 (BERT's token types)
    assert enc.segments == (0, 0, 0, 0, 0, 1, 1, 1, 1)
    assert tuple(batch["token_type_ids"][0].tolist()) == enc.segments
    assert enc.text_pair == "a dog ran"
    assert enc.offsets[6] == (2, 5)  # "dog" in its own sentence


def test_pair_on_single_segment_model_drops_token_types(tiny_handles):
    enc, batch = encode(tiny_handles["roberta_mlm"], "the cat", "a dog")
    assert "token_type_ids" not in batch  # type_vocab_size 1
    assert enc.pair_start == 4


def test_whitespace_pair_is_ignored(tiny_mlm):
    enc, _ = encode(tiny_mlm, "the cat", "   \n ")
    assert enc.pair_start is None and enc.text_pair is None


def test_truncation_to_explicit_limit(tiny_mlm):
    enc, batch = encode(tiny_mlm, "the cat sat on the mat " * 5, max_tokens=8)
    assert len(enc) == 8 == batch["input_ids"].shape[1]
    assert enc.truncated and enc.tokens[-1] == "[SEP]"
    assert any("32 tokens; only the first 8" in note for note in enc.notes)


def test_truncation_to_model_limit(tiny_handles):
    for kind in ("masked_lm", "causal_lm", "roberta_mlm"):
        h = tiny_handles[kind]
        enc, _ = encode(h, "the cat sat on the mat " * 40)
        assert len(enc) == h.max_tokens == 128, kind
        assert enc.truncated and "only the first 128" in enc.notes[-1]


def test_pair_truncation_keeps_both_sentences(tiny_mlm):
    enc, _ = encode(tiny_mlm, "the cat sat on the mat " * 3, "a dog ran " * 3, max_tokens=12)
    assert len(enc) == 12 and enc.pair_start is not None and enc.truncated


def test_ten_thousand_characters(tiny_mlm):
    text = ("the cat sat on the mat. " * 420)[:10_000]
    enc, _ = encode(tiny_mlm, text)
    assert len(enc) == tiny_mlm.max_tokens and enc.truncated
    # one 10,000-letter "word" is a single [UNK] for WordPiece: nothing to truncate; its label is cut
    enc, _ = encode(tiny_mlm, "a" * 10_000)
    assert enc.tokens == ("[CLS]", "[UNK:" + "a" * 23 + "…]", "[SEP]") and not enc.truncated
    assert enc.unknown == (False, True, False)


def test_text_longer_than_max_chars_is_cut_with_a_note():
    text, notes = clean_text("ab " * (MAX_CHARS // 2))
    assert len(text) == MAX_CHARS
    assert notes == (f"the text was cut from {MAX_CHARS // 2 * 3:,} to {MAX_CHARS:,} characters",)


def test_control_characters_removed(tiny_mlm):
    enc, _ = encode(tiny_mlm, "the\x00 cat\x07 sat\x1b\u200b")
    assert enc.text == "the cat sat\u200b"  # Cc removed; the zero-width space (Cf) is kept
    assert enc.tokens == ("[CLS]", "the", "cat", "sat", "[SEP]")
    assert enc.notes == ("removed 3 control character(s) from the text",)
    text, notes = clean_text("line one\r\nline\ttwo")
    assert text == "line one\nline\ttwo" and notes == ()


@pytest.mark.parametrize("kind", ["masked_lm", "causal_lm", "roberta_mlm", "distilbert_mlm"])
def test_emoji_and_right_to_left_text(tiny_handles, kind):
    text = "the cat 😀 שלום עולם مرحبا sat"
    enc, batch = encode(tiny_handles[kind], text)
    assert len(enc) == batch["input_ids"].shape[1] > 3
    for a, b in enc.offsets:
        assert 0 <= a <= b <= len(enc.text)
    if kind == "causal_lm":  # byte-level BPE: every character survives
        assert "😀" in tiny_handles[kind].tokenizer.decode(list(enc.input_ids))
    else:  # the unknown token names the characters it replaced, and a note counts them
        assert "[UNK:😀]" in enc.tokens or "<unk:😀>" in enc.tokens, enc.tokens
        assert any("unknown to this model's vocabulary" in n for n in enc.notes)


@pytest.mark.parametrize("text", ["", "   ", "\n\t  \n", "\x00\x01\x02"])
def test_empty_input_raises(tiny_mlm, text):
    with pytest.raises(InvalidInputError, match="empty"):
        encode(tiny_mlm, text)


def test_non_string_raises(tiny_mlm):
    with pytest.raises(InvalidInputError, match="must be a string"):
        encode(tiny_mlm, None)  # type: ignore[arg-type]


def test_markup_is_kept_as_plain_text(tiny_mlm):
    enc, _ = encode(tiny_mlm, "<img src=x onerror=alert(1)>")
    assert enc.text == "<img src=x onerror=alert(1)>"
    assert enc.tokens[1] == "<" and enc.tokens[-2] == ">"


def test_clean_token():
    assert clean_token("Ġcat") == " cat"
    assert clean_token("Ċ") == "\\n"
    assert clean_token("▁the") == " the"
    assert clean_token("##ing") == "##ing"
