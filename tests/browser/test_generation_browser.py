"""The generation page in headless Chromium on a tiny GPT-2 (its own server): type a prompt, move the
temperature and top-k sliders (the chart reshapes), press Next (a token is added), click a generated token
(its attribution, attention and logit lens), all offline and without console errors."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect
from st_browser import full_page_screenshot, set_text_area, streamlit_server, wait_until

from plm_core import generation as gen
from plm_core.loading import ModelSpec, load_model

ROOT = __import__("pathlib").Path(__file__).resolve().parents[2]
PROMPT = "the cat sat on the mat, the"  # "the" three times: tokens are picked by position


@pytest.fixture(scope="module")
def tiny_gpt2_dir(tmp_path_factory):
    from plm_core.testing import save_tiny

    return save_tiny("causal_lm", tmp_path_factory.mktemp("gen_browser") / "gpt2")


@pytest.fixture(scope="module")
def server_url(tiny_gpt2_dir, tmp_path_factory):
    """This module's own server: the app opens on the tiny GPT-2 (overrides the MiniLM server)."""
    log = tmp_path_factory.mktemp("streamlit_gen") / "server.log"
    env = {"HF_HUB_OFFLINE": "1", "PLM_DEVICE": "cpu", "PLM_DEFAULT_MODEL": str(tiny_gpt2_dir)}
    with streamlit_server(ROOT, log_path=log, env=env) as url:
        yield url


def _chart(page):
    return page.locator(".st-key-generation-dist, [data-testid='stPlotlyChart']").filter(
        has=page.locator("text.gtitle", has_text="Next token")).locator(".js-plotly-plot").first


def _traces(page) -> dict[str, list[float]]:
    chart = _chart(page)
    chart.wait_for(state="visible")
    # Plotly draws after the rerun ends: wait until it has
    wait_until(page, lambda: chart.evaluate("gd => Array.isArray(gd._fullData) && gd._fullData.length > 0"), 30_000,
               poll_ms=100)
    return chart.evaluate("gd => Object.fromEntries(gd._fullData.filter(t => t.type === 'bar')"
                                 ".map(t => [t.name, Array.from(t.y)]))")


def test_sliders_reshape_and_next_adds_a_token(app, shots_dir, tiny_gpt2_dir):
    page = app.page
    app.goto(app.base_url + "generation")
    expect(page.get_by_role("heading", name="Generation")).to_be_visible()
    set_text_area(app, "Prompt", PROMPT)
    expect(page.get_by_test_id("stCode").get_by_text(PROMPT, exact=True)).to_be_visible()  # the text so far
    before = _traces(page)
    assert list(before) == ["model (T = 1)"]

    # temperature 1.00 → 1.50 with the keyboard, like a person using the slider
    thumb = page.locator(".st-key-generation-temperature").get_by_role("slider")
    thumb.focus()
    with app.expect_rerun():
        for _ in range(10):
            thumb.press("ArrowRight")
    expect(_chart(page).locator("text.gtitle")).to_contain_text("T=1.5")
    after = _traces(page)
    hot = after["after temperature 1.5"]
    assert hot[0] < before["model (T = 1)"][0] and after["model (T = 1)"] == before["model (T = 1)"]

    thumb = page.locator(".st-key-generation-top_k").get_by_role("slider")
    thumb.focus()
    with app.expect_rerun():
        for _ in range(5):
            thumb.press("ArrowRight")
    expect(_chart(page).locator("text.gtitle")).to_contain_text("top-k 5")
    final = _traces(page)["after top-k 5 (drawn from)"]
    assert sum(v > 0 for v in final) == 5
    full_page_screenshot(page, shots_dir / "generation_sliders.png")

    handle = load_model(ModelSpec(str(tiny_gpt2_dir), device="cpu"))
    settings = gen.SamplingSettings(True, 1.5, 5, 1.0, 0)
    for n in (1, 2, 3):
        with app.expect_rerun():
            page.get_by_role("button", name="Next token").click()
        expected = gen.generate(handle, PROMPT, settings, n)
        expect(page.get_by_test_id("stCode").get_by_text(gen.text_of(handle, expected.ids), exact=True)).to_be_visible()
        expect(page.locator(".st-key-generation-pick").get_by_role("radio")).to_have_count(n)
    expect(page.get_by_text("3 generated token(s)", exact=False)).to_be_visible()

    # click the second generated token: its step, attribution, attention and logit lens
    with app.expect_rerun():
        page.locator(".st-key-generation-pick").get_by_role("radio").nth(1).click()
    expect(page.get_by_text("Token 2:", exact=False)).to_be_visible()
    step_chart = page.get_by_test_id("stPlotlyChart").filter(has=page.locator("text.gtitle", has_text="Step 2"))
    expect(step_chart).to_have_count(1)
    page.get_by_role("tab", name="Attribution").click()
    expect(page.locator(".plm-attribution .plm-token")).to_have_count(len(expected.prompt) + 1)
    page.get_by_role("tab", name="Logit lens").click()
    expect(page.get_by_text("read-out equals the model's own output", exact=False)).to_be_visible()
    full_page_screenshot(page, shots_dir / "generation_token.png")


def test_phone_width(app, shots_dir):
    page = app.page
    page.set_viewport_size({"width": 390, "height": 844})
    app.goto(app.base_url + "generation")
    with app.expect_rerun():
        page.get_by_role("button", name="Next token").click()
    expect(page.locator(".st-key-generation-pick").get_by_role("radio")).to_have_count(1)
    expect(_chart(page)).to_be_visible()
    full_page_screenshot(page, shots_dir / "generation_phone.png")
