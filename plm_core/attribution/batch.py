"""Attribution of every row of a text file with one method and one target, exported as one CSV or JSON.

As LIT's and transformers-interpret's data-set attribution: the rows are attributed one by one with
:func:`plm_core.attribution.attribute` (the same numbers as the Attribution page), in chunks a caller runs until
the end or until it stops; the results are written by :func:`to_csv` / :func:`to_json` (one function each, so a
project-wide export writer can replace them).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from plm_core.attribution.types import AttributionResult, Target
from plm_core.errors import InvalidInputError, PlmCoreError
from plm_core.export import records_to_csv
from plm_core.i18n import msg
from plm_core.handle import ModelHandle

MAX_ROWS = 5000
MAX_BYTES = 5_000_000


@dataclass(frozen=True)
class RowResult:
    """One row's attribution, or the reason it has none."""

    row: int  # 0-based line (or CSV row) of the file
    text: str
    result: AttributionResult | None
    error: str | None = None
    fatal: bool = False  # the error is the model's or the method's, the same for every row: the run stops


def read_rows(data: bytes, name: str = "") -> tuple[str, ...]:
    """The texts of an uploaded file: a ``.csv`` with a ``text`` column (other columns ignored), otherwise one
    text per non-empty line (UTF-8).

    Raises:
        InvalidInputError: not UTF-8, a CSV without a ``text`` column, no rows, more than :data:`MAX_ROWS` rows or
            :data:`MAX_BYTES` bytes.
    """
    if len(data) > MAX_BYTES:
        raise InvalidInputError(msg("the file has {n} bytes; at most {limit} are read", n=len(data), limit=MAX_BYTES))
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InvalidInputError(msg("the file is not UTF-8 text")) from None
    if name.lower().endswith(".csv"):
        reader = csv.DictReader(io.StringIO(text))
        if "text" not in (reader.fieldnames or []):
            raise InvalidInputError(msg("the CSV file needs a column named text (one input per row)"))
        rows = [r["text"] or "" for r in reader]
    else:
        rows = text.splitlines()
    rows = [r for r in rows if r.strip()]
    if not rows:
        raise InvalidInputError(msg("the file has no rows of text"))
    if len(rows) > MAX_ROWS:
        raise InvalidInputError(msg("the file has {n} rows; at most {limit} are attributed", n=len(rows), limit=MAX_ROWS))
    return tuple(rows)


def attribute_rows(handle: ModelHandle, rows: Sequence[str], method: str, *, target: Target | None = None,
                   start: int = 0, limit: int | None = None, should_stop: Callable[[], bool] | None = None,
                   progress: Callable[[int, int], None] | None = None, **kwargs: object) -> tuple[RowResult, ...]:
    """Attribute ``rows[start:]`` one by one until the end, ``limit`` rows, or ``should_stop()`` (checked before
    each row); ``progress(done, total)`` after each row. A row the method cannot explain (no [MASK], too long, …)
    keeps its error message and the others go on.

    Returns:
        One :class:`RowResult` per row attributed, in order (fewer than ``rows[start:]`` when stopped).
    """
    from plm_core.attribution import attribute

    out: list[RowResult] = []
    for i in range(start, len(rows) if limit is None else min(len(rows), start + limit)):
        if should_stop is not None and should_stop():
            break
        try:
            out.append(RowResult(i, rows[i], attribute(handle, rows[i], method, target=target, **kwargs)))
        except InvalidInputError as err:
            out.append(RowResult(i, rows[i], None, str(err)))
        except PlmCoreError as err:  # the same for every row (a method the model cannot run): stop here
            out.append(RowResult(i, rows[i], None, str(err), fatal=True))
            break
        if progress is not None:
            progress(i + 1, len(rows))
    return tuple(out)


def to_csv(results: Sequence[RowResult]) -> str:
    """One CSV row per (file row, token): row, text, the method's configuration, token, score; a row without a
    result has its error. ``pandas.read_csv`` reads it."""
    from plm_core.attribution.report import to_records

    records = []
    for r in results:
        if r.result is None:
            records.append({"row": r.row, "text": r.text, "error": r.error or ""})
            continue
        for rec in to_records([r.result]):
            records.append({"row": r.row, "text": r.text, "error": "", **rec})
    return records_to_csv(records, list(dict.fromkeys(k for rec in records for k in rec)))


def to_json(results: Sequence[RowResult]) -> str:
    """JSON: every row with its text, the full configuration of its attribution and its per-token scores."""
    payload = []
    for r in results:
        item: dict[str, object] = {"row": r.row, "text": r.text}
        if r.result is None:
            item["error"] = r.error
        else:
            item |= {**r.result.config(), "tokens": list(r.result.encoding.tokens),
                     "scores": [float(s) for s in r.result.scores]}
        payload.append(item)
    return json.dumps({"rows": payload}, indent=2, ensure_ascii=False, default=str)
