"""The logit lens: the last layer equals the model's own output distribution, and every layer equals a hand
read-out (final norm, then the LM head) of Hugging Face's hidden states — on GPT-2, Llama, BERT, RoBERTa and
DistilBERT, with the norms' weights randomised so a norm applied twice or missed would show."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from plm_core.errors import InvalidInputError, UnsupportedModelError
from plm_core.loading import ModelSpec, load_model
from plm_core.architectures import lens_readout
from plm_core.logit_lens import logit_lens, logit_lens_ids

TEXT = {"causal_lm": "the cat sat on the", "masked_lm": "the cat sat on the [MASK] .",
        "distilbert_mlm": "the cat sat on the [MASK] .", "roberta_mlm": "the cat sat on the [MASK] ."}


def _randomise_norms(model: torch.nn.Module) -> None:
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.LayerNorm) or type(m).__name__.endswith("RMSNorm"):
                m.weight.copy_(1 + 0.5 * torch.randn(m.weight.shape, generator=gen))
                if getattr(m, "bias", None) is not None:
                    m.bias.copy_(0.5 * torch.randn(m.bias.shape, generator=gen))


@pytest.fixture(scope="module")
def own_handles(tiny_dirs, tmp_path_factory):
    """Private copies (the shared tiny handles stay untouched) with randomised norms, plus a tiny Llama."""
    from plm_core.testing import bpe_tokenizer
    from transformers import LlamaConfig, LlamaForCausalLM

    handles = {k: load_model(ModelSpec(str(tiny_dirs[k]), device="cpu")) for k in TEXT}
    tok = bpe_tokenizer()
    torch.manual_seed(0)
    llama = LlamaForCausalLM(LlamaConfig(
        vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, max_position_embeddings=128, attn_implementation="eager", initializer_range=0.2,
        bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id)).eval()
    folder = tmp_path_factory.mktemp("tiny_llama")
    llama.save_pretrained(folder)
    tok.save_pretrained(folder)
    handles["llama"] = load_model(ModelSpec(str(folder), device="cpu"))
    for h in handles.values():
        _randomise_norms(h.model)
    return handles


KINDS = ["causal_lm", "llama", "masked_lm", "distilbert_mlm", "roberta_mlm"]


def _hand_readout(handle, model_type: str, hidden: torch.Tensor, last: bool) -> torch.Tensor:
    m = handle.model
    if model_type == "gpt2":
        return m.lm_head(hidden if last else m.transformer.ln_f(hidden))
    if model_type == "llama":
        return m.lm_head(hidden if last else m.model.norm(hidden))
    if model_type == "bert":
        p = m.cls.predictions
        return p.decoder(p.transform.LayerNorm(p.transform.transform_act_fn(p.transform.dense(hidden))))
    if model_type == "roberta":
        h = m.lm_head
        return h.decoder(h.layer_norm(torch.nn.functional.gelu(h.dense(hidden))))
    return m.vocab_projector(m.vocab_layer_norm(m.activation(m.vocab_transform(hidden))))


@pytest.mark.parametrize("kind", KINDS)
def test_lens_layers_equal_a_hand_readout_and_the_last_equals_the_model(own_handles, kind):
    handle = own_handles[kind]
    text = TEXT.get(kind, TEXT["causal_lm"])
    lens = logit_lens(handle, text, top_k=7)
    assert lens.max_abs_diff < 1e-5
    batch = handle.tokenizer(text, return_tensors="pt")
    with torch.no_grad():
        out = handle.model(**batch, output_hidden_states=True)
    pos = lens.position
    ids = batch["input_ids"][0].tolist()
    assert pos == (ids.index(handle.tokenizer.mask_token_id) if handle.tokenizer.mask_token_id in ids else len(ids) - 1)
    own = torch.softmax(out.logits[0, pos], -1)
    n = len(out.hidden_states)
    assert len(lens.layers) == n == handle.n_layers + 1
    for layer, h in enumerate(out.hidden_states):
        with torch.no_grad():
            probs = torch.softmax(_hand_readout(handle, handle.config.model_type, h[0, pos], layer == n - 1), -1)
        top = probs.topk(7)
        np.testing.assert_allclose(lens.probs[layer], top.values.numpy(), atol=1e-5)
        assert list(lens.token_ids[layer]) == top.indices.tolist()
        assert lens.final_ranks[layer] == int((probs > probs[lens.final_id]).sum())
        assert lens.final_probs[layer] == pytest.approx(float(probs[lens.final_id]), abs=1e-6)
    np.testing.assert_allclose(lens.probs[-1], own.topk(7).values.numpy(), atol=1e-6)
    assert lens.final_id == int(own.argmax()) and lens.final_ranks[-1] == 0


def test_the_final_norm_matters(own_handles):
    """Without the final norm the early layers read differently (the table's norm is really applied)."""
    handle = own_handles["causal_lm"]
    lens = logit_lens(handle, TEXT["causal_lm"], top_k=5)
    batch = handle.tokenizer(TEXT["causal_lm"], return_tensors="pt")
    with torch.no_grad():
        h = handle.model(**batch, output_hidden_states=True).hidden_states[1][0, -1]
        raw = torch.softmax(handle.model.lm_head(h), -1).topk(5).values.numpy()
    assert not np.allclose(lens.probs[1], raw, atol=1e-3)


def test_lens_on_token_ids_equals_lens_on_text(tiny_gpt2):
    from plm_core.generation import encoding_of_ids

    by_text = logit_lens(tiny_gpt2, TEXT["causal_lm"])
    ids = by_text.encoding.input_ids
    by_ids = logit_lens_ids(tiny_gpt2, ids, encoding_of_ids(tiny_gpt2, ids))
    np.testing.assert_allclose(by_ids.probs, by_text.probs, atol=1e-6)
    assert by_ids.tokens == by_text.tokens


def test_lens_refuses_what_it_cannot_read(tiny_mlm, tiny_handles, tiny_classifier):
    with pytest.raises(InvalidInputError, match="MASK"):
        logit_lens(tiny_mlm, "no mask here")
    with pytest.raises(InvalidInputError, match="number 2"):
        logit_lens(tiny_mlm, "one [MASK] only", mask_index=1)
    for handle in (tiny_handles["encoder"], tiny_classifier):
        with pytest.raises(UnsupportedModelError):
            logit_lens(handle, "the cat sat")


def test_second_mask(tiny_mlm):
    lens = logit_lens(tiny_mlm, "the [MASK] sat on the [MASK] .", mask_index=1)
    assert lens.encoding.tokens[lens.position] == "[MASK]" and lens.position == 6


def test_the_architecture_facts_cover_the_tiny_models(tiny_handles):
    """The read-out comes from plm_core.architectures (final norm + LM head per model_type), one place."""
    for kind in ("causal_lm", "masked_lm", "distilbert_mlm", "roberta_mlm", "llama"):
        handle = tiny_handles[kind]
        assert lens_readout(handle.model, handle.arch) is not None, handle.config.model_type


@pytest.mark.parametrize("kind", ["t5", "bart"])
def test_lens_refuses_an_encoder_decoder_clearly(tiny_handles, kind):
    """The seq2seq adapter says why (the lens reads one stack's residual stream), whatever the text."""
    with pytest.raises(UnsupportedModelError, match="encoder-decoder"):
        logit_lens(tiny_handles[kind], "the cat sat on the mat")
