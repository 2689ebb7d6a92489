"""Shared pieces of the bias probes: warnings and caveats, progress/cancel callbacks, MLM scoring, export."""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from plm_core.errors import UnsupportedModelError
from plm_core.export import records_to_csv
from plm_core.inference import lm_body_and_head, run
from plm_core.handle import ModelHandle
from plm_core.kinds import MaskedLMAdapter
from plm_core.i18n import msg

CONTENT_WARNING = msg(
    "Content warning: these data sets and probes contain offensive stereotypes about race, gender, religion, "
    "sexual orientation, disability and other groups. They are shown to measure bias, not to endorse it."
)
CAVEATS = {
    "crows_pairs": msg(
        "CrowS-Pairs (Nangia et al., 2020): its authors point to Blodgett et al. (ACL 2021), who found many pairs "
        "noisy or invalid (pairs that do not contrast a stereotype, that change more than the group, or that "
        "mix bias types). Read the score as a rough signal, look at individual pairs, and compare models rather "
        "than reading 50% as 'unbiased'. Pseudo-log-likelihood also depends on tokenization and sentence length."
    ),
    "bec_pro": msg(
        "BEC-Pro (Bartl et al., 2020): English templates with binary gender person words and U.S. labour "
        "statistics for profession gender; it does not cover non-binary identities, and associations from "
        "five templates vary with the wording. A professions' '[MASK]' prior is itself a model output."
    ),
    "seat": msg(
        "SEAT (May et al., 2019): effect sizes on sentence encoders are unstable across templates and models; "
        "May et al. warn that a non-significant result does not show absence of bias, and bleached template "
        "sentences ('This is John.') are far from natural text. Small sets give coarse p-values."
    ),
    "template": msg(
        "Template probes measure what the chosen words and sentences measure: results change with wording, "
        "the spread across templates shows how much. A difference is not proof of harm in a downstream use."
    ),
}

ProgressFn = Callable[[int, int], None]  # (done, total)
StopFn = Callable[[], bool]  # True = stop now and return what was computed


def report(progress: ProgressFn | None, done: int, total: int) -> None:
    if progress is not None:
        progress(done, total)


# model kinds the dataset probes score (CrowS-Pairs, BEC-Pro: pseudo-log-likelihoods at [MASK])
MASKED_LM_KINDS: frozenset[str] = frozenset({MaskedLMAdapter.name})


def require_masked_lm(handle: ModelHandle, what: str) -> None:
    """Refuse a model the dataset probe ``what`` cannot score.

    Raises:
        UnsupportedModelError: not of a kind in :data:`MASKED_LM_KINDS`, or a tokenizer without a mask token.
    """
    with handle.lock:
        mask_id = handle.tokenizer.mask_token_id
    if handle.kind not in MASKED_LM_KINDS or mask_id is None:
        raise UnsupportedModelError(
            msg('{what} needs a masked language model (BERT-style, with a [MASK] token); {model_id} is a {kind}. '
                'Load one in the sidebar, e.g. bert-base-uncased.',
                what=what, model_id=handle.model_id, kind=handle.kind)
        )


def default_batch_size(handle: ModelHandle) -> int:
    return 256 if handle.device.type == "cuda" else 32


def masked_log_probs(handle: ModelHandle, input_ids: Sequence[Sequence[int]], positions: Sequence[int],
                     batch_size: int | None = None, progress: ProgressFn | None = None) -> torch.Tensor:
    """log-softmax over the vocabulary at ``positions[i]`` of sequence ``input_ids[i]`` (already masked).

    Sequences are sorted by length and right-padded in batches; on BERT, RoBERTa and DistilBERT the MLM head
    runs only at the chosen positions (its vocabulary projection is ~20% of a bert-base forward). Returns
    float32 ``[len(input_ids), vocab]`` on the CPU.
    """
    n = len(input_ids)
    if n == 0:
        return torch.zeros(0, 0)
    batch_size = batch_size or default_batch_size(handle)
    order = sorted(range(n), key=lambda i: len(input_ids[i]))
    with handle.lock:
        pad = handle.tokenizer.pad_token_id if handle.tokenizer.pad_token_id is not None else 0
    out: list[torch.Tensor | None] = [None] * n
    split = lm_body_and_head(handle.model)
    for start in range(0, n, batch_size):
        chunk = order[start:start + batch_size]
        width = max(len(input_ids[i]) for i in chunk)
        ids = torch.full((len(chunk), width), pad, dtype=torch.long)
        att = torch.zeros((len(chunk), width), dtype=torch.long)
        for row, i in enumerate(chunk):
            ids[row, :len(input_ids[i])] = torch.tensor(input_ids[i])
            att[row, :len(input_ids[i])] = 1
        pos = torch.tensor([positions[i] for i in chunk])
        with handle.lock, torch.inference_mode():
            pos_d = pos.to(handle.device)
            rows = torch.arange(len(chunk), device=handle.device)
            if split is not None:
                body, head = split
                hidden = run(handle, {"input_ids": ids, "attention_mask": att}, module=body).last_hidden_state
                logits = head(hidden[rows, pos_d])
            else:
                logits = run(handle, {"input_ids": ids, "attention_mask": att}).logits[rows, pos_d]
            logp = torch.log_softmax(logits.float(), dim=-1).cpu()
        for row, i in enumerate(chunk):
            out[i] = logp[row]
        report(progress, min(start + batch_size, n), n)
    return torch.stack(out)  # type: ignore[arg-type]


def single_token_id(handle: ModelHandle, word: str, *, leading_space: bool = True) -> int:
    """Vocabulary id of ``word`` as one token, or InvalidInputError naming its pieces."""
    from plm_core.display import spacing_scheme, token_texts
    from plm_core.errors import InvalidInputError, clip, excerpt

    tok = handle.tokenizer
    text = word.strip()
    if not text:
        raise InvalidInputError(msg("a target word is empty"))
    with handle.lock:  # the tokenizer is shared: its truncation settings too
        # BPE vocabularies (RoBERTa, GPT-2) spell a word after a space with a leading "Ġ"
        spaced = leading_space and spacing_scheme(tok).space_in_piece
        ids = tok(" " + text if spaced else text, add_special_tokens=False)["input_ids"]
        pieces = token_texts(handle, ids[:8]) if len(ids) != 1 else ()  # display text (plm_core.display)
    if len(ids) != 1:
        raise InvalidInputError(
            msg("the target word {text} is {n_ids} tokens for this tokenizer ({value}): a masked LM fills one "
                "token at [MASK], so choose a word that is a single token (or use a causal LM).",
                text=excerpt(text), n_ids=len(ids), value=clip(" ".join(pieces) + (" …" if len(ids) > 8 else "")))
        )
    return int(ids[0])


# ---- export -----------------------------------------------------------------------------------------

def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (np.floating, float)):
        v = float(value)
        return v if np.isfinite(v) else None
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    return value


# configuration key -> CSV column: every exported row says which model, data and sample it comes from
PROVENANCE = {"probe": "probe", "model_id": "model_id", "revision": "model_revision", "data": "data_source",
              "data_sha256": "data_sha256", "sample_seed": "sample_seed", "sample_size": "sample_size",
              "run_id": "run_id", "model_folder": "model_folder", "weights_sha256": "model_weights_sha256"}
WEIGHT_FILES = ("*.safetensors", "*.bin", "*.pt", "*.gguf")


def model_files(model_id: str) -> dict[str, str | None]:
    """What identifies a local model folder's weights, for exports (a Hub model has its revision instead):
    ``model_folder`` (the folder's name) and ``weights_sha256`` (SHA-256 of its weight file; of several, the
    SHA-256 of ``sha256sum``'s lines ``<hash>  <name>`` sorted by name). Both None for a Hub id.

    Hashing reads every weight byte once per file version (cached on name, size and modification time).
    """
    try:
        folder = Path(model_id).expanduser()
        files = sorted({f for pattern in WEIGHT_FILES for f in folder.glob(pattern) if f.is_file()}) \
            if model_id and folder.is_dir() else []
    except (OSError, ValueError, RuntimeError):
        files = []
    if not files:
        return {"model_folder": None, "weights_sha256": None}
    stamps = tuple((str(f), f.stat().st_size, f.stat().st_mtime_ns) for f in files)
    return {"model_folder": folder.resolve().name, "weights_sha256": _weights_sha256(stamps)}


@functools.lru_cache(maxsize=64)
def _weights_sha256(stamps: tuple[tuple[str, int, int], ...]) -> str:
    hashes = []
    for name, _size, _mtime in stamps:
        digest = hashlib.sha256()
        with open(name, "rb") as f:
            for block in iter(lambda: f.read(1 << 22), b""):
                digest.update(block)
        hashes.append((digest.hexdigest(), Path(name).name))
    if len(hashes) == 1:
        return hashes[0][0]
    return hashlib.sha256("".join(f"{h}  {n}\n" for h, n in hashes).encode()).hexdigest()


def provenance(config: dict[str, Any]) -> dict[str, Any]:
    """The provenance columns of an export (model id and revision; a local folder's name and weights' SHA-256;
    data source and hash, sample seed). A run records its folder's hash when it starts; a result without one
    (the core's API called directly) is hashed from its folder when exported."""
    if "weights_sha256" not in config:
        config = config | model_files(str(config.get("model_id") or ""))
    return {col: _plain(config.get(key)) for key, col in PROVENANCE.items()}


def _cell(value: Any) -> Any:
    value = _plain(value)
    if isinstance(value, (list, dict)):
        return json.dumps(value, ensure_ascii=False)
    return "" if value is None else value


def table_to_csv(records: Iterable[dict[str, Any]], config: dict[str, Any]) -> str:
    """Dicts as a plain CSV (header first, no comment lines: ``pandas.read_csv`` reads it as is), each row
    starting with the provenance columns of ``config``; written by :func:`plm_core.export.records_to_csv`
    (formula cells neutralised, every record one row)."""
    prov = provenance(config)
    records = [dict(r) for r in records]
    names = list(prov) + list(dict.fromkeys(k for r in records for k in r if k not in prov))
    # a record may carry its own provenance (a comparison of several runs)
    return records_to_csv(({n: _cell((prov | r).get(n)) for n in names} for r in records), names)


def row_record(row: Any) -> dict[str, Any]:
    """A result row (dataclass) as a flat dict: its ``extra`` data columns become columns of their own
    (prefixed ``data.`` when a name is taken by a field)."""
    fields = {f.name: getattr(row, f.name) for f in dataclasses.fields(row) if f.name != "extra"}
    for name, value in getattr(row, "extra", ()) or ():
        fields["data." + name if name in fields or name in PROVENANCE.values() else name] = value
    return fields


def rows_to_csv(rows: Iterable[Any], config: dict[str, Any]) -> str:
    """Result rows (dataclasses) as a plain CSV with provenance columns (see :func:`table_to_csv`)."""
    return table_to_csv((row_record(r) for r in rows), config)


def result_to_json(kind: str, config: dict[str, Any], summary: dict[str, Any], rows: Iterable[Any]) -> str:
    """The whole result as JSON: configuration (model id, revision, data source and hash, sample), summary with
    intervals and tests, and every row."""
    return json.dumps({"probe": kind, "content_warning": CONTENT_WARNING, "caveats": CAVEATS.get(kind, ""),
                       "provenance": provenance(config), "config": _plain(config), "summary": _plain(summary),
                       "rows": [_plain(row_record(r)) if dataclasses.is_dataclass(r) else _plain(r) for r in rows]},
                      indent=1, ensure_ascii=False)
