"""Stored, chunked, resumable bias runs: the same for the Bias page, the command line and tests.

A run is created in a :class:`~plm_core.bias.store.RunStore` with its items; :func:`score_next` scores the next
chunk of a run and stores it (one transaction), :func:`run_to_end` repeats that until the run is complete or
``should_stop`` says stop. A run whose process was killed resumes at its first unscored item, in any process
that opens the same store. :func:`load_result` rebuilds the probe's result object from the stored rows.

Scoring stays in the probes' plain functions taking ``(handle, ...)``; this module only moves items and rows
between them and the store.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import socket
import threading
import typing
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from plm_core.bias import bec_pro, crows_pairs, seat, templates
from plm_core.bias.common import ProgressFn, StopFn, report
from plm_core.bias.datasets import BecProRow, CrowsPair, SeatTest
from plm_core.bias.probes import NAMES  # re-exported: the probes' display names
from plm_core.bias.store import RunInfo, RunStore
from plm_core.errors import InvalidInputError
from plm_core.handle import ModelHandle
from plm_core.i18n import msg



@functools.cache
def _tuple_fields(cls: type) -> tuple[tuple[str, ...], frozenset[str]]:
    hints = typing.get_type_hints(cls)
    names = tuple(f.name for f in dataclasses.fields(cls))
    return names, frozenset(n for n in names if "tuple" in str(hints.get(n, "")))


def from_plain(cls: type, data: dict[str, Any]) -> Any:
    """A frozen dataclass from its plain (JSON) form: lists become the tuples the fields declare."""
    names, tuples = _tuple_fields(cls)
    values = {}
    for name in names:
        if name in data:
            value = data[name]
            values[name] = _tuples(value) if name in tuples and isinstance(value, list) else value
    return cls(**values)


def _tuples(value: Any) -> Any:
    return tuple(_tuples(v) for v in value) if isinstance(value, list) else value


# ---- per probe: score a chunk of items, build a result from stored rows ----------------------------

def _score_crows(handle, config, items, progress):
    return crows_pairs.score_pairs(handle, items), {}


def _score_bec(handle, config, items, progress):
    rows, skipped = bec_pro.score_rows(handle, items, require_any=False)
    return rows, {"skipped": list(skipped)}


def _score_template(handle, config, items, progress):
    templates.validate(templates.set_from_config(config), handle.kind)
    return templates.score_filled(handle, _probe_slot(config), items), {}


def _probe_slot(config: dict[str, Any]) -> str:
    return next(iter(config.get("slots") or {}), "")


def _score_seat(handle, config, items, progress):
    (test,) = items
    result = seat.run_seat(handle, test, n_samples=int(config.get("n_samples", seat.DEFAULT_SAMPLES)),
                           seed=int(config.get("sample_seed", 0)),
                           n_bootstrap=int(config.get("n_bootstrap", seat.DEFAULT_BOOTSTRAP)), progress=progress,
                           data_source=str(config.get("data", "")), data_sha256=str(config.get("data_sha256", "")))
    meta = {k: getattr(result, k) for k in ("test", "categories", "effect_size", "p_value", "exact",
                                             "n_permutations", "sizes", "p_bound", "effect_size_ci", "ci_method")}
    return result.items, meta


def _crows_result(info: RunInfo, rows, metas):
    return crows_pairs.CrowsPairsResult(info.model_id, tuple(rows), info.config, info.n_items)


def _bec_result(info: RunInfo, rows, metas):
    skipped = tuple(sorted({w for m in metas for w in m.get("skipped", ())}))
    return bec_pro.BecProResult(info.model_id, tuple(rows), skipped, info.config, info.n_items)


def _template_result(info: RunInfo, rows, metas):
    kind = str(info.config.get("kind", ""))
    return templates.TemplateResult(info.model_id, kind, templates.metric(kind),
                                    templates.set_from_config(info.config), tuple(rows), info.config,
                                    int(info.config.get("n_scores", 0)))


def _seat_result(info: RunInfo, rows, metas):
    if not metas:
        return None
    m = metas[0]
    return seat.SeatResult(info.model_id, m["test"], tuple(m["categories"]), m["effect_size"], m["p_value"],
                           m["exact"], m["n_permutations"], tuple(m["sizes"]), tuple(rows), info.config,
                           p_bound=m["p_bound"], effect_size_ci=tuple(float("nan") if v is None else v
                                                                      for v in m["effect_size_ci"]),
                           ci_method=m["ci_method"])


@dataclass(frozen=True)
class ProbeJob:
    item_type: type
    row_type: type
    score: Callable[[ModelHandle, dict, list, ProgressFn | None], tuple[Sequence[Any], dict[str, Any]]]
    result: Callable[[RunInfo, list, list], Any]
    chunk: Callable[[ModelHandle, dict], int]  # default items per chunk


def _cuda(handle: ModelHandle) -> bool:
    return handle.device.type == "cuda"


def _job(probe: str) -> ProbeJob:
    """The registered job of ``probe``. The Evaluate page's probe is registered by :mod:`plm_core.evaluate` when it
    is imported (it builds on this module; this module never imports it): :mod:`plm_core.bias.worker` and
    ``plm_core.lens`` (``Lens.score_bias_chunk``) import it.

    Raises:
        InvalidInputError: no such probe registered.
    """
    try:
        return PROBES[probe]
    except KeyError:
        raise InvalidInputError(msg('unknown probe {probe!r}; choose one of {value}', probe=probe,
                                    value=', '.join(PROBES))) from None


PROBES: dict[str, ProbeJob] = {
    "crows_pairs": ProbeJob(CrowsPair, crows_pairs.CrowsPairRow, _score_crows, _crows_result,
                            lambda h, c: 64 if _cuda(h) else 8),
    "bec_pro": ProbeJob(BecProRow, bec_pro.BecProScore, _score_bec, _bec_result,
                        lambda h, c: 512 if _cuda(h) else 64),
    "template": ProbeJob(templates.FilledTemplate, templates.TemplateRow, _score_template, _template_result,
                         lambda h, c: templates.chunk_size(h, len(c.get("targets", ())))),
    "seat": ProbeJob(SeatTest, seat.SeatItem, _score_seat, _seat_result, lambda h, c: 1),
}


# ---- runs -------------------------------------------------------------------------------------------

def create_run(store: RunStore, probe: str, config: dict[str, Any], items: Sequence[Any], *,
               status: str = "queued") -> int:
    """Store a run of ``probe`` over ``items`` with ``config`` (which names model_id, revision, data, ...)."""
    _job(probe)  # refuses an unknown probe
    if not items:
        raise InvalidInputError(msg('a run needs at least one item to score'))
    config = dict(config) | {"probe": probe}
    if probe == "template":
        config.setdefault("n_scores", sum(len(i.targets) for i in items))
    return store.create_run(probe, config, items, status=status)


def check_model(info: RunInfo, handle: ModelHandle) -> None:
    """Refuse to continue a run with another model than the one it was started with."""
    if handle.model_id != info.model_id:
        raise InvalidInputError(msg('run #{run_id} scores {model_id}; it cannot continue with {model_id2}', run_id=info.run_id, model_id=info.model_id, model_id2=handle.model_id))


def score_chunk(handle: ModelHandle, items: Sequence[Any], *, probe: str, config: dict[str, Any]
                ) -> tuple[Sequence[Any], dict[str, Any]]:
    """Score ``items`` of a ``probe`` run with ``config``: (rows, meta). The unit a compute backend runs on one
    model replica (``plm_core.lens.Lens.score_bias_chunk``); :func:`merge_parts` joins several."""
    return _job(probe).score(handle, config, list(items), None)


def merge_parts(parts: Sequence[tuple[Sequence[Any], dict[str, Any]]]) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """One (rows, meta) from the parts of a chunk scored piece by piece, in order (list values concatenated)."""
    rows = tuple(r for part_rows, _ in parts for r in part_rows)
    meta: dict[str, Any] = {}
    for _, part_meta in parts:
        for key, value in part_meta.items():
            meta[key] = [*meta.get(key, []), *value] if isinstance(value, list) else value
    return rows, meta


def score_next(store: RunStore, run_id: int, handle: ModelHandle, n: int | None = None, *,
               progress: ProgressFn | None = None,
               scorer: Callable[[Sequence[Any]], tuple[Sequence[Any], dict[str, Any]]] | None = None,
               owner: str | None = None) -> RunInfo:
    """Score the next ``n`` unscored items of the run (default: the probe's chunk size), store them, and return
    the run's new state. A complete run is returned unchanged. ``scorer(items) -> (rows, meta)`` replaces the
    probe's own scoring on ``handle`` (a compute backend scoring on other processes, see :func:`score_chunk`).

    Raises:
        InvalidInputError: another model than the run's; the probe's own input errors.
        UnsupportedModelError: a model kind the probe cannot score.
    """
    info = store.run(run_id)
    if info.complete:
        return info
    check_model(info, handle)
    job = _job(info.probe)
    n = max(1, int(n or job.chunk(handle, info.config)))
    start = info.n_done
    items = [from_plain(job.item_type, d) for d in store.items(run_id, start, start + n)]
    rows, meta = job.score(handle, info.config, items, progress) if scorer is None else scorer(items)
    store.add_chunk(run_id, start, start + len(items), rows, meta, owner=owner)
    return store.run(run_id)


class RunBusyError(InvalidInputError):
    """The run's lease is held by a live scorer (another session's worker, or a command line): it is computed
    there, once; watch its progress instead."""


def new_owner(label: str = "") -> str:
    """A lease owner name: ``host:pid:label`` (unique per worker)."""
    return f"{socket.gethostname()}:{os.getpid()}:{label or uuid.uuid4().hex[:8]}"


class Heartbeat:
    """Renews ``owner``'s leases on ``run_ids`` every ``store.lease_seconds / 6`` seconds from a daemon thread,
    while the ``with`` block runs (a long chunk or a slow model load never lets the lease go stale)."""

    def __init__(self, store: RunStore, owner: str, run_ids: Sequence[int]):
        self.store, self.owner, self.run_ids = store, owner, list(run_ids)
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=f"bias-heartbeat-{owner}", daemon=True)

    def _beat(self) -> None:
        every = max(0.05, self.store.lease_seconds / 6)
        while not self._done.wait(every):
            self.store.beat(self.run_ids, self.owner)

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._thread.join()


def run_to_end(store: RunStore, run_id: int, handle: ModelHandle | None = None, *, chunk: int | None = None,
               progress: ProgressFn | None = None, should_stop: StopFn | None = None, owner: str | None = None,
               handle_of: Callable[[RunInfo], ModelHandle] | None = None,
               scorer_of: Callable[[RunInfo], Callable[[Sequence[Any]], tuple[Sequence[Any], dict[str, Any]]] | None]
               | None = None) -> Any:
    """Take the run's lease, score its remaining items chunk by chunk (each stored as soon as it is scored)
    until it is complete, ``should_stop()`` or a stop request (:meth:`RunStore.request_stop`), and give the
    lease back; returns :func:`load_result`. ``progress(done, total)`` runs after each stored chunk. The chunk
    size is the probe's default (the same in the app's worker and on the command line) unless ``chunk``.

    ``handle`` is the model, or ``handle_of(info)`` finds it (a worker loading a queued model); ``scorer_of(info)``
    may give a compute backend's scorer (see :func:`score_next`).

    Raises:
        RunBusyError: a live scorer holds the run's lease.
        InvalidInputError, UnsupportedModelError: as :func:`score_next`; the run is marked ``error`` (its stored
            chunks stay). Ctrl-C (KeyboardInterrupt) marks it ``stopped`` and is raised again.
    """
    owner = owner or new_owner()
    info = store.run(run_id)
    if handle is not None:
        check_model(info, handle)
    if not info.complete and not store.acquire(run_id, owner):
        info = store.run(run_id)
        raise RunBusyError(msg("run #{run_id} is being scored by {owner} ({done:,} of {total:,} so far): it is "
                               "computed there once; its progress shows here as it is stored",
                               run_id=run_id, owner=info.lease_owner or "another process", done=info.n_done,
                               total=info.n_items))
    status, error = "complete", ""
    try:
        with Heartbeat(store, owner, [run_id]):
            while not info.complete:
                if info.stop_requested or (should_stop is not None and should_stop()):
                    status = "stopped"
                    break
                model = handle if handle is not None else handle_of(info)  # type: ignore[misc]
                check_model(info, model)
                scorer = scorer_of(info) if scorer_of is not None else None
                info = score_next(store, run_id, model, chunk, scorer=scorer, owner=owner)
                if info.lease_owner != owner:  # the lease went to another scorer (this one stalled past it)
                    status = "running"
                    break
                report(progress, info.n_done, info.n_items)
    except KeyboardInterrupt:
        status = "stopped"
        raise
    except Exception as err:  # noqa: BLE001 - recorded on the run, then raised unchanged
        status, error = "error", str(err)
        raise
    finally:  # a no-op when the lease is no longer this scorer's
        store.release(run_id, owner, "stopped" if status == "running" else status, error)
    return load_result(store, run_id)


def load_result(store: RunStore, run_id: int) -> Any:
    """The probe's result object (CrowsPairsResult, BecProResult, TemplateResult, SeatResult) of a stored run,
    covering the chunks scored so far; None for a SEAT run not scored yet."""
    info = store.run(run_id)
    info = dataclasses.replace(info, config=info.config | {"run_id": run_id})
    job = _job(info.probe)
    chunks = store.chunks(run_id)
    rows = [from_plain(job.row_type, r) for c in chunks for r in c["rows"]]
    return job.result(info, rows, [c["meta"] for c in chunks])


__all__ = ["NAMES", "PROBES", "Heartbeat", "RunBusyError", "check_model", "create_run", "from_plain", "load_result",
           "merge_parts", "new_owner", "run_to_end", "score_chunk", "score_next"]
