"""The pages' lens on a model: where its work runs, and each method's results cached per process.

:func:`get_lens` gives a :class:`plm_core.lens.Lens` for a model, chosen by ``PLM_BACKEND``
(:func:`plm_core.settings.settings`):

- ``local`` (the default): :class:`plm_core.lens.LocalLens` in this process, on the shared handle in
  ``ui.handles.MODELS`` (loaded once per process, behind its lock).
- ``ray``: :class:`plm_core.serving.client.RemoteLens`, the same methods run in a Ray Serve replica of the ``plm``
  application at ``RAY_ADDRESS`` (``pip install -r requirements-ray.txt``); a ``PlmCoreError`` raised there is
  raised here as the same class with the same message. Tokenizer-only methods stay here.

Either is wrapped in :class:`plm_core.lens.CachingLens`, which keeps the results of each method marked
``@cached`` on :class:`plm_core.lens.Lens` in ``st.cache_data`` with the mark's parameters (keyed on the model's spec
and the arguments): :data:`MEMOIZED`. A test gives a page its own lens with :func:`inject` (that lens is used as it
is, uncached). Nothing here imports Ray unless the Ray backend is chosen. The lenses only call down into the core:
this module builds them and hands them the process's model cache (``ui.handles.MODELS``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import streamlit as st

from plm_core.errors import PlmCoreError
from plm_core.lens import CachePolicy, CachingLens, Lens, LocalLens, memoize_methods
from plm_core.loading import ModelSpec
from plm_core.settings import settings
from ui import handles

BACKEND_ENV = "PLM_BACKEND"
BACKENDS = ("local", "ray")
FACTORY_KEY = "lens.factory"  # session state: a test's lens factory (see inject)


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


def describe() -> str:
    """One line for the sidebar/logs: where the model work runs."""
    if backend_name() == "local":
        return "in this process"
    from plm_core.serving import client  # only with PLM_BACKEND=ray

    return client.describe()


def backend_lens(spec: ModelSpec) -> Lens:
    """The uncached lens of ``spec`` for this backend, on the process's model cache (``ui.handles.MODELS``; it loads
    the model at its first use, without progress messages: also for threads without a Streamlit session).

    Raises:
        PlmCoreError: an unknown ``PLM_BACKEND``.
    """
    if backend_name() == "local":
        return LocalLens(spec, handles.MODELS)
    from plm_core.serving.client import RemoteLens  # only with PLM_BACKEND=ray

    return RemoteLens(spec, handles.MODELS)


def get_lens(spec: ModelSpec) -> Lens:
    """The lens a page uses for ``spec``: this backend's, with each method's results cached (:class:`CachingLens`);
    a lens given with :func:`inject` instead, as it is. The model is loaded here if it is not loaded yet, with the
    page's progress messages (:func:`ui.handles.get_handle`): the lens itself never calls back into the app.

    Raises:
        PlmCoreError: an unknown ``PLM_BACKEND``; the model cannot be loaded (the message says why).
        ModelNotAllowedError: classroom mode is on and ``spec`` is not on its allowlist.
    """
    factory = st.session_state.get(FACTORY_KEY)
    if factory is not None:
        return factory(spec)
    lens = backend_lens(spec)
    handles.get_handle(spec)  # loaded here, with the page's progress messages: the lens then finds it in the cache
    return CachingLens(lens, MEMOIZED)


def inject(session_state: Any, factory: Callable[[ModelSpec], Lens]) -> None:
    """Make :func:`get_lens` of the session with ``session_state`` (``st.session_state``, or an ``AppTest``'s)
    return ``factory(spec)``: how a test gives a page a small fake lens."""
    session_state[FACTORY_KEY] = factory


def _cache_data(policy: CachePolicy) -> Callable[[Callable], Callable]:
    """``st.cache_data`` with a Lens method's :class:`~plm_core.lens.CachePolicy`."""
    return st.cache_data(max_entries=policy.max_entries, ttl=policy.ttl, show_spinner=policy.spinner or False,
                         hash_funcs=dict(policy.keys) or None)


# one cached function per cached Lens method, for the whole process (every session and model shares them)
MEMOIZED = memoize_methods(_cache_data)
