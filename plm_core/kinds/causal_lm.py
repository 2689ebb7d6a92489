"""Causal (GPT-style) language models: the distribution of the next token after the text."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import torch

from plm_core.inference import run
from plm_core.kinds.base import DecoderOutput, KindAdapter, top_tokens
from plm_core.types import Encoding, Prediction
from plm_core.i18n import msg

if TYPE_CHECKING:
    from transformers import PretrainedConfig

    from plm_core.handle import ModelHandle


class CausalLMAdapter(KindAdapter):
    name = "causal_lm"
    auto_class = "AutoModelForCausalLM"
    architecture_suffixes = ("LMHeadModel", "ForCausalLM")
    output = "next_token"
    target_kinds = ("next_token", "contrast")
    token_outputs = True
    comparison_what = msg("next token")
    generates = True
    prompt_is_prefix = True

    def query_row(self, handle: ModelHandle, encoding: Encoding) -> int:
        return len(encoding) - 1  # the next token is read from the last one

    def detect_fallback(self, config: PretrainedConfig) -> bool:
        # a decoder-only model type (plm_core.architectures) saved without an LM class name (e.g. "GPT2Model")
        from plm_core.architectures import arch_of

        return arch_of(config).causal

    def read_position(self, encoding: Encoding) -> int:
        """The token index whose output predicts the next token."""
        return len(encoding) - 1

    def lm_position(self, handle: ModelHandle, encoding: Encoding, mask_index: int = 0) -> int:
        return self.read_position(encoding)

    def decoder_start(self, handle: ModelHandle, prompt: Encoding) -> tuple[int, ...]:
        return tuple(prompt.input_ids)

    def decoder_forward(self, handle: ModelHandle, prompt: Encoding, ids: Sequence[int], cache: object | None,
                        attentions: bool) -> DecoderOutput:
        out = run(handle, {"input_ids": torch.tensor([list(ids)])}, want=("attentions",) if attentions else (),
                  past_key_values=cache, use_cache=True)
        att = tuple(a[0] for a in out.attentions) if attentions and out.attentions else None
        return DecoderOutput(out.logits[0, -1].float(), out.past_key_values, att)

    def outputs(self, handle: ModelHandle, out: Any, inputs: Mapping[str, torch.Tensor],
                positions: Sequence[int] | None = None) -> torch.Tensor:
        last = inputs["attention_mask"].to(out.logits.device).sum(1) - 1  # right padding: each row's last token
        return out.logits[torch.arange(len(last), device=last.device), last].float()

    def prediction(self, handle: ModelHandle, encoding: Encoding, vector: torch.Tensor, top_k: int) -> Prediction:
        return Prediction(handle.model_id, self.name, encoding,
                          distributions=(top_tokens(handle, vector, self.read_position(encoding), top_k),))
