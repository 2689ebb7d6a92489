"""Issue 26, item 3: the query row an explanation reads is decided in one place (``KindAdapter.query_row``),
and it is the row the model's own head reads (checked against the head applied to every row)."""

from __future__ import annotations

import pytest

from plm_core.attribution import attribute
from plm_core.attribution.specs import attention_rows
from helpers import row_the_head_reads
from plm_core.tokens import encode

TEXT = "the cat sat on the mat"


@pytest.mark.parametrize("text", [TEXT, TEXT + "<|endoftext|>"])  # the pad token typed at the end: not read
def test_a_causal_classifiers_attention_attribution_reads_the_row_its_head_reads(tiny_handles, text):
    handle = tiny_handles["qwen3_classifier"]
    enc, _ = encode(handle, text)
    row = row_the_head_reads(handle, text)
    result = attribute(handle, text, "attention_last_layer")
    assert result.params["query_rows"] == str(row)  # was the last token, the pad the head skips
    assert handle.adapter.query_row(handle, enc) == row


def test_bert_classifier_reads_cls_and_a_causal_lm_its_last_token(tiny_handles):
    clf, lm = tiny_handles["classifier"], tiny_handles["causal_lm"]
    enc, _ = encode(clf, TEXT)
    assert clf.adapter.query_row(clf, enc) == 0 and attention_rows(clf, None, enc) == [0]
    enc, _ = encode(lm, TEXT)
    assert lm.adapter.query_row(lm, enc) == len(enc) - 1


def test_only_the_kind_adapters_decide_the_query_row():
    """A guard: no page, ui module or lesson computes "last token if next-token kind else 0" again."""
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    pattern = re.compile(r"len\((?:tokens|units\.tokens|enc(?:oding)?)\)\s*-\s*1\s+if\s+.*adapter\.output")
    found = [str(p) for d in ("ui", "pages", "plm_core") for p in (root / d).rglob("*.py")
             if pattern.search(p.read_text(encoding="utf-8"))]
    assert not found, found
