"""Per-update compute of the masking lab and the compare page, against plain transformers, in one run.

Run under the team's lock (the machine is shared):

    flock /tmp/plm-bench.lock python3 -m benchmarks.bench_masking [--reps 30] [--full]

Rows: each kind of update the masking page makes (new text, click a mask, substitute, encoder reference),
the occlusion sweep batched vs one forward per masked copy vs a plain transformers loop, and the compare
page's two-sentence update. The real MiniLM at 32 tokens is the target (≤ 50 ms per update); --full adds
bert-base MLM and gpt2-small shapes (random weights) for the sweep.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

import torch

from plm_core.compare import compare_texts
from plm_core.loading import ModelHandle, ModelSpec, load_model
from plm_core.masking import MaskSpec, mask_and_predict, occlusion_sweep
from plm_core.tokens import encode

ROOT = Path(__file__).resolve().parents[1]

BASE = ("the quick brown fox jumps over the lazy dog while the tired cat sat on the warm mat because it was "
        "late in the evening and everyone in the small house had already gone to sleep")


def text_of(handle: ModelHandle, n_tokens: int) -> str:
    """A sentence of exactly ``n_tokens`` tokens (specials included) for this tokenizer."""
    words = BASE.split()
    for k in range(len(words), 0, -1):
        t = " ".join(words[:k])
        if len(encode(handle, t)[0]) <= n_tokens:
            return t
    raise RuntimeError("no prefix fits")


def timed(fn, reps: int, warmup: int = 3) -> list[float]:
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t) * 1000)
    return out


def row(name: str, ms: list[float], base: float | None = None) -> str:
    med = statistics.median(ms)
    ratio = f"{med / base:5.2f}×" if base else ""
    return f"| {name:<62} | {min(ms):7.1f} | {med:7.1f} | {max(ms):7.1f} | {ratio:>7} |"


def plain_update(handle: ModelHandle, text: str, edited: str, reference: str) -> None:
    """What a page without this core does: tokenize and run each sentence on its own, mean-pool."""
    tok, model = handle.tokenizer, handle.model
    with torch.inference_mode():
        embs = []
        for t in (text, edited, reference):
            batch = tok(t, return_tensors="pt")
            hidden = model(**batch).last_hidden_state
            m = batch["attention_mask"].unsqueeze(-1).float()
            embs.append(torch.nn.functional.normalize((hidden * m).sum(1) / m.sum(1), dim=-1))
        _ = [float(embs[1][0] @ embs[0][0]), float(embs[1][0] @ embs[2][0])]


def plain_sweep(handle: ModelHandle, ids: list[int], special: list[bool]) -> None:
    """Plain transformers occlusion: one forward per masked copy (captum's default is the same)."""
    model, mask_id = handle.model, handle.tokenizer.mask_token_id
    with torch.inference_mode():
        base = model(input_ids=torch.tensor([ids])).last_hidden_state.mean(1)
        for i, s in enumerate(special):
            if s:
                continue
            row_ids = ids[:i] + [mask_id] + ids[i + 1:]
            h = model(input_ids=torch.tensor([row_ids])).last_hidden_state.mean(1)
            _ = float(torch.nn.functional.cosine_similarity(h, base)[0])


def full_size_handles() -> list[tuple[str, ModelHandle]]:
    """bert-base MLM (MiniLM's uncased vocabulary) and gpt2-small shapes with random weights."""

    from transformers import BertConfig, BertForMaskedLM, GPT2Config, GPT2LMHeadModel

    from plm_core.testing import bpe_tokenizer

    mini = load_model(ModelSpec("embedded", device="cpu"))
    torch.manual_seed(0)
    bert = BertForMaskedLM(BertConfig(attn_implementation="eager")).eval()
    gtok = bpe_tokenizer()
    gtok.pad_token = gtok.eos_token
    gpt = GPT2LMHeadModel(GPT2Config(attn_implementation="eager")).eval()
    out = []
    for name, model, tok, kind in (("bert-base MLM (random)", bert, mini.tokenizer, "masked_lm"),
                                   ("gpt2-small (random)", gpt, gtok, "causal_lm")):
        for p in model.parameters():
            p.requires_grad_(False)
        out.append((name, ModelHandle(ModelSpec(name), model, tok, torch.device("cpu"), kind, name)))
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=30)
    ap.add_argument("--tokens", type=int, default=32)
    ap.add_argument("--threads", type=int, default=min(2, os.cpu_count() or 1),
                    help="torch CPU threads (1 is far steadier when other processes share the 2 cores)")
    ap.add_argument("--full", action="store_true", help="also bert-base MLM and gpt2-small shapes (slow)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    handle = load_model(ModelSpec("embedded", device="cpu"))
    text = text_of(handle, args.tokens)
    enc, _ = encode(handle, text)
    n = len(enc)
    ref = "A dog was sleeping on the rug."
    reps = args.reps
    print(f"# bench_masking: MiniLM (real) at {n} tokens, CPU, {torch.get_num_threads()} threads, {reps} reps; "
          "machine shared with other engineers (noisy)\n")
    print("| update (ms) | min | median | max | vs plain |")
    print("|---|---|---|---|---|")
    floor = timed(lambda: handle.model(**encode(handle, text)[1]), reps)
    print(row("plain transformers: one forward, batch 1 (floor)", floor))
    plain = timed(lambda: plain_update(handle, text, text.replace("cat", "[MASK]"), ref), reps)
    base = statistics.median(plain)
    print(row("plain transformers: original + edited + reference, 3 forwards", plain))
    print(row("encode only (token pills for a new text)", timed(lambda: encode(handle, text), reps), base))
    print(row("type a new text (no mask): mask_and_predict + reference",
              timed(lambda: mask_and_predict(handle, text, MaskSpec(), reference=ref), reps), base))
    print(row("click a token: mask 1 token + reference",
              timed(lambda: mask_and_predict(handle, text, MaskSpec((3,)), reference=ref), reps), base))
    print(row("click 3 tokens: mask 3 tokens + reference",
              timed(lambda: mask_and_predict(handle, text, MaskSpec((3, 5, 9)), reference=ref), reps), base))
    print(row("substitute a 2-token word + reference",
              timed(lambda: mask_and_predict(handle, text, MaskSpec((3,), "substitute", "hedgehog"),
                                             reference=ref), reps), base))
    print(row("delete a token, no reference",
              timed(lambda: mask_and_predict(handle, text, MaskSpec((3,), "delete")), reps), base))
    print(row("compare page: two sentences (alignment, attention diff)",
              timed(lambda: compare_texts(handle, text, text.replace("cat", "dog")), reps), base))
    sweep_reps = max(5, reps // 3)
    loop = timed(lambda: plain_sweep(handle, list(enc.input_ids), list(enc.special)), sweep_reps, warmup=1)
    sweep_base = statistics.median(loop)
    print(row(f"occlusion: plain transformers loop, {n - 2} forwards", loop))
    print(row("occlusion_sweep: one forward per masked copy (batch_size=1)",
              timed(lambda: occlusion_sweep(handle, text, batch_size=1), sweep_reps, warmup=1), sweep_base))
    print(row(f"occlusion_sweep: batched, {n - 1} rows in one forward",
              timed(lambda: occlusion_sweep(handle, text), sweep_reps, warmup=1), sweep_base))
    if args.full:
        for name, h in full_size_handles():
            t = text_of(h, args.tokens) if h.kind == "causal_lm" else text
            spec = MaskSpec((3,)) if h.kind == "masked_lm" else MaskSpec((3,), "delete")
            r = max(3, reps // 6)
            one = timed(lambda: mask_and_predict(h, t, spec), r, warmup=1)
            print(row(f"{name}: click a token (mask_and_predict)", one))
            loop1 = timed(lambda: occlusion_sweep(h, t, spec, batch_size=1), max(2, r // 2), warmup=1)
            print(row(f"{name}: occlusion, one forward per copy", loop1))
            print(row(f"{name}: occlusion, batched", timed(lambda: occlusion_sweep(h, t, spec), max(2, r // 2),
                                                            warmup=1), statistics.median(loop1)))


if __name__ == "__main__":
    main()
