"""Every chart on every page carries the app's export button settings (ui/charts.py): PNG at 3× or SVG, chosen once
in the sidebar, and the app's theme (plm_core/viz/theme.py)."""

from __future__ import annotations

import json

import pytest
from helpers import open_page

from plm_core.viz import theme

PAGES = [  # page, query, charts at least
    ("pages/attention.py", {}, 1),
    ("pages/masking.py", {"masking.text": "the cat sat on the mat", "masking.masks": "cat", "masking.sweep": "true"}, 2),
    ("pages/compare.py", {}, 2),
    ("pages/lessons.py", {"lessons.step": "2", "lessons.reveal.1.2": "true"}, 2),
]


def _charts(at) -> list[tuple[dict, dict]]:
    return [(json.loads(c.proto.spec), json.loads(c.proto.config)) for c in at.get("plotly_chart")]


@pytest.mark.parametrize("page, query, n", PAGES, ids=[p[0].split("/")[1] for p in PAGES])
def test_every_chart_exports_for_slides(app_factory, tiny_dirs, page, query, n):
    at = open_page(app_factory, tiny_dirs["encoder"], page, query)
    charts = _charts(at)
    assert len(charts) >= n
    for spec, config in charts:
        options = config["toImageButtonOptions"]
        assert options["format"] == "png" and options["scale"] == 3 and options["filename"].startswith("plm-lens-")
        assert spec["layout"]["meta"][theme.META], "a chart drawn without the theme"
    at.radio(key="charts.export_format").set_value("svg").run()
    assert not at.exception
    for _, config in _charts(at):
        assert config["toImageButtonOptions"]["format"] == "svg" and config["toImageButtonOptions"]["scale"] == 1


def test_presenter_view_scales_every_chart(app_factory, tiny_dirs):
    query = {"lessons.step": "2", "lessons.reveal.1.2": "true"}
    at = open_page(app_factory, tiny_dirs["encoder"], "pages/lessons.py", query)
    normal = {s["layout"]["title"]["text"]: s["layout"] for s, _ in _charts(at)}
    at = open_page(app_factory, tiny_dirs["encoder"], "pages/lessons.py", query | {"lessons.presenter": "true"})
    presenter = {s["layout"]["title"]["text"]: s["layout"] for s, _ in _charts(at)}
    assert presenter.keys() == normal.keys() and presenter
    for title, layout in presenter.items():
        assert layout["font"]["size"] == theme.size("tick", theme.PRESENTER_SCALE) > normal[title]["font"]["size"]
        assert layout["title"]["font"]["size"] >= 0.7 * theme.PRESENTER_BODY_PX
        assert layout["height"] > normal[title]["height"]
