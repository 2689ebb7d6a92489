"""Lessons in headless Chromium: a shared presenter link (the load test is protocol-level now: tests/serving)."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlparse

from helpers import lesson_query
from playwright.sync_api import expect
from st_browser import full_page_screenshot, patience

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



def _h2(page):
    return page.locator('[data-testid="stMain"] h2').first


def test_clicker_keys_step_with_focus_on_the_reveal_switch_and_cross_into_the_next_lesson(app):
    """Issue 24, item 2: after clicking the reveal switch, → never moved the step (focus stayed on the switch), and
    nothing moved on after a lesson's last step."""
    page = app.page
    app.goto(app.base_url + "lessons?" + urlencode(lesson_query(1, 3, presenter=True)))
    expect(_h2(page)).to_have_text("Positions")
    expect(page.locator("html[data-plm-step-keys=on]")).to_have_count(1)
    main = page.get_by_test_id("stMain")
    for key, heading in (("ArrowRight", "Static versus contextual embeddings"), ("PageDown", "Queries, keys and values")):
        with app.expect_rerun():
            main.get_by_role("radio").first.check(force=True)
        reveal = page.get_by_role("switch", name="Reveal the answer")
        with app.expect_rerun():
            page.get_by_text("Reveal the answer").click()  # the mouse on the switch (its label takes the click)
        expect(reveal).to_be_checked()
        reveal.focus()
        assert page.evaluate("() => document.activeElement.getAttribute('role')") == "switch"  # focus on the switch
        with app.expect_rerun():
            page.keyboard.press(key)
        expect(_h2(page)).to_have_text(heading, timeout=patience(30_000))
    expect(page.get_by_role("heading", name="2. Self-attention, step by step")).to_be_visible()  # the next lesson
    assert re.search(r"[?&]lessons\.lesson=2\.", page.url), page.url
    with app.expect_rerun():
        page.keyboard.press("Space")
    expect(_h2(page)).to_have_text("Scores: QKᵀ / √d_k", timeout=patience(30_000))
    with app.expect_rerun():
        page.keyboard.press("ArrowLeft")
    with app.expect_rerun():
        page.keyboard.press("PageUp")  # back across the boundary: lesson 1's last step
    expect(_h2(page)).to_have_text("Static versus contextual embeddings", timeout=patience(30_000))
    # the lesson list replaces the sidebar on the projector
    expect(page.get_by_test_id("stSidebar")).to_be_hidden()
    with app.expect_rerun():
        page.get_by_role("button", name="2. Self-attention, step by step").click()
    expect(_h2(page)).to_have_text("Queries, keys and values", timeout=patience(30_000))
