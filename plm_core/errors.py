"""Errors raised by plm_core. Pages catch :class:`PlmCoreError` and show its message."""

from __future__ import annotations


class PlmCoreError(Exception):
    """Base class; every error meant for the user derives from it."""


class InvalidInputError(PlmCoreError, ValueError):
    """The text (or another user input) cannot be used as given."""


class InputTooLongError(InvalidInputError):
    """The input is longer than allowed and truncation was not requested."""


class ModelLoadError(PlmCoreError):
    """A model or tokenizer could not be loaded; the message says why and what to do."""


class UnsupportedModelError(PlmCoreError):
    """The model cannot do what was asked (no mask token, no attention weights, ...)."""


class UnknownMethodError(PlmCoreError, ValueError):
    """A method name is not registered; the message lists the valid ones."""

    def __init__(self, method: str, available: list[str]) -> None:
        super().__init__(f"unknown method {method!r}; choose one of: {', '.join(available)}")
        self.method = method
        self.available = available
