"""Capacity of three set-ups in ONE run, with the same simulated students (benchmarks/load_client.py):

(a) the README's server (one Streamlit process, model work in-process);
(b) one Streamlit process with PLM_BACKEND=ray, one Serve replica (deploy/plm_cluster.py --app-replicas 1);
(c) two Streamlit replicas behind nginx + Ray Serve (deploy/plm_cluster.py --app-replicas 2).

For each: masking-update p50/p95 and updates/s at each session count, the sessions held at p95 ≤ 1 s, and the
load average (this machine is shared: compare set-ups within one run, not across runs). Also the per-call cost of
the Ray path against the same call in-process (``predict`` and ``mask_and_predict`` on the embedded model).

    python3 -m benchmarks.bench_serving   # 10,30,100 sessions, 60 s each (the lock:
                                                                    # one benchmark at a time on a shared machine)
    python3 -m benchmarks.bench_serving --sessions 10,30 --duration 30 --setups a,c
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from benchmarks import load_client

ROOT = Path(__file__).resolve().parents[1]

SETUPS = {"a": "README server (in-process)", "b": "1 app + Ray Serve (1 replica)", "c": "2 apps + nginx + Ray Serve"}
TEXT = "The cat sat on the mat because it was tired."


def sweep(base: str, counts: list[int], args, pids: list[int], logs: list[Path]) -> list[dict]:
    load_client.warm_up(base, args.timeout)
    rows = []
    for n in counts:
        rep = load_client.run_load(base, n, activities=tuple(args.activities.split(",")), duration=args.duration,
                                   max_actions=args.actions, timeout=args.timeout, ramp=args.ramp,
                                   think=tuple(float(x) for x in args.think.split(",")), pids=pids, load_logs=logs)
        rep.pop("records")
        rows.append(rep)
        print(json.dumps({k: rep[k] for k in ("sessions", "errors", "masking_updates_per_s", "loadavg_after")}
                         | {"masking": rep["latency"].get("masking_update")}), file=sys.stderr, flush=True)
    return rows


def cluster_up(app_replicas: int, state: Path) -> dict:
    port = load_client.free_port()
    out = subprocess.run([sys.executable, str(ROOT / "deploy" / "plm_cluster.py"), "up", "--app-replicas",
                          str(app_replicas), "--port", str(port), "--detach", "--state-dir", str(state)],
                         cwd=ROOT, capture_output=True, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    if out.returncode:
        raise RuntimeError(out.stderr[-3000:])
    return json.loads((state / "state.json").read_text())


def per_call_overhead(address: str, n: int = 40) -> dict[str, float]:
    """Median ms of predict / mask_and_predict: in-process vs through the Ray deployment (distinct texts)."""
    os.environ.update(RAY_ADDRESS=address, RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER="0",
                      RAY_AUTH_MODE=os.environ.get("RAY_AUTH_MODE", "token"))
    from plm_core.loading import ModelSpec, load_model
    from plm_core.masking import MaskSpec
    from plm_core.lens import LocalLens
    from plm_core.serving import client

    spec = ModelSpec("embedded")
    local = load_model(ModelSpec("embedded", device="cpu"))
    out = {}
    for op, args in (("predict", ()), ("mask_and_predict", (MaskSpec((2,)),))):
        here, there = [], []
        for i in range(n):
            text = f"{TEXT} ({op} {i} {time.time_ns()})"
            t0 = time.perf_counter()
            getattr(LocalLens(spec, {spec: local}), op)(text, *args)
            here.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            client.call(spec, op, (text + " ", *args))
            there.append(time.perf_counter() - t0)
        out[op] = {"in_process_ms": round(1000 * statistics.median(here), 1),
                   "ray_ms": round(1000 * statistics.median(there), 1),
                   "overhead_ms": round(1000 * (statistics.median(there) - statistics.median(here)), 1)}
    import ray

    client.reset()
    ray.shutdown()  # before the cluster stops: a driver whose cluster is gone is ended by Ray
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sessions", default="10,30,100")
    ap.add_argument("--setups", default="a,b,c")
    ap.add_argument("--duration", type=float, default=60)
    ap.add_argument("--actions", type=int, default=40)
    ap.add_argument("--activities", default=",".join(load_client.ACTIVITIES))
    ap.add_argument("--think", default="1,3")
    ap.add_argument("--ramp", type=float, default=5.0)
    ap.add_argument("--timeout", type=float, default=120)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    counts = [int(x) for x in args.sessions.split(",")]
    results: dict[str, object] = {"cpu_count": os.cpu_count(), "loadavg_start": os.getloadavg()}
    tables = []
    for setup in args.setups.split(","):
        if setup == "a":
            server = load_client.Server()
            try:
                rows = sweep(server.base, counts, args, server.pids, server.load_logs)
            finally:
                server.stop()
        else:
            from deploy import plm_cluster

            state = Path(os.environ.get("TMPDIR", "/tmp")) / f"plm-bench-{setup}-{os.getpid()}"
            info = cluster_up(1 if setup == "b" else 2, state)
            try:
                apps = [p for p in info["processes"] if p["name"].startswith("app replica")]
                rows = sweep(info["url"], counts, args, [p["pid"] for p in apps],
                             [Path(p["load_log"]) for p in apps])
                if setup == "b":
                    results["ray_per_call"] = per_call_overhead(info["ray_address"])
            finally:
                plm_cluster.stop(info)
        results[setup] = rows
        tables.append(load_client.table(rows, f"({setup}) {SETUPS[setup]}"))
    summary = ["### Sessions held at masking-update p95 ≤ 1 s", "", "| set-up | sessions held | updates/s at the "
               "largest count held |", "|---|---:|---:|"]
    for setup in args.setups.split(","):
        rows = results[setup]
        held = load_client.capacity(rows)
        ups = next((r["masking_updates_per_s"] for r in rows if r["sessions"] == held), "—")
        summary.append(f"| ({setup}) {SETUPS[setup]} | {held if held is not None else '< ' + str(counts[0])} | {ups} |")
    if "ray_per_call" in results:
        summary += ["", "Per call through Ray (median ms, distinct texts): " + json.dumps(results["ray_per_call"])]
    print("\n\n".join(["\n".join(summary), *tables]))
    results["loadavg_end"] = os.getloadavg()
    if args.json:
        args.json.write_text(json.dumps(results, indent=1, default=str))


if __name__ == "__main__":
    main()
