"""One record per bias probe (issue 26, item 2): the Bias page iterates PROBE_SPECS, never branches on a name."""

from __future__ import annotations

import re

import pytest

from helpers import ROOT
from plm_core.bias import bec_pro, crows_pairs, datasets, paired
from plm_core.bias.probes import PROBE_SPECS

BRANCH = re.compile(r"""\bprobe\s*(==|!=)\s*["']|\bprobe\s+(not\s+)?in\s*[(\[{]""")


def test_the_bias_page_never_branches_on_a_probe_name():
    found = []
    for path in [*(ROOT / "ui").glob("bias*.py"), ROOT / "pages" / "bias.py"]:
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if BRANCH.search(line):
                found.append(f"{path.relative_to(ROOT)}:{n}: {line.strip()}")
    assert not found, "\n".join(found)


@pytest.mark.parametrize("name", [n for n, s in PROBE_SPECS.items() if s.data])
def test_public_groups_are_the_public_files(shared_data, name):
    data = PROBE_SPECS[name].data
    assert data.file in datasets.SOURCES
    items = data.load(shared_data / data.file)
    assert tuple(datasets.column_values(items, data.filter_column)) == data.public_groups
    assert data.filter_column in datasets.data_columns(name, items)


def test_config_builders_equal_the_probes_own():
    kw = dict(data_sha256="ab", sample_size=10, seed=3, stratify=None, n_total=100, n_drawn=10)
    assert PROBE_SPECS["crows_pairs"].data.config("m", "r", ["age"], "src", **kw) == \
        crows_pairs.crows_config("m", "r", ["age"], "src", **kw)
    assert PROBE_SPECS["bec_pro"].data.config("m", "r", ["male"], "src", **kw) == \
        bec_pro.bec_config("m", "r", "src", profession_groups=["male"], **kw)
    with pytest.raises(ValueError, match="unknown probe"):
        paired.item_values("nope", None)
