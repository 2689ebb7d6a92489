"""What readable token text and the word view cost, against the plain transformers path, in one run.

    python3 -m benchmarks.bench_display [--reps 50]

Rows (median ms, and the ratio to the plain row of the same block):
- encode: the tokenizer call + ``convert_ids_to_tokens`` (plain) against ``plm_core.tokens.encode`` (display text,
  unknown-character note, word ids), on the embedded MiniLM (English, Chinese) and a byte-level BPE.
- words: ``extract_attention`` (plain forward with attentions) against the same + ``word_spans`` (with jieba) +
  ``aggregate_attention`` of every layer and head.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from plm_core.attention import extract_attention
from plm_core.loading import ModelSpec, load_model
from plm_core.tokens import encode
from plm_core.words import aggregate_attention, jieba_segmenter, word_spans

TEXTS = {
    "English, 32 words": " ".join(["the cat sat on the mat because it was tired"] * 3)[:170],
    "Chinese, 36 characters": "老师说今天的课很有意思。学生们都很喜欢这门课。今天天气很好，我们去公园散步吧。",
}


def median_ms(fn, reps: int) -> float:
    fn()
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1e3)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--reps", type=int, default=50)
    args = parser.parse_args()
    from plm_core.testing import multilingual_bpe_tokenizer, save_tiny_with

    handles = {"MiniLM (WordPiece)": load_model(ModelSpec("embedded", device="cpu")),
               "tiny GPT-2 (byte-level BPE)": load_model(ModelSpec(str(save_tiny_with(
                   multilingual_bpe_tokenizer(), Path("/tmp/plm_bench_bpe"), causal=True)), device="cpu"))}
    jieba_segmenter("预热")  # load jieba's dictionary once, as the server does on the first Chinese text
    print("| model | text | tokens | plain tokenizer (ms) | encode (ms) | ratio | attention (ms) | "
          "+ words (ms) | ratio |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name, h in handles.items():
        for label, text in TEXTS.items():
            tok = h.tokenizer

            def plain():
                ids = tok(text, return_offsets_mapping=True)["input_ids"]
                return tok.convert_ids_to_tokens(ids)

            enc = encode(h, text)[0]
            t_plain = median_ms(plain, args.reps)
            t_enc = median_ms(lambda: encode(h, text), args.reps)
            t_att = median_ms(lambda: extract_attention(h, text), args.reps)

            def with_words():
                res = extract_attention(h, text)
                return aggregate_attention(res.weights, word_spans(res.encoding, jieba_segmenter))

            t_words = median_ms(with_words, args.reps)
            print(f"| {name} | {label} | {len(enc)} | {t_plain:.2f} | {t_enc:.2f} | {t_enc / t_plain:.1f}× | "
                  f"{t_att:.2f} | {t_words:.2f} | {t_words / t_att:.2f}× |")


if __name__ == "__main__":
    main()
