"""One record per bias probe: :class:`ProbeSpec` and the registry :data:`PROBE_SPECS` the Bias page iterates.

Each probe's facts live here once: its label, which "New run" form it uses, what it needs of the model, its data
file (loader, upload parser, filter column, sampler, configuration builder), how runs of it are compared across
models (chart axis, reference line, the paired test) and its per-item values. The page asks the spec; it never
branches on a probe's name. Scoring and stored results stay in :mod:`plm_core.bias.jobs`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal

from plm_core.bias import bec_pro, crows_pairs, datasets
from plm_core.i18n import msg

Form = Literal["templates", "dataset", "seat"]
ValuesFn = Callable[[Any], dict[Any, Any]]


@dataclass(frozen=True)
class ProbeData:
    """A probe over a public data file (CrowS-Pairs, BEC-Pro).

    Attributes:
        file: its name in the cache and in a data folder (a key of :data:`plm_core.bias.datasets.SOURCES`).
        tab_separated: TSV (else CSV), as the upload help says.
        load: ``load(path) -> items``.
        parse: ``parse(text) -> items`` of an upload.
        filter_column: the file's column whose values the form filters by (also the stratified sample's default).
        filter_label: the filter's label (``msg``-marked).
        filter_key: the filter widget's key (kept in links).
        public_groups: the public file's values of ``filter_column``, offered before it is downloaded.
        select: ``select(items, chosen values, sample size, *, seed, stratify) -> items``.
        config: ``config(model_id, revision, chosen values, data source, *, data_sha256, sample_size, seed,
            stratify, n_total, n_drawn) -> dict`` stored with the run.
    """

    file: str
    tab_separated: bool
    load: Callable[[Path], tuple]
    parse: Callable[[str], tuple]
    filter_column: str
    filter_label: str
    filter_key: str
    public_groups: tuple[str, ...]
    select: Callable[..., tuple]
    config: Callable[..., dict[str, Any]]


@dataclass(frozen=True)
class ProbeView:
    """How runs of a probe are charted side by side: default breakdown column, y-axis title (``msg``-marked),
    digits, unit suffix, reference line (None: none) and its label, y range (None: automatic)."""

    breakdown: str | None
    y_title: str
    digits: int
    suffix: str
    reference: float | None
    y_range: tuple[float, float] | None
    reference_label: str = ""


@dataclass(frozen=True)
class ProbeSpec:
    """Everything the Bias page knows about one probe.

    Attributes:
        name: the key runs are stored under (``RunInfo.probe``).
        label: display name (``msg``-marked or a proper name; ``tr`` it at display).
        form: the "New run" form: "templates" (the template editor), "dataset" (:attr:`data`), "seat".
        masked_lm: scores a masked language model only (the form says so for another kind; Run refuses).
        view: how its runs are compared across models.
        decisions: its per-item values are decisions (exact McNemar test between models), else scores (Wilcoxon).
        values: ``values(result) -> {item key: value}`` matched across models (:mod:`plm_core.bias.paired`).
        gender_tests: its result has female-vs-male tests per model (BEC-Pro, Bartl et al. 2020).
        data: the public data file of a "dataset" probe, else None.
    """

    name: str
    label: str
    form: Form
    masked_lm: bool
    view: ProbeView
    decisions: bool
    values: ValuesFn
    gender_tests: bool = False
    data: ProbeData | None = None


def _template_values(result: Any) -> dict[Any, Any]:
    return {(r.item if r.item >= 0 else (r.template_index, r.sentence), r.target_label): float(r.score)
            for r in result.rows}


PROBE_SPECS: Mapping[str, ProbeSpec] = MappingProxyType({
    "template": ProbeSpec(
        "template", msg("Templates"), "templates", masked_lm=False, decisions=False,
        view=ProbeView("value · target", msg("mean score"), 4, "", None, None), values=_template_values),
    "crows_pairs": ProbeSpec(
        "crows_pairs", "CrowS-Pairs", "dataset", masked_lm=True, decisions=True,
        view=ProbeView("bias_type", msg("% more-stereotyping preferred"), 1, "%", 50.0, (0.0, 100.0),
                       reference_label=msg("50%: no preference")),
        values=lambda result: {r.index: bool(r.more_higher) for r in result.rows},
        data=ProbeData(
            "crows_pairs/crows_pairs_anonymized.csv", tab_separated=False, load=datasets.load_crows_pairs,
            parse=datasets.parse_crows_pairs, filter_column="bias_type", filter_label=msg("Bias types (none = all)"),
            filter_key="bias.crows_pairs.types",
            public_groups=("age", "disability", "gender", "nationality", "physical-appearance", "race-color",
                           "religion", "sexual-orientation", "socioeconomic"),
            select=crows_pairs.select_pairs,
            config=lambda model_id, revision, chosen, source, **kw: crows_pairs.crows_config(
                model_id, revision, chosen, source, **kw))),
    "bec_pro": ProbeSpec(
        "bec_pro", "BEC-Pro", "dataset", masked_lm=True, decisions=False, gender_tests=True,
        view=ProbeView(bec_pro.GROUP, msg("mean association log(p_target / p_prior)"), 3, "", 0.0, None),
        values=lambda result: {r.index: float(r.association) for r in result.rows},
        data=ProbeData(
            "bec_pro/BEC-Pro_EN.tsv", tab_separated=True, load=datasets.load_bec_pro, parse=datasets.parse_bec_pro,
            filter_column="Prof_Gender", filter_label=msg("Profession groups (none = all)"),
            filter_key="bias.bec_pro.groups", public_groups=("balanced", "female", "male"),
            select=bec_pro.select_rows,
            config=lambda model_id, revision, chosen, source, **kw: bec_pro.bec_config(
                model_id, revision, source, profession_groups=chosen, **kw))),
    "seat": ProbeSpec(
        "seat", "SEAT", "seat", masked_lm=False, decisions=False,
        view=ProbeView(None, msg("effect size d"), 3, "", 0.0, None),
        values=lambda result: {(i.role, i.category, i.index): float(i.association) for i in result.items}),
})
"""Every probe of the Bias page by name, in the order the page lists them."""

NAMES: Mapping[str, str] = MappingProxyType(
    {name: spec.label for name, spec in PROBE_SPECS.items()} | {"evaluate": msg("Evaluation")})
"""Display name of every stored-run probe: the Bias page's and the Evaluate page's."""

__all__ = ["NAMES", "PROBE_SPECS", "ProbeData", "ProbeSpec", "ProbeView"]
