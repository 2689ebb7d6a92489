"""Keyboard steps for the lessons: → / PageDown / Space = next, ← / PageUp = previous (what a clicker sends).

Streamlit 1.67's ``st.components.v2.component`` runs a few lines of our own JavaScript in the page itself (no
iframe, no files, no CDN: it works offline). The script listens for keys on the document and sends a trigger
value (``"next"`` / ``"prev"``) to Python, whose callback moves the step in the same rerun. Keys typed into a
text box, a select box or a slider are left alone, and so are keys with a modifier (Ctrl+→ moves the cursor);
Space on a focused button or radio and arrows on a focused radio keep their own meaning.
"""

from __future__ import annotations

from collections.abc import Callable

import streamlit as st

STEP_KEYS_JS = """
export default function (component) {
  const { setTriggerValue } = component;
  const NEXT = ['ArrowRight', 'PageDown', ' ', 'Spacebar'], PREV = ['ArrowLeft', 'PageUp'];
  const typing = (el) => !!el && (el.isContentEditable || el.tagName === 'TEXTAREA' || el.tagName === 'SELECT'
      || el.getAttribute('role') === 'slider' || el.getAttribute('role') === 'combobox'
      || (el.tagName === 'INPUT' && !['radio', 'checkbox', 'button', 'submit'].includes(el.type)));
  const onKey = (event) => {
    if (event.defaultPrevented || event.altKey || event.ctrlKey || event.metaKey || event.shiftKey) return;
    const nav = NEXT.includes(event.key) ? 'next' : PREV.includes(event.key) ? 'prev' : null;
    const el = event.target;
    if (!nav || typing(el)) return;
    const control = el && (el.tagName === 'BUTTON' || el.tagName === 'INPUT' || el.getAttribute('role') === 'tab');
    if (control && (event.key === ' ' || event.key === 'Spacebar')) return;  // Space presses that control
    if (el && (el.tagName === 'INPUT' || el.getAttribute('role') === 'tab') && event.key.startsWith('Arrow')) {
      return;  // arrows move a radio choice or a tab
    }
    event.preventDefault();
    setTriggerValue('nav', nav);
  };
  window.addEventListener('keydown', onKey, true);
  document.documentElement.setAttribute('data-plm-step-keys', 'on');  // listening (tests wait for it)
  return () => {
    window.removeEventListener('keydown', onKey, true);
    document.documentElement.removeAttribute('data-plm-step-keys');
  };
}
"""

_step_keys = st.components.v2.component("plm_lens.step_keys", js=STEP_KEYS_JS)


def step_keys(key: str, on_next: Callable[[], None], on_prev: Callable[[], None]) -> None:
    """Mount the key listener (draws nothing); ``on_next`` / ``on_prev`` run as callbacks before the rerun."""

    def changed() -> None:
        nav = (st.session_state.get(key) or {}).get("nav")
        if nav == "next":
            on_next()
        elif nav == "prev":
            on_prev()

    _step_keys(key=key, on_nav_change=changed, height=0)
