"""One record per attribution method: :class:`MethodSpec` and the registry :data:`METHOD_SPECS`.

Every fact about a method (its function, label, whether it reads a baseline, whether its scores add up,
whether it samples, whether it changes the shared model, what it costs, which pages offer it) lives here,
once; the name list, the page choices, the quality message and the time estimate derive from it. The shape
follows inseq's ``FeatureAttribution`` (``method_name``, ``use_baselines``, ``use_attention_weights``) and
captum's per-method ``has_convergence_delta()``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np
import torch

from plm_core.attribution import methods as _m
from plm_core.errors import UnsupportedModelError
from plm_core.i18n import msg
from plm_core.handle import ModelHandle
from plm_core.inference import model_inputs
from plm_core.kinds import ClassifierAdapter
from plm_core.types import Encoding

MethodFn = Callable[[_m.Context], tuple[np.ndarray, dict[str, object]]]
CostFn = Callable[[int, "int | None", "int | None"], float]
"""(n_tokens, n_steps, n_samples) -> passes of the model over the input (a backward ≈ 2 forwards)."""

_GRAD = 3.0  # one forward and its backward, in forwards

ENCODER_DECODER_ATTENTION = msg(
    "attention scores read one self-attention over all input tokens; an encoder-decoder splits its "
    "input between the encoder and the decoder (see its three attention stacks on the Attention page): "
    "use a gradient method (Integrated Gradients, Gradient × Input, Saliency) instead")


@dataclass(frozen=True)
class MethodSpec:
    """Everything the app knows about one attribution method.

    Attributes:
        fn: ``fn(ctx) -> (scores float [query], info)`` (:mod:`plm_core.attribution.methods`).
        label: display name (``msg``-marked; ``tr`` it at display).
        uses_baseline: compares the input with a baseline (its result records the baseline and f(baseline)).
        completeness: scores should add up to f(x) − f(baseline) (Sundararajan et al. 2017; Shapley
            "efficiency"): the result carries the completeness error.
        sampling: draws random samples: seeded, under the process-wide RNG lock, capped by ``max_samples``.
        changes_model: puts hooks on the shared model for the whole call (the handle's lock is held).
        attention: reads attention weights, not gradients (eager attention, no grad, no encoder-decoder).
        cost: passes over the input one call takes, ``cost(n_tokens, n_steps, n_samples)``.
        steps: integrates along the baseline→input path with ``n_steps`` (None = "auto": adaptive, the path
            probed first with forward passes; its result reports the strategy).
        generation_step: offered per generated token on the Generation page.
        compare: offered by the Compare page's attribution difference (one gradient pass or IG).
        note: what to expect before it runs (shown under the method picker), or None.
    """

    fn: MethodFn
    label: str
    uses_baseline: bool
    completeness: bool
    sampling: bool
    changes_model: bool
    attention: bool
    cost: CostFn
    steps: bool = False
    generation_step: bool = False
    compare: bool = False
    note: str | None = None


# model kinds whose attention-based attribution reads the one row the head pools (KindAdapter.query_row), whatever
# the target; any other kind reads the explained token's row (or every row when the target has no position)
POOLED_ROW_KINDS: frozenset[str] = frozenset({ClassifierAdapter.name})


def attention_rows(handle: ModelHandle, position: int | None, encoding: Encoding) -> list[int]:
    """Query rows (indices into ``encoding``) whose attention an attention-based attribution reads for the target
    at ``position`` (:data:`POOLED_ROW_KINDS`)."""
    if handle.kind in POOLED_ROW_KINDS:
        return [handle.adapter.query_row(handle, encoding)]
    return [position] if position is not None else list(range(len(encoding)))


def _attention_method(rollout: bool) -> MethodFn:
    def run(ctx: _m.Context) -> tuple[np.ndarray, dict[str, object]]:
        from plm_core.attention import attention_rollout, run_with_attention

        handle, obj = ctx.handle, ctx.obj
        enc = obj.encoding
        if handle.arch.encoder_decoder:
            raise UnsupportedModelError(ENCODER_DECODER_ATTENTION)
        # model_inputs adds token types only where the model reads them (not RoBERTa's single type)
        attentions = run_with_attention(handle, model_inputs(handle, [enc]))
        weights = torch.stack([a[0] for a in attentions]).float().cpu().numpy()  # [layer, head, query, key]
        rows = attention_rows(handle, obj.position, enc)
        if rollout:
            flow = attention_rollout(weights)[-1]  # [query, key]
        else:
            flow = weights[-1].mean(0)
        return flow[rows].mean(0).astype(np.float32), {"query_rows": ",".join(map(str, rows))}

    run.__doc__ = ("Attention rollout (Abnar & Zuidema, 2020) of the last layer" if rollout else
                   "Last-layer attention, averaged over heads") + ", from the position(s) the target reads."
    return run


def _ig_cost(n: int, n_steps: int | None, n_samples: int | None) -> float:
    # auto IG: the forward probe (9 points) and, typically, the fixed rule's 50 gradients (MiniLM)
    return _GRAD * (n_steps or _m.FIXED_STEPS) + 2 + (0 if n_steps else _m.PATH_INTERVALS + 1)


def _one_gradient(n: int, n_steps: int | None, n_samples: int | None) -> float:
    return _GRAD + 2


def _sampled(typical: int, per_sample: float) -> CostFn:
    # adaptive sample counts: typically ``typical`` (GradientSHAP on MiniLM reaches its maximum of 512 often)
    return lambda n, n_steps, n_samples: per_sample * (n_samples or typical) + 2


def _forward_once(n: int, n_steps: int | None, n_samples: int | None) -> float:
    return 3


_GRADIENT_SHAP_NOTE = msg(
    "GradientSHAP averages gradients at random points between the baseline and the input, so its scores "
    "add up only on average: where the output changes sharply along the way, the sum can stay far from "
    "the total even at 512 samples. The line under its result gives the error measured; Integrated "
    "Gradients explains the same change with a controlled error.")

METHOD_SPECS: Mapping[str, MethodSpec] = MappingProxyType({
    "integrated_gradients": MethodSpec(
        _m.integrated_gradients, msg("Integrated Gradients"), uses_baseline=True, completeness=True,
        sampling=False, changes_model=False, attention=False, cost=_ig_cost, steps=True, generation_step=True,
        compare=True),
    "input_x_gradient": MethodSpec(
        _m.input_x_gradient, msg("Gradient × Input"), uses_baseline=False, completeness=False, sampling=False,
        changes_model=False, attention=False, cost=_one_gradient, generation_step=True, compare=True),
    "saliency": MethodSpec(
        _m.saliency, msg("Saliency"), uses_baseline=False, completeness=False, sampling=False,
        changes_model=False, attention=False, cost=_one_gradient, generation_step=True, compare=True),
    "deeplift": MethodSpec(
        _m.deeplift, "DeepLift", uses_baseline=True, completeness=True, sampling=False,
        changes_model=True, attention=False, cost=lambda n, s, k: 2 * _GRAD + 2),
    "gradient_shap": MethodSpec(
        _m.gradient_shap, "GradientSHAP", uses_baseline=True, completeness=True, sampling=True,
        changes_model=False, attention=False, cost=_sampled(256, _GRAD), note=_GRADIENT_SHAP_NOTE),
    "occlusion": MethodSpec(
        _m.occlusion, msg("Occlusion (token ablation)"), uses_baseline=True, completeness=False, sampling=False,
        changes_model=False, attention=False, cost=lambda n, s, k: n + 3, generation_step=True),
    "kernel_shap": MethodSpec(
        _m.kernel_shap, "KernelSHAP", uses_baseline=True, completeness=True, sampling=True,
        changes_model=False, attention=False, cost=_sampled(2 * 128, 1.0)),
    "lime": MethodSpec(
        _m.lime, "LIME", uses_baseline=True, completeness=False, sampling=True,
        changes_model=False, attention=False, cost=_sampled(2 * 128, 1.0)),
    "attention_last_layer": MethodSpec(
        _attention_method(rollout=False), msg("Attention (last layer)"), uses_baseline=False,
        completeness=False, sampling=False, changes_model=False, attention=True, cost=_forward_once),
    "attention_rollout": MethodSpec(
        _attention_method(rollout=True), msg("Attention rollout"), uses_baseline=False, completeness=False,
        sampling=False, changes_model=False, attention=True, cost=_forward_once, generation_step=True),
})
"""Every attribution method by name, in the order pages list them."""


def methods_where(**facts: bool) -> tuple[str, ...]:
    """Names of the methods whose spec has every given fact, in registry order,
    e.g. ``methods_where(completeness=True)``."""
    return tuple(name for name, spec in METHOD_SPECS.items()
                 if all(getattr(spec, k) == v for k, v in facts.items()))
