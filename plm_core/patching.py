"""Interventions inside the model: activation patching between a clean and a corrupted prompt, and ablation.

Activation patching (causal tracing; Meng et al., 2022, "Locating and Editing Factual Associations in GPT";
Vig et al., 2020; TransformerLens ``patching.py``): run the corrupted prompt ("The capital of Italy is") but put
back one activation from the clean run ("The capital of France is") and measure how much of the clean answer
comes back:

    restored = (m(patched) − m(corrupted)) / (m(clean) − m(corrupted))

where m is the explained number (logit of the clean answer, minus the logit of the corrupted run's answer when
they differ). What is patched: the residual stream entering each layer at each position, each head's output
(its ``z_h``, the input of W_O for head h, at every position), or each FFN block's output (every position).
Tokens are paired by position, so both prompts must have the same number of tokens.

Ablation replaces a head's output or an FFN block's output by zero or by its mean over the input's positions.

Every hook is registered under the model's lock inside a ``with`` block and removed on exit, also when the
forward pass fails. Batched: a residual sweep is one forward per layer (a batch of one copy per position), heads
one forward per layer and attention stack (one copy per head), FFN blocks one forward (one copy per layer).
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import re
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch

from plm_core.architectures import Layout, Stack, body, n_stack_layers
from plm_core.contributions import (
    direction,
    encode_input,
    first,
    forward_at,
    hooks,
    layer_path,
    layout,
    leading_space,
    n_layers,
    read_position,
    replace_first,
    resolve_token,
    stack_tokens,
    sub_label,
    sub_module,
)
from plm_core.display import token_text
from plm_core.errors import InvalidInputError, clip
from plm_core.i18n import msg
from plm_core.handle import ModelHandle
from plm_core.types import Ablation, AblationMode, Encoding  # noqa: F401 - re-exported

PatchWhat = Literal["residual", "heads", "ffn"]


@dataclass(frozen=True)
class PatchingResult:
    """How much of the clean answer each patched activation restores.

    ``values``/``restored``: residual ``[layer, position]`` (row l = the stream entering layer l+1; row 0 is the
    embeddings), heads ``[stack, layer, head]``, ffn ``[layer]``. ``restored`` is 1 where the patched run gives
    the clean number and 0 where it gives the corrupted one.
    """

    model_id: str
    what: PatchWhat
    clean: Encoding
    corrupt: Encoding
    tokens: tuple[str, ...]  # the positions patched (residual), as the clean prompt's tokens
    corrupt_tokens: tuple[str, ...]
    target_id: int
    target_token: str
    contrast_id: int | None
    contrast_token: str | None
    clean_value: float
    corrupt_value: float
    values: np.ndarray  # float32, see above
    restored: np.ndarray  # float32, same shape
    stacks: tuple[str, ...] = ()  # heads: the attention stacks
    n_forwards: int = 0  # forward passes of the sweep (each a batch), the clean and corrupted runs included
    notes: tuple[str, ...] = ()


def _layers(handle: ModelHandle, lay: Layout, source: bool) -> list[torch.nn.Module]:
    path = (lay.source_layers or lay.layers) if source else lay.layers
    n = n_stack_layers(handle.model, Stack("self", path))
    return [body(handle.model).get_submodule(layer_path(path, i)) for i in range(n)]


def _hidden_arg(args: tuple, kwargs: dict) -> torch.Tensor:
    return args[0] if args else kwargs["hidden_states"]


def _with_hidden(args: tuple, kwargs: dict, value: torch.Tensor) -> tuple[tuple, dict]:
    if args:
        return (value, *args[1:]), kwargs
    return args, {**kwargs, "hidden_states": value}


def _pair(handle: ModelHandle, clean: str, corrupt: str, text_pair: str | None,
          max_tokens: int | None) -> tuple[Encoding, Encoding]:
    a = encode_input(handle, clean, text_pair, max_tokens=max_tokens)
    b = encode_input(handle, corrupt, text_pair, max_tokens=max_tokens)
    if len(a) != len(b):
        raise InvalidInputError(msg(
            "the clean prompt has {n_a} tokens and the corrupted prompt {n_b}: patching pairs the tokens by "
            "position, so both need the same number of tokens (change a word so that the two tokenize alike): "
            "{tokens_a} / {tokens_b}",
            n_a=len(a), n_b=len(b), tokens_a=clip(" · ".join(a.tokens), 120), tokens_b=clip(" · ".join(b.tokens), 120)))
    return a, b


def _logits(handle: ModelHandle, encoding: Encoding, copies: int, p: int) -> torch.Tensor:
    """Logits ``[copy, vocab]`` at ``p`` of ``copies`` copies of ``encoding`` in one batched forward."""
    return forward_at(handle, handle.adapter.model_inputs(handle, [encoding] * copies), p)[1].double().cpu()


def _explained(handle: ModelHandle, a: Encoding, clean_logits: torch.Tensor, corrupt_logits: torch.Tensor,
               word: str | None, contrast: str | None, notes: list[str]) -> tuple[int, int | None, torch.Tensor]:
    """(answer, contrast, direction): ``word`` (default: the clean top prediction) minus ``contrast`` (default:
    the corrupted top prediction when it is another token)."""
    space = leading_space(handle, a)
    target = resolve_token(handle, word, clean_logits, leading_space=space, notes=notes)
    if contrast and contrast.strip():
        foil: int | None = resolve_token(handle, contrast, corrupt_logits, leading_space=space, notes=notes)
    else:
        top = int(corrupt_logits.argmax())
        foil = top if top != target else None
    return target, foil, direction(clean_logits.shape[0], target, foil)


def patch(handle: ModelHandle, clean: str, corrupt: str, what: PatchWhat = "residual", *,
          word: str | None = None, contrast: str | None = None, text_pair: str | None = None,
          max_tokens: int | None = None) -> PatchingResult:
    """Activation patching from the clean run into the corrupted run.

    Args:
        clean, corrupt: two prompts with the same number of tokens (an encoder-decoder: two sources; the
            residual sweep then patches the encoder, where they differ).
        what: "residual" (each layer × position), "heads" (each head's output at every position) or "ffn"
            (each FFN block's output at every position).
        word: the answer measured (default: the clean run's top prediction); contrast: subtracted (default: the
            corrupted run's top prediction when it differs from ``word``).
        text_pair: an encoder-decoder's target so far (the same for both).

    Returns:
        :class:`PatchingResult` with ``values`` and ``restored``.

    Raises:
        InvalidInputError: empty prompts, or prompts whose token counts differ.
        UnsupportedModelError: a model without an LM head or with unmapped blocks.

    Method: Meng et al. (2022); TransformerLens ``patching.py``.
    """
    lay = layout(handle)
    a, b = _pair(handle, clean, corrupt, text_pair, max_tokens)
    p_stack, _ = read_position(handle, a)
    p_b, _ = read_position(handle, b)
    if p_b != p_stack:
        raise InvalidInputError(msg("the two prompts are read at different positions ({a} and {b})",
                                    a=p_stack, b=p_b))
    notes: list[str] = []
    with handle.lock:
        clean_logits = _logits(handle, a, 1, p_stack)[0]
        corrupt_logits = _logits(handle, b, 1, p_stack)[0]
    target, foil, d = _explained(handle, a, clean_logits, corrupt_logits, word, contrast, notes)
    clean_value, corrupt_value = float(clean_logits @ d), float(corrupt_logits @ d)
    if abs(clean_value - corrupt_value) < 1e-6 * (1 + abs(clean_value)):
        notes.append(msg("the clean and corrupted prompts give the same number: nothing to restore"))
    n_forwards = 2
    stacks: tuple[str, ...] = ()
    with handle.lock:
        if what == "residual":
            values, n = _residual(handle, lay, a, b, p_stack, d)
            tokens = stack_tokens(handle, a, _source_sub(handle))
            corrupt_tokens = stack_tokens(handle, b, _source_sub(handle))
        elif what == "heads":
            values, n, stacks = _heads(handle, lay, a, b, p_stack, d)
            tokens, corrupt_tokens = stack_tokens(handle, a), stack_tokens(handle, b)
        elif what == "ffn":
            values, n = _ffn(handle, lay, a, b, p_stack, d)
            tokens, corrupt_tokens = stack_tokens(handle, a), stack_tokens(handle, b)
        else:
            raise InvalidInputError(msg("unknown patching target {what}", what=what))
    n_forwards += n
    span = clean_value - corrupt_value
    restored = (values - corrupt_value) / span if abs(span) > 1e-12 else np.zeros_like(values)

    def name(i: int | None) -> str | None:
        return None if i is None else (token_text(handle, i).strip() or token_text(handle, i))

    return PatchingResult(
        model_id=handle.model_id, what=what, clean=a, corrupt=b, tokens=tokens, corrupt_tokens=corrupt_tokens,
        target_id=target, target_token=name(target), contrast_id=foil, contrast_token=name(foil),
        clean_value=clean_value, corrupt_value=corrupt_value, values=values.astype(np.float32),
        restored=restored.astype(np.float32), stacks=stacks, n_forwards=n_forwards, notes=tuple(notes))


def _source_sub(handle: ModelHandle):
    from plm_core.architectures import Sublayer

    return Sublayer("cross") if handle.arch.encoder_decoder else None  # the encoder's tokens


def _clean_layer_inputs(handle: ModelHandle, layers: list[torch.nn.Module], a: Encoding) -> dict[int, torch.Tensor]:
    saved: dict[int, torch.Tensor] = {}

    def keep(i):
        def hook(module, args, kwargs):
            saved[i] = _hidden_arg(args, kwargs)[0].detach().clone()
        return hook

    with hooks([(m, keep(i)) for i, m in enumerate(layers)], pre=True, with_kwargs=True):
        forward_at(handle, handle.adapter.model_inputs(handle, [a]), 0)
    return saved


def _patched_rows(handle: ModelHandle, module: torch.nn.Module, clean: torch.Tensor, b: Encoding, p: int,
                  copies: Sequence[Sequence[int]]) -> torch.Tensor:
    """Logits at ``p`` of one batched forward of the corrupted input, copy r with the clean residual stream
    entering ``module`` at the positions ``copies[r]``: ``[copy, vocab]``."""
    def put(module, args, kwargs):
        h = _hidden_arg(args, kwargs).clone()
        for r, positions in enumerate(copies):
            idx = torch.tensor(list(positions), dtype=torch.long)
            if len(idx):
                h[r, idx] = clean[idx].to(h.dtype)
        return _with_hidden(args, kwargs, h)

    with hooks([(module, put)], pre=True, with_kwargs=True):
        return _logits(handle, b, len(copies), p)


def _residual(handle: ModelHandle, lay: Layout, a: Encoding, b: Encoding, p: int,
              d: torch.Tensor) -> tuple[np.ndarray, int]:
    """[layer, position]: the corrupted run with the clean residual stream entering layer l at position i."""
    layers = _layers(handle, lay, source=True)
    saved = _clean_layer_inputs(handle, layers, a)
    n_pos = saved[0].shape[0]
    values = np.zeros((len(layers), n_pos), np.float64)
    for i, module in enumerate(layers):
        values[i] = (_patched_rows(handle, module, saved[i], b, p, [[r] for r in range(n_pos)]) @ d).numpy()
    return values, len(layers)


def patch_residual(handle: ModelHandle, clean: str, corrupt: str, layer: int, positions: Sequence[int], *,
                   word: str | None = None, contrast: str | None = None, text_pair: str | None = None,
                   max_tokens: int | None = None) -> tuple[float, float, float]:
    """The explained number of the corrupted run with the clean residual stream entering ``layer`` (0-based)
    put back at every one of ``positions`` at once.

    Returns:
        (patched, clean, corrupted) values of the explained number (as :func:`patch` defines it).

    Raises:
        InvalidInputError: as :func:`patch`, or a layer or position that does not exist.
    """
    lay = layout(handle)
    a, b = _pair(handle, clean, corrupt, text_pair, max_tokens)
    p, _ = read_position(handle, a)
    with handle.lock:
        layers = _layers(handle, lay, source=True)
        if not 0 <= layer < len(layers):
            raise InvalidInputError(msg("there is no layer {layer}", layer=layer + 1))
        saved = _clean_layer_inputs(handle, layers, a)
        if any(not 0 <= i < saved[layer].shape[0] for i in positions):
            raise InvalidInputError(msg("a position is outside the prompt"))
        clean_logits = _logits(handle, a, 1, p)[0]
        corrupt_logits = _logits(handle, b, 1, p)[0]
        _, _, d = _explained(handle, a, clean_logits, corrupt_logits, word, contrast, [])
        patched = _patched_rows(handle, layers[layer], saved[layer], b, p, [list(positions)])[0]
    return float(patched @ d), float(clean_logits @ d), float(corrupt_logits @ d)


def _attention_subs(lay: Layout) -> list[int]:
    return [j for j, s in enumerate(lay.sublayers) if s.kind != "ffn"]


def _heads(handle: ModelHandle, lay: Layout, a: Encoding, b: Encoding, p: int,
           d: torch.Tensor) -> tuple[np.ndarray, int, tuple[str, ...]]:
    """[stack, layer, head]: the corrupted run with one head's clean output (z_h, every position)."""
    from plm_core.contributions import _n_heads

    n = n_layers(handle, lay)
    subs = _attention_subs(lay)
    n_heads = _n_heads(handle)
    projs = {(layer, j): sub_module(handle, lay, lay.sublayers[j], layer) for layer in range(n) for j in subs}
    saved: dict[tuple[int, int], torch.Tensor] = {}

    def keep(key):
        def hook(module, args):
            saved[key] = args[0][0].detach().clone()
        return hook

    with hooks([(m, keep(k)) for k, m in projs.items()], pre=True):
        forward_at(handle, handle.adapter.model_inputs(handle, [a]), 0)
    values = np.zeros((len(subs), n, n_heads), np.float64)
    count = 0
    for si, j in enumerate(subs):
        for layer in range(n):
            key = (layer, j)
            dh = saved[key].shape[-1] // n_heads

            def put(module, args, key=key, dh=dh):
                z = args[0].clone()
                for h in range(n_heads):
                    z[h, :, h * dh:(h + 1) * dh] = saved[key][:, h * dh:(h + 1) * dh].to(z.dtype)
                return (z, *args[1:])

            with hooks([(projs[key], put)], pre=True):
                logits = _logits(handle, b, n_heads, p)
            count += 1
            values[si, layer] = (logits @ d).numpy()
    return values, count, tuple(sub_label(lay.sublayers[j]) for j in subs)


def _ffn_index(lay: Layout) -> int:
    return next(j for j, s in enumerate(lay.sublayers) if s.kind == "ffn")


def _ffn(handle: ModelHandle, lay: Layout, a: Encoding, b: Encoding, p: int,
         d: torch.Tensor) -> tuple[np.ndarray, int]:
    """[layer]: the corrupted run with one FFN block's clean output (every position)."""
    n = n_layers(handle, lay)
    j = _ffn_index(lay)
    mods = [sub_module(handle, lay, lay.sublayers[j], layer) for layer in range(n)]
    saved: dict[int, torch.Tensor] = {}

    def keep(i):
        def hook(module, args, output):
            saved[i] = first(output)[0].detach().clone()
        return hook

    with hooks([(m, keep(i)) for i, m in enumerate(mods)]):
        forward_at(handle, handle.adapter.model_inputs(handle, [a]), 0)

    def put(i):
        def hook(module, args, output):
            out = first(output).clone()
            out[i] = saved[i].to(out.dtype)
            return replace_first(output, out)
        return hook

    with hooks([(m, put(i)) for i, m in enumerate(mods)]):
        logits = _logits(handle, b, n, p)
    return (logits @ d).numpy(), 1


# ------------------------------------------------------------------------------------------- ablation ----


def _ablation_hooks(handle: ModelHandle, ablation: Ablation) -> tuple[list, list]:
    """(forward-pre hooks, forward hooks) as (module, fn) pairs that remove ``ablation``'s parts from ``handle``.

    Raises:
        InvalidInputError: a layer or head that does not exist.
    """
    from plm_core.contributions import _n_heads, block_layout

    lay = block_layout(handle)  # a classifier or sentence encoder too: every page can run on the ablated copy
    n = n_layers(handle, lay)
    subs = _attention_subs(lay)
    n_heads = _n_heads(handle)
    pre_pairs = []
    post_pairs = []
    by_module: dict[torch.nn.Module, list[int]] = {}
    for stack, layer, head in ablation.heads:
        if not (0 <= stack < len(subs) and 0 <= layer < n and 0 <= head < n_heads):
            raise InvalidInputError(msg("there is no head {head} in layer {layer}", head=head + 1, layer=layer + 1))
        by_module.setdefault(sub_module(handle, lay, lay.sublayers[subs[stack]], layer), []).append(head)
    for module, heads_ in by_module.items():
        def put(module, args, heads_=tuple(heads_)):
            z = args[0].clone()
            dh = z.shape[-1] // n_heads
            for h in heads_:
                part = z[..., h * dh:(h + 1) * dh]
                z[..., h * dh:(h + 1) * dh] = (torch.zeros_like(part) if ablation.mode == "zero"
                                               else part.mean(-2, keepdim=True).expand_as(part))
            return (z, *args[1:])
        pre_pairs.append((module, put))
    j = _ffn_index(lay)
    for layer in ablation.ffn:
        if not 0 <= layer < n:
            raise InvalidInputError(msg("there is no layer {layer}", layer=layer + 1))

        def put_ffn(module, args, output):
            out = first(output)
            new = torch.zeros_like(out) if ablation.mode == "zero" else out.mean(-2, keepdim=True).expand_as(out)
            return replace_first(output, new.clone())
        post_pairs.append((sub_module(handle, lay, lay.sublayers[j], layer), put_ffn))
    return pre_pairs, post_pairs


@contextlib.contextmanager
def ablated(handle: ModelHandle, ablation: Ablation) -> Iterator[None]:
    """Within the block, the model runs with the heads and FFN blocks of ``ablation`` removed: a head's output
    ``z_h`` (the input of W_O for head h) replaced by 0 ("zero") or its mean over the positions of the same
    input ("mean"), an FFN block's output likewise. Holds the handle's lock for the whole block (no other session
    sees the ablated model) and removes the hooks on exit.

    Raises:
        InvalidInputError: a layer or head that does not exist.
    """
    pre_pairs, post_pairs = _ablation_hooks(handle, ablation)
    with handle.lock, hooks(pre_pairs, pre=True), hooks(post_pairs):
        yield


def ablated_copy(base: ModelHandle, ablation: Ablation) -> ModelHandle:
    """A new handle whose model is a deep copy of ``base``'s with ``ablation``'s parts removed for good (the
    hooks of :func:`ablated`, registered on the copy and never removed). ``base`` is left untouched (no hook);
    the copy has its own tokenizer copy, its own lock, and the spec ``base.spec`` with ``ablation`` set, so
    every core function run on it sees the ablated model. It costs the memory of a second model.

    Raises:
        InvalidInputError: an empty ablation, a layer or head that does not exist.
        UnsupportedModelError: a model without mapped attention/FFN blocks.
    """
    if not ablation:
        raise InvalidInputError(msg("choose at least one head or FFN block to remove"))
    with base.lock:
        model = copy.deepcopy(base.model)
        tokenizer = copy.deepcopy(base.tokenizer)
    twin = dataclasses.replace(base, spec=dataclasses.replace(base.spec, ablation=ablation), model=model,
                               tokenizer=tokenizer, lock=threading.RLock())
    pre_pairs, post_pairs = _ablation_hooks(twin, ablation)
    for module, fn in pre_pairs:
        module.register_forward_pre_hook(fn)
    for module, fn in post_pairs:
        module.register_forward_hook(fn)
    return twin


# ?ablate= in a link: "[zero:|mean:]L3H2,L3X1,L5F" — 1-based; H a self-attention head, X a cross-attention head
# (an encoder-decoder's decoder), F the layer's FFN block
_ITEM = re.compile(r"L(\d{1,4})(?:([HX])(\d{1,4})|(F))", re.IGNORECASE)
MAX_ABLATION_TEXT = 2000


def parse_ablation(text: str) -> Ablation:
    """The :class:`Ablation` a link's ``?ablate=`` names: ``[zero:|mean:]`` then comma-separated items, 1-based:
    ``L3H2`` (layer 3, head 2 of the self-attention), ``L3X2`` (head 2 of layer 3's cross-attention), ``L5F``
    (layer 5's FFN block). Whether the layers and heads exist is checked when the model is made
    (:func:`ablated_copy`).

    Raises:
        InvalidInputError: anything else (the message quotes the first item not understood, clipped).
    """
    raw = (text or "").strip()
    if not raw or len(raw) > MAX_ABLATION_TEXT:
        raise InvalidInputError(msg("an ablation link needs items like L3H2 or L5F (at most {n} characters)",
                                    n=MAX_ABLATION_TEXT))
    mode, sep, rest = raw.partition(":")
    if not sep:
        mode, rest = "zero", raw
    mode = mode.strip().lower()
    if mode not in ("zero", "mean"):
        raise InvalidInputError(msg("unknown ablation mode {mode!r}: use zero or mean", mode=clip(mode, 40)))
    heads, ffn = [], []
    for item in rest.split(","):
        m = _ITEM.fullmatch(item.strip())
        if m is None or int(m.group(1)) < 1 or (m.group(3) is not None and int(m.group(3)) < 1):
            raise InvalidInputError(msg("{item!r} is not an ablation item: write L3H2 (layer 3, head 2), L3X2 "
                                        "(cross-attention) or L5F (FFN block)", item=clip(item.strip(), 40)))
        layer = int(m.group(1)) - 1
        if m.group(4):
            ffn.append(layer)
        else:
            heads.append((0 if m.group(2).upper() == "H" else 1, layer, int(m.group(3)) - 1))
    return Ablation(heads=tuple(heads), ffn=tuple(ffn), mode=mode)  # type: ignore[arg-type]


def format_ablation(ablation: Ablation) -> str:
    """The ``?ablate=`` text of ``ablation`` (the inverse of :func:`parse_ablation`)."""
    items = [f"L{la + 1}{'H' if s == 0 else 'X'}{h + 1}" for s, la, h in ablation.heads]
    items += [f"L{la + 1}F" for la in ablation.ffn]
    return f"{ablation.mode}:{','.join(items)}"


@dataclass(frozen=True)
class AblationResult:
    """The prediction at the read position before and after an ablation."""

    model_id: str
    encoding: Encoding
    ablation: Ablation
    token_ids: tuple[int, ...]  # the union of both top-k
    tokens: tuple[str, ...]
    before: np.ndarray  # float32 [k] probabilities
    after: np.ndarray  # float32 [k]
    top_before: str
    top_after: str


def ablate(handle: ModelHandle, text: str, ablation: Ablation, *, text_pair: str | None = None, top_k: int = 8,
           mask_index: int = 0, max_tokens: int | None = None) -> AblationResult:
    """The next-token (or [MASK], or next target token) distribution with and without ``ablation``.

    Returns:
        :class:`AblationResult`: probabilities of the union of both top-k tokens, before and after.

    Raises:
        InvalidInputError: empty text, a head or layer that does not exist.
        UnsupportedModelError: a model without an LM head or with unmapped blocks.
    """
    encoding = encode_input(handle, text, text_pair, max_tokens=max_tokens)
    p, _ = read_position(handle, encoding, mask_index)
    with handle.lock:
        before = torch.softmax(_logits(handle, encoding, 1, p)[0], -1)
        with ablated(handle, ablation):
            after = torch.softmax(_logits(handle, encoding, 1, p)[0], -1)
    k = min(top_k, before.shape[0])
    ids = list(dict.fromkeys(before.topk(k).indices.tolist() + after.topk(k).indices.tolist()))
    names = tuple(token_text(handle, i) for i in ids)
    return AblationResult(handle.model_id, encoding, ablation, tuple(ids), names,
                          before[ids].numpy().astype(np.float32), after[ids].numpy().astype(np.float32),
                          token_text(handle, int(before.argmax())), token_text(handle, int(after.argmax())))


def head_label(stacks: Sequence[str], stack: int, layer: int, head: int) -> str:
    """"L3 H2" (1-based), with the stack's name when the model has several."""
    base = f"L{layer + 1} H{head + 1}"
    return base if len(stacks) <= 1 else f"{stacks[stack]} {base}"
