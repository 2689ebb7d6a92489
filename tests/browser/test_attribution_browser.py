"""The attribution page in headless Chromium on the embedded MiniLM: type, pick methods, see highlights."""

from __future__ import annotations

from playwright.sync_api import expect
from st_browser import answer_slow_warning, full_page_screenshot, patience, set_text_area


def _pick_method(app, label: str) -> None:
    """Type the method's name into the multiselect and press Enter (robust to re-renders of the list)."""
    from st_browser import wait_idle

    page = app.page
    box = page.get_by_test_id("stMultiSelect").first.locator("input")
    box.click()
    box.fill(label)
    expect(page.get_by_role("option", name=label, exact=True)).to_be_visible()
    with app.expect_rerun(timeout_ms=120_000):
        box.press("Enter")
    page.keyboard.press("Escape")
    wait_idle(page, timeout_ms=120_000)
    answer_slow_warning(app)


def test_type_pick_method_see_highlights(app, shots_dir):
    app.goto(app.base_url + "attribution")
    page = app.page
    answer_slow_warning(app)
    expect(page.locator(".plm-attribution").first).to_be_visible(timeout=patience(60_000))
    set_text_area(app, "Sentence", "the quick brown fox jumps over the lazy dog")
    answer_slow_warning(app)
    highlight = page.locator(".plm-attribution").first
    expect(highlight.locator(".plm-token", has_text="fox")).to_have_count(1)
    expect(highlight.locator(".plm-token")).to_have_count(11)  # [CLS] + 9 words + [SEP]
    expect(page.get_by_text("Completeness error", exact=False).first).to_be_visible()
    _pick_method(app, "Occlusion (token ablation)")
    expect(page.locator(".plm-attribution")).to_have_count(2, timeout=patience(60_000))
    expect(page.get_by_text("Rank agreement", exact=False).first).to_be_visible()
    # a coloured token: the background is not white for the highest-scoring word
    colours = page.locator(".plm-attribution").first.locator(".plm-token").evaluate_all(
        "els => els.map(e => getComputedStyle(e).backgroundColor)")
    assert any(c not in ("rgb(255, 255, 255)", "rgba(0, 0, 0, 0)") for c in colours), colours
    full_page_screenshot(page, shots_dir / "attribution_two_methods.png")


def test_every_method_runs_on_the_embedded_model(app, shots_dir):
    app.goto(app.base_url + "attribution")
    page = app.page
    answer_slow_warning(app)
    set_text_area(app, "Sentence", "a dog runs fast")
    answer_slow_warning(app)
    # DeepLift does not fit a transformer: not offered, listed with the reason
    expect(page.get_by_text("Not offered for this model — DeepLift", exact=False)).to_be_visible()
    for label in ["Gradient × Input", "Saliency", "GradientSHAP", "Occlusion (token ablation)",
                  "KernelSHAP", "LIME", "Attention (last layer)", "Attention rollout"]:
        _pick_method(app, label)
    expect(page.locator(".plm-attribution")).to_have_count(9, timeout=patience(120_000))
    expect(page.get_by_test_id("stAlertContentError")).to_have_count(0)
    expect(page.get_by_role("button", name="Download JSON", exact=False)).to_be_visible()
    full_page_screenshot(page, shots_dir / "attribution_all_methods.png")
