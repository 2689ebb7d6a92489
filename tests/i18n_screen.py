"""What an AppTest run shows, as text, and the English catalogue strings found in it (tests of the 中文 UI).

:func:`screen_texts` walks every element Streamlit sent (main area and sidebar): alerts, Markdown, captions,
titles, widget labels, help, placeholders and options, tab / expander / metric labels, table headers, progress
text, and every title, axis, legend, hover template and annotation of each plotly chart. :func:`english_on_screen`
reports the English msgids of the catalogue (those whose Chinese differs) whose words appear there.
"""

from __future__ import annotations

import json
import re
from functools import cache

from google.protobuf.json_format import MessageToDict

from plm_core.i18n import gettext_in, po_path

# proto fields that hold interface text (widget *values* — the user's own text — are left out)
TEXT_FIELDS = {"body", "label", "help", "placeholder", "options", "text", "title", "caption", "captions",
               "formatted_options", "formattedOptions", "mdCaption"}
CHART_KEYS = {"text", "name", "hovertemplate", "title", "legendgroup_title"}  # strings drawn on a plotly chart
_PLACEHOLDER = re.compile(r"\{[^{}]*\}|%\{[^{}]*\}|<[^<>]+>|\*\*|`")
_WORD = re.compile(r"[A-Za-z][A-Za-z'’-]+")


def _strings(value, keys: set[str], under: bool = False):
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _strings(v, keys, under or k in keys)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v, keys, under)
    elif isinstance(value, str) and under:
        yield value


def chart_texts(spec: dict):
    yield from _strings(spec.get("layout", {}), CHART_KEYS)
    for trace in spec.get("data", []):
        for k in ("name", "hovertemplate"):
            if isinstance(trace.get(k), str):
                yield trace[k]
        yield from _strings(trace.get("colorbar", {}), {"text"})
        if isinstance(trace.get("customdata"), list):  # hover lines written by the app (bias intervals)
            yield from (c for c in trace["customdata"] if isinstance(c, str))


def screen_texts(at) -> list[str]:
    """Every piece of interface text of the last run (see the module docstring)."""
    out: list[str] = []

    def walk(node) -> None:
        proto = getattr(node, "proto", None)
        if proto is not None and not hasattr(node, "children") or proto is not None and getattr(node, "type", "") != "block":
            d = MessageToDict(proto, preserving_proto_field_name=True)
            d.pop("columns", None)  # a table's column_config: its labels are read with the table below
            d.pop("arrow_data", None)
            if "spec" in d and isinstance(d["spec"], str):  # a plotly chart
                try:
                    out.extend(chart_texts(json.loads(d["spec"])))
                except ValueError:
                    pass
            out.extend(_strings({k: v for k, v in d.items() if k != "spec"}, TEXT_FIELDS))
        if hasattr(node, "label") and isinstance(getattr(node, "label"), str):  # tabs, expanders
            out.append(node.label)
        for child in getattr(node, "children", {}).values():
            walk(child)

    walk(at._tree)
    for frame in at.dataframe:  # column headers as shown: the column_config label, else the name (cells are data)
        config = json.loads(frame.proto.columns or "{}")
        out.extend(str(config.get(str(c), {}).get("label") or c) for c in frame.value.columns)
    for table in at.table:
        out.extend(str(c) for c in table.value.columns)
    return out


@cache
def english_catalogue() -> tuple[tuple[str, tuple[str, ...]], ...]:
    """(msgid, its English word runs) for every msgid whose Chinese differs from it: the strings that must not
    be seen in the Chinese interface. Runs: the literal text between placeholders, markup removed."""
    from babel.messages.pofile import read_po

    with po_path("zh").open("rb") as f:
        catalog = read_po(f, locale="zh")
    out = []
    for m in catalog:
        if not m.id or isinstance(m.id, tuple):
            continue
        zh = gettext_in("zh", m.id) if not m.context else (m.string or "")
        if zh == m.id:
            continue  # the same in both languages (a symbol, a method name)
        runs = tuple(r.strip(" .,:;()[]—-·|") for r in _PLACEHOLDER.split(m.id))
        runs = tuple(r for r in runs if len(_WORD.findall(r)) >= 1 and len(r) >= 3 and r not in zh)
        if runs:
            out.append((m.id, runs))
    return tuple(out)


def english_on_screen(texts: list[str], *, allowed: set[str] = frozenset()) -> list[tuple[str, str]]:
    """(msgid, where) for each English catalogue string seen in ``texts``.

    A run of two or more words is looked for anywhere; a one-word msgid ("Layer", "Show") only as a whole
    text (a label, an option, a column header, a chart title), since one English word inside a sentence may be
    data (a token, a model name). ``allowed``: texts that are data here (the user's sentence, tokens).
    """
    shown = [t for t in texts if t and t not in allowed]
    found = []
    for msgid, runs in english_catalogue():
        for run in runs:
            if len(_WORD.findall(run)) >= 2:
                hit = next((t for t in shown if run in t), None)
            elif run == msgid.strip():  # a one-word msgid: only as a whole label (a fragment may be a token)
                hit = next((t for t in shown if t.strip() == run), None)
            else:
                hit = None
            if hit is not None:
                found.append((msgid, hit))
                break
    return found
