"""Llama-style decoders (Llama, Mistral, Qwen2, Phi-3, Gemma) on tiny config-built models: the query·key view and
the lessons' step-by-step attention rotate Q and K (RoPE) and expand grouped-query heads, and equal the model's
own attention; predictions, attribution, masking and compare equal plain transformers / captum."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch
from captum.attr import LayerIntegratedGradients
from helpers import TINY_DECODERS, assert_no_hooks

from plm_core.attention import extract_attention, query_key
from plm_core.attribution import Target, attribute
from plm_core.compare import compare_texts
from plm_core.inference import predict
from plm_core.loading import ModelSpec, load_model
from plm_core.masking import MaskSpec, mask_and_predict

TEXT = "The quick brown fox jumps over the lazy dog."


@pytest.mark.parametrize("name", TINY_DECODERS)
def test_decoders_load_as_causal_lms_with_grouped_query_heads(tiny_handles, name):
    h = tiny_handles[name]
    assert h.kind == "causal_lm" and h.arch.positions == "rotary" and h.arch.grouped_query
    assert h.config.num_key_value_heads < h.n_heads


@pytest.mark.parametrize("name", TINY_DECODERS)
def test_query_key_reads_rotary_and_grouped_query_heads(tiny_handles, name):
    """(equality with the model's weights, every layer and head: test_attention_core's query·key test)"""
    h = tiny_handles[name]
    group = h.n_heads // h.config.num_key_value_heads
    for head in range(h.n_heads):
        qk = query_key(h, TEXT, 1, head)
        assert qk.positions == "rotary" and qk.causal and qk.max_abs_diff < 1e-5
        assert qk.kv_head == head // group and qk.n_kv_heads == h.config.num_key_value_heads
    assert_no_hooks(h.model)


@pytest.mark.parametrize("name", TINY_DECODERS)
def test_rotary_is_what_makes_it_equal(tiny_handles, name):
    """Without the rotation the recomputed attention is not the model's: the view really applies RoPE."""
    h = tiny_handles[name]
    qk = query_key(h, TEXT, 1, 0)
    module = h.model.model.layers[1].self_attn
    captured = {}
    proj = getattr(module, "q_proj", None) or module.qkv_proj
    hook = proj.register_forward_hook(lambda m, a, o: captured.setdefault("q", o[0].detach()))
    try:
        with torch.no_grad():
            h.model(**h.tokenizer(TEXT, return_tensors="pt"))
    finally:
        hook.remove()
    d = qk.queries.shape[1]
    raw_q = captured["q"][:, :d].numpy()  # head 0 before the rotation
    np.testing.assert_allclose(qk.queries[0], raw_q[0], atol=1e-6)  # position 0 is not rotated
    assert np.abs(qk.queries[1:] - raw_q[1:]).max() > 1e-3  # later positions are


def test_sliding_window_is_applied(tiny_dirs, tmp_path):
    """Mistral with a 3-token sliding window: a query sees itself and the 2 keys before it, as the model does."""
    folder = tmp_path / "mistral_window"
    shutil.copytree(tiny_dirs["mistral"], folder)
    config = json.loads((folder / "config.json").read_text())
    config["sliding_window"] = 3
    (folder / "config.json").write_text(json.dumps(config))
    h = load_model(ModelSpec(str(folder), device="cpu"))
    qk = query_key(h, TEXT, 0, 0)
    assert qk.max_abs_diff < 1e-5
    n = qk.probs.shape[0]
    far = np.tril(np.ones((n, n), bool), -3)
    assert (qk.model_probs[far] == 0).all() and (qk.probs[far] == 0).all()


@pytest.mark.parametrize("name", TINY_DECODERS)
def test_sentencepiece_marker_shown_as_a_space(tiny_handles, name):
    """SentencePiece's ``▁`` (and byte-level BPE's ``Ġ``, Qwen2) are shown as the space they stand for."""
    enc = extract_attention(tiny_handles[name], TEXT).encoding
    assert not any("▁" in t or "Ġ" in t for t in enc.tokens)
    assert " quick" in "".join(enc.tokens)


@pytest.mark.parametrize("name", ["llama", "phi3"])
def test_prediction_equals_a_plain_forward(tiny_handles, name):
    h = tiny_handles[name]
    pred = predict(h, TEXT, top_k=5)
    with torch.no_grad():
        logits = h.model(**h.tokenizer(TEXT, return_tensors="pt")).logits[0, -1]
    probs, ids = torch.softmax(logits, -1).topk(5)
    (dist,) = pred.distributions
    assert dist.token_ids == tuple(ids.tolist())
    np.testing.assert_allclose(dist.probs, probs.numpy(), atol=1e-6)


@pytest.mark.parametrize("name", ["llama", "qwen2"])
def test_ig_equals_plain_captum_lig(tiny_handles, name):
    h = tiny_handles[name]
    ours = attribute(h, "the cat sat on the", target=Target("next_token", word="mat"), n_steps=20)
    batch = h.tokenizer("the cat sat on the", return_tensors="pt")
    ids = batch["input_ids"]
    special = torch.tensor(ours.encoding.special)
    base_ids = torch.where(special, ids[0], torch.tensor(h.tokenizer.pad_token_id))[None]
    tid = ours.target_id

    def forward(input_ids):
        mask = batch["attention_mask"].expand(input_ids.shape[0], -1)
        return h.model(input_ids=input_ids, attention_mask=mask).logits[:, -1].softmax(-1)[:, tid]

    lig = LayerIntegratedGradients(forward, h.model.get_input_embeddings())
    ref = lig.attribute(ids, baselines=base_ids, n_steps=20, method="gausslegendre").sum(-1)[0].detach().numpy()
    np.testing.assert_allclose(ours.scores, ref, rtol=1e-4, atol=1e-6)
    assert_no_hooks(h.model)


def test_masking_and_compare_round_trip(tiny_handles):
    h = tiny_handles["llama"]
    same = mask_and_predict(h, TEXT, MaskSpec(()))
    np.testing.assert_allclose(same.comparisons[0].prob_delta, 0.0, atol=1e-6)
    cut = mask_and_predict(h, TEXT, MaskSpec((3,), "delete"))
    assert len(cut.edit.edited) == len(cut.edit.original) - 1
    alone = predict(h, cut.edit.text, top_k=5).distributions[0]
    assert cut.after.distributions[0].token_ids == alone.token_ids
    np.testing.assert_allclose(cut.after.distributions[0].probs, alone.probs, atol=1e-5)
    cmp = compare_texts(h, "the cat sat on the", "the dog sat on the")
    for side, text in ((cmp.a, "the cat sat on the"), (cmp.b, "the dog sat on the")):
        np.testing.assert_allclose(side.distributions[0].probs, predict(h, text, top_k=5).distributions[0].probs,
                                   atol=1e-5)
