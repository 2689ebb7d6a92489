"""Lessons' live computations on tiny models: every recomputation equals what the model computed itself."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import assert_no_hooks
from helpers import tiny_names
from plm_core.errors import InvalidInputError, UnsupportedModelError
from plm_core.lessons import compute
from plm_core.lessons.content import LESSONS, Question, Text, get_lesson
from plm_core.tokens import encode

TEXT = "the cat sat on the mat because it was tired"
# the lessons explain a model with a head (not a bare encoder); the rotary decoders only in the attention steps
HEADED = tiny_names("core", kinds=("masked_lm", "causal_lm", "classifier"))
KINDS = tiny_names("core", kinds=("masked_lm", "causal_lm", "classifier"), families=("bert", "gpt2"))


@pytest.mark.parametrize("kind", HEADED)
def test_attention_steps_reproduce_the_model(tiny_handles, kind):
    handle = tiny_handles[kind]
    for layer in range(handle.n_layers):
        s = compute.attention_steps(handle, TEXT, layer, head=1)
        assert s.probs_diff < 1e-5 and s.context_diff < 1e-5 and s.projection_diff < 1e-5
        for h in range(handle.n_heads):
            assert s.head_context_diff(h) < 1e-5
        np.testing.assert_allclose(s.probs.sum(-1), 1.0, atol=1e-5)
        assert s.d_k * s.n_heads == s.concat.shape[1] == s.inputs.shape[1]
        assert s.causal == handle.arch.causal
    assert_no_hooks(handle.model)


def test_attention_steps_by_hand_for_one_head(tiny_mlm):
    """softmax(QKᵀ·scale)·V written out in NumPy from the captured Q, K, V."""
    s = compute.attention_steps(tiny_mlm, TEXT, 1, head=2)
    q, k, v = s.queries[2].astype(np.float64), s.keys[2].astype(np.float64), s.values[2].astype(np.float64)
    scores = q @ k.T / np.sqrt(q.shape[1])
    probs = np.exp(scores - scores.max(-1, keepdims=True))
    probs /= probs.sum(-1, keepdims=True)
    np.testing.assert_allclose(probs, s.model_probs[2], atol=1e-5)
    np.testing.assert_allclose(probs @ v, s.model_concat[:, 2 * s.d_k:3 * s.d_k], atol=1e-5)


def test_causal_scores_are_masked_above_the_diagonal(tiny_gpt2):
    s = compute.attention_steps(tiny_gpt2, TEXT, 0, 0)
    n = s.scores.shape[-1]
    upper = np.triu(np.ones((n, n), bool), 1)
    assert np.isneginf(s.scores[:, upper]).all()
    assert (s.probs[:, upper] == 0).all()


def test_hooks_removed_when_the_forward_fails(tiny_mlm, monkeypatch):
    def boom(*a, **k):
        raise RuntimeError("forward failed")

    import plm_core.attention

    monkeypatch.setattr(plm_core.attention, "run_with_attention", boom)  # the forward inside capture_layer
    with pytest.raises(RuntimeError):
        compute.attention_steps(tiny_mlm, TEXT, 0, 0)
    assert_no_hooks(tiny_mlm.model)


def test_layer_out_of_range_is_a_clear_error(tiny_mlm):
    with pytest.raises(InvalidInputError, match="layer 9 is out of range"):
        compute.attention_steps(tiny_mlm, TEXT, 9, 0)


@pytest.mark.parametrize("kind", KINDS)
def test_token_embeddings_rebuild_the_model_input(tiny_handles, kind):
    res = compute.token_embeddings(tiny_handles[kind], "a cat sat on the mat and the dog")
    assert res.max_abs_diff < 1e-5
    assert res.layer_norm == (kind != "causal_lm")
    assert (res.segment is not None) == (kind in ("masked_lm", "classifier", "roberta_mlm"))
    assert len(res.position_ids) == len(res.encoding)
    # the same word at two positions: same token row, different position row
    the = [i for i, t in enumerate(res.encoding.tokens) if t.strip() == "the"]
    assert len(the) == 2
    np.testing.assert_array_equal(res.word[the[0]], res.word[the[1]])
    assert not np.allclose(res.position[the[0]], res.position[the[1]])
    assert_no_hooks(tiny_handles[kind].model)


def test_word_pieces_split_unknown_words(tiny_mlm):
    pieces = dict(compute.word_pieces(tiny_mlm, ["cat", "catdog"]))
    assert pieces["cat"] == ("cat",)
    assert len(pieces["catdog"]) > 1 and all(p.startswith("##") for p in pieces["catdog"][1:])


def test_mask_lesson_reads_the_causal_mask_from_gpt2(tiny_gpt2):
    m = compute.mask_lesson(tiny_gpt2, TEXT)
    n = len(m.encoding)
    assert m.causal and m.future_attention == 0.0
    np.testing.assert_array_equal(m.mask, np.tril(np.ones((n, n))))
    np.testing.assert_array_equal(m.other_mask, np.ones((n, n)))
    assert len(m.predictions) == 1 and m.predictions[0].position == n - 1


def test_mask_lesson_bert_is_bidirectional_and_fills_masks(tiny_mlm):
    m = compute.mask_lesson(tiny_mlm, "the cat sat on the [MASK] .")
    n = len(m.encoding)
    assert not m.causal and m.future_attention > 0.1
    np.testing.assert_array_equal(m.mask, np.ones((n, n)))
    np.testing.assert_array_equal(m.other_mask, np.tril(np.ones((n, n))))
    assert [d.position for d in m.predictions] == [6]


def test_mlm_masking_recipe(tiny_mlm):
    enc, _ = encode(tiny_mlm, "the quick brown fox jumps over the lazy dog and the cat sat on the mat today")
    tokens, targets = compute.mlm_masking(tiny_mlm, enc, seed=3)
    n_words = sum(not s for s in enc.special)
    assert len(targets) == round(0.15 * n_words)
    assert all(not enc.special[i] for i in targets)
    changed = [i for i, (a, b) in enumerate(zip(enc.tokens, tokens)) if a != b]
    assert set(changed) <= set(targets)
    assert compute.mlm_masking(tiny_mlm, enc, seed=3) == (tokens, targets)  # deterministic


def test_occlusion_classifier_matches_a_manual_forward(tiny_classifier):
    from plm_core.inference import predict

    text = "good movie really"
    occ = compute.occlusion(tiny_classifier, text)
    full = predict(tiny_classifier, text)
    target = int(np.argmax(full.probs))
    masked = predict(tiny_classifier, "good [MASK] really")
    assert occ.scores[2] == pytest.approx(full.probs[target] - masked.probs[target], abs=1e-5)
    assert occ.scores[0] == 0 and occ.scores[-1] == 0  # specials


def test_spearman_by_hand():
    assert compute.spearman(np.array([1, 2, 3]), np.array([10, 20, 30])) == pytest.approx(1.0)
    assert compute.spearman(np.array([1, 2, 3]), np.array([3, 2, 1])) == pytest.approx(-1.0)
    # ties: ranks [0.5, 0.5, 2] vs [0, 1, 2] -> 0.866
    assert compute.spearman(np.array([1, 1, 2]), np.array([1, 2, 3])) == pytest.approx(np.sqrt(3) / 2)
    with pytest.raises(InvalidInputError):
        compute.spearman(np.array([1.0]), np.array([1.0]))


def test_bias_probe_masked_lm_matches_predict(tiny_mlm):
    from plm_core.inference import predict

    res = compute.bias_probe(tiny_mlm, ["nurse", "engineer"])
    assert res.scores.shape == (3, 2)
    pred = predict(tiny_mlm, "i think [MASK] is a nurse.", top_k=len(tiny_mlm.tokenizer))
    p = dict(zip(pred.distributions[0].tokens, pred.distributions[0].probs))
    assert res.scores[0, 0] == pytest.approx(p["he"] - p["she"], abs=1e-6)


def test_bias_probe_encoder_uses_cosines(tiny_handles):
    from plm_core.inference import embed

    handle = tiny_handles["encoder"]
    res = compute.bias_probe(handle, ["nurse"])
    e = embed(handle, ["this is a man.", "this is a woman.", "this is a nurse."])
    assert res.scores[0, 0] == pytest.approx(float(e[2] @ e[0] - e[2] @ e[1]), abs=1e-5)


def test_parse_words_limits():
    assert compute.parse_words("Nurse, engineer,\nnurse") == ("nurse", "engineer")
    with pytest.raises(InvalidInputError):
        compute.parse_words(" , ")
    with pytest.raises(InvalidInputError):
        compute.parse_words(",".join(f"w{i}" for i in range(30)))


def test_every_lesson_is_bilingual_with_questions():
    assert [lesson.number for lesson in LESSONS] == list(range(1, len(LESSONS) + 1)) and len(LESSONS) >= 8  # lesson 8: issue 22
    for lesson in LESSONS:
        texts = [lesson.title, lesson.summary] + [t for pair in lesson.glossary for t in pair]
        for step in lesson.steps:
            texts += [step.title, step.body]
            assert step.question is not None
            texts += [step.question.prompt, step.question.explanation, *step.question.options]
        for t in texts:
            assert t.en.strip() and t.zh.strip() and t.en != t.zh or t.en.isascii() and t.en == t.zh
        assert any(any("\u4e00" <= c <= "\u9fff" for c in t.zh) for t in texts)
        assert len(lesson.glossary) >= 3
    assert get_lesson(99).number == len(LESSONS) and get_lesson(-1).number == 1


def test_question_answer_must_be_an_option():
    with pytest.raises(ValueError):
        Question(Text("q"), (Text("a"),), 1, Text("e"))  # Text: the English msgid (zh from the catalogue)


def test_rotary_models_have_no_position_table_and_say_why(tiny_handles):
    with pytest.raises(UnsupportedModelError, match="rotating Q and K"):
        compute.token_embeddings(tiny_handles["llama"], TEXT)


def test_unsupported_attention_is_refused(tiny_mlm, monkeypatch):
    """An eager attention function that does more than softmax(QKᵀ·scale + mask) with the query and key it is
    given (here: it sharpens the query inside, as a learned temperature would) is refused with the measured
    difference, never shown."""
    import transformers.models.bert.modeling_bert as bert

    own = bert.eager_attention_forward

    def with_temperature(module, query, key, value, attention_mask, *args, **kwargs):
        return own(module, query * 1.5, key, value, attention_mask, *args, **kwargs)

    monkeypatch.setattr(bert, "eager_attention_forward", with_temperature)
    with pytest.raises(UnsupportedModelError, match="differ from its own"):
        compute.attention_steps(tiny_mlm, TEXT, 0, 0)


def _spearman_oracle(a, b):
    """Pearson correlation of average ranks, computed here without scipy (ties share their mean rank)."""
    def ranks(x):
        x = np.asarray(x, np.float64)
        return np.array([(x < v).sum() + ((x == v).sum() - 1) / 2 for v in x])
    ra, rb = ranks(a) - ranks(a).mean(), ranks(b) - ranks(b).mean()
    return float((ra * rb).sum() / np.sqrt((ra ** 2).sum() * (rb ** 2).sum()))


def test_spearman_equals_scipy_and_the_rank_definition_on_ties():
    from scipy.stats import spearmanr

    rng = np.random.default_rng(0)
    for _ in range(200):
        n = int(rng.integers(2, 30))
        a, b = rng.integers(0, 4, n).astype(float), rng.normal(size=n).round(1)  # many ties in a, some in b
        if np.ptp(a) == 0 or np.ptp(b) == 0:
            assert compute.spearman(a, b) == 0.0  # no order to agree with: the lesson shows 0
            continue
        assert compute.spearman(a, b) == pytest.approx(_spearman_oracle(a, b), abs=1e-12)
        assert compute.spearman(a, b) == pytest.approx(float(spearmanr(a, b).statistic), abs=1e-12)


def test_no_hand_written_rank_correlation_in_the_core():
    """Issue 26 item 7: rank correlations come from scipy.stats (spearmanr, kendalltau), not from our own ranks."""
    import ast

    from helpers import ROOT

    found = []
    for path in (ROOT / "plm_core").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef) and node.name.lstrip("_") in {"rank", "ranks", "rankdata"}:
                found.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert not found, found
