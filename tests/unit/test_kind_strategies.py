"""Per-feature strategies keyed by model kind (issue 26): each feature's per-kind behaviour lives in the feature's
own table, gives on every tiny kind what an independent computation gives, and no kind adapter carries it."""

from __future__ import annotations

import ast
from pathlib import Path

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


# ---- static: no adapter carries a moved feature behaviour, and nothing outside its table switches on it -----------

# feature behaviour that moved from KindAdapter to the feature's own strategy table: member -> the module that owns it
MOVED = {
    "template_scoring": "plm_core/bias/templates.py",
    "template_metric": "plm_core/bias/templates.py",
}


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
            offenders += [f"{rel}: .{m}" for m in _attribute_reads(path) & set(MOVED) if MOVED[m] != rel]
    for path in (ROOT / "plm_core" / "kinds").glob("*.py"):
        offenders += [f"{path.name}: .{m}" for m in _attribute_reads(path) & set(MOVED)]
    assert not offenders, offenders


def test_every_strategy_table_names_registered_kinds_only():
    assert set(templates.TEMPLATE_SCORERS) <= set(KINDS)
