"""Issue 10, loading: hostile model ids and models that are not what they claim are refused with a message.

Cases: 1 (model id of 256+ characters), 2 (a pickle that would run code), 8 (``auto_map``: remote code),
9 (a head the checkpoint lacks), 10 (masked LM without a mask token), 12 (the embedded model's own limit is
read from its sentence-transformers config; the similarity check is in tests/integration).
"""

from __future__ import annotations

import json
import os
import pickle
import shutil

import pytest
import torch
from transformers import AutoTokenizer

from plm_core.errors import ModelLoadError, PlmCoreError, UnsupportedModelError
from plm_core.inference import predict
from plm_core.loading import ModelSpec, load_model, resolve_source

MAX_MESSAGE = 400  # characters: a message quotes an excerpt of the input, never all of it


# ------------------------------------------------------------------ case 1: long model ids ----

@pytest.mark.parametrize("model_id", ["a" * 256, "a" * 300, "org/" + "b" * 300, "/tmp/" + "c" * 300,
                                      "./" + "d" * 4096, ("e" * 200 + "/") * 30])
def test_a_model_id_of_256_characters_or_more_is_a_message(model_id):
    """It raised OSError [Errno 36] File name too long from Path.is_dir (case 1)."""
    with pytest.raises(ModelLoadError) as err:
        resolve_source(model_id)
    assert len(str(err.value)) < MAX_MESSAGE
    with pytest.raises(ModelLoadError):
        load_model(ModelSpec(model_id, device="cpu"))


@pytest.mark.parametrize("model_id", ["bad\x00id", "x" * 100 + "\n" + "y", "../" * 200, "~nosuchuserzq/model",
                                      "~~zqq~~"])
def test_other_odd_model_ids_are_messages(model_id):
    with pytest.raises(PlmCoreError) as err:
        load_model(ModelSpec(model_id, device="cpu"))
    assert len(str(err.value)) < MAX_MESSAGE


# ------------------------------------------------------------------ case 2: pickle that runs code ----

class _RunsCode:
    """Unpickling this calls os.getcwd (harmless here; any callable is as easy)."""

    def __reduce__(self):
        return (os.getcwd, ())


@pytest.mark.parametrize("writer", ["torch.save", "pickle.dump"])
def test_pickle_weights_that_would_run_code_are_refused_with_the_reason(tiny_dirs, tmp_path, writer):
    """It was a raw UnpicklingError traceback advising weights_only=False (case 2)."""
    folder = tmp_path / "evil_pickle"
    shutil.copytree(tiny_dirs["masked_lm"], folder)
    (folder / "model.safetensors").unlink()
    if writer == "torch.save":
        torch.save({"x": _RunsCode()}, folder / "pytorch_model.bin")
    else:
        with open(folder / "pytorch_model.bin", "wb") as f:  # a plain pickle, as old checkpoints are
            pickle.dump({"x": _RunsCode()}, f)
    with pytest.raises(ModelLoadError) as err:
        load_model(ModelSpec(str(folder), device="cpu", allow_pickle=True))
    msg = str(err.value)
    assert "refused" in msg and "code" in msg
    if writer == "torch.save":
        assert "posix.getcwd" in msg  # what it would have called
    assert "weights_only" not in msg and "False" not in msg  # never advise turning the safe loader off
    assert "safetensors" in msg
    assert len(msg) < MAX_MESSAGE


# ------------------------------------------------------------------ case 8: auto_map ----

def test_a_config_that_wants_its_own_code_is_refused(tiny_dirs, tmp_path):
    """A known model_type with an auto_map loaded silently as the plain class (case 8)."""
    folder = tmp_path / "auto_map"
    shutil.copytree(tiny_dirs["masked_lm"], folder)
    cfg = json.loads((folder / "config.json").read_text())
    cfg["auto_map"] = {"AutoModelForMaskedLM": "modeling_custom.CustomBertForMaskedLM",
                       "AutoConfig": "configuration_custom.CustomConfig"}
    (folder / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(UnsupportedModelError) as err:
        load_model(ModelSpec(str(folder), device="cpu"))
    msg = str(err.value)
    assert "modeling_custom.CustomBertForMaskedLM" in msg and "code" in msg
    assert len(msg) < MAX_MESSAGE


def test_a_tokenizer_config_that_wants_its_own_code_is_refused(tiny_dirs, tmp_path):
    folder = tmp_path / "tok_auto_map"
    shutil.copytree(tiny_dirs["masked_lm"], folder)
    cfg = json.loads((folder / "tokenizer_config.json").read_text())
    cfg["auto_map"] = {"AutoTokenizer": ["tokenization_custom.CustomTokenizer", None]}
    (folder / "tokenizer_config.json").write_text(json.dumps(cfg))
    with pytest.raises(UnsupportedModelError, match="tokenization_custom.CustomTokenizer"):
        load_model(ModelSpec(str(folder), device="cpu"))


# ------------------------------------------------------------------ case 9: missing head ----

@pytest.mark.parametrize(("source", "kind", "missing"), [
    ("masked_lm", "classifier", "classifier.weight"),   # a masked-LM checkpoint as a classifier
    ("encoder", "masked_lm", "cls.predictions"),        # a bare encoder as a masked LM
    ("classifier", "masked_lm", "cls.predictions"),
])
def test_a_head_the_checkpoint_lacks_is_refused(tiny_dirs, source, kind, missing):
    """It loaded with a random head (a different one on every load) and no page said so (case 9)."""
    with pytest.raises(UnsupportedModelError) as err:
        load_model(ModelSpec(str(tiny_dirs[source]), kind=kind, device="cpu"))
    msg = str(err.value)
    assert "random" in msg and missing in msg
    assert "encoder" in msg  # what to load it as instead


def test_an_encoder_may_drop_the_head_and_lack_a_pooler(tiny_dirs):
    """Loading a masked LM as an encoder drops its head; the missing pooler is not used by the encoder views."""
    h = load_model(ModelSpec(str(tiny_dirs["masked_lm"]), kind="encoder", device="cpu"))
    assert h.kind == "encoder"


# ------------------------------------------------------------------ case 10: masked LM without mask ----

def test_a_tokenizer_without_mask_token_cannot_be_a_masked_lm(tiny_dirs, tmp_path):
    """It loaded, then every page asked for [MASK] although [MASK] was typed (case 10)."""
    folder = tmp_path / "no_mask"
    shutil.copytree(tiny_dirs["masked_lm"], folder)
    AutoTokenizer.from_pretrained(tiny_dirs["masked_lm"], mask_token=None).save_pretrained(folder)
    with pytest.raises(UnsupportedModelError) as err:
        load_model(ModelSpec(str(folder), device="cpu"))
    assert "mask token" in str(err.value) and "encoder" in str(err.value)
    h = load_model(ModelSpec(str(folder), kind="encoder", device="cpu"))  # what the message suggests works
    assert predict(h, "the cat [MASK]").embedding is not None


# ------------------------------------------------------------------ case 12: declared limit ----


def test_a_folder_with_a_sentence_transformers_limit_uses_it(tiny_dirs, tmp_path):
    folder = tmp_path / "st_limit"
    shutil.copytree(tiny_dirs["encoder"], folder)
    (folder / "sentence_bert_config.json").write_text(json.dumps({"max_seq_length": 16}))
    h = load_model(ModelSpec(str(folder), device="cpu"))
    assert h.max_tokens == 16
    res = predict(h, "the cat sat on the mat " * 10)
    assert len(res.encoding) == 16 and any("16" in n for n in res.encoding.notes)


def test_a_broken_sentence_transformers_config_is_ignored(tiny_dirs, tmp_path):
    folder = tmp_path / "st_broken"
    shutil.copytree(tiny_dirs["encoder"], folder)
    (folder / "sentence_bert_config.json").write_text("{not json")
    assert load_model(ModelSpec(str(folder), device="cpu")).max_tokens == 128


@pytest.mark.parametrize("path", ["~nosuchuserzq/data.csv", "~~zqq~~", "a" * 300, "/tmp/" + "b" * 300 + "/x.csv", "\x00"])
def test_typed_data_paths_are_messages(path):
    """A typed path reached Path.expanduser/is_dir: RuntimeError or OSError tracebacks (bias page)."""
    from plm_core.bias import datasets

    for load in (datasets.load_crows_pairs, datasets.load_bec_pro, datasets.load_seat):
        with pytest.raises(PlmCoreError) as err:
            load(path)
        assert len(str(err.value)) < MAX_MESSAGE
