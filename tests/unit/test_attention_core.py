"""plm_core.attention on tiny config-built models: the model's own weights, head average, rollout,
token flow, the query·key view, thread safety and hook hygiene."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch
from helpers import TINY_KINDS, assert_no_hooks

from plm_core.attention import (
    attention_modules,
    attention_rollout,
    extract_attention,
    head_average,
    query_key,
    token_flow,
)
from plm_core.errors import InvalidInputError
from plm_core.inference import predict
from plm_core.types import AttentionResult, Encoding

TEXT = "the quick brown fox jumps over the lazy dog"


@pytest.mark.parametrize("kind", TINY_KINDS)
def test_attention_rows_are_distributions(tiny_handles, kind):
    res = extract_attention(tiny_handles[kind], TEXT)
    h = tiny_handles[kind]
    n = len(res.encoding)
    assert res.weights.shape == (h.n_layers, h.n_heads, n, n) == (2, 4, n, n)
    assert res.weights.dtype == np.float32
    np.testing.assert_allclose(res.weights.sum(-1), 1.0, atol=1e-5)
    assert (res.weights >= 0).all()


@pytest.mark.parametrize("kind", TINY_KINDS)
def test_extract_attention_equals_output_attentions(tiny_handles, kind):
    """Our weights are exactly what a plain ``model(..., output_attentions=True)`` returns."""
    h = tiny_handles[kind]
    res = extract_attention(h, TEXT)
    batch = h.tokenizer(TEXT, return_tensors="pt")
    if kind == "roberta_mlm":
        batch.pop("token_type_ids", None)
    with torch.no_grad():
        out = h.model(**batch, output_attentions=True)
    plain = torch.stack(out.attentions).squeeze(1).numpy()
    assert res.encoding.input_ids == tuple(batch["input_ids"][0].tolist())
    np.testing.assert_allclose(res.weights, plain, rtol=0, atol=1e-6)


def test_causal_attention_is_lower_triangular(tiny_gpt2):
    res = extract_attention(tiny_gpt2, TEXT)
    n = len(res.encoding)
    upper = np.triu(np.ones((n, n), bool), 1)
    assert np.all(res.weights[..., upper] == 0)
    # the first token can only attend to itself
    np.testing.assert_allclose(res.weights[:, :, 0, 0], 1.0, atol=1e-6)


@pytest.mark.parametrize("kind", TINY_KINDS)
def test_query_key_equals_model_attention(tiny_handles, kind):
    """softmax(QK^T/sqrt(d_k)) from hooked projections equals the model's attention, every layer and head."""
    h = tiny_handles[kind]
    for layer in range(h.n_layers):
        for head in range(h.n_heads):
            qk = query_key(h, TEXT, layer, head)
            n = len(qk.encoding)
            d_k = h.config.hidden_size // h.n_heads
            assert qk.queries.shape == qk.keys.shape == (n, d_k)
            assert qk.scale == pytest.approx(d_k**-0.5)
            assert qk.max_abs_diff < 1e-5, (layer, head, qk.max_abs_diff)
            np.testing.assert_allclose(qk.probs.sum(-1), 1.0, atol=1e-5)
            # the scores really are the scaled dot products of the returned Q and K
            finite = np.isfinite(qk.scores)
            np.testing.assert_allclose(qk.scores[finite], (qk.queries @ qk.keys.T * qk.scale)[finite], atol=1e-5)
    assert qk.causal == h.arch.causal


def test_query_key_pair_matches_model(tiny_mlm):
    qk = query_key(tiny_mlm, "the cat sat", 1, 3, text_pair="a dog ran")
    assert qk.encoding.pair_start == 5
    assert qk.max_abs_diff < 1e-5


def test_query_key_causal_upper_triangle(tiny_gpt2):
    qk = query_key(tiny_gpt2, TEXT, 1, 2)
    n = len(qk.encoding)
    upper = np.triu(np.ones((n, n), bool), 1)
    assert np.all(np.isneginf(qk.scores[upper]))
    assert np.all(qk.probs[upper] == 0) and np.all(qk.model_probs[upper] == 0)
    assert np.all(np.isfinite(qk.scores[~upper]))
    assert qk.causal and qk.max_abs_diff < 1e-5


@pytest.mark.parametrize(("layer", "head"), [(2, 0), (-1, 0), (0, 4)])
def test_query_key_index_out_of_range(tiny_mlm, layer, head):
    with pytest.raises(InvalidInputError, match="out of range"):
        query_key(tiny_mlm, TEXT, layer, head)


@pytest.mark.parametrize("kind", TINY_KINDS)
def test_attention_modules_one_per_layer(tiny_handles, kind):
    assert len(attention_modules(tiny_handles[kind])) == 2


# ------------------------------------------------------------------ hand-computed analyses ----

def _encoding(n: int) -> Encoding:
    words = "abcdefgh"[:n]
    return Encoding(text=" ".join(words), tokens=tuple(words), input_ids=tuple(range(n)), special=(False,) * n,
                    segments=(0,) * n, offsets=tuple((2 * i, 2 * i + 1) for i in range(n)))


def test_rollout_two_layers_by_hand():
    # layer 0: heads [[1,0],[.5,.5]] and [[.6,.4],[0,1]] -> mean [[.8,.2],[.25,.75]]
    #          + residual (0.5A + 0.5I)               -> [[.9,.1],[.125,.875]]
    # layer 1: both heads [[.2,.8],[.4,.6]]           -> 0.5A + 0.5I = [[.6,.4],[.2,.8]]
    # rollout[1] = A1' @ A0' = [[.6*.9+.4*.125, .6*.1+.4*.875], [.2*.9+.8*.125, .2*.1+.8*.875]]
    #            = [[.59, .41], [.28, .72]]
    w = np.array([
        [[[1.0, 0.0], [0.5, 0.5]], [[0.6, 0.4], [0.0, 1.0]]],
        [[[0.2, 0.8], [0.4, 0.6]], [[0.2, 0.8], [0.4, 0.6]]],
    ], dtype=np.float32)
    roll = attention_rollout(w)
    assert roll.shape == (2, 2, 2) and roll.dtype == np.float32
    np.testing.assert_allclose(roll[0], [[0.9, 0.1], [0.125, 0.875]], atol=1e-6)
    np.testing.assert_allclose(roll[1], [[0.59, 0.41], [0.28, 0.72]], atol=1e-6)
    # without the residual: [[.2,.8],[.4,.6]] @ [[.8,.2],[.25,.75]] = [[.36,.64],[.47,.53]]
    plain = attention_rollout(w, residual=False)
    np.testing.assert_allclose(plain[0], [[0.8, 0.2], [0.25, 0.75]], atol=1e-6)
    np.testing.assert_allclose(plain[1], [[0.36, 0.64], [0.47, 0.53]], atol=1e-6)


def test_rollout_of_real_attention_keeps_rows_stochastic(tiny_mlm):
    roll = attention_rollout(extract_attention(tiny_mlm, TEXT).weights)
    np.testing.assert_allclose(roll.sum(-1), 1.0, atol=1e-5)


def _flow_result() -> AttentionResult:
    head0 = [[0.5, 0.25, 0.25], [0.1, 0.8, 0.1], [0.2, 0.2, 0.6]]
    head1 = [[1.0, 0.0, 0.0], [0.3, 0.3, 0.4], [0.0, 0.5, 0.5]]
    return AttentionResult("hand", _encoding(3), np.array([[head0, head1]], dtype=np.float32))


def test_head_average_by_hand():
    res = _flow_result()
    expected = [[0.75, 0.125, 0.125], [0.2, 0.55, 0.25], [0.1, 0.35, 0.55]]
    np.testing.assert_allclose(head_average(res, 0), expected, atol=1e-7)
    assert head_average(res).shape == (1, 3, 3)
    np.testing.assert_allclose(head_average(res)[0], expected, atol=1e-7)
    with pytest.raises(InvalidInputError):
        head_average(res, 1)


def test_token_flow_by_hand():
    res = _flow_result()
    flow = token_flow(res, [2, 0, 2], layer=0, head=0)  # duplicates and order do not matter
    assert flow.positions == (0, 2) and flow.head == 0 and flow.layer == 0
    # given = mean of rows 0 and 2 of head 0; received = sum of columns 0 and 2
    np.testing.assert_allclose(flow.given, [0.35, 0.225, 0.425], atol=1e-7)
    np.testing.assert_allclose(flow.received, [0.75, 0.2, 0.8], atol=1e-7)
    avg = token_flow(res, [1], layer=0)  # head None = mean of heads
    np.testing.assert_allclose(avg.given, [0.2, 0.55, 0.25], atol=1e-7)
    np.testing.assert_allclose(avg.received, [0.125, 0.55, 0.35], atol=1e-7)
    assert avg.given.dtype == np.float32


@pytest.mark.parametrize(("positions", "layer", "head"), [([], 0, None), ([3], 0, None), ([0], 1, None), ([0], 0, 2)])
def test_token_flow_rejects_bad_choices(positions, layer, head):
    with pytest.raises(InvalidInputError):
        token_flow(_flow_result(), positions, layer, head)


def test_attention_result_validates_shape():
    with pytest.raises(ValueError, match="does not match 3 tokens"):
        AttentionResult("x", _encoding(3), np.zeros((1, 1, 2, 2), np.float32))


# ------------------------------------------------------------------ threads and hooks ----

def test_four_threads_on_one_handle_match_sequential(tiny_handles):
    """Concurrent sessions share one handle: results equal sequential ones, no 'Already borrowed'."""
    mlm, gpt2 = tiny_handles["masked_lm"], tiny_handles["causal_lm"]
    llama, t5 = tiny_handles["llama"], tiny_handles["t5"]  # rotary + grouped-query; encoder-decoder
    texts = ["the cat sat on the mat", "a dog ran to the [MASK]", "she was very [MASK] today",
             "the [MASK] is the capital of france"]

    def others(t: str) -> tuple:
        return (query_key(llama, t, 1, 3).probs, query_key(t5, t, 1, 2, "the", stack="cross").probs,
                predict(t5, t, "the").distributions[0].probs)

    expected = [(extract_attention(mlm, t).weights, query_key(mlm, t, 1, 2).probs, predict(mlm, t).distributions
                 if "[MASK]" in t else None, query_key(gpt2, t, 1, 1).probs, others(t)) for t in texts]
    results: dict[tuple[int, int], tuple] = {}
    errors: list[BaseException] = []
    barrier = threading.Barrier(4)

    def work(i: int) -> None:
        try:
            barrier.wait()
            for rep in range(3):
                t = texts[(i + rep) % 4]
                results[(i, rep)] = (extract_attention(mlm, t).weights, query_key(mlm, t, 1, 2).probs,
                                     predict(mlm, t).distributions if "[MASK]" in t else None,
                                     query_key(gpt2, t, 1, 1).probs, others(t))
        except BaseException as err:  # noqa: BLE001 - reported below
            errors.append(err)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    assert len(results) == 12
    for (i, rep), (w, qk, dists, gqk, more) in results.items():
        exp = expected[(i + rep) % 4]
        for got, want in zip(more, exp[4]):
            np.testing.assert_allclose(got, want, atol=1e-6)
        np.testing.assert_allclose(w, exp[0], atol=1e-6)
        np.testing.assert_allclose(qk, exp[1], atol=1e-6)
        np.testing.assert_allclose(gqk, exp[3], atol=1e-6)
        if dists is not None:
            assert [d.token_ids for d in dists] == [d.token_ids for d in exp[2]]
            np.testing.assert_allclose([d.probs for d in dists], [d.probs for d in exp[2]], atol=1e-6)
    for h in (mlm, gpt2, llama, t5):
        assert_no_hooks(h.model)


@pytest.mark.parametrize("kind", ["masked_lm", "causal_lm", "distilbert_mlm"])
def test_no_hooks_left_after_error_mid_forward(tiny_handles, kind):
    h = tiny_handles[kind]
    last = attention_modules(h)[-1]

    def boom(module, inputs, output):
        raise RuntimeError("forced failure mid-forward")

    breaker = last.register_forward_hook(boom)
    try:
        with pytest.raises(RuntimeError, match="forced failure"):
            query_key(h, TEXT, 0, 0)  # its hooks sit on layer 0's projections, the failure is later
    finally:
        breaker.remove()
    assert_no_hooks(h.model)
    # the handle still works (the lock was released, nothing half-registered)
    assert query_key(h, TEXT, 0, 0).max_abs_diff < 1e-5
    assert_no_hooks(h.model)
