"""The Bias page in headless Chromium on the embedded MiniLM: a similarity template probe, and SEAT with a
drill-down into the Compare page. No network: the SEAT file comes from ../shared/data."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import expect
from st_browser import full_page_screenshot, patience

T = 30_000  # ms per expectation: the shared 2-core machine can be heavily loaded
SHARED_DATA = Path(__file__).resolve().parents[3] / "shared" / "data"


def test_template_probe_similarity_and_open_attention(app, shots_dir):
    app.goto(app.base_url + "bias")
    page = app.page
    expect(page.get_by_text("Content warning", exact=False).first).to_be_visible(timeout=patience(T))
    expect(page.get_by_text("cosine similarity", exact=False).first).to_be_visible(timeout=patience(T))
    with app.expect_rerun():
        page.get_by_role("button", name="Run probe").click()
    chart = page.get_by_test_id("stPlotlyChart").first
    expect(chart.locator(".js-plotly-plot")).to_be_visible(timeout=patience(T))
    expect(chart.locator("text.gtitle")).to_contain_text("cosine similarity by [NAME]", timeout=patience(T))
    # 6 targets x 6 names: one bar each
    expect(chart.locator("g.trace.bars g.point")).to_have_count(36, timeout=patience(T))
    full_page_screenshot(page, shots_dir / "bias_template_minilm.png")
    with app.expect_rerun():
        page.get_by_role("button", name="Attention: A").click()
    expect(page.get_by_label("Sentence", exact=True)).to_have_value("This is John.", timeout=patience(T))
    frame = page.frame_locator('[data-testid="stIFrame"]').first
    expect(frame.locator("#vis svg text", has_text="john")).to_have_count(2, timeout=patience(T))


@pytest.mark.skipif(not SHARED_DATA.is_dir(), reason="../shared/data is absent")
def test_seat_run_and_open_an_item_in_compare(app, shots_dir):
    app.goto(app.base_url + "bias")
    page = app.page
    with app.expect_rerun():
        page.get_by_test_id("stRadio").get_by_text("SEAT", exact=True).click()
    path = page.get_by_label("SEAT .jsonl file or data folder")
    path.fill(str(SHARED_DATA))
    with app.expect_rerun():
        path.press("Enter")
    samples = page.get_by_label("Permutations")
    samples.fill("20000")
    with app.expect_rerun():
        samples.press("Enter")
    with app.expect_rerun(timeout_ms=120_000):
        page.get_by_role("button", name="Run SEAT").click()
    expect(page.get_by_test_id("stMetric").first).to_contain_text("Effect size d", timeout=patience(T))
    # MiniLM separates the sets: no sampled partition reaches d, so p is only known to be below 1/20,000
    expect(page.get_by_test_id("stMetric").nth(2)).to_contain_text("< 5e-05", timeout=patience(T))
    expect(page.get_by_test_id("stMetric").nth(1)).to_contain_text("95% CI of d", timeout=patience(T))
    expect(page.get_by_text("CC BY-NC", exact=False)).to_have_count(0, timeout=patience(T))  # license only in the help tooltip
    expect(page.get_by_text("non-significant result", exact=False).first).to_be_visible(timeout=patience(T))  # the caveat
    chart = page.get_by_test_id("stPlotlyChart").first
    expect(chart.locator("text.gtitle")).to_contain_text("SEAT sent-weat6", timeout=patience(T))
    expect(page.get_by_text("This is Amy.", exact=True)).to_be_visible(timeout=patience(T))  # item 0's counterpart
    full_page_screenshot(page, shots_dir / "bias_seat_minilm.png")
    with app.expect_rerun():
        page.get_by_role("button", name="Compare side by side").click()
    expect(page.get_by_label("Sentence A")).to_have_value("This is John.", timeout=patience(T))
    expect(page.get_by_label("Sentence B")).to_have_value("This is Amy.", timeout=patience(T))
    full_page_screenshot(page, shots_dir / "bias_seat_to_compare.png")
