"""Issue 24, item 4: bias data as researchers write it. A published-style TSV (one template per row, its own
occupation and participant, `$OCCUPATION` slots, pronoun slots by case) loads with only a mapping step; per-row
contrasts (he − she − they) equal a hand computation with the model itself; cases stay apart; probability
intervals stay inside [0, 1] (hypothesis); the paired test between two models equals the exact McNemar test by
hand and scipy's Wilcoxon."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.stats
import torch
from hypothesis import given, settings
from hypothesis import strategies as hs

from plm_core.bias import paired, stats, templates
from plm_core.bias.crows_pairs import CrowsPairRow
from plm_core.bias.templates import TemplateResult, TemplateRow, TemplateSet
from plm_core.errors import InvalidInputError

# written for this test in the layout Winogender's templates.tsv uses (Rudinger et al. 2018): tab-separated,
# the occupation and participant in their own columns, slots written $OCCUPATION, $NOM_PRONOUN, ...
TSV = ("occupation(0)\tother-participant(1)\tanswer\tsentence\n"
       "nurse\tman\t1\tThe $OCCUPATION told the $PARTICIPANT that $NOM_PRONOUN was tired.\n"
       "doctor\twoman\t0\tThe $OCCUPATION gave the $PARTICIPANT $POSS_PRONOUN book.\n"
       "teacher\tboy\t1\tThe $PARTICIPANT saw the $OCCUPATION with $ACC_PRONOUN.\n"
       "engineer\tgirl\t0\tThe $OCCUPATION told the $PARTICIPANT that $NOM_PRONOUN was happy.\n"
       "secretary\tman\t1\tThe $PARTICIPANT met the $OCCUPATION and $POSS_PRONOUN family.\n"
       "lawyer\twoman\t1\tThe $OCCUPATION said that $NOM_PRONOUN was rich.\n")


def test_a_published_style_tsv_loads_with_only_the_mapping_step():
    columns, rows = templates.read_table(TSV, "templates.tsv")
    assert columns == ["occupation(0)", "other-participant(1)", "answer", "sentence"] and len(rows) == 6
    mapping = templates.suggest_mapping(columns, rows)
    assert mapping.template_column == "sentence"
    assert dict(mapping.slot_columns) == {"OCCUPATION": "occupation(0)", "PARTICIPANT": "other-participant(1)"}
    assert dict(mapping.target_slots) == {"NOM_PRONOUN": ("he", "she", "they"), "POSS_PRONOUN": ("his", "her", "their"),
                                          "ACC_PRONOUN": ("him", "her", "them")}
    tset = templates.from_table(TSV, "templates.tsv", mapping)
    first = tset.instances[0]
    assert first.template == "The [OCCUPATION] told the [PARTICIPANT] that [MASK] was tired."
    assert dict(first.slot_values) == {"OCCUPATION": "nurse", "PARTICIPANT": "man"}
    assert dict(first.extra) == {"answer": "1", "case": "NOM_PRONOUN"}
    assert [f.sentence for f in templates.expand(tset)][:2] == [
        "The nurse told the man that [MASK] was tired.", "The doctor gave the woman [MASK] book."]


@pytest.mark.parametrize("header, template", [("template", "the {occupation} said that {pronoun} was tired ."),
                                              ("template", "the [occupation] said that [PRONOUN] was tired ."),
                                              ("sentence", "the $occupation said that $PRONOUN was tired .")])
def test_every_published_slot_syntax_reads_the_same(header, template):
    text = f"{header},occupation\n{template},nurse\n{template},doctor\n"
    columns, rows = templates.read_table(text, "set.csv")
    mapping = templates.suggest_mapping(columns, rows)
    tset = templates.from_table(text, "set.csv", mapping)
    assert [f.sentence for f in templates.expand(tset)] == ["the nurse said that [MASK] was tired .",
                                                           "the doctor said that [MASK] was tired ."]
    assert tset.instances[0].targets == ("he", "she", "they")


def test_a_row_with_two_target_slots_or_an_unmapped_slot_is_refused_with_the_row():
    text = "sentence\toccupation\nThe $OCCUPATION said $NOM_PRONOUN lost $POSS_PRONOUN key.\tnurse\n"
    columns, rows = templates.read_table(text, "t.tsv")
    with pytest.raises(InvalidInputError, match="row 1 .* two target slots"):
        templates.from_table(text, "t.tsv", templates.suggest_mapping(columns, rows))
    text = "sentence\toccupation\nThe $OCCUPATION met the $PARTICIPANT; $NOM_PRONOUN left.\tnurse\n"
    columns, rows = templates.read_table(text, "t.tsv")
    with pytest.raises(InvalidInputError, match=r"row 1 .*\[PARTICIPANT\].* does not place"):
        templates.from_table(text, "t.tsv", templates.suggest_mapping(columns, rows))


def _p_at_mask(handle, sentence: str, words: tuple[str, ...]) -> list[float]:
    """The model's own probabilities at [MASK], straight from transformers (not plm_core's scoring)."""
    tok, model = handle.tokenizer, handle.model
    enc = tok(sentence.replace("[MASK]", tok.mask_token), return_tensors="pt")
    pos = int((enc["input_ids"][0] == tok.mask_token_id).nonzero()[0, 0])
    with torch.no_grad():
        probs = torch.softmax(model(**enc).logits[0, pos].double(), -1)
    return [float(probs[tok.convert_tokens_to_ids(w)]) for w in words]


def test_per_row_contrasts_equal_a_hand_computation_and_cases_stay_apart(tiny_mlm):
    columns, rows = templates.read_table(TSV, "templates.tsv")
    tset = templates.from_table(TSV, "templates.tsv", templates.suggest_mapping(columns, rows))
    result = templates.probe_templates(tiny_mlm, tset)
    contrasts = result.contrasts()
    assert len(contrasts) == 6 * 3  # each row: a − b, a − c, b − c of its three targets
    for c in contrasts:
        pa, pb = _p_at_mask(tiny_mlm, c.sentence, (c.target_a, c.target_b))
        assert c.difference == pytest.approx(pa - pb, abs=1e-6)
    he_she = [c for c in contrasts if (c.target_a, c.target_b) == ("he", "she")]
    assert [c.case for c in he_she] == ["NOM_PRONOUN"] * 3
    # the paired test per case and pair: scipy's Wilcoxon on the same differences, t interval by hand
    tests = {(t.group, t.label_a, t.label_b): t for t in result.contrast_tests()}
    t = tests[("NOM_PRONOUN", "he", "she")]
    d = np.array([c.difference for c in he_she])
    assert t.n_pairs == 3 and t.mean_difference == pytest.approx(d.mean())
    assert t.p_value == pytest.approx(scipy.stats.wilcoxon(d).pvalue)
    half = scipy.stats.t.ppf(0.975, 2) * d.std(ddof=1) / math.sqrt(3)
    assert (t.ci_low, t.ci_high) == pytest.approx((d.mean() - half, d.mean() + half))
    # possessive and object "her" are never pooled: two targets in every table
    labels = {r["target"] for r in result.summary_table()}
    assert {"her (POSS_PRONOUN)", "her (ACC_PRONOUN)"} <= labels and "her" not in labels
    assert not any({c.target_a, c.target_b} == {"his", "him"} for c in contrasts)


def _rows(values: list[float]) -> tuple[TemplateRow, ...]:
    return tuple(TemplateRow(t, f"t{t}", (("JOB", "nurse"),), "nurse", f"s{t}", "he", v)
                 for t, v in enumerate(values))


@settings(max_examples=300, derandomize=True, database=None, deadline=None)
@given(hs.lists(hs.one_of(hs.floats(0, 1), hs.floats(0, 1e-4), hs.sampled_from([0.0, 1.0, 1e-12, 1 - 1e-12])),
                min_size=1, max_size=40))
def test_no_probability_interval_leaves_zero_one(values):
    """Masked-LM template means (probabilities): a t interval went below 0 for a quarter of a published set."""
    result = TemplateResult("m", "masked_lm", "p", TemplateSet("s", ("t",), (("JOB", ("nurse",)),), ("he",)),
                            _rows(values))
    for e in result.estimates():
        assert math.isnan(e.ci_low) or 0.0 <= e.ci_low <= e.estimate + 1e-12 <= e.ci_high + 2e-12 <= 1.0 + 2e-12


def test_logit_interval_by_hand():
    x = np.array([0.01, 0.02, 0.001, 0.3, 0.05])
    m, se = x.mean(), x.std(ddof=1) / math.sqrt(len(x))
    half = scipy.stats.t.ppf(0.975, len(x) - 1) * se / (m * (1 - m))
    logit = math.log(m / (1 - m))
    want = (1 / (1 + math.exp(-(logit - half))), 1 / (1 + math.exp(-(logit + half))))
    assert stats.logit_mean_interval(x) == pytest.approx(want)
    assert stats.mean_interval(x)[0] < 0 < stats.logit_mean_interval(x)[0]  # the t interval on p goes negative


def _crows(decisions: list[bool]) -> object:
    rows = tuple(CrowsPairRow(i, "gender", "stereo", "a", "b", 0.0, 0.0, 1, d, False) for i, d in enumerate(decisions))
    return type("R", (), {"rows": rows})()


def test_mcnemar_between_two_models_equals_the_exact_test_by_hand():
    # 20 pairs: 9 both prefer, 7 only A, 2 only B, 2 neither
    a = [True] * 9 + [True] * 7 + [False] * 2 + [False] * 2
    b = [True] * 9 + [False] * 7 + [True] * 2 + [False] * 2
    order = np.random.default_rng(0).permutation(20)  # matched by item, not by position
    result_b = _crows([b[i] for i in order])
    result_b.rows = tuple(sorted((r.__class__(**{**r.__dict__, "index": int(order[k])}) for k, r in
                                  enumerate(result_b.rows)), key=lambda r: r.index))
    res = paired.compare_models("crows_pairs", _crows(a), result_b, "A", "B")
    # exact McNemar: two-sided binomial test of the 7 vs 2 discordant pairs at 1/2, by hand
    p_hand = min(1.0, 2 * sum(math.comb(9, k) for k in range(0, 3)) / 2**9)
    assert res.discordant == (7, 2) and res.p_value == pytest.approx(p_hand) == pytest.approx(92 / 512)
    assert res.estimate_a == pytest.approx(80.0) and res.estimate_b == pytest.approx(55.0)
    d = np.array(a, float) - np.array(b, float)
    half = scipy.stats.t.ppf(0.975, 19) * d.std(ddof=1) / math.sqrt(20)
    assert res.difference == pytest.approx(25.0)
    assert (res.ci_low, res.ci_high) == pytest.approx((100 * (d.mean() - half), 100 * (d.mean() + half)))


def test_wilcoxon_between_two_models_on_template_scores_equals_scipy():
    rng = np.random.default_rng(1)
    x, y = rng.uniform(0, 0.5, 12), rng.uniform(0, 0.5, 12)
    mk = lambda v: TemplateResult("m", "encoder", "cos", TemplateSet("s", ("t",), (), ("he",)),  # noqa: E731
                                  tuple(TemplateRow(0, "t", (), "", f"s{i}", "he", float(s), (), i)
                                        for i, s in enumerate(v)))
    res = paired.compare_models("template", mk(x), mk(y), "A", "B")
    assert res.n_items == 12 and res.p_value == pytest.approx(scipy.stats.wilcoxon(x, y).pvalue)
    assert res.difference == pytest.approx(float((x - y).mean()))
