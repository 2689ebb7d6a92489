"""Costs of hostile input (issue 10), as same-run ratios against the plain transformers path.

1. A pair of two long texts (the second-sentence boxes): ``tokenizer(a, b, truncation="longest_first")``
   builds every combination of overflow windows of both texts (quadratic), with the model's lock held;
   ``plm_core.tokens.encode`` cuts each text a margin past the limit first and gets the same tokens.
2. ``ui.safe.safe_figure`` on the figures a page draws (per-chart cost of escaping user text for plotly).

    python3 benchmarks/bench_hostile.py [--reps 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def best(fn, reps: int) -> float:
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--reps", type=int, default=3)
    args = parser.parse_args()

    import numpy as np

    from plm_core.loading import ModelSpec, load_model
    from plm_core.tokens import encode
    from plm_core.viz.attention_plots import attention_heatmap
    from plm_core.testing import save_tiny
    from ui.safe import safe_figure

    folder = Path(tempfile.mkdtemp()) / "tiny_bert"
    handles = {"tiny BERT (128 tokens)": load_model(ModelSpec(str(save_tiny("masked_lm", folder)), device="cpu")),
               "MiniLM (256 tokens)": load_model(ModelSpec("embedded", device="cpu"))}
    print("| model | input | tokenizer, longest_first (s) | plm_core encode (s) | ratio |")
    print("|---|---|---|---|---|")
    for name, h in handles.items():
        for chars in (2_000, 20_000):
            text = ("the cat sat on the mat because it was tired. " * (chars // 45 + 1))[:chars]
            plain = best(lambda: h.tokenizer(text, text, truncation="longest_first", max_length=h.max_tokens), args.reps)
            ours = best(lambda: encode(h, text, text), args.reps)
            print(f"| {name} | two texts of {chars:,} characters | {plain:.3f} | {ours:.3f} | {plain / ours:.1f}× |")

    print()
    print("| figure | draw (ms) | safe_figure (ms) | share |")
    print("|---|---|---|---|")
    for n in (16, 128, 256):
        tokens = [f"tok{i}" for i in range(n)]
        matrix = np.random.default_rng(0).random((n, n)).astype(np.float32)
        draw = best(lambda: attention_heatmap(matrix, tokens, "Layer 0, head 0"), args.reps) * 1e3
        fig = attention_heatmap(matrix, tokens, "Layer 0, head 0")
        esc = statistics.median(best(lambda: safe_figure(fig), 1) for _ in range(args.reps)) * 1e3
        print(f"| attention heatmap, {n} tokens | {draw:.1f} | {esc:.1f} | {esc / draw:.0%} |")


if __name__ == "__main__":
    main()
