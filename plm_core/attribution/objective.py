"""The scalar each attribution explains, as a function of the word embeddings: f(emb) -> [batch].

Attributions are taken with respect to the *word* embeddings (``inputs_embeds``): position and
token-type embeddings are added by the model as usual, so this equals captum's
LayerIntegratedGradients on ``model.get_input_embeddings()`` — without any hook on the shared model.
Only what the target needs is computed: for a masked or causal LM the base model runs on every token
but the LM head only at the one position explained.
"""

from __future__ import annotations

import contextlib
import weakref
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import torch

from plm_core.attribution.types import KIND_TARGETS, Target
from plm_core.errors import InvalidInputError, UnsupportedModelError, excerpt
from plm_core.inference import class_labels, lm_body_and_head, mask_positions, mean_pool
from plm_core.loading import ModelHandle
from plm_core.tokens import clean_token, encode, no_mask_message
from plm_core.types import Encoding


@dataclass
class Objective:
    """Everything a method needs for one (input, target): built under the handle's lock."""

    encoding: Encoding
    input_embeds: torch.Tensor  # [1, query, hidden] word embeddings of the input (no grad)
    fixed: torch.Tensor  # bool [query]: specials and the explained [MASK] (kept in every baseline)
    f: Callable[[torch.Tensor], torch.Tensor]  # [batch, query, hidden] -> [batch]
    target: Target  # resolved
    target_id: int | None
    target_label: str
    position: int | None  # token index explained (mask / last token / None)
    notes: tuple[str, ...]


def word_ids(handle: ModelHandle, word: str, *, leading_space: bool) -> list[int]:
    """Vocabulary ids of ``word`` as the model would write it after a space (byte-level BPE: "Ġword")."""
    word = word.strip()
    if not word:
        raise InvalidInputError("the target word is empty: type a word")
    text = (" " + word) if leading_space else word
    ids = handle.tokenizer(text, add_special_tokens=False)["input_ids"]
    if not ids:
        raise InvalidInputError(f"the word {excerpt(word)} gives no token for this model")
    return list(ids)


def _one_token(handle: ModelHandle, word: str, leading_space: bool, notes: list[str]) -> int:
    ids = word_ids(handle, word, leading_space=leading_space)
    exact = handle.tokenizer.convert_tokens_to_ids(word.strip())  # a vocabulary entry as shown ("##s")
    if len(ids) > 1 and isinstance(exact, int) and exact != handle.tokenizer.unk_token_id:
        return int(exact)
    if len(ids) > 1:
        pieces = [clean_token(t) for t in handle.tokenizer.convert_ids_to_tokens(ids)]
        notes.append(f"{excerpt(word.strip())} is {len(ids)} tokens for this model ({excerpt(' + '.join(pieces))}); "
                     f"its first piece {excerpt(pieces[0].strip())} is explained")
    return int(ids[0])


def _token_name(handle: ModelHandle, token_id: int) -> str:
    return clean_token(handle.tokenizer.convert_ids_to_tokens([token_id])[0]).strip()


_OTHER_CACHE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # handle -> {(text, max): embedding}


def _other_embedding(handle: ModelHandle, other: str, max_tokens: int | None) -> tuple[torch.Tensor, tuple[str, ...]]:
    """Mean-pooled, normalised embedding of the second sentence and the notes of its encoding (truncation);
    kept for the last 32 sentences."""
    cache = _OTHER_CACHE.setdefault(handle, {})
    key = (other, max_tokens)
    if key not in cache:
        with torch.no_grad():
            enc2, batch2 = encode(handle, other, max_tokens=max_tokens)
            out2 = handle.model(**batch2.to(handle.device))
            emb = mean_pool(out2.last_hidden_state.float(), batch2["attention_mask"].to(handle.device))[0]
        cache[key] = (emb, tuple(f"second sentence: {n}" for n in enc2.notes))
        while len(cache) > 32:
            cache.pop(next(iter(cache)))
    return cache[key]


def default_target(handle: ModelHandle) -> Target:
    return Target(KIND_TARGETS[handle.kind][0])


@contextlib.contextmanager
def attn_implementation(handle: ModelHandle, impl: str | None) -> Iterator[None]:
    """Temporarily run the shared model with another attention kernel (e.g. SDPA); restored in finally.

    Call only under ``handle.lock``: the setting is on the shared model.
    """
    config = handle.model.config
    old = getattr(config, "_attn_implementation", None)
    if impl is None or old == impl:
        yield
        return
    try:
        handle.model.set_attn_implementation(impl)
    except (ValueError, ImportError, AttributeError):  # kernel not available for this model: keep eager
        yield
        return
    try:
        yield
    finally:
        handle.model.set_attn_implementation(old)


def build_objective(handle: ModelHandle, text: str, target: Target | None, text_pair: str | None = None,
                    max_tokens: int | None = None) -> Objective:
    """Encode ``text`` and build f(word embeddings) -> target value. Call under ``handle.lock``.

    Raises:
        InvalidInputError: no [MASK] where the target needs one, an empty second sentence, an empty word.
        UnsupportedModelError: a target kind that does not fit the model kind.
    """
    kind = handle.kind
    target = target or default_target(handle)
    if target.kind not in KIND_TARGETS[kind]:
        raise UnsupportedModelError(
            f"a '{target.kind}' target does not fit a {kind.replace('_', ' ')}; "
            f"use one of: {', '.join(KIND_TARGETS[kind])}")
    model = handle.model
    device = handle.device
    encoding, batch = encode(handle, text, text_pair, max_tokens=max_tokens)
    ids = batch["input_ids"].to(device)
    extra = {k: v.to(device) for k, v in batch.items() if k in ("attention_mask", "token_type_ids")}
    n = ids.shape[1]
    fixed = torch.tensor(encoding.special, dtype=torch.bool)
    notes: list[str] = []
    autocast = (torch.autocast("cuda", dtype=torch.bfloat16) if device.type == "cuda"
                else contextlib.nullcontext())

    def expand(b: int) -> dict[str, torch.Tensor]:
        return {k: v.expand(b, -1) for k, v in extra.items()}

    with torch.no_grad():
        input_embeds = model.get_input_embeddings()(ids).detach()

    position: int | None = None
    target_id: int | None = None
    if kind == "classifier":
        labels = class_labels(handle)
        with torch.no_grad():
            logits = model(input_ids=ids, **extra).logits[0]
        if target.class_id is None and target.label is not None:
            if target.label not in labels:
                raise InvalidInputError(f"unknown class {excerpt(target.label)}; the classes are: {', '.join(labels)}")
            target = target.with_(class_id=labels.index(target.label))
        cid = int(logits.argmax()) if target.class_id is None else int(target.class_id)
        if not 0 <= cid < len(labels):
            raise InvalidInputError(f"class id {cid} is out of range: the model has {len(labels)} classes")
        target = target.with_(class_id=cid, label=labels[cid])
        target_id = cid
        label = f"class '{labels[cid]}' ({target.output})"

        def f(emb: torch.Tensor) -> torch.Tensor:
            with autocast:
                out = model(inputs_embeds=emb, **expand(emb.shape[0])).logits.float()
            return out.softmax(-1)[:, cid] if target.output == "prob" else out[:, cid]

        return Objective(encoding, input_embeds, fixed, f, target, target_id, label, None, tuple(notes))

    if kind == "encoder":
        other = (target.other or "").strip()
        if not other:
            raise InvalidInputError("the similarity target needs a second sentence to compare with: type one")
        e2, other_notes = _other_embedding(handle, other, max_tokens)
        notes += other_notes
        mask = extra["attention_mask"].float()

        def f(emb: torch.Tensor) -> torch.Tensor:
            with autocast:
                hidden = model(inputs_embeds=emb, **expand(emb.shape[0])).last_hidden_state.float()
            return mean_pool(hidden, mask.expand(emb.shape[0], -1)) @ e2

        short = other if len(other) <= 40 else other[:37] + "…"
        return Objective(encoding, input_embeds, fixed, f, target.with_(other=other), None,
                         f"cosine similarity to '{short}'", None, tuple(notes))

    # masked LM and causal LM: one position, one or two vocabulary entries
    if kind == "masked_lm":
        positions = mask_positions(handle, encoding)
        mask_tok = handle.tokenizer.mask_token or "[MASK]"
        if not positions:
            raise InvalidInputError(no_mask_message(handle, encoding))
        if not 0 <= target.mask_index < len(positions):
            raise InvalidInputError(f"there are {len(positions)} {mask_tok} tokens; mask_index "
                                    f"{target.mask_index} does not exist")
        position = positions[target.mask_index]
        fixed[positions] = True  # every mask stays a mask in the baseline
        leading_space = True
        where = f"at {mask_tok} (token {position})"
    else:
        position = n - 1
        leading_space = not encoding.text.endswith((" ", "\n", "\t"))
        where = "as the next token"

    parts = lm_body_and_head(model)
    pos = position

    def logits_at(emb: torch.Tensor) -> torch.Tensor:
        with autocast:
            if parts is None:  # unknown architecture: full forward, then select
                return model(inputs_embeds=emb, **expand(emb.shape[0])).logits[:, pos].float()
            base, head = parts
            hidden = base(inputs_embeds=emb, **expand(emb.shape[0]))[0]
            return head(hidden[:, pos]).float()

    if target.word is None:
        with torch.no_grad():
            tid = int(logits_at(input_embeds).argmax(-1)[0])
        target = target.with_(word=_token_name(handle, tid))
    else:
        tid = _one_token(handle, target.word, leading_space, notes)
    target_id = tid
    word = _token_name(handle, tid)
    if target.kind == "contrast":
        if not (target.contrast or "").strip():
            raise InvalidInputError("a contrastive target needs a second word (the foil, e.g. 'she')")
        foil = _one_token(handle, target.contrast, leading_space, notes)
        if foil == tid:
            raise InvalidInputError(f"{excerpt(target.word)} and {excerpt(target.contrast)} are the same token: "
                                    "choose two words")
        label = f"'{word}' rather than '{_token_name(handle, foil)}' {where} (logit difference)"

        def f(emb: torch.Tensor) -> torch.Tensor:
            logits = logits_at(emb)
            return logits[:, tid] - logits[:, foil]
    else:
        label = f"'{word}' {where} ({target.output})"

        def f(emb: torch.Tensor) -> torch.Tensor:
            logits = logits_at(emb)
            return logits.log_softmax(-1)[:, tid].exp() if target.output == "prob" else logits[:, tid]

    return Objective(encoding, input_embeds, fixed, f, target, target_id, label, position, tuple(notes))


def baseline_embeds(handle: ModelHandle, obj: Objective, baseline: str) -> torch.Tensor:
    """Word embeddings of the baseline input: pad / mask token or zeros at every non-fixed position."""
    emb = obj.input_embeds
    if baseline == "zero":
        fill = torch.zeros(emb.shape[-1], dtype=emb.dtype, device=emb.device)
    elif baseline in ("pad", "mask"):
        tok = handle.tokenizer
        tid = tok.pad_token_id if baseline == "pad" else tok.mask_token_id
        if tid is None:
            raise InvalidInputError(f"this model's tokenizer has no {baseline} token: choose another baseline")
        with torch.no_grad():
            fill = handle.model.get_input_embeddings()(torch.tensor([tid], device=emb.device))[0]
    else:
        raise InvalidInputError(f"unknown baseline {baseline!r}; choose pad, mask or zero")
    keep = obj.fixed.to(emb.device)[None, :, None]
    return torch.where(keep, emb, fill.to(emb.dtype)[None, None, :].expand_as(emb)).detach()
