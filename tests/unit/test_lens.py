"""The typed seam (plm_core.lens): one Lens method per operation, the local lens equal to the core functions on tiny
models, every forwarding lens (remote, caching) with the same signatures, a merged batch of predictions equal to
one call each."""

from __future__ import annotations

import inspect
import re

import numpy as np
import pytest

from helpers import TINY_KINDS
from plm_core import attention, compare, inference, masking, tokens
from plm_core.attribution import attribute
from plm_core.errors import PlmCoreError, UnknownMethodError
from plm_core.inference import predict, predict_many
from plm_core.lens import (FORWARD_METHODS, METHODS, TOKENIZER_METHODS, ForwardingLens, Lens, LocalLens,
                           check_method, merge_predict, merger, runs)
from plm_core.masking import MaskSpec

TEXTS = {
    "masked_lm": ["the cat [MASK] on the mat .", "a [MASK] dog", "[MASK] [MASK] and more words here to pad"],
    "causal_lm": ["the cat sat on the", "a dog", "many more words in this one to make it longer"],
    "classifier": ["good movie", "a bad , bad film with long words", "fine"],
    "encoder": ["the cat sat", "a much longer sentence with many words in it", "dog"],
}
# every operation a page asks of a model (the string table plm_core/ops.py had, now methods)
OPERATIONS = {
    "predict", "extract_attention", "query_key", "mask_and_predict", "occlusion_sweep", "compare_texts",
    "compare_models", "token_embeddings", "attention_steps", "mask_lesson", "lesson_occlusion", "lesson_bias_probe",
    "embed", "contextual_embeddings", "logit_lens", "logit_lens_ids", "contributions", "patch", "ablate", "ffn_view",
    "attribute_continuation", "attribute_rows", "generation_start", "generate_steps", "next_distribution",
    "text_distribution", "step_attention", "attribute_step", "attribute", "attribute_every_label",
    "estimate_seconds", "attribution_difference", "train_head", "classify", "probe_templates", "score_pairs",
    "score_rows", "run_seat", "score_bias_chunk", "encode", "token_count", "word_pieces", "chat_prompt",
    "has_chat_template", "info", "encoder_decoder_lesson", "sentence_embeddings", "input_embeddings", "analogy",
    "model_card", "save_classifier", "require_masked_lm", "plan_templates", "check_template", "label_word_ids",
    "class_names", "word_ids", "query_row", "text_of", "token_strings",
}


def test_the_lens_has_one_typed_method_per_operation():
    assert METHODS == OPERATIONS
    for name in METHODS:
        sig = inspect.signature(getattr(Lens, name))
        assert list(sig.parameters)[0] == "self", name
        assert sig.return_annotation not in (inspect.Signature.empty, "Any", "object"), name
        assert "Any" not in str(sig.return_annotation).replace("Sequence[Any]", "").replace("dict[str, Any]", ""), name
        assert not any(p.annotation is inspect.Parameter.empty for p in list(sig.parameters.values())[1:]), name


def test_where_each_method_runs_is_a_mark_on_the_method():
    assert TOKENIZER_METHODS == {"encode", "token_count", "word_pieces", "chat_prompt", "has_chat_template", "info",
                                 "require_masked_lm", "plan_templates", "check_template", "label_word_ids",
                                 "class_names", "word_ids", "query_row", "text_of", "token_strings"}
    assert {"predict", "extract_attention", "mask_and_predict", "classify", "estimate_seconds"} <= FORWARD_METHODS
    assert not {"attribute", "train_head", "score_bias_chunk", "generate_steps"} & FORWARD_METHODS
    assert runs("predict") == "forward" and runs("encode") == "tokenizer" and runs("attribute") == "call"
    assert merger("predict") is merge_predict and merger("extract_attention") is None
    with pytest.raises(UnknownMethodError, match="choose one of"):
        check_method("_get_handle")
    with pytest.raises(UnknownMethodError):
        runs("no_such_op")


def _signatures(cls: type) -> dict[str, inspect.Signature]:
    return {name: inspect.signature(getattr(cls, name)) for name in METHODS}


def test_local_and_remote_lenses_have_exactly_the_lens_signatures():
    want = _signatures(Lens)
    assert _signatures(LocalLens) == want and _signatures(ForwardingLens) == want
    assert not LocalLens.__abstractmethods__ and ForwardingLens.__abstractmethods__ == {"_call"}
    pytest.importorskip("ray")
    from plm_core.serving.client import RemoteLens

    assert _signatures(RemoteLens) == want and not RemoteLens.__abstractmethods__


class Recording(ForwardingLens):
    """Records what each method hands on."""

    def __init__(self) -> None:
        self.spec = None
        self.calls: list[tuple[str, tuple, dict]] = []

    def _call(self, name, args, /, **kwargs):
        self.calls.append((name, args, kwargs))
        return name


def test_each_forwarding_method_hands_on_its_own_name_and_every_argument():
    """Called with a distinct value per parameter, each method passes exactly those values on, under its name."""
    for name in sorted(METHODS):
        sig = inspect.signature(getattr(Lens, name))
        args, kwargs = [], {}
        for i, p in enumerate(list(sig.parameters.values())[1:]):
            value = f"{name}-{p.name}-{i}"
            if p.kind is p.VAR_KEYWORD:
                kwargs["extra"] = value
            elif p.kind is p.KEYWORD_ONLY:
                kwargs[p.name] = value
            else:
                args.append(value)
        lens = Recording()
        assert getattr(lens, name)(*args, **kwargs) == name
        (got_name, got_args, got_kwargs), = lens.calls
        assert got_name == name
        bound = sig.bind(lens, *args, **kwargs).arguments
        sent = sig.bind(lens, *got_args, **got_kwargs).arguments
        assert sent == bound, name


def _local(handle) -> LocalLens:
    return LocalLens(handle.spec, {handle.spec: handle})


@pytest.mark.parametrize("kind", TINY_KINDS)
def test_local_lens_equals_the_core_functions(tiny_handles, kind):
    handle = tiny_handles[kind]
    lens = _local(handle)
    text = TEXTS[handle.kind][0].replace("[MASK]", handle.tokenizer.mask_token or "[MASK]")
    got, want = lens.predict(text, top_k=3), predict(handle, text, top_k=3)
    assert got.encoding == want.encoding and got.labels == want.labels
    np.testing.assert_array_equal(got.probs, want.probs)
    assert lens.encode(text) == tokens.encode(handle, text)[0]
    assert lens.token_count(text) == len(tokens.encode(handle, text)[0]) and lens.token_count("") == 0
    np.testing.assert_array_equal(lens.extract_attention(text).weights, attention.extract_attention(handle, text).weights)
    if handle.kind == "masked_lm":
        mask = MaskSpec((1,))
        got, want = lens.mask_and_predict(text, mask), masking.mask_and_predict(handle, text, mask)
        assert got.edit == want.edit and repr(got.fill_ins) == repr(want.fill_ins)
        np.testing.assert_array_equal(got.after.probs, want.after.probs)
    a, b = TEXTS[handle.kind][:2]
    a, b = (t.replace("[MASK]", handle.tokenizer.mask_token or "[MASK]") for t in (a, b))
    assert repr(lens.compare_texts(a, b)) == repr(compare.compare_texts(handle, a, b))


def test_local_lens_attribution_and_its_compositions_equal_the_core(tiny_handles):
    handle = tiny_handles["classifier"]
    lens = _local(handle)
    got = lens.attribute("good movie", "saliency")
    np.testing.assert_array_equal(got.scores, attribute(handle, "good movie", "saliency").scores)
    diff = lens.attribution_difference("good movie", "bad movie", "saliency")
    want = compare.attribution_difference(handle, compare.compare_texts(handle, "good movie", "bad movie"), "saliency")
    assert repr(diff) == repr(want)
    other = tiny_handles["encoder"]
    np.testing.assert_array_equal(_local(other).embed(["a cat", "a dog"]), inference.embed(other, ["a cat", "a dog"]))


def test_local_lens_resolves_a_second_model_by_its_spec(tiny_handles):
    a, b = tiny_handles["masked_lm"], tiny_handles["masked_lm"]
    handles = {a.spec: a}
    lens = LocalLens(a.spec, handles)
    text = f"the cat {a.tokenizer.mask_token} here"
    assert repr(lens.compare_models(b.spec, text)) == repr(compare.compare_models(a, b, text))


def test_local_lens_raises_what_the_core_raises(tiny_handles):
    handle = tiny_handles["masked_lm"]
    with pytest.raises(PlmCoreError) as want:
        predict(handle, "no mask here")
    with pytest.raises(type(want.value), match=re.escape(str(want.value))):
        _local(handle).predict("no mask here")


@pytest.mark.parametrize("kind", TINY_KINDS)
def test_predict_many_equals_predict_each(tiny_handles, kind):
    """One padded forward for texts of different lengths == one predict call per text (float rounding only)."""
    handle = tiny_handles[kind]
    texts = [t.replace("[MASK]", handle.tokenizer.mask_token or "[MASK]") for t in TEXTS[handle.kind]]
    merged = predict_many(handle, texts, top_k=5)
    for text, got in zip(texts, merged):
        want = predict(handle, text, top_k=5)
        assert got.encoding == want.encoding and got.labels == want.labels
        np.testing.assert_allclose(got.probs, want.probs, atol=1e-6)
        if want.embedding is not None:
            np.testing.assert_allclose(got.embedding, want.embedding, atol=1e-6)
        assert len(got.distributions) == len(want.distributions)
        for g, w in zip(got.distributions, want.distributions):
            assert g.position == w.position
            np.testing.assert_allclose(g.probs, w.probs, atol=1e-6)
            # equal probabilities may swap places: compare the sets of tokens above the k-th probability
            assert set(g.token_ids[:-1]) <= set(w.token_ids) or np.allclose(g.probs, w.probs, atol=1e-6)


def test_predict_many_returns_each_items_own_error(tiny_handles):
    handle = tiny_handles["masked_lm"]
    out = predict_many(handle, ["no mask here", f"a {handle.tokenizer.mask_token} here", ""])
    assert isinstance(out[0], PlmCoreError) and isinstance(out[2], PlmCoreError)
    for text, got in (("no mask here", out[0]), ("", out[2])):
        with pytest.raises(type(got)) as err:
            predict(handle, text)
        assert str(err.value) == str(got)
    assert out[1].distributions


def test_merge_predict_merges_only_plain_calls(tiny_handles):
    handle = tiny_handles["classifier"]
    got = merge_predict(handle, [(("good movie",), {"top_k": 3}), (("fine", None), {"top_k": 3})])
    np.testing.assert_allclose(got[1].probs, predict(handle, "fine", top_k=3).probs, atol=1e-6)
    assert merge_predict(handle, [(("a",), {"top_k": 3}), (("b",), {"top_k": 4})]) is None
    assert merge_predict(handle, [(("a", "pair"), {}), (("b",), {})]) is None
    assert merge_predict(handle, [(("a",), {"max_tokens": 3}), (("b",), {})]) is None


def test_local_lens_page_helpers_equal_the_core(tiny_handles):
    """The methods the Evaluate, Bias and lesson pages reach a model by (issue 26: no page calls get_handle)."""
    from plm_core import embedding_map as em
    from plm_core import evaluate as ev
    from plm_core import generation
    from plm_core.bias.common import require_masked_lm

    mlm, enc, causal = tiny_handles["masked_lm"], tiny_handles["encoder"], tiny_handles["causal_lm"]
    lens = _local(enc)
    np.testing.assert_array_equal(lens.sentence_embeddings(["a cat", "a dog"], 1),
                                  em.sentence_embeddings(enc, ["a cat", "a dog"], 1))
    vocab = []
    for w in ("the", "a", "cat", "dog", "is", "and", "of", "to", "in"):
        try:
            em.word_ids(mlm, [w])
        except PlmCoreError:  # several tokens in the tiny vocabulary
            continue
        vocab.append(w)
    assert len(vocab) >= 3
    ids = _local(mlm).word_ids(vocab[:3])
    assert ids == em.word_ids(mlm, vocab[:3])
    np.testing.assert_array_equal(_local(mlm).input_embeddings(ids), em.input_embedding_table(mlm)[ids].numpy())
    encoding = lens.encode("the cat sat")
    assert _local(causal).query_row(encoding) == causal.adapter.query_row(causal, encoding)
    assert lens.query_row(encoding) == enc.adapter.query_row(enc, encoding)
    some = list(range(5, 12))
    assert _local(causal).text_of(some) == generation.text_of(causal, some)
    assert _local(causal).token_strings(some, apart=False) == generation.token_strings(causal, some, apart=False)
    _local(mlm).require_masked_lm("the probe")
    with pytest.raises(PlmCoreError) as want:
        require_masked_lm(causal, "the probe")
    with pytest.raises(type(want.value), match=re.escape(str(want.value))):
        _local(causal).require_masked_lm("the probe")
    config = {"mode": "label_words", "label_words": {"good": "good", "bad": "bad"}}
    assert _local(mlm).class_names(config) == ev.class_names(mlm, config) == ("good", "bad")
    _local(mlm).check_template("{text} it was {mask} .")
    with pytest.raises(PlmCoreError):
        _local(mlm).check_template("no text here")
