"""Issue 13, item 1: one mechanism keeps every view in its link (Streamlit's own ``bind="query-params"``).

A static guard over pages/, ui/ and app.py, so the fault class (a view the address bar does not carry, URL state
written by hand) cannot come back on a new widget or page:

- every input widget with a key is bound to the URL (``bind="query-params"``) or, where its value cannot or should
  not be in a link, kept in the session (``persist_state``); the sidebar's model form and the app-wide chart
  format are the listed exceptions (the model travels as ``?model=``), and so is the sidebar's language switch
  (``?lang=zh``: a bound radio would carry its shown name, ``?language=中文``, not the code issue 12 asks for);
- no code writes ``st.query_params`` but the model picker (``?model=``) and the language switch (``?lang=``): no
  hand-made URL state.

(A link's text is user input: plm_core cuts it on every path like typed text, tests/app/test_links.py. Not
``max_chars``: Streamlit's boxes then ignore a longer paste altogether, with no message.)
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SOURCES = sorted([*ROOT.glob("pages/*.py"), *ROOT.glob("ui/**/*.py"), ROOT / "app.py"])
INPUTS = {"text_input", "text_area", "selectbox", "multiselect", "radio", "toggle", "checkbox", "slider",
          "select_slider", "number_input", "pills", "segmented_control", "tabs", "date_input", "time_input",
          "color_picker", "feedback", "data_editor"}
# not part of a view: the sidebar's model form (the model is ?model=, written by the picker once loaded) and the
# app-wide download format (a preference, drawn on every page by app.py)
NOT_IN_LINKS = {"model.choice", "model.custom", "model.kind", "model.device", "model.allow_pickle", "FORMAT_KEY",
                "KEY"}  # KEY: ui/language.py's switch, kept as ?lang=<code> by ui.language itself


def _calls(path: Path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            yield node


def _name(call: ast.Call) -> str | None:
    f = call.func
    return f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) else None


def _kw(call: ast.Call, name: str):
    return next((k.value for k in call.keywords if k.arg == name), None)


def _key_text(node) -> str:
    return ast.unparse(node) if node is not None else ""


def _widgets():
    for path in SOURCES:
        for call in _calls(path):
            name = _name(call)
            if name in INPUTS and isinstance(call.func, ast.Attribute) and _kw(call, "key") is not None:
                yield path, call, name


def test_the_guard_sees_the_widgets():
    found = {(p.name, _key_text(_kw(c, "key"))) for p, c, _ in _widgets()}
    assert ("attention.py", "'attention.stack'") in found and ("lesson_shell.py", "'lessons.presenter'") in found
    assert len(found) > 60


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_input_widget_is_in_the_link_or_kept_in_the_session(path):
    missing = []
    for p, call, name in _widgets():
        if p != path:
            continue
        key = _key_text(_kw(call, "key")).strip("'\"")
        bound = _kw(call, "bind")
        if key in NOT_IN_LINKS:
            continue
        if not ((isinstance(bound, ast.Constant) and bound.value == "query-params") or _kw(call, "persist_state")):
            missing.append(f"line {call.lineno}: st.{name}(key={key})")
    assert not missing, "widgets kept neither in the link nor in the session:\n" + "\n".join(missing)


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_only_the_model_picker_writes_the_url(path):
    """url_state.py and the lessons' own URL code wrote the address bar by hand; Streamlit does it now."""
    writes = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        targets = (node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(node, ast.AugAssign)
                   else node.targets if isinstance(node, ast.Delete) else [])
        for t in targets:
            if isinstance(t, ast.Subscript) and "query_params" in ast.unparse(t.value):
                writes.append((node.lineno, ast.unparse(t)))
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and \
                node.func.attr in ("update", "clear", "from_dict", "pop") and "query_params" in ast.unparse(node.func.value):
            writes.append((node.lineno, ast.unparse(node)))
    allowed = [(n, w) for n, w in writes if (path.name, w) in (("widgets.py", "st.query_params['model']"),
                                                                ("widgets.py", "st.query_params['ablate']"),
                                                                ("language.py", "st.query_params[PARAM]"))]
    assert writes == allowed, writes


def test_one_mechanism_the_hand_made_url_state_is_gone():
    assert not (ROOT / "ui" / "url_state.py").exists()
