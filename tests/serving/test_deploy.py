"""The scaled-out deployment on this machine: deploy/plm_cluster.py starts a Ray head, the Serve application, 2
Streamlit replicas (PLM_BACKEND=ray) and nginx; the protocol-level load client drives 20 sessions through nginx.
0 errors, every session stays on one replica (websocket and upload included), both replicas serve, masking
results equal the in-process ones, and everything is stopped afterwards. Slow (minutes); skipped without
``ray[serve]`` or nginx."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("ray.serve", reason="ray[serve] is not installed (pip install -r requirements-ray.txt)")
if not (shutil.which("nginx") or Path("/usr/sbin/nginx").exists()):
    pytest.skip("nginx is not installed (apt-get install nginx)", allow_module_level=True)

from plm_core.loading import ModelSpec, load_model  # noqa: E402
from plm_core.masking import MaskSpec, mask_and_predict  # noqa: E402
from plm_core.tolerances import PROBS as PROBS_TOLERANCE  # noqa: E402

pytestmark = [pytest.mark.ray, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]
REFERENCE = "A dog was sleeping on the rug."  # the masking lab's default reference sentence


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    from benchmarks import load_client
    from deploy import plm_cluster

    state = tmp_path_factory.mktemp("cluster")
    port = load_client.free_port()
    cmd = [sys.executable, str(ROOT / "deploy" / "plm_cluster.py"), "up", "--app-replicas", "2", "--port", str(port),
           "--detach", "--state-dir", str(state), "--num-cpus", "2", "--timeout", "600"]
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=1500,
                         env={**__import__("os").environ, "HF_HUB_OFFLINE": "1"})
    info = json.loads((state / "state.json").read_text()) if (state / "state.json").exists() else None
    try:
        assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-3000:]
        yield info
    finally:
        if info is not None:
            survivors = plm_cluster.stop(info)
            assert not survivors, survivors
            assert not any(_alive(p["pid"]) for p in info["processes"])


def test_twenty_sessions_through_nginx_and_ray(cluster):
    from benchmarks import load_client

    apps = [p for p in cluster["processes"] if p["name"].startswith("app replica")]
    report = load_client.run_load(
        cluster["url"], 20, activities=("masking", "bias", "lesson"), duration=90, max_actions=7, timeout=300,
        ramp=5.0, think=(0.1, 0.4), pids=[p["pid"] for p in apps], load_logs=[Path(p["load_log"]) for p in apps])
    records = report.pop("records")
    assert report["errors"] == 0, report["error_examples"]
    assert report["results_differing_between_sessions"] == 0, report["differing_detail"]
    assert report["sessions_that_changed_replica"] == 0
    assert len(report["replicas_reached"]) == 2, report["sessions_per_replica"]
    assert {"masking_update", "bias_upload", "bias_probe", "lesson_step"} <= set(report["latency"])

    # the masking lab's numbers through nginx → Streamlit replica → Ray replica == plm_core in this process
    local = load_model(ModelSpec("embedded", device="cpu"))
    clicks = [r for r in records if r.action == "masking_update" and r.key.startswith("click ")]
    assert clicks
    for r in clicks[:5]:
        sentence, pos = r.key[len("click "):].rsplit(" @ ", 1)
        cmp = mask_and_predict(local, sentence, MaskSpec((int(pos),)), reference=REFERENCE).comparisons[0]
        shown = np.asarray([v for chart in json.loads(r.result)["charts"] for trace in chart
                            for arr in trace.values() for v in arr])
        for value in np.concatenate([cmp.original, cmp.perturbed]):
            assert np.min(np.abs(shown - value)) <= PROBS_TOLERANCE, (r.key, value, shown)  # Ray's thread count
