"""The lessons' compositions of the lens's methods (the views' model work goes through ``ctx.lens``, cached per
method by :class:`plm_core.lens.CachingLens`).

The lesson shell is :mod:`ui.lesson_shell` (steps, navigation, presenter view, predict-then-reveal); the live views
are :mod:`ui.lesson_views` (one module per lesson). The views call these wrappers as attributes of this module
(``lessons.attention_steps(ctx.lens, ...)``); a test gives the page a fake lens (``ui.lens.inject``).
"""

from __future__ import annotations

import numpy as np
import streamlit as st

from plm_core.i18n import _
from plm_core.lens import Lens
from plm_core.lessons import compute


def attention_steps(lens: Lens, text: str, layer: int) -> compute.AttentionSteps:
    """Lessons 2–3: the step-by-step attention of head 0 of ``layer``."""
    return lens.attention_steps(text, layer, 0)


def classify(lens: Lens, examples: str, text: str) -> np.ndarray:
    """Lesson 5: the class probabilities of ``text`` under the head trained on ``examples`` (float [n_classes])."""
    return lens.classify(lens.train_head(examples), [text])[0]


def attribution(lens: Lens, text: str, other: str, n_steps: int):
    """Lesson 8: Integrated Gradients of ``text`` (a sentence encoder explains its similarity to ``other``)."""
    from plm_core.attribution import Target  # a sibling feature: imported when used

    target = Target("similarity", other=other) if "similarity" in lens.info().target_kinds else None
    with st.spinner(_("Attributing…")):
        return lens.attribute(text, "integrated_gradients", target=target, n_steps=n_steps)


def bias(lens: Lens, words: tuple[str, ...]) -> compute.BiasProbe:
    """Lesson 7: he − she per template and occupation (``plm_core.bias`` templates on a masked LM, the lesson's
    own probe elsewhere or where the bias feature is absent)."""
    try:
        template_set = compute.lesson_template_set(words)
    except ImportError:  # the bias feature is absent: the lesson's own probe
        return lens.lesson_bias_probe(words)
    info = lens.info()
    if info.output != "masked_token":  # plm_core.bias scores he/she as [MASK] fillers; other kinds: ours
        return lens.lesson_bias_probe(words)
    return compute.fold_template_probe(info.model_id, lens.probe_templates(template_set), words)
