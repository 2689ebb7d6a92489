"""Seeded random samples of a data set, stratified by group, instead of "the first N rows".

Data files are often sorted by group (the first 200 BEC-Pro rows are all male professions), so a quick run on
the first rows measures one group. :func:`sample_items` draws a simple random sample within each stratum, with
the strata's sizes proportional to the data (largest-remainder allocation, the rule scikit-learn's stratified
splitters use), from ``numpy.random.default_rng(seed)``: the same seed gives the same sample on any machine.

Items that belong together (a BEC-Pro sentence and its other-gender counterpart) can be drawn as one unit,
so the paired test keeps its pairs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import numpy as np

from plm_core.errors import InvalidInputError

T = TypeVar("T")


def allocate(sizes: Sequence[int], total: int) -> list[int]:
    """How many of ``total`` to draw from strata of ``sizes``: proportional, rounded by largest remainder
    (ties to the larger, then the earlier stratum), never more than a stratum holds."""
    sizes = [int(s) for s in sizes]
    n = sum(sizes)
    total = min(int(total), n)
    if n == 0 or total <= 0:
        return [0] * len(sizes)
    exact = [s * total / n for s in sizes]
    out = [int(np.floor(e)) for e in exact]
    order = sorted(range(len(sizes)), key=lambda i: (-(exact[i] - out[i]), -sizes[i], i))
    for i in order[:total - sum(out)]:
        out[i] += 1
    return out


def sample_items(items: Sequence[T], size: int | None, *, seed: int = 0,
                 strata: Callable[[T], Any] | None = None, units: Callable[[T], Any] | None = None) -> tuple[T, ...]:
    """A seeded random sample of ``items``, in random order.

    Args:
        items: the data set.
        size: items to draw (None or >= len(items): all of them, shuffled). With ``units`` the sample holds
            whole units: ``round(size / mean unit size)`` of them.
        seed: seed of ``numpy.random.default_rng``.
        strata: group of an item (e.g. its bias type); each stratum gets its proportional share.
        units: key of the unit an item belongs to; units are drawn whole (their stratum is that of their
            first item).

    Returns:
        The sampled items, units kept together, in a seeded random order (so a run stopped early is itself a
        random sample).

    Raises:
        InvalidInputError: ``size`` is not positive.
    """
    if size is not None and size <= 0:
        raise InvalidInputError(f"the sample size must be positive, not {size}")
    rng = np.random.default_rng(seed)
    # units in first-appearance order
    groups: dict[Any, list[T]] = {}
    for i, item in enumerate(items):
        groups.setdefault(units(item) if units else i, []).append(item)
    unit_list = list(groups.values())
    if size is None or size >= len(items):
        chosen = list(range(len(unit_list)))
    else:
        n_units = max(1, round(size * len(unit_list) / max(1, len(items))))
        by_stratum: dict[Any, list[int]] = {}
        for u, members in enumerate(unit_list):
            by_stratum.setdefault(strata(members[0]) if strata else "", []).append(u)
        keys = list(by_stratum)
        counts = allocate([len(by_stratum[k]) for k in keys], n_units)
        chosen = []
        for k, c in zip(keys, counts):
            if c:
                chosen += [by_stratum[k][j] for j in rng.choice(len(by_stratum[k]), size=c, replace=False)]
    order = rng.permutation(len(chosen))
    return tuple(item for j in order for item in unit_list[chosen[j]])


def describe_sample(size: int | None, seed: int, stratify: str | None, n_total: int, n_drawn: int) -> str:
    """One line for captions and exports: what was drawn, from what, how."""
    if size is None or n_drawn >= n_total:
        return f"all {n_total:,} items (order shuffled with seed {seed})"
    by = f", stratified by {stratify}" if stratify else ""
    return f"random sample of {n_drawn:,} of {n_total:,} items (seed {seed}{by})"


__all__ = ["allocate", "describe_sample", "sample_items"]
