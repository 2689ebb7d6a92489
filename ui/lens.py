"""The pages' lens on a model: where its work runs, and each method's results cached per process.

:func:`get_lens` gives a :class:`plm_core.lens.Lens` for a model, chosen by ``PLM_BACKEND``
(:func:`plm_core.settings.settings`):

- ``local`` (the default): :class:`plm_core.lens.LocalLens` in this process, on the shared handle of
  :func:`ui.handles.get_handle` (loaded once per process, behind its lock).
- ``ray``: :class:`plm_core.serving.client.RemoteLens`, the same methods run in a Ray Serve replica of the ``plm``
  application at ``RAY_ADDRESS`` (``pip install -r requirements-ray.txt``); a ``PlmCoreError`` raised there is
  raised here as the same class with the same message. Tokenizer-only methods stay here.

Either is wrapped in :class:`CachingLens`, which applies ``st.cache_data`` per method with the parameters in
:data:`CACHE` (keyed on the model's spec and the arguments); a method not in :data:`CACHE` is not cached. A test
gives a page its own lens with :func:`inject` (that lens is used as it is, uncached). Nothing here imports Ray
unless the Ray backend is chosen.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import streamlit as st

from plm_core.errors import PlmCoreError
from plm_core.generation import Generation
from plm_core.i18n import lazy_gettext
from plm_core.lens import ForwardingLens, Lens, LocalLens
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
    """The uncached lens of ``spec`` for this backend (also for threads without a Streamlit session).

    Raises:
        PlmCoreError: an unknown ``PLM_BACKEND``.
    """
    if backend_name() == "local":
        return LocalLens(spec, handles.get_handle)
    from plm_core.serving.client import RemoteLens  # only with PLM_BACKEND=ray

    return RemoteLens(spec, handles.get_handle)


def get_lens(spec: ModelSpec) -> Lens:
    """The lens a page uses for ``spec``: this backend's, with each method's results cached (:class:`CachingLens`);
    a lens given with :func:`inject` instead, as it is.

    Raises:
        PlmCoreError: an unknown ``PLM_BACKEND``.
    """
    factory = st.session_state.get(FACTORY_KEY)
    if factory is not None:
        return factory(spec)
    return CachingLens(backend_lens(spec))


def inject(session_state: Any, factory: Callable[[ModelSpec], Lens]) -> None:
    """Make :func:`get_lens` of the session with ``session_state`` (``st.session_state``, or an ``AppTest``'s)
    return ``factory(spec)``: how a test gives a page a small fake lens."""
    session_state[FACTORY_KEY] = factory


def _generation_key(generation: Generation) -> tuple:
    """A generation in a cache key by its model and tokens (the RNG state and steps are the session's state)."""
    return generation.model_id, generation.ids, generation.n_start


_GENERATION = {Generation: _generation_key}
# st.cache_data parameters per cached method (the rest are not cached: they are cheap, a session's state, or
# follow the machine's load). An AttentionResult holds layer × head × n² floats (75 MB for MiniLM at 512 tokens):
# few entries, and recomputing one costs a forward pass.
CACHE: dict[str, dict[str, Any]] = {
    "predict": dict(max_entries=512, show_spinner=False),
    "extract_attention": dict(max_entries=16, ttl=3600, show_spinner=False),
    "query_key": dict(max_entries=256, show_spinner=False),
    "encode": dict(max_entries=512, show_spinner=False),
    "token_count": dict(max_entries=256, show_spinner=False),
    "mask_and_predict": dict(max_entries=512, show_spinner=False),
    "occlusion_sweep": dict(max_entries=128, show_spinner=False),
    "compare_texts": dict(max_entries=256, show_spinner=False),
    "compare_models": dict(max_entries=64, show_spinner=False),
    "attribution_difference": dict(max_entries=64, show_spinner=lazy_gettext("Attributing both sentences…")),
    "attribute": dict(max_entries=512, show_spinner=False),
    "attribute_every_label": dict(max_entries=64, show_spinner=False),
    "attribute_continuation": dict(max_entries=64, show_spinner=lazy_gettext("Attributing the continuation…")),
    "contributions": dict(max_entries=128,
                          show_spinner=lazy_gettext("Splitting the logit into heads and FFN blocks…")),
    "patch": dict(max_entries=64, show_spinner=lazy_gettext("Patching activations…")),
    "ablate": dict(max_entries=64, show_spinner=lazy_gettext("Running the model without them…")),
    "ffn_view": dict(max_entries=128, show_spinner=lazy_gettext("Reading the FFN neurons…")),
    "attribute_step": dict(max_entries=128, show_spinner=lazy_gettext("Attributing the token…"),
                           hash_funcs=_GENERATION),
    "step_attention": dict(max_entries=128, show_spinner=False, hash_funcs=_GENERATION),
    "logit_lens_ids": dict(max_entries=128, show_spinner=False),
    "logit_lens": dict(max_entries=128, show_spinner=False),
    "text_distribution": dict(max_entries=256, show_spinner=False),
    "token_embeddings": dict(max_entries=256, show_spinner=False),
    "contextual_embeddings": dict(max_entries=128, show_spinner=False),
    "attention_steps": dict(max_entries=256, show_spinner=False),
    "mask_lesson": dict(max_entries=128, show_spinner=False),
    "lesson_occlusion": dict(max_entries=128, show_spinner=False),
    "encoder_decoder_lesson": dict(max_entries=128, show_spinner=False),
    "train_head": dict(max_entries=32, show_spinner=lazy_gettext("Training the head on the frozen encoder…")),
    "classify": dict(max_entries=256, show_spinner=False),
    "lesson_bias_probe": dict(max_entries=64, show_spinner=lazy_gettext("Probing…")),
    "probe_templates": dict(max_entries=64, show_spinner=lazy_gettext("Probing…")),
    "sentence_embeddings": dict(max_entries=16, show_spinner=False),
    "model_card": dict(max_entries=32, ttl=600, show_spinner=False),
}


def _cached(name: str, params: dict[str, Any]) -> Callable[..., Any]:
    """``st.cache_data(**params)`` around the method ``name`` of a lens, keyed on (spec, args, kwargs): the lens
    itself (``_lens``) is left out of the key."""
    def call(spec: ModelSpec, _lens: Lens, args: tuple, kwargs: dict[str, Any]) -> Any:
        return getattr(_lens, name)(*args, **kwargs)

    call.__name__ = name
    call.__qualname__ = f"CachingLens.{name}"  # Streamlit keys each cache by its function's module and name
    return st.cache_data(**params)(call)


_CACHED: dict[str, Callable[..., Any]] = {name: _cached(name, params) for name, params in CACHE.items()}


class CachingLens(ForwardingLens):
    """``inner``'s methods with their results cached per process (``st.cache_data``, the parameters of
    :data:`CACHE`); the others call ``inner`` directly. ``st.cache_data.clear()`` empties every cache."""

    def __init__(self, inner: Lens) -> None:
        self.spec = inner.spec
        self.inner = inner

    def _call(self, name: str, args: tuple, /, **kwargs: Any) -> Any:
        cached = _CACHED.get(name)
        if cached is None:
            return getattr(self.inner, name)(*args, **kwargs)
        return cached(self.spec, self.inner, args, kwargs)
