"""Issue 10, case 15: the shared model cache evicts by a memory budget, never a model used in the last minutes.

The count-based ``st.cache_resource(max_entries=3)`` loaded 4 models 16 times for 4 sessions with 3 edits each
(tests/app/test_shared_server.py shows that on the app); here the cache itself, with a fake clock and sizes.
"""

from __future__ import annotations

import logging
import threading
import time

import pytest

from plm_core.model_cache import KEEP_SECONDS, MEMORY_ENV, ModelCache, budget_bytes, weight_bytes

MB = 2**20


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def make(sizes: dict[str, int], budget: int, clock: Clock, loads: list[str]) -> ModelCache:
    def load(key: str) -> str:
        loads.append(key)
        return f"model {key}"

    return ModelCache(load, budget_bytes=budget, size_of=lambda key, value: sizes[key], clock=clock)


def test_four_sessions_on_four_models_load_each_model_once():
    clock, loads = Clock(), []
    cache = make({k: 100 * MB for k in "abcd"}, 4096 * MB, clock, loads)
    for _edit in range(4):  # the first view and 3 edits, each session on its own model
        for key in "abcd":
            assert cache.get(key) == f"model {key}"
            clock.now += 1
    assert loads == list("abcd")


def test_over_the_budget_the_least_recently_used_idle_model_goes(caplog):
    clock, loads = Clock(), []
    cache = make({"a": 300 * MB, "b": 300 * MB, "c": 300 * MB}, 700 * MB, clock, loads)
    cache.get("a")
    clock.now += 10
    cache.get("b")
    clock.now += KEEP_SECONDS + 1  # both idle for more than the keep time
    with caplog.at_level(logging.INFO, logger="plm_core.model_cache"):
        cache.get("c")
    assert "a" not in cache and "b" in cache and "c" in cache
    assert cache.total_bytes == 600 * MB
    text = caplog.text
    assert "loaded c" in text and "evicted a" in text and "300 MB" in text


def test_a_model_used_in_the_last_minutes_is_never_evicted(caplog):
    clock, loads = Clock(), []
    cache = make({"a": 300 * MB, "b": 300 * MB, "c": 300 * MB, "d": 100 * MB}, 500 * MB, clock, loads)
    cache.get("a")
    cache.get("b")
    clock.now += KEEP_SECONDS - 5  # a and b were used within the keep time
    with caplog.at_level(logging.INFO, logger="plm_core.model_cache"):
        cache.get("c")
    assert {"a", "b", "c"} <= set(cache.keys())  # over the budget rather than breaking a session's model
    assert "over the memory budget" in caplog.text
    clock.now += 10  # now a and b are idle, c is not: the next load evicts a and b, keeps c
    cache.get("d")
    assert set(cache.keys()) == {"c", "d"} and loads == ["a", "b", "c", "d"]


def test_a_hit_refreshes_the_model_so_the_idle_one_goes_first():
    clock, loads = Clock(), []
    cache = make({k: 300 * MB for k in "abc"}, 700 * MB, clock, loads)
    cache.get("a")
    cache.get("b")
    clock.now += KEEP_SECONDS + 1
    cache.get("a")  # a is in use again
    clock.now += 1
    cache.get("c")
    assert set(cache.keys()) == {"a", "c"}


def test_concurrent_sessions_load_a_model_once():
    loads = []
    started = threading.Barrier(8)

    def load(key):
        loads.append(key)
        time.sleep(0.05)
        return key

    cache = ModelCache(load, budget_bytes=10 * MB, size_of=lambda k, v: MB)

    def session():
        started.wait()
        cache.get("a")

    threads = [threading.Thread(target=session) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert loads == ["a"]


def test_a_failed_load_is_not_cached():
    calls = []

    def load(key):
        calls.append(key)
        raise ValueError("no such model")

    cache = ModelCache(load, budget_bytes=MB, size_of=lambda k, v: 1)
    for _ in range(2):
        with pytest.raises(ValueError):
            cache.get("a")
    assert calls == ["a", "a"] and "a" not in cache


def test_clear_drops_everything():
    clock, loads = Clock(), []
    cache = make({"a": MB}, 10 * MB, clock, loads)
    cache.get("a")
    cache.clear()
    assert "a" not in cache and cache.total_bytes == 0
    cache.get("a")
    assert loads == ["a", "a"]


def test_budget_from_the_environment(monkeypatch):
    monkeypatch.setenv(MEMORY_ENV, "1500")
    assert budget_bytes() == 1500 * MB
    monkeypatch.setenv(MEMORY_ENV, "lots")
    with pytest.raises(ValueError, match=MEMORY_ENV):
        budget_bytes()
    assert ModelCache(lambda k: k).budget == 4096 * MB  # the cache keeps working on a typo (and logs it)
    monkeypatch.delenv(MEMORY_ENV)
    assert budget_bytes() > 1000 * MB


def test_weights_are_measured_at_load(tiny_handles):
    h = tiny_handles["masked_lm"]
    expected = sum(p.numel() * p.element_size() for p in h.model.parameters()) + sum(
        b.numel() * b.element_size() for b in h.model.buffers())
    assert weight_bytes(h) == expected > 0


def test_generation_kv_caches_count_against_the_one_budget(tiny_dirs):
    """Issue 26, item 3: one memory budget. A model's generation KV caches are side entries of the model cache:
    they add to its bytes (measured from the tensors themselves), and a large one evicts older KV caches first,
    then an idle model, under the same budget — there is no second LRU with its own budget."""
    from plm_core import generation as gen
    from plm_core import model_cache
    from plm_core.loading import ModelSpec, load_model

    clock = Clock()
    spec_a, spec_b = (ModelSpec(str(tiny_dirs[k]), device="cpu") for k in ("causal_lm", "masked_lm"))
    cache = ModelCache(load_model, clock=clock, budget_bytes=10**12)
    previous = model_cache.shared()
    model_cache.shared(cache)
    try:
        idle, lm = cache.get(spec_b), cache.get(spec_a)
        weights = weight_bytes(idle) + weight_bytes(lm)
        assert cache.total_bytes == weights
        g = gen.generate(lm, "the cat sat on the", gen.SamplingSettings(True, seed=1), 6)
        keys = cache.side_keys(lm)
        assert keys and len(keys) <= 7
        prefix = tuple(g.ids)
        gen.next_logits(lm, g.prompt, prefix)  # the distribution after the last token: one more entry
        kv = sum(e.size for e in cache._side.values())
        entry = cache.get_side(lm, ("kv", g.prompt.input_ids, prefix))
        layers = entry.cache.layers  # the KV tensors of the longest prefix: what the entry says it holds
        own = sum(t.numel() * t.element_size() for layer in layers for t in (layer.keys, layer.values))
        assert entry.nbytes == own + entry.logits.numel() * 4
        assert cache.total_bytes == weights + kv
        # the one budget shrinks to the weights plus one KV cache: older KV caches go first, models stay
        cache._budget = weights + entry.nbytes
        clock.now += KEEP_SECONDS + 1  # the masked LM is idle now
        gen.next_logits(lm, g.prompt, prefix[:-1])  # a miss: one more entry, the budget is full
        assert cache.side_evictions >= len(keys) - 1 and spec_b in cache and spec_a in cache
        # a KV cache larger than the idle model's weights: the idle model is evicted under the same budget
        cache._budget = weight_bytes(lm) + 1
        assert cache.get(spec_a) is lm  # the page asks for its model on each run: in use, never evicted
        gen.next_distribution(lm, gen.start(lm, "a dog ran home"), gen.SamplingSettings())  # a new prompt: a miss
        assert spec_b not in cache and spec_a in cache and cache.evictions == 1
        assert len(cache.side_keys(lm)) == 1  # only the newest entry stays once over the budget
    finally:
        model_cache.shared(previous)
