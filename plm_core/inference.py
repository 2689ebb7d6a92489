"""Forward passes shared by every page: predictions of each model kind and sentence embeddings.

The one place for device moves and no-grad forwards (encode → forward under the lock → plain data).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any, Literal

import numpy as np
import torch
from transformers import BatchEncoding

from plm_core import architectures
from plm_core.errors import PlmCoreError
from plm_core.handle import ModelHandle
from plm_core.display import token_texts
from plm_core.tokens import clean_text, encode, uses_token_types
from plm_core.types import Encoding, Prediction, TokenDistribution


Want = Literal["logits", "attentions", "hidden_states"]


def model_inputs(handle: ModelHandle, rows: Sequence[Encoding]) -> dict[str, torch.Tensor]:
    """Right-padded CPU batch of several encodings, ids as given (no re-tokenization).

    The model kind decides the tensors (``handle.adapter.model_inputs``): ``input_ids``, ``attention_mask`` and,
    where the model has segment embeddings, ``token_type_ids``.
    """
    return handle.adapter.model_inputs(handle, rows)


def padded_inputs(handle: ModelHandle, rows: Sequence[Encoding]) -> dict[str, torch.Tensor]:
    """``input_ids``/``attention_mask`` (+ ``token_type_ids`` from the segments) of ``rows``, right-padded."""
    n = max(len(r) for r in rows)
    with handle.lock:
        pad = handle.tokenizer.pad_token_id if handle.tokenizer.pad_token_id is not None else 0
    ids = torch.full((len(rows), n), pad, dtype=torch.long)
    mask = torch.zeros((len(rows), n), dtype=torch.long)
    types = torch.zeros((len(rows), n), dtype=torch.long)
    for r, enc in enumerate(rows):
        ids[r, : len(enc)] = torch.tensor(enc.input_ids)
        mask[r, : len(enc)] = 1
        types[r, : len(enc)] = torch.tensor(enc.segments)
    batch = {"input_ids": ids, "attention_mask": mask}
    if uses_token_types(handle):
        batch["token_type_ids"] = types
    return batch


def tokenize(handle: ModelHandle, texts: str | Sequence[str], **kwargs: Any) -> BatchEncoding:
    """``handle.tokenizer(texts, **kwargs)`` under the handle's lock (a shared fast tokenizer raises
    "Already borrowed" when two threads use it at once)."""
    with handle.lock:
        return handle.tokenizer(texts, **kwargs)


def run(handle: ModelHandle, inputs: Mapping[str, Any] | Sequence[Encoding] | Encoding, *,
        want: Collection[Want] = ("logits",), grad: bool = False, module: torch.nn.Module | None = None,
        **kwargs: Any) -> Any:
    """The one place that calls the model: device moves, the handle's lock, and no-grad.

    Args:
        inputs: model inputs (a BatchEncoding or dict of CPU or device tensors), or encodings to batch with
            :func:`model_inputs` (right-padded).
        want: "attentions" and "hidden_states" ask the model for them (``output_attentions`` ...); logits
            come with every forward of a model with a head.
        grad: leave autograd as the caller has it (attribution builds a graph; its probes run under
            ``torch.no_grad``); otherwise ``torch.inference_mode``.
        module: run this part of the model instead of the whole (an LM body, an encoder).
        kwargs: more keyword arguments for the model (``inputs_embeds`` ...).

    Returns:
        The model's output (a transformers ModelOutput; tensors on the model's device).
    """
    if isinstance(inputs, Encoding):
        inputs = [inputs]
    if not isinstance(inputs, Mapping):
        inputs = model_inputs(handle, inputs)
    flags = {name: True for name, key in (("output_attentions", "attentions"),
                                           ("output_hidden_states", "hidden_states")) if key in want}
    with handle.lock, (contextlib.nullcontext() if grad else torch.inference_mode()):
        batch = {k: v.to(handle.device) if isinstance(v, torch.Tensor) else v for k, v in inputs.items()}
        return (module or handle.model)(**batch, **flags, **kwargs)


def forward(handle: ModelHandle, batch: Mapping[str, Any], **kwargs: Any) -> Any:
    """Run the shared model on a batch under its lock, without gradients (:func:`run` with model kwargs)."""
    return run(handle, batch, **kwargs)


def mask_positions(handle: ModelHandle, encoding: Encoding) -> list[int]:
    """Indices of the mask token in ``encoding`` (empty when the tokenizer has none)."""
    with handle.lock:
        mask_id = handle.tokenizer.mask_token_id
    return [] if mask_id is None else [i for i, t in enumerate(encoding.input_ids) if t == mask_id]


def top_tokens(handle: ModelHandle, logits: torch.Tensor, position: int, k: int) -> TokenDistribution:
    """Top-k of ``softmax(logits)`` (``logits``: [vocab]) as a TokenDistribution."""
    probs = torch.softmax(logits.float(), dim=-1)
    values, ids = probs.topk(min(k, probs.shape[-1]))
    ids_list = ids.tolist()
    tokens = token_texts(handle, ids_list, apart=True)  # takes the handle's lock
    return TokenDistribution(position, tuple(ids_list), tokens, values.cpu().numpy().astype(np.float32))


def mean_pool(hidden: torch.Tensor, attention_mask: torch.Tensor | None = None, *,
              normalize: bool = True) -> torch.Tensor:
    """Mean of the token vectors where the mask is 1, L2-normalised (sentence-transformers' ``Pooling`` with
    ``pooling_mode_mean_tokens``, then ``Normalize``). The one mean pooling of plm-lens: sentence embeddings,
    embedding maps, SEAT, the lessons' occlusion and fine-tuning features all call it.

    Args:
        hidden: ``[batch, query, hidden]``.
        attention_mask: ``[batch, query]``, 1 for a token to average, 0 for padding; None: every token.
        normalize: False for the plain mean (a classifier's features), not scaled to length 1.

    Returns:
        ``[batch, hidden]`` in ``hidden``'s dtype.
    """
    if attention_mask is None:
        attention_mask = torch.ones(hidden.shape[:2], device=hidden.device)
    mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
    pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
    return torch.nn.functional.normalize(pooled, dim=-1) if normalize else pooled


def embed(handle: ModelHandle, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
    """Sentence embeddings (mean pooling of the last hidden layer, L2-normalised; an encoder-decoder's encoder).

    Returns:
        float32 ``[batch, hidden]``; cosine similarity is then a dot product.
    """
    if not texts:
        return np.zeros((0, handle.config.hidden_size), np.float32)
    cleaned = [clean_text(t)[0] for t in texts]
    out = []
    for start in range(0, len(cleaned), batch_size):
        chunk = cleaned[start : start + batch_size]
        batch = tokenize(handle, chunk, padding=True, truncation=True, max_length=handle.max_tokens,
                         return_tensors="pt")
        hidden = handle.adapter.last_hidden(handle, batch)
        out.append(mean_pool(hidden, batch["attention_mask"].to(hidden.device)).float().cpu().numpy())
    return np.concatenate(out).astype(np.float32)


def predict(handle: ModelHandle, text: str, text_pair: str | None = None, *, top_k: int = 10,
            max_tokens: int | None = None) -> Prediction:
    """What the model predicts for ``text``; the model kind's adapter reads it out
    (``handle.adapter.predictions``):

    - classifier: probabilities over every label;
    - masked LM: top-k fill-ins at each mask token (each mask predicted independently);
    - causal LM: top-k next tokens after the text;
    - encoder: the sentence embedding.

    Raises:
        InvalidInputError: a masked LM input with no mask token.
    """
    adapter = handle.adapter
    with handle.lock:
        encoding, batch = encode(handle, text, text_pair, max_tokens=max_tokens)
        out = run(handle, batch, want=adapter.want)
    return adapter.predictions(handle, [encoding], out, batch, top_k, strict=True)[0]


def class_labels(handle: ModelHandle) -> tuple[str, ...]:
    """Label names in id order (``LABEL_i`` when the config has none).

    Raises:
        UnsupportedModelError: the model has no classes (not a classifier).
    """
    return handle.adapter.labels(handle)


def lm_body_and_head(model: torch.nn.Module) -> tuple[torch.nn.Module, Callable[[torch.Tensor], torch.Tensor]] | None:
    """(body, head on [..., hidden] -> [..., vocab]) of a language model, else None
    (:func:`plm_core.architectures.lm_body_and_head`).

    Lets a caller run the vocabulary projection only at the positions it needs (for bert-base it is ~20% of
    a forward pass).
    """
    return architectures.lm_body_and_head(model)


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    """Cosine similarity of two vectors."""
    denom = float(np.linalg.norm(a) * np.linalg.norm(b))
    return float(np.dot(a, b) / denom) if denom else 0.0


def decoder_start(handle: ModelHandle) -> int:
    """The token the decoder starts from (T5: <pad>, BART: </s>)."""
    for source in (handle.config, getattr(handle.model, "generation_config", None)):
        value = getattr(source, "decoder_start_token_id", None)
        if value is not None:
            return int(value)
    with handle.lock:
        return int(handle.tokenizer.pad_token_id or 0)


# ------------------------------------------------------------------ several sessions' calls in one pass


def predict_many(handle: ModelHandle, texts: Sequence[str], *, top_k: int = 10) -> list[Any]:
    """``predict(handle, text, top_k=top_k)`` for each text in ONE padded forward pass.

    Each item equals its own ``predict`` call (right padding with the attention mask: the padded positions
    get zero weight, so only float rounding of the larger matrix products differs). An item that
    ``predict`` would refuse is returned as that exception instead of a Prediction.

    Returns:
        one Prediction (or PlmCoreError) per text, in order.
    """
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
