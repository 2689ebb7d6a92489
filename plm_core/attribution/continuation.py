"""Attribution of a continuation the user writes (forced decoding), per output token and for the whole sequence.

As captum's ``LLMAttribution`` (``seq_attr`` / ``token_attr``) and ecco: the continuation is fed to the model
token by token (never sampled), and

- per output token t: the probability of continuation token t given the prompt and continuation tokens < t,
  attributed to every token before it (the same objective as the Attribution page's next-token target);
- for the whole sequence: the sum of the continuation tokens' log-probabilities, attributed to the prompt and the
  continuation tokens before the last.

On the exact token ids (the prompt encoded once, the continuation's ids appended; never re-tokenized text).
Causal LMs only: a masked LM does not continue text, and an encoder-decoder's target depends on its source too.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from plm_core.attribution.objective import Objective
from plm_core.attribution.types import AttributionResult, Target
from plm_core.errors import InvalidInputError, UnsupportedModelError
from plm_core.i18n import msg
from plm_core.kinds.texts import kind_label
from plm_core.handle import ModelHandle
from plm_core.tokens import encode_text
from plm_core.types import Encoding

MAX_CONTINUATION_TOKENS = 64  # per-token attribution runs one attribution per token


@dataclass(frozen=True)
class ContinuationAttribution:
    """``sequence``: the sum of log-probabilities attributed to ``prompt + continuation[:-1]``; ``per_token``:
    one result per continuation token (its probability, attributed to the tokens before it), or () when not
    asked; ``log_probs`` float per continuation token."""

    continuation_ids: tuple[int, ...]
    continuation_tokens: tuple[str, ...]
    log_probs: tuple[float, ...]
    sequence: AttributionResult
    per_token: tuple[AttributionResult, ...] = ()


def _encoding(handle: ModelHandle, prompt: Encoding, continuation: str, ids: list[int],
              offsets: list[tuple[int, int]], n: int) -> Encoding:
    """The prompt's encoding followed by the first ``n`` continuation tokens (offsets into the joined text)."""
    from plm_core.display import token_texts

    base = len(prompt.text)
    tokens = token_texts(handle, ids[:n]) if n else ()
    return Encoding(
        text=prompt.text + continuation, tokens=prompt.tokens + tuple(tokens), input_ids=prompt.input_ids + tuple(ids[:n]),
        special=prompt.special + (False,) * n, segments=prompt.segments + (0,) * n,
        offsets=prompt.offsets + tuple((base + a, base + b) for a, b in offsets[:n]), notes=prompt.notes)


def _objective(handle: ModelHandle, encoding: Encoding, targets: list[tuple[int, int]], total: bool,
               label: str) -> Objective:
    """f(word embeddings of ``encoding``): Σ log p(id at position) over ``targets`` (``total``), or p of the one
    target."""
    from plm_core.inference import lm_body_and_head

    model = handle.model
    ids = torch.tensor([list(encoding.input_ids)], device=handle.device)
    with torch.no_grad():
        input_embeds = model.get_input_embeddings()(ids).detach()
    parts = lm_body_and_head(model)
    positions = torch.tensor([p for p, _ in targets], device=handle.device)
    token_ids = torch.tensor([t for _, t in targets], device=handle.device)

    def f(emb: torch.Tensor) -> torch.Tensor:
        if parts is None:
            logits = model(inputs_embeds=emb).logits[:, positions].float()
        else:
            base, head = parts
            logits = head(base(inputs_embeds=emb)[0][:, positions]).float()
        logp = logits.log_softmax(-1).gather(-1, token_ids.expand(emb.shape[0], -1)[..., None])[..., 0]
        return logp.sum(-1) if total else logp[:, 0].exp()

    last = targets[-1][1]
    return Objective(encoding, input_embeds, torch.tensor(encoding.special, dtype=torch.bool), f,
                     Target("next_token", token_id=int(last)), int(last), label, targets[-1][0], encoding.notes)


def attribute_continuation(handle: ModelHandle, prompt: str, continuation: str,
                           method: str = "integrated_gradients", *, per_token: bool = True,
                           max_tokens: int | None = None, **kwargs: object) -> ContinuationAttribution:
    """Attribute ``continuation`` after ``prompt`` (forced decoding) with ``method``.

    Args:
        continuation: the text that follows the prompt as typed (a leading space is part of it: " Paris").
        per_token: also attribute each continuation token's probability (one attribution per token).
        kwargs: passed to :func:`plm_core.attribution.attribute` (``n_steps``, ``baseline``, …).

    Returns:
        :class:`ContinuationAttribution`.

    Raises:
        UnsupportedModelError: not a causal LM.
        InvalidInputError: an empty prompt or continuation, or a continuation of more than
            :data:`MAX_CONTINUATION_TOKENS` tokens.
    """
    from plm_core.attribution import attribute

    adapter = handle.adapter
    if not (adapter.generates and adapter.prompt_is_prefix):
        raise UnsupportedModelError(msg(
            "{model_id} is a {kind}: a continuation is attributed for causal language models only (a masked LM does "
            "not continue text; an encoder-decoder's output depends on its source too)",
            model_id=handle.model_id, kind=kind_label(handle.kind)))
    if not continuation or not continuation.strip():
        raise InvalidInputError(msg("the continuation is empty: type the text that follows the prompt"))
    with handle.lock:
        enc, _ = encode_text(handle, prompt, max_tokens=max_tokens)
        tok = handle.tokenizer(continuation, add_special_tokens=False, return_offsets_mapping=handle.tokenizer.is_fast)
    ids = [int(i) for i in tok["input_ids"]]
    offsets = [tuple(o) for o in tok.get("offset_mapping", [(0, 0)] * len(ids))]
    if not ids:
        raise InvalidInputError(msg("the continuation gives no token for this model"))
    if len(ids) > MAX_CONTINUATION_TOKENS:
        raise InvalidInputError(msg("the continuation has {n} tokens; at most {limit} are attributed",
                                    n=len(ids), limit=MAX_CONTINUATION_TOKENS))
    p = len(enc)
    limit = max_tokens or handle.max_tokens
    if p + len(ids) - 1 > limit:
        raise InvalidInputError(msg("the prompt and the continuation have {n} tokens, past the limit of {limit}",
                                    n=p + len(ids) - 1, limit=limit))
    names = _encoding(handle, enc, continuation, ids, offsets, len(ids)).tokens[p:]
    seq_enc = _encoding(handle, enc, continuation, ids, offsets, len(ids) - 1)
    targets = [(p - 1 + t, ids[t]) for t in range(len(ids))]
    sequence = attribute(handle, seq_enc.text, method, objective=lambda: _objective(
        handle, seq_enc, targets, True, msg("log-probability of the continuation")), **kwargs)
    from plm_core.inference import run

    # per-token log-probabilities from one forward (their sum is the sequence objective's f(x))
    logits = run(handle, {"input_ids": torch.tensor([list(seq_enc.input_ids)])}).logits[0].float()
    lp = logits.log_softmax(-1)[[q for q, _ in targets], [t for _, t in targets]].cpu().tolist()
    tokens: list[AttributionResult] = []
    if per_token:
        for t in range(len(ids)):
            ctx = _encoding(handle, enc, continuation, ids, offsets, t)
            tokens.append(attribute(handle, ctx.text, method, objective=lambda ctx=ctx, t=t: _objective(
                handle, ctx, [(p - 1 + t, ids[t])], False,
                msg("probability of continuation token {index} ({token})", index=t + 1, token=names[t])),
                **kwargs))
    return ContinuationAttribution(tuple(ids), tuple(names), tuple(float(v) for v in lp), sequence, tuple(tokens))
