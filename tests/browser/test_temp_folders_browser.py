"""The suite leaves no folder in the machine's temporary folder (issue 26, item 6): a server started by
``st_browser.streamlit_server`` keeps its temporary files (the chart gallery's tiny models, plm-gallery-*) in a folder
of its own, removed when it stops (tests/serving/test_load_client.py checks the load client's plm-load-* folder).
A check of the whole temporary folder after a session cannot tell this run's folders from those of other runs on a
shared machine (tried: it caught another checkout's live server), so each maker of such folders is tested instead."""

from __future__ import annotations

import tempfile
from pathlib import Path

from st_browser import instrument_page, streamlit_server

SCRIPT = '''
import os, tempfile
from pathlib import Path
import streamlit as st
Path(os.environ["PLM_TEST_REPORT"]).write_text(tempfile.mkdtemp(prefix="plm-gallery-"))  # as chart_gallery.py does
st.write("made")
'''


def test_a_server_keeps_its_temporary_files_to_itself(browser, tmp_path):
    (tmp_path / "app.py").write_text(SCRIPT, encoding="utf-8")
    report = tmp_path / "made.txt"
    with streamlit_server(tmp_path, log_path=tmp_path / "server.log", env={"PLM_TEST_REPORT": str(report)}) as url:
        page = browser.new_page()
        instrument_page(page).goto(url)  # a session runs the script
        page.close()
        made = Path(report.read_text())
        assert made.is_dir() and made.name.startswith("plm-gallery-")
        own = made.parent
        assert own != Path(tempfile.gettempdir()) and own.name.startswith("plm-server-")  # the server's own folder
    assert not own.exists()  # removed with the server
