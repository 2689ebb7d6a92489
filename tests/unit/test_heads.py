"""Issue 21 (b): every head the checkpoint has — multi-label sigmoid, NLI pairs, QA/NER/multiple choice refused
at load — chat templates, typed special tokens, contrast words, sampling methods on one token.

Each number is checked against the model's own forward pass run here (transformers), not against a constant.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from plm_core.loading import ModelSpec, load_model


@pytest.fixture(scope="module")
def head_dirs(tmp_path_factory):
    from plm_core.testing import HEAD_KINDS, save_tiny_head

    base = tmp_path_factory.mktemp("tiny_heads")
    return {kind: save_tiny_head(kind, base / kind) for kind in HEAD_KINDS}


@pytest.fixture(scope="module")
def multilabel(head_dirs):
    return load_model(ModelSpec(str(head_dirs["multilabel"]), device="cpu"))


@pytest.fixture(scope="module")
def bart_nli(head_dirs):
    return load_model(ModelSpec(str(head_dirs["bart_nli"]), device="cpu"))


@pytest.fixture(scope="module")
def chat(head_dirs):
    return load_model(ModelSpec(str(head_dirs["chat"]), device="cpu"))


def _logits(handle, text, text_pair=None):
    batch = handle.tokenizer(text, text_pair, return_tensors="pt")
    with torch.no_grad():
        return handle.model(**batch).logits[0].float()


# ---------------------------------------------------------------- multi-label: a sigmoid per label


TEXT = "you are a terrible person"


def test_multilabel_prediction_is_a_sigmoid_per_label(multilabel):
    from plm_core.inference import predict

    pred = predict(multilabel, TEXT)
    expected = torch.sigmoid(_logits(multilabel, TEXT)).numpy()
    assert pred.multi_label
    np.testing.assert_allclose(pred.probs, expected, atol=1e-6)
    assert abs(float(pred.probs.sum()) - 1.0) > 1e-3  # not a distribution over the labels


def test_multilabel_attribution_explains_the_sigmoid(multilabel):
    from plm_core.attribution import Target, attribute

    res = attribute(multilabel, TEXT, "saliency", target=Target("class", label="insult"))
    expected = float(torch.sigmoid(_logits(multilabel, TEXT))[1])
    assert res.f_x == pytest.approx(expected, abs=1e-6)
    assert "sigmoid" in res.target_label


def test_multilabel_masking_and_compare_read_sigmoids(multilabel):
    from plm_core.compare import compare_texts
    from plm_core.masking import MaskSpec, mask_and_predict, occlusion_sweep

    other = "you are a good person"
    cmp = compare_texts(multilabel, TEXT, other).comparisons[0]
    np.testing.assert_allclose(cmp.original, torch.sigmoid(_logits(multilabel, TEXT)).numpy(), atol=1e-6)
    np.testing.assert_allclose(cmp.perturbed, torch.sigmoid(_logits(multilabel, other)).numpy(), atol=1e-6)
    assert "sigmoid" in cmp.measure
    edit = mask_and_predict(multilabel, TEXT, MaskSpec(positions=(4,)))
    assert "sigmoid" in edit.comparisons[0].measure
    np.testing.assert_allclose(edit.before.probs, torch.sigmoid(_logits(multilabel, TEXT)).numpy(), atol=1e-6)
    sweep = occlusion_sweep(multilabel, TEXT)
    assert sweep.base_value == pytest.approx(float(torch.sigmoid(_logits(multilabel, TEXT)).max()), abs=1e-6)


# ---------------------------------------------------------------- heads no kind explains: refused at load


@pytest.mark.parametrize("kind, arch, words", [
    ("bert_qa", "BertForQuestionAnswering", "question answering"),
    ("bert_ner", "BertForTokenClassification", "token classification"),
    ("bert_mc", "BertForMultipleChoice", "multiple choice"),
])
def test_unexplained_heads_are_refused_at_load_naming_the_head(head_dirs, kind, arch, words):
    from plm_core.errors import UnsupportedModelError

    with pytest.raises(UnsupportedModelError) as err:
        load_model(ModelSpec(str(head_dirs[kind]), device="cpu"))
    assert arch in str(err.value) and words in str(err.value)
    # asked for explicitly, the encoder alone loads (the user chose to leave the head out)
    handle = load_model(ModelSpec(str(head_dirs[kind]), kind="encoder", device="cpu"))
    assert handle.kind == "encoder"


# ---------------------------------------------------------------- NLI / pair classifiers (BART-MNLI layout)


PREMISE, HYPOTHESIS = "a man is eating", "a person eats"


def test_bart_nli_estimate_does_not_crash(bart_nli):
    from plm_core.attribution import estimate_seconds

    # the estimate's synthetic input had no <eos>: "Each example must contain at least one <eos> token"
    assert estimate_seconds(bart_nli, 12) > 0


@pytest.mark.parametrize("method", ["integrated_gradients", "saliency", "occlusion"])
def test_bart_nli_attribution_over_both_texts(bart_nli, method):
    from plm_core.attribution import Target, attribute

    res = attribute(bart_nli, PREMISE, method, text_pair=HYPOTHESIS, target=Target("class", label="entailment"))
    probs = torch.softmax(_logits(bart_nli, PREMISE, HYPOTHESIS), -1)
    assert res.f_x == pytest.approx(float(probs[2]), abs=1e-5)  # transformers' own forward on the ids
    seg = np.asarray(res.encoding.segments)
    plain = ~np.asarray(res.encoding.special)
    assert np.abs(res.scores[plain & (seg == 0)]).sum() > 0 and np.abs(res.scores[plain & (seg == 1)]).sum() > 0
    if method == "integrated_gradients":
        assert res.delta_rel < 0.01


def test_pair_classifier_pages_offer_the_second_text(bart_nli, multilabel):
    from plm_core.model_info import model_info

    first, second, help_ = model_info(bart_nli).text_labels
    assert (first, second) == ("Premise", "Hypothesis") and bart_nli.adapter.takes_pair
    assert multilabel.adapter.takes_pair


def test_compare_reads_both_sentences_with_the_hypothesis(bart_nli):
    from plm_core.compare import attribution_difference, compare_texts

    other = "a woman is sleeping"
    cmp = compare_texts(bart_nli, PREMISE, other, text_pair=HYPOTHESIS)
    np.testing.assert_allclose(cmp.comparisons[0].original,
                               torch.softmax(_logits(bart_nli, PREMISE, HYPOTHESIS), -1).numpy(), atol=1e-6)
    np.testing.assert_allclose(cmp.comparisons[0].perturbed,
                               torch.softmax(_logits(bart_nli, other, HYPOTHESIS), -1).numpy(), atol=1e-6)
    diff = attribution_difference(bart_nli, cmp, "saliency")
    assert len(diff.scores_a) == len(cmp.a.encoding) and "person" in "".join(cmp.a.encoding.tokens)


# ---------------------------------------------------------------- sampling methods on a one-token input


@pytest.mark.parametrize("method", ["kernel_shap", "lime", "gradient_shap", "occlusion", "integrated_gradients"])
def test_every_sampling_method_on_a_one_token_prompt(tiny_gpt2, method):
    from plm_core.attribution import attribute

    res = attribute(tiny_gpt2, "a", method)  # one token, no BOS: KernelSHAP raised Categorical(probs: nan)
    assert len(res.encoding) == 1 and np.isfinite(res.scores).all()
    if method in ("kernel_shap", "occlusion"):  # exact on one token: the whole change is the token's
        assert float(res.scores[0]) == pytest.approx(res.f_x - res.f_baseline, abs=1e-6)
    if method == "kernel_shap":
        assert any("one token" in n for n in res.notes)


# ---------------------------------------------------------------- contrast words: the same form on both sides


def test_contrast_words_resolve_to_the_same_form(tiny_gpt2):
    from plm_core.attribution import Target, attribute

    tok = tiny_gpt2.tokenizer
    text = "the doctor said that"
    # this byte-level vocabulary has 'he' (no space) and ' she' as single tokens, ' he' and 'she' as two each
    assert len(tok("he", add_special_tokens=False)["input_ids"]) == 1
    assert len(tok(" he", add_special_tokens=False)["input_ids"]) == 2
    assert len(tok(" she", add_special_tokens=False)["input_ids"]) == 1
    res = attribute(tiny_gpt2, text, "saliency", target=Target("contrast", word="he", contrast="she"))
    he, she = tok(" he", add_special_tokens=False)["input_ids"][0], tok(" she", add_special_tokens=False)["input_ids"][0]
    assert res.target.token_id == he  # both after a space, as in running text (was: 'he' without its space)
    with torch.no_grad():
        logits = tiny_gpt2.model(**tok(text, return_tensors="pt")).logits[0, -1]
    assert res.f_x == pytest.approx(float(logits[he] - logits[she]), abs=1e-5)
    shown_he, shown_she = tok.decode([he]), tok.decode([she])
    assert repr(shown_he) in res.target_label and repr(shown_she) in res.target_label  # the exact pieces
    assert any("2 tokens" in n for n in res.notes)


def test_contrast_words_single_only_without_space_use_that_form_for_both(tiny_gpt2):
    from plm_core.attribution import Target, attribute

    tok = tiny_gpt2.tokenizer
    res = attribute(tiny_gpt2, "the doctor said that", "saliency", target=Target("contrast", word="cat", contrast="dog"))
    assert res.target.token_id == tok(" cat", add_special_tokens=False)["input_ids"][0]
    assert "' cat' rather than ' dog'" in res.target_label


# ---------------------------------------------------------------- typed special tokens


@pytest.mark.parametrize("kind, typed, plain", [
    ("classifier", "[CLS] the cat sat [SEP]", "the cat sat"),
    ("llama", "<s> the cat sat", "the cat sat"),
])
def test_typed_start_token_is_not_duplicated(tiny_handles, kind, typed, plain):
    from plm_core.tokens import encode

    handle = tiny_handles[kind]
    enc, batch = encode(handle, typed)
    expected = handle.tokenizer(plain)["input_ids"]  # the tokenizer's own reading, with its own specials once
    assert list(enc.input_ids) == expected and batch["input_ids"][0].tolist() == expected
    assert enc.special[0] and (enc.special[-1] or kind == "llama")
    assert any("reads it once" in n for n in enc.notes)


def test_typed_endoftext_is_special_and_kept_in_baselines(tiny_gpt2):
    from plm_core.attribution import attribute
    from plm_core.errors import InvalidInputError
    from plm_core.masking import MaskSpec, mask_and_predict
    from plm_core.tokens import encode

    text = "<|endoftext|>the cat sat"
    enc, _ = encode(tiny_gpt2, text)
    assert enc.input_ids[0] == tiny_gpt2.tokenizer.eos_token_id and enc.special[0]
    assert any("special token" in n for n in enc.notes)
    res = attribute(tiny_gpt2, text, "integrated_gradients")
    assert res.scores[0] == 0.0  # kept in the baseline, so it explains nothing (it was scored)
    with pytest.raises(InvalidInputError):
        mask_and_predict(tiny_gpt2, text, MaskSpec(positions=(0,), strategy="delete"))


def test_chat_template_tokens_are_special(chat):
    from plm_core.tokens import encode

    enc, _ = encode(chat, "<|im_start|>user\nthe cat<|im_end|>")
    assert [t for t, s in zip(enc.tokens, enc.special) if s] == ["<|im_start|>", "<|im_end|>"]


def test_chat_prompt_is_the_tokenizers_template(chat, tiny_gpt2):
    from plm_core.errors import UnsupportedModelError
    from plm_core.tokens import chat_prompt, has_chat_template

    expected = chat.tokenizer.apply_chat_template([{"role": "user", "content": "the cat"}], tokenize=False,
                                                  add_generation_prompt=True)
    assert has_chat_template(chat) and chat_prompt(chat, "the cat") == expected
    assert not has_chat_template(tiny_gpt2)
    with pytest.raises(UnsupportedModelError):
        chat_prompt(tiny_gpt2, "the cat")


# ---------------------------------------------------------------- explain every label


def test_every_label_is_one_table_of_each_labels_attribution(multilabel):
    from plm_core.attribution import Target, attribute, attribute_every_label, every_label_table
    from plm_core.attribution.report import to_csv

    results = attribute_every_label(multilabel, TEXT, "saliency")
    assert [r.target.label for r in results] == ["toxic", "insult", "threat"]
    probs = torch.sigmoid(_logits(multilabel, TEXT)).numpy()
    np.testing.assert_allclose([r.f_x for r in results], probs, atol=1e-6)
    one = attribute(multilabel, TEXT, "saliency", target=Target("class", label="threat"))
    table = every_label_table(results)
    assert list(table) == ["token", "toxic", "insult", "threat"]
    np.testing.assert_allclose(table["threat"], one.scores, atol=1e-6)
    import csv
    import io

    rows = list(csv.DictReader(io.StringIO(to_csv(results))))  # exported together: one file, every label
    assert len(rows) == 3 * len(one.encoding)
    assert {r["target"] for r in rows} == {r.target_label for r in results}


def test_compare_models_reads_the_hypothesis(bart_nli):
    from plm_core.compare import compare_models

    res = compare_models(bart_nli, bart_nli, PREMISE, text_pair=HYPOTHESIS)
    expected = torch.softmax(_logits(bart_nli, PREMISE, HYPOTHESIS), -1).numpy()
    np.testing.assert_allclose(res.a.probs, expected, atol=1e-6)
    assert res.a.encoding.text_pair == HYPOTHESIS


@pytest.mark.parametrize("head", ["bart_nli", "multilabel", "chat"])
def test_model_card_times_every_head_with_its_own_inputs(head, head_dirs, monkeypatch):
    """Evaluate → Model cards crashed on a BART NLI classifier (IndexError: its head reads the end-of-sentence token,
    which the hand-built timing batch lacked, and it got a decoder input it does not take). The timing batch is
    the kind's own input of exactly the asked number of tokens."""
    from plm_core import model_card

    handle = load_model(ModelSpec(str(head_dirs[head]), device="cpu"))
    seen = []
    real_run = model_card.run
    monkeypatch.setattr(model_card, "run", lambda h, batch, **kw: seen.append(batch) or real_run(h, batch, **kw))
    assert model_card.forward_latency_ms(handle, 16, repeats=1) > 0
    assert {tuple(b["input_ids"].shape) for b in seen} == {(1, 16)}
    c = model_card.card(handle)
    assert set(c.latency_ms) == set(model_card.LATENCY_TOKENS) and all(v > 0 for v in c.latency_ms.values())
