"""Issue 10, case 12: the embedded all-MiniLM-L6-v2 is used with its own 256-token limit.

sentence-transformers defines the model with ``max_seq_length`` 256 (``sentence_bert_config.json``); its
tokenizer allows 512, which plm-lens used: the similarity of a 66-token and a 336-token sentence came out
0.5138 where sentence-transformers gives 0.6133. The reference here is computed independently, with plain
transformers: tokenize with truncation to 256, run the model, mean-pool, normalise, dot product.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from transformers import AutoModel, AutoTokenizer

from plm_core.compare import compare_texts
from plm_core.inference import embed, predict
from plm_core.loading import embedded_model_path

pytestmark = pytest.mark.slow

SHORT = " ".join(("A man is playing a guitar on a stage in front of a small crowd of people. " * 4).split()[:61])
LONG = " ".join(("The concert went on for hours while people sang along with the band and the lights changed "
                 "colour above the stage. " * 20).split()[:319])


def _reference(texts: list[str], max_length: int) -> np.ndarray:
    path = embedded_model_path()
    tok = AutoTokenizer.from_pretrained(path)
    model = AutoModel.from_pretrained(path).eval()
    batch = tok(texts, padding=True, truncation=True, max_length=max_length, return_tensors="pt")
    with torch.no_grad():
        hidden = model(**batch).last_hidden_state
    mask = batch["attention_mask"].unsqueeze(-1).float()
    pooled = (hidden * mask).sum(1) / mask.sum(1)
    return torch.nn.functional.normalize(pooled, dim=-1).numpy()


def test_the_two_sentences_have_the_lengths_of_the_issue(minilm):
    tok = AutoTokenizer.from_pretrained(embedded_model_path())
    assert len(tok(SHORT)["input_ids"]) == 66
    assert len(tok(LONG)["input_ids"]) == 336


def test_similarity_equals_sentence_transformers_semantics(minilm):
    ref = _reference([SHORT, LONG], 256)
    expected = float(ref[0] @ ref[1])
    wrong = _reference([SHORT, LONG], 512)
    assert abs(expected - float(wrong[0] @ wrong[1])) > 0.01  # the limit matters for these two sentences

    emb = embed(minilm, [SHORT, LONG])
    assert float(emb[0] @ emb[1]) == pytest.approx(expected, abs=1e-5)
    cmp = compare_texts(minilm, SHORT, LONG)
    assert float(cmp.comparisons[0].perturbed[0]) == pytest.approx(expected, abs=1e-5)
    assert any("336 tokens" in n and "256" in n for n in cmp.notes)  # the usual note, on B
    pred = predict(minilm, LONG)
    np.testing.assert_allclose(pred.embedding, ref[1], atol=1e-5)
    assert any("only the first 256" in n for n in pred.encoding.notes)


def test_sentence_transformers_itself_agrees_where_installed(minilm):
    st_models = pytest.importorskip("sentence_transformers")
    model = st_models.SentenceTransformer(embedded_model_path(), device="cpu")
    assert model.max_seq_length == 256
    ref = model.encode([SHORT, LONG], normalize_embeddings=True)
    emb = embed(minilm, [SHORT, LONG])
    np.testing.assert_allclose(emb, ref, atol=1e-5)
