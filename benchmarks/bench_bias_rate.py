"""Scoring rate of one bias run started from the browser against the command line, on the same items.

Issue 24, item 3: a run started on the Bias page used to be scored one chunk per script rerun, at the pace of
the browser's reruns. Now a worker thread of the server scores it with ``plm_core.bias.jobs.run_to_end``, as
the command line does. Both runs here score the same template set (TEMPLATES × the word list, similarity to
the targets, on the embedded MiniLM) into a run store; the rate is read from the store itself: items scored
after the first chunk, divided by the time between the first and the last stored chunk (so model loading and
page start-up are left out of both).

    flock /tmp/plm-bench.lock python3 -m benchmarks.bench_bias_rate [--words 400]
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parents[1]
TEMPLATES = ["This is [X].", "[X] is here.", "Everyone knows [X].", "I met [X] today."]
TARGETS = ["pleasant", "unpleasant"]


def words(n: int) -> list[str]:
    return [f"word{i}" for i in range(n)]


def rate(store: Path) -> tuple[float, int, int]:
    """(items per second after the first chunk, items, chunks) of the store's only run."""
    con = sqlite3.connect(store)
    chunks = con.execute("SELECT start, stop, created FROM chunks ORDER BY start").fetchall()
    con.close()
    if len(chunks) < 2:
        return float("nan"), chunks[-1][1] if chunks else 0, len(chunks)
    items = chunks[-1][1] - chunks[0][1]
    return items / (chunks[-1][2] - chunks[0][2]), chunks[-1][1], len(chunks)


def cli(folder: Path, n_words: int) -> tuple[float, int, int]:
    data = folder / "set.csv"
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["template", "X", "target"])
    for k in range(max(len(TEMPLATES), n_words, len(TARGETS))):
        w.writerow([TEMPLATES[k] if k < len(TEMPLATES) else "", words(n_words)[k] if k < n_words else "",
                    TARGETS[k] if k < len(TARGETS) else ""])
    data.write_text(buf.getvalue(), encoding="utf-8")
    store = folder / "cli.sqlite3"
    env = {**os.environ, "PLM_BIAS_STORE": str(store), "HF_HUB_OFFLINE": "1", "PLM_DEVICE": "cpu"}
    subprocess.run([sys.executable, "-m", "plm_core.bias", "template", "--model", "embedded", "--data", str(data),
                    "--layout", "lists", "--out", str(folder / "cli.json"), "--store"], cwd=ROOT, env=env, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return rate(store)


def browser(folder: Path, n_words: int) -> tuple[float, int, int]:
    from playwright.sync_api import sync_playwright
    from tests.browser.st_browser import CHROMIUM, CHROMIUM_ARGS, instrument_page, streamlit_server

    store = folder / "browser.sqlite3"
    env = {"PLM_BIAS_STORE": str(store), "HF_HUB_OFFLINE": "1", "PLM_DEVICE": "cpu"}
    query = urlencode({"bias.templates": "\n".join(TEMPLATES), "bias.slots": "X: " + ", ".join(words(n_words)),
                       "bias.targets": ", ".join(TARGETS)})
    with streamlit_server(ROOT, log_path=folder / "server.log", env=env) as url, sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        page = b.new_page(viewport={"width": 1280, "height": 900})
        app = instrument_page(page)
        app.goto(url + "bias?" + query)
        with app.expect_rerun(timeout_ms=120_000):
            page.get_by_role("button", name="Run probe").click()
        page.get_by_test_id("stPlotlyChart").first.wait_for(timeout=900_000)  # shown once the worker is done
        b.close()
    return rate(store)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--words", type=int, default=400, help="words in the slot list (items = 4 × words)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        t0 = time.perf_counter()
        results = {"command line": cli(folder, args.words), "browser (worker)": browser(folder, args.words)}
        print(f"{len(TEMPLATES) * args.words:,} items, MiniLM, {time.perf_counter() - t0:.0f} s in all; "
              f"load average {os.getloadavg()[0]:.1f}")
        print(f"{'started from':<18} {'items/s':>9} {'items':>7} {'chunks':>7}")
        for name, (r, n, k) in results.items():
            print(f"{name:<18} {r:>9.1f} {n:>7,} {k:>7}")


if __name__ == "__main__":
    main()
