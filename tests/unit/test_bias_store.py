"""The bias run store in one process: chunks are never duplicated, a run keeps its model, template and SEAT runs
round-trip. (A restart and a killed process: tests/integration/test_bias_runs.py.)"""

from __future__ import annotations

import numpy as np
import pytest

from plm_core.bias import jobs, templates
from plm_core.bias.crows_pairs import crows_config, score_pairs
from plm_core.bias.datasets import CrowsPair
from plm_core.bias.store import RunStore
from plm_core.errors import InvalidInputError

SENTENCES = [("the man was a nurse", "the woman was a nurse"), ("he is a black man", "he is a white man"),
             ("the poor man is lazy", "the rich man is lazy"), ("she is a good wife", "he is a good wife"),
             ("the old man was tired", "the young man was tired"), ("he is a doctor", "she is a doctor")]
PAIRS = tuple(CrowsPair(i, *SENTENCES[i % 6], "stereo", ("gender", "race-color")[i % 2]) for i in range(12))


def test_chunks_are_never_stored_twice_and_a_run_keeps_its_model(tiny_mlm, tiny_handles, tmp_path):
    store = RunStore(tmp_path / "s.sqlite3")
    run_id = jobs.create_run(store, "crows_pairs", crows_config(tiny_mlm.model_id, None, None, "x"), PAIRS[:4])
    rows = score_pairs(tiny_mlm, PAIRS[:2])
    assert store.add_chunk(run_id, 0, 2, rows) == 2
    assert store.add_chunk(run_id, 0, 2, rows) == 2  # a second session's copy of the same chunk: ignored
    assert store.add_chunk(run_id, 3, 4, rows[:1]) == 2  # not the next chunk: ignored
    assert len(store.rows(run_id)) == 2
    with pytest.raises(InvalidInputError, match="cannot continue with"):
        jobs.score_next(store, run_id, tiny_handles["roberta_mlm"])
    store.set_status(run_id, "stopped")
    assert store.add_chunk(run_id, 2, 3, score_pairs(tiny_mlm, PAIRS[2:3])) == 3
    assert store.run(run_id).status == "stopped"  # a chunk in flight when Stop was pressed keeps "stopped"
    store.delete_run(run_id)
    assert store.runs() == [] and store.rows(run_id) == []
    with pytest.raises(InvalidInputError, match="no stored bias run #"):
        store.run(run_id)


def test_template_and_seat_runs_round_trip_through_the_store(tiny_mlm, tiny_handles, tmp_path):
    store = RunStore(tmp_path / "s.sqlite3")
    tset = templates.EXAMPLE_SETS["Pronouns for occupations"]
    items = templates.plan(tiny_mlm, tset)
    config = templates.template_config(tiny_mlm.model_id, None, tiny_mlm.kind, tset)
    run_id = jobs.create_run(store, "template", config, items)
    result = jobs.run_to_end(store, run_id, tiny_mlm, chunk=7)
    direct = templates.probe_templates(tiny_mlm, tset)
    assert result.complete and [(r.sentence, r.target) for r in result.rows] == [
        (r.sentence, r.target) for r in direct.rows]
    np.testing.assert_allclose([r.score for r in result.rows], [r.score for r in direct.rows], rtol=1e-4)

    from plm_core.bias.datasets import SeatTest
    from plm_core.bias.seat import run_seat

    enc = tiny_handles["encoder"]
    test = SeatTest("t", ("this is john.", "john is here.", "john works."), ("this is mary.", "mary is here.",
                    "mary works."), ("career", "office"), ("family", "home"), ("X", "Y", "A", "B"))
    run_id = jobs.create_run(store, "seat", {"model_id": enc.model_id, "test": "t", "n_samples": 1000,
                                             "n_bootstrap": 100}, (test,))
    stored = jobs.run_to_end(store, run_id, enc)
    direct = run_seat(enc, test, n_samples=1000, n_bootstrap=100)
    assert stored.effect_size == pytest.approx(direct.effect_size) and stored.p_value == direct.p_value
    assert stored.effect_size_ci == pytest.approx(direct.effect_size_ci) and stored.items == direct.items
