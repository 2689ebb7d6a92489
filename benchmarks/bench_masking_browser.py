"""User action → updated chart on the masking lab and the compare page, in headless Chromium on the real
MiniLM (TESTING.md §7).

For each server setup (SETUPS) it starts a streamlit server on a free 127.0.0.1 port, opens /masking with one
token masked, and 10 times measures, inside the page, from the user's keydown or mouse-down to the first
animation frame whose plotly charts show new numbers:

- "Enter": the text is filled and Enter commits it at once;
- "live": one character is typed and nothing else: the page's live text input commits after its pause
  (ui.LIVE_PAUSE), which is part of the measured time;
- "click": a token is clicked to mask it (from the mouse-down);
- "compare": on /compare, sentence B is filled and Enter pressed; until every chart on the page shows new numbers.

Run under the team's lock (the machine is shared):

    flock /tmp/plm-bench.lock python3 -m benchmarks.bench_masking_browser [--tries 10]
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import tempfile
import time
from pathlib import Path

from playwright.sync_api import sync_playwright
from tests.browser.st_browser import CHROMIUM, CHROMIUM_ARGS, instrument_page, streamlit_server

from ui import LIVE_PAUSE

ROOT = Path(__file__).resolve().parents[1]

SENTENCES = [
    "the cat sat on the mat", "a dog slept under the old table", "my sister reads a book every night",
    "the river runs past the quiet town", "we cooked dinner for our neighbours", "the train left the station late",
    "birds sing in the garden at dawn", "the teacher wrote a long word on the board",
    "snow covered the hills this morning", "he painted the small boat bright red",
    "the children played football in the park", "a storm broke the window last night",
]

# one signature per plotly chart on the page (its x and z arrays)
CHART_SIG = """() => [...document.querySelectorAll('[data-testid="stPlotlyChart"] .js-plotly-plot')].map(gd =>
  gd.data ? JSON.stringify(gd.data.map(d => [d.x, d.z]), (k, v) => ArrayBuffer.isView(v) ? Array.from(v) : v) : null)"""

ARM = """([old, event]) => {
  window.__t0 = null;
  window.__old = old;
  document.addEventListener(event, () => { if (window.__t0 === null) window.__t0 = performance.now(); },
                            {once: true, capture: true});
}"""

# the first frame where every chart that was on the page shows new numbers
CHANGED = """() => {
  if (window.__t0 === null) return false;
  const sigs = (%s)();
  const stale = window.__old.some((old, i) => sigs[i] === null || sigs[i] === old);
  if (sigs.length < window.__old.length || stale) return false;
  return performance.now() - window.__t0;
}""" % CHART_SIG

READY = "() => (%s)().some(sig => sig !== null)" % CHART_SIG


def measure(page, action, event: str = "keydown") -> tuple[float, float]:
    """(in-page ``event`` → frame where every chart changed, Python wall clock) in ms."""
    old = page.evaluate(CHART_SIG)
    page.evaluate(ARM, [old, event])
    t = time.perf_counter()
    action()
    handle = page.wait_for_function(CHANGED, polling="raf", timeout=30_000)
    wall = (time.perf_counter() - t) * 1000
    return float(handle.json_value()), wall


def stats(xs: list[float]) -> str:
    return f"{min(xs):7.0f} | {statistics.median(xs):7.0f} | {max(xs):7.0f}"


# Server settings compared in one run. "plm-lens": the app as shipped (.streamlit/config.toml turns off Streamlit's
# gc.collect(2) after every run; plm_core sets OMP_WAIT_POLICY=PASSIVE). "stock": Streamlit's and libgomp's
# defaults (an empty OMP_WAIT_POLICY is ignored by libgomp, so its threads spin as they do by default).
SETUPS = {
    "plm-lens": {},
    "stock": {"STREAMLIT_RUNNER_POST_SCRIPT_GC": "true", "OMP_WAIT_POLICY": ""},
}


def run(setup: str, tries: int, threads: int | None, model: str = "embedded"
        ) -> tuple[dict[str, list[tuple[float, float]]], list[str], Path]:
    """Start a server with ``SETUPS[setup]``, time ``tries`` Enter and live updates; (results, console errors, log)."""
    log = Path(tempfile.mkdtemp()) / "server.log"
    env = {"HF_HUB_OFFLINE": "1", "PLM_DEVICE": "cpu", "PLM_DEFAULT_MODEL": model, **SETUPS[setup]}
    if threads:
        env["OMP_NUM_THREADS"] = str(threads)
    with contextlib.ExitStack() as stack:
        base = stack.enter_context(streamlit_server(ROOT, log_path=log, env=env))
        pw = stack.enter_context(sync_playwright())
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        stack.callback(browser.close)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        app = instrument_page(page)
        app.goto(base + "masking")
        page.wait_for_function(READY)
        box = page.get_by_label("Sentence", exact=True)
        box.click()
        # warm-up: first imports and model load are not what a student waits for on each key
        with app.expect_rerun():
            box.fill("warm up the model")
            box.press("Enter")
        results: dict[str, list[tuple[float, float]]] = {"Enter": [], "live": [], "click": [], "compare": []}
        for n in range(tries):
            sentence = SENTENCES[n % len(SENTENCES)] + (" " * (n // len(SENTENCES)))

            def enter(s=sentence):
                box.fill(s)  # no commit yet: the live pause has not passed
                box.press("Enter")

            results["Enter"].append(measure(page, enter))
            app.wait_finished_after(app.finished - 1)
            page.wait_for_timeout(400)  # let the live timer of the fill (same text) run out
            results["live"].append(measure(page, lambda: box.press("End") or box.press_sequentially("s")))
            app.wait_finished_after(app.finished - 1)
            page.wait_for_timeout(200)
            token = page.get_by_role("button", name=sentence.split()[1], exact=True)  # once in each sentence
            results["click"].append(measure(page, token.click, "mousedown"))
            page.wait_for_timeout(400)
        # the compare page: a new sentence B (+ Enter) → its prediction and attention-difference charts
        app.goto(base + "compare?compare.a=the+cat+sat+on+the+mat&compare.b=a+dog+sat+on+the+rug")
        page.wait_for_function(READY)
        box_b = page.get_by_label("Sentence B", exact=True)
        for n in range(tries):
            sentence = SENTENCES[(n + 1) % len(SENTENCES)] + (" " * (n // len(SENTENCES)))

            def enter_b(s=sentence):
                box_b.fill(s)
                box_b.press("Enter")

            results["compare"].append(measure(page, enter_b))
            app.wait_finished_after(app.finished - 1)
            page.wait_for_timeout(400)
        return results, app.errors, log


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tries", type=int, default=10)
    ap.add_argument("--threads", type=int, default=None,
                    help="OMP_NUM_THREADS for the server (torch CPU threads); default: torch's own (all cores)")
    ap.add_argument("--setups", nargs="+", choices=sorted(SETUPS), default=list(SETUPS))
    ap.add_argument("--model", default="embedded", help="the server's model (PLM_DEFAULT_MODEL): embedded, smollm2, …")
    args = ap.parse_args()
    runs = {setup: run(setup, args.tries, args.threads, args.model) for setup in args.setups}
    print(f"# bench_masking_browser: /masking and /compare on {args.model}, {args.tries} tries, "
          f"headless Chromium, server torch threads: {args.threads or 'default'}; server logs: "
          + ", ".join(f"{setup} {log}" for setup, (_, _, log) in runs.items()))
    print("\n| server | user action → updated chart (ms) | min | median | max |")
    print("|---|---|---|---|---|")
    for setup, (results, _, _) in runs.items():
        for name, label in (("Enter", "fill + Enter, in page (keydown → frame)"),
                            ("live", f"one key, no Enter (live pause {LIVE_PAUSE} incl.), in page"),
                            ("click", "click a token to mask it, in page (mousedown → frame)"),
                            ("compare", "compare page: sentence B + Enter, in page (all charts)")):
            print(f"| {setup} | {label:<56} | {stats([r[0] for r in results[name]])} |")
            print(f"| {setup} | {name + ': Python wall clock':<56} | {stats([r[1] for r in results[name]])} |")
    if len(runs) > 1:
        ours, *others = runs
        names = list(runs[ours][0])
        for other in others:
            ratios = [statistics.median(r[0] for r in runs[other][0][name])
                      / statistics.median(r[0] for r in runs[ours][0][name]) for name in names]
            print(f"\nmedian {other} / {ours}: " + ", ".join(f"{n} {r:.2f}×" for n, r in zip(names, ratios)))
    for setup, (_, errors, _) in runs.items():
        if errors:
            print(f"\nconsole errors ({setup}):", errors)


if __name__ == "__main__":
    main()
