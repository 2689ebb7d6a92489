"""Embedding maps: sentence embeddings (any layer, mean-pooled) or rows of the input embedding table, projected
to 2-D, with nearest neighbours by cosine and a word-analogy probe on the input embedding table.

Projections are scikit-learn's: ``PCA`` (Pearson 1901) and ``TSNE`` (van der Maaten & Hinton 2008); UMAP
(McInnes et al. 2018) when the ``umap-learn`` package is installed (it is optional, not in requirements.txt).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch

from plm_core.classroom import token_cap
from plm_core.errors import InvalidInputError, clip, excerpt
from plm_core.i18n import msg
from plm_core.inference import mean_pool, tokenize
from plm_core.handle import ModelHandle
from plm_core.tokens import clean_text

Projection = Literal["pca", "tsne", "umap"]
MAX_POINTS = 5_000  # t-SNE on more is minutes on a CPU


def projections() -> dict[Projection, str | None]:
    """Each projection with None when it is available, else why not."""
    try:
        import umap  # noqa: F401
        why = None
    except ImportError:
        why = msg("UMAP needs the optional package umap-learn (pip install umap-learn); PCA and t-SNE are offered")
    return {"pca": None, "tsne": None, "umap": why}


def sentence_embeddings(handle: ModelHandle, texts: Sequence[str], layer: int | None = None,
                        batch_size: int = 32) -> np.ndarray:
    """Mean-pooled, L2-normalised token vectors of each text: float32 ``[text, hidden]``.

    Args:
        layer: ``None`` = the last layer's output (the sentence embedding sentence-transformers computes);
            ``0`` = the embedding layer's output, ``1 … n_layers`` = that layer's output (``hidden_states``).

    Raises:
        InvalidInputError: no texts, or a layer out of range.
    """
    if not texts:
        raise InvalidInputError(msg("no sentences to embed"))
    if layer is not None and not 0 <= layer <= handle.n_layers:
        raise InvalidInputError(msg("layer {layer} is out of range 0–{n}", layer=layer, n=handle.n_layers))
    limit = token_cap(handle.max_tokens)
    cleaned = [clean_text(t)[0] for t in texts]
    out = []
    for start in range(0, len(cleaned), batch_size):
        batch = tokenize(handle, cleaned[start:start + batch_size], padding=True, truncation=True, max_length=limit,
                         return_tensors="pt")
        if layer is None:
            hidden = handle.adapter.last_hidden(handle, batch)
        else:
            hidden = handle.adapter.layer_states(handle, batch)[layer]  # the stack that reads the input
        out.append(mean_pool(hidden.float(), batch["attention_mask"].to(hidden.device)).cpu().numpy())
    return np.concatenate(out).astype(np.float32)


def input_embedding_table(handle: ModelHandle) -> torch.Tensor:
    """The model's input (token) embedding matrix, float32 ``[vocab, hidden]`` on the CPU (a copy)."""
    with handle.lock:
        return handle.model.get_input_embeddings().weight.detach().float().cpu().clone()


def word_ids(handle: ModelHandle, words: Sequence[str]) -> list[int]:
    """The one vocabulary id of each word (a word after a space where the vocabulary spells it so).

    Raises:
        InvalidInputError: a word that is several tokens (a static embedding of it is not one row).
    """
    from plm_core.display import spacing_scheme, token_texts

    spaced = spacing_scheme(handle.tokenizer).space_in_piece
    out = []
    for word in words:
        w = word.strip()
        with handle.lock:
            ids = handle.tokenizer(" " + w if spaced else w, add_special_tokens=False)["input_ids"]
        if len(ids) != 1:
            raise InvalidInputError(msg("{word} is {n} tokens for this tokenizer ({pieces}): the input embedding "
                                        "table has one row per token, so choose single-token words",
                                        word=excerpt(w), n=len(ids), pieces=clip(" ".join(token_texts(handle, ids[:8])))))
        out.append(int(ids[0]))
    return out


def project(x: np.ndarray, method: Projection = "pca", seed: int = 0) -> np.ndarray:
    """2-D coordinates of the rows of ``x`` (float ``[point, dim]``): float64 ``[point, 2]``.

    Raises:
        InvalidInputError: fewer than 3 points, more than :data:`MAX_POINTS`, or an unavailable method.
    """
    n = len(x)
    if n < 3:
        raise InvalidInputError(msg("a map needs at least 3 points; there are {n}", n=n))
    if n > MAX_POINTS:
        raise InvalidInputError(msg("{n:,} points: a map here shows at most {limit:,}", n=n, limit=MAX_POINTS))
    why = projections().get(method, msg("unknown projection {method}", method=excerpt(str(method))))
    if why is not None:
        raise InvalidInputError(why)
    x = np.asarray(x, np.float64)
    if method == "pca":
        from sklearn.decomposition import PCA

        return PCA(n_components=2, random_state=seed).fit_transform(x)
    if method == "tsne":
        from sklearn.manifold import TSNE

        return TSNE(n_components=2, perplexity=min(30.0, (n - 1) / 3), init="pca", random_state=seed,
                    metric="cosine").fit_transform(x)
    import umap

    return umap.UMAP(n_components=2, n_neighbors=min(15, n - 1), metric="cosine", random_state=seed).fit_transform(x)


def cosine_matrix(x: np.ndarray, y: np.ndarray | None = None) -> np.ndarray:
    """Cosine similarity of every row of ``x`` with every row of ``y`` (default ``x``): ``[x, y]``."""
    a = np.asarray(x, np.float64)
    b = a if y is None else np.asarray(y, np.float64)
    a = a / np.maximum(np.linalg.norm(a, axis=-1, keepdims=True), 1e-12)
    b = b / np.maximum(np.linalg.norm(b, axis=-1, keepdims=True), 1e-12)
    return a @ b.T


def nearest_neighbours(x: np.ndarray, index: int, k: int = 5) -> list[tuple[int, float]]:
    """The ``k`` rows of ``x`` most similar to row ``index`` by cosine (itself left out): (row, cosine),
    most similar first; ties by row."""
    sims = cosine_matrix(x[index:index + 1], x)[0]
    order = sorted((i for i in range(len(x)) if i != index), key=lambda i: (-sims[i], i))
    return [(i, float(sims[i])) for i in order[:k]]


@dataclass(frozen=True)
class Analogy:
    """``a − b + c`` on the input embedding table and its nearest tokens."""

    words: tuple[str, str, str]
    ids: tuple[int, int, int]
    tokens: tuple[str, ...]  # nearest tokens (a, b and c left out, as Mikolov et al. 2013 do)
    token_ids: tuple[int, ...]
    cosines: tuple[float, ...]


def analogy(handle: ModelHandle, a: str, b: str, c: str, k: int = 10) -> Analogy:
    """The tokens nearest (cosine) to ``E[a] − E[b] + E[c]`` in the input embedding table ``E`` — "king − man +
    woman" (Mikolov et al. 2013) on a subword vocabulary, where it is weaker than on Word2Vec's word vectors.

    Raises:
        InvalidInputError: a word that is not one token.
    """
    from plm_core.display import token_texts

    ids = word_ids(handle, [a, b, c])
    table = input_embedding_table(handle).double()
    query = table[ids[0]] - table[ids[1]] + table[ids[2]]
    sims = torch.nn.functional.cosine_similarity(table, query[None], dim=-1)
    sims[ids] = -2.0
    with handle.lock:
        special = set(handle.tokenizer.all_special_ids)
    for s in special:
        if s < len(sims):
            sims[s] = -2.0
    values, top = sims.topk(k)
    top_ids = [int(i) for i in top]
    return Analogy((a.strip(), b.strip(), c.strip()), tuple(ids), tuple(token_texts(handle, top_ids, apart=True)),
                   tuple(top_ids), tuple(float(v) for v in values))


__all__ = ["Analogy", "MAX_POINTS", "analogy", "cosine_matrix", "input_embedding_table", "nearest_neighbours",
           "project", "projections", "sentence_embeddings", "word_ids"]
