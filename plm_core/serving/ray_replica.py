"""The Ray Serve deployment of plm-lens (``PLM_BACKEND=ray``): the model work of every app replica, on a Ray cluster.

The Serve application ``plm`` has one deployment, :class:`PlmModels`. Each replica holds model handles in its own
process-wide cache (:func:`plm_core.serving.handles.handle_cache`: the app's memory budget, eviction and classroom
allowlist apply per replica) and runs each call as the same method of a :class:`plm_core.lens.LocalLens`. Requests name their model with Serve's model
multiplexing (``multiplexed_model_id`` = the ModelSpec, :func:`plm_core.serving.protocol.spec_id`): Serve routes a
model's requests to the replicas that already hold it and loads it on one when none does. Replicas follow the
GPUs: give each ``num_gpus: 1`` in ``deploy/serve.yaml`` and as many replicas as GPUs.

- Forward-only methods (:data:`plm_core.lens.FORWARD_METHODS`) go through ``@serve.batch``: calls from many
  sessions that arrive within a few milliseconds are taken together; identical calls (a class on the same
  lesson sentence) are computed once, and ``predict`` calls on one model are merged into one padded forward.
- Gradient, sampling and data-set work (attribution, training, bias chunks) is one request each; a data-set
  chunk is cut into pieces sent at once (the client's ``call_many``), which Serve spreads over the replicas.

A ``PlmCoreError`` raised here goes back as data (:func:`plm_core.serving.protocol.error`); the client in the app
(:mod:`plm_core.serving.client`) raises it as the same class with the same message. This module imports neither Streamlit
nor ``ui``. Run it: ``deploy/plm_cluster.py up`` (one machine), or see the README's "Scaling out (optional)".
"""

from __future__ import annotations

import asyncio
import functools
import os
import pickle
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from ray import serve

import plm_core.preload  # noqa: F401  the replica serves requests from threads: import the core once first
from plm_core.errors import PlmCoreError
from plm_core.handle import ModelSpec
from plm_core.lens import FORWARD_METHODS, LocalLens, check_method, merger
from plm_core.serving.handles import allowed_handle, handle_cache
from plm_core.serving.protocol import APP_NAME, DEPLOYMENT_NAME, error, ok, spec_of

# models one replica keeps loaded (the multiplexing LRU; the handle cache's own budget governs memory)
MODELS_PER_REPLICA = 3

__all__ = ["APP_NAME", "DEPLOYMENT_NAME", "MODELS_PER_REPLICA", "PlmModels", "app", "build_app"]


@serve.deployment(name=DEPLOYMENT_NAME, max_ongoing_requests=64, ray_actor_options={"num_cpus": 1})
class PlmModels:
    """One replica: model handles (:func:`plm_core.serving.handles.handle_cache`) and the methods of
    :class:`plm_core.lens.LocalLens` on them."""

    def __init__(self, preload: tuple[str, ...] | list[str] = (), max_batch_size: int = 16,
                 batch_wait_timeout_s: float = 0.002, threads: int = 4) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", os.environ.get("HF_HUB_OFFLINE", "0"))
        self._models = handle_cache()
        self._get_handle = functools.partial(allowed_handle, self._models)
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="plm-op")
        self._batched.set_max_batch_size(max_batch_size)
        self._batched.set_batch_wait_timeout_s(batch_wait_timeout_s)
        self.stats = {"calls": 0, "batches": 0, "batched_calls": 0, "deduplicated": 0, "merged": 0, "loads": 0}
        self._stats_lock = threading.Lock()
        for model_id in preload:
            self._get_handle(ModelSpec(model_id))

    @serve.multiplexed(max_num_models_per_replica=MODELS_PER_REPLICA)
    async def _model(self, model_id: str) -> ModelSpec:
        spec = spec_of(model_id)
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._pool, self._load, spec)
        return spec

    def _load(self, spec: ModelSpec) -> None:
        try:
            self._get_handle(spec)
        except PlmCoreError:
            pass  # raised again, as data, by the call that needs it
        with self._stats_lock:
            self.stats["loads"] += 1

    def _execute(self, spec: ModelSpec, name: str, args: tuple, kwargs: dict) -> tuple:
        """``LocalLens(spec).<name>(*args, **kwargs)`` as a reply (a PlmCoreError as data)."""
        try:
            return ok(getattr(LocalLens(spec, self._models), check_method(name))(*args, **kwargs))
        except PlmCoreError as err:
            return error(err)

    async def run(self, op: str, args: tuple, kwargs: dict) -> tuple:
        """One call, in a worker thread (attribution, training, bias chunks)."""
        spec = await self._model(serve.get_multiplexed_model_id())
        with self._stats_lock:
            self.stats["calls"] += 1
        return await asyncio.get_running_loop().run_in_executor(self._pool, self._execute, spec, op, args, kwargs)

    async def forward(self, op: str, args: tuple, kwargs: dict) -> tuple:
        """A forward-only call: joins the next batch."""
        if op not in FORWARD_METHODS:
            return await self.run(op, args, kwargs)
        spec = await self._model(serve.get_multiplexed_model_id())
        return await self._batched((spec, op, args, kwargs))

    @serve.batch(max_batch_size=16, batch_wait_timeout_s=0.002)
    async def _batched(self, calls: list[tuple]) -> list[tuple]:
        return await asyncio.get_running_loop().run_in_executor(self._pool, self._execute_batch, calls)

    def _execute_batch(self, calls: list[tuple]) -> list[tuple]:
        """Identical calls once; mergeable ops of one model in one pass; the rest one after another."""
        replies: list[Any] = [None] * len(calls)
        groups: dict[tuple, list[int]] = {}  # (spec, op) -> indices of distinct calls
        first: dict[bytes, int] = {}
        same: dict[int, list[int]] = {}
        for i, (spec, op, args, kwargs) in enumerate(calls):
            try:
                key = pickle.dumps((spec, op, args, sorted(kwargs.items())))
            except Exception:  # noqa: BLE001 - an unpicklable argument: no de-duplication for it
                key = pickle.dumps(i)
            if key in first:
                same[first[key]].append(i)
                continue
            first[key] = i
            same[i] = []
            groups.setdefault((spec, op), []).append(i)
        for (spec, op), idx in groups.items():
            merged = None
            merge = merger(op) if op in FORWARD_METHODS else None
            if len(idx) > 1 and merge is not None:
                try:
                    handle = self._get_handle(spec)
                    merged = merge(handle, [(calls[i][2], calls[i][3]) for i in idx])
                except PlmCoreError:
                    merged = None  # each call again, for its own error
            for n, i in enumerate(idx):
                if merged is not None:
                    value = merged[n]
                    replies[i] = error(value) if isinstance(value, PlmCoreError) else ok(value)
                else:
                    replies[i] = self._execute(*calls[i])
        for i, copies in same.items():
            for j in copies:
                replies[j] = replies[i]
        with self._stats_lock:
            self.stats["calls"] += len(calls)
            self.stats["batches"] += 1
            self.stats["batched_calls"] += len(calls) if len(calls) > 1 else 0
            self.stats["deduplicated"] += len(calls) - len(first)
            self.stats["merged"] += sum(len(i) for (s, o), i in groups.items()
                                        if o in FORWARD_METHODS and merger(o) is not None and len(i) > 1)
        return replies

    async def get_stats(self) -> dict[str, Any]:
        """Counters of this replica (calls, batches, de-duplicated and merged calls, model loads) and its RSS."""
        with self._stats_lock:
            out = dict(self.stats)
        out["pid"] = os.getpid()
        out["rss_mb"] = _rss_mb()
        return out


def _rss_mb() -> float:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def build_app(args: dict[str, Any] | None = None):
    """Serve application builder (``import_path: plm_core.serving.ray_replica:build_app`` in
    deploy/serve.yaml)."""
    args = dict(args or {})
    preload = tuple(m for m in str(args.pop("preload", "")).split(",") if m.strip())
    return PlmModels.bind(preload=preload, **args)


app = PlmModels.bind()
