"""Attribution of a forced continuation (per token and whole sequence) and scores grouped by segment (issue 22,
item 5): one continuation token equals the next-token attribution; the sequence objective is the sum of the
tokens' log-probabilities; segment scores add up to the token scores."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from plm_core.attribution import Target, attribute
from plm_core.attribution.continuation import attribute_continuation
from plm_core.attribution.segments import group_scores
from plm_core.errors import InvalidInputError, UnsupportedModelError

PROMPT = "the cat sat on the"


@pytest.mark.parametrize("kind", ["causal_lm", "llama"])
def test_one_continuation_token_equals_the_next_token_attribution(tiny_handles, kind):
    handle = tiny_handles[kind]
    cont = attribute_continuation(handle, PROMPT, " mat", "input_x_gradient")
    assert len(cont.continuation_ids) >= 1
    first = cont.per_token[0]
    ref = attribute(handle, PROMPT, "input_x_gradient",
                    target=Target("next_token", token_id=cont.continuation_ids[0]))
    assert first.encoding.input_ids == ref.encoding.input_ids
    np.testing.assert_allclose(first.scores, ref.scores, rtol=1e-5, atol=1e-6)
    assert first.f_x == pytest.approx(ref.f_x, rel=1e-5)


def test_sequence_objective_is_the_sum_of_log_probabilities(tiny_gpt2):
    handle = tiny_gpt2
    cont = attribute_continuation(handle, PROMPT, " mat because it was", "integrated_gradients", n_steps=64)
    ids = list(cont.sequence.encoding.input_ids) + [cont.continuation_ids[-1]]
    with torch.no_grad():
        logp = handle.model(input_ids=torch.tensor([ids])).logits[0].double().log_softmax(-1)
    p = len(ids) - len(cont.continuation_ids)
    own = [float(logp[p - 1 + t, i]) for t, i in enumerate(cont.continuation_ids)]
    np.testing.assert_allclose(cont.log_probs, own, atol=1e-5)
    assert cont.sequence.f_x == pytest.approx(sum(own), abs=1e-4)
    # IG completeness on the sequence objective
    assert abs(cont.sequence.convergence_delta) < 0.02 * max(1.0, abs(cont.sequence.f_x - cont.sequence.f_baseline))
    assert len(cont.per_token) == len(cont.continuation_ids)
    for t, res in enumerate(cont.per_token):  # token t is attributed to everything before it
        assert len(res.encoding) == p + t
        assert res.f_x == pytest.approx(np.exp(own[t]), rel=1e-4)


def test_continuation_refused_where_it_does_not_fit(tiny_handles):
    with pytest.raises(UnsupportedModelError, match="causal language models only"):
        attribute_continuation(tiny_handles["masked_lm"], PROMPT, " mat")
    with pytest.raises(InvalidInputError, match="continuation is empty"):
        attribute_continuation(tiny_handles["causal_lm"], PROMPT, "  ")


def test_segment_scores_add_up_to_the_token_scores(tiny_mlm):
    text = "the cat sat on the mat. the dog ran! was it tired?\nyes it was"
    res = attribute(tiny_mlm, text.replace("mat", "[MASK]"), "input_x_gradient")
    for by in ("sentence", "line"):
        seg = group_scores(res.encoding, res.scores, by)
        assert seg.scores.sum() == pytest.approx(float(res.scores.astype(np.float64).sum()), abs=1e-5)
        for k in range(len(seg.labels)):  # each segment is the sum of its tokens
            own = sum(float(s) for s, g in zip(res.scores, seg.token_segment) if g == k)
            assert seg.scores[k] == pytest.approx(own, abs=1e-6)
    sentences = group_scores(res.encoding, res.scores, "sentence")
    assert [lab for lab in sentences.labels if lab != "special tokens"] == [
        "the cat sat on the [MASK].", "the dog ran!", "was it tired?", "yes it was"]
    assert len(group_scores(res.encoding, res.scores, "line").labels) == 3  # two lines + specials
    spans = group_scores(res.encoding, res.scores, "spans", spans=[(4, 7)])  # "cat"
    assert "cat" in spans.labels
    assert spans.scores.sum() == pytest.approx(float(res.scores.astype(np.float64).sum()), abs=1e-5)
    with pytest.raises(InvalidInputError):
        group_scores(res.encoding, res.scores, "spans", spans=[(0, 5), (3, 8)])


def test_segments_of_a_continuation(tiny_gpt2):
    cont = attribute_continuation(tiny_gpt2, "the cat sat. the dog", " ran. it was", "input_x_gradient",
                                  per_token=False)
    seg = group_scores(cont.sequence.encoding, cont.sequence.scores, "sentence")
    assert seg.scores.sum() == pytest.approx(float(cont.sequence.scores.astype(np.float64).sum()), abs=1e-5)
    assert seg.labels[0].startswith("the cat sat.")


def test_every_row_of_a_file_attributed_and_exported(tiny_mlm):
    import io as _io

    import pandas as pd

    from plm_core.attribution.batch import attribute_rows, read_rows, to_csv, to_json

    data = "the cat [MASK] on the mat\n\n=cmd|' /C calc'!A0 [MASK]\nno mask here\n".encode()
    rows = read_rows(data, "rows.txt")
    assert rows == ("the cat [MASK] on the mat", "=cmd|' /C calc'!A0 [MASK]", "no mask here")
    calls = []
    done = attribute_rows(tiny_mlm, rows, "input_x_gradient", progress=lambda d, n: calls.append((d, n)))
    assert [r.row for r in done] == [0, 1, 2] and calls[-1] == (3, 3)
    assert done[2].result is None and "[MASK]" in done[2].error  # that row's reason; the others go on
    one = attribute(tiny_mlm, rows[0], "input_x_gradient")
    np.testing.assert_allclose(done[0].result.scores, one.scores, atol=1e-6)
    table = pd.read_csv(_io.StringIO(to_csv(done)))
    assert set(table["row"]) == {0, 1, 2}
    assert not any(str(t).startswith("=") for t in table["text"])  # never a spreadsheet formula
    np.testing.assert_allclose(table[table["row"] == 0]["score"].to_numpy(), one.scores, atol=1e-6)
    assert '"rows"' in to_json(done)
    stopped = attribute_rows(tiny_mlm, rows, "input_x_gradient", should_stop=lambda: True)
    assert stopped == ()
    resumed = attribute_rows(tiny_mlm, rows, "input_x_gradient", start=2)
    assert [r.row for r in resumed] == [2]
    with pytest.raises(InvalidInputError):
        read_rows(b"a,b\n1,2\n", "x.csv")
