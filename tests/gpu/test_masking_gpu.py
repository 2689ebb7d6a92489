"""Masking and occlusion on CUDA give the CPU numbers (skipped without CUDA)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from plm_core.loading import ModelSpec, load_model
from plm_core.masking import MaskSpec, mask_and_predict, occlusion_sweep

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")]


@pytest.mark.parametrize("kind", ["masked_lm", "classifier", "encoder", "causal_lm"])
def test_cuda_matches_cpu(tiny_dirs, tiny_handles, kind):
    gpu = load_model(ModelSpec(str(tiny_dirs[kind]), device="cuda"))
    cpu = tiny_handles[kind]
    spec = MaskSpec((2,), "delete" if kind == "causal_lm" else "mask_token")
    text = "the cat sat on the mat"
    a, b = mask_and_predict(cpu, text, spec), mask_and_predict(gpu, text, spec)
    for x, y in zip(a.comparisons, b.comparisons):
        np.testing.assert_allclose(x.perturbed, y.perturbed, atol=1e-3)
    sweep_spec = spec if kind == "masked_lm" else None
    np.testing.assert_allclose(occlusion_sweep(cpu, text, sweep_spec).values,
                               occlusion_sweep(gpu, text, sweep_spec).values, atol=1e-3)
