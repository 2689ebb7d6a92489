"""Bias probes benchmark: prints a markdown table.

1. CrowS-Pairs pairs per second, bert-base MLM shape (random weights, the bert-base-uncased vocabulary of
   the embedded MiniLM tokenizer): our batched masked copies (MLM head at the masked position only) against
   the reference one-copy-per-forward loop of the authors' metric.py, on the same pairs, in the same run.
   On CUDA (when present) also all 1,508 pairs (aim: <= 20 s).
2. SEAT sent-weat6 on the real MiniLM: embeddings + 100,000-sample permutation test, against a plain loop
   (one sentence per forward, sent-bias's per-permutation Python loop).
3. What the research features cost, each against the plain path in the same run: CrowS-Pairs scored as a stored,
   resumable job (SQLite, one transaction per chunk of 4 pairs) against one ``score_pairs`` call on the same
   pairs; the bootstrap interval of the SEAT effect size (scipy.stats.bootstrap, BCa, 2,000 resamples over
   precomputed cosines) against a plain percentile bootstrap that recomputes the effect size from the
   embeddings; the Wilson/binomial/Wilcoxon summaries of a full BEC-Pro-sized result.

Run: flock /tmp/plm-bench.lock python3 -m benchmarks.bench_bias [--pairs 20]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

from transformers import BertConfig, BertForMaskedLM

from plm_core.bias import datasets, jobs
from plm_core.bias.crows_pairs import crows_config, score_pairs, shared_positions
from plm_core.bias.seat import associations, effect_size, effect_size_interval, run_seat
from plm_core.bias.store import RunStore
from plm_core.loading import ModelHandle, ModelSpec, load_model

ROOT = Path(__file__).resolve().parents[1]

DATA = ROOT.parent / "shared" / "data"


def bert_base_mlm(device: str) -> ModelHandle:
    minilm = load_model(ModelSpec("embedded", device="cpu"))
    torch.manual_seed(0)
    cfg = BertConfig(attn_implementation="eager")  # bert-base: 12 x 768, vocab 30522
    model = BertForMaskedLM(cfg).eval().to(device)
    for p in model.parameters():
        p.requires_grad_(False)
    return ModelHandle(ModelSpec("bert-base-random", device=device), model, minilm.tokenizer, torch.device(device),
                       "masked_lm", "random")


def loop_scores(handle: ModelHandle, pairs) -> list[tuple[float, float]]:
    """The authors' metric.py: one forward per masked shared token, full MLM logits, log-softmax."""
    tok = handle.tokenizer
    out = []
    for pair in pairs:
        a, b = (tok(s, return_special_tokens_mask=True) for s in (pair.sent_more, pair.sent_less))
        pa, pb = shared_positions(a["input_ids"], b["input_ids"], a["special_tokens_mask"], b["special_tokens_mask"])
        scores = []
        for enc, positions in ((a, pa), (b, pb)):
            total = 0.0
            for p in positions:
                ids = torch.tensor([enc["input_ids"]], device=handle.device)
                ids[0, p] = tok.mask_token_id
                with torch.inference_mode():
                    logits = handle.model(input_ids=ids).logits[0, p]
                total += float(torch.log_softmax(logits.float(), -1)[enc["input_ids"][p]])
            scores.append(total)
        out.append(tuple(scores))
    return out


def timed(fn):
    t0 = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pairs", type=int, default=10)
    args = ap.parse_args()
    if not DATA.is_dir():
        sys.exit("needs ../shared/data (CrowS-Pairs and SEAT files)")
    torch.set_num_threads(2)
    rows = []
    pairs = datasets.load_crows_pairs(DATA / "crows_pairs" / "crows_pairs_anonymized.csv")
    subset = pairs[:args.pairs]
    cpu = bert_base_mlm("cpu")
    score_pairs(cpu, subset[:2])  # warm-up
    ours, t_ours = timed(lambda: score_pairs(cpu, subset))
    ref, t_ref = timed(lambda: loop_scores(cpu, subset))
    diff = max(max(abs(r.score_more - m), abs(r.score_less - l)) for r, (m, l) in zip(ours, ref))
    same = all((r.score_more > r.score_less) == (m > l) for r, (m, l) in zip(ours, ref))
    n_tokens = sum(r.n_shared for r in ours) * 2
    rows.append(("CrowS-Pairs, bert-base MLM (random), CPU 2 threads", f"{len(subset)} pairs ({n_tokens} masked copies)",
                 f"{len(subset) / t_ref:.2f} pairs/s ({t_ref:.1f} s)", f"{len(subset) / t_ours:.2f} pairs/s ({t_ours:.1f} s)",
                 f"{t_ref / t_ours:.2f}x", f"max abs ΔPLL {diff:.1e}, same decisions: {same}"))
    if torch.cuda.is_available():
        gpu = bert_base_mlm("cuda")
        score_pairs(gpu, pairs[:64])
        torch.cuda.synchronize()
        _, t_all = timed(lambda: score_pairs(gpu, pairs))
        ref_gpu, t_ref_gpu = timed(lambda: loop_scores(gpu, pairs[:50]))
        rows.append(("CrowS-Pairs, bert-base MLM, CUDA", "all 1,508 pairs", f"{50 / t_ref_gpu:.1f} pairs/s (50-pair loop)",
                     f"{len(pairs) / t_all:.1f} pairs/s ({t_all:.1f} s)", f"{(len(pairs) / t_all) / (50 / t_ref_gpu):.1f}x",
                     "aim: all pairs <= 20 s"))
    else:
        rows.append(("CrowS-Pairs, CUDA", "all 1,508 pairs", "—", "—", "—",
                     "no GPU on this machine: not measured (code path: batch 256, chunks of 64 pairs)"))
    # SEAT
    minilm = load_model(ModelSpec("embedded", device="cpu"))
    test = datasets.load_seat(DATA / "seat" / "sent-weat6.jsonl")
    run_seat(minilm, test, n_samples=1000, n_bootstrap=0)  # warm-up
    result, t_seat = timed(lambda: run_seat(minilm, test, n_samples=100_000, n_bootstrap=0))

    def plain_seat():
        texts = list(test.targ1 + test.targ2 + test.attr1 + test.attr2)
        embs = []
        for t in texts:  # one sentence per forward, sentence-transformers pooling
            enc = minilm.tokenizer(t, return_tensors="pt")
            with torch.inference_mode():
                h = minilm.model(**enc).last_hidden_state[0]
            v = h.mean(0)
            embs.append((v / v.norm()).numpy())
        e = np.asarray(embs)
        a, b, c = len(test.targ1), len(test.targ1) + len(test.targ2), len(test.targ1) + len(test.targ2) + len(test.attr1)
        X, Y, A, B = e[:a], e[a:b], e[b:c], e[c:]
        s = np.concatenate([associations(X, A, B), associations(Y, A, B)])
        obs = s[:a].sum() - s[a:].sum()
        idx = np.arange(len(s))
        rng = np.random.default_rng(0)
        hits = 1
        for _ in range(100_000 - 1):  # sent-bias: shuffle, split, compare, one permutation at a time
            rng.shuffle(idx)
            hits += (s[idx[:a]].sum() - s[idx[a:]].sum()) >= obs
        return hits / 100_000

    p_plain, t_plain = timed(plain_seat)
    rows.append(("SEAT sent-weat6, real MiniLM, CPU", f"{sum(result.sizes)} sentences, 100,000 permutations",
                 f"{t_plain:.2f} s (hits/n = {p_plain:.2g})", f"{t_seat:.2f} s (d = {result.effect_size:.3f}, {result.p_text})",
                 f"{t_plain / t_seat:.2f}x", "aim: <= 10 s"))
    # 3. the research features
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        store = RunStore(Path(tmp) / "runs.sqlite3")
        run_id = jobs.create_run(store, "crows_pairs", crows_config(cpu.model_id, None, None, "bench"), subset)
        plain, t_plain_cp = timed(lambda: score_pairs(cpu, subset))
        stored, t_stored = timed(lambda: jobs.run_to_end(store, run_id, cpu, chunk=4))
        same = {r.index: r.more_higher for r in plain} == {r.index: r.more_higher for r in stored.rows}
        rows.append(("CrowS-Pairs as a stored resumable job, bert-base MLM (random), CPU",
                     f"{len(subset)} pairs, chunks of 4 -> {len(store.chunks(run_id))} transactions",
                     f"{t_plain_cp:.1f} s (one score_pairs call)", f"{t_stored:.1f} s", f"{t_plain_cp / t_stored:.2f}x",
                     f"same decisions: {same}; the store costs {max(0.0, t_stored - t_plain_cp):.2f} s"))
    texts = list(test.targ1 + test.targ2 + test.attr1 + test.attr2)
    from plm_core.inference import embed

    e = embed(minilm, texts)
    a, b, c = len(test.targ1), len(test.targ1) + len(test.targ2), len(test.targ1) + len(test.targ2) + len(test.attr1)
    X, Y, A, B = e[:a], e[a:b], e[b:c], e[c:]

    def plain_bootstrap(n=2000):
        rng = np.random.default_rng(0)
        ds = [effect_size(X[rng.integers(0, len(X), len(X))], Y[rng.integers(0, len(Y), len(Y))],
                          A[rng.integers(0, len(A), len(A))], B[rng.integers(0, len(B), len(B))]) for _ in range(n)]
        return np.percentile(ds, [2.5, 97.5])

    (lo_p, hi_p), t_boot_plain = timed(plain_bootstrap)
    (lo, hi, method), t_boot = timed(lambda: effect_size_interval(X, Y, A, B, n_resamples=2000, seed=0))
    rows.append(("SEAT sent-weat6: 95% interval of d, real MiniLM, CPU", "2,000 resamples of X, Y, A, B",
                 f"{t_boot_plain:.2f} s (percentile [{lo_p:.3f}, {hi_p:.3f}])", f"{t_boot:.2f} s ({method.split(' (')[0]}: "
                 f"[{lo:.3f}, {hi:.3f}])", f"{t_boot_plain / t_boot:.2f}x",
                 f"permutation test alone: {t_seat:.2f} s"))
    from plm_core.bias.bec_pro import BecProResult, BecProScore

    rng = np.random.default_rng(0)
    big = tuple(BecProScore(i, "s", f"t{i % 5}", "p", ("female", "male")[i % 2], f"job{(i // 2) % 60}",
                            ("female", "male", "balanced")[(i // 2) % 3], 0.1, 0.1, float(rng.normal()), (i // 120) % 9)
                for i in range(5400))
    bec = BecProResult("m", big)
    _, t_summary = timed(lambda: (bec.estimates(), bec.gender_tests(), bec.summary_csv()))
    rows.append(("BEC-Pro summaries with intervals and Wilcoxon tests", "5,400 rows (synthetic scores)", "—",
                 f"{t_summary * 1000:.0f} ms", "—", "t intervals per group + paired tests per profession group"))
    print("| benchmark | work | baseline (plain loop) | plm_core.bias | speed-up | notes |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print("| " + " | ".join(r) + " |")
    print(f"\n(torch {torch.__version__}, {torch.get_num_threads()} threads; machine shared with other engineers: "
          "timings are noisy)")


if __name__ == "__main__":
    main()
