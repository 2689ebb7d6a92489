"""Issue 25, item 3 (and issue 24, item 3): a stored run is computed once however many sessions look at it — a
lease per running run, one worker per run — and a run whose scorer died reads as stopped after its lease."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import pytest

from plm_core.bias import jobs, worker
from plm_core.bias.crows_pairs import crows_config
from plm_core.bias.datasets import CrowsPair
from plm_core.bias.store import RunStore

SENTENCES = [("the man was a nurse", "the woman was a nurse"), ("he is a doctor", "she is a doctor"),
             ("the cat sat on the mat", "the dog sat on the mat"), ("a man ran", "a woman ran"),
             ("she is a nurse", "he is a nurse"), ("the dog ran home", "the cat ran home")]
PAIRS = [CrowsPair(k, a, b, "stereo", "gender") for k, (a, b) in enumerate(SENTENCES * 4)]  # 24 pairs, 3 chunks


class Forwards:
    """Counts forward calls of a model (a hook on its top module)."""

    def __init__(self, model):
        self.n = 0
        self._lock = threading.Lock()
        self._hook = model.register_forward_hook(self._count)

    def _count(self, *args):
        with self._lock:
            self.n += 1

    def remove(self):
        self._hook.remove()


def new_run(store, handle) -> int:
    return jobs.create_run(store, "crows_pairs", crows_config(handle.model_id, None, [], "test"), PAIRS)


@pytest.fixture
def body(tiny_mlm):
    """The module every CrowS-Pairs forward goes through (the MLM body, the head runs at the masks only)."""
    from plm_core.inference import lm_body_and_head

    split = lm_body_and_head(tiny_mlm.model)
    return split[0] if split is not None else tiny_mlm.model


def test_two_threads_resuming_one_run_compute_each_chunk_once(tiny_mlm, body):
    store = RunStore()
    counter = Forwards(body)
    try:
        alone = new_run(store, tiny_mlm)
        jobs.run_to_end(store, alone, tiny_mlm)
        once = counter.n
        assert once > 0
        counter.n = 0
        run_id = new_run(store, tiny_mlm)
        barrier, outcomes = threading.Barrier(2), []

        def resume():
            barrier.wait()
            try:
                jobs.run_to_end(store, run_id, tiny_mlm)
                outcomes.append("scored")
            except jobs.RunBusyError:
                outcomes.append("busy")

        threads = [threading.Thread(target=resume) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        counter.remove()
    assert sorted(outcomes) == ["busy", "scored"]
    assert counter.n == once  # every chunk computed once
    assert len(store.rows(run_id)) == len(PAIRS) and store.run(run_id).status == "complete"


def test_a_second_session_attaches_to_the_running_worker(tiny_mlm, body):
    store = RunStore()
    run_id = new_run(store, tiny_mlm)
    counter = Forwards(body)
    gate = threading.Event()

    def handle_of(info):
        gate.wait(30)  # the first chunk waits until the second session has asked too
        return tiny_mlm

    try:
        first = worker.start_worker(store, [run_id], handle_of)
        second = worker.start_worker(store, [run_id], handle_of)
        assert second is first and worker.worker_of(run_id) is first
        for _ in range(200):  # the worker takes the lease before it asks for the model
            if store.run(run_id).status == "running":
                break
            time.sleep(0.05)
        assert store.run(run_id).status == "running" and store.run(run_id).lease_owner == first.owner
        gate.set()
        assert worker.wait_all(120)
        reference = RunStore(store.path.with_name("ref.sqlite3"))
        counter_ref = counter.n
        counter.n = 0
        jobs.run_to_end(reference, new_run(reference, tiny_mlm), tiny_mlm)
        assert counter_ref == counter.n
    finally:
        counter.remove()
    assert store.run(run_id).status == "complete" and len(store.rows(run_id)) == len(PAIRS)


def test_stop_from_another_session_ends_the_worker_after_its_chunk(tiny_mlm):
    store = RunStore()
    run_id, queued = new_run(store, tiny_mlm), new_run(store, tiny_mlm)

    def handle_of(info):
        if store.run(info.run_id).n_done >= 8:
            store.request_stop(run_id)  # Stop pressed in some session while chunk 2 is scored
            store.request_stop(queued)
        return tiny_mlm

    worker.start_worker(store, [run_id, queued], handle_of)
    assert worker.wait_all(120)
    info, other = store.run(run_id), store.run(queued)
    assert (info.status, info.n_done, info.lease_owner) == ("stopped", 16, "")
    assert (other.status, other.n_done) == ("stopped", 0)
    jobs.run_to_end(store, run_id, tiny_mlm)  # resumable
    assert store.run(run_id).status == "complete" and len(store.rows(run_id)) == len(PAIRS)


def test_ctrl_c_marks_the_run_stopped(tiny_mlm):
    store = RunStore()
    run_id = new_run(store, tiny_mlm)

    def interrupt(done, total):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        jobs.run_to_end(store, run_id, tiny_mlm, progress=interrupt)
    info = store.run(run_id)
    assert (info.status, info.n_done, info.lease_owner) == ("stopped", 8, "")


def test_a_killed_scorer_reads_as_stopped_after_its_lease(tiny_mlm, tmp_path):
    store = RunStore(tmp_path / "runs.sqlite3", lease_seconds=1.0)
    run_id = new_run(store, tiny_mlm)
    script = textwrap.dedent(f"""
        import sys, time
        from plm_core.bias.jobs import Heartbeat
        from plm_core.bias.store import RunStore
        store = RunStore({str(store.path)!r}, lease_seconds=1.0)
        assert store.acquire({run_id}, "killed-process")
        with Heartbeat(store, "killed-process", [{run_id}]):
            print("leased", flush=True)
            time.sleep(600)
    """)
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    proc = subprocess.Popen([sys.executable, "-c", script], cwd=root, stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": root})
    try:
        assert proc.stdout.readline().strip() == "leased"
        time.sleep(1.5)  # longer than the lease: the heartbeat keeps it
        assert store.run(run_id).status == "running" and store.run(run_id).lease_owner == "killed-process"
        with pytest.raises(jobs.RunBusyError):
            jobs.run_to_end(store, run_id, tiny_mlm)
    finally:
        os.kill(proc.pid, signal.SIGKILL)  # our own child, by its id
        proc.wait()
    assert store.run(run_id).status == "running"  # until its lease runs out ...
    time.sleep(1.2)
    assert store.run(run_id).status == "stopped"  # ... then stopped, and resumable
    jobs.run_to_end(store, run_id, tiny_mlm)
    assert store.run(run_id).status == "complete" and len(store.rows(run_id)) == len(PAIRS)


def test_a_killed_scorer_of_this_host_frees_its_lease_at_once(tiny_mlm, tmp_path):
    """A holder named ``host:pid:label`` whose process on this host is gone (a CLI run killed with SIGKILL) holds
    nothing, even while its heartbeat is fresh; while it lives, its lease holds."""
    store = RunStore(tmp_path / "runs.sqlite3")  # the default 60 s lease
    run_id = new_run(store, tiny_mlm)
    script = textwrap.dedent(f"""
        import time
        from plm_core.bias import jobs
        from plm_core.bias.store import RunStore
        store = RunStore({str(store.path)!r})
        assert store.acquire({run_id}, jobs.new_owner("cli"))
        print("leased", flush=True)
        time.sleep(600)
    """)
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    proc = subprocess.Popen([sys.executable, "-c", script], cwd=root, stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": root})
    try:
        assert proc.stdout.readline().strip() == "leased"
        info = store.run(run_id)
        assert info.status == "running" and info.lease_owner.split(":")[1] == str(proc.pid)
        with pytest.raises(jobs.RunBusyError):
            jobs.run_to_end(store, run_id, tiny_mlm)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    info = store.run(run_id)
    assert (info.status, info.lease_owner) == ("stopped", "")  # at once, its heartbeat still fresh
    jobs.run_to_end(store, run_id, tiny_mlm)
    assert store.run(run_id).status == "complete"
