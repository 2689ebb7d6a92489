"""Issue 26, item 3: the attention and compare pages share one "average of heads" (``AVERAGE_OF_HEADS``); a
head preset by an older link (-1, the compare page's old sentinel) still opens the average."""

from __future__ import annotations

import json

import numpy as np

from helpers import plotly_array
from plm_core.attention import extract_attention


def _heat(at) -> dict:
    return json.loads(at.get("plotly_chart")[0].proto.spec)


def test_attention_page_reads_an_old_minus_one_head_as_the_average(app_factory, tiny_dirs, tiny_handles):
    at = app_factory(str(tiny_dirs["masked_lm"]))
    at.run()
    at.switch_page("pages/attention.py")
    at.session_state["attention.heat.head"] = -1  # the compare page's average, carried over by an old link
    at.session_state["attention.heat.layer"] = 1
    at.run()
    assert not at.exception, at.exception
    fig = _heat(at)
    assert fig["layout"]["title"]["text"].startswith("Layer 1, average of heads"), fig["layout"]["title"]
    text = at.text_area[0].value
    own = extract_attention(tiny_handles["masked_lm"], text).weights[1].astype(np.float64).mean(0)
    np.testing.assert_allclose(plotly_array(fig["data"][0]["z"]), own, atol=1e-6)
