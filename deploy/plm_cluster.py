"""Start (and stop) plm-lens scaled out on one machine: a Ray head, the Serve application of deploy/serve.yaml (the
replica ``plm_core/serving/ray_replica.py``), N Streamlit replicas (PLM_BACKEND=ray; their client
``plm_core/serving/client.py``) and nginx in front of them with session affinity.

    python3 deploy/plm_cluster.py up --app-replicas 2            # until Ctrl-C, then everything stops
    python3 deploy/plm_cluster.py up --app-replicas 2 --detach   # returns; state in $TMPDIR/plm-cluster
    python3 deploy/plm_cluster.py down                           # stops what `up --detach` started
    python3 deploy/plm_cluster.py up --no-ray                    # N replicas computing in-process, behind nginx

Open http://127.0.0.1:8080/ (``--port``). Needs ``pip install -r requirements-ray.txt`` and nginx
(``apt-get install nginx``). Every process is started here as a child of this launcher (``ray start --block``,
``streamlit run``, ``nginx -g 'daemon off;'``) and stopped by its PID; the state file lists them.

Across machines: run ``ray start --address <head>:<port>`` on each GPU node, deploy serve.yaml with
``num_gpus: 1`` per replica, and start Streamlit replicas anywhere with ``PLM_BACKEND=ray RAY_ADDRESS=<head>:<port>``
behind this nginx configuration (README, "Scaling out (optional)").
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HERE = Path(__file__).resolve().parent
STATE_DIR = Path(os.environ.get("TMPDIR", "/tmp")) / "plm-cluster"
# streamlit with plm_core's model loads logged to a file (the load client counts them)
SERVE_STREAMLIT = """
import logging, sys
h = logging.FileHandler(sys.argv[1]); h.setFormatter(logging.Formatter('%(asctime)s %(name)s %(message)s'))
lg = logging.getLogger('plm_core.loading'); lg.setLevel(logging.INFO); lg.addHandler(h)
sys.argv = ['streamlit'] + sys.argv[2:]
from streamlit.web.cli import main
main()
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(what: str, check, timeout: float, procs: list[subprocess.Popen] = ()) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for p in procs:
            if p.poll() is not None:
                raise RuntimeError(f"{what}: a process exited with {p.returncode} (see the logs in the state folder)")
        try:
            if check():
                return
        except OSError:
            pass
        time.sleep(0.5)
    raise TimeoutError(f"{what}: not ready in {timeout:.0f} s")


def healthy(url: str) -> bool:
    with urllib.request.urlopen(url + "_stcore/health", timeout=3) as r:
        return r.read().strip() == b"ok"


def write_serve_config(state: Path, replicas: int, gpus: float, cpus: float, preload: str) -> Path:
    import yaml

    config = yaml.safe_load((HERE / "serve.yaml").read_text())
    app = config["applications"][0]
    app["args"]["preload"] = preload
    dep = app["deployments"][0]
    dep["num_replicas"] = replicas
    dep["ray_actor_options"].update(num_gpus=gpus, num_cpus=cpus)
    path = state / "serve.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def write_nginx_config(state: Path, listen: str, ports: list[int]) -> Path:
    for sub in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (state / "nginx-tmp" / sub).mkdir(parents=True, exist_ok=True)
    servers = "\n".join(f"        server 127.0.0.1:{p} max_fails=0;" for p in ports)
    text = (HERE / "nginx.conf.template").read_text()
    text = text.replace("{state}", str(state)).replace("{servers}", servers).replace("{listen}", listen)
    path = state / "nginx.conf"
    path.write_text(text)
    return path


def spawn(cmd: list[str], log: Path, env: dict[str, str] | None = None) -> subprocess.Popen:
    """A child in its own process group (so stopping it stops its children too)."""
    return subprocess.Popen(cmd, cwd=ROOT, stdout=open(log, "ab"), stderr=subprocess.STDOUT,
                            env={**os.environ, **(env or {})}, start_new_session=True)


def _tail(path: Path, chars: int = 1500) -> str:
    try:
        return path.read_text(errors="replace")[-chars:]
    except OSError as error:
        return f"({error})"


def up(args) -> dict:
    state = Path(args.state_dir)
    if (state / "state.json").exists():
        raise SystemExit(f"{state / 'state.json'} exists: run `down` first (or pass another --state-dir)")
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    if not Path(nginx).exists():
        raise SystemExit("nginx is not installed (apt-get install nginx)")
    state.mkdir(parents=True, exist_ok=True)
    info: dict = {"state_dir": str(state), "processes": [], "url": f"http://127.0.0.1:{args.port}/"}
    procs: list[subprocess.Popen] = []

    def record(name: str, p: subprocess.Popen, **extra) -> None:
        procs.append(p)
        info["processes"].append({"name": name, "pid": p.pid, **extra})
        (state / "state.json").write_text(json.dumps(info, indent=1))

    env = {"HF_HUB_OFFLINE": os.environ.get("HF_HUB_OFFLINE", "0"), "PYTHONPATH": str(ROOT),
           "TOKENIZERS_PARALLELISM": "false",
           # one machine: Ray's own switch for a loopback-only cluster (otherwise it advertises the LAN address)
           "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
           # Ray's token authentication, on the head and on every driver (the token: ~/.ray/auth_token)
           "RAY_AUTH_MODE": os.environ.get("RAY_AUTH_MODE", "token")}
    try:
        if not args.no_ray:
            gcs = free_port()
            address = f"127.0.0.1:{gcs}"
            info["ray_address"] = address
            ray = shutil.which("ray") or str(Path(sys.executable).with_name("ray"))
            cmd = [ray, "start", "--head", "--block", "--port", str(gcs), "--node-ip-address", "127.0.0.1",
                   "--include-dashboard", "false", "--disable-usage-stats",
                   "--ray-client-server-port", str(free_port()), "--node-manager-port", str(free_port()),
                   "--object-manager-port", str(free_port()), "--min-worker-port", "0", "--max-worker-port", "0"]
            if args.num_cpus:
                cmd += ["--num-cpus", str(args.num_cpus)]
            # `down` stops nginx and the app replicas before the head, so no request is left to drain: without this
            # Ray 2.60 answers SIGTERM by draining the node for RAY_GRACEFUL_SHUTDOWN_DRAIN_TIMEOUT_S (30 s)
            record("ray head", spawn(cmd, state / "ray.log", {**env, "RAY_GRACEFUL_SHUTDOWN_DRAIN_TIMEOUT_S": "0"}))
            serve = shutil.which("serve") or str(Path(sys.executable).with_name("serve"))
            config = write_serve_config(state, args.serve_replicas, args.gpus_per_replica, args.cpus_per_replica,
                                        args.preload)
            deadline = time.monotonic() + args.timeout
            while True:  # the head takes a few seconds to answer
                out = subprocess.run([serve, "run", str(config), "--non-blocking", "--address", address],
                                     cwd=ROOT, env={**os.environ, **env, "RAY_ADDRESS": address},
                                     capture_output=True, text=True, timeout=args.timeout)
                if out.returncode == 0:
                    break
                if time.monotonic() > deadline or procs[0].poll() is not None:
                    (state / "serve-run.log").write_text(out.stdout + out.stderr)
                    head = "exited with " + str(procs[0].returncode) if procs[0].poll() is not None else "running"
                    raise RuntimeError(f"serve run failed (the Ray head: {head}); the end of "
                                       f"{state / 'serve-run.log'}:\n{(out.stdout + out.stderr)[-1500:]}\n"
                                       f"the end of {state / 'ray.log'}:\n{_tail(state / 'ray.log')}")
                time.sleep(2)
            (state / "serve-run.log").write_text(out.stdout + out.stderr)
            _wait_serve_running(address, env, args.timeout)
        ports = [free_port() for _ in range(args.app_replicas)]
        cookie_secret = secrets.token_hex(16)  # one for all replicas: an XSRF cookie from one is valid on any
        app_env = {**env, "PLM_DEVICE": os.environ.get("PLM_APP_DEVICE", "cpu"),
                   "STREAMLIT_SERVER_COOKIE_SECRET": cookie_secret}
        if not args.no_ray:
            app_env.update(PLM_BACKEND="ray", RAY_ADDRESS=info["ray_address"])
        for i, port in enumerate(ports):
            log = state / f"app-{i}.loads.log"
            log.write_text("")
            cmd = [sys.executable, "-c", SERVE_STREAMLIT, str(log), "run", "app.py", "--server.headless", "true",
                   "--server.port", str(port), "--server.address", "127.0.0.1", "--server.fileWatcherType", "none",
                   "--browser.gatherUsageStats", "false"]
            record(f"app replica {i}", spawn(cmd, state / f"app-{i}.log", app_env), port=port, load_log=str(log))
        for port in ports:
            wait_for(f"app replica on {port}", lambda p=port: healthy(f"http://127.0.0.1:{p}/"), args.timeout, procs)
        conf = write_nginx_config(state, f"127.0.0.1:{args.port}", ports)
        test = subprocess.run([nginx, "-t", "-c", str(conf), "-p", str(state)], capture_output=True, text=True)
        if test.returncode:
            raise RuntimeError(f"nginx -t: {test.stderr}")
        record("nginx", spawn([nginx, "-c", str(conf), "-p", str(state), "-g", "daemon off;"], state / "nginx.out"))
        wait_for("nginx", lambda: healthy(info["url"]), args.timeout, procs)
    except BaseException:
        stop(info)
        raise
    return info


WAIT_SERVE = """
import sys, time, ray
from ray import serve
from plm_core.serving.protocol import APP_NAME
ray.init(address=sys.argv[1], log_to_driver=False)
deadline = time.monotonic() + float(sys.argv[2])
while time.monotonic() < deadline:
    app = serve.status().applications.get(APP_NAME)
    if app is not None and str(app.status).endswith("RUNNING"):
        sys.exit(0)
    if app is not None and "FAILED" in str(app.status):
        sys.exit(f"the Serve application failed: {app.message}")
    time.sleep(1)
sys.exit("the Serve application is not RUNNING")
"""


def _wait_serve_running(address: str, env: dict[str, str], timeout: float) -> None:
    """Until Serve says the plm application (``plm_core.serving.protocol.APP_NAME``) is RUNNING (its replicas started and loaded their models)."""
    out = subprocess.run([sys.executable, "-c", WAIT_SERVE, address, str(timeout)], capture_output=True, text=True,
                         env={**os.environ, **env}, timeout=timeout + 120, cwd=ROOT)
    if out.returncode:
        raise RuntimeError(out.stderr[-3000:])


def stop(info: dict) -> list[str]:
    """Stop every process in ``info`` (nginx and the app replicas first, the Ray head last); returns survivors."""
    survivors = []
    for proc in reversed(info.get("processes", [])):
        pid = proc["pid"]
        try:
            os.killpg(pid, signal.SIGTERM)  # the child's own process group (start_new_session)
        except ProcessLookupError:
            continue
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and _alive(pid):
            time.sleep(0.2)
        if _alive(pid):
            try:
                os.killpg(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            time.sleep(0.5)
        if _alive(pid):
            survivors.append(f"{proc['name']} ({pid})")
    state = Path(info.get("state_dir", STATE_DIR))
    if (state / "state.json").exists():
        (state / "state.json").unlink()
    return survivors


def _alive(pid: int) -> bool:
    try:
        waited, _ = os.waitpid(pid, os.WNOHANG)  # reap our own child
        if waited:
            return False
    except ChildProcessError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is gone for our purposes
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("command", choices=["up", "down"])
    ap.add_argument("--app-replicas", type=int, default=2, help="Streamlit processes behind nginx")
    ap.add_argument("--port", type=int, default=8080, help="nginx listens on 127.0.0.1:PORT")
    ap.add_argument("--serve-replicas", type=int, default=1, help="replicas of the Serve deployment (one per GPU)")
    ap.add_argument("--gpus-per-replica", type=float, default=0, help="num_gpus of each Serve replica")
    ap.add_argument("--cpus-per-replica", type=float, default=1, help="num_cpus of each Serve replica")
    ap.add_argument("--num-cpus", type=int, default=0, help="CPUs the Ray head offers (default: all)")
    ap.add_argument("--preload", default="embedded", help="models each Serve replica loads at start")
    ap.add_argument("--no-ray", action="store_true", help="app replicas compute in-process (no Ray)")
    ap.add_argument("--detach", action="store_true", help="return after start; stop later with `down`")
    ap.add_argument("--state-dir", default=str(STATE_DIR))
    ap.add_argument("--timeout", type=float, default=300, help="seconds each part may take to start")
    args = ap.parse_args()
    if args.command == "down":
        path = Path(args.state_dir) / "state.json"
        if not path.exists():
            raise SystemExit(f"nothing to stop: no {path}")
        survivors = stop(json.loads(path.read_text()))
        print("stopped" if not survivors else f"still running: {', '.join(survivors)}")
        sys.exit(1 if survivors else 0)
    info = up(args)
    print(json.dumps(info, indent=1))
    print(f"plm-lens: {info['url']}  ({args.app_replicas} app replicas"
          + ("" if args.no_ray else f", Ray Serve at {info['ray_address']}") + ")", flush=True)
    if args.detach:
        return
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    try:
        signal.pause()
    except KeyboardInterrupt:
        pass
    finally:
        survivors = stop(info)
        print("stopped" if not survivors else f"still running: {', '.join(survivors)}")


if __name__ == "__main__":
    main()
