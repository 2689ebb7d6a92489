"""One attention capture for every architecture, through transformers' attention interface.

Transformers 5 routes the attention of nearly every model through ``AttentionInterface``: the attention
module projects Q, K, V, applies its rotary embedding and QK-norm, and calls
``attention_function(module, query, key, value, attention_mask, scaling=..., dropout=..., **kwargs)``
(``sliding_window``, ``softcap``, T5's ``position_bias``, … in the keyword arguments). With
``config._attn_implementation == "eager"`` that function is the model file's own ``eager_attention_forward``.

:func:`capturing` switches a model, for one forward pass, to :data:`CAPTURE`, a function registered in the
interface (and in ``AttentionMaskInterface``, with the eager mask) that calls the model file's own
``eager_attention_forward`` unchanged and records what it was given: query and key as the model multiplies
them, its scale, mask and soft-capping, and the weights eager returned. So the query·key view, the neuron view
and the lessons' step-by-step attention read any model that uses the interface, without a table of module
names (transformers documents the interface: https://huggingface.co/docs/transformers/attention_interface).

:meth:`AttentionCall.probs` recomputes the weights from the record (``softmax(cap·tanh(QKᵀ·scale/cap) + bias +
mask)``, attention sinks included); a model whose eager function computes something else is refused by
:meth:`AttentionCall.check` with the measured difference — never shown as if it were the model's.
"""

from __future__ import annotations

import inspect
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field

import torch
from transformers import AttentionInterface, PretrainedConfig
from transformers.masking_utils import AttentionMaskInterface, eager_mask

from plm_core.errors import UnsupportedModelError
from plm_core import tolerances
from plm_core.i18n import msg

CAPTURE = "plm_lens_capture"  # the name registered in transformers' attention (and mask) interface

# keyword arguments of the interface that change the weights, each handled by AttentionCall.scores/probs
_KNOWN_KWARGS = {"scaling", "dropout", "softcap", "sliding_window", "position_bias", "s_aux", "sinks"}


@dataclass
class AttentionCall:
    """What one attention module handed the attention function in one forward pass (batch row 0).

    ``query [head, query, d_k]`` and ``key/value [kv_head, key, d_k]`` as the model multiplies them: rotary
    embedding and QK-norm applied, key/value heads not yet repeated for grouped-query attention.
    """

    module: torch.nn.Module
    query: torch.Tensor  # float32 [head, query, d_k]
    key: torch.Tensor  # float32 [kv_head, key, d_k]
    value: torch.Tensor  # float32 [kv_head, key, d_v]
    mask: torch.Tensor | None  # float32/bool [head or 1, query, key]: the model's own (causal, window, padding)
    scaling: float
    softcap: float | None
    bias: torch.Tensor | None  # float32 [head, query, key]: a bias the model adds to the scores (T5), or None
    sinks: torch.Tensor | None  # float32 [head]: attention-sink logits (gpt-oss), or None
    weights: torch.Tensor | None  # float32 [head, query, key]: what eager returned
    output: torch.Tensor  # float32 [query, head * d_v]: eager's attention output (heads concatenated)
    other: tuple[str, ...] = ()  # keyword arguments the recomputation does not know (refused by check())
    extra: dict = field(default_factory=dict)

    @property
    def n_heads(self) -> int:
        return int(self.query.shape[0])

    @property
    def n_kv_heads(self) -> int:
        return int(self.key.shape[0])

    def keys_per_head(self) -> torch.Tensor:
        """[head, key, d_k]: key head h // (n_heads // n_kv_heads) for query head h (grouped-query attention)."""
        return self.key.repeat_interleave(self.n_heads // self.n_kv_heads, 0)

    def values_per_head(self) -> torch.Tensor:
        return self.value.repeat_interleave(self.n_heads // self.n_kv_heads, 0)

    def hidden(self) -> torch.Tensor:
        """[head, query, key] True where the model hides a key from a query (its mask: causal, sliding window,
        padding), read from the mask it passed — never from a list of model types."""
        n, m = self.query.shape[1], self.key.shape[1]
        hidden = torch.zeros(self.n_heads, n, m, dtype=torch.bool, device=self.query.device)
        for part in (self.mask, self.bias):
            if part is None:
                continue
            if part.dtype == torch.bool:  # True = may attend
                hidden = hidden | ~part.expand(self.n_heads, n, m)
            else:
                hidden = hidden | (part <= torch.finfo(torch.float32).min / 2).expand(self.n_heads, n, m)
        return hidden

    def additive(self) -> torch.Tensor | None:
        """[head, query, key]: the finite part of what the model adds to the scores (a position bias — T5 passes
        one to every layer, zero for cross-attention —, an additive mask's finite values), or None when it adds
        nothing but the hiding mask."""
        total = None
        for part in (self.bias, self.mask):
            if part is None or part.dtype == torch.bool:
                continue
            finite = torch.where(part <= torch.finfo(torch.float32).min / 2, torch.zeros_like(part), part)
            if part is self.bias or finite.abs().max() > 0:  # a position bias is shown even where it is zero
                total = finite if total is None else total + finite
        return None if total is None else total.expand(self.n_heads, *total.shape[-2:])

    def scores(self) -> torch.Tensor:
        """[head, query, key]: ``cap·tanh(QKᵀ·scale / cap)`` (soft-capping only where the model has it, Gemma-2)
        plus the model's additive bias, −inf where its mask hides the key."""
        s = (self.query @ self.keys_per_head().transpose(-1, -2)) * self.scaling
        if self.softcap:
            s = torch.tanh(s / self.softcap) * self.softcap
        add = self.additive()
        if add is not None:
            s = s + add
        return s.masked_fill(self.hidden(), float("-inf"))

    def probs(self) -> torch.Tensor:
        """[head, query, key]: softmax of :meth:`scores` (with an attention sink as one more logit that takes
        weight but has no value, gpt-oss)."""
        s = self.scores()
        if self.sinks is None:
            return torch.softmax(s, -1)
        if self.sinks.numel() != self.n_heads:
            raise UnsupportedModelError(msg("attention sinks of {n} values for {heads} heads are not understood",
                                            n=int(self.sinks.numel()), heads=self.n_heads))
        sink = self.sinks.reshape(-1, 1, 1).expand(-1, s.shape[1], 1)
        return torch.softmax(torch.cat([s, sink], -1), -1)[..., :-1]

    def check(self, model_type: str) -> float:
        """The max |recomputed − eager| weight; raises when the recomputation is not the model's attention.

        Raises:
            UnsupportedModelError: eager returned no weights, or weights this recomputation does not reproduce
                (the model's attention function does more than scale, soft-cap, bias, mask and softmax).
        """
        if self.weights is None:
            raise UnsupportedModelError(msg("{model_type}'s attention function returned no weights", model_type=model_type))
        diff = float((self.probs() - self.weights).abs().max())
        if not diff <= tolerances.CAPTURE and self.sinks is not None:  # a sink that scales the output, not the weights
            sinks, self.sinks = self.sinks, None                 # (granite_swa): its weights are the plain softmax
            plain = float((self.probs() - self.weights).abs().max())
            if plain <= tolerances.CAPTURE:
                diff = plain
            else:
                self.sinks = sinks
        if not diff <= tolerances.CAPTURE:
            extra = msg(" (it also takes {names})", names=", ".join(self.other)) if self.other else ""
            raise UnsupportedModelError(msg(
                "{model_type}'s attention is not softmax(QKᵀ·scale + mask) of the query and key it computes: "
                "recomputed from them, the weights differ from its own by {diff:.2g}{extra}",
                model_type=model_type, diff=diff, extra=extra))
        return diff


def _eager_of(module: torch.nn.Module):
    """The ``eager_attention_forward`` of the file that defines ``module``'s class."""
    for cls in type(module).__mro__:
        fn = getattr(sys.modules.get(cls.__module__), "eager_attention_forward", None)
        if fn is not None:
            return fn
    return None


_RECORDER: ContextVar[list[AttentionCall] | None] = ContextVar("plm_lens_attention_calls", default=None)


def _row0(t: torch.Tensor | None) -> torch.Tensor | None:
    if t is None or not isinstance(t, torch.Tensor):
        return None
    t = t.detach()
    return (t[0] if t.dim() == 4 else t).float()


def _capture_attention(module, query, key, value, attention_mask, *args, **kwargs):
    """The registered attention function: the model's own eager attention, recorded when a capture is on."""
    eager = _eager_of(module)
    if eager is None:
        raise UnsupportedModelError(msg("{name} has no eager attention function to capture",
                                        name=type(module).__name__))
    out = eager(module, query, key, value, attention_mask, *args, **kwargs)
    calls = _RECORDER.get()
    if calls is not None:
        bound = inspect.signature(eager).bind(module, query, key, value, attention_mask, *args, **kwargs)
        bound.apply_defaults()
        named = {k: v for k, v in bound.arguments.items() if k not in ("module", "query", "key", "value",
                                                                         "attention_mask", "kwargs")}
        named |= bound.arguments.get("kwargs", {})
        scaling = named.get("scaling")
        if scaling is None:
            scaling = getattr(module, "scaling", None) or float(query.shape[-1]) ** -0.5
        softcap = named.get("softcap")
        sinks = named.get("s_aux", named.get("sinks"))
        if sinks is None and isinstance(getattr(module, "sinks", None), torch.Tensor):
            sinks = module.sinks
        attn_output, weights = out[0], out[1] if len(out) > 1 else None
        ignored = {"output_attentions", "position_ids", "use_cache", "cache_position", "past_key_values",
                   "past_key_value", "layer_idx", "is_causal", "head_mask", "output_hidden_states", "return_dict"}
        other = tuple(sorted(k for k, v in named.items()
                             if k not in _KNOWN_KWARGS and k not in ignored and v is not None and v is not False))
        calls.append(AttentionCall(
            module=module, query=_row0(query), key=_row0(key), value=_row0(value), mask=_row0(attention_mask),
            scaling=float(scaling), softcap=float(softcap) if softcap else None, bias=_row0(named.get("position_bias")),
            sinks=None if sinks is None else sinks.detach().float().reshape(-1),
            weights=_row0(weights),
            output=attn_output.detach()[0].float().reshape(attn_output.shape[1], -1), other=other,
            extra={"sliding_window": named.get("sliding_window")}))
    return out


AttentionInterface.register(CAPTURE, _capture_attention)
AttentionMaskInterface.register(CAPTURE, eager_mask)


def _configs(model: torch.nn.Module) -> list[PretrainedConfig]:
    seen: dict[int, PretrainedConfig] = {}
    for m in (model, *model.modules()):
        c = getattr(m, "config", None)
        if isinstance(c, PretrainedConfig):
            seen.setdefault(id(c), c)
            for name in getattr(c, "sub_configs", {}) or {}:
                sub = getattr(c, name, None)
                if isinstance(sub, PretrainedConfig):
                    seen.setdefault(id(sub), sub)
    return list(seen.values())


@contextmanager
def capturing(model: torch.nn.Module) -> Iterator[list[AttentionCall]]:
    """Within the block, every attention call of ``model`` runs through :data:`CAPTURE` and is appended, in the
    order the model makes them, to the yielded list (one entry per call: a layer shared by several depths,
    as ALBERT's, gives one entry per depth).

    The model's eager configs point to :data:`CAPTURE` for the block only; hold the handle's lock around it.
    A model that does not use the interface (XLNet, GPT-Neo) records nothing: callers refuse it.
    """
    configs = [c for c in _configs(model) if getattr(c, "_attn_implementation_internal", None) == "eager"]
    calls: list[AttentionCall] = []
    token = _RECORDER.set(calls)
    for c in configs:
        c._attn_implementation_internal = CAPTURE
    try:
        yield calls
    finally:
        for c in configs:
            c._attn_implementation_internal = "eager"
        _RECORDER.reset(token)
