"""Issue 25, item 5: a stored 100,000-row CrowS-Pairs run exports all three files (rows CSV, summary CSV, JSON) in
Chromium. Before, every rerun rebuilt the three files and a click reran the page, replacing the file being
downloaded: the browser cancelled the large JSON. The run is written into the store directly (its scores are
made up: what is tested is the export path, not the model), then opened under Stored runs."""

from __future__ import annotations

import json
import random

import pandas as pd
import pytest
from playwright.sync_api import expect
from st_browser import free_port, instrument_page, patience, streamlit_server, wait_idle

from helpers import ROOT
from plm_core.bias import jobs
from plm_core.bias.crows_pairs import crows_config
from plm_core.bias.datasets import CrowsPair
from plm_core.bias.store import RunStore

N = 100_000
T = 300_000  # ms: a 100,000-row page and its files on a loaded 2-core machine


@pytest.fixture(scope="module")
def big_run_server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("big_run")
    store = RunStore(folder / "runs.sqlite3")
    rng = random.Random(0)
    types = ["gender", "age", "race-color", "=HYPERLINK(\"http://127.0.0.1:9\",\"x\")"]
    pairs = [CrowsPair(i, f"the man {i}, \"quoted\"\r\nline", f"the woman {i}", "stereo" if i % 3 else "antistereo",
                       types[i % 4]) for i in range(N)]
    run_id = jobs.create_run(store, "crows_pairs", crows_config("bert-base-uncased", None, [], "synthetic",
                                                                 n_total=N, n_drawn=N), pairs)
    for start in range(0, N, 10_000):
        rows = []
        for p in pairs[start:start + 10_000]:
            more, less = -rng.uniform(10, 40), -rng.uniform(10, 40)
            rows.append({"index": p.index, "bias_type": p.bias_type, "direction": p.direction,
                         "sent_more": p.sent_more, "sent_less": p.sent_less, "score_more": more, "score_less": less,
                         "n_shared": 5, "more_higher": more > less, "tie": False, "extra": []})
        store.add_chunk(run_id, start, start + len(rows), rows)
    env = {"HF_HUB_OFFLINE": "1", "PLM_DEVICE": "cpu", "PLM_BIAS_STORE": str(store.path)}
    with streamlit_server(ROOT, port=free_port(), log_path=folder / "server.log", env=env) as url:
        yield url, run_id


def test_a_100000_row_run_exports_all_three_files(browser, big_run_server, tmp_path):
    url, run_id = big_run_server
    context = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(patience(T))
    instrument_page(page)
    page.goto(url + "bias?bias.probe=CrowS-Pairs&bias.view=Stored+runs")  # the first run takes long: expect waits
    expect(page.get_by_text(f"Run #{run_id}:", exact=False).first).to_be_visible(timeout=patience(T))
    expect(page.get_by_role("button", name="JSON")).to_be_visible(timeout=patience(T))
    files = {}
    for name in ("Rows CSV", "Summary CSV", "JSON"):
        with page.expect_download(timeout=patience(T)) as info:
            page.get_by_role("button", name=name).click()
        download = info.value
        assert download.failure() is None, (name, download.failure())
        path = tmp_path / download.suggested_filename
        download.save_as(path)
        files[name] = path
    context.close()
    rows = pd.read_csv(files["Rows CSV"], keep_default_na=False)
    assert len(rows) == N and rows["score_more"].dtype == float
    assert (rows["sent_more"].str.endswith("\r\nline")).all()  # every record one row, \r\n inside kept
    assert set(rows.loc[rows["bias_type"].str.contains("HYPERLINK"), "bias_type"]) == {
        "'=HYPERLINK(\"http://127.0.0.1:9\",\"x\")"}
    summary = pd.read_csv(files["Summary CSV"])
    assert summary["n"].iloc[0] == N
    data = json.loads(files["JSON"].read_text(encoding="utf-8"))
    assert len(data["rows"]) == N and data["summary"]["n_scored"] == N


# ---- issue 25, item 0: the Markdown-and-image payload in every box that reaches a label ----------------------

PAYLOAD = "**bold** [link](http://127.0.0.1:9/x) ![img](http://127.0.0.1:9/img.png)"


@pytest.fixture(scope="module")
def leased_run_server(tmp_path_factory):
    """A server whose store holds a run of the payload "model", being scored (a live lease this test holds)."""
    from plm_core.bias.jobs import Heartbeat

    folder = tmp_path_factory.mktemp("leased_run")
    store = RunStore(folder / "runs.sqlite3")
    pairs = [CrowsPair(i, f"the man {i}", f"the woman {i}", "stereo", "gender") for i in range(10)]
    run_id = jobs.create_run(store, "crows_pairs", crows_config(PAYLOAD, None, [], "synthetic"), pairs)
    assert store.acquire(run_id, "test-holder")
    env = {"HF_HUB_OFFLINE": "1", "PLM_DEVICE": "cpu", "PLM_BIAS_STORE": str(store.path)}
    with Heartbeat(store, "test-holder", [run_id]), \
            streamlit_server(ROOT, port=free_port(), log_path=folder / "server.log", env=env) as url:
        yield url, run_id


def test_the_payload_in_model_ids_stays_text_in_labels(browser, leased_run_server):
    url, run_id = leased_run_server
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(patience(120_000))
    to_port_9: list[str] = []
    page.on("request", lambda r: to_port_9.append(r.url) if ":9/" in r.url else None)
    refused = __import__("st_browser").refuse_outside_requests(context)
    app = instrument_page(page)
    # 1. a run of the payload "model" being scored elsewhere: its progress bar's label names it
    page.goto(url + "bias?bias.probe=CrowS-Pairs&bias.view=Stored+runs")
    progress = page.get_by_test_id("stProgress")
    expect(progress.first).to_contain_text("**bold**", timeout=patience(120_000))  # the asterisks shown: no <strong>
    assert progress.first.locator("strong, a, img").count() == 0
    # 2. typed into "Also run on these models" (and its link parameter), then run: queued runs, refused models
    app.goto(url + "bias")
    box = page.get_by_role("textbox", name="Also run on these models, one after the other (Hub id or folder, one per "
                                      "line)", exact=True)
    box.fill(PAYLOAD)
    with app.expect_rerun():
        box.press("Control+Enter")
    with app.expect_rerun(timeout_ms=120_000):
        page.get_by_role("button", name="Run probe").click()
    expect(page.get_by_test_id("stPlotlyChart").first).to_be_visible(timeout=patience(120_000))  # the worker finished
    app.goto(url + "bias?bias.view=Stored+runs")
    expect(page.get_by_text("#", exact=False).first).to_be_visible(timeout=patience(60_000))
    wait_idle(page)  # the view drawn to the end (not running, nothing stale), not a fixed 2 s
    for selector in ("img[src*='127.0.0.1:9']", "a[href*='127.0.0.1:9']"):
        assert page.locator(selector).count() == 0, selector
    assert page.locator("strong", has_text="bold").count() == 0
    context.close()
    assert to_port_9 == [] and refused == []
