"""The process-wide model handles every session shares (re-exported from :mod:`ui.handles`, under the pages' and
tests' historical names). The model work itself goes through a lens (:mod:`ui.lens`)."""

from __future__ import annotations

from ui.handles import (  # noqa: F401 - re-exported: the pages' and tests' historical names
    MODELS,
    get_handle,
    loaded_handles,
    prepare_embedded,
    unload_models,
)
