"""One function per method. captum does the maths; these only wire it to an :class:`Objective`.

Every function takes the objective, the baseline word embeddings and its settings, and returns
``(scores [query], info)``, where info holds what the method reports (steps used, samples, ...).
All run under the handle's lock (taken by ``attribute``); the only one that puts hooks on the shared
model is DeepLift, whose hooks captum removes in ``finally``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from captum.attr import (
    DeepLift,
    FeatureAblation,
    GradientShap,
    InputXGradient,
    IntegratedGradients,
    KernelShap,
    Lime,
    Saliency,
)

from plm_core.attribution.objective import Objective
from plm_core.attribution.quadrature import (
    BF16_NOISE,
    LEVELS,
    NOISE,
    PROBE_INTERVALS,
    integrate_adaptive,
    locate_change,
)
from plm_core.errors import UnsupportedModelError
from plm_core.handle import ModelHandle
from plm_core import tolerances
from plm_core.settings import settings
from plm_core.i18n import msg



@dataclass
class Context:
    handle: ModelHandle
    obj: Objective
    x: torch.Tensor  # [1, query, hidden] input word embeddings
    base: torch.Tensor  # [1, query, hidden] baseline word embeddings
    f_x: float
    f_b: float
    tolerance: float
    n_steps: int | None
    params: dict[str, object]
    probe: np.ndarray | None = None  # f at PATH_INTERVALS + 1 points along the path (adaptive IG)


def memory_budget_bytes(handle: ModelHandle) -> int:
    """Bytes one batched pass may use for saved activations (env PLM_ATTRIBUTION_MEMORY_MB)."""
    mb = settings().attribution_memory_mb
    if handle.device.type == "cuda":
        free, _total = torch.cuda.mem_get_info(handle.device)
        return int(min(free * 0.5, max(mb, 4096) * 2**20))
    return int(mb * 2**20)


def bytes_per_example(handle: ModelHandle, n_tokens: int) -> int:
    """Rough activation memory of one forward+backward example (fp32), from the config."""
    cfg = handle.config
    hidden = int(getattr(cfg, "hidden_size", None) or getattr(cfg, "n_embd", None) or getattr(cfg, "dim", 768))
    n_layers, n_heads = handle.n_layers, handle.n_heads
    per_layer = n_tokens * (hidden * 18 + n_heads * n_tokens * 3) * 4
    return n_layers * per_layer + n_tokens * hidden * 16


def batch_limit(handle: ModelHandle, n_tokens: int) -> int:
    """Most examples one pass may take without passing the memory budget (at least 1)."""
    return max(1, memory_budget_bytes(handle) // bytes_per_example(handle, n_tokens))


def _per_token(attr: torch.Tensor) -> np.ndarray:
    return attr[0].float().sum(-1).detach().cpu().numpy().astype(np.float32)


def _token_mask(ctx: Context, group_fixed: bool = False) -> torch.Tensor:
    """Feature id per token ([1, query, hidden]). ``group_fixed``: the fixed tokens (specials, the [MASK])
    share one id, so KernelSHAP/LIME do not spend samples on tokens that equal their baseline."""
    n, h = ctx.x.shape[1], ctx.x.shape[2]
    ids = torch.arange(n)
    if group_fixed and bool(ctx.obj.fixed.any()) and not bool(ctx.obj.fixed.all()):
        free = ~ctx.obj.fixed
        ids = torch.zeros(n, dtype=torch.long)
        ids[free] = torch.arange(1, int(free.sum()) + 1)
    return ids.to(ctx.x.device)[None, :, None].expand(1, n, h)


def path_values(handle: ModelHandle, f: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor,
                base: torch.Tensor, n_intervals: int, *, alphas: np.ndarray | None = None) -> np.ndarray:
    """f along the straight path at α = j/n_intervals, j = 0..n (both ends included), forward only.

    Returns float64 ``[n_intervals + 1]``: the first is f(baseline), the last f(x). ``alphas``: these α
    instead (float64 [k] -> [k]).
    """
    grid = np.linspace(0.0, 1.0, n_intervals + 1) if alphas is None else np.asarray(alphas, np.float64)
    alphas_t = torch.as_tensor(grid).to(x.device, x.dtype)
    limit = batch_limit(handle, x.shape[1]) * 3  # no activations are kept for a backward
    x = x.detach()
    out = []
    with torch.no_grad():
        for chunk in alphas_t.split(limit):
            pts = base + chunk[:, None, None] * (x - base)
            pts[chunk == 1] = x  # exactly the input at α = 1
            out.append(f(pts).float().cpu())
    return torch.cat(out).numpy().astype(np.float64)


PATH_INTERVALS = PROBE_INTERVALS // 2  # first forward-only probe of f along the path (9 points; 17 if f changes locally)
FIXED_STEPS = 50  # the fixed rule auto IG is never less complete than (captum's Gauss–Legendre, 50 nodes)
DEFAULT_MAX_NODES = 65  # adaptive IG's budget of gradient evaluations (Clenshaw–Curtis 9, 17, 33, 65)


def path_gradients(ctx: Context, alphas: np.ndarray) -> np.ndarray:
    """IG's integrand at each α: ∂f/∂x(x' + α(x − x')) · (x − x'), summed over hidden, per token.

    Returns float64 ``[len(alphas), query]``; batched within the memory budget. Uses
    ``torch.autograd.grad`` (never ``.backward()``: it would accumulate into the shared parameters).
    """
    x, base = ctx.x.detach(), ctx.base.detach()
    diff = x - base
    limit = batch_limit(ctx.handle, x.shape[1])
    out = []
    for start in range(0, len(alphas), limit):
        a = torch.as_tensor(np.asarray(alphas[start:start + limit]), dtype=x.dtype, device=x.device)
        pts = (base + a[:, None, None] * diff).requires_grad_(True)
        (grad,) = torch.autograd.grad(ctx.obj.f(pts).sum(), pts)
        out.append((grad.float() * diff.float()).sum(-1).double().cpu().numpy())
    return np.concatenate(out)


def _fixed_ig(ig: IntegratedGradients, ctx: Context, steps: int) -> tuple[torch.Tensor, int]:
    """captum's IG with its Gauss–Legendre rule (= plain captum LayerIntegratedGradients on the embeddings)."""
    bs = min(steps, batch_limit(ctx.handle, ctx.x.shape[1]))
    attr = ig.attribute(ctx.x, baselines=ctx.base, n_steps=steps, method="gausslegendre", internal_batch_size=bs)
    return attr, bs


def _refined_probe(ctx: Context, probe: np.ndarray) -> np.ndarray:
    """The probe with its midpoints added (one more forward-only pass) when f changes locally along the path,
    so that the sinh map is centred on the change; else ``probe`` itself."""
    if len(probe) - 1 >= PROBE_INTERVALS or locate_change(probe)[1] >= 0.5:
        return probe
    n = len(probe) - 1
    mids = path_values(ctx.handle, ctx.obj.f, ctx.x, ctx.base, n, alphas=(np.arange(n) + 0.5) / n)
    fine = np.empty(2 * n + 1)
    fine[0::2], fine[1::2] = probe, mids
    return fine


def _memo_gradients(ctx: Context) -> Callable[[np.ndarray], np.ndarray]:
    """:func:`path_gradients` that computes each α once (a second adaptive pass reuses the first's gradients)."""
    rows: dict[float, np.ndarray] = {}

    def integrand(alphas: np.ndarray) -> np.ndarray:
        todo = np.array([a for a in np.asarray(alphas, np.float64) if float(a) not in rows])
        if todo.size:
            for a, row in zip(todo, path_gradients(ctx, todo), strict=True):
                rows[float(a)] = row
        return np.stack([rows[float(a)] for a in alphas])

    integrand.computed = rows  # type: ignore[attr-defined]
    return integrand


def integrated_gradients(ctx: Context) -> tuple[np.ndarray, dict[str, object]]:
    """Integrated Gradients (Sundararajan et al., 2017) on the word embeddings.

    With ``n_steps`` given: captum's Gauss–Legendre rule with that many steps (= plain captum).
    With ``n_steps`` None ("auto"), never less complete than captum's fixed 50-node Gauss–Legendre rule on the
    same input (up to float rounding, where two errors cannot be told apart), by construction:

    1. ``smooth``: when a forward-only probe (f at 9 points) sees f change evenly along the path, nested
       Clenshaw–Curtis rules (9 → 17 gradients) are tried first; they are kept only when their completeness
       error is at the float32 rounding level (≤ 1e-6 × Σ|scores|), where no rule is measurably better.
    2. ``fixed``: otherwise captum's fixed rule (50 Gauss–Legendre nodes, or the classroom's maximum steps when
       that is lower: what ``n_steps=50`` gives); kept when its
       completeness error is within ``tolerance`` × |f(x) − f(x')| (or the short rule of step 1, when that
       was tried and is more complete).
    3. ``refined``: otherwise error-controlled refinement (:mod:`plm_core.attribution.quadrature`: a sinh map
       centred where the probe saw f change, nested Clenshaw–Curtis 17 → 33 → 65 nodes, per-token and
       completeness error checks), and the more complete of it and the fixed rule is returned.

    ``max_steps`` (default 65) bounds the Clenshaw–Curtis gradients of steps 1 and 3 together, so auto computes
    at most 50 + ``max_steps`` gradients (plus the forward-only probe).

    ``info``: ``strategy`` (smooth / fixed / refined), ``rule`` (what the scores come from), ``n_steps``
    (every gradient computed), ``met`` (result within ``tolerance``), ``fixed_steps`` and
    ``fixed_completeness_error`` when the fixed rule ran, ``nodes``, ``level``, ``center``, ``width``,
    ``token_error`` and ``adaptive_completeness_error`` when a Clenshaw–Curtis rule ran.
    """
    ig = IntegratedGradients(ctx.obj.f)
    diff = ctx.f_x - ctx.f_b
    if ctx.n_steps:
        steps = int(ctx.n_steps)
        attr, bs = _fixed_ig(ig, ctx, steps)
        return _per_token(attr), {"n_steps": steps, "tries": 1, "internal_batch_size": bs, "rule": "gausslegendre"}
    max_nodes = max(int(ctx.params.get("max_steps", DEFAULT_MAX_NODES)), LEVELS[0] + 1)
    noise = BF16_NOISE if ctx.x.device.type == "cuda" else NOISE  # the objective autocasts to bf16 on CUDA
    probe = ctx.probe if ctx.probe is not None else path_values(ctx.handle, ctx.obj.f, ctx.x, ctx.base,
                                                                  PATH_INTERVALS)
    gradients = _memo_gradients(ctx)
    info: dict[str, object] = {"max_nodes": max_nodes, "path_probe": len(probe), "tries": 0,
                               "internal_batch_size": batch_limit(ctx.handle, ctx.x.shape[1])}

    def adaptive(probe_values: np.ndarray, tolerance: float, budget: int):
        res = integrate_adaptive(gradients, diff, probe_values, tolerance=tolerance, token_tolerance=tolerances.IG_TOKEN,
                                 max_nodes=budget, noise=noise)
        info.update(nodes=len(gradients.computed), level=res.level, center=round(res.center, 4),
                    width=round(res.width, 4), token_error=res.token_error,
                    adaptive_completeness_error=res.completeness_error, tries=int(info["tries"]) + res.tries)
        return res

    def done(strategy: str, rule: str, scores: np.ndarray, err: float) -> tuple[np.ndarray, dict[str, object]]:
        floor = noise * float(np.abs(scores).sum())
        info.update(strategy=strategy, rule=rule, met=bool(err <= ctx.tolerance * abs(diff) + floor),
                    n_steps=len(gradients.computed) + int(info.get("fixed_steps", 0)))
        return scores.astype(np.float32), info

    short = None  # f changes evenly: a short rule may be exact (tolerance 0: at the rounding level)
    if locate_change(probe)[1] >= 0.5 and max_nodes >= LEVELS[1] + 1:
        short = adaptive(probe, 0.0, LEVELS[1] + 1)
        if short.met:
            return done("smooth", "clenshaw-curtis", short.scores, short.completeness_error)
    fixed = int(ctx.params.get("fixed_steps", FIXED_STEPS))  # = n_steps=50 under the classroom cap
    attr, _ = _fixed_ig(ig, ctx, fixed)
    fixed_scores = _per_token(attr).astype(np.float64)
    fixed_err = abs(float(fixed_scores.sum()) - diff)
    info.update(fixed_steps=fixed, fixed_completeness_error=fixed_err, tries=int(info["tries"]) + 1)
    best = ("fixed", f"gausslegendre-{fixed}", fixed_scores, fixed_err)
    if short is not None and short.completeness_error < fixed_err:  # the short rule tried first won
        best = ("fixed", "clenshaw-curtis", short.scores, short.completeness_error)
    if fixed_err <= ctx.tolerance * abs(diff) + noise * float(np.abs(fixed_scores).sum()):
        return done(*best)
    refined_probe = _refined_probe(ctx, probe)  # (one more forward-only pass where f changes locally)
    # the budget counts every Clenshaw–Curtis gradient: a smooth try on the same map is reused, on another spent
    budget = max_nodes if refined_probe is probe else max_nodes - len(gradients.computed)
    if budget >= LEVELS[0] + 1:
        res = adaptive(refined_probe, ctx.tolerance, budget)
        if res.completeness_error < best[3]:
            best = ("refined", "clenshaw-curtis (sinh map)", res.scores, res.completeness_error)
        else:
            best = ("refined", best[1], best[2], best[3])
    return done(*best)


def saliency(ctx: Context) -> tuple[np.ndarray, dict[str, object]]:
    """Saliency (Simonyan et al., 2013): |∂f/∂x| summed over the hidden dimensions (L1 norm per token)."""
    return _per_token(Saliency(ctx.obj.f).attribute(ctx.x, abs=True)), {}


def input_x_gradient(ctx: Context) -> tuple[np.ndarray, dict[str, object]]:
    """Gradient × Input (Shrikumar et al., 2016), summed over hidden."""
    return _per_token(InputXGradient(ctx.obj.f).attribute(ctx.x)), {}


class _ObjectiveModule(torch.nn.Module):
    """DeepLift needs an nn.Module: this holds the shared model (no copy) and calls the objective."""

    def __init__(self, model: torch.nn.Module, f: Callable[[torch.Tensor], torch.Tensor]) -> None:
        super().__init__()
        self.model = model
        self._f = f

    def forward(self, emb: torch.Tensor) -> torch.Tensor:
        return self._f(emb)


def deeplift(ctx: Context) -> tuple[np.ndarray, dict[str, object]]:
    """DeepLift (Shrikumar et al., 2017) on the word embeddings, where the model allows it.

    captum's rescale rules cover nn.ReLU/Sigmoid/Tanh/Softmax modules; transformers compute GELU,
    softmax and LayerNorm in ways those rules do not see, so the scores then do not sum to
    f(x) − f(x'). That is checked, and such a model is reported as unsupported rather than shown.
    """
    module = _ObjectiveModule(ctx.handle.model, ctx.obj.f)
    try:
        attr = DeepLift(module).attribute(ctx.x, baselines=ctx.base)
    except (AssertionError, RuntimeError, NotImplementedError) as err:
        raise UnsupportedModelError(
            msg('DeepLift cannot run on this model: {value}', value=str(err).splitlines()[0] if str(err) else type(err).__name__)
        ) from None
    scores = _per_token(attr)
    diff = ctx.f_x - ctx.f_b
    rel = abs(float(scores.sum()) - diff) / max(abs(diff), 1e-6)
    if rel > 0.05:
        raise UnsupportedModelError(
            msg('DeepLift does not fit this model: its non-linearities (GELU, softmax inside attention, LayerNorm) '
                "are not modules captum's DeepLift rules handle, so the scores would not add up to the change of the "
                'output (completeness error {rel:.0%}). Use Integrated Gradients or GradientSHAP instead.',
                rel=rel))
    return scores, {}


SAMPLING_TARGET = 0.025  # sampling methods aim at half the attribution page's 5 % completeness warning level
STABILITY_TARGET = 0.05  # ... and at scores that move less than 5 % of the largest |score| when samples double
FIRST_SAMPLES = 32
MAX_SAMPLES = 512


def _relative_completeness(ctx: Context, scores: np.ndarray) -> float:
    diff = ctx.f_x - ctx.f_b
    return abs(float(np.asarray(scores, np.float64).sum()) - diff) / max(abs(diff), 1e-12)


def _adaptive_samples(ctx: Context, run: Callable[[int], np.ndarray], *, completeness: bool,
                      pooled: bool) -> tuple[np.ndarray, dict[str, object]]:
    """Sample counts for GradientSHAP, KernelSHAP and LIME.

    With ``n_samples`` in the settings: that many, once. Otherwise (adaptive): 32, 64, ... up to
    ``max_samples`` (default 512), stopping when the completeness error is under 2.5 % (half the page's
    warning level; GradientSHAP and KernelSHAP, whose scores should add up to f(x) − f(x')), or, for LIME
    (a surrogate with no such property), when the scores move less than 5 % of the largest |score| from the
    previous count. ``pooled``: the new samples are averaged with the earlier ones (GradientSHAP is a plain
    mean over samples); otherwise each count is a fresh run (a regression over coalitions).
    Reports ``n_samples``, ``samples_met`` and ``sample_change`` (the last move, relative to max |score|).
    """
    if "n_samples" in ctx.params:
        n = int(ctx.params["n_samples"])
        return run(n), {"n_samples": n, "adaptive_samples": False}
    max_samples = max(FIRST_SAMPLES, int(ctx.params.get("max_samples", MAX_SAMPLES)))
    n, scores, previous = FIRST_SAMPLES, run(FIRST_SAMPLES), None
    while True:
        scale = max(float(np.abs(scores).max()), 1e-30)
        change = float(np.abs(scores - previous).max()) / scale if previous is not None else float("inf")
        if completeness:
            met = _relative_completeness(ctx, scores) <= SAMPLING_TARGET
        else:
            met = change <= STABILITY_TARGET
        if met or 2 * n > max_samples:
            break
        previous = scores
        if pooled:
            scores = (scores + run(n)) / 2.0  # n more samples: the mean of 2n
        else:
            scores = run(2 * n)
        n *= 2
    info: dict[str, object] = {"n_samples": n, "adaptive_samples": True, "max_samples": max_samples,
                               "samples_met": bool(met)}
    if np.isfinite(change):
        info["sample_change"] = change
    return scores.astype(np.float32), info


def gradient_shap(ctx: Context) -> tuple[np.ndarray, dict[str, object]]:
    """GradientSHAP (Lundberg & Lee, 2017): expected gradients from the baseline plus Gaussian noise.

    An unbiased Monte-Carlo estimate of IG at random α; its completeness error shrinks only as 1/√samples
    (measured on MiniLM: 10–60 % at 32 samples, 3–35 % at 256), so the count adapts (see
    :func:`_adaptive_samples`), in batches within the memory budget.
    """
    stdevs = float(ctx.params.get("stdevs", 0.01))
    limit = batch_limit(ctx.handle, ctx.x.shape[1])
    explainer = GradientShap(ctx.obj.f)

    def run(n: int) -> np.ndarray:
        total = np.zeros(ctx.x.shape[1])
        for start in range(0, n, limit):
            k = min(limit, n - start)
            attr = explainer.attribute(ctx.x, baselines=ctx.base, n_samples=k, stdevs=stdevs)
            total += _per_token(attr).astype(np.float64) * k
        return total / n

    scores, info = _adaptive_samples(ctx, run, completeness=True, pooled=True)
    return scores.astype(np.float32), {**info, "stdevs": stdevs}


def occlusion(ctx: Context) -> tuple[np.ndarray, dict[str, object]]:
    """Feature ablation over tokens (Zeiler & Fergus, 2014): f(x) − f(x with token i set to the baseline)."""
    n = ctx.x.shape[1]
    per_eval = max(1, min(n, batch_limit(ctx.handle, n) * 3))  # forward only: no saved activations
    attr = FeatureAblation(ctx.obj.f).attribute(ctx.x, baselines=ctx.base, feature_mask=_token_mask(ctx),
                                                perturbations_per_eval=per_eval)
    return attr[0, :, 0].float().detach().cpu().numpy().astype(np.float32), {"perturbations_per_eval": per_eval}


def _token_sampler(ctx: Context, explainer) -> Callable[[int], np.ndarray]:
    """``run(n)``: a captum perturbation explainer (KernelShap, Lime) with ``n`` samples over whole tokens, in
    batches the model's memory allows; scores of shape [n_tokens] (float64)."""
    n_tokens = ctx.x.shape[1]

    def run(n: int) -> np.ndarray:
        per_eval = max(1, min(n, batch_limit(ctx.handle, n_tokens) * 3))
        attr = explainer.attribute(ctx.x, baselines=ctx.base, feature_mask=_token_mask(ctx, True), n_samples=n,
                                   perturbations_per_eval=per_eval)
        return attr[0, :, 0].float().detach().cpu().numpy().astype(np.float64)

    return run


def kernel_shap(ctx: Context) -> tuple[np.ndarray, dict[str, object]]:
    """KernelSHAP (Lundberg & Lee, 2017) over tokens: coalitions in batched passes, the count adaptive
    (:func:`_adaptive_samples`; Shapley values add up to f(x) − f(x'), so completeness is checked).

    With a single feature (a one-token input) there is no coalition to sample (captum's sampler divides by zero:
    ``Categorical(probs: tensor([nan]))``); its Shapley value is exactly f(x) − f(x'), which is returned."""
    mask = _token_mask(ctx, True)[0, :, 0]
    if int(mask.unique().numel()) == 1:
        scores = np.zeros(ctx.x.shape[1], np.float32)
        free = ~ctx.obj.fixed.cpu().numpy()
        if free.any():  # one token: all of f(x) − f(x') is its own (efficiency); all fixed: nothing changes
            scores[free] = (ctx.f_x - ctx.f_b) / int(free.sum())
        ctx.obj.notes = (*ctx.obj.notes, msg(
            "KernelSHAP: the input has one token to explain, so there is no coalition to sample: its Shapley value "
            "is exactly f(input) − f(baseline)"))
        return scores, {"n_samples": 0, "exact_single_feature": True}
    run = _token_sampler(ctx, KernelShap(ctx.obj.f))
    scores, info = _adaptive_samples(ctx, run, completeness=True, pooled=False)
    return scores.astype(np.float32), info


def lime(ctx: Context) -> tuple[np.ndarray, dict[str, object]]:
    """LIME (Ribeiro et al., 2016) over tokens: a ridge surrogate fit to perturbations, the count adaptive
    (:func:`_adaptive_samples`; a surrogate need not add up to f(x) − f(x'), so only stability is checked)."""
    from captum._utils.models.linear_model import SkLearnRidge

    run = _token_sampler(ctx, Lime(ctx.obj.f, interpretable_model=SkLearnRidge(alpha=0.01)))
    scores, info = _adaptive_samples(ctx, run, completeness=False, pooled=False)
    return scores.astype(np.float32), info
