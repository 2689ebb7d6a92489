"""Tokenization: clean user text, encode it for a model, and keep what the views need."""

from __future__ import annotations

import unicodedata

from transformers import BatchEncoding

from plm_core import display
from plm_core.display import Spacing
from plm_core.errors import InvalidInputError, UnsupportedModelError, excerpt
from plm_core.handle import ModelHandle
from plm_core.types import Encoding
from plm_core.i18n import msg

# Longest text (characters) accepted before tokenizing: more is cut, and the note says so.
MAX_CHARS = 20_000
_KEEP_CONTROL = {"\n", "\t"}
# an [UNK] covering at least this many characters gets a note (a word too long for the tokenizer to split)
LONG_UNKNOWN_CHARS = 50


def clean_text(text: str, what: str = msg("text")) -> tuple[str, tuple[str, ...]]:
    """Normalise user text: NFC, control characters removed, length bounded.

    Returns:
        The cleaned text and notes describing each change.

    Raises:
        InvalidInputError: the text is empty or whitespace only.
    """
    if not isinstance(text, str):
        raise InvalidInputError(msg('the {what} must be a string, got {type}', what=what, type=type(text).__name__))
    notes: list[str] = []
    text = unicodedata.normalize("NFC", text.replace("\r\n", "\n").replace("\r", "\n"))
    kept = "".join(c for c in text if c in _KEEP_CONTROL or unicodedata.category(c) not in ("Cc", "Cs", "Co"))
    if len(kept) != len(text):
        notes.append(msg('removed {n} control character(s) from the {what}', n=len(text) - len(kept), what=what))
    if len(kept) > MAX_CHARS:
        notes.append(msg('the {what} was cut from {n_kept:,} to {limit:,} characters', what=what, n_kept=len(kept), limit=MAX_CHARS))
        kept = kept[:MAX_CHARS]
    if not kept.strip():
        raise InvalidInputError(msg('the {what} is empty: type a sentence', what=what))
    return kept, tuple(notes)


def clean_token(token: str) -> str:
    """Display form of a raw token (bertviz's format_special_chars): the space markers of
    :class:`plm_core.display.Spacing` (byte-level "Ġ", SentencePiece "▁") read as spaces, GPT-2's newline and tab
    bytes as ``\\n`` / ``\\t``. Only a spelling: whether a tokenizer puts the space in the piece is
    :func:`plm_core.display.spacing_scheme`."""
    for marker in (Spacing.BYTE_LEVEL, Spacing.METASPACE):
        token = token.replace(marker.value, " ")
    return token.replace("Ċ", "\\n").replace("ĉ", "\\t")


def encode(
    handle: ModelHandle,
    text: str,
    text_pair: str | None = None,
    *,
    max_tokens: int | None = None,
) -> tuple[Encoding, BatchEncoding]:
    """Tokenize one input for ``handle``'s model, truncating past the limit.

    What ``text_pair`` is depends on the model kind (``handle.adapter.encode``): a second sentence (segment B)
    for BERT-style models, read by :func:`encode_text`.

    Args:
        max_tokens: a lower limit than the model's own (specials included); None = the model's.

    Returns:
        The display encoding and the batch (batch size 1, on the CPU) to pass to the model.

    Raises:
        InvalidInputError: empty text, or an input that leaves no room for any token.
    """
    return handle.adapter.encode(handle, text, text_pair, max_tokens=max_tokens)


def encode_text(
    handle: ModelHandle,
    text: str,
    text_pair: str | None = None,
    *,
    max_tokens: int | None = None,
) -> tuple[Encoding, BatchEncoding]:
    """:func:`encode` for one sentence or a pair of sentences (segments 0 and 1): the default reading of a
    second text (``KindAdapter.encode``). Arguments, result and errors as for :func:`encode`.
    """
    text, notes = clean_text(text)
    pair_notes: tuple[str, ...] = ()
    if text_pair is not None and text_pair.strip():
        text_pair, pair_notes = clean_text(text_pair, msg("second sentence"))
    else:
        text_pair = None
    limit = min(handle.max_tokens, max_tokens or handle.max_tokens)  # max_tokens has classroom mode's cap
    tok = handle.tokenizer
    with handle.lock:
        full = tok(text, text_pair, add_special_tokens=True, truncation=False, verbose=False)
        n_full = len(full["input_ids"])
        cut_a, cut_b = (_shorten_pair(handle, text, text_pair, limit) if text_pair is not None and n_full > limit
                        else (text, text_pair))
        batch = tok(
            cut_a, cut_b, return_tensors="pt", truncation="longest_first" if n_full > limit else False,
            max_length=limit if n_full > limit else None, return_offsets_mapping=tok.is_fast,
            return_special_tokens_mask=True, return_token_type_ids=None,
        )
        ids = batch["input_ids"][0].tolist()
        seq_ids = batch.sequence_ids(0) if tok.is_fast else [0] * len(ids)
        word_ids = tuple(batch.word_ids(0)) if tok.is_fast else ()
        unk_id = tok.unk_token_id
        typed_ids = _typed_special_ids(tok)
    if not ids or all(batch["special_tokens_mask"][0].tolist()):
        raise InvalidInputError(msg("the text gives no tokens for this model"))
    typed, keep, typed_notes = _typed_specials(handle, batch, seq_ids, (text, text_pair), typed_ids)
    if len(keep) < len(ids):  # a typed <s>/[CLS]/[SEP] stands for the one the tokenizer adds: not added twice
        for key in ("input_ids", "attention_mask", "token_type_ids", "special_tokens_mask", "offset_mapping"):
            if key in batch:
                batch[key] = batch[key][:, keep]
        ids = [ids[k] for k in keep]
        seq_ids = [seq_ids[k] for k in keep]
        word_ids = tuple(word_ids[k] for k in keep) if word_ids else ()
        typed = [typed[k] for k in keep]
    with handle.lock:
        raw_tokens = tok.convert_ids_to_tokens(ids)
    notes += typed_notes
    if "token_type_ids" in batch and not uses_token_types(handle):
        del batch["token_type_ids"]  # RoBERTa-style: one segment embedding, pairs told apart by </s></s>
    # typed special tokens are what the tokenizer made of them: the model's own specials (shown, kept in baselines,
    # never masked or scored)
    special = tuple(bool(s) or t for s, t in zip(batch.pop("special_tokens_mask")[0].tolist(), typed))
    offsets = (
        tuple((int(a), int(b)) for a, b in batch.pop("offset_mapping")[0].tolist())
        if "offset_mapping" in batch else tuple((0, 0) for _ in ids)
    )
    # special tokens carry the segment of their neighbours: [SEP] closing sentence 1 is segment 0
    segments, current = [], 0
    for s in seq_ids:
        current = s if s is not None else current
        segments.append(int(current))
    truncated = n_full > limit
    if truncated:
        notes += (msg("the input has {n_full:,} tokens; only the first {limit} (the limit here) are used",
                      n_full=n_full, limit=limit),)
    texts = (text, text_pair)
    shown = display.token_texts(handle, ids, special=special, offsets=offsets, segments=segments, texts=texts)
    unknown = tuple(not s and i == unk_id and shown[k] != raw_tokens[k]
                    for k, (i, s) in enumerate(zip(ids, special)))
    # an unknown token that stands for a whole long word gets its own note (the word is too long to split, its
    # characters may well be in the vocabulary); the characters-unknown note counts the others
    short = tuple(u and b - a < LONG_UNKNOWN_CHARS for u, (a, b) in zip(unknown, offsets))
    if any(short):
        note = display.unknown_note(*display.unknown_characters(short, offsets, segments, texts))
        notes += (note,) if note else ()
    notes += _long_unknown_notes(handle, ids, offsets, segments, (text, text_pair or ""))
    encoding = Encoding(
        text=text, text_pair=text_pair, tokens=shown,
        input_ids=tuple(ids), special=special, segments=tuple(segments), offsets=offsets,
        truncated=truncated, notes=notes + pair_notes, word_ids=word_ids, unknown=unknown,
    )
    return encoding, batch


def _typed_special_ids(tok) -> dict[int, str]:
    """Special tokens a text may contain as typed (template tokens, <s>, [CLS], <|endoftext|>), by id: every special
    token but the mask token (a typed [MASK] is where a masked LM predicts). The unknown token counts only where it is
    spelt out (an unknown character also becomes it: :func:`_typed_specials` compares the characters). Call under
    the handle's lock."""
    return {int(i): str(t) for t, i in zip(tok.all_special_tokens, tok.all_special_ids) if i != tok.mask_token_id}


def _typed_specials(handle: ModelHandle, batch: BatchEncoding, seq_ids: list[int | None], texts: tuple[str, str | None],
                    typed_ids: dict[int, str]) -> tuple[list[bool], list[int], tuple[str, ...]]:
    """Which tokens are special tokens typed in the text (or written by a chat template), which positions to keep,
    and the notes (inseq #271, #278).

    A typed special is the model's own special token: it is marked special (shown, kept in baselines, never masked
    or scored). Where the tokenizer adds the same special right beside it (its own <s>/[CLS] before a typed one,
    its [SEP] after a typed one), the tokenizer's is left out, so the model reads it once.
    """
    ids = batch["input_ids"][0].tolist()
    auto = [bool(s) for s in batch["special_tokens_mask"][0].tolist()]
    offsets = batch["offset_mapping"][0].tolist() if "offset_mapping" in batch else [(0, 0)] * len(ids)
    typed = [False] * len(ids)
    for k, (tid, is_auto, seq, (a, b)) in enumerate(zip(ids, auto, seq_ids, offsets)):
        if is_auto or tid not in typed_ids or seq is None or texts[seq] is None:
            continue
        # the characters spell the token (a lower-casing tokenizer reads "[cls]" as [CLS] too)
        typed[k] = texts[seq][a:b].strip().lower() == typed_ids[tid].lower()
    if not any(typed):
        return typed, list(range(len(ids))), ()
    drop = {k for k in range(len(ids)) if auto[k] and (
        (k + 1 < len(ids) and typed[k + 1] and ids[k + 1] == ids[k]) or (k > 0 and typed[k - 1] and ids[k - 1] == ids[k]))}
    names = list(dict.fromkeys(typed_ids[t] for t, is_typed in zip(ids, typed) if is_typed))
    notes = [msg("the text contains the special token(s) {tokens}: each is read as the model's own special token "
                 "(shown, kept in baselines, never masked or scored)", tokens=", ".join(names))]
    if drop:
        twice = list(dict.fromkeys(typed_ids[ids[k]] for k in sorted(drop)))
        notes.append(msg("the typed {tokens} stands for the one the tokenizer adds there, so the model reads it once "
                         "(the tokenizer's own was left out)", tokens=", ".join(twice)))
    return typed, [k for k in range(len(ids)) if k not in drop], tuple(notes)


def uses_token_types(handle: ModelHandle) -> bool:
    """True when the model reads token type ids (segment A/B embeddings): BERT yes, RoBERTa (one type) and
    DistilBERT (none) no. Every path that builds a batch itself asks this, as :func:`encode` does."""
    with handle.lock:
        names = handle.tokenizer.model_input_names
    return "token_type_ids" in names and int(getattr(handle.config, "type_vocab_size", 2) or 0) >= 2


def _long_unknown_notes(handle: ModelHandle, ids: list[int], offsets, segments, texts: tuple[str, str]) -> tuple[str, ...]:
    """A note for each unknown token that stands for a whole long word (the model sees nothing of it)."""
    with handle.lock:
        unk_id, unk = handle.tokenizer.unk_token_id, handle.tokenizer.unk_token
    if unk_id is None:
        return ()
    notes = []
    for tid, (a, b), seg in zip(ids, offsets, segments):
        if tid == unk_id and b - a >= LONG_UNKNOWN_CHARS:
            word = texts[seg][a:b] if seg < len(texts) else ""
            notes.append(msg("the word {word} became a single {unk} token: the tokenizer does not split a word this "
                             "long, so the model sees nothing of it", word=excerpt(word, 24), unk=unk))
    return tuple(notes)


def no_mask_message(handle: ModelHandle, encoding: Encoding) -> str:
    """Why ``encoding`` has no mask token to predict at: none typed, or the limit cut it off (says where)."""
    with handle.lock:
        tok = handle.tokenizer
        mask, mask_id = tok.mask_token or "[MASK]", tok.mask_token_id
        full = (tok(encoding.text, encoding.text_pair, add_special_tokens=True, truncation=False, verbose=False)
                ["input_ids"] if encoding.truncated and mask_id is not None else [])
    where = [i for i, t in enumerate(full) if t == mask_id]
    if where:
        return msg("the {mask} is at token {position} of {n_full}, past the limit of {limit} tokens here: only the "
                   "first {limit} are used, so shorten the text before the {mask}",
                   mask=mask, position=where[0], n_full=len(full), limit=len(encoding))
    return msg("the text has no {mask} token: put {mask} where the model should fill in a word", mask=mask)


def cut_mask_message(handle: ModelHandle, encoding: Encoding) -> str:
    """Where a mask the limit cut off is (:func:`no_mask_message`), or "" when the limit cut none off (``encoding``
    was not truncated, or its text has no mask past the limit)."""
    cut = no_mask_message(handle, encoding) if encoding.truncated else ""
    return cut if " past the limit" in cut else ""


# tokens kept beyond the limit when a long sentence of a pair is cut before the tokenizer truncates the pair
PAIR_MARGIN = 16


def _shorten_pair(handle: ModelHandle, text: str, text_pair: str, limit: int) -> tuple[str, str]:
    """The two sentences of a long pair cut short enough for the tokenizer's own truncation to be fast.

    tokenizers truncates a pair by building every combination of overflow windows of both sentences: two
    20,000-character texts took 24 s (tiny BERT) with the model's lock held, i.e. one user's paste stopped
    every other user of that model. "longest_first" keeps at most ``limit`` tokens of a sentence and, of
    the longer one, depends only on the shorter's length and on which is longer: so a sentence past the
    limit is cut at a token boundary a margin beyond it (one token more for the longer sentence, so it stays
    the longer). The tokenizer then truncates the same tokens as before, in milliseconds. Call under the lock.
    """
    tok = handle.tokenizer
    if not tok.is_fast:
        return text, text_pair
    sides = [tok(t, add_special_tokens=False, truncation=False, return_offsets_mapping=True, verbose=False)
             for t in (text, text_pair)]
    n = [len(s["input_ids"]) for s in sides]
    out = []
    for i, (t, side) in enumerate(zip((text, text_pair), sides)):
        keep = limit + PAIR_MARGIN + (1 if n[i] > n[1 - i] else 0)  # one more for the longer: it stays longer
        if n[i] > keep:
            t = t[: side["offset_mapping"][keep - 1][1]]
        out.append(t)
    return out[0], out[1]


def has_chat_template(handle: ModelHandle) -> bool:
    """Whether the model's tokenizer has a chat template (``tokenizer.chat_template``)."""
    with handle.lock:
        return bool(getattr(handle.tokenizer, "chat_template", None))


def chat_prompt(handle: ModelHandle, text: str) -> str:
    """``text`` as one user message wrapped in the model's chat template, ending where the assistant's reply
    starts (transformers' ``apply_chat_template(..., add_generation_prompt=True)``; its sandboxed Jinja reads the
    text as data). The template's special tokens are then read as the model's own (:func:`encode_text`).

    Raises:
        UnsupportedModelError: the tokenizer has no chat template.
        InvalidInputError: an empty text.
    """
    text, _notes = clean_text(text)
    with handle.lock:
        tok = handle.tokenizer
        if not getattr(tok, "chat_template", None):
            raise UnsupportedModelError(msg("{model_id} has no chat template: its tokenizer does not say how a "
                                            "conversation is written for it", model_id=excerpt(handle.model_id)))
        return str(tok.apply_chat_template([{"role": "user", "content": text}], tokenize=False,
                                           add_generation_prompt=True))
