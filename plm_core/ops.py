"""The operations the pages ask of a model, by name: one table for every place a computation can run.

``ui.backend.compute(spec, "mask_and_predict", text, mask_spec)`` runs ``OPS["mask_and_predict"]`` on the
shared handle of ``spec`` in the Streamlit process, or in a Ray Serve replica (``PLM_BACKEND=ray``); both
call :func:`run_op`, so the result is the same frozen dataclass either way. An argument that is a
:class:`~plm_core.loading.ModelSpec` stands for that model's handle, resolved where the operation runs
(``compare_models`` takes a second model that way).

Operations are ``"module:function"`` strings, imported when first used, so this table costs nothing to
import and names every core entry point the pages reach.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from plm_core.errors import UnknownMethodError
from plm_core.loading import ModelHandle, ModelSpec

# name -> "module:function"; every function takes the handle first
OPS: dict[str, str] = {
    # forward-only views
    "predict": "plm_core.inference:predict",
    "extract_attention": "plm_core.attention:extract_attention",
    "query_key": "plm_core.attention:query_key",
    "mask_and_predict": "plm_core.masking:mask_and_predict",
    "occlusion_sweep": "plm_core.masking:occlusion_sweep",
    "compare_texts": "plm_core.compare:compare_texts",
    "compare_models": "plm_core.compare:compare_models",
    "token_embeddings": "plm_core.lessons.compute:token_embeddings",
    "attention_steps": "plm_core.lessons.compute:attention_steps",
    "mask_lesson": "plm_core.lessons.compute:mask_lesson",
    "lesson_occlusion": "plm_core.lessons.compute:occlusion",
    "lesson_bias_probe": "plm_core.lessons.compute:bias_probe",
    "embed": "plm_core.inference:embed",
    # gradients, sampling and data-set work (not merged into batches)
    "attribute": "plm_core.attribution:attribute",
    "estimate_seconds": "plm_core.attribution:estimate_seconds",
    "attribution_difference": "plm_core.ops:attribution_difference",
    "train_head": "plm_core.ops:train_head",
    "classify": "plm_core.lessons.finetune:classify",
    "probe_templates": "plm_core.bias.templates:probe_templates",
    "score_pairs": "plm_core.bias.crows_pairs:score_pairs",
    "score_rows": "plm_core.bias.bec_pro:score_rows",
    "run_seat": "plm_core.bias.seat:run_seat",
    # tokenizer only
    "encode": "plm_core.ops:encoding",
    "token_count": "plm_core.ops:token_count",
    "word_pieces": "plm_core.lessons.compute:word_pieces",
}
# no forward pass: always run where the caller is (every app process holds the tokenizer)
TOKENIZER_OPS = frozenset({"encode", "token_count", "word_pieces"})
# one forward pass (or a few), no gradients, no global state: several sessions' calls may share a batch
FORWARD_OPS = frozenset({"predict", "extract_attention", "query_key", "mask_and_predict", "occlusion_sweep",
                         "compare_texts", "compare_models", "token_embeddings", "attention_steps", "mask_lesson",
                         "lesson_occlusion", "lesson_bias_probe", "embed", "classify", "estimate_seconds"})

def resolve(op: str) -> Callable[..., Any]:
    """The function behind ``op`` (looked up on its module at each call, so a patched module is honoured).

    Raises:
        UnknownMethodError: ``op`` is not in :data:`OPS`.
    """
    try:
        module, name = OPS[op].split(":")
    except KeyError:
        raise UnknownMethodError(op, available=sorted(OPS)) from None
    return getattr(importlib.import_module(module), name)


def run_op(op: str, get_handle: Callable[[ModelSpec], ModelHandle], spec: ModelSpec, args: Sequence[Any] = (),
           kwargs: dict[str, Any] | None = None) -> Any:
    """Run ``op`` on ``get_handle(spec)``; ModelSpec arguments become handles through ``get_handle`` too."""
    fn = resolve(op)
    args = [get_handle(a) if isinstance(a, ModelSpec) else a for a in args]
    return fn(get_handle(spec), *args, **(kwargs or {}))


# ------------------------------------------------------------------ small compositions the pages need


def encoding(handle: ModelHandle, text: str, text_pair: str | None = None, **kwargs: Any):
    """``tokens.encode`` without the tensors (the Encoding only: picklable, cacheable)."""
    from plm_core.tokens import encode

    return encode(handle, text, text_pair, **kwargs)[0]


def token_count(handle: ModelHandle, text: str, text_pair: str | None = None) -> int:
    """Number of tokens ``text`` gives (0 when it gives none or cannot be encoded)."""
    from plm_core.errors import PlmCoreError

    try:
        return len(encoding(handle, text, text_pair))
    except PlmCoreError:
        return 0


def attribution_difference(handle: ModelHandle, text_a: str, text_b: str, method: str):
    """Attribute both sentences of a text comparison with one target (``compare.attribution_difference``)."""
    from plm_core.compare import attribution_difference as diff, compare_texts

    return diff(handle, compare_texts(handle, text_a, text_b), method)


def train_head(handle: ModelHandle, examples: str):
    """Lesson 5: parse the labelled examples and fit the head on the frozen encoder."""
    from plm_core.lessons import finetune

    return finetune.train_head(handle, finetune.parse_examples(examples))


# ------------------------------------------------------------------ several sessions' calls in one pass


def predict_many(handle: ModelHandle, texts: Sequence[str], *, top_k: int = 10) -> list[Any]:
    """``predict(handle, text, top_k=top_k)`` for each text in ONE padded forward pass.

    Each item equals its own ``predict`` call (right padding with the attention mask: the padded positions
    get zero weight, so only float rounding of the larger matrix products differs). An item that
    ``predict`` would refuse is returned as that exception instead of a Prediction.

    Returns:
        one Prediction (or PlmCoreError) per text, in order.
    """
    import torch

    from plm_core.errors import PlmCoreError
    from plm_core.inference import class_labels, forward, mask_positions, mean_pool, predict, top_tokens
    from plm_core.tokens import encode
    from plm_core.types import Prediction

    out: list[Any] = [None] * len(texts)
    encodings, rows, types = [], [], False
    with handle.lock:
        for i, text in enumerate(texts):
            try:
                enc, batch = encode(handle, text)
            except PlmCoreError as err:
                out[i] = err
                continue
            if handle.kind == "masked_lm" and not mask_positions(handle, enc):
                try:
                    predict(handle, text, top_k=top_k)  # raises its own message
                except PlmCoreError as err:
                    out[i] = err
                    continue
            encodings.append((i, enc))
            rows.append(batch["input_ids"][0])
            types = types or "token_type_ids" in batch
        if not rows:
            return out
        n = max(len(r) for r in rows)
        pad = handle.tokenizer.pad_token_id if handle.tokenizer.pad_token_id is not None else 0
        ids = torch.full((len(rows), n), pad, dtype=torch.long)
        mask = torch.zeros((len(rows), n), dtype=torch.long)
        for r, row in enumerate(rows):
            ids[r, : len(row)] = row
            mask[r, : len(row)] = 1
        batch = _Batch({"input_ids": ids, "attention_mask": mask})
        if types:  # one sentence each: segment 0 everywhere
            batch["token_type_ids"] = torch.zeros_like(ids)
        res = forward(handle, batch, output_hidden_states=handle.kind == "encoder")
    kind, model_id = handle.kind, handle.model_id
    for r, (i, enc) in enumerate(encodings):
        if kind == "classifier":
            probs = torch.softmax(res.logits[r].float(), -1).cpu().numpy().astype(np.float32)
            out[i] = Prediction(model_id, kind, enc, labels=class_labels(handle), probs=probs)
        elif kind == "masked_lm":
            dists = tuple(top_tokens(handle, res.logits[r, p], p, top_k) for p in mask_positions(handle, enc))
            out[i] = Prediction(model_id, kind, enc, distributions=dists)
        elif kind == "causal_lm":
            last = len(enc) - 1
            out[i] = Prediction(model_id, kind, enc, distributions=(top_tokens(handle, res.logits[r, last], last, top_k),))
        else:
            hidden = res.hidden_states[-1][r : r + 1]
            emb = mean_pool(hidden, mask[r : r + 1].to(hidden.device))[0]
            out[i] = Prediction(model_id, kind, enc, embedding=emb.float().cpu().numpy())
    return out


class _Batch(dict):
    def to(self, device):  # inference.forward calls batch.to(device)
        return _Batch({k: v.to(device) for k, v in self.items()})


# ops with a merged implementation: (args of each call) -> one pass; used by the Ray replica's batch handler
def _merge_predict(handle: ModelHandle, calls: Sequence[tuple[tuple, dict]]) -> list[Any] | None:
    """Merge ``predict(handle, text[, None], top_k=k)`` calls that share ``top_k`` and have no pair/limit."""
    simple = [(a, k) for a, k in calls if len(a) == 1 or (len(a) == 2 and a[1] is None)]
    if len(simple) != len(calls) or len({k.get("top_k", 10) for _, k in calls}) != 1 or any(
            set(k) - {"top_k"} for _, k in calls):
        return None
    return predict_many(handle, [a[0] for a, _ in calls], top_k=calls[0][1].get("top_k", 10))


MERGED: dict[str, Callable[[ModelHandle, Sequence[tuple[tuple, dict]]], list[Any] | None]] = {
    "predict": _merge_predict,
}
