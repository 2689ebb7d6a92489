"""plm_core.viz.theme: every figure builder uses the one template and the one diverging scale (issues 13 and 16).

The figures come from the real core functions on tiny models (tests/viz_samples.py), one per builder.
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import pytest

from plm_core.viz import theme
from viz_samples import builders, figures_of, sample_figures


@pytest.fixture(scope="module")
def samples(tiny_handles):
    return {name: figures_of(make()) for name, make in sample_figures(tiny_handles["encoder"],
                                                                       tiny_handles["masked_lm"],
                                                                       tiny_handles["causal_lm"]).items()}


def test_every_builder_has_a_sample():
    names = set(sample_figures(None, None))
    missing = [b for b in builders() if not any(n == b or n.startswith(b + ":") for n in names)]
    assert not missing, f"figure builders without a sample in tests/viz_samples.py: {missing}"
    assert len(builders()) >= 20


def _signed(fig: go.Figure) -> bool:
    """Does the figure show values of both signs as colours (a heatmap over negative and positive values)?"""
    for trace in fig.data:
        if trace.type == "heatmap" and trace.z is not None:
            z = np.asarray([[np.nan if v is None else v for v in row] for row in trace.z], float)
            if np.nanmin(z) < 0 < np.nanmax(z):
                return True
    return False


def test_every_figure_uses_the_template(samples):
    for name, figs in samples.items():
        for fig in figs:
            assert theme.is_applied(fig), f"{name} does not end with theme.apply()"
            assert fig.layout.colorway == theme.CATEGORICAL, name
            # the title never has its own "auto" position (it would sit on the legend)
            if fig.layout.title.text:
                assert fig.layout.title.yref == "container" and fig.layout.title.yanchor == "top", name
            if fig.layout.showlegend:
                legend = fig.layout.legend
                assert legend.orientation == "h" and legend.yref == "container" and legend.yanchor == "top", name
                # under the title: the legend's top is at least the title's height below the figure's top
                title_px = theme._lines(fig.layout.title.text) * theme.LINE * fig.layout.title.font.size
                assert (1 - legend.y) * fig.layout.height >= title_px, name


def test_signed_colours_use_the_one_diverging_scale(samples):
    seen_signed = 0
    for name, figs in samples.items():
        for fig in figs:
            for where, scale, zmid in theme.colorscales(fig):
                as_list = [list(s) for s in scale] if not isinstance(scale, str) else scale
                if isinstance(as_list, list) and as_list == [list(s) for s in theme.DIVERGING]:
                    seen_signed += 1
                    assert zmid == 0, f"{name} {where}: the diverging scale must be centred on 0"
                    bar = next(t.colorbar.title.text for t in fig.data if t.type == "heatmap")
                    assert "red" in bar and "blue" in bar, f"{name}: colour bar {bar!r} does not say the sign"
                elif _signed(fig):
                    pytest.fail(f"{name} {where}: signed values drawn with {scale!r}, not theme.DIVERGING")
                else:  # magnitudes (weights, probabilities) or 0/1 categories: never red/blue-diverging
                    assert not (isinstance(scale, str) and "rdbu" in scale.lower()), f"{name} {where}: {scale}"
            for trace in fig.data:  # signed bars: red positive, blue negative
                colors = getattr(getattr(trace, "marker", None), "color", None)
                values = trace.x if trace.type == "bar" and trace.orientation == "h" else getattr(trace, "y", None)
                if trace.type == "bar" and isinstance(colors, tuple) and values is not None:
                    ys = np.asarray(values, float)
                    if set(colors) <= {theme.POSITIVE, theme.NEGATIVE}:
                        assert all(c == theme.sign_color(v) for c, v in zip(colors, ys)), name
    assert seen_signed >= 5  # signed heatmap, query-key scores, methods, agreement, vectors


def test_red_means_positive_everywhere():
    low, high = theme.DIVERGING[0][1], theme.DIVERGING[-1][1]
    r, g, b = (int(low[i:i + 2], 16) for i in (1, 3, 5))
    assert b > r, "the low end of the diverging scale must be blue"
    r, g, b = (int(high[i:i + 2], 16) for i in (1, 3, 5))
    assert r > b, "the high end of the diverging scale must be red"
    assert theme.sign_color(0.3) == theme.POSITIVE and theme.sign_color(-0.3) == theme.NEGATIVE
    assert not {c.lower() for c in theme.CATEGORICAL} & {theme.POSITIVE, theme.NEGATIVE}


def test_no_raw_method_ids_or_placeholders_on_screen(samples):
    raw = ("integrated_gradients", "input_x_gradient", "gradient_shap", "kernel_shap", "{x}", "{a}", "{mask}")

    def texts(fig: go.Figure):
        yield fig.layout.title.text or ""
        for trace in fig.data:
            yield str(trace.name or "")
            for axis in ("x", "y"):
                values = getattr(trace, axis, None)
                if values is not None and len(values) and isinstance(values[0], str):
                    yield from values
            yield str(getattr(getattr(trace, "colorbar", None), "title", {}) or "")
        for axis in [*fig.select_xaxes(), *fig.select_yaxes()]:
            yield axis.title.text or ""

    for name, figs in samples.items():
        for fig in figs:
            shown = " ".join(texts(fig))
            for word in raw:
                assert word not in shown, f"{name} shows {word!r}"


def test_statistic_symbol_on_the_colour_bar():
    assert theme.is_applied(theme.apply(go.Figure()))  # an empty figure too
    from plm_core.viz.attribution_plots import agreement_heatmap

    m = np.array([[1.0, 0.2], [0.2, 1.0]])
    assert agreement_heatmap(["saliency", "lime"], m, "Kendall", statistic="τ").data[0].colorbar.title.text \
        .startswith("τ")
    assert agreement_heatmap(["saliency", "lime"], m, "Spearman").data[0].colorbar.title.text.startswith("ρ")


def test_presenter_scale_reaches_seven_tenths_of_the_body(samples):
    assert min(theme.FONT.values()) * theme.PRESENTER_SCALE >= 0.7 * theme.PRESENTER_BODY_PX
    fig = samples["attention_plots.token_flow_figure"][0]
    height = fig.layout.height
    theme.apply(fig, scale=theme.PRESENTER_SCALE)
    assert theme.is_applied(fig, theme.PRESENTER_SCALE)
    floor = 0.7 * theme.PRESENTER_BODY_PX
    assert fig.layout.font.size >= floor and fig.layout.title.font.size >= floor
    assert fig.layout.legend.font.size >= floor and fig.layout.hoverlabel.font.size >= floor
    assert fig.layout.xaxis.tickfont.size >= floor and fig.layout.yaxis.title.font.size >= floor
    assert fig.layout.height > height
    theme.apply(fig)  # and back: the builder's own values were kept
    assert fig.layout.height == height and theme.is_applied(fig)


@pytest.mark.parametrize("text, width, expected", [
    ("a b c", 10, "a b c"),
    ("attention of the chosen tokens in layer five", 20, "attention of the <br>chosen tokens in <br>layer five"),
    ("one<br>two three", 5, "one<br>two <br>three"),
    ("unbreakablewordthatislong x", 8, "unbreakablewordthatislong <br>x"),
])
def test_wrap(text, width, expected):
    assert theme.wrap(text, width) == expected


@pytest.mark.parametrize("template, shown", [
    ("this is {a} {x}.", "this is a/an ___."),
    ("{mask} works as {a} {x}.", "[MASK] works as a/an ___."),
    ("the [JOB] said that [MASK] was late.", "the ___ said that [MASK] was late."),
])
def test_template_labels(template, shown):
    from plm_core.viz.lesson_plots import template_label

    assert template_label(template) == shown


@pytest.mark.parametrize("view", ["head", "model"])
def test_bertviz_follows_the_page_theme(tiny_mlm, view):
    from plm_core.attention import extract_attention
    from plm_core.viz.bertviz_html import bertviz_html

    html = bertviz_html(extract_attention(tiny_mlm, "the cat sat"), view)
    # labels take the page's text colour (bertviz writes fill="black"), the frame the page's background
    assert "#vis svg text { fill: var(--plm-fg); }" in html and "background: var(--plm-bg)" in html
    assert "window.parent.getComputedStyle" in html and "prefers-color-scheme: dark" in html
    assert html.index("PLM_DARK") < html.index("requirejs(")  # the theme is chosen before bertviz draws
    assert ('id="plm-scroll-note"' in html) == (view == "model")
