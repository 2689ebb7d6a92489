"""A local store of bias runs (SQLite from the standard library): results survive reloads and server restarts.

One run = one probe on one model over a fixed list of items (a seeded sample of a data set, a template
expansion, a SEAT test). The store keeps the run's configuration, its items, and the scored rows chunk by
chunk, each chunk in its own transaction: a run that was stopped, or whose process died, resumes from its
last stored chunk and never rescores one.

A run being scored holds a **lease**: the scorer (a worker thread of the app, or the command line) writes its
owner name and a heartbeat every few seconds. Only the lease holder scores and stores chunks, so a run is
computed once however many sessions or processes look at it; a run whose heartbeat is older than
:data:`LEASE_SECONDS` (a killed server, a closed terminal), or whose holder was a process of this machine that
no longer exists, reads as "stopped" and can be resumed by anyone.
A stop request (:meth:`RunStore.request_stop`) is seen by the holder between chunks.

The file is ``$PLM_BIAS_STORE`` or ``<cache>/bias/runs.sqlite3`` (the cache is ``$PLM_CACHE`` or
``~/.cache/plm-lens``). Every call opens its own connection (Streamlit sessions are threads, a CLI run may be
another process); WAL journaling lets readers and one writer work at the same time.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import sqlite3
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from plm_core.settings import settings
from plm_core.bias.common import _plain
from plm_core.errors import InvalidInputError
from plm_core.i18n import msg

STORE_ENV = "PLM_BIAS_STORE"
STATUSES = ("queued", "running", "stopped", "complete", "error")
LEASE_SECONDS = 60.0  # a run whose holder has not beaten for this long is stopped (its process is gone)
LEASE_COLUMNS = {"lease_owner": "TEXT NOT NULL DEFAULT ''", "heartbeat": "REAL NOT NULL DEFAULT 0",
                 "stop_requested": "INTEGER NOT NULL DEFAULT 0"}
SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    run_id INTEGER PRIMARY KEY AUTOINCREMENT,
    probe TEXT NOT NULL,
    model_id TEXT NOT NULL,
    revision TEXT,
    data_source TEXT NOT NULL DEFAULT '',
    data_sha256 TEXT NOT NULL DEFAULT '',
    items_sha256 TEXT NOT NULL,
    config TEXT NOT NULL,
    n_items INTEGER NOT NULL,
    n_done INTEGER NOT NULL DEFAULT 0,
    status TEXT NOT NULL,
    error TEXT NOT NULL DEFAULT '',
    created REAL NOT NULL,
    updated REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS items (
    run_id INTEGER NOT NULL REFERENCES runs(run_id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    payload TEXT NOT NULL,
    PRIMARY KEY (run_id, position)
);
CREATE TABLE IF NOT EXISTS chunks (
    run_id INTEGER NOT NULL REFERENCES runs(run_id) ON DELETE CASCADE,
    start INTEGER NOT NULL,
    stop INTEGER NOT NULL,
    rows TEXT NOT NULL,
    meta TEXT NOT NULL DEFAULT '{}',
    created REAL NOT NULL,
    PRIMARY KEY (run_id, start)
);
CREATE INDEX IF NOT EXISTS runs_by_items ON runs (probe, items_sha256);
"""


def default_path() -> Path:
    """``$PLM_BIAS_STORE``, or ``runs.sqlite3`` in the bias cache folder."""
    from plm_core.bias.datasets import cache_dir

    return settings().bias_store or (cache_dir() / "runs.sqlite3").expanduser()


@dataclass(frozen=True)
class RunInfo:
    """A stored run's row of the runs list."""

    run_id: int
    probe: str
    model_id: str
    revision: str | None
    data_source: str
    data_sha256: str
    items_sha256: str  # identity of the exact items scored: runs with the same one are comparable
    config: dict[str, Any]
    n_items: int
    n_done: int
    status: str  # queued | running | stopped | complete | error
    error: str
    created: float  # seconds since the epoch
    updated: float
    lease_owner: str = ""  # who scores it now ("" = nobody): host:pid:worker
    heartbeat: float = 0.0  # the holder's last sign of life (seconds since the epoch)
    stop_requested: bool = False

    @property
    def complete(self) -> bool:
        return self.n_done >= self.n_items

    def describe(self) -> str:
        """``#3 CrowS-Pairs on bert-base-uncased: 120/1,508 (stopped)``: plain text, for select boxes."""
        return (f"#{self.run_id} {self.probe} · {self.model_id} · {self.n_done:,}/{self.n_items:,} "
                f"({self.status}) · {self.config.get('sample', '')}").rstrip(" ·")


def items_sha256(payloads: Sequence[Any]) -> str:
    """SHA-256 of the items' canonical JSON."""
    body = json.dumps([_plain(p) for p in payloads], ensure_ascii=False, sort_keys=True)
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


class RunStore:
    """Runs, their items and their scored chunks in one SQLite file (see the module doc).

    Args:
        path: the database file (created with its folder on first use); default :func:`default_path`.
    """

    def __init__(self, path: str | os.PathLike | None = None, *, lease_seconds: float = LEASE_SECONDS):
        self.path = Path(path).expanduser() if path else default_path()
        self.lease_seconds = float(lease_seconds)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as con:
            con.execute("PRAGMA journal_mode=WAL")
            con.executescript(SCHEMA)
            have = {r["name"] for r in con.execute("PRAGMA table_info(runs)")}
            for name, decl in LEASE_COLUMNS.items():  # a store written before leases existed
                if name not in have:
                    con.execute(f"ALTER TABLE runs ADD COLUMN {name} {decl}")

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        try:
            con = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        except sqlite3.Error as err:
            raise InvalidInputError(msg('cannot open the bias run store {path}: {err}', path=self.path, err=err)) from None
        try:
            con.row_factory = sqlite3.Row
            con.execute("PRAGMA foreign_keys=ON")
            yield con
        finally:
            con.close()

    # ---- runs ---------------------------------------------------------------------------------------

    def create_run(self, probe: str, config: dict[str, Any], items: Sequence[Any], *,
                   status: str = "queued") -> int:
        """Store a new run of ``probe`` over ``items`` (dataclasses or plain data) and return its id."""
        if status not in STATUSES:
            raise ValueError(f"status {status!r} is not one of {STATUSES}")
        payloads = [_plain(i) for i in items]
        now = time.time()
        config = _plain(config)
        with self._connect() as con:
            con.execute("BEGIN IMMEDIATE")
            cur = con.execute(
                "INSERT INTO runs (probe, model_id, revision, data_source, data_sha256, items_sha256, config, "
                "n_items, status, created, updated) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                (probe, str(config.get("model_id", "")), config.get("revision"), str(config.get("data", "")),
                 str(config.get("data_sha256", "")), items_sha256(payloads),
                 json.dumps(config, ensure_ascii=False), len(payloads), status, now, now))
            run_id = int(cur.lastrowid)
            con.executemany("INSERT INTO items (run_id, position, payload) VALUES (?,?,?)",
                            ((run_id, k, json.dumps(p, ensure_ascii=False)) for k, p in enumerate(payloads)))
            con.execute("COMMIT")
        return run_id

    def run(self, run_id: int) -> RunInfo:
        """The run ``run_id``. Raises InvalidInputError if there is none."""
        with self._connect() as con:
            row = con.execute("SELECT * FROM runs WHERE run_id = ?", (int(run_id),)).fetchone()
        if row is None:
            raise InvalidInputError(msg('there is no stored bias run #{run_id} in {path}', run_id=run_id, path=self.path))
        return _info(row, self._stale_before())

    def runs(self, probe: str | None = None, *, items_sha256: str | None = None,
             model_id: str | None = None) -> list[RunInfo]:
        """Stored runs, newest first, optionally of one probe / one set of items / one model."""
        where, args = [], []
        for col, value in (("probe", probe), ("items_sha256", items_sha256), ("model_id", model_id)):
            if value is not None:
                where.append(f"{col} = ?")
                args.append(value)
        sql = "SELECT * FROM runs" + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY run_id DESC"
        with self._connect() as con:
            return [_info(r, self._stale_before()) for r in con.execute(sql, args).fetchall()]

    # ---- leases -------------------------------------------------------------------------------------

    def _stale_before(self) -> float:
        return time.time() - self.lease_seconds

    def acquire(self, run_id: int, owner: str) -> bool:
        """Take the run's lease for ``owner`` (and mark it running) unless a live holder has it; True if taken.

        A lease is free when nobody holds it, ``owner`` holds it already, its heartbeat is older than
        ``lease_seconds``, or its holder was a process of this host that has exited. A complete run is never
        taken."""
        now = time.time()
        with self._connect() as con:
            con.execute("BEGIN IMMEDIATE")
            row = con.execute("SELECT lease_owner, heartbeat, n_done, n_items FROM runs WHERE run_id = ?",
                              (int(run_id),)).fetchone()
            free = row is not None and row["n_done"] < row["n_items"] and (
                row["lease_owner"] == owner or not _live(row["lease_owner"], row["heartbeat"], now - self.lease_seconds))
            if free:
                con.execute("UPDATE runs SET lease_owner = ?, heartbeat = ?, status = 'running', stop_requested = 0, "
                            "error = '', updated = ? WHERE run_id = ?", (owner, now, now, int(run_id)))
            con.execute("COMMIT")
        return free

    def reserve(self, run_ids: Sequence[int], owner: str) -> list[int]:
        """Hold the leases of queued runs for ``owner`` without starting them (a worker's queue: they read as
        stopped if the worker dies before reaching them); returns those reserved."""
        now = time.time()
        held = []
        with self._connect() as con:
            for run_id in run_ids:
                cur = con.execute("UPDATE runs SET lease_owner = ?, heartbeat = ? WHERE run_id = ? AND n_done < n_items "
                                  "AND (lease_owner = '' OR lease_owner = ? OR heartbeat < ?)",
                                  (owner, now, int(run_id), owner, now - self.lease_seconds))
                if cur.rowcount:
                    held.append(int(run_id))
        return held

    def beat(self, run_ids: Sequence[int], owner: str) -> list[int]:
        """Renew ``owner``'s leases on ``run_ids``; returns those it still holds."""
        now = time.time()
        held = []
        with self._connect() as con:
            for run_id in run_ids:
                cur = con.execute("UPDATE runs SET heartbeat = ? WHERE run_id = ? AND lease_owner = ?",
                                  (now, int(run_id), owner))
                if cur.rowcount:
                    held.append(int(run_id))
        return held

    def release(self, run_id: int, owner: str, status: str, error: str = "") -> None:
        """Give the lease back with the run's final ``status`` (stopped, complete, error); nothing if ``owner``
        does not hold it."""
        if status not in STATUSES:
            raise ValueError(f"status {status!r} is not one of {STATUSES}")
        with self._connect() as con:
            con.execute("UPDATE runs SET lease_owner = '', heartbeat = 0, stop_requested = 0, status = ?, error = ?, "
                        "updated = ? WHERE run_id = ? AND lease_owner = ?",
                        (status, error, time.time(), int(run_id), owner))

    def request_stop(self, run_id: int) -> None:
        """Ask the run's holder to stop after its current chunk; a run nobody holds is marked stopped now."""
        with self._connect() as con:
            con.execute("BEGIN IMMEDIATE")
            con.execute("UPDATE runs SET stop_requested = 1, updated = ? WHERE run_id = ?", (time.time(), int(run_id)))
            con.execute("UPDATE runs SET status = 'stopped' WHERE run_id = ? AND status IN ('running', 'queued') AND "
                        "(lease_owner = '' OR heartbeat < ?)", (int(run_id), self._stale_before()))
            con.execute("COMMIT")

    def set_status(self, run_id: int, status: str, error: str = "") -> None:
        if status not in STATUSES:
            raise ValueError(f"status {status!r} is not one of {STATUSES}")
        with self._connect() as con:
            con.execute("UPDATE runs SET status = ?, error = ?, updated = ? WHERE run_id = ?",
                        (status, error, time.time(), int(run_id)))

    def set_revision(self, run_id: int, revision: str) -> None:
        """Record the model revision once the model is loaded (a queued run only knew its id)."""
        with self._connect() as con:
            con.execute("BEGIN IMMEDIATE")
            (config,) = con.execute("SELECT config FROM runs WHERE run_id = ?", (int(run_id),)).fetchone()
            config = json.loads(config) | {"revision": revision}
            con.execute("UPDATE runs SET revision = ?, config = ? WHERE run_id = ?",
                        (revision, json.dumps(config, ensure_ascii=False), int(run_id)))
            con.execute("COMMIT")

    def delete_run(self, run_id: int) -> None:
        with self._connect() as con:
            con.execute("DELETE FROM runs WHERE run_id = ?", (int(run_id),))

    # ---- items and chunks ---------------------------------------------------------------------------

    def items(self, run_id: int, start: int = 0, stop: int | None = None) -> list[Any]:
        """The run's items ``start:stop`` as plain data (dicts)."""
        stop = self.run(run_id).n_items if stop is None else stop
        with self._connect() as con:
            rows = con.execute("SELECT payload FROM items WHERE run_id = ? AND position >= ? AND position < ? "
                               "ORDER BY position", (int(run_id), int(start), int(stop))).fetchall()
        return [json.loads(r["payload"]) for r in rows]

    def add_chunk(self, run_id: int, start: int, stop: int, rows: Sequence[Any],
                  meta: dict[str, Any] | None = None, owner: str | None = None) -> int:
        """Store the rows scored for items ``start:stop`` in one transaction; returns the run's ``n_done``.

        Chunks must continue the run (``start == n_done``); a chunk another session stored first is ignored,
        so two sessions resuming one run never duplicate rows. With ``owner``, a chunk is stored only while
        ``owner`` holds the run's lease (one that lost it, its heartbeat late, stores nothing).
        """
        with self._connect() as con:
            con.execute("BEGIN IMMEDIATE")
            n_done, n_items, holder = con.execute("SELECT n_done, n_items, lease_owner FROM runs WHERE run_id = ?",
                                                  (int(run_id),)).fetchone()
            if start == n_done and stop > start and (owner is None or holder == owner):
                con.execute("INSERT INTO chunks (run_id, start, stop, rows, meta, created) VALUES (?,?,?,?,?,?)",
                            (int(run_id), int(start), int(stop),
                             json.dumps([_plain(r) for r in rows], ensure_ascii=False),
                             json.dumps(_plain(meta or {}), ensure_ascii=False), time.time()))
                n_done = min(int(stop), int(n_items))
                status = "complete" if n_done >= n_items else "running"
                con.execute("UPDATE runs SET n_done = ?, status = CASE WHEN status = 'stopped' AND ? = 'running' "
                            "THEN 'stopped' ELSE ? END, error = '', updated = ? WHERE run_id = ?",
                            (n_done, status, status, time.time(), int(run_id)))
            con.execute("COMMIT")
        return int(n_done)

    def chunks(self, run_id: int) -> list[dict[str, Any]]:
        """The stored chunks in order: ``{"start", "stop", "rows", "meta"}``."""
        with self._connect() as con:
            rows = con.execute("SELECT start, stop, rows, meta FROM chunks WHERE run_id = ? ORDER BY start",
                               (int(run_id),)).fetchall()
        return [{"start": r["start"], "stop": r["stop"], "rows": json.loads(r["rows"]), "meta": json.loads(r["meta"])}
                for r in rows]

    def rows(self, run_id: int) -> list[Any]:
        """Every stored row of the run, chunk after chunk, as plain data."""
        return [row for chunk in self.chunks(run_id) for row in chunk["rows"]]


def _holder_exited(owner: str) -> bool:
    """True when ``owner`` (``host:pid:label``, see :func:`plm_core.bias.jobs.new_owner`) names a process of this
    host that no longer exists (a killed CLI run): its lease is free at once, not after ``lease_seconds``. A holder
    on another host, or one whose name does not parse, is judged by its heartbeat alone."""
    host, _, rest = owner.partition(":")
    pid = rest.partition(":")[0]
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # another user's process: alive
        return False
    return False


def _live(owner: str, heartbeat: float, stale_before: float) -> bool:
    """Whether a lease held by ``owner`` with this ``heartbeat`` (seconds since the epoch) still counts."""
    return bool(owner) and heartbeat >= stale_before and not _holder_exited(owner)


def _info(row: sqlite3.Row, stale_before: float) -> RunInfo:
    status = row["status"]
    live = _live(row["lease_owner"], row["heartbeat"], stale_before)
    if not live and (status == "running" or (status == "queued" and row["created"] < stale_before)):
        status = "stopped"  # its holder is gone (a killed server or CLI): resumable
    return RunInfo(int(row["run_id"]), row["probe"], row["model_id"], row["revision"], row["data_source"],
                   row["data_sha256"], row["items_sha256"], json.loads(row["config"]), int(row["n_items"]),
                   int(row["n_done"]), status, row["error"], float(row["created"]), float(row["updated"]),
                   row["lease_owner"] if live else "", float(row["heartbeat"]), bool(row["stop_requested"]))


__all__ = ["LEASE_SECONDS", "STORE_ENV", "RunInfo", "RunStore", "default_path", "items_sha256"]
