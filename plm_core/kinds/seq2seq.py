"""Encoder-decoder (T5-, BART-style) models: the next target token, given a source and the target so far.

The input is one :class:`~plm_core.types.Encoding`: the source (segment 0, read by the encoder) followed by the
decoder's input (segment 1: the decoder start token and the target prefix), so masking, comparison and
attribution work on source and target tokens alike. A T5 source with sentinels (``The <extra_id_0> walks in
<extra_id_1> park.``) is also filled span by span (greedy decoding, T5's span-corruption objective; Raffel et
al., 2020); the masking lab masks a T5 token with the next free sentinel, a BART token with ``<mask>``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import torch

from plm_core.inference import decoder_start, padded_inputs, run
from plm_core.kinds.causal_lm import CausalLMAdapter
from plm_core.errors import UnsupportedModelError
from plm_core.kinds.base import DecoderOutput, KindAdapter, top_tokens
from plm_core.display import token_texts
from plm_core.tokens import clean_text, encode_text
from plm_core.types import Encoding, Prediction
from plm_core.i18n import msg
from plm_core.kinds.texts import kind_label

if TYPE_CHECKING:
    from transformers import BatchEncoding, PretrainedConfig

    from plm_core.handle import ModelHandle

MAX_SENTINELS = 100  # T5 has <extra_id_0> .. <extra_id_99>
MAX_SPAN_TOKENS = 20  # greedy decoding of a sentinel input stops here (a live view: keep it short)


class Seq2SeqAdapter(CausalLMAdapter):
    name = "seq2seq"
    auto_class = "AutoModelForSeq2SeqLM"
    architecture_suffixes = ("ForConditionalGeneration",)
    output = "next_token"
    target_kinds = ("next_token", "contrast")
    comparison_what = msg("next target token")
    target_prefix = True
    takes_pair = True
    generates = True
    prompt_is_prefix = False  # the prompt is the encoder's input; the decoder starts from its start token

    # ------------------------------------------------------------------ identity

    def detect(self, config: PretrainedConfig) -> bool:
        return KindAdapter.detect(self, config) and bool(getattr(config, "is_encoder_decoder", False))

    def detect_fallback(self, config: PretrainedConfig) -> bool:
        return bool(getattr(config, "is_encoder_decoder", False))

    def mask_ids(self, handle: ModelHandle, encoding: Encoding, positions: Sequence[int]) -> list[int] | None:
        """T5: the next sentinels not yet in the input (<extra_id_0>, <extra_id_1>, ...); BART: ``<mask>``.

        Raises:
            UnsupportedModelError: more positions than free sentinels (each masked token takes its own).
        """
        marks = sentinels(handle)
        if not marks:
            return super().mask_ids(handle, encoding, positions)
        free = [i for _, i in marks if i not in set(encoding.input_ids)]
        if len(free) < len(positions):  # not "no mask token": T5 has one per masked token, and they ran out
            raise UnsupportedModelError(
                msg("{model_id} marks each masked token with its own sentinel (<extra_id_0>, <extra_id_1>, …): it has "
                    "{n} and {free} are not in the text yet, so at most {free} tokens can be masked at once "
                    "({asked} asked); delete or substitute the others", model_id=handle.model_id, n=len(marks),
                    free=len(free), asked=len(positions)))
        return free[: len(positions)]

    def can_mask(self, handle: ModelHandle) -> bool:
        return bool(sentinels(handle)) or super().can_mask(handle)

    # ------------------------------------------------------------------ generation and the logit lens

    def lm_position(self, handle: ModelHandle, encoding: Encoding, mask_index: int = 0) -> int:
        raise UnsupportedModelError(
            msg("{model_id} is an {kind}: the logit lens reads one stack's residual stream (a decoder-only or masked "
                "LM); for an encoder-decoder it is not shown yet", model_id=handle.model_id, kind=kind_label(self.name)))

    def decoder_start(self, handle: ModelHandle, prompt: Encoding) -> tuple[int, ...]:
        return (decoder_start(handle),)

    def decoder_forward(self, handle: ModelHandle, prompt: Encoding, ids: Sequence[int], cache: object | None,
                        attentions: bool) -> DecoderOutput:
        """The encoder reads the prompt once; its output travels with the decoder's cache."""
        past, encoder_out = cache if cache is not None else (None, None)
        if encoder_out is None:
            encoder_out = run(handle, {"input_ids": torch.tensor([prompt.input_ids])}, want=(),
                              module=handle.model.get_encoder())
        out = run(handle, {"decoder_input_ids": torch.tensor([list(ids)])}, want=(), encoder_outputs=encoder_out,
                  past_key_values=past, use_cache=True, output_attentions=attentions)
        att = tuple(a[0] for a in out.decoder_attentions) if attentions and out.decoder_attentions else None
        return DecoderOutput(out.logits[0, -1].float(), (out.past_key_values, encoder_out), att)

    # ------------------------------------------------------------------ inputs

    def encode(self, handle: ModelHandle, text: str, text_pair: str | None = None, *,
               max_tokens: int | None = None) -> tuple[Encoding, BatchEncoding]:
        """The source (segment 0) and the decoder input: the decoder start token + the target prefix
        ``text_pair`` without its end token (segment 1)."""
        source, batch = encode_text(handle, text, None, max_tokens=max_tokens)
        prefix, notes = clean_text(text_pair, msg("target prefix")) if text_pair and text_pair.strip() else ("", ())
        tok = handle.tokenizer
        with handle.lock:
            target = tok(prefix, add_special_tokens=True, return_offsets_mapping=tok.is_fast,
                         return_special_tokens_mask=True)
            ids = list(target["input_ids"])
            special = [bool(s) for s in target["special_tokens_mask"]]
            offsets = [tuple(o) for o in target["offset_mapping"]] if "offset_mapping" in target else [(0, 0)] * len(ids)
            wids = list(target.word_ids()) if tok.is_fast else [None] * len(ids)
            if ids and ids[-1] == tok.eos_token_id:  # the decoder continues the prefix: no end token yet
                ids, special, offsets, wids = ids[:-1], special[:-1], offsets[:-1], wids[:-1]
            ids, special, offsets = [decoder_start(handle)] + ids, [True] + special, [(0, 0)] + offsets
            wids = [None] + wids
            limit = min(handle.max_tokens, max_tokens or handle.max_tokens)
            if len(ids) > limit:
                notes += (msg("the target prefix has {n_ids:,} tokens; only the first {limit} are used", n_ids=len(ids),
                              limit=limit),)
                ids, special, offsets, wids = ids[:limit], special[:limit], offsets[:limit], wids[:limit]
            tokens = token_texts(handle, ids, special=special)
        encoding = Encoding(
            text=source.text, text_pair=prefix or None, tokens=source.tokens + tokens,
            input_ids=source.input_ids + tuple(ids), special=source.special + tuple(special),
            segments=source.segments + (1,) * len(ids), offsets=source.offsets + tuple(offsets),
            truncated=source.truncated or len(notes) > 0, notes=source.notes + tuple(notes),
            word_ids=source.word_ids + tuple(wids) if source.word_ids else (),
            unknown=source.unknown + (False,) * len(ids) if source.unknown else ())
        batch["decoder_input_ids"] = torch.tensor([ids])
        batch["decoder_attention_mask"] = torch.ones_like(batch["decoder_input_ids"])
        return encoding, batch

    def model_inputs(self, handle: ModelHandle, rows: Sequence[Encoding]) -> dict[str, torch.Tensor]:
        """Sources right-padded as ``input_ids``, decoder inputs right-padded as ``decoder_input_ids``."""
        inputs = padded_inputs(handle, [r.segment(0) for r in rows])
        targets = [r.segment(1).input_ids or (decoder_start(handle),) for r in rows]
        n = max(len(t) for t in targets)
        with handle.lock:
            pad = handle.tokenizer.pad_token_id if handle.tokenizer.pad_token_id is not None else 0
        inputs["decoder_input_ids"] = torch.full((len(rows), n), pad, dtype=torch.long)
        inputs["decoder_attention_mask"] = torch.zeros((len(rows), n), dtype=torch.long)
        for r, t in enumerate(targets):
            inputs["decoder_input_ids"][r, : len(t)] = torch.tensor(t)
            inputs["decoder_attention_mask"][r, : len(t)] = 1
        return inputs

    def layer_states(self, handle: ModelHandle, batch: Mapping[str, torch.Tensor]) -> tuple[torch.Tensor, ...]:
        """The encoder's hidden states (the source tokens: segment 0 of the encoding)."""
        return tuple(run(handle, batch, want=("hidden_states",)).encoder_hidden_states)

    def last_hidden(self, handle: ModelHandle, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """The encoder's last hidden states (a sentence embedding of the source)."""
        source = {k: batch[k] for k in ("input_ids", "attention_mask") if k in batch}
        return run(handle, source, module=handle.model.get_encoder()).last_hidden_state

    # ------------------------------------------------------------------ read-out

    def outputs(self, handle: ModelHandle, out: Any, inputs: Mapping[str, torch.Tensor],
                positions: Sequence[int] | None = None) -> torch.Tensor:
        """Logits at each row's last target token ``[batch, vocab]``: the next target token."""
        last = inputs["decoder_attention_mask"].to(out.logits.device).sum(1) - 1
        return out.logits[torch.arange(len(last), device=last.device), last].float()

    def prediction(self, handle: ModelHandle, encoding: Encoding, vector: torch.Tensor, top_k: int) -> Prediction:
        return Prediction(handle.model_id, self.name, encoding,
                          distributions=(top_tokens(handle, vector, self.read_position(encoding), top_k),),
                          spans=fill_spans(handle, encoding))


def sentinels(handle: ModelHandle) -> list[tuple[str, int]]:
    """T5's sentinel tokens ``<extra_id_i>`` as (token, id), in order of i (empty for other tokenizers)."""
    tok = handle.tokenizer
    found = []
    with handle.lock:
        for i in range(MAX_SENTINELS):
            token = f"<extra_id_{i}>"
            tid = tok.convert_tokens_to_ids(token)
            if tid is None or tid == tok.unk_token_id:
                break
            found.append((token, int(tid)))
    return found


def fill_spans(handle: ModelHandle, encoding: Encoding, max_new_tokens: int = MAX_SPAN_TOKENS
               ) -> tuple[tuple[str, str], ...]:
    """T5 span filling: greedy decoding of the source from the target so far (segment 1 of ``encoding``),
    read as (sentinel, the text the model puts there) for each sentinel of the source.

    Empty when the source has no sentinel (or the tokenizer has none).
    """
    ids = {i: t for t, i in sentinels(handle)}
    source, target = encoding.segment(0), encoding.segment(1)
    used = [ids[i] for i in source.input_ids if i in ids]
    if not used:
        return ()
    batch = {"input_ids": torch.tensor([source.input_ids]), "attention_mask": torch.ones(1, len(source), dtype=torch.long),
             "decoder_input_ids": torch.tensor([target.input_ids or (decoder_start(handle),)])}
    out = run(handle, batch, module=handle.model.generate, max_new_tokens=max_new_tokens, do_sample=False,
              num_beams=1)
    with handle.lock:
        eos = handle.tokenizer.eos_token_id
    spans: dict[str, list[int]] = {}
    current = None
    for tid in out[0].tolist():
        if tid in ids:  # a span runs from its sentinel's first appearance to the next sentinel (or the end)
            current = ids[tid] if ids[tid] not in spans else None
            if current is not None:
                spans[current] = []
        elif tid == eos:
            break
        elif current is not None:
            spans[current].append(tid)
    with handle.lock:
        return tuple((s, handle.tokenizer.decode(spans.get(s, []), skip_special_tokens=True).strip()) for s in used)
