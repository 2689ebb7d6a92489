"""Browser fixtures: one streamlit server (embedded MiniLM) per session, Debian's Chromium, and a page
whose every request away from 127.0.0.1 is refused and recorded, and whose console errors fail the test."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install -r requirements-dev.txt)")
from st_browser import (  # noqa: E402,F401 - set_text_area re-exported for older imports
    CHROMIUM,
    CHROMIUM_ARGS,
    StTracker,
    instrument_page,
    patience,
    refuse_outside_requests,
    set_text_area,
    streamlit_server,
)

# Python caches one module named "conftest" (this one or tests/conftest.py, by collection order): offer the
# root conftest's helpers here too, so ``from conftest import assert_no_hooks`` works either way.
from helpers import SHARED_DATA, TINY_KINDS, assert_no_hooks, seed_everything  # noqa: E402,F401

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "shots"

HERE = Path(__file__).resolve().parent


@pytest.hookimpl(tryfirst=True)  # before -m filtering, so `-m "not browser"` deselects these
def pytest_collection_modifyitems(items):
    # (a pytestmark in a conftest marks nothing: mark the tests of this folder here)
    chromium = Path(CHROMIUM).exists() or shutil.which(CHROMIUM)
    skip = pytest.mark.skip(reason=f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    for item in items:
        if HERE in Path(str(item.fspath)).resolve().parents:
            item.add_marker(pytest.mark.browser)
            if not chromium:
                item.add_marker(skip)


@pytest.fixture(scope="module")
def server_url(tmp_path_factory):
    """`streamlit run app.py` on a free 127.0.0.1 port with the embedded default model, one per test module: what
    one module leaves running on its server (a script still computing for a closed page, full caches) cannot slow
    the next module (two tests failed only after the hostile-text module: a chart 3.6 s after the run, not 0.4 s),
    and each module starts from a fresh server, whatever ran before it."""
    log = tmp_path_factory.mktemp("streamlit") / "server.log"
    env = {"HF_HUB_OFFLINE": "1", "PLM_DEVICE": "cpu",
           "PLM_BIAS_STORE": str(tmp_path_factory.mktemp("bias_store") / "runs.sqlite3")}
    with streamlit_server(ROOT, log_path=log, env=env) as url:
        yield url
    print(f"\nstreamlit log: {log}")


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()


class BrowserApp(StTracker):
    """A page on the app: StTracker's waits plus the list of refused outside requests."""

    refused: list[str]


@pytest.fixture
def app(browser, server_url):
    """A fresh page (1280×900) at the app; fails on console errors or any request leaving 127.0.0.1."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    refused = refuse_outside_requests(context)
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    tracker = instrument_page(page)
    tracker.refused = refused
    tracker.dialogs = dialogs
    tracker.base_url = server_url
    page.set_default_timeout(patience(30_000))
    yield tracker
    context.close()
    assert not tracker.errors, f"browser console errors: {tracker.errors}"
    assert not refused, f"requests tried to leave 127.0.0.1: {refused}"
    assert not dialogs, f"a script opened a dialog (injected HTML ran?): {dialogs}"


@pytest.fixture(autouse=True)
def _patient_expect():
    """Playwright's expect() waits 5 s by default: as long, stretched by the machine's load (st_browser.patience)."""
    from playwright.sync_api import expect

    expect.set_options(timeout=patience(5_000))
    yield
    expect.set_options(timeout=5_000)


@pytest.fixture(scope="session")
def shots_dir() -> Path:
    """Where the screenshots go: the folder PLM_SHOTS names (``PLM_SHOTS=shots python3 -m pytest tests/browser``);
    without it none is taken (st_browser.full_page_screenshot)."""
    if not os.environ.get("PLM_SHOTS"):
        return SHOTS
    folder = Path(os.environ["PLM_SHOTS"])
    folder.mkdir(parents=True, exist_ok=True)
    return folder




os.environ.setdefault("PLM_DEVICE", "cpu")
