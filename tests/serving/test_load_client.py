"""The protocol-level load client against the README's server (no Ray, no browser): 5 sessions through every
activity with 0 errors, equal results for equal inputs across sessions, one model load for all of them, and
the masking lab's numbers equal to plm_core's in this process. Slow (~1 min)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from plm_core.loading import ModelSpec, load_model
from plm_core.masking import MaskSpec, mask_and_predict

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]


def test_the_server_logs_where_it_is_told(tmp_path):
    """Server(folder=...) keeps its logs there: a test leaves no plm-load-<port> folder in /tmp (the benchmark's
    command line still keeps one for a person to read)."""
    import tempfile

    from benchmarks import load_client

    server = load_client.Server(folder=tmp_path / "server")
    server.stop()
    assert (tmp_path / "server" / "server.log").is_file() and (tmp_path / "server" / "loads.log").is_file()
    assert not (Path(tempfile.gettempdir()) / f"plm-load-{server.port}").exists()


def test_five_students_on_one_server(tmp_path):
    from benchmarks import load_client

    server = load_client.Server(folder=tmp_path / "server")  # its logs in pytest's folder, not plm-load-* in /tmp
    try:
        report = load_client.run_load(server.base, 5, duration=120, max_actions=30, timeout=300, ramp=1.0,
                                      think=(0.0, 0.2), pids=server.pids, load_logs=server.load_logs,
                                      shared_text=True)
    finally:
        server.stop()
    records = report.pop("records")
    assert report["errors"] == 0, report["error_examples"]
    assert set(report["latency"]) >= {"open_page", "masking_update", "lesson_step", "attribution", "bias_upload",
                                      "bias_probe"}
    assert report["results_differing_between_sessions"] == 0, report["differing_detail"]
    assert report["model_loads_during_run"] == 1  # one copy of the model for every session
    local = load_model(ModelSpec("embedded", device="cpu"))
    clicks = [r for r in records if r.key.startswith("click ")]
    assert clicks
    for r in clicks[:3]:
        sentence, pos = r.key[len("click "):].rsplit(" @ ", 1)
        cmp = mask_and_predict(local, sentence, MaskSpec((int(pos),)),
                               reference="A dog was sleeping on the rug.").comparisons[0]
        shown = np.asarray([v for chart in json.loads(r.result)["charts"] for trace in chart
                            for arr in trace.values() for v in arr])
        for value in np.concatenate([cmp.original, cmp.perturbed]):
            assert np.min(np.abs(shown - value)) <= 1e-6, (r.key, value, shown)
