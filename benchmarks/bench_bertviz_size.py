"""How long Chromium takes to draw a bertviz view, by its size (SVG elements): the limit the Attention page uses.

Each view of ``plm_core.viz.bertviz_html`` (random attention of n tokens, L layers, H heads) is loaded in headless
Chromium (Playwright, Debian's /usr/bin/chromium); the time is from navigation until the view's SVG has as many
elements as it will have (the script draws synchronously), counted with the number of elements drawn. Compare the
count with :func:`plm_core.viz.bertviz_html.view_elements`.

    python3 -m benchmarks.bench_bertviz_size            # prints one JSON line per case
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from plm_core.types import AttentionResult, Encoding
from plm_core.viz.bertviz_html import bertviz_html, view_elements

CASES = [  # (view, tokens, layers, heads)
    ("head", 32, 6, 12), ("head", 64, 6, 12), ("head", 96, 6, 12), ("head", 128, 6, 12), ("head", 128, 12, 12),
    ("model", 16, 6, 12), ("model", 24, 6, 12), ("model", 32, 6, 12), ("model", 48, 6, 12), ("model", 64, 6, 12),
    ("model", 32, 12, 12),
]


def fake_result(n: int, layers: int, heads: int, seed: int = 0) -> AttentionResult:
    rng = np.random.default_rng(seed)
    w = rng.random((layers, heads, n, n)).astype(np.float32) ** 4
    w /= w.sum(-1, keepdims=True)
    tokens = tuple(f"t{i}" for i in range(n))
    enc = Encoding("x", tokens, tuple(range(n)), (False,) * n, (0,) * n, ((0, 0),) * n)
    return AttentionResult("bench", enc, w)


def main() -> None:
    from playwright.sync_api import sync_playwright

    rows = []
    with sync_playwright() as pw, tempfile.TemporaryDirectory() as tmp:
        browser = pw.chromium.launch(executable_path="/usr/bin/chromium", headless=True,
                                     args=["--no-sandbox", "--disable-gpu", "--no-first-run"])
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        for view, n, layers, heads in CASES:
            path = Path(tmp) / f"{view}-{n}-{layers}-{heads}.html"
            path.write_text(bertviz_html(fake_result(n, layers, heads), view), encoding="utf-8")
            t0 = time.perf_counter()
            page.goto(path.as_uri(), wait_until="load", timeout=300_000)
            page.wait_for_function("document.querySelectorAll('#vis svg *').length > 0", timeout=300_000)
            seconds = time.perf_counter() - t0
            drawn = page.evaluate("document.querySelectorAll('#vis svg *').length")
            rows.append({"view": view, "tokens": n, "layers": layers, "heads": heads, "seconds": round(seconds, 3),
                         "svg_elements": drawn, "estimated": view_elements(view, n, layers, heads)})
            print(json.dumps(rows[-1]), flush=True)
        browser.close()


if __name__ == "__main__":
    sys.exit(main())
