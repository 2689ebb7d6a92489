"""The lessons' cached computations: ``st.cache_data`` wrappers keyed on primitives (the model's spec and the
step's inputs), as :mod:`ui.resources` is for the other pages.

The lesson shell is :mod:`ui.lesson_shell` (steps, navigation, presenter view, predict-then-reveal); the live views
are :mod:`ui.lesson_views` (one module per lesson). The views call these wrappers as attributes of this module
(``lessons.cached_attention_steps(...)``), so a test can replace one for every view at once.
"""

from __future__ import annotations

import numpy as np
import streamlit as st

from plm_core.i18n import lazy_gettext
from plm_core.lessons import compute, finetune
from plm_core.loading import ModelSpec
from plm_core.types import Encoding
from ui import resources
from ui.backend import compute as compute_op  # (plm_core.lessons.compute is `compute` here)


@st.cache_data(max_entries=256, show_spinner=False)
def cached_token_embeddings(spec: ModelSpec, text: str, pair: str | None = None) -> compute.TokenEmbeddings:
    return compute_op(spec, "token_embeddings", text, pair)


@st.cache_data(max_entries=128, show_spinner=False)
def cached_contextual(spec: ModelSpec, sentence_a: str, sentence_b: str, word: str) -> compute.ContextualEmbeddings:
    return compute_op(spec, "contextual_embeddings", sentence_a, sentence_b, word)


@st.cache_data(max_entries=256, show_spinner=False)
def cached_encoding(spec: ModelSpec, text: str, pair: str | None = None) -> Encoding:
    return compute_op(spec, "encode", text, pair)


@st.cache_data(max_entries=256, show_spinner=False)
def cached_attention_steps(spec: ModelSpec, text: str, layer: int) -> compute.AttentionSteps:
    return compute_op(spec, "attention_steps", text, layer, 0)


@st.cache_data(max_entries=128, show_spinner=False)
def cached_mask_lesson(spec: ModelSpec, text: str) -> compute.MaskLesson:
    return compute_op(spec, "mask_lesson", text)


@st.cache_data(max_entries=128, show_spinner=False)
def cached_encoder_decoder(spec: ModelSpec, text: str, target: str) -> compute.EncoderDecoderLesson:
    return compute.encoder_decoder_lesson(resources.get_handle(spec), text, target or None)


@st.cache_data(max_entries=128, show_spinner=False)
def cached_occlusion(spec: ModelSpec, text: str, words: Encoding | None = None) -> compute.Occlusion:
    return compute_op(spec, "lesson_occlusion", text, words=words)


@st.cache_data(max_entries=32, show_spinner=lazy_gettext("Training the head on the frozen encoder…"))
def cached_train(spec: ModelSpec, examples: str) -> finetune.TrainedHead:
    return compute_op(spec, "train_head", examples)


@st.cache_data(max_entries=256, show_spinner=False)
def cached_classify(spec: ModelSpec, examples: str, text: str) -> np.ndarray:
    return compute_op(spec, "classify", cached_train(spec, examples), [text])[0]


@st.cache_data(max_entries=64, show_spinner=lazy_gettext("Attributing…"))
def cached_attribution(spec: ModelSpec, text: str, other: str, n_steps: int):
    from plm_core.attribution import Target  # a sibling feature: imported when used

    handle = resources.get_handle(spec)
    target = Target("similarity", other=other) if "similarity" in handle.adapter.target_kinds else None
    return compute_op(spec, "attribute", text, "integrated_gradients", target=target, n_steps=n_steps)


@st.cache_data(max_entries=64, show_spinner=lazy_gettext("Probing…"))
def cached_bias(spec: ModelSpec, words: tuple[str, ...]) -> compute.BiasProbe:
    handle = resources.get_handle(spec)
    try:
        template_set = compute.lesson_template_set(words)
    except ImportError:  # the bias feature is absent: the lesson's own probe
        return compute_op(spec, "lesson_bias_probe", words)
    if handle.adapter.output != "masked_token":  # plm_core.bias scores he/she as [MASK] fillers; other kinds: ours
        return compute_op(spec, "lesson_bias_probe", words)
    return compute.fold_template_probe(handle.model_id, compute_op(spec, "probe_templates", template_set), words)
