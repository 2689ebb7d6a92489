"""Where the model work of the pages runs: the one seam between ``ui``'s cached wrappers and the model.

``compute(spec, op, *args, **kwargs)`` runs the operation ``op`` (a name in :data:`plm_core.ops.OPS`) on the
model ``spec``:

- ``PLM_BACKEND`` unset or ``local`` (the default): in this process, on the shared handle of
  :func:`ui.handles.get_handle` (loaded once per process, behind its lock).
- ``PLM_BACKEND=ray``: in a Ray Serve replica of the ``plm`` application on the cluster at ``RAY_ADDRESS``
  (the client ``ui/ray_backend.py``, the replica ``plm_core/serving/ray_replica.py``;
  ``pip install -r requirements-ray.txt``). The replica runs the same
  :func:`plm_core.ops.run_op` on its own handle and returns the same frozen result; a ``PlmCoreError`` raised
  there is raised here as the same class with the same message. Tokenizer-only operations stay here.

Nothing here imports Ray unless the Ray backend is chosen.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from plm_core.settings import settings
from plm_core.errors import PlmCoreError
from plm_core.loading import ModelSpec
from plm_core.ops import TOKENIZER_OPS, run_op
from ui import handles

BACKEND_ENV = "PLM_BACKEND"
BACKENDS = ("local", "ray")
# callbacks that cannot travel to another process: the Ray backend leaves them out (no live progress bar)
LOCAL_ONLY_KWARGS = ("progress", "should_stop")


def backend_name() -> str:
    """``local`` or ``ray`` (from ``PLM_BACKEND``).

    Raises:
        PlmCoreError: an unknown backend name.
    """
    name = settings().backend
    if name not in BACKENDS:
        raise PlmCoreError(f"unknown {BACKEND_ENV}={name!r}; choose one of: {', '.join(BACKENDS)}")
    return name


def is_remote() -> bool:
    return backend_name() != "local"


def compute(spec: ModelSpec, op: str, *args: Any, **kwargs: Any) -> Any:
    """Run ``plm_core.ops.OPS[op](handle_of(spec), *args, **kwargs)`` where the backend says.

    Raises:
        PlmCoreError: whatever the operation raises (the same subclass and message on every backend).
    """
    if op in TOKENIZER_OPS or backend_name() == "local":
        return run_op(op, handles.get_handle, spec, args, kwargs)
    from plm_core.serving import client as ray_backend  # only with PLM_BACKEND=ray

    kwargs = {k: v for k, v in kwargs.items() if k not in LOCAL_ONLY_KWARGS}
    return ray_backend.call(spec, op, args, kwargs)


def compute_chunks(spec: ModelSpec, op: str, items: Sequence[Any], *, pieces: int = 8, min_piece: int = 4,
                   **kwargs: Any) -> list[Any]:
    """``op(handle, items, **kwargs)`` for a list of data-set items, as a list of per-piece results.

    Local: one call with every item. Ray: the items are cut into up to ``pieces`` pieces (at least
    ``min_piece`` items each) sent at once; Serve spreads them over the replicas and the results come back
    in order. Used for CrowS-Pairs / BEC-Pro chunks.
    """
    if backend_name() == "local" or len(items) < 2 * min_piece:
        return [compute(spec, op, items, **kwargs)]
    from plm_core.serving import client as ray_backend

    size = max(min_piece, -(-len(items) // pieces))
    parts = [tuple(items[s:s + size]) for s in range(0, len(items), size)]
    kwargs = {k: v for k, v in kwargs.items() if k not in LOCAL_ONLY_KWARGS}
    return ray_backend.call_many(spec, op, [((part,), kwargs) for part in parts])


def describe() -> str:
    """One line for the sidebar/logs: where the model work runs."""
    if backend_name() == "local":
        return "in this process"
    from plm_core.serving import client as ray_backend

    return ray_backend.describe()

