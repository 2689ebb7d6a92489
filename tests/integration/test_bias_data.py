"""Data-set loaders on the shared files and through a 127.0.0.1 server (download + cache), bad files,
exports, and the command line on a tiny model folder."""

from __future__ import annotations

import csv
import functools
import hashlib
import http.server
import io
import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from plm_core.bias import datasets
from plm_core.bias.__main__ import main as cli_main
from plm_core.bias.crows_pairs import run_crows_pairs
from plm_core.errors import InvalidInputError

ROOT = Path(__file__).resolve().parents[2]

CROWS_CSV = (
    ",sent_more,sent_less,stereo_antistereo,bias_type,annotations,anon_writer,anon_annotators\n"
    '0,the man was a nurse,the woman was a nurse,stereo,gender,"[]",a0,"[]"\n'
    '1,the woman was a doctor,the man was a doctor,antistereo,gender,"[]",a0,"[]"\n'
    '2,he is a black man,he is a white man,stereo,race-color,"[]",a0,"[]"\n'
)


def test_shared_files_load(shared_data):
    pairs = datasets.load_crows_pairs(shared_data / "crows_pairs" / "crows_pairs_anonymized.csv")
    assert len(pairs) == 1508 and len({p.bias_type for p in pairs}) == 9
    assert {p.direction for p in pairs} == {"stereo", "antistereo"} and pairs[0].index == 0
    rows = datasets.load_bec_pro(shared_data / "bec_pro" / "BEC-Pro_EN.tsv")
    assert len(rows) == 5400 and rows[1].profession == "steel worker" and rows[1].sent_tam.count("[MASK]") == 3
    test = datasets.load_seat(shared_data / "seat" / "sent-weat6.jsonl")
    assert test.categories == ("MaleNames", "FemaleNames", "Career", "Family")
    assert (len(test.targ1), len(test.targ2)) == (64, 64) and test.targ1[0] == "This is John."


@pytest.fixture
def local_server(tmp_path):
    """A 127.0.0.1 HTTP server over a copy of the data layout; yields (base_url, requested paths)."""
    root = tmp_path / "served"
    (root / "crows_pairs").mkdir(parents=True)
    (root / "crows_pairs" / "crows_pairs_anonymized.csv").write_text(CROWS_CSV)
    (root / "seat").mkdir()
    (root / "seat" / "sent-weat6.jsonl").write_text(json.dumps(
        {k: {"category": k.upper(), "examples": [f"{k} one.", f"{k} two."]} for k in ("targ1", "targ2", "attr1", "attr2")}))
    seen: list[str] = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            seen.append(self.path)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/", seen, server
    server.shutdown()
    server.server_close()


def test_download_into_cache_then_reuse_without_the_server(local_server, tmp_path, monkeypatch):
    base, seen, server = local_server
    monkeypatch.setenv(datasets.CACHE_ENV, str(tmp_path / "cache"))
    pairs = datasets.load_crows_pairs(base_url=base)
    assert [p.direction for p in pairs] == ["stereo", "antistereo", "stereo"]
    cached = tmp_path / "cache" / "bias" / "crows_pairs" / "crows_pairs_anonymized.csv"
    assert cached.read_text() == CROWS_CSV and any("crows_pairs_anonymized.csv" in s for s in seen)
    server.shutdown()  # the second load must come from the cache
    server.server_close()
    assert datasets.load_crows_pairs(base_url=base) == pairs
    monkeypatch.setenv(datasets.URL_ENV, base)  # the environment override, as a deployment would set it
    with pytest.raises(InvalidInputError, match="could not download .*give its local path"):
        datasets.load_seat("sent-weat6")


def test_seat_by_name_through_the_server(local_server, tmp_path):
    base, _, _ = local_server
    test = datasets.load_seat("sent-weat6", base_url=base, cache=tmp_path / "c")
    assert test.targ2 == ("targ2 one.", "targ2 two.") and test.categories[2] == "ATTR1"
    with pytest.raises(InvalidInputError, match="unknown SEAT test 'weat99'"):
        datasets.load_seat("weat99", base_url=base, cache=tmp_path / "c")


def test_missing_download_is_a_clear_error(local_server, tmp_path):
    base, _, _ = local_server
    with pytest.raises(InvalidInputError, match=r"could not download .*BEC-Pro_EN.tsv \(.*\)"):
        datasets.load_bec_pro(base_url=base, cache=tmp_path / "c")


def test_public_addresses_are_the_documented_ones(monkeypatch):
    monkeypatch.delenv(datasets.URL_ENV, raising=False)
    assert datasets.source_url("seat/sent-weat6.jsonl") == \
        "https://raw.githubusercontent.com/W4ngatang/sent-bias/e3559fb669ca4832743b42fee715994c15c7f1af/tests/sent-weat6.jsonl"
    assert datasets.source_url("bec_pro/BEC-Pro_EN.tsv").endswith(
        "marionbartl/gender-bias-BERT/c1e28434555f79b59e13e3f5ff87846e653fb553/BEC-Pro/BEC-Pro_EN.tsv")


def test_bad_files_give_clear_messages(tmp_path):
    wrong = tmp_path / "wrong.csv"
    wrong.write_text("sentence_a,sentence_b\nx,y\n")
    with pytest.raises(InvalidInputError, match="lacks the column.*sent_more.*found: sentence_a, sentence_b"):
        datasets.load_crows_pairs(wrong)
    empty = tmp_path / "empty.tsv"
    empty.write_text("")
    with pytest.raises(InvalidInputError, match="empty.tsv is empty"):
        datasets.load_bec_pro(empty)
    big = tmp_path / "big.csv"
    with open(big, "wb") as f:  # sparse: 100 MB without writing them
        f.truncate(100 * 1024 * 1024)
    with pytest.raises(InvalidInputError, match="is 100.0 MB; bias data files are limited to 50 MB"):
        datasets.load_crows_pairs(big)
    with pytest.raises(InvalidInputError, match="is 100.0 MB"):
        datasets.decode_upload(b"\0" * (100 * 1024 * 1024), "upload.csv")
    bad_json = tmp_path / "t.jsonl"
    bad_json.write_text('{"targ1": {"examples": ["a"]}}')
    with pytest.raises(InvalidInputError, match="needs the keys targ1, targ2, attr1, attr2"):
        datasets.load_seat(bad_json)
    bad_json.write_text("{not json")
    with pytest.raises(InvalidInputError, match="is not JSON"):
        datasets.load_seat(bad_json)
    bad_dir = tmp_path / "bad.csv"
    bad_dir.write_text(CROWS_CSV.replace(",stereo,gender", ",maybe,gender"))
    with pytest.raises(InvalidInputError, match="stereo_antistereo is 'maybe'"):
        datasets.load_crows_pairs(bad_dir)
    with pytest.raises(InvalidInputError, match="no such file"):
        datasets.load_crows_pairs(tmp_path / "nope.csv")


def test_export_carries_configuration_and_rows(tiny_mlm, tmp_path):
    path = tmp_path / "c.csv"
    path.write_text(CROWS_CSV)
    result = run_crows_pairs(tiny_mlm, datasets.load_crows_pairs(path), data_source=str(path))
    data = json.loads(result.to_json())
    assert data["config"]["model_id"] == tiny_mlm.model_id and data["config"]["data"] == str(path)
    assert data["summary"]["overall"]["metric"] == pytest.approx(result.metric) and len(data["rows"]) == 3
    assert "offensive stereotypes" in data["content_warning"] and "Blodgett" in data["caveats"]
    text = result.to_csv()
    rows = list(csv.DictReader(io.StringIO(text)))
    by_index = sorted(result.rows, key=lambda r: r.index)
    assert [float(r["score_more"]) for r in rows] == pytest.approx([r.score_more for r in by_index])
    assert {r["probe"] for r in rows} == {"crows_pairs"} and {r["data_source"] for r in rows} == {str(path)}


def test_cli_crows_pairs_and_template_on_a_tiny_model(tiny_dirs, tmp_path, capsys):
    data = tmp_path / "c.csv"
    data.write_text(CROWS_CSV)
    out = tmp_path / "r.json"
    assert cli_main(["crows-pairs", "--model", str(tiny_dirs["masked_lm"]), "--device", "cpu", "--data", str(data),
                     "--out", str(out), "--csv", str(tmp_path / "r.csv"), "--bias-type", "gender"]) == 0
    res = json.loads(out.read_text())
    assert res["summary"]["overall"]["n"] == 2 and res["config"]["bias_types"] == ["gender"]
    assert "CrowS-Pairs metric" in capsys.readouterr().out
    tcsv = tmp_path / "t.csv"
    tcsv.write_text("template,NAME,target\n[NAME] is a [MASK].,john,he\n,mary,she\n")
    assert cli_main(["template", "--model", str(tiny_dirs["masked_lm"]), "--device", "cpu", "--data", str(tcsv),
                     "--out", str(out)]) == 0
    assert len(json.loads(out.read_text())["rows"]) == 4
    tcsv.write_text("template,target\n[NAME] is a [MASK].,he\n")
    assert cli_main(["template", "--model", str(tiny_dirs["masked_lm"]), "--data", str(tcsv), "--out", str(out)]) == 2
    assert "error: the CSV has no slot column" in capsys.readouterr().err


def test_cli_as_a_module_shows_progress_on_stderr(tiny_dirs, tmp_path):
    out = tmp_path / "b.json"
    tsv = tmp_path / "b.tsv"
    tsv.write_text("\tSentence\tSent_TM\tSent_AM\tSent_TAM\tTemplate\tPerson\tGender\tProfession\tProf_Gender\n"
                   "0\the is a nurse.\t[MASK] is a nurse.\the is a [MASK].\t[MASK] is a [MASK].\tt\the\tmale\tnurse\tfemale\n"
                   "1\tshe is a nurse.\t[MASK] is a nurse.\tshe is a [MASK].\t[MASK] is a [MASK].\tt\tshe\tfemale\tnurse\tfemale\n")
    env = os.environ | {"HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-m", "plm_core.bias", "bec-pro", "--model", str(tiny_dirs["masked_lm"]),
                           "--device", "cpu", "--data", str(tsv), "--out", str(out)], capture_output=True, text=True,
                          env=env, cwd=ROOT, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "BEC-Pro rows: 100%" in proc.stderr and "2/2" in proc.stderr
    res = json.loads(out.read_text())
    assert set(res["summary"]["by_gender"]) == {"male", "female"} and len(res["rows"]) == 2


def _provenance_ok(frame, config):
    assert list(frame.columns[:8]) == ["probe", "model_id", "model_revision", "data_source", "data_sha256",
                                       "sample_seed", "sample_size", "run_id"]
    assert set(frame["model_id"]) == {config["model_id"]} and set(frame["data_sha256"]) == {config["data_sha256"]}


def test_exported_csv_round_trips_through_a_plain_read_csv(tiny_mlm, tiny_handles, tmp_path):
    """No leading '#' lines: pandas.read_csv with no options gives the rows, their extra data columns, and the
    provenance (model id and revision, data source and hash, sample seed) on every row."""
    import pandas as pd

    from plm_core.bias import templates
    from plm_core.bias.bec_pro import run_bec_pro
    from plm_core.bias.datasets import SeatTest
    from plm_core.bias.seat import run_seat

    path = tmp_path / "c.csv"
    path.write_text(CROWS_CSV)
    sha = datasets.file_sha256(path)
    crows = run_crows_pairs(tiny_mlm, datasets.load_crows_pairs(path), data_source=str(path), data_sha256=sha,
                            sample_size=2, seed=5)
    text = crows.to_csv()
    assert not text.startswith("#")
    frame = pd.read_csv(io.StringIO(text))
    _provenance_ok(frame, crows.config)
    rows = sorted(crows.rows, key=lambda r: r.index)
    assert list(frame["index"]) == [r.index for r in rows] and len(frame) == 2
    np.testing.assert_allclose(frame["score_more"], [r.score_more for r in rows], rtol=1e-12)
    assert list(frame["more_higher"]) == [r.more_higher for r in rows]
    assert set(frame["sample_seed"]) == {5} and set(frame["data_source"]) == {str(path)}
    assert list(frame["anon_writer"]) == ["a0", "a0"]  # extra columns of the file
    summary = pd.read_csv(io.StringIO(crows.summary_csv("bias_type")))
    assert list(summary["group"])[0] == "all" and summary["ci_low"][0] <= summary["estimate"][0] <= summary["ci_high"][0]
    data = json.loads(crows.to_json())
    assert data["provenance"] == {"probe": "crows_pairs", "model_id": tiny_mlm.model_id, "model_revision": None,
                                  "data_source": str(path), "data_sha256": sha, "sample_seed": 5, "sample_size": 2,
                                  "run_id": None, "model_folder": Path(tiny_mlm.model_id).name,
                                  "model_weights_sha256": hashlib.sha256(
                                      (Path(tiny_mlm.model_id) / "model.safetensors").read_bytes()).hexdigest()}
    assert data["config"]["stratify"] == "bias_type" and data["summary"]["estimates"][0]["interval"] == "Wilson score"

    tsv = tmp_path / "b.tsv"
    tsv.write_text("\tSentence\tSent_TM\tSent_AM\tSent_TAM\tTemplate\tPerson\tGender\tProfession\tProf_Gender\n"
                   "0\the is a nurse.\t[MASK] is a nurse.\the is a [MASK].\t[MASK] is a [MASK].\tt\the\tmale\tnurse\tfemale\n"
                   "1\tshe is a nurse.\t[MASK] is a nurse.\tshe is a [MASK].\t[MASK] is a [MASK].\tt\tshe\tfemale\tnurse\t"
                   "female\n")
    bec = run_bec_pro(tiny_mlm, datasets.load_bec_pro(tsv), data_source=str(tsv), data_sha256=datasets.file_sha256(tsv))
    frame = pd.read_csv(io.StringIO(bec.to_csv()))
    _provenance_ok(frame, bec.config)
    assert list(frame["Sent_AM"]) == ["he is a [MASK].", "she is a [MASK]."]
    np.testing.assert_allclose(frame["association"], [r.association for r in sorted(bec.rows, key=lambda r: r.index)])

    tset = templates.EXAMPLE_SETS["Pronouns for occupations"]
    tmpl = templates.probe_templates(tiny_mlm, tset)
    frame = pd.read_csv(io.StringIO(tmpl.to_csv()))
    _provenance_ok(frame, tmpl.config)
    assert len(frame) == len(tmpl.rows) and json.loads(frame["slot_values"][0]) == [["JOB", "nurse"]]
    np.testing.assert_allclose(frame["score"], [r.score for r in tmpl.rows], rtol=1e-12)

    test = SeatTest("t", ("this is john.", "john is here."), ("this is mary.", "mary is here."), ("career", "office"),
                    ("family", "home"), ("X", "Y", "A", "B"))
    seat = run_seat(tiny_handles["encoder"], test, n_samples=1000, n_bootstrap=100, seed=3, data_source="hand")
    frame = pd.read_csv(io.StringIO(seat.to_csv()))
    assert list(frame["text"]) == [i.text for i in seat.items] and set(frame["sample_seed"]) == {3}
    summary = pd.read_csv(io.StringIO(seat.summary_csv()))
    assert summary["estimate"][0] == pytest.approx(seat.effect_size) and bool(summary["p_bound"][0]) == seat.p_bound


def test_cli_sample_store_and_resume(tiny_dirs, tmp_path, capsys):
    data = tmp_path / "c.csv"
    data.write_text(CROWS_CSV)
    out, store = tmp_path / "r.json", tmp_path / "runs.sqlite3"
    assert cli_main(["crows-pairs", "--model", str(tiny_dirs["masked_lm"]), "--device", "cpu", "--data", str(data),
                     "--out", str(out), "--sample", "2", "--seed", "1", "--store", str(store)]) == 0
    res = json.loads(out.read_text())
    assert res["config"]["sample_size"] == 2 and res["config"]["sample_seed"] == 1 and len(res["rows"]) == 2
    assert res["provenance"]["data_sha256"] == datasets.file_sha256(data)
    captured = capsys.readouterr()
    assert "95% Wilson" in captured.out and "stored as run #1" in captured.err
    from plm_core.bias.store import RunStore

    assert RunStore(store).run(1).status == "complete"
    assert cli_main(["crows-pairs", "--model", str(tiny_dirs["masked_lm"]), "--device", "cpu", "--out", str(out),
                     "--store", str(store), "--resume", "1"]) == 0
    assert "run #1: 2 of 2 items scored" in capsys.readouterr().out
