"""The app's one plotly look: font sizes, margins, title and legend placement, and colours with one meaning.

Every figure builder in ``plm_core.viz`` ends with :func:`apply`. Streamlit's own chart theme (``theme="streamlit"``)
still supplies the font family and every text and background colour, so charts follow the light or dark theme;
what it would otherwise decide (sizes, title and legend positions) is written into the figure's own layout here,
because explicit layout values win over any template.

Layout rules, the same at every width (a 390 px phone to a 1920 px projector):

- the title sits at the top left of the figure (container coordinates) and the top margin is its height (known
  here: its lines × size); long titles are wrapped, since plotly never wraps them and cuts them on a phone
  (``title.automargin`` is not used: it shifts a wrapped title's first line out of the figure);
- the legend, when there is one, is horizontal, directly under the title, in container coordinates: plotly
  reserves the space down to the legend's bottom (``_reservedMargin``) however many rows it wraps into, so it can
  never sit on the title, the plot, the axis titles or the tick labels;
- axis titles are wrapped to the length of their axis; colour bars stay on the right, where they push the margin.

Colours have one meaning on every page (issue 16, item 4):

- **diverging** (:data:`DIVERGING`, ColorBrewer RdBu reversed): blue = negative / lowers, white = 0,
  red = positive / raises; every signed colour bar says so in its title (:func:`signed_title`);
- **sequential** (:data:`SEQUENTIAL`, viridis) for magnitudes that cannot be negative (attention weights,
  probabilities), so blue never means "small" in one chart and "negative" in the next;
- **categorical** (:data:`CATEGORICAL`, ColorBrewer Dark2) for named series; it has no pure red or blue.

Presenter view: :func:`apply` with ``scale`` > 1 redraws the same figure with every text size multiplied (and the
height grown), so chart text keeps pace with the presenter's body type (:data:`PRESENTER_SCALE`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

import plotly.graph_objects as go

# ---------------------------------------------------------------------------------------------- colours ----

NEGATIVE = "#2166ac"  # blue: a negative value; a token that lowers the explained output
POSITIVE = "#b2182b"  # red: a positive value; a token that raises it
NEUTRAL = "#f7f7f7"  # zero
# ColorBrewer RdBu (11 classes), reversed so that low = blue and high = red
_RDBU_R = ("#053061", "#2166ac", "#4393c3", "#92c5de", "#d1e5f0", "#f7f7f7",
           "#fddbc7", "#f4a582", "#d6604d", "#b2182b", "#67001f")
DIVERGING: list[list[Any]] = [[i / (len(_RDBU_R) - 1), c] for i, c in enumerate(_RDBU_R)]
SEQUENTIAL = "Viridis"
# ColorBrewer Dark2: readable on white and on a dark background, and no pure red or blue
CATEGORICAL = ("#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e", "#e6ab02", "#a6761d", "#666666")
MUTED = "#9aa5b1"  # a "before" or reference series next to a categorical one
MARKER = "#8c8c8c"  # points and markers drawn over bars: visible on white and on a dark background


def signed_title(name: str, positive: str = "+", negative: str = "−") -> str:
    """A colour-bar or axis title that says the sign of the diverging colours, e.g. ``score · red +, blue −``."""
    return f"{name}<br>red {positive}<br>blue {negative}"


def sign_color(value: float) -> str:
    """The bar colour of a signed value: red for ≥ 0, blue below."""
    return POSITIVE if value >= 0 else NEGATIVE


def rgba(hex_color: str, alpha: float) -> str:
    """``#rrggbb`` with an alpha, as CSS/plotly ``rgba(r,g,b,a)``."""
    r, g, b = (int(hex_color[i:i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r},{g},{b},{alpha:.3f})"


# ------------------------------------------------------------------------------------------------ sizes ----

# Text sizes in px at scale 1 (the page's 16 px body text).
FONT = {"title": 16, "axis_title": 14, "tick": 12, "legend": 13, "hover": 13, "annotation": 13, "text": 12}
# Lessons' presenter view sets body text to 1.75rem = 28 px; chart text must be at least 0.7 of it.
PRESENTER_BODY_PX = 28
PRESENTER_SCALE = math.ceil(PRESENTER_BODY_PX * 0.7 / min(FONT.values()) * 10) / 10  # 1.7: 12 px ticks → 20 px
TITLE_CHARS = 44  # wrap titles longer than this (a 16 px bold title fills a 390 px phone at ~44 characters)
LINE = 1.3  # plotly's line spacing (em)
_PAD = 6  # px between the figure's top, the title, the legend and the plot (× scale)
_MARGIN = 8  # px left, right and bottom (axis automargin adds what ticks and titles need)
META = "plm_theme"


def size(part: str, scale: float = 1.0) -> int:
    """Font size in px of a chart part ("title", "tick", …) at ``scale``."""
    return int(round(FONT[part] * scale))


def wrap(text: str, width: int) -> str:
    """Break ``text`` at spaces into lines of at most ``width`` characters, joined with ``<br>``.

    Existing ``<br>`` breaks are kept; a word longer than ``width`` stays whole on its own line. A line broken here
    keeps its space before the ``<br>``, so the chart's text (what a screen reader or a search reads) is still
    "cosine similarity", not "cosinesimilarity".
    """
    out = []
    for para in re.split(r"<br\s*/?>", text):
        line = ""
        for word in para.split(" "):
            if line and len(_visible(line)) + 1 + len(_visible(word)) > width:
                out.append(line + " ")
                line = word
            else:
                line = f"{line} {word}" if line else word
        out.append(line)
    return "<br>".join(out)


def _visible(text: str) -> str:
    return re.sub(r"<[^>]+>", "", text)


def _lines(text: str | None) -> int:
    return 0 if not text else len(re.split(r"<br\s*/?>", text))


def _legend_items(fig: go.Figure) -> int:
    if fig.layout.showlegend is False:
        return 0
    shown = [t for t in fig.data if t.showlegend is not False and t.type not in ("heatmap", "contour", "histogram2d")]
    if fig.layout.showlegend is None and len(shown) < 2:
        return 0
    return len(shown)


def _base(fig: go.Figure) -> dict[str, Any]:
    """What the builder asked for, kept in ``layout.meta`` so that :func:`apply` can be called again."""
    meta = fig.layout.meta if isinstance(fig.layout.meta, Mapping) else {}
    if META in meta:
        return dict(meta[META])
    title = fig.layout.title.text
    base = {"height": fig.layout.height or 450, "title": title,
            "xtitles": {}, "ytitles": {}, "margin_t": fig.layout.margin.t}
    for axis in fig.select_xaxes():
        base["xtitles"][axis.plotly_name] = axis.title.text
    for axis in fig.select_yaxes():
        base["ytitles"][axis.plotly_name] = axis.title.text
    return base


def apply(fig: go.Figure, *, scale: float = 1.0) -> go.Figure:
    """Give ``fig`` the app's look at ``scale`` (1 = the normal page, :data:`PRESENTER_SCALE` = presenter view).

    Idempotent: the builder's own title, axis titles and height are remembered in ``layout.meta`` the first time,
    so a figure can be re-applied at another scale. Returns ``fig`` (changed in place).
    """
    base = _base(fig)
    height = int(round(base["height"] * (1 + 0.6 * (scale - 1))))
    pad = _PAD * scale
    title_px = size("title", scale)
    title = wrap(base["title"], TITLE_CHARS) if base["title"] else None
    block = pad + (_lines(title) * LINE * title_px + pad if title else 0)  # px from the top down to the legend
    fig.update_layout(
        height=height,
        font={"size": size("tick", scale)},
        colorway=list(CATEGORICAL),
        title={"text": title, "font": {"size": title_px}, "x": 0, "xref": "container", "xanchor": "left",
               "y": 1, "yref": "container", "yanchor": "top", "automargin": False,
               # plotly centres a wrapped title's lines on its anchor: move it down by half the extra lines
               "pad": {"t": pad + (_lines(title) - 1) * LINE * title_px / 2, "l": 2 * pad, "b": 0, "r": 0}},
        hoverlabel={"font": {"size": size("hover", scale)}},
        meta={META: base},
    )
    # subplot titles (annotations at the top of each subplot) need room under the figure title
    top_notes = [a for a in fig.layout.annotations if a.yref == "paper" and (a.y or 0) >= 1]
    extra = (LINE * size("annotation", scale) + pad) if top_notes else 0
    fig.update_layout(margin={"l": _MARGIN, "r": _MARGIN, "b": _MARGIN,
                              "t": int(block + extra + (pad if not title else 0)), "pad": 2, "autoexpand": True})
    if _legend_items(fig):
        fig.update_layout(
            showlegend=True,
            legend={"orientation": "h", "x": 0, "xref": "container", "xanchor": "left",
                    "y": max(0.0, 1 - block / height), "yref": "container", "yanchor": "top",
                    "font": {"size": size("legend", scale)}, "title": {"font": {"size": size("legend", scale)}},
                    "tracegroupgap": 0, "bgcolor": "rgba(0,0,0,0)", "borderwidth": 0},
        )
    plot_h = max(120, height - block - 120)
    for axis in fig.select_xaxes():
        text = base["xtitles"].get(axis.plotly_name)
        axis.update(tickfont={"size": size("tick", scale)}, automargin=True,
                    title={"text": wrap(text, TITLE_CHARS + 12) if text else text,
                           "font": {"size": size("axis_title", scale)}})
    for axis in fig.select_yaxes():
        text = base["ytitles"].get(axis.plotly_name)
        chars = max(14, int(plot_h / (0.55 * size("axis_title", scale))))
        axis.update(tickfont={"size": size("tick", scale)}, automargin=True,
                    title={"text": wrap(text, chars) if text else text,
                           "font": {"size": size("axis_title", scale)}})
    for note in fig.layout.annotations:
        note.update(font={"size": size("annotation", scale)})
    colorbar_font = {"tickfont": {"size": size("tick", scale)}, "title": {"font": {"size": size("axis_title", scale)}}}
    if fig.layout.coloraxis.showscale is not False and fig.layout.coloraxis.colorscale is not None:
        fig.update_layout(coloraxis={"colorbar": colorbar_font})
    for trace in fig.data:
        if "colorbar" in trace:
            trace.update(colorbar=colorbar_font)
        if "textfont" in trace and (getattr(trace, "text", None) is not None
                                    or getattr(trace, "texttemplate", None) is not None):
            trace.update(textfont={"size": size("text", scale)})
        if trace.type == "bar" and getattr(trace, "text", None) is not None:
            trace.update(cliponaxis=False)
    return fig


def is_applied(fig: go.Figure, scale: float = 1.0) -> bool:
    """True when ``fig`` carries the theme at ``scale``: its marker, sizes, title and legend placement."""
    meta = fig.layout.meta if isinstance(fig.layout.meta, Mapping) else {}
    if META not in meta:
        return False
    ok = (fig.layout.font.size == size("tick", scale) and tuple(fig.layout.colorway or ()) == CATEGORICAL
          and (not fig.layout.title.text or (fig.layout.title.yref == "container"
                                              and fig.layout.title.font.size == size("title", scale))))
    if _legend_items(fig):
        ok = ok and fig.layout.legend.orientation == "h" and fig.layout.legend.yref == "container" \
            and fig.layout.legend.font.size == size("legend", scale)
    return bool(ok)


def colorscales(fig: go.Figure) -> list[tuple[str, Any, Any]]:
    """Every colour scale a figure uses: (where, colorscale, zmid) for tests and checks."""
    out = []
    for trace in fig.data:
        if "colorscale" in trace and trace.colorscale is not None and trace.coloraxis is None:
            out.append((f"{trace.type}:{trace.name}", trace.colorscale, getattr(trace, "zmid", None)))
    if fig.layout.coloraxis.colorscale is not None and any(getattr(t, "coloraxis", None) for t in fig.data):
        out.append(("coloraxis", fig.layout.coloraxis.colorscale, fig.layout.coloraxis.cmid))
    return out
