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
from collections.abc import Callable, Mapping, Sequence
from typing import Any


from plm_core.errors import UnknownMethodError
from plm_core.handle import ModelHandle, ModelSpec

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
    "contextual_embeddings": "plm_core.lessons.compute:contextual_embeddings",
    "logit_lens": "plm_core.logit_lens:logit_lens",
    "logit_lens_ids": "plm_core.logit_lens:logit_lens_ids",
    # inside the model (issue 22): contributions, patching and ablation, FFN neurons
    "contributions": "plm_core.contributions:contributions",
    "patch": "plm_core.patching:patch",
    "ablate": "plm_core.patching:ablate",
    "ffn_view": "plm_core.ffn:ffn_view",
    "attribute_continuation": "plm_core.attribution.continuation:attribute_continuation",
    "attribute_rows": "plm_core.attribution.batch:attribute_rows",
    # generation step by step (the KV cache stays where the model is: a step that lands elsewhere re-reads the
    # prefix once, same tokens)
    "generation_start": "plm_core.generation:start",
    "generate_steps": "plm_core.generation:generate_steps",
    "next_distribution": "plm_core.generation:next_distribution",
    "text_distribution": "plm_core.generation:text_distribution",
    "step_attention": "plm_core.generation:step_attention",
    "attribute_step": "plm_core.generation:attribute_step",
    # gradients, sampling and data-set work (not merged into batches)
    "attribute": "plm_core.attribution:attribute",
    "attribute_every_label": "plm_core.attribution:attribute_every_label",
    "estimate_seconds": "plm_core.attribution:estimate_seconds",
    "attribution_difference": "plm_core.ops:attribution_difference",
    "train_head": "plm_core.ops:train_head",
    "classify": "plm_core.lessons.finetune:classify",
    "probe_templates": "plm_core.bias.templates:probe_templates",
    "score_pairs": "plm_core.bias.crows_pairs:score_pairs",
    "score_rows": "plm_core.bias.bec_pro:score_rows",
    "run_seat": "plm_core.bias.seat:run_seat",
    "score_bias_chunk": "plm_core.ops:score_bias_chunk",
    # tokenizer only
    "encode": "plm_core.ops:encoding",
    "token_count": "plm_core.ops:token_count",
    "word_pieces": "plm_core.lessons.compute:word_pieces",
    "chat_prompt": "plm_core.tokens:chat_prompt",
    "has_chat_template": "plm_core.tokens:has_chat_template",
}
# no forward pass: always run where the caller is (every app process holds the tokenizer)
TOKENIZER_OPS = frozenset({"encode", "token_count", "word_pieces", "chat_prompt", "has_chat_template"})
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


def attribution_difference(handle: ModelHandle, text_a: str, text_b: str, method: str, text_pair: str | None = None):
    """Attribute both sentences of a text comparison with one target (``compare.attribution_difference``);
    ``text_pair``: the second text both are read with (a pair classifier's hypothesis)."""
    from plm_core.compare import attribution_difference as diff, compare_texts

    return diff(handle, compare_texts(handle, text_a, text_b, text_pair=text_pair), method)


def train_head(handle: ModelHandle, examples: str):
    """Lesson 5: parse the labelled examples and fit the head on the frozen encoder."""
    from plm_core.lessons import finetune

    return finetune.train_head(handle, finetune.parse_examples(examples))


def score_bias_chunk(handle: ModelHandle, items: Sequence[Any], *, probe: str, config: dict[str, Any]):
    """``plm_core.bias.jobs.score_chunk`` with every probe registered: the Evaluate page's registers itself when
    :mod:`plm_core.evaluate` is imported (a Ray replica may score its chunks before anything else imported it)."""
    from plm_core import evaluate  # noqa: F401 - registers PROBES["evaluate"]
    from plm_core.bias import jobs

    return jobs.score_chunk(handle, items, probe=probe, config=config)


# ------------------------------------------------------------------ several sessions' calls in one pass


def predict_many(handle: ModelHandle, texts: Sequence[str], *, top_k: int = 10) -> list[Any]:
    """``predict(handle, text, top_k=top_k)`` for each text in ONE padded forward pass.

    Each item equals its own ``predict`` call (right padding with the attention mask: the padded positions
    get zero weight, so only float rounding of the larger matrix products differs). An item that
    ``predict`` would refuse is returned as that exception instead of a Prediction.

    Returns:
        one Prediction (or PlmCoreError) per text, in order.
    """
    from plm_core.errors import PlmCoreError
    from plm_core.inference import run
    from plm_core.tokens import encode

    adapter = handle.adapter
    out: list[Any] = [None] * len(texts)
    rows: list[tuple[int, Any]] = []
    with handle.lock:
        for i, text in enumerate(texts):
            try:
                rows.append((i, encode(handle, text)[0]))
            except PlmCoreError as err:
                out[i] = err
        if not rows:
            return out
        encodings = [enc for _, enc in rows]
        inputs = adapter.model_inputs(handle, encodings)
        res = run(handle, inputs, want=adapter.want)
    for r, (i, enc) in enumerate(rows):  # each row read out on its own, so a refusal stays that row's
        try:
            out[i] = adapter.predictions(handle, [enc], _row(res, r), _row(inputs, r), top_k, strict=True)[0]
        except PlmCoreError as err:
            out[i] = err
    return out


def _row(value: Any, r: int) -> Any:
    """Row ``r`` (kept as a batch of one) of a model output or input batch: every tensor sliced, the rest kept."""
    import torch

    if isinstance(value, torch.Tensor):
        return value[r : r + 1] if value.dim() else value
    if isinstance(value, tuple):
        return tuple(_row(v, r) for v in value)
    if isinstance(value, Mapping):  # a ModelOutput, a BatchEncoding or a dict
        return _Namespace({k: _row(v, r) for k, v in value.items()})
    return value


class _Namespace(dict):
    """A model output's fields as a dict that also reads as attributes (``out.logits``)."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


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
