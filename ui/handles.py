"""The process-wide model handles of the app: one cache shared by every browser session of the server.

The model cache (:func:`plm_core.serving.handles.handle_cache`, a ``plm_core.model_cache.ModelCache``) loads each
model once however many students open the page at the same time. It evicts by memory (``PLM_MODEL_MEMORY_MB``),
never a model a session used in the last minutes; a count-based ``st.cache_resource(max_entries=3)`` reloaded
models on every rerun once four were in use.

Below :mod:`ui.lens` (whose local lens runs operations on these handles): it does not import it.
"""

from __future__ import annotations

import streamlit as st

from plm_core import models as embedded
from plm_core.classroom import check_model_allowed
from plm_core.i18n import _, tr
from plm_core.loading import ModelHandle, ModelSpec
from plm_core.model_cache import ModelCache
from plm_core.serving.handles import handle_cache
from ui.safe import md

# one per process: every session shares it, and the pages' lenses (ui.lens) read it. It loads through
# plm_core.loading.load_model, looked up at each load (tests count loads by patching it there). A Ray Serve replica
# keeps its own cache by the same rule.
MODELS: ModelCache[ModelSpec, ModelHandle] = handle_cache()


def get_handle(spec: ModelSpec) -> ModelHandle:
    """The shared handle for ``spec`` (loaded on first use, then reused by every session).

    Raises:
        ModelNotAllowedError: classroom mode is on and ``spec`` is not on its allowlist.
        PlmCoreError: the model cannot be loaded (the message says why).
    """
    check_model_allowed(spec.model_id, allow_pickle=spec.allow_pickle)
    if spec in MODELS:
        return MODELS.get(spec)
    prepare_embedded(spec.model_id)
    with st.spinner(_("Loading {model}…", model=md(spec.model_id))):
        return MODELS.get(spec)


def prepare_embedded(model_id: str) -> None:
    """First use of an embedded GGUF model (SmolLM2, Gemma 3): convert it once, with a progress bar (other
    sessions asking at the same time wait, with a message; ``plm_core.models.prepare``)."""
    found = embedded.lookup(model_id)
    if found is None or embedded.is_prepared(found):
        return
    bar = st.progress(0.0, text=_("Preparing {model} for its first use (once per machine)…", model=_(found.label)))  # md: trusted
    embedded.prepare(found.key, lambda fraction, text: bar.progress(min(max(fraction, 0.0), 1.0), text=tr(text)))  # md: trusted
    bar.empty()


def loaded_handles() -> list[ModelHandle]:
    """Every model loaded in this process (all sessions)."""
    return MODELS.values()


def unload_models() -> None:
    """Drop every loaded model and every cached result, for every session of the server (frees GPU
    memory once no session holds a reference)."""
    MODELS.clear()
    st.cache_data.clear()
    try:
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    except ImportError:  # pragma: no cover
        pass
