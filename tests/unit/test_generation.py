"""Generation step by step on the tiny GPT-2: equal to ``model.generate`` (greedy and seeded sampling), the
warpers against an independent float64 implementation, the KV cache (one token per step), attention and
attribution of a generated token, and an encoder-decoder (tiny BART) through the same interface."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch
from helpers import hf_generate

from plm_core import generation as gen
from plm_core.errors import InvalidInputError, UnsupportedModelError
from plm_core.generation import SamplingSettings

PROMPTS = ("the cat sat on the", "a good movie", "paris is the capital of")


@pytest.mark.parametrize("prompt", PROMPTS)
def test_greedy_equals_model_generate(tiny_gpt2, prompt):
    g = gen.generate(tiny_gpt2, prompt, SamplingSettings(), 16)
    assert list(g.generated_ids) == hf_generate(tiny_gpt2, g.prompt.input_ids, 16, SamplingSettings())
    assert all(s.rank == 0 and s.prob_final == 1.0 for s in g.steps)
    assert all(s.distribution.n_kept == 1 for s in g.steps)


SAMPLING = [
    SamplingSettings(True, 1.0, 0, 1.0, 0),
    SamplingSettings(True, 0.7, 0, 1.0, 1),
    SamplingSettings(True, 1.6, 20, 1.0, 2),
    SamplingSettings(True, 1.0, 0, 0.8, 3),
    SamplingSettings(True, 2.5, 50, 0.9, 4),
    SamplingSettings(True, 0.5, 5, 0.5, 5),
]


@pytest.mark.parametrize("settings", SAMPLING, ids=lambda s: s.describe())
def test_seeded_sampling_equals_model_generate(tiny_gpt2, settings):
    for prompt in PROMPTS:
        g = gen.generate(tiny_gpt2, prompt, settings, 20)
        assert list(g.generated_ids) == hf_generate(tiny_gpt2, g.prompt.input_ids, 20, settings), prompt


def test_one_call_equals_one_click_per_token(tiny_gpt2):
    settings = SAMPLING[4]
    whole = gen.generate(tiny_gpt2, PROMPTS[0], settings, 12)
    g = gen.start(tiny_gpt2, PROMPTS[0])
    for _ in range(12):
        g = gen.generate_steps(tiny_gpt2, g, settings, 1)
    assert g.ids == whole.ids
    # a new seed mid-way restarts the random stream from that seed
    other = gen.generate_steps(tiny_gpt2, gen.generate(tiny_gpt2, PROMPTS[0], settings, 3),
                               SamplingSettings(True, 2.5, 50, 0.9, 99), 5)
    assert other.rng_seed == 99 and other.ids[:len(other.ids) - 5] == whole.ids[:len(other.ids) - 5]


def _hand_distribution(logits: np.ndarray, s: SamplingSettings) -> np.ndarray:
    """Temperature, top-k, top-p in float64 from their definitions (not from Hugging Face's code)."""
    z = logits.astype(np.float64) / s.temperature
    p = np.exp(z - z.max())
    p /= p.sum()
    keep = np.ones_like(p, bool)
    if s.top_k:
        keep &= z >= np.sort(z)[::-1][s.top_k - 1]
    if s.top_p < 1:  # smallest set of most likely tokens whose probability (after top-k) is ≥ p
        q = np.where(keep, p, 0.0)
        q /= q.sum()
        order = np.argsort(-q, kind="stable")
        m = int(np.searchsorted(np.cumsum(q[order]), s.top_p - 1e-12)) + 1
        nucleus = np.zeros_like(keep)
        nucleus[order[:m]] = True
        keep &= nucleus
    out = np.where(keep, p, 0.0)
    return out / out.sum()


@pytest.mark.parametrize("settings", SAMPLING[1:], ids=lambda s: s.describe())
def test_step_distributions_equal_a_hand_computation(tiny_gpt2, settings):
    g = gen.generate(tiny_gpt2, PROMPTS[1], settings, 6)
    for i, step in enumerate(g.steps):
        logits = gen.next_logits(tiny_gpt2, g.prompt, g.ids[: g.position(i)]).cpu().numpy()
        hand = _hand_distribution(logits, settings)
        d = step.distribution
        np.testing.assert_allclose(d.probs_final, hand[list(d.token_ids)], atol=1e-6)
        assert d.n_kept == int((hand > 0).sum())
        own = np.exp(logits - logits.max())
        own /= own.sum()
        np.testing.assert_allclose(d.probs, own[list(d.token_ids)], atol=1e-6)
        assert step.rank == int((logits > logits[step.token_id]).sum())
        assert hand[step.token_id] > 0  # never drawn from outside the kept set
        assert abs(step.prob_final - hand[step.token_id]) < 1e-6


@pytest.mark.parametrize("p", [0.05, 0.3, 0.5, 0.8, 0.9, 0.95, 0.99])
def test_top_p_keeps_the_smallest_set_reaching_p(p):
    rng = np.random.default_rng(0)
    for trial in range(20):
        logits = torch.tensor(rng.normal(0, 1 + trial % 4, 300), dtype=torch.float32)
        kept = torch.isfinite(gen.top_p_filter(logits, p)).numpy()
        probs = np.sort(torch.softmax(logits.double(), -1).numpy())[::-1]
        cum = np.cumsum(probs)
        m = int(kept.sum())
        if abs(cum[m - 1] - p) < 1e-5 or (m > 1 and abs(cum[m - 2] - p) < 1e-5):
            continue  # float32 rounding decides a tie at the boundary
        assert cum[m - 1] >= p  # the set reaches p …
        assert m == 1 or cum[m - 2] < p  # … and one token fewer does not
        top = set(torch.argsort(logits, descending=True)[:m].tolist())
        assert set(np.flatnonzero(kept)) == top  # and it is the most likely tokens


def test_top_k_keeps_exactly_k():
    logits = torch.randn(500)
    for k in (1, 5, 50, 500, 900):
        assert int(torch.isfinite(gen.top_k_filter(logits, k)).sum()) == min(k, 500)
    assert gen.top_k_filter(logits, 0) is logits


def test_temperature_flattens_and_sharpens(tiny_gpt2):
    g = gen.start(tiny_gpt2, PROMPTS[0])
    cold, hot = (gen.next_distribution(tiny_gpt2, g, SamplingSettings(True, t)) for t in (0.5, 2.0))
    assert cold.entropy == pytest.approx(hot.entropy)  # the model's own distribution is the same
    assert cold.entropy_final < cold.entropy < hot.entropy_final
    assert cold.probs_final[0] > cold.probs[0] > hot.probs_final[0]


def test_a_step_feeds_one_token(tiny_gpt2):
    lengths = []
    hook = tiny_gpt2.model.register_forward_pre_hook(
        lambda m, args, kwargs: lengths.append(kwargs["input_ids"].shape[1]), with_kwargs=True)
    try:
        gen.clear_cache(tiny_gpt2)
        g = gen.start(tiny_gpt2, PROMPTS[2])
        for _ in range(5):
            g = gen.generate_steps(tiny_gpt2, g, SamplingSettings(True, seed=4), 1)
            gen.next_distribution(tiny_gpt2, g, SamplingSettings(True, 2.0))  # the preview reuses the step's forward
        n_prompt = len(g.prompt)
        assert lengths == [n_prompt, 1, 1, 1, 1, 1]
        gen.clear_cache(tiny_gpt2)  # another session evicted it: one forward over the prefix
        again = gen.generate_steps(tiny_gpt2, g, SamplingSettings(True, seed=4), 1)
        assert lengths[-1] == n_prompt + 5
    finally:
        hook.remove()
    fresh = gen.generate(tiny_gpt2, PROMPTS[2], SamplingSettings(True, seed=4), 6)
    assert again.ids == fresh.ids  # the cached path and the fresh one agree


def test_cache_budget_is_respected(tiny_gpt2, monkeypatch):
    from plm_core.model_cache import MEMORY_ENV, shared

    monkeypatch.setenv(MEMORY_ENV, "0.001")  # ~1 KB, the one budget: only the newest entry stays
    gen.clear_cache(tiny_gpt2)
    for prompt in PROMPTS:
        gen.next_distribution(tiny_gpt2, gen.start(tiny_gpt2, prompt), SamplingSettings())
    assert len(shared().side_keys(tiny_gpt2)) == 1


def test_concurrent_sessions_get_sequential_results(tiny_gpt2):
    settings = [SAMPLING[i % len(SAMPLING)] for i in range(8)]
    expected = [gen.generate(tiny_gpt2, PROMPTS[i % 3], s, 8).ids for i, s in enumerate(settings)]
    got: dict[int, tuple[int, ...]] = {}

    def run(i: int) -> None:
        g = gen.start(tiny_gpt2, PROMPTS[i % 3])
        for _ in range(8):
            g = gen.generate_steps(tiny_gpt2, g, settings[i], 1)
        got[i] = g.ids

    threads = [threading.Thread(target=run, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [got[i] for i in range(8)] == expected


def test_end_of_text_stops(tiny_gpt2):
    g = gen.start(tiny_gpt2, PROMPTS[0])
    eos = tiny_gpt2.tokenizer.eos_token_id
    logits = gen.next_logits(tiny_gpt2, g.prompt, g.ids)
    # a generation whose last step drew the end-of-text token (a random tiny model rarely draws it)
    forced = gen.Generation(g.model_id, g.prompt, g.ids + (eos,), g.n_start, (gen.GenerationStep(
        gen.distribution_of(tiny_gpt2, logits, len(g.ids) - 1, SamplingSettings()), eos, "<|endoftext|>", 0, 0.1, 1.0,
        True),))
    assert forced.finished
    assert gen.generate_steps(tiny_gpt2, forced, SamplingSettings(), 5).ids == forced.ids


def test_settings_are_validated():
    for bad in ({"temperature": 0}, {"temperature": -1}, {"top_k": -1}, {"top_p": 0}, {"top_p": 1.5},
                {"seed": -3}, {"temperature": float("nan")}):
        with pytest.raises(InvalidInputError):
            SamplingSettings(do_sample=True, **bad)
    assert SamplingSettings(True, 0.7, 40, 0.9, 3).describe() == "sampling, T=0.7, top-k 40, top-p 0.9, seed 3"
    assert SamplingSettings().describe() == "greedy"


def test_bounds_and_unsupported_models(tiny_gpt2, tiny_mlm):
    g = gen.start(tiny_gpt2, PROMPTS[0])
    for n in (0, gen.MAX_NEW_TOKENS + 1):
        with pytest.raises(InvalidInputError):
            gen.generate_steps(tiny_gpt2, g, SamplingSettings(), n)
    with pytest.raises(UnsupportedModelError, match="does not generate"):
        gen.start(tiny_mlm, "the cat [MASK]")
    with pytest.raises(InvalidInputError):
        gen.start(tiny_gpt2, "   ")
    with pytest.raises(InvalidInputError):
        g.position(0)


def test_length_limit_stops_with_a_note(tiny_gpt2):
    long = " ".join(["the cat sat on the mat"] * 40)
    g = gen.generate(tiny_gpt2, long, SamplingSettings(), 50)
    assert len(g.ids) == tiny_gpt2.max_tokens
    assert any("stopped at" in n for n in g.notes)


def test_unknown_ids_get_a_display_string(tiny_gpt2):
    assert gen.token_strings(tiny_gpt2, [10**6]) == ("<id 1000000>",)


def test_step_attention_equals_the_cached_step(tiny_gpt2):
    g = gen.generate(tiny_gpt2, PROMPTS[0], SamplingSettings(True, seed=1), 5)
    for index in range(5):
        att = gen.step_attention(tiny_gpt2, g, index)
        p = g.position(index)
        ids = torch.tensor([list(g.ids[:p])])
        with torch.inference_mode():  # the KV-cached step: prefix first, then only the last token
            prefix = tiny_gpt2.model(input_ids=ids[:, :-1], use_cache=True) if p > 1 else None
            out = tiny_gpt2.model(input_ids=ids[:, -1:], past_key_values=prefix.past_key_values if prefix else None,
                                  output_attentions=True)
        cached = torch.stack([a[0, :, -1] for a in out.attentions]).numpy()
        np.testing.assert_allclose(att.weights, cached, atol=1e-5)
        np.testing.assert_allclose(att.weights.sum(-1), 1.0, atol=1e-5)
        assert att.encoding.input_ids == g.ids[:p] and att.token == g.steps[index].token


@pytest.mark.parametrize("method", ["integrated_gradients", "input_x_gradient", "attention_last_layer"])
def test_attribute_step_explains_the_generated_token(tiny_gpt2, method):
    from helpers import assert_no_hooks

    g = gen.generate(tiny_gpt2, PROMPTS[1], SamplingSettings(True, 1.5, seed=2), 4)
    for index in (0, 3):
        res = gen.attribute_step(tiny_gpt2, g, index, method)
        p = g.position(index)
        assert res.encoding.input_ids == g.ids[:p] and res.target_id == g.ids[p]
        assert res.f_x == pytest.approx(g.steps[index].prob, abs=1e-5)  # the probability the step recorded
        if method == "integrated_gradients":
            assert res.delta_rel is not None and res.delta_rel < 0.05
    assert_no_hooks(tiny_gpt2.model)


def test_generated_ids_are_never_retokenized(tiny_gpt2):
    # ids that decode to text whose re-tokenization differs: the views keep the ids as they are
    g = gen.start(tiny_gpt2, "the cat")
    pieces = tiny_gpt2.tokenizer(" cat", add_special_tokens=False)["input_ids"]
    c = tiny_gpt2.tokenizer.convert_tokens_to_ids("c")
    at = tiny_gpt2.tokenizer.convert_tokens_to_ids("at")
    assert len(pieces) == 1 and isinstance(c, int) and isinstance(at, int)
    ids = g.ids + (c, at)
    steps = []
    for i, tid in enumerate((c, at)):
        logits = gen.next_logits(tiny_gpt2, g.prompt, ids[: g.n_start + i])
        d = gen.distribution_of(tiny_gpt2, logits, g.n_start + i - 1, SamplingSettings())
        steps.append(gen.GenerationStep(d, tid, gen.token_strings(tiny_gpt2, [tid])[0], 1, 0.0, 0.0, False))
    odd = gen.Generation(g.model_id, g.prompt, ids, g.n_start, tuple(steps))
    res = gen.attribute_step(tiny_gpt2, odd, 1, "input_x_gradient")
    assert res.encoding.input_ids == ids[:-1]


# ----------------------------------------------------------------------- encoder-decoder (tiny BART) ----


@pytest.fixture(scope="module")
def tiny_bart():
    from plm_core.testing import bpe_tokenizer
    from transformers import BartConfig, BartForConditionalGeneration

    from plm_core.loading import ModelHandle, ModelSpec

    tok = bpe_tokenizer()
    torch.manual_seed(0)
    cfg = BartConfig(vocab_size=len(tok), d_model=32, encoder_layers=2, decoder_layers=2, encoder_attention_heads=4,
                     decoder_attention_heads=4, encoder_ffn_dim=64, decoder_ffn_dim=64, max_position_embeddings=128,
                     attn_implementation="eager", init_std=0.2, dropout=0.0, attention_dropout=0.0,
                     pad_token_id=tok.pad_token_id or 0, bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
                     decoder_start_token_id=tok.bos_token_id, forced_eos_token_id=None, forced_bos_token_id=None)
    model = BartForConditionalGeneration(cfg).eval()
    tok.pad_token = tok.eos_token
    return ModelHandle(spec=ModelSpec("tiny-bart"), model=model, tokenizer=tok, device=torch.device("cpu"),
                       kind="seq2seq", source="config")  # type: ignore[arg-type]


@pytest.mark.parametrize("settings", [SamplingSettings(), SAMPLING[2], SAMPLING[5]], ids=lambda s: s.describe())
def test_seq2seq_decoder_equals_model_generate(tiny_bart, settings):
    g = gen.generate(tiny_bart, "the cat sat on the mat", settings, 10)
    ids = torch.tensor([list(g.prompt.input_ids)])
    kwargs = {"do_sample": False}
    if settings.do_sample:
        torch.manual_seed(settings.seed)
        kwargs = {"do_sample": True, "temperature": settings.temperature, "top_k": settings.top_k,
                  "top_p": settings.top_p}
    out = tiny_bart.model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=10, min_length=0,
                                   no_repeat_ngram_size=0, num_beams=1, **kwargs)[0].tolist()
    eos = tiny_bart.tokenizer.eos_token_id
    expected = out[1:]
    expected = expected[: expected.index(eos) + 1] if eos in expected else expected
    assert out[0] == g.ids[0] and list(g.generated_ids) == expected
    att = gen.step_attention(tiny_bart, g, len(g.steps) - 1)
    np.testing.assert_allclose(att.weights.sum(-1), 1.0, atol=1e-5)
    with pytest.raises(UnsupportedModelError):
        gen.attribute_step(tiny_bart, g, 0)


@pytest.mark.parametrize("kind", ["t5", "bart"])
def test_loaded_encoder_decoders_generate_through_their_adapter(tiny_handles, kind):
    """T5 and BART loaded through load_model (kind seq2seq): greedy steps = model.generate, via the adapter."""
    handle = tiny_handles[kind]
    assert gen.can_generate(handle) and not handle.adapter.prompt_is_prefix
    g = gen.generate(handle, "the cat sat on the mat", SamplingSettings(), 8)
    ids = torch.tensor([list(g.prompt.input_ids)])
    out = handle.model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=8, min_length=0,
                                no_repeat_ngram_size=0, num_beams=1, do_sample=False)[0].tolist()
    eos = handle.tokenizer.eos_token_id
    expected = out[1:]
    expected = expected[: expected.index(eos) + 1] if eos in expected else expected
    assert out[0] == g.ids[0] and list(g.generated_ids) == expected
    _, dist = gen.text_distribution(handle, "the cat sat on the mat", SamplingSettings())
    assert dist.token_ids[0] == g.steps[0].token_id


def test_kinds_that_do_not_generate_refuse_through_their_adapter(tiny_handles):
    for kind in ("masked_lm", "encoder", "classifier"):
        assert not gen.can_generate(tiny_handles[kind])
        with pytest.raises(UnsupportedModelError, match="does not generate"):
            gen.start(tiny_handles[kind], "the cat sat")


def test_ids_read_as_a_sequence_show_split_characters_like_the_encoding(tiny_gpt2):
    """Generated and prompt ids shown as one sequence (the attention keys, the pills) name a character split over
    byte pieces in each piece ("中 1/3"), as plm_core.display does for typed text — never a lone "<0xE4>"."""
    g = gen.start(tiny_gpt2, "the cat 中文 😀 sat")
    shown = gen.encoding_of_ids(tiny_gpt2, g.prompt.input_ids).tokens
    assert shown == g.prompt.tokens
    assert not any(t.startswith("<0x") for t in shown)
