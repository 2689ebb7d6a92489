"""Benchmark of every page's computation on the embedded real causal LMs (SmolLM2-135M-Instruct, Gemma 3 270M),
against the plain transformers / captum path in the same run.

For 16 and 64 tokens of English text (Gemma: also Chinese), prints one markdown table per model:

- cold start: a fresh Python process importing plm_core and loading the converted model (``load_model``), against
  the same process loading it with plain ``AutoModelForCausalLM.from_pretrained`` (same folder);
- attention page compute: ``extract_attention`` (every layer and head, the display strings) against one plain
  forward with ``output_attentions=True``; the bertviz model-view payload for every layer × head against stock
  bertviz's;
- one generation step: ``generate_steps`` (KV cache + the step's three distributions, candidates and rank) per
  token after the prompt, against ``model.generate`` per token (greedy; both: time for 8 tokens − time for 1,
  divided by 7);
- the logit lens against one plain forward;
- integrated gradients of the next token (auto, and which rule auto kept) against captum's
  ``LayerIntegratedGradients`` with 50 steps on the same function;
- a masking update (``mask_and_predict``, one word deleted) against a plain forward of the edited text.

Calls alternate between the two sides and medians are reported with their ratio. On a machine other jobs load,
absolute times move and the ratios much less; ``--cpu-time`` counts this process's CPU seconds instead of wall
time. Run: ``python3 -m benchmarks.bench_real_models`` (``--models smollm2``, ``--quick``).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT)]
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import torch  # noqa: E402

from plm_core import generation as gen  # noqa: E402
from plm_core import models  # noqa: E402
from plm_core.attention import extract_attention  # noqa: E402
from plm_core.attribution import attribute  # noqa: E402
from plm_core.loading import ModelSpec, load_model  # noqa: E402
from plm_core.logit_lens import logit_lens  # noqa: E402
from plm_core.masking import MaskSpec, mask_and_predict  # noqa: E402
from plm_core.viz.bertviz_html import bertviz_html, stock_bertviz_html  # noqa: E402

ENGLISH = ("The capital of France is Paris, and the capital of Italy is Rome. Every spring the old town by the "
           "river fills with students who come to read, to argue and to walk along the water until late at night.")
CHINESE = "老师说今天的课很有意思，我们学习了语言模型怎样一个词一个词地写出句子，还讨论了注意力机制和温度参数的作用。" * 2
CLOCK = time.perf_counter


def text_of(tokenizer, text: str, n: int) -> str:
    """A prefix of ``text`` (repeated as needed) that tokenises to about ``n`` tokens."""
    ids = tokenizer(text * 4, add_special_tokens=False).input_ids[:n]
    return tokenizer.decode(ids)


def medians(fns: dict[str, callable], budget_s: float, n_max: int) -> dict[str, float]:
    """Median time (ms) of each fn, calls alternating; the number of rounds from the first call's time."""
    for fn in fns.values():
        fn()
    t0 = CLOCK()
    next(iter(fns.values()))()
    first = CLOCK() - t0
    n = max(3, min(n_max, int(budget_s / max(first, 1e-4) / len(fns))))
    times: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(n):
        for name, fn in fns.items():
            t0 = CLOCK()
            fn()
            times[name].append((CLOCK() - t0) * 1e3)
    return {k: statistics.median(v) for k, v in times.items()}


def cold_start(key: str) -> tuple[float, float]:
    """Seconds from a fresh interpreter to a loaded model: through plm_core, and with plain transformers."""
    folder = models.prepare(key)
    ours = ("import time; t=time.perf_counter(); from plm_core.loading import load_model, ModelSpec; "
            f"load_model(ModelSpec({key!r}, device='cpu')); print(time.perf_counter()-t)")
    plain = ("import time; t=time.perf_counter(); import torch; from transformers import AutoModelForCausalLM, "
             f"AutoTokenizer; AutoTokenizer.from_pretrained({str(folder)!r}); AutoModelForCausalLM.from_pretrained("
             f"{str(folder)!r}, attn_implementation='eager', dtype=torch.float32); print(time.perf_counter()-t)")
    out = []
    for code in (ours, plain):
        res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True,
                             env={**os.environ, "PYTHONPATH": str(ROOT)})
        out.append(float(res.stdout.strip().splitlines()[-1]))
    return out[0], out[1]


def bench(key: str, lengths: tuple[int, ...], budget: float) -> list[str]:
    h = load_model(ModelSpec(key, device="cpu"))
    model, tok = h.model, h.tokenizer
    rows = [f"### {key}: {h.n_layers} layers × {h.n_heads} heads, {h.n_parameters / 1e6:.0f} M parameters", "",
            "| view | tokens | plm-lens | plain | plm-lens / plain |", "|---|---|---|---|---|"]
    ours_s, plain_s = cold_start(key)
    rows.append(f"| cold start (new process, converted cache) | – | {ours_s:.1f} s | {plain_s:.1f} s | "
                f"{ours_s / plain_s:.2f}× |")
    texts = [("en", ENGLISH)] + ([("zh", CHINESE)] if key == "gemma3" else [])
    for lang, source in texts:
        for n in lengths:
            text = text_of(tok, source, n)
            ids = tok(text, return_tensors="pt")
            n_tok = ids.input_ids.shape[1]
            label = f"{n_tok} ({lang})"

            def plain_forward(attn: bool = False):
                with torch.no_grad():
                    return model(**ids, output_attentions=attn)

            m = medians({"ours": lambda: extract_attention(h, text), "plain": lambda: plain_forward(True)}, budget, 20)
            rows.append(f"| attention (all layers and heads) | {label} | {m['ours']:.0f} ms | {m['plain']:.0f} ms | "
                        f"{m['ours'] / m['plain']:.2f}× |")
            res = extract_attention(h, text)
            ours_b, stock_b = len(bertviz_html(res, "model").encode()), len(stock_bertviz_html(res, "model").encode())
            rows.append(f"| bertviz model view payload ({h.n_layers} × {h.n_heads} heads) | {label} | "
                        f"{ours_b / 1e6:.2f} MB | {stock_b / 1e6:.2f} MB (stock) | {ours_b / stock_b:.2f}× |")

            start = gen.start(h, text)

            def ours_steps(k: int):
                return gen.generate_steps(h, start, gen.SamplingSettings(), k)

            def plain_steps(k: int):
                with torch.no_grad():
                    return model.generate(**ids, max_new_tokens=k, min_new_tokens=k, do_sample=False,
                                          pad_token_id=tok.pad_token_id)

            m = medians({"o1": lambda: ours_steps(1), "o8": lambda: ours_steps(8), "p1": lambda: plain_steps(1),
                         "p8": lambda: plain_steps(8)}, budget, 10)
            ours_tok, plain_tok = (m["o8"] - m["o1"]) / 7, (m["p8"] - m["p1"]) / 7
            rows.append(f"| one generation step (greedy, per token) | {label} | {ours_tok:.1f} ms | {plain_tok:.1f} ms "
                        f"| {ours_tok / plain_tok:.2f}× |")

            m = medians({"ours": lambda: logit_lens(h, text), "plain": plain_forward}, budget, 20)
            rows.append(f"| logit lens | {label} | {m['ours']:.0f} ms | {m['plain']:.0f} ms (one forward) | "
                        f"{m['ours'] / m['plain']:.2f}× |")

            from captum.attr import LayerIntegratedGradients

            target_id = int(plain_forward().logits[0, -1].argmax())

            def captum_ig():
                def f(x):
                    return torch.softmax(model(input_ids=x).logits[:, -1], -1)[:, target_id]
                with h.lock:
                    return LayerIntegratedGradients(f, model.get_input_embeddings()).attribute(
                        ids.input_ids, torch.full_like(ids.input_ids, tok.pad_token_id), n_steps=50,
                        internal_batch_size=50)

            t0 = CLOCK()
            ig = attribute(h, text, "integrated_gradients")
            ours_ig = CLOCK() - t0
            t0 = CLOCK()
            captum_ig()
            plain_ig = CLOCK() - t0
            chose = f"{ig.params.get('strategy', 'fixed')} {ig.params.get('rule', '')}".strip()
            rows.append(f"| IG next token (auto: {chose}, {ig.params.get('n_steps', '?')} gradients, "
                        f"error {100 * (ig.delta_rel or 0):.2g} %) | {label} | {ours_ig:.1f} s | {plain_ig:.1f} s "
                        f"(captum, 50 steps) | {ours_ig / plain_ig:.2f}× |")

            deleted = MaskSpec((min(2, n_tok - 2),), strategy="delete")
            edited = tok.decode([t for i, t in enumerate(ids.input_ids[0].tolist()) if i != deleted.positions[0]])
            edited_ids = tok(edited, return_tensors="pt")

            def plain_edit():
                with torch.no_grad():
                    return model(**edited_ids)

            m = medians({"ours": lambda: mask_and_predict(h, text, deleted), "plain": plain_edit}, budget, 20)
            rows.append(f"| masking update (delete one token) | {label} | {m['ours']:.0f} ms | {m['plain']:.0f} ms | "
                        f"{m['ours'] / m['plain']:.2f}× |")
    return rows


def main() -> None:
    global CLOCK
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="+", default=["smollm2", "gemma3"], choices=["smollm2", "gemma3"])
    ap.add_argument("--quick", action="store_true", help="16 tokens only, shorter budgets")
    ap.add_argument("--cpu-time", action="store_true", help="CPU seconds of this process instead of wall time")
    args = ap.parse_args()
    if args.cpu_time:
        CLOCK = time.process_time
    torch.set_grad_enabled(True)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads, load average {load:.1f}, clock: "
          f"{'CPU time' if args.cpu_time else 'wall'}\n")
    for key in args.models:
        for row in bench(key, (16,) if args.quick else (16, 64), 3.0 if args.quick else 8.0):
            print(row, flush=True)
        print()


if __name__ == "__main__":
    main()
