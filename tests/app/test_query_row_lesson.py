"""Issue 26, item 3: the attention-vs-attribution lesson reads the row the model's head reads
(``KindAdapter.query_row``, the one place), checked against the head applied to every row."""

from __future__ import annotations

import numpy as np
import torch

from plm_core.tokens import encode
from helpers import row_the_head_reads

TEXT = "the cat sat on the mat"


def test_lesson_6_reads_the_causal_classifiers_last_token(app_factory, tiny_dirs, tiny_handles):
    """The attention-vs-attribution lesson shows attention from the row the classifier reads (was row 0)."""
    from helpers import chart_specs, lesson_query, open_page, plotly_array

    handle = tiny_handles["qwen3_classifier"]
    at = open_page(app_factory, tiny_dirs["qwen3_classifier"], "pages/lessons.py",
                   lesson_query(6, 1, reveal=True, text=TEXT))
    fig = next(f for f in chart_specs(at) if "vs attribution" in f["layout"]["title"]["text"])
    assert fig["layout"]["title"]["text"].startswith("Attention from the last token"), fig["layout"]["title"]
    shown = plotly_array(next(t for t in fig["data"] if t["name"].startswith("attention (last layer"))["y"])
    _, batch = encode(handle, TEXT)
    with torch.inference_mode():
        own = handle.model(**batch, output_attentions=True).attentions[-1][0].float().mean(0)
    row = own[row_the_head_reads(handle, TEXT)].numpy()
    np.testing.assert_allclose(shown, np.abs(row) / np.abs(row).max(), atol=1e-5)
