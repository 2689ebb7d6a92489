"""Helpers to drive a Streamlit app in Debian's headless Chromium with Playwright.

Adapted from the team's browser-testing recipe (shared/TESTING.md): the server fixture, the
websocket-based rerun wait (StTracker), idle checks and full-page screenshots.
"""
from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from playwright.sync_api import Browser, Page, Playwright, WebSocket
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

from helpers import patience  # noqa: F401 - the bound of every wait below (and the tests' name for it)

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
# Needed on a closed-network, root, GPU-less machine.
# --headless is added by Playwright itself (headless=True).
CHROMIUM_ARGS = [
    "--no-sandbox",                     # we run as root
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",  # else: refused connections to Google hosts
    "--disable-component-update",
    "--disable-sync",
]

# ---------------------------------------------------------------- patience ----



def wait_until(page: Page, condition, timeout_ms: float = 30_000, poll_ms: float = 50) -> None:
    """Poll ``condition()`` (a Python callable) until it is true, for at most ``patience(timeout_ms)``, letting
    Playwright dispatch its events meanwhile. Raises TimeoutError."""
    deadline = time.monotonic() + patience(timeout_ms) / 1000
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"condition not met within {patience(timeout_ms):.0f} ms")
        page.wait_for_timeout(poll_ms)


# ---------------------------------------------------------------- server ----


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_healthy(base_url: str, proc: subprocess.Popen | None = None, timeout: float = 60.0) -> float:
    """Poll /_stcore/health until it answers 'ok' (at most ``patience`` of ``timeout`` s); returns seconds waited."""
    t0 = time.monotonic()
    deadline = t0 + patience(timeout * 1000) / 1000
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"streamlit exited early with code {proc.returncode}")
        try:
            with urllib.request.urlopen(base_url + "_stcore/health", timeout=2) as r:
                if r.status == 200 and r.read().strip() == b"ok":
                    return time.monotonic() - t0
        except OSError:
            pass
        time.sleep(0.2)
    raise TimeoutError(f"{base_url} not healthy after {timeout}s")


class _WarmParent:
    """This pytest process's ``warm_parent.py``: forks Streamlit servers with the heavy libraries already imported
    (see that module for why and what stays as the command does it)."""

    def __init__(self):
        self.env = dict(os.environ)
        self.proc = subprocess.Popen([sys.executable, str(Path(__file__).with_name("warm_parent.py"))],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                     text=True, env=self.env)
        if self.proc.stdout.readline().strip() != "ready":
            raise RuntimeError("the warm parent did not start")

    def accepts(self, env: dict) -> bool:
        """Whether a server with ``env`` may be forked: it differs from the parent's only in PLM_*, STREAMLIT_* and
        pytest's own PYTEST_* (PYTEST_CURRENT_TEST changes with every test)."""
        return all(env.get(k) == self.env.get(k) for k in {*env, *self.env}
                   if not k.startswith(("PLM_", "STREAMLIT_", "PYTEST_")))

    def fork(self, argv: list[str], cwd: Path, env: dict, log: Path) -> _Forked:
        self.proc.stdin.write(json.dumps({"argv": argv, "cwd": str(cwd), "env": env, "log": str(log)}) + "\n")
        self.proc.stdin.flush()
        return _Forked(int(self.proc.stdout.readline()))


class _Forked:
    """A server forked by the warm parent: the part of ``subprocess.Popen`` that ``streamlit_server`` uses (its
    exit status goes to the parent, so ``returncode`` is only "exited": -1)."""

    def __init__(self, pid: int):
        self.pid, self.returncode = pid, None

    def poll(self) -> int | None:
        if self.returncode is None:
            try:
                os.kill(self.pid, 0)
            except ProcessLookupError:
                self.returncode = -1
        return self.returncode

    def terminate(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGTERM)

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGKILL)

    def wait(self, timeout: float) -> int:
        deadline = time.monotonic() + timeout
        while self.poll() is None:
            if time.monotonic() > deadline:
                raise subprocess.TimeoutExpired(f"streamlit (PID {self.pid})", timeout)
            time.sleep(0.05)
        return self.returncode


_warm_parent: _WarmParent | None = None
_last_server: _Forked | subprocess.Popen | None = None  # the newest server (test_warm_servers_browser.py)


def _start_server(argv: list[str], cwd: Path, env: dict, log_path: Path | None):
    """``python3 -m streamlit <argv>``: forked by this process's warm parent where ``env`` allows it, else a plain
    subprocess; its output goes to ``log_path`` (or nowhere)."""
    global _warm_parent
    with contextlib.suppress(OSError, RuntimeError, ValueError):  # no warm parent: a plain subprocess
        if _warm_parent is None or _warm_parent.proc.poll() is not None:
            _warm_parent = _WarmParent()
        if _warm_parent.accepts(env):
            return _warm_parent.fork(argv, cwd, env, log_path or Path(os.devnull))
    log = open(log_path, "wb") if log_path else subprocess.DEVNULL
    try:
        return subprocess.Popen([sys.executable, "-m", "streamlit", *argv], cwd=cwd, stdout=log,
                                stderr=subprocess.STDOUT, env=env)
    finally:
        if log_path:
            log.close()


@contextlib.contextmanager
def streamlit_server(app_dir: Path, script: str = "app.py", port: int | None = None,
                     log_path: Path | None = None, env: dict | None = None):
    """Start `streamlit run` on 127.0.0.1:<port>, yield base URL, stop it (by PID). The server is forked by this
    process's warm parent (``warm_parent.py``) where its environment allows."""
    port = port or free_port()
    argv = [
        "run", script,
        "--server.headless", "true",
        "--server.port", str(port),
        "--server.address", "127.0.0.1",
        "--server.fileWatcherType", "none",
    ]
    global _last_server
    proc = _last_server = _start_server(argv, Path(app_dir), {**os.environ, **(env or {})}, log_path)
    try:
        base = f"http://127.0.0.1:{port}/"
        wait_healthy(base, proc)
        yield base
    finally:
        proc.terminate()            # SIGTERM to *our* PID only
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


# --------------------------------------------------------------- browser ----

def launch_chromium(pw: Playwright) -> Browser:
    # Playwright's launch() already uses a fresh temporary --user-data-dir
    # (passing --user-data-dir in args is rejected; use launch_persistent_context
    # with a tempfile.mkdtemp() dir if you need to control it).
    return pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)


# DIAGNOSTIC ONLY (window.__st.log): the stApp element carries
# data-test-script-state = initial|running|rerunRequested|notRunning|...
# A MutationObserver logs every DOM transition. NOT used for waiting: for a
# fast script React can batch running->notRunning into one commit, so no DOM
# change happens at all (missed 2-4 of 40 reruns on the Echo page). The
# waits use the websocket's script_finished messages instead (StTracker).
RUN_TRACKER_JS = r"""
(() => {
  if (window.__st) return;
  window.__st = {finished: 0, state: null, log: []};
  const rec = (s) => {
    const st = window.__st;
    if (s === st.state) return;
    // notRunning is only ever reached after a run (before the first run the
    // state is 'initial'), so every transition into it is one finished run.
    if (s === 'notRunning') st.finished++;
    st.state = s;
    st.log.push([Math.round(performance.now()), s]);
  };
  const obs = new MutationObserver((muts) => {
    // records are batched: value after record i == oldValue of record i+1
    muts.forEach((m, i) => {
      const next = muts.slice(i + 1).find((n) => n.target === m.target);
      rec(next ? next.oldValue : m.target.getAttribute('data-test-script-state'));
    });
  });
  const start = () => {
    obs.observe(document.documentElement, {subtree: true, attributes: true,
                attributeOldValue: true, attributeFilter: ['data-test-script-state']});
    const app = document.querySelector('[data-testid="stApp"]');
    if (app) rec(app.getAttribute('data-test-script-state'));
  };
  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
  else start();
})();
"""

IDLE_JS = """() => {
  const app = document.querySelector('[data-testid="stApp"]');
  return !!app && app.getAttribute('data-test-script-state') === 'notRunning'
      && app.getAttribute('data-test-connection-state') === 'CONNECTED'
      && !document.querySelector('[data-stale="true"]');
}"""


# Opening a page URL directly (http://host/Echo) makes the frontend probe
# /Echo/_stcore/health and /Echo/_stcore/host-config first (base-path
# detection); both 404 and are logged as console errors. Harmless.
BENIGN_CONSOLE_URL = re.compile(r"/[^/]+/_stcore/(health|host-config)$")


class StTracker:
    """Per-page bookkeeping: console errors + a count of finished script runs.

    Script runs are counted from the websocket itself: every run ends with a
    ForwardMsg `script_finished`, decoded here with Streamlit's own protobuf
    classes. Unlike the DOM attribute data-test-script-state (React can batch
    running->notRunning into one commit for a fast script, so *no* DOM change
    is seen: measured 2/40 misses on a tiny page) this never misses a run.
    """

    def __init__(self, page: Page, ignored: list[str] | None = None):
        self.page = page
        self.errors: list[str] = []
        self.ignored: list[str] = ignored if ignored is not None else []
        self.finished = 0
        self.last_finished_at = 0.0        # time.perf_counter() of last script_finished
        page.add_init_script(RUN_TRACKER_JS)
        page.on("console", self._on_console)
        page.on("pageerror", lambda e: self.errors.append(f"pageerror: {e}"))
        page.on("websocket", self._on_websocket)

    # -- listeners
    def _on_console(self, m) -> None:
        if m.type != "error":
            return
        url = (m.location or {}).get("url", "")
        line = f"console.error: {m.text} [{url}]"
        (self.ignored if BENIGN_CONSOLE_URL.search(url) else self.errors).append(line)

    def _on_websocket(self, ws: WebSocket) -> None:
        if ws.url.endswith("/_stcore/stream"):
            ws.on("framereceived", self._on_frame)

    def _on_frame(self, payload) -> None:
        if not isinstance(payload, (bytes, bytearray)):
            return
        try:
            msg = ForwardMsg.FromString(bytes(payload))
        except Exception:  # not a ForwardMsg: ignore
            return
        if (msg.WhichOneof("type") == "script_finished"
                and msg.script_finished != ForwardMsg.FINISHED_EARLY_FOR_RERUN):
            self.finished += 1
            self.last_finished_at = time.perf_counter()

    # -- waits
    def wait_finished_after(self, before: int, timeout_ms: float = 30_000) -> None:
        """Block (at most ``patience(timeout_ms)``) until a script run finished after `before` was sampled,
        then until the DOM shows it (not running, nothing stale)."""
        try:
            wait_until(self.page, lambda: self.finished > before, timeout_ms, poll_ms=10)  # ws events dispatched
        except TimeoutError:
            raise TimeoutError(f"no script run finished within {patience(timeout_ms):.0f} ms") from None
        wait_idle(self.page, timeout_ms)

    @contextlib.contextmanager
    def expect_rerun(self, timeout_ms: float = 30_000):
        """with tracker.expect_rerun(): box.press("Enter")"""
        before = self.finished
        yield
        self.wait_finished_after(before, timeout_ms)

    def goto(self, url: str, timeout_ms: float = 60_000) -> None:
        before = self.finished
        self.page.goto(url, wait_until="domcontentloaded", timeout=patience(timeout_ms))
        self.wait_finished_after(before, timeout_ms)


def set_text_area(app: StTracker, label: str, text: str) -> None:
    """Type into a text area like a person and commit it (Ctrl+Enter), waiting for the rerun."""
    box = app.page.get_by_label(label, exact=True)
    box.fill(text)
    with app.expect_rerun():
        box.press("Control+Enter")


def instrument_page(page: Page, ignored: list[str] | None = None) -> StTracker:
    """Call before the first goto()."""
    return StTracker(page, ignored)


def new_page(browser: Browser, width: int = 1280, height: int = 900,
             ignored: list[str] | None = None) -> tuple[Page, StTracker]:
    page = browser.new_page(viewport={"width": width, "height": height})
    return page, instrument_page(page, ignored)


def wait_idle(page: Page, timeout_ms: float = 30_000) -> None:
    """DOM says: script not running, websocket connected, no element marked
    stale; then two animation frames so React's commit is painted.
    NB: on its own this is racy right after an action (the old, idle DOM
    matches before the rerun even starts): use StTracker.expect_rerun()."""
    page.wait_for_function(IDLE_JS, timeout=patience(timeout_ms), polling="raf")
    page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")


# every drawn Plotly chart is as wide as its container (Plotly relayouts after the container's width is known)
PLOTS_SIZED_JS = """() => Array.from(document.querySelectorAll('.js-plotly-plot')).every(p =>
    !p._fullLayout || !p.offsetWidth || Math.abs(p._fullLayout.width - p.offsetWidth) <= 2)"""


def wait_plots_sized(page: Page, timeout_ms: float = 5_000) -> None:
    """Until every Plotly chart on the page has relaid out to its container's width, then two animation frames
    (at most ``patience(timeout_ms)``; a chart that keeps a fixed width is left as it is after that)."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    with contextlib.suppress(PlaywrightTimeout):
        page.wait_for_function(PLOTS_SIZED_JS, timeout=patience(timeout_ms), polling="raf")
    page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")


def full_page_screenshot(page: Page, path: str | Path) -> None:
    """Streamlit scrolls inside <section data-testid=stMain>, so Playwright's
    full_page=True only captures the viewport. Grow the viewport to the
    content height, let layout settle, shoot, then restore.

    Only where PLM_SHOTS names a folder (the ``shots_dir`` fixture): screenshots are for a person to look at, no
    test reads them, and each took about 1 s of Chromium's time (12 of them: 13 s of the theme layout test's 79 s).
    """
    if not os.environ.get("PLM_SHOTS"):
        return
    vp = page.viewport_size
    h = page.evaluate("""() => {
        const m = document.querySelector('[data-testid="stMain"]');
        return Math.max(m ? m.scrollHeight : 0, document.documentElement.scrollHeight);
    }""")
    page.set_viewport_size({"width": vp["width"], "height": int(h) + 40})
    wait_plots_sized(page)              # plotly relayout / iframe resize
    wait_idle(page)
    page.screenshot(path=str(path), full_page=True)
    page.set_viewport_size(vp)


LOCAL_HOSTS = {"127.0.0.1", "localhost", "[::1]", "::1"}


def refuse_outside_requests(context) -> list[str]:
    """Route every request of a Playwright browser ``context``: local ones (127.0.0.1, data:, blob:, about:) go on,
    any other is aborted and its URL appended to the returned list."""
    from urllib.parse import urlparse

    refused: list[str] = []

    def guard(route):
        host = urlparse(route.request.url).hostname or ""
        if route.request.url.startswith(("data:", "blob:", "about:")) or host in LOCAL_HOSTS:
            route.continue_()
        else:
            refused.append(route.request.url)
            route.abort()

    context.route("**/*", guard)
    return refused


def answer_slow_warning(app, timeout_ms: int = 180_000) -> None:
    """A busy machine may make the Attribution page ask first ("Run anyway (about N s)", pages/attribution.py, when
    its estimate passes SLOW_S): once the page is idle, click it when it is there, and wait for the run. Answers
    the prompt of each run of the page in turn (the estimate is per request)."""
    wait_idle(app.page)
    button = app.page.get_by_role("button", name="Run anyway", exact=False)
    if button.count():
        with app.expect_rerun(timeout_ms=timeout_ms):
            button.first.click()


def choose_option(app, box, option: str, exact: bool = False, attempts: int = 4,
                  rerun_ms: float | None = None) -> None:
    """Open the select box ``box`` (a Locator) and click ``option``, as a person does. A rerun that redraws the
    box (a query-parameter write, a late fragment) closes an open list: when the option has not appeared within
    5 s, close the list and open it again, at most ``attempts`` times. With ``rerun_ms``, wait (that long at
    most) for the rerun the choice starts."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    page = app.page
    choice = page.get_by_role("option", name=option, exact=exact)
    for attempt in range(attempts):
        wait_idle(page)
        box.click()
        try:
            choice.wait_for(state="visible", timeout=patience(5_000))
        except PlaywrightTimeout:
            if attempt == attempts - 1:
                raise
            page.keyboard.press("Escape")
            continue
        if rerun_ms is None:
            choice.click()
        else:
            with app.expect_rerun(rerun_ms):
                choice.click()
        return


def load_model_from_sidebar(app, model_id: str, timeout_ms: float = 60_000) -> None:
    """Pick "Other: a Hub id or a local folder…" in the sidebar's model box, type ``model_id`` and press
    Load model, waiting for the rerun."""
    sidebar = app.page.get_by_test_id("stSidebar")
    choose_option(app, sidebar.get_by_test_id("stSelectbox").first, "Other: a Hub id or a local folder…")
    sidebar.get_by_label("Hub id or folder", exact=True).fill(model_id)
    with app.expect_rerun(timeout_ms):
        sidebar.get_by_role("button", name="Load model").click()


def plotly_z_shape(chart, timeout_ms: float = 30_000, expected: list[int] | None = None) -> list[int]:
    """[rows, columns] of the first heatmap trace of the Plotly chart in ``chart`` (a Locator of a
    stPlotlyChart). Plotly draws after Streamlit's rerun ends: wait until the trace exists (and, with
    ``expected``, until it has that shape; on timeout the last shape is returned for the assertion)."""
    plot = chart.locator(".js-plotly-plot")
    plot.wait_for(state="visible", timeout=patience(timeout_ms))
    js = "p => (p._fullData && p._fullData[0] && p._fullData[0].z) ? [p._fullData[0].z.length, p._fullData[0].z[0].length] : null"
    shape = [None]

    def drawn() -> bool:
        shape[0] = plot.evaluate(js)
        return shape[0] is not None and (expected is None or shape[0] == expected)

    with contextlib.suppress(TimeoutError):
        wait_until(chart.page, drawn, timeout_ms, poll_ms=100)
    return shape[0]
