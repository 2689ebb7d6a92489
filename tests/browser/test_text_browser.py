"""Text views in headless Chromium on the real MiniLM: real clicks and keys on repeated tokens in the masking
lab, the tokens/words switch in the address bar, and token text shown literally in pills and tables."""

from __future__ import annotations

from urllib.parse import parse_qs, urlencode, urlparse

from playwright.sync_api import expect
from helpers import lesson_query
from st_browser import full_page_screenshot, patience

SENTENCE = "the cat sat on the mat"


def edited_input(page):
    return page.get_by_test_id("stCode").first


def pill(page, name: str):
    return page.get_by_test_id("stButtonGroup").get_by_role("button", name=name, exact=True)


def masks_in_url(page) -> list[str]:
    """The masks a link carries: the pills' labels (Streamlit binds a choice to the URL by its label)."""
    return parse_qs(urlparse(page.url).query).get("masking.masks", [])


def test_each_copy_of_a_repeated_token_is_clicked_by_position(app, shots_dir):
    """Issue 12: clicking the first "the" masked the second (masks=5); clicking it again gave masks=5,5."""
    page = app.page
    app.goto(app.base_url + "masking")
    box = page.get_by_label("Sentence", exact=True)
    with app.expect_rerun():
        box.fill(SENTENCE)
    expect(edited_input(page)).to_contain_text(f"[CLS] {SENTENCE} [SEP]")
    for name, edited in (("the¹", "[CLS] [MASK] cat sat on the mat [SEP]"),
                         ("the²", "[CLS] the cat sat on [MASK] mat [SEP]")):
        with app.expect_rerun():
            pill(page, name).click()
        expect(edited_input(page)).to_contain_text(edited)
        page.wait_for_function("name => new URLSearchParams(location.search).getAll('masking.masks').join() === name",
                               arg=name)
        with app.expect_rerun():  # clicking it again unmasks it
            pill(page, name).click()
        expect(edited_input(page)).to_contain_text(f"[CLS] {SENTENCE} [SEP]")
        page.wait_for_function("() => !new URLSearchParams(location.search).has('masking.masks')")
    # the keyboard: focus the first "the" and press space
    pill(page, "the¹").focus()
    with app.expect_rerun():
        page.keyboard.press("Space")
    expect(edited_input(page)).to_contain_text("[CLS] [MASK] cat sat on the mat [SEP]")
    page.wait_for_function("() => new URLSearchParams(location.search).has('masking.masks')")
    assert masks_in_url(page) == ["the¹"]
    full_page_screenshot(page, shots_dir / "text_masking_repeated.png")


def test_words_switch_in_the_address_bar_and_word_pills(app, shots_dir):
    page = app.page
    app.goto(app.base_url + "masking")
    with app.expect_rerun():
        page.get_by_label("Sentence", exact=True).fill("the unbelievably tired cat")
    with app.expect_rerun():
        page.get_by_role("radio", name="words", exact=True).click()
    page.wait_for_function("() => /[?&]units=words/.test(location.search)")
    with app.expect_rerun():  # one word of five pieces: all of them masked
        pill(page, "unbelievably").click()
    expect(edited_input(page)).to_contain_text("[CLS] the [MASK] [MASK] [MASK] [MASK] [MASK] tired cat [SEP]")
    full_page_screenshot(page, shots_dir / "text_masking_words.png")
    # the link opens in word view on another page too
    app.goto(app.base_url + "attention?units=words")
    expect(page.get_by_role("radio", name="words", exact=True)).to_have_attribute("aria-checked", "true")
    expect(page.get_by_text("words · 6 layers", exact=False).first).to_be_visible()


def test_markdown_characters_are_literal_in_pills_and_tables(app, shots_dir):
    """Pills render their labels as Markdown: every token text is shown as typed (escaped), numbered when repeated."""
    from plm_core.loading import ModelSpec, load_model
    from plm_core.tokens import encode
    from ui.text import picker_labels

    text = "> - * + # [a](b) :red[x] <b>y</b> **z** $x$ the the"
    page = app.page
    app.goto(app.base_url + "masking")
    with app.expect_rerun():
        page.get_by_label("Sentence", exact=True).fill(text)
    encoding = encode(load_model(ModelSpec("embedded", device="cpu")), text)[0]
    expected = picker_labels([t for t, s in zip(encoding.tokens, encoding.special) if not s])
    group = page.get_by_role("toolbar", name="Tokens — click to select")
    expect(group.get_by_role("button")).to_have_text(expected)
    full_page_screenshot(page, shots_dir / "text_masking_markdown.png")
    # the Lessons token table: st.table (which the presenter view scales) renders cells as Markdown; md() keeps
    # each token literal
    app.goto(app.base_url + "lessons?" + urlencode(lesson_query(1, 1, reveal=True, text="> - * + # ok")))
    table = page.get_by_test_id("stTable").first
    expect(table).to_be_visible(timeout=patience(30_000))
    column = [h.strip() for h in table.locator("thead tr > *").all_inner_texts()].index("token")
    cells = [r.locator(":scope > *").nth(column).inner_text().strip() for r in table.locator("tbody tr").all()]
    assert cells == ["[CLS]", ">", "-", "*", "+", "#", "ok", "[SEP]"], cells
    expect(page.get_by_test_id("stCode").first).to_contain_text("[CLS] · > · - · * · + · # · ok · [SEP]")
    full_page_screenshot(page, shots_dir / "text_lessons_table.png")
