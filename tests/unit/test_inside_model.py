"""Inside the model (issue 22): contributions, patching, ablation, FFN neurons — each against an independent
computation: the model's own logits, TransformerLens-style math by hand from the weights, and hand-made copies
of the model with weights zeroed."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
import torch

from helpers import assert_no_hooks, tiny_names
from plm_core.contributions import contributions, read_position
from plm_core.errors import InvalidInputError, UnsupportedModelError
from plm_core.ffn import ffn_view
from plm_core.patching import Ablation, ablate, ablated, patch, patch_residual

TEXT = "the cat sat on the"
MLM_TEXT = "the cat [MASK] on the mat"
CLEAN, CORRUPT = "the cat sat on the", "the dog sat on the"
# kinds the contributions explain; an encoder-decoder is given a target prefix
KINDS = tiny_names("core", "seq2seq", kinds=("causal_lm", "masked_lm", "seq2seq"))


def _text(kind: str) -> tuple[str, str | None]:
    if kind in ("masked_lm", "distilbert_mlm", "roberta_mlm"):
        return MLM_TEXT, None
    return TEXT, ("the cat" if kind in ("t5", "bart") else None)


def _own_logits(handle, text, pair=None):
    """The model's logits at the read position, from a plain forward (no hooks)."""
    enc, _ = handle.adapter.encode(handle, text, pair)
    p, _ = read_position(handle, enc)
    with torch.no_grad():
        out = handle.model(**handle.adapter.model_inputs(handle, [enc]))
    return out.logits[0, p].double(), enc, p


@pytest.mark.parametrize("kind", KINDS)
def test_contributions_add_up_to_the_models_logit(tiny_handles, kind):
    handle = tiny_handles[kind]
    text, pair = _text(kind)
    logits, _, _ = _own_logits(handle, text, pair)
    order = logits.argsort(descending=True)
    top, second = int(order[0]), int(order[1])
    from plm_core.display import token_text

    res = contributions(handle, text, None, token_text(handle, second).strip() or None, text_pair=pair)
    assert res.target_id == top
    expected = float(logits[top] - logits[res.contrast_id]) if res.contrast_id is not None else float(logits[top])
    assert res.value == pytest.approx(expected, abs=1e-5)
    parts = (res.embeddings + sum(float(g.sum()) for g in res.heads) + sum(float(b.sum()) for b in res.attention_bias)
             + float(res.ffn.sum()) + res.constant)
    assert parts == pytest.approx(res.total, abs=1e-4)
    assert abs(res.difference) < 1e-4 * (1 + abs(expected)), res.difference
    assert res.adds_up
    # each head's share splits over its source tokens exactly
    for grid, src in zip(res.heads, res.sources):
        assert src is not None, res.source_note
        np.testing.assert_allclose(src.sum(-1), grid, atol=1e-5)
    assert_no_hooks(handle.model)


def _gelu_new(x):
    return 0.5 * x * (1 + torch.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)))


def _ln(x, w, b, eps):
    mu = x.mean(-1, keepdim=True)
    var = ((x - mu) ** 2).mean(-1, keepdim=True)
    return (x - mu) / torch.sqrt(var + eps) * w + b


def _gpt2_by_hand(model, ids):
    """TransformerLens-style GPT-2 forward from the weights: per-head outputs, FFN outputs and activations,
    embeddings and the final residual, all [position, ...] (float64)."""
    sd = {k: v.double() for k, v in model.state_dict().items()}
    cfg = model.config
    n, dh = cfg.n_head, cfg.n_embd // cfg.n_head
    eps = cfg.layer_norm_epsilon
    t = len(ids)
    x = sd["transformer.wte.weight"][ids] + sd["transformer.wpe.weight"][:t]
    emb = x.clone()
    heads, ffn, acts, attn_w, values = [], [], [], [], []
    for layer in range(cfg.n_layer):
        pre = f"transformer.h.{layer}."
        a = _ln(x, sd[pre + "ln_1.weight"], sd[pre + "ln_1.bias"], eps)
        qkv = a @ sd[pre + "attn.c_attn.weight"] + sd[pre + "attn.c_attn.bias"]
        q, k, v = qkv.split(cfg.n_embd, -1)
        q, k, v = (m.view(t, n, dh).transpose(0, 1) for m in (q, k, v))
        scores = q @ k.transpose(-1, -2) / math.sqrt(dh)
        scores = scores.masked_fill(torch.triu(torch.ones(t, t, dtype=torch.bool), 1), float("-inf"))
        att = scores.softmax(-1)  # [head, q, k]
        z = att @ v  # [head, q, dh]
        w_o = sd[pre + "attn.c_proj.weight"]  # [in, out] (Conv1D)
        per_head = torch.stack([z[h] @ w_o[h * dh:(h + 1) * dh] for h in range(n)])  # [head, q, hidden]
        x = x + per_head.sum(0) + sd[pre + "attn.c_proj.bias"]
        m = _ln(x, sd[pre + "ln_2.weight"], sd[pre + "ln_2.bias"], eps)
        act = _gelu_new(m @ sd[pre + "mlp.c_fc.weight"] + sd[pre + "mlp.c_fc.bias"])
        out = act @ sd[pre + "mlp.c_proj.weight"] + sd[pre + "mlp.c_proj.bias"]
        x = x + out
        heads.append(per_head)
        ffn.append(out)
        acts.append(act)
        attn_w.append(att)
        values.append(v)
    return dict(emb=emb, heads=heads, ffn=ffn, acts=acts, final=x, att=attn_w, v=values, sd=sd, dh=dh)


def test_gpt2_contributions_equal_transformerlens_math_by_hand(tiny_gpt2):
    handle = tiny_gpt2
    res = contributions(handle, TEXT)
    ids = list(res.encoding.input_ids)
    hand = _gpt2_by_hand(handle.model, ids)
    p = res.stack_position
    sd = hand["sd"]
    w_f = sd["transformer.ln_f.weight"]
    x = hand["final"][p]
    scale = torch.sqrt(((x - x.mean()) ** 2).mean() + handle.config.layer_norm_epsilon)  # frozen at the real run
    u = sd["lm_head.weight"][res.target_id]

    def dla(vec):  # TransformerLens: apply_ln with the cached scale, then W_U[:, token]
        return float(((vec - vec.mean()) / scale * w_f) @ u)

    assert res.embeddings == pytest.approx(dla(hand["emb"][p]), abs=1e-5)
    for layer in range(handle.config.n_layer):
        for h in range(handle.config.n_head):
            assert res.heads[0][layer, h] == pytest.approx(dla(hand["heads"][layer][h, p]), abs=1e-5)
            # source split: attention × (value · W_O)
            w_o = sd[f"transformer.h.{layer}.attn.c_proj.weight"][h * hand["dh"]:(h + 1) * hand["dh"]]
            for s in range(p + 1):
                vec = hand["att"][layer][h, p, s] * (hand["v"][layer][h, s] @ w_o)
                assert res.sources[0][layer, h, s] == pytest.approx(dla(vec), abs=1e-5)
        assert res.ffn[layer] == pytest.approx(dla(hand["ffn"][layer][p]), abs=1e-5)
    view = ffn_view(handle, TEXT, 1, top_k=5)
    np.testing.assert_allclose(view.activations, hand["acts"][1][p][list(view.neurons)].numpy(), atol=1e-5)
    assert view.block_total == pytest.approx(res.ffn[1], abs=1e-5)


@pytest.mark.parametrize("kind", ("causal_lm", "llama", "masked_lm", "t5"))
def test_ffn_neurons_add_up_to_the_block(tiny_handles, kind):
    handle = tiny_handles[kind]
    text, pair = _text(kind)
    res = contributions(handle, text, text_pair=pair, sources=False)
    for layer in range(res.n_layers):
        view = ffn_view(handle, text, layer, text_pair=pair, top_k=4, n_vocab=3)
        assert view.block_total == pytest.approx(float(res.ffn[layer]), abs=1e-5)
        assert view.max_abs_diff < 1e-5
        assert len(view.neurons) == 4 and all(len(row) == 3 for row in view.promoted)
        assert np.all(np.diff(np.abs(view.activations)) <= 1e-7)  # ranked by |activation|
    assert_no_hooks(handle.model)


def test_contributions_refuse_models_without_an_lm_head(tiny_handles):
    for kind in ("classifier", "encoder"):
        with pytest.raises(UnsupportedModelError, match="no language-model head"):
            contributions(tiny_handles[kind], TEXT)


@pytest.mark.parametrize("kind", ("causal_lm", "llama", "masked_lm", "t5"))
def test_patching_every_position_restores_the_clean_run(tiny_handles, kind):
    handle = tiny_handles[kind]
    clean, corrupt = (CLEAN + " [MASK]", CORRUPT + " [MASK]") if kind == "masked_lm" else (CLEAN, CORRUPT)
    pair = "the" if kind == "t5" else None
    res = patch(handle, clean, corrupt, "residual", text_pair=pair)
    n_layers, n_pos = res.values.shape
    # the clean and corrupted numbers from plain forwards
    own_clean, _, _ = _own_logits(handle, clean, pair)
    own_corrupt, _, _ = _own_logits(handle, corrupt, pair)
    foil = res.contrast_id

    def sign(lg):
        return float(lg[res.target_id] - (lg[foil] if foil is not None else 0))

    assert res.clean_value == pytest.approx(sign(own_clean), abs=1e-5)
    assert res.corrupt_value == pytest.approx(sign(own_corrupt), abs=1e-5)
    for layer in range(n_layers):
        everything, c, k = patch_residual(handle, clean, corrupt, layer, range(n_pos), text_pair=pair)
        assert everything == pytest.approx(c, abs=1e-5)
        nothing, _, _ = patch_residual(handle, clean, corrupt, layer, [], text_pair=pair)
        assert nothing == pytest.approx(k, abs=1e-5)
        # the batched sweep's cell equals a patch of that one position alone
        one, _, _ = patch_residual(handle, clean, corrupt, layer, [n_pos - 1], text_pair=pair)
        assert res.values[layer, n_pos - 1] == pytest.approx(one, abs=1e-4)
    # the embeddings differ at one token only: patching any other position there restores nothing
    differ = [i for i, (x, y) in enumerate(zip(res.tokens, res.corrupt_tokens)) if x != y]
    for i in range(n_pos):
        if i not in differ:
            assert res.restored[0, i] == pytest.approx(0.0, abs=1e-4)
    assert res.n_forwards == 2 + n_layers
    assert_no_hooks(handle.model)


def test_patching_heads_and_ffn_shapes_and_cost(tiny_handles):
    handle = tiny_handles["llama"]
    heads = patch(handle, CLEAN, CORRUPT, "heads")
    assert heads.values.shape == (1, 2, 4) and heads.n_forwards == 2 + 2
    ffn = patch(handle, CLEAN, CORRUPT, "ffn")
    assert ffn.values.shape == (2,) and ffn.n_forwards == 3
    t5 = patch(tiny_handles["t5"], CLEAN, CORRUPT, "heads", text_pair="the")
    assert t5.values.shape == (2, 2, 4)  # decoder self-attention and cross-attention
    assert_no_hooks(handle.model)


def test_patching_refuses_prompts_of_different_lengths(tiny_gpt2):
    with pytest.raises(InvalidInputError, match="same number of tokens"):
        patch(tiny_gpt2, "the cat sat on the", "the cat sat on the mat today")
    assert_no_hooks(tiny_gpt2.model)


def _zero_head(model, handle, layer, head, stack=0):
    """A hand-made copy whose head ``head`` of ``layer`` has its output weights (W_O columns) zeroed."""
    from plm_core.contributions import block_layout, sub_module

    twin = copy.deepcopy(model)
    lay = block_layout(handle)
    subs = [s for s in lay.sublayers if s.kind != "ffn"]
    orig = sub_module(handle, lay, subs[stack], layer)
    name = next(n for n, m in model.named_modules() if m is orig)
    proj = twin.get_submodule(name)
    n_heads = handle.config.num_attention_heads if hasattr(handle.config, "num_attention_heads") else handle.config.num_heads
    with torch.no_grad():
        if isinstance(proj, torch.nn.Linear):
            dh = proj.in_features // n_heads
            proj.weight[:, head * dh:(head + 1) * dh] = 0
        else:  # GPT-2 Conv1D [in, out]
            dh = proj.weight.shape[0] // n_heads
            proj.weight[head * dh:(head + 1) * dh] = 0
    return twin


@pytest.mark.parametrize("kind,stack", [("causal_lm", 0), ("llama", 0), ("masked_lm", 0), ("t5", 1)])
def test_ablating_a_head_equals_zeroed_output_weights(tiny_handles, kind, stack):
    handle = tiny_handles[kind]
    text, pair = _text(kind)
    res = ablate(handle, text, Ablation(heads=((stack, 1, 2),)), text_pair=pair)
    twin = _zero_head(handle.model, handle, 1, 2, stack)
    enc, _ = handle.adapter.encode(handle, text, pair)
    p, _ = read_position(handle, enc)
    with torch.no_grad():
        probs = torch.softmax(twin(**handle.adapter.model_inputs(handle, [enc])).logits[0, p].float(), -1)
    np.testing.assert_allclose(res.after, probs[list(res.token_ids)].numpy(), atol=1e-6)
    own, _, _ = _own_logits(handle, text, pair)
    np.testing.assert_allclose(res.before, torch.softmax(own.float(), -1)[list(res.token_ids)].numpy(), atol=1e-6)
    assert_no_hooks(handle.model)


def test_ablating_an_ffn_block_equals_zeroed_down_projection(tiny_gpt2):
    handle = tiny_gpt2
    res = ablate(handle, TEXT, Ablation(ffn=(0,)))
    twin = copy.deepcopy(handle.model)
    with torch.no_grad():
        twin.transformer.h[0].mlp.c_proj.weight.zero_()
        twin.transformer.h[0].mlp.c_proj.bias.zero_()
    enc, _ = handle.adapter.encode(handle, TEXT)
    with torch.no_grad():
        probs = torch.softmax(twin(**handle.adapter.model_inputs(handle, [enc])).logits[0, -1].float(), -1)
    np.testing.assert_allclose(res.after, probs[list(res.token_ids)].numpy(), atol=1e-6)


def test_mean_ablation_uses_the_mean_over_positions(tiny_gpt2):
    handle = tiny_gpt2
    res = ablate(handle, TEXT, Ablation(heads=((0, 0, 1),), mode="mean"))
    assert not np.allclose(res.before, res.after)
    assert res.after.sum() <= 1.0 + 1e-5


def test_ablation_hooks_never_leak_on_error(tiny_gpt2):
    with pytest.raises(RuntimeError, match="boom"):
        with ablated(tiny_gpt2, Ablation(heads=((0, 0, 0),), ffn=(1,))):
            raise RuntimeError("boom")
    assert_no_hooks(tiny_gpt2.model)
    with pytest.raises(InvalidInputError):
        ablate(tiny_gpt2, TEXT, Ablation(heads=((0, 9, 0),)))
    assert_no_hooks(tiny_gpt2.model)


# ------------------------------------------------- an ablated model for every page (ModelSpec.ablation) ----


@pytest.mark.parametrize("kind,text", [("causal_lm", TEXT), ("masked_lm", MLM_TEXT)])
def test_ablated_copy_predicts_like_ablate_and_like_zeroed_output_weights(tiny_handles, kind, text):
    from plm_core.inference import predict
    from plm_core.patching import ablated_copy

    handle = tiny_handles[kind]
    ablation = Ablation(heads=((0, 1, 2),))
    twin_handle = ablated_copy(handle, ablation)
    assert twin_handle.spec.ablation == ablation and twin_handle.spec.model_id == handle.spec.model_id
    assert twin_handle.model is not handle.model and twin_handle.lock is not handle.lock
    assert_no_hooks(handle.model)  # the shared model never carries the copy's hooks
    got = predict(twin_handle, text, top_k=5).distributions[0]
    res = ablate(handle, text, ablation)  # the context-managed hooks on the base model
    after = dict(zip(res.token_ids, res.after))
    ids = list(got.token_ids)
    np.testing.assert_allclose(got.probs, [after[i] for i in ids], atol=1e-6)  # ablate()'s top-8 holds the top-5
    # independently: a hand-made model with that head's W_O columns zeroed, no hooks at all
    zeroed = _zero_head(handle.model, handle, 1, 2)
    enc, _ = handle.adapter.encode(handle, text)
    p, _ = read_position(handle, enc)
    with torch.no_grad():
        probs = torch.softmax(zeroed(**handle.adapter.model_inputs(handle, [enc])).logits[0, p].float(), -1)
    np.testing.assert_allclose(got.probs, probs[ids].numpy(), atol=1e-6)
    assert ids[0] == int(probs.argmax())
    assert_no_hooks(handle.model)


def test_ablated_copy_modes_and_ffn(tiny_gpt2):
    from plm_core.inference import predict
    from plm_core.patching import ablated_copy

    def top(handle):
        d = predict(handle, TEXT, top_k=5).distributions[0]
        return dict(zip(d.token_ids, d.probs))

    zero = top(ablated_copy(tiny_gpt2, Ablation(heads=((0, 0, 1),), ffn=(1,))))
    mean = top(ablated_copy(tiny_gpt2, Ablation(heads=((0, 0, 1),), ffn=(1,), mode="mean")))
    whole = top(tiny_gpt2)
    assert zero != pytest.approx(mean, abs=1e-4) and zero != pytest.approx(whole, abs=1e-4)
    res = ablate(tiny_gpt2, TEXT, Ablation(heads=((0, 0, 1),), ffn=(1,), mode="mean"))
    after = dict(zip(res.token_ids, res.after))
    np.testing.assert_allclose(list(mean.values()), [after[i] for i in mean], atol=1e-6)
    assert_no_hooks(tiny_gpt2.model)
    with pytest.raises(InvalidInputError, match="no head"):
        ablated_copy(tiny_gpt2, Ablation(heads=((0, 9, 0),)))
    with pytest.raises(InvalidInputError):
        ablated_copy(tiny_gpt2, Ablation())
    assert_no_hooks(tiny_gpt2.model)


def test_a_spec_with_an_ablation_is_its_own_hashable_picklable_model(tiny_dirs):
    import pickle

    from plm_core.loading import ModelSpec, load_model

    spec = ModelSpec(str(tiny_dirs["causal_lm"]), device="cpu", ablation=Ablation(ffn=(1, 0, 1)))
    assert spec == pickle.loads(pickle.dumps(spec)) and hash(spec) == hash(ModelSpec(
        str(tiny_dirs["causal_lm"]), device="cpu", ablation=Ablation(ffn=(0, 1))))
    assert spec != ModelSpec(str(tiny_dirs["causal_lm"]), device="cpu")
    handle = load_model(spec)
    assert handle.spec == spec
    assert not np.allclose(_own_logits(handle, TEXT)[0], _own_logits(load_model(
        ModelSpec(str(tiny_dirs["causal_lm"]), device="cpu")), TEXT)[0])


@pytest.mark.parametrize("text,expected", [
    ("zero:L3H2,L5F", Ablation(heads=((0, 2, 1),), ffn=(4,))),
    ("mean:l1x4 , L2F", Ablation(heads=((1, 0, 3),), ffn=(1,), mode="mean")),
    ("L1H1", Ablation(heads=((0, 0, 0),))),
])
def test_ablation_links_parse_and_round_trip(text, expected):
    from plm_core.patching import format_ablation, parse_ablation

    assert parse_ablation(text) == expected
    assert parse_ablation(format_ablation(expected)) == expected


@pytest.mark.parametrize("text", ["", "zero:", "half:L1H1", "L0H1", "L1H0", "L1", "L1H1;L2F", "<b>L1H1</b>",
                                  "=cmd|' /C calc'!A0", pytest.param("L1H1," * 600, id="too-long"),
                                  "L99999H1"])
def test_malformed_ablation_links_are_refused(text):
    from plm_core.patching import parse_ablation

    with pytest.raises(InvalidInputError):
        parse_ablation(text)


@pytest.mark.parametrize("kind", ["classifier", "encoder"])
def test_ablated_copy_of_a_model_without_an_lm_head(tiny_handles, kind):
    """Every page runs on the ablated model, also for a classifier or a sentence encoder (no token logit: the
    Inside page's views refuse them, the ablation does not)."""
    from plm_core.inference import predict
    from plm_core.patching import ablated_copy

    handle = tiny_handles[kind]
    got = predict(ablated_copy(handle, Ablation(heads=((0, 1, 2),))), "the cat sat on the mat")
    assert_no_hooks(handle.model)
    zeroed = copy.copy(handle)
    object.__setattr__(zeroed, "model", _zero_head(handle.model, handle, 1, 2))  # no hooks at all
    want = predict(zeroed, "the cat sat on the mat")
    whole = predict(handle, "the cat sat on the mat")
    if kind == "classifier":
        np.testing.assert_allclose(got.probs, want.probs, atol=1e-6)
        assert not np.allclose(got.probs, whole.probs, atol=1e-6)
    else:
        np.testing.assert_allclose(got.embedding, want.embedding, atol=1e-6)
        assert not np.allclose(got.embedding, whole.embedding, atol=1e-6)
    with pytest.raises(UnsupportedModelError):
        ablate(handle, "the cat sat on the mat", Ablation(heads=((0, 1, 2),)))
