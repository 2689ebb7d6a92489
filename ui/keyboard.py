"""Keyboard steps for the lessons: → / PageDown / Space = next, ← / PageUp = previous (what a clicker sends).

Streamlit 1.67's ``st.components.v2.component`` runs a few lines of our own JavaScript in the page itself (no
iframe, no files, no CDN: it works offline). The script listens for keys on the document and sends a trigger
value (``"next"`` / ``"prev"``) to Python, whose callback moves the step in the same rerun. Wherever the focus
is (a button, the reveal switch, a guess's radio, the page itself) the keys step the lesson, as a clicker
expects; only keys typed into a text box (a text area, a text input, a select box's search field, an editable
element) stay there, and so do keys with a modifier (Ctrl+→ moves the cursor). The key's default action (Space
pressing the focused switch, an arrow moving a radio choice) is cancelled: the key is the presenter's.
"""

from __future__ import annotations

from collections.abc import Callable

import streamlit as st

STEP_KEYS_JS = """
export default function (component) {
  const { setTriggerValue } = component;
  const NEXT = ['ArrowRight', 'PageDown', ' ', 'Spacebar'], PREV = ['ArrowLeft', 'PageUp'];
  const TEXT_TYPES = ['text', 'search', 'email', 'url', 'tel', 'password', 'number', 'date', 'time',
      'datetime-local', 'month', 'week'];
  const typing = (el) => !!el && (el.isContentEditable || el.tagName === 'TEXTAREA'
      || el.getAttribute('role') === 'combobox' || el.getAttribute('role') === 'textbox'
      || (el.tagName === 'INPUT' && TEXT_TYPES.includes((el.type || 'text').toLowerCase())));
  const onKey = (event) => {
    if (event.altKey || event.ctrlKey || event.metaKey || event.shiftKey) return;
    const nav = NEXT.includes(event.key) ? 'next' : PREV.includes(event.key) ? 'prev' : null;
    const el = document.activeElement && document.activeElement !== document.body ? document.activeElement
        : event.target;
    if (!nav || typing(el) || typing(event.target)) return;
    event.preventDefault();  // the key is the presenter's: Space does not press the switch, → does not move a radio
    event.stopImmediatePropagation();
    setTriggerValue('nav', nav);
  };
  window.addEventListener('keydown', onKey, true);  // capture, on the window: before any widget's own handler
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
