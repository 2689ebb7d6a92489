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
        super().__init__(f"unknown method {excerpt(method)}; choose one of: {', '.join(available)}")
        self.method = method
        self.available = available


EXCERPT_CHARS = 60  # longest piece of user input an error message or note quotes


def excerpt(text: object, limit: int = EXCERPT_CHARS) -> str:
    """A short, quoted excerpt of user input for a message: ``'abc…' (20,000 characters)`` when cut.

    Error messages quote what the user typed so they can find it; a 95 kB text must not become a giant
    error box, and line breaks must not break the message into paragraphs.
    """
    s = str(text)
    flat = " ".join(s.split())
    if len(flat) <= limit:
        return repr(flat)
    return f"{clip(flat, limit)!r} ({len(s):,} characters)"


def clip(text: object, limit: int = EXCERPT_CHARS) -> str:
    """``text`` on one line, cut to ``limit`` characters with "…" (unquoted: for a list the message wrote)."""
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"
