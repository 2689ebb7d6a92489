"""One typed seam between the app and the core: a :class:`Lens` per model, with every operation a page asks of it.

The shape of LIT's ``Model`` / ``RemoteModel`` / ``CachingModelWrapper`` (``lit_nlp/api/model.py``,
``lib/caching.py``): :class:`Lens` names each operation once, with the core function's own signature (minus the
handle) and result type; :class:`LocalLens` runs it in this process on the model's handle; the Ray Serve client
(:class:`plm_core.serving.client.RemoteLens`) sends the method's name and arguments to a replica, which runs the
same :class:`LocalLens` there; :class:`CachingLens` keeps the results of the methods marked :func:`cached` (the
app gives it ``st.cache_data``). Every call goes down: no implementation calls back into the app. A page holds a
``Lens`` and never knows which: ``lens.mask_and_predict(text, mask)`` goes to definition on code, not a string.

Where a method may run is a mark on it: :func:`tokenizer_only` (no forward pass: always where the caller is, every
app process holds the tokenizer) and :func:`forward_only` (one forward pass or a few, no gradients, no global state:
several sessions' calls may share a batch, and ``merge`` joins such calls into one pass). A second model is passed
as its :class:`~plm_core.handle.ModelSpec` (``compare_models``), resolved to a handle where the method runs.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol

from plm_core.errors import PlmCoreError, UnknownMethodError
from plm_core.handle import ModelHandle, ModelSpec
from plm_core.i18n import lazy_gettext

if TYPE_CHECKING:  # the feature modules are imported where each method runs (this module imports no model code)
    from pathlib import Path

    import numpy as np

    from plm_core.attribution.batch import RowResult
    from plm_core.attribution.continuation import ContinuationAttribution
    from plm_core.attribution.objective import Objective
    from plm_core.attribution.types import AttributionResult, Target
    from plm_core.bias.bec_pro import BecProScore
    from plm_core.bias.common import ProgressFn, StopFn
    from plm_core.bias.crows_pairs import CrowsPairRow
    from plm_core.bias.datasets import BecProRow, CrowsPair, SeatTest
    from plm_core.bias.seat import SeatResult
    from plm_core.bias.templates import FilledTemplate, TemplateResult, TemplateSet
    from plm_core.compare import AttributionDifference, ModelComparison, TextComparison
    from plm_core.contributions import Contributions
    from plm_core.embedding_map import Analogy
    from plm_core.ffn import FFNView, RankBy
    from plm_core.generation import Generation, SamplingSettings, StepAttention, StepDistribution
    from plm_core.lessons.compute import (AttentionSteps, BiasProbe, ContextualEmbeddings, EncoderDecoderLesson,
                                          MaskLesson, Occlusion,
                                          TokenEmbeddings)
    from plm_core.lessons.finetune import TrainedHead
    from plm_core.logit_lens import LogitLens
    from plm_core.model_card import ModelCard
    from plm_core.masking import MaskingResult, MaskSpec, OcclusionResult, Strategy
    from plm_core.model_info import ModelInfo
    from plm_core.patching import AblationResult, PatchingResult, PatchWhat
    from plm_core.types import Ablation, AttentionResult, Encoding, Prediction, QueryKeyResult

Runs = Literal["tokenizer", "forward", "call"]
# several calls of one method on one model -> one result (or PlmCoreError) per call, or None: run them one by one
Merge = Callable[[ModelHandle, Sequence[tuple[tuple, dict]]], "list[Any] | None"]


def tokenizer_only(fn: Callable) -> Callable:
    """Mark a :class:`Lens` method that needs no forward pass: it runs where the caller is."""
    fn.lens_runs = "tokenizer"  # type: ignore[attr-defined]
    return fn


def forward_only(fn: Callable | None = None, *, merge: Merge | None = None) -> Callable:
    """Mark a :class:`Lens` method that is one forward pass or a few (no gradients, no global state): calls from
    several sessions may share a batch; ``merge`` (optional) computes several calls in one pass."""
    def mark(f: Callable) -> Callable:
        f.lens_runs = "forward"  # type: ignore[attr-defined]
        f.lens_merge = merge  # type: ignore[attr-defined]
        return f

    return mark if fn is None else mark(fn)


def _generation_key(generation: Any) -> tuple:
    """A :class:`~plm_core.generation.Generation` in a cache key by its model and tokens (its RNG state and steps
    are the session's state)."""
    return generation.model_id, generation.ids, generation.n_start


# cache keys for argument types a cache cannot hash by value, by the type's qualified name (this module imports no
# model code): st.cache_data's ``hash_funcs`` accepts these names
GENERATION_KEY: dict[str, Callable[[Any], Hashable]] = {"plm_core.generation.Generation": _generation_key}


@dataclass(frozen=True)
class CachePolicy:
    """How an app may keep a :class:`Lens` method's results (set with :func:`cached`; the app's ``ui.lens``
    applies it with ``st.cache_data``, keyed on the model's spec and the arguments).

    Attributes:
        max_entries: results kept per process. An ``AttentionResult`` holds layer × head × n² floats (75 MB for
            MiniLM at 512 tokens): few of those; recomputing one costs a forward pass.
        ttl: seconds a result stays valid (None: until evicted).
        spinner: the message shown while the method runs uncached (None: none).
        keys: cache keys for argument types hashed by a function, by qualified type name (:data:`GENERATION_KEY`).
    """

    max_entries: int
    ttl: float | None = None
    spinner: str | None = None
    keys: Mapping[str, Callable[[Any], Hashable]] = field(default_factory=dict)


def cached(max_entries: int, *, ttl: float | None = None, spinner: str | None = None,
           keys: Mapping[str, Callable[[Any], Hashable]] | None = None) -> Callable[[Callable], Callable]:
    """Mark a :class:`Lens` method whose results an app may cache (:class:`CachePolicy`). Methods without the mark
    are not cached: they are cheap, a session's state, or follow the machine's load (``estimate_seconds``)."""
    def mark(f: Callable) -> Callable:
        f.lens_cache = CachePolicy(max_entries, ttl, spinner, dict(keys or {}))  # type: ignore[attr-defined]
        return f

    return mark


def merge_predict(handle: ModelHandle, calls: Sequence[tuple[tuple, dict]]) -> list[Any] | None:
    """Merge ``predict(text[, None], top_k=k)`` calls that share ``top_k`` and have no pair or limit into one
    padded forward (:func:`plm_core.inference.predict_many`); None when they cannot be merged."""
    import plm_core.inference

    simple = [(a, k) for a, k in calls if len(a) == 1 or (len(a) == 2 and a[1] is None)]
    if len(simple) != len(calls) or len({k.get("top_k", 10) for _, k in calls}) != 1 or any(
            set(k) - {"top_k"} for _, k in calls):
        return None
    return plm_core.inference.predict_many(handle, [a[0] for a, _ in calls], top_k=calls[0][1].get("top_k", 10))


class Lens(abc.ABC):
    """Every operation a page asks of one model (``spec``), each with its core function's signature and result.

    Implementations: :class:`LocalLens` (this process), :class:`plm_core.serving.client.RemoteLens` (a Ray Serve
    replica), :class:`CachingLens` (a cache around another lens). Each method raises what its core
    function raises (a :class:`~plm_core.errors.PlmCoreError` subclass, the same class and message on every
    implementation).
    """

    spec: ModelSpec

    @tokenizer_only
    @abc.abstractmethod
    def info(self) -> ModelInfo:
        """Every fact a page may read about this model (``plm_core.model_info.model_info``): frozen and picklable,
        so a page holds facts, never a live handle. Needs the model loaded where the caller is (its config and
        tokenizer), as the other tokenizer-only methods do."""

    @cached(512)
    @forward_only(merge=merge_predict)
    @abc.abstractmethod
    def predict(self, text: str, text_pair: str | None = None, *, top_k: int = 10,
                max_tokens: int | None = None) -> Prediction:
        """``plm_core.inference.predict`` on this model."""

    @cached(16, ttl=3600)
    @forward_only
    @abc.abstractmethod
    def extract_attention(self, text: str, text_pair: str | None = None, *,
                          max_tokens: int | None = None) -> AttentionResult:
        """``plm_core.attention.extract_attention`` on this model."""

    @cached(256)
    @forward_only
    @abc.abstractmethod
    def query_key(self, text: str, layer: int, head: int, text_pair: str | None = None, *,
                  max_tokens: int | None = None, stack: str | None = None) -> QueryKeyResult:
        """``plm_core.attention.query_key`` on this model."""

    @cached(512)
    @forward_only
    @abc.abstractmethod
    def mask_and_predict(self, text: str, spec: MaskSpec, *, text_pair: str | None = None,
                         reference: str | None = None, top_k: int = 5,
                         max_tokens: int | None = None) -> MaskingResult:
        """``plm_core.masking.mask_and_predict`` on this model."""

    @cached(128)
    @forward_only
    @abc.abstractmethod
    def occlusion_sweep(self, text: str, spec: MaskSpec | None = None, *, strategy: Strategy | None = None,
                        text_pair: str | None = None, reference: str | None = None, batch_size: int = 128,
                        max_tokens: int | None = None, words: Encoding | None = None) -> OcclusionResult:
        """``plm_core.masking.occlusion_sweep`` on this model."""

    @cached(256)
    @forward_only
    @abc.abstractmethod
    def compare_texts(self, text_a: str, text_b: str, *, top_k: int = 5, max_tokens: int | None = None,
                      text_pair: str | None = None) -> TextComparison:
        """``plm_core.compare.compare_texts`` on this model."""

    @cached(64)
    @forward_only
    @abc.abstractmethod
    def compare_models(self, spec_b: ModelSpec, text: str, *, top_k: int = 5, max_tokens: int | None = None,
                       text_pair: str | None = None) -> ModelComparison:
        """``plm_core.compare.compare_models`` on this model."""

    @cached(256)
    @forward_only
    @abc.abstractmethod
    def token_embeddings(self, text: str, text_pair: str | None = None) -> TokenEmbeddings:
        """``plm_core.lessons.compute.token_embeddings`` on this model."""

    @cached(256)
    @forward_only
    @abc.abstractmethod
    def attention_steps(self, text: str, layer: int, head: int = 0, text_pair: str | None = None) -> AttentionSteps:
        """``plm_core.lessons.compute.attention_steps`` on this model."""

    @cached(128)
    @forward_only
    @abc.abstractmethod
    def mask_lesson(self, text: str, top_k: int = 5) -> MaskLesson:
        """``plm_core.lessons.compute.mask_lesson`` on this model."""

    @cached(128)
    @forward_only
    @abc.abstractmethod
    def lesson_occlusion(self, text: str, target: int | None = None, words: Encoding | None = None) -> Occlusion:
        """``plm_core.lessons.compute.occlusion`` on this model."""

    @cached(128)
    @forward_only
    @abc.abstractmethod
    def encoder_decoder_lesson(self, text: str, target: str | None = None, top_k: int = 5) -> EncoderDecoderLesson:
        """``plm_core.lessons.compute.encoder_decoder_lesson`` on this model."""

    @cached(64, spinner=lazy_gettext("Probing…"))
    @forward_only
    @abc.abstractmethod
    def lesson_bias_probe(self, occupations: tuple[str, ...] | list[str]) -> BiasProbe:
        """``plm_core.lessons.compute.bias_probe`` on this model."""

    @forward_only
    @abc.abstractmethod
    def embed(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        """``plm_core.inference.embed`` on this model."""

    @cached(128)
    @abc.abstractmethod
    def contextual_embeddings(self, sentence_a: str, sentence_b: str, word: str) -> ContextualEmbeddings:
        """``plm_core.lessons.compute.contextual_embeddings`` on this model."""

    @cached(128)
    @abc.abstractmethod
    def logit_lens(self, text: str, *, top_k: int = 10, mask_index: int = 0,
                   max_tokens: int | None = None) -> LogitLens:
        """``plm_core.logit_lens.logit_lens`` on this model."""

    @cached(128)
    @abc.abstractmethod
    def logit_lens_ids(self, ids: Sequence[int], encoding: Encoding | None = None, *, top_k: int = 10) -> LogitLens:
        """``plm_core.logit_lens.logit_lens_ids`` on this model."""

    @cached(128, spinner=lazy_gettext("Splitting the logit into heads and FFN blocks…"))
    @abc.abstractmethod
    def contributions(self, text: str, word: str | None = None, contrast: str | None = None, *,
                      text_pair: str | None = None, mask_index: int = 0, max_tokens: int | None = None,
                      sources: bool = True) -> Contributions:
        """``plm_core.contributions.contributions`` on this model."""

    @cached(64, spinner=lazy_gettext("Patching activations…"))
    @abc.abstractmethod
    def patch(self, clean: str, corrupt: str, what: PatchWhat = 'residual', *, word: str | None = None,
              contrast: str | None = None, text_pair: str | None = None,
              max_tokens: int | None = None) -> PatchingResult:
        """``plm_core.patching.patch`` on this model."""

    @cached(64, spinner=lazy_gettext("Running the model without them…"))
    @abc.abstractmethod
    def ablate(self, text: str, ablation: Ablation, *, text_pair: str | None = None, top_k: int = 8,
               mask_index: int = 0, max_tokens: int | None = None) -> AblationResult:
        """``plm_core.patching.ablate`` on this model."""

    @cached(128, spinner=lazy_gettext("Reading the FFN neurons…"))
    @abc.abstractmethod
    def ffn_view(self, text: str, layer: int, *, position: int | None = None, word: str | None = None,
                 text_pair: str | None = None, top_k: int = 10, n_vocab: int = 8, rank_by: RankBy = 'activation',
                 max_tokens: int | None = None) -> FFNView:
        """``plm_core.ffn.ffn_view`` on this model."""

    @cached(64, spinner=lazy_gettext("Attributing the continuation…"))
    @abc.abstractmethod
    def attribute_continuation(self, prompt: str, continuation: str, method: str = 'integrated_gradients', *,
                               per_token: bool = True, max_tokens: int | None = None,
                               **kwargs: object) -> ContinuationAttribution:
        """``plm_core.attribution.continuation.attribute_continuation`` on this model."""

    @abc.abstractmethod
    def attribute_rows(self, rows: Sequence[str], method: str, *, target: Target | None = None, start: int = 0,
                       limit: int | None = None, should_stop: Callable[[], bool] | None = None,
                       progress: Callable[[int, int], None] | None = None,
                       **kwargs: object) -> tuple[RowResult, ...]:
        """``plm_core.attribution.batch.attribute_rows`` on this model."""

    @abc.abstractmethod
    def generation_start(self, prompt: str) -> Generation:
        """``plm_core.generation.start`` on this model."""

    @abc.abstractmethod
    def generate_steps(self, generation: Generation, settings: SamplingSettings, n: int = 1, *,
                       top_n: int = 20) -> Generation:
        """``plm_core.generation.generate_steps`` on this model."""

    @abc.abstractmethod
    def next_distribution(self, generation: Generation, settings: SamplingSettings,
                          top_n: int = 20) -> StepDistribution:
        """``plm_core.generation.next_distribution`` on this model."""

    @cached(256)
    @abc.abstractmethod
    def text_distribution(self, text: str, settings: SamplingSettings, *, mask_index: int = 0,
                          top_n: int = 20) -> tuple[Encoding, StepDistribution]:
        """``plm_core.generation.text_distribution`` on this model."""

    @cached(128, keys=GENERATION_KEY)
    @abc.abstractmethod
    def step_attention(self, generation: Generation, index: int) -> StepAttention:
        """``plm_core.generation.step_attention`` on this model."""

    @cached(128, spinner=lazy_gettext("Attributing the token…"), keys=GENERATION_KEY)
    @abc.abstractmethod
    def attribute_step(self, generation: Generation, index: int, method: str = 'integrated_gradients',
                       **kwargs: object) -> AttributionResult:
        """``plm_core.generation.attribute_step`` on this model."""

    @cached(512)
    @abc.abstractmethod
    def attribute(self, text: str, method: str = 'integrated_gradients', *, target: Target | None = None,
                  text_pair: str | None = None, baseline: str = 'pad', n_steps: int | None = None,
                  tolerance: float = 0.001, max_tokens: int | None = None, sdpa: bool | None = None,
                  objective: Callable[[], Objective] | None = None,
                  **params: int | float | str) -> AttributionResult:
        """``plm_core.attribution.attribute`` on this model."""

    @cached(64)
    @abc.abstractmethod
    def attribute_every_label(self, text: str, method: str = 'integrated_gradients', *,
                              text_pair: str | None = None, output: str = 'prob',
                              **kwargs: object) -> tuple[AttributionResult, ...]:
        """``plm_core.attribution.attribute_every_label`` on this model."""

    @forward_only
    @abc.abstractmethod
    def estimate_seconds(self, n_tokens: int, method: str = 'integrated_gradients', *, n_steps: int | None = None,
                         n_samples: int | None = None) -> float:
        """``plm_core.attribution.estimate_seconds`` on this model."""

    @cached(64, spinner=lazy_gettext("Attributing both sentences…"))
    @abc.abstractmethod
    def attribution_difference(self, text_a: str, text_b: str, method: str,
                               text_pair: str | None = None) -> AttributionDifference:
        """Both sentences of a text comparison attributed with one target: ``plm_core.compare.attribution_difference``
        of ``compare_texts``; ``text_pair``: the second text both are read with (a pair classifier's hypothesis)."""

    @cached(32, spinner=lazy_gettext("Training the head on the frozen encoder…"))
    @abc.abstractmethod
    def train_head(self, examples: str) -> TrainedHead:
        """Lesson 5: parse the labelled examples and fit the head on the frozen encoder
        (``plm_core.lessons.finetune.parse_examples`` then ``train_head``)."""

    @cached(256)
    @forward_only
    @abc.abstractmethod
    def classify(self, trained: TrainedHead, texts: list[str]) -> np.ndarray:
        """``plm_core.lessons.finetune.classify`` on this model."""

    @cached(64, spinner=lazy_gettext("Probing…"))
    @abc.abstractmethod
    def probe_templates(self, tset: TemplateSet, *, batch_size: int | None = None,
                        progress: ProgressFn | None = None, should_stop: StopFn | None = None) -> TemplateResult:
        """``plm_core.bias.templates.probe_templates`` on this model."""

    @abc.abstractmethod
    def score_pairs(self, pairs: Sequence[CrowsPair], *, batch_size: int | None = None,
                    chunk_pairs: int | None = None, progress: ProgressFn | None = None,
                    should_stop: StopFn | None = None) -> tuple[CrowsPairRow, ...]:
        """``plm_core.bias.crows_pairs.score_pairs`` on this model."""

    @abc.abstractmethod
    def score_rows(self, rows: Sequence[BecProRow], *, batch_size: int | None = None, chunk_rows: int | None = None,
                   progress: ProgressFn | None = None, should_stop: StopFn | None = None,
                   require_any: bool = True) -> tuple[tuple[BecProScore, ...], tuple[str, ...]]:
        """``plm_core.bias.bec_pro.score_rows`` on this model."""

    @abc.abstractmethod
    def run_seat(self, test: SeatTest, *, n_samples: int = 100000, seed: int = 0, n_bootstrap: int = 2000,
                 progress: ProgressFn | None = None, data_source: str = '', data_sha256: str = '') -> SeatResult:
        """``plm_core.bias.seat.run_seat`` on this model."""

    @abc.abstractmethod
    def score_bias_chunk(self, items: Sequence[Any], *, probe: str,
                         config: dict[str, Any]) -> tuple[Sequence[Any], dict[str, Any]]:
        """(rows, meta) of ``items`` of a bias ``probe`` run with ``config`` (``plm_core.bias.jobs.score_chunk``, every
        probe registered). The remote lens cuts the items into pieces scored on several replicas at once."""

    @cached(512)
    @tokenizer_only
    @abc.abstractmethod
    def encode(self, text: str, text_pair: str | None = None, **kwargs: Any) -> Encoding:
        """``plm_core.tokens.encode`` without the tensors: the Encoding only (picklable, cacheable)."""

    @cached(256)
    @tokenizer_only
    @abc.abstractmethod
    def token_count(self, text: str, text_pair: str | None = None) -> int:
        """Number of tokens ``text`` gives (0 when it gives none or cannot be encoded; ``plm_core.tokens.encode``)."""

    @tokenizer_only
    @abc.abstractmethod
    def word_pieces(self, words: list[str]) -> list[tuple[str, tuple[str, ...]]]:
        """``plm_core.lessons.compute.word_pieces`` on this model."""

    @tokenizer_only
    @abc.abstractmethod
    def chat_prompt(self, text: str) -> str:
        """``plm_core.tokens.chat_prompt`` on this model."""

    @tokenizer_only
    @abc.abstractmethod
    def has_chat_template(self) -> bool:
        """``plm_core.tokens.has_chat_template`` on this model."""

    @cached(16)
    @forward_only
    @abc.abstractmethod
    def sentence_embeddings(self, texts: Sequence[str], layer: int | None = None,
                            batch_size: int = 32) -> np.ndarray:
        """``plm_core.embedding_map.sentence_embeddings`` on this model."""

    @abc.abstractmethod
    def input_embeddings(self, ids: Sequence[int]) -> np.ndarray:
        """Rows ``ids`` of the input embedding table, float32 ``[len(ids), hidden]``
        (``plm_core.embedding_map.input_embedding_table``)."""

    @abc.abstractmethod
    def analogy(self, a: str, b: str, c: str, k: int = 10) -> Analogy:
        """``plm_core.embedding_map.analogy`` on this model."""

    @cached(32, ttl=600)
    @abc.abstractmethod
    def model_card(self, *, measure: bool = True) -> ModelCard:
        """``plm_core.model_card.card`` on this model (``measure`` times forward passes on the machine it runs on)."""

    @abc.abstractmethod
    def save_classifier(self, trained: TrainedHead, folder: str | Path) -> Path:
        """``plm_core.lessons.finetune.save_classifier`` on this model (the folder is written where it runs)."""

    @tokenizer_only
    @abc.abstractmethod
    def require_masked_lm(self, what: str) -> None:
        """``plm_core.bias.common.require_masked_lm`` on this model."""

    @tokenizer_only
    @abc.abstractmethod
    def plan_templates(self, tset: TemplateSet) -> tuple[FilledTemplate, ...]:
        """``plm_core.bias.templates.plan`` on this model."""

    @tokenizer_only
    @abc.abstractmethod
    def check_template(self, template: str) -> None:
        """``plm_core.evaluate.check_template`` on this model."""

    @tokenizer_only
    @abc.abstractmethod
    def label_word_ids(self, words: dict[str, str]) -> dict[str, int]:
        """``plm_core.evaluate.label_word_ids`` on this model."""

    @tokenizer_only
    @abc.abstractmethod
    def class_names(self, config: dict[str, Any]) -> tuple[str, ...]:
        """``plm_core.evaluate.class_names`` on this model."""

    @tokenizer_only
    @abc.abstractmethod
    def word_ids(self, words: Sequence[str]) -> list[int]:
        """``plm_core.embedding_map.word_ids`` on this model."""

    @tokenizer_only
    @abc.abstractmethod
    def query_row(self, encoding: Encoding) -> int:
        """The token row the output is read from (``KindAdapter.query_row`` of this model)."""

    @tokenizer_only
    @abc.abstractmethod
    def text_of(self, ids: Sequence[int]) -> str:
        """``plm_core.generation.text_of`` on this model."""

    @tokenizer_only
    @abc.abstractmethod
    def token_strings(self, ids: Sequence[int], *, apart: bool = True) -> tuple[str, ...]:
        """``plm_core.generation.token_strings`` on this model."""


class Handles(Protocol):
    """Where a :class:`LocalLens` finds a model's handle: the process's model cache
    (:func:`plm_core.serving.handles.handle_cache`, a ``ModelCache`` that loads on first use), or, in a test, a
    ``dict`` of handles by spec."""

    def get(self, spec: ModelSpec, /) -> ModelHandle:
        """The handle of ``spec`` (loading it if needed; raises what loading raises)."""


class LocalLens(Lens):
    """The operations in this process, on the handle of ``spec`` in ``handles`` (the process's shared model cache:
    each model loaded once, behind its lock; the classroom allowlist is checked at each use); each method calls
    its core function directly. The lens only calls down: an app that shows progress while a model loads loads it
    through the same cache first (``ui.lens.backend_lens``)."""

    def __init__(self, spec: ModelSpec, handles: Handles) -> None:
        self.spec = spec
        self.handles = handles

    def _handle_of(self, spec: ModelSpec) -> ModelHandle:
        """The handle of ``spec`` (loaded on first use).

        Raises:
            ModelNotAllowedError: classroom mode is on and ``spec`` is not on its allowlist.
            PlmCoreError: the model cannot be loaded (the message says why).
        """
        from plm_core.classroom import check_model_allowed

        check_model_allowed(spec.model_id, allow_pickle=spec.allow_pickle)
        return self.handles.get(spec)

    @property
    def handle(self) -> ModelHandle:
        """The model's handle (loaded on first use; raises what loading raises)."""
        return self._handle_of(self.spec)

    def predict(self, text: str, text_pair: str | None = None, *, top_k: int = 10,
                max_tokens: int | None = None) -> Prediction:
        import plm_core.inference

        return plm_core.inference.predict(self.handle, text, text_pair, top_k=top_k, max_tokens=max_tokens)

    def extract_attention(self, text: str, text_pair: str | None = None, *,
                          max_tokens: int | None = None) -> AttentionResult:
        import plm_core.attention

        return plm_core.attention.extract_attention(self.handle, text, text_pair, max_tokens=max_tokens)

    def query_key(self, text: str, layer: int, head: int, text_pair: str | None = None, *,
                  max_tokens: int | None = None, stack: str | None = None) -> QueryKeyResult:
        import plm_core.attention

        return plm_core.attention.query_key(self.handle, text, layer, head, text_pair, max_tokens=max_tokens,
                                            stack=stack)

    def mask_and_predict(self, text: str, spec: MaskSpec, *, text_pair: str | None = None,
                         reference: str | None = None, top_k: int = 5,
                         max_tokens: int | None = None) -> MaskingResult:
        import plm_core.masking

        return plm_core.masking.mask_and_predict(self.handle, text, spec, text_pair=text_pair, reference=reference,
                                                 top_k=top_k, max_tokens=max_tokens)

    def occlusion_sweep(self, text: str, spec: MaskSpec | None = None, *, strategy: Strategy | None = None,
                        text_pair: str | None = None, reference: str | None = None, batch_size: int = 128,
                        max_tokens: int | None = None, words: Encoding | None = None) -> OcclusionResult:
        import plm_core.masking

        return plm_core.masking.occlusion_sweep(self.handle, text, spec, strategy=strategy, text_pair=text_pair,
                                                reference=reference, batch_size=batch_size, max_tokens=max_tokens,
                                                words=words)

    def compare_texts(self, text_a: str, text_b: str, *, top_k: int = 5, max_tokens: int | None = None,
                      text_pair: str | None = None) -> TextComparison:
        import plm_core.compare

        return plm_core.compare.compare_texts(self.handle, text_a, text_b, top_k=top_k, max_tokens=max_tokens,
                                              text_pair=text_pair)

    def compare_models(self, spec_b: ModelSpec, text: str, *, top_k: int = 5, max_tokens: int | None = None,
                       text_pair: str | None = None) -> ModelComparison:
        import plm_core.compare

        return plm_core.compare.compare_models(self.handle, self._handle_of(spec_b), text, top_k=top_k,
                                               max_tokens=max_tokens, text_pair=text_pair)

    def token_embeddings(self, text: str, text_pair: str | None = None) -> TokenEmbeddings:
        import plm_core.lessons.compute

        return plm_core.lessons.compute.token_embeddings(self.handle, text, text_pair)

    def attention_steps(self, text: str, layer: int, head: int = 0, text_pair: str | None = None) -> AttentionSteps:
        import plm_core.lessons.compute

        return plm_core.lessons.compute.attention_steps(self.handle, text, layer, head, text_pair)

    def mask_lesson(self, text: str, top_k: int = 5) -> MaskLesson:
        import plm_core.lessons.compute

        return plm_core.lessons.compute.mask_lesson(self.handle, text, top_k)

    def lesson_occlusion(self, text: str, target: int | None = None, words: Encoding | None = None) -> Occlusion:
        import plm_core.lessons.compute

        return plm_core.lessons.compute.occlusion(self.handle, text, target, words)

    def encoder_decoder_lesson(self, text: str, target: str | None = None, top_k: int = 5) -> EncoderDecoderLesson:
        import plm_core.lessons.compute

        return plm_core.lessons.compute.encoder_decoder_lesson(self.handle, text, target, top_k)

    def lesson_bias_probe(self, occupations: tuple[str, ...] | list[str]) -> BiasProbe:
        import plm_core.lessons.compute

        return plm_core.lessons.compute.bias_probe(self.handle, occupations)

    def embed(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        import plm_core.inference

        return plm_core.inference.embed(self.handle, texts, batch_size)

    def contextual_embeddings(self, sentence_a: str, sentence_b: str, word: str) -> ContextualEmbeddings:
        import plm_core.lessons.compute

        return plm_core.lessons.compute.contextual_embeddings(self.handle, sentence_a, sentence_b, word)

    def logit_lens(self, text: str, *, top_k: int = 10, mask_index: int = 0,
                   max_tokens: int | None = None) -> LogitLens:
        import plm_core.logit_lens

        return plm_core.logit_lens.logit_lens(self.handle, text, top_k=top_k, mask_index=mask_index,
                                              max_tokens=max_tokens)

    def logit_lens_ids(self, ids: Sequence[int], encoding: Encoding | None = None, *, top_k: int = 10) -> LogitLens:
        import plm_core.logit_lens

        return plm_core.logit_lens.logit_lens_ids(self.handle, ids, encoding, top_k=top_k)

    def contributions(self, text: str, word: str | None = None, contrast: str | None = None, *,
                      text_pair: str | None = None, mask_index: int = 0, max_tokens: int | None = None,
                      sources: bool = True) -> Contributions:
        import plm_core.contributions

        return plm_core.contributions.contributions(self.handle, text, word, contrast, text_pair=text_pair,
                                                    mask_index=mask_index, max_tokens=max_tokens, sources=sources)

    def patch(self, clean: str, corrupt: str, what: PatchWhat = 'residual', *, word: str | None = None,
              contrast: str | None = None, text_pair: str | None = None,
              max_tokens: int | None = None) -> PatchingResult:
        import plm_core.patching

        return plm_core.patching.patch(self.handle, clean, corrupt, what, word=word, contrast=contrast,
                                       text_pair=text_pair, max_tokens=max_tokens)

    def ablate(self, text: str, ablation: Ablation, *, text_pair: str | None = None, top_k: int = 8,
               mask_index: int = 0, max_tokens: int | None = None) -> AblationResult:
        import plm_core.patching

        return plm_core.patching.ablate(self.handle, text, ablation, text_pair=text_pair, top_k=top_k,
                                        mask_index=mask_index, max_tokens=max_tokens)

    def ffn_view(self, text: str, layer: int, *, position: int | None = None, word: str | None = None,
                 text_pair: str | None = None, top_k: int = 10, n_vocab: int = 8, rank_by: RankBy = 'activation',
                 max_tokens: int | None = None) -> FFNView:
        import plm_core.ffn

        return plm_core.ffn.ffn_view(self.handle, text, layer, position=position, word=word, text_pair=text_pair,
                                     top_k=top_k, n_vocab=n_vocab, rank_by=rank_by, max_tokens=max_tokens)

    def attribute_continuation(self, prompt: str, continuation: str, method: str = 'integrated_gradients', *,
                               per_token: bool = True, max_tokens: int | None = None,
                               **kwargs: object) -> ContinuationAttribution:
        import plm_core.attribution.continuation

        return plm_core.attribution.continuation.attribute_continuation(self.handle, prompt, continuation, method,
            per_token=per_token, max_tokens=max_tokens, **kwargs)

    def attribute_rows(self, rows: Sequence[str], method: str, *, target: Target | None = None, start: int = 0,
                       limit: int | None = None, should_stop: Callable[[], bool] | None = None,
                       progress: Callable[[int, int], None] | None = None,
                       **kwargs: object) -> tuple[RowResult, ...]:
        import plm_core.attribution.batch

        return plm_core.attribution.batch.attribute_rows(self.handle, rows, method, target=target, start=start,
                                                         limit=limit, should_stop=should_stop, progress=progress,
                                                         **kwargs)

    def generation_start(self, prompt: str) -> Generation:
        import plm_core.generation

        return plm_core.generation.start(self.handle, prompt)

    def generate_steps(self, generation: Generation, settings: SamplingSettings, n: int = 1, *,
                       top_n: int = 20) -> Generation:
        import plm_core.generation

        return plm_core.generation.generate_steps(self.handle, generation, settings, n, top_n=top_n)

    def next_distribution(self, generation: Generation, settings: SamplingSettings,
                          top_n: int = 20) -> StepDistribution:
        import plm_core.generation

        return plm_core.generation.next_distribution(self.handle, generation, settings, top_n)

    def text_distribution(self, text: str, settings: SamplingSettings, *, mask_index: int = 0,
                          top_n: int = 20) -> tuple[Encoding, StepDistribution]:
        import plm_core.generation

        return plm_core.generation.text_distribution(self.handle, text, settings, mask_index=mask_index,
                                                     top_n=top_n)

    def step_attention(self, generation: Generation, index: int) -> StepAttention:
        import plm_core.generation

        return plm_core.generation.step_attention(self.handle, generation, index)

    def attribute_step(self, generation: Generation, index: int, method: str = 'integrated_gradients',
                       **kwargs: object) -> AttributionResult:
        import plm_core.generation

        return plm_core.generation.attribute_step(self.handle, generation, index, method, **kwargs)

    def attribute(self, text: str, method: str = 'integrated_gradients', *, target: Target | None = None,
                  text_pair: str | None = None, baseline: str = 'pad', n_steps: int | None = None,
                  tolerance: float = 0.001, max_tokens: int | None = None, sdpa: bool | None = None,
                  objective: Callable[[], Objective] | None = None,
                  **params: int | float | str) -> AttributionResult:
        import plm_core.attribution

        return plm_core.attribution.attribute(self.handle, text, method, target=target, text_pair=text_pair,
                                              baseline=baseline, n_steps=n_steps, tolerance=tolerance,
                                              max_tokens=max_tokens, sdpa=sdpa, objective=objective, **params)

    def attribute_every_label(self, text: str, method: str = 'integrated_gradients', *,
                              text_pair: str | None = None, output: str = 'prob',
                              **kwargs: object) -> tuple[AttributionResult, ...]:
        import plm_core.attribution

        return plm_core.attribution.attribute_every_label(self.handle, text, method, text_pair=text_pair,
                                                          output=output, **kwargs)

    def estimate_seconds(self, n_tokens: int, method: str = 'integrated_gradients', *, n_steps: int | None = None,
                         n_samples: int | None = None) -> float:
        import plm_core.attribution

        return plm_core.attribution.estimate_seconds(self.handle, n_tokens, method, n_steps=n_steps,
                                                     n_samples=n_samples)

    def attribution_difference(self, text_a: str, text_b: str, method: str,
                               text_pair: str | None = None) -> AttributionDifference:
        import plm_core.compare

        handle = self.handle
        return plm_core.compare.attribution_difference(
            handle, plm_core.compare.compare_texts(handle, text_a, text_b, text_pair=text_pair), method)

    def train_head(self, examples: str) -> TrainedHead:
        import plm_core.lessons.finetune

        return plm_core.lessons.finetune.train_head(self.handle, plm_core.lessons.finetune.parse_examples(examples))

    def classify(self, trained: TrainedHead, texts: list[str]) -> np.ndarray:
        import plm_core.lessons.finetune

        return plm_core.lessons.finetune.classify(self.handle, trained, texts)

    def probe_templates(self, tset: TemplateSet, *, batch_size: int | None = None,
                        progress: ProgressFn | None = None, should_stop: StopFn | None = None) -> TemplateResult:
        import plm_core.bias.templates

        return plm_core.bias.templates.probe_templates(self.handle, tset, batch_size=batch_size, progress=progress,
                                                       should_stop=should_stop)

    def score_pairs(self, pairs: Sequence[CrowsPair], *, batch_size: int | None = None,
                    chunk_pairs: int | None = None, progress: ProgressFn | None = None,
                    should_stop: StopFn | None = None) -> tuple[CrowsPairRow, ...]:
        import plm_core.bias.crows_pairs

        return plm_core.bias.crows_pairs.score_pairs(self.handle, pairs, batch_size=batch_size,
                                                     chunk_pairs=chunk_pairs, progress=progress,
                                                     should_stop=should_stop)

    def score_rows(self, rows: Sequence[BecProRow], *, batch_size: int | None = None, chunk_rows: int | None = None,
                   progress: ProgressFn | None = None, should_stop: StopFn | None = None,
                   require_any: bool = True) -> tuple[tuple[BecProScore, ...], tuple[str, ...]]:
        import plm_core.bias.bec_pro

        return plm_core.bias.bec_pro.score_rows(self.handle, rows, batch_size=batch_size, chunk_rows=chunk_rows,
                                                progress=progress, should_stop=should_stop, require_any=require_any)

    def run_seat(self, test: SeatTest, *, n_samples: int = 100000, seed: int = 0, n_bootstrap: int = 2000,
                 progress: ProgressFn | None = None, data_source: str = '', data_sha256: str = '') -> SeatResult:
        import plm_core.bias.seat

        return plm_core.bias.seat.run_seat(self.handle, test, n_samples=n_samples, seed=seed,
                                           n_bootstrap=n_bootstrap, progress=progress, data_source=data_source,
                                           data_sha256=data_sha256)

    def score_bias_chunk(self, items: Sequence[Any], *, probe: str,
                         config: dict[str, Any]) -> tuple[Sequence[Any], dict[str, Any]]:
        import plm_core.bias.jobs
        import plm_core.evaluate  # noqa: F401 - registers the Evaluate page's probe (a replica may score first)

        return plm_core.bias.jobs.score_chunk(self.handle, items, probe=probe, config=config)

    def info(self) -> ModelInfo:
        import plm_core.model_info

        return plm_core.model_info.model_info(self.handle)

    def encode(self, text: str, text_pair: str | None = None, **kwargs: Any) -> Encoding:
        import plm_core.tokens

        return plm_core.tokens.encode(self.handle, text, text_pair, **kwargs)[0]

    def token_count(self, text: str, text_pair: str | None = None) -> int:
        try:
            return len(self.encode(text, text_pair))
        except PlmCoreError:
            return 0

    def word_pieces(self, words: list[str]) -> list[tuple[str, tuple[str, ...]]]:
        import plm_core.lessons.compute

        return plm_core.lessons.compute.word_pieces(self.handle, words)

    def chat_prompt(self, text: str) -> str:
        import plm_core.tokens

        return plm_core.tokens.chat_prompt(self.handle, text)

    def has_chat_template(self) -> bool:
        import plm_core.tokens

        return plm_core.tokens.has_chat_template(self.handle)

    def sentence_embeddings(self, texts: Sequence[str], layer: int | None = None,
                            batch_size: int = 32) -> np.ndarray:
        import plm_core.embedding_map

        return plm_core.embedding_map.sentence_embeddings(self.handle, texts, layer, batch_size)

    def input_embeddings(self, ids: Sequence[int]) -> np.ndarray:
        import plm_core.embedding_map

        return plm_core.embedding_map.input_embedding_table(self.handle)[list(ids)].numpy()

    def analogy(self, a: str, b: str, c: str, k: int = 10) -> Analogy:
        import plm_core.embedding_map

        return plm_core.embedding_map.analogy(self.handle, a, b, c, k)

    def model_card(self, *, measure: bool = True) -> ModelCard:
        import plm_core.model_card

        return plm_core.model_card.card(self.handle, measure=measure)

    def save_classifier(self, trained: TrainedHead, folder: str | Path) -> Path:
        import plm_core.lessons.finetune

        return plm_core.lessons.finetune.save_classifier(self.handle, trained, folder)

    def require_masked_lm(self, what: str) -> None:
        import plm_core.bias.common

        plm_core.bias.common.require_masked_lm(self.handle, what)

    def plan_templates(self, tset: TemplateSet) -> tuple[FilledTemplate, ...]:
        import plm_core.bias.templates

        return plm_core.bias.templates.plan(self.handle, tset)

    def check_template(self, template: str) -> None:
        import plm_core.evaluate

        plm_core.evaluate.check_template(self.handle, template)

    def label_word_ids(self, words: dict[str, str]) -> dict[str, int]:
        import plm_core.evaluate

        return plm_core.evaluate.label_word_ids(self.handle, words)

    def class_names(self, config: dict[str, Any]) -> tuple[str, ...]:
        import plm_core.evaluate

        return plm_core.evaluate.class_names(self.handle, config)

    def word_ids(self, words: Sequence[str]) -> list[int]:
        import plm_core.embedding_map

        return plm_core.embedding_map.word_ids(self.handle, words)

    def query_row(self, encoding: Encoding) -> int:
        handle = self.handle
        return handle.adapter.query_row(handle, encoding)

    def text_of(self, ids: Sequence[int]) -> str:
        import plm_core.generation

        return plm_core.generation.text_of(self.handle, ids)

    def token_strings(self, ids: Sequence[int], *, apart: bool = True) -> tuple[str, ...]:
        import plm_core.generation

        return plm_core.generation.token_strings(self.handle, ids, apart=apart)


class ForwardingLens(Lens):
    """A lens whose every method hands its name and arguments to :meth:`_call` (positional arguments as a tuple,
    the rest by keyword): the base of the remote lens (:class:`plm_core.serving.client.RemoteLens`) and the caching
    lens (:class:`CachingLens`)."""

    @abc.abstractmethod
    def _call(self, name: str, args: tuple, /, **kwargs: Any) -> Any:
        """The result of the method ``name`` called with ``args`` and ``kwargs``."""

    def predict(self, text: str, text_pair: str | None = None, *, top_k: int = 10,
                max_tokens: int | None = None) -> Prediction:
        return self._call("predict", (text, text_pair), top_k=top_k, max_tokens=max_tokens)

    def extract_attention(self, text: str, text_pair: str | None = None, *,
                          max_tokens: int | None = None) -> AttentionResult:
        return self._call("extract_attention", (text, text_pair), max_tokens=max_tokens)

    def query_key(self, text: str, layer: int, head: int, text_pair: str | None = None, *,
                  max_tokens: int | None = None, stack: str | None = None) -> QueryKeyResult:
        return self._call("query_key", (text, layer, head, text_pair), max_tokens=max_tokens, stack=stack)

    def mask_and_predict(self, text: str, spec: MaskSpec, *, text_pair: str | None = None,
                         reference: str | None = None, top_k: int = 5,
                         max_tokens: int | None = None) -> MaskingResult:
        return self._call("mask_and_predict", (text, spec), text_pair=text_pair, reference=reference, top_k=top_k,
                          max_tokens=max_tokens)

    def occlusion_sweep(self, text: str, spec: MaskSpec | None = None, *, strategy: Strategy | None = None,
                        text_pair: str | None = None, reference: str | None = None, batch_size: int = 128,
                        max_tokens: int | None = None, words: Encoding | None = None) -> OcclusionResult:
        return self._call("occlusion_sweep", (text, spec), strategy=strategy, text_pair=text_pair,
                          reference=reference, batch_size=batch_size, max_tokens=max_tokens, words=words)

    def compare_texts(self, text_a: str, text_b: str, *, top_k: int = 5, max_tokens: int | None = None,
                      text_pair: str | None = None) -> TextComparison:
        return self._call("compare_texts", (text_a, text_b), top_k=top_k, max_tokens=max_tokens,
                          text_pair=text_pair)

    def compare_models(self, spec_b: ModelSpec, text: str, *, top_k: int = 5, max_tokens: int | None = None,
                       text_pair: str | None = None) -> ModelComparison:
        return self._call("compare_models", (spec_b, text), top_k=top_k, max_tokens=max_tokens, text_pair=text_pair)

    def token_embeddings(self, text: str, text_pair: str | None = None) -> TokenEmbeddings:
        return self._call("token_embeddings", (text, text_pair))

    def attention_steps(self, text: str, layer: int, head: int = 0, text_pair: str | None = None) -> AttentionSteps:
        return self._call("attention_steps", (text, layer, head, text_pair))

    def mask_lesson(self, text: str, top_k: int = 5) -> MaskLesson:
        return self._call("mask_lesson", (text, top_k))

    def lesson_occlusion(self, text: str, target: int | None = None, words: Encoding | None = None) -> Occlusion:
        return self._call("lesson_occlusion", (text, target, words))

    def encoder_decoder_lesson(self, text: str, target: str | None = None, top_k: int = 5) -> EncoderDecoderLesson:
        return self._call("encoder_decoder_lesson", (text, target, top_k))

    def lesson_bias_probe(self, occupations: tuple[str, ...] | list[str]) -> BiasProbe:
        return self._call("lesson_bias_probe", (occupations,))

    def embed(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        return self._call("embed", (texts, batch_size))

    def contextual_embeddings(self, sentence_a: str, sentence_b: str, word: str) -> ContextualEmbeddings:
        return self._call("contextual_embeddings", (sentence_a, sentence_b, word))

    def logit_lens(self, text: str, *, top_k: int = 10, mask_index: int = 0,
                   max_tokens: int | None = None) -> LogitLens:
        return self._call("logit_lens", (text,), top_k=top_k, mask_index=mask_index, max_tokens=max_tokens)

    def logit_lens_ids(self, ids: Sequence[int], encoding: Encoding | None = None, *, top_k: int = 10) -> LogitLens:
        return self._call("logit_lens_ids", (ids, encoding), top_k=top_k)

    def contributions(self, text: str, word: str | None = None, contrast: str | None = None, *,
                      text_pair: str | None = None, mask_index: int = 0, max_tokens: int | None = None,
                      sources: bool = True) -> Contributions:
        return self._call("contributions", (text, word, contrast), text_pair=text_pair, mask_index=mask_index,
                          max_tokens=max_tokens, sources=sources)

    def patch(self, clean: str, corrupt: str, what: PatchWhat = 'residual', *, word: str | None = None,
              contrast: str | None = None, text_pair: str | None = None,
              max_tokens: int | None = None) -> PatchingResult:
        return self._call("patch", (clean, corrupt, what), word=word, contrast=contrast, text_pair=text_pair,
                          max_tokens=max_tokens)

    def ablate(self, text: str, ablation: Ablation, *, text_pair: str | None = None, top_k: int = 8,
               mask_index: int = 0, max_tokens: int | None = None) -> AblationResult:
        return self._call("ablate", (text, ablation), text_pair=text_pair, top_k=top_k, mask_index=mask_index,
                          max_tokens=max_tokens)

    def ffn_view(self, text: str, layer: int, *, position: int | None = None, word: str | None = None,
                 text_pair: str | None = None, top_k: int = 10, n_vocab: int = 8, rank_by: RankBy = 'activation',
                 max_tokens: int | None = None) -> FFNView:
        return self._call("ffn_view", (text, layer), position=position, word=word, text_pair=text_pair, top_k=top_k,
                          n_vocab=n_vocab, rank_by=rank_by, max_tokens=max_tokens)

    def attribute_continuation(self, prompt: str, continuation: str, method: str = 'integrated_gradients', *,
                               per_token: bool = True, max_tokens: int | None = None,
                               **kwargs: object) -> ContinuationAttribution:
        return self._call("attribute_continuation", (prompt, continuation, method), per_token=per_token,
                          max_tokens=max_tokens, **kwargs)

    def attribute_rows(self, rows: Sequence[str], method: str, *, target: Target | None = None, start: int = 0,
                       limit: int | None = None, should_stop: Callable[[], bool] | None = None,
                       progress: Callable[[int, int], None] | None = None,
                       **kwargs: object) -> tuple[RowResult, ...]:
        return self._call("attribute_rows", (rows, method), target=target, start=start, limit=limit,
                          should_stop=should_stop, progress=progress, **kwargs)

    def generation_start(self, prompt: str) -> Generation:
        return self._call("generation_start", (prompt,))

    def generate_steps(self, generation: Generation, settings: SamplingSettings, n: int = 1, *,
                       top_n: int = 20) -> Generation:
        return self._call("generate_steps", (generation, settings, n), top_n=top_n)

    def next_distribution(self, generation: Generation, settings: SamplingSettings,
                          top_n: int = 20) -> StepDistribution:
        return self._call("next_distribution", (generation, settings, top_n))

    def text_distribution(self, text: str, settings: SamplingSettings, *, mask_index: int = 0,
                          top_n: int = 20) -> tuple[Encoding, StepDistribution]:
        return self._call("text_distribution", (text, settings), mask_index=mask_index, top_n=top_n)

    def step_attention(self, generation: Generation, index: int) -> StepAttention:
        return self._call("step_attention", (generation, index))

    def attribute_step(self, generation: Generation, index: int, method: str = 'integrated_gradients',
                       **kwargs: object) -> AttributionResult:
        return self._call("attribute_step", (generation, index, method), **kwargs)

    def attribute(self, text: str, method: str = 'integrated_gradients', *, target: Target | None = None,
                  text_pair: str | None = None, baseline: str = 'pad', n_steps: int | None = None,
                  tolerance: float = 0.001, max_tokens: int | None = None, sdpa: bool | None = None,
                  objective: Callable[[], Objective] | None = None,
                  **params: int | float | str) -> AttributionResult:
        return self._call("attribute", (text, method), target=target, text_pair=text_pair, baseline=baseline,
                          n_steps=n_steps, tolerance=tolerance, max_tokens=max_tokens, sdpa=sdpa,
                          objective=objective, **params)

    def attribute_every_label(self, text: str, method: str = 'integrated_gradients', *,
                              text_pair: str | None = None, output: str = 'prob',
                              **kwargs: object) -> tuple[AttributionResult, ...]:
        return self._call("attribute_every_label", (text, method), text_pair=text_pair, output=output, **kwargs)

    def estimate_seconds(self, n_tokens: int, method: str = 'integrated_gradients', *, n_steps: int | None = None,
                         n_samples: int | None = None) -> float:
        return self._call("estimate_seconds", (n_tokens, method), n_steps=n_steps, n_samples=n_samples)

    def attribution_difference(self, text_a: str, text_b: str, method: str,
                               text_pair: str | None = None) -> AttributionDifference:
        return self._call("attribution_difference", (text_a, text_b, method, text_pair))

    def train_head(self, examples: str) -> TrainedHead:
        return self._call("train_head", (examples,))

    def classify(self, trained: TrainedHead, texts: list[str]) -> np.ndarray:
        return self._call("classify", (trained, texts))

    def probe_templates(self, tset: TemplateSet, *, batch_size: int | None = None,
                        progress: ProgressFn | None = None, should_stop: StopFn | None = None) -> TemplateResult:
        return self._call("probe_templates", (tset,), batch_size=batch_size, progress=progress,
                          should_stop=should_stop)

    def score_pairs(self, pairs: Sequence[CrowsPair], *, batch_size: int | None = None,
                    chunk_pairs: int | None = None, progress: ProgressFn | None = None,
                    should_stop: StopFn | None = None) -> tuple[CrowsPairRow, ...]:
        return self._call("score_pairs", (pairs,), batch_size=batch_size, chunk_pairs=chunk_pairs,
                          progress=progress, should_stop=should_stop)

    def score_rows(self, rows: Sequence[BecProRow], *, batch_size: int | None = None, chunk_rows: int | None = None,
                   progress: ProgressFn | None = None, should_stop: StopFn | None = None,
                   require_any: bool = True) -> tuple[tuple[BecProScore, ...], tuple[str, ...]]:
        return self._call("score_rows", (rows,), batch_size=batch_size, chunk_rows=chunk_rows, progress=progress,
                          should_stop=should_stop, require_any=require_any)

    def run_seat(self, test: SeatTest, *, n_samples: int = 100000, seed: int = 0, n_bootstrap: int = 2000,
                 progress: ProgressFn | None = None, data_source: str = '', data_sha256: str = '') -> SeatResult:
        return self._call("run_seat", (test,), n_samples=n_samples, seed=seed, n_bootstrap=n_bootstrap,
                          progress=progress, data_source=data_source, data_sha256=data_sha256)

    def score_bias_chunk(self, items: Sequence[Any], *, probe: str,
                         config: dict[str, Any]) -> tuple[Sequence[Any], dict[str, Any]]:
        return self._call("score_bias_chunk", (items,), probe=probe, config=config)

    def info(self) -> ModelInfo:
        return self._call("info", ())

    def encode(self, text: str, text_pair: str | None = None, **kwargs: Any) -> Encoding:
        return self._call("encode", (text, text_pair), **kwargs)

    def token_count(self, text: str, text_pair: str | None = None) -> int:
        return self._call("token_count", (text, text_pair))

    def word_pieces(self, words: list[str]) -> list[tuple[str, tuple[str, ...]]]:
        return self._call("word_pieces", (words,))

    def chat_prompt(self, text: str) -> str:
        return self._call("chat_prompt", (text,))

    def has_chat_template(self) -> bool:
        return self._call("has_chat_template", ())

    def sentence_embeddings(self, texts: Sequence[str], layer: int | None = None,
                            batch_size: int = 32) -> np.ndarray:
        return self._call("sentence_embeddings", (texts, layer, batch_size))

    def input_embeddings(self, ids: Sequence[int]) -> np.ndarray:
        return self._call("input_embeddings", (ids,))

    def analogy(self, a: str, b: str, c: str, k: int = 10) -> Analogy:
        return self._call("analogy", (a, b, c, k))

    def model_card(self, *, measure: bool = True) -> ModelCard:
        return self._call("model_card", (), measure=measure)

    def save_classifier(self, trained: TrainedHead, folder: str | Path) -> Path:
        return self._call("save_classifier", (trained, folder))

    def require_masked_lm(self, what: str) -> None:
        return self._call("require_masked_lm", (what,))

    def plan_templates(self, tset: TemplateSet) -> tuple[FilledTemplate, ...]:
        return self._call("plan_templates", (tset,))

    def check_template(self, template: str) -> None:
        return self._call("check_template", (template,))

    def label_word_ids(self, words: dict[str, str]) -> dict[str, int]:
        return self._call("label_word_ids", (words,))

    def class_names(self, config: dict[str, Any]) -> tuple[str, ...]:
        return self._call("class_names", (config,))

    def word_ids(self, words: Sequence[str]) -> list[int]:
        return self._call("word_ids", (words,))

    def query_row(self, encoding: Encoding) -> int:
        return self._call("query_row", (encoding,))

    def text_of(self, ids: Sequence[int]) -> str:
        return self._call("text_of", (ids,))

    def token_strings(self, ids: Sequence[int], *, apart: bool = True) -> tuple[str, ...]:
        return self._call("token_strings", (ids,), apart=apart)


# the operations, read off the interface (not a list kept by hand)
METHODS: frozenset[str] = frozenset(Lens.__abstractmethods__)
TOKENIZER_METHODS: frozenset[str] = frozenset(m for m in METHODS if getattr(Lens, m).__dict__.get("lens_runs") == "tokenizer")
FORWARD_METHODS: frozenset[str] = frozenset(m for m in METHODS if getattr(Lens, m).__dict__.get("lens_runs") == "forward")


def runs(name: str) -> Runs:
    """Where the method ``name`` may run: "tokenizer" (where the caller is), "forward" (may join a batch), "call".

    Raises:
        UnknownMethodError: ``name`` is not a :class:`Lens` method.
    """
    check_method(name)
    return getattr(Lens, name).__dict__.get("lens_runs", "call")


def merger(name: str) -> Merge | None:
    """The function that computes several calls of ``name`` in one pass, if it has one."""
    check_method(name)
    return getattr(Lens, name).__dict__.get("lens_merge")


def check_method(name: str) -> str:
    """``name`` if it is a :class:`Lens` method.

    Raises:
        UnknownMethodError: it is not (the message lists the methods).
    """
    if name not in METHODS:
        raise UnknownMethodError(name, available=sorted(METHODS))
    return name


# ------------------------------------------------------------------ caching (LIT's CachingModelWrapper)

# method name -> how an app may cache its results (the :func:`cached` marks, read off the interface)
CACHE_POLICIES: dict[str, CachePolicy] = {
    m: getattr(Lens, m).__dict__["lens_cache"] for m in sorted(METHODS) if "lens_cache" in getattr(Lens, m).__dict__}
# (spec, _lens, args, kwargs) -> the result of ``_lens.<method>(*args, **kwargs)``, kept by a cache
Memoized = Callable[[ModelSpec, "Lens", tuple, dict], Any]


def memoize_methods(cache: Callable[[CachePolicy], Callable[[Callable], Callable]]) -> dict[str, Memoized]:
    """One cached function per method of :data:`CACHE_POLICIES`: ``cache(policy)`` (a decorator such as
    ``st.cache_data`` with the policy's parameters) around a function of ``(spec, _lens, args, kwargs)`` that calls
    the method of ``_lens``. A cache keys on the arguments but ``_lens`` (Streamlit leaves out arguments whose names
    start with an underscore): two lenses on one spec share results. Each function is named
    ``CachingLens.<method>`` (Streamlit keys each cache by its function's module and name)."""
    def one(name: str, policy: CachePolicy) -> Memoized:
        def call(spec: ModelSpec, _lens: Lens, args: tuple, kwargs: dict[str, Any]) -> Any:
            return getattr(_lens, name)(*args, **kwargs)

        call.__name__ = name
        call.__qualname__ = f"CachingLens.{name}"
        return cache(policy)(call)

    return {name: one(name, policy) for name, policy in CACHE_POLICIES.items()}


class CachingLens(ForwardingLens):
    """``inner``'s methods, those marked :func:`cached` through ``memoized`` (from :func:`memoize_methods`), the
    others called directly: the app's lens (``ui.lens.get_lens`` gives ``st.cache_data`` functions, one set per
    process; ``st.cache_data.clear()`` empties them)."""

    def __init__(self, inner: Lens, memoized: Mapping[str, Memoized]) -> None:
        self.spec = inner.spec
        self.inner = inner
        self.memoized = memoized

    def _call(self, name: str, args: tuple, /, **kwargs: Any) -> Any:
        memo = self.memoized.get(name)
        if memo is None:
            return getattr(self.inner, name)(*args, **kwargs)
        return memo(self.spec, self.inner, args, kwargs)
