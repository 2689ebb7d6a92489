"""bertviz views past the size limit (issue 21 b, item 7): the estimate matches what Chromium draws, and the
subset the Attention page offers stays within the limit (counted in Chromium, not from our own formula)."""

from __future__ import annotations

import time

import numpy as np
import pytest

from plm_core.types import AttentionResult, Encoding
from plm_core.viz.bertviz_html import MAX_SVG_ELEMENTS, bertviz_html, fitting_subset, view_elements


def _result(n: int, layers: int, heads: int) -> AttentionResult:
    w = np.random.default_rng(0).random((layers, heads, n, n)).astype(np.float32)
    w /= w.sum(-1, keepdims=True)
    enc = Encoding("x", tuple(f"t{i}" for i in range(n)), tuple(range(n)), (False,) * n, (0,) * n, ((0, 0),) * n)
    return AttentionResult("m", enc, w)


@pytest.fixture(scope="module")
def chromium_page(browser, tmp_path_factory):
    """A page of the session's Chromium (tests/browser/conftest.py), no server needed."""
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    yield context.new_page(), tmp_path_factory.mktemp("bertviz")
    context.close()


@pytest.mark.parametrize("view, n", [("head", 64), ("model", 64), ("head", 24), ("model", 24)])
def test_estimate_and_subset_counted_in_chromium(chromium_page, view, n):
    page, folder = chromium_page
    layers, heads = 6, 12  # MiniLM's shape
    result = _result(n, layers, heads)
    fit = fitting_subset(view, n, layers, heads)
    assert fit is not None
    subset_layers, subset_heads = fit
    html = bertviz_html(result, view, layers=subset_layers if view == "model" else None, head_subset=subset_heads)
    path = folder / f"{view}-{n}.html"
    path.write_text(html, encoding="utf-8")
    t0 = time.perf_counter()
    page.goto(path.as_uri(), wait_until="load")
    page.wait_for_function("document.querySelectorAll('#vis svg *').length > 0")
    seconds = time.perf_counter() - t0
    drawn = page.evaluate("document.querySelectorAll('#vis svg *').length")
    estimate = view_elements(view, n, len(subset_layers), len(subset_heads))
    print(f"{view} view, {n} tokens, {len(subset_layers)}×{len(subset_heads)}: {drawn} elements in {seconds:.2f} s")
    assert abs(drawn - estimate) <= 0.1 * drawn  # the estimate is what Chromium draws
    assert drawn <= MAX_SVG_ELEMENTS * 1.1
    if view_elements(view, n, layers, heads) <= MAX_SVG_ELEMENTS:
        assert (len(subset_layers), len(subset_heads)) == (layers, heads)  # a small view is drawn whole
