"""Forward passes shared by every page: predictions of each model kind and sentence embeddings.

The one place for device moves and no-grad forwards (encode → forward under the lock → plain data).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch

from plm_core.errors import InvalidInputError, UnsupportedModelError
from plm_core.loading import ModelHandle
from plm_core.tokens import clean_token, clean_text, encode, no_mask_message
from plm_core.types import Encoding, Prediction, TokenDistribution


def forward(handle: ModelHandle, batch, **kwargs):
    """Run the shared model on a CPU batch under its lock, without gradients."""
    with handle.lock, torch.inference_mode():
        return handle.model(**batch.to(handle.device), **kwargs)


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
    with handle.lock:
        tokens = tuple(clean_token(t) for t in handle.tokenizer.convert_ids_to_tokens(ids_list))
    return TokenDistribution(position, tuple(ids_list), tokens, values.cpu().numpy().astype(np.float32))


def mean_pool(hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Mean of the token vectors where the mask is 1, L2-normalised (sentence-transformers' pooling).

    Args:
        hidden: ``[batch, query, hidden]``; attention_mask: ``[batch, query]``.
    """
    mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
    pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
    return torch.nn.functional.normalize(pooled, dim=-1)


def embed(handle: ModelHandle, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
    """Sentence embeddings (mean pooling of the last hidden layer, L2-normalised).

    Returns:
        float32 ``[batch, hidden]``; cosine similarity is then a dot product.
    """
    if not texts:
        return np.zeros((0, handle.config.hidden_size), np.float32)
    cleaned = [clean_text(t)[0] for t in texts]
    out = []
    for start in range(0, len(cleaned), batch_size):
        chunk = cleaned[start : start + batch_size]
        with handle.lock:
            batch = handle.tokenizer(chunk, padding=True, truncation=True, max_length=handle.max_tokens,
                                     return_tensors="pt")
            result = forward(handle, batch, output_hidden_states=True)
        hidden = result.hidden_states[-1]
        out.append(mean_pool(hidden, batch["attention_mask"].to(hidden.device)).float().cpu().numpy())
    return np.concatenate(out).astype(np.float32)


def predict(handle: ModelHandle, text: str, text_pair: str | None = None, *, top_k: int = 10,
            max_tokens: int | None = None) -> Prediction:
    """What the model predicts for ``text``, by kind.

    - classifier: probabilities over every label;
    - masked LM: top-k fill-ins at each mask token (each mask predicted independently);
    - causal LM: top-k next tokens after the text;
    - encoder: the sentence embedding.

    Raises:
        InvalidInputError: a masked LM input with no mask token.
    """
    with handle.lock:
        encoding, batch = encode(handle, text, text_pair, max_tokens=max_tokens)
        attention_mask = batch["attention_mask"]
        out = forward(handle, batch, output_hidden_states=handle.kind == "encoder")
    kind = handle.kind
    if kind == "classifier":
        probs = torch.softmax(out.logits[0].float(), -1).cpu().numpy().astype(np.float32)
        return Prediction(handle.model_id, kind, encoding, labels=class_labels(handle), probs=probs)
    if kind == "masked_lm":
        positions = mask_positions(handle, encoding)
        if not positions:
            raise InvalidInputError(no_mask_message(handle, encoding))
        dists = tuple(top_tokens(handle, out.logits[0, p], p, top_k) for p in positions)
        return Prediction(handle.model_id, kind, encoding, distributions=dists)
    if kind == "causal_lm":
        last = len(encoding) - 1
        return Prediction(handle.model_id, kind, encoding, distributions=(top_tokens(handle, out.logits[0, last], last, top_k),))
    emb = mean_pool(out.hidden_states[-1], attention_mask.to(out.hidden_states[-1].device))[0]
    return Prediction(handle.model_id, kind, encoding, embedding=emb.float().cpu().numpy())


def class_labels(handle: ModelHandle) -> tuple[str, ...]:
    """Label names in id order (``LABEL_i`` when the config has none)."""
    if handle.kind != "classifier":
        raise UnsupportedModelError(f"{handle.model_id} is a {handle.kind}, not a classifier")
    n = handle.config.num_labels
    names = handle.config.id2label or {}
    return tuple(str(names.get(i, f"LABEL_{i}")) for i in range(n))


def lm_body_and_head(model: torch.nn.Module) -> tuple[torch.nn.Module, Callable[[torch.Tensor], torch.Tensor]] | None:
    """(base model, head on [..., hidden] -> [..., vocab]) for BERT, RoBERTa, DistilBERT and GPT-2 LMs, else None.

    Lets a caller run the vocabulary projection only at the positions it needs (for bert-base it is ~20% of
    a forward pass).
    """
    if hasattr(model, "bert") and hasattr(model, "cls"):
        return model.bert, model.cls
    if hasattr(model, "lm_head") and hasattr(model, "roberta"):
        return model.roberta, model.lm_head
    if hasattr(model, "distilbert") and hasattr(model, "vocab_projector"):
        def head(h: torch.Tensor) -> torch.Tensor:
            return model.vocab_projector(model.vocab_layer_norm(model.activation(model.vocab_transform(h))))
        return model.distilbert, head
    if hasattr(model, "transformer") and hasattr(model, "lm_head"):
        return model.transformer, model.lm_head
    return None


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    """Cosine similarity of two vectors."""
    denom = float(np.linalg.norm(a) * np.linalg.norm(b))
    return float(np.dot(a, b) / denom) if denom else 0.0
