"""Model cards measured on this machine: what a model is (parameters, layers, heads, sizes, context, position
scheme, memory) and what it costs here (forward latency, how many tokens a text becomes), side by side.

Facts come from the loaded model and its config (parameters are ``sum(p.numel())``); latency is the median of
timed forward passes after a warm-up (``time.perf_counter``, under the model's lock, ``torch.inference_mode``).
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, field

import torch

from plm_core.i18n import msg
from plm_core.inference import run
from plm_core.handle import ModelHandle, _config_get
from plm_core.tokens import encode

ENGLISH_SAMPLE = ("The students read the paper twice before the seminar, and everyone agreed that its main "
                  "result was simpler than it first looked.")
CHINESE_SAMPLE = "学生们在研讨会之前把论文读了两遍，大家都认为它的主要结论比乍看起来简单。"
LATENCY_TOKENS = (16, 128)
REPEATS = 5


@dataclass(frozen=True)
class ModelCard:
    model_id: str
    kind: str
    model_type: str
    n_parameters: int  # sum(p.numel() for p in model.parameters())
    n_layers: int
    n_heads: int
    n_kv_heads: int  # key/value heads (fewer than n_heads with grouped-query attention)
    hidden: int
    vocab: int  # rows of the input embedding table
    context: int  # longest input this app gives the model (tokens)
    positions: str  # "absolute", "rotary", "relative", "alibi", or "unknown"
    memory_mb: float  # parameters and buffers, as loaded
    device: str
    latency_ms: dict[int, float] = field(default_factory=dict)  # tokens -> median forward time (ms)
    tokens_per_100_chars: dict[str, float] = field(default_factory=dict)  # "en"/"zh" -> tokens per 100 characters
    macro_f1: float | None = None  # on the chosen labelled set, when there is one


def memory_bytes(model: torch.nn.Module) -> int:
    """Bytes of the model's parameters and buffers."""
    return sum(t.numel() * t.element_size() for t in (*model.parameters(), *model.buffers()))


def tokens_per_100_chars(handle: ModelHandle, text: str) -> float:
    """Tokens (special tokens left out) per 100 characters of ``text``."""
    with handle.lock:
        n = len(handle.tokenizer(text, add_special_tokens=False)["input_ids"])
    return 100.0 * n / max(len(text), 1)


def forward_latency_ms(handle: ModelHandle, n_tokens: int, repeats: int = REPEATS) -> float:
    """Median wall time (ms) of one forward pass over ``n_tokens`` tokens (batch 1, special tokens included), after
    one warm-up pass.

    The input repeats an ordinary word, cut to ``n_tokens`` by the kind's own encoding (attention costs the same
    whatever the tokens are), and goes in as the kind builds every input (``KindAdapter.model_inputs``): a BART
    classifier reads its end-of-sentence token and derives its own decoder input, an encoder-decoder gets its
    decoder start token. A hand-built batch of one repeated id crashed the BART classifier's head."""
    n_tokens = min(n_tokens, handle.max_tokens)
    encoding = encode(handle, " ".join(["the"] * n_tokens), max_tokens=n_tokens)[0]
    batch = handle.adapter.model_inputs(handle, [encoding])
    times = []
    for k in range(repeats + 1):
        if handle.device.type == "cuda":
            torch.cuda.synchronize(handle.device)
        t0 = time.perf_counter()
        run(handle, batch)
        if handle.device.type == "cuda":
            torch.cuda.synchronize(handle.device)
        if k:  # the first pass warms caches up
            times.append((time.perf_counter() - t0) * 1000)
    return float(statistics.median(times))


def card(handle: ModelHandle, *, measure: bool = True) -> ModelCard:
    """The card of ``handle``'s model; ``measure`` times forward passes at :data:`LATENCY_TOKENS` and counts
    tokens of the English and Chinese samples."""
    cfg = handle.config
    n_heads = handle.n_heads
    kv = int(_config_get(cfg, "num_key_value_heads", default=None) or n_heads)
    hidden = int(_config_get(cfg, "hidden_size", "d_model", "n_embd", "dim", default=0) or 0)
    with handle.lock:
        vocab = int(handle.model.get_input_embeddings().weight.shape[0])
        mem = memory_bytes(handle.model)
        n_params = sum(p.numel() for p in handle.model.parameters())
    out = ModelCard(handle.model_id, handle.kind, str(getattr(cfg, "model_type", "")), n_params, handle.n_layers,
                    n_heads, kv, hidden, vocab, handle.max_tokens, str(handle.arch.positions or "unknown"),
                    mem / 2**20, str(handle.device))
    if measure:
        out.latency_ms.update({n: forward_latency_ms(handle, n) for n in LATENCY_TOKENS})
        out.tokens_per_100_chars.update({"en": tokens_per_100_chars(handle, ENGLISH_SAMPLE),
                                         "zh": tokens_per_100_chars(handle, CHINESE_SAMPLE)})
    return out


def guide(cards: list[ModelCard]) -> list[str]:
    """"Which model for my task", answered from the cards' numbers (notes, most important first).

    The framing is the usual one: the task decides the kind (a classifier or an encoder to classify or compare
    texts, a causal LM to generate, a masked LM to fill in words); little data and compute favour a small model
    (DistilBERT, MiniLM); text in Chinese needs a tokenizer that does not shred it."""
    notes: list[str] = []
    if not cards:
        return notes
    small = min(cards, key=lambda c: c.n_parameters)
    fast = min((c for c in cards if c.latency_ms), key=lambda c: c.latency_ms.get(128, float("inf")), default=None)
    notes.append(msg("Smallest: {model} ({params:.1f} M parameters, {mb:.0f} MB) — the choice when labelled data or "
                     "compute is scarce: a small model fine-tunes in minutes and overfits less.",
                     model=small.model_id, params=small.n_parameters / 1e6, mb=small.memory_mb))
    if fast is not None:
        notes.append(msg("Fastest here: {model}, {ms:.1f} ms per 128-token forward on {device}.", model=fast.model_id,
                         ms=fast.latency_ms[128], device=fast.device))
    zh = [c for c in cards if "zh" in c.tokens_per_100_chars]
    if zh:
        best = min(zh, key=lambda c: c.tokens_per_100_chars["zh"])
        notes.append(msg("Chinese text: {model} needs the fewest tokens ({n:.0f} per 100 characters); a tokenizer "
                         "that needs many more, or reads [UNK], will do worse on Chinese.",
                         model=best.model_id, n=best.tokens_per_100_chars["zh"]))
    scored = [c for c in cards if c.macro_f1 is not None]
    if scored:
        best = max(scored, key=lambda c: c.macro_f1)
        notes.append(msg("On your labelled set, {model} has the highest macro-F1 ({f1:.3f}); check the intervals "
                         "on the Evaluate view before calling a difference real.", model=best.model_id,
                         f1=best.macro_f1))
    kinds = {c.kind for c in cards}
    if "causal_lm" not in kinds:
        notes.append(msg("None of these generates text: load a causal LM (GPT-2, SmolLM2, Qwen2) for that."))
    if not kinds & {"classifier", "encoder"}:
        notes.append(msg("To classify or compare sentences, a classifier (train one in lesson 5) or a sentence "
                         "encoder such as the embedded MiniLM is the usual start."))
    return notes


__all__ = ["CHINESE_SAMPLE", "ENGLISH_SAMPLE", "LATENCY_TOKENS", "ModelCard", "card", "forward_latency_ms", "guide",
           "memory_bytes", "tokens_per_100_chars"]
