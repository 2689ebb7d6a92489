"""Key press → updated chart on the masking lab, in headless Chromium on the real MiniLM (TESTING.md §7).

Starts its own streamlit server on a free 127.0.0.1 port, opens /masking with one token masked, then 10
times types a new sentence and measures, inside the page, from the keydown to the first animation frame
whose plotly chart shows new numbers:

- "Enter": the text is filled and Enter commits it at once;
- "live": one character is typed and nothing else: the page's live text input commits after its pause.

Run under the team's lock (the machine is shared):

    flock /tmp/plm-bench.lock python benchmarks/bench_masking_browser.py [--tries 10]
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "browser"))

from playwright.sync_api import sync_playwright  # noqa: E402
from st_browser import CHROMIUM, CHROMIUM_ARGS, instrument_page, streamlit_server  # noqa: E402

SENTENCES = [
    "the cat sat on the mat", "a dog slept under the old table", "my sister reads a book every night",
    "the river runs past the quiet town", "we cooked dinner for our neighbours", "the train left the station late",
    "birds sing in the garden at dawn", "the teacher wrote a long word on the board",
    "snow covered the hills this morning", "he painted the small boat bright red",
    "the children played football in the park", "a storm broke the window last night",
]

CHART_SIG = """() => {
  const gd = document.querySelector('[data-testid="stPlotlyChart"] .js-plotly-plot');
  if (!gd || !gd.data) return null;
  return JSON.stringify(gd.data.map(d => d.x), (k, v) => ArrayBuffer.isView(v) ? Array.from(v) : v);
}"""

ARM = """(old) => {
  window.__t0 = null;
  window.__old = old;
  document.addEventListener('keydown', () => { if (window.__t0 === null) window.__t0 = performance.now(); },
                            {once: true, capture: true});
}"""

CHANGED = """() => {
  const gd = document.querySelector('[data-testid="stPlotlyChart"] .js-plotly-plot');
  if (!gd || !gd.data || window.__t0 === null) return false;
  const sig = JSON.stringify(gd.data.map(d => d.x), (k, v) => ArrayBuffer.isView(v) ? Array.from(v) : v);
  if (sig === window.__old) return false;
  return performance.now() - window.__t0;
}"""


def measure(page, action) -> tuple[float, float]:
    """(in-page keydown → changed chart frame, Python wall clock) in ms."""
    old = page.evaluate(CHART_SIG)
    page.evaluate(ARM, old)
    t = time.perf_counter()
    action()
    handle = page.wait_for_function(CHANGED, polling="raf", timeout=30_000)
    wall = (time.perf_counter() - t) * 1000
    return float(handle.json_value()), wall


def stats(xs: list[float]) -> str:
    return f"{min(xs):7.0f} | {statistics.median(xs):7.0f} | {max(xs):7.0f}"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tries", type=int, default=10)
    ap.add_argument("--threads", type=int, default=None,
                    help="OMP_NUM_THREADS for the server (torch CPU threads); default: torch's own (all cores)")
    args = ap.parse_args()
    log = Path(tempfile.mkdtemp()) / "server.log"
    with contextlib.ExitStack() as stack:
        base = stack.enter_context(streamlit_server(ROOT, log_path=log, env={"HF_HUB_OFFLINE": "1", "PLM_DEVICE": "cpu",
                                                                           **({"OMP_NUM_THREADS": str(args.threads)} if args.threads else {})}))
        pw = stack.enter_context(sync_playwright())
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        stack.callback(browser.close)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        app = instrument_page(page)
        app.goto(base + "masking?masks=2")
        page.wait_for_function(CHART_SIG)
        box = page.get_by_label("Sentence", exact=True)
        box.click()
        # warm-up: first imports and model load are not what a student waits for on each key
        with app.expect_rerun():
            box.fill("warm up the model")
            box.press("Enter")
        results: dict[str, list[tuple[float, float]]] = {"Enter": [], "live": []}
        for n in range(args.tries):
            sentence = SENTENCES[n % len(SENTENCES)] + (" " * (n // len(SENTENCES)))

            def enter(s=sentence):
                box.fill(s)  # no commit yet: the live pause has not passed
                box.press("Enter")

            results["Enter"].append(measure(page, enter))
            app.wait_finished_after(app.finished - 1)
            page.wait_for_timeout(400)  # let the live timer of the fill (same text) run out
            results["live"].append(measure(page, lambda: box.press("End") or box.press_sequentially("s")))
            page.wait_for_timeout(400)
        errors = app.errors
    print(f"# bench_masking_browser: /masking on the embedded MiniLM, {args.tries} tries, headless Chromium, "
          f"server torch threads: {args.threads or 'default'}, "
          "machine shared with other engineers (noisy); server log " + str(log))
    print("\n| key press → updated chart (ms) | min | median | max |")
    print("|---|---|---|---|")
    for name, label in (("Enter", "fill + Enter, in page (keydown → frame)"),
                        ("live", "one key, no Enter (live pause 150 ms incl.), in page")):
        print(f"| {label:<52} | {stats([r[0] for r in results[name]])} |")
        print(f"| {name + ': Python wall clock':<52} | {stats([r[1] for r in results[name]])} |")
    if errors:
        print("\nconsole errors:", errors)


if __name__ == "__main__":
    main()
