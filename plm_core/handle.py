"""The loaded-model types every core module takes: :class:`ModelSpec` (what to load) and :class:`ModelHandle`
(one loaded model + tokenizer), with the process-wide model-construction lock.

A leaf of the core's import graph: it imports no feature module, so ``inference``, ``tokens``, the kind adapters
and every feature take a handle without importing :mod:`plm_core.loading` (which imports the kinds to detect and
check them). ``plm_core.loading`` re-exports these names.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import torch
from transformers import PretrainedConfig, PreTrainedModel, PreTrainedTokenizerBase

from plm_core.architectures import Arch, arch_of
from plm_core.classroom import token_cap
from plm_core.errors import UnsupportedModelError
from plm_core.i18n import msg
from plm_core.kind_registry import get_adapter
from plm_core.types import Ablation, ModelKind

if TYPE_CHECKING:
    from plm_core.kinds.base import KindAdapter

# Longest input any view accepts; bertviz-style views grow with the square of the length.
HARD_MAX_TOKENS = 512


@dataclass(frozen=True)
class ModelSpec:
    """What to load.

    Args:
        model_id: a Hub id ("bert-base-uncased"), a local folder, or the embedded default.
        kind: "auto" (from the config's architectures) or a name in ``plm_core.kinds.KINDS`` (masked_lm,
            causal_lm, classifier, encoder, ...).
        device: "auto"/None, "cpu", "cuda", "cuda:1", "mps".
        revision: a Hub branch, tag or commit.
        allow_pickle: also accept ``pytorch_model.bin`` weights (pickle can run code: trusted sources only).
        ablation: heads / FFN blocks removed (``plm_core.patching.ablated_copy`` makes this model from the spec
            without it); None: the whole model.
    """

    model_id: str
    kind: str = "auto"
    device: str | None = None
    revision: str | None = None
    allow_pickle: bool = False
    ablation: Ablation | None = None

    @classmethod
    def from_fields(cls, fields: dict) -> ModelSpec:
        """The spec ``dataclasses.asdict`` (or its JSON) wrote; unknown keys are left out."""
        known = {k: v for k, v in fields.items() if k in cls.__dataclass_fields__}
        if isinstance(known.get("ablation"), dict):
            known["ablation"] = Ablation(**known["ablation"])
        return cls(**known)


@dataclass(eq=False)
class ModelHandle:
    """One loaded model + tokenizer, shared by every session of the process.

    Every core function that touches ``model`` or ``tokenizer`` holds ``lock`` while it does: captum
    hooks replace module outputs, and a shared fast tokenizer raises "Already borrowed" when used from
    two threads. It is re-entrant so core functions may call each other.
    """

    spec: ModelSpec
    model: PreTrainedModel  # eval(), eager attention; never .train()/.to() after load
    tokenizer: PreTrainedTokenizerBase
    device: torch.device
    kind: ModelKind
    source: str  # folder the weights came from, or the Hub id
    lock: threading.RLock = field(default_factory=threading.RLock, repr=False)
    # the model's own input limit where its files declare one (sentence-transformers' max_seq_length)
    declared_max_tokens: int | None = None

    @property
    def model_id(self) -> str:
        return self.spec.model_id

    @property
    def config(self) -> PretrainedConfig:
        return self.model.config

    @property
    def adapter(self) -> KindAdapter:
        """What this model's kind means everywhere: read-outs, targets, masking (``plm_core.kinds``,
        looked up in :mod:`plm_core.kind_registry`)."""
        return get_adapter(self.kind)

    @property
    def arch(self) -> Arch:
        """Architecture facts for this model type (plm_core.architectures)."""
        return arch_of(self.config, self.model)

    @property
    def n_layers(self) -> int:
        return int(_config_get(self.config, "num_hidden_layers", "n_layer", "num_layers", "n_layers"))

    @property
    def n_heads(self) -> int:
        return int(_config_get(self.config, "num_attention_heads", "n_head", "num_heads", "n_heads"))

    @property
    def max_tokens(self) -> int:
        """Longest input (tokens, specials included): the model's limit, HARD_MAX_TOKENS, classroom mode's cap."""
        limits = [HARD_MAX_TOKENS]
        n_pos = _config_get(self.config, "max_position_embeddings", "n_positions", default=None)
        if n_pos and int(n_pos) > 0:  # XLNet's is -1: relative positions, no table (no limit of its own)
            # RoBERTa-style position ids start after the padding index
            limits.append(int(n_pos) - self.arch.position_offset)
        tok_max = getattr(self.tokenizer, "model_max_length", None)
        if isinstance(tok_max, int) and 0 < tok_max < 1_000_000:
            limits.append(tok_max)
        if self.declared_max_tokens:
            limits.append(self.declared_max_tokens)
        return token_cap(min(limits))  # classroom mode's maximum input length, for every path

    @property
    def revision(self) -> str | None:
        return self.spec.revision or getattr(self.config, "_commit_hash", None)

    @property
    def n_parameters(self) -> int:
        return sum(p.numel() for p in self.model.parameters())


def _config_get(config: PretrainedConfig, *names: str, default: object = ...) -> object:
    for name in names:
        value = getattr(config, name, None)
        if value is not None:
            return value
    if default is ...:
        raise UnsupportedModelError(msg('the model config has none of {names}', names=names))
    return default


# transformers' from_pretrained swaps process-wide functions while it builds a model and puts back what it found
# (initialization.no_init_weights: torch.nn.init.* and PreTrainedModel.init_weights become no-ops; no_tie_weights:
# PreTrainedModel.tie_weights; local_torch_dtype: torch's default dtype). Two loads at once interleave: the second
# saves the first's no-ops as "originals" and restores them last, so every later model is built untied and
# uninitialised ("has no trained weights"). One lock per process serialises model construction: every
# from_pretrained and every torch module built while the app runs (lesson 5's head) takes it.
MODEL_CONSTRUCTION_LOCK = threading.RLock()
