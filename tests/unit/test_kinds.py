"""Kind adapters and architecture facts: one place per fact, and no kind-string branch outside plm_core/kinds."""

from __future__ import annotations

import re

import pytest
import transformers
from transformers import BartConfig, BertConfig, GPT2Config, LlamaConfig, T5Config

from helpers import ROOT
from plm_core.architectures import ARCHITECTURES, arch_of, causal_model_types
from plm_core.attribution.specs import attention_rows
from plm_core.attribution.types import TARGET_KINDS
from plm_core.kinds import KINDS, detect_kind, get_adapter
from plm_core.kinds.texts import kind_label, kind_texts
from plm_core.model_info import model_info
from plm_core.loading import detect_kind as loading_detect_kind
from plm_core.tokens import encode

BRANCH = re.compile(r"""(==|!=|in \(|in \{)\s*["'](masked_lm|causal_lm|classifier|encoder|seq2seq)["']""")


def test_no_kind_string_branch_outside_the_adapters():
    """The check of issue 11: pages, ui and the core ask ``handle.adapter``; only plm_core/kinds names kinds."""
    found = []
    for path in [ROOT / "app.py", *(ROOT / "plm_core").rglob("*.py"), *(ROOT / "ui").rglob("*.py"),
                 *(ROOT / "pages").rglob("*.py")]:
        if (ROOT / "plm_core" / "kinds") in path.parents:
            continue
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if BRANCH.search(line):
                found.append(f"{path.relative_to(ROOT)}:{n}: {line.strip()}")
    assert not found, "\n".join(found)


@pytest.mark.parametrize("name", list(KINDS))
def test_every_adapter_is_complete(name):
    adapter = KINDS[name]
    assert adapter.name == name and kind_label(name)
    assert hasattr(transformers, adapter.auto_class)
    assert adapter.target_kinds and set(adapter.target_kinds) <= set(TARGET_KINDS)
    assert dict(kind_texts(name).examples)["default"].strip()
    assert get_adapter(name) is adapter


def test_unknown_kind_is_a_clear_error():
    from plm_core.errors import UnsupportedModelError

    with pytest.raises(UnsupportedModelError, match="unknown model kind"):
        get_adapter("translator")


@pytest.mark.parametrize("model_type", causal_model_types())
def test_one_list_of_causal_model_types(model_type):
    """A decoder-only config saved without an LM class loads as a causal LM, and its classifier reads the last
    token: both from plm_core.architectures (two lists used to disagree)."""
    config = transformers.AutoConfig.for_model(model_type)
    config.architectures = None
    assert detect_kind(config) == loading_detect_kind(config) == "causal_lm"
    assert arch_of(config).causal


def test_detection_order_follows_architectures_before_model_type():
    assert detect_kind(GPT2Config(architectures=["GPT2ForSequenceClassification"])) == "classifier"
    assert detect_kind(GPT2Config(architectures=["GPT2Model"])) == "causal_lm"  # fallback by model type
    assert detect_kind(BertConfig(architectures=["BertModel"])) == "encoder"
    assert detect_kind(LlamaConfig(architectures=["LlamaForCausalLM"])) == "causal_lm"


def test_encoder_decoders_are_seq2seq():
    assert detect_kind(T5Config(architectures=["T5ForConditionalGeneration"])) == "seq2seq"
    assert detect_kind(BartConfig(architectures=["BartForConditionalGeneration"])) == "seq2seq"
    assert detect_kind(BartConfig(architectures=None)) == "seq2seq"  # by is_encoder_decoder
    assert detect_kind(BartConfig(architectures=["BartForSequenceClassification"])) == "classifier"
    # a decoder-only "...ForConditionalGeneration" (vision-language models) is not an encoder-decoder
    assert detect_kind(LlamaConfig(architectures=["LlavaForConditionalGeneration"])) == "causal_lm"


def test_classifier_attention_rows_follow_the_architecture(tiny_handles):
    clf = tiny_handles["classifier"]
    assert attention_rows(clf, None, encode(clf, "a b c")[0]) == [0]  # BERT reads [CLS]
    assert ARCHITECTURES["gpt2"].causal


@pytest.mark.parametrize("kind", ["masked_lm", "classifier", "encoder", "causal_lm"])
def test_handle_adapter_matches_kind(tiny_handles, kind):
    handle = tiny_handles[kind]
    assert handle.adapter.name == handle.kind == kind
    assert model_info(handle).example("masking").strip()
