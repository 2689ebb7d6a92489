"""The feed-forward half of a layer: which neurons fire for a token, and what each one writes.

An FFN block is ``W_out · act(W_in · x)`` (gated in Llama: ``W_down · (act(W_gate x) ⊙ W_up x)``): neuron i's
activation ``a_i`` scales its output vector ``v_i`` (column i of W_out), and the block writes
``Σ_i a_i v_i + b`` into the residual stream. Geva et al. (2021), "Transformer Feed-Forward Layers Are
Key-Value Memories", read each ``v_i`` in the vocabulary: the tokens it promotes are the top of ``E v_i``. Here
``v_i`` goes through the same read-out as the contributions (:mod:`plm_core.contributions`: every norm after
the block with its scale frozen at the real run, then the LM head), so a neuron's effect on a logit is
``a_i · readout(v_i)`` and the neurons' effects plus the bias add up to the block's contribution.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from plm_core.contributions import (
    _weight_cols,
    capture,
    decompose,
    direction,
    encode_input,
    layout,
    leading_space,
    n_layers,
    read_position,
    readout,
    resolve_token,
    stack_tokens,
    sub_module,
)
from plm_core.display import token_text
from plm_core.errors import InvalidInputError
from plm_core.i18n import msg
from plm_core.handle import ModelHandle
from plm_core.types import Encoding

RankBy = Literal["activation", "effect"]


@dataclass(frozen=True)
class FFNView:
    """The top neurons of one FFN block at one token.

    ``neurons``: ids of the top ``k`` neurons; ``activations``/``effects``: float32 ``[k]`` (effect = a_i ·
    readout(v_i) on the explained logit); ``promoted``: ``[k][n_vocab]`` tokens each neuron's output vector
    promotes most, with ``promoted_scores`` float32 ``[k, n_vocab]`` (logit per unit of activation).
    ``block_total`` = Σ over every neuron's effect + ``bias_effect``; it equals the FFN entry of the
    contributions (checked: ``max_abs_diff``).
    """

    model_id: str
    encoding: Encoding
    layer: int  # 0-based
    position: int  # in the stack's tokens
    token: str
    target_id: int
    target_token: str
    n_neurons: int
    neurons: tuple[int, ...]
    activations: np.ndarray
    effects: np.ndarray
    promoted: tuple[tuple[str, ...], ...]
    promoted_scores: np.ndarray
    block_total: float
    bias_effect: float
    max_abs_diff: float  # |Σ effects + bias − the contributions' FFN entry|
    rank_by: RankBy = "activation"
    notes: tuple[str, ...] = ()


def ffn_view(handle: ModelHandle, text: str, layer: int, *, position: int | None = None, word: str | None = None,
             text_pair: str | None = None, top_k: int = 10, n_vocab: int = 8, rank_by: RankBy = "activation",
             max_tokens: int | None = None) -> FFNView:
    """The neurons of FFN block ``layer`` (0-based) at ``position`` of the stack the head reads (default: where
    the model predicts), ranked by |activation| or by |effect| on logit(``word``) (default: the top prediction
    at that position).

    Returns:
        :class:`FFNView` with ``[k]`` activations and effects and ``[k][n_vocab]`` promoted tokens.

    Raises:
        InvalidInputError: empty text, a layer or position that does not exist.
        UnsupportedModelError: a model without an LM head or with unmapped blocks.

    Method: Geva et al. (2021), read through the frozen read-out of the contributions.
    """
    lay = layout(handle)
    encoding = encode_input(handle, text, text_pair, max_tokens=max_tokens)
    n = n_layers(handle, lay)
    if not 0 <= layer < n:
        raise InvalidInputError(msg("there is no layer {layer}", layer=layer + 1))
    tokens = stack_tokens(handle, encoding)
    if position is None:
        position, _ = read_position(handle, encoding)
    if not 0 <= position < len(tokens):
        raise InvalidInputError(msg("there is no token {position}", position=position + 1))
    offset = len(encoding) - len(tokens)
    cap = capture(handle, lay, encoding, position, values=False)
    contrib = decompose(handle, lay, encoding, position, position + offset, cap, word, None, sources=False)
    j = next(i for i, s in enumerate(lay.sublayers) if s.kind == "ffn")
    key = (layer, j)
    ro = readout(handle, lay, cap)
    notes: list[str] = []
    target = resolve_token(handle, word, cap.logits, leading_space=leading_space(handle, encoding), notes=notes)
    d = direction(ro.n_vocab, target, None)
    down = sub_module(handle, lay, lay.sublayers[j], layer)
    w = _weight_cols(down)  # [hidden, d_ff]
    entry = layer * len(lay.sublayers) + j
    acts = cap.z[key]  # [d_ff]
    per_unit = ro.project(w.T, entry, d)  # [d_ff]: logit per unit of activation
    effects = acts * per_unit
    bias = getattr(down, "bias", None)
    bias_effect = float(ro.project(bias.detach().double().cpu()[None], entry, d)[0]) if bias is not None else 0.0
    total = float(effects.sum()) + bias_effect
    order = (acts.abs() if rank_by == "activation" else effects.abs()).argsort(descending=True)[:top_k]
    top = order.tolist()
    vocab_scores = ro.project(w.T[top], entry)  # [k, vocab]
    v_top = vocab_scores.topk(min(n_vocab, vocab_scores.shape[-1]), dim=-1)
    promoted = tuple(tuple(token_text(handle, int(i)) for i in row) for row in v_top.indices.tolist())
    return FFNView(
        model_id=handle.model_id, encoding=encoding, layer=layer, position=position, token=tokens[position],
        target_id=target, target_token=token_text(handle, target), n_neurons=int(acts.shape[0]),
        neurons=tuple(top), activations=acts[top].numpy().astype(np.float32),
        effects=effects[top].numpy().astype(np.float32), promoted=promoted,
        promoted_scores=v_top.values.numpy().astype(np.float32), block_total=total, bias_effect=bias_effect,
        max_abs_diff=abs(total - float(contrib.ffn[layer])), rank_by=rank_by, notes=tuple(notes))

