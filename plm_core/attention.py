"""Attention analyses: the model's own weights, head averages, rollout, token flow and the query·key view."""

from __future__ import annotations

import dataclasses
import weakref
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from plm_core.architectures import Stack, attention_module, n_stack_layers, stack_output
from plm_core.capture import AttentionCall, capturing
from plm_core.errors import InvalidInputError, UnsupportedModelError
from plm_core.inference import run
from plm_core.handle import ModelHandle
from plm_core.tokens import encode
from plm_core.types import AVERAGE_OF_HEADS, AttentionResult, Encoding, QueryKeyResult, TokenFlow
from plm_core.i18n import msg


def run_with_attention(handle: ModelHandle, batch, stack: str | None = None) -> tuple[torch.Tensor, ...]:
    """One forward pass that returns the attention of every layer of ``stack`` (``[1, head, query, key]`` each).

    ``stack``: "encoder", "decoder" or "cross" of an encoder-decoder model; None = the model's first stack
    (its self-attention).
    """
    out = run(handle, batch, want=("attentions",))
    attentions = getattr(out, stack_output(handle.arch, stack), None)
    if not attentions or attentions[0] is None:
        raise UnsupportedModelError(
            msg('{model_id} returned no attention weights (it must run with eager attention)', model_id=handle.model_id)
        )
    return attentions


def extract_attention(
    handle: ModelHandle, text: str, text_pair: str | None = None, *, max_tokens: int | None = None
) -> AttentionResult:
    """Attention of every layer and head: self-attention, or an encoder-decoder's three stacks.

    Args:
        text_pair: optional second sentence (segment B for BERT-style models; an encoder-decoder's target
            prefix, ``ModelInfo.pair_label``).
        max_tokens: truncate to this many tokens (the encoding's notes say so).

    Returns:
        An AttentionResult with weights ``[layer, head, query, key]`` (an encoder-decoder's encoder, with the
        decoder and cross-attention in ``stacks``).
    """
    with handle.lock:
        encoding, batch = encode(handle, text, text_pair, max_tokens=max_tokens)
        out = run(handle, batch, want=("attentions",))
    return attention_result(handle, encoding, out)


def stack_encodings(handle: ModelHandle, encoding: Encoding, stack: Stack | None = None
                    ) -> tuple[Encoding, Encoding | None]:
    """The query tokens of ``stack`` and its key tokens when they differ (cross-attention), from ``encoding``."""
    if stack is None:
        return encoding, None
    queries = encoding.segment(stack.queries)
    return queries, (encoding.segment(stack.keys) if stack.keys != stack.queries else None)


def attention_result(handle: ModelHandle, encoding: Encoding, out, row: int = 0) -> AttentionResult:
    """Row ``row`` of a forward pass run with ``output_attentions``, as an AttentionResult of every stack
    (right-padded rows are cut to their own length).

    Raises:
        UnsupportedModelError: the model returned no attention weights.
    """
    results = []
    for stack in handle.arch.stacks or (None,):
        name = stack.name if stack is not None else "self"
        attentions = getattr(out, stack_output(handle.arch, name if stack is not None else None), None)
        if not attentions or attentions[0] is None:
            raise UnsupportedModelError(
                msg('{model_id} returned no attention weights (it must run with eager attention)', model_id=handle.model_id))
        queries, keys = stack_encodings(handle, encoding, stack)
        n, m = len(queries), len(keys if keys is not None else queries)
        weights = torch.stack([a[row, :, :n, :m] for a in attentions]).float().cpu().numpy()
        results.append(AttentionResult(handle.model_id, queries, weights, keys, name))
    first, *rest = results
    return dataclasses.replace(first, stacks=tuple(rest))


_OLD_AVERAGE = (-1, "-1", "none", "None")


def head_choice(head: object) -> int | None:
    """A head as given by a picker, a link or session state: :data:`AVERAGE_OF_HEADS` or a head index.

    ``-1`` and ``"none"`` (older links) mean the average; an index stays an ``int``.
    """
    if head is AVERAGE_OF_HEADS or head in _OLD_AVERAGE:
        return AVERAGE_OF_HEADS
    return int(head)  # type: ignore[call-overload]


def layer_head(weights: np.ndarray, layer: int, head: int | None) -> np.ndarray:
    """One layer's ``[query, key]`` weights of one head, or the mean over heads for :data:`AVERAGE_OF_HEADS`.

    Args:
        weights: ``[layer, head, query, key]`` (attention weights or a difference of them).
        head: a head index, :data:`AVERAGE_OF_HEADS`, or an older link's ``-1``.

    Raises:
        InvalidInputError: the layer or head does not exist.
    """
    layer = _check_index(layer, weights.shape[0], msg("layer"))
    head = head_choice(head)
    if head is AVERAGE_OF_HEADS:
        return weights[layer].mean(0)
    return weights[layer, _check_index(head, weights.shape[1], msg("head"))]


def head_average(result: AttentionResult, layer: int | None = None) -> np.ndarray:
    """Mean over heads: ``[layer, query, key]``, or ``[query, key]`` for one ``layer``."""
    mean = result.weights.mean(axis=1)
    return mean if layer is None else mean[_check_index(layer, result.n_layers, msg("layer"))]


def attention_rollout(weights: np.ndarray, residual: bool = True) -> np.ndarray:
    """Attention rollout (Abnar & Zuidema, 2020, "Quantifying Attention Flow in Transformers").

    Heads are averaged; with ``residual`` each layer becomes 0.5·A + 0.5·I (the skip connection),
    rows renormalised; then the layers are multiplied from the bottom up.

    Args:
        weights: ``[layer, head, query, key]``.

    Returns:
        float32 ``[layer, query, key]``: entry l is the flow from the input tokens up to layer l.
    """
    mean = weights.astype(np.float64).mean(axis=1)
    n = mean.shape[-1]
    rollout = np.empty_like(mean)
    current = np.eye(n)
    for layer, a in enumerate(mean):
        if residual:
            a = 0.5 * a + 0.5 * np.eye(n)
            a = a / a.sum(axis=-1, keepdims=True)
        current = a @ current
        rollout[layer] = current
    return rollout.astype(np.float32)


def cross_attention_rollout(cross: np.ndarray, encoder: np.ndarray, residual: bool = True) -> np.ndarray:
    """How the source tokens flow into each target position through cross-attention: the encoder's rollout
    (:func:`attention_rollout` of its last layer), then the head-averaged cross-attention of each decoder layer.

    Args:
        cross: ``[layer, head, query, key]`` (target × source); encoder: ``[layer, head, key, key]``.

    Returns:
        float32 ``[layer, query, key]``; rows sum to 1. It follows the path through the encoder and one
        cross-attention, not the decoder's own mixing (an approximation, like rollout itself).
    """
    source = attention_rollout(encoder, residual)[-1].astype(np.float64)  # [key, key]
    return (cross.astype(np.float64).mean(axis=1) @ source).astype(np.float32)


def token_flow(result: AttentionResult, positions: Sequence[int], layer: int, head: int | None = None) -> TokenFlow:
    """Attention that the chosen tokens give (mean of their rows) and receive (sum of their columns).

    Raises:
        InvalidInputError: no positions, or one out of range.
    """
    if not result.square:
        raise InvalidInputError(msg('token flow follows self-attention (queries and keys are the same tokens): '
                                    'choose the encoder or the decoder, not the {stack} attention',
                                    stack=result.stack))
    n = len(result.encoding)
    positions = tuple(sorted({int(p) for p in positions}))
    if not positions:
        raise InvalidInputError(msg('choose at least one token'))
    for p in positions:
        _check_index(p, n, msg("token"))
    layer = _check_index(layer, result.n_layers, msg("layer"))
    head = head_choice(head)
    matrix = layer_head(result.weights, layer, head)
    idx = list(positions)
    return TokenFlow(
        positions=positions, layer=layer, head=head,
        given=matrix[idx].mean(axis=0).astype(np.float32),
        received=matrix[:, idx].sum(axis=1).astype(np.float32),
    )


@dataclass(frozen=True)
class _Site:
    """Where one layer's attention runs: the module that calls the attention function, which of its calls in a
    forward pass it is (ALBERT shares one module across depths), and the projection that reads its output."""

    module: torch.nn.Module
    occurrence: int
    output: torch.nn.Module | None
    output_occurrence: int


_LAYOUTS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_PROJECTIONS = ("Linear", "Conv1D")  # nn.Linear, and GPT-2's transposed transformers.pytorch_utils.Conv1D


def _layout(handle: ModelHandle) -> dict[str, list[_Site]]:
    """The attention sites of every stack, in layer order, found by running the model once with the attention
    capture on (then cached per model). Call it under the handle's lock.

    Single-stack models: every call, in order. Encoder-decoders: each call goes to the stack whose modules
    (``plm_core.architectures``) hold its module.

    Raises:
        UnsupportedModelError: the model's attention does not go through transformers' attention interface.
    """
    model = handle.model
    if model in _LAYOUTS:
        return _LAYOUTS[model]
    counts: dict[int, int] = {}
    matched: dict[int, tuple[torch.nn.Module, int]] = {}
    calls_ref: list = []

    def reads_output(module, args):  # the first projection after call i that reads its output: W_O of layer i
        n = counts[id(module)] = counts.get(id(module), -1) + 1
        i = len(calls_ref[0]) - 1
        if i < 0 or i in matched or not args or not isinstance(args[0], torch.Tensor):
            return
        x, ctx = args[0].detach()[0].float(), calls_ref[0][i].output
        if x.shape[-1] == ctx.shape[-1] and x.reshape(-1, x.shape[-1]).shape == ctx.shape \
                and torch.allclose(x.reshape(ctx.shape), ctx, atol=1e-6):
            matched[i] = (module, n)

    projections = [m for m in model.modules() if type(m).__name__ in _PROJECTIONS]
    hooks = [m.register_forward_pre_hook(reads_output) for m in projections]
    try:
        encoding, batch = encode(handle, "the cat sat", "the cat" if handle.arch.encoder_decoder else None)
        with capturing(model) as calls:
            calls_ref.append(calls)
            run(handle, batch)
    finally:
        for h in hooks:
            h.remove()
    if not calls:
        why, model_type = handle.arch.capture_refusal, getattr(handle.config, "model_type", "")
        if why:
            raise UnsupportedModelError(msg(
                "{model_type} computes its attention in its own code, not through transformers' attention interface, "
                "so its query and key cannot be captured: {why}", model_type=model_type, why=msg(why)))
        raise UnsupportedModelError(msg(
            "{model_type} computes its attention in its own code, not through transformers' attention interface, "
            "so its query and key cannot be captured", model_type=model_type))
    seen: dict[int, int] = {}
    sites: list[_Site] = []
    for i, call in enumerate(calls):
        occurrence = seen[id(call.module)] = seen.get(id(call.module), -1) + 1
        out, out_n = matched.get(i, (None, 0))
        sites.append(_Site(call.module, occurrence, out, out_n))
    arch = handle.arch
    if arch.encoder_decoder:
        if not arch.stacks or not all(s.path for s in arch.stacks):
            raise UnsupportedModelError(msg(
                "the query·key view tells an encoder-decoder's three stacks apart by their module paths; {model_type} "
                "has none in plm_core/architectures.py", model_type=getattr(handle.config, "model_type", "")))
        owner = {id(attention_module(model, arch, st, layer)): st.name
                 for st in arch.stacks for layer in range(n_stack_layers(model, st))}
        layout = {st.name: [site for site in sites if owner.get(id(site.module)) == st.name] for st in arch.stacks}
    else:
        layout = {"self": sites}
    _LAYOUTS[model] = layout
    return layout


def attention_modules(handle: ModelHandle, stack: str | None = None) -> list[torch.nn.Module]:
    """The attention module of each layer of ``stack``, in order: the modules that call transformers' attention
    interface (one module may serve several layers, as ALBERT's).

    Raises:
        UnsupportedModelError: a model whose attention does not go through the interface.
    """
    with handle.lock:
        layout = _layout(handle)
    return [site.module for site in layout[_stack(handle, stack).name]]


def _stack(handle: ModelHandle, name: str | None) -> Stack:
    stacks = handle.arch.stacks or (Stack("self", causal=handle.arch.causal),)
    if name is None:
        return stacks[0]
    for s in stacks:
        if s.name == name:
            return s
    names = ", ".join(s.name for s in stacks)
    raise InvalidInputError(msg('{model_id} has no {name!r} attention (its stacks: {names})', model_id=handle.model_id, name=name, names=names))


@dataclass(frozen=True)
class CapturedLayer:
    """One forward pass with one layer's attention call captured (internal tensors, batch row 0).

    ``call`` holds query and key as the model multiplies them (rotary embedding and QK-norm applied), its scale,
    mask, soft-capping and bias (:class:`plm_core.capture.AttentionCall`); q, k, v are per query head (grouped
    key/value heads repeated).
    """

    encoding: Encoding
    attentions: tuple[torch.Tensor, ...]  # the model's own weights of this stack, [1, head, query, key] per layer
    call: AttentionCall
    inputs: torch.Tensor | None  # [query, hidden]; what the attention module read (the query projection's input)
    context: torch.Tensor  # [query, hidden]; input of the output projection (heads concatenated)
    output: torch.Tensor | None  # [query, hidden]; output of the output projection
    output_projection: torch.nn.Module | None
    causal: bool  # from the model's mask: no query sees a later key
    positions: str  # "absolute", "rotary", "relative_bias" (plm_core.architectures)
    key_encoding: Encoding | None = None  # cross-attention: the key tokens (the source)
    stack: str = "self"

    @property
    def q(self) -> torch.Tensor:
        return self.call.query  # [head, query, d_k]

    @property
    def k(self) -> torch.Tensor:
        return self.call.keys_per_head()  # [head, key, d_k]

    @property
    def v(self) -> torch.Tensor:
        return self.call.values_per_head()  # [head, key, d_v]

    @property
    def scale(self) -> float:
        return self.call.scaling

    @property
    def softcap(self) -> float | None:
        return self.call.softcap

    @property
    def n_kv_heads(self) -> int:
        return self.call.n_kv_heads

    @property
    def bias(self) -> torch.Tensor | None:
        """[head, query, key]: what the model adds to the scores besides its hiding mask (T5's position bias)."""
        return self.call.additive()

    @property
    def window(self) -> int | None:
        """Sliding window the model passed for this layer (Mistral, Gemma), or None."""
        w = self.call.extra.get("sliding_window")
        return int(w) if w else None

    def scores(self) -> torch.Tensor:
        """[head, query, key]: QKᵀ·scale (soft-capped, + bias), −inf where the model's mask hides a key."""
        return self.call.scores()

    def probs(self) -> torch.Tensor:
        """[head, query, key]: softmax of :meth:`scores` (attention sinks included)."""
        return self.call.probs()

    def mask(self) -> torch.Tensor:
        """[query, key] True where the model hides a key from the query (head 0's; the mask is per layer)."""
        return self.call.hidden()[0]


def capture_layer(handle: ModelHandle, text: str, layer: int, text_pair: str | None = None, *,
                  max_tokens: int | None = None, stack: str | None = None) -> CapturedLayer:
    """Run the model once with the attention capture on (:mod:`plm_core.capture`) and return ``layer``'s call:
    query and key as the model multiplied them, its mask, scale, soft-capping, bias, and its output projection's
    input and output.

    Raises:
        UnsupportedModelError: the model's attention does not go through transformers' attention interface, or
            its attention function computes something the recomputation does not reproduce (the difference is
            named).
        InvalidInputError: layer out of range.
    """
    model_type = getattr(handle.config, "model_type", "")
    captured: dict[str, list[torch.Tensor]] = {"x": [], "ctx": [], "out": []}

    def keep_input(module, args, kwargs):
        x = args[0] if args else kwargs.get("hidden_states")
        if isinstance(x, torch.Tensor):
            captured["x"].append(x.detach())

    with handle.lock:
        sites = _layout(handle)[_stack(handle, stack).name]
        layer = _check_index(layer, len(sites), msg("layer"))
        site = sites[layer]
        hooks = [site.module.register_forward_pre_hook(keep_input, with_kwargs=True)]
        if site.output is not None:
            hooks += [site.output.register_forward_pre_hook(lambda m, args: captured["ctx"].append(args[0].detach())),
                      site.output.register_forward_hook(lambda m, args, out: captured["out"].append(out.detach()))]
        try:
            encoding, batch = encode(handle, text, text_pair, max_tokens=max_tokens)
            with capturing(handle.model) as calls:
                attentions = run_with_attention(handle, batch, stack)
        finally:
            for h in hooks:
                h.remove()
    st = _stack(handle, stack)
    mine = [c for c in calls if c.module is site.module]
    if len(mine) <= site.occurrence or len(attentions) != len(sites):
        raise UnsupportedModelError(msg("{model_type}'s attention calls do not match its layers", model_type=model_type))
    call = mine[site.occurrence]
    call.check(model_type)
    pick = lambda name, n: captured[name][n][0].float() if len(captured[name]) > n else None  # noqa: E731
    queries, keys = stack_encodings(handle, encoding, st)
    n, m = len(queries), len(keys if keys is not None else queries)
    attentions = tuple(a[:, :, :n, :m] for a in attentions)
    hidden = call.hidden()
    if n == m and n > 1:
        causal = bool(hidden[:, causal_mask(n, hidden.device)].all())  # read from the model's own mask
    else:
        causal = bool(getattr(site.module, "is_causal", st.causal))
    context = pick("ctx", site.output_occurrence)
    return CapturedLayer(
        encoding=queries, attentions=attentions, call=call, inputs=pick("x", site.occurrence),
        context=(context.reshape(call.output.shape) if context is not None else call.output),
        output=pick("out", site.output_occurrence), output_projection=site.output, causal=causal,
        positions=handle.arch.positions, key_encoding=keys, stack=st.name)


def causal_mask(n: int, device: torch.device | str = "cpu") -> torch.Tensor:
    """[query, key] True where a causal model hides the key (a later token) from the query."""
    return torch.triu(torch.ones(n, n, dtype=torch.bool, device=device), 1)


def query_key(handle: ModelHandle, text: str, layer: int, head: int, text_pair: str | None = None,
              *, max_tokens: int | None = None, stack: str | None = None) -> QueryKeyResult:
    """Recompute one head's attention from the query and key the model multiplied (captured through
    transformers' attention interface, :mod:`plm_core.capture`), for any architecture that uses it.

    Shows ``softmax(QKᵀ·scale + mask)`` (soft-capped and biased where the model is) step by step and returns
    the model's own attention beside it, so the two can be checked equal.

    Raises:
        UnsupportedModelError: a model whose attention does not go through the interface, or whose attention
            function this recomputation does not reproduce.
        InvalidInputError: layer or head out of range.
    """
    cap = capture_layer(handle, text, layer, text_pair, max_tokens=max_tokens, stack=stack)
    head = _check_index(head, cap.q.shape[0], msg("head"))
    scores, probs = cap.scores()[head], cap.probs()[head]
    bias = cap.bias
    as_np = lambda t: t.cpu().numpy().astype(np.float32)  # noqa: E731
    n_heads = cap.q.shape[0]
    return QueryKeyResult(
        model_id=handle.model_id, encoding=cap.encoding, layer=int(layer), head=head,
        queries=as_np(cap.q[head]), keys=as_np(cap.k[head]), scores=as_np(scores), probs=as_np(probs),
        model_probs=as_np(cap.attentions[int(layer)][0, head].float()), scale=cap.scale, causal=cap.causal,
        positions=cap.positions, kv_head=head // (n_heads // cap.n_kv_heads), n_kv_heads=cap.n_kv_heads,
        bias=None if bias is None else as_np(bias[head]), key_encoding=cap.key_encoding, stack=cap.stack,
        softcap=cap.softcap, window=cap.window,
    )


def _check_index(value: int, size: int, what: str) -> int:
    if not 0 <= int(value) < size:
        raise InvalidInputError(msg('{what} {value} is out of range: choose 0 to {last}', what=what, value=value, last=size - 1))
    return int(value)


def describe(encoding: Encoding) -> str:
    """One line for a page header: how many tokens, and whether two sentences."""
    if encoding.pair_start is not None:
        return msg("{n} tokens (two sentences)", n=len(encoding))
    return msg("{n} tokens", n=len(encoding))
