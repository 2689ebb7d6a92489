"""Attribution on CUDA: same attributions as on the CPU, and the bert-base-shape timing goal (skips without CUDA)."""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")]


def _handles(tiny_dirs):
    from plm_core.loading import ModelSpec, load_model

    return (load_model(ModelSpec(str(tiny_dirs["masked_lm"]), device="cpu")),
            load_model(ModelSpec(str(tiny_dirs["masked_lm"]), device="cuda")))


def test_cuda_ig_matches_cpu(tiny_dirs):
    from plm_core.attribution import Target, attribute

    cpu, gpu = _handles(tiny_dirs)
    text = "the man worked as a [MASK] ."
    target = Target("contrast", word="he", contrast="she")
    a = attribute(cpu, text, target=target, n_steps=32)
    b = attribute(gpu, text, target=target, n_steps=32)  # bf16 autocast + SDPA on the GPU
    assert b.params["attn_implementation"] == "sdpa"
    scale = np.abs(a.scores).max()
    np.testing.assert_allclose(b.scores, a.scores, atol=0.05 * scale)
    assert gpu.model.config._attn_implementation == "eager"  # restored
    adaptive = attribute(gpu, text, target=target)
    assert adaptive.params["met"] or adaptive.params["strategy"] == "refined"  # within tolerance (+ bf16) or refined


def test_bert_base_shape_128_tokens_timing():
    """Goal: ≤ 10 ms per IG explanation for the bert-base shape at 128 tokens on an H100 (reported, not enforced)."""
    from transformers import AutoTokenizer, BertConfig, BertForMaskedLM

    from plm_core.attribution import Target, attribute
    from plm_core.loading import ModelHandle, ModelSpec, embedded_model_path

    model = BertForMaskedLM(BertConfig(attn_implementation="eager")).eval().cuda()
    for p in model.parameters():
        p.requires_grad_(False)
    tok = AutoTokenizer.from_pretrained(embedded_model_path())
    handle = ModelHandle(spec=ModelSpec("bert-base-shape", device="cuda"), model=model, tokenizer=tok,
                         device=torch.device("cuda"), kind="masked_lm", source="random")
    text = "the [MASK] " + "students read long texts about music " * 30
    target = Target("token", word="teacher", output="logit")
    for _ in range(3):
        attribute(handle, text, target=target, max_tokens=128)
    torch.cuda.synchronize()
    times = []
    for _ in range(10):
        t0 = time.perf_counter()
        res = attribute(handle, text, target=target, max_tokens=128)
        torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    print(f"bert-base shape, 128 tokens: median {np.median(times) * 1000:.1f} ms, steps {res.params['n_steps']}, "
          f"completeness {res.delta_rel:.2%}")
    assert res.delta_rel < 0.01
    assert np.median(times) < 0.2  # generous bound; the 10 ms goal is reported above
