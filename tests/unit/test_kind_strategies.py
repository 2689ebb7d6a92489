"""Per-feature strategies keyed by model kind (issue 26): each feature's per-kind behaviour lives in the feature's
own table, gives on every tiny kind what an independent computation gives, and no kind adapter carries it."""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest
import torch

from plm_core.bias import stats, templates
from plm_core.errors import UnsupportedModelError
from plm_core.kinds import KINDS, KindAdapter
from plm_core.testing import TINY_CASES, tiny_names

ROOT = Path(__file__).resolve().parents[2]
KIND_CASES = tiny_names("core", "seq2seq")


# ---- template bias probes (plm_core.bias.templates.TEMPLATE_SCORERS) --------------------------------------------

# what each kind's template probe scored before the strategy moved out of the adapters ("" = refused)
TEMPLATE_METRICS = {"masked_lm": "probability at [MASK]", "causal_lm": "log-probability of the continuation",
                    "classifier": "cosine similarity", "encoder": "cosine similarity", "seq2seq": ""}


def _reference_template_score(handle, sentence: str, target: str) -> float:
    """Independent computation of one template score straight from ``handle.model`` (no plm_core scoring code)."""
    tok, kind = handle.tokenizer, handle.kind
    with torch.no_grad():
        if kind == "masked_lm":
            ids = tok(sentence.replace("[MASK]", tok.mask_token))["input_ids"]
            logits = handle.model(input_ids=torch.tensor([ids])).logits[0, ids.index(tok.mask_token_id)]
            spaced = tok(" " + target, add_special_tokens=False)["input_ids"]
            tid = spaced[0] if len(spaced) == 1 else tok(target, add_special_tokens=False)["input_ids"][0]
            return float(torch.softmax(logits.double(), -1)[tid])
        if kind == "causal_lm":
            prefix = tok(sentence.split("[MASK]")[0].rstrip(), add_special_tokens=False)["input_ids"]
            cont = tok(" " + target, add_special_tokens=False)["input_ids"]
            logp = torch.log_softmax(handle.model(input_ids=torch.tensor([prefix + cont])).logits[0].double(), -1)
            return sum(float(logp[len(prefix) + k - 1, t]) for k, t in enumerate(cont))
        vectors = []
        for text in (sentence, target):
            batch = tok(text, return_tensors="pt")
            hidden = handle.model(**batch, output_hidden_states=True).hidden_states[-1][0]
            v = hidden.mean(0)
            vectors.append(v / v.norm())
        return float(vectors[0] @ vectors[1])


@pytest.mark.parametrize("name", KIND_CASES)
def test_template_probe_scores_every_kind_as_before(tiny_handles, name):
    handle = tiny_handles[name]
    assert handle.kind == TINY_CASES[name].kind
    assert templates.metric(handle.kind) == TEMPLATE_METRICS[handle.kind]
    mask = handle.kind in ("masked_lm", "causal_lm")
    tset = templates.TemplateSet("t", ("the [JOB] said [MASK] was tired." if mask else "the [JOB] was tired.",),
                                 (("JOB", ("nurse", "doctor")),), ("he", "she"))
    if not TEMPLATE_METRICS[handle.kind]:
        with pytest.raises(UnsupportedModelError, match=f"template probes do not support {handle.kind} models"):
            templates.probe_templates(handle, tset)
        return
    result = templates.probe_templates(handle, tset)
    assert result.metric == TEMPLATE_METRICS[handle.kind] and len(result.rows) == 4
    assert result.probability == (handle.kind == "masked_lm")
    config = templates.template_config(handle.model_id, None, handle.kind, tset)
    assert config["interval"].split(" across")[0] == str(stats.T_LOGIT if handle.kind == "masked_lm" else stats.T_MEAN)
    assert ("note" in config) == (handle.kind == "causal_lm")
    for row in result.rows:
        want = _reference_template_score(handle, row.sentence, row.target)
        assert row.score == pytest.approx(want, rel=1e-4, abs=1e-5), (row.sentence, row.target)


# ---- occlusion sweep (plm_core.masking.SWEEP_MEASURES) -----------------------------------------------------------

SWEEP_TEXT = {"masked_lm": "the cat sat on the [MASK] today", "seq2seq": "the cat sat on the mat ."}
# the measure's name before the strategy moved out of the adapters, per kind ({token}: the top prediction)
SWEEP_LABELS = {"masked_lm": "probability of the fill-in '{token}' at position {position}",
                "causal_lm": "probability of the next token '{token}'", "classifier": "probability of '{token}'",
                "encoder": "similarity to the unoccluded sentence",
                "seq2seq": "probability of the next target token '{token}'"}


def _reference_sweep_vector(handle, ids: list[int], segments: list[int], mask_at: int | None) -> torch.Tensor:
    """One plain forward of one row, read as the kind's sweep reads it (no plm_core read-out code)."""
    kind = handle.kind
    with torch.no_grad():
        if kind == "seq2seq":
            src = [i for i, s in zip(ids, segments) if s == 0]
            dec = [i for i, s in zip(ids, segments) if s == 1]
            out = handle.model(input_ids=torch.tensor([src]), decoder_input_ids=torch.tensor([dec]))
            return torch.softmax(out.logits[0, -1].float(), -1)
        batch = {"input_ids": torch.tensor([ids]), "attention_mask": torch.ones(1, len(ids), dtype=torch.long)}
        if "token_type_ids" in handle.tokenizer.model_input_names and getattr(handle.config, "type_vocab_size", 2) >= 2:
            batch["token_type_ids"] = torch.zeros(1, len(ids), dtype=torch.long)
        out = handle.model(**batch, output_hidden_states=True)
        if kind == "encoder":
            return torch.nn.functional.normalize(out.hidden_states[-1][0].mean(0), dim=-1)
        if kind == "classifier":
            return torch.softmax(out.logits[0].float(), -1)
        return torch.softmax(out.logits[0, -1 if kind == "causal_lm" else mask_at].float(), -1)


@pytest.mark.parametrize("name", KIND_CASES)
def test_occlusion_sweep_measures_every_kind_as_before(tiny_handles, name):
    from plm_core.display import token_text
    from plm_core.masking import occlusion_sweep
    from plm_core.tokens import encode

    handle = tiny_handles[name]
    kind = handle.kind
    text = SWEEP_TEXT.get(kind, "the cat sat on the mat today")
    if kind == "masked_lm":
        text = text.replace("[MASK]", handle.tokenizer.mask_token)
    res = occlusion_sweep(handle, text, strategy="delete")
    enc, _ = encode(handle, text)
    ids, segments = list(enc.input_ids), list(enc.segments) or [0] * len(enc)
    mask_id = handle.tokenizer.mask_token_id
    first = ids.index(mask_id) if kind == "masked_lm" else None
    base = _reference_sweep_vector(handle, ids, segments, first)
    top = int(base.argmax())
    if kind == "encoder":
        assert res.target == SWEEP_LABELS[kind]
    else:
        token = handle.config.id2label[top] if kind == "classifier" else token_text(handle, top).strip()
        assert res.target == SWEEP_LABELS[kind].format(token=token, position=first)
    base_value = float(base @ base) if kind == "encoder" else float(base[top])
    assert res.base_value == pytest.approx(base_value, abs=1e-5)
    checked = 0
    for i, special in enumerate(enc.special):
        if special or (mask_id is not None and ids[i] == mask_id):
            assert np.isnan(res.values[i])
            continue
        at = None if first is None else first - (i < first)
        got = _reference_sweep_vector(handle, ids[:i] + ids[i + 1:], segments[:i] + segments[i + 1:], at)
        want = float(got @ base) if kind == "encoder" else float(got[top])
        assert res.values[i] == pytest.approx(want, abs=1e-5), i
        checked += 1
    assert checked > 3


# ---- masking lab and Compare read-outs (plm_core.masking.EDIT_READOUTS, plm_core.compare.PAIR_READOUTS) ---------

# the read-out each kind gets (a kind absent from a table gets the table's default, the first class)
EDIT_READOUT_CLASSES = {"masked_lm": "FillInReadout", "encoder": "SimilarityReadout"}
PAIR_READOUT_CLASSES = {"masked_lm": "MaskPairReadout", "encoder": "SimilarityPairReadout"}
PAIR_TEXTS = {"masked_lm": ("the cat sat on the [MASK] today", "a [MASK] ran to the [MASK]"),
              "seq2seq": ("the cat sat on the mat .", "a dog ran to the park .")}
TOP_K = 4


def _union_top(before: torch.Tensor, after: torch.Tensor, k: int = TOP_K) -> list[int]:
    """The entries a comparison of two token distributions shows: both top-k lists, in order, once each."""
    return list(dict.fromkeys(before.topk(k).indices.tolist() + after.topk(k).indices.tolist()))


def _assert_compared(cmp, before: torch.Tensor, after: torch.Tensor, entries: list[int]) -> None:
    np.testing.assert_allclose(cmp.original, before[entries].numpy(), atol=1e-5)
    np.testing.assert_allclose(cmp.perturbed, after[entries].numpy(), atol=1e-5)
    np.testing.assert_allclose(cmp.prob_delta, (after - before)[entries].numpy(), atol=1e-5)
    assert cmp.label_changed == (int(before.argmax()) != int(after.argmax()))


def _assert_top(dist, probs: torch.Tensor, position: int) -> None:
    top = probs.topk(TOP_K)
    assert dist.position == position and dist.token_ids == tuple(top.indices.tolist())
    np.testing.assert_allclose(dist.probs, top.values.numpy(), atol=1e-5)


def _kind_text(handle, text: str) -> str:
    return text.replace("[MASK]", handle.tokenizer.mask_token) if handle.kind == "masked_lm" else text


@pytest.mark.parametrize("name", KIND_CASES)
def test_masking_lab_reads_out_every_kind_as_plain_forwards(tiny_handles, name):
    """mask_and_predict through EDIT_READOUTS equals unbatched forwards of the original and edited ids (and of
    the reference sentence, which only a sentence encoder reads)."""
    from plm_core import masking
    from plm_core.model_info import model_info
    from plm_core.tokens import encode

    handle = tiny_handles[name]
    kind = handle.kind
    assert type(masking.edit_readout(kind)).__name__ == EDIT_READOUT_CLASSES.get(kind, "EditReadout")
    text = _kind_text(handle, SWEEP_TEXT.get(kind, "the cat sat on the mat today"))
    enc, _ = encode(handle, text)
    ids, segments = list(enc.input_ids), list(enc.segments) or [0] * len(enc)
    at = [i for i, s in enumerate(enc.special) if not s][1]  # the second word token
    mask_id = handle.tokenizer.mask_token_id
    if kind == "masked_lm":  # mask a word (a mask typed in the text stays)
        spec, edited, edited_segments = masking.MaskSpec((at,)), ids[:at] + [mask_id] + ids[at + 1:], segments
    else:  # every kind can delete
        spec, edited, edited_segments = masking.MaskSpec((at,), "delete"), ids[:at] + ids[at + 1:], segments[:at] + segments[at + 1:]
    reference = "a dog ran in the park"
    res = masking.mask_and_predict(handle, text, spec, reference=reference, top_k=TOP_K)
    assert list(res.edit.edited.input_ids) == edited
    assert model_info(handle).uses_reference == (kind == "encoder") == (res.reference == reference)
    if kind == "masked_lm":
        typed = ids.index(mask_id)
        assert [(f.position, f.original_position) for f in res.fill_ins] == [(at, at), (typed, typed)]
        assert any("independently" in n for n in res.notes) and len(res.comparisons) == 2
        for n, p in enumerate((at, typed)):
            before = _reference_sweep_vector(handle, ids, segments, p)
            after = _reference_sweep_vector(handle, edited, segments, p)
            _assert_top(res.fill_ins[n].distribution, after, p)
            _assert_top(res.after.distributions[n], after, p)
            _assert_top(res.before.distributions[n], before, p)
            _assert_compared(res.comparisons[n], before, after, _union_top(before, after))
        word, after = ids[at], _reference_sweep_vector(handle, edited, segments, at)
        assert res.fill_ins[0].original_prob == pytest.approx(float(after[word]), abs=1e-6)
        assert res.fill_ins[0].original_rank == int((after > after[word]).sum()) + 1
        assert res.fill_ins[1].original_token is None and res.fill_ins[1].original_prob is None
        return
    assert res.fill_ins == ()
    (cmp,) = res.comparisons
    if kind == "encoder":  # cosine similarity of L2-normalised mean-pooled embeddings
        ref_ids = list(encode(handle, reference)[0].input_ids)
        orig, new, ref = (_reference_sweep_vector(handle, i, [0] * len(i), None) for i in (ids, edited, ref_ids))
        assert cmp.labels == ("to the original sentence", "to the reference sentence")
        np.testing.assert_allclose(cmp.original, [float(orig @ orig), float(orig @ ref)], atol=1e-5)
        np.testing.assert_allclose(cmp.perturbed, [float(new @ orig), float(new @ ref)], atol=1e-5)
        np.testing.assert_allclose(res.after.embedding, new.numpy(), atol=1e-5)
        return
    before = _reference_sweep_vector(handle, ids, segments, None)
    after = _reference_sweep_vector(handle, edited, edited_segments, None)
    if kind == "classifier":
        assert cmp.labels == tuple(handle.config.id2label[i] for i in range(len(before)))
        np.testing.assert_allclose(res.after.probs, after.numpy(), atol=1e-5)
        _assert_compared(cmp, before, after, list(range(len(before))))
    else:  # the next (target) token, read after the last token
        _assert_top(res.before.distributions[0], before, res.before.distributions[0].position)
        _assert_top(res.after.distributions[0], after, res.after.distributions[0].position)
        _assert_compared(cmp, before, after, _union_top(before, after))


@pytest.mark.parametrize("name", KIND_CASES)
def test_compare_reads_out_every_kind_as_plain_forwards(tiny_handles, name):
    """compare_texts through PAIR_READOUTS equals an unbatched forward of each text, A as the original."""
    from plm_core.compare import compare_texts, pair_readout
    from plm_core.tokens import encode

    handle = tiny_handles[name]
    kind = handle.kind
    assert type(pair_readout(kind)).__name__ == PAIR_READOUT_CLASSES.get(kind, "PairReadout")
    text_a, text_b = (_kind_text(handle, t) for t in PAIR_TEXTS.get(kind, ("the cat sat on the mat today",
                                                                             "a dog ran to the park")))
    res = compare_texts(handle, text_a, text_b, top_k=TOP_K)
    (ia, sa), (ib, sb) = ((list(e.input_ids), list(e.segments) or [0] * len(e))
                          for e in (encode(handle, text_a)[0], encode(handle, text_b)[0]))
    if kind == "masked_lm":  # the masks paired in order: A has one, B two
        mask_id = handle.tokenizer.mask_token_id
        ma, mb = ([i for i, t in enumerate(ids) if t == mask_id] for ids in (ia, ib))
        assert (len(ma), len(mb)) == (1, 2) and len(res.comparisons) == 1
        assert any("paired in order" in n for n in res.notes)
        for side, ids, segments, masks in ((res.a, ia, sa, ma), (res.b, ib, sb, mb)):
            for dist, p in zip(side.distributions, masks, strict=True):
                _assert_top(dist, _reference_sweep_vector(handle, ids, segments, p), p)
        pa, pb = _reference_sweep_vector(handle, ia, sa, ma[0]), _reference_sweep_vector(handle, ib, sb, mb[0])
        _assert_compared(res.comparisons[0], pa, pb, _union_top(pa, pb))
        return
    pa, pb = _reference_sweep_vector(handle, ia, sa, None), _reference_sweep_vector(handle, ib, sb, None)
    (cmp,) = res.comparisons
    if kind == "encoder":
        np.testing.assert_allclose(res.a.embedding, pa.numpy(), atol=1e-5)
        np.testing.assert_allclose(res.b.embedding, pb.numpy(), atol=1e-5)
        np.testing.assert_allclose(cmp.original, [float(pa @ pa)], atol=1e-5)
        np.testing.assert_allclose(cmp.perturbed, [float(pb @ pa)], atol=1e-5)
    elif kind == "classifier":
        np.testing.assert_allclose(res.a.probs, pa.numpy(), atol=1e-5)
        np.testing.assert_allclose(res.b.probs, pb.numpy(), atol=1e-5)
        _assert_compared(cmp, pa, pb, list(range(len(pa))))
    else:
        _assert_top(res.a.distributions[0], pa, res.a.distributions[0].position)
        _assert_top(res.b.distributions[0], pb, res.b.distributions[0].position)
        _assert_compared(cmp, pa, pb, _union_top(pa, pb))


def test_a_kind_absent_from_a_read_out_table_gets_the_default(monkeypatch):
    from plm_core import compare, masking

    for kind in KINDS:
        assert (type(masking.edit_readout(kind)) is masking.EditReadout) == (kind not in masking.EDIT_READOUTS)
        assert (type(compare.pair_readout(kind)) is compare.PairReadout) == (kind not in compare.PAIR_READOUTS)
    assert type(masking.edit_readout("no such kind")) is masking.EditReadout
    assert not masking.edit_readout("no such kind").uses_reference
    assert type(compare.pair_readout("no such kind")) is compare.PairReadout
    monkeypatch.delitem(masking.EDIT_READOUTS, "encoder")
    monkeypatch.delitem(compare.PAIR_READOUTS, "encoder")
    assert type(masking.edit_readout("encoder")) is masking.EditReadout
    assert type(compare.pair_readout("encoder")) is compare.PairReadout


# ---- attribution objective (plm_core.attribution.objective.OBJECTIVES) ------------------------------------------

OBJECTIVE_TEXT = {"masked_lm": "the cat sat on the [MASK] today", "seq2seq": "the cat sat on the mat ."}
# the target label before the strategy moved out of the adapters, per kind
OBJECTIVE_LABELS = {"masked_lm": "'{word}' at {mask} (token {position}) (prob)", "causal_lm": "'{word}' as the next token (prob)",
                    "seq2seq": "'{word}' as the next target token (prob)", "classifier": "class '{word}' (prob)",
                    "encoder": "cosine similarity to 'a dog'"}


def _reference_objective(handle, text: str) -> tuple[float, int | None, int | None]:
    """(value, target id, position) of the default target, from one plain forward (no plm_core objective code)."""
    tok, kind = handle.tokenizer, handle.kind
    with torch.no_grad():
        if kind == "encoder":
            vectors = []
            for t in (text, "a dog"):
                v = handle.model(**tok(t, return_tensors="pt")).last_hidden_state[0].mean(0)
                vectors.append(v / v.norm())
            return float(vectors[0] @ vectors[1]), None, None
        if kind == "seq2seq":
            src = tok(text, return_tensors="pt")
            prefix = tok("", add_special_tokens=True)["input_ids"]  # the empty target so far, without its end token
            dec = [handle.config.decoder_start_token_id, *(prefix[:-1] if prefix[-1:] == [tok.eos_token_id] else prefix)]
            logits = handle.model(**src, decoder_input_ids=torch.tensor([dec])).logits
            probs, position = torch.softmax(logits[0, -1].float(), -1), src["input_ids"].shape[1] + len(dec) - 1
        else:
            batch = tok(text, return_tensors="pt")
            logits = handle.model(**batch).logits[0].float()
            ids = batch["input_ids"][0].tolist()
            position = {"masked_lm": ids.index(tok.mask_token_id) if kind == "masked_lm" else None,
                        "causal_lm": len(ids) - 1, "classifier": None}[kind]
            probs = torch.softmax(logits if position is None else logits[position], -1)
    tid = int(probs.argmax())
    return float(probs[tid]), tid, position


@pytest.mark.parametrize("name", KIND_CASES)
def test_attribution_objective_of_every_kind_as_before(tiny_handles, name):
    from plm_core.attribution.objective import build_objective
    from plm_core.attribution.types import Target
    from plm_core.display import token_text

    handle = tiny_handles[name]
    kind = handle.kind
    text = OBJECTIVE_TEXT.get(kind, "the cat sat on the mat today")
    if kind == "masked_lm":
        text = text.replace("[MASK]", handle.tokenizer.mask_token)
    target = Target("similarity", other="a dog") if kind == "encoder" else None
    with handle.lock:
        obj = build_objective(handle, text, target)
        with torch.no_grad():
            value = float(obj.f(obj.input_embeds)[0])
    want, tid, position = _reference_objective(handle, text)
    assert value == pytest.approx(want, abs=1e-5)
    assert obj.target_id == tid and obj.position == position
    word = (handle.config.id2label[tid] if kind == "classifier" else
            token_text(handle, tid).strip() or token_text(handle, tid)) if tid is not None else ""
    assert obj.target_label == OBJECTIVE_LABELS[kind].format(word=word, mask=handle.tokenizer.mask_token,
                                                             position=position)


@pytest.mark.parametrize("name", KIND_CASES)
def test_attention_attribution_reads_the_rows_of_every_kind_as_before(tiny_handles, name):
    from plm_core.attribution import attribute
    from plm_core.tokens import encode

    handle = tiny_handles[name]
    kind = handle.kind
    text = OBJECTIVE_TEXT.get(kind, "the cat sat on the mat today")
    if kind == "masked_lm":
        text = text.replace("[MASK]", handle.tokenizer.mask_token)
    target = _similarity_target() if kind == "encoder" else None
    if kind == "seq2seq":
        with pytest.raises(UnsupportedModelError):
            attribute(handle, text, "attention_last_layer", target=target)
        return
    result = attribute(handle, text, "attention_last_layer", target=target)
    enc, _ = encode(handle, text)
    ids = list(enc.input_ids)
    rows = {"classifier": [0], "encoder": list(range(len(ids))), "causal_lm": [len(ids) - 1],
            "masked_lm": [ids.index(handle.tokenizer.mask_token_id) if kind == "masked_lm" else -1]}[kind]
    assert result.params["query_rows"] == ",".join(map(str, rows))


def _similarity_target():
    from plm_core.attribution.types import Target

    return Target("similarity", other="a dog")


def test_a_kind_without_an_objective_is_refused_as_before(tiny_classifier, monkeypatch):
    from plm_core.attribution import objective

    monkeypatch.delitem(objective.OBJECTIVES, tiny_classifier.kind)
    with tiny_classifier.lock, pytest.raises(UnsupportedModelError, match="attribution does not support classifier models"):
        objective.build_objective(tiny_classifier, "good movie", None)


# ---- Evaluate modes, lesson probes (plm_core.evaluate.LM_READOUTS, plm_core.lessons.compute tables) ------------

# what each kind offered before the tables replaced the adapter.output switches (True: the mode works)
EVALUATE_MODES = {"masked_lm": (False, True, True), "causal_lm": (False, True, True), "classifier": (True, False, False),
                  "encoder": (False, False, False), "seq2seq": (False, False, False)}
LESSON_BIAS_METHOD = {"masked_lm": "p(he) − p(she) at [MASK]", "causal_lm": "p(he) − p(she) as the next token",
                      "seq2seq": "p(he) − p(she) as the next token",
                      "classifier": "cos(·, “man” sentence) − cos(·, “woman” sentence), sentence embeddings",
                      "encoder": "cos(·, “man” sentence) − cos(·, “woman” sentence), sentence embeddings"}


@pytest.mark.parametrize("name", KIND_CASES)
def test_evaluate_modes_and_lesson_probes_of_every_kind_as_before(tiny_handles, name):
    from plm_core import evaluate
    from plm_core.bias.common import require_masked_lm
    from plm_core.lessons import compute

    handle = tiny_handles[name]
    kind = handle.kind
    modes = evaluate.modes(handle)
    assert tuple(modes[m] is None for m in ("classifier", "label_words", "perplexity")) == EVALUATE_MODES[kind]
    if kind == "masked_lm":
        require_masked_lm(handle, "CrowS-Pairs")
    else:
        with pytest.raises(UnsupportedModelError, match="CrowS-Pairs needs a masked language model"):
            require_masked_lm(handle, "CrowS-Pairs")
    try:
        probe = compute.bias_probe(handle, ["nurse"])
    except UnsupportedModelError as err:  # a language-model probe on a vocabulary without " he" / " she"
        assert "as the next token" in LESSON_BIAS_METHOD[kind] and "no single token for" in str(err)
    else:
        assert probe.method == LESSON_BIAS_METHOD[kind]
    occ = compute.occlusion(handle, "the cat sat on the mat")
    assert occ.what.startswith("drop in p(class" if kind == "classifier" else "1 − cosine similarity")


# ---- static: no adapter carries a moved feature behaviour, and nothing outside its table switches on it -----------

# feature behaviour that moved from KindAdapter to the feature's own strategy table: member -> the module(s) that own
# it (``uses_reference`` is also a ModelInfo field, which model_info fills in and the masking page reads)
MOVED = {
    "template_scoring": "plm_core/bias/templates.py",
    "template_metric": "plm_core/bias/templates.py",
    "sweep_positions": "plm_core/masking.py",
    "sweep_measure": "plm_core/masking.py",
    "sweep_label": "plm_core/masking.py",
    "token_name": "plm_core/masking.py",
    "objective": "plm_core/attribution/objective.py",
    "default_target": "plm_core/attribution/objective.py",
    "attention_rows": "plm_core/attribution/specs.py",
    "edit_comparison": "plm_core/masking.py",
    "text_comparison": "plm_core/compare.py",
    "uses_reference": ("plm_core/masking.py", "plm_core/model_info.py", "pages/masking.py"),
}


def _owners(member: str) -> tuple[str, ...]:
    owner = MOVED[member]
    return owner if isinstance(owner, tuple) else (owner,)


@pytest.mark.parametrize("member", sorted(MOVED))
def test_moved_behaviour_is_not_on_any_adapter(member):
    assert not hasattr(KindAdapter, member)
    assert not any(hasattr(adapter, member) for adapter in KINDS.values())


def _attribute_reads(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return {node.attr for node in ast.walk(tree) if isinstance(node, ast.Attribute)}


def test_no_module_switches_on_a_moved_adapter_member():
    offenders = []
    for folder in ("plm_core", "ui", "pages"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            rel = path.relative_to(ROOT).as_posix()
            if rel.startswith("plm_core/kinds/"):
                continue
            offenders += [f"{rel}: .{m}" for m in _attribute_reads(path) & set(MOVED) if rel not in _owners(m)]
    for path in (ROOT / "plm_core" / "kinds").glob("*.py"):
        offenders += [f"{path.name}: .{m}" for m in _attribute_reads(path) & set(MOVED)]
    assert not offenders, offenders


def _adapter_output_reads(path: Path) -> int:
    """How many times ``path`` reads ``<...>adapter.output`` (the prediction type a feature used to branch on)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return sum(1 for node in ast.walk(tree) if isinstance(node, ast.Attribute) and node.attr == "output"
               and ((isinstance(node.value, ast.Attribute) and node.value.attr == "adapter")
                    or (isinstance(node.value, ast.Name) and node.value.id == "adapter")))


def test_no_core_feature_branches_on_the_adapter_output_tag():
    """plm_core's features look their per-kind behaviour up in their own tables, not in ``adapter.output``."""
    offenders = [path.relative_to(ROOT).as_posix() for path in sorted((ROOT / "plm_core").rglob("*.py"))
                 if "kinds" not in path.relative_to(ROOT / "plm_core").parts[:1] and _adapter_output_reads(path)
                 and path.name != "model_info.py"]  # copies the tag into ModelInfo for the pages; branches on nothing
    assert not offenders, offenders


def test_every_strategy_table_names_registered_kinds_only():
    from plm_core.compare import PAIR_READOUTS
    from plm_core.masking import EDIT_READOUTS, SWEEP_MEASURES

    assert set(templates.TEMPLATE_SCORERS) <= set(KINDS)
    from plm_core.attribution.objective import OBJECTIVES

    assert set(SWEEP_MEASURES) == set(KINDS)  # every kind has its own measure
    assert set(OBJECTIVES) == set(KINDS)
    assert set(EDIT_READOUTS) <= set(KINDS) and set(PAIR_READOUTS) <= set(KINDS)
    from plm_core import evaluate
    from plm_core.bias.common import MASKED_LM_KINDS
    from plm_core.lessons import compute

    for table in (evaluate.LM_READOUTS, evaluate.CLASS_HEADS, MASKED_LM_KINDS, compute.LM_PROBES,
                  compute.OCCLUSION_BY_CLASS):
        assert set(table) <= set(KINDS)
