"""The Evaluate page in headless Chromium: upload a labelled file, score it with a (tiny, local) classifier, see
the confusion matrix, open an error in Attribution with its text and class filled in."""

from __future__ import annotations

import urllib.parse

from playwright.sync_api import expect
from st_browser import answer_slow_warning, full_page_screenshot, patience

T = 30_000  # ms per expectation: the shared 2-core machine can be heavily loaded
TEXTS = ["good movie", "bad film", "a great book", "awful plot", "fun story", "boring acting", "loved it",
         "hated the film"]


def test_upload_confusion_matrix_and_an_error_opens_in_attribution(app, shots_dir, tmp_path):
    from plm_core.testing import save_tiny

    from plm_core.loading import ModelSpec, load_model

    folder = save_tiny("classifier", tmp_path / "clf")
    labels = load_model(ModelSpec(str(folder), device="cpu")).config.id2label
    csv_path = tmp_path / "labelled.csv"
    csv_path.write_text("text,label\n" + "".join(f"{t},{labels[i % 2]}\n" for i, t in enumerate(TEXTS)))
    app.goto(app.base_url + "evaluate?" + urllib.parse.urlencode({"model": str(folder)}))
    page = app.page
    with app.expect_rerun():
        page.get_by_test_id("stRadio").get_by_text("Upload a labelled file", exact=True).click()
    with app.expect_rerun():
        page.locator("input[type=file]").set_input_files(str(csv_path))
    expect(page.get_by_text("8 examples from upload labelled.csv", exact=False)).to_be_visible(timeout=patience(T))
    with app.expect_rerun(timeout_ms=120_000):
        page.get_by_role("button", name="Evaluate 8 examples").click()
    confusion = page.get_by_test_id("stPlotlyChart").nth(1)
    expect(confusion.locator("text.gtitle")).to_contain_text("Confusion matrix (8 examples)", timeout=patience(T))
    expect(confusion.locator("g.hm image, g.heatmaplayer")).not_to_have_count(0, timeout=patience(T))
    full_page_screenshot(page, shots_dir / "evaluate_confusion.png")
    errors = page.get_by_test_id("stSelectbox").filter(has_text="Open an error")
    expect(errors).to_be_visible(timeout=patience(T))
    chosen = errors.get_by_role("combobox").input_value()  # "<gold> → <predicted>: <text>"
    text = chosen.split(": ", 1)[1]
    predicted = chosen.split(" → ", 1)[1].split(":", 1)[0]
    with app.expect_rerun():
        page.get_by_role("button", name="Explain in Attribution").click()
    answer_slow_warning(app)
    expect(page.get_by_label("Sentence", exact=True)).to_have_value(text, timeout=patience(T))
    expect(page.get_by_role("combobox", name="Explain the class")).to_have_value(predicted, timeout=patience(T))
    expect(page.get_by_test_id("stMarkdownContainer").filter(has_text="Explained:").first).to_contain_text(
        predicted, timeout=patience(T))
    full_page_screenshot(page, shots_dir / "evaluate_error_to_attribution.png")
