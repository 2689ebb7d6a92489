"""What the Ray Serve replica and its client agree on: the application's name, a :class:`ModelSpec` as Serve's
multiplexed model id, and replies that are values or a ``PlmCoreError`` as data. No Ray import."""

from __future__ import annotations

import importlib
import json
from dataclasses import asdict
from typing import Any

from plm_core.errors import PlmCoreError
from plm_core.handle import ModelSpec

APP_NAME = "plm"
DEPLOYMENT_NAME = "PlmModels"


def spec_id(spec: ModelSpec) -> str:
    """A ModelSpec as Serve's multiplexed model id (stable JSON)."""
    return json.dumps(asdict(spec), sort_keys=True, separators=(",", ":"))


def spec_of(model_id: str) -> ModelSpec:
    """The ModelSpec :func:`spec_id` wrote."""
    return ModelSpec.from_fields(json.loads(model_id))


def ok(value: Any) -> tuple:
    """A reply carrying ``value``."""
    return ("ok", value)


def error(err: PlmCoreError) -> tuple:
    """A reply carrying ``err`` as data (its class by module and name, its message)."""
    return ("error", type(err).__module__, type(err).__qualname__, str(err))


def unwrap(reply: tuple) -> Any:
    """The value of a reply, or raise the PlmCoreError it carries (same class, same message); a class that is no
    PlmCoreError is raised as a plain PlmCoreError with the message."""
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
