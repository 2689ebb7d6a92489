"""Issue 25, item 7 in Chromium: the text a link carries is what the app keeps (cut to 20,000 characters like
typed text), and a reload of the longest allowed text opens the same view (the server refuses much longer
addresses with HTTP 400)."""

from __future__ import annotations

from urllib.parse import parse_qs, urlencode, urlparse

from playwright.sync_api import expect
from st_browser import patience

from plm_core.tokens import MAX_CHARS

T = 120_000
TEXT = " ".join(f"w{i % 97}ord" for i in range(5000))  # 34,999 characters


def test_a_long_link_is_cut_to_what_the_app_keeps_and_reloads(app):
    page = app.page
    page.goto(app.base_url + "attention?" + urlencode({"attention.text": TEXT}))
    box = page.get_by_label("Sentence", exact=True)
    expect(box).to_have_value(TEXT[:MAX_CHARS], timeout=patience(T))
    expect(page.get_by_test_id("stSidebar")).to_contain_text("keeps at most 20,000 characters", timeout=patience(T))
    # the address bar holds what the app keeps, no more
    page.wait_for_function(f"() => new URLSearchParams(location.search).get('attention.text').length === {MAX_CHARS}",
                           timeout=patience(T))
    assert parse_qs(urlparse(page.url).query)["attention.text"] == [TEXT[:MAX_CHARS]]
    response = page.reload()
    assert response is not None and response.status == 200
    expect(page.get_by_label("Sentence", exact=True)).to_have_value(TEXT[:MAX_CHARS], timeout=patience(T))
