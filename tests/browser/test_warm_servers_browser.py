"""The browser tests' servers are forked from a warm parent (tests/browser/warm_parent.py), and each runs as
``python3 -m streamlit run`` would: in its own folder, with its own ``PLM_*`` settings, with the libraries' wait
policy that ``plm_core`` sets, and its own fresh import of the app's modules. A server whose environment differs in
another variable starts as a plain subprocess."""

from __future__ import annotations

import json
import os
from pathlib import Path

import st_browser
from st_browser import instrument_page, streamlit_server

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = """
import json, os, sys
sys.path.insert(0, {root!r})
import streamlit as st
import plm_core.settings
facts = {{"cwd": os.getcwd(), "setting": os.environ.get("PLM_TEST_REPORT"), "omp": os.environ.get("OMP_WAIT_POLICY"),
          "modules": sorted(m for m in sys.modules if m.split(".")[0] == "plm_core"),
          "torch_before": "torch" in sys.modules}}
open(os.environ["PLM_TEST_REPORT"], "w").write(json.dumps(facts))
st.write("made")
"""


def _facts(browser, folder: Path, env: dict) -> tuple[dict, type]:
    (folder / "app.py").write_text(SCRIPT.format(root=str(ROOT)), encoding="utf-8")
    report = folder / "facts.json"
    with streamlit_server(folder, log_path=folder / "server.log", env={"PLM_TEST_REPORT": str(report), **env}) as url:
        kind = type(st_browser._last_server)
        page = browser.new_page()
        instrument_page(page).goto(url)  # a session runs the script
        page.close()
    return json.loads(report.read_text(encoding="utf-8")), kind


def test_a_forked_server_runs_in_its_own_folder_and_settings(browser, tmp_path):
    facts, kind = _facts(browser, tmp_path, {})
    assert kind is st_browser._Forked
    assert facts["cwd"] == str(tmp_path) and facts["setting"] == str(tmp_path / "facts.json")
    assert facts["omp"] == os.environ.get("OMP_WAIT_POLICY", "PASSIVE")  # as plm_core sets it for a server
    assert facts["torch_before"]  # imported once, by the warm parent
    assert "plm_core.settings" in facts["modules"] and "plm_core.lens" not in facts["modules"]  # the app's own: fresh


def test_another_environment_starts_a_plain_subprocess(browser, tmp_path):
    facts, kind = _facts(browser, tmp_path, {"PLM_WARM_TEST_OTHER": "x"} | {"LC_PLM_WARM_TEST": "1"})
    assert kind is not st_browser._Forked
    assert facts["cwd"] == str(tmp_path) and not facts["torch_before"]
