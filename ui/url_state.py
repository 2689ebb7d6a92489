"""Shareable page state: widget values mirrored in the URL's query parameters.

Call :func:`sync` at the top of a page, before its widgets, with the widget keys to share. A fresh
session (an opened link) takes the values from the URL; every run then writes the current values
back, so the address bar is always a link that reproduces the view. Values equal to their default
are left out of the URL. The model is already shared as ``?model=`` by the sidebar picker.

    PARAMS = (UrlParam("masking.text", "text", EXAMPLE), UrlParam("masking.masks", "masks", [], "ints"))
    url_state.sync(PARAMS)
    text = st.text_input("Sentence", key="masking.text")   # no value=: the state holds it
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import streamlit as st

ParamKind = Literal["str", "int", "float", "bool", "ints"]


@dataclass(frozen=True)
class UrlParam:
    """One widget key shared through one query parameter."""

    key: str  # session-state / widget key ("masking.text")
    param: str  # query parameter name ("text")
    default: object  # value when the URL has none (and left out of the URL when equal)
    kind: ParamKind = "str"
    choices: tuple[object, ...] | None = None  # allowed values (a select box's options); others -> default


def decode(p: UrlParam, raw: str) -> object:
    """The value a query parameter stands for (the default when it cannot be read)."""
    try:
        if p.kind == "int":
            value: object = int(raw)
        elif p.kind == "float":
            value = float(raw)
        elif p.kind == "bool":
            value = raw.lower() in ("1", "true", "yes", "on")
        elif p.kind == "ints":
            value = [int(x) for x in raw.split(",") if x.strip()]
        else:
            value = raw
    except ValueError:
        return p.default
    if p.choices is not None and value not in p.choices:
        return p.default
    return value


def encode(p: UrlParam, value: object) -> str | None:
    """The query-parameter text for ``value`` (None: leave the parameter out)."""
    if value is None or value == p.default:
        return None
    if p.kind == "bool":
        return "1" if value else "0"
    if p.kind == "ints":
        return ",".join(str(int(v)) for v in value)  # type: ignore[union-attr]
    return str(value)


def restore(params: Sequence[UrlParam]) -> None:
    """Fill the state of widgets not yet set in this session from the URL, else their default.

    Values already set are written back: Streamlit drops the state of a widget that a run does not draw (the
    reference sentence while the main sentence is empty), and a value set through ``st.session_state`` is kept.
    """
    for p in params:
        if p.key in st.session_state:
            st.session_state[p.key] = st.session_state[p.key]
            continue
        raw = st.query_params.get(p.param)
        st.session_state[p.key] = decode(p, raw) if raw is not None else p.default


def publish(params: Sequence[UrlParam]) -> None:
    """Write the current values to the URL (only parameters that changed are sent)."""
    for p in params:
        text = encode(p, st.session_state.get(p.key, p.default))
        current = st.query_params.get(p.param)
        if text is None:
            if current is not None:
                del st.query_params[p.param]
        elif current != text:
            st.query_params[p.param] = text


def sync(params: Sequence[UrlParam]) -> None:
    """restore() then publish(): call once per run, before the widgets named in ``params``.

    Widget values are already updated in session state when a run starts, so writing them here keeps
    the URL current even when the page later stops on an error.
    """
    restore(params)
    publish(params)


def link(params: Sequence[UrlParam], page_path: str = "") -> str:
    """Relative link (``page?model=…&text=…``) to this view, for copying into notes."""
    from urllib.parse import urlencode

    query = {k: st.query_params.get(k) for k in st.query_params}
    for p in params:
        text = encode(p, st.session_state.get(p.key, p.default))
        query.pop(p.param, None)
        if text is not None:
            query[p.param] = text
    return f"{page_path}?{urlencode(query)}" if query else page_path
