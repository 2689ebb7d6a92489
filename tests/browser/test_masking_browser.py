"""Masking lab and compare page in headless Chromium on the real MiniLM: type, click a token to mask it,
share the link and open it in a fresh page; compare two sentences."""

from __future__ import annotations

from urllib.parse import parse_qs, urlparse

from playwright.sync_api import expect
from st_browser import full_page_screenshot, instrument_page, patience

SENTENCE = "the cat sat on the mat"


def edited_input(page):
    return page.get_by_test_id("stCode").first


def test_type_mask_by_click_and_open_the_shared_link(app, browser, shots_dir):
    page = app.page
    app.goto(app.base_url + "masking")
    expect(page.get_by_text("Similarity of the edited sentence").first).to_be_visible()
    box = page.get_by_label("Sentence", exact=True)
    with app.expect_rerun():  # the view follows the text: no button, a short pause in typing commits it
        box.fill(SENTENCE)
    expect(edited_input(page)).to_contain_text("[CLS] the cat sat on the mat [SEP]")
    with app.expect_rerun():  # the token pills: click "cat" to mask it
        page.get_by_role("button", name="cat", exact=True).click()
    expect(edited_input(page)).to_contain_text("[CLS] the [MASK] sat on the mat [SEP]")
    chart = page.get_by_test_id("stPlotlyChart").first
    expect(chart.locator("g.trace.bars g.point")).to_have_count(4)  # 2 similarities × original/edited
    with app.expect_rerun():
        page.get_by_text("Occlusion sweep: mask each token in turn").click()
    expect(page.get_by_text("Occlusion (mask token)").first).to_be_visible(timeout=patience(30_000))
    full_page_screenshot(page, shots_dir / "masking_lab.png")
    # every widget is bound to the URL: the parameter is its key, a pill by its label
    page.wait_for_function("() => new URLSearchParams(location.search).get('masking.masks') === 'cat'")
    shared = page.url
    qs = parse_qs(urlparse(shared).query)
    assert qs["masking.text"] == [SENTENCE] and qs["masking.sweep"] == ["true"] and "model" in qs

    # the link in a fresh browser context (new session, no state) reproduces the view
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        fresh = instrument_page(context.new_page())
        fresh.goto(shared)
        expect(edited_input(fresh.page)).to_contain_text("[CLS] the [MASK] sat on the mat [SEP]")
        expect(fresh.page.get_by_label("Sentence", exact=True)).to_have_value(SENTENCE)
        expect(fresh.page.get_by_text("Occlusion (mask token)").first).to_be_visible(timeout=patience(30_000))
        selected = fresh.page.get_by_test_id("stButtonGroup").filter(has_text="mat").locator("button[aria-pressed='true'], "
                                                                          "button[aria-checked='true']")
        expect(selected).to_have_text(["cat"])
        full_page_screenshot(fresh.page, shots_dir / "masking_shared_link.png")
        assert not fresh.errors, fresh.errors
    finally:
        context.close()


def test_compare_two_sentences(app, shots_dir):
    page = app.page
    app.goto(app.base_url + "compare")
    with app.expect_rerun():
        page.get_by_label("Sentence A", exact=True).fill("the cat sat on the mat")
    with app.expect_rerun():
        page.get_by_label("Sentence B", exact=True).fill("a dog slept on the mat")
    expect(page.get_by_text("matched,", exact=False).first).to_contain_text("5 matched")
    expect(page.get_by_text("Cosine similarity of the two sentence embeddings").first).to_be_visible()
    heat = page.get_by_test_id("stPlotlyChart").nth(1)
    expect(heat.locator(".js-plotly-plot")).to_be_visible()
    expect(heat.locator("text.gtitle")).to_contain_text("B − A")
    full_page_screenshot(page, shots_dir / "compare_sentences.png")


def test_typing_key_by_key_after_an_empty_sentence(app):
    """The sentence emptied (an error, the reference input hidden for that run), then typed with keys 130 ms
    apart (past the live pause: each key commits and reruns interrupt each other): the view ends on the whole
    sentence with its chart, the user's reference sentence is kept, and the page logs no error."""
    page = app.page
    app.goto(app.base_url + "masking")
    with app.expect_rerun():
        page.get_by_label("Reference sentence", exact=True).fill("my own reference")
        page.get_by_label("Reference sentence", exact=True).press("Enter")
    box = page.get_by_label("Sentence", exact=True)
    with app.expect_rerun():
        box.fill("")
        box.press("Enter")
    expect(page.get_by_text("the text is empty: type a sentence")).to_be_visible()
    box.press_sequentially("a dog ran home", delay=130)
    expect(edited_input(page)).to_contain_text("[CLS] a dog ran home [SEP]")
    app.wait_finished_after(app.finished - 1)
    expect(page.get_by_label("Reference sentence", exact=True)).to_have_value("my own reference")
    expect(page.get_by_test_id("stPlotlyChart").first.locator("g.trace.bars g.point")).to_have_count(4)
    assert "ref=my+own+reference" in page.url
    assert not app.errors, app.errors
