"""Issue 26, item 3: "does the tokenizer put the space in the piece" is decided in one place
(``plm_core.display.spacing_scheme``), from the tokenizer's decoder, and every user of the fact agrees with what
the tokenizer itself does (a word after a space, tokenized by the tokenizer, against the word alone)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from plm_core import testing as tm
from plm_core.display import Spacing, spacing_scheme
from plm_core.masking import MaskSpec, apply_mask
from plm_core.tokens import encode

ROOT = Path(__file__).resolve().parents[2]
TOKENIZERS = {"bert": tm.bert_tokenizer, "bpe": tm.bpe_tokenizer, "llama": tm.llama_tokenizer, "t5": tm.t5_tokenizer,
              "bart": tm.bart_tokenizer, "xlnet": tm.xlnet_tokenizer}


@pytest.mark.parametrize("name", sorted(TOKENIZERS))
def test_the_scheme_agrees_with_what_the_tokenizer_does(name):
    tok = TOKENIZERS[name]()
    scheme = spacing_scheme(tok)
    first = tok.convert_ids_to_tokens(tok(" cat sat", add_special_tokens=False)["input_ids"])[0]
    # independent: the tokenizer's own first piece of " cat" carries the space iff the scheme says so
    assert first.startswith(scheme.value) if scheme.space_in_piece else " " not in first and "cat" in first
    assert scheme == {"bert": Spacing.WORDPIECE, "bpe": Spacing.BYTE_LEVEL, "bart": Spacing.BYTE_LEVEL}.get(
        name, Spacing.METASPACE)


@pytest.mark.parametrize("kind", ["causal_lm", "qwen3", "gpt_neox", "gemma2"])
def test_a_substitute_after_a_space_is_the_piece_the_tokenizer_writes_there(tiny_handles, kind):
    """Masking lab: "dog" typed for a word inside the sentence becomes the tokenizer's own piece for " dog"
    (the space in the piece) on every byte-level / SentencePiece model, not only those of a model-type list
    (Qwen3's and GPT-NeoX's byte-level BPE got "dog" without its space before)."""
    handle = tiny_handles[kind]
    text = "the cat sat on the mat"
    enc, _ = encode(handle, text)
    pos = next(i for i, t in enumerate(enc.tokens) if t.strip() == "sat")
    edited = apply_mask(handle, enc, MaskSpec((pos,), "substitute", "dog"))
    own, _ = encode(handle, text.replace("sat", "dog"))  # the tokenizer itself, in context
    assert edited.edited.input_ids == own.input_ids, (edited.edited.tokens, own.tokens)


def test_no_second_spacing_decision():
    """A guard: outside plm_core/display.py (the owner), no module tests for "Ġ"/"▁" piece prefixes or keeps a
    list of byte-level model types again."""
    pattern = re.compile(r"""startswith\(\(?["'](?:Ġ|▁)|model_type["', ]+\)? in \(["']gpt2["']""")
    found = [str(p.relative_to(ROOT)) for d in ("plm_core", "ui", "pages") for p in (ROOT / d).rglob("*.py")
             if p.name != "display.py" and pattern.search(p.read_text(encoding="utf-8"))]
    assert not found, found
