"""Attribution speed: our adaptive IG vs plain captum LayerIntegratedGradients (n_steps=50) on the same inputs.

Rows: the real embedded MiniLM (cosine-similarity target), and the bert-base MLM and gpt2 shapes with random
weights (the logit of a word at [MASK] / of the next token:
probabilities of random weights are ~1/vocab, too flat to judge completeness), at 16/64/128 tokens; on CUDA also GPU rows.
Each row gives both times, their ratio and both completeness errors |Σ attr − (f(x) − f(x'))| / |f(x) − f(x')|.

Run alone: ``flock /tmp/plm-bench.lock python3 -m benchmarks.bench_attribution`` (``--quick`` for fewer rows).
"""

from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path

import torch
from captum.attr import LayerIntegratedGradients
from transformers import AutoTokenizer, BertConfig, BertForMaskedLM, GPT2Config, GPT2LMHeadModel

from plm_core.attribution import Target, attribute
from plm_core.inference import mean_pool
from plm_core.loading import ModelHandle, ModelSpec, embedded_model_path, load_model

ROOT = Path(__file__).resolve().parents[1]
warnings.filterwarnings("ignore")

SENTENCE = ("the [MASK] said that students learn how language models make their predictions when they read "
            "long texts about history science and music in the city library every week . ")


def _random_handle(name: str, kind: str, model: torch.nn.Module, tokenizer, device: torch.device) -> ModelHandle:
    model.eval().to(device)
    for p in model.parameters():
        p.requires_grad_(False)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return ModelHandle(spec=ModelSpec(name, device=str(device)), model=model, tokenizer=tokenizer, device=device,
                       kind=kind, source="random weights")


def handles(device: torch.device, only: set[str]) -> dict[str, tuple[ModelHandle, Target]]:
    out = {}
    torch.manual_seed(0)
    if "minilm" in only:
        out["MiniLM (real), similarity"] = (load_model(ModelSpec("embedded", device=str(device))),
                                            Target("similarity", other="A man is playing a guitar in the park."))
    bert_tok = AutoTokenizer.from_pretrained(embedded_model_path())  # bert-base-uncased vocabulary
    if "bert" in only:
        cfg = BertConfig(attn_implementation="eager")
        out["bert-base MLM shape, word at [MASK]"] = (
            _random_handle("bert-base-shape", "masked_lm", BertForMaskedLM(cfg), bert_tok, device),
            Target("token", word="teacher", output="logit"))
    if "gpt2" in only:
        from tests.tiny_models import bpe_tokenizer

        cfg = GPT2Config(attn_implementation="eager")
        out["gpt2 shape, next token"] = (
            _random_handle("gpt2-shape", "causal_lm", GPT2LMHeadModel(cfg), bpe_tokenizer(), device),
            Target("next_token", word="city", output="logit"))
    return out


def plain_lig(handle: ModelHandle, text: str, target: Target, n_tokens: int, res) -> tuple[float, float]:
    """captum LayerIntegratedGradients on the word embeddings, n_steps=50, full model forward. (seconds, rel err)"""
    model, tok, dev = handle.model, handle.tokenizer, handle.device
    ids = torch.tensor([res.encoding.input_ids], device=dev)
    special = torch.tensor(res.encoding.special, device=dev)
    if res.target.kind == "token":
        special = special | (ids[0] == tok.mask_token_id)
    base_ids = torch.where(special, ids[0], torch.tensor(tok.pad_token_id, device=dev))[None]
    mask = torch.ones_like(ids)
    if res.target.kind == "similarity":
        with torch.no_grad():
            b2 = tok(target.other, return_tensors="pt").to(dev)
            e2 = mean_pool(model(**b2).last_hidden_state, b2["attention_mask"])[0]

        def forward(input_ids):
            h = model(input_ids=input_ids, attention_mask=mask.expand(input_ids.shape[0], -1)).last_hidden_state
            return mean_pool(h, mask.expand(input_ids.shape[0], -1)) @ e2
    else:
        pos = res.encoding.input_ids.index(tok.mask_token_id) if res.target.kind == "token" else n_tokens - 1
        tid = res.target_id

        def forward(input_ids):
            logits = model(input_ids=input_ids).logits[:, pos]
            return logits[:, tid] if target.output == "logit" else logits.softmax(-1)[:, tid]

    # "defaults" = one batch of 50; past 64 tokens on the big shapes that needs >10 GB, so 25 per pass there
    ibs = None if (n_tokens <= 64 or handle.model_id.startswith("sentence") or "MiniLM" in handle.model_id
                   or handle.model_id == "embedded") else 25
    lig = LayerIntegratedGradients(forward, model.get_input_embeddings())
    sync(dev)
    t0 = time.perf_counter()
    attr = lig.attribute(ids, baselines=base_ids, n_steps=50, internal_batch_size=ibs)
    sync(dev)
    dt = time.perf_counter() - t0
    with torch.no_grad():
        fx, fb = forward(torch.cat([ids, base_ids])).float().tolist()
    err = abs(float(attr.sum()) - (fx - fb)) / max(abs(fx - fb), 1e-12)
    return dt, err


def sync(dev: torch.device) -> None:
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)


def run(device: torch.device, lengths: list[int], only: set[str], repeats_small: int) -> list[dict]:
    rows = []
    for name, (handle, target) in handles(device, only).items():
        text = SENTENCE * 12
        if handle.kind != "masked_lm":
            text = text.replace("[MASK]", "teacher")
        if handle.kind == "causal_lm":
            text = text.replace(" .", "")
        small = "MiniLM" in name
        for n in lengths:
            reps = repeats_small if small else 1
            attribute(handle, text, target=target, max_tokens=n, n_steps=4)  # warm-up (allocator, kernels)
            ours_t, plain, res = [], [], None
            for _ in range(reps):  # interleaved, so both see the same load; the minimum is reported
                sync(device)
                t0 = time.perf_counter()
                res = attribute(handle, text, target=target, max_tokens=n)
                sync(device)
                ours_t.append(time.perf_counter() - t0)
                plain.append(plain_lig(handle, text, target, n, res))
            p_t = min(p[0] for p in plain)
            o_t = min(ours_t)
            rows.append({"device": device.type, "model": name, "tokens": len(res.encoding), "plain_s": p_t,
                         "plain_err": plain[0][1], "ours_s": o_t, "ours_err": res.delta_rel,
                         "ours_steps": res.params["n_steps"], "tries": res.params["tries"], "speedup": p_t / o_t})
            print(_fmt(rows[-1]), flush=True)
    return rows


HEADER = ("| device | model / target | tokens | plain captum LIG n=50 | its completeness err | ours (adaptive IG) "
          "| our completeness err | our steps (tries) | speed-up |\n|---|---|---|---|---|---|---|---|---|")


def _fmt(r: dict) -> str:
    return (f"| {r['device']} | {r['model']} | {r['tokens']} | {r['plain_s'] * 1000:.0f} ms | {r['plain_err']:.2%} | "
            f"{r['ours_s'] * 1000:.0f} ms | {r['ours_err']:.2%} | {r['ours_steps']} ({r['tries']}) | "
            f"{r['speedup']:.1f}x |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true", help="MiniLM only, 16 and 64 tokens")
    ap.add_argument("--lengths", default="16,64,128")
    ap.add_argument("--models", default="minilm,bert,gpt2")
    args = ap.parse_args()
    lengths = [16, 64] if args.quick else [int(x) for x in args.lengths.split(",")]
    only = {"minilm"} if args.quick else set(args.models.split(","))
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; machine shared with other work\n")
    print(HEADER, flush=True)
    t0 = time.perf_counter()
    run(torch.device("cpu"), lengths, only, repeats_small=5)
    if torch.cuda.is_available():
        torch.backends.cuda.matmul.allow_tf32 = True
        run(torch.device("cuda"), [32, 128], {"minilm", "bert"}, repeats_small=10)
    print(f"\ntotal {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
