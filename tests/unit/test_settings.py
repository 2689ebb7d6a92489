"""Issue 26, item 3: one settings object for the ``PLM_*`` variables (``plm_core.settings``): nothing else reads
them from the environment, the README's table is its list, and a test's ``monkeypatch.setenv`` is seen."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from plm_core import settings as s

ROOT = Path(__file__).resolve().parents[2]


def test_no_module_reads_a_plm_variable_but_settings():
    env_read = re.compile(r"os\.(?:environ(?:\.get\(|\[)|getenv\()\s*(?:[A-Z_]*_ENV\b|[\"']PLM_)")
    found = [f"{p.relative_to(ROOT)}:{i}" for d in ("plm_core", "ui", "pages") for p in (ROOT / d).rglob("*.py")
             if p.name != "settings.py"
             for i, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1) if env_read.search(line) and "MODELSCOPE" not in line]  # ModelScope's own
    assert not found, found


def test_every_plm_variable_the_code_names_is_a_setting_and_in_the_readme_table():
    named = set()
    for d in ("plm_core", "ui", "pages", "deploy"):
        for p in (ROOT / d).rglob("*.py"):
            named |= set(re.findall(r"\bPLM_[A-Z_]+\b", p.read_text(encoding="utf-8")))
    named -= {"PLM_PARAMS", "PLM_DARK"}  # JavaScript globals of the bertviz page, not variables
    assert named <= s.NAMES, named - s.NAMES
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    table = re.findall(r"^\| `(PLM_[A-Z_]+)` \| (.*?) \| (.*?) \|$", readme, re.M)
    assert [(n, d, w) for n, d, w in table] == [(v.name, v.default, v.what) for v in s.VARIABLES]


def test_settings_follow_the_environment(monkeypatch, tmp_path):
    from plm_core import classroom, devices
    from plm_core.model_cache import budget_bytes

    monkeypatch.setenv("PLM_MODEL_MEMORY_MB", "12")
    monkeypatch.setenv("PLM_TRAINED_DIR", str(tmp_path))
    monkeypatch.setenv("PLM_CLASSROOM", "1")
    monkeypatch.setenv("PLM_MAX_TOKENS", "7")
    assert budget_bytes() == 12 * 2**20 and classroom.trained_dir() == tmp_path
    assert classroom.current().max_tokens == 7
    monkeypatch.setenv("PLM_DEVICE", "cpu")
    assert str(devices.pick_device()) == "cpu"
    monkeypatch.delenv("PLM_MODEL_MEMORY_MB")
    assert budget_bytes() == 4096 * 2**20
    assert s.settings() is s.settings()  # built once per set of values
    with pytest.raises(KeyError, match="not a plm-lens setting"):
        s.settings().get("PLM_TYPO")
