"""The process-wide model handles of a server process: one rule for the app (``ui.handles``, with its progress
messages) and the Ray Serve replica (:mod:`plm_core.serving.ray_replica`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from plm_core import loading
from plm_core.classroom import check_model_allowed
from plm_core.handle import ModelHandle, ModelSpec
from plm_core.model_cache import ModelCache, shared
from plm_core.patching import ablated_copy


def _load_model(spec: ModelSpec) -> ModelHandle:
    """``plm_core.loading.load_model``, looked up at each load (a test counts loads by patching it there)."""
    return loading.load_model(spec)


def handle_cache(load: Callable[[ModelSpec], ModelHandle] = _load_model) -> ModelCache[ModelSpec, ModelHandle]:
    """A :class:`~plm_core.model_cache.ModelCache` of handles under the memory budget (``PLM_MODEL_MEMORY_MB``):
    a whole model through ``load`` (default ``plm_core.loading.load_model``); an ablated one (``spec.ablation``) as a copy
    of the cached whole model (:func:`plm_core.patching.ablated_copy`), so the budget counts the copy and the
    shared model never carries its hooks."""
    def load_one(spec: ModelSpec) -> ModelHandle:
        if spec.ablation is None:
            return load(spec)
        return ablated_copy(cache.get(replace(spec, ablation=None)), spec.ablation)

    # the process's one memory budget (plm_core.model_cache.shared): generation's KV caches count here too
    cache: ModelCache[ModelSpec, ModelHandle] = shared(ModelCache(load_one))
    return cache


def allowed_handle(cache: ModelCache[ModelSpec, ModelHandle], spec: ModelSpec) -> ModelHandle:
    """The handle of ``spec`` from ``cache`` (loaded on first use).

    Raises:
        ModelNotAllowedError: classroom mode is on and ``spec`` is not on its allowlist.
        PlmCoreError: the model cannot be loaded (the message says why).
    """
    check_model_allowed(spec.model_id, allow_pickle=spec.allow_pickle)
    return cache.get(spec)
