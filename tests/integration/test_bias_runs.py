"""Bias runs across processes: a run scored in one process is read back by a fresh store object in another (a
server restart), and a run whose process was SIGKILLed resumes from its last stored chunk without rescoring one
(model calls counted with a forward hook)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from plm_core.bias import jobs
from plm_core.bias.crows_pairs import run_crows_pairs, score_pairs
from plm_core.bias.datasets import CrowsPair
from plm_core.bias.store import RunStore

ROOT = Path(__file__).resolve().parents[2]
SENTENCES = [("the man was a nurse", "the woman was a nurse"), ("he is a black man", "he is a white man"),
             ("the poor man is lazy", "the rich man is lazy"), ("she is a good wife", "he is a good wife"),
             ("the old man was tired", "the young man was tired"), ("he is a doctor", "she is a doctor")]
PAIRS = tuple(CrowsPair(i, *SENTENCES[i % 6], "stereo", ("gender", "race-color")[i % 2]) for i in range(12))


class ForwardCounter:
    """Counts the sequences the model embeds (every forward, through the full model or its body)."""

    def __init__(self, handle):
        self.rows = 0
        self._hook = handle.model.get_input_embeddings().register_forward_hook(self._count)

    def _count(self, module, args, output):
        self.rows += int(args[0].shape[0])

    def close(self):
        self._hook.remove()


def _script(body: str) -> str:
    return textwrap.dedent(f"""
        import os, sys
        sys.path.insert(0, {str(ROOT)!r})
        from plm_core.loading import ModelSpec, load_model
        from plm_core.bias import jobs
        from plm_core.bias.store import RunStore
        from plm_core.bias.datasets import CrowsPair
        from plm_core.bias.crows_pairs import crows_config
        SENTENCES = {SENTENCES!r}
        PAIRS = tuple(CrowsPair(i, *SENTENCES[i % 6], "stereo", ("gender", "race-color")[i % 2]) for i in range(12))
        handle = load_model(ModelSpec(sys.argv[1], device="cpu"))
        store = RunStore(sys.argv[2])
    """) + textwrap.dedent(body)


def _run(script: str, *args: str) -> subprocess.CompletedProcess:
    env = os.environ | {"HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    return subprocess.run([sys.executable, "-c", script, *args], capture_output=True, text=True, env=env, timeout=300)


def test_a_run_survives_a_restart(tiny_dirs, tiny_mlm, tmp_path):
    """Scored and stored in another process; read back by a fresh store object in this one."""
    path = tmp_path / "runs.sqlite3"
    proc = _run(_script("""
        config = crows_config(handle.model_id, handle.revision, None, "hand-made", sample_size=None, seed=0)
        run_id = jobs.create_run(store, "crows_pairs", config, PAIRS)
        jobs.run_to_end(store, run_id, handle, chunk=5)
        print(run_id)
    """), str(tiny_dirs["masked_lm"]), str(path))
    assert proc.returncode == 0, proc.stderr
    run_id = int(proc.stdout.split()[-1])
    store = RunStore(path)
    info = store.run(run_id)
    assert (info.status, info.n_done, info.n_items, info.probe) == ("complete", 12, 12, "crows_pairs")
    assert info.model_id == str(tiny_dirs["masked_lm"]) and info.config["data"] == "hand-made"
    assert [(c["start"], c["stop"]) for c in store.chunks(run_id)] == [(0, 5), (5, 10), (10, 12)]
    result = jobs.load_result(store, run_id)
    direct = {r.index: r for r in score_pairs(tiny_mlm, PAIRS)}
    assert len(result.rows) == 12 and result.config["run_id"] == run_id
    np.testing.assert_allclose([r.score_more for r in result.rows], [direct[r.index].score_more for r in result.rows],
                               rtol=1e-5)
    assert result.metric == pytest.approx(run_crows_pairs(tiny_mlm, PAIRS).metric)


def test_a_killed_run_resumes_without_rescoring_stored_chunks(tiny_dirs, tiny_mlm, tmp_path):
    path = tmp_path / "runs.sqlite3"
    # the scoring process is SIGKILLed right after its second chunk was stored
    proc = _run(_script("""
        import signal
        config = crows_config(handle.model_id, handle.revision, None, "hand-made")
        run_id = jobs.create_run(store, "crows_pairs", config, PAIRS)
        print(run_id, flush=True)
        def progress(done, total):
            if done >= 8:
                os.kill(os.getpid(), signal.SIGKILL)
        jobs.run_to_end(store, run_id, handle, chunk=4, progress=progress)
    """), str(tiny_dirs["masked_lm"]), str(path))
    assert proc.returncode == -9, proc.stderr
    run_id = int(proc.stdout.split()[0])
    store = RunStore(path)
    info = store.run(run_id)
    # killed: nobody marked it stopped, but its holder's process is gone, so it reads as stopped and is free at once
    # (not after the lease's 60 s)
    assert (info.n_done, info.status, info.lease_owner) == (8, "stopped", "")
    stored = {r["index"] for r in store.rows(run_id)}
    remaining = [jobs.from_plain(CrowsPair, d) for d in store.items(run_id, 8)]
    assert len(stored) == 8 and {p.index for p in remaining}.isdisjoint(stored)

    counter = ForwardCounter(tiny_mlm)
    try:
        score_pairs(tiny_mlm, remaining)
        remaining_rows = counter.rows
        counter.rows = 0
        score_pairs(tiny_mlm, PAIRS)
        all_rows = counter.rows
        counter.rows = 0
        result = jobs.run_to_end(store, run_id, tiny_mlm, chunk=4)  # resume
        resumed_rows = counter.rows
    finally:
        counter.close()
    assert resumed_rows == remaining_rows < all_rows  # only the unscored pairs went through the model
    assert store.run(run_id).status == "complete" and len(result.rows) == 12
    assert sorted(r.index for r in result.rows) == list(range(12))
    full = {r.index: r for r in score_pairs(tiny_mlm, PAIRS)}
    np.testing.assert_allclose([r.score_less for r in result.rows], [full[r.index].score_less for r in result.rows],
                               rtol=1e-5)
