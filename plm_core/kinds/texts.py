"""What the app shows users about each model kind: its name, the labels of the text boxes, example inputs.

The kind adapters (:mod:`plm_core.kinds`) keep model behaviour only; these strings reach pages through
:class:`plm_core.model_info.ModelInfo`. A leaf: it imports nothing of the kinds, so the adapters' error messages
name a kind with :func:`kind_label` without a cycle.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from plm_core.i18n import Message, msg


@dataclass(frozen=True)
class KindTexts:
    """What the app shows users about one model kind (the adapter keeps model behaviour only).

    ``examples``: an example input per page ("attribution", "masking", ...; "default" for any other page);
    ``{mask}`` becomes the tokenizer's mask token.
    """

    label: Message  # the kind's human name ("masked language model (BERT-style)"), shown in the sidebar
    prediction_title: str  # title of a before/after prediction chart (masking lab)
    first_label: Message = msg("Sentence")  # the first text box's label on every page
    pair_label: Message = msg("Second sentence (optional)")  # the second text box (the Attention page always has it)
    pair_help: Message = msg("BERT-style models read two segments: [CLS] A [SEP] B [SEP].")
    examples: tuple[tuple[str, str], ...] = (("default", "The cat sat on the mat because it was tired."),)


# One row per kind of plm_core.kinds.KINDS (tests/unit/test_model_info.py checks every kind has one); a new kind
# adds its row here.
KIND_TEXTS: Mapping[str, KindTexts] = MappingProxyType({
    "masked_lm": KindTexts(
        msg("masked language model (BERT-style)"), "Fill-ins",  # (shown untranslated, as it always was)
        examples=(("default", "The capital of France is {mask}."),
                  ("attribution", "The doctor said that {mask} would be late."))),
    "causal_lm": KindTexts(
        msg("causal language model (GPT-style)"), msg("Next token"),
        examples=(("default", "The cat sat on the"), ("attribution", "The capital of France is"))),
    "classifier": KindTexts(
        msg("sequence classifier"), msg("Class probabilities"),
        pair_label=msg("Second sentence (optional; pair classifiers)"),
        pair_help=msg("A pair classifier (paraphrase, similarity, NLI) reads two texts as segments A and B; leave it "
                      "empty for a single-text classifier."),
        examples=(("default", "A really good movie with excellent acting."),
                  ("attribution", "This movie was really good fun."))),
    "encoder": KindTexts(msg("sentence encoder (no task head)"), msg("Similarity of the edited sentence")),
    "seq2seq": KindTexts(
        msg("encoder-decoder (T5/BART-style)"), msg("Next target token"), first_label=msg("Source"),
        pair_label=msg("Target so far (decoder input; optional)"),
        pair_help=msg("An encoder-decoder reads the source above with its encoder; its decoder continues this target "
                      "prefix, attending to the source through cross-attention."),
        examples=(("default", "The cat {mask} on the mat."),)),
})

# A classifier whose classes say entailment (an NLI head, MNLI's labels) names its two text boxes so.
NLI_TEXT_LABELS = (msg("Premise"), msg("Hypothesis"),
                   msg("A natural-language-inference classifier reads the premise and the hypothesis as one pair of "
                       "segments; its classes say whether the hypothesis follows from the premise, contradicts it or "
                       "neither. Zero-shot classification asks it with a hypothesis such as 'This text is about "
                       "sports.'"))
T5_SPAN_EXAMPLE = "The <extra_id_0> walks in <extra_id_1> park."  # a T5 source: span filling, its pre-training task
NO_MASK_SEQ2SEQ_EXAMPLE = "translate English to German: The house is wonderful."
PAGES = ("default", "attribution", "masking")  # the pages whose example a ModelInfo holds


def kind_texts(kind: str) -> KindTexts:
    """The user-facing strings of ``kind`` (:data:`KIND_TEXTS`).

    Raises:
        UnsupportedModelError: no such kind.
    """
    from plm_core.kind_registry import get_adapter

    get_adapter(kind)  # refuses a kind that does not exist, with the registry's message
    return KIND_TEXTS[kind]


def kind_label(kind: str) -> Message:
    """The human name of ``kind`` ("masked language model (BERT-style)")."""
    return kind_texts(kind).label


__all__ = ["KIND_TEXTS", "NLI_TEXT_LABELS", "NO_MASK_SEQ2SEQ_EXAMPLE", "PAGES", "T5_SPAN_EXAMPLE", "KindTexts", "kind_label",
           "kind_texts"]
