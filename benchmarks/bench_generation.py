"""Benchmark of generation step by step and the logit lens, against plain transformers in the same run.

Prints markdown tables (gpt2 shape, random weights, eager attention; prompts of 16 and 128 tokens):

- per generated token: ``plm_core.generation.generate_steps`` (KV cache + the per-step bookkeeping: three
  distributions, top-20 candidates, rank, display strings) against ``model.generate`` with the same settings,
  for greedy and for sampling (T 0.8, top-k 50, top-p 0.95). "all" = N tokens incl. the prompt's forward, / N;
  "decode" = (time for N − time for 1) / (N − 1), the cost of one more token once the prompt is read.
  Also: one call per token (what the page's Next button does, the KV cache kept between calls) and a loop
  without the KV cache (every step re-reads the whole sequence) to show what the cache saves.
- the logit lens (one forward with hidden states + the LM head at one position per layer) against one plain
  forward of the same input.

Calls alternate between the variants and the tables give medians and same-run ratios; on a shared CPU the
absolute times move, the ratios much less. Run: ``python benchmarks/bench_generation.py`` (``--quick``:
fewer repeats; ``--device cuda`` where there is a GPU; ``--cpu-time`` on a machine
other jobs load: CPU seconds of this process instead of wall time).
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
from transformers import GPT2Config, GPT2LMHeadModel  # noqa: E402

from plm_core import generation as gen  # noqa: E402
from plm_core.devices import describe_device  # noqa: E402
from plm_core.loading import ModelHandle, ModelSpec  # noqa: E402
from plm_core.logit_lens import logit_lens_ids  # noqa: E402

LENGTHS = (16, 128)
SAMPLING = gen.SamplingSettings(True, 0.8, 50, 0.95, 0)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def gpt2_handle(device: torch.device) -> ModelHandle:
    """gpt2 (124 M) shape, random weights, eager; the tiny byte-level BPE tokenizes (ids above its vocabulary
    are shown as "<id N>", as for any padded vocabulary)."""
    from plm_core.testing import bpe_tokenizer

    torch.manual_seed(0)
    tok = bpe_tokenizer()
    tok.pad_token = tok.eos_token
    model = GPT2LMHeadModel(GPT2Config(attn_implementation="eager")).eval().to(device)
    for p in model.parameters():
        p.requires_grad_(False)
    return ModelHandle(spec=ModelSpec("gpt2 shape (random)", device=str(device)), model=model, tokenizer=tok,
                       device=device, kind="causal_lm", source="config")


def prompt_ids(n: int) -> tuple[int, ...]:
    g = torch.Generator().manual_seed(n)
    return tuple(torch.randint(1, 600, (n,), generator=g).tolist())


CLOCK = time.perf_counter  # --cpu-time: time.process_time (CPU seconds of this process, all its threads)


def timed(fn, device) -> float:
    sync(device)
    t0 = CLOCK()
    fn()
    sync(device)
    return CLOCK() - t0


def medians(fns: dict, device: torch.device, repeats: int) -> dict[str, float]:
    for fn in fns.values():  # warm-up
        fn()
    times = {k: [] for k in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            times[name].append(timed(fn, device))
    return {k: statistics.median(v) for k, v in times.items()}


def bench_generation(handle: ModelHandle, n_new: int, repeats: int) -> list[str]:
    rows = ["| prompt | mode | what | plm_core | model.generate | plm_core / generate |", "|---|---|---|---|---|---|"]
    device = handle.device
    for n in LENGTHS:
        ids = prompt_ids(n)
        encoding = gen.encoding_of_ids(handle, ids)
        start = gen.Generation(handle.model_id, encoding, ids, n)
        t_ids = torch.tensor([list(ids)], device=device)
        for mode, settings in (("greedy", gen.SamplingSettings()), ("sampling", SAMPLING)):
            hf_kwargs = ({"do_sample": False} if not settings.do_sample else
                         {"do_sample": True, "temperature": settings.temperature, "top_k": settings.top_k,
                          "top_p": settings.top_p})

            def ours(k: int, settings=settings, start=start) -> None:
                gen.clear_cache(handle)
                gen.generate_steps(handle, start, settings, k)

            def clicks(k: int, settings=settings, start=start) -> None:  # one call per token, cache kept
                gen.clear_cache(handle)
                g = start
                for _ in range(k):
                    g = gen.generate_steps(handle, g, settings, 1)

            def plain(k: int, hf_kwargs=hf_kwargs, t_ids=t_ids) -> None:
                torch.manual_seed(0)
                with torch.inference_mode():
                    handle.model.generate(t_ids, attention_mask=torch.ones_like(t_ids), max_new_tokens=k,
                                          min_new_tokens=k, pad_token_id=handle.tokenizer.eos_token_id, **hf_kwargs)

            def no_cache(k: int, t_ids=t_ids) -> None:  # greedy, re-reading the whole sequence each step
                x = t_ids
                with torch.inference_mode():
                    for _ in range(k):
                        nxt = handle.model(input_ids=x, use_cache=False).logits[0, -1].argmax()
                        x = torch.cat([x, nxt.view(1, 1)], 1)

            fns = {"ours_n": lambda: ours(n_new), "ours_1": lambda: ours(1), "plain_n": lambda: plain(n_new),
                   "plain_1": lambda: plain(1), "clicks_n": lambda: clicks(n_new)}
            if mode == "greedy":
                fns["nocache_n"] = lambda: no_cache(n_new)
            t = medians(fns, device, repeats)
            per = {k: t[f"{k}_n"] / n_new * 1e3 for k in ("ours", "plain", "clicks")}
            dec = {k: (t[f"{k}_n"] - t[f"{k}_1"]) / (n_new - 1) * 1e3 for k in ("ours", "plain")}
            rows.append(f"| {n} | {mode} | all {n_new} tokens, per token | {per['ours']:.1f} ms | {per['plain']:.1f} ms | "
                        f"{per['ours'] / per['plain']:.2f} |")
            rows.append(f"| {n} | {mode} | decode, per extra token | {dec['ours']:.1f} ms | {dec['plain']:.1f} ms | "
                        f"{dec['ours'] / dec['plain']:.2f} |")
            rows.append(f"| {n} | {mode} | one call per token (Next), per token | {per['clicks']:.1f} ms | "
                        f"{per['plain']:.1f} ms | {per['clicks'] / per['plain']:.2f} |")
            if mode == "greedy":
                nc = t["nocache_n"] / n_new * 1e3
                rows.append(f"| {n} | greedy | no KV cache (re-read everything), per token | {nc:.1f} ms | "
                            f"{per['plain']:.1f} ms | {nc / per['plain']:.2f} |")
    return rows


def bench_overhead(handle: ModelHandle, repeats: int) -> list[str]:
    """What a step adds to the model's own KV-cached forward: the warpers, three distributions, top-20,
    rank, display strings (and, for sampling, the draw) — against one cached single-token forward."""
    rows = ["| prompt | mode | step bookkeeping | one cached 1-token forward | bookkeeping / forward |",
            "|---|---|---|---|---|"]
    device = handle.device
    for n in LENGTHS:
        ids = prompt_ids(n)
        t_ids = torch.tensor([list(ids)], device=device)
        with torch.inference_mode():
            prefix = handle.model(input_ids=t_ids[:, :-1], use_cache=True).past_key_values
            logits = handle.model(input_ids=t_ids[:, -1:], past_key_values=prefix).logits[0, -1].float()

        def forward(t_ids=t_ids) -> None:  # one decode step on a copy of the prefix cache
            with torch.inference_mode():
                handle.model(input_ids=t_ids[:, -1:], past_key_values=cache_copy())

        def cache_copy(prefix=prefix):
            import copy

            return copy.deepcopy(prefix)

        copy_only = medians({"copy": lambda: cache_copy()}, device, repeats)["copy"]
        for mode, settings in (("greedy", gen.SamplingSettings()), ("sampling", SAMPLING)):
            rng = torch.Generator().manual_seed(0)

            def book(settings=settings, logits=logits, n=n, rng=rng) -> None:
                w = gen._warped(logits, settings)
                choice = (int(torch.multinomial(w.final.cpu()[None], 1, generator=rng)[0, 0]) if settings.do_sample
                          else int(torch.argmax(logits)))
                gen.distribution_of(handle, logits, n - 1, settings, warped=w)
                gen.token_strings(handle, [choice])
                int((logits > logits[choice]).sum())

            t = medians({"book": book, "forward": forward}, device, repeats)
            fwd = max(t["forward"] - copy_only, 1e-9)
            rows.append(f"| {n} | {mode} | {t['book'] * 1e3:.2f} ms | {fwd * 1e3:.1f} ms | {t['book'] / fwd:.3f} |")
    return rows


def bench_lens(handle: ModelHandle, repeats: int) -> list[str]:
    rows = ["| tokens | logit lens (all layers, top 10) | one plain forward | lens / forward |", "|---|---|---|---|"]
    for n in LENGTHS:
        ids = prompt_ids(n)
        encoding = gen.encoding_of_ids(handle, ids)
        t_ids = torch.tensor([list(ids)], device=handle.device)

        def plain(t_ids=t_ids) -> None:
            with torch.inference_mode():
                handle.model(input_ids=t_ids)

        def lens(ids=ids, encoding=encoding) -> None:
            logit_lens_ids(handle, ids, encoding)

        t = medians({"lens": lens, "plain": plain}, handle.device, repeats)
        rows.append(f"| {n} | {t['lens'] * 1e3:.1f} ms | {t['plain'] * 1e3:.1f} ms | {t['lens'] / t['plain']:.2f} |")
    return rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="fewer repeats")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--new", type=int, default=16, help="tokens generated per run")
    ap.add_argument("--cpu-time", action="store_true",
                    help="measure CPU time of this process instead of wall time (on a machine others load too)")
    ap.add_argument("--overhead-only", action="store_true", help="only the per-step bookkeeping and the lens")
    args = ap.parse_args()
    global CLOCK
    if args.cpu_time:
        CLOCK = time.process_time
    device = torch.device(args.device)
    repeats = 2 if args.quick else 5
    handle = gpt2_handle(device)
    print(f"# bench_generation — {describe_device(device)}, torch {torch.__version__}, {platform.machine()}, "
          f"{torch.get_num_threads()} threads, {args.new} new tokens, median of {repeats}, "
          f"{'CPU time of this process' if args.cpu_time else 'wall time'}\n")
    print("\n".join(bench_overhead(handle, repeats * 4)))
    print()
    if not args.overhead_only:
        print("\n".join(bench_generation(handle, args.new, repeats)))
    print()
    print("\n".join(bench_lens(handle, repeats * 2)))


if __name__ == "__main__":
    main()
