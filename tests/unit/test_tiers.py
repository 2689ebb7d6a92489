"""The test tiers (README, "Tests and benchmarks"; issue 26, item 6): a unit test loads no real model and runs no
Streamlit. Those belong in tests/integration (the embedded MiniLM, SmolLM2, Gemma 3) and tests/app (ui/, AppTest).

Checked statically over tests/unit (AST, milliseconds): a test or fixture taking a real-model fixture or
``app_factory``; ``ModelSpec`` of an embedded model's id or alias (plm_core.models); an import of streamlit, or of a
ui module that imports it (directly or through other ui modules); the same in code a test runs in a subprocess
(string literals); ``AppTest``.
"""

from __future__ import annotations

import ast
import os
import re
from pathlib import Path

import pytest

from helpers import ROOT
from plm_core import models

# conftest's fixtures that load a real model or build a Streamlit app (checked against conftest below)
TIER_FIXTURES = {"minilm": "integration", "smollm2": "integration", "gemma3": "integration", "app_factory": "app"}


def _ui_modules_with_streamlit() -> set[str]:
    """Dotted names of the ui modules that import streamlit, directly or through another ui module."""
    imports: dict[str, set[str]] = {}
    for path in (ROOT / "ui").rglob("*.py"):
        rel = path.relative_to(ROOT).with_suffix("")
        name = ".".join(rel.parts[:-1] if rel.name == "__init__" else rel.parts)
        imports[name] = _imported(ast.parse(path.read_text(encoding="utf-8")))
    bad = {name for name, mods in imports.items() if any(m.split(".")[0] == "streamlit" for m in mods)}
    while True:
        more = {name for name, mods in imports.items() if name not in bad and mods & bad}
        if not more:
            return bad
        bad |= more


def _imported(tree: ast.AST) -> set[str]:
    """Every module an import statement names (``from ui import x`` names ``ui`` and ``ui.x``), function-local
    imports included."""
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            out |= {node.module, *(f"{node.module}.{a.name}" for a in node.names)}
    return out


def tier_faults(source: str, ui_streamlit: set[str]) -> list[str]:
    """What in ``source`` (a test module) keeps it out of the unit tier, one line per fault."""
    tree = ast.parse(source)
    faults = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for arg in node.args.args + node.args.kwonlyargs:
                if arg.arg in TIER_FIXTURES:
                    faults.append(f"{node.lineno}: {node.name} takes {arg.arg} ({TIER_FIXTURES[arg.arg]})")
        elif isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", "")) == "ModelSpec":
            first = node.args[0] if node.args else None
            if isinstance(first, ast.Constant) and isinstance(first.value, str) and models.lookup(first.value):
                faults.append(f"{node.lineno}: ModelSpec({first.value!r}) is a real model (integration)")
        elif isinstance(node, ast.Name) and node.id == "AppTest":
            faults.append(f"{node.lineno}: AppTest (app)")
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            if any(m.split(".")[0] == "streamlit" or m in ui_streamlit for m in _code_imports(node.value)):
                faults.append(f"{node.lineno}: runs code that imports streamlit (app)")
            for alias in re.findall(r"ModelSpec\(\s*['\"]([^'\"]+)['\"]", node.value):
                if models.lookup(alias):
                    faults.append(f"{node.lineno}: runs code that loads ModelSpec({alias!r}) (integration)")
    for name in sorted(_imported(tree)):
        if name.split(".")[0] == "streamlit":
            faults.append(f"imports {name} (app)")
        elif name in ui_streamlit:
            faults.append(f"imports {name}, which imports streamlit (app)")
    return faults


def _code_imports(code: str) -> set[str]:
    """The modules a string of Python code imports (empty when it is not code)."""
    try:
        return _imported(ast.parse(code))
    except SyntaxError:
        return set()


def test_unit_tests_load_no_real_model_and_no_streamlit():
    ui_streamlit = _ui_modules_with_streamlit()
    found = [f"{path.relative_to(ROOT)}:{fault}" for path in sorted((ROOT / "tests" / "unit").glob("*.py"))
             if path != Path(__file__)  # its samples below
             for fault in tier_faults(path.read_text(encoding="utf-8"), ui_streamlit)]
    assert not found, "move these to tests/integration or tests/app:\n" + "\n".join(found)


def test_the_tier_guard_catches_the_faults_it_is_for():
    ui_streamlit = _ui_modules_with_streamlit()
    assert {"ui.charts", "ui.handles", "ui.lens"} <= ui_streamlit and "ui.safe" not in ui_streamlit
    faulty = {
        "def test_x(minilm): pass": "takes minilm",
        "def test_x(tiny_mlm, gemma3): pass": "takes gemma3",
        "def test_x(app_factory): pass": "takes app_factory",
        "import pytest\n@pytest.fixture\ndef big(smollm2): return smollm2": "takes smollm2",
        "def test_x():\n    load_model(ModelSpec('embedded', device='cpu'))": "ModelSpec('embedded')",
        "def test_x():\n    h = loading.ModelSpec('all-MiniLM-L6-v2')": "is a real model",
        "def test_x():\n    import streamlit as st": "imports streamlit",
        "from streamlit.testing.v1 import AppTest": "imports streamlit.testing.v1",
        "def test_x():\n    from ui import handles": "imports ui.handles",
        "from ui.charts import plotly_chart": "imports ui.charts",
        "CODE = 'import sys; from ui.lens import get_lens'": "runs code that imports streamlit",
        "CODE = ('x = 1\\n'\n        'from streamlit import config\\n')": "runs code that imports streamlit",
        "CODE = \"compute(ModelSpec('smollm2'), 'token_count', 'a')\"": "loads ModelSpec('smollm2')",
    }
    for source, expected in faulty.items():
        faults = tier_faults(source, ui_streamlit)
        assert any(expected in f for f in faults), (source, faults)
    clean = ("from ui.safe import md\nfrom plm_core.loading import ModelSpec\n"
             "def test_x(tiny_mlm, tiny_dirs):\n    ModelSpec(str(tiny_dirs['masked_lm']))\n"
             "    assert 'the ui of streamlit' and models.canonical_id('embedded')\n")
    assert tier_faults(clean, ui_streamlit) == []


def test_the_tier_fixtures_are_every_real_model_fixture_of_conftest():
    """A new conftest fixture that loads an embedded model (or builds an AppTest) is named in TIER_FIXTURES."""
    tree = ast.parse((ROOT / "tests" / "conftest.py").read_text(encoding="utf-8"))
    heavy = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and any("fixture" in ast.unparse(d) for d in node.decorator_list):
            body = ast.unparse(node)
            if "AppTest" in body or "_embedded_causal_lm(" in body or any(
                    models.lookup(m) for m in re.findall(r"ModelSpec\('([^']+)'", body)):
                heavy.add(node.name)
    assert heavy == set(TIER_FIXTURES), heavy


@pytest.fixture(scope="module")
def _one_per_module() -> object:
    return object()


def test_a_module_scoped_fixture_keeps_its_tests_on_one_worker(_one_per_module, request):
    """tests/conftest.py groups the tests of a module-scoped fixture (pytest-xdist's ``xdist_group``), and under
    ``-n 2 --dist loadgroup`` (the README's command) xdist has read the group into the test's id."""
    pytest.importorskip("xdist")
    mark = request.node.get_closest_marker("xdist_group")
    assert mark is not None and mark.args[0] == "unit/test_tiers.py"
    if os.environ.get("PYTEST_XDIST_WORKER") and request.config.getvalue("loadgroup"):
        assert request.node.nodeid.endswith("@unit/test_tiers.py"), request.node.nodeid


def test_a_test_without_module_fixtures_goes_to_any_worker(request):
    pytest.importorskip("xdist")
    assert request.node.get_closest_marker("xdist_group") is None
