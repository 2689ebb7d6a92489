"""Encoder-decoder models (T5 with sentinels and a relative position bias, BART with <mask>) on tiny config-built
models: three attention stacks equal ``output_attentions``, the query·key view equals the model in every stack,
predictions equal a plain forward, span filling reads greedy decoding, IG equals plain captum, masking and
compare round-trip."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from captum.attr import IntegratedGradients
from helpers import TINY_SEQ2SEQ, assert_no_hooks

from plm_core.attention import attention_rollout, cross_attention_rollout, extract_attention, query_key, token_flow
from plm_core.attribution import Target, attribute
from plm_core.compare import compare_models, compare_texts
from plm_core.errors import InvalidInputError, UnsupportedModelError
from plm_core.inference import embed, predict
from plm_core.kinds.seq2seq import MAX_SPAN_TOKENS, decoder_start, fill_spans, sentinels
from plm_core.lessons import compute
from plm_core.masking import MaskSpec, mask_and_predict, occlusion_sweep
from plm_core.tokens import encode
from plm_core.viz.bertviz_html import bertviz_html

SOURCE = {"t5": "The <extra_id_0> sat on the <extra_id_1> .", "bart": "The cat <mask> on the mat."}
PREFIX = "the cat"


def _plain(h, source: str, prefix: str = PREFIX, **kw):
    """A plain transformers forward: the source through the tokenizer, decoder input = start + prefix."""
    batch = h.tokenizer(source, return_tensors="pt")
    target = h.tokenizer(prefix, add_special_tokens=True)["input_ids"]
    if target and target[-1] == h.tokenizer.eos_token_id:
        target = target[:-1]
    dec = torch.tensor([[h.config.decoder_start_token_id, *target]])
    with torch.no_grad():
        return h.model(**batch, decoder_input_ids=dec, **kw), batch, dec


@pytest.mark.parametrize("name", TINY_SEQ2SEQ)
def test_loads_as_seq2seq_with_three_stacks(tiny_handles, name):
    h = tiny_handles[name]
    assert h.kind == "seq2seq" and h.arch.encoder_decoder
    assert h.arch.stack_names == ("encoder", "decoder", "cross")


@pytest.mark.parametrize("name", TINY_SEQ2SEQ)
def test_attention_equals_output_attentions(tiny_handles, name):
    h = tiny_handles[name]
    res = extract_attention(h, SOURCE[name], PREFIX)
    out, batch, dec = _plain(h, SOURCE[name], output_attentions=True)
    n_src, n_tgt = batch["input_ids"].shape[1], dec.shape[1]
    assert res.stack_names == ("encoder", "decoder", "cross")
    for stack, field in (("encoder", "encoder_attentions"), ("decoder", "decoder_attentions"),
                         ("cross", "cross_attentions")):
        plain = torch.stack(getattr(out, field)).squeeze(1).numpy()
        np.testing.assert_allclose(res.get(stack).weights, plain, atol=1e-6)
    cross = res.get("cross")
    assert cross.weights.shape[-2:] == (n_tgt, n_src)  # target × source
    assert cross.encoding.input_ids == tuple(dec[0].tolist())
    assert cross.keys.input_ids == tuple(batch["input_ids"][0].tolist())
    np.testing.assert_allclose(cross.weights.sum(-1), 1.0, atol=1e-5)


@pytest.mark.parametrize("name", TINY_SEQ2SEQ)
def test_query_key_equals_the_model_in_every_stack(tiny_handles, name):
    """T5: QKᵀ (unscaled) + the relative position bias; BART: scaled QKᵀ; causal decoder; cross = target × source."""
    h = tiny_handles[name]
    for stack in ("encoder", "decoder", "cross"):
        for layer in range(2):
            for head in range(4):
                qk = query_key(h, SOURCE[name], layer, head, PREFIX, stack=stack)
                assert qk.max_abs_diff < 1e-5, (stack, layer, head, qk.max_abs_diff)
                assert qk.causal == (stack == "decoder")
        if name == "t5":
            assert (qk.bias is not None) and qk.scale == 1.0
    cross = query_key(h, SOURCE[name], 1, 0, PREFIX, stack="cross")
    assert cross.probs.shape == (len(cross.encoding), len(cross.key_encoding))
    assert_no_hooks(h.model)


def test_t5_relative_bias_is_what_makes_it_equal(tiny_handles):
    qk = query_key(tiny_handles["t5"], SOURCE["t5"], 0, 1, PREFIX, stack="encoder")
    without = torch.softmax(torch.from_numpy(qk.scores - qk.bias), -1).numpy()
    assert np.abs(without - qk.model_probs).max() > 1e-3


@pytest.mark.parametrize("name", TINY_SEQ2SEQ)
def test_lesson_steps_reproduce_the_encoder(tiny_handles, name):
    s = compute.attention_steps(tiny_handles[name], SOURCE[name], 1, head=2)
    assert s.probs_diff < 1e-5 and s.context_diff < 1e-5 and s.projection_diff < 1e-5


@pytest.mark.parametrize("name", TINY_SEQ2SEQ)
def test_next_target_token_equals_a_plain_forward(tiny_handles, name):
    h = tiny_handles[name]
    pred = predict(h, SOURCE[name], PREFIX, top_k=5)
    out, _, dec = _plain(h, SOURCE[name])
    probs, ids = torch.softmax(out.logits[0, -1], -1).topk(5)
    (dist,) = pred.distributions
    assert dist.token_ids == tuple(ids.tolist())
    np.testing.assert_allclose(dist.probs, probs.numpy(), atol=1e-6)
    enc = pred.encoding
    assert enc.segment(1).input_ids == tuple(dec[0].tolist()) and dist.position == len(enc) - 1
    assert enc.segment(1).special[0]  # the decoder start token cannot be masked


def test_t5_span_filling_reads_greedy_decoding(tiny_handles):
    """The target so far fixes the first span; the rest is the model's own greedy continuation."""
    h = tiny_handles["t5"]
    enc, batch = encode(h, SOURCE["t5"], "<extra_id_0> cat <extra_id_1>")
    spans = fill_spans(h, enc)
    assert [s for s, _ in spans] == ["<extra_id_0>", "<extra_id_1>"]
    assert spans[0][1] == "cat"
    with torch.no_grad():
        out = h.model.generate(input_ids=batch["input_ids"], decoder_input_ids=batch["decoder_input_ids"],
                               max_new_tokens=MAX_SPAN_TOKENS, do_sample=False, num_beams=1)[0].tolist()
    ids = dict((i, t) for t, i in sentinels(h))
    after = out[out.index(ids_of(h, "<extra_id_1>")) + 1:]
    after = after[: next((k for k, t in enumerate(after) if t in ids or t == h.tokenizer.eos_token_id), len(after))]
    assert spans[1][1] == h.tokenizer.decode(after, skip_special_tokens=True).strip()
    assert predict(h, SOURCE["t5"]).spans  # predictions of a sentinel input carry the spans
    assert not predict(h, "the cat sat on the mat .").spans


def ids_of(h, token: str) -> int:
    return h.tokenizer.convert_tokens_to_ids(token)


@pytest.mark.parametrize("name", TINY_SEQ2SEQ)
def test_ig_equals_plain_captum(tiny_handles, name):
    """The target token explained by the source and the target prefix = captum IG on both embeddings."""
    h = tiny_handles[name]
    ours = attribute(h, SOURCE[name], target=Target("next_token", output="logit"), text_pair=PREFIX, n_steps=16)
    out, batch, dec = _plain(h, SOURCE[name])
    emb = h.model.get_input_embeddings()
    src, tgt = emb(batch["input_ids"]), emb(dec)
    enc = ours.encoding
    special = torch.tensor(enc.special)
    pad = emb(torch.tensor([h.tokenizer.pad_token_id]))[0]
    n = src.shape[1]
    base_src = torch.where(special[:n, None], src[0], pad)[None]
    base_tgt = torch.where(special[n:, None], tgt[0], pad)[None]
    tid = ours.target_id

    def forward(s, t):
        return h.model(inputs_embeds=s, attention_mask=batch["attention_mask"].expand(s.shape[0], -1),
                       decoder_inputs_embeds=t).logits[:, -1, tid]

    a_src, a_tgt = IntegratedGradients(forward).attribute((src.detach(), tgt.detach()),
                                                          baselines=(base_src.detach(), base_tgt.detach()),
                                                          n_steps=16, method="gausslegendre")
    ref = torch.cat([a_src.sum(-1)[0], a_tgt.sum(-1)[0]]).detach().numpy()
    np.testing.assert_allclose(ours.scores, ref, rtol=1e-4, atol=1e-6)
    assert len(ours.scores) == len(enc) and enc.pair_start == n
    assert ours.delta_abs == pytest.approx(abs(ours.scores.sum() - (ours.f_x - ours.f_baseline)), abs=1e-5)


@pytest.mark.parametrize("name", TINY_SEQ2SEQ)
def test_masking_source_tokens_changes_the_target_distribution(tiny_handles, name):
    h = tiny_handles[name]
    same = mask_and_predict(h, SOURCE[name], MaskSpec(()), text_pair=PREFIX)
    np.testing.assert_allclose(same.comparisons[0].prob_delta, 0.0, atol=1e-6)
    edited = mask_and_predict(h, SOURCE[name], MaskSpec((3,)), text_pair=PREFIX)
    new = edited.edit.edited.input_ids[3]
    expected = ids_of(h, "<extra_id_2>") if name == "t5" else h.tokenizer.mask_token_id  # next free sentinel
    assert new == expected
    with torch.no_grad():  # the edited ids through a plain forward
        e = edited.edit.edited
        src = torch.tensor([e.segment(0).input_ids])
        dec = torch.tensor([e.segment(1).input_ids])
        probs = torch.softmax(h.model(input_ids=src, decoder_input_ids=dec).logits[0, -1], -1)
    dist = edited.after.distributions[0]
    np.testing.assert_allclose(dist.probs, probs[list(dist.token_ids)].numpy(), atol=1e-6)
    sweep = occlusion_sweep(h, SOURCE[name], text_pair=PREFIX)
    assert np.isfinite(sweep.effects[[i for i, s in enumerate(sweep.encoding.special) if not s]]).any()


@pytest.mark.parametrize("name", TINY_SEQ2SEQ)
def test_two_sources_side_by_side(tiny_handles, name):
    h = tiny_handles[name]
    a, b = "the cat sat on the mat .", "the dog sat on the mat ."
    cmp = compare_texts(h, a, b)
    for side, text in ((cmp.a, a), (cmp.b, b)):
        np.testing.assert_allclose(side.distributions[0].probs, predict(h, text, top_k=5).distributions[0].probs,
                                   atol=1e-5)
    assert cmp.attention_a.stack == "encoder" and cmp.attention.weights.shape[-1] == len(cmp.attention.pairs)
    two = compare_models(h, h, a)
    assert two.attention is not None and not np.abs(two.attention.weights).max() > 0


def test_cross_attention_rollout_and_token_flow(tiny_handles):
    res = extract_attention(tiny_handles["t5"], SOURCE["t5"], PREFIX)
    cross, encoder = res.get("cross"), res.get("encoder")
    flow = cross_attention_rollout(cross.weights, encoder.weights)
    manual = cross.weights.astype(np.float64).mean(1) @ attention_rollout(encoder.weights)[-1].astype(np.float64)
    np.testing.assert_allclose(flow, manual, atol=1e-6)
    np.testing.assert_allclose(flow.sum(-1), 1.0, atol=1e-5)
    with pytest.raises(InvalidInputError, match="token flow"):
        token_flow(cross, [0], 0)
    assert token_flow(res.get("decoder"), [0], 0).given.shape == (len(res.get("decoder").encoding),)


def test_bertviz_views_take_all_three_stacks(tiny_handles):
    import base64
    import json
    import re

    res = extract_attention(tiny_handles["bart"], SOURCE["bart"], PREFIX)
    html = bertviz_html(res, "head")
    params = json.loads(re.search(r"<script>window\.PLM_PARAMS = (.*?);</script>", html, re.S).group(1))
    names = [f["name"] for f in params["attention"]]
    assert names == ["Encoder", "Decoder", "Cross"]  # bertviz's own encoder-decoder filter names
    cross = params["attention"][2]
    assert cross["left_text"] == list(res.get("cross").encoding.tokens)
    assert cross["right_text"] == list(res.get("encoder").encoding.tokens)
    rows, cols = cross["shape"]
    raw = np.frombuffer(base64.b64decode(params["extra_blobs"][1]), np.uint8).reshape(2, 4, rows, cols) / 255
    assert np.abs(raw - res.get("cross").weights).max() <= 0.5 / 255 + 1e-7


@pytest.mark.parametrize("name", TINY_SEQ2SEQ)
def test_lessons_and_embeddings_use_the_encoder(tiny_handles, name):
    h = tiny_handles[name]
    lesson = compute.mask_lesson(h, "the cat sat on the mat .")
    assert not lesson.causal and lesson.predictions  # the encoder is bidirectional; the decoder predicts
    e = embed(h, ["the cat", "the dog"])
    np.testing.assert_allclose(np.linalg.norm(e, axis=1), 1.0, atol=1e-5)
    assert decoder_start(h) == h.config.decoder_start_token_id


def test_attention_scores_are_refused_with_a_reason(tiny_handles):
    with pytest.raises(UnsupportedModelError, match="gradient method"):
        attribute(tiny_handles["t5"], SOURCE["t5"], "attention_last_layer")


@pytest.mark.parametrize("name", TINY_SEQ2SEQ)
def test_encoder_decoder_lesson_is_read_from_the_weights(tiny_handles, name):
    h = tiny_handles[name]
    lesson = compute.encoder_decoder_lesson(h, "The cat sat on the [MASK] .", PREFIX)
    res = extract_attention(h, lesson.source.text, PREFIX)
    np.testing.assert_allclose(lesson.cross, res.get("cross").weights[-1].mean(0), atol=1e-6)
    assert lesson.encoder_bidirectional and lesson.decoder_causal
    assert lesson.cross.shape == (len(lesson.target), len(lesson.source))
    masked = "<extra_id_0>" if name == "t5" else "<mask>"  # [MASK] became the model's own mask
    assert masked in lesson.source.text and "[MASK]" not in lesson.source.text


def test_encoder_decoder_lesson_needs_an_encoder_decoder(tiny_handles):
    with pytest.raises(UnsupportedModelError, match="not an encoder-decoder"):
        compute.encoder_decoder_lesson(tiny_handles["llama"], "the cat")


def test_t5_masking_past_its_sentinels_says_they_ran_out(tiny_handles):
    """A fresh tester masked token after token on a T5 and, once its sentinels ran out, read "has no mask token
    (a seq2seq like GPT-2)": wrong for a model that masks with sentinels. Each masked token takes its own sentinel;
    past the free ones the refusal says so, with the numbers."""
    from plm_core.errors import UnsupportedModelError
    from plm_core.kinds.seq2seq import sentinels
    from plm_core.masking import MaskSpec, mask_and_predict
    from plm_core.tokens import encode

    handle = tiny_handles["t5"]
    text = "the cat sat on the mat and the dog sat on the rug all day long"
    enc = encode(handle, text)[0]
    words = [i for i, s in enumerate(enc.special) if not s]
    n = len(sentinels(handle))
    assert len(words) > n
    got = mask_and_predict(handle, text, MaskSpec(tuple(words[:n]), "mask_token"))  # exactly the sentinels there are
    assert got is not None
    with pytest.raises(UnsupportedModelError, match=rf"it has {n} and {n} are not in the text yet.*\({n + 1} asked\)"):
        mask_and_predict(handle, text, MaskSpec(tuple(words[: n + 1]), "mask_token"))
