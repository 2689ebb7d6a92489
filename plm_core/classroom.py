"""Classroom mode: limits that let one shared server hold a class.

A teacher starts the server with classroom mode on, from a TOML/JSON file (``PLM_CLASSROOM_CONFIG``) or from
environment variables; the environment wins over the file:

    PLM_CLASSROOM=1                       # turn it on (a config file turns it on by itself)
    PLM_ALLOWED_MODELS=embedded,/srv/models/sst2      # comma-separated model ids / folders
    PLM_MAX_TOKENS=128                    # longest input, in tokens (specials included)
    PLM_MAX_STEPS=64                      # most attribution / integration steps

The file (``classroom.toml``)::

    enabled = true
    allowed_models = ["embedded", "/srv/models/sst2"]
    max_tokens = 128
    max_steps = 64

With classroom mode on, only the allowlist, the server's default model and classifiers trained in the lessons
(folders under :func:`trained_dir`) can be loaded: students cannot make the server download a large model, load
pickle weights, or run unbounded work. This module is the one place the limits are decided; ``ui.handles``
and the sidebar picker call :func:`check_model_allowed`, ``ModelHandle.max_tokens`` applies :func:`token_cap`.
"""

from __future__ import annotations

import json
import tomllib
from dataclasses import dataclass
from pathlib import Path

from plm_core import models as embedded
from plm_core.paths import is_dir
from plm_core.settings import settings
from plm_core.errors import PlmCoreError, excerpt
from plm_core.i18n import msg

# the variables' names, defaults and meaning: plm_core.settings.VARIABLES (read there, only there)
CONFIG_ENV, ENABLED_ENV, MODELS_ENV = "PLM_CLASSROOM_CONFIG", "PLM_CLASSROOM", "PLM_ALLOWED_MODELS"
TOKENS_ENV, STEPS_ENV = "PLM_MAX_TOKENS", "PLM_MAX_STEPS"
# classroom defaults when enabled without explicit limits
DEFAULT_MAX_TOKENS = 128
DEFAULT_MAX_STEPS = 64


class ClassroomError(PlmCoreError):
    """Classroom mode refuses the request (a model outside the allowlist, a bad config)."""


class ModelNotAllowedError(ClassroomError):
    """The model is not on this classroom server's allowlist."""


@dataclass(frozen=True)
class ClassroomConfig:
    """The limits in force. ``enabled=False`` means no limits at all (a single user's own machine)."""

    enabled: bool = False
    allowed_models: tuple[str, ...] = ()  # model ids / folders; the default model is always allowed
    max_tokens: int | None = None
    max_steps: int | None = None
    source: str = "defaults"  # where it came from, for the sidebar caption

    def describe(self) -> str:
        if not self.enabled:
            return msg("classroom mode off")
        if not self.allowed_models:
            return msg("classroom mode: the default model only; at most {max_tokens} tokens, {max_steps} steps",
                       max_tokens=self.max_tokens, max_steps=self.max_steps)
        return msg("classroom mode: models {models}; at most {max_tokens} tokens, {max_steps} steps",
                   models=", ".join(self.allowed_models), max_tokens=self.max_tokens, max_steps=self.max_steps)


def _positive_int(value: object, what: str) -> int:
    try:
        n = int(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ClassroomError(msg('classroom config: {what} must be a whole number, got {value!r}', what=what, value=value)) from None
    if n < 1:
        raise ClassroomError(msg('classroom config: {what} must be at least 1, got {n}', what=what, n=n))
    return n


def _truthy(value: str) -> bool:
    return value.strip().lower() in ("1", "true", "yes", "on")


def _read_file(path: str) -> dict:
    p = Path(path).expanduser()
    try:
        raw = p.read_bytes()
    except OSError as err:
        raise ClassroomError(msg('cannot read the classroom config {path!r}: {strerror}', path=path, strerror=err.strerror)) from None
    try:
        data = json.loads(raw) if p.suffix.lower() == ".json" else tomllib.loads(raw.decode("utf-8"))
    except (ValueError, UnicodeDecodeError) as err:
        raise ClassroomError(msg('the classroom config {path!r} is not valid {value}: {err}', path=path, value=p.suffix or 'TOML', err=err)) from None
    if not isinstance(data, dict):
        raise ClassroomError(msg('the classroom config {path!r} must be a table/object', path=path))
    return data.get("classroom", data) if isinstance(data.get("classroom"), dict) else data


def load_config(environ: dict[str, str] | None = None) -> ClassroomConfig:
    """The classroom limits from the config file and environment variables (the environment wins).

    Raises:
        ClassroomError: an unreadable file or a bad value (the server should not start half-limited).
    """
    env = settings().environ if environ is None else environ
    data: dict = {}
    source = "defaults"
    if env.get(CONFIG_ENV):
        data = _read_file(env[CONFIG_ENV])
        data.setdefault("enabled", True)
        source = env[CONFIG_ENV]
    if env.get(ENABLED_ENV):
        data["enabled"] = _truthy(env[ENABLED_ENV])
        source = "environment" if source == "defaults" else source + " + environment"
    if env.get(MODELS_ENV):
        data["allowed_models"] = [m for m in env[MODELS_ENV].split(",") if m.strip()]
    if env.get(TOKENS_ENV):
        data["max_tokens"] = env[TOKENS_ENV]
    if env.get(STEPS_ENV):
        data["max_steps"] = env[STEPS_ENV]
    enabled = bool(data.get("enabled", False))
    if not enabled:
        return ClassroomConfig(source=source)
    models = data.get("allowed_models", [])
    if isinstance(models, str):
        models = [models]
    return ClassroomConfig(
        enabled=True,
        allowed_models=tuple(str(m).strip() for m in models),
        max_tokens=_positive_int(data.get("max_tokens", DEFAULT_MAX_TOKENS), "max_tokens"),
        max_steps=_positive_int(data.get("max_steps", DEFAULT_MAX_STEPS), "max_steps"),
        source=source,
    )


_CACHE: dict[tuple, ClassroomConfig] = {}


def current() -> ClassroomConfig:
    """The config in force now (re-read when the environment or the file's mtime changes)."""
    keys = (CONFIG_ENV, ENABLED_ENV, MODELS_ENV, TOKENS_ENV, STEPS_ENV)
    now = settings()
    key: tuple = tuple(now.get(k) for k in keys)
    if key[0]:
        try:
            key += (Path(key[0]).expanduser().stat().st_mtime_ns,)
        except OSError:
            key += (None,)
    if key not in _CACHE:
        if len(_CACHE) > 16:
            _CACHE.clear()
        _CACHE[key] = load_config()
    return _CACHE[key]


def trained_dir() -> Path:
    """Folder where lessons save the classifiers they train (allowed in classroom mode)."""
    return settings().trained_dir


def _same_model(a: str, b: str) -> bool:
    a, b = embedded.canonical_id(a), embedded.canonical_id(b)  # "embedded" and the MiniLM Hub id are one model
    if a == b:
        return True
    try:
        pa, pb = Path(a).expanduser(), Path(b).expanduser()
        return is_dir(pa) and is_dir(pb) and pa.resolve() == pb.resolve()
    except (OSError, RuntimeError, ValueError):  # "~nosuchuser", a name too long to resolve
        return False


def is_trained_folder(model_id: str) -> bool:
    """True for a folder inside :func:`trained_dir` (what lesson 5 saves)."""
    try:
        path = Path(model_id).expanduser().resolve()
        root = trained_dir().resolve()
    except (OSError, ValueError, RuntimeError):
        return False
    return is_dir(path) and path != root and root in path.parents


def allowed_models(config: ClassroomConfig | None = None) -> tuple[str, ...]:
    """The models the sidebar may offer: the default first, then the allowlist (empty when mode is off)."""
    config = config or current()
    if not config.enabled:
        return ()
    out = [embedded.canonical_id(settings().default_model or embedded.MINILM.model_id)]
    for m in config.allowed_models:
        if not any(_same_model(m, o) for o in out):
            out.append(embedded.canonical_id(m))
    return tuple(out)


def check_model_allowed(model_id: str, *, allow_pickle: bool = False, config: ClassroomConfig | None = None) -> None:
    """Refuse a model this server must not load in classroom mode (does nothing when the mode is off).

    Raises:
        ModelNotAllowedError: not the default, not on the allowlist, not a lesson-trained folder,
            or pickle weights asked for.
    """
    config = config or current()
    if not config.enabled:
        return
    if allow_pickle:
        raise ModelNotAllowedError(msg('classroom mode: pickle weights cannot be loaded on this shared server'))
    if any(_same_model(model_id, m) for m in allowed_models(config)) or is_trained_folder(model_id):
        return
    raise ModelNotAllowedError(
        msg("classroom mode: {model_id} is not on this server's list of models ({value}); ask the teacher to add it",
            model_id=excerpt(model_id), value=", ".join(allowed_models(config)))
    )


def token_cap(limit: int, config: ClassroomConfig | None = None) -> int:
    """``limit`` lowered to the classroom's maximum input length (tokens)."""
    config = config or current()
    return min(limit, config.max_tokens) if config.enabled and config.max_tokens else limit


def cap_steps(n_steps: int, config: ClassroomConfig | None = None) -> int:
    """``n_steps`` lowered to the classroom's maximum attribution steps."""
    config = config or current()
    return min(int(n_steps), config.max_steps) if config.enabled and config.max_steps else int(n_steps)
