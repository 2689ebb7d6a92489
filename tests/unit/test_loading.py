"""plm_core.loading and plm_core.devices: sources, kinds, safe loading, clear errors; the core never
imports streamlit."""

from __future__ import annotations

import json
import shutil

import pytest
import torch
from helpers import run_python, tiny_names
from plm_core.testing import TINY_CASES
from safetensors.torch import load_file
from transformers import BertConfig, GPT2Config

from plm_core.devices import available_devices, describe_device, pick_device
from plm_core.errors import ModelLoadError, PlmCoreError, UnsupportedModelError
from plm_core.loading import ModelSpec, detect_kind, embedded_model_path, load_model, resolve_source

# the kind each core case is built as (plm_core.testing.TINY_CASES), read back from its saved config
EXPECTED_KINDS = {name: TINY_CASES[name].kind for name in tiny_names("core")}


@pytest.mark.parametrize("name", sorted(EXPECTED_KINDS))
def test_kind_detected_from_saved_config(tiny_handles, name):
    h = tiny_handles[name]
    assert h.kind == EXPECTED_KINDS[name]
    assert detect_kind(h.config) == EXPECTED_KINDS[name]
    assert h.device == torch.device("cpu")
    assert (h.n_layers, h.n_heads) == (2, 4)
    assert not h.model.training
    assert not any(p.requires_grad for p in h.model.parameters())
    assert h.model.config._attn_implementation == "eager"


@pytest.mark.parametrize(("architectures", "config_cls", "kind"), [
    (["BertForPreTraining"], BertConfig, "masked_lm"),
    (["BertForMaskedLM"], BertConfig, "masked_lm"),
    (["LlamaForCausalLM"], BertConfig, "causal_lm"),
    (["GPT2LMHeadModel"], GPT2Config, "causal_lm"),
    (["DistilBertForSequenceClassification"], BertConfig, "classifier"),
    (["BertForQuestionAnswering"], BertConfig, "encoder"),
    (None, GPT2Config, "causal_lm"),  # no architectures: GPT-2 family is causal by type
    (None, BertConfig, "encoder"),
])
def test_detect_kind(architectures, config_cls, kind):
    assert detect_kind(config_cls(architectures=architectures)) == kind


def test_kind_override(tiny_dirs):
    h = load_model(ModelSpec(str(tiny_dirs["masked_lm"]), kind="encoder", device="cpu"))
    assert h.kind == "encoder" and type(h.model).__name__ == "BertModel"


def test_max_tokens_respects_positions(tiny_handles):
    assert tiny_handles["masked_lm"].max_tokens == 128
    assert tiny_handles["roberta_mlm"].max_tokens == 128  # 130 positions, ids start after padding_idx
    assert tiny_handles["causal_lm"].max_tokens == 128


def test_gpt2_gets_a_pad_token(tiny_gpt2):
    assert tiny_gpt2.tokenizer.pad_token == tiny_gpt2.tokenizer.eos_token


# ------------------------------------------------------------------ sources and errors ----

@pytest.mark.parametrize(("model_id", "message"), [
    ("", "no model given"),
    ("   ", "no model given"),
    ("bad id with spaces", "not a valid Hugging Face Hub id"),
    ("org/name/extra", "not a valid Hugging Face Hub id"),
    ("/no/such/folder", "there is no folder '/no/such/folder'"),
    ("./no/such/folder", "there is no folder"),
])
def test_resolve_source_errors(model_id, message):
    with pytest.raises(ModelLoadError, match=message):
        resolve_source(model_id)


def test_resolve_source_folder_hub_and_embedded(tmp_path):
    assert resolve_source(str(tmp_path)) == str(tmp_path)
    assert resolve_source("bert-base-uncased") == "bert-base-uncased"
    assert resolve_source("  org/name  ") == "org/name"
    for alias in ("embedded", "all-MiniLM-L6-v2", "sentence-transformers/all-MiniLM-L6-v2"):
        assert resolve_source(alias) == embedded_model_path()


def test_unknown_hub_id_offline_is_a_clear_error(monkeypatch):
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(ModelLoadError, match="not in the local Hugging Face cache, and the Hugging Face Hub cannot be "
                                             r"reached \(offline mode or no network\)") as err:
        load_model(ModelSpec("no-such-org/no-such-model", device="cpu"))
    assert "\n" not in str(err.value)


def test_no_network_fails_fast(monkeypatch):
    """Online mode with no route to the Hub: one refused connect, not transformers' ~20 s of retries."""
    import socket
    import time

    import huggingface_hub.constants

    tried = []

    def refuse(address, timeout=None):
        tried.append((address, timeout))
        raise OSError("Network is unreachable")

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    for var in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(socket, "create_connection", refuse)
    t0 = time.perf_counter()
    with pytest.raises(ModelLoadError, match="the Hugging Face Hub cannot be reached"):
        load_model(ModelSpec("some-org/some-model", device="cpu"))
    assert time.perf_counter() - t0 < 2
    assert len(tried) == 1 and tried[0][1] == 3  # one connect to the Hub endpoint, 3 s at most


def test_folder_without_config(tmp_path):
    with pytest.raises(ModelLoadError, match="has no config.json"):
        load_model(ModelSpec(str(tmp_path), device="cpu"))


def test_pickle_only_weights_refused_unless_allowed(tiny_dirs, tmp_path):
    folder = tmp_path / "pickle_only"
    shutil.copytree(tiny_dirs["masked_lm"], folder)
    state = load_file(folder / "model.safetensors")
    (folder / "model.safetensors").unlink()
    torch.save(state, folder / "pytorch_model.bin")  # transformers 5 only writes safetensors itself
    with pytest.raises(ModelLoadError, match="no safetensors weights.*trust"):
        load_model(ModelSpec(str(folder), device="cpu"))
    h = load_model(ModelSpec(str(folder), device="cpu", allow_pickle=True))
    assert h.kind == "masked_lm"
    loaded = h.model.state_dict()
    for name, value in state.items():
        torch.testing.assert_close(loaded[name], value, rtol=0, atol=0)


def test_missing_tokenizer(tiny_dirs, tmp_path):
    folder = tmp_path / "no_tokenizer"
    folder.mkdir()
    for name in ("config.json", "model.safetensors"):
        shutil.copy(tiny_dirs["masked_lm"] / name, folder / name)
    with pytest.raises(ModelLoadError, match="no usable tokenizer"):
        load_model(ModelSpec(str(folder), device="cpu"))


def test_unsupported_kind_name(tiny_dirs):
    with pytest.raises(UnsupportedModelError, match="unknown model kind 'translator'"):
        load_model(ModelSpec(str(tiny_dirs["masked_lm"]), kind="translator", device="cpu"))
    with pytest.raises(UnsupportedModelError, match=r"\(bert\) cannot be loaded as a seq2seq"):
        load_model(ModelSpec(str(tiny_dirs["masked_lm"]), kind="seq2seq", device="cpu"))


def test_kind_the_architecture_cannot_be(tiny_dirs):
    with pytest.raises(UnsupportedModelError, match=r"\(distilbert\) cannot be loaded as a causal_lm"):
        load_model(ModelSpec(str(tiny_dirs["distilbert_mlm"]), kind="causal_lm", device="cpu"))


def test_unknown_architecture(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "no-such-architecture"}))
    with pytest.raises(UnsupportedModelError, match="unsupported architecture") as err:
        load_model(ModelSpec(str(tmp_path), device="cpu"))
    assert "\n" not in str(err.value)


def test_remote_code_is_never_run(tiny_dirs, tmp_path):
    """A folder whose config asks for custom code is not executed (trust_remote_code=False)."""
    folder = tmp_path / "remote_code"
    shutil.copytree(tiny_dirs["masked_lm"], folder)
    marker = tmp_path / "ran.txt"
    (folder / "evil.py").write_text(f"open({str(marker)!r}, 'w').write('ran')\n")
    cfg = json.loads((folder / "config.json").read_text())
    cfg["model_type"] = "evil-model"
    cfg["auto_map"] = {"AutoConfig": "evil.EvilConfig", "AutoModelForMaskedLM": "evil.EvilModel"}
    (folder / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(PlmCoreError):
        load_model(ModelSpec(str(folder), device="cpu"))
    assert not marker.exists()


# ------------------------------------------------------------------ devices ----

def test_pick_device_cpu_and_auto(monkeypatch):
    assert pick_device("cpu") == torch.device("cpu")
    monkeypatch.setenv("PLM_DEVICE", "cpu")
    assert pick_device(None) == torch.device("cpu")
    assert pick_device("auto") == torch.device("cpu")
    monkeypatch.delenv("PLM_DEVICE")
    assert pick_device(None) == torch.device(available_devices()[0])
    assert available_devices()[-1] == "cpu"
    assert describe_device(torch.device("cpu")).startswith("cpu (")


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_explicit_cuda_unavailable(tiny_dirs):
    with pytest.raises(PlmCoreError, match="CUDA is not available"):
        pick_device("cuda")
    with pytest.raises(PlmCoreError, match="CUDA is not available"):
        load_model(ModelSpec(str(tiny_dirs["masked_lm"]), device="cuda:0"))


def test_unknown_device_name():
    with pytest.raises(PlmCoreError, match="unknown device 'tpu9'"):
        pick_device("tpu9")


# ------------------------------------------------------------------ architecture ----

# records OMP_WAIT_POLICY at the moment torch is first imported (libgomp reads it then, once)
_POLICY_AT_TORCH_IMPORT = (
    "import os, sys\n"
    "seen = []\n"
    "class Spy:\n"
    "    def find_spec(self, name, path=None, target=None):\n"
    "        if name == 'torch' and not seen: seen.append(os.environ.get('OMP_WAIT_POLICY'))\n"
    "assert 'torch' not in sys.modules\n"
    "sys.meta_path.insert(0, Spy())\n"
    "import plm_core.masking\n"
    "print(seen[0])\n"
)


@pytest.mark.parametrize(("given", "expected"), [(None, "PASSIVE"), ("ACTIVE", "ACTIVE")])
def test_openmp_threads_sleep_unless_the_user_says_otherwise(given, expected):
    """plm_core sets OMP_WAIT_POLICY=PASSIVE before torch loads libgomp, and keeps a value the user set."""
    proc = run_python(_POLICY_AT_TORCH_IMPORT, {} if given is None else {"OMP_WAIT_POLICY": given})
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == expected
