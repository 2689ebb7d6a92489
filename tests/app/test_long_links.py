"""Issue 25, item 7: the text a link carries is what the app keeps (20,000 characters, cut like typed text,
with a note), and a view whose address is too long to reload says so and offers its texts as a file."""

from __future__ import annotations

import ast
from pathlib import Path
from urllib.parse import urlencode

from helpers import ROOT, open_page, shown

from plm_core.tokens import MAX_CHARS
from ui.widgets import LINK_CHARS

WORDS = " ".join(f"w{i % 97}ord" for i in range(20_000))  # 20,000 words: 137,000 characters


def test_a_long_linked_text_is_cut_to_what_the_app_keeps(app_factory):
    at = open_page(app_factory, "embedded", "pages/attention.py", {"attention.text": WORDS})
    box = at.text_area(key="attention.text")
    assert box.value == WORDS[:MAX_CHARS]
    assert any("keeps at most 20,000 characters" in shown(c.value) and "attention.text" in shown(c.value)
               for c in at.sidebar.caption)
    assert len(urlencode({"attention.text": box.value})) < LINK_CHARS  # the longest ASCII text fits in a link
    assert not any("too long for a link" in shown(w.value) for w in at.sidebar.warning)


def test_a_view_too_long_for_a_link_says_so_and_offers_a_file(app_factory):
    text = "老师说今天的课很有意思。" * 1700  # 20,400 characters, each 9 in a link
    at = open_page(app_factory, "embedded", "pages/attention.py", {"attention.text": text})
    assert at.text_area(key="attention.text").value == text[:MAX_CHARS]
    assert any("too long for a link" in shown(w.value) for w in at.sidebar.warning)
    assert any(b.proto.label == "Download the view's texts" for b in at.get("download_button"))


def test_every_text_box_bound_to_the_address_keeps_at_most_max_chars():
    found = []
    for path in sorted([*ROOT.glob("pages/*.py"), *ROOT.glob("ui/**/*.py"), ROOT / "app.py"]):
        for node in ast.walk(ast.parse(Path(path).read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and \
                    node.func.attr in ("text_area", "text_input") and \
                    not (isinstance(node.func.value, ast.Name) and node.func.value.id == "widgets"):
                kw = {k.arg: k.value for k in node.keywords}
                bound = isinstance(kw.get("bind"), ast.Constant) and kw["bind"].value == "query-params"
                if bound and "max_chars" not in kw and "kwargs" not in {k.arg for k in node.keywords if k.arg} | {
                        getattr(k.value, "id", "") for k in node.keywords if k.arg is None}:
                    found.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert not found, "text boxes bound to the address bar without max_chars: " + ", ".join(found)
