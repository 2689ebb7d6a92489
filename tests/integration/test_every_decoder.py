"""Every decoder type in transformers that uses the attention interface, on a tiny config-built model.

The list is built from transformers' own registry (``MODEL_FOR_CAUSAL_LM_MAPPING_NAMES``: every type with a
causal-LM class), kept where the class's modeling file routes attention through ``ALL_ATTENTION_FUNCTIONS``.
Each model is built from its default config made small by one generic rule (:func:`shrink`), wrapped in a
ModelHandle around a tiny byte-level BPE, and:

- the query·key view (``plm_core.attention.query_key``) equals the attention weights of a separate plain eager
  forward pass (≤ 1e-5), for every layer, or refuses with UnsupportedModelError — never a wrong view;
- the logit lens's last layer equals the model's own next-token probabilities (≤ 1e-4) or is refused.

Types whose default config the generic rule cannot make small (hybrid linear-attention stacks, per-layer
configs, vision towers) are skipped with the builder's error: they are not checked, and the test says so.
"""

from __future__ import annotations

import importlib
import inspect
import sys

import pytest
import torch
import transformers
from transformers import AutoConfig
from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES

from plm_core.attention import query_key
from plm_core.errors import UnsupportedModelError
from plm_core.loading import ModelHandle, ModelSpec
from plm_core.logit_lens import logit_lens

TEXT = "the cat sat on the mat because it was tired"
SMALL = dict(hidden_size=32, num_hidden_layers=2, num_layers=2, n_layer=2, n_layers=2, num_attention_heads=4, n_head=4,
             n_heads=4, num_heads=4, num_key_value_heads=2, head_dim=8, intermediate_size=64, ffn_hidden_size=64,
             n_embd=32, d_model=32, n_inner=64, d_ff=64, max_position_embeddings=64, num_experts=4,
             num_local_experts=4, n_routed_experts=4, num_experts_per_tok=2, moe_intermediate_size=32,
             shared_expert_intermediate_size=32, n_shared_experts=1, first_k_dense_replace=1, kv_lora_rank=16,
             q_lora_rank=16, qk_rope_head_dim=4, qk_nope_head_dim=4, v_head_dim=8, qk_head_dim=8, sliding_window=4,
             decoder_layers=2, encoder_layers=2, decoder_attention_heads=4, encoder_attention_heads=4,
             decoder_ffn_dim=64, encoder_ffn_dim=64, word_embed_proj_dim=32, linear_num_key_heads=2, linear_num_value_heads=2,
             linear_key_head_dim=8, linear_value_head_dim=8, attention_chunk_size=4, num_kv_heads=2, global_head_dim=8)
# the types the issue names: they must be checked and equal, never skipped or refused
MUST_WORK = ("llama", "mistral", "qwen2", "qwen3", "gemma", "gemma2", "gemma3_text", "olmo2", "gpt_neox", "phi3",
             "gpt2", "opt", "smollm3")


def _uses_interface(model_type: str) -> bool:
    cls = getattr(transformers, MODEL_FOR_CAUSAL_LM_MAPPING_NAMES[model_type], None)
    if cls is None:
        return False
    module = importlib.import_module(cls.__module__)
    return "ALL_ATTENTION_FUNCTIONS" in inspect.getsource(module)


DECODER_TYPES = sorted(t for t in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES if _uses_interface(t))


def shrink(config, vocab: int):
    """Set every size field the config has to a tiny value (recursively into sub-configs); a hybrid stack keeps
    its layer pattern up to its first attention layer."""
    for key, value in (SMALL | {"vocab_size": vocab}).items():
        if getattr(config, key, None) is not None:
            try:
                setattr(config, key, value)
            except (AttributeError, TypeError, ValueError):
                pass
    types = getattr(config, "layer_types", None)
    if types:
        first = next((i for i, x in enumerate(types) if "attention" in str(x) and "linear" not in str(x)), 0)
        try:
            config.num_hidden_layers = max(2, first + 1)
            config.layer_types = list(types)[: config.num_hidden_layers]
        except (AttributeError, TypeError, ValueError):
            pass
    if getattr(config, "qk_rope_head_dim", None):
        try:
            config.head_dim = config.qk_rope_head_dim
        except (AttributeError, TypeError, ValueError):
            pass
    for name in getattr(config, "sub_configs", {}) or {}:
        sub = getattr(config, name, None)
        if sub is not None and hasattr(sub, "to_dict"):
            shrink(sub, vocab)
    for key in ("pad_token_id", "bos_token_id", "eos_token_id", "decoder_start_token_id"):
        if isinstance(getattr(config, key, None), int) and getattr(config, key) >= vocab:
            setattr(config, key, 0)
    return config


@pytest.fixture(scope="module")
def bpe():
    from plm_core.testing import bpe_tokenizer

    return bpe_tokenizer()


def _tiny_handle(model_type: str, tok) -> ModelHandle:
    cls = getattr(transformers, MODEL_FOR_CAUSAL_LM_MAPPING_NAMES[model_type])
    try:
        config = shrink(AutoConfig.for_model(model_type), len(tok))
        config._attn_implementation = "eager"
        torch.manual_seed(0)
        model = cls(config).eval()
        with torch.inference_mode():  # the tiny model must run at all before anything is checked
            model(input_ids=torch.tensor([[5, 6, 7]]))
    except Exception as err:  # noqa: BLE001 - any builder failure: this type is not checked, and says why
        pytest.skip(f"{model_type}: the generic tiny config does not build ({type(err).__name__}: {str(err)[:120]})")
    for p in model.parameters():
        p.requires_grad_(False)
    return ModelHandle(spec=ModelSpec(f"tiny-{model_type}", kind="causal_lm", device="cpu"), model=model, tokenizer=tok,
                       device=torch.device("cpu"), kind="causal_lm", source="")


def _plain_eager_weights(handle: ModelHandle) -> tuple[torch.Tensor, ...]:
    ids = handle.tokenizer(TEXT, return_tensors="pt")["input_ids"]
    with torch.inference_mode():
        out = handle.model(input_ids=ids, output_attentions=True)
    return tuple(a for a in out.attentions if a is not None)


@pytest.mark.slow  # ~1 s a type, 160 types: in the full run, not the quick loop
@pytest.mark.parametrize("model_type", DECODER_TYPES)
def test_query_key_and_logit_lens_equal_the_model_or_are_refused(model_type, bpe):
    handle = _tiny_handle(model_type, bpe)
    own = _plain_eager_weights(handle)
    try:  # the query·key view: every layer, first and last head
        for layer in range(len(own)):
            for head in sorted({0, own[layer].shape[1] - 1}):
                qk = query_key(handle, TEXT, layer, head)
                n = qk.probs.shape[0]
                assert qk.probs.shape == own[layer][0, head, :n, :n].shape
                diff = float((torch.from_numpy(qk.probs) - own[layer][0, head, :n, :n].float()).abs().max())
                assert diff <= 1e-5, (model_type, layer, head, diff)
    except UnsupportedModelError as err:
        assert model_type not in MUST_WORK, f"{model_type} refused: {err}"
        assert str(err)  # a reason, shown to the user
    try:  # the logit lens: its last layer is the model's own next-token distribution
        lens = logit_lens(handle, TEXT)
    except UnsupportedModelError as err:
        assert model_type not in MUST_WORK, f"{model_type} refused: {err}"
        return
    ids = handle.tokenizer(TEXT, return_tensors="pt")["input_ids"]
    with torch.inference_mode():
        probs = torch.softmax(handle.model(input_ids=ids).logits[0, -1].float(), -1)
    assert lens.final_id == int(probs.argmax())
    assert float(probs[lens.final_id]) == pytest.approx(float(lens.final_probs[-1]), abs=1e-4)
    assert lens.max_abs_diff <= 1e-4


def test_the_list_is_transformers_registry():
    """The parametrised list is read from transformers, not written here: it holds the issue's types."""
    assert len(DECODER_TYPES) > 100 and set(MUST_WORK) <= set(DECODER_TYPES)
    assert "xlnet" not in DECODER_TYPES and "gpt_neo" not in DECODER_TYPES  # their own attention code
    assert sys.modules["plm_core.capture"].CAPTURE in transformers.AttentionInterface._global_mapping
