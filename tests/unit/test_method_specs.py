"""One record per attribution method (issue 26, item 2): every list of method facts derives from METHOD_SPECS."""

from __future__ import annotations

import ast
from typing import get_args

import pytest

from helpers import ROOT
from plm_core import attribution as attr
from plm_core.attribution import METHOD_SPECS, MethodSpec, methods_where
from plm_core.attribution.types import AttributionMethodName

NAMES = set(METHOD_SPECS)


def test_the_name_literal_is_the_registry():
    assert get_args(AttributionMethodName) == tuple(METHOD_SPECS)


def test_every_derived_view_equals_the_registry():
    assert all(isinstance(s, MethodSpec) for s in METHOD_SPECS.values())
    assert attr.METHODS == {n: s.fn for n, s in METHOD_SPECS.items()}
    assert attr.METHOD_LABELS == {n: s.label for n, s in METHOD_SPECS.items()}
    assert attr.COMPLETENESS_METHODS == tuple(n for n, s in METHOD_SPECS.items() if s.completeness)
    assert attr.ATTENTION_METHODS == tuple(n for n, s in METHOD_SPECS.items() if s.attention)
    assert methods_where(sampling=True, uses_baseline=True) == tuple(
        n for n, s in METHOD_SPECS.items() if s.sampling and s.uses_baseline)
    # facts the old parallel tuples stated (kept as they were: behaviour unchanged)
    assert attr.COMPLETENESS_METHODS == ("integrated_gradients", "deeplift", "gradient_shap", "kernel_shap")
    assert methods_where(sampling=True) == ("gradient_shap", "kernel_shap", "lime")
    assert methods_where(changes_model=True) == ("deeplift",)
    assert methods_where(steps=True) == ("integrated_gradients",)
    assert methods_where(uses_baseline=True) == ("integrated_gradients", "deeplift", "gradient_shap", "occlusion",
                                                 "kernel_shap", "lime")


# the token-forward counts the estimate used before the registry (one dict in _work), as an oracle
def _old_passes(n, steps, samples):
    grad = 3.0
    return {"integrated_gradients": grad * (steps or 50) + 2 + (0 if steps else 8 + 1),
            "saliency": grad + 2, "input_x_gradient": grad + 2, "deeplift": 2 * grad + 2,
            "gradient_shap": grad * (samples or 256) + 2, "occlusion": n + 3, "kernel_shap": (samples or 256) + 2,
            "lime": (samples or 256) + 2, "attention_last_layer": 3, "attention_rollout": 3}


@pytest.mark.parametrize("steps,samples", [(None, None), (16, 64)])
@pytest.mark.parametrize("n", [1, 12, 200])
def test_costs_equal_the_former_estimate(n, steps, samples):
    old = _old_passes(n, steps, samples)
    assert {m: s.cost(n, steps, samples) for m, s in METHOD_SPECS.items()} == old


def _method_literals(node: ast.AST) -> int:
    """How many method names a tuple/list/set literal or a dict's keys spell out."""
    elts = node.keys if isinstance(node, ast.Dict) else getattr(node, "elts", [])
    return sum(isinstance(e, ast.Constant) and e.value in NAMES for e in elts)


def test_no_parallel_list_of_methods():
    """A second list of method names (a set of 'completeness methods', a cost dict, a page's choices) is refused:
    add a field to MethodSpec instead. Only the registry and the name Literal (checked above) spell them out."""
    allowed = {ROOT / "plm_core" / "attribution" / "specs.py", ROOT / "plm_core" / "attribution" / "types.py"}
    found = []
    for path in [*(ROOT / "plm_core").rglob("*.py"), *(ROOT / "ui").rglob("*.py"), *(ROOT / "pages").rglob("*.py"),
                 *(ROOT / "benchmarks").rglob("*.py"), ROOT / "app.py"]:
        if path in allowed:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.Tuple, ast.List, ast.Set, ast.Dict)) and _method_literals(node) >= 2:
                found.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert not found, found
