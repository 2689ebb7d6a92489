"""Benchmark of the foundation: model load, forward + attentions, and bertviz payload size.

Prints markdown tables. Every row measures our code and the plain library baseline in the same run
(alternating calls), so the ratio holds even where absolute times move (a shared machine):

- load: ``load_model`` of the embedded MiniLM (first call in the process = cold, then warm) against plain
  ``AutoTokenizer.from_pretrained`` + ``AutoModel.from_pretrained(attn_implementation="eager")``; and the
  import time of ``plm_core.attention`` in a fresh interpreter.
- forward + attentions: ``extract_attention`` (clean + tokenize + forward under the lock + stack to NumPy)
  against plain ``model(**batch, output_attentions=True)`` on a ready batch, for the real MiniLM and
  bert-base / gpt2 / t5-small (three stacks) / ~1B Llama (rotary, 8 key/value heads) shapes (random weights,
  eager attention) at 16 / 64 / 256 tokens, median of N (``--only t5-small,llama-1b`` for those rows alone);
  on the CPU and, when available, on CUDA (the same script).
- payload: bytes of our offline bertviz HTML against stock bertviz (``html_action="return"``), head and
  model view, MiniLM at 16 / 64 / 256 tokens.

Run: ``flock /tmp/plm-bench.lock python3 -m benchmarks.bench_attention`` (``--quick`` for a smoke run).
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

import torch
from transformers import AutoModel, AutoTokenizer, BertConfig, BertForMaskedLM, GPT2Config, GPT2LMHeadModel

from plm_core.attention import extract_attention
from plm_core.devices import describe_device
from plm_core.loading import ModelHandle, ModelSpec, embedded_model_path, load_model
from plm_core.tokens import encode
from plm_core.viz.bertviz_html import bertviz_html, stock_bertviz_html

ROOT = Path(__file__).resolve().parents[1]

LENGTHS = (16, 64, 256)
WORDS = "the quick brown fox jumps over the lazy dog and the cat sat on the mat".split()


def text_of(n_words: int) -> str:
    return " ".join((WORDS * (n_words // len(WORDS) + 1))[:n_words])


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def median_ms(fns: dict[str, callable], device: torch.device, budget_s: float, n_max: int) -> dict[str, float]:
    """Median wall time (ms) of each fn, calls alternating between them; N from the first call's time."""
    for fn in fns.values():  # warm-up
        fn()
    sync(device)
    t0 = time.perf_counter()
    next(iter(fns.values()))()
    sync(device)
    first = time.perf_counter() - t0
    n = max(3, min(n_max, int(budget_s / max(first, 1e-4) / len(fns))))
    times: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(n):
        for name, fn in fns.items():
            sync(device)
            t0 = time.perf_counter()
            fn()
            sync(device)
            times[name].append((time.perf_counter() - t0) * 1e3)
    return {k: statistics.median(v) for k, v in times.items()} | {"n": n}


SHAPES = ("bert-base", "gpt2", "t5-small", "llama-1b")


def shaped_handle(name: str, device: torch.device) -> ModelHandle:
    """bert-base / gpt2 / t5-small shapes and a ~1B Llama shape (hidden 2048, 16 layers, 32 query heads, 8 key/value
    heads) with random weights (eager), tokenized by the tiny test vocabularies."""
    from transformers import LlamaConfig, LlamaForCausalLM, T5Config, T5ForConditionalGeneration

    from plm_core.testing import bert_tokenizer, bpe_tokenizer, llama_tokenizer, t5_tokenizer

    torch.manual_seed(0)
    if name == "bert-base":
        model, tok, kind = BertForMaskedLM(BertConfig(attn_implementation="eager")), bert_tokenizer(), "masked_lm"
    elif name == "t5-small":  # T5Config's defaults are t5-small's shape
        tok, kind = t5_tokenizer(), "seq2seq"
        model = T5ForConditionalGeneration(T5Config(attn_implementation="eager", decoder_start_token_id=0))
    elif name == "llama-1b":
        tok, kind = llama_tokenizer(), "causal_lm"
        model = LlamaForCausalLM(LlamaConfig(
            hidden_size=2048, intermediate_size=8192, num_hidden_layers=16, num_attention_heads=32,
            num_key_value_heads=8, vocab_size=32000, attn_implementation="eager"))
        tok.pad_token = tok.eos_token
    else:
        tok = bpe_tokenizer()
        model, kind = GPT2LMHeadModel(GPT2Config(attn_implementation="eager")), "causal_lm"
        tok.pad_token = tok.eos_token
    model.eval().to(device)
    for p in model.parameters():
        p.requires_grad_(False)
    return ModelHandle(spec=ModelSpec(f"{name} shape (random)", device=str(device)), model=model, tokenizer=tok,
                       device=device, kind=kind, source="config")


def bench_load(device: torch.device) -> list[str]:
    rows = ["| what | ours | plain transformers | ours / plain |", "|---|---|---|---|"]
    code = "import time; t=time.perf_counter(); import plm_core.attention; print(time.perf_counter()-t)"
    imports = [float(subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                                    check=True).stdout.split()[-1]) for _ in range(2)]
    rows.append(f"| import plm_core.attention (fresh interpreter, torch + transformers) | {min(imports):.2f} s | | |")
    path = embedded_model_path()
    spec = ModelSpec("embedded", device=str(device))
    t0 = time.perf_counter()
    load_model(spec)
    sync(device)
    cold = time.perf_counter() - t0

    def plain():
        AutoTokenizer.from_pretrained(path)
        AutoModel.from_pretrained(path, attn_implementation="eager").eval().to(device)

    t0 = time.perf_counter()
    plain()
    sync(device)
    plain_first = time.perf_counter() - t0
    warm = median_ms({"ours": lambda: load_model(spec), "plain": plain}, device, budget_s=4, n_max=5)
    rows.append(f"| MiniLM first load in the process (ours cold, then plain) | {cold * 1e3:.0f} ms | "
                f"{plain_first * 1e3:.0f} ms | {cold / plain_first:.2f} |")
    rows.append(f"| MiniLM load, warm file cache (median of {warm['n']}) | {warm['ours']:.0f} ms | "
                f"{warm['plain']:.0f} ms | {warm['ours'] / warm['plain']:.2f} |")
    return rows


def bench_forward(device: torch.device, quick: bool, only: tuple[str, ...] = ()) -> list[str]:
    """``only``: shape names (``SHAPES``, "minilm") to run; empty = all. An encoder-decoder's rows include its
    three stacks (the decoder reads its start token): ours and plain run the same batch."""
    rows = ["| model | tokens | extract_attention | plain model(..., output_attentions=True) | ours / plain | N |",
            "|---|---|---|---|---|---|"]
    handles = {}
    if not only or "minilm" in only:
        handles["MiniLM (real)"] = load_model(ModelSpec("embedded", device=str(device)))
    for name in SHAPES:
        if not only or name in only:
            handles[f"{name} shape (random)"] = shaped_handle(name, device)
    for name, h in list(handles.items()):
        for n in LENGTHS[:2] if quick else LENGTHS:
            text = text_of(n)
            enc, batch = encode(h, text, max_tokens=n)
            assert len(enc.segment(0)) == n, (name, n, len(enc))
            batch = batch.to(device)

            def plain(h=h, batch=batch):
                with torch.inference_mode():
                    return h.model(**batch, output_attentions=True)

            def ours(h=h, text=text, n=n):
                return extract_attention(h, text, max_tokens=n)

            t = median_ms({"ours": ours, "plain": plain}, device, budget_s=1.0 if quick else 4.0, n_max=30)
            rows.append(f"| {name} | {n} | {t['ours']:.1f} ms | {t['plain']:.1f} ms | "
                        f"{t['ours'] / t['plain']:.2f} | {t['n']} |")
            print(rows[-1], file=sys.stderr, flush=True)  # progress: a slow row shows as it finishes
        del handles[name], h
    return rows


def bench_payload(quick: bool) -> list[str]:
    rows = ["| tokens | view | ours | stock bertviz | stock / ours |", "|---|---|---|---|---|"]
    h = load_model(ModelSpec("embedded", device="cpu"))
    for n in LENGTHS[:2] if quick else LENGTHS:
        res = extract_attention(h, text_of(n), max_tokens=n)
        for view in ("head", "model"):
            ours = len(bertviz_html(res, view).encode())
            stock = len(stock_bertviz_html(res, view).encode())
            rows.append(f"| {n} | {view} | {ours / 1e6:.2f} MB | {stock / 1e6:.1f} MB | {stock / ours:.1f}× |")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="16/64 tokens, short budgets (smoke run)")
    parser.add_argument("--only", default="", help="comma-separated forward rows to run (minilm, "
                        f"{', '.join(SHAPES)}): skips the load and payload sections")
    args = parser.parse_args()
    only = tuple(x.strip() for x in args.only.split(",") if x.strip())
    devices = [torch.device("cpu")] + ([torch.device("cuda")] if torch.cuda.is_available() else [])
    t_start = time.perf_counter()
    print(f"# bench_attention: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads; load average at start "
          f"{os.getloadavg()[0]:.1f} (a shared machine: compare the ratios, not the absolute times)\n")
    for device in devices:
        if not only:
            print(f"## Load ({describe_device(device)})\n")
            print("\n".join(bench_load(device)) + "\n")
        print(f"## Forward + attentions, batch 1, fp32, eager ({describe_device(device)})\n")
        print("\n".join(bench_forward(device, args.quick, only)) + "\n")
    if not only:
        print("## bertviz payload, MiniLM (6 layers × 12 heads)\n")
        print("\n".join(bench_payload(args.quick)) + "\n")
    print(f"total {time.perf_counter() - t_start:.0f} s; load average at the end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
