"""Attribution accuracy and speed: adaptive IG ("auto") vs captum LIG-50 vs fixed Gauss–Legendre-50, in one run.

Every input is judged against a converged reference, captum at 300 Gauss–Legendre steps: per input the
Spearman correlation of the token scores (special tokens left out), the max |difference| relative to the
largest |reference score|, the completeness error |Σ scores − (f(x) − f(x'))| / |f(x) − f(x')|, and the time.
An input meets the accuracy goal when Spearman ≥ 0.99 and max |difference| ≤ 2 % of the largest |score|.

Corpus: the 40 sentences of the sentiment lesson (plm_core/lessons/data) and, when ../shared/data is there,
10 CrowS-Pairs sentences (every 150th row; public data, offensive stereotypes among them) = 50 sentences,
× baselines pad / mask / zero, on
- the real embedded MiniLM (cosine similarity to the page's default second sentence),
- the bert-base shape with random weights (logit of the predicted word at a [MASK] put in the middle),
- the gpt2 shape with random weights (logit of the predicted next token; no mask token: pad and zero only).

"captum LIG" is plain captum on the word embeddings with the full model forward (the way a user writes it):
LayerIntegratedGradients with pad / mask token ids as baseline, IntegratedGradients on ``inputs_embeds`` for the
zero baseline (no token id has a zero embedding; captum's LIG computes exactly this IG on the layer output).
Speed-up = captum LIG-50 time / method time, same input, from the process's CPU time (time.process_time: the
work done, much less disturbed by other jobs on the shared machine than the wall clock, which is reported too);
each time is the minimum of 2 interleaved runs. Times are noisy: the ratios are what to read.

Full run (MiniLM on all 50 sentences × 3 baselines, the random shapes on 10 of them; ≈ 1 h on the shared
2-core CPU: MiniLM and the bert-base shape took 34 min alongside the test suite, the gpt2 shape about 20 min more):
    flock /tmp/plm-bench.lock python3 -m benchmarks.bench_attribution --csv /tmp/attribution_rows.csv
Quick run (MiniLM, 12 sentences, pad and zero; a few minutes):
    python3 -m benchmarks.bench_attribution --quick
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from captum.attr import IntegratedGradients, LayerIntegratedGradients
from scipy import stats
from transformers import AutoTokenizer, BertConfig, BertForMaskedLM, GPT2Config, GPT2LMHeadModel

from plm_core.attribution import AttributionResult, Target, attribute
from plm_core.attribution.quadrature import NOISE
from plm_core.inference import mean_pool
from plm_core.loading import ModelHandle, ModelSpec, embedded_model_path, load_model

ROOT = Path(__file__).resolve().parents[1]
warnings.filterwarnings("ignore")

LESSON_DATA = ROOT / "plm_core" / "lessons" / "data" / "sentiment.tsv"
SHARED_DATA = ROOT.parent / "shared" / "data"
OTHER = "A tired dog lay on the rug."  # the attribution page's default second sentence
REFERENCE_STEPS = 300
GOAL_SPEARMAN, GOAL_DIFF = 0.99, 0.02
METHODS = ("auto", "captum LIG-50", "fixed GL-50")
REPEATS = 2  # timings: the minimum of this many interleaved runs per input and method


def corpus(n_shared: int = 10) -> list[str]:
    """Lesson sentences, then every 150th CrowS-Pairs sentence (when ../shared/data is there)."""
    lines = [ln.split("\t", 1)[1].strip() for ln in LESSON_DATA.read_text(encoding="utf-8").splitlines()
             if ln.strip() and not ln.startswith("#")]
    crows = SHARED_DATA / "crows_pairs" / "crows_pairs_anonymized.csv"
    if crows.is_file():
        with crows.open(encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh))
        lines += [rows[i]["sent_more"].strip() for i in range(0, len(rows), 150)][:n_shared]
    else:
        print(f"note: {crows} not found; corpus = {len(lines)} lesson sentences only", file=sys.stderr)
    return lines


def _random_handle(name: str, kind: str, model: torch.nn.Module, tokenizer) -> ModelHandle:
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return ModelHandle(spec=ModelSpec(name, device="cpu"), model=model, tokenizer=tokenizer,
                       device=torch.device("cpu"), kind=kind, source="random weights")


@dataclass
class Setup:
    name: str
    handle: ModelHandle
    target: Target
    baselines: tuple[str, ...]

    def text(self, sentence: str) -> str:
        """The input for this model: a [MASK] in the middle for the masked LM, no final period for next-token."""
        if self.handle.kind == "masked_lm":
            words = sentence.split()
            words[len(words) // 2] = self.handle.tokenizer.mask_token
            return " ".join(words)
        if self.handle.kind == "causal_lm":
            return sentence.rstrip(".!? ")
        return sentence


def setups(only: set[str], baselines: tuple[str, ...]) -> list[Setup]:
    out = []
    torch.manual_seed(0)
    if "minilm" in only:
        out.append(Setup("MiniLM (real), similarity", load_model(ModelSpec("embedded", device="cpu")),
                         Target("similarity", other=OTHER), baselines))
    if "bert" in only:
        tok = AutoTokenizer.from_pretrained(embedded_model_path())  # the bert-base-uncased vocabulary
        out.append(Setup("bert-base shape (random), word at [MASK]", _random_handle(
            "bert-base-shape", "masked_lm", BertForMaskedLM(BertConfig(attn_implementation="eager")), tok),
            Target("token", output="logit"), baselines))
    if "gpt2" in only:
        from plm_core.testing import bpe_tokenizer

        out.append(Setup("gpt2 shape (random), next token", _random_handle(
            "gpt2-shape", "causal_lm", GPT2LMHeadModel(GPT2Config(attn_implementation="eager")), bpe_tokenizer()),
            Target("next_token", output="logit"), tuple(b for b in baselines if b != "mask")))
    return out


def captum_ig(handle: ModelHandle, res: AttributionResult, baseline: str, n_steps: int,
              batch: int | None = None) -> np.ndarray:
    """Plain captum on the word embeddings, full model forward, Gauss–Legendre (captum's default): scores.

    ``batch``: captum's ``internal_batch_size`` (None: every step in one batch, as a user writes it). The
    300-step reference on the gpt2 shape needs one: 300 × 35 tokens × 50,257 logits in one batch took 22 GB.
    """
    model, tok = handle.model, handle.tokenizer
    ids = torch.tensor([res.encoding.input_ids])
    keep = torch.tensor(res.encoding.special)
    if res.target.kind == "token":
        keep = keep | (ids[0] == tok.mask_token_id)
    mask = torch.ones_like(ids)
    if res.target.kind == "similarity":
        with torch.no_grad():
            b2 = tok(res.target.other, return_tensors="pt")
            e2 = mean_pool(model(**b2).last_hidden_state, b2["attention_mask"])[0]

        def read(out):
            return mean_pool(out.last_hidden_state, mask.expand(out.last_hidden_state.shape[0], -1)) @ e2
    else:
        pos = res.encoding.input_ids.index(tok.mask_token_id) if res.target.kind == "token" else len(res.encoding) - 1
        tid = res.target_id

        def read(out):
            return out.logits[:, pos, tid]

    if baseline in ("pad", "mask"):
        fill = tok.pad_token_id if baseline == "pad" else tok.mask_token_id
        base_ids = torch.where(keep, ids[0], torch.tensor(fill))[None]
        lig = LayerIntegratedGradients(lambda i: read(model(input_ids=i, attention_mask=mask.expand(i.shape[0], -1))),
                                       model.get_input_embeddings())
        attr = lig.attribute(ids, baselines=base_ids, n_steps=n_steps, internal_batch_size=batch)
    else:
        emb = model.get_input_embeddings()(ids).detach()
        base = torch.where(keep[None, :, None], emb, torch.zeros_like(emb))
        ig = IntegratedGradients(lambda e: read(model(inputs_embeds=e, attention_mask=mask.expand(e.shape[0], -1))))
        attr = ig.attribute(emb, baselines=base, n_steps=n_steps, internal_batch_size=batch)
    return attr.sum(-1)[0].detach().double().numpy()


def judge(scores: np.ndarray, ref: np.ndarray, content: np.ndarray, total: float) -> dict[str, float]:
    a, r = scores[content], ref[content]
    if len(content) >= 2 and np.ptp(a) > 0 and np.ptp(r) > 0:
        rho = float(stats.spearmanr(a, r)[0])
    else:
        rho = 1.0 if np.allclose(a, r) else 0.0
    diff = float(np.abs(scores - ref).max() / max(np.abs(ref).max(), 1e-30))
    comp = abs(float(scores.sum()) - total) / max(abs(total), 1e-30)
    return {"spearman": rho, "max_diff": diff, "completeness": comp, "meets": rho >= GOAL_SPEARMAN and diff <= GOAL_DIFF}


def run(setup: Setup, sentences: list[str], rows: list[dict]) -> None:
    handle = setup.handle
    warm = setup.text(sentences[0])
    attribute(handle, warm, target=setup.target, n_steps=4)  # warm-up (allocator, kernels)
    for baseline in setup.baselines:
        for i, sentence in enumerate(sentences):
            text = setup.text(sentence)
            wall = {m: float("inf") for m in METHODS}
            cpu = dict(wall)
            for _ in range(REPEATS):  # interleaved, the minimum kept: a busy shared machine adds spikes
                for method in METHODS:
                    t0, c0 = time.perf_counter(), time.process_time()
                    if method == "auto":
                        auto = attribute(handle, text, target=setup.target, baseline=baseline)
                    elif method == "fixed GL-50":
                        fixed = attribute(handle, text, target=auto.target, baseline=baseline, n_steps=50)
                    else:
                        lig50 = captum_ig(handle, auto, baseline, 50)
                    wall[method] = min(wall[method], time.perf_counter() - t0)
                    cpu[method] = min(cpu[method], time.process_time() - c0)
            ref = captum_ig(handle, auto, baseline, REFERENCE_STEPS, batch=50)
            total = auto.f_x - auto.f_baseline
            content = np.array([j for j, s in enumerate(auto.encoding.special) if not s
                                and auto.encoding.input_ids[j] != handle.tokenizer.mask_token_id], dtype=int)
            for method, scores, res in (("auto", auto.scores.astype(np.float64), auto), ("captum LIG-50", lig50, None),
                                        ("fixed GL-50", fixed.scores.astype(np.float64), fixed)):
                row = {"model": setup.name, "baseline": baseline, "sentence": i, "tokens": len(auto.encoding),
                       "method": method, "seconds": wall[method], "cpu_seconds": cpu[method],
                       "speedup": cpu["captum LIG-50"] / cpu[method],
                       "wall_speedup": wall["captum LIG-50"] / wall[method],
                       "nodes": res.params.get("n_steps") if res else 50,
                       "strategy": str(res.params.get("strategy", "fixed")) if res else "",
                       **judge(scores, ref, content, total)}
                rows.append(row)
            a = rows[-3]
            # issue 16's contract on the same f(x) − f(x'): auto no less complete than GL-50, or at float32 rounding
            floor = NOISE * float(np.abs(auto.scores).sum())
            a["worse_than_gl50"] = (abs(auto.scores.astype(np.float64).sum() - total)
                                    > max(abs(fixed.scores.astype(np.float64).sum() - total), floor))
            print(f"  {setup.name[:12]:12s} {baseline:4s} #{i:<2d} {len(auto.encoding):3d} tok | auto {a['nodes']:>3} nodes "
                  f"{a['strategy']}{' WORSE THAN GL-50' if a['worse_than_gl50'] else ''} ρ={a['spearman']:.4f} diff={a['max_diff']:.1e} "
                  f"compl={a['completeness']:.1e} ×{a['speedup']:.2f} (wall ×{a['wall_speedup']:.2f}) "
                  f"| LIG-50 diff={rows[-2]['max_diff']:.1e} "
                  f"| GL-50 ×{rows[-1]['speedup']:.2f}", flush=True)


def _paths(rows: list[dict]) -> str:
    """How many inputs took each of auto's paths (smooth / fixed / refined)."""
    return "/".join(str(sum(r["strategy"] == k for r in rows)) for k in ("smooth", "fixed", "refined"))


def summary(rows: list[dict]) -> str:
    head = ("| model | method | inputs | meet goal | median speed-up vs LIG-50 (CPU time) | p10 speed-up "
            "| median speed-up (wall) | median gradients | auto's paths smooth/fixed/refined | less complete than GL-50 "
            "| worst max diff | worst Spearman | median / worst completeness |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    lines = [head]
    models = list(dict.fromkeys(r["model"] for r in rows)) + ["all"]
    for model in models:
        for method in METHODS:
            sel = [r for r in rows if r["method"] == method and (model == "all" or r["model"] == model)]
            if not sel:
                continue
            sp = np.array([r["speedup"] for r in sel])
            comp = np.array([r["completeness"] for r in sel])
            lines.append(
                f"| {model} | {method} | {len(sel)} | {np.mean([r['meets'] for r in sel]):.1%} | {np.median(sp):.2f}× "
                f"| {np.percentile(sp, 10):.2f}× | {np.median([r['wall_speedup'] for r in sel]):.2f}× "
                f"| {np.median([r['nodes'] for r in sel]):.0f} "
                f"| {_paths(sel) if method == 'auto' else '—'} "
                f"| {sum(r.get('worse_than_gl50', False) for r in sel) if method == 'auto' else '—'} "
                f"| {max(r['max_diff'] for r in sel):.2%} "
                f"| {min(r['spearman'] for r in sel):.4f} | {np.median(comp):.4%} / {comp.max():.3%} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="MiniLM only, 12 sentences, pad and zero baselines")
    ap.add_argument("--models", default="minilm,bert,gpt2")
    ap.add_argument("--baselines", default="pad,mask,zero")
    ap.add_argument("--sentences", type=int, default=0, help="use the first N sentences (0 = all)")
    ap.add_argument("--shape-sentences", type=int, default=10,
                    help="sentences for the random bert-base / gpt2 shapes (every fifth; 0 = all): their reference "
                         "at 300 steps costs ~10 s an input on a 2-core CPU")
    ap.add_argument("--csv", help="write one row per (input, method) here")
    args = ap.parse_args()
    torch.set_num_threads(max(1, min(torch.get_num_threads(), os.cpu_count() or 1)))
    sentences = corpus()
    only, baselines = set(args.models.split(",")), tuple(args.baselines.split(","))
    if args.quick:
        only, baselines, sentences = {"minilm"}, ("pad", "zero"), sentences[::5][:12]
    elif args.sentences:
        sentences = sentences[:args.sentences]
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} CPUs (shared machine); "
          f"{len(sentences)} sentences × baselines {','.join(baselines)}; reference: captum at {REFERENCE_STEPS} steps\n")
    rows: list[dict] = []
    t0 = time.perf_counter()
    for setup in setups(only, baselines):
        big = setup.handle.kind != "encoder" and args.shape_sentences and not args.quick
        run(setup, sentences[::5][:args.shape_sentences] if big else sentences, rows)
    print("\nGoal per input: Spearman ≥ 0.99 and max |difference| ≤ 2 % of the largest |score| (against captum at "
          f"{REFERENCE_STEPS} steps); speed-up = captum LIG-50 time / method time on the same input (CPU time; wall "
          "clock in its own column).\n")
    print(summary(rows))
    print(f"\ntotal {time.perf_counter() - t0:.0f} s")
    if args.csv:
        with open(args.csv, "w", newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)


if __name__ == "__main__":
    main()
