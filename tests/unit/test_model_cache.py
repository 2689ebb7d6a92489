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
