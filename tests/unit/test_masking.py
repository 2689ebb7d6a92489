"""Masking core on tiny config-built models: edits on ids, fill-ins, before/after, occlusion sweep."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from plm_core.errors import InvalidInputError, UnsupportedModelError
from plm_core.inference import embed, predict
from plm_core.masking import MaskSpec, apply_mask, check_mask, mask_and_predict, occlusion_sweep
from plm_core.tokens import encode

TEXT = "the cat sat on the mat"


def _forward_ids(handle, ids, segments=None):
    """Plain reference: one unbatched forward of a list of ids."""
    batch = {"input_ids": torch.tensor([ids]), "attention_mask": torch.ones(1, len(ids), dtype=torch.long)}
    if "token_type_ids" in handle.tokenizer.model_input_names and getattr(handle.config, "type_vocab_size", 2) >= 2:
        batch["token_type_ids"] = torch.tensor([segments or [0] * len(ids)])
    with torch.no_grad():
        return handle.model(**batch, output_hidden_states=True)


def _ids(handle, text=TEXT):
    return list(handle.tokenizer(text)["input_ids"])


@pytest.mark.parametrize("kind", ["masked_lm", "distilbert_mlm", "roberta_mlm"])
def test_fill_ins_equal_direct_forward_softmax(tiny_handles, kind):
    handle = tiny_handles[kind]
    res = mask_and_predict(handle, TEXT, MaskSpec((2,)), top_k=5)
    ids = _ids(handle)
    cat = ids[2]
    ids[2] = handle.tokenizer.mask_token_id
    probs = torch.softmax(_forward_ids(handle, ids).logits[0, 2], -1)
    top = probs.topk(5)
    (fill,) = res.fill_ins
    assert fill.position == 2 and fill.original_position == 2 and fill.original_token == "cat"
    assert fill.distribution.token_ids == tuple(top.indices.tolist())
    np.testing.assert_allclose(fill.distribution.probs, top.values.numpy(), atol=1e-6)
    assert fill.original_prob == pytest.approx(float(probs[cat]), abs=1e-6)
    assert fill.original_rank == int((probs > probs[cat]).sum()) + 1
    assert res.edit.edited.tokens[2] == "[MASK]" and "[MASK]" in res.edit.text


def test_several_masks_are_predicted_independently_and_said_so(tiny_mlm):
    res = mask_and_predict(tiny_mlm, TEXT, MaskSpec((2, 6)))
    assert [f.position for f in res.fill_ins] == [2, 6]
    assert any("independently" in n for n in res.notes)
    ids = _ids(tiny_mlm)
    ids[2] = ids[6] = tiny_mlm.tokenizer.mask_token_id
    probs = torch.softmax(_forward_ids(tiny_mlm, ids).logits[0, 6], -1)
    np.testing.assert_allclose(res.fill_ins[1].distribution.probs, probs.topk(5).values.numpy(), atol=1e-6)


def test_classifier_before_after_equal_plain_predictions(tiny_classifier):
    res = mask_and_predict(tiny_classifier, TEXT, MaskSpec((2,)))
    before = predict(tiny_classifier, TEXT).probs
    after = predict(tiny_classifier, "the [MASK] sat on the mat").probs  # the tokenizer reads [MASK] as the mask id
    (cmp,) = res.comparisons
    assert cmp.labels == ("negative", "positive")
    np.testing.assert_allclose(cmp.original, before, atol=1e-6)
    np.testing.assert_allclose(cmp.perturbed, after, atol=1e-6)
    np.testing.assert_allclose(cmp.prob_delta, after - before, atol=1e-6)
    assert cmp.label_changed == (int(np.argmax(before)) != int(np.argmax(after)))


def test_causal_next_token_before_after(tiny_gpt2):
    enc, _ = encode(tiny_gpt2, TEXT)
    res = mask_and_predict(tiny_gpt2, TEXT, MaskSpec((1,), "delete"), top_k=3)
    ids = list(enc.input_ids)
    before = torch.softmax(_forward_ids(tiny_gpt2, ids).logits[0, -1], -1)
    del ids[1]
    after = torch.softmax(_forward_ids(tiny_gpt2, ids).logits[0, -1], -1)
    assert res.edit.edited.input_ids == tuple(ids)
    (cmp,) = res.comparisons
    for label_id, o, p in zip(list(dict.fromkeys(before.topk(3).indices.tolist() + after.topk(3).indices.tolist())),
                              cmp.original, cmp.perturbed):
        assert o == pytest.approx(float(before[label_id]), abs=1e-6)
        assert p == pytest.approx(float(after[label_id]), abs=1e-6)
    assert res.after.distributions[0].token_ids == tuple(after.topk(3).indices.tolist())


def test_encoder_similarity_to_original_and_reference(tiny_handles):
    handle = tiny_handles["encoder"]
    res = mask_and_predict(handle, TEXT, MaskSpec((2,)), reference="a dog ran")
    e = embed(handle, [TEXT, "the [MASK] sat on the mat", "a dog ran"])
    (cmp,) = res.comparisons
    assert cmp.labels == ("to the original sentence", "to the reference sentence")
    np.testing.assert_allclose(cmp.original, [1.0, e[0] @ e[2]], atol=1e-5)
    np.testing.assert_allclose(cmp.perturbed, [e[1] @ e[0], e[1] @ e[2]], atol=1e-5)


@pytest.mark.parametrize("kind", ["masked_lm", "classifier", "encoder", "causal_lm"])
def test_empty_mask_spec_changes_nothing(tiny_handles, kind):
    handle = tiny_handles[kind]
    text = "the [MASK] sat on the mat" if kind == "masked_lm" else TEXT
    res = mask_and_predict(handle, text, MaskSpec())
    assert res.edit.edited == res.edit.original
    for cmp in res.comparisons:
        np.testing.assert_allclose(cmp.prob_delta, 0.0, atol=1e-6)
        assert not cmp.label_changed
    assert res.comparisons


@pytest.mark.parametrize("position", [0, 7])
def test_masking_a_special_token_is_refused_with_reason(tiny_mlm, position):
    enc, _ = encode(tiny_mlm, TEXT)
    with pytest.raises(InvalidInputError, match="special token") as info:
        apply_mask(tiny_mlm, enc, MaskSpec((2, position)))
    assert isinstance(info.value, ValueError) and "always sees" in str(info.value)


def test_bad_specs(tiny_mlm, tiny_gpt2):
    enc, _ = encode(tiny_mlm, TEXT)
    with pytest.raises(InvalidInputError, match="do not exist"):
        apply_mask(tiny_mlm, enc, MaskSpec((99,)))
    with pytest.raises(InvalidInputError):
        MaskSpec((-1,))
    with pytest.raises(InvalidInputError, match="substitute needs"):
        MaskSpec((1,), "substitute", "  ")
    with pytest.raises(InvalidInputError):
        MaskSpec((1,), "blank")  # type: ignore[arg-type]
    with pytest.raises(UnsupportedModelError, match="no mask token"):
        mask_and_predict(tiny_gpt2, TEXT, MaskSpec((1,)))
    assert MaskSpec((3, 1, 3)).positions == (1, 3)


def test_masking_every_word_is_allowed_but_noted(tiny_mlm, tiny_gpt2):
    res = mask_and_predict(tiny_mlm, TEXT, MaskSpec(tuple(range(1, 7))))
    assert any("every word token" in n for n in res.notes)
    assert len(res.fill_ins) == 6
    with pytest.raises(InvalidInputError, match="leaves nothing"):  # GPT-2 has no special tokens to keep
        enc, _ = encode(tiny_gpt2, "the cat")
        mask_and_predict(tiny_gpt2, "the cat", MaskSpec(tuple(range(len(enc))), "delete"))


def test_substitute_with_many_tokens_replaces_the_span_and_says_so(tiny_mlm, tiny_gpt2):
    res = mask_and_predict(tiny_mlm, "the [MASK] sat on the mat", MaskSpec((5,), "substitute", "lazy brown dogs"))
    assert res.edit.edited.tokens == ("[CLS]", "the", "[MASK]", "sat", "on", "lazy", "brown", "dogs", "mat", "[SEP]")
    assert res.edit.origin == (0, 1, 2, 3, 4, 5, -1, -1, 6, 7)
    assert any("3 tokens" in n and "shift" in n for n in res.notes)
    assert res.edit.text == "the [MASK] sat on lazy brown dogs mat"
    ids = [tiny_mlm.tokenizer.convert_tokens_to_ids(t) for t in res.edit.edited.tokens]
    probs = torch.softmax(_forward_ids(tiny_mlm, ids).logits[0, 2], -1)
    np.testing.assert_allclose(res.fill_ins[0].distribution.probs, probs.topk(5).values.numpy(), atol=1e-6)
    # byte-level BPE: a word after a space keeps its leading space in the first piece
    gres = mask_and_predict(tiny_gpt2, TEXT, MaskSpec((2,), "substitute", "dog"))
    assert gres.edit.edited.tokens[2].startswith(" ") and "dog" in gres.edit.text


@pytest.mark.parametrize("kind,strategy", [("classifier", "mask_token"), ("encoder", "mask_token"),
                                           ("causal_lm", "delete"), ("masked_lm", "mask_token"),
                                           ("masked_lm", "delete"), ("classifier", "delete")])
def test_occlusion_sweep_equals_one_forward_per_masked_copy(tiny_handles, kind, strategy):
    handle = tiny_handles[kind]
    text = "the cat sat on the [MASK] today" if kind == "masked_lm" else TEXT
    res = occlusion_sweep(handle, text, strategy=strategy)
    enc, _ = encode(handle, text)
    ids = list(enc.input_ids)
    mask_id = handle.tokenizer.mask_token_id
    first_mask = ids.index(mask_id) if kind == "masked_lm" else None

    def measure(row, mask_at=None):
        out = _forward_ids(handle, row)
        if kind == "encoder":
            h = out.hidden_states[-1][0].mean(0)
            return torch.nn.functional.normalize(h, dim=-1)
        if kind == "classifier":
            return torch.softmax(out.logits[0], -1)
        if kind == "causal_lm":
            return torch.softmax(out.logits[0, -1], -1)
        return torch.softmax(out.logits[0, mask_at], -1)

    base = measure(ids, first_mask)
    top = None if kind == "encoder" else int(base.argmax())
    base_value = float(base @ base) if kind == "encoder" else float(base[top])
    assert res.base_value == pytest.approx(base_value, abs=1e-5)
    checked = 0
    for i, special in enumerate(enc.special):
        if special or ids[i] == mask_id:
            assert np.isnan(res.values[i]) and np.isnan(res.effects[i])
            continue
        row = ids[:i] + ([mask_id] if strategy == "mask_token" else []) + ids[i + 1:]
        at = None if first_mask is None else (first_mask - 1 if strategy == "delete" and i < first_mask else first_mask)
        got = measure(row, at)
        expected = float(got @ base) if kind == "encoder" else float(got[top])
        assert res.values[i] == pytest.approx(expected, abs=1e-5), i
        assert res.effects[i] == pytest.approx(base_value - expected, abs=1e-5)
        checked += 1
    assert checked == sum(1 for i, s in enumerate(enc.special) if not s and ids[i] != mask_id) > 3
    # one forward per copy (batch_size=1) gives the same numbers as the batched pass
    single = occlusion_sweep(handle, text, strategy=strategy, batch_size=1)
    np.testing.assert_allclose(single.values, res.values, atol=1e-5)


def test_occlusion_sweep_after_a_mask_spec_and_errors(tiny_mlm, tiny_classifier):
    res = occlusion_sweep(tiny_mlm, TEXT, MaskSpec((2,)))
    assert res.encoding.tokens[2] == "[MASK]" and np.isnan(res.values[2])
    assert "fill-in" in res.target
    with pytest.raises(InvalidInputError, match="mask a token"):
        occlusion_sweep(tiny_mlm, TEXT)
    with pytest.raises(InvalidInputError, match="mask_token or delete"):
        occlusion_sweep(tiny_classifier, TEXT, strategy="substitute")
    small = occlusion_sweep(tiny_classifier, TEXT, batch_size=2)
    np.testing.assert_allclose(small.values, occlusion_sweep(tiny_classifier, TEXT).values, atol=1e-6)
    assert any("batches" in n for n in small.notes)


def test_check_mask_notes_nothing_for_a_partial_mask(tiny_mlm):
    enc, _ = encode(tiny_mlm, TEXT)
    assert check_mask(enc, MaskSpec((1, 2))) == ()
    assert check_mask(enc, MaskSpec()) == ()
