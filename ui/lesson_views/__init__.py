"""The lessons' live views, one module per lesson (named by the lesson's key), looked up by the view name each
step of :mod:`plm_core.lessons.content` gives (``Step.view``): never by lesson number. A view's record
(:class:`~ui.lesson_views.base.View`) says which inputs it reads, so the shell needs no per-lesson branches."""

from __future__ import annotations

from ui.lesson_views import bias, explanation, ffn, multi_head, pretraining, self_attention, tokens, transfer
from ui.lesson_views.base import Ctx, View

MODULES = (tokens, self_attention, multi_head, pretraining, transfer, explanation, bias, ffn)


def _registry() -> dict[str, View]:
    views: dict[str, View] = {}
    for module in MODULES:
        twice = views.keys() & module.VIEWS.keys()
        if twice:
            raise RuntimeError(f"{module.__name__} defines views another module defines: {sorted(twice)}")
        views.update(module.VIEWS)
    return views


VIEWS: dict[str, View] = _registry()

__all__ = ["Ctx", "MODULES", "VIEWS", "View"]
