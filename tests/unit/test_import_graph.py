"""The import graph (issue 26, item 1): no import cycle in the core or the app, counting the imports inside
functions (grimp reads every import statement, wherever it is; ``if TYPE_CHECKING:`` imports are left out), and
every core module imports alone, first, in a fresh interpreter, and none imports Streamlit (the Ray Serve replica,
core code too, is checked with Ray, in tests/serving/test_deploy.py).

Before issue 26: 3 cycles (19 modules) — ``kinds`` ↔ ``attribution.objective`` ↔ ``inference`` ↔ ``loading`` ↔
``tokens`` (with ``contributions`` and ``patching``), ``bias.jobs`` ↔ ``evaluate`` ↔ ``lessons.finetune``, and
``ui.backend`` ↔ ``ui.resources`` ↔ ``ui.ray_backend`` (modules since replaced by ``ui.lens``)."""

from __future__ import annotations

import ast
import subprocess
import sys
import textwrap
from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("plm_core", "ui")


def _cycles(graph) -> list[tuple[str, ...]]:
    """One chain ``a -> b -> ... -> a`` for each direct import ``a -> b`` that has a way back."""
    found = []
    for importer in sorted(graph.modules):
        for imported in sorted(graph.find_modules_directly_imported_by(importer)):
            if imported.split(".")[0] in PACKAGES:
                back = graph.find_shortest_chain(importer=imported, imported=importer)
                if back:
                    found.append((importer, *back))
    return found


def test_no_import_cycle_counting_imports_inside_functions():
    graph = grimp.build_graph(*PACKAGES, cache_dir=None, exclude_type_checking_imports=True)
    assert _cycles(graph) == []


def test_the_cycle_finder_finds_a_cycle_through_a_function_local_import():
    """The check above can fail: a function-local import that closes a loop is reported."""
    graph = grimp.build_graph(*PACKAGES, cache_dir=None, exclude_type_checking_imports=True)
    graph.add_import(importer="plm_core.errors", imported="plm_core.loading")  # as `def f(): from ... import`
    cycles = _cycles(graph)
    assert cycles and all(c[0] == c[-1] for c in cycles)
    assert any(c[:2] == ("plm_core.errors", "plm_core.loading") for c in cycles)


def _run(code: str, timeout: int = 900) -> str:
    out = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=ROOT, capture_output=True, text=True,
                         timeout=timeout, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin",
                                               "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"})
    assert out.returncode == 0, out.stderr[-3000:]
    return out.stdout.strip().splitlines()[-1]


@pytest.fixture(scope="module")
def fresh_imports() -> tuple[int, list[str], list[str]]:
    """One fresh interpreter for the two checks below (each one started its own, 13 s and 30 s): it imports the
    libraries the core uses (no ``plm_core`` module: each child would import them again, minutes in all), then
    forks one child per core module (2 at a time), each of which imports that module first and alone; then it
    imports every core module itself. Returns (modules, the children's errors, streamlit modules loaded)."""
    last = _run("""
        import ast, importlib, os, pathlib, sys
        import captum.attr, numpy, pandas, plotly.graph_objects, plotly.subplots, scipy.stats, sklearn.metrics, torch
        import transformers
        # transformers' lazy names the core takes (plm_core/preload.py's lists, read without importing plm_core)
        LISTS = {t.id: ast.literal_eval(n.value) for n in ast.parse(pathlib.Path("plm_core/preload.py").read_text()).body
                 if isinstance(n, ast.Assign) for t in n.targets if getattr(t, "id", "") in ("NAMES", "SUBMODULES")}
        [getattr(transformers, name) for name in LISTS["NAMES"]]
        [importlib.import_module(name) for name in LISTS["SUBMODULES"]]
        NAMES = (".".join(p.with_suffix("").parts).removesuffix(".__init__") for p in pathlib.Path("plm_core").rglob("*.py"))
        MODULES = sorted(n for n in NAMES if not n.endswith("__main__") and n != "plm_core.serving.ray_replica")
        assert not [m for m in sys.modules if m.startswith("plm_core")]
        errors, running = [], {}

        def reap():
            pid, status = os.wait()
            module, r = running.pop(pid)
            text = os.read(r, 65536).decode()
            os.close(r)
            if text or status:
                errors.append(text or f"{module}: exit status {status}")

        for module in MODULES:
            r, w = os.pipe()
            pid = os.fork()
            if pid == 0:  # the child: this module, first and alone
                os.close(r)
                try:
                    importlib.import_module(module)
                    text = ""
                except Exception as error:
                    text = f"{module}: {type(error).__name__}: {error}"
                os.write(w, text.encode()[:60000])
                os._exit(0)
            os.close(w)
            running[pid] = (module, r)
            while len(running) >= 2:
                reap()
        while running:
            reap()
        # then every core module in this process (the one importing Ray: tests/serving/test_deploy.py)
        import plm_core
        missing = [n for n in plm_core.__all__ if not hasattr(plm_core, n)]
        assert not missing, missing
        [importlib.import_module(m) for m in MODULES]
        assert "plm_core.attention" in sys.modules and "plm_core.viz.bertviz_html" in sys.modules
        print(repr((len(MODULES), errors, sorted(m for m in sys.modules if m.split(".")[0] == "streamlit"))))
    """)
    return ast.literal_eval(last)


@pytest.mark.slow
def test_each_core_module_imports_alone_first_in_a_fresh_interpreter(fresh_imports):
    n, errors, _streamlit = fresh_imports
    assert n > 60 and errors == [], errors


def test_core_never_imports_streamlit(fresh_imports):
    """Importing every plm_core module (but the Ray replica, which tests/serving checks) leaves streamlit
    unloaded."""
    assert fresh_imports[2] == []
