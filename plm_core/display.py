"""Display text of tokens: what a person reads for each token id, computed in this one place.

Every view that turns ids into strings (the encoding's tokens, top-k fill-ins, attribution targets,
comparisons, bias pieces, lessons) goes through :func:`token_texts` or :func:`token_text`:

- byte-level BPE (GPT-2, RoBERTa, Llama 3) stores each piece as bytes spelled with GPT-2's printable
  byte alphabet (``bytes_to_unicode`` in Radford et al.'s ``encoder.py``, kept by transformers), so
  ``é`` reads ``Ã©``. The bytes are decoded to text; a piece that holds only part of a character shows
  that character and which part it is (``课 1/2``, ``😂 3/4``). SentencePiece byte-fallback pieces
  (``<0xE8>``, Llama 2) are decoded the same way. Bytes that make no character on their own (a lone top-k
  piece) stay ``<0xE8>``.
- SentencePiece's ``▁`` is a space; WordPiece's ``##`` is kept (it says "glued to the previous piece").
- Whitespace-only tokens are visible: ``␣`` space, ``↵`` newline, ``⇥`` tab; a newline or tab inside a
  token is shown the same way (a raw newline breaks table cells and axis labels).
- An unknown token (``[UNK]``) shows the characters it replaced, from the offsets: ``[UNK:意]``.
"""

from __future__ import annotations

import json
import re
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum

from transformers.convert_slow_tokenizer import bytes_to_unicode

from plm_core.i18n import msg

# visible stand-ins for whitespace (the Unicode control pictures and arrows)
VISIBLE_SPACE = {" ": "␣", "\n": "↵", "\r": "↵", "\t": "⇥"}
PARTIAL = "{char} {part}/{parts}"  # a piece holding part of one character
JOIN = " + "
UNKNOWN_SHOWN = 24  # characters of an unknown token's text shown in its label  # between the parts of a piece that holds the end of one character and more
_BYTE_TO_CHAR = bytes_to_unicode()
_CHAR_TO_BYTE = {c: b for b, c in _BYTE_TO_CHAR.items()}
_BYTES = re.compile(r"(<0x[0-9A-F]{2}>)+")


class Spacing(str, Enum):
    """How a tokenizer writes the space before a word: the one answer to "does the space go in the piece".

    Read from the tokenizer's own decoder (``tokenizers`` ``ByteLevel`` / ``Metaspace`` / ``Replace`` /
    ``WordPiece``), never from a list of model types. The value is the marker a piece carries.
    """

    BYTE_LEVEL = "Ġ"  # GPT-2 byte-level BPE (RoBERTa, BART, Llama 3, Qwen): the space is the byte "Ġ" of the piece
    METASPACE = "▁"  # SentencePiece (T5, Llama 2, XLNet, Gemma): the space is "▁" at the start of the piece
    WORDPIECE = "##"  # WordPiece (BERT): spaces split words; "##" marks a piece glued to the one before
    NONE = ""  # anything else: the space is not part of any piece

    @property
    def space_in_piece(self) -> bool:
        """True when a word after a space is a different piece from the same word on its own (" cat" vs "cat")."""
        return self in (Spacing.BYTE_LEVEL, Spacing.METASPACE)


@dataclass(frozen=True)
class _Scheme:
    """How a tokenizer spells its pieces (read once from its decoder)."""

    spacing: Spacing
    byte_level: bool  # GPT-2 byte alphabet
    metaspace: bool  # SentencePiece "▁"
    specials: frozenset[int]
    added: frozenset[int]  # added tokens are stored as typed, not in the byte alphabet
    unk_id: int | None


_SCHEMES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _decoder_types(state: object) -> set[str]:
    if isinstance(state, dict):
        found = {str(state["type"])} if "type" in state else set()
        for value in state.values():
            found |= _decoder_types(value)
        return found
    if isinstance(state, list):
        return set().union(*(_decoder_types(v) for v in state)) if state else set()
    return set()


def _scheme(tokenizer) -> _Scheme:
    try:
        return _SCHEMES[tokenizer]
    except (KeyError, TypeError):
        pass
    types: set[str] = set()
    backend = getattr(tokenizer, "backend_tokenizer", None)
    decoder = getattr(backend, "decoder", None) if backend is not None else None
    if decoder is not None:
        types = _decoder_types(json.loads(decoder.__getstate__()))
    byte_level = "ByteLevel" in types or getattr(tokenizer, "byte_decoder", None) is not None
    metaspace = "Metaspace" in types or "Replace" in types
    spacing = (Spacing.BYTE_LEVEL if byte_level else Spacing.METASPACE if metaspace else
               Spacing.WORDPIECE if "WordPiece" in types or getattr(tokenizer, "wordpiece_tokenizer", None) is not None
               else Spacing.NONE)
    scheme = _Scheme(
        spacing=spacing, byte_level=byte_level, metaspace=metaspace,
        specials=frozenset(int(i) for i in tokenizer.all_special_ids),
        added=frozenset(int(i) for i in getattr(tokenizer, "added_tokens_decoder", {}) or {}),
        unk_id=tokenizer.unk_token_id,
    )
    try:
        _SCHEMES[tokenizer] = scheme
    except TypeError:  # not weak-referenceable: recompute next time
        pass
    return scheme


def spacing_scheme(tokenizer) -> Spacing:
    """How ``tokenizer`` writes the space before a word (:class:`Spacing`); read once per tokenizer.

    The one place this is decided: masking substitutes, target words, template words and the display of pieces
    all ask here (``spacing_scheme(tok).space_in_piece``).
    """
    return _scheme(tokenizer).spacing


def _byte_fallback(raw: str) -> int | None:
    """The byte of a SentencePiece byte-fallback piece ``<0xE8>``, else None."""
    if len(raw) == 6 and raw.startswith("<0x") and raw.endswith(">"):
        try:
            return int(raw[3:5], 16)
        except ValueError:
            return None
    return None


def _piece_bytes(raw: str, token_id: int, scheme: _Scheme) -> bytes | None:
    """The bytes a piece stands for, or None when it is text (WordPiece, SentencePiece, added tokens)."""
    b = _byte_fallback(raw)
    if b is not None:
        return bytes([b])
    if scheme.byte_level and token_id not in scheme.added and raw and all(c in _CHAR_TO_BYTE for c in raw):
        return bytes(_CHAR_TO_BYTE[c] for c in raw)
    return None


def _utf8_length(lead: int) -> int:
    """Bytes of the UTF-8 character that starts with ``lead`` (0: not a valid first byte)."""
    if lead < 0x80:
        return 1
    if 0xC2 <= lead <= 0xDF:
        return 2
    if 0xE0 <= lead <= 0xEF:
        return 3
    if 0xF0 <= lead <= 0xF4:
        return 4
    return 0


def visible(text: str) -> str:
    """Whitespace made visible: all of it in a whitespace-only string, newlines and tabs anywhere."""
    if text and not text.strip():
        return "".join(VISIBLE_SPACE.get(c, "␣") for c in text)
    return text.replace("\r\n", "↵").replace("\n", "↵").replace("\r", "↵").replace("\t", "⇥")


def unknown_label(raw: str, replaced: str) -> str:
    """``[UNK]`` with the characters it replaced: ``[UNK:意]`` (``<unk:意>`` for SentencePiece).

    More than ``UNKNOWN_SHOWN`` characters are cut with "…" (one unknown "word" can be very long).
    """
    if len(replaced) > UNKNOWN_SHOWN:
        replaced = replaced[: UNKNOWN_SHOWN - 1] + "…"
    if len(raw) >= 2 and raw[0] + raw[-1] in ("[]", "<>"):
        return f"{raw[:-1]}:{replaced}{raw[-1]}"
    return f"{raw}:{replaced}"


def _decode_bytes(chunks: Sequence[bytes]) -> list[list[tuple[bool, str]]]:
    """Parts shown for each of several consecutive byte pieces, decoded together.

    A character whose bytes lie in one piece is shown whole; one spread over n pieces is shown in each of
    them as ``PARTIAL`` (k of n); a byte that starts no valid character is shown as ``<0xNN>``.
    """
    stream = [(b, t) for t, chunk in enumerate(chunks) for b in chunk]
    parts: list[list[tuple[bool, str]]] = [[] for _ in chunks]  # (whole character?, text)
    i = 0
    while i < len(stream):
        n = _utf8_length(stream[i][0])
        char = None
        if n and i + n <= len(stream):
            try:
                char = bytes(b for b, _ in stream[i : i + n]).decode("utf-8")
            except UnicodeDecodeError:
                char = None
        if char is None:
            parts[stream[i][1]].append((False, f"<0x{stream[i][0]:02X}>"))
            i += 1
            continue
        owners = list(dict.fromkeys(t for _, t in stream[i : i + n]))
        if len(owners) == 1:
            parts[owners[0]].append((True, char))
        else:
            for k, t in enumerate(owners):
                parts[t].append((False, PARTIAL.format(char=char, part=k + 1, parts=len(owners))))
        i += n
    return parts


def _assemble(parts: list[tuple[bool, str]]) -> str:
    """Join the parts of one piece: runs of whole characters are text, partial characters stand apart."""
    groups: list[str] = []
    run = ""
    for whole, p in parts:
        if whole:
            run += p
        else:
            if run:
                groups.append(visible(run))
                run = ""
            if p.startswith("<0x") and groups and groups[-1].endswith(">") and groups[-1].startswith("<0x"):
                groups[-1] += p  # lone bytes side by side: <0xE8><0x80>
            else:
                groups.append(p)
    if run:
        groups.append(visible(run))
    return JOIN.join(groups)


def token_texts(handle, ids: Sequence[int], *, special: Sequence[bool] | None = None,
                offsets: Sequence[tuple[int, int]] | None = None, segments: Sequence[int] | None = None,
                texts: Sequence[str | None] | None = None, apart: bool = False) -> tuple[str, ...]:
    """Display text of consecutive tokens (one input, or the pieces of one word).

    Neighbouring byte pieces are decoded together, so a character split over pieces is named in each.

    Args:
        handle: the ModelHandle whose tokenizer made ``ids`` (its lock is held while reading it).
        ids: token ids in order.
        special: parallel flags; special tokens ([CLS], <s>) are shown as they are. Default: the
            tokenizer's special ids.
        offsets, segments, texts: character spans of each token in ``texts[segment]`` (from
            :func:`plm_core.tokens.encode`); with them an unknown token shows the characters it replaced.
        apart: each id on its own (alternatives such as a top-k list, not a sequence).

    Returns:
        One string per id, e.g. ``("a", " c", "a", "f", "é 1/2", "é 2/2", "␣", "😂 1/4", …)``.
    """
    with handle.lock:
        tok = handle.tokenizer
        scheme = _scheme(tok)
        n_tokens = len(tok)
        raws: list[str | None] = [None] * len(ids)  # None: an id past the tokenizer (it may raise on one)
        known = [t for t, i in enumerate(ids) if 0 <= int(i) < n_tokens]
        for t, raw in zip(known, tok.convert_ids_to_tokens([int(ids[t]) for t in known]) if known else ()):
            raws[t] = None if raw is None else str(raw)
    out: list[str | None] = [None] * len(raws)
    run: list[int] = []  # consecutive byte pieces, decoded together

    def flush() -> None:
        for t, parts in zip(run, _decode_bytes([chunks[t] for t in run])):
            out[t] = _assemble(parts)
        run.clear()

    chunks: dict[int, bytes] = {}
    for t, (raw, tid) in enumerate(zip(raws, ids)):
        if raw is None:  # an id of the model's output layer that the tokenizer has no token for (padded vocabulary)
            flush()
            out[t] = no_token_label(int(tid))
            continue
        if special is not None and special[t]:
            flush()
            out[t] = raw
            continue
        if tid == scheme.unk_id:
            flush()
            a, b = offsets[t] if offsets is not None else (0, 0)
            sentence = (texts[segments[t] if segments is not None else 0] or "") if texts is not None else ""
            replaced = sentence[a:b]
            out[t] = unknown_label(raw, visible(replaced)) if replaced and replaced != raw else raw
            continue
        if int(tid) in scheme.specials:  # [CLS], <mask>, <|endoftext|>: as they are, also when typed
            flush()
            out[t] = raw
            continue
        data = _piece_bytes(raw, int(tid), scheme)
        if data is not None:
            chunks[t] = data
            run.append(t)
            if apart:
                flush()
            continue
        flush()
        meta = Spacing.METASPACE.value
        out[t] = visible(raw.replace(meta, " ") if scheme.metaspace or raw.startswith(meta) else raw)
    flush()
    return tuple(s if s is not None else "" for s in out)


def no_token_label(token_id: int) -> str:
    """Display text of an id the tokenizer has no token for: output layers are often padded past the tokenizer's
    vocabulary (T5: 32,128 rows for 32,100 tokens; Phi-2: 51,200 for 50,295), and untrained or random weights can
    predict those rows."""
    return f"<id {int(token_id)}>"


def is_bytes(shown: str) -> bool:
    """Whether a display text is only bytes that make no character (``<0xE8><0x80>``)."""
    return bool(_BYTES.fullmatch(shown))


def token_text(handle, token_id: int) -> str:
    """Display text of one token on its own (an explained target), see :func:`token_texts`."""
    return token_texts(handle, [int(token_id)])[0]


def is_cjk(char: str) -> bool:
    """A Chinese (Han) character or CJK punctuation: the characters Chinese models and jieba are for."""
    o = ord(char)
    return (0x4E00 <= o <= 0x9FFF or 0x3400 <= o <= 0x4DBF or 0x20000 <= o <= 0x3134F or 0xF900 <= o <= 0xFAFF
            or 0x3000 <= o <= 0x303F or 0xFF00 <= o <= 0xFFEF)


def unknown_characters(unknown: Sequence[bool], offsets: Sequence[tuple[int, int]], segments: Sequence[int],
                       texts: Sequence[str | None]) -> tuple[int, int, str]:
    """How many characters of the input the model cannot see.

    Counts characters that are not whitespace, in the part of each sentence the tokens cover (a truncated
    input counts only what was kept).

    Returns:
        (unknown characters, all characters, the unknown characters in order, each once).
    """
    hidden: dict[tuple[int, int], str] = {}
    ends: dict[int, int] = {}
    for u, (a, b), s in zip(unknown, offsets, segments):
        ends[s] = max(ends.get(s, 0), b)
        if u:
            for c in range(a, b):
                ch = (texts[s] or "")[c]
                if not ch.isspace():
                    hidden[(s, c)] = ch
    total = sum(sum(1 for ch in (texts[s] or "")[:end] if not ch.isspace()) for s, end in ends.items())
    return len(hidden), total, "".join(dict.fromkeys(hidden.values()))


def unknown_note(n_unknown: int, n_total: int, chars: str) -> str | None:
    """The encoding note for characters the vocabulary lacks (None when there are none)."""
    if not n_unknown:
        return None
    shown = chars if len(chars) <= 12 else chars[:12] + "…"
    advice = (msg("use a Chinese or multilingual model") if any(is_cjk(c) for c in chars)
              else msg("use a model whose vocabulary has them (a multilingual model)"))
    return msg("{n_unknown} of {n_total} characters are unknown to this model's vocabulary ({chars}): the model "
               "reads them as its unknown token — {advice}", n_unknown=n_unknown, n_total=n_total, chars=shown,
               advice=advice)
