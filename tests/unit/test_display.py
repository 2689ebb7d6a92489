"""Token display text (plm_core.display through plm_core.tokens.encode): byte-level pieces decoded, split
characters labelled, whitespace visible, SentencePiece ▁ and byte fallback, [UNK] with its characters."""

from __future__ import annotations

import re
import threading
import types

import pytest
from plm_core.testing import chinese_bert_tokenizer, multilingual_bpe_tokenizer, save_tiny_with
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerFast

from plm_core.display import token_texts
from plm_core.inference import top_tokens
from plm_core.loading import ModelSpec, load_model
from plm_core.tokens import encode

TEXTS = ["a café 😂", "老师说今天的课很有意思。", "crème brûlée 👍 and the naïve cat", "中文分词 ❤️ 🎉!"]
PARTIAL = re.compile(r"(.) (\d+)/(\d+)")


def reassemble(shown: tuple[str, ...]) -> str:
    """Text back from display strings: a split character counted once, visible whitespace made white again."""
    out = []
    for s in shown:
        for part in s.split(" + "):
            m = PARTIAL.fullmatch(part)
            if m:
                out.append(m[1] if m[2] == "1" else "")
            else:
                out.append(part.replace("␣", " ").replace("↵", "\n").replace("⇥", "\t"))
    return "".join(out)


@pytest.fixture(scope="module")
def bpe_handle(tmp_path_factory):
    """A tiny GPT-2 whose byte-level BPE was trained here on accented, emoji and Chinese text."""
    folder = save_tiny_with(multilingual_bpe_tokenizer(), tmp_path_factory.mktemp("bpe_multi"), causal=True)
    return load_model(ModelSpec(str(folder), device="cpu"))


def expected_split_labels(handle, text: str) -> dict[int, list[str]]:
    """Independently: which token holds which part of which character, from byte counts alone (each character of
    a byte-level piece is one byte) and the UTF-8 of the text."""
    ids = handle.tokenizer(text, add_special_tokens=False)["input_ids"]
    raws = handle.tokenizer.convert_ids_to_tokens(ids)
    bounds, pos = [], 0
    for raw in raws:
        bounds.append((pos, pos + len(raw)))
        pos += len(raw)
    assert pos == len(text.encode("utf-8"))
    labels: dict[int, list[str]] = {}
    start = 0
    for ch in text:
        end = start + len(ch.encode("utf-8"))
        owners = [t for t, (a, b) in enumerate(bounds) if a < end and b > start]
        if len(owners) > 1:
            for k, t in enumerate(owners):
                labels.setdefault(t, []).append(f"{ch} {k + 1}/{len(owners)}")
        start = end
    return labels


@pytest.mark.parametrize("text", TEXTS)
def test_byte_level_pieces_read_as_text(bpe_handle, text):
    enc, _ = encode(bpe_handle, text)
    assert reassemble(enc.tokens) == text
    expected = expected_split_labels(bpe_handle, text)
    assert expected, "the test text should split at least one character"
    for t, shown in enumerate(enc.tokens):
        parts = [p for p in shown.split(" + ") if PARTIAL.fullmatch(p)]
        assert parts == expected.get(t, []), (t, shown)
        if not parts:  # whole characters: what the tokenizer's own decoder gives for this piece
            own = bpe_handle.tokenizer.decode([enc.input_ids[t]])
            assert shown == (own if own.strip() else own.replace(" ", "␣")), (t, shown, own)


def test_issue_example_on_the_gpt2_style_tiny_model(tiny_gpt2):
    """Issue 12: `encode(h, "a café 😂")` gave ('a', ' c', 'a', 'f', 'Ã', '©', ' ', 'ð', 'Ł', 'ĺ', 'Ĥ')."""
    enc, _ = encode(tiny_gpt2, "a café 😂")
    assert enc.tokens == ("a", " c", "a", "f", "é 1/2", "é 2/2", "␣", "😂 1/4", "😂 2/4", "😂 3/4", "😂 4/4")
    enc, _ = encode(tiny_gpt2, "老师说今天的课")
    assert enc.tokens[:3] == ("老 1/3", "老 2/3", "老 3/3") and enc.tokens[-1] == "课 3/3"
    assert reassemble(enc.tokens) == "老师说今天的课"


def test_whitespace_tokens_are_visible(tiny_gpt2):
    enc, _ = encode(tiny_gpt2, "the  cat\n\tsat")
    assert enc.tokens == ("t", "he", "␣", " cat", "↵", "⇥", "s", "at")


def test_top_k_pieces_are_shown_on_their_own(bpe_handle):
    """A top-k list holds alternatives: bytes that make no character alone stay bytes, never garbled letters."""
    import torch

    ids = bpe_handle.tokenizer("老师说今天的课很有意思。", add_special_tokens=False)["input_ids"]
    logits = torch.full((len(bpe_handle.tokenizer),), -1e4)
    logits[ids] = torch.arange(len(ids), 0, -1, dtype=torch.float32)  # ranked in text order
    dist = top_tokens(bpe_handle, logits, 0, len(set(ids)))
    allowed = re.compile(r"^((<0x[0-9A-F]{2}>)+|[^\x00-\x7f]+|[ -~]+)( \+ ((<0x[0-9A-F]{2}>)+|[^\x00-\x7f]+))*$")
    for t, tid in zip(dist.tokens, dist.token_ids):
        assert allowed.match(t), t
        raw = bpe_handle.tokenizer.convert_ids_to_tokens(tid)
        assert t != raw or raw.isascii()


def _handle(tok):
    return types.SimpleNamespace(tokenizer=tok, lock=threading.RLock())


def test_sentencepiece_space_and_byte_fallback():
    """SentencePiece (Metaspace ▁, byte fallback <0xNN> as in Llama 2): ▁ is a space, fallback bytes decode."""
    tok = Tokenizer(models.BPE(unk_token="<unk>", byte_fallback=True))
    tok.pre_tokenizer = pre_tokenizers.Metaspace()
    tok.decoder = decoders.Sequence([decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse(),
                                     decoders.Strip(" ", 1, 0)])
    specials = ["<unk>", "<s>"] + [f"<0x{i:02X}>" for i in range(256)]
    tok.train_from_iterator(["the cat sat on the mat"] * 20, trainers.BpeTrainer(vocab_size=300, special_tokens=specials))
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="<unk>", bos_token="<s>")
    ids = fast("the cat 课", add_special_tokens=False)["input_ids"]
    raw = fast.convert_ids_to_tokens(ids)
    assert "▁the" in raw and "<0xE8>" in raw
    shown = token_texts(_handle(fast), ids)
    assert " the" in shown and "▁" not in "".join(shown)
    assert shown[-3:] == ("课 1/3", "课 2/3", "课 3/3")
    assert reassemble(shown) == " the cat 课"


@pytest.fixture(scope="module")
def chinese_bert(tmp_path_factory):
    """A character-level Chinese BERT vocabulary that has every character of the sentence but 思."""
    tok = chinese_bert_tokenizer("老师说今天的课很有意")
    return load_model(ModelSpec(str(save_tiny_with(tok, tmp_path_factory.mktemp("zh_bert"), causal=False)), device="cpu"))


def test_chinese_vocabulary_has_no_unknown_where_it_has_the_character(chinese_bert):
    enc, _ = encode(chinese_bert, "老师说今天的课很有意思。")
    assert enc.tokens == ("[CLS]", *"老师说今天的课很有意", "[UNK:思]", "。", "[SEP]")
    assert enc.unknown == (False,) * 11 + (True, False, False)
    assert [n for n in enc.notes if "unknown" in n] == [
        "1 of 12 characters are unknown to this model's vocabulary (思): the model reads them as its unknown "
        "token — use a Chinese or multilingual model"]


def test_attribution_headline_reads_the_character(tiny_gpt2):
    """Issue 12: "Explained: 'Ħ' as the next token" showed a byte as a letter of GPT-2's byte alphabet."""
    from plm_core.attribution import Target, attribute

    res = attribute(tiny_gpt2, "老师说今天的 ", "saliency", target=Target("next_token", word="课"))
    assert res.target_label == "'课 1/3' as the next token (prob)"
    assert any("(课 1/3 + 课 2/3 + 课 3/3)" in n for n in res.notes)
    # a byte-level vocabulary spells the byte 0xE9 "é": the word é is not that entry
    res = attribute(tiny_gpt2, "a caf ", "saliency", target=Target("next_token", word="é"))
    assert res.target_label == "'é 1/2' as the next token (prob)"
    res = attribute(tiny_gpt2, "老师说今天的", "saliency")  # the model's own top token, shown on its own
    raw = tiny_gpt2.tokenizer.convert_ids_to_tokens(res.target_id)
    shown = token_texts(tiny_gpt2, [res.target_id])[0]
    assert res.target_label.startswith(f"'{shown.strip() or shown}' as the next token")
    assert raw.isascii() or raw not in res.target_label
