"""Tiny models of every kind, built from configs with a local vocabulary (no download), saved to folders.

They load through the real ``load_model`` (a local folder), so tests exercise the same path as users.
"""

from __future__ import annotations

from pathlib import Path

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import (
    BertConfig,
    BertForMaskedLM,
    BertForSequenceClassification,
    BertModel,
    BertTokenizerFast,
    DistilBertConfig,
    DistilBertForMaskedLM,
    DistilBertForSequenceClassification,
    GPT2Config,
    GPT2LMHeadModel,
    PreTrainedTokenizerFast,
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


def _bert_config(n_vocab: int, **kw) -> BertConfig:
    base = dict(vocab_size=n_vocab, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                intermediate_size=64, max_position_embeddings=128, attn_implementation="eager",
                initializer_range=0.2, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    return BertConfig(**(base | kw))


def save_tiny(kind: str, folder: Path, seed: int = 0) -> Path:
    """Build and save a tiny model of ``kind`` into ``folder``; returns the folder.

    kinds: masked_lm, classifier, encoder (BERT), causal_lm (GPT-2), distilbert_mlm, distilbert_classifier,
    roberta_mlm.
    """
    folder.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    if kind == "causal_lm":
        tok = bpe_tokenizer()
        cfg = GPT2Config(vocab_size=len(tok), n_positions=128, n_embd=32, n_layer=2, n_head=4,
                         attn_implementation="eager", initializer_range=0.2, resid_pdrop=0.0, embd_pdrop=0.0,
                         attn_pdrop=0.0, bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id)
        model = GPT2LMHeadModel(cfg)
    else:
        tok = bert_tokenizer()
        n = len(tok)
        if kind == "masked_lm":
            model = BertForMaskedLM(_bert_config(n))
        elif kind == "classifier":
            model = BertForSequenceClassification(_bert_config(
                n, num_labels=2, id2label={0: "negative", 1: "positive"}, label2id={"negative": 0, "positive": 1}))
        elif kind == "encoder":
            model = BertModel(_bert_config(n))
        elif kind == "distilbert_mlm":
            model = DistilBertForMaskedLM(DistilBertConfig(
                vocab_size=n, dim=32, n_layers=2, n_heads=4, hidden_dim=64, max_position_embeddings=128,
                attn_implementation="eager", dropout=0.0, attention_dropout=0.0, initializer_range=0.2))
        elif kind == "distilbert_classifier":
            model = DistilBertForSequenceClassification(DistilBertConfig(
                vocab_size=n, dim=32, n_layers=2, n_heads=4, hidden_dim=64, max_position_embeddings=128,
                attn_implementation="eager", dropout=0.0, attention_dropout=0.0, seq_classif_dropout=0.0,
                initializer_range=0.2, num_labels=2, id2label={0: "negative", 1: "positive"},
                label2id={"negative": 0, "positive": 1}))
        elif kind == "roberta_mlm":
            model = RobertaForMaskedLM(RobertaConfig(**_bert_config(n).to_dict() | {
                "pad_token_id": 0, "max_position_embeddings": 130, "type_vocab_size": 1, "model_type": "roberta"}))
        else:
            raise ValueError(f"unknown tiny kind {kind!r}")
    model.eval()
    model.save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder
