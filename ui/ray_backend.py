"""The Ray Serve backend (``PLM_BACKEND=ray``): the model work of every app replica, on a Ray cluster.

Server side: the Serve application ``plm`` has one deployment, :class:`PlmModels`. Each replica holds model
handles through the same :func:`ui.resources.get_handle` as the app (so its model-memory budget and
eviction apply per replica) and runs :func:`plm_core.ops.run_op`. Requests name their model with Serve's
model multiplexing (``multiplexed_model_id`` = the ModelSpec): Serve routes a model's requests to the replicas
that already hold it and loads it on one when none does. Replicas follow the GPUs: give each
``num_gpus: 1`` in ``deploy/serve.yaml`` and as many replicas as GPUs.

- Forward-only operations (:data:`plm_core.ops.FORWARD_OPS`) go through ``@serve.batch``: calls from many
  sessions that arrive within a few milliseconds are taken together; identical calls (a class on the same
  lesson sentence) are computed once, and ``predict`` calls on one model are merged into one padded forward.
- Gradient, sampling and data-set work (attribution, training, bias chunks) is one request each; a data-set
  chunk is cut into pieces sent at once (``call_many``), which Serve spreads over the replicas.

Client side (each Streamlit process): :func:`call` connects once to the cluster at ``RAY_ADDRESS`` and sends
``(op, args, kwargs)`` through a deployment handle. A ``PlmCoreError`` raised in the replica comes back as
data and is raised here as the same class with the same message; anything else surfaces as Ray's error.

Run it: ``deploy/plm_cluster.py up`` (one machine), or see the README's "Scaling out (optional)".
"""

from __future__ import annotations

import asyncio
import importlib
import json
import logging
import os
import pickle
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from typing import Any

from ray import serve

import plm_core.preload  # noqa: F401  the replica serves requests from threads: import the core once first
from plm_core.settings import settings
from plm_core.errors import PlmCoreError
from plm_core.loading import ModelSpec
from plm_core.ops import FORWARD_OPS, MERGED, run_op

APP_NAME = "plm"
DEPLOYMENT_NAME = "PlmModels"
CALL_TIMEOUT_S = settings().ray_timeout_s
# models one replica keeps loaded (the multiplexing LRU; get_handle's own budget governs memory)
MODELS_PER_REPLICA = 3

log = logging.getLogger(__name__)


def spec_id(spec: ModelSpec) -> str:
    """A ModelSpec as Serve's multiplexed model id (stable JSON)."""
    return json.dumps(asdict(spec), sort_keys=True, separators=(",", ":"))


def spec_of(model_id: str) -> ModelSpec:
    return ModelSpec.from_fields(json.loads(model_id))


# ------------------------------------------------------------------ replies: values or a PlmCoreError as data


def _ok(value: Any) -> tuple:
    return ("ok", value)


def _error(err: PlmCoreError) -> tuple:
    return ("error", type(err).__module__, type(err).__qualname__, str(err))


def unwrap(reply: tuple) -> Any:
    """The value of a reply, or raise the PlmCoreError it carries (same class, same message)."""
    if reply[0] == "ok":
        return reply[1]
    _, module, qualname, message = reply
    cls: Any = importlib.import_module(module)
    for part in qualname.split("."):
        cls = getattr(cls, part)
    if not (isinstance(cls, type) and issubclass(cls, PlmCoreError)):
        raise PlmCoreError(message)
    err = cls.__new__(cls)  # subclasses may have their own __init__ (UnknownMethodError): set the message as is
    Exception.__init__(err, message)
    raise err


# ------------------------------------------------------------------ the deployment


def _quiet_streamlit() -> None:
    """ui.resources' caches run without a Streamlit runtime here: silence its bare-mode warnings."""
    for name in ("streamlit", "streamlit.runtime.caching.cache_data_api",
                 "streamlit.runtime.scriptrunner_utils.script_run_context"):
        logging.getLogger(name).setLevel(logging.ERROR)


@serve.deployment(name=DEPLOYMENT_NAME, max_ongoing_requests=64, ray_actor_options={"num_cpus": 1})
class PlmModels:
    """One replica: model handles (``ui.resources.get_handle``) and the operations of ``plm_core.ops``."""

    def __init__(self, preload: tuple[str, ...] | list[str] = (), max_batch_size: int = 16,
                 batch_wait_timeout_s: float = 0.002, threads: int = 4) -> None:
        _quiet_streamlit()
        os.environ.setdefault("HF_HUB_OFFLINE", os.environ.get("HF_HUB_OFFLINE", "0"))
        from ui import resources

        self._get_handle = resources.get_handle
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

    def _execute(self, spec: ModelSpec, op: str, args: tuple, kwargs: dict) -> tuple:
        try:
            return _ok(run_op(op, self._get_handle, spec, args, kwargs))
        except PlmCoreError as err:
            return _error(err)

    async def run(self, op: str, args: tuple, kwargs: dict) -> tuple:
        """One call, in a worker thread (attribution, training, bias chunks)."""
        spec = await self._model(serve.get_multiplexed_model_id())
        with self._stats_lock:
            self.stats["calls"] += 1
        return await asyncio.get_running_loop().run_in_executor(self._pool, self._execute, spec, op, args, kwargs)

    async def forward(self, op: str, args: tuple, kwargs: dict) -> tuple:
        """A forward-only call: joins the next batch."""
        if op not in FORWARD_OPS:
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
            if len(idx) > 1 and op in MERGED:
                try:
                    handle = self._get_handle(spec)
                    merged = MERGED[op](handle, [(calls[i][2], calls[i][3]) for i in idx])
                except PlmCoreError:
                    merged = None  # each call again, for its own error
            for n, i in enumerate(idx):
                if merged is not None:
                    value = merged[n]
                    replies[i] = _error(value) if isinstance(value, PlmCoreError) else _ok(value)
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
            self.stats["merged"] += sum(len(i) for (s, o), i in groups.items() if o in MERGED and len(i) > 1)
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
    """Serve application builder (``import_path: ui.ray_backend:build_app`` in deploy/serve.yaml)."""
    args = dict(args or {})
    preload = tuple(m for m in str(args.pop("preload", "")).split(",") if m.strip())
    return PlmModels.bind(preload=preload, **args)


app = PlmModels.bind()


# ------------------------------------------------------------------ the client (each app process)

_LOCK = threading.Lock()
_HANDLE: Any = None


def _app_handle():
    """The deployment handle of the ``plm`` application (connects to ``RAY_ADDRESS`` once per process)."""
    global _HANDLE
    with _LOCK:
        if _HANDLE is None:
            import ray

            if not ray.is_initialized():
                try:
                    ray.init(address=os.environ.get("RAY_ADDRESS") or "auto", log_to_driver=False,
                             logging_level=logging.WARNING, configure_logging=False)
                except ConnectionError as err:
                    raise PlmCoreError(f"PLM_BACKEND=ray, but no Ray cluster answers at "
                                       f"{os.environ.get('RAY_ADDRESS') or 'auto'}: {err}") from None
            try:
                _HANDLE = serve.get_app_handle(APP_NAME)
            except Exception as err:  # noqa: BLE001 - Serve raises several kinds when the app is absent
                raise PlmCoreError(f"PLM_BACKEND=ray, but the Ray cluster has no Serve application "
                                   f"{APP_NAME!r} (start it with deploy/plm_cluster.py up): {err}") from None
        return _HANDLE


def reset() -> None:
    """Forget the deployment handle (after the Serve application was redeployed, or in tests)."""
    global _HANDLE
    with _LOCK:
        _HANDLE = None


def _off_event_loop(fn: Any) -> Any:
    """``fn()`` here, or in a worker thread when this thread runs an asyncio event loop: Serve's blocking
    ``.result()`` refuses to run inside one (a caller such as sync Playwright, or a notebook, may have one)."""
    import asyncio
    from concurrent.futures import ThreadPoolExecutor

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return fn()
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(fn).result()


def call(spec: ModelSpec, op: str, args: tuple | list = (), kwargs: dict | None = None) -> Any:
    """Run ``op`` for ``spec`` in a replica and return its result (or raise its PlmCoreError)."""
    def send() -> Any:
        handle = _app_handle().options(multiplexed_model_id=spec_id(spec))
        method = handle.forward if op in FORWARD_OPS else handle.run
        return method.remote(op, tuple(args), dict(kwargs or {})).result(timeout_s=CALL_TIMEOUT_S)

    return unwrap(_off_event_loop(send))


def call_many(spec: ModelSpec, op: str, calls: list[tuple[tuple, dict]]) -> list[Any]:
    """Several calls of ``op`` sent at once (Serve spreads them over the replicas); results in order."""
    def send() -> list[Any]:
        handle = _app_handle().options(multiplexed_model_id=spec_id(spec))
        responses = [handle.run.remote(op, tuple(a), dict(k)) for a, k in calls]
        return [r.result(timeout_s=CALL_TIMEOUT_S) for r in responses]

    return [unwrap(r) for r in _off_event_loop(send)]


def replica_stats() -> list[dict[str, Any]]:
    """``get_stats`` of the replicas that answer a few calls (for the benchmarks; not exhaustive)."""
    def ask() -> list[dict[str, Any]]:
        handle = _app_handle()
        seen: dict[int, dict[str, Any]] = {}
        for _ in range(8):
            stats = handle.get_stats.remote().result(timeout_s=30)
            seen[stats["pid"]] = stats
        return list(seen.values())

    return _off_event_loop(ask)


def describe() -> str:
    return f"Ray Serve application {APP_NAME!r} at {os.environ.get('RAY_ADDRESS') or 'auto'}"
