"""Two models on the same items: each probe's per-item values, matched by item, and the paired test between the
models (exact McNemar on CrowS-Pairs decisions, Wilcoxon signed-rank on scores; ``plm_core.bias.stats``)."""

from __future__ import annotations

from typing import Any

from plm_core.bias import stats
from plm_core.bias.probes import PROBE_SPECS


def item_values(probe: str, result: Any) -> tuple[str, dict[Any, Any]]:
    """("decisions" | "scores", {item key: value}) of a probe's result.

    CrowS-Pairs: per pair, whether the more-stereotyping sentence wins (the decision the metric counts);
    BEC-Pro: per sentence, its association; templates: per filled sentence and target, its score; SEAT: per
    target/attribute sentence, its association.

    Raises:
        ValueError: an unknown probe.
    """
    spec = PROBE_SPECS.get(probe)
    if spec is None:
        raise ValueError(f"unknown probe {probe!r}")
    return ("decisions" if spec.decisions else "scores"), spec.values(result)


def compare_models(probe: str, result_a: Any, result_b: Any, label_a: str, label_b: str) -> stats.ModelComparison:
    """The paired test of two runs of ``probe`` on the items both scored (matched by item, not by position):
    McNemar for CrowS-Pairs decisions, Wilcoxon for scores, with the t interval of the mean difference a − b."""
    kind, a = item_values(probe, result_a)
    _kind, b = item_values(probe, result_b)
    keys = [k for k in a if k in b]
    x, y = [a[k] for k in keys], [b[k] for k in keys]
    if kind == "decisions":
        return stats.compare_decisions(label_a, label_b, x, y)
    return stats.compare_scores(label_a, label_b, x, y)


__all__ = ["compare_models", "item_values"]
