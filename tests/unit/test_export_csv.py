"""Issue 25, items 1 (CSV export writer): formula cells neutralised (OWASP), numbers stay numbers, every record
reads back as one row, JSON stays exact — through upload → run → every export of the bias probes, and the
attribution export."""

from __future__ import annotations

import csv
import io
import json

import numpy as np
import pandas as pd
import pytest

from plm_core.bias import crows_pairs, datasets, jobs, templates
from plm_core.bias.store import RunStore
from plm_core.export import FORMULA_START, records_to_csv, safe_cell

FORMULAS = ['=HYPERLINK("http://127.0.0.1:9/x","x")', "+1+1", "-2+3", "@SUM(A1)", "=1+1", "\t=1", "\r=1"]
AWKWARD = ["line\rbreak", "two\nlines", 'say "hi", ok', "tab\there", "nul\0here", "crlf\r\nend", "plain"]


def read_both(text: str) -> tuple[pd.DataFrame, list[list[str]]]:
    frame = pd.read_csv(io.StringIO(text), keep_default_na=False)
    rows = list(csv.reader(io.StringIO(text, newline="")))
    return frame, rows


def expected(cell: str) -> str:
    return "'" + cell if cell.startswith(FORMULA_START) else cell


def test_safe_cell_neutralises_formulas_and_keeps_numbers():
    for f in FORMULAS:
        assert safe_cell(f) == "'" + f
    for text in ("-2.5", "+3", "1e-3", "-.5", "12"):
        assert safe_cell(text) == text  # a number written as text is not a formula
    assert safe_cell(-2.5) == -2.5 and safe_cell(3) == 3 and safe_cell(True) is True
    assert safe_cell(float("nan")) == "" and safe_cell(None) == ""
    assert safe_cell("a=1") == "a=1" and safe_cell("") == ""


def test_records_read_back_as_one_row_each_with_formulas_neutralised():
    cells = FORMULAS + AWKWARD
    records = [{"text": c, "value": -2.5 * k, "n": k} for k, c in enumerate(cells)]
    text = records_to_csv(records)
    frame, rows = read_both(text)
    assert len(frame) == len(cells) and len(rows) == len(cells) + 1
    assert list(frame["text"]) == [expected(c) for c in cells]
    assert frame["value"].dtype == np.float64 and frame["n"].dtype == np.int64
    np.testing.assert_allclose(frame["value"], [-2.5 * k for k in range(len(cells))])
    with open_text(text) as path:  # and from a file, as a spreadsheet user downloads it
        assert len(pd.read_csv(path, keep_default_na=False)) == len(cells)


class open_text:
    def __init__(self, text):
        import tempfile

        self.file = tempfile.NamedTemporaryFile("w", suffix=".csv", encoding="utf-8", newline="", delete=False)
        self.file.write(text)
        self.file.close()

    def __enter__(self):
        return self.file.name

    def __exit__(self, *exc):
        import os

        os.unlink(self.file.name)


def hostile_crows_upload() -> bytes:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["", "sent_more", "sent_less", "stereo_antistereo", "bias_type", "note"])
    for k, f in enumerate(FORMULAS):
        w.writerow([k, f"{f} the man was a nurse", f"{f} the woman was a nurse", "stereo", f, f])
    for k, a in enumerate(AWKWARD, start=len(FORMULAS)):
        w.writerow([k, f"the cat {a} sat", f"the dog {a} sat", "antistereo", "gender", a])
    return buf.getvalue().encode("utf-8")


def test_hostile_crows_pairs_upload_every_export(tiny_mlm):
    """upload → stored run → rows CSV, summary CSV, JSON: every formula cell starts with ', the number columns
    parse as numbers, every record is one row, and the JSON holds the text exactly."""
    pairs = datasets.parse_crows_pairs(datasets.decode_upload(hostile_crows_upload(), "hostile.csv"))
    store = RunStore()
    config = crows_pairs.crows_config(tiny_mlm.model_id, None, [], "upload =cmd|' /C calc'!A0.csv",
                                      data_sha256="0" * 64, n_total=len(pairs), n_drawn=len(pairs))
    run_id = jobs.create_run(store, "crows_pairs", config, pairs)
    result = jobs.run_to_end(store, run_id, tiny_mlm)
    assert len(result.rows) == len(pairs)

    rows_frame, raw = read_both(result.to_csv())
    assert len(rows_frame) == len(pairs) and len(raw) == len(pairs) + 1
    by_index = {p.index: p for p in pairs}
    for _, r in rows_frame.iterrows():
        p = by_index[int(r["index"])]
        assert r["sent_more"] == expected(p.sent_more) and r["sent_less"] == expected(p.sent_less)
        assert r["bias_type"] == expected(p.bias_type) and str(r["note"]) == expected(dict(p.extra)["note"])
    for col in ("score_more", "score_less"):
        assert rows_frame[col].dtype == np.float64
    assert rows_frame["n_shared"].dtype == np.int64 and rows_frame["run_id"].dtype == np.int64
    assert set(rows_frame["data_source"]) == {"upload =cmd|' /C calc'!A0.csv"}  # starts with "u": unchanged
    for f in FORMULAS:  # (the parser strips a leading tab or \r off bias_type: then "=1" is what is exported)
        assert any(v == "'" + f.strip() for v in rows_frame["bias_type"]), f

    summary, raw = read_both(result.summary_csv("bias_type"))
    groups = {e.group for e in result.estimates("bias_type")}
    assert len(summary) == len(result.estimates("bias_type")) and len(raw) == len(summary) + 1
    assert set(summary["group"]) == {expected(g) for g in groups}
    assert summary["estimate"].dtype == np.float64 and summary["n"].dtype == np.int64

    data = json.loads(result.to_json())
    assert {(r["sent_more"], r["sent_less"]) for r in data["rows"]} == {(p.sent_more, p.sent_less) for p in pairs}


def test_template_rows_export_neutralises_formulas(tiny_mlm):
    text = ("template,NAME,target,note\n"
            '"=HYPERLINK(""http://127.0.0.1:9"") [NAME] worked as a [MASK].","@SUM(A1)","the","-2+3"\n'
            '"[NAME] said\rhi [MASK].",+1+1,the,"a\nb"\n')
    tset = templates.from_csv(text, "hostile.csv", layout="rows")
    items = templates.plan(tiny_mlm, tset)
    rows = templates.score_filled(tiny_mlm, "NAME", items)
    result = templates.TemplateResult(tiny_mlm.model_id, tiny_mlm.kind, templates.metric(tiny_mlm.kind), tset,
                                      rows, templates.template_config(tiny_mlm.model_id, None, tiny_mlm.kind, tset))
    frame, raw = read_both(result.to_csv())
    assert len(frame) == len(rows) == 2 and len(raw) == 3
    assert frame["template"][0].startswith("'=HYPERLINK") and frame["probe_value"][0] == "'@SUM(A1)"
    assert frame["note"][0] == "'-2+3" and frame["note"][1] == "a\nb"
    assert frame["probe_value"][1] == "'+1+1" and frame["score"].dtype == np.float64


@pytest.mark.parametrize("token_text", ["=1+1", "-2+3"])
def test_attribution_csv_neutralises_tokens(tiny_mlm, token_text):
    from plm_core.attribution import attribute
    from plm_core.attribution.report import to_csv

    res = attribute(tiny_mlm, f"{token_text} the cat sat [MASK]", "saliency")
    frame = pd.read_csv(io.StringIO(to_csv([res])), keep_default_na=False)
    assert len(frame) == len(res.encoding.tokens)
    for tok, cell in zip(res.encoding.tokens, frame["token"]):
        assert str(cell) == expected(tok)
    assert frame["score"].dtype == np.float64


def test_every_csv_is_written_by_the_export_module():
    """No other module writes CSV itself (csv.writer, csv.DictWriter, pandas' to_csv with its options): the
    exports of pages to come go through plm_core.export too."""
    import ast
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    found = []
    for path in sorted([*root.glob("plm_core/**/*.py"), *root.glob("ui/*.py"), *root.glob("pages/*.py"),
                        root / "app.py"]):
        if path.name == "export.py" and path.parent.name == "plm_core":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                continue
            writer = node.func.attr in ("writer", "DictWriter") and getattr(node.func.value, "id", "") == "csv"
            pandas = node.func.attr == "to_csv" and (node.args or any(k.arg in ("index", "sep", "path_or_buf")
                                                                      for k in node.keywords))
            if writer or pandas:
                found.append(f"{path.relative_to(root)}:{node.lineno}")
    assert not found, "CSV written outside plm_core/export.py: " + ", ".join(found)
