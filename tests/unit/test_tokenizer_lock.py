"""Issue 10, case 16: every use of a shared tokenizer happens under the model's lock.

A fast tokenizer keeps its truncation settings on the shared Rust object: ``tok(text, truncation=True,
max_length=128)`` sets them and then encodes. A call from another thread in between (one made outside the
lock) resets them, and the locked call encodes the whole text: a tensor-size error in the forward pass (older
``tokenizers`` releases raise "Already borrowed" instead). Two tests:

- an audit: the backend tokenizer of fresh handles records every access made while the handle's lock is not
  held by the calling thread, and every core function is run (deterministic; names the function);
- 4 threads: two run core functions that truncate long inputs, two run ``predict``, ``probe_templates``,
  ``compare_models`` and the masking lab; Python's thread switch interval is lowered so the race shows up
  in a second (it did before the fix, for ``probe_templates``).
"""

from __future__ import annotations

import sys
import threading
import time
import traceback

import numpy as np
import pytest

from plm_core.attention import extract_attention, query_key
from plm_core.attribution import Target, attribute, estimate_seconds
from plm_core.bias import jobs, templates
from plm_core.bias.bec_pro import score_rows
from plm_core.bias.crows_pairs import score_pairs
from plm_core.bias.datasets import BecProRow, CrowsPair, SeatTest
from plm_core.bias.seat import run_seat
from plm_core.errors import PlmCoreError
from plm_core.compare import attribution_difference, compare_models, compare_texts
from plm_core.inference import embed, predict
from plm_core.lessons import compute, finetune
from plm_core.loading import ModelSpec, load_model
from plm_core.masking import MaskSpec, mask_and_predict, occlusion_sweep
from plm_core.model_info import model_info

LONG = "the cat sat on the mat because it was tired " * 40  # past the tiny models' 128 tokens


class _LockAudit:
    """Stands in for ``tokenizer._tokenizer``: records each attribute access made without the handle's lock."""

    def __init__(self, inner, lock, seen: list[str]) -> None:
        object.__setattr__(self, "_inner", inner)
        object.__setattr__(self, "_lock", lock)
        object.__setattr__(self, "_seen", seen)

    def _check(self, name: str) -> None:
        if not self._lock._is_owned():
            frames = [f for f in traceback.extract_stack()[:-2] if "plm_core" in f.filename]
            where = f"{frames[-1].filename.split('plm_core/')[-1]}:{frames[-1].lineno} {frames[-1].name}" \
                if frames else "outside plm_core"
            self._seen.append(f"{name} at {where}")

    def __getattr__(self, name: str):
        self._check(name)
        return getattr(self._inner, name)

    def __setattr__(self, name: str, value) -> None:
        self._check(name)
        setattr(self._inner, name, value)


@pytest.fixture
def audited(tiny_dirs):
    """Fresh handles (not the shared session ones) whose backend tokenizers are audited."""
    seen: list[str] = []
    handles = {}
    # every kind, RoBERTa's one token type, a Llama-style decoder and both encoder-decoders (T5 with sentinels,
    # BART with <mask>)
    for kind in ("masked_lm", "causal_lm", "classifier", "encoder", "roberta_mlm", "llama", "t5", "bart"):
        h = load_model(ModelSpec(str(tiny_dirs[kind]), device="cpu"))
        h.tokenizer._tokenizer = _LockAudit(h.tokenizer._tokenizer, h.lock, seen)
        handles[kind] = h
    seen.clear()  # loading itself runs before any other thread can see the handle
    return handles, seen


def _runs(h):
    """Every core function that reads the tokenizer, for handle ``h`` of its kind."""
    mlm = h.kind == "masked_lm"
    seq2seq = h.arch.encoder_decoder
    text = "the cat sat on the [MASK] ." if mlm else "the cat sat on the mat"
    target = Target("similarity", other="a dog slept") if h.kind == "encoder" else None
    yield "model_info", lambda: model_info(h).example("masking")
    yield "predict", lambda: predict(h, text)
    if seq2seq:  # the target so far (decoder input), and T5's span filling from an input with sentinels
        yield "predict (target prefix)", lambda: predict(h, text, "the cat")
        yield "predict (example)", lambda: predict(h, model_info(h).example())
        yield "encoder_decoder_lesson", lambda: compute.encoder_decoder_lesson(h, text, "the cat")
    yield "extract_attention", lambda: extract_attention(h, text, "a dog")
    yield "query_key", lambda: query_key(h, text, 1, 0)
    yield "attribute", lambda: attribute(h, text, "saliency", target=target)
    if not seq2seq:  # attention scores need one self-attention over every token (refused for encoder-decoders)
        yield "attribute (rollout)", lambda: attribute(h, text, "attention_rollout", target=target)
    yield "estimate_seconds", lambda: estimate_seconds(h, 12)
    yield "mask_and_predict", lambda: mask_and_predict(h, "the cat sat on the mat", MaskSpec((2,)) if mlm else
                                                       MaskSpec((2,), "substitute", "dog"), reference="a dog")
    if h.adapter.can_mask(h) and not mlm:  # T5's next free sentinel, BART's <mask>
        yield "mask_and_predict (mask)", lambda: mask_and_predict(h, "the cat sat on the mat", MaskSpec((2,)))
    yield "occlusion_sweep", lambda: occlusion_sweep(h, text)
    yield "compare_texts", lambda: compare_texts(h, text, text.replace("cat", "dog"))
    yield "attribution_difference", lambda: attribution_difference(
        h, compare_texts(h, text, text.replace("cat", "dog")), "saliency")
    yield "embed", lambda: embed(h, ["the cat", LONG])
    yield "token_embeddings", lambda: compute.token_embeddings(h, text, "a dog")
    yield "word_pieces", lambda: compute.word_pieces(h, ["cat", "tiredness"])
    yield "attention_steps", lambda: compute.attention_steps(h, text, 1)
    yield "mask_lesson", lambda: compute.mask_lesson(h, text)
    yield "occlusion (lesson)", lambda: compute.occlusion(h, text)
    if h.kind != "causal_lm" and not seq2seq:  # the tiny GPT-2/Llama have no single token for " he"
        yield "bias_probe (lesson)", lambda: compute.bias_probe(h, ("nurse", "doctor"))
    if h.kind in templates.TEMPLATE_SCORERS:
        sets = templates.example_sets_for(h.kind)
        yield "probe_templates", lambda: templates.probe_templates(h, sets[0])
        # the stored, chunked job of the Bias page (plm_core.bias.jobs) scores the same sets piece by piece
        yield "bias job chunk", lambda: jobs.score_chunk(
            h, templates.plan(h, sets[0])[:3], probe="template",
            config=templates.template_config(h.model_id, None, h.kind, sets[0]))
    if mlm:
        yield "score_pairs", lambda: score_pairs(h, [CrowsPair(0, "the man was tired", "the woman was tired",
                                                               "stereo", "gender")])
        yield "score_rows", lambda: score_rows(h, [BecProRow(0, "he is a nurse", "[MASK] is a nurse",
                                                            "[MASK] is a [MASK]", "x", "he", "male", "nurse",
                                                            "female")])
    if h.kind == "encoder":
        yield "run_seat", lambda: run_seat(h, SeatTest("t", ("the cat", "a cat"), ("the dog", "a dog"), ("good",),
                                                       ("bad",), ("a", "b", "c", "d")), n_samples=50)
        data = finetune.parse_examples("pos: good fun\npos: great film\nneg: bad film\nneg: awful plot")
        yield "train_head", lambda: finetune.classify(h, finetune.train_head(h, data, folds=2), ["fun"])


def test_no_core_function_reads_the_tokenizer_outside_the_lock(audited, tiny_handles):
    handles, seen = audited
    found = {}
    for kind, h in handles.items():
        for name, run in _runs(h):
            seen.clear()
            try:
                run()
            except PlmCoreError:  # a view this kind does not have (a refusal): what it read before counts
                pass
            if seen:
                found[f"{kind}: {name}"] = sorted(set(seen))
    seen.clear()
    for a, b in (("masked_lm", "causal_lm"), ("t5", "bart"), ("llama", "causal_lm")):
        compare_models(handles[a], handles[b], "the cat sat on the [MASK] .")
        if seen:
            found[f"compare_models {a} {b}"] = sorted(set(seen))
            seen.clear()
    assert not found, "tokenizer used outside the model's lock:\n" + "\n".join(f"{k}: {v}" for k, v in found.items())


class _WideWindow:
    """Stands in for ``tokenizer._tokenizer``: pauses 1 ms after each change of the truncation settings, the
    moment between "set truncation" and "encode" in which another thread's call can undo them."""

    def __init__(self, inner) -> None:
        object.__setattr__(self, "_inner", inner)

    def __getattr__(self, name: str):
        value = getattr(self._inner, name)
        if name in ("enable_truncation", "no_truncation"):
            def changed(*args, **kwargs):
                out = value(*args, **kwargs)
                time.sleep(0.001)
                return out
            return changed
        return value

    def __setattr__(self, name: str, value) -> None:
        setattr(self._inner, name, value)


@pytest.fixture
def racy(tiny_dirs):
    """Fresh handles whose truncation race window is 1 ms wide, and threads switched every microsecond."""
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    handles = {}
    for kind in ("masked_lm", "classifier"):
        h = load_model(ModelSpec(str(tiny_dirs[kind]), device="cpu"))
        h.tokenizer._tokenizer = _WideWindow(h.tokenizer._tokenizer)
        handles[kind] = h
    yield handles
    sys.setswitchinterval(old)


def test_four_threads_with_truncating_calls_equal_sequential(racy):
    mlm, clf = racy["masked_lm"], racy["classifier"]
    tset = templates.TemplateSet("t", ("the [JOB] said that [MASK] was tired .",), (("JOB", ("nurse", "doctor")),),
                                 tuple("he she it they we you i man woman boy girl cat".split()))
    jobs = {
        "predict": lambda: predict(mlm, "the cat sat on the [MASK] .").distributions[0].probs,
        "probe_templates": lambda: np.asarray([r.score for r in templates.probe_templates(mlm, tset).rows]),
        "compare_models": lambda: compare_models(mlm, clf, "the cat sat on the [MASK] .").a.distributions[0].probs,
        "masking": lambda: mask_and_predict(mlm, "the cat sat on the mat", MaskSpec((2,))).fill_ins[0].distribution.probs,
    }
    expected = {name: job() for name, job in jobs.items()}
    errors: list[str] = []
    results: dict[str, list[np.ndarray]] = {name: [] for name in jobs}
    done = threading.Event()

    def truncating(handle):  # core calls that set the tokenizer's truncation (long input) under the lock
        while not done.is_set():
            try:
                att = extract_attention(handle, LONG)
                assert len(att.encoding) == 128, len(att.encoding)
            except Exception as err:  # noqa: BLE001 - every failure is the finding
                errors.append(f"truncating call: {err!r}"[:300])

    def working(names):
        for _ in range(8):
            for name in names:
                try:
                    results[name].append(jobs[name]())
                except Exception as err:  # noqa: BLE001
                    errors.append(f"{name}: {err!r}"[:300])

    threads = [threading.Thread(target=truncating, args=(mlm,)), threading.Thread(target=truncating, args=(clf,)),
               threading.Thread(target=working, args=(["probe_templates", "predict"],)),
               threading.Thread(target=working, args=(["compare_models", "masking"],))]
    for t in threads:
        t.start()
    for t in threads[2:]:
        t.join()
    done.set()
    for t in threads[:2]:
        t.join()
    assert not errors, f"{len(errors)} failures, e.g. {errors[:3]}"
    for name, runs in results.items():
        assert runs
        for r in runs:
            np.testing.assert_allclose(r, expected[name], atol=1e-5, err_msg=name)
