"""Generation, step by step: greedy, temperature, top-k and top-p (nucleus) sampling, one token at a time.

Each step keeps the next-token distribution three ways — the model's own (softmax of the logits), after the
temperature, and after top-k / top-p truncation (what the token is drawn from) — with the chosen token and its
rank. The warpers are Hugging Face's (``TemperatureLogitsWarper``, ``TopKLogitsWarper``, ``TopPLogitsWarper``,
applied in that order, as ``model.generate`` does), and the token is drawn with ``torch.multinomial`` from a
private ``torch.Generator`` seeded with the settings' seed, so a seeded run gives exactly the tokens of
``torch.manual_seed(seed); model.generate(do_sample=True, ...)``. Nucleus sampling: Holtzman et al. (2020),
"The Curious Case of Neural Text Degeneration"; top-k: Fan et al. (2018).

KV cache: a step feeds only the new token with the model's ``past_key_values`` from the step before. Caches
are side entries of the process's one model cache (:func:`plm_core.model_cache.shared`), keyed by the token
ids they hold: they count against the same memory budget as the loaded models (``PLM_MODEL_MEMORY_MB``) and
are evicted first, least recently used first. A page that asks for one step per click costs one token's
forward per click; a cache evicted meanwhile is rebuilt with one forward over the prefix. Every forward runs under ``handle.lock``.

The model-kind part is the kind adapter's (``handle.adapter``: ``generates``, ``decoder_start``,
``decoder_forward``): causal LMs continue the prompt; encoder-decoder models read the prompt with the encoder
and their decoder starts from its start token.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
import torch

from plm_core.display import no_token_label, token_texts
from plm_core.errors import InvalidInputError, UnsupportedModelError
from plm_core.i18n import msg
from plm_core.kinds.texts import kind_label
from plm_core.inference import run
from plm_core.handle import ModelHandle
from plm_core.model_cache import shared
from plm_core.tokens import encode, encode_text
from plm_core.types import Encoding

MAX_NEW_TOKENS = 256  # most tokens one call may add
CANDIDATES = 20  # candidates kept per step (the model's most likely tokens)


# ----------------------------------------------------------------------------------------- settings ----


@dataclass(frozen=True)
class SamplingSettings:
    """How the next token is chosen (Hugging Face ``generate`` semantics).

    Args:
        do_sample: False = greedy (the most likely token; the other settings are ignored), True = sampling.
        temperature: logits are divided by it before the softmax (> 0; below 1 sharpens, above 1 flattens).
        top_k: keep only the k most likely tokens (0 = off).
        top_p: keep the smallest set of most likely tokens whose probability adds up to at least p (1 = off).
        seed: seed of the sampling random number generator.

    Raises:
        InvalidInputError: a setting out of range.
    """

    do_sample: bool = False
    temperature: float = 1.0
    top_k: int = 0
    top_p: float = 1.0
    seed: int = 0

    def __post_init__(self) -> None:
        if not (isinstance(self.temperature, (int, float)) and 0 < self.temperature <= 100 and math.isfinite(self.temperature)):
            raise InvalidInputError(msg("temperature must be above 0 (and at most 100), got {value}", value=self.temperature))
        if int(self.top_k) != self.top_k or self.top_k < 0:
            raise InvalidInputError(msg("top-k must be a whole number, 0 (off) or more, got {value}", value=self.top_k))
        if not 0 < self.top_p <= 1:
            raise InvalidInputError(msg("top-p must be above 0 and at most 1, got {value}", value=self.top_p))
        if int(self.seed) != self.seed or not 0 <= self.seed < 2**63:
            raise InvalidInputError(msg("the seed must be a whole number from 0 to 2^63 − 1, got {value}", value=self.seed))
        object.__setattr__(self, "top_k", int(self.top_k))
        object.__setattr__(self, "seed", int(self.seed))
        object.__setattr__(self, "temperature", float(self.temperature))
        object.__setattr__(self, "top_p", float(self.top_p))

    def describe(self) -> str:
        """One line: "greedy" or "sampling, T=0.7, top-k 40, top-p 0.9, seed 0" (a Message: translated when shown)."""
        if not self.do_sample:
            return msg("greedy")
        parts = [f"T={self.temperature:g}"]
        parts += [f"top-k {self.top_k}"] if self.top_k else []
        parts += [f"top-p {self.top_p:g}"] if self.top_p < 1 else []
        return msg("sampling, {settings}, seed {seed}", settings=", ".join(parts), seed=self.seed)


def apply_temperature(logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """``logits / T`` (Hugging Face ``TemperatureLogitsWarper``; skipped at T = 1 as ``generate`` does)."""
    return logits if temperature == 1.0 else logits / temperature


def top_k_filter(scores: torch.Tensor, top_k: int) -> torch.Tensor:
    """Scores below the k-th largest set to −inf (``TopKLogitsWarper``; ties with the k-th are kept). 0 = off."""
    if top_k <= 0:
        return scores
    k = min(top_k, scores.size(-1))
    remove = scores < torch.topk(scores, k)[0][..., -1, None]
    return scores.masked_fill(remove, float("-inf"))


def top_p_filter(scores: torch.Tensor, top_p: float) -> torch.Tensor:
    """Nucleus filter (``TopPLogitsWarper``): keep the smallest set of most likely tokens with probability ≥ p.

    Sorted ascending, a token is removed when the probability of it and everything less likely is ≤ 1 − p;
    the most likely token is always kept. 1 = off.
    """
    if top_p >= 1.0:
        return scores
    sorted_scores, order = torch.sort(scores, descending=False)
    cumulative = sorted_scores.softmax(dim=-1).cumsum(dim=-1)
    sorted_remove = cumulative <= (1 - top_p)
    sorted_remove[..., -1:] = False
    remove = sorted_remove.scatter(-1, order, sorted_remove)
    return scores.masked_fill(remove, float("-inf"))


def warp(logits: torch.Tensor, settings: SamplingSettings) -> tuple[torch.Tensor, torch.Tensor]:
    """Temperature, then top-k, then top-p, as ``model.generate`` orders them.

    Args:
        logits: float32 ``[..., vocab]``.

    Returns:
        (scores after the temperature, scores after temperature and truncation; −inf where removed).
    """
    scaled = apply_temperature(logits, settings.temperature)
    return scaled, top_p_filter(top_k_filter(scaled, settings.top_k), settings.top_p)


# ----------------------------------------------------------------------------------- model families ----
# What differs by model kind lives in the kind adapters (plm_core.kinds): ``adapter.generates``,
# ``decoder_start`` (the ids the decoder continues: a causal LM's prompt, an encoder-decoder's start token) and
# ``decoder_forward`` (feed ids with a cache, return the next-token logits).


def can_generate(handle: ModelHandle) -> bool:
    """Whether the model writes text left to right (a causal LM or an encoder-decoder)."""
    return handle.adapter.generates


def _refuse_unless_generates(handle: ModelHandle) -> None:
    if not handle.adapter.generates:
        handle.adapter.decoder_start(handle, None)  # type: ignore[arg-type]  (raises UnsupportedModelError)


# ------------------------------------------------------------------------------------ the KV cache ----


@dataclass
class _Entry:
    cache: object
    logits: torch.Tensor  # float32 [vocab]
    nbytes: int


def _nbytes(obj: object, depth: int = 0) -> int:
    """Bytes of the tensors in a cache (DynamicCache layers, tuples of tensors, encoder outputs)."""
    if isinstance(obj, torch.Tensor):
        return obj.numel() * obj.element_size()
    if depth > 4 or obj is None:
        return 0
    if isinstance(obj, (list, tuple)):
        return sum(_nbytes(o, depth + 1) for o in obj)
    layers = getattr(obj, "layers", None)
    if layers is not None:
        return sum(_nbytes(getattr(layer, "keys", None), depth + 1) + _nbytes(getattr(layer, "values", None), depth + 1)
                   for layer in layers)
    for name in ("self_attention_cache", "cross_attention_cache", "last_hidden_state"):
        if hasattr(obj, name):
            return sum(_nbytes(getattr(obj, n, None), depth + 1)
                       for n in ("self_attention_cache", "cross_attention_cache", "last_hidden_state"))
    return 0


def next_logits(handle: ModelHandle, prompt: Encoding, ids: Sequence[int]) -> torch.Tensor:
    """Next-token logits after ``ids`` (float32 ``[vocab]``), from the KV cache when it holds ``ids[:-1]``.

    A hit on ``ids`` itself costs nothing; a hit on ``ids[:-1]`` costs one token's forward (its cache is
    extended in place and stored under ``ids``); a miss costs one forward over all of ``ids``.
    """
    _refuse_unless_generates(handle)
    adapter = handle.adapter
    ids = tuple(int(i) for i in ids)
    key = ("kv", prompt.input_ids, ids)
    cache = shared()  # the one memory budget: these entries count with the loaded models
    with handle.lock:
        hit = cache.get_side(handle, key)
        if hit is not None:
            return hit.logits  # type: ignore[attr-defined]
        prev = cache.pop_side(handle, ("kv", prompt.input_ids, ids[:-1])) if len(ids) > 1 else None
        if prev is not None:
            out = adapter.decoder_forward(handle, prompt, ids[-1:], prev.cache, False)  # type: ignore[attr-defined]
        else:
            out = adapter.decoder_forward(handle, prompt, ids, None, False)
        entry = _Entry(out.cache, out.logits.detach(), _nbytes(out.cache) + out.logits.numel() * 4)
        cache.put_side(handle, key, entry, entry.nbytes)
        return entry.logits


def clear_cache(handle: ModelHandle | None = None) -> None:
    """Drop the KV caches of ``handle`` (or of every model)."""
    if handle is None:
        shared().clear_side()
        return
    with handle.lock:
        shared().clear_side(handle)


# ------------------------------------------------------------------------------------------ results ----


@dataclass(frozen=True)
class StepDistribution:
    """The next-token distribution at one step, before and after temperature and truncation.

    The candidates are the model's most likely tokens, most likely first. Temperature and truncation keep
    that order, so one list serves all three distributions.
    """

    position: int  # the token whose output this is: the last one read (a [MASK] for a masked LM)
    settings: SamplingSettings
    token_ids: tuple[int, ...]  # [k]
    tokens: tuple[str, ...]  # [k] display strings
    probs: np.ndarray  # float32 [k]; the model's own distribution, softmax(logits)
    probs_temperature: np.ndarray  # float32 [k]; softmax(logits / T)
    probs_final: np.ndarray  # float32 [k]; after top-k / top-p, renormalised: what is drawn from (greedy: one-hot)
    cumulative: np.ndarray  # float32 [k]; running sum of probs_temperature (the top-p threshold applies to it)
    n_kept: int  # vocabulary entries left after truncation (1 for greedy)
    kept_mass: float  # probability (at temperature T) of the kept entries, before renormalising
    entropy: float  # nats, of the model's own distribution
    entropy_final: float  # nats, of the distribution drawn from

    def __post_init__(self) -> None:
        k = len(self.token_ids)
        for name in ("probs", "probs_temperature", "probs_final", "cumulative"):
            if getattr(self, name).shape != (k,):
                raise ValueError(f"{name} has shape {getattr(self, name).shape} for {k} candidates")


@dataclass(frozen=True)
class GenerationStep:
    """One generated token and the distribution it was chosen from."""

    distribution: StepDistribution
    token_id: int
    token: str
    rank: int  # 0 = the model's most likely token
    prob: float  # the model's own probability of the chosen token
    prob_final: float  # the probability it was drawn with (1.0 for greedy)
    eos: bool  # the end-of-sequence token: generation stops here


@dataclass(frozen=True)
class Generation:
    """A prompt and the tokens generated so far.

    ``ids`` is the decoder's sequence: for a causal LM the prompt's ids followed by the generated ones; for an
    encoder-decoder model the decoder's start token followed by them (the prompt is the encoder's input).
    """

    model_id: str
    prompt: Encoding
    ids: tuple[int, ...]
    n_start: int  # ids before the first generated token
    steps: tuple[GenerationStep, ...] = ()
    rng_seed: int | None = None  # seed the stored RNG state descends from (None: never sampled)
    rng_state: bytes = field(default=b"", repr=False)  # torch CPU generator state after the last step
    notes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if len(self.ids) != self.n_start + len(self.steps):
            raise ValueError(f"{len(self.ids)} ids for {self.n_start} start ids and {len(self.steps)} steps")

    @property
    def finished(self) -> bool:
        return bool(self.steps) and self.steps[-1].eos

    @property
    def generated_ids(self) -> tuple[int, ...]:
        return self.ids[self.n_start:]

    def position(self, index: int) -> int:
        """Index in ``ids`` of generated token number ``index`` (0 = the first generated)."""
        if not 0 <= index < len(self.steps):
            raise InvalidInputError(msg("there is no generated token {index}: {n} generated so far", index=index,
                                        n=len(self.steps)))
        return self.n_start + index


def token_strings(handle: ModelHandle, ids: Sequence[int], *, apart: bool = True) -> tuple[str, ...]:
    """Display text of vocabulary ids (:func:`plm_core.display.token_texts`): each on its own (``apart``: a list
    of candidates), or as one sequence (a character split over byte pieces is named in each: ``中 1/3``). An id
    the tokenizer does not know (a vocabulary padded past the tokenizer) is "<id N>"."""
    return token_texts(handle, [int(i) for i in ids], apart=apart)


def encoding_of_ids(handle: ModelHandle, ids: Sequence[int]) -> Encoding:
    """An :class:`Encoding` of token ids as they are (never re-tokenized: generated ids need not round-trip)."""
    ids = tuple(int(i) for i in ids)
    text = text_of(handle, ids)
    with handle.lock:
        special_ids = set(handle.tokenizer.all_special_ids)
    return Encoding(text=text or " ", tokens=token_strings(handle, ids, apart=False), input_ids=ids,
                    special=tuple(i in special_ids for i in ids), segments=(0,) * len(ids), offsets=((0, 0),) * len(ids))


def start(handle: ModelHandle, prompt: str) -> Generation:
    """A generation with no tokens yet (no forward pass: the first step runs it).

    Raises:
        UnsupportedModelError: the model cannot generate.
        InvalidInputError: an empty prompt.
    """
    _refuse_unless_generates(handle)
    with handle.lock:
        # the prompt on its own (an encoder-decoder's adapter.encode would append the decoder's input)
        encoding, _ = encode_text(handle, prompt)
        ids = handle.adapter.decoder_start(handle, encoding)
    return Generation(handle.model_id, encoding, tuple(int(i) for i in ids), len(ids), notes=encoding.notes)


class _Warped(NamedTuple):
    probs: torch.Tensor  # [vocab] softmax(logits)
    log_probs: torch.Tensor  # [vocab]
    probs_temperature: torch.Tensor  # [vocab]
    final: torch.Tensor | None  # [vocab] what is drawn from (None for greedy: one-hot at the argmax)
    kept: torch.Tensor | None  # bool [vocab] (None for greedy)
    top: int  # argmax of the logits


def _warped(logits: torch.Tensor, settings: SamplingSettings) -> _Warped:
    logits = logits.float()
    log_probs = torch.log_softmax(logits, -1)
    probs = log_probs.exp()
    if settings.do_sample:
        scaled, final_scores = warp(logits, settings)
        probs_t = probs if scaled is logits else torch.softmax(scaled, -1)
        final = torch.softmax(final_scores, -1)  # what model.generate hands to torch.multinomial
        kept = torch.isfinite(final_scores)
    else:
        probs_t, final, kept = probs, None, None
    return _Warped(probs, log_probs, probs_t, final, kept, int(torch.argmax(logits)))


def distribution_of(handle: ModelHandle, logits: torch.Tensor, position: int, settings: SamplingSettings,
                    top_n: int = CANDIDATES, *, warped: _Warped | None = None) -> StepDistribution:
    """The three distributions of one step from its logits (float32 ``[vocab]``)."""
    w = warped or _warped(logits, settings)
    k = min(int(top_n), logits.shape[-1])
    order = torch.topk(logits.float(), k).indices  # temperature and truncation keep this order
    ids = tuple(int(i) for i in order.tolist())
    as_np = lambda t: t[order].cpu().numpy().astype(np.float32)  # noqa: E731
    zero = torch.zeros((), device=logits.device)
    entropy = float(-torch.where(w.probs > 0, w.probs * w.log_probs, zero).sum())
    if w.final is None:  # greedy: all probability on the argmax
        final = (order == w.top).float()
        n_kept, kept_mass, entropy_final = 1, float(w.probs[w.top]), 0.0
    else:
        final = w.final[order]
        final_log = torch.log(w.final.clamp_min(1e-45))
        entropy_final = max(0.0, float(-torch.where(w.final > 0, w.final * final_log, zero).sum()))
        n_kept, kept_mass = int(w.kept.sum()), float(torch.where(w.kept, w.probs_temperature, zero).sum())
    return StepDistribution(
        position=int(position), settings=settings, token_ids=ids, tokens=token_strings(handle, ids),
        probs=as_np(w.probs), probs_temperature=as_np(w.probs_temperature),
        probs_final=final.cpu().numpy().astype(np.float32),
        cumulative=np.cumsum(as_np(w.probs_temperature)).astype(np.float32), n_kept=n_kept, kept_mass=kept_mass,
        entropy=entropy, entropy_final=entropy_final,
    )


def next_distribution(handle: ModelHandle, generation: Generation, settings: SamplingSettings,
                      top_n: int = CANDIDATES) -> StepDistribution:
    """What the next step would draw from under ``settings`` (nothing is drawn; the RNG is not touched)."""
    logits = next_logits(handle, generation.prompt, generation.ids)
    return distribution_of(handle, logits, len(generation.ids) - 1, settings, top_n)


def _generator(generation: Generation, settings: SamplingSettings) -> torch.Generator:
    gen = torch.Generator(device="cpu")
    if generation.rng_seed == settings.seed and generation.rng_state:
        gen.set_state(torch.frombuffer(bytearray(generation.rng_state), dtype=torch.uint8))
    else:  # first sampled step, or the seed was changed: a fresh stream from the new seed
        gen.manual_seed(settings.seed)
    return gen


def generate_steps(handle: ModelHandle, generation: Generation, settings: SamplingSettings, n: int = 1, *,
                   top_n: int = CANDIDATES) -> Generation:
    """Add up to ``n`` tokens (fewer after the end-of-sequence token or at the model's length limit).

    Greedy takes ``argmax(logits)``; sampling draws ``torch.multinomial(softmax(warped), 1)`` from a generator
    seeded with ``settings.seed`` whose state travels in the result, so generating 10 tokens in one call or
    in 10 calls gives the same tokens — those of ``torch.manual_seed(seed); model.generate(...)``.

    Raises:
        InvalidInputError: ``n`` below 1 or above :data:`MAX_NEW_TOKENS`.
    """
    if not 1 <= int(n) <= MAX_NEW_TOKENS:
        raise InvalidInputError(msg("generate 1 to {limit} tokens at a time, not {n}", limit=MAX_NEW_TOKENS, n=n))
    _refuse_unless_generates(handle)
    eos = handle.tokenizer.eos_token_id
    rng = _generator(generation, settings) if settings.do_sample else None
    ids, steps, notes = list(generation.ids), list(generation.steps), list(generation.notes)
    limit = handle.max_tokens
    for _ in range(int(n)):
        if steps and steps[-1].eos:
            break
        if len(ids) >= limit:
            notes.append(msg("stopped at {limit} tokens, the longest input this model takes here", limit=limit))
            break
        logits = next_logits(handle, generation.prompt, ids)
        w = _warped(logits, settings)
        if w.final is not None:
            choice = int(torch.multinomial(w.final.cpu()[None], num_samples=1, generator=rng)[0, 0])
        else:
            choice = w.top
        steps.append(GenerationStep(
            distribution=distribution_of(handle, logits, len(ids) - 1, settings, top_n, warped=w), token_id=choice,
            token=token_strings(handle, [choice])[0], rank=int((logits > logits[choice]).sum()),
            prob=float(w.probs[choice]), prob_final=1.0 if w.final is None else float(w.final[choice]),
            eos=eos is not None and choice == eos,
        ))
        ids.append(choice)
    state = rng.get_state().numpy().tobytes() if rng is not None else generation.rng_state
    seed = settings.seed if rng is not None else generation.rng_seed
    return Generation(generation.model_id, generation.prompt, tuple(ids), generation.n_start, tuple(steps), seed,
                      state, tuple(dict.fromkeys(notes)))


def generate(handle: ModelHandle, prompt: str, settings: SamplingSettings | None = None,
             max_new_tokens: int = 20) -> Generation:
    """:func:`start` then :func:`generate_steps`: ``max_new_tokens`` tokens after ``prompt``."""
    return generate_steps(handle, start(handle, prompt), settings or SamplingSettings(), max_new_tokens)


def text_distribution(handle: ModelHandle, text: str, settings: SamplingSettings, *, mask_index: int = 0,
                      top_n: int = CANDIDATES) -> tuple[Encoding, StepDistribution]:
    """The LM's distribution for ``text`` — for the next token (a kind that generates: a causal LM, or an
    encoder-decoder's first target token) or at its [MASK] (a masked LM) — before and after ``settings``'
    temperature and truncation. Nothing is drawn.

    Raises:
        UnsupportedModelError: no language-model head.
        InvalidInputError: empty text, or a masked LM text without a [MASK].
    """
    if handle.adapter.generates:
        g = start(handle, text)
        return g.prompt, next_distribution(handle, g, settings, top_n)
    with handle.lock:
        encoding, batch = encode(handle, text)
        position = handle.adapter.lm_position(handle, encoding, mask_index)
        out = run(handle, batch)
        logits = out.logits[0, position].float()
    return encoding, distribution_of(handle, logits, position, settings, top_n)


def text_of(handle: ModelHandle, ids: Sequence[int]) -> str:
    """The decoded text of ids (as the tokenizer joins them). An id past the tokenizer (a padded output layer),
    which ``decode`` would drop silently, is written as its label "<id N>" (:func:`plm_core.display.no_token_label`)."""
    ids = [int(i) for i in ids]
    with handle.lock:
        tok = handle.tokenizer
        n = len(tok)
        parts = [tok.decode(list(run)) if known else "".join(no_token_label(i) for i in run)
                 for known, run in itertools.groupby(ids, key=lambda i: 0 <= i < n)]
    return "".join(parts)


# ---------------------------------------------------------------- looking back at one generated token ----


@dataclass(frozen=True)
class StepAttention:
    """The attention of the step that produced one generated token: the query is the last token fed."""

    model_id: str
    encoding: Encoding  # the decoder's tokens up to the query (the keys)
    index: int  # which generated token (0 = first)
    token: str  # the generated token
    weights: np.ndarray  # float32 [layer, head, key]; each row sums to 1

    def __post_init__(self) -> None:
        if self.weights.ndim != 3 or self.weights.shape[-1] != len(self.encoding):
            raise ValueError(f"attention shape {self.weights.shape} does not match {len(self.encoding)} keys")


def step_attention(handle: ModelHandle, generation: Generation, index: int) -> StepAttention:
    """Attention of every layer and head at the step that produced generated token ``index``.

    One forward over the tokens before it (the same weights the KV-cached step computed for its query).

    Raises:
        InvalidInputError: no such generated token.
        UnsupportedModelError: the model returned no attention weights.
    """
    position = generation.position(index)
    context = generation.ids[:position]
    with handle.lock:
        out = handle.adapter.decoder_forward(handle, generation.prompt, context, None, True)
    if not out.attentions:
        raise UnsupportedModelError(msg("{model_id} returned no attention weights (it must run with eager attention)",
                                         model_id=handle.model_id))
    weights = torch.stack([a[:, -1, :] for a in out.attentions]).float().cpu().numpy()
    return StepAttention(handle.model_id, encoding_of_ids(handle, context), index, generation.steps[index].token, weights)


def _token_objective(handle: ModelHandle, context: Sequence[int], target_id: int, index: int):
    """Attribution objective: the probability of ``target_id`` after ``context``, as f(word embeddings)."""
    from plm_core.attribution.objective import Objective
    from plm_core.attribution.types import Target
    from plm_core.inference import lm_body_and_head

    model = handle.model
    encoding = encoding_of_ids(handle, context)
    ids = torch.tensor([list(context)], device=handle.device)
    with torch.no_grad():
        input_embeds = model.get_input_embeddings()(ids).detach()
    parts = lm_body_and_head(model)

    def f(emb: torch.Tensor) -> torch.Tensor:
        if parts is None:
            logits = model(inputs_embeds=emb).logits[:, -1].float()
        else:
            base, head = parts
            logits = head(base(inputs_embeds=emb)[0][:, -1]).float()
        return logits.log_softmax(-1)[:, target_id].exp()

    word = token_strings(handle, [target_id])[0]
    label = f"'{word.strip() or word}' as generated token {index + 1} (prob)"
    return Objective(encoding, input_embeds, torch.tensor(encoding.special, dtype=torch.bool), f,
                     Target("next_token", word=word, token_id=int(target_id)), int(target_id), label, len(context) - 1, ())


def attribute_step(handle: ModelHandle, generation: Generation, index: int, method: str = "integrated_gradients",
                   **kwargs: object):
    """Attribute generated token ``index`` (its probability at its step) to the prompt and earlier generated tokens.

    Runs :func:`plm_core.attribution.attribute` on the exact token ids (never re-tokenized text).

    Returns:
        An :class:`~plm_core.attribution.AttributionResult` over the tokens before ``index``.

    Raises:
        UnsupportedModelError: an encoder-decoder model (its generated tokens depend on the encoder input too).
    """
    from plm_core.attribution import attribute

    _refuse_unless_generates(handle)
    if not handle.adapter.prompt_is_prefix:
        raise UnsupportedModelError(msg("{model_id} is an {kind}: attributing a generated token to its input is shown "
                                        "for causal LMs only (it depends on the encoder's input too)",
                                        model_id=handle.model_id, kind=kind_label(handle.kind)))
    position = generation.position(index)
    context, target = generation.ids[:position], generation.ids[position]
    return attribute(handle, text_of(handle, context) or " ", method,
                     objective=lambda: _token_objective(handle, context, target, index), **kwargs)
