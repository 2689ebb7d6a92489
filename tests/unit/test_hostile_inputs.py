"""Issue 10, inputs: every path that can make the model's input longer than its limit cuts it with a note or
refuses with a message (never a tensor-size error); messages quote short excerpts; RoBERTa-style models get
no second token type; a [MASK] past the limit and a giant word are explained.

Cases: 3 (type_vocab_size=1 with a second sentence), 4 (every path over the limit), 6 (short excerpts),
11 ([MASK] past the limit), 13 (20,000-character word; Compare truncating with no note).
The tiny models are limited to 128 tokens.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from plm_core.attention import extract_attention, query_key
from plm_core.attribution import Target, attribute
from plm_core.bias import templates
from plm_core.bias.bec_pro import score_rows
from plm_core.bias.crows_pairs import score_pairs
from plm_core.bias.datasets import BecProRow, CrowsPair, SeatTest
from plm_core.bias.seat import run_seat
from plm_core.compare import attribution_difference, compare_models, compare_texts
from plm_core.errors import PlmCoreError
from plm_core.inference import embed, predict
from plm_core.lessons import compute, finetune
from plm_core.masking import MaskSpec, mask_and_predict, occlusion_sweep
from plm_core.tokens import encode
from helpers import tiny_names

LONG = "the cat sat on the mat " * 40  # 240 words: past the tiny models' 128 tokens
HUGE = "the cat sat on the mat because it was tired. " * 2100  # ~95 kB
MAX_MESSAGE = 400


def outcome(fn: Callable[[], object]) -> tuple[object | None, PlmCoreError | None]:
    """Run ``fn``: a result, or a PlmCoreError with a short message. Anything else fails the test."""
    try:
        return fn(), None
    except PlmCoreError as err:
        assert len(str(err)) < MAX_MESSAGE, f"a {len(str(err)):,}-character message: {str(err)[:200]}…"
        return None, err


def said_limit(notes) -> bool:
    return any("128" in n or "limit" in n for n in notes)


# ------------------------------------------------------------------ case 3: one token type ----

@pytest.mark.parametrize("method", ["attention_rollout", "attention_last_layer", "integrated_gradients", "saliency"])
def test_roberta_style_pair_in_attribution(tiny_handles, method):
    """``attribute(..., text_pair=...)`` on type_vocab_size=1 raised IndexError for the attention methods."""
    h = tiny_handles["roberta_mlm"]
    assert h.config.type_vocab_size == 1
    res = attribute(h, "the cat sat on the [MASK] .", method, text_pair="a dog slept", n_steps=8)
    assert res.encoding.pair_start is not None and np.isfinite(res.scores).all()


def test_roberta_style_attention_rollout_equals_the_model_without_token_types(tiny_handles):
    from plm_core.attention import attention_rollout

    h = tiny_handles["roberta_mlm"]
    res = attribute(h, "the cat sat on the [MASK] .", "attention_rollout", text_pair="a dog slept")
    att = extract_attention(h, "the cat sat on the [MASK] .", "a dog slept")  # encode() drops token types
    flow = attention_rollout(att.weights)[-1]
    rows = [int(r) for r in res.params["query_rows"].split(",")]
    np.testing.assert_allclose(res.scores, flow[rows].mean(0), atol=1e-6)


@pytest.mark.parametrize("kind", ["roberta_mlm", "masked_lm", "distilbert_mlm"])
def test_every_path_that_builds_token_types_agrees_with_encode(tiny_handles, kind):
    """The masking lab, compare and attention methods build batches themselves: same input as encode()."""
    h = tiny_handles[kind]
    masked = mask_and_predict(h, "the cat sat on the mat", MaskSpec((2,)), text_pair="a dog slept")
    direct = predict(h, "the [MASK] sat on the mat", "a dog slept", top_k=5)
    np.testing.assert_allclose(masked.fill_ins[0].distribution.probs, direct.distributions[0].probs, atol=1e-5)


# ------------------------------------------------------------------ case 4: every path over the limit ----

# the absolute-position models (a 128-token position table: the limit the cases cross)
KINDS = tiny_names("core", families=("bert", "gpt2"))


@pytest.mark.parametrize("kind", KINDS)
def test_text_and_second_sentence_past_the_limit(tiny_handles, kind):
    h = tiny_handles[kind]
    text = "the cat sat on the [MASK] ." if h.kind == "masked_lm" else "the cat sat"
    for pair in (LONG, HUGE):
        res, err = outcome(lambda: predict(h, text, pair))
        assert err is None and len(res.encoding) <= 128 and said_limit(res.encoding.notes)
        att, err = outcome(lambda: extract_attention(h, text, pair))
        assert err is None and att.weights.shape[-1] <= 128
    qk, err = outcome(lambda: query_key(h, LONG, 1, 0, LONG))
    assert err is None and said_limit(qk.encoding.notes)


@pytest.mark.parametrize("kind", KINDS)
def test_masking_substitute_past_the_limit(tiny_handles, kind):
    """A substitute that makes the edited input longer than the limit used to reach the model (size error)."""
    h = tiny_handles[kind]
    for text, sub in (("the cat sat on the mat", "cat " * 200), (LONG, "lazy brown")):
        res, err = outcome(lambda: mask_and_predict(h, text, MaskSpec((2,), "substitute", sub)))
        if err is None:
            assert len(res.edit.edited) <= 128 and said_limit(res.notes)
        else:
            assert "128" in str(err)
        sweep, err = outcome(lambda: occlusion_sweep(h, text, MaskSpec((2,), "substitute", sub), strategy="delete"))
        assert err is None or "128" in str(err)


def test_masking_reference_past_the_limit(tiny_handles):
    h = tiny_handles["encoder"]
    res, err = outcome(lambda: mask_and_predict(h, "the cat sat", MaskSpec((1,), "delete"), reference=LONG))
    assert err is None
    res, err = outcome(lambda: occlusion_sweep(h, "the cat sat", reference=HUGE))
    assert err is None


@pytest.mark.parametrize("kind", KINDS)
def test_compare_two_long_texts_says_it_truncated(tiny_handles, kind):
    """Compare truncated long input with no note while every other page said so (case 13)."""
    h = tiny_handles[kind]
    res, err = outcome(lambda: compare_texts(h, LONG, HUGE))
    assert err is None
    assert sum("128" in n for n in res.notes) >= 2, res.notes  # A and B both cut, both said
    assert len(res.a.encoding) <= 128 and len(res.b.encoding) <= 128


def test_compare_two_models_on_long_text_says_it_truncated(tiny_handles):
    res, err = outcome(lambda: compare_models(tiny_handles["classifier"], tiny_handles["causal_lm"], LONG))
    assert err is None
    assert any("128" in n for n in res.notes), res.notes


def test_attribution_difference_of_long_texts(tiny_handles):
    h = tiny_handles["classifier"]
    cmp = compare_texts(h, LONG, "the dog sat")
    diff, err = outcome(lambda: attribution_difference(h, cmp, "input_x_gradient"))
    assert err is None and len(diff.scores_a) <= 128


@pytest.mark.parametrize("method", ["integrated_gradients", "attention_rollout"])
def test_attribution_second_sentence_and_other_text_past_the_limit(tiny_handles, method):
    h = tiny_handles["classifier"]
    res, err = outcome(lambda: attribute(h, "the cat sat", method, text_pair=LONG, n_steps=4))
    assert err is None and said_limit(res.encoding.notes)
    enc = tiny_handles["encoder"]
    res, err = outcome(lambda: attribute(enc, LONG, method, target=Target("similarity", other=HUGE), n_steps=4))
    assert err is None and said_limit(res.encoding.notes)
    assert any("second sentence" in n or "other" in n for n in res.notes), res.notes  # the other text was cut too


def test_embed_past_the_limit(tiny_handles):
    emb, err = outcome(lambda: embed(tiny_handles["encoder"], [LONG, HUGE, "the cat"]))
    assert err is None and emb.shape[0] == 3


@pytest.mark.parametrize("kind", ["masked_lm", "causal_lm", "encoder", "roberta_mlm"])
def test_template_slot_words_past_the_limit(tiny_handles, kind):
    h = tiny_handles[kind]
    mask = "" if kind == "encoder" else " [MASK]"
    tset = templates.TemplateSet("long", (f"the [JOB] said that{mask} .",), (("JOB", ("cat " * 200, "dog")),),
                                 ("he", "she"))
    res, err = outcome(lambda: templates.probe_templates(h, tset))
    if err is not None:
        assert "128" in str(err)
    tset = templates.TemplateSet("long target", (f"the [JOB] said that{mask} .",), (("JOB", ("cat",)),),
                                 ("he", "mat " * 300))
    outcome(lambda: templates.probe_templates(h, tset))


def test_uploaded_template_csv_rows_past_the_limit(tiny_handles):
    rows = "template,target,JOB\n" + f"the [JOB] {'cat ' * 300} said that [MASK] .,he,nurse\n,she,doctor\n"
    tset = templates.from_csv(rows)
    res, err = outcome(lambda: templates.probe_templates(tiny_handles["masked_lm"], tset))
    assert err is not None and "128" in str(err)  # the [MASK] is past the limit: say so


def test_uploaded_bias_rows_past_the_limit(tiny_handles):
    h = tiny_handles["masked_lm"]
    pair = CrowsPair(0, "the man " + LONG, "the woman " + LONG, "stereo", "gender")
    outcome(lambda: score_pairs(h, [pair]))
    row = BecProRow(0, "he is a nurse " + LONG, "[MASK] is a nurse " + LONG, "[MASK] is a [MASK] " + LONG,
                    "x", "he", "male", "nurse", "female")
    outcome(lambda: score_rows(h, [row]))
    late = BecProRow(1, LONG + " he is a nurse", LONG + " [MASK] is a nurse", LONG + " [MASK] is a [MASK]",
                     "x", "he", "male", "nurse", "female")
    res, err = outcome(lambda: score_rows(h, [late]))
    assert err is not None  # the [MASK] is past the limit
    test = SeatTest("long", (LONG, "the cat"), ("the dog", HUGE), (LONG,), ("the mat",), ("a", "b", "c", "d"))
    outcome(lambda: run_seat(tiny_handles["encoder"], test, n_samples=100))


@pytest.mark.parametrize("kind", ["masked_lm", "causal_lm", "encoder"])
def test_lesson_inputs_past_the_limit(tiny_handles, kind):
    h = tiny_handles[kind]
    for fn in (lambda: compute.token_embeddings(h, LONG, LONG), lambda: compute.attention_steps(h, HUGE, 1),
               lambda: compute.mask_lesson(h, LONG + " [MASK]"), lambda: compute.occlusion(h, LONG),
               lambda: compute.bias_probe(h, compute.parse_words("nurse, " + "x" * 39))):
        outcome(fn)


def test_lesson_training_examples_past_the_limit(tiny_handles):
    h = tiny_handles["encoder"]
    data = finetune.parse_examples("\n".join(f"{lab}: {LONG}{i}" for i in range(3) for lab in ("pos", "neg")))
    trained, err = outcome(lambda: finetune.train_head(h, data, folds=2))
    assert err is None
    probs, err = outcome(lambda: finetune.classify(h, trained, [HUGE]))
    assert err is None and probs.shape == (1, 2)


# ------------------------------------------------------------------ case 6: short excerpts ----

def _message(fn) -> str:
    with pytest.raises(PlmCoreError) as err:
        fn()
    return str(err.value)


def test_error_messages_quote_a_short_excerpt(tiny_handles):
    """A 95 kB text made an 18,000-pixel error box: messages quote at most a short excerpt."""
    mlm, gpt = tiny_handles["masked_lm"], tiny_handles["causal_lm"]
    huge_word = "x" * 95_000
    messages = [
        _message(lambda: templates.probe_templates(mlm, templates.TemplateSet("t", (HUGE,), (("X", ("a",)),), ("he",)))),
        _message(lambda: templates.probe_templates(mlm, templates.TemplateSet(
            "t", ("[X] said [MASK] .",), (("X", ("a",)),), (HUGE,)))),
        _message(lambda: templates.from_text("t", "[X] is [MASK]", HUGE, "he")),
        _message(lambda: attribute(gpt, "the cat", "saliency", target=Target("contrast", word=HUGE, contrast=HUGE))),
        _message(lambda: mask_and_predict(gpt, "the cat sat", MaskSpec((1,), "substitute", "\u200b" * 95_000))),
        _message(lambda: finetune.parse_examples("\n".join([huge_word + ": a", "b: c", "b: d"]))),
        _message(lambda: compute.parse_words(HUGE)),
    ]
    for msg in messages:
        assert len(msg) < MAX_MESSAGE, f"{len(msg):,} characters: {msg[:120]}…"
        assert "\n" not in msg


def test_notes_quote_a_short_excerpt(tiny_handles):
    mlm = tiny_handles["masked_lm"]
    res = mask_and_predict(mlm, "the cat sat on the mat", MaskSpec((2,), "substitute", "lazy " * 20))
    res2 = attribute(mlm, "the [MASK] sat", "saliency", target=Target("token", word=HUGE))
    for note in res.notes + res2.notes:
        assert len(note) < MAX_MESSAGE, f"{len(note):,} characters: {note[:120]}…"


# ------------------------------------------------------------------ case 11: [MASK] past the limit ----

@pytest.mark.parametrize("kind", ["masked_lm", "roberta_mlm", "distilbert_mlm"])
def test_a_mask_past_the_limit_says_where_and_the_limit(tiny_handles, kind):
    """It said "the text has no [MASK] token" for a mask at token 213 of a model limited to 128."""
    h = tiny_handles[kind]
    mask = h.tokenizer.mask_token
    text = "the cat " * 106 + f"{mask} ."
    for fn in (lambda: predict(h, text), lambda: attribute(h, text, "saliency")):
        msg = str(outcome(fn)[1])
        assert "128" in msg and "213" in msg and "no " + mask not in msg, msg
    res = compare_texts(h, text, "the [MASK] sat".replace("[MASK]", mask))
    assert any("128" in n and "213" in n for n in res.notes), res.notes


# ------------------------------------------------------------------ case 13: a giant word ----

@pytest.mark.parametrize("kind", ["masked_lm", "distilbert_mlm"])
def test_a_20000_character_word_is_one_unk_with_a_note(tiny_handles, kind):
    h = tiny_handles[kind]
    enc, _ = encode(h, "the " + "x" * 19_990 + " cat")
    # one unknown token, shown with (the start of) the characters it stands for (plm_core.display)
    assert [t.startswith("[UNK") for t in enc.tokens] == [False, False, True, False, False] and enc.unknown[2]
    notes = " ".join(enc.notes)
    assert "[UNK]" in notes and "19,990" in notes, enc.notes
    assert "unknown to this model's vocabulary" not in notes  # x is in the vocabulary: the word is too long
    assert len(notes) < MAX_MESSAGE


# ------------------------------------------------------------------ one user's paste must not stall the model ----

@pytest.mark.parametrize("kind", ["masked_lm", "roberta_mlm", "causal_lm"])
def test_a_long_pair_is_truncated_as_the_tokenizer_does_from_a_short_input(tiny_handles, kind, monkeypatch):
    """tokenizers truncates a pair by combining every overflow window of both sentences: two 20,000-character
    texts held the model's lock for 24 s. encode() cuts each sentence a margin past the limit first; the
    tokens kept must be exactly the tokenizer's own longest-first truncation of the whole texts."""
    import plm_core.tokens as tokens

    h = tiny_handles[kind]
    asked: list[int] = []
    real = tokens._shorten_pair

    def spy(handle, a, b, limit):
        a2, b2 = real(handle, a, b, limit)
        asked.extend(len(handle.tokenizer(t, add_special_tokens=False)["input_ids"]) for t in (a2, b2))
        return a2, b2

    for la, lb in ((400, 10), (10, 400), (400, 400), (401, 400), (130, 600), (64, 64)):
        a, b = " ".join(["cat sat"] * (la // 2)), " ".join(["dog the"] * (lb // 2))
        for limit in (20, 64, 128):
            monkeypatch.setattr(tokens, "_shorten_pair", lambda handle, x, y, lim: (x, y))
            whole, _ = encode(h, a, b, max_tokens=limit)
            monkeypatch.setattr(tokens, "_shorten_pair", spy)
            fast, _ = encode(h, a, b, max_tokens=limit)
            assert (fast.input_ids, fast.segments, fast.offsets, fast.notes) == \
                (whole.input_ids, whole.segments, whole.offsets, whole.notes), (la, lb, limit)
    assert asked and max(asked) <= 128 + tokens.PAIR_MARGIN + 1  # the tokenizer never sees a long pair
    huge, _ = encode(h, HUGE, HUGE)
    assert len(huge) == 128 and huge.pair_start is not None


# ------------------------------------------------------------------ generation, logit lens (issue 15) ----

@pytest.mark.parametrize("kind", ["causal_lm", "masked_lm", "t5"])
def test_generation_paths_past_the_limit(tiny_handles, kind):
    """A prompt past the limit is cut with a note; generating at the limit stops with a note, never a size error."""
    from plm_core import generation as gen
    from plm_core.logit_lens import logit_lens

    h = tiny_handles[kind]
    limit = h.max_tokens
    said = lambda notes: any(str(limit) in n or "limit" in n for n in notes)  # noqa: E731
    settings = gen.SamplingSettings(True, 1.0, top_k=5, seed=1)
    for text in (LONG * 3, HUGE):
        res, err = outcome(lambda: gen.text_distribution(h, text + " [MASK]", settings))
        assert err is None or kind == "masked_lm"  # the [MASK] is past the limit: a message saying so
        if err is None:
            assert len(res[0]) <= limit and said(res[0].notes)
        outcome(lambda: logit_lens(h, text + " [MASK]"))
        if gen.can_generate(h):
            g, err = outcome(lambda: gen.start(h, text))
            assert err is None and len(g.prompt) <= limit and said(g.prompt.notes)
            g, err = outcome(lambda: gen.generate_steps(h, g, settings, 3))
            assert err is None
            if h.adapter.prompt_is_prefix:  # the decoder continues the cut prompt up to the limit, then stops
                assert len(g.ids) <= limit and (len(g.steps) == 3 or any(str(limit) in n for n in g.notes))
    outcome(lambda: compute.contextual_embeddings(h, LONG + " bank", HUGE + " bank", "bank"))
