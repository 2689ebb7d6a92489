"""The newer architectures and the other models of the overviews (plm_core.testing.TINY_CASES, group "arch"), through the
real loader: the query·key view, the neuron view, the lessons' step-by-step attention and the logit lens, each
checked against an independent computation (a plain eager forward pass, the model's modules called by name)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from helpers import TINY_ARCHS, tiny_names
from plm_core.attention import extract_attention, query_key
from plm_core.errors import UnsupportedModelError
from plm_core.lessons import compute
from plm_core.loading import ModelSpec, load_model
from plm_core.logit_lens import logit_lens
from plm_core.neuron_view import neuron_view
from plm_core.tokens import encode

TEXT = "the cat sat on the mat because it was tired"
CAPTURED = tuple(k for k in TINY_ARCHS if not k.startswith("xlnet"))  # XLNet attends in its own code: refused, below
LMS = tiny_names("arch", kinds=("causal_lm", "masked_lm"))


def _plain_eager(handle, text=TEXT) -> torch.Tensor:
    """[layer, head, query, key] from a forward pass of the model as it is (eager), no capture."""
    _, batch = encode(handle, text)
    with torch.inference_mode():
        out = handle.model(**batch, output_attentions=True)
    return torch.stack([a[0] for a in out.attentions]).float()


@pytest.mark.parametrize("kind", CAPTURED)
def test_query_key_equals_the_models_own_weights(tiny_handles, kind):
    handle = tiny_handles[kind]
    own = _plain_eager(handle)
    for layer in range(own.shape[0]):
        for head in range(own.shape[1]):
            qk = query_key(handle, TEXT, layer, head)
            np.testing.assert_allclose(qk.probs, own[layer, head].numpy(), atol=1e-5)
            assert qk.max_abs_diff <= 1e-5
            nv = neuron_view(qk, len(qk.encoding) - 1)  # the neuron view's sums are the scores, where visible
            vis = np.array(nv.visible)
            np.testing.assert_allclose(nv.scores[vis], qk.scores[-1][vis], atol=1e-5)
            np.testing.assert_allclose(nv.probs, own[layer, head, -1].numpy(), atol=1e-5)
            np.testing.assert_array_equal(vis, own[layer, head, -1].numpy() > 0)  # hidden keys: weight 0


@pytest.mark.parametrize("kind", CAPTURED)
def test_lesson_steps_rebuild_the_layer(tiny_handles, kind):
    s = compute.attention_steps(tiny_handles[kind], TEXT, 1, 1)
    assert s.context_diff <= 1e-4 and s.projection_diff <= 1e-4
    np.testing.assert_allclose(s.probs, _plain_eager(tiny_handles[kind])[1].numpy(), atol=1e-5)


def test_gemma3_sliding_window_layers_shorter_than_the_input(tiny_handles):
    """Gemma 3: sliding-window layers (window 3) hide keys a full layer shows; QK-norm and query_pre_attn_scalar
    (scale 12^-0.5, not head_dim^-0.5) are the model's own, so the recomputation equals its weights."""
    handle = tiny_handles["gemma3"]
    sliding, full = query_key(handle, TEXT, 0, 0), query_key(handle, TEXT, 1, 0)
    n = len(sliding.encoding)
    assert n > 3 + 2 and sliding.window == 3 and full.window is None
    assert sliding.scale == pytest.approx(12 ** -0.5) and sliding.causal and full.causal
    last = n - 1
    assert np.isinf(sliding.scores[last, : last - 2]).all() and np.isfinite(sliding.scores[last, last - 2 :]).all()
    assert np.isfinite(full.scores[last]).all()
    assert sliding.max_abs_diff <= 1e-5 and full.max_abs_diff <= 1e-5


def test_gemma2_soft_capping_is_applied_and_matters(tiny_handles):
    qk = query_key(tiny_handles["gemma2"], TEXT, 0, 0)
    assert qk.softcap == 5.0 and np.nanmax(np.abs(qk.scores[np.isfinite(qk.scores)])) < 5.0
    raw = (qk.queries @ qk.keys.T) * qk.scale  # without the cap, the softmax is another one
    raw = np.where(np.isfinite(qk.scores), raw, -np.inf)
    uncapped = np.exp(raw - raw.max(-1, keepdims=True))
    uncapped /= uncapped.sum(-1, keepdims=True)
    assert np.abs(uncapped - qk.model_probs).max() > 1e-3 and qk.max_abs_diff <= 1e-5


def _by_name(handle):
    """(norm, head) of each LM, called by their names in transformers (independent of plm_core's search)."""
    m = handle.model
    cap = getattr(m.config, "final_logit_softcapping", None)
    llama_like = lambda: (m.model.norm, m.lm_head)  # noqa: E731
    named = {
        "qwen3": llama_like, "gemma2": llama_like, "gemma3": llama_like, "olmo2": llama_like,
        "gpt_neox": lambda: (m.gpt_neox.final_layer_norm, m.lm_head),
        "albert_mlm": lambda: (None, m.predictions), "mobilebert_mlm": lambda: (None, m.cls),
    }
    norm, head = named[handle.spec.model_id.rsplit("/", 1)[-1]]()
    return (norm or (lambda h: h)), (lambda h: torch.tanh(head(h) / cap) * cap) if cap else head


@pytest.mark.parametrize("kind", LMS)
def test_logit_lens_reads_every_layer_through_the_models_norm_and_head(tiny_handles, kind):
    handle = tiny_handles[kind]
    text = TEXT + (" [MASK]" if handle.kind == "masked_lm" else "")
    lens = logit_lens(handle, text, top_k=3)
    norm, head = _by_name(handle)
    _, batch = encode(handle, text)
    with torch.inference_mode():
        out = handle.model(**batch, output_hidden_states=True)
        for layer, h in enumerate(out.hidden_states[:-1]):
            probs = torch.softmax(head(norm(h[0, lens.position])).float(), -1)
            assert lens.token_ids[layer][0] == int(probs.argmax()), layer
            assert lens.probs[layer][0] == pytest.approx(float(probs.max()), abs=1e-5)
        own = torch.softmax(out.logits[0, lens.position].float(), -1)
    assert lens.final_id == int(own.argmax()) and lens.max_abs_diff <= 1e-5


def test_qwen3_classifier_is_causal_and_read_at_its_last_token(tiny_handles):
    """A Qwen3 sequence classifier is causal (its attention modules say so): the attention methods read the last
    token's row, as its head does — not token 0's, whose causal row gives 100 % to token 0."""
    from plm_core.attribution import attribute

    handle = tiny_handles["qwen3_classifier"]
    assert handle.kind == "classifier" and handle.arch.causal
    result = attribute(handle, TEXT, "attention_last_layer")
    n = len(result.encoding)
    assert result.params["query_rows"] == str(n - 1)
    own = _plain_eager(handle)[-1].mean(0)[n - 1]
    np.testing.assert_allclose(result.scores, own.numpy(), atol=1e-6)
    assert result.scores[0] < 0.99


def test_xlnet_lm_head_is_refused_as_a_causal_lm_and_says_why(tiny_dirs):
    with pytest.raises(UnsupportedModelError, match="not causal"):
        load_model(ModelSpec(str(tiny_dirs["xlnet_lm"]), device="cpu"))


def test_xlnet_shows_its_content_stream_and_refuses_query_key_with_the_two_streams(tiny_handles):
    handle = tiny_handles["xlnet_lm"]
    att = extract_attention(handle, TEXT)
    np.testing.assert_allclose(att.weights, _plain_eager(handle).numpy(), atol=1e-6)
    assert att.encoding.tokens[-1] == "<cls>"  # XLNet's template: the text, then <sep> <cls>
    with pytest.raises(UnsupportedModelError, match="query stream"):
        query_key(handle, TEXT, 0, 0)


def test_albert_shares_one_attention_module_across_depths(tiny_handles):
    from plm_core.attention import attention_modules

    handle = tiny_handles["albert_mlm"]
    modules = attention_modules(handle)
    assert len(modules) == handle.n_layers == 2 and modules[0] is modules[1]
    a, b = query_key(handle, TEXT, 0, 0), query_key(handle, TEXT, 1, 0)
    assert not np.allclose(a.probs, b.probs)  # same weights, different inputs: each depth its own call


def test_permuted_lm_masks_follow_the_sampled_order():
    """XLNet's two streams for one factorisation order (Yang et al., 2019): the t-th token of the order sees the
    t tokens before it (query stream), and itself too (content stream), wherever they are in the text."""
    order, content, query = compute.permuted_lm_masks(7, seed=3)
    assert sorted(order) == list(range(7)) and order != tuple(range(7))
    for t, position in enumerate(order):
        assert set(np.flatnonzero(query[position])) == set(order[:t])
        assert set(np.flatnonzero(content[position])) == set(order[: t + 1])
    assert compute.permuted_lm_masks(7, seed=3)[0] == order  # one order per seed
    assert (np.triu(query, 1) > 0).any() and (np.tril(query, -1) > 0).any()  # both sides of the text


@pytest.mark.parametrize("kind", ("masked_lm", "causal_lm"))
def test_mask_lesson_adds_the_permuted_lm_masks(tiny_handles, kind):
    lesson = compute.mask_lesson(tiny_handles[kind], TEXT)
    n = len(lesson.encoding)
    order, content, query = compute.permuted_lm_masks(n)
    assert lesson.order == order
    np.testing.assert_array_equal(lesson.permuted_content, content)
    np.testing.assert_array_equal(lesson.permuted_query, query)


def test_embeddings_lesson_on_albert_and_mobilebert(tiny_handles):
    """ALBERT's factorised embeddings (16 values, projected to 32 after): word + position + segment rows, then
    its LayerNorm, equal its embeddings module. MobileBERT transforms three neighbouring word rows before adding
    positions: refused with that reason (it crashed on the sum before)."""
    res = compute.token_embeddings(tiny_handles["albert_mlm"], "the bank of the river")
    assert res.word.shape[1] == 16 and res.max_abs_diff <= 1e-5
    with pytest.raises(UnsupportedModelError, match="three neighbouring words"):
        compute.token_embeddings(tiny_handles["mobilebert_mlm"], "the bank of the river")


def test_xlnet_classifier_is_read_at_its_last_token(tiny_handles):
    """XLNet's sequence summary is its last token (<cls>, summary_type "last"): the attention methods read that
    row, as its head does, though XLNet is not causal."""
    from plm_core.attribution import attribute

    handle = tiny_handles["xlnet_classifier"]
    assert handle.kind == "classifier" and not handle.arch.causal
    result = attribute(handle, TEXT, "attention_last_layer")
    n = len(result.encoding)
    assert result.encoding.tokens[-1] == "<cls>" and result.params["query_rows"] == str(n - 1)
    np.testing.assert_allclose(result.scores, _plain_eager(handle)[-1].mean(0)[n - 1].numpy(), atol=1e-6)
