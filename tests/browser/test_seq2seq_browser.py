"""An encoder-decoder in headless Chromium: a tiny T5 folder loaded from the sidebar; the bertviz head and model
views draw its encoder, decoder and cross-attention, and the cross-attention heatmap is target × source."""

from __future__ import annotations

from playwright.sync_api import expect
from st_browser import full_page_screenshot, load_model_from_sidebar, plotly_z_shape, set_text_area


def test_t5_folder_three_attention_stacks(app, tiny_dirs, shots_dir):
    app.goto(app.base_url + "attention")
    page = app.page
    load_model_from_sidebar(app, str(tiny_dirs["t5"]))
    expect(page.get_by_test_id("stSidebar").get_by_text("encoder-decoder (T5/BART-style)")).to_be_visible()
    set_text_area(app, "Source", "the cat sat on the mat")
    set_text_area(app, "Target so far (decoder input; optional)", "the cat")

    # the head view: one filter per stack, bertviz's own names; the cross filter draws target | source tokens
    frame = page.frame_locator('[data-testid="stIFrame"]').first
    expect(frame.locator("#vis svg")).to_be_visible()
    options = frame.locator("select#filter option")
    expect(options).to_have_count(3)
    assert options.all_inner_texts() == ["Encoder", "Decoder", "Cross"]
    enc_texts = frame.locator("#vis svg text").count()  # source tokens, left and right
    frame.locator("select#filter").select_option(label="Cross")
    expect(frame.locator("#vis svg text")).not_to_have_count(enc_texts)
    source = enc_texts // 2
    cross_texts = frame.locator("#vis svg text").count()
    target = cross_texts - source
    assert target == 3  # decoder start token + "the cat" (two pieces)
    full_page_screenshot(page, shots_dir / "t5_head_view_cross.png")

    # the model view draws every layer × head of each stack
    page.get_by_role("tab", name="Model view").click()
    model = page.frame_locator('[data-testid="stIFrame"]').nth(1)
    expect(model.locator("select#filter option")).to_have_count(3)
    expect(model.locator("#vis svg").first).to_be_visible()
    model.locator("select#filter").select_option(label="Decoder")
    expect(model.locator("#vis svg").first).to_be_visible()

    # heatmaps: the cross-attention stack is target (rows) × source (columns)
    page.get_by_role("tab", name="Heatmaps & rollout").click()
    with app.expect_rerun():
        page.get_by_test_id("stButtonGroup").get_by_text("cross-attention (target → source)").click()
    chart = page.get_by_test_id("stPlotlyChart").filter(has_text="Layer 0").first
    expect(chart.locator(".js-plotly-plot")).to_be_visible()
    shape = plotly_z_shape(chart, expected=[target, source])  # plotly's decoded [query][key] matrix
    assert shape == [target, source], shape
    ticks = chart.locator(".xtick text").evaluate_all("els => els.map(e => e.textContent)")
    assert ticks[-1] == f"{source - 1}:</s>"  # T5's end token shown as text (plotly reads some tags in labels)
    full_page_screenshot(page, shots_dir / "t5_cross_heatmap.png")
