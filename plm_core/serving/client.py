"""The Ray Serve client (``PLM_BACKEND=ray``): each app process sends its model work to the ``plm`` application
on a Ray cluster, through :class:`RemoteLens`.

The replica (the Serve deployment, :mod:`plm_core.serving.ray_replica`) runs each call on its own
:class:`plm_core.lens.LocalLens`. :func:`call` connects once to the cluster at ``RAY_ADDRESS`` and sends
``(method, args, kwargs)`` through a deployment handle, naming the model with Serve's multiplexing
(:func:`plm_core.serving.protocol.spec_id`). A ``PlmCoreError`` raised in the replica comes back as data and is
raised here as the same class with the same message; anything else surfaces as Ray's error. Neither Streamlit nor
``ui`` is imported here.

Run it: ``deploy/plm_cluster.py up`` (one machine), or see the README's "Scaling out (optional)".
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Sequence
from typing import Any

from ray import serve

from plm_core.errors import PlmCoreError
from plm_core.handle import ModelSpec
from plm_core.i18n import msg
from plm_core.settings import settings
from plm_core import lens as lens_mod
from plm_core.serving.protocol import APP_NAME, spec_id, unwrap  # noqa: F401 - re-exported for callers
import plm_core.bias.jobs

CALL_TIMEOUT_S = settings().ray_timeout_s
# callbacks that cannot travel to another process: left out (no live progress bar, no stop button)
LOCAL_ONLY_KWARGS = ("progress", "should_stop")
# a bias chunk on several replicas: up to PIECES pieces of at least MIN_PIECE items
PIECES, MIN_PIECE = 8, 4


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
                    raise PlmCoreError(msg("PLM_BACKEND=ray, but no Ray cluster answers at {address}: {error}",
                                           address=os.environ.get("RAY_ADDRESS") or "auto", error=str(err))) from None
            try:
                _HANDLE = serve.get_app_handle(APP_NAME)
            except Exception as err:  # noqa: BLE001 - Serve raises several kinds when the app is absent
                raise PlmCoreError(msg("PLM_BACKEND=ray, but the Ray cluster has no Serve application '{app}' (start "
                                       "it with deploy/plm_cluster.py up): {error}", app=APP_NAME,
                                       error=str(err))) from None
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


def call(spec: ModelSpec, name: str, args: tuple | list = (), kwargs: dict | None = None) -> Any:
    """Run the :class:`~plm_core.lens.Lens` method ``name`` for ``spec`` in a replica and return its result (or
    raise its PlmCoreError); a forward-only method joins the replica's next batch."""
    def send() -> Any:
        handle = _app_handle().options(multiplexed_model_id=spec_id(spec))
        method = handle.forward if name in lens_mod.FORWARD_METHODS else handle.run
        return method.remote(name, tuple(args), dict(kwargs or {})).result(timeout_s=CALL_TIMEOUT_S)

    return unwrap(_off_event_loop(send))


def call_many(spec: ModelSpec, name: str, calls: list[tuple[tuple, dict]]) -> list[Any]:
    """Several calls of the method ``name`` sent at once (Serve spreads them over the replicas); results in
    order."""
    def send() -> list[Any]:
        handle = _app_handle().options(multiplexed_model_id=spec_id(spec))
        responses = [handle.run.remote(name, tuple(a), dict(k)) for a, k in calls]
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


# ------------------------------------------------------------------ the lens (same methods as plm_core.lens.Lens)


class RemoteLens(lens_mod.ForwardingLens):
    """The operations of ``spec`` in a Ray Serve replica: each method sends its name and arguments (:func:`call`);
    the replica runs the same method of its own :class:`~plm_core.lens.LocalLens`. Tokenizer-only methods run here,
    on the handle of ``spec`` in ``handles`` (:class:`~plm_core.lens.Handles`); the callbacks ``progress`` and ``should_stop`` stay here (left out of the request).
    ``score_bias_chunk`` cuts its items into pieces scored on several replicas at once."""

    def __init__(self, spec: ModelSpec, handles: lens_mod.Handles) -> None:
        self.spec = spec
        self._local = lens_mod.LocalLens(spec, handles)

    def _call(self, name: str, args: tuple, /, **kwargs: Any) -> Any:
        if lens_mod.runs(name) == "tokenizer":
            return getattr(self._local, name)(*args, **kwargs)
        return call(self.spec, name, args, {k: v for k, v in kwargs.items() if k not in LOCAL_ONLY_KWARGS})

    def score_bias_chunk(self, items: Sequence[Any], *, probe: str,
                         config: dict[str, Any]) -> tuple[Sequence[Any], dict[str, Any]]:
        if len(items) < 2 * MIN_PIECE:
            return plm_core.bias.jobs.merge_parts([self._call("score_bias_chunk", (items,), probe=probe, config=config)])
        size = max(MIN_PIECE, -(-len(items) // PIECES))
        parts = [tuple(items[s:s + size]) for s in range(0, len(items), size)]
        calls = [((part,), {"probe": probe, "config": config}) for part in parts]
        return plm_core.bias.jobs.merge_parts(call_many(self.spec, "score_bias_chunk", calls))
