"""A warm parent for the browser tests' Streamlit servers (run by ``st_browser.streamlit_server``, one per pytest
process): it imports the libraries a server's first run needs once, then forks each server from itself.

A server's first page imports torch, transformers, captum, scipy, scikit-learn, pandas and plotly, and each of the
~25 servers of a whole-suite run paid that again (one server per browser test module, so that what one module
leaves running cannot slow the next): a module's first page took 10.4 s and 14.1 CPU-s of this 2-core machine, and
takes 2.6 s and 4.7 CPU-s from a warm parent (whose own start costs about 7 CPU-s). A forked server starts with
those libraries imported (and the bare ``plm_core`` package, which sets libgomp's wait policy before torch loads, as
in a server); everything else is as ``python3 -m streamlit run`` does it: Streamlit itself, the app's own modules
(``plm_core.*``, ``ui``: their settings read the server's ``PLM_*`` variables) and the page scripts are imported by
the server, in its own directory and environment.

Protocol (one JSON object a line on stdin; the server's PID a line on stdout): ``{"cwd", "env", "log", "argv"}``.
The environment given must equal this process's, except in ``PLM_*``, ``STREAMLIT_*`` and pytest's ``PYTEST_*``
variables, which none of the libraries imported here reads (``st_browser`` checks this and starts a plain
subprocess otherwise).
"""

from __future__ import annotations

import ast
import gc
import importlib
import json
import os
import signal
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
#: imported once here; a stale list only makes servers start slower, never differently
LIBRARIES = ("torch", "transformers", "captum.attr", "scipy.stats", "scipy.optimize", "sklearn.metrics", "pandas",
             "plotly.graph_objects", "plotly.express", "plotly.subplots")


def _transformers_names() -> tuple[list[str], list[str]]:
    """The transformers names and submodules ``plm_core.preload`` resolves (read, not imported: importing it would
    import the app's own modules here)."""
    tree = ast.parse((ROOT / "plm_core" / "preload.py").read_text(encoding="utf-8"))
    found = {t.id: ast.literal_eval(n.value) for n in tree.body if isinstance(n, ast.Assign)
             for t in n.targets if getattr(t, "id", "") in ("NAMES", "SUBMODULES")}
    return list(found.get("NAMES", ())), list(found.get("SUBMODULES", ()))


def warm() -> None:
    # first, as in a server (app.py imports it before torch): the package sets OMP_WAIT_POLICY, which libgomp reads
    # once when torch loads; it reads no other setting and imports none of its modules (PEP 562 exports)
    sys.path.insert(0, str(ROOT))
    try:
        importlib.import_module("plm_core")
    finally:
        sys.path.remove(str(ROOT))
    for name in LIBRARIES:
        importlib.import_module(name)
    import transformers

    names, submodules = _transformers_names()
    for name in names + ["AutoModelForMaskedLM", "AutoModelForSeq2SeqLM", "AutoModelForSequenceClassification"]:
        getattr(transformers, name, None)
    for module in submodules:
        importlib.import_module(module)


def serve(request: dict) -> None:
    """In the forked child: become ``python3 -m streamlit <argv>`` in ``cwd`` with ``env``; never returns."""
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    del sys.modules["plm_core"]  # the server imports the package itself, with its own environment (see warm())
    out = os.open(request["log"], os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    os.dup2(out, 1)
    os.dup2(out, 2)
    os.close(out)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    sys.path[0] = os.getcwd()  # as `python3 -m` puts the working directory first
    sys.argv = ["streamlit", *request["argv"]]
    from streamlit.web.cli import main

    main(prog_name="streamlit")  # exits (SystemExit) like the command: atexit handlers run
    sys.exit(0)


def loop() -> None:
    warm()
    gc.freeze()  # the libraries' objects: never collected in a server, so its pages stay shared, not copied
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # servers are reaped as they exit
    print("ready", flush=True)
    for line in sys.stdin:
        request = json.loads(line)
        pid = os.fork()
        if pid == 0:
            serve(request)
        print(pid, flush=True)


if __name__ == "__main__":
    loop()
