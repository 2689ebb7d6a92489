"""Live computations behind the lessons: every number a lesson shows comes from the loaded model.

Each function follows the core pattern: encode → forward under ``handle.lock`` (hooks registered inside the
lock and removed in ``finally``) → plain frozen results of CPU float32 arrays. The recomputations (embedding
sum, Q·Kᵀ/√d_k, softmax, weighted sum of V, concatenation and output projection) are checked against what
the model itself computed in the same forward pass.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import numpy as np
import torch
from scipy.stats import spearmanr

from plm_core.attention import _check_index, attention_result, capture_layer, causal_mask
from plm_core.display import token_text, token_texts
from plm_core.errors import InvalidInputError, UnsupportedModelError, excerpt
from plm_core.inference import embed, mask_positions, mean_pool, model_inputs, run
from plm_core.handle import ModelHandle
from plm_core.kinds import CausalLMAdapter, ClassifierAdapter, MaskedLMAdapter, Seq2SeqAdapter
from plm_core.tokens import encode
from plm_core.types import Encoding, QueryKeyResult, TokenDistribution
from plm_core.i18n import msg
from plm_core.kinds.texts import kind_label


def _np(t: torch.Tensor) -> np.ndarray:
    return t.detach().float().cpu().numpy().astype(np.float32)


# ------------------------------------------------------------------ lesson 1: tokens and embeddings ----


@dataclass(frozen=True)
class TokenEmbeddings:
    """The input layer for one sentence: word + position (+ segment) embeddings, then LayerNorm."""

    model_id: str
    encoding: Encoding
    position_ids: tuple[int, ...]  # [query]; what the position table was indexed with
    word: np.ndarray  # float32 [query, hidden]; rows of the word (token) embedding table
    position: np.ndarray  # float32 [query, hidden]; rows of the position table
    segment: np.ndarray | None  # float32 [query, hidden]; token-type rows (BERT), None for GPT-2
    combined: np.ndarray  # float32 [query, hidden]; our recomputation (sum, then LayerNorm if the model has one)
    model_output: np.ndarray  # float32 [query, hidden]; the embeddings module's own output (GPT-2: hidden_states[0])
    layer_norm: bool
    vocab_size: int
    n_positions: int

    @property
    def max_abs_diff(self) -> float:
        return float(np.max(np.abs(self.combined - self.model_output)))

    def word_similarity(self) -> np.ndarray:
        """Cosine similarity of the tokens' word-embedding rows: float32 [query, key]."""
        return _cosine_matrix(self.word)

    def position_similarity(self) -> np.ndarray:
        """Cosine similarity of the position-embedding rows used: float32 [query, key]."""
        return _cosine_matrix(self.position)

    def position_neighbours(self) -> tuple[float, float]:
        """Mean cosine similarity of neighbouring position rows (i, i + 1) and of far-apart ones
        (j − i ≥ max(3, n // 2)), from :meth:`position_similarity`; NaN where the sentence has no such pair."""
        sim = self.position_similarity()
        n = sim.shape[0]
        near = float(np.mean([sim[i, i + 1] for i in range(n - 1)])) if n > 1 else float("nan")
        far = float(np.mean([sim[i, j] for i in range(n) for j in range(n) if j - i >= max(3, n // 2)] or [np.nan]))
        return near, far


def _cosine_matrix(x: np.ndarray) -> np.ndarray:
    n = x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)
    return (n @ n.T).astype(np.float32)


def _embedding_parts(handle: ModelHandle) -> dict[str, torch.nn.Module | None]:
    for module in handle.model.modules():
        if hasattr(module, "word_embeddings") and hasattr(module, "position_embeddings"):
            word, position = module.word_embeddings, module.position_embeddings
            if getattr(word, "embedding_dim", None) != getattr(position, "embedding_dim", None):
                raise UnsupportedModelError(msg(
                    "the embeddings lesson adds a word row and a position row; {model_type}'s word vectors ({word} "
                    "values) are transformed before its positions ({position} values) are added (MobileBERT: three "
                    "neighbouring words, projected)", model_type=handle.config.model_type,
                    word=getattr(word, "embedding_dim", "?"), position=getattr(position, "embedding_dim", "?")))
            return {"word": word, "position": position,
                    "segment": getattr(module, "token_type_embeddings", None),
                    "norm": getattr(module, "LayerNorm", None), "module": module}
        if hasattr(module, "wte") and hasattr(module, "wpe"):
            return {"word": module.wte, "position": module.wpe, "segment": None, "norm": None, "module": None}
    why = {"rotary": ": it adds no position vectors to the word vectors — positions enter inside every attention "
                     "layer, by rotating Q and K (RoPE; see the query·key view)",
           "relative_bias": ": it adds no position vectors to the word vectors — each attention layer adds a learned "
                            "bias per distance to its scores"}.get(handle.arch.positions, "")
    raise UnsupportedModelError(msg('the embeddings lesson shows BERT- and GPT-2-style position tables; {model_type} '
                                    'has none{why}',
                                    model_type=handle.config.model_type, why=why))


def token_embeddings(handle: ModelHandle, text: str, text_pair: str | None = None) -> TokenEmbeddings:
    """Capture the embedding-table rows the model looks up for ``text`` and rebuild its input vectors."""
    captured: dict[str, torch.Tensor] = {}
    with handle.lock:
        parts = _embedding_parts(handle)
        hooks = []
        for name in ("word", "position", "segment"):
            mod = parts[name]
            if mod is not None:
                hooks.append(mod.register_forward_hook(
                    lambda m, i, o, name=name: captured.update({name: o.detach(), name + "_ids": i[0].detach()})))
        if parts["module"] is not None:  # the embeddings module's own output (ALBERT projects it afterwards)
            hooks.append(parts["module"].register_forward_hook(
                lambda m, i, o: captured.update({"embeddings": (o[0] if isinstance(o, tuple) else o).detach()})))
        try:
            encoding, batch = encode(handle, text, text_pair)
            out = run(handle, batch, want=("hidden_states",))
        finally:
            for h in hooks:
                h.remove()
        norm = parts["norm"]
        n = len(encoding)
        total = captured["word"][0].float() + captured["position"][0].float().expand(n, -1)
        if "segment" in captured:
            total = total + captured["segment"][0].float()
        if norm is not None:  # LayerNorm written out: (x - mean) / sqrt(var + eps) * gamma + beta
            mean = total.mean(-1, keepdim=True)
            var = total.var(-1, unbiased=False, keepdim=True)
            combined = (total - mean) / torch.sqrt(var + norm.eps) * norm.weight.float() + norm.bias.float()
        else:
            combined = total
        pos_ids = captured["position_ids"].reshape(-1).tolist()
        if len(pos_ids) == 1 and n > 1:  # some models pass positions broadcast; expand for display
            pos_ids = list(range(n))
        return TokenEmbeddings(
            model_id=handle.model_id, encoding=encoding, position_ids=tuple(int(p) for p in pos_ids[-n:]),
            word=_np(captured["word"][0]), position=_np(captured["position"][0].expand(n, -1)),
            segment=_np(captured["segment"][0]) if "segment" in captured else None,
            combined=_np(combined), model_output=_np(captured.get("embeddings", out.hidden_states[0])[0]),
            layer_norm=norm is not None,
            vocab_size=int(parts["word"].num_embeddings), n_positions=int(parts["position"].num_embeddings),
        )


def word_pieces(handle: ModelHandle, words: list[str]) -> list[tuple[str, tuple[str, ...]]]:
    """How the tokenizer splits each word (no special tokens): ``[(word, pieces)]``."""
    out = []
    with handle.lock:
        for word in words[:50]:
            enc = handle.tokenizer(word, add_special_tokens=False, return_offsets_mapping=handle.tokenizer.is_fast)
            out.append((word, token_texts(handle, enc["input_ids"], offsets=enc.get("offset_mapping"), texts=(word,))))
    return out


@dataclass(frozen=True)
class ContextualEmbeddings:
    """One word in two sentences: its static vector (the token-embedding row, the same in both, as in
    Word2Vec/GloVe) and its contextual vectors after each layer (different: each layer mixes in the context)."""

    model_id: str
    word: str
    encodings: tuple[Encoding, Encoding]
    spans: tuple[tuple[int, ...], tuple[int, ...]]  # token positions of the word in each sentence
    static: np.ndarray  # float32 [2, hidden]; token-embedding rows (mean over the word's pieces)
    layers: tuple[str, ...]  # [layer] "embedding layer (token + position, normalised)", "layer 1", …
    vectors: np.ndarray  # float32 [2, layer, hidden]; the word's vector (mean over its pieces) after each layer
    cosines: np.ndarray  # float32 [layer]; cosine similarity of the two sentences' vectors at each layer

    @property
    def static_cosine(self) -> float:
        return float(_cosine_matrix(self.static)[0, 1])

    @property
    def static_diff(self) -> float:
        return float(np.max(np.abs(self.static[0] - self.static[1])))


def _find_word(handle: ModelHandle, encoding: Encoding, word: str, which: str) -> tuple[int, ...]:
    """Positions of the first occurrence of ``word``'s tokens in ``encoding`` (with or without a leading space)."""
    ids = list(encoding.input_ids)
    for variant in (word, " " + word, word.lower(), " " + word.lower()):
        pieces = handle.tokenizer(variant, add_special_tokens=False)["input_ids"]
        for start in range(len(ids) - len(pieces) + 1) if pieces else ():
            if ids[start:start + len(pieces)] == pieces:
                return tuple(range(start, start + len(pieces)))
    raise InvalidInputError(msg("the word {word} is not in {which} sentence (as this model's tokens): type it there",
                                word=excerpt(word), which=which))


def contextual_embeddings(handle: ModelHandle, sentence_a: str, sentence_b: str, word: str) -> ContextualEmbeddings:
    """The static and the per-layer contextual vectors of ``word`` in two sentences, and their cosines.

    Raises:
        InvalidInputError: an empty word, or a sentence that does not contain it.
    """
    word = (word or "").strip()
    if not word:
        raise InvalidInputError(msg("type the word to compare (for example: bank)"))
    encodings, spans, static, vectors = [], [], [], []
    with handle.lock:
        table = handle.model.get_input_embeddings()
        for text, which in ((sentence_a, msg("the first")), (sentence_b, msg("the second"))):
            encoding, batch = encode(handle, text)
            span = _find_word(handle, encoding, word, which)
            states = handle.adapter.layer_states(handle, batch)  # an encoder-decoder: its encoder's
            with torch.inference_mode():
                ids = torch.tensor([encoding.input_ids[p] for p in span], device=handle.device)
                static.append(table(ids).float().mean(0))
            vectors.append(torch.stack([h[0, list(span)].float().mean(0) for h in states]))
            encodings.append(encoding)
            spans.append(span)
    vec = torch.stack(vectors)  # [2, layer, hidden]
    cosines = torch.nn.functional.cosine_similarity(vec[0], vec[1], dim=-1)
    n = vec.shape[1]
    return ContextualEmbeddings(
        model_id=handle.model_id, word=word, encodings=(encodings[0], encodings[1]), spans=(spans[0], spans[1]),
        static=_np(torch.stack(static)),
        layers=(msg("embedding layer"),) + tuple(msg("layer {layer}", layer=i) for i in range(1, n)),
        vectors=_np(vec), cosines=_np(cosines),
    )


# ------------------------------------------------------------ lessons 2–3: self-attention, multi-head ----


@dataclass(frozen=True)
class AttentionSteps:
    """One layer's self-attention, rebuilt step by step from the model's own Q, K, V projections.

    ``context`` and ``projected`` are our recomputation; ``model_*`` are what the model computed in the
    same forward pass (its attention weights, the input and the output of its output projection).
    """

    model_id: str
    encoding: Encoding
    layer: int
    head: int  # the head the single-head steps look at
    inputs: np.ndarray  # float32 [query, hidden]; the layer's input X
    queries: np.ndarray  # float32 [head, query, d_k]
    keys: np.ndarray  # float32 [head, key, d_k]
    values: np.ndarray  # float32 [head, key, d_k]
    scores: np.ndarray  # float32 [head, query, key]; QKᵀ·scale, -inf where the causal mask hides a key
    probs: np.ndarray  # float32 [head, query, key]; softmax of scores
    context: np.ndarray  # float32 [head, query, d_k]; probs @ V
    concat: np.ndarray  # float32 [query, hidden]; heads side by side
    projected: np.ndarray  # float32 [query, hidden]; concat @ W_O + b_O
    model_probs: np.ndarray  # float32 [head, query, key]
    model_concat: np.ndarray  # float32 [query, hidden]; input of the model's output projection
    model_projected: np.ndarray  # float32 [query, hidden]; output of the model's output projection
    scale: float
    causal: bool
    bias: np.ndarray | None = None  # float32 [head, query, key]; relative position bias added to the scores (T5)
    softcap: float | None = None  # scores are cap·tanh(QKᵀ·scale / cap) (Gemma-2), else None

    @property
    def d_k(self) -> int:
        return int(self.queries.shape[-1])

    @property
    def n_heads(self) -> int:
        return int(self.queries.shape[0])

    @property
    def probs_diff(self) -> float:
        return float(np.max(np.abs(self.probs - self.model_probs)))

    @property
    def context_diff(self) -> float:
        return float(np.max(np.abs(self.concat - self.model_concat)))

    def head_probs_diff(self, head: int) -> float:
        """Max |our softmax − the model's attention weights| for one head."""
        return float(np.max(np.abs(self.probs[head] - self.model_probs[head])))

    def query_key(self, head: int) -> QueryKeyResult:
        """One head's Q, K and scores as a :class:`~plm_core.types.QueryKeyResult` (the neuron view's input)."""
        return QueryKeyResult(model_id=self.model_id, encoding=self.encoding, layer=self.layer, head=head,
                              queries=self.queries[head], keys=self.keys[head], scores=self.scores[head],
                              probs=self.probs[head], model_probs=self.model_probs[head], scale=self.scale,
                              causal=self.causal, bias=None if self.bias is None else self.bias[head],
                              softcap=self.softcap)

    def head_context_diff(self, head: int) -> float:
        d = self.d_k
        return float(np.max(np.abs(self.context[head] - self.model_concat[:, head * d:(head + 1) * d])))

    @property
    def projection_diff(self) -> float:
        return float(np.max(np.abs(self.projected - self.model_projected)))


def head_entropy(probs: np.ndarray) -> np.ndarray:
    """Mean entropy (nats) of each head's attention rows: float32 [head] from ``probs`` float32 [head, query, key]
    (low = focused); Shannon entropy of each row, averaged over the queries."""
    return (-(probs * np.log(np.clip(probs, 1e-12, 1))).sum(-1).mean(-1)).astype(np.float32)


def _projection_matrix(proj: torch.nn.Module) -> tuple[torch.Tensor, torch.Tensor]:
    """(W, b) with y = x @ W + b, for nn.Linear (weight [out, in]) and GPT-2's Conv1D (weight [in, out])."""
    w = proj.weight.float()
    w = w.T if isinstance(proj, torch.nn.Linear) else w
    bias = proj.bias.float() if proj.bias is not None else torch.zeros(w.shape[1], device=w.device)
    return w, bias


def attention_steps(handle: ModelHandle, text: str, layer: int, head: int = 0,
                    text_pair: str | None = None) -> AttentionSteps:
    """Q, K, V of every head of ``layer``, QKᵀ/√d_k, softmax, the weighted sum of V, the concatenation and
    the output projection — each recomputed from tensors captured while the model ran, next to the
    model's own results.

    Raises:
        InvalidInputError: layer or head out of range.
        UnsupportedModelError: an attention implementation this lesson does not know.
    """
    head = _check_index(head, handle.n_heads, msg("head"))
    cap = capture_layer(handle, text, layer, text_pair)
    if cap.output_projection is None:
        raise UnsupportedModelError(msg("no projection of {model_type} reads its attention output as it is: the "
                                        "output-projection step cannot be shown", model_type=handle.config.model_type))
    w_o, b_o = _projection_matrix(cap.output_projection)
    qh, kh, vh = cap.q, cap.k, cap.v  # [head, query, d_k]; rotary and QK-norm applied, as the model multiplies
    n = qh.shape[1]
    scores = cap.scores()  # QKᵀ·scale (+ soft-capping, bias), −inf where the model's mask hides a key
    probs = cap.probs()
    context = probs @ vh
    concat = context.transpose(0, 1).reshape(n, -1)
    projected = concat @ w_o + b_o
    return AttentionSteps(
        model_id=handle.model_id, encoding=cap.encoding, layer=int(layer), head=head,
        inputs=_np(cap.inputs if cap.inputs is not None else cap.context), queries=_np(qh), keys=_np(kh),
        values=_np(vh), scores=_np(scores), probs=_np(probs), context=_np(context),
        concat=_np(concat), projected=_np(projected), model_probs=_np(cap.attentions[int(layer)][0]),
        model_concat=_np(cap.context), model_projected=_np(cap.output), scale=cap.scale, causal=cap.causal,
        bias=None if cap.bias is None else _np(cap.bias.expand_as(scores)), softcap=cap.softcap,
    )


# ----------------------------------------------------------- lesson 4: masked LM versus autoregressive ----


@dataclass(frozen=True)
class MaskLesson:
    """What each token may attend to, read from the model, beside the other family's mask."""

    model_id: str
    encoding: Encoding
    causal: bool  # the loaded model masks the future
    mask: np.ndarray  # float32 [query, key]; 1 where the LOADED model lets a query see a key (from its weights)
    other_mask: np.ndarray  # float32 [query, key]; the other family's mask, constructed
    future_attention: float  # mean over queries of the attention given to later tokens (all layers, heads)
    mlm_tokens: tuple[str, ...]  # the input after BERT's 15% masking recipe (80% [MASK], 10% random, 10% kept)
    mlm_targets: tuple[int, ...]  # positions chosen for prediction
    predictions: tuple[TokenDistribution, ...]  # masked LM at each [MASK] / causal LM next token; () for an encoder
    order: tuple[int, ...] = ()  # a sampled factorisation order of the positions (permuted LM, XLNet)
    permuted_content: np.ndarray | None = None  # float32 [query, key]; XLNet's content stream under ``order``
    permuted_query: np.ndarray | None = None  # float32 [query, key]; XLNet's query stream under ``order``


def permuted_lm_masks(n: int, seed: int = 0) -> tuple[tuple[int, ...], np.ndarray, np.ndarray]:
    """The attention masks of permutation language modelling (XLNet; Yang et al., 2019, "XLNet: Generalized
    Autoregressive Pretraining for Language Understanding", §2.3) for one sampled factorisation order.

    A factorisation order z is a random permutation of the positions; the tokens stay where they are. Token z_t is
    predicted from the tokens before it in the order, on both sides of it in the text. Two streams: the
    *content* stream of a token sees the tokens up to and including itself in the order; the *query* stream,
    which predicts the token, sees only those before it (not its own content).

    Args:
        n: number of tokens. seed: the order drawn (deterministic for a seed).

    Returns:
        (order, content, query): order[t] is the position predicted t-th; content and query are float32
        ``[query, key]`` masks, 1 where the query may attend to the key.
    """
    order = list(range(n))
    random.Random(seed).shuffle(order)
    rank = np.empty(n, np.int64)
    rank[order] = np.arange(n)
    content = (rank[None, :] <= rank[:, None]).astype(np.float32)
    query = (rank[None, :] < rank[:, None]).astype(np.float32)
    return tuple(order), content, query


def mlm_masking(handle: ModelHandle, encoding: Encoding, seed: int = 0, rate: float = 0.15) -> tuple[tuple[str, ...], tuple[int, ...]]:
    """BERT's pre-training corruption (Devlin et al., 2019): choose 15% of the (non-special) tokens; of those,
    80% become [MASK], 10% a random token, 10% stay. Deterministic for a seed."""
    rng = random.Random(seed)
    candidates = [i for i, s in enumerate(encoding.special) if not s]
    k = max(1, round(rate * len(candidates)))
    chosen = sorted(rng.sample(candidates, min(k, len(candidates))))
    tokens = list(encoding.tokens)
    with handle.lock:
        mask_token = handle.tokenizer.mask_token or "[MASK]"
        vocab = len(handle.tokenizer)
        for i in chosen:
            r = rng.random()
            if r < 0.8:
                tokens[i] = mask_token
            elif r < 0.9:
                tokens[i] = token_text(handle, rng.randrange(vocab))
    return tuple(tokens), tuple(chosen)


def mask_lesson(handle: ModelHandle, text: str, top_k: int = 5) -> MaskLesson:
    """The loaded model's attention mask (read from its attention weights) and what its objective predicts."""
    adapter = handle.adapter
    with handle.lock:
        encoding, batch = encode(handle, text)
        out = run(handle, batch, want=("attentions", *adapter.want))  # the logits are needed too: one pass
        preds: tuple[TokenDistribution, ...] = ()
        if adapter.token_outputs:  # a language model: what its objective predicts (fill-ins, next token)
            preds = adapter.predictions(handle, [encoding], out, batch, top_k)[0].distributions
    att = attention_result(handle, encoding, out)  # an encoder-decoder: its encoder, over the source tokens
    encoding, weights = att.encoding, torch.from_numpy(att.weights)  # [layer, head, query, key]
    n = len(encoding)
    future = causal_mask(n, weights.device)
    seen = (weights > 0).any(dim=0).any(dim=0)  # a key the model ever gives weight to
    causal = bool(not seen[future].any()) if n > 1 else handle.arch.causal
    lower = np.tril(np.ones((n, n), np.float32))
    future_attention = float(weights[..., future].sum() / (weights.shape[0] * weights.shape[1] * n)) if n > 1 else 0.0
    mlm_tokens, targets = mlm_masking(handle, encoding)
    order, content, query = permuted_lm_masks(n)
    return MaskLesson(
        model_id=handle.model_id, encoding=encoding, causal=causal, mask=_np(seen.float()),
        other_mask=np.ones((n, n), np.float32) if causal else lower, future_attention=future_attention,
        mlm_tokens=mlm_tokens, mlm_targets=targets, predictions=preds, order=order, permuted_content=content,
        permuted_query=query,
    )


@dataclass(frozen=True)
class EncoderDecoderLesson:
    """An encoder-decoder's three attention patterns for one source and target prefix, read from its weights."""

    model_id: str
    source: Encoding  # what the encoder reads
    target: Encoding  # the decoder's input: start token + target so far
    encoder_mask: np.ndarray  # float32 [key, key]; 1 where some encoder head gives a source token weight
    decoder_mask: np.ndarray  # float32 [query, query]; the same for the decoder's self-attention
    cross: np.ndarray  # float32 [query, key]; last layer's cross-attention, mean of heads (target × source)
    encoder_bidirectional: bool  # some encoder query attends to a later token
    decoder_causal: bool  # no decoder query attends to a later token
    prediction: TokenDistribution  # the next target token
    spans: tuple[tuple[str, str], ...]  # T5 span filling, when the source has sentinels


def encoder_decoder_lesson(handle: ModelHandle, text: str, target: str | None = None,
                           top_k: int = 5) -> EncoderDecoderLesson:
    """Encoder self-attention, causal decoder self-attention and cross-attention of the loaded encoder-decoder,
    computed live; a literal ``[MASK]`` in ``text`` becomes the model's own mask (a T5 sentinel, BART's <mask>).

    Raises:
        UnsupportedModelError: the loaded model is not an encoder-decoder.
    """
    if not handle.arch.encoder_decoder:
        raise UnsupportedModelError(
            msg('{model_id} is a {label}, not an encoder-decoder: load one (t5-small, facebook/bart-base) in the '
                'sidebar to compute this step live',
                model_id=handle.model_id, label=kind_label(handle.kind)))
    adapter = handle.adapter
    with handle.lock:
        if "[MASK]" in text and handle.tokenizer.convert_tokens_to_ids("[MASK]") in (None, handle.tokenizer.unk_token_id):
            first, _ = encode(handle, text, target)
            ids = adapter.mask_ids(handle, first, [0])
            if ids:
                text = text.replace("[MASK]", handle.tokenizer.convert_ids_to_tokens(ids[0]))
        encoding, batch = encode(handle, text, target)
        out = run(handle, batch, want=("attentions", *adapter.want))
        pred = adapter.predictions(handle, [encoding], out, batch, top_k)[0]
    att = attention_result(handle, encoding, out)
    enc, dec, cross = att.get("encoder"), att.get("decoder"), att.get("cross")

    def seen(w: np.ndarray) -> np.ndarray:
        return (w > 0).any(axis=(0, 1)).astype(np.float32)

    enc_seen, dec_seen = seen(enc.weights), seen(dec.weights)
    n = dec_seen.shape[0]
    return EncoderDecoderLesson(
        model_id=handle.model_id, source=enc.encoding, target=dec.encoding, encoder_mask=enc_seen,
        decoder_mask=dec_seen, cross=cross.weights[-1].mean(0).astype(np.float32),
        encoder_bidirectional=bool(np.triu(enc_seen, 1).any()),
        decoder_causal=not bool(np.triu(dec_seen, 1).any()) if n > 1 else True,
        prediction=pred.distributions[0], spans=pred.spans,
    )


# ------------------------------------------------------------- lesson 6: attention as an explanation ----


@dataclass(frozen=True)
class Occlusion:
    """Leave-one-out importance: how much the model's output moves when one token is replaced."""

    model_id: str
    encoding: Encoding
    scores: np.ndarray  # float32 [key]; 0 for special tokens
    what: str  # what was measured ("1 − cosine of the sentence embedding", "drop in p(label)")


# model kinds whose occlusion (lesson) is the drop of a class probability; any other: 1 − cosine of the embedding
OCCLUSION_BY_CLASS: frozenset[str] = frozenset({ClassifierAdapter.name})


def occlusion(handle: ModelHandle, text: str, target: int | None = None, words: Encoding | None = None) -> Occlusion:
    """Replace each non-special token by [MASK] (or [UNK]/pad) in one batch and measure the change.

    classifier: drop of the probability of ``target`` (default: the predicted class); other models: 1 − cosine
    between the mean-pooled last hidden states of the original and the occluded input. With ``words`` (the
    word-level encoding of ``text``), each word is replaced whole and the scores are per word.
    """
    with handle.lock:
        encoding, batch = encode(handle, text)
        tok = handle.tokenizer
        fill = next(t for t in (tok.mask_token_id, tok.unk_token_id, tok.pad_token_id, 0) if t is not None)
        ids = batch["input_ids"]  # an encoder-decoder's source: its target prefix is not occluded
        units = encoding if words is None else words
        positions = [i for i, s in enumerate(units.special)
                     if not s and max(units.pieces[i] if words is not None else (i,)) < ids.shape[1]]
        rows = ids.repeat(len(positions) + 1, 1)
        for r, p in enumerate(positions, start=1):
            rows[r, list(units.pieces[p]) if words is not None else p] = fill
        inputs = {k: v.repeat(len(positions) + 1, 1) for k, v in batch.items() if k != "input_ids"}
        inputs["input_ids"] = rows
        by_class = handle.kind in OCCLUSION_BY_CLASS
        if by_class:
            logits = run(handle, inputs).logits
        else:
            hidden = handle.adapter.last_hidden(handle, inputs).float()
    scores = np.zeros(len(units), np.float32)
    if by_class:
        probs = handle.adapter.probabilities(handle, logits)  # a sigmoid per label for a multi-label head
        target = int(probs[0].argmax()) if target is None else int(target)
        delta = (probs[0, target] - probs[1:, target]).cpu().numpy()
        what = (msg("drop in p(class {target}) when the word is masked", target=target) if words else
                msg("drop in p(class {target}) when the token is masked", target=target))
    else:
        pooled = mean_pool(hidden)  # every token: the rows have the same length, no padding
        delta = (1 - pooled[1:] @ pooled[0]).cpu().numpy()
        what = (msg("1 − cosine similarity of the sentence representation when the word is masked") if words else
                msg("1 − cosine similarity of the sentence representation when the token is masked"))
    scores[positions] = delta
    return Occlusion(handle.model_id, units, scores, what)


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman rank correlation of two score vectors of shape [n] (ties get their average rank):
    ``scipy.stats.spearmanr`` (Spearman 1904).

    Returns a float in [-1, 1]; 0.0 when either vector is constant (no order to agree with; scipy returns NaN
    there, the lesson shows 0).

    Raises:
        InvalidInputError: the vectors differ in length or have fewer than 2 values.
    """
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.shape != b.shape or a.size < 2:
        raise InvalidInputError(msg('need two score vectors of the same length (at least 2)'))
    if np.ptp(a) == 0 or np.ptp(b) == 0:
        return 0.0
    return float(spearmanr(a, b).statistic)


def relative_importance(series: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Each score vector as |score| / max |score| (so attention and attribution share one 0–1 axis); an all-zero
    vector stays zero."""
    return {k: np.abs(v) / (np.abs(v).max() or 1.0) for k, v in series.items()}


def rank_agreement(base: np.ndarray, others: dict[str, np.ndarray], special: tuple[bool, ...]) -> dict[str, float]:
    """Spearman rank correlation of ``base`` with each of ``others`` over the word (non-special) tokens: one float
    per name; NaN where fewer than two word tokens are left. All vectors are float [key], parallel to ``special``."""
    content = [i for i, s in enumerate(special) if not s]
    if len(content) < 2:
        return {name: float("nan") for name in others}
    return {name: spearman(base[content], v[content]) for name, v in others.items()}


# ------------------------------------------------------------------------- lesson 7: a bias probe ----

ENCODER_TEMPLATES = ("this is {a} {x}.", "the {x} is here.", "my {x} works late.")
MASKED_TEMPLATES = ("i think {mask} is {a} {x}.", "{mask} works as {a} {x}.", "everyone knows {mask} wants to be {a} {x}.")
CAUSAL_TEMPLATES = ("the {x} said that", "the {x} went home because", "yesterday the {x} told me that")
MAX_PROBE_WORDS = 20


@dataclass(frozen=True)
class BiasProbe:
    """Association of each occupation with male versus female words, per template.

    encoder: cos(t(occupation), t("man")) − cos(t(occupation), t("woman")) of sentence embeddings;
    masked LM: p("he") − p("she") at [MASK]; causal LM: p(" he") − p(" she") as the next token.
    Positive = leans male.
    """

    model_id: str
    method: str
    templates: tuple[str, ...]
    occupations: tuple[str, ...]
    scores: np.ndarray  # float32 [template, occupation]


def _article(word: str) -> str:
    return "an" if word[:1].lower() in "aeiou" else "a"


def _fill(template: str, x: str, mask: str = "") -> str:
    return template.format(a=_article(x), x=x, mask=mask)


def parse_words(text: str) -> tuple[str, ...]:
    """Comma- or line-separated words, cleaned and de-duplicated (at most MAX_PROBE_WORDS)."""
    words = [w.strip().lower() for w in text.replace("\n", ",").split(",")]
    words = list(dict.fromkeys(w for w in words if w))
    if not words:
        raise InvalidInputError(msg('type at least one occupation, for example: nurse, engineer'))
    if len(words) > MAX_PROBE_WORDS:
        raise InvalidInputError(msg('{n_words} words: at most {MAX_PROBE_WORDS} are probed at once', n_words=len(words), MAX_PROBE_WORDS=MAX_PROBE_WORDS))
    if any(len(w) > 40 for w in words):
        raise InvalidInputError(msg('each occupation must be a word or two (at most 40 characters)'))
    return tuple(words)


def _pronoun_ids(handle: ModelHandle) -> tuple[int, int]:
    ids = []
    for word in (" he", " she"):
        pieces = handle.tokenizer(word, add_special_tokens=False)["input_ids"]
        if len(pieces) != 1:
            raise UnsupportedModelError(msg("{model_id}'s vocabulary has no single token for {value!r}", model_id=handle.model_id, value=word.strip()))
        ids.append(pieces[0])
    return ids[0], ids[1]


def lesson_template_set(occupations: tuple[str, ...]):
    """The lesson's masked templates as a :class:`plm_core.bias.TemplateSet` (the [JOB] slot holds
    ``occupations``, targets he / she). Raises ImportError where the bias feature is absent."""
    from plm_core.bias import TemplateSet  # a sibling feature: imported when used

    templates = tuple(t.replace("{mask}", "[MASK]").replace("{a} {x}", "[JOB]") for t in MASKED_TEMPLATES)
    return TemplateSet("lesson 7", templates, (("JOB", tuple(occupations)),), ("he", "she"))


def fold_template_probe(model_id: str, result, occupations: tuple[str, ...]) -> BiasProbe:
    """A :func:`plm_core.bias.probe_templates` result of :func:`lesson_template_set` as the lesson's matrix:
    score(he) − score(she) per template and occupation (float32 [template, occupation])."""
    templates = result.template_set.templates
    scores = np.zeros((len(templates), len(occupations)), np.float32)
    for row in result.rows:
        sign = 1.0 if row.target == "he" else -1.0
        scores[row.template_index, occupations.index(row.probe_value)] += sign * row.score
    return BiasProbe(model_id, msg("p(he) − p(she) at [MASK] (plm_core.bias: {metric})", metric=result.metric),
                     templates, tuple(occupations), scores)


# the lesson's templates and score, by model kind (what its LM head predicts); any other kind: sentence embeddings
_AT_MASK = (MASKED_TEMPLATES, msg("p(he) − p(she) at [MASK]"))
_NEXT = (CAUSAL_TEMPLATES, msg("p(he) − p(she) as the next token"))
LM_PROBES = {MaskedLMAdapter.name: _AT_MASK, CausalLMAdapter.name: _NEXT, Seq2SeqAdapter.name: _NEXT}


def bias_probe(handle: ModelHandle, occupations: tuple[str, ...] | list[str]) -> BiasProbe:
    """Run the template probe on ``handle`` (one batched forward pass per template)."""
    occupations = tuple(occupations)
    if not occupations:
        raise InvalidInputError(msg('no occupations to probe'))
    adapter = handle.adapter
    scores = []
    with handle.lock:
        if handle.kind in LM_PROBES:
            he, she = _pronoun_ids(handle)
            templates, method = LM_PROBES[handle.kind]
            mask = handle.tokenizer.mask_token or ""
            if "{mask}" in templates[0] and not mask:
                raise UnsupportedModelError(msg('{model_id} has no mask token', model_id=handle.model_id))
            for template in templates:
                rows = [encode(handle, _fill(template, occ, mask))[0] for occ in occupations]
                positions = [mask_positions(handle, r)[0] for r in rows] if mask and "{mask}" in template else None
                inputs = model_inputs(handle, rows)
                logits = adapter.outputs(handle, run(handle, inputs, want=adapter.want), inputs, positions)
                probs = torch.softmax(logits, -1)
                scores.append(_np(probs[:, he] - probs[:, she]))
        else:
            templates = ENCODER_TEMPLATES
            for template in templates:
                emb = torch.from_numpy(embed(handle, [_fill(template, w) for w in ("man", "woman", *occupations)]))
                scores.append(_np(emb[2:] @ emb[0] - emb[2:] @ emb[1]))
            method = msg("cos(·, “man” sentence) − cos(·, “woman” sentence), sentence embeddings")
    return BiasProbe(handle.model_id, method, tuple(templates), occupations, np.stack(scores).astype(np.float32))


# ------------------------------------------------------------------- lesson 8: inside the model ----


def with_final_mask(text: str, mask_token: str | None, masked_lm: bool) -> str:
    """Lesson 8's sentence: a masked LM explains the word at a [MASK], so one given none gets ``" <mask>."`` at
    the end; other models (and a sentence that has its mask) read ``text`` as it is."""
    if masked_lm and mask_token and mask_token not in text:
        return f"{text.rstrip()} {mask_token}."
    return text


def layer_halves(res) -> tuple[np.ndarray, np.ndarray]:
    """What each layer's attention half (every head of every stack plus W_O's bias) and its FFN half added to the
    explained number of a :class:`plm_core.contributions.Contributions`: (attention, ffn), float32 [layer] each."""
    attention = sum(g.sum(1) for g in res.heads) + sum(res.attention_bias)
    return np.asarray(attention, np.float32), np.asarray(res.ffn, np.float32)


@dataclass(frozen=True)
class ResidualParts:
    """The explained number's parts along the residual stream (a :class:`plm_core.contributions.Contributions`
    summed over layers): embeddings + heads + attention biases + FFN blocks + constant = total ≈ value."""

    embeddings: float
    heads: float
    attention_bias: float
    ffn: float
    constant: float
    total: float
    value: float  # the model's own number
    difference: float  # total − value


def residual_parts(res) -> ResidualParts:
    """The parts of :class:`ResidualParts` from ``res`` (a :class:`plm_core.contributions.Contributions`)."""
    return ResidualParts(float(res.embeddings), sum(float(g.sum()) for g in res.heads),
                         sum(float(b.sum()) for b in res.attention_bias), float(res.ffn.sum()), float(res.constant),
                         float(res.total), float(res.value), float(res.difference))
