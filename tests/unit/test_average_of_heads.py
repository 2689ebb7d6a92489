"""Issue 26, item 3: "average of heads" is one sentinel (``plm_core.types.AVERAGE_OF_HEADS``) in every picker,
link and core function; the older ``-1`` / ``none`` still mean the average."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from plm_core.attention import extract_attention, head_choice, layer_head, token_flow
from plm_core.types import AVERAGE_OF_HEADS

ROOT = Path(__file__).resolve().parents[2]


def test_layer_head_is_one_head_or_the_mean_over_heads():
    rng = np.random.default_rng(0)
    w = rng.random((3, 4, 5, 5), dtype=np.float32)
    np.testing.assert_array_equal(layer_head(w, 1, 2), w[1, 2])
    for average in (AVERAGE_OF_HEADS, -1, "-1", "none"):
        np.testing.assert_allclose(layer_head(w, 2, average), w[2].sum(0) / 4, rtol=1e-6)
    assert head_choice("3") == 3 and head_choice(None) is AVERAGE_OF_HEADS


def test_token_flow_reads_an_old_links_minus_one_as_the_average(tiny_handles):
    att = extract_attention(tiny_handles["masked_lm"], "the cat sat on the mat")
    new, old = token_flow(att, [2], 1, AVERAGE_OF_HEADS), token_flow(att, [2], 1, -1)  # -1 was refused
    assert old.head is AVERAGE_OF_HEADS
    np.testing.assert_array_equal(new.given, old.given)
    np.testing.assert_allclose(new.given, att.weights[1, :, 2].astype(np.float64).mean(0), atol=1e-6)


@pytest.mark.parametrize("pattern", [r"\bh(?:ead)? == -1\b", r"range\(-1, n_heads\)", r"\bh(?:ead)? is None\b"])
def test_no_second_average_sentinel_in_pages_or_ui(pattern):
    """A guard: pages and ui ask ``AVERAGE_OF_HEADS`` / ``widgets.head_picker``, never their own -1 or None test."""
    found = [f"{p}:{i}" for d in ("ui", "pages", "plm_core/viz") for p in (ROOT / d).rglob("*.py")
             for i, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1) if re.search(pattern, line)]
    assert not found, found
