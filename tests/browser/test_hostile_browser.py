"""Issue 10 in headless Chromium: nothing leaves the machine (case 7), and hostile text shows literally in the
real frontend (cases 1, 5, 6).

- The server's own outbound connections are watched too: a ``sitecustomize`` on its PYTHONPATH
  (tests/browser/outbound/) records every connect()/sendto() off 127.0.0.1 and every DNS lookup of another
  host; without ``browser.serverAddress`` in the config it records Streamlit's external-IP lookup.
- The server is started exactly as the README says (``python3 -m streamlit run app.py`` from the repository
  root), plus the two flags a test cannot do without: a free port (other servers run on this machine) and
  ``--server.headless true`` (else Streamlit asks for an e-mail address on stdin). A control run with the
  same command line, on a copy of the app whose ``.streamlit/config.toml`` lacks the ``[browser]`` section,
  does send usage statistics: so the flags do not hide them, the configuration file stops them.
- ``ui.safe.md`` and ``ui.safe.safe_figure`` checked against Streamlit's own Markdown renderer and plotly.
- The app driven with a 300-character model id, link/image/bold text in every box and a 95 kB text.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlencode

import pytest
from playwright.sync_api import expect
from st_browser import (answer_slow_warning, free_port, full_page_screenshot, instrument_page, patience,
                        load_model_from_sidebar, refuse_outside_requests, set_text_area, wait_healthy, wait_until)

ROOT = Path(__file__).resolve().parents[2]
README_COMMAND = "python3 -m streamlit run app.py"


OUTBOUND = Path(__file__).resolve().parent / "outbound"  # a sitecustomize recording the server's own connections


def _start(app_dir: Path, log: Path, outbound: Path | None = None) -> tuple[subprocess.Popen, str]:
    port = free_port()
    cmd = [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port), "--server.headless", "true"]
    out = open(log, "wb")
    env = None
    if outbound is not None:  # Python loads sitecustomize from PYTHONPATH at start-up: no flag of Streamlit's
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(OUTBOUND), os.environ.get("PYTHONPATH")])),
               "PLM_OUTBOUND_LOG": str(outbound)}
    proc = subprocess.Popen(cmd, cwd=app_dir, stdout=out, stderr=subprocess.STDOUT, env=env)
    base = f"http://127.0.0.1:{port}/"
    try:
        wait_healthy(base, proc, timeout=90)
    except Exception:
        _stop(proc)
        raise
    return proc, base


def _stop(proc: subprocess.Popen) -> None:
    proc.terminate()  # our own PID only
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


def _outside_requests(browser, base: str, expected: bool) -> list[str]:
    """Every request a fresh browser context makes while two pages of the app load and run (refused).

    Statistics are sent after the page has rendered: where they are ``expected`` (the control), wait until they
    are; where not, as long as the control needed at most on an idle machine (3 s), stretched by the load."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    outside = refuse_outside_requests(context)
    page = context.new_page()
    app = instrument_page(page)
    app.goto(base)
    app.goto(base + "attention")
    expect(page.get_by_text("13 tokens", exact=False).first).to_be_visible(timeout=patience(60_000))
    if expected:
        wait_until(page, lambda: any("data.streamlit.io" in u for u in outside), 30_000)
    else:
        page.wait_for_timeout(patience(3000))  # a window in which nothing may leave (the control's came within it)
    context.close()
    return outside


def test_the_readme_server_sends_nothing_off_the_machine(browser, tmp_path):
    assert README_COMMAND in (ROOT / "README.md").read_text(encoding="utf-8")
    control = tmp_path / "control"
    control.mkdir()
    for name in ("app.py", "pages", "ui", "plm_core", ".streamlit"):
        src = ROOT / name
        (shutil.copytree if src.is_dir() else shutil.copy)(src, control / name,
                                                         **({"ignore": shutil.ignore_patterns("__pycache__")}
                                                            if src.is_dir() else {}))
    config = (control / ".streamlit" / "config.toml").read_text(encoding="utf-8")
    assert "gatherUsageStats = false" in config
    (control / ".streamlit" / "config.toml").write_text(config.split("[browser]")[0], encoding="utf-8")

    results, server = {}, {}
    for name, app_dir in (("app", ROOT), ("control", control)):
        outbound = tmp_path / f"{name}.outbound.jsonl"
        proc, base = _start(app_dir, tmp_path / f"{name}.log", outbound)
        try:
            results[name] = _outside_requests(browser, base, expected=name == "control")
        finally:
            _stop(proc)
        server[name] = [json.loads(line) for line in outbound.read_text(encoding="utf-8").splitlines()] \
            if outbound.is_file() else []
    assert any("data.streamlit.io" in u for u in results["control"]), results["control"]  # the recorder sees them
    # ... and the server's own recorder sees Streamlit's external-IP lookup at start-up without the config
    assert any("checkip.amazonaws.com" in c["target"] for c in server["control"]), server["control"]
    assert results["app"] == [], results["app"]
    assert server["app"] == [], [(c["call"], c["target"], c["stack"][-3:]) for c in server["app"]]


# ------------------------------------------------------------------ the escaping helpers in the real frontend ----

CASES = ["**x**", "[a](http://example.invalid)", "![i](http://127.0.0.1:9/i.png)", "*", "$x$ and $y$", "<b>bold</b>",
         "`code`", "# head", "| a | b |", "> quote", ":smile: :red[x] :material/home: :streamlit:",
         "email:someone@example.invalid", "http://example.invalid www.example.invalid", "a -> b <- c <-> d -- e",
         "~~strike~~", "&amp; &lt;b&gt;", "_x_ __y__", "1. item", "- item", "中文 😀 \u202eRTL\u202c", "x\\*y",
         "[MASK] <s> <|endoftext|> <extra_id_0>", ":orange-background[x] :small[y]", "\\", "a\nb"]
SCRIPT = '''
import json, sys
sys.path.insert(0, {root!r})
import plotly.graph_objects as go
import streamlit as st
from ui.safe import md, safe_figure
cases = json.loads({cases!r})
for i, s in enumerate(cases):
    with st.container(key=f"case{{i}}"):
        st.markdown(md(s))
        st.error(md(s))
        st.caption("Sentence: " + md(s) + " end")
fig = go.Figure(go.Bar(x=cases[:6], y=list(range(6)), name=cases[0]))
fig.update_layout(title=cases[1] + " " + cases[5])
st.plotly_chart(safe_figure(fig), key="chart")
'''


@pytest.fixture(scope="module")
def escaping_app(tmp_path_factory):
    folder = tmp_path_factory.mktemp("escaping")
    shutil.copytree(ROOT / ".streamlit", folder / ".streamlit")  # no usage statistics here either
    (folder / "app.py").write_text(SCRIPT.format(root=str(ROOT), cases=json.dumps(CASES)), encoding="utf-8")
    proc, base = _start(folder, folder / "server.log")
    yield base
    _stop(proc)


def test_md_and_safe_figure_show_text_literally_in_streamlit(browser, escaping_app):
    page = browser.new_page(viewport={"width": 1100, "height": 1200})
    app = instrument_page(page)
    app.goto(escaping_app)
    page.wait_for_selector(f".st-key-case{len(CASES) - 1}", timeout=patience(30_000))
    expect(page.locator(".js-plotly-plot .xtick").first).to_be_attached(timeout=patience(30_000))
    for i, text in enumerate(CASES):
        boxes = page.locator(f'.st-key-case{i} [data-testid="stMarkdownContainer"], '
                             f'.st-key-case{i} [data-testid="stCaptionContainer"]')
        expected = " ".join(text.split("\n"))
        shown = [boxes.nth(j).inner_text().replace("\u2060", "") for j in range(boxes.count())]
        assert shown == [expected, expected, f"Sentence: {expected} end"], (text, shown)
        inner = " ".join(boxes.nth(j).inner_html() for j in range(boxes.count()))
        for tag in ("<a ", "<img", "katex", "<strong", "<em>", "<code", "<h1", "<table", "<blockquote", "<del",
                    "<li", "<pre"):
            assert tag not in inner, (text, tag, inner[:300])
    chart = page.locator(".js-plotly-plot")
    assert chart.locator("a").count() == 0  # plotly makes <a> of "<a href=…>" in titles and labels
    ticks = [t.text_content() for t in chart.locator(".xtick text").all()]
    assert "<b>bold</b>" in ticks and "[a](http://example.invalid)" in ticks  # the tags themselves, as text
    title = chart.locator(".gtitle").text_content()
    assert title == CASES[1] + " " + CASES[5]
    assert app.errors == []
    page.close()


# ------------------------------------------------------------------ the app with hostile input ----

HOSTILE = "**x** [a](http://example.invalid) ![i](http://127.0.0.1:9/i.png) <b>b</b> $y$ :red[z]"


def _no_markup_from_user_text(page) -> None:
    assert page.locator("a[href*='example.invalid']").count() == 0
    assert page.locator("img[src*='127.0.0.1:9']").count() == 0
    assert page.get_by_test_id("stException").count() == 0


def _shot(page, name: str) -> None:
    """Screenshots for a person to look at, outside the repository (set PLM_SHOTS to a folder)."""
    folder = os.environ.get("PLM_SHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        full_page_screenshot(page, Path(folder) / f"{name}.png")


def test_a_300_character_model_id_is_a_message_and_the_session_keeps_working(app):
    app.goto(app.base_url + "attention")
    page = app.page
    sidebar = page.get_by_test_id("stSidebar")
    load_model_from_sidebar(app, "a" * 300)
    alert = sidebar.get_by_test_id("stAlertContentError")
    expect(alert).to_contain_text("is not a model id or folder")
    expect(alert).to_contain_text("(300 characters)")
    _shot(page, "sidebar_300_character_model_id")
    set_text_area(app, "Sentence", "a dog runs in the park")
    expect(page.get_by_text("8 tokens", exact=False).first).to_be_visible()
    _no_markup_from_user_text(page)


def test_a_link_to_a_300_character_model_opens_the_default(app):
    app.goto(app.base_url + "attention?model=" + "a" * 300)
    page = app.page
    expect(page.get_by_test_id("stSidebar").get_by_test_id("stAlertContentError")).to_contain_text("opened")
    expect(page.get_by_text("13 tokens", exact=False).first).to_be_visible()
    _no_markup_from_user_text(page)


def test_hostile_text_in_every_box_shows_literally(app):
    page = app.page
    app.goto(app.base_url + "attention")
    set_text_area(app, "Sentence", HOSTILE)
    set_text_area(app, "Second sentence (optional)", HOSTILE)
    _no_markup_from_user_text(page)
    _shot(page, "attention_hostile_text")

    app.goto(app.base_url + "attribution")
    set_text_area(app, "Sentence", HOSTILE)
    set_text_area(app, "Second sentence (the target is the cosine similarity to it)", HOSTILE)
    answer_slow_warning(app)
    explained = page.get_by_test_id("stMarkdownContainer").filter(has_text="Explained:")
    expect(explained).to_contain_text("cosine similarity to")
    assert "'**x** [a](http://example.invalid)" in explained.inner_text().replace("\u2060", "")
    _no_markup_from_user_text(page)
    _shot(page, "attribution_hostile_text")

    app.goto(app.base_url + "masking")
    box = page.get_by_label("Reference sentence", exact=True)
    box.fill(HOSTILE)
    with app.expect_rerun():
        box.press("Enter")
    _no_markup_from_user_text(page)

    app.goto(app.base_url + "compare?" + urlencode({"compare.mode": "one sentence, two models",
                                                     "compare.model_b": "**x** [a](http://example.invalid)"}))
    alert = page.get_by_test_id("stAlertContentError").first
    expect(alert).to_contain_text("**x** [a](http:")
    assert "'**x** [a](http://example.invalid)'" in alert.inner_text().replace("\u2060", "")
    _no_markup_from_user_text(page)
    _shot(page, "compare_hostile_model")


def test_a_95_kB_text_gives_a_short_note_not_a_giant_box(app):
    page = app.page
    app.goto(app.base_url + "attention")
    # the box keeps 20,000 characters, what the app keeps (issue 25, item 7): Streamlit's text area ignores an
    # edit past its max_chars, so the 95 kB text is refused by the box and the longest it keeps is pasted
    box = page.get_by_label("Sentence", exact=True)
    text = "the cat sat on the mat because it was tired. " * 2100
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    box.fill("")
    box.focus()
    page.evaluate("t => navigator.clipboard.writeText(t)", text)
    page.keyboard.press("Control+V")
    expect(box).to_have_value("")
    page.evaluate("t => navigator.clipboard.writeText(t)", text[:20_000])
    page.keyboard.press("Control+V")
    expect(box).to_have_value(text[:20_000])
    with app.expect_rerun():
        box.press("Control+Enter")
    expect(page.get_by_text("256 tokens", exact=False).first).to_be_visible(timeout=patience(60_000))
    alerts = page.get_by_test_id("stAlert")
    boxes = [alerts.nth(i).bounding_box() for i in range(alerts.count())]
    heights = [b["height"] for b in boxes if b]  # alerts in hidden tabs have no box
    assert heights and max(heights) < 200, heights
    _shot(page, "attention_95kB_text")
