"""The attention explorer in headless Chromium with the network unreachable: real MiniLM attention."""

from __future__ import annotations

from playwright.sync_api import expect
from st_browser import full_page_screenshot, load_model_from_sidebar, set_text_area


def test_attention_page_shows_bertviz_and_heatmap_offline(app, shots_dir):
    app.goto(app.base_url + "attention")
    page = app.page
    expect(page.get_by_text("13 tokens", exact=False).first).to_be_visible()
    set_text_area(app, "Sentence", "the quick brown fox jumps over the lazy dog")
    expect(page.get_by_text("11 tokens", exact=False).first).to_be_visible()
    frame = page.frame_locator('[data-testid="stIFrame"]').first
    expect(frame.locator("#vis svg")).to_be_visible()
    # each token is drawn in the left and right column of the head view
    expect(frame.locator("#vis svg text", has_text="fox")).to_have_count(2)
    expect(frame.locator("select#layer option")).to_have_count(6)
    page.get_by_role("tab", name="Heatmaps & rollout").click()
    chart = page.get_by_test_id("stPlotlyChart").first
    expect(chart.locator(".js-plotly-plot")).to_be_visible()
    full_page_screenshot(page, shots_dir / "attention_heatmap.png")


def test_injected_html_is_shown_as_text_never_run(app):
    app.goto(app.base_url + "attention")
    set_text_area(app, "Sentence", "<img src=x onerror=alert(1)> hello")
    page = app.page
    frame = page.frame_locator('[data-testid="stIFrame"]').first
    expect(frame.locator("#vis svg text", has_text="onerror")).to_have_count(0)  # wordpieces: on ##err ##or
    expect(frame.locator("#vis svg text", has_text="hello")).to_have_count(2)
    expect(frame.locator("img")).to_have_count(0)
    # the fixture fails the test if alert() opened a dialog or a request left 127.0.0.1


def test_unknown_model_in_the_sidebar_keeps_the_page_working(app, shots_dir):
    app.goto(app.base_url + "attention")
    page = app.page
    sidebar = page.get_by_test_id("stSidebar")
    expect(sidebar.get_by_text("sentence encoder (no task head)")).to_be_visible()
    load_model_from_sidebar(app, "no-such-org/no-such-model")
    alert = sidebar.get_by_test_id("stAlertContentError")
    expect(alert).to_contain_text("could not load 'no-such-org/no-such-model'")
    expect(alert).to_contain_text("still using sentence-transformers/all-MiniLM-L6-v2")
    full_page_screenshot(page, shots_dir / "attention_unknown_model.png")
    # the previous model still serves the page: new text, new attention
    set_text_area(app, "Sentence", "a dog runs in the park")
    expect(page.get_by_text("8 tokens", exact=False).first).to_be_visible()
    frame = page.frame_locator('[data-testid="stIFrame"]').first
    expect(frame.locator("#vis svg text", has_text="park")).to_have_count(2)
