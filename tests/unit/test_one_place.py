"""Issue 26, item 3: facts with one owner. Mean pooling is ``plm_core.inference.mean_pool`` (checked against a
per-sentence mean of the unpadded tokens), a folder test is ``plm_core.paths.is_dir``; guards fail if a second
implementation comes back."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import torch

from plm_core.inference import mean_pool
from plm_core.paths import is_dir

ROOT = Path(__file__).resolve().parents[2]


def _sources(*dirs: str):
    for d in dirs:
        for p in (ROOT / d).rglob("*.py"):
            yield p, p.read_text(encoding="utf-8")


def test_mean_pool_is_the_mean_of_the_unpadded_tokens():
    rng = np.random.default_rng(0)
    hidden = torch.from_numpy(rng.standard_normal((3, 5, 4)).astype(np.float32))
    mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 0, 0, 0], [1, 0, 0, 0, 0]])
    for b, n in enumerate((5, 2, 1)):
        mean = hidden[b, :n].double().mean(0)
        np.testing.assert_allclose(mean_pool(hidden, mask, normalize=False)[b].numpy(), mean.numpy(), atol=1e-6)
        np.testing.assert_allclose(mean_pool(hidden, mask)[b].numpy(), (mean / mean.norm()).numpy(), atol=1e-6)
    np.testing.assert_array_equal(mean_pool(hidden), torch.nn.functional.normalize(hidden.mean(1), dim=-1))


def test_finetune_features_are_mean_pool_of_each_sentence(tiny_handles):
    """The fine-tuning lesson's mean features (padded batch) equal each sentence's own mean, unpadded."""
    from plm_core.lessons.finetune import features
    from plm_core.tokens import encode

    handle = tiny_handles["classifier"]
    texts = ["the cat sat", "the cat sat on the mat because it was tired"]
    feats = features(handle, texts)
    base = handle.model.base_model
    for i, text in enumerate(texts):
        _, batch = encode(handle, text)
        with torch.inference_mode():
            own = base(**batch).last_hidden_state[0].float().mean(0)
        np.testing.assert_allclose(feats.mean[i], own.numpy(), atol=1e-5)


def test_no_second_mean_pooling():
    """A guard: no module outside plm_core/inference.py divides a masked sum by the mask's sum, or normalises a
    ``.mean(1)`` of hidden states, again."""
    pattern = re.compile(r"\.sum\(1\)\s*/\s*\w+\.sum\(1\)|normalize\(\w+\.mean\(1\)")
    found = [str(p.relative_to(ROOT)) for p, text in _sources("plm_core", "ui", "pages")
             if p.name != "inference.py" and pattern.search(text)]
    assert not found, found


def test_one_is_dir():
    assert is_dir(ROOT) and not is_dir(ROOT / ("a" * 300)) and not is_dir("nul\0byte")
    found = [str(p.relative_to(ROOT)) for p, text in _sources("plm_core", "ui", "pages")
             if re.search(r"def _?is_dir\(", text) and p.name != "paths.py"]
    assert not found, found
