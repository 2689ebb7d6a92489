"""Token attributions for every model kind: captum methods and attention-based scores.

``attribute(handle, text, method, target=...)`` explains one number the model computes (a class
probability, a word at a [MASK], the next token, a contrast of two words, or the cosine similarity
of a sentence encoder to a second sentence) and returns an :class:`AttributionResult`.
"""

from __future__ import annotations

import contextlib
import threading
import time
import weakref
from collections.abc import Callable

import numpy as np
import torch

from plm_core.attribution import methods as _m
from plm_core.attribution.objective import (
    Objective,
    attn_implementation,
    baseline_embeds,
    build_objective,
    default_target,
)
from plm_core.attribution.specs import (
    ENCODER_DECODER_ATTENTION,
    METHOD_SPECS,
    MethodFn,
    MethodSpec,
    methods_where,
)
from plm_core.attribution.types import (
    BASELINES,
    TARGET_KINDS,
    AttributionMethodName,
    AttributionResult,
    BaselineName,
    Target,
    TargetKind,
)
from plm_core.classroom import cap_steps
from plm_core.errors import InvalidInputError, UnknownMethodError, UnsupportedModelError, excerpt
from plm_core.inference import model_inputs, run
from plm_core.handle import ModelHandle
from plm_core.types import Encoding
from plm_core.i18n import msg
from plm_core.kinds.texts import kind_label

__all__ = [
    "ATTENTION_METHODS", "BASELINES", "COMPLETENESS_METHODS", "METHODS", "METHOD_LABELS", "METHOD_SPECS",
    "MethodSpec", "methods_where",
    "TARGET_KINDS", "AttributionMethodName", "AttributionResult", "BaselineName", "Target", "TargetKind",
    "attribute", "attribute_every_label", "default_target", "estimate_seconds", "every_label_table",
    "unavailable_baselines", "unavailable_methods",
]

# every former list of method facts, derived from the one record per method (:data:`METHOD_SPECS`)
METHODS: dict[str, MethodFn] = {name: spec.fn for name, spec in METHOD_SPECS.items()}
METHOD_LABELS: dict[str, str] = {name: spec.label for name, spec in METHOD_SPECS.items()}
# methods whose scores should add up to f(x) − f(baseline) (Shapley values do: "efficiency")
COMPLETENESS_METHODS = methods_where(completeness=True)
COMPLETENESS_WARNING = 0.05  # a completeness error above this share of |f(x) − f(baseline)| is shown as a warning
ATTENTION_METHODS = methods_where(attention=True)
_RNG_LOCK = threading.Lock()  # taken after a handle's lock, never before: no deadlock


def _deeplift_unsupported(model: torch.nn.Module, n_heads: int) -> str | None:
    """Why captum's DeepLift cannot explain ``model`` (None when it can).

    DeepLift propagates through non-linearities with rescale rules, which captum has only for the module types
    in ``SUPPORTED_NON_LINEAR`` (ReLU, ELU, Sigmoid, Tanh, Softmax, ...). Anything else non-linear (LayerNorm,
    GELU modules, and self-attention, whose softmax of query·key products is computed by functions, not
    modules) gets plain gradients, and the scores no longer add up to f(x) − f(x').
    """
    from captum.attr._core.deep_lift import SUPPORTED_NON_LINEAR
    from transformers.pytorch_utils import Conv1D

    linear = (torch.nn.Linear, torch.nn.Embedding, torch.nn.Dropout, torch.nn.Identity, Conv1D)
    other = sorted({type(m).__name__ for m in model.modules()
                    if not list(m.children()) and not isinstance(m, linear) and type(m) not in SUPPORTED_NON_LINEAR})
    if not other and n_heads <= 0:
        return None
    what = ", ".join(other)
    if n_heads > 0:  # self-attention's softmax is computed by functions, not modules
        what = (msg("{modules}, self-attention (softmax of query·key products)", modules=what) if other
                else msg("self-attention (softmax of query·key products)"))
    return msg("captum's DeepLift has rescale rules only for ReLU, Sigmoid, Tanh, Softmax and similar modules; this "
               "model also computes {modules}, so its DeepLift scores would not add up to the change of the output. "
               "Integrated Gradients explains the same change exactly.", modules=what)


def unavailable_methods(handle: ModelHandle) -> dict[str, str]:
    """Methods of :data:`METHOD_SPECS` that cannot work on this model, each with the reason (the rest can).

    A page offers only the others and lists these with their reasons; :func:`attribute` refuses them with
    the same reason (UnsupportedModelError).
    """
    out = {}
    reason = _deeplift_unsupported(handle.model, _n_heads(handle))
    if reason:
        out["deeplift"] = reason
    if handle.arch.encoder_decoder:
        out.update(dict.fromkeys(ATTENTION_METHODS, ENCODER_DECODER_ATTENTION))
    return out


def unavailable_baselines(handle: ModelHandle) -> dict[str, str]:
    """Baselines of :data:`BASELINES` this model's tokenizer cannot build, each with the reason."""
    with handle.lock:  # a shared fast tokenizer is read under the handle's lock
        ids = (("pad", handle.tokenizer.pad_token_id), ("mask", handle.tokenizer.mask_token_id))
    out = {}
    for name, token_id in ids:
        if token_id is None:
            out[name] = msg("this model's tokenizer has no {name} token", name=name)
    return out


def _n_heads(handle: ModelHandle) -> int:
    try:
        return handle.n_heads
    except (KeyError, AttributeError, TypeError, ValueError):
        return 0


@contextlib.contextmanager
def _seeded(seed: int = 0):
    """Hold the RNG lock; seed torch's and NumPy's global RNGs (captum's GradientSHAP draws from NumPy);
    restore both after."""
    with _RNG_LOCK, torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        state = np.random.get_state()
        np.random.seed(seed)
        try:
            yield
        finally:
            np.random.set_state(state)


def attribute(
    handle: ModelHandle,
    text: str,
    method: str = "integrated_gradients",
    *,
    target: Target | None = None,
    text_pair: str | None = None,
    baseline: str = "pad",
    n_steps: int | None = None,
    tolerance: float = 0.001,
    max_tokens: int | None = None,
    sdpa: bool | None = None,
    objective: Callable[[], Objective] | None = None,
    **params: int | float | str,
) -> AttributionResult:
    """Attribute one target value of ``handle``'s model to the input tokens.

    Args:
        handle: the shared model (its lock is held per pass, or for the whole call by sampling methods,
            DeepLift and the SDPA switch).
        text: the input; a masked LM target needs a mask token in it.
        method: a key of :data:`METHOD_SPECS`.
        target: what to explain; None = the model kind's default (predicted class / word / next token;
            an encoder needs ``Target("similarity", other=...)``).
        text_pair: second segment for pair classifiers (not the similarity sentence).
        baseline: "pad", "mask" or "zero" word embeddings at every non-special token.
        n_steps: integration steps (IG, captum's Gauss–Legendre rule); None = "auto"
            (:func:`plm_core.attribution.methods.integrated_gradients`): never less complete than the fixed
            50-step rule on the same input (or at float32 rounding); refines where that rule misses ``tolerance``.
        tolerance: relative completeness error auto accepts from the fixed rule and refines towards
            (default 0.1 %; the fixed 50-step rule meets it on almost every input of the embedded model).
        sdpa: run the passes with SDPA attention (same maths, no attention weights kept); None = on a
            GPU only (on this CPU it measured no faster than eager).
        objective: builds the objective instead of ``text``/``target`` (called under the lock), e.g. a
            generated token explained on its exact token ids (``plm_core.generation.attribute_step``).
        params: method settings, e.g. ``n_samples`` (GradientSHAP, KernelSHAP, LIME; absent = adaptive, up to
            ``max_samples``), ``stdevs``, ``max_steps`` (the most Clenshaw–Curtis gradients auto IG adds to its
            fixed rule, default 65; so auto computes at most 50 + ``max_steps`` gradients).

    Returns:
        AttributionResult with scores float32 [key] and the completeness numbers.

    Raises:
        UnknownMethodError, InvalidInputError (no [MASK], empty second sentence, bad baseline),
        UnsupportedModelError (target or method that does not fit the model, see :func:`unavailable_methods`).
    """
    try:
        spec = METHOD_SPECS[method]
    except KeyError:
        raise UnknownMethodError(method, available=list(METHOD_SPECS)) from None
    if baseline not in BASELINES:
        raise InvalidInputError(msg("unknown baseline {baseline}; choose one of {value}", baseline=excerpt(baseline),
                                    value=", ".join(BASELINES)))
    if not 0 < float(tolerance) < 1:
        raise InvalidInputError(msg("tolerance must be between 0 and 1 (a share), got {value}", value=tolerance))
    refused = unavailable_methods(handle).get(method)
    if refused:
        raise UnsupportedModelError(msg("{method} is not available for this model: {reason}",
                                        method=spec.label, reason=refused))
    if n_steps is not None and not 1 <= int(n_steps) <= 1024:
        raise InvalidInputError(msg('n_steps must be between 1 and 1024, got {n_steps}', n_steps=n_steps))
    if n_steps is not None:
        n_steps = cap_steps(int(n_steps))  # classroom mode's maximum
    if "n_samples" in params:
        params["n_samples"] = cap_steps(int(params["n_samples"]))
    if spec.sampling:
        params["max_samples"] = cap_steps(int(params.get("max_samples", _m.MAX_SAMPLES)))
    params["max_steps"] = cap_steps(int(params.get("max_steps", _m.DEFAULT_MAX_NODES)))  # classroom mode's maximum
    params["fixed_steps"] = cap_steps(_m.FIXED_STEPS)  # auto's reference rule: what n_steps=50 gives here
    if sdpa is None:
        sdpa = handle.device.type == "cuda"
    t0 = time.perf_counter()
    with handle.lock:
        obj = objective() if objective else build_objective(handle, text, target, text_pair, max_tokens=max_tokens)
        base = baseline_embeds(handle, obj, baseline)
    impl = "sdpa" if sdpa and not spec.attention else None
    # A shared server: the lock is taken per pass of the objective (one captum batch), so other sessions' work
    # runs between the passes of a long attribution. It is held for the whole call when the call changes the
    # shared model (DeepLift's hooks, the SDPA switch) or draws from the global RNGs (taken after the lock).
    whole_call = bool(impl) or spec.sampling or spec.changes_model
    obj.f = _per_pass_lock(handle, obj.f)
    # attributions of one model still run one at a time (their own lock): interleaved, several of them would
    # share the CPU/GPU and their autograd memory (measured: p95 ×8 on 2 cores), while a short call fits between
    with _job_lock(handle), handle.lock if whole_call else contextlib.nullcontext():
        # the global RNGs are process-wide: two models' locks do not keep their sampling apart, so only
        # sampling methods touch them, under one lock, seeded (same scores every time) and restored after
        seeded = _seeded if spec.sampling else contextlib.nullcontext
        with seeded(), attn_implementation(handle, impl):
            probe = None
            if spec.steps and not n_steps:  # auto: one forward pass along the path gives f(x'), f(x) too
                probe = _m.path_values(handle, obj.f, obj.input_embeds, base, _m.PATH_INTERVALS)
                f_x, f_b = float(probe[-1]), float(probe[0])
            else:
                with torch.no_grad():
                    f_both = obj.f(torch.cat([obj.input_embeds, base])).float().cpu()
                f_x, f_b = float(f_both[0]), float(f_both[1])
            x = obj.input_embeds.clone().requires_grad_(not spec.attention)
            ctx = _m.Context(handle, obj, x, base, f_x, f_b, float(tolerance),
                             int(n_steps) if n_steps else None, dict(params), probe)
            scores, info = spec.fn(ctx)
            used_impl = getattr(handle.config, "_attn_implementation", None)
    delta = delta_abs = delta_rel = None
    if spec.completeness:
        delta = float(np.asarray(scores, np.float64).sum()) - (f_x - f_b)
        delta_abs = abs(delta)
        delta_rel = delta_abs / max(abs(f_x - f_b), 1e-12)
    uses_baseline = spec.uses_baseline
    info = {**{k: v for k, v in params.items()}, **info, "attn_implementation": str(used_impl),
            "seconds": round(time.perf_counter() - t0, 4), "tolerance": float(tolerance)}
    result = AttributionResult(
        model_id=handle.model_id, method=method, encoding=obj.encoding, scores=np.asarray(scores, np.float32),
        target=obj.target, target_id=obj.target_id, target_label=obj.target_label,
        baseline=baseline if uses_baseline else "none", convergence_delta=delta, f_x=f_x,
        f_baseline=f_b if uses_baseline else None, delta_abs=delta_abs, delta_rel=delta_rel,
        revision=handle.revision, notes=obj.notes, params=info,
    )
    _record_speed(handle, result)
    return result


def attribute_every_label(handle: ModelHandle, text: str, method: str = "integrated_gradients", *,
                          text_pair: str | None = None, output: str = "prob",
                          **kwargs: object) -> tuple[AttributionResult, ...]:
    """:func:`attribute` once per class of a classifier ("explain every label"), in label order, each with the
    same input, method and settings: what raised or lowered each label's probability (a multi-label head: each
    label's own sigmoid) or logit.

    Args:
        output: "prob" or "logit" for every label; other keyword arguments as for :func:`attribute`.

    Returns:
        One AttributionResult per label (``target.class_id`` 0, 1, …), scores float32 [key] each.

    Raises:
        UnsupportedModelError: the model has no classes. Others as for :func:`attribute`.
    """
    if "class" not in handle.adapter.target_kinds:
        raise UnsupportedModelError(msg("explaining every label needs a classifier; {model_id} is a {kind}",
                                        model_id=handle.model_id, kind=kind_label(handle.kind)))
    labels = handle.adapter.labels(handle)
    return tuple(attribute(handle, text, method, target=Target("class", class_id=i, output=output),
                           text_pair=text_pair, **kwargs) for i in range(len(labels)))


def every_label_table(results: tuple[AttributionResult, ...] | list[AttributionResult]) -> dict[str, list]:
    """One table of every label's attribution of the same input (:func:`attribute_every_label`): a "token"
    column, then one column of scores per label (named by the label), one row per token.

    Raises:
        ValueError: the results are not of one input (different tokens).
    """
    if not results:
        return {"token": []}
    tokens = results[0].encoding.tokens
    if any(r.encoding.tokens != tokens for r in results):
        raise ValueError("every_label_table needs the results of one input")
    table: dict[str, list] = {"token": list(tokens)}
    for r in results:
        table[str(r.target.label)] = [float(v) for v in r.scores]
    return table


_JOB_LOCKS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # handle -> lock of its attribution jobs
_JOB_LOCKS_GUARD = threading.Lock()


def _job_lock(handle: ModelHandle) -> threading.Lock:
    """One attribution at a time per model (taken before the handle's lock, never after it)."""
    with _JOB_LOCKS_GUARD:
        return _JOB_LOCKS.setdefault(handle, threading.Lock())


def _per_pass_lock(handle: ModelHandle, f: Callable[[torch.Tensor], torch.Tensor]) -> Callable[[torch.Tensor], torch.Tensor]:
    """``f`` holding the handle's lock while it runs the model (its backward pass needs no lock: it reads the
    autograd graph of this call only; the model's weights do not require grad)."""
    def locked(emb: torch.Tensor) -> torch.Tensor:
        with handle.lock:
            return f(emb)
    return locked


_SPEED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # handle -> token-forwards per second


def _forward_rate(handle: ModelHandle) -> float:
    """Tokens per second of one forward pass on this handle, measured once (32 tokens, no grad; the fastest of
    3-5 passes)."""
    if handle in _SPEED:
        return _SPEED[handle]
    n = min(32, handle.max_tokens)
    with handle.lock:
        pad = int(handle.tokenizer.pad_token_id or 0)
        eos = handle.tokenizer.eos_token_id
    # pads closed by the end-of-sequence token: a BART-style classifier reads its input at the last <eos> and
    # refuses an input without one ("Each example must contain at least one <eos> token")
    ids = (pad,) * (n - 1) + (int(eos) if eos is not None else pad,)
    inputs = model_inputs(handle, [Encoding("", ("",) * n, ids, (False,) * n, (0,) * n, ((0, 0),) * n)])
    # the fastest of 3-5 timed passes (after one warm-up): one pass of a small model takes about a millisecond,
    # and a single timing on the busy shared CPU was measured up to 500x too slow (other processes ran meanwhile).
    # A large model whose passes take over a second is timed fewer times (the pauses matter less there).
    times: list[float] = []
    with handle.lock:
        run(handle, inputs)
        start = time.perf_counter()
        while len(times) < 5 and (not times or (elapsed := time.perf_counter() - start) < 0.25
                                  or (len(times) < 3 and elapsed < 1.0)):
            t0 = time.perf_counter()
            run(handle, inputs)
            times.append(time.perf_counter() - t0)
    _SPEED[handle] = n / max(min(times), 1e-6)
    return _SPEED[handle]


def estimate_seconds(handle: ModelHandle, n_tokens: int, method: str = "integrated_gradients", *,
                     n_steps: int | None = None, n_samples: int | None = None) -> float:
    """Rough wall time of ``attribute`` for an input of ``n_tokens`` (so a page can warn first).

    Counts token-forwards (a backward ≈ 2 forwards) and scales by a measured forward rate; attention
    grows with the square of the length, added as a factor.
    """
    if method not in METHOD_SPECS:
        raise UnknownMethodError(method, available=list(METHOD_SPECS))
    n = max(1, int(n_tokens))
    return float(_work(handle, n, method, n_steps, n_samples) / _forward_rate(handle))


def _work(handle: ModelHandle, n: int, method: str, n_steps: int | None, n_samples: int | None) -> float:
    """Token-forwards one call costs (a backward ≈ 2 forwards; attention adds a share growing with n)."""
    passes = METHOD_SPECS[method].cost(n, n_steps, n_samples)
    return passes * n * (1.0 + max(0, n - 32) / 512)


def _record_speed(handle: ModelHandle, result: AttributionResult) -> None:
    """Blend the rate seen in a real run into the estimate (the machine's load changes)."""
    seconds = float(result.params.get("seconds", 0) or 0)
    if seconds <= 0 or handle not in _SPEED:
        return
    steps = result.params.get("n_steps") if METHOD_SPECS[result.method].steps else None
    samples = result.params.get("n_samples")
    seen = _work(handle, len(result.encoding), result.method, steps, samples) / seconds
    _SPEED[handle] = 0.5 * _SPEED[handle] + 0.5 * seen
