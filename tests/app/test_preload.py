"""Sessions are threads of one server process: their first imports must not race (CI, stop 27: "ImportError: cannot
import name 'BatchEncoding' from 'transformers'" in one of five students' sessions).

Without ``ui.preload``, ten threads importing ten page modules at once failed 9–10 times in 10 here ("cannot
import name 'run' from partially initialized module 'plm_core.inference'"); with it, none does."""

from __future__ import annotations

import ast
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SOURCES = [ROOT / "app.py", *(p for d in ("plm_core", "ui", "pages", "deploy") for p in (ROOT / d).rglob("*.py")
                              if p != ROOT / "plm_core" / "testing.py")]  # the tests' tiny models, not the app's


def test_ten_sessions_importing_the_pages_at_once_all_succeed():
    script = textwrap.dedent("""
        import importlib, threading
        MODULES = ["ui.attribution", "ui.masking", "ui.generation", "ui.lessons", "ui.lens", "ui.evaluate",
                   "ui.bias", "plm_core.tokens", "plm_core.inference", "plm_core.attention"]
        errors, barrier = [], threading.Barrier(len(MODULES))
        def session(module):
            barrier.wait()
            try:
                import ui.preload  # what app.py does first
                importlib.import_module(module)
            except Exception as error:
                errors.append(f"{module}: {type(error).__name__}: {error}")
        threads = [threading.Thread(target=session, args=(m,)) for m in MODULES]
        [t.start() for t in threads]
        [t.join() for t in threads]
        print(repr(errors))
    """)
    for _ in range(2):
        out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=600,
                             env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1"})
        assert out.returncode == 0, out.stderr[-3000:]
        assert out.stdout.strip().splitlines()[-1] == "[]", out.stdout[-3000:]


def test_ten_sessions_importing_the_pages_at_once_need_no_preload_for_the_app_s_own_modules():
    """The same ten first imports at once WITHOUT ``ui.preload``, the libraries' lazy names resolved first (their
    own race, which the preload exists for): no module of the app waits on a half-built one of its own. Before
    issue 26 (import cycles, and ``plm_core/__init__`` importing the core eagerly) this failed 3 times in 3 with
    "cannot import name 'run' from partially initialized module 'plm_core.inference'"."""
    script = textwrap.dedent("""
        import ast, importlib, pathlib, threading
        import captum.attr, pandas, plotly.express, plotly.graph_objects, plotly.subplots, scipy.stats, sklearn.metrics
        import streamlit, transformers
        LISTS = {t.id: ast.literal_eval(n.value) for n in ast.parse(pathlib.Path("plm_core/preload.py").read_text()).body
                 if isinstance(n, ast.Assign) for t in n.targets if getattr(t, "id", "") in ("NAMES", "SUBMODULES")}
        [getattr(transformers, name) for name in LISTS["NAMES"] + ("AutoModelForMaskedLM", "AutoModelForSeq2SeqLM",
                                                                    "AutoModelForSequenceClassification")]
        [importlib.import_module(name) for name in LISTS["SUBMODULES"]]
        MODULES = ["ui.attribution", "ui.masking", "ui.generation", "ui.lessons", "ui.lens", "ui.evaluate",
                   "ui.bias", "plm_core.tokens", "plm_core.inference", "plm_core.attention"]
        errors, barrier = [], threading.Barrier(len(MODULES))
        def session(module):
            barrier.wait()
            try:
                importlib.import_module(module)
            except Exception as error:
                errors.append(f"{module}: {type(error).__name__}: {error}")
        threads = [threading.Thread(target=session, args=(m,)) for m in MODULES]
        [t.start() for t in threads]
        [t.join() for t in threads]
        print(repr(errors))
    """)
    for _ in range(2):
        out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=600,
                             env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1"})
        assert out.returncode == 0, out.stderr[-3000:]
        assert out.stdout.strip().splitlines()[-1] == "[]", out.stdout[-3000:]


@pytest.mark.parametrize("script", ["app.py", *sorted(p.name for p in (ROOT / "pages").glob("*.py"))])
def test_every_entry_script_imports_the_preload_before_anything_else(script):
    """CI, stop 27, again after app.py had it: a student who opened /attribution by its URL ran pages/attribution.py
    without app.py, and the first import raced."""
    path = ROOT / script if script == "app.py" else ROOT / "pages" / script
    tree = ast.parse(path.read_text())
    imports = [n for n in tree.body if isinstance(n, ast.Import | ast.ImportFrom)
               and not (isinstance(n, ast.ImportFrom) and n.module == "__future__")]
    assert isinstance(imports[0], ast.Import) and imports[0].names[0].name == "ui.preload"


def test_every_name_taken_from_transformers_is_preloaded():
    from plm_core import preload

    names, modules = set(), set()
    for path in SOURCES:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "transformers":
                if node.module == "transformers":
                    names |= {a.name for a in node.names}
                else:
                    modules.add(node.module)
    assert names, "the scan found no transformers imports"
    submodule_names = {m.rsplit(".", 1)[1] for m in preload.SUBMODULES}
    assert names - set(preload.RESOLVED) - submodule_names == set()
    assert modules - set(preload.SUBMODULES) == set()
