"""Lessons in headless Chromium: a shared presenter link (the load test is protocol-level now: tests/serving)."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlparse

from helpers import lesson_query
from playwright.sync_api import expect
from st_browser import full_page_screenshot

ROOT = Path(__file__).resolve().parents[2]


def test_shared_presenter_link_opens_the_step_large_and_without_controls(app, shots_dir):
    text = "The quick brown fox jumps over the lazy dog."
    query = urlencode(lesson_query(2, 3, text=text, layer=1, head=4, presenter=True))
    app.goto(app.base_url + "lessons?" + query)
    page = app.page
    expect(page.get_by_role("heading", name="Softmax: scores become weights")).to_be_visible()
    expect(page.get_by_test_id("stSidebar")).to_be_hidden()  # controls hidden (drawn: they keep the link whole)
    expect(page.get_by_label("Sentence", exact=True)).to_be_hidden()
    expect(page.get_by_role("combobox", name="Lesson")).to_be_hidden()
    body = page.get_by_text("Each row of scores goes through a softmax", exact=False)
    size = float(body.evaluate("e => parseFloat(getComputedStyle(e).fontSize)"))
    assert size >= 24, f"presenter text is {size}px"
    # predict, then reveal: the view appears only after a committed guess
    expect(page.get_by_text("row sums:", exact=False)).to_have_count(0)
    reveal = page.get_by_role("switch", name="Reveal the answer")
    expect(reveal).to_be_disabled()
    with app.expect_rerun():
        page.get_by_test_id("stMain").get_by_role("radio", name="1", exact=True).check(force=True)
    with app.expect_rerun():
        page.get_by_text("Reveal the answer").click()
    expect(page.get_by_text("row sums: min 1.000000, max 1.000000", exact=False)).to_be_visible()
    expect(page.get_by_text("Our softmax equals the attention the model returned", exact=False)).to_be_visible()
    chart = page.get_by_test_id("stPlotlyChart").first
    expect(chart.locator("text.gtitle", has_text="softmax (layer 1, head 4)")).to_be_visible()
    full_page_screenshot(page, shots_dir / "lessons_presenter.png")
    with app.expect_rerun():
        page.get_by_role("button", name="Next →").click()
    expect(page.get_by_role("heading", name="The weighted sum of V")).to_be_visible()
    qs = parse_qs(urlparse(page.url).query)
    assert qs["lessons.step"] == ["4"] and qs["lessons.text.2"] == [text] and qs["lessons.presenter"] == ["true"]
    assert qs["lessons.head"] == ["4"] and qs["lessons.layer"] == ["1"]
    # leave the presenter view: the controls come back with the same inputs
    with app.expect_rerun():
        page.get_by_role("button", name="Exit presenter view").click()
    expect(page.get_by_label("Sentence", exact=True)).to_have_value(text)
    full_page_screenshot(page, shots_dir / "lessons_normal.png")

