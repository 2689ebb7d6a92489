"""Every ``PLM_*`` environment variable, read in one place: :func:`settings` gives one frozen :class:`Settings`.

:data:`VARIABLES` lists each variable with its default and what it does (the README's "Settings" table is this
list). No other module reads a ``PLM_*`` variable from ``os.environ`` (``tests/unit/test_settings.py`` checks):
each asks ``settings()``, which takes a snapshot of the ``PLM_*`` variables and builds the object once per
distinct snapshot, so a test that sets a variable (``monkeypatch.setenv``) sees it at the next call, and
:func:`reload` forgets the built ones. Values are kept as typed (strings); the module that owns a value's
meaning checks it and says what is wrong (``plm_core.classroom.load_config``, ``plm_core.model_cache.budget_bytes``).
"""

from __future__ import annotations

import functools
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Variable:
    name: str
    default: str  # what applies when it is unset (in words where it is not one value)
    what: str  # what it does


VARIABLES: tuple[Variable, ...] = (
    Variable("PLM_DEFAULT_MODEL", "the embedded all-MiniLM-L6-v2", "the model the app opens on: a Hub id, a folder "
             "or an embedded name (`smollm2`, `gemma3`)"),
    Variable("PLM_DEVICE", "auto (CUDA, then MPS, then CPU)", "where models run when a page asks for `auto`"),
    Variable("PLM_MODEL_MEMORY_MB", "4096", "the one memory budget of the model cache: loaded weights and "
             "generation's KV caches (KV caches are evicted first, then idle models)"),
    Variable("PLM_ATTRIBUTION_MEMORY_MB", "1536", "memory one batched attribution pass may use for saved "
             "activations (on CUDA at most half the free memory)"),
    Variable("PLM_CACHE", "~/.cache/plm-lens", "cache folder: converted embedded models (`models/`), bias data "
             "sets and runs (`bias/`)"),
    Variable("PLM_BIAS_STORE", "$PLM_CACHE/bias/runs.sqlite3", "the bias run store (SQLite)"),
    Variable("PLM_BIAS_DATA_URL", "the public sources", "one base URL that replaces every bias data set's "
             "source (a mirror; tests: a local server)"),
    Variable("PLM_TRAINED_DIR", "$TMPDIR/plm-lens-trained", "where lessons save the classifiers they train"),
    Variable("PLM_CLASSROOM", "off", "classroom mode on (`1`, `true`, `yes`, `on`) or off"),
    Variable("PLM_CLASSROOM_CONFIG", "none", "a TOML/JSON classroom config file (turns classroom mode on)"),
    Variable("PLM_ALLOWED_MODELS", "none", "classroom mode: comma-separated models the sidebar offers"),
    Variable("PLM_MAX_TOKENS", "128", "classroom mode: longest input in tokens"),
    Variable("PLM_MAX_STEPS", "64", "classroom mode: most integration steps / samples of an attribution"),
    Variable("PLM_BACKEND", "local", "`local` (models in the Streamlit process) or `ray` (a Ray Serve "
             "application at `RAY_ADDRESS`)"),
    Variable("PLM_RAY_TIMEOUT", "600", "seconds one call to the Ray Serve application may take"),
    Variable("PLM_APP_DEVICE", "cpu", "deploy/plm_cluster.py: the device of the app it starts (sets its "
             "`PLM_DEVICE`)"),
)
NAMES = frozenset(v.name for v in VARIABLES)


@dataclass(frozen=True)
class Settings:
    """The ``PLM_*`` variables as set when it was built: ``values`` holds those that are set and not empty."""

    values: tuple[tuple[str, str], ...] = ()

    def get(self, name: str) -> str | None:
        """The raw value of ``name`` (one of :data:`NAMES`), None when unset or empty.

        Raises:
            KeyError: a name that is not in :data:`VARIABLES` (a typo would read as unset otherwise).
        """
        if name not in NAMES:
            raise KeyError(f"{name} is not a plm-lens setting (plm_core.settings.VARIABLES)")
        return dict(self.values).get(name)

    @property
    def environ(self) -> dict[str, str]:
        """The set variables as a mapping (``classroom.load_config`` reads its five from it)."""
        return dict(self.values)

    @property
    def default_model(self) -> str | None:
        return self.get("PLM_DEFAULT_MODEL")

    @property
    def device(self) -> str | None:
        return self.get("PLM_DEVICE")

    @property
    def backend(self) -> str:
        return (self.get("PLM_BACKEND") or "local").strip().lower()

    @property
    def ray_timeout_s(self) -> float:
        return float(self.get("PLM_RAY_TIMEOUT") or 600)

    @property
    def attribution_memory_mb(self) -> float:
        return float(self.get("PLM_ATTRIBUTION_MEMORY_MB") or 1536)

    @property
    def cache_root(self) -> Path:
        return Path(self.get("PLM_CACHE") or Path.home() / ".cache" / "plm-lens")

    @property
    def bias_store(self) -> Path | None:
        store = self.get("PLM_BIAS_STORE")
        return Path(store).expanduser() if store else None

    @property
    def bias_data_url(self) -> str | None:
        return self.get("PLM_BIAS_DATA_URL")

    @property
    def trained_dir(self) -> Path:
        return Path(self.get("PLM_TRAINED_DIR") or Path(tempfile.gettempdir()) / "plm-lens-trained").expanduser()


@functools.lru_cache(maxsize=16)
def _build(values: tuple[tuple[str, str], ...]) -> Settings:
    return Settings(values)


def settings() -> Settings:
    """The settings in force: built once per distinct set of ``PLM_*`` values (a snapshot of ``os.environ``)."""
    return _build(tuple(sorted((k, v) for k, v in os.environ.items() if k in NAMES and v != "")))


def reload() -> None:
    """Forget the built settings (the next :func:`settings` builds them again)."""
    _build.cache_clear()


__all__ = ["NAMES", "VARIABLES", "Settings", "Variable", "reload", "settings"]
