"""Tiny models of every kind for tests and benchmarks: built from configs with locally trained tokenizers (no
download), saved to folders, one table of cases (:data:`TINY_CASES`).

They load through the real ``load_model`` (a local folder), so tests exercise the same path as users. Not
imported by the app; it lives in the package so that benchmarks need not import ``tests/``.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import (
    AutoModelForCausalLM,
    BartConfig,
    BartForConditionalGeneration,
    BertConfig,
    BertForMaskedLM,
    BertForSequenceClassification,
    BertModel,
    BertTokenizerFast,
    DistilBertConfig,
    DistilBertForMaskedLM,
    DistilBertForSequenceClassification,
    GemmaConfig,
    GPT2Config,
    GPT2LMHeadModel,
    LlamaConfig,
    MistralConfig,
    Phi3Config,
    PreTrainedTokenizerFast,
    Qwen2Config,
    T5Config,
    T5ForConditionalGeneration,
    RobertaConfig,
    RobertaForMaskedLM,
)

WORDS = """
the a an and or but because of to in on at for with as by from is are was were be been it he she they we you i
his her their him them this that these those there here who what which when where why how not no yes very too
cat cats dog dogs mat sat sit runs ran fox quick brown lazy jumps over tired happy sad good bad great terrible
movie film book story acting plot was really so boring fun loved hated liked enjoy awful excellent fine
man woman men women boy girl person people mother father son daughter brother sister wife husband
doctor nurse engineer teacher secretary lawyer programmer homemaker scientist artist worked works job
paris france london city capital country is john mary james emily tall short smart strong kind rich poor
black white asian christian muslim jewish old young gay straight poor rich american african european
math science art music poetry dance family career home office salary boss manager child children
one two three four five today yesterday tomorrow day night time year week always never often
""".split()
SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
PUNCT = list(".,!?;:'\"()-<>=/&")
LETTERS = list("abcdefghijklmnopqrstuvwxyz0123456789")


def temp_folder(prefix: str) -> Path:
    """A new folder in the temporary folder (``tempfile.mkdtemp``), removed when this process exits normally
    (``atexit``; a Streamlit server stopped with SIGTERM exits normally): for scripts outside pytest's ``tmp_path``,
    such as the browser tests' chart gallery."""
    folder = Path(tempfile.mkdtemp(prefix=prefix))
    atexit.register(shutil.rmtree, folder, True)
    return folder


def bert_vocab() -> list[str]:
    # one id per entry, no gaps: "a" and "i" are letters and words; a duplicate left a hole in the ids
    # and pushed the last words past the model's vocab_size (IndexError, None tokens in top-k)
    return list(dict.fromkeys(SPECIALS + PUNCT + LETTERS + [f"##{c}" for c in LETTERS] + WORDS))


def bert_tokenizer() -> BertTokenizerFast:
    # transformers 5 takes the vocabulary itself (a path or a dict) as ``vocab``
    return BertTokenizerFast(vocab={w: i for i, w in enumerate(bert_vocab())}, do_lower_case=True)


def bpe_tokenizer(bos: str = "<|endoftext|>") -> PreTrainedTokenizerFast:
    """A byte-level BPE (GPT-2 style) trained in milliseconds on the word list."""
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=600, special_tokens=[bos],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    corpus = [" ".join(WORDS[i : i + 12]) for i in range(0, len(WORDS), 6)] * 3
    tok.train_from_iterator(corpus, trainer)
    tok.post_processor = processors.ByteLevel(trim_offsets=True)
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token=bos, eos_token=bos, unk_token=bos)


def sentencepiece_tokenizer(specials: list[str], *, unigram: bool = False, post: str = "<s> $A",
                            **tokens: str) -> PreTrainedTokenizerFast:
    """A SentencePiece-style tokenizer (``▁`` marks a word start; Metaspace pre-tokenizer), trained in
    milliseconds on the word list: BPE for Llama-family models, Unigram for T5.

    Args:
        specials: special tokens, first ids first (their order fixes the ids a config refers to).
        post: the template around one sentence ("<s> $A" for Llama, "$A </s>" for T5).
        tokens: the named special tokens (bos_token="<s>", eos_token="</s>", pad_token=..., unk_token=...).
    """
    if unigram:
        tok = Tokenizer(models.Unigram())
        trainer = trainers.UnigramTrainer(vocab_size=500, special_tokens=specials, unk_token=tokens["unk_token"],
                                          shrinking_factor=0.9)
    else:
        tok = Tokenizer(models.BPE(unk_token=tokens["unk_token"], fuse_unk=True))
        trainer = trainers.BpeTrainer(vocab_size=400, special_tokens=specials,
                                      initial_alphabet=list("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.,!?'-▁"))
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="first")
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="first")
    corpus = [" ".join(WORDS[i : i + 12]) + " ." for i in range(0, len(WORDS), 6)] * 3
    corpus += [" ".join(w.capitalize() for w in WORDS[i : i + 12]) + ", ! ?" for i in range(0, len(WORDS), 12)]
    tok.train_from_iterator(corpus, trainer)
    pieces = post.split()
    tok.post_processor = processors.TemplateProcessing(
        single=post, pair=post.replace("$A", "$A $B:1"),
        special_tokens=[(t, tok.token_to_id(t)) for t in pieces if t != "$A"])
    extra = [t for t in specials if t not in tokens.values()]
    return PreTrainedTokenizerFast(tokenizer_object=tok, additional_special_tokens=extra or None, **tokens)


def llama_tokenizer() -> PreTrainedTokenizerFast:
    return sentencepiece_tokenizer(["<unk>", "<s>", "</s>"], unk_token="<unk>", bos_token="<s>", eos_token="</s>")


def t5_tokenizer(n_sentinels: int = 8) -> PreTrainedTokenizerFast:
    """T5's layout: <pad> 0, </s> 1, <unk> 2, then the vocabulary; sentinels <extra_id_0..n-1> for span filling."""
    sentinels = [f"<extra_id_{i}>" for i in range(n_sentinels)]
    return sentencepiece_tokenizer(["<pad>", "</s>", "<unk>", *sentinels], unigram=True, post="$A </s>",
                                   pad_token="<pad>", eos_token="</s>", unk_token="<unk>")


def bart_tokenizer() -> PreTrainedTokenizerFast:
    """Byte-level BPE with BART's specials: <s> 0, <pad> 1, </s> 2, <unk> 3, <mask> 4."""
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    specials = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
    trainer = trainers.BpeTrainer(vocab_size=600, special_tokens=specials,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    corpus = [" ".join(WORDS[i : i + 12]) for i in range(0, len(WORDS), 6)] * 3
    tok.train_from_iterator(corpus, trainer)
    tok.post_processor = processors.RobertaProcessing(("</s>", 2), ("<s>", 0), trim_offsets=True, add_prefix_space=False)
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", pad_token="<pad>", eos_token="</s>",
                                   unk_token="<unk>", mask_token="<mask>", cls_token="<s>", sep_token="</s>")


# decoder-only models with rotary positions and grouped-query attention (4 query heads, 2 key/value heads)
DECODERS = {
    "llama": LlamaConfig, "mistral": MistralConfig, "qwen2": Qwen2Config, "phi3": Phi3Config, "gemma": GemmaConfig,
}


def _decoder_config(name: str, tok: PreTrainedTokenizerFast):
    kw = dict(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
              num_key_value_heads=2, max_position_embeddings=128, attn_implementation="eager", initializer_range=0.2,
              bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, pad_token_id=None,
              tie_word_embeddings=False, architectures=[f"{DECODERS[name].__name__[:-6]}ForCausalLM"])
    if name == "phi3":  # rotary on half of each head (partial rotary), fused q|k|v projection
        kw["rope_parameters"] = {"rope_theta": 10000.0, "partial_rotary_factor": 0.5, "rope_type": "default"}
    if name == "gemma":  # multi-query: one key/value head
        kw |= {"num_key_value_heads": 1, "head_dim": 8}
    return DECODERS[name](**kw)


# text with accents, emoji and Chinese for a byte-level BPE that learns some multi-byte pieces
MULTILINGUAL = """
a café in paris, the naïve cat sat on the mat. crème brûlée and a piñata 😂 🎉 👍 ❤️
老师说今天的课很有意思。 学生们都很喜欢这门课。 今天天气很好，我们去公园散步吧。 中文分词 自然语言处理
""".split("\n")


def multilingual_bpe_tokenizer(vocab_size: int = 400, bos: str = "<|endoftext|>") -> PreTrainedTokenizerFast:
    """A byte-level BPE (GPT-2 style) trained on accented, emoji and Chinese text, so that some characters are
    one piece and others stay split into bytes."""
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=[bos],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator([line for line in MULTILINGUAL if line.strip()] * 5 + [" ".join(WORDS)], trainer)
    tok.post_processor = processors.ByteLevel(trim_offsets=True)
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token=bos, eos_token=bos, unk_token=bos)


def chinese_bert_tokenizer(chars: str) -> BertTokenizerFast:
    """A character-level Chinese BERT vocabulary (like bert-base-chinese): each listed character is a token."""
    vocab = list(dict.fromkeys(SPECIALS + PUNCT + list("，。！？") + LETTERS + WORDS + list(chars)))
    return BertTokenizerFast(vocab={w: i for i, w in enumerate(vocab)}, do_lower_case=True)


def save_tiny_with(tokenizer, folder: Path, causal: bool, seed: int = 0) -> Path:
    """A tiny GPT-2 (``causal``) or BERT masked LM around ``tokenizer``, saved to ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    if causal:
        model = GPT2LMHeadModel(GPT2Config(
            vocab_size=len(tokenizer), n_positions=128, n_embd=32, n_layer=2, n_head=4, attn_implementation="eager",
            initializer_range=0.2, resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0,
            bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id))
    else:
        model = BertForMaskedLM(_bert_config(len(tokenizer)))
    model.eval()
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def _bert_config(n_vocab: int, **kw) -> BertConfig:
    base = dict(vocab_size=n_vocab, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                intermediate_size=64, max_position_embeddings=128, attn_implementation="eager",
                initializer_range=0.2, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    return BertConfig(**(base | kw))


def _small_decoder(config_cls, tok, **extra):
    """A 2-layer (4 with sliding windows) decoder config of ``config_cls``: 4 query heads, 2 key/value heads."""
    kw = dict(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
              num_key_value_heads=2, max_position_embeddings=128, initializer_range=0.2,
              bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, pad_token_id=None,
              tie_word_embeddings=False, attn_implementation="eager")
    return config_cls(**(kw | extra))


def xlnet_tokenizer() -> PreTrainedTokenizerFast:
    """SentencePiece pieces with XLNet's layout: the sentence, then <sep> <cls> at the end."""
    return sentencepiece_tokenizer(["<unk>", "<s>", "</s>", "<cls>", "<sep>", "<pad>", "<mask>"], post="$A <sep> <cls>",
                                   unk_token="<unk>", bos_token="<s>", eos_token="</s>", cls_token="<cls>",
                                   sep_token="<sep>", pad_token="<pad>", mask_token="<mask>")


def _arch_case(kind: str):
    """(model, tokenizer) of the "arch" row ``kind`` of :data:`TINY_CASES`."""
    import transformers as tf

    bert_like = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64,
                     max_position_embeddings=128, initializer_range=0.2, hidden_dropout_prob=0.0,
                     attention_probs_dropout_prob=0.0, attn_implementation="eager")
    if kind in ("qwen3", "qwen3_classifier"):
        tok = bpe_tokenizer()
        cfg = _small_decoder(tf.Qwen3Config, tok, head_dim=8)  # QK-norm
        if kind == "qwen3_classifier":
            cfg.num_labels, cfg.id2label, cfg.label2id = 2, {0: "negative", 1: "positive"}, {"negative": 0, "positive": 1}
            cfg.pad_token_id = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
            return tf.Qwen3ForSequenceClassification(cfg), tok
        return tf.Qwen3ForCausalLM(cfg), tok
    if kind == "gemma2":  # soft-capped scores and logits, sliding window on every other layer, query_pre_attn_scalar
        tok = llama_tokenizer()
        return tf.Gemma2ForCausalLM(_small_decoder(
            tf.Gemma2Config, tok, head_dim=8, query_pre_attn_scalar=12, sliding_window=4, attn_logit_softcapping=5.0,
            final_logit_softcapping=3.0)), tok
    if kind == "gemma3":  # QK-norm, query_pre_attn_scalar, sliding-window layers shorter than the test inputs
        tok = llama_tokenizer()
        return tf.Gemma3ForCausalLM(_small_decoder(
            tf.Gemma3TextConfig, tok, head_dim=8, query_pre_attn_scalar=12, sliding_window=3, num_hidden_layers=4,
            layer_types=["sliding_attention", "full_attention", "sliding_attention", "full_attention"])), tok
    if kind == "olmo2":  # QK-norm over all heads, norms after attention and MLP
        tok = bpe_tokenizer()
        return tf.Olmo2ForCausalLM(_small_decoder(tf.Olmo2Config, tok)), tok
    if kind == "gpt_neox":  # fused query_key_value, partial rotary, parallel residual
        tok = bpe_tokenizer()
        return tf.GPTNeoXForCausalLM(tf.GPTNeoXConfig(
            vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
            max_position_embeddings=128, initializer_range=0.2, rotary_pct=0.5, bos_token_id=tok.bos_token_id,
            eos_token_id=tok.eos_token_id, tie_word_embeddings=False, attn_implementation="eager")), tok
    if kind == "albert_mlm":  # one layer shared by every depth, factorised embeddings
        tok = bert_tokenizer()
        return tf.AlbertForMaskedLM(tf.AlbertConfig(vocab_size=len(tok), embedding_size=16, classifier_dropout_prob=0.0,
                                                    **bert_like)), tok
    if kind == "mobilebert_mlm":  # bottlenecks, NoNorm
        tok = bert_tokenizer()
        return tf.MobileBertForMaskedLM(tf.MobileBertConfig(
            vocab_size=len(tok), embedding_size=16, intra_bottleneck_size=16, true_hidden_size=16,
            num_feedforward_networks=2, **(bert_like | {"num_attention_heads": 4}))), tok
    if kind == "xlnet_lm":  # permutation LM: two-stream relative attention in its own code
        tok = xlnet_tokenizer()
        return tf.XLNetLMHeadModel(tf.XLNetConfig(
            vocab_size=len(tok), d_model=32, n_layer=2, n_head=4, d_inner=64, dropout=0.0, initializer_range=0.2,
            pad_token_id=tok.pad_token_id, bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
            attn_implementation="eager")), tok
    if kind == "xlnet_classifier":  # its sequence summary reads the last token (<cls>)
        tok = xlnet_tokenizer()
        return tf.XLNetForSequenceClassification(tf.XLNetConfig(
            vocab_size=len(tok), d_model=32, n_layer=2, n_head=4, d_inner=64, dropout=0.0, initializer_range=0.2,
            pad_token_id=tok.pad_token_id, num_labels=2, id2label={0: "negative", 1: "positive"},
            label2id={"negative": 0, "positive": 1}, summary_last_dropout=0.0, attn_implementation="eager")), tok
    raise ValueError(f"unknown tiny kind {kind!r}")


def _bert_body(model_cls, config_cls=None, **config):
    """A builder of a tiny BERT-vocabulary model: ``model_cls`` around a small config (``_bert_config`` unless
    ``config_cls`` is given) of the WordPiece tokenizer's size."""
    def build():
        tok = bert_tokenizer()
        cfg = _bert_config(len(tok), **config) if config_cls is None else config_cls(vocab_size=len(tok), **config)
        return model_cls(cfg), tok
    return build


_LABELS = {"num_labels": 2, "id2label": {0: "negative", 1: "positive"}, "label2id": {"negative": 0, "positive": 1}}
_DISTILBERT = dict(dim=32, n_layers=2, n_heads=4, hidden_dim=64, max_position_embeddings=128,
                   attn_implementation="eager", dropout=0.0, attention_dropout=0.0, initializer_range=0.2)


def _roberta_mlm():
    tok = bert_tokenizer()
    return RobertaForMaskedLM(RobertaConfig(**_bert_config(len(tok)).to_dict() | {
        "pad_token_id": 0, "max_position_embeddings": 130, "type_vocab_size": 1, "model_type": "roberta"})), tok


def _gpt2():
    tok = bpe_tokenizer()
    return GPT2LMHeadModel(GPT2Config(
        vocab_size=len(tok), n_positions=128, n_embd=32, n_layer=2, n_head=4, attn_implementation="eager",
        initializer_range=0.2, resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0, bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id)), tok


def _decoder(name: str):
    def build():
        tok = bpe_tokenizer() if name == "qwen2" else llama_tokenizer()  # Qwen2: byte-level BPE, as the real one
        return AutoModelForCausalLM.from_config(_decoder_config(name, tok), attn_implementation="eager"), tok
    return build


def _t5():
    tok = t5_tokenizer()
    return T5ForConditionalGeneration(T5Config(
        vocab_size=len(tok), d_model=32, d_kv=8, d_ff=64, num_layers=2, num_decoder_layers=2, num_heads=4,
        relative_attention_num_buckets=8, relative_attention_max_distance=16, dropout_rate=0.0,
        pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id, decoder_start_token_id=tok.pad_token_id,
        attn_implementation="eager")), tok


def _bart():
    tok = bart_tokenizer()
    return BartForConditionalGeneration(BartConfig(
        vocab_size=len(tok), d_model=32, encoder_layers=2, decoder_layers=2, encoder_attention_heads=4,
        decoder_attention_heads=4, encoder_ffn_dim=64, decoder_ffn_dim=64, max_position_embeddings=128, init_std=0.2,
        dropout=0.0, attention_dropout=0.0, activation_dropout=0.0, pad_token_id=1, bos_token_id=0, eos_token_id=2,
        decoder_start_token_id=2, forced_bos_token_id=None, forced_eos_token_id=None, attn_implementation="eager")), tok


@dataclass(frozen=True)
class TinyCase:
    """One tiny model the tests build (a row of :data:`TINY_CASES`).

    Attributes:
        name: the case's name (``tiny_handles[name]`` in tests).
        kind: the plm_core kind its handle has (``handle.kind``; checked by tests/unit/test_loading.py).
        group: "core" (one attention stack: the kinds every feature is tested on), "seq2seq" (encoder-decoders:
            three attention stacks), "arch" (newer architectures and the other models of the overviews), "extra"
            (built only where a test names it).
        family: the tokenizer and position scheme: "bert" (WordPiece, learned absolute positions), "gpt2"
            (byte-level BPE, absolute positions), "rotary" (rotary positions, grouped-query attention,
            SentencePiece or byte-level BPE), "seq2seq", or the architecture's own name for "arch" rows.
        what: what the case is there to exercise.
        build: makes the (model, tokenizer), random weights from the global torch seed.
        load_as: the kind tests load it as ("auto": what its config says).
    """

    name: str
    kind: str
    group: str
    family: str
    what: str
    build: Callable[[], tuple[object, object]] = field(repr=False, compare=False)
    load_as: str = "auto"


# the one table of tiny-model cases (captum keeps its test configurations the same way); tests select from it
# with :func:`tiny_names` instead of keeping their own lists of names
TINY_CASES: dict[str, TinyCase] = {c.name: c for c in (
    TinyCase("masked_lm", "masked_lm", "core", "bert", "BERT masked LM", _bert_body(BertForMaskedLM)),
    TinyCase("classifier", "classifier", "core", "bert", "BERT sequence classifier (negative / positive)",
             _bert_body(BertForSequenceClassification, **_LABELS)),
    TinyCase("encoder", "encoder", "core", "bert", "BERT body without a head (a sentence encoder)",
             _bert_body(BertModel)),
    TinyCase("causal_lm", "causal_lm", "core", "gpt2", "GPT-2 causal LM (byte-level BPE)", _gpt2),
    TinyCase("distilbert_mlm", "masked_lm", "core", "bert", "DistilBERT masked LM (no token types)",
             _bert_body(DistilBertForMaskedLM, DistilBertConfig, **_DISTILBERT)),
    TinyCase("roberta_mlm", "masked_lm", "core", "bert", "RoBERTa masked LM (positions offset by the pad id)",
             _roberta_mlm),
    *(TinyCase(name, "causal_lm", "core", "rotary", what, _decoder(name)) for name, what in (
        ("llama", "Llama: rotary positions, grouped-query attention, SentencePiece"),
        ("mistral", "Mistral: as Llama"),
        ("qwen2", "Qwen2: biased q/k/v projections, byte-level BPE"),
        ("phi3", "Phi-3: partial rotary, fused q|k|v projection"),
        ("gemma", "Gemma: multi-query attention (one key/value head)"))),
    TinyCase("t5", "seq2seq", "seq2seq", "seq2seq", "T5 with sentinels (relative position buckets)", _t5),
    TinyCase("bart", "seq2seq", "seq2seq", "seq2seq", "BART with <mask>", _bart),
    *(TinyCase(name, kind, "arch", name.split("_")[0], what, partial(_arch_case, name), load_as) for
      name, kind, what, load_as in (
        ("qwen3", "causal_lm", "QK-norm (Qwen3)", "auto"),
        ("qwen3_classifier", "classifier", "a decoder-only sequence classifier: causal, reads its last token", "auto"),
        ("gemma2", "causal_lm", "soft-capped scores and logits, sliding window (Gemma-2)", "auto"),
        ("gemma3", "causal_lm", "QK-norm, query_pre_attn_scalar, sliding-window layers shorter than the input "
                                "(Gemma 3)", "auto"),
        ("olmo2", "causal_lm", "QK-norm over all heads (OLMo-2)", "auto"),
        ("gpt_neox", "causal_lm", "fused query_key_value, partial rotary (GPT-NeoX / Pythia)", "auto"),
        ("albert_mlm", "masked_lm", "one layer shared by every depth (ALBERT)", "auto"),
        ("mobilebert_mlm", "masked_lm", "bottleneck layers, NoNorm (MobileBERT)", "auto"),
        # its LM head is refused as a causal LM (not causal): the tests load its body as a sentence encoder
        ("xlnet_lm", "encoder", "permutation LM, two-stream relative attention in its own code (XLNet)", "encoder"),
        ("xlnet_classifier", "classifier", "a classifier whose sequence summary is its last token (XLNet)", "auto"))),
    # asked for by name only (the adaptive-IG tests' second classifier)
    TinyCase("distilbert_classifier", "classifier", "extra", "bert", "DistilBERT sequence classifier",
             _bert_body(DistilBertForSequenceClassification, DistilBertConfig, **_DISTILBERT,
                        seq_classif_dropout=0.0, **_LABELS)),
)}


def tiny_names(*groups: str, kinds: tuple[str, ...] = (), families: tuple[str, ...] = (),
               without: tuple[str, ...] = ()) -> tuple[str, ...]:
    """Names of the :data:`TINY_CASES` rows in ``groups`` (all groups if none), of one of ``kinds`` and
    ``families`` (any if empty), minus the names in ``without``; in the table's order.

    Raises:
        ValueError: an unknown group, or a name in ``without`` that is not in the table.
    """
    unknown = set(groups) - {c.group for c in TINY_CASES.values()} or set(without) - set(TINY_CASES)
    if unknown:
        raise ValueError(f"not in TINY_CASES: {sorted(unknown)}")
    return tuple(c.name for c in TINY_CASES.values()
                 if (not groups or c.group in groups) and (not kinds or c.kind in kinds)
                 and (not families or c.family in families) and c.name not in without)


# the groups tests parametrize over (tests/helpers.py re-exports them)
TINY_DECODERS = tiny_names("core", families=("rotary",))
TINY_KINDS = tiny_names("core")
TINY_SEQ2SEQ = tiny_names("seq2seq")
TINY_ARCHS = tiny_names("arch")


def save_tiny(kind: str, folder: Path, seed: int = 0) -> Path:
    """Build the :data:`TINY_CASES` row named ``kind`` (seeded with ``seed``) and save it into ``folder``.

    Returns the folder.

    Raises:
        ValueError: ``kind`` is not a case.
    """
    if kind not in TINY_CASES:
        raise ValueError(f"unknown tiny kind {kind!r}")
    folder.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    model, tok = TINY_CASES[kind].build()
    model.eval()
    model.save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder


# ---------------------------------------------------------------- issue 21 (b): every head, chat templates
# Kept apart from save_tiny's kinds (not in TINY_KINDS): each test that needs one of these asks for it.

CHATML_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")
HEAD_KINDS = ("multilabel", "bart_nli", "bert_qa", "bert_ner", "bert_mc", "chat")


def chat_tokenizer() -> PreTrainedTokenizerFast:
    """A byte-level BPE (Qwen2 style) with ChatML's template tokens and a chat template."""
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    trainer = trainers.BpeTrainer(vocab_size=600, special_tokens=specials,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    corpus = [" ".join(WORDS[i : i + 12]) for i in range(0, len(WORDS), 6)] * 3 + ["user assistant system"] * 3
    tok.train_from_iterator(corpus, trainer)
    tok.post_processor = processors.ByteLevel(trim_offsets=True)
    out = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|im_end|>", pad_token="<|endoftext|>",
                                  additional_special_tokens=["<|im_start|>", "<|im_end|>"])
    out.chat_template = CHATML_TEMPLATE
    return out


def save_tiny_head(kind: str, folder: Path, seed: int = 0) -> Path:
    """A tiny model with a task head (:data:`HEAD_KINDS`), saved to ``folder``.

    multilabel: BERT classifier with ``problem_type="multi_label_classification"`` (toxic / insult / threat);
    bart_nli: BartForSequenceClassification with contradiction / neutral / entailment (BART-MNLI's layout);
    bert_qa / bert_ner / bert_mc: BERT question answering, token classification, multiple choice;
    chat: a Qwen2 causal LM whose tokenizer has ChatML template tokens and a chat template.
    """
    from transformers import (BartForSequenceClassification, BertForMultipleChoice, BertForQuestionAnswering,
                              BertForTokenClassification)

    folder.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    if kind == "bart_nli":
        tok = bart_tokenizer()
        labels = {0: "contradiction", 1: "neutral", 2: "entailment"}
        cfg = BartConfig(vocab_size=len(tok), d_model=32, encoder_layers=2, decoder_layers=2,
                         encoder_attention_heads=4, decoder_attention_heads=4, encoder_ffn_dim=64, decoder_ffn_dim=64,
                         max_position_embeddings=128, init_std=0.2, dropout=0.0, attention_dropout=0.0,
                         activation_dropout=0.0, classifier_dropout=0.0, pad_token_id=1, bos_token_id=0,
                         eos_token_id=2, decoder_start_token_id=2, forced_bos_token_id=None,
                         forced_eos_token_id=None, num_labels=3, id2label=labels,
                         label2id={v: k for k, v in labels.items()}, attn_implementation="eager")
        model = BartForSequenceClassification(cfg)
    elif kind == "chat":
        tok = chat_tokenizer()
        cfg = _decoder_config("qwen2", tok)
        cfg.eos_token_id, cfg.bos_token_id = tok.eos_token_id, None
        model = AutoModelForCausalLM.from_config(cfg, attn_implementation="eager")
    else:
        tok = bert_tokenizer()
        n = len(tok)
        if kind == "multilabel":
            labels = {0: "toxic", 1: "insult", 2: "threat"}
            model = BertForSequenceClassification(_bert_config(
                n, num_labels=3, id2label=labels, label2id={v: k for k, v in labels.items()},
                problem_type="multi_label_classification"))
        elif kind == "bert_qa":
            model = BertForQuestionAnswering(_bert_config(n))
        elif kind == "bert_ner":
            labels = {0: "O", 1: "B-PER", 2: "I-PER", 3: "B-LOC", 4: "I-LOC"}
            model = BertForTokenClassification(_bert_config(n, num_labels=5, id2label=labels,
                                                            label2id={v: k for k, v in labels.items()}))
        elif kind == "bert_mc":
            model = BertForMultipleChoice(_bert_config(n))
        else:
            raise ValueError(f"unknown tiny head kind {kind!r}")
    model.eval()
    model.save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder
