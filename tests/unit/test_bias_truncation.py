"""Issue 25, item 2: a CrowS-Pairs pair the model saw cut (longer than its limit) is flagged in its row with the
token counts, counted apart, and left out of the headline estimate and its interval unless included."""

from __future__ import annotations

import dataclasses
import io
import json

import pandas as pd
import pytest

from plm_core.bias import jobs
from plm_core.bias.crows_pairs import crows_config, run_crows_pairs
from plm_core.bias.datasets import CrowsPair
from plm_core.bias.store import RunStore

SHORT = [("the man was a nurse", "the woman was a nurse"), ("he is a doctor", "she is a doctor"),
         ("the cat sat on the mat", "the dog sat on the mat"), ("a man ran", "a woman ran"),
         ("she is a nurse", "he is a nurse"), ("the dog ran home", "the cat ran home")]


def pairs_with_long_ones(handle) -> tuple[list[CrowsPair], set[int]]:
    filler = " and the cat sat on the mat" * (handle.max_tokens // 4)
    pairs = [CrowsPair(k, a, b, "stereo" if k % 2 else "antistereo", "gender" if k < 3 else "age")
             for k, (a, b) in enumerate(SHORT)]
    long = {len(pairs), len(pairs) + 1, len(pairs) + 2}
    pairs += [CrowsPair(len(SHORT), "the man was a nurse" + filler, "the woman was a nurse" + filler, "stereo", "gender"),
              CrowsPair(len(SHORT) + 1, "he is a doctor", "she is a doctor" + filler, "stereo", "age"),
              CrowsPair(len(SHORT) + 2, "a man ran" + filler, "a woman ran", "antistereo", "gender")]
    return pairs, long


def test_cut_pairs_are_flagged_counted_apart_and_left_out_of_the_headline(tiny_mlm):
    pairs, long = pairs_with_long_ones(tiny_mlm)
    store = RunStore()
    run_id = jobs.create_run(store, "crows_pairs", crows_config(tiny_mlm.model_id, None, [], "test"), pairs)
    result = jobs.run_to_end(store, run_id, tiny_mlm)
    tok = tiny_mlm.tokenizer
    for r in result.rows:
        n_more, n_less = (len(tok(t, truncation=False, verbose=False)["input_ids"]) for t in (r.sent_more, r.sent_less))
        assert (r.n_tokens_more, r.n_tokens_less, r.limit) == (n_more, n_less, tiny_mlm.max_tokens)
        assert r.truncated == (r.index in long) == (max(n_more, n_less) > tiny_mlm.max_tokens)
    assert result.n_truncated == 3

    # the headline and its interval: exactly the estimate on the uncut pairs alone
    whole = run_crows_pairs(tiny_mlm, [p for p in pairs if p.index not in long])
    assert whole.n_truncated == 0
    assert result.metric == pytest.approx(whole.metric)
    assert [dataclasses.astuple(e) for e in result.estimates("bias_type")] == \
        [dataclasses.astuple(e) for e in whole.estimates("bias_type")]
    assert result.estimates(None)[0].n == len(SHORT)

    # included on request: every scored pair counts
    included = dataclasses.replace(result, include_truncated=True)
    assert included.estimates(None)[0].n == len(pairs)
    assert included.metric == pytest.approx(100 * sum(r.more_higher for r in result.rows) / len(pairs))

    # the summary, JSON and CSVs carry the count and the flag
    summary = json.loads(result.to_json())["summary"]
    assert summary["n_truncated"] == 3 and summary["truncated_included"] is False and summary["n_scored"] == 9
    frame = pd.read_csv(io.StringIO(result.summary_csv("bias_type")))
    assert set(frame["n_truncated"]) == {3} and not frame["truncated_included"].any()
    rows = pd.read_csv(io.StringIO(result.to_csv()))
    assert sorted(rows.loc[rows["truncated"], "index"]) == sorted(long)


def test_bec_pro_rows_cut_are_flagged_and_left_out(tiny_mlm):
    from plm_core.bias import stats
    from plm_core.bias.bec_pro import BecProResult, score_rows
    from plm_core.bias.datasets import BecProRow

    tail = " and the cat sat on the mat" * (tiny_mlm.max_tokens // 4)

    def row(k, person, gender, profession, long=False):
        extra = tail if long else ""
        return BecProRow(k, f"{person} is a {profession}{extra}", f"[MASK] is a {profession}{extra}",
                         f"[MASK] is a [MASK]{extra}", "t", person, gender, profession, "female", person_rank=0)

    rows = [row(0, "he", "male", "nurse"), row(1, "she", "female", "nurse"), row(2, "he", "male", "doctor"),
            row(3, "she", "female", "doctor"), row(4, "he", "male", "cat", long=True),
            row(5, "she", "female", "cat", long=True)]
    scores, _skipped = score_rows(tiny_mlm, rows)
    result = BecProResult(tiny_mlm.model_id, scores, (), {}, len(rows))
    assert [r.truncated for r in sorted(scores, key=lambda r: r.index)] == [False] * 4 + [True] * 2
    assert result.n_truncated == 2
    whole = [r.association for r in scores if r.index < 4]
    assert result.estimates(None)[0] == stats.mean_estimate("overall", "all", whole)
    assert json.loads(result.to_json())["summary"]["n_truncated"] == 2
    assert dataclasses.replace(result, include_truncated=True).estimates(None)[0].n == 6


def test_a_seat_sentence_over_the_limit_is_refused_not_cut(tiny_handles):
    from plm_core.bias.datasets import SeatTest
    from plm_core.bias.seat import run_seat
    from plm_core.errors import InvalidInputError

    encoder = tiny_handles["encoder"]
    long = "the cat sat on the mat" + " and the dog ran" * encoder.max_tokens
    cats = ("X", "Y", "A", "B")
    test = SeatTest("t", ("a man", "a boy"), ("a woman", long), ("good",), ("bad",), cats)
    with pytest.raises(InvalidInputError, match="1 sentence"):
        run_seat(encoder, test, n_samples=100, n_bootstrap=100)
    ok = SeatTest("t", ("a man", "a boy"), ("a woman", "a girl"), ("good",), ("bad",), cats)
    assert run_seat(encoder, ok, n_samples=100, n_bootstrap=100).items
