"""Shared-server hygiene: long paths take the model lock per chunk, so another session's work can run between
two chunks instead of waiting for the whole job (lesson fine-tuning features, bias data-set scoring)."""

from __future__ import annotations

import dataclasses
import threading

import pytest

from plm_core.bias.crows_pairs import score_pairs
from plm_core.bias.datasets import CrowsPair
from plm_core.lessons import finetune


class CountingLock:
    """An RLock that counts its outermost acquisitions (each one is a moment other sessions may go first)."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self.depth = 0
        self.holds = 0

    def acquire(self, *args, **kwargs):
        ok = self._lock.acquire(*args, **kwargs)
        if ok:
            self.depth += 1
            self.holds += self.depth == 1
        return ok

    def release(self) -> None:
        self.depth -= 1
        self._lock.release()

    __enter__ = acquire

    def __exit__(self, *exc) -> None:
        self.release()


@pytest.fixture
def counted(tiny_handles):
    def make(kind):
        return dataclasses.replace(tiny_handles[kind], lock=CountingLock())
    return make


def test_lesson_features_release_the_lock_between_batches(counted):
    handle = counted("masked_lm")
    finetune.features(handle, [f"sentence number {i} is here" for i in range(100)], batch_size=32)
    assert handle.lock.holds >= 4  # 4 batches, each under the lock on its own


def test_crows_pairs_release_the_lock_between_rounds(counted):
    handle = counted("masked_lm")
    pairs = [CrowsPair(i, "the man is here .", "the woman is here .", "stereo", "gender") for i in range(12)]
    score_pairs(handle, pairs, chunk_pairs=4)
    assert handle.lock.holds >= 3 * 2  # each round: tokenizing, then the batched forward passes


def test_attribution_takes_the_lock_per_pass_and_gives_the_same_scores(counted, tiny_handles, monkeypatch):
    """Integrated Gradients (64 steps, in batches): the lock per pass, so a masking update can run in between;
    with other sessions' work running concurrently the scores equal those of a call on its own."""
    from concurrent.futures import ThreadPoolExecutor

    import numpy as np

    from plm_core.attribution import attribute
    from plm_core.masking import MaskSpec, mask_and_predict

    from plm_core.attribution import methods

    monkeypatch.setattr(methods, "batch_limit", lambda handle, n_tokens: 8)  # 8 path points per pass
    handle = counted("classifier")
    text = "a good movie with fine acting and a long story"
    alone = attribute(tiny_handles["classifier"], text, "integrated_gradients", n_steps=64)
    handle.lock.holds = 0
    with ThreadPoolExecutor(4) as pool:
        others = [pool.submit(mask_and_predict, handle, text, MaskSpec((i,))) for i in (1, 2, 3)]
        got = attribute(handle, text, "integrated_gradients", n_steps=64)
        [f.result() for f in others]
    assert handle.lock.holds >= 1 + 64 // 8 + 3  # setup, each batch of the path, the three masking updates
    np.testing.assert_array_equal(got.scores, alone.scores)
