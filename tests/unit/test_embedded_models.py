"""The embedded-model registry and its one-time conversion (plm_core.models), without converting a real model:
ids and aliases, the cache location, one conversion however many threads ask, nothing half-made after a failure,
and where Hub ids and ModelScope ids load from (HF_ENDPOINT, modelscope:<id>)."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from plm_core import classroom, models
from plm_core.errors import ModelLoadError
from plm_core.i18n import tr, use_language
from plm_core.loading import (DEFAULT_MODEL_ID, hub_name, load_model, modelscope_address, resolve_source,
                              ModelSpec)


def test_short_ids_name_one_model_each():
    assert models.canonical_id("smollm2") == "smollm2" and models.canonical_id(" gemma3 ") == "gemma3"
    for alias in ("embedded", "minilm", "all-MiniLM-L6-v2", DEFAULT_MODEL_ID):
        assert models.canonical_id(alias) == DEFAULT_MODEL_ID
    assert models.canonical_id("gpt2") == "gpt2" and models.lookup("gpt2") is None
    assert {m.kind for m in models.EMBEDDED.values()} == {"encoder", "causal_lm"}
    assert [m.key for m in models.EMBEDDED.values() if m.converted] == ["smollm2", "gemma3"]


def test_every_embedded_model_states_its_weights_and_licence():
    for model in models.EMBEDDED.values():
        assert model.licence[1].startswith("https://")
        if model.converted:
            assert model.quantisation in model.about and "float32" in model.about
            with use_language("zh"):
                assert tr(models.msg(model.about)) != model.about  # translated


def test_classroom_allowlist_takes_short_ids(monkeypatch):
    monkeypatch.delenv("PLM_DEFAULT_MODEL", raising=False)
    room = classroom.ClassroomConfig(enabled=True, allowed_models=("smollm2", "embedded"), max_tokens=64)
    assert classroom.allowed_models(room) == (DEFAULT_MODEL_ID, "smollm2")
    classroom.check_model_allowed(" smollm2", config=room)
    with pytest.raises(classroom.ModelNotAllowedError):
        classroom.check_model_allowed("gemma3", config=room)


def test_cache_follows_plm_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("PLM_CACHE", str(tmp_path))
    assert models.cache_root() == tmp_path / "models"
    assert models.folder(models.SMOLLM2).parent == tmp_path / "models"


@pytest.fixture
def fake_conversion(tmp_path, monkeypatch):
    """plm_core.models.prepare with its converter replaced by a slow one that counts its calls (the real one is
    exercised by the integration tier, which converts both models)."""
    monkeypatch.setenv("PLM_CACHE", str(tmp_path))
    calls: list[str] = []

    def convert(model, work: Path, report) -> None:
        calls.append(model.key)
        report(0.5, models.msg("dequantising the weights to float32…"))
        time.sleep(0.3)
        (work / "config.json").write_text("{}")
        (work / models.RECORD).write_text("{}")

    monkeypatch.setattr(models, "_convert", convert)
    monkeypatch.setattr(models, "installed", lambda model: True)
    monkeypatch.setattr(models, "_version", lambda dist: "9.9")
    return calls


def test_one_conversion_however_many_sessions_ask(fake_conversion):
    heard: list[list[str]] = [[] for _ in range(6)]
    folders: list[Path] = []

    def ask(i: int) -> None:
        folders.append(models.prepare("smollm2", lambda f, text: heard[i].append(str(text))))

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert fake_conversion == ["smollm2"]
    assert len(set(folders)) == 1 and (folders[0] / models.RECORD).is_file()
    assert sum(any("another session is converting" in h for h in said) for said in heard) >= 1
    assert models.is_prepared(models.SMOLLM2)
    models.prepare("smollm2")
    assert fake_conversion == ["smollm2"]  # later loads read the cache


def test_a_failed_or_killed_conversion_leaves_nothing(fake_conversion, monkeypatch, tmp_path):
    def broken(model, work: Path, report) -> None:
        (work / "model.safetensors").write_bytes(b"half")
        raise KeyboardInterrupt  # Ctrl-C in the middle

    monkeypatch.setattr(models, "_convert", broken)
    with pytest.raises(KeyboardInterrupt):
        models.prepare("gemma3")
    root = tmp_path / "models"
    assert not models.folder(models.GEMMA3).exists()
    assert not list(root.glob(".gemma3-*.partial"))
    # a leftover of a process killed outright (no cleanup ran) is removed by the next conversion
    leftover = root / ".gemma3-dead.partial"
    leftover.mkdir()
    monkeypatch.setattr(models, "_convert", lambda model, work, report: (work / models.RECORD).write_text("{}"))
    assert models.prepare("gemma3") == models.folder(models.GEMMA3)
    assert not leftover.exists()


def test_missing_model_package_says_what_to_install(monkeypatch, tmp_path):
    monkeypatch.setenv("PLM_CACHE", str(tmp_path))  # not converted here (an earlier test may have converted it)
    monkeypatch.setattr(models.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ModelLoadError, match="requirements-models.txt"):
        models.prepare("smollm2")


def test_prepare_refuses_a_model_that_is_not_embedded():
    with pytest.raises(ModelLoadError, match="not an embedded model"):
        models.prepare("gpt2")


def test_cli_lists_and_refuses_unknown_names(capsys):
    from plm_core.models.__main__ import main

    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert "smollm2" in out and "gemma3" in out and "embedded" in out
    with pytest.raises(SystemExit):
        main(["prepare", "gpt2"])


# ----------------------------------------------------------------------------- when the Hub is unreachable ----

def test_hf_endpoint_mirror_is_named_in_the_load_error(monkeypatch):
    import huggingface_hub.constants as hub

    monkeypatch.setattr(hub, "ENDPOINT", "https://hf-mirror.example")
    monkeypatch.setattr(hub, "HF_HUB_OFFLINE", True)
    assert hub_name() == "the Hub mirror 'https://hf-mirror.example' (HF_ENDPOINT)"
    with pytest.raises(ModelLoadError, match=r"the Hub mirror 'https://hf-mirror\.example' \(HF_ENDPOINT\) cannot be"):
        load_model(ModelSpec("some-org/some-model", device="cpu"))
    monkeypatch.setattr(hub, "ENDPOINT", "https://huggingface.co")
    assert hub_name() == "the Hugging Face Hub"


def test_hf_endpoint_is_where_huggingface_hub_downloads(monkeypatch):
    """The variable the message names is the one huggingface_hub builds its download addresses from."""
    import subprocess
    import sys

    code = ("import huggingface_hub as h; print(h.hf_hub_url('org/name', 'config.json'))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "HF_ENDPOINT": "https://hf-mirror.example"}).stdout
    assert out.strip().startswith("https://hf-mirror.example/org/name/resolve/")


def test_modelscope_ids_form_the_right_address(monkeypatch):
    monkeypatch.delenv("MODELSCOPE_DOMAIN", raising=False)
    assert modelscope_address("Qwen/Qwen2.5-0.5B") == "https://www.modelscope.cn/models/Qwen/Qwen2.5-0.5B"
    monkeypatch.setenv("MODELSCOPE_DOMAIN", "modelscope.example.cn")
    assert modelscope_address("a/b") == "https://modelscope.example.cn/models/a/b"


def test_modelscope_without_the_package_says_what_to_install(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_modelscope(name, *args, **kwargs):
        if name == "modelscope":
            raise ImportError("No module named 'modelscope'")
        return real_import(name, *args, **kwargs)

    monkeypatch.delenv("MODELSCOPE_DOMAIN", raising=False)
    monkeypatch.setattr(builtins, "__import__", no_modelscope)
    with pytest.raises(ModelLoadError, match=r"pip install modelscope.*https://www\.modelscope\.cn/models/Qwen/Q"):
        resolve_source("modelscope:Qwen/Q")


@pytest.mark.parametrize("bad", ["modelscope:", "modelscope:name-only", "modelscope:a/b/c", "modelscope:<b>/x"])
def test_modelscope_refuses_ids_it_cannot_have(bad):
    with pytest.raises(ModelLoadError, match="not a ModelScope id"):
        resolve_source(bad)


def test_modelscope_download_failure_names_the_address(monkeypatch):
    import sys
    import types

    fake = types.ModuleType("modelscope")

    def snapshot_download(model_id, revision=None):
        raise ConnectionError(f"cannot reach {model_id}")

    fake.snapshot_download = snapshot_download
    monkeypatch.setitem(sys.modules, "modelscope", fake)
    monkeypatch.delenv("MODELSCOPE_DOMAIN", raising=False)
    with pytest.raises(ModelLoadError, match=r"from ModelScope \(https://www\.modelscope\.cn/models/org/m\): cannot"):
        resolve_source("modelscope:org/m")
