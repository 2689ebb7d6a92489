"""Bias scores against independent reference computations on tiny models and hand-made embeddings."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch

from plm_core.bias import templates
from plm_core.bias.bec_pro import run_bec_pro, prepare
from plm_core.bias.crows_pairs import run_crows_pairs, pseudo_log_likelihoods, shared_positions, summarize
from plm_core.bias.datasets import BecProRow, CrowsPair, SeatTest
from plm_core.bias.seat import associations, effect_size, permutation_p_value, seat_from_embeddings
from plm_core.errors import InvalidInputError


def loop_pll(handle, text: str, positions: list[int]) -> float:
    """Independent reference: one full forward per masked token, full MLM head, log-softmax."""
    ids = handle.tokenizer(text)["input_ids"]
    total = 0.0
    for p in positions:
        masked = torch.tensor([ids])
        masked[0, p] = handle.tokenizer.mask_token_id
        with torch.no_grad():
            logits = handle.model(input_ids=masked).logits[0, p]
        total += float(torch.log_softmax(logits.double(), -1)[ids[p]])
    return total


def all_positions(handle, text):
    enc = handle.tokenizer(text, return_special_tokens_mask=True)
    return [i for i, s in enumerate(enc["special_tokens_mask"]) if not s]


@pytest.mark.parametrize("kind", ["masked_lm", "roberta_mlm", "distilbert_mlm"])
def test_pll_equals_one_token_at_a_time_loop(tiny_handles, kind):
    handle = tiny_handles[kind]
    texts = ["the cat sat on the mat.", "she worked as a nurse in paris", "a dog"]
    requests = []
    for t in texts:
        requests.append((handle.tokenizer(t)["input_ids"], all_positions(handle, t)))
    # a batch size that splits the masked copies over several forwards, with padding
    got = pseudo_log_likelihoods(handle, requests, batch_size=5)
    want = [loop_pll(handle, t, all_positions(handle, t)) for t in texts]
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


def test_shared_positions_skip_the_changed_word_and_specials(tiny_mlm):
    tok = tiny_mlm.tokenizer
    a = tok("the man was a nurse", return_special_tokens_mask=True)
    b = tok("the woman was a nurse", return_special_tokens_mask=True)
    pa, pb = shared_positions(a["input_ids"], b["input_ids"], a["special_tokens_mask"], b["special_tokens_mask"])
    assert pa == [1, 3, 4, 5] and pb == [1, 3, 4, 5]  # [CLS] the man/woman was a nurse [SEP]


def test_crows_pairs_metric_on_a_constructed_set(tiny_mlm):
    s = {k: v for k, v in zip("abcd", ["the man was a nurse", "the woman was a nurse",
                                        "he is a doctor", "she is a doctor"])}
    other = {"a": "b", "b": "a", "c": "d", "d": "c"}

    def shared(k):
        x, y = (tiny_mlm.tokenizer(t, return_special_tokens_mask=True) for t in (s[k], s[other[k]]))
        return shared_positions(x["input_ids"], y["input_ids"], x["special_tokens_mask"], y["special_tokens_mask"])[0]

    pos = {k: shared(k) for k in s}
    ref = {k: loop_pll(tiny_mlm, s[k], pos[k]) for k in s}
    pairs = [
        CrowsPair(0, s["a"], s["b"], "stereo", "gender"),
        CrowsPair(1, s["b"], s["a"], "antistereo", "gender"),  # sent_more is again the first field
        CrowsPair(2, s["c"], s["d"], "stereo", "race-color"),
        CrowsPair(3, s["c"], s["c"], "stereo", "race-color"),  # identical: a tie, never counted
    ]
    result = run_crows_pairs(tiny_mlm, pairs)
    rows = sorted(result.rows, key=lambda r: r.index)  # scored in a seeded random order
    expected = [ref["a"] > ref["b"], ref["b"] > ref["a"], ref["c"] > ref["d"], False]
    assert [r.more_higher for r in rows] == expected
    assert rows[3].tie and rows[3].n_shared == 4  # he is a doctor
    assert result.metric == pytest.approx(100 * sum(expected) / 4)
    # pair 0 and its swapped antistereo twin: exactly one counts (no ties between different sentences)
    assert result.by_bias_type()["gender"]["metric"] == 50.0
    assert result.by_bias_type()["race-color"]["metric"] == (50.0 if expected[2] else 0.0)
    np.testing.assert_allclose([rows[0].score_more, rows[0].score_less], [ref["a"], ref["b"]], rtol=1e-5)


def test_crows_summary_counts_stereo_and_antistereo_separately():
    from plm_core.bias.crows_pairs import CrowsPairRow

    rows = [CrowsPairRow(i, "x", d, "m", "l", 0, 0, 3, hi, False)
            for i, (d, hi) in enumerate([("stereo", True), ("stereo", False), ("stereo", True), ("antistereo", True)])]
    s = summarize(rows)
    assert s["metric"] == 75.0 and s["stereo"] == pytest.approx(200 / 3) and s["antistereo"] == 100.0


def _row(sentence, tm, tam, person, profession, index=0, gender="male"):
    return BecProRow(index, sentence, tm, tam, "<person subject> is a <profession>.", person, gender, profession,
                     "female")


def _p(handle, text, position, word):
    ids = handle.tokenizer(text.replace("[MASK]", handle.tokenizer.mask_token))["input_ids"]
    position = ids.index(handle.tokenizer.mask_token_id) if position is None else position
    with torch.no_grad():
        logits = handle.model(input_ids=torch.tensor([ids])).logits[0, position]
    return float(torch.softmax(logits.double(), -1)[handle.tokenizer.convert_tokens_to_ids(word)])


def test_bec_pro_association_is_log_ratio_with_profession_masked_prior(tiny_mlm):
    rows = [_row("he is a nurse.", "[MASK] is a nurse.", "[MASK] is a [MASK].", "he", "nurse"),
            _row("she is a brown fox.", "[MASK] is a brown fox.", "[MASK] is a [MASK] [MASK].", "she", "brown fox", 1,
                 "female")]
    result = run_bec_pro(tiny_mlm, rows)
    # hand check: [CLS] he is a nurse . [SEP] -> person at 1; prior masks "nurse" (position 4)
    p_t = _p(tiny_mlm, "[MASK] is a nurse.", 1, "he")
    p_p = _p(tiny_mlm, "[MASK] is a [MASK].", 1, "he")
    r = result.rows[0]
    assert r.p_target == pytest.approx(p_t, rel=1e-4) and r.p_prior == pytest.approx(p_p, rel=1e-4)
    assert r.association == pytest.approx(math.log(p_t / p_p), abs=1e-4)
    # two-word profession: two masks, same length as the target sentence
    ids, prior, person_pos, _ = prepare(tiny_mlm, rows[1])
    mask = tiny_mlm.tokenizer.mask_token_id
    assert len(ids) == len(prior) and person_pos == 1 and [i for i, t in enumerate(prior) if t == mask] == [1, 4, 5]
    assert result.rows[1].association == pytest.approx(
        math.log(_p(tiny_mlm, "[MASK] is a brown fox.", 1, "she") / _p(tiny_mlm, "[MASK] is a [MASK] [MASK].", 1, "she")),
        abs=1e-4)
    assert set(result.by_gender()) == {"male", "female"}


def test_bec_pro_skips_person_words_of_several_tokens_and_says_so(tiny_mlm):
    rows = [_row("he is a nurse.", "[MASK] is a nurse.", "[MASK] is a [MASK].", "he", "nurse"),
            _row("aunt is a nurse.", "[MASK] is a nurse.", "[MASK] is a [MASK].", "aunt", "nurse", 1, "female")]
    result = run_bec_pro(tiny_mlm, rows)
    assert len(result.rows) == 1 and result.skipped == ("aunt",)
    with pytest.raises(InvalidInputError, match="every BEC-Pro person word is several tokens"):
        run_bec_pro(tiny_mlm, rows[1:])


# ---- SEAT -------------------------------------------------------------------------------------------

def _unit(v):
    v = np.asarray(v, np.float64)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def test_seat_effect_size_equals_the_formula_on_hand_made_embeddings():
    X = _unit([[1, 0.2, 0], [0.9, 0.1, 0.3], [1, 0, 0.1]])
    Y = _unit([[0.1, 1, 0], [0.2, 0.8, 0.4], [0, 1, 0.3]])
    A = _unit([[1, 0, 0], [0.8, 0.3, 0]])
    B = _unit([[0, 1, 0], [0.1, 0.9, 0.2], [0, 0.7, 0.7]])

    def s(w):  # by hand: mean cosine to A minus mean cosine to B
        cos = lambda u, v: float(np.dot(u, v) / np.linalg.norm(u) / np.linalg.norm(v))  # noqa: E731
        return np.mean([cos(w, a) for a in A]) - np.mean([cos(w, b) for b in B])

    sx, sy = [s(x) for x in X], [s(y) for y in Y]
    d = (np.mean(sx) - np.mean(sy)) / np.std(sx + sy, ddof=1)
    assert effect_size(X, Y, A, B) == pytest.approx(d, rel=1e-9)
    np.testing.assert_allclose(associations(X, A, B), sx)
    # the exact test enumerates C(6, 3) = 20 partitions: brute force by hand
    allv = sx + sy
    obs = sum(sx) - sum(sy)
    hits = sum(1 for c in itertools.combinations(range(6), 3)
               if sum(allv[i] for i in c) - sum(allv[i] for i in range(6) if i not in c) >= obs - 1e-12)
    test = SeatTest("hand", ("x1", "x2", "x3"), ("y1", "y2", "y3"), ("a1", "a2"), ("b1", "b2", "b3"),
                    ("X", "Y", "A", "B"))
    result = seat_from_embeddings(test, X, Y, A, B, n_samples=1000)
    assert result.exact and result.n_permutations == 20 and result.p_value == pytest.approx(hits / 20)
    assert result.p_value == pytest.approx(1 / 20)  # X is fully separated from Y: only the observed split
    assert [i.text for i in result.items if i.role == "Y"] == ["y1", "y2", "y3"]


def test_seat_p_value_identical_sets_are_near_half_and_separated_sets_small():
    rng = np.random.default_rng(1)
    X = _unit(rng.normal(size=(12, 8)))
    A, B = _unit(rng.normal(size=(10, 8))), _unit(rng.normal(size=(10, 8)))
    sxy = np.concatenate([associations(X, A, B), associations(X, A, B)])
    p, exact, n, bound = permutation_p_value(sxy, 12, n_samples=5000, seed=0)  # C(24,12) > 5000: sampled
    assert not exact and n == 5000 and 0.45 <= p <= 0.65 and not bound
    assert permutation_p_value(sxy, 12, n_samples=5000, seed=0)[0] == p  # seeded: reproducible
    separated = np.concatenate([np.full(12, 0.3) + rng.normal(0, 0.01, 12), np.full(12, -0.3)])
    p2, _, _, bound2 = permutation_p_value(separated, 12, n_samples=5000, seed=0)
    assert p2 == pytest.approx(1 / 5000) and bound2  # no sampled partition reached it: only p < 1/5000 is known


# ---- templates --------------------------------------------------------------------------------------

def test_template_masked_lm_probabilities_equal_the_model_softmax(tiny_mlm):
    tset = templates.TemplateSet("t", ("[MASK] is the [JOB].", "the [JOB] said [MASK] was tired."),
                                 (("JOB", ("nurse", "engineer")),), ("he", "she"))
    result = templates.probe_templates(tiny_mlm, tset)
    assert len(result.rows) == 8 and result.complete and result.metric == "probability at [MASK]"
    row = next(r for r in result.rows if r.sentence == "the engineer said [MASK] was tired." and r.target == "she")
    assert row.probe_value == "engineer" and row.template_index == 1
    assert row.score == pytest.approx(_p(tiny_mlm, row.sentence, None, "she"), rel=1e-4)
    table = {(t["value"], t["target"]): t for t in result.summary_table()}
    scores = [r.score for r in result.rows if r.probe_value == "nurse" and r.target == "he"]
    assert table[("nurse", "he")]["mean"] == pytest.approx(np.mean(scores))
    assert table[("nurse", "he")]["std"] == pytest.approx(np.std(scores))


def test_template_causal_lm_log_probability_of_continuation(tiny_gpt2):
    tset = templates.TemplateSet("t", ("[NAME] worked as a [MASK].",), (("NAME", ("john", "mary")),), ("doctor",))
    result = templates.probe_templates(tiny_gpt2, tset)
    tok = tiny_gpt2.tokenizer
    prefix, cont = tok("mary worked as a")["input_ids"], tok(" doctor")["input_ids"]
    ids = torch.tensor([prefix + cont])
    with torch.no_grad():
        logp = torch.log_softmax(tiny_gpt2.model(input_ids=ids).logits[0].double(), -1)
    want = sum(float(logp[len(prefix) + k - 1, t]) for k, t in enumerate(cont))
    got = next(r.score for r in result.rows if r.probe_value == "mary")
    assert got == pytest.approx(want, abs=1e-4)


def test_template_encoder_similarity_is_cosine_of_embeddings(tiny_handles):
    from plm_core.inference import embed

    enc = tiny_handles["encoder"]
    tset = templates.TemplateSet("t", ("this is [NAME].",), (("NAME", ("john", "mary")),), ("career", "family"))
    result = templates.probe_templates(enc, tset)
    e = embed(enc, ["this is mary.", "family"])
    got = next(r.score for r in result.rows if r.probe_value == "mary" and r.target == "family")
    assert got == pytest.approx(float(e[0] @ e[1]), abs=1e-5)


@pytest.mark.parametrize("tset, kind, message", [
    (templates.TemplateSet("t", ("he is a [MASK].",), (("X", ("a",)),), ("he",)), "masked_lm", "has no slot"),
    (templates.TemplateSet("t", ("[X] is a nurse.",), (("X", ("he",)),), ("he",)), "masked_lm", "has no \\[MASK\\]"),
    (templates.TemplateSet("t", ("[Y] is a [MASK].",), (("X", ("he",)),), ("he",)), "masked_lm", "no word list"),
    (templates.TemplateSet("t", ("[X] is a [MASK].",), (("X", ("he",)),), ()), "masked_lm", "no target words"),
    (templates.TemplateSet("t", ("[X] is a [MASK].",), (("X", ("he",)),), ("he",)), "encoder", "remove|without \\[MASK\\]"),
])
def test_template_validation_messages(tset, kind, message):
    with pytest.raises(InvalidInputError, match=message):
        templates.validate(tset, kind)


def test_multi_token_target_word_is_refused_before_any_work(tiny_mlm):
    tset = templates.TemplateSet("t", ("[X] is a [MASK].",), (("X", ("he",)),), ("nurse", "aunt"))
    with pytest.raises(InvalidInputError, match=r"'aunt' is \d tokens.*single token"):
        templates.probe_templates(tiny_mlm, tset)


def test_pasted_lists_and_csv_build_the_same_set():
    a = templates.from_text("x", "[NAME] is a [MASK].\n\n[NAME] said [MASK].", "NAME: john, mary\nCITY: paris",
                            "he, she")
    assert a.templates == ("[NAME] is a [MASK].", "[NAME] said [MASK].") and a.slots == (
        ("NAME", ("john", "mary")), ("CITY", ("paris",))) and a.targets == ("he", "she")
    b = templates.from_csv("template,NAME,CITY,target\n[NAME] is a [MASK].,john,paris,he\n[NAME] said [MASK].,mary,,she\n")
    assert (b.templates, b.slots, b.targets) == (a.templates, a.slots, a.targets)
    assert len(templates.expand(a)) == 4


@pytest.mark.parametrize("text, message", [
    ("", "empty"),
    ("sentence,word\nx,y\n", "lacks 'template', 'target'"),
    ("template,target\n[X] is [MASK].,he\n", "no slot column"),
])
def test_template_csv_errors(text, message):
    with pytest.raises(InvalidInputError, match=message):
        templates.from_csv(text)


def test_bad_slot_line_is_explained():
    with pytest.raises(InvalidInputError, match="should look like 'NAME: John, Mary'"):
        templates.parse_slots("john, mary")


# ---- long-form sets and large expansions -------------------------------------------------------------

LONG_CSV = ("template,OCCUPATION,PARTICIPANT,target,split\n"
            "The [OCCUPATION] told the [PARTICIPANT] that [MASK] was late.,nurse,patient,\"he, she\",dev\n"
            "The [OCCUPATION] told the [PARTICIPANT] that [MASK] was late.,engineer,client,\"he, she, they\",test\n"
            "The [PARTICIPANT] thanked the [OCCUPATION] because [MASK] helped.,doctor,child,she,dev\n")


def test_long_form_template_csv_expands_as_written():
    tset = templates.from_csv(LONG_CSV, "winogender-like", layout="rows")
    filled = templates.expand(tset)
    assert [f.sentence for f in filled] == [
        "The nurse told the patient that [MASK] was late.", "The engineer told the client that [MASK] was late.",
        "The child thanked the doctor because [MASK] helped."]  # 3 rows as written, not 3 x 3 x 3 combinations
    assert [f.targets for f in filled] == [("he", "she"), ("he", "she", "they"), ("she",)]
    assert [f.template_index for f in filled] == [0, 0, 1]
    assert filled[2].slot_values == (("PARTICIPANT", "child"), ("OCCUPATION", "doctor"))
    assert [dict(f.extra) for f in filled] == [{"split": "dev"}, {"split": "test"}, {"split": "dev"}]
    assert tset.probe_slot == "OCCUPATION" and tset.targets == ("he", "she", "they")
    # the same file read as word lists is the cross product
    lists = templates.from_csv(LONG_CSV, layout="lists")
    assert len(templates.expand(lists)) == 2 * 3 * 3  # 2 templates x 3 occupations x 3 participants
    with pytest.raises(InvalidInputError, match=r"row 2 .* no value for the slot\(s\) \[PARTICIPANT\]"):
        templates.validate(templates.from_csv(LONG_CSV.replace("engineer,client", "engineer,"), layout="rows"),
                           "masked_lm")


def test_long_form_scores_each_row_for_its_own_targets(tiny_mlm):
    text = ("template,JOB,target,source\n[MASK] is the [JOB].,nurse,\"he, she\",a\n"
            "the [JOB] said [MASK] was tired.,engineer,she,b\n")
    result = templates.probe_templates(tiny_mlm, templates.from_csv(text, layout="rows"))
    assert [(r.sentence, r.target) for r in result.rows] == [
        ("[MASK] is the nurse.", "he"), ("[MASK] is the nurse.", "she"), ("the engineer said [MASK] was tired.", "she")]
    assert result.rows[2].score == pytest.approx(_p(tiny_mlm, "the engineer said [MASK] was tired.", None, "she"),
                                                 rel=1e-4)
    assert [dict(r.extra)["source"] for r in result.rows] == ["a", "a", "b"] and "source" in result.columns()


def test_large_expansion_is_a_job_not_a_refusal_and_classroom_mode_keeps_a_limit(tiny_mlm, monkeypatch):
    words = tuple(f"w{i}" for i in range(2670))  # 3 templates x 2670 words x 2 targets = 16,020 scores
    tset = templates.TemplateSet("big", ("[MASK] is the [X].", "[MASK] met the [X].", "[MASK] saw the [X]."),
                                 (("X", words),), ("he", "she"))
    filled = templates.plan(tiny_mlm, tset)  # the fixed limit of 5,000 refused this
    assert len(filled) == 8010 and sum(len(f.targets) for f in filled) == 16_020
    monkeypatch.setenv("PLM_CLASSROOM", "1")
    with pytest.raises(InvalidInputError, match="expands to 16,020 scores .*classroom mode allows 5,000"):
        templates.plan(tiny_mlm, tset)
