"""One worker thread per stored bias run: the app's sessions start runs here and only watch them.

A Streamlit session that scored a run in its own script reruns stopped with the tab, went at the pace of the
browser's reruns, and two sessions resuming one run each scored the same chunk. Here a run (or a queue of runs,
one probe over several models) is scored by a :class:`RunWorker`, a daemon thread of the server process, with
:func:`plm_core.bias.jobs.run_to_end` exactly as the command line does (same chunk size, same lease): a closed
tab does not stop it, a Stop request (:meth:`plm_core.bias.store.RunStore.request_stop`) does, between chunks.
A second session that starts or resumes a run already being scored gets the existing worker
(:func:`start_worker`), and a run leased by another process is left to it; either way the pages show its
progress from the store. When the process exits, its workers' runs are marked stopped (and a killed process's
runs read as stopped once their lease expires).
"""

from __future__ import annotations

import atexit
import logging
import threading
from collections.abc import Callable, Sequence
from typing import Any

from plm_core import evaluate  # noqa: F401 - registers the Evaluate page's probe (PROBES["evaluate"])
from plm_core.bias import jobs
from plm_core.bias.store import RunInfo, RunStore
from plm_core.errors import PlmCoreError
from plm_core.handle import ModelHandle

log = logging.getLogger(__name__)

HandleOf = Callable[[RunInfo], ModelHandle]
ScorerOf = Callable[[RunInfo], Any]


class RunWorker:
    """Scores ``run_ids`` one after the other in a daemon thread (see the module doc).

    Args:
        store: the run store.
        run_ids: the runs, in order (the first model's run, then the queued ones).
        handle_of: the model of a run (called in the worker thread; loads it if needed).
        scorer_of: optional compute-backend scorer per run (see :func:`plm_core.bias.jobs.score_next`).
        chunk: items per chunk; None: the probe's default, as on the command line.
    """

    def __init__(self, store: RunStore, run_ids: Sequence[int], handle_of: HandleOf, *,
                 scorer_of: ScorerOf | None = None, chunk: int | None = None):
        self.store, self.run_ids = store, [int(r) for r in run_ids]
        self.handle_of, self.scorer_of, self.chunk = handle_of, scorer_of, chunk
        self.owner = jobs.new_owner(f"worker-{self.run_ids[0]}")
        self.errors: dict[int, str] = {}
        self._thread = threading.Thread(target=self._run, name=f"bias-run-{self.run_ids[0]}", daemon=True)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def start(self) -> RunWorker:
        self.store.reserve(self.run_ids, self.owner)  # queued runs are this worker's until it reaches them
        self._thread.start()
        return self

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the worker; True when it has finished."""
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def _run(self) -> None:
        try:
            with jobs.Heartbeat(self.store, self.owner, self.run_ids):
                for run_id in self.run_ids:
                    self._run_one(run_id)
        finally:
            with _LOCK:
                for run_id in self.run_ids:
                    if WORKERS.get(run_id) is self:
                        del WORKERS[run_id]

    def _run_one(self, run_id: int) -> None:
        try:
            info = self.store.run(run_id)
        except PlmCoreError:
            return  # deleted meanwhile
        if info.complete:
            return
        if info.stop_requested:  # Stop pressed while it waited in the queue
            self.store.release(run_id, self.owner, "stopped")
            return
        try:
            jobs.run_to_end(self.store, run_id, owner=self.owner, chunk=self.chunk, handle_of=self.handle_of,
                            scorer_of=self.scorer_of)
        except jobs.RunBusyError:
            pass  # scored by another process: computed once, there
        except PlmCoreError as err:  # recorded on the run (status error); the queue moves on to the next model
            self.errors[run_id] = str(err)
        except Exception as err:  # noqa: BLE001 - a worker thread has nobody to raise to: logged and recorded
            log.exception("bias run #%s failed", run_id)
            self.errors[run_id] = str(err)

    def release_all(self) -> None:
        """Mark this worker's unfinished runs stopped and give their leases back (process exit)."""
        for run_id in self.run_ids:
            self.store.release(run_id, self.owner, "stopped")


WORKERS: dict[int, RunWorker] = {}  # run id -> the live worker scoring it in this process
_LOCK = threading.Lock()


def start_worker(store: RunStore, run_ids: Sequence[int], handle_of: HandleOf, *, scorer_of: ScorerOf | None = None,
                 chunk: int | None = None) -> RunWorker | None:
    """A worker for the runs of ``run_ids`` that no live worker of this process scores yet (started), or the
    existing worker when every one is already being scored (a second session attaching); None if there is
    nothing to do."""
    with _LOCK:
        todo = [int(r) for r in run_ids if not (int(r) in WORKERS and WORKERS[int(r)].alive)]
        if not todo:
            return WORKERS.get(int(run_ids[0])) if run_ids else None
        worker = RunWorker(store, todo, handle_of, scorer_of=scorer_of, chunk=chunk)
        for r in todo:
            WORKERS[r] = worker
    return worker.start()


def worker_of(run_id: int) -> RunWorker | None:
    """The live worker of this process scoring ``run_id``, if any."""
    with _LOCK:
        worker = WORKERS.get(int(run_id))
    return worker if worker is not None and worker.alive else None


def wait_all(timeout: float = 60.0) -> bool:
    """Wait until every worker of this process has finished (tests; a clean shutdown); True if they have."""
    import time

    end = time.monotonic() + timeout
    while True:
        with _LOCK:
            live = [w for w in set(WORKERS.values()) if w.alive]
        if not live:
            return True
        if time.monotonic() > end:
            return False
        live[0].join(max(0.0, min(0.5, end - time.monotonic())))


@atexit.register
def _stop_all() -> None:  # server shutdown or Ctrl-C: the runs say "stopped" at once, not after their lease
    with _LOCK:
        live = [w for w in set(WORKERS.values()) if w.alive]
    for worker in live:
        try:
            worker.release_all()
        except PlmCoreError:
            pass


__all__ = ["RunWorker", "WORKERS", "start_worker", "wait_all", "worker_of"]
