"""Output layers padded past the tokenizer's vocabulary (T5: 32,128 rows for 32,100 tokens; Phi-2: 51,200 for 50,295):
every path that shows a model-chosen id names an id without a token as "<id N>", never "None" or a crash.

Before the fix, the attribution of a random-weight gpt2-shape model (50,257 rows, a 500-token tokenizer) crashed
in ``clean_token(None)`` when its predicted next token was such an id (benchmarks/bench_attribution.py, gpt2 shape).
"""

from __future__ import annotations

import pytest
import torch
from plm_core.testing import bert_tokenizer, bpe_tokenizer
from transformers import BertConfig, BertForMaskedLM, GPT2Config, GPT2LMHeadModel

from plm_core import generation, inference, logit_lens
from plm_core.attribution import Target, attribute
from plm_core.display import token_texts
from plm_core.loading import ModelSpec, load_model

EXTRA = 40  # output rows past the tokenizer
CAUSAL_TEXT, MASKED_TEXT = "the cat sat on the", "the cat [MASK] on the mat"


def _padded(kind: str, folder) -> object:
    tok = bpe_tokenizer() if kind == "causal_lm" else bert_tokenizer()
    torch.manual_seed(0)
    n = len(tok) + EXTRA
    if kind == "causal_lm":
        model = GPT2LMHeadModel(GPT2Config(vocab_size=n, n_positions=64, n_embd=32, n_layer=2, n_head=4,
                                           attn_implementation="eager", bos_token_id=tok.bos_token_id,
                                           eos_token_id=tok.eos_token_id))
    else:
        model = BertForMaskedLM(BertConfig(vocab_size=n, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                                           intermediate_size=64, max_position_embeddings=64,
                                           attn_implementation="eager"))
    model.eval()
    with torch.no_grad():  # the padded rows win: the predictions are ids the tokenizer has no token for
        out = model.get_output_embeddings()
        if getattr(out, "bias", None) is not None:  # BERT's head has a bias
            out.weight[len(tok):] = 0.0
            out.bias[len(tok):] = 100.0 + torch.arange(EXTRA, dtype=out.bias.dtype)
        else:  # GPT-2 ties the head to the input embeddings (rows no input uses): point them along the last state
            ids = torch.tensor([tok(CAUSAL_TEXT)["input_ids"]])
            last = model.transformer(ids).last_hidden_state[0, -1]
            out.weight[len(tok):] = (100.0 + torch.arange(EXTRA)[:, None]) * last / last.norm() ** 2
    model.save_pretrained(folder)
    tok.save_pretrained(folder)
    return load_model(ModelSpec(str(folder), device="cpu")), len(tok)


@pytest.fixture(scope="module", params=["masked_lm", "causal_lm"])
def padded(request, tmp_path_factory):
    return _padded(request.param, tmp_path_factory.mktemp(request.param))


def _text(handle) -> str:
    return MASKED_TEXT if handle.kind == "masked_lm" else CAUSAL_TEXT


def test_display_names_ids_without_a_token(padded):
    handle, n_tok = padded
    assert token_texts(handle, [n_tok + 3], apart=True) == (f"<id {n_tok + 3}>",)
    assert generation.token_strings(handle, [n_tok, 10**6]) == (f"<id {n_tok}>", "<id 1000000>")
    # the generated text keeps them too (tokenizer.decode drops them without a word)
    ids = handle.tokenizer("the cat", add_special_tokens=False)["input_ids"]
    text = generation.text_of(handle, ids + [n_tok + 1] + ids)
    assert text.count(f"<id {n_tok + 1}>") == 1 and text.count("cat") == 2
    assert generation.encoding_of_ids(handle, ids + [n_tok + 1]).text.endswith(f"<id {n_tok + 1}>")


def test_predictions_and_lens_show_padded_ids(padded):
    handle, n_tok = padded
    pred = inference.predict(handle, _text(handle), top_k=EXTRA + 5)
    dist = pred.distributions[0]
    shown = list(dist.tokens)
    assert "None" not in shown and all(isinstance(t, str) and t for t in shown)
    padded_ids = [i for i in dist.token_ids if i >= n_tok]
    assert padded_ids, "the padded rows were meant to be predicted"
    for i, t in zip(dist.token_ids, shown):
        if i >= n_tok:
            assert t == f"<id {i}>"
    lens = logit_lens.logit_lens(handle, _text(handle), top_k=5)
    assert all(t == f"<id {i}>" for row_t, row_i in zip(lens.tokens, lens.token_ids) for t, i in zip(row_t, row_i)
               if i >= n_tok)


def test_attribution_of_a_predicted_padded_id(padded):
    handle, n_tok = padded
    res = attribute(handle, _text(handle), "saliency")
    if res.target_id >= n_tok:  # the default target is the prediction: a padded id
        assert f"<id {res.target_id}>" in res.target_label and "None" not in res.target_label
    again = attribute(handle, _text(handle), "saliency", target=Target(res.target.kind, token_id=n_tok + 1))
    assert again.target_id == n_tok + 1 and f"<id {n_tok + 1}>" in again.target_label
