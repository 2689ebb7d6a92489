"""The logit lens: what every layer would predict, read through the model's own final norm and output head.

nostalgebraist (2020), "interpreting GPT: the logit lens"; ecco (Alammar, 2021) shows it per layer. The
residual stream after layer l (``hidden_states[l]``; 0 = the embeddings) at one position goes through the
final normalisation the model applies after its last layer and through its LM head, as if the model stopped
there. For a masked LM the position is a [MASK]; for a causal LM it is the last token (its next-token
prediction). The last layer's read-out is the model's own output distribution (checked: ``max_abs_diff``).

Hugging Face returns ``hidden_states[-1]`` already normalised (it is ``last_hidden_state``), so the final
norm is applied to layers 0…L−1 only.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from plm_core.architectures import lens_readout as lens_readout_of
from plm_core.errors import InvalidInputError, UnsupportedModelError
from plm_core.i18n import msg
from plm_core.inference import run
from plm_core.handle import ModelHandle
from plm_core.tokens import encode
from plm_core.types import Encoding
from plm_core import tolerances



def lens_readout(handle: ModelHandle) -> tuple[Callable[[torch.Tensor], torch.Tensor], Callable[[torch.Tensor], torch.Tensor]]:
    """(final norm, LM head) of ``handle``'s model, each mapping ``[..., hidden]`` → ``[..., hidden | vocab]``,
    read from the model (:func:`plm_core.architectures.lens_readout`: ``get_output_embeddings`` and the base
    model's last norm).

    Raises:
        UnsupportedModelError: the model has no language-model head.
    """
    with handle.lock:
        readout = lens_readout_of(handle.model, handle.arch)
    if readout is None:
        model_type = getattr(handle.config, "model_type", "")
        raise UnsupportedModelError(
            msg("the logit lens reads the layers through the model's language-model head; {model_id} "
                "({model_type}, {model_class}) has none",
                model_id=handle.model_id, model_type=model_type, model_class=type(handle.model).__name__))
    return readout


def predicted_position(handle: ModelHandle, encoding: Encoding, mask_index: int = 0) -> int:
    """The token whose output is the LM's prediction: the [MASK] (masked LM) or the last token (causal LM),
    as the kind adapter says (``handle.adapter.lm_position``).

    Raises:
        UnsupportedModelError: the model has no language-model prediction the lens can read.
        InvalidInputError: a masked LM input without that [MASK].
    """
    return handle.adapter.lm_position(handle, encoding, mask_index)


@dataclass(frozen=True)
class LogitLens:
    """What each layer predicts at one position, read through the final norm and LM head.

    Layer 0 is the embedding output, layer l the output of block l; the last row is the model's own output.
    """

    model_id: str
    encoding: Encoding
    position: int  # the token whose residual stream is read
    layers: tuple[str, ...]  # [layer] names: "embeddings", "layer 1", …
    token_ids: tuple[tuple[int, ...], ...]  # [layer][k] most likely tokens at that layer
    tokens: tuple[tuple[str, ...], ...]  # [layer][k]
    probs: np.ndarray  # float32 [layer, k]
    final_id: int  # the model's own prediction (top token of the last layer)
    final_token: str
    final_ranks: tuple[int, ...]  # [layer]; rank of final_id at each layer (0 = top)
    final_probs: np.ndarray  # float32 [layer]; its probability at each layer
    entropy: np.ndarray  # float32 [layer]; nats
    max_abs_diff: float  # |last layer's read-out − the model's own softmax|, max over the vocabulary

    def __post_init__(self) -> None:
        n = len(self.layers)
        if self.probs.shape[0] != n or len(self.final_ranks) != n or self.final_probs.shape != (n,):
            raise ValueError(f"logit lens arrays do not match {n} layers")


def _lens(handle: ModelHandle, encoding: Encoding, input_ids: torch.Tensor, extra: dict, position: int,
          top_k: int) -> LogitLens:
    from plm_core.generation import token_strings

    norm, head = lens_readout(handle)
    with handle.lock, torch.inference_mode():
        before_norm: dict[str, torch.Tensor] = {}  # the final norm's input: checks that it is the model's
        hook = (norm.register_forward_pre_hook(lambda m, args: before_norm.__setitem__("x", args[0].detach()))
                if isinstance(norm, torch.nn.Module) else None)
        try:
            out = run(handle, {"input_ids": input_ids, **extra}, want=("hidden_states",))
        finally:
            if hook is not None:
                hook.remove()
        sizes = {h.shape[-1] for h in out.hidden_states}
        if len(sizes) > 1:
            raise UnsupportedModelError(msg(
                "the logit lens reads every layer through one head, but {model_type}'s hidden states change size "
                "between layers ({sizes}: a projection in or out)", model_type=handle.config.model_type,
                sizes=", ".join(str(n) for n in sorted(sizes))))
        hidden = torch.stack([h[0, position] for h in out.hidden_states])  # [layer, hidden]
        try:
            read = torch.cat([norm(hidden[:-1]), hidden[-1:]])  # hidden_states[-1] is already normalised
            logits = head(read).float()  # [layer, vocab]
        except RuntimeError as err:  # the output embeddings do not read the hidden state (a head of several modules)
            raise UnsupportedModelError(msg(
                "the logit lens reads the layers through {model_type}'s output embeddings, which do not read its "
                "hidden states directly ({error})", model_type=handle.config.model_type,
                error=str(err).splitlines()[0][:80])) from None
        own = torch.softmax(out.logits[0, position].float(), -1)
        probs = torch.softmax(logits, -1)
        diff = float((probs[-1] - own).abs().max())
        if "x" in before_norm:  # the last layer read through the norm found, from the norm's own input
            renormed = torch.softmax(head(norm(before_norm["x"][0, position])).float(), -1)
            diff = max(diff, float((renormed - own).abs().max()))
        if not diff <= tolerances.LENS:  # the head found is not the whole read-out: never show a wrong lens
            raise UnsupportedModelError(msg(
                "the logit lens reads the layers through {model_type}'s output embeddings and final norm, but the "
                "last layer read that way differs from the model's own probabilities by {diff:.2g}: its head does "
                "more (a logit scale, another norm)", model_type=getattr(handle.config, "model_type", ""), diff=diff))
        top_p, top_i = probs.topk(min(int(top_k), probs.shape[-1]), dim=-1)
        final_id = int(probs[-1].argmax())
        ranks = (logits > logits[:, final_id : final_id + 1]).sum(-1)
        entropy = -(probs * torch.log(probs.clamp_min(1e-30))).sum(-1)
        names = [token_strings(handle, row) for row in top_i.tolist()]
    n = len(out.hidden_states)
    return LogitLens(
        model_id=handle.model_id, encoding=encoding, position=int(position),
        layers=(msg("embeddings"),) + tuple(msg("layer {layer}", layer=i) for i in range(1, n)),
        token_ids=tuple(tuple(r) for r in top_i.tolist()), tokens=tuple(names),
        probs=top_p.cpu().numpy().astype(np.float32), final_id=final_id, final_token=names[-1][0],
        final_ranks=tuple(int(r) for r in ranks.tolist()),
        final_probs=probs[:, final_id].cpu().numpy().astype(np.float32),
        entropy=entropy.cpu().numpy().astype(np.float32),
        max_abs_diff=diff,
    )


def logit_lens(handle: ModelHandle, text: str, *, top_k: int = 10, mask_index: int = 0,
               max_tokens: int | None = None) -> LogitLens:
    """The logit lens at the [MASK] (number ``mask_index``) of a masked LM, or after the text for a causal LM.

    Cost: one forward pass with hidden states, then the LM head at one position per layer.

    Returns:
        A :class:`LogitLens` with ``[layer, k]`` top tokens.

    Raises:
        UnsupportedModelError: no LM head, or an architecture the lens does not know.
        InvalidInputError: empty text, or a masked LM text without a [MASK].
    """
    with handle.lock:
        encoding, batch = encode(handle, text, max_tokens=max_tokens)
        position = predicted_position(handle, encoding, mask_index)
        extra = {k: v for k, v in batch.items() if k in ("attention_mask", "token_type_ids")}
        return _lens(handle, encoding, batch["input_ids"], extra, position, top_k)


def logit_lens_ids(handle: ModelHandle, ids: Sequence[int], encoding: Encoding | None = None, *,
                   top_k: int = 10) -> LogitLens:
    """The logit lens for the token after ``ids`` (a causal LM's next token), on the ids as they are.

    ``encoding`` describes ``ids`` (default: :func:`plm_core.generation.encoding_of_ids`).
    """
    if encoding is None:
        from plm_core.generation import encoding_of_ids

        encoding = encoding_of_ids(handle, ids)
    if len(ids) != len(encoding) or not ids:
        raise InvalidInputError(msg("{n_ids} ids for an encoding of {n} tokens", n_ids=len(ids), n=len(encoding)))
    position = predicted_position(handle, encoding)
    return _lens(handle, encoding, torch.tensor([list(ids)]), {}, position, top_k)
