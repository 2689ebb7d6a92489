"""What a page may know about a loaded model without touching it: :class:`ModelInfo` (issue 26, STYLE.md §11).

A page reads facts (its id and revision, its kind and what that kind offers, its size, its labels, which
attribution methods and baselines work on it and why not) from one frozen, picklable record instead of holding a
live :class:`~plm_core.handle.ModelHandle` and reading its model, tokenizer and kind adapter. The record travels
from wherever the model runs (this process, a Ray replica); pages never know which.

:func:`model_info` builds it from a handle once per handle (it sums the parameters and asks the tokenizer).
The user-facing strings of each kind (its name, the text boxes' labels, example inputs) come from
:data:`plm_core.kinds.texts.KIND_TEXTS`, not from the kind adapter, which keeps model behaviour only.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Hashable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Generic, TypeVar

from plm_core.i18n import Message
from plm_core.kinds.texts import NLI_TEXT_LABELS, NO_MASK_SEQ2SEQ_EXAMPLE, PAGES, T5_SPAN_EXAMPLE, KindTexts, kind_texts

if TYPE_CHECKING:
    from plm_core.handle import ModelHandle

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class FrozenMap(Mapping[K, V], Generic[K, V]):
    """An immutable, hashable, picklable mapping that keeps its insertion order (a page's choices follow it)."""

    __slots__ = ("_data",)

    def __init__(self, items: Mapping[K, V] | tuple[tuple[K, V], ...] = ()) -> None:
        self._data: dict[K, V] = dict(items)

    def __getitem__(self, key: K) -> V:
        return self._data[key]

    def __iter__(self) -> Iterator[K]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __hash__(self) -> int:
        return hash(tuple(self._data.items()))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Mapping) and dict(self.items()) == dict(other.items())

    def __reduce__(self):
        return FrozenMap, (tuple(self._data.items()),)

    def __repr__(self) -> str:
        return f"FrozenMap({self._data!r})"


@dataclass(frozen=True)
class ModelInfo:
    """Every fact a page reads about one loaded model; frozen, hashable and picklable.

    Strings users see are :class:`~plm_core.i18n.Message` values (rendered with ``tr`` in the session's
    language). Built by :func:`model_info`.
    """

    model_id: str
    """The id the model was loaded from (a Hub id, a folder, an embedded model's id)."""
    revision: str | None
    """The Hub revision asked for, else the commit the config was saved from (None when unknown)."""
    kind: str
    """The model kind (a name of ``plm_core.kinds.KINDS``: masked_lm, causal_lm, classifier, encoder, seq2seq)."""
    kind_label: Message
    """The kind's human name ("masked language model (BERT-style)")."""
    model_type: str
    """``config.model_type`` ("bert", "gpt2", "t5"; "" when the config has none)."""
    n_layers: int
    """Transformer layers (of the stack that reads the input)."""
    n_heads: int
    """Attention heads per layer."""
    n_parameters: int
    """Parameters of the whole model (tied weights counted once)."""
    device: str
    """Where the model runs ("cpu", "cuda:0", "mps")."""
    device_description: str
    """A short human label of the device ("cpu (2 threads)", "cuda:0 (NVIDIA H100 80GB HBM3)")."""
    max_tokens: int
    """Longest input any view accepts (specials included): the model's limit, the app's, classroom mode's."""
    mask_token: str | None
    """The tokenizer's mask token ("[MASK]", "<mask>"); None when it has none (GPT-2, T5)."""
    labels: tuple[str, ...]
    """A classifier's class names in id order; empty for other kinds."""
    encoder_decoder: bool
    """Separate encoder and decoder stacks (T5, BART): attention has self, decoder and cross stacks."""
    output: str
    """What a prediction is: "classes", "masked_token", "next_token" or "embedding" (``plm_core.kinds.Output``)."""
    target_kinds: tuple[str, ...]
    """Attribution targets that fit the kind; the first is the default ("class", "token", "next_token", ...)."""
    takes_pair: bool
    """The Attribution, Masking and Compare pages offer a second text (a pair classifier's, a decoder's target)."""
    target_prefix: bool
    """The second text is a decoder's target so far (an encoder-decoder)."""
    generates: bool
    """The model writes text left to right (the Generation page generates)."""
    prompt_is_prefix: bool
    """When generating, the decoder continues the prompt (a causal LM), rather than reading it as the encoder's
    input (seq2seq)."""
    uses_reference: bool
    """The masking lab compares the edited sentence with a reference sentence (a sentence encoder; from
    :data:`plm_core.masking.EDIT_READOUTS`)."""
    can_mask: bool
    """The masking lab can hide a token with a mask token (or a T5 sentinel)."""
    prediction_title: str
    """Title of a before/after prediction chart."""
    text_labels: tuple[str, str, str]
    """(the first text box's label, the second's label, the second's help) on every page."""
    examples: FrozenMap[str, str]
    """An example input per page of :data:`PAGES` (mask token filled in); see :meth:`example`."""
    methods: FrozenMap[str, str | None]
    """Every attribution method of ``METHOD_SPECS``, in its order: None when it works on this model, else why not."""
    baselines: FrozenMap[str, str | None]
    """Every attribution baseline of ``BASELINES``, in its order: None when the tokenizer can build it, else why
    not."""
    evaluate_modes: FrozenMap[str, str | None]
    """Each Evaluate page mode ("classifier", "label_words", "perplexity"): None when it works, else why not."""

    def example(self, page: str = "default") -> str:
        """An example input that shows what this kind does, for ``page`` ("attribution", "masking", ...)."""
        return self.examples.get(page, self.examples["default"])

    @property
    def first_label(self) -> str:
        return self.text_labels[0]

    @property
    def pair_label(self) -> str:
        return self.text_labels[1]

    @property
    def pair_help(self) -> str:
        return self.text_labels[2]


def _examples(handle: ModelHandle, texts: KindTexts) -> FrozenMap[str, str]:
    """Each page's example for ``handle``: the kind's, with the mask token in; a T5 source has sentinels, an
    encoder-decoder without a mask token translates."""
    from plm_core.kinds.seq2seq import sentinels

    if handle.adapter.target_prefix:  # an encoder-decoder (seq2seq)
        if sentinels(handle):
            return FrozenMap(dict.fromkeys(PAGES, T5_SPAN_EXAMPLE))
        with handle.lock:
            no_mask = handle.tokenizer.mask_token is None
        if no_mask:
            return FrozenMap(dict.fromkeys(PAGES, NO_MASK_SEQ2SEQ_EXAMPLE))
    table = dict(texts.examples)
    with handle.lock:
        mask = handle.tokenizer.mask_token or "[MASK]"
    return FrozenMap({page: table.get(page, table["default"]).format(mask=mask) for page in PAGES})


def _text_labels(handle: ModelHandle, texts: KindTexts, labels: tuple[str, ...]) -> tuple[str, str, str]:
    if any(label.lower().startswith("entail") for label in labels):  # an NLI head (MNLI's labels)
        return NLI_TEXT_LABELS
    return texts.first_label, texts.pair_label, texts.pair_help


def _build(handle: ModelHandle) -> ModelInfo:
    from plm_core.attribution import BASELINES, METHOD_SPECS, unavailable_baselines, unavailable_methods
    from plm_core.devices import describe_device
    from plm_core.errors import UnsupportedModelError
    from plm_core.evaluate import modes
    from plm_core.masking import edit_readout

    adapter = handle.adapter
    texts = kind_texts(handle.kind)
    try:
        labels = tuple(adapter.labels(handle))
    except UnsupportedModelError:  # not a classifier
        labels = ()
    refused_methods = unavailable_methods(handle)
    refused_baselines = unavailable_baselines(handle)
    with handle.lock:
        mask_token = handle.tokenizer.mask_token
    return ModelInfo(
        model_id=handle.model_id,
        revision=handle.revision,
        kind=handle.kind,
        kind_label=texts.label,
        model_type=str(getattr(handle.config, "model_type", "") or ""),
        n_layers=int(handle.n_layers),
        n_heads=int(handle.n_heads),
        n_parameters=int(handle.n_parameters),
        device=str(handle.device),
        device_description=describe_device(handle.device),
        max_tokens=int(handle.max_tokens),
        mask_token=mask_token,
        labels=labels,
        encoder_decoder=bool(handle.arch.encoder_decoder),
        output=adapter.output,
        target_kinds=tuple(adapter.target_kinds),
        takes_pair=bool(adapter.takes_pair),
        target_prefix=bool(adapter.target_prefix),
        generates=bool(adapter.generates),
        prompt_is_prefix=bool(adapter.prompt_is_prefix),
        uses_reference=bool(edit_readout(handle.kind).uses_reference),
        can_mask=bool(adapter.can_mask(handle)),
        prediction_title=texts.prediction_title,
        text_labels=_text_labels(handle, texts, labels),
        examples=_examples(handle, texts),
        methods=FrozenMap({m: refused_methods.get(m) for m in METHOD_SPECS}),
        baselines=FrozenMap({b: refused_baselines.get(b) for b in BASELINES}),
        evaluate_modes=FrozenMap(modes(handle)),
    )


_CACHE: weakref.WeakKeyDictionary[ModelHandle, ModelInfo] = weakref.WeakKeyDictionary()
_CACHE_LOCK = threading.Lock()


def model_info(handle: ModelHandle) -> ModelInfo:
    """The :class:`ModelInfo` of ``handle``, built once per handle (a handle's model never changes)."""
    with _CACHE_LOCK:
        found = _CACHE.get(handle)
    if found is None:
        found = _build(handle)
        with _CACHE_LOCK:
            found = _CACHE.setdefault(handle, found)
    return found


__all__ = ["FrozenMap", "ModelInfo", "model_info"]
