"""Classroom mode: configuration from a file or the environment, the allowlist and the caps."""

from __future__ import annotations

import json

import numpy as np
import pytest

from plm_core import classroom
from plm_core.classroom import ClassroomConfig, ClassroomError, ModelNotAllowedError
from plm_core.tokens import encode

ENV_KEYS = ("PLM_CLASSROOM_CONFIG", "PLM_CLASSROOM", "PLM_ALLOWED_MODELS", "PLM_MAX_TOKENS", "PLM_MAX_STEPS",
            "PLM_TRAINED_DIR", "PLM_DEFAULT_MODEL")


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    for k in ENV_KEYS:
        monkeypatch.delenv(k, raising=False)


def test_off_by_default_allows_everything():
    cfg = classroom.load_config({})
    assert not cfg.enabled
    classroom.check_model_allowed("gpt2-xl", config=cfg)
    assert classroom.token_cap(512, cfg) == 512 and classroom.cap_steps(1000, cfg) == 1000


def test_environment_config():
    cfg = classroom.load_config({"PLM_CLASSROOM": "1", "PLM_ALLOWED_MODELS": "embedded, /srv/m1",
                                 "PLM_MAX_TOKENS": "64", "PLM_MAX_STEPS": "16"})
    assert cfg == ClassroomConfig(True, ("embedded", "/srv/m1"), 64, 16, "environment")
    assert classroom.token_cap(512, cfg) == 64 and classroom.token_cap(10, cfg) == 10
    assert classroom.cap_steps(50, cfg) == 16
    classroom.check_model_allowed("sentence-transformers/all-MiniLM-L6-v2", config=cfg)  # embedded alias
    classroom.check_model_allowed("/srv/m1", config=cfg)
    with pytest.raises(ModelNotAllowedError, match="not on this server's list"):
        classroom.check_model_allowed("bert-large-uncased", config=cfg)
    with pytest.raises(ModelNotAllowedError, match="pickle"):
        classroom.check_model_allowed("embedded", allow_pickle=True, config=cfg)


def test_defaults_when_enabled_without_limits():
    cfg = classroom.load_config({"PLM_CLASSROOM": "yes"})
    assert cfg.max_tokens == classroom.DEFAULT_MAX_TOKENS and cfg.max_steps == classroom.DEFAULT_MAX_STEPS
    assert classroom.allowed_models(cfg) == ("sentence-transformers/all-MiniLM-L6-v2",)


@pytest.mark.parametrize("suffix", [".toml", ".json"])
def test_file_config_and_env_override(tmp_path, suffix):
    path = tmp_path / f"classroom{suffix}"
    data = {"allowed_models": ["embedded", "gpt2"], "max_tokens": 32, "max_steps": 8}
    if suffix == ".json":
        path.write_text(json.dumps(data))
    else:
        path.write_text('allowed_models = ["embedded", "gpt2"]\nmax_tokens = 32\nmax_steps = 8\n')
    cfg = classroom.load_config({"PLM_CLASSROOM_CONFIG": str(path)})
    assert cfg.enabled and cfg.allowed_models == ("embedded", "gpt2") and cfg.max_tokens == 32
    cfg = classroom.load_config({"PLM_CLASSROOM_CONFIG": str(path), "PLM_MAX_TOKENS": "16"})
    assert cfg.max_tokens == 16 and cfg.max_steps == 8
    assert not classroom.load_config({"PLM_CLASSROOM_CONFIG": str(path), "PLM_CLASSROOM": "0"}).enabled


@pytest.mark.parametrize("env", [{"PLM_CLASSROOM": "1", "PLM_MAX_TOKENS": "lots"},
                                 {"PLM_CLASSROOM": "1", "PLM_MAX_STEPS": "0"},
                                 {"PLM_CLASSROOM_CONFIG": "/nonexistent/classroom.toml"}])
def test_bad_config_is_refused(env):
    with pytest.raises(ClassroomError):
        classroom.load_config(env)


def test_bad_toml_is_refused(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text("max_tokens = [")
    with pytest.raises(ClassroomError, match="not valid"):
        classroom.load_config({"PLM_CLASSROOM_CONFIG": str(path)})


def test_trained_folders_are_allowed(tmp_path, monkeypatch):
    monkeypatch.setenv("PLM_TRAINED_DIR", str(tmp_path))
    cfg = classroom.load_config({"PLM_CLASSROOM": "1"})
    (tmp_path / "lesson5-abc").mkdir()
    classroom.check_model_allowed(str(tmp_path / "lesson5-abc"), config=cfg)
    with pytest.raises(ModelNotAllowedError):
        classroom.check_model_allowed(str(tmp_path), config=cfg)  # the root itself is not a model
    with pytest.raises(ModelNotAllowedError):
        classroom.check_model_allowed(str(tmp_path / "lesson5-abc" / ".." / ".."), config=cfg)


def test_the_default_model_is_always_allowed(monkeypatch, tiny_dirs):
    monkeypatch.setenv("PLM_DEFAULT_MODEL", str(tiny_dirs["masked_lm"]))
    cfg = classroom.load_config({"PLM_CLASSROOM": "1", "PLM_ALLOWED_MODELS": "embedded"})
    classroom.check_model_allowed(str(tiny_dirs["masked_lm"]), config=cfg)
    assert classroom.allowed_models(cfg) == (str(tiny_dirs["masked_lm"]), "sentence-transformers/all-MiniLM-L6-v2")


def test_encode_is_capped_in_classroom_mode(tiny_mlm, monkeypatch):
    text = " ".join(["cat"] * 40)
    assert len(encode(tiny_mlm, text)[0]) == 42
    monkeypatch.setenv("PLM_CLASSROOM", "1")
    monkeypatch.setenv("PLM_MAX_TOKENS", "10")
    enc, batch = encode(tiny_mlm, text)
    assert len(enc) == 10 and batch["input_ids"].shape[1] == 10
    assert any("first 10" in n for n in enc.notes)


def test_embeddings_are_capped_in_classroom_mode(tiny_handles, monkeypatch):
    from plm_core.inference import embed

    encoder = tiny_handles["encoder"]
    long_text = " ".join(["cat"] * 40)
    capped_text = " ".join(["cat"] * 8)  # [CLS] + 8 words + [SEP] = 10 tokens
    full = embed(encoder, [long_text])
    monkeypatch.setenv("PLM_CLASSROOM", "1")
    monkeypatch.setenv("PLM_MAX_TOKENS", "10")
    assert encoder.max_tokens == 10
    capped = embed(encoder, [long_text])
    # truncation keeps the first 9 tokens and the closing [SEP]: the same ids as the 8-word text
    np.testing.assert_allclose(capped, embed(encoder, [capped_text]), atol=1e-6)
    assert not np.allclose(capped, full, atol=1e-4)
