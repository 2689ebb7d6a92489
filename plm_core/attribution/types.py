"""Result and target types of the attribution package (frozen, CPU NumPy: picklable for st.cache_data)."""

from __future__ import annotations

import numbers
from dataclasses import dataclass, field, replace
from typing import Literal

import numpy as np

from plm_core.types import Encoding

AttributionMethodName = Literal[
    "integrated_gradients", "input_x_gradient", "saliency", "deeplift", "gradient_shap", "occlusion",
    "kernel_shap", "lime", "attention_last_layer", "attention_rollout",
]
TargetKind = Literal["class", "token", "contrast", "next_token", "similarity"]
TargetOutput = Literal["prob", "logit"]
BaselineName = Literal["pad", "mask", "zero"]
BASELINES: tuple[BaselineName, ...] = ("pad", "mask", "zero")
TARGET_KINDS: tuple[TargetKind, ...] = ("class", "token", "contrast", "next_token", "similarity")
# which target kinds fit a model kind (the first is the default): ``handle.adapter.target_kinds``


@dataclass(frozen=True)
class Target:
    """What is explained: one number the model computes from the input.

    - ``class`` (classifier): ``class_id`` or ``label``; both None = the predicted class.
    - ``token`` (masked LM): ``word`` at the [MASK] number ``mask_index`` (0 = first); None = the predicted word.
    - ``next_token`` (causal LM): ``word`` as the next token; None = the predicted one.
    - ``contrast`` (masked or causal LM): logit(``word``) − logit(``contrast``) at the mask / next position.
    - ``similarity`` (encoder): cosine similarity of the mean-pooled sentence to ``other`` (second sentence).

    ``output``: explain the probability (softmax) or the raw logit; contrast and similarity ignore it.
    ``token_id`` (token, next_token, contrast): the vocabulary id of ``word``, filled in when the target is
    resolved; when given it is explained as it is, so a result's ``target`` asks for the same id again
    (tokenising a token's spelling again can give another id: a byte of a character, a piece without its space).
    """

    kind: TargetKind
    class_id: int | None = None
    label: str | None = None
    word: str | None = None
    contrast: str | None = None
    mask_index: int = 0
    other: str | None = None
    output: TargetOutput = "prob"
    token_id: int | None = None

    def __post_init__(self) -> None:
        if self.kind not in TARGET_KINDS:
            raise ValueError(f"unknown target kind {self.kind!r}; choose one of {TARGET_KINDS}")
        if self.output not in ("prob", "logit"):
            raise ValueError(f"output must be 'prob' or 'logit', got {self.output!r}")
        if self.token_id is not None and (isinstance(self.token_id, bool)
                                          or not isinstance(self.token_id, numbers.Integral)):
            raise ValueError(f"token_id must be an integer vocabulary id, got {self.token_id!r}")

    def with_(self, **changes: object) -> Target:
        return replace(self, **changes)

    def describe(self) -> dict[str, object]:
        """Plain dict for export (JSON/CSV)."""
        return {k: v for k, v in self.__dict__.items() if v is not None}


@dataclass(frozen=True)
class AttributionResult:
    """Per-token attribution scores for one input, one method and one target.

    Completeness (IG, DeepLift, GradientSHAP): sum(scores) ≈ f_x − f_baseline; ``convergence_delta`` is
    sum(scores) − (f_x − f_baseline), ``delta_abs`` its absolute value and ``delta_rel`` that relative to
    |f_x − f_baseline|. Methods without the property have None there.
    """

    model_id: str
    method: str  # AttributionMethodName
    encoding: Encoding
    scores: np.ndarray  # float32 [key]; per token, summed over hidden
    target: Target  # resolved: class_id / word filled in
    target_id: int | None  # class id or vocabulary id explained (None for similarity)
    target_label: str  # human description ("he rather than she at [MASK] 3")
    baseline: str  # "pad" | "mask" | "zero"
    convergence_delta: float | None
    f_x: float  # target value on the input
    f_baseline: float | None  # target value on the baseline (None where no baseline is used)
    delta_abs: float | None = None
    delta_rel: float | None = None
    revision: str | None = None
    notes: tuple[str, ...] = ()  # e.g. "'running' is 2 tokens; its first piece 'run' is explained"
    params: dict[str, float | int | str | bool] = field(default_factory=dict)  # n_steps, n_samples, tries, ...

    def __post_init__(self) -> None:
        n = len(self.encoding.tokens)
        if self.scores.ndim != 1 or self.scores.shape[0] != n:
            raise ValueError(f"scores shape {self.scores.shape} does not match {n} tokens")

    @property
    def tokens(self) -> tuple[str, ...]:
        return self.encoding.tokens

    def normalized(self) -> np.ndarray:
        """Scores divided by max |score| (in [-1, 1]); zeros stay zeros."""
        m = float(np.max(np.abs(self.scores))) if self.scores.size else 0.0
        return (self.scores / m).astype(np.float32) if m > 0 else self.scores.copy()

    def config(self) -> dict[str, object]:
        """The full configuration for export: model, method, target, baseline, steps, completeness."""
        return {
            "model_id": self.model_id, "revision": self.revision, "method": self.method,
            "target": self.target.describe(), "target_id": self.target_id, "target_label": self.target_label,
            "baseline": self.baseline, "f_x": self.f_x, "f_baseline": self.f_baseline,
            "convergence_delta": self.convergence_delta, "delta_abs": self.delta_abs, "delta_rel": self.delta_rel,
            "text": self.encoding.text, "text_pair": self.encoding.text_pair, "notes": list(self.notes),
            **{f"param.{k}": v for k, v in self.params.items()},
        }
