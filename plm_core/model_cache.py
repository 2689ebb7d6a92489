"""The process-wide model cache of a shared server: evicts by a memory budget, never a model in use.

One copy of each model serves every session. A count-based cache (``st.cache_resource(max_entries=3)``)
thrashed as soon as more models were in use than entries: 4 sessions on 4 models reloaded a model on
every rerun (16 loads for 3 edits each). Here:

- the weights of each model are measured once, at load (parameters and buffers, bytes);
- after a load, while the loaded weights exceed the budget, the least recently used model that no session
  has used for ``keep_seconds`` (default 5 minutes) is dropped. A model used more recently is never
  dropped: the cache may then stay over the budget, and says so in the log;
- ``PLM_MODEL_MEMORY_MB`` sets the budget (default 4096 MB);
- the same budget holds what a model keeps between calls (generation's KV caches, :meth:`ModelCache.put_side`):
  one LRU of side entries, evicted first (one forward rebuilds one), then idle models (whose side entries go
  with them). :func:`shared` is the process's cache (``ui.handles.MODELS``; a plain one outside the app);
- each load and each eviction is logged (logger ``plm_core.model_cache``).

A model is loaded once even when several sessions ask for it at the same moment (a lock per key); other
models stay available while one loads. The cache holds the only long-lived reference: an evicted model's
memory is freed once the sessions running on it finish their current run.
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
from collections import OrderedDict, deque
from collections.abc import Callable, Hashable, Iterator
from dataclasses import dataclass
from typing import Generic, TypeVar

from plm_core.settings import settings

log = logging.getLogger(__name__)

MEMORY_ENV = "PLM_MODEL_MEMORY_MB"
DEFAULT_MEMORY_MB = 4096  # bert-base (420 MB) and gpt2 (500 MB) side by side, with room for a few more
KEEP_SECONDS = 300.0  # a model used in the last 5 minutes is never evicted

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


def budget_bytes() -> int:
    """The memory budget for loaded weights, from ``PLM_MODEL_MEMORY_MB`` (MB; default 4096).

    Raises:
        ValueError: the variable is not a positive number.
    """
    raw = settings().get(MEMORY_ENV)
    if raw is None or not raw.strip():
        return DEFAULT_MEMORY_MB * 2**20
    try:
        mb = float(raw)
    except ValueError:
        mb = -1.0
    if not mb > 0:
        raise ValueError(f"{MEMORY_ENV} must be a positive number of megabytes, got {raw!r}")
    return int(mb * 2**20)


def weight_bytes(handle: object) -> int:
    """Bytes of a handle's model weights: every parameter and buffer (what loading it costs)."""
    model = handle.model  # type: ignore[attr-defined]
    return int(sum(p.numel() * p.element_size() for p in model.parameters())
               + sum(b.numel() * b.element_size() for b in model.buffers()))


@dataclass
class Entry(Generic[V]):
    value: V
    size: int  # bytes, measured at load
    loaded_at: float
    last_used: float


@dataclass
class SideEntry:
    value: object
    size: int  # bytes
    owner: int  # the owner's token (see ModelCache._owner)


class ModelCache(Generic[K, V]):
    """Load-once, share-by-all cache of models keyed on their spec, evicting by memory (see the module doc).

    Args:
        load: builds the value for a key (``load_model``); exceptions pass through and nothing is cached.
        budget_bytes: memory for loaded values; None = :func:`budget_bytes` (the environment), read per load.
        keep_seconds: a value used this recently is never evicted.
        size_of: bytes of a loaded value (default :func:`weight_bytes`).
        clock: seconds, monotonic (tests pass a fake one).
    """

    def __init__(self, load: Callable[[K], V], *, budget_bytes: int | None = None,
                 keep_seconds: float = KEEP_SECONDS, size_of: Callable[[K, V], int] | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._load = load
        self._budget = budget_bytes
        self.keep_seconds = float(keep_seconds)
        self._size_of = size_of or (lambda key, value: weight_bytes(value))
        self._clock = clock
        self._entries: dict[K, Entry[V]] = {}
        self._lock = threading.Lock()  # guards _entries and _loading
        self._loading: dict[K, threading.Lock] = {}
        self._side: OrderedDict[tuple[int, Hashable], SideEntry] = OrderedDict()  # least recently used first
        self._owners: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # owner object -> token
        self._tokens = iter(range(1, 2**62))
        self._dead: deque[int] = deque()  # tokens of owners collected since the last call
        self.loads = 0
        self.evictions = 0
        self.side_evictions = 0

    # ---------------------------------------------------------------- reading

    def get(self, key: K) -> V:
        """The value for ``key``: cached (and marked as used now), or loaded once and then kept."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None:
                entry.last_used = self._clock()
                return entry.value
            key_lock = self._loading.setdefault(key, threading.Lock())
        with key_lock:  # one load per key; other keys stay available meanwhile
            with self._lock:
                entry = self._entries.get(key)
                if entry is not None:  # another session loaded it while this one waited
                    entry.last_used = self._clock()
                    return entry.value
            t0 = time.perf_counter()
            try:
                value = self._load(key)
            finally:
                with self._lock:
                    self._loading.pop(key, None)
            size = int(self._size_of(key, value))
            now = self._clock()
            with self._lock:
                self._entries[key] = Entry(value, size, now, now)
                self.loads += 1
                log.info("loaded %s (%.0f MB of weights in %.1f s; %d models, %.0f of %.0f MB)", _name(key),
                         size / 2**20, time.perf_counter() - t0, len(self._entries), self.total_bytes / 2**20,
                         self.budget / 2**20)
                self._evict(keep=key)
            return value

    def __contains__(self, key: object) -> bool:
        with self._lock:
            return key in self._entries

    def keys(self) -> list[K]:
        with self._lock:
            return list(self._entries)

    def values(self) -> list[V]:
        with self._lock:
            return [e.value for e in self._entries.values()]

    def entries(self) -> Iterator[tuple[K, Entry[V]]]:
        with self._lock:
            return iter(list(self._entries.items()))

    @property
    def total_bytes(self) -> int:
        """Bytes held: every model's weights and every side entry (KV caches)."""
        return sum(e.size for e in self._entries.values()) + self.side_bytes

    @property
    def side_bytes(self) -> int:
        return sum(e.size for e in self._side.values())

    # ---------------------------------------------------------------- side entries (one budget with the models)

    def _owner(self, owner: object) -> int:
        """A token for ``owner`` (a handle); its side entries are dropped when it is garbage-collected (lock held)."""
        token = self._owners.get(owner)
        if token is None:
            token = next(self._tokens)
            self._owners[owner] = token
            weakref.finalize(owner, self._dead.append, token)  # no lock in a finalizer: purged at the next call
        while self._dead:
            dead = self._dead.popleft()
            for k in [k for k in self._side if k[0] == dead]:
                del self._side[k]
        return token

    def get_side(self, owner: object, key: Hashable) -> object | None:
        """The side entry ``key`` of ``owner`` (marked as used now), or None."""
        with self._lock:
            entry = self._side.get((self._owner(owner), key))
            if entry is None:
                return None
            self._side.move_to_end((entry.owner, key))
            return entry.value

    def pop_side(self, owner: object, key: Hashable) -> object | None:
        """Take the side entry out (to extend it in place and put it back under a new key), or None."""
        with self._lock:
            entry = self._side.pop((self._owner(owner), key), None)
            return None if entry is None else entry.value

    def put_side(self, owner: object, key: Hashable, value: object, size: int) -> None:
        """Keep ``value`` (``size`` bytes) for ``owner`` under the one budget, then evict (this entry stays)."""
        with self._lock:
            token = self._owner(owner)
            self._side[(token, key)] = SideEntry(value, int(size), token)
            self._side.move_to_end((token, key))
            self._evict(keep=None, keep_side=(token, key))

    def side_keys(self, owner: object) -> list[Hashable]:
        with self._lock:
            token = self._owner(owner)
            return [k for t, k in self._side if t == token]

    def clear_side(self, owner: object | None = None) -> None:
        """Drop the side entries of ``owner`` (of every owner when None)."""
        with self._lock:
            if owner is None:
                self._side.clear()
            else:
                token = self._owners.get(owner)
                for k in [k for k in self._side if token is not None and k[0] == token]:
                    del self._side[k]

    @property
    def budget(self) -> int:
        if self._budget is not None:
            return self._budget
        try:
            return budget_bytes()
        except ValueError as err:  # a typo in the environment must not break every model load
            log.error("%s; using the default of %d MB", err, DEFAULT_MEMORY_MB)
            return DEFAULT_MEMORY_MB * 2**20

    # ---------------------------------------------------------------- eviction

    def _evict(self, keep: K | None, keep_side: tuple[int, Hashable] | None = None) -> None:
        """Drop side entries, least recently used first, then idle models, until everything fits the budget
        (lock held). ``keep`` (a model) and ``keep_side`` (the entry just put) stay."""
        budget, now = self.budget, self._clock()
        for side_key in list(self._side):
            if self.total_bytes <= budget:
                return
            if side_key != keep_side:
                del self._side[side_key]
                self.side_evictions += 1
        idle = sorted(((e.last_used, k) for k, e in self._entries.items()
                       if k != keep and now - e.last_used >= self.keep_seconds), key=lambda t: t[0])
        for _, key in idle:
            if self.total_bytes <= budget:
                return
            entry = self._entries.pop(key)
            try:
                token = self._owners.get(entry.value)  # its side entries go with it
            except TypeError:  # a value that cannot be weakly referenced owns none
                token = None
            for k in [k for k in self._side if token is not None and k[0] == token and k != keep_side]:
                del self._side[k]
            self.evictions += 1
            log.info("evicted %s (%.0f MB, unused for %.0f s): %.0f of %.0f MB loaded", _name(key),
                     entry.size / 2**20, now - entry.last_used, self.total_bytes / 2**20, budget / 2**20)
        if self.total_bytes > budget:
            log.warning("over the memory budget: %.0f of %.0f MB loaded (%s=%s); every model was used in the last "
                        "%.0f s, so none is evicted", self.total_bytes / 2**20, budget / 2**20, MEMORY_ENV,
                        settings().get(MEMORY_ENV) or DEFAULT_MEMORY_MB, self.keep_seconds)

    def clear(self) -> None:
        """Drop every model (their memory is freed once no session uses them)."""
        with self._lock:
            n = len(self._entries)
            self._entries.clear()
            self._side.clear()
        if n:
            log.info("unloaded all %d models", n)


_SHARED: list[ModelCache] = []
_SHARED_LOCK = threading.Lock()


def _no_loader(key: object) -> object:
    raise KeyError(f"this process's model cache loads no models: {key!r}")


def shared(cache: ModelCache | None = None) -> ModelCache:
    """The process's one model cache (and so its one memory budget). ``cache``: make it the shared one (the
    app's ``ui.handles.MODELS``); without one, a cache that only holds side entries (the CLI, tests)."""
    with _SHARED_LOCK:
        if cache is not None:
            _SHARED[:] = [cache]
        elif not _SHARED:
            _SHARED.append(ModelCache(_no_loader))
        return _SHARED[0]


def _name(key: object) -> str:
    return str(getattr(key, "model_id", key))
