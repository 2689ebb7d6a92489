"""Helpers of the masking lab and the comparison page: the mask the page chose, token and word pills, the
loaded models and their memory."""

from __future__ import annotations

import streamlit as st

from plm_core.compare import LoadedModel, describe_loaded, gpu_memory
from plm_core import classroom
from plm_core.masking import MaskSpec
from plm_core.types import Encoding
from ui import handles
from ui.text import picker_labels
from plm_core.i18n import N_, _

def mask_spec(positions: tuple[int, ...] | list[int], strategy: str, substitute: str | None) -> MaskSpec:
    """The page's choices as a MaskSpec (sorted positions; the substitute only for the "substitute" strategy)."""
    return MaskSpec(tuple(sorted(positions)), strategy, substitute if strategy == "substitute" else None)  # type: ignore[arg-type]


MASKS_KEY = "masking.masks"  # token positions (the URL's masks=); the word pills write into it
WORD_MASKS_KEY = "masking.word_masks"
PILLS_HELP = N_("Special tokens ([CLS], [SEP], <s>…) are not offered: the model always sees them.")


def token_pills(encoding: Encoding, options: list[int]) -> list[int]:
    """Pills over token positions; repeated tokens get numbered labels (Streamlit maps a click back by label)."""
    labels = dict(zip(options, picker_labels([encoding.tokens[i] for i in options], markdown=True)))
    return st.pills(_("Tokens — click to select"), options, selection_mode="multi", key=MASKS_KEY,
                    format_func=lambda i: labels.get(i, str(i)), help=_(PILLS_HELP), bind="query-params")  # md: trusted


def _word_clicked(words: Encoding, before: list[int]) -> None:
    """A word pill changed: mask or unmask all its pieces, keep pieces masked one by one in token view."""
    now = set(st.session_state.get(WORD_MASKS_KEY) or [])
    masks = set(st.session_state.get(MASKS_KEY) or [])
    for w in set(before) - now:
        masks -= set(words.pieces[w])
    for w in now - set(before):
        masks |= set(words.pieces[w])
    st.session_state[MASKS_KEY] = sorted(masks)


def word_pills(words: Encoding) -> list[int]:
    """Pills over words: a word is chosen when all its pieces are; clicking one masks or unmasks all of them.

    Returns:
        The chosen token positions (the masks), as the token pills do.
    """
    options = [w for w, s in enumerate(words.special) if not s]
    masks = set(st.session_state.get(MASKS_KEY) or [])
    chosen = [w for w in options if set(words.pieces[w]) <= masks]
    st.session_state[WORD_MASKS_KEY] = chosen
    labels = dict(zip(options, picker_labels([words.tokens[w] for w in options], markdown=True)))
    shown = st.pills(_("Words — click to select"), options, selection_mode="multi", key=WORD_MASKS_KEY,
                     format_func=lambda w: labels.get(w, str(w)), help=_(PILLS_HELP), on_change=_word_clicked,  # md: trusted
                     args=(words, chosen), bind="query-params")
    if sorted(shown) != chosen:  # words from a link (the URL wins on a session's first run): mask their pieces
        masks = {p for w in shown for p in words.pieces[w]}
        st.session_state[MASKS_KEY] = sorted(masks)
    return sorted(masks)


def loaded_models() -> tuple[LoadedModel, ...]:
    """Every model loaded on this server (all sessions; ui.handles evicts idle ones past its memory budget)."""
    return describe_loaded(handles.loaded_handles())


def memory_budget_mb() -> float:
    return handles.MODELS.budget / 2**20


CONFIRM_KEY = "compare.confirm_unload"


def unload_controls() -> None:
    """"Unload all models", which asks first: it affects every user of the server. Absent in classroom mode."""
    if classroom.current().enabled:  # one student must not empty the class's models
        return
    if not st.session_state.get(CONFIRM_KEY):
        if st.button(_("Unload all models…"), key="compare.unload",
                     help=_("Frees the memory of every loaded model, for every user of this server (asks first).")):
            st.session_state[CONFIRM_KEY] = True
            st.rerun()
        return
    st.warning(_("Unload every model for **every user of this server**? Everyone's pages load their model again on "
                 "their next view (seconds, or minutes for a large model), and every cached result is computed again."))
    yes, no = st.columns(2)
    if yes.button(_("Unload for everyone"), key="compare.unload_confirm", type="primary"):
        st.session_state[CONFIRM_KEY] = False
        unload()
        st.rerun()
    if no.button(_("Cancel"), key="compare.unload_cancel"):
        st.session_state[CONFIRM_KEY] = False
        st.rerun()


def gpu_report() -> dict[str, int] | None:
    return gpu_memory()


def unload() -> None:
    """Drop every loaded model and cached result (ui.handles.unload_models)."""
    handles.unload_models()
