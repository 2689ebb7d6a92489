"""The kind adapters by name: a leaf registry that :mod:`plm_core.kinds` fills when it is imported.

``ModelHandle.adapter`` (:mod:`plm_core.handle`) reads it, so the handle type does not import the adapters, which
take handles (the import cycle ``loading`` ↔ ``kinds`` ↔ ``inference`` of issue 26). Every handle comes from
:func:`plm_core.loading.load_model` or from code that imported ``plm_core.loading``, which imports ``plm_core.kinds``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from plm_core.errors import UnsupportedModelError
from plm_core.i18n import msg

if TYPE_CHECKING:
    from plm_core.kinds.base import KindAdapter

# name -> adapter, in detection order (the order plm_core.kinds registers them); plm_core.kinds.KINDS is this dict
KINDS: dict[str, KindAdapter] = {}


def register(adapter: KindAdapter) -> KindAdapter:
    """Add ``adapter`` under ``adapter.name`` (after those registered before it: detection order).

    Raises:
        ValueError: another adapter already has that name.
    """
    if KINDS.get(adapter.name, adapter) is not adapter:
        raise ValueError(f"two adapters for the kind {adapter.name!r}")
    KINDS[adapter.name] = adapter
    return adapter


def get_adapter(kind: str) -> KindAdapter:
    """The adapter of ``kind`` (a ``ModelHandle.kind`` value).

    Raises:
        UnsupportedModelError: no such kind.
    """
    if not KINDS:  # a programming error, not a user's: the adapters were never imported
        raise RuntimeError("no model kind is registered yet: import plm_core.kinds (plm_core.loading does)")
    try:
        return KINDS[kind]
    except KeyError:
        raise UnsupportedModelError(msg('unknown model kind {kind!r}; choose one of {value}', kind=kind,
                                        value=', '.join(KINDS))) from None
