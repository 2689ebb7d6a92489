"""The same attention on CUDA and on the CPU (atol 1e-3, inseq's CUDA consistency test). Skipped without CUDA."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from plm_core.attention import extract_attention, query_key
from plm_core.inference import embed, predict
from plm_core.loading import ModelSpec, load_model

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA"),
]

TEXT = "the quick brown fox jumps over the lazy dog"


@pytest.fixture(scope="module")
def cuda_pairs(tiny_dirs):
    """(cpu handle, cuda handle) for each tiny kind that has a query·key view."""
    kinds = ("masked_lm", "causal_lm", "distilbert_mlm", "roberta_mlm", "classifier", "gemma3", "albert_mlm")
    return {k: (load_model(ModelSpec(str(tiny_dirs[k]), device="cpu")),
                load_model(ModelSpec(str(tiny_dirs[k]), device="cuda"))) for k in kinds}


def test_auto_device_is_cuda(tiny_dirs):
    h = load_model(ModelSpec(str(tiny_dirs["masked_lm"])))
    assert h.device.type == "cuda"
    assert next(h.model.parameters()).device.type == "cuda"


@pytest.mark.parametrize("kind", ["masked_lm", "causal_lm", "distilbert_mlm", "roberta_mlm", "classifier", "gemma3",
                                  "albert_mlm"])
def test_attention_same_on_cuda_and_cpu(cuda_pairs, kind):
    cpu, gpu = cuda_pairs[kind]
    a, b = extract_attention(cpu, TEXT), extract_attention(gpu, TEXT)
    assert isinstance(b.weights, np.ndarray) and b.weights.dtype == np.float32
    np.testing.assert_allclose(b.weights, a.weights, atol=1e-3)
    qa, qb = query_key(cpu, TEXT, 1, 2), query_key(gpu, TEXT, 1, 2)
    np.testing.assert_allclose(qb.probs, qa.probs, atol=1e-3)
    assert qb.max_abs_diff < 1e-4  # recomputed on the GPU, compared with the GPU's own attention


def test_predictions_same_on_cuda_and_cpu(cuda_pairs):
    cpu, gpu = cuda_pairs["masked_lm"]
    a, b = predict(cpu, "the cat sat on the [MASK]"), predict(gpu, "the cat sat on the [MASK]")
    np.testing.assert_allclose(b.distributions[0].probs, a.distributions[0].probs, atol=1e-3)
    cpu, gpu = cuda_pairs["classifier"]
    np.testing.assert_allclose(predict(gpu, TEXT).probs, predict(cpu, TEXT).probs, atol=1e-3)


@pytest.mark.slow
def test_minilm_same_on_cuda_and_cpu(minilm):
    gpu = load_model(ModelSpec("embedded", device="cuda"))
    np.testing.assert_allclose(extract_attention(gpu, TEXT).weights, extract_attention(minilm, TEXT).weights,
                               atol=1e-3)
    sentences = ["A man is eating food.", "A man is eating a piece of bread."]
    np.testing.assert_allclose(embed(gpu, sentences), embed(minilm, sentences), atol=1e-3)
