"""Issue 26, item 3: every tolerance lives in ``plm_core.tolerances``; a guard fails if a second one appears,
and each "equals the model" tolerance stays well above what the tiny models measure (float32 rounding)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from plm_core import tolerances
from plm_core.attention import query_key
from plm_core.lessons import compute
from plm_core.neuron_view import neuron_view

ROOT = Path(__file__).resolve().parents[2]
TEXT = "the cat sat on the mat because it was tired"


def test_no_tolerance_is_defined_outside_plm_core_tolerances():
    pattern = re.compile(r"^\s*[A-Z_]*TOL(?:ERANCE)?[A-Z_]*\s*=\s*[0-9.]+(?:e-?\d+)?\b", re.M)
    found = [str(p.relative_to(ROOT)) for d in ("plm_core", "ui", "pages") for p in (ROOT / d).rglob("*.py")
             if p.name != "tolerances.py" and pattern.search(p.read_text(encoding="utf-8"))]
    found += [str(p) for p in [ROOT / "app.py"] if pattern.search(p.read_text(encoding="utf-8"))]
    assert not found, found


def test_check_equal_is_only_called_with_a_named_tolerance():
    """Every ``check_equal(...)`` in the app passes ``tolerances.<NAME>``, never a number of its own."""
    calls = []
    for d in ("ui", "pages"):
        for p in (ROOT / d).rglob("*.py"):
            text = p.read_text(encoding="utf-8")
            for m in re.finditer(r"(?<!def )check_equal\((.*?)\)[ \t]*(?:#[^\n]*)?\n", text, re.S):
                calls.append((p.name, m.group(1)))
    assert calls
    last = [(name, args.rsplit(",", 1)[-1].strip()) for name, args in calls]
    bad = [c for c in last if not re.match(r"tolerances\.[A-Z_]+\b", c[1])]
    assert not bad, bad


def test_equals_the_model_tolerances_stand_above_what_is_measured(tiny_handles):
    """Measured max |difference| on tiny models: at least 10x below each tolerance (rounding, not a formula)."""
    for kind in ("masked_lm", "causal_lm", "qwen3", "gemma2"):
        handle = tiny_handles[kind]
        qk = query_key(handle, TEXT, 0, 0)
        assert qk.max_abs_diff <= tolerances.PROBS / 10, (kind, qk.max_abs_diff)
        nv = neuron_view(qk, 2)
        vis = np.array(nv.visible)
        assert np.max(np.abs(nv.scores[vis] - qk.scores[2][vis])) <= tolerances.SCORE_ROW / 10, kind
        steps = compute.attention_steps(handle, TEXT, 0, 0)
        assert steps.probs_diff <= tolerances.PROBS / 10 and steps.context_diff <= tolerances.VECTORS / 10, kind
