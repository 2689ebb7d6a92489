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
from typing import TYPE_CHECKING

import torch

from plm_core.attribution.types import Target
from plm_core.errors import InvalidInputError, UnsupportedModelError, clip, excerpt
from plm_core.inference import class_labels, decoder_start, lm_body_and_head, mask_positions, mean_pool, run
from plm_core.kinds import CausalLMAdapter, ClassifierAdapter, EncoderAdapter, MaskedLMAdapter, Seq2SeqAdapter
from plm_core.handle import ModelHandle
from plm_core.display import is_bytes, token_text, token_texts
from plm_core.tokens import clean_token, encode, no_mask_message
from plm_core.types import Encoding
from plm_core.i18n import msg

if TYPE_CHECKING:
    from transformers import BatchEncoding


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
        raise InvalidInputError(msg('the target word is empty: type a word'))
    text = (" " + word) if leading_space else word
    ids = handle.tokenizer(text, add_special_tokens=False)["input_ids"]
    if not ids:
        raise InvalidInputError(msg("the word {word} gives no token for this model", word=excerpt(word)))
    return list(ids)


def _one_token(handle: ModelHandle, word: str, leading_space: bool, notes: list[str]) -> tuple[int, str]:
    """The id explained for ``word`` (its first piece when it is several) and that piece's display text."""
    ids = word_ids(handle, word, leading_space=leading_space)
    exact = handle.tokenizer.convert_tokens_to_ids(word.strip())  # a vocabulary entry as shown ("##s")
    # ... only if it reads as the word: a byte-level vocabulary spells bytes with letters ("é" is the byte 0xE9)
    if (len(ids) > 1 and isinstance(exact, int) and exact != handle.tokenizer.unk_token_id
            and _token_name(handle, int(exact)) == word.strip()):
        return int(exact), _token_name(handle, int(exact))
    pieces = token_texts(handle, ids)  # in context: "é 1/2", not a lone byte
    if len(ids) > 1:
        notes.append(msg("{value} is {n_ids} tokens for this model ({value2}); its first piece {value3} is "
                         "explained",
                         value=excerpt(word.strip()), n_ids=len(ids), value2=clip(" + ".join(pieces)),
                         value3=excerpt(pieces[0].strip())))
    return int(ids[0]), pieces[0].strip() or pieces[0]


def _piece(handle: ModelHandle, token_id: int) -> str:
    """A token exactly as compared, quoted with its spaces (repr: ``' he'``, ``'he'``)."""
    return repr(token_text(handle, token_id))


def _contrast_pair(handle: ModelHandle, word: str, foil: str, leading_space: bool,
                   notes: list[str]) -> tuple[int, int, str, str]:
    """The ids of a contrast's two words in the same form, and their quoted pieces (inseq #147).

    Both are written as after a space when the words continue running text (``leading_space``), else without;
    when one of them is a single token only in the other form, both take that form (a note says so). Read
    separately, "he" could resolve to the piece without a space and "she" to " she": a difference of two
    unrelated tokens.
    """
    for space in (leading_space, not leading_space):
        a, b = word_ids(handle, word, leading_space=space), word_ids(handle, foil, leading_space=space)
        if len(a) == 1 and len(b) == 1:
            if space != leading_space:
                notes.append(msg("{word} and {foil} are single tokens for this model only {form}, so both are "
                                 "compared in that form", word=excerpt(word.strip()), foil=excerpt(foil.strip()),
                                 form=msg("after a space") if space else msg("without a leading space")))
            return int(a[0]), int(b[0]), _piece(handle, int(a[0])), _piece(handle, int(b[0]))
    a = word_ids(handle, word, leading_space=leading_space)
    b = word_ids(handle, foil, leading_space=leading_space)
    for w, ids in ((word, a), (foil, b)):
        if len(ids) > 1:
            notes.append(msg("{value} is {n_ids} tokens for this model ({value2}); its first piece {value3} is "
                             "explained", value=excerpt(w.strip()), n_ids=len(ids),
                             value2=clip(" + ".join(token_texts(handle, ids))), value3=_piece(handle, int(ids[0]))))
    return int(a[0]), int(b[0]), _piece(handle, int(a[0])), _piece(handle, int(b[0]))


def _token_name(handle: ModelHandle, token_id: int) -> str:
    """Display text of a token for labels (plm_core.display)."""
    shown = token_text(handle, token_id)
    return shown.strip() or shown


def _token_word(handle: ModelHandle, token_id: int) -> str:
    """The token as a word to tokenize again (``Target.word``): its vocabulary spelling, cleaned."""
    tok = handle.tokenizer
    raw = tok.convert_ids_to_tokens([token_id])[0] if 0 <= token_id < len(tok) else None
    return clean_token(raw).strip() if raw is not None else token_text(handle, token_id)  # no token: <id N>


_OTHER_CACHE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # handle -> {(text, max): embedding}


def _other_embedding(handle: ModelHandle, other: str, max_tokens: int | None) -> tuple[torch.Tensor, tuple[str, ...]]:
    """Mean-pooled, normalised embedding of the second sentence and the notes of its encoding (truncation);
    kept for the last 32 sentences."""
    cache = _OTHER_CACHE.setdefault(handle, {})
    key = (other, max_tokens)
    if key not in cache:
        enc2, batch2 = encode(handle, other, max_tokens=max_tokens)
        hidden = handle.adapter.last_hidden(handle, batch2).float()
        # a plain tensor (not an inference-mode one): the objective's backward reads it
        emb = mean_pool(hidden, batch2["attention_mask"].to(hidden.device))[0].clone()
        cache[key] = (emb, tuple(msg("second sentence: {note}", note=n) for n in enc2.notes))
        while len(cache) > 32:
            cache.pop(next(iter(cache)))
    return cache[key]


def default_target(handle: ModelHandle) -> Target:
    """The model kind's default target (the first of ``handle.adapter.target_kinds``)."""
    return Target(handle.adapter.target_kinds[0])


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


@dataclass
class Prepared:
    """What every kind's objective starts from: the input, its word embeddings and the fixed tokens."""

    encoding: Encoding
    ids: torch.Tensor  # [1, query] on the device
    extra: dict[str, torch.Tensor]  # attention_mask, token_type_ids ... ([1, query] each) on the device
    input_embeds: torch.Tensor  # [1, query, hidden] (no grad)
    fixed: torch.Tensor  # bool [query]: specials (kept in every baseline)
    autocast: contextlib.AbstractContextManager
    notes: list[str]

    def expand(self, b: int) -> dict[str, torch.Tensor]:
        return {k: v.expand(b, -1) for k, v in self.extra.items()}


def prepare(handle: ModelHandle, encoding: Encoding, batch, keys: tuple[str, ...] = ("attention_mask", "token_type_ids"),
            ) -> Prepared:
    """Move the batch to the device and look up the word embeddings of ``encoding``."""
    device = handle.device
    ids = batch["input_ids"].to(device)
    extra = {k: v.to(device) for k, v in batch.items() if k in keys}
    autocast = (torch.autocast("cuda", dtype=torch.bfloat16) if device.type == "cuda"
                else contextlib.nullcontext())
    with torch.no_grad():
        input_embeds = handle.model.get_input_embeddings()(ids).detach()
    return Prepared(encoding, ids, extra, input_embeds, torch.tensor(encoding.special, dtype=torch.bool), autocast, [])


def model_of_embeds(handle: ModelHandle, prep: Prepared, emb: torch.Tensor, module: torch.nn.Module | None = None):
    """The model (or ``module``) on word embeddings ``emb`` [batch, query, hidden], autograd as the caller has it."""
    with prep.autocast:
        return run(handle, {"inputs_embeds": emb, **prep.expand(emb.shape[0])}, grad=True, module=module)


def build_objective(handle: ModelHandle, text: str, target: Target | None, text_pair: str | None = None,
                    max_tokens: int | None = None) -> Objective:
    """Encode ``text`` and build f(word embeddings) -> target value (the kind's entry in :data:`OBJECTIVES`).
    Call under ``handle.lock``.

    Raises:
        InvalidInputError: no [MASK] where the target needs one, an empty second sentence, an empty word.
        UnsupportedModelError: a target kind that does not fit the model kind; a kind attribution does not support.
    """
    adapter = handle.adapter
    target = target or default_target(handle)
    if target.kind not in adapter.target_kinds:
        raise UnsupportedModelError(
            msg("a '{kind}' target does not fit a {value}; use one of: {value2}", kind=target.kind, value=adapter.name.replace('_', ' '), value2=', '.join(adapter.target_kinds)))
    encoding, batch = encode(handle, text, text_pair, max_tokens=max_tokens)
    objective = OBJECTIVES.get(handle.kind)
    if objective is None:
        raise UnsupportedModelError(msg('attribution does not support {name} models', name=adapter.name))
    return objective(handle, encoding, batch, target, max_tokens)


def class_objective(handle: ModelHandle, prep: Prepared, target: Target) -> Objective:
    """A classifier's class probability (or logit) as a function of the word embeddings."""
    labels = class_labels(handle)
    with torch.no_grad():
        logits = run(handle, {"input_ids": prep.ids, **prep.extra}).logits[0]
    if target.class_id is None and target.label is not None:
        if target.label not in labels:
            raise InvalidInputError(msg("unknown class {label}; the classes are: {value}", label=excerpt(target.label),
                                        value=", ".join(labels)))
        target = target.with_(class_id=labels.index(target.label))
    cid = int(logits.argmax()) if target.class_id is None else int(target.class_id)
    if not 0 <= cid < len(labels):
        raise InvalidInputError(msg('class id {cid} is out of range: the model has {n_labels} classes', cid=cid, n_labels=len(labels)))
    target = target.with_(class_id=cid, label=labels[cid])
    multi = handle.adapter.multi_label(handle)
    output = msg("prob, sigmoid") if multi and target.output == "prob" else _OUTPUT[target.output]
    label = msg("class '{label}' ({output})", label=labels[cid], output=output)

    logits_of = _encoder_decoder_classifier(handle, prep) if handle.arch.encoder_decoder else None

    def f(emb: torch.Tensor) -> torch.Tensor:
        out = (logits_of(emb) if logits_of else model_of_embeds(handle, prep, emb).logits).float()
        # the probability the model gives: a softmax over the classes, or a sigmoid per label (multi-label head)
        return handle.adapter.probabilities(handle, out)[:, cid] if target.output == "prob" else out[:, cid]

    return Objective(prep.encoding, prep.input_embeds, prep.fixed, f, target, cid, label, None, tuple(prep.notes))


def _encoder_decoder_classifier(handle: ModelHandle, prep: Prepared) -> Callable[[torch.Tensor], torch.Tensor]:
    """f(word embeddings [batch, query, hidden]) -> class logits [batch, label] of a BART-style sequence classifier.

    transformers' ``BartForSequenceClassification.forward`` (and mBART's, PLBart's, MVP's, LED's) refuses
    ``inputs_embeds`` (NotImplementedError): it finds the <eos> tokens in ``input_ids``. This is the same
    computation on embeddings: the input goes to the encoder, the same tokens shifted right behind the decoder
    start token to the decoder (``shift_tokens_right``), and the classification head reads the decoder's state at
    the last <eos>. Each token's word embedding feeds both stacks, so its attribution covers both uses.

    Raises:
        UnsupportedModelError: the model lacks that layout (no ``classification_head`` or base ``model``).
        InvalidInputError: the input has no <eos> token.
    """
    model = handle.model
    base, head = getattr(model, "model", None), getattr(model, "classification_head", None)
    if base is None or head is None:
        raise UnsupportedModelError(msg("{model_id} is an encoder-decoder classifier of a layout plm-lens does not "
                                        "know ({value}): it cannot be attributed", model_id=handle.model_id,
                                        value=type(model).__name__))
    last = handle.adapter.query_row(handle, prep.encoding)  # its last <eos>, -1 when there is none
    if last < 0:
        raise InvalidInputError(msg("the input has no end-of-sequence token, which this classifier reads"))
    with torch.no_grad():
        start = model.get_input_embeddings()(torch.tensor([[decoder_start(handle)]], device=prep.ids.device))
    mask = prep.extra.get("attention_mask")

    def logits_of(emb: torch.Tensor) -> torch.Tensor:
        b = emb.shape[0]
        decoder_embeds = torch.cat([start.to(emb.dtype).expand(b, 1, -1), emb[:, :-1]], dim=1)
        extra = {} if mask is None else {"attention_mask": mask.expand(b, -1)}
        with prep.autocast:
            hidden = run(handle, {"inputs_embeds": emb, "decoder_inputs_embeds": decoder_embeds, **extra}, grad=True,
                         module=base).last_hidden_state
            return head(hidden[:, last])

    return logits_of


def similarity_objective(handle: ModelHandle, prep: Prepared, target: Target, max_tokens: int | None) -> Objective:
    """Cosine similarity of the mean-pooled sentence to a second sentence, as a function of the word embeddings."""
    other = (target.other or "").strip()
    if not other:
        raise InvalidInputError(msg("the similarity target needs a second sentence to compare with: type one"))
    e2, other_notes = _other_embedding(handle, other, max_tokens)
    prep.notes += other_notes
    mask = prep.extra["attention_mask"].float()

    def f(emb: torch.Tensor) -> torch.Tensor:
        hidden = model_of_embeds(handle, prep, emb).last_hidden_state.float()
        return mean_pool(hidden, mask.expand(emb.shape[0], -1)) @ e2

    short = other if len(other) <= 40 else other[:37] + "…"
    return Objective(prep.encoding, prep.input_embeds, prep.fixed, f, target.with_(other=other), None,
                     msg("cosine similarity to '{other}'", other=short), None, tuple(prep.notes))


_OUTPUT = {"prob": msg("prob"), "logit": msg("logit")}  # how a target's label names what is explained


def token_objective(handle: ModelHandle, prep: Prepared, target: Target, position: int, *, leading_space: bool,
                    where: str, logits_at: Callable[[torch.Tensor], torch.Tensor] | None = None) -> Objective:
    """A vocabulary entry at one position (a [MASK], the next token), or the contrast of two entries.

    Args:
        position: the token index explained.
        leading_space: a target word is written as after a space (byte-level BPE: "Ġword").
        where: how the position reads in the label ("as the next token").
        logits_at: f(word embeddings) -> logits [batch, vocab] at the position; default: the LM body on every
            token and the head at ``position`` only (full forward where the split is unknown).
    """
    model = handle.model
    if logits_at is None:
        parts = lm_body_and_head(model)
        pos = position

        def logits_at(emb: torch.Tensor) -> torch.Tensor:
            if parts is None:  # unknown architecture: full forward, then select
                return model_of_embeds(handle, prep, emb).logits[:, pos].float()
            base, head = parts
            hidden = model_of_embeds(handle, prep, emb, module=base)[0]
            with prep.autocast:
                return head(hidden[:, pos]).float()

    notes = prep.notes
    if target.token_id is not None or target.word is None:
        if target.token_id is not None:  # a resolved target asked for again: the same id, not its word re-tokenised
            tid = int(target.token_id)
            head = model.get_output_embeddings()
            vocab = int(head.weight.shape[0]) if head is not None else len(handle.tokenizer)
            if not 0 <= tid < vocab:
                raise InvalidInputError(msg("token id {value} is outside this model's vocabulary (0 to {n})",
                                            value=tid, n=vocab - 1))
        else:
            with torch.no_grad():
                tid = int(logits_at(prep.input_embeds).argmax(-1)[0])
        target = target.with_(word=target.word or _token_word(handle, tid), token_id=tid)
        word = _token_name(handle, tid)
        if is_bytes(word):
            notes.append(msg('the predicted token {word} is bytes of a character, not a whole character: the '
                             'character is complete only with the next token(s)',
                             word=word))
    elif target.kind == "contrast":
        tid = None  # resolved below together with the foil, in the same form
    else:
        tid, word = _one_token(handle, target.word, leading_space, notes)
        target = target.with_(token_id=tid)
    if target.kind == "contrast":
        if not (target.contrast or "").strip():
            raise InvalidInputError(msg("a contrastive target needs a second word (the foil, e.g. 'she')"))
        if tid is None:
            tid, foil, word, foil_name = _contrast_pair(handle, target.word, target.contrast, leading_space, notes)
            target = target.with_(token_id=tid)
        else:  # the target token is fixed: the foil in the same form (with or without its leading space)
            space = token_text(handle, tid)[:1].isspace() if tid < len(handle.tokenizer) else leading_space
            foil, foil_name = _one_token(handle, target.contrast, space, notes)
            word, foil_name = _piece(handle, tid), _piece(handle, foil)
        if foil == tid:
            raise InvalidInputError(msg("{word} and {contrast} are the same token: choose two words",
                                        word=excerpt(target.word), contrast=excerpt(target.contrast)))
        # the exact pieces compared, quoted with their spaces: ' he' and 'he' are different tokens
        label = msg("{word} rather than {foil} {where} (logit difference)", word=word, foil=foil_name, where=where)

        def f(emb: torch.Tensor) -> torch.Tensor:
            logits = logits_at(emb)
            return logits[:, tid] - logits[:, foil]
    else:
        label = msg("'{word}' {where} ({output})", word=word, where=where, output=_OUTPUT[target.output])

        def f(emb: torch.Tensor) -> torch.Tensor:
            logits = logits_at(emb)
            return logits.log_softmax(-1)[:, tid].exp() if target.output == "prob" else logits[:, tid]

    return Objective(prep.encoding, prep.input_embeds, prep.fixed, f, target, tid, label, position, tuple(notes))


# ---- the objective of each model kind ------------------------------------------------------------------------------

# (handle, encoding, its batch of one, target, max_tokens) -> Objective; called under ``handle.lock``
ObjectiveFn = Callable[[ModelHandle, Encoding, "BatchEncoding", Target, "int | None"], Objective]


def class_target(handle: ModelHandle, encoding: Encoding, batch: BatchEncoding, target: Target,
                 max_tokens: int | None) -> Objective:
    """Classifier: a class probability (or logit) (:func:`class_objective`)."""
    return class_objective(handle, prepare(handle, encoding, batch), target)


def similarity_target(handle: ModelHandle, encoding: Encoding, batch: BatchEncoding, target: Target,
                      max_tokens: int | None) -> Objective:
    """Sentence encoder: cosine similarity to a second sentence (:func:`similarity_objective`)."""
    return similarity_objective(handle, prepare(handle, encoding, batch), target, max_tokens)


def masked_token_target(handle: ModelHandle, encoding: Encoding, batch: BatchEncoding, target: Target,
                        max_tokens: int | None) -> Objective:
    """Masked LM: a word (or the contrast of two) at [MASK] number ``target.mask_index``; every mask stays a mask
    in the baseline.

    Raises:
        InvalidInputError: no [MASK] in the input, or no [MASK] of that number.
    """
    prep = prepare(handle, encoding, batch)
    positions = mask_positions(handle, encoding)
    with handle.lock:
        mask_tok = handle.tokenizer.mask_token or "[MASK]"
    if not positions:
        raise InvalidInputError(no_mask_message(handle, encoding))
    if not 0 <= target.mask_index < len(positions):
        raise InvalidInputError(msg('there are {n_positions} {mask_tok} tokens; mask_index {mask_index} does not '
                                    'exist',
                                    n_positions=len(positions), mask_tok=mask_tok, mask_index=target.mask_index))
    position = positions[target.mask_index]
    prep.fixed[positions] = True  # every mask stays a mask in the baseline
    return token_objective(handle, prep, target, position, leading_space=True,
                           where=msg("at {mask} (token {position})", mask=mask_tok, position=position))


def next_token_target(handle: ModelHandle, encoding: Encoding, batch: BatchEncoding, target: Target,
                      max_tokens: int | None) -> Objective:
    """Causal LM: the next token after the text (read at the last token)."""
    prep = prepare(handle, encoding, batch)
    return token_objective(handle, prep, target, len(encoding) - 1, where=msg("as the next token"),
                           leading_space=not encoding.text.endswith((" ", "\n", "\t")))


def next_target_token_target(handle: ModelHandle, encoding: Encoding, batch: BatchEncoding, target: Target,
                             max_tokens: int | None) -> Objective:
    """Encoder-decoder: the next target token, explained by the source tokens and the target prefix: f(word
    embeddings of both), the source's fed to the encoder and the prefix's to the decoder."""
    n_source = batch["input_ids"].shape[1]
    both = {"input_ids": torch.cat([batch["input_ids"], batch["decoder_input_ids"]], dim=1),
            "attention_mask": batch["attention_mask"], "decoder_attention_mask": batch["decoder_attention_mask"]}
    prep = prepare(handle, encoding, both, keys=("attention_mask", "decoder_attention_mask"))

    def logits_at(emb: torch.Tensor) -> torch.Tensor:
        with prep.autocast:
            out = run(handle, {"inputs_embeds": emb[:, :n_source], "decoder_inputs_embeds": emb[:, n_source:],
                               **prep.expand(emb.shape[0])}, grad=True)
        return out.logits[:, -1].float()

    prefix = encoding.text_pair or ""
    return token_objective(handle, prep, target, len(encoding) - 1, where=msg("as the next target token"),
                           leading_space=bool(prefix) and not prefix.endswith((" ", "\n", "\t")),
                           logits_at=logits_at)


# model kind -> the scalar its attributions explain; a kind absent here is refused by build_objective with
# "attribution does not support {name} models"
OBJECTIVES: dict[str, ObjectiveFn] = {
    MaskedLMAdapter.name: masked_token_target,
    CausalLMAdapter.name: next_token_target,
    ClassifierAdapter.name: class_target,
    EncoderAdapter.name: similarity_target,
    Seq2SeqAdapter.name: next_target_token_target,
}


def baseline_embeds(handle: ModelHandle, obj: Objective, baseline: str) -> torch.Tensor:
    """Word embeddings of the baseline input: pad / mask token or zeros at every non-fixed position."""
    emb = obj.input_embeds
    if baseline == "zero":
        fill = torch.zeros(emb.shape[-1], dtype=emb.dtype, device=emb.device)
    elif baseline in ("pad", "mask"):
        tok = handle.tokenizer
        tid = tok.pad_token_id if baseline == "pad" else tok.mask_token_id
        if tid is None:
            raise InvalidInputError(msg("this model's tokenizer has no {baseline} token: choose another baseline", baseline=baseline))
        with torch.no_grad():
            fill = handle.model.get_input_embeddings()(torch.tensor([tid], device=emb.device))[0]
    else:
        raise InvalidInputError(msg("unknown baseline {baseline}; choose pad, mask or zero", baseline=excerpt(baseline)))
    keep = obj.fixed.to(emb.device)[None, :, None]
    return torch.where(keep, emb, fill.to(emb.dtype)[None, None, :].expand_as(emb)).detach()
