"""Paths a user typed (a model folder, a data file), checked before the file system sees them.

``Path("~nosuchuser").expanduser()`` raises RuntimeError, and ``Path("a" * 300).is_dir()`` raises OSError
(file name too long) instead of answering False: typed into a text box, either became a traceback.
"""

from __future__ import annotations

from pathlib import Path

from plm_core.errors import InvalidInputError, excerpt


def user_path(text: str, what: str = "path") -> Path:
    """``text`` as a path with ``~`` expanded.

    Raises:
        InvalidInputError: ``~name`` of a user this machine does not know.
    """
    try:
        return Path(text).expanduser()
    except RuntimeError:
        raise InvalidInputError(f"the {what} {excerpt(text)} starts with ~ but names no user of this machine") \
            from None


def is_dir(path: Path | str) -> bool:
    """``Path.is_dir``, False for a name the file system refuses (too long, a NUL byte, unreadable)."""
    try:
        return Path(path).is_dir()
    except (OSError, ValueError):
        return False


def is_file(path: Path | str) -> bool:
    """``Path.is_file``, False for a name the file system refuses."""
    try:
        return Path(path).is_file()
    except (OSError, ValueError):
        return False
