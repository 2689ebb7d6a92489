"""The adapter protocol: everything that differs between model kinds, in one class per kind.

Hugging Face pipelines keep one class per task with one ``preprocess → forward → postprocess`` path; inseq keeps
what differs between architectures in one class each. Here the *kind* (what the model's head predicts) is one
:class:`KindAdapter` subclass in ``plm_core/kinds/<kind>.py``, registered in :data:`plm_core.kinds.KINDS`.
Core modules ask ``handle.adapter``; pages read :class:`plm_core.model_info.ModelInfo`; no module outside this
package tests a kind string. What users see of a kind (its name, labels, examples) is in :mod:`plm_core.kinds.texts`.

To add a kind: subclass :class:`KindAdapter` (or the closest kind: a next-token kind can start from
``CausalLMAdapter``), set the class attributes, override what differs, and add an instance to ``KINDS``.
The defaults here are those of a model with one output distribution per input (a classifier, a next-token
LM): read out a vector per row, softmax it, compare two rows label by label.

Architecture facts (where attention modules are, positions, heads) are not kind facts: they live in
:mod:`plm_core.architectures`, keyed by ``config.model_type``.

An adapter keeps what every feature shares: inputs, the forward read-out, predictions and comparisons, tokens,
generation's decoder. What one feature does differently per kind lives in that feature, in a table keyed by the
adapter's ``name`` (HF pipelines' small per-task interface): template bias scoring in
:data:`plm_core.bias.templates.TEMPLATE_SCORERS`, the occlusion sweep's measure in
:data:`plm_core.masking.SWEEP_MEASURES`, the masking lab's read-out of an edit (and whether it reads a reference
sentence) in :data:`plm_core.masking.EDIT_READOUTS`, Compare's read-out of two texts in
:data:`plm_core.compare.PAIR_READOUTS`, the attribution objective in :data:`plm_core.attribution.objective.OBJECTIVES`
(attention rows: :func:`plm_core.attribution.specs.attention_rows`), Evaluate's read-outs in
:data:`plm_core.evaluate.LM_READOUTS`. A new kind adds its row there; a kind without one is refused by the feature,
or gets the feature's default (the read-outs: that of a model with one output distribution per input).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Literal, NamedTuple

import numpy as np
import torch

from plm_core.errors import UnsupportedModelError
from plm_core.inference import mean_pool, run, top_tokens
from plm_core.display import token_texts
from plm_core.tokens import encode_text
from plm_core.types import Encoding, Prediction, PredictionComparison
from plm_core.i18n import msg
from plm_core.kinds.texts import kind_label

if TYPE_CHECKING:
    from transformers import BatchEncoding, PretrainedConfig

    from plm_core.attribution.types import TargetKind
    from plm_core.handle import ModelHandle

# What a kind's prediction is, for views that depend on it rather than on the kind:
# "classes" (probabilities over labels), "masked_token" (a word at each mask), "next_token" (the next token of
# a continuation), "embedding" (a sentence vector, compared by cosine similarity).
Output = Literal["classes", "masked_token", "next_token", "embedding"]


class DecoderOutput(NamedTuple):
    """One forward of a generating kind's decoder (:meth:`KindAdapter.decoder_forward`)."""

    logits: torch.Tensor  # float32 [vocab]: the next-token logits after the ids fed
    cache: object  # the model's past_key_values (and whatever else the next forward needs)
    attentions: tuple[torch.Tensor, ...] | None  # per layer [head, new, key] (decoder self-attention)


class KindAdapter:
    """What one model kind means. Class attributes describe it; methods do what differs by kind.

    Every method that touches ``handle.model`` or ``handle.tokenizer`` does so through
    :func:`plm_core.inference.run` or under ``handle.lock``.
    """

    name: ClassVar[str] = ""  # the value of ModelHandle.kind (its name and texts: plm_core.kinds.texts)
    auto_class: ClassVar[str] = "AutoModel"  # the transformers Auto class that loads this kind
    architecture_suffixes: ClassVar[tuple[str, ...]] = ()  # config.architectures entries ending so are this kind
    output: ClassVar[Output] = "classes"
    target_kinds: ClassVar[tuple[TargetKind, ...]] = ()  # attribution targets that fit; the first is the default
    want: ClassVar[tuple[str, ...]] = ("logits",)  # what a prediction needs from the forward pass
    token_outputs: ClassVar[bool] = False  # predictions are vocabulary tokens (large [batch, query, vocab] logits)
    comparison_what: ClassVar[str] = msg("prediction")  # what a PredictionComparison compares
    target_prefix: ClassVar[bool] = False  # the second text is a decoder's target so far (pages always offer it)
    # the Attribution, Masking and Compare pages offer the second text too (a pair classifier's hypothesis, a
    # decoder's target so far); the Attention page always does
    takes_pair: ClassVar[bool] = False
    # generation step by step (plm_core.generation): the kind writes text left to right, and whether its decoder
    # continues the prompt (a causal LM) or starts afresh with the prompt as the encoder's input (seq2seq)
    generates: ClassVar[bool] = False
    prompt_is_prefix: ClassVar[bool] = True
    # load-time checks (plm_core.loading): a kind that reads the tokenizer's mask token is refused for a tokenizer
    # without one; missing checkpoint weights whose names contain one of ``unused_missing_weights`` are never used
    # by this kind (an encoder's pooler), any other missing weight would be random and refuses the load
    needs_mask_token: ClassVar[bool] = False
    unused_missing_weights: ClassVar[tuple[str, ...]] = ()

    # ------------------------------------------------------------------ identity

    def detect(self, config: PretrainedConfig) -> bool:
        """Whether a checkpoint saved with ``config`` is of this kind (from ``config.architectures``)."""
        return any(a.endswith(self.architecture_suffixes) for a in getattr(config, "architectures", None) or [])

    def detect_fallback(self, config: PretrainedConfig) -> bool:
        """Asked only when no kind's :meth:`detect` accepted ``config`` (e.g. from ``model_type``)."""
        return False

    def mask_ids(self, handle: ModelHandle, encoding: Encoding, positions: Sequence[int]) -> list[int] | None:
        """The token that hides each of ``positions`` when the masking lab masks them (the tokenizer's mask
        token), or None when this model has none (then tokens can only be deleted or substituted)."""
        with handle.lock:
            mask_id = handle.tokenizer.mask_token_id
        return None if mask_id is None else [mask_id] * len(positions)

    def can_mask(self, handle: ModelHandle) -> bool:
        """Whether the masking lab can hide a token with a mask token (:meth:`mask_ids`)."""
        with handle.lock:
            return handle.tokenizer.mask_token_id is not None

    def labels(self, handle: ModelHandle) -> tuple[str, ...]:
        """Class names in id order.

        Raises:
            UnsupportedModelError: this kind has no classes.
        """
        raise UnsupportedModelError(msg('{model_id} is a {name}, not a classifier', model_id=handle.model_id, name=self.name))

    # ------------------------------------------------------------------ inputs

    def encode(self, handle: ModelHandle, text: str, text_pair: str | None = None, *,
               max_tokens: int | None = None) -> tuple[Encoding, BatchEncoding]:
        """Tokenize one input (``text_pair``: a second sentence, segment B) into a display encoding and a
        batch of one (:func:`plm_core.tokens.encode_text`)."""
        return encode_text(handle, text, text_pair, max_tokens=max_tokens)

    def model_inputs(self, handle: ModelHandle, rows: Sequence[Encoding]) -> dict[str, torch.Tensor]:
        """The right-padded CPU batch of several encodings (ids as given, never re-tokenized)."""
        from plm_core.inference import padded_inputs

        return padded_inputs(handle, rows)

    def last_hidden(self, handle: ModelHandle, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """The last hidden states ``[batch, query, hidden]`` a sentence embedding pools (one forward)."""
        return run(handle, batch, want=("hidden_states",)).hidden_states[-1]

    def layer_states(self, handle: ModelHandle, batch: Mapping[str, torch.Tensor]) -> tuple[torch.Tensor, ...]:
        """The input's hidden states after the embeddings and after each layer, ``[batch, token, hidden]`` each,
        of the stack that reads the input (one forward)."""
        return tuple(run(handle, batch, want=("hidden_states",)).hidden_states)

    # ------------------------------------------------------------------ read-out of one forward pass

    def multi_label(self, handle: ModelHandle) -> bool:
        """Whether each label is an independent yes/no (a sigmoid per label) rather than one distribution."""
        return False

    def probabilities(self, handle: ModelHandle, vectors: torch.Tensor) -> torch.Tensor:
        """Probabilities of :meth:`outputs` vectors ``[..., label]``: a softmax over the last axis (one
        distribution), or a sigmoid per label where :meth:`multi_label` (float32, same shape)."""
        vectors = vectors.float()
        return torch.sigmoid(vectors) if self.multi_label(handle) else torch.softmax(vectors, -1)

    def outputs(self, handle: ModelHandle, out: Any, inputs: Mapping[str, torch.Tensor],
                positions: Sequence[int] | None = None) -> torch.Tensor:
        """The vector each row predicts, float32 ``[batch, label]`` (logits; embeddings for an encoder).

        ``positions`` (one per row) is where a position-dependent kind reads (a masked LM's mask).
        """
        return out.logits.float()

    def prediction(self, handle: ModelHandle, encoding: Encoding, vector: torch.Tensor, top_k: int) -> Prediction:
        """The Prediction of one row from its :meth:`outputs` vector."""
        raise NotImplementedError

    def predictions(self, handle: ModelHandle, rows: Sequence[Encoding], out: Any, inputs: Mapping[str, torch.Tensor],
                    top_k: int, *, strict: bool = False) -> list[Prediction]:
        """One Prediction per row of a batched forward pass (``strict``: refuse an input with nothing to
        predict, e.g. a masked LM input without a mask)."""
        vectors = self.outputs(handle, out, inputs)
        return [self.prediction(handle, enc, vectors[r], top_k) for r, enc in enumerate(rows)]

    def comparison_labels(self, handle: ModelHandle, before: torch.Tensor, after: torch.Tensor,
                          k: int) -> tuple[list[int], tuple[str, ...]]:
        """Which entries of two distributions a comparison shows: the union of both top-k, as tokens."""
        ids = list(dict.fromkeys(before.topk(min(k, before.numel())).indices.tolist()
                                 + after.topk(min(k, after.numel())).indices.tolist()))
        return ids, token_texts(handle, ids, apart=True)

    def pair_comparison(self, handle: ModelHandle, what: str, before: torch.Tensor, after: torch.Tensor,
                        k: int) -> PredictionComparison:
        """Compare two full distributions (``[vocab]`` or ``[label]`` probabilities) on
        :meth:`comparison_labels`."""
        ids, labels = self.comparison_labels(handle, before, after, k)
        idx = torch.tensor(ids, device=before.device)
        b = before[idx].cpu().numpy().astype(np.float32)
        a = after[idx].cpu().numpy().astype(np.float32)
        changed = int(before.argmax()) != int(after.argmax())
        return PredictionComparison(self.name, what, tuple(labels), b, a, (a - b).astype(np.float32), changed,
                                    token_labels=self.token_outputs)

    def compare_predictions(self, original: Prediction, perturbed: Prediction) -> tuple[PredictionComparison, ...]:
        """Compare two Predictions of this kind: each distribution pair over the union of both top-k lists;
        a token outside one list counts as 0 there (``exact`` False)."""
        out = []
        for n, (da, db) in enumerate(zip(original.distributions, perturbed.distributions)):
            pa = dict(zip(da.tokens, da.probs.tolist()))
            pb = dict(zip(db.tokens, db.probs.tolist()))
            labels = tuple(dict.fromkeys([*da.tokens, *db.tokens]))
            a = np.asarray([pa.get(t, 0.0) for t in labels], np.float32)
            b = np.asarray([pb.get(t, 0.0) for t in labels], np.float32)
            out.append(PredictionComparison(self.name, msg(self.comparison_what.msgid, n=n + 1), labels, a, b,
                                            (b - a).astype(np.float32), da.tokens[0] != db.tokens[0], set(pa) == set(pb),
                                            token_labels=self.token_outputs))
        return tuple(out)

    # ------------------------------------------------------------------ generation and the logit lens

    def no_lm_head(self, handle: ModelHandle) -> UnsupportedModelError:
        return UnsupportedModelError(
            msg("{model_id} is a {kind}: it has no language-model head to read predictions from (load a masked or "
                "causal language model)", model_id=handle.model_id, kind=kind_label(self.name)))

    def lm_position(self, handle: ModelHandle, encoding: Encoding, mask_index: int = 0) -> int:
        """The token whose output is the LM's prediction for ``encoding``: a masked LM's [MASK] number
        ``mask_index``, a causal LM's last token (the logit lens and the distribution under the sampling settings
        read there).

        Raises:
            UnsupportedModelError: the kind has no single residual stream with an LM read-out.
            InvalidInputError: a masked LM input without that [MASK].
        """
        raise self.no_lm_head(handle)

    def decoder_start(self, handle: ModelHandle, prompt: Encoding) -> tuple[int, ...]:
        """The ids the decoder continues when generating from ``prompt`` (see :attr:`generates`).

        Raises:
            UnsupportedModelError: the kind does not generate.
        """
        raise UnsupportedModelError(
            msg("{model_id} is a {kind}: it does not generate text left to right (load a causal language model such "
                "as gpt2, or an encoder-decoder such as t5-small)", model_id=handle.model_id, kind=kind_label(self.name)))

    def decoder_forward(self, handle: ModelHandle, prompt: Encoding, ids: Sequence[int], cache: object | None,
                        attentions: bool) -> DecoderOutput:
        """Feed ``ids`` to the decoder (all of them when ``cache`` is None, else only the new ones) and return the
        logits for the position after the last one; ``cache`` is the previous call's. Through
        :func:`plm_core.inference.run` (the handle's lock, no gradients)."""
        self.decoder_start(handle, prompt)  # refuses a kind that does not generate
        raise NotImplementedError

    def query_row(self, handle: ModelHandle, encoding: Encoding) -> int:
        """The one token row (index into ``encoding``) the model's output for the whole input is read from.

        The single place this fact is decided: attention-based attributions (:func:`plm_core.attribution.specs.attention_rows`), the
        attention-vs-attribution lesson and the encoder-decoder classifier's objective all ask here. Default:
        the first token ([CLS], ``<s>``); a next-token kind overrides it with the last token, a classifier with
        the row its head pools (transformers' ``*ForSequenceClassification``).
        """
        return 0


def softmax_np(vector: torch.Tensor) -> np.ndarray:
    return torch.softmax(vector.float(), -1).cpu().numpy().astype(np.float32)


__all__ = ["DecoderOutput", "KindAdapter", "Output", "mean_pool", "softmax_np", "top_tokens"]
