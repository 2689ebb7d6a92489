"""The suite leaves no folder in the machine's temporary folder (issue 26, item 6): the chart gallery's tiny models
(plm-gallery-*) are in a ``plm_core.testing.temp_folder``, removed when its server stops (SIGTERM, as
``st_browser.streamlit_server`` stops it); tests/serving/test_load_client.py checks the load client's plm-load-*
folder. A check of the whole temporary folder after a session cannot tell this run's folders from those of other
runs on a shared machine (tried: it caught another checkout's live server), so each maker of such folders is tested."""

from __future__ import annotations

import sys
from pathlib import Path

from st_browser import instrument_page, streamlit_server

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = """
import os, sys
from pathlib import Path
sys.path.insert(0, {root!r})
import streamlit as st
from plm_core.testing import temp_folder
Path(os.environ["PLM_TEST_REPORT"]).write_text(str(temp_folder("plm-gallery-")))  # as chart_gallery.py does
st.write("made")
"""


def test_the_gallery_folder_is_removed_when_its_server_stops(browser, tmp_path):
    (tmp_path / "app.py").write_text(SCRIPT.format(root=str(ROOT)), encoding="utf-8")
    report = tmp_path / "made.txt"
    with streamlit_server(tmp_path, log_path=tmp_path / "server.log", env={"PLM_TEST_REPORT": str(report)}) as url:
        page = browser.new_page()
        instrument_page(page).goto(url)  # a session runs the script
        page.close()
        made = Path(report.read_text())
        assert made.is_dir() and made.name.startswith("plm-gallery-")
    assert not made.exists(), (made, sys.platform)  # removed with the server
