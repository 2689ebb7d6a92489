"""The one CSV writer of plm-lens: every CSV the app or the command line produces is written here.

Two faults it exists to prevent:

- **Formula injection** (OWASP, "CSV Injection"): a text cell that begins with ``=``, ``+``, ``-``, ``@``, a tab
  or a carriage return runs as a formula when the file is opened in Excel or LibreOffice
  (``=HYPERLINK("http://…","x")``). Such a cell is written with a leading ``'``, as OWASP recommends, so the
  spreadsheet shows it as text. A cell that is a number stays a number: Python ``int``/``float`` values and
  text that is a plain decimal literal (``-2.5``, ``+3``, ``1e-3``) are written as they are; ``-2+3`` is text.
- **Records split by line breaks**: rows end with ``\\r\\n`` (RFC 4180), so the ``csv`` module quotes every
  field holding ``\\r`` or ``\\n``; a field holding NUL is quoted too. Every record reads back as exactly one
  row with ``pandas.read_csv`` or ``csv.reader``.

JSON exports need none of this (a JSON string cannot run), so they stay exact.
"""

from __future__ import annotations

import csv
import io
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")  # OWASP: characters a spreadsheet starts a formula with
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")


def safe_cell(value: Any) -> Any:
    """``value`` as a CSV cell a spreadsheet cannot run: text starting with one of :data:`FORMULA_START` gets a
    leading ``'`` unless it is a plain decimal number; numbers and booleans are returned unchanged; ``None`` and
    non-finite floats become an empty cell."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return value if not isinstance(value, float) or math.isfinite(value) else ""
    text = str(value)
    if text.startswith(FORMULA_START) and not _NUMBER.fullmatch(text):
        return "'" + text
    return text


class _Dialect(csv.excel):
    lineterminator = "\r\n"  # RFC 4180; the csv module then quotes any field holding \r or \n
    quoting = csv.QUOTE_MINIMAL


def _needs_quotes(cell: Any) -> bool:
    return isinstance(cell, str) and "\0" in cell


def records_to_csv(records: Iterable[Mapping[str, Any]], columns: Sequence[str] | None = None) -> str:
    """Dicts as CSV text: a header row (``columns``, default every key in order of first appearance), then one
    row per record, each cell through :func:`safe_cell`.

    Args:
        records: the rows; a missing key is an empty cell. Lists and dicts must be flattened by the caller.
        columns: the header; None: the keys of the records.

    Returns:
        The CSV text (``\\r\\n`` line ends). Empty string when there are no records and no columns.
    """
    records = [dict(r) for r in records]
    if columns is None:
        columns = list(dict.fromkeys(k for r in records for k in r))
    if not columns:
        return ""
    return rows_to_csv(columns, ([r.get(c) for c in columns] for r in records))


def rows_to_csv(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """A header and rows of cells as CSV text (see :func:`records_to_csv`); header names are cells too."""
    buf = io.StringIO()
    writer = csv.writer(buf, dialect=_Dialect)
    nul_writer = csv.writer(buf, dialect=_Dialect, quoting=csv.QUOTE_ALL)
    for row in ([*header], *rows):
        cells = [safe_cell(c) for c in row]
        (nul_writer if any(_needs_quotes(c) for c in cells) else writer).writerow(cells)
    return buf.getvalue()


__all__ = ["FORMULA_START", "records_to_csv", "rows_to_csv", "safe_cell"]
