"""Every plotly chart of the app goes through :func:`plotly_chart`: presenter scaling, export for slides, and
:func:`ui.safe.safe_figure` (user text in a chart shown literally, never as plotly's HTML), once per chart.

- Presenter view: inside ``with presenter(True):`` every chart is redrawn by :func:`plm_core.viz.theme.apply`
  at :data:`~plm_core.viz.theme.PRESENTER_SCALE`, so its titles, ticks, legends, hover labels and colour bars
  are at least 0.7 × the presenter body type.
- Export: the chart's modebar camera button saves it in the browser (plotly's client-side export, offline) as
  PNG at 3× the on-screen pixels, or as SVG; the sidebar's "Chart downloads" choice picks the format for every
  chart at once (:func:`export_format_picker`).
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from typing import Any

import plotly.graph_objects as go
import streamlit as st

from plm_core.viz import theme
from plm_core.i18n import N_, _
from ui.safe import safe_figure

FORMAT_KEY = "charts.export_format"
FORMATS = {"png": N_("PNG (3× resolution)"), "svg": N_("SVG (vector)")}
PNG_SCALE = 3  # a 700 px wide chart exports 2100 px wide: sharp on a 4K projector

# set for the duration of one script run by the page that draws a presenter view (a ContextVar: each session
# runs its script in its own thread, and nothing leaks into the next page)
_PRESENTER: ContextVar[Callable[[], bool]] = ContextVar("plm_presenter", default=lambda: False)


@contextlib.contextmanager
def presenter(on: bool | Callable[[], bool]) -> Iterator[None]:
    """Charts drawn inside this block use the presenter scale when ``on`` (a flag, or a function asked at each
    chart: the lessons can switch the view on during the run, from a link)."""
    token = _PRESENTER.set(on if callable(on) else (lambda: bool(on)))
    try:
        yield
    finally:
        _PRESENTER.reset(token)


def presenter_active() -> bool:
    return bool(_PRESENTER.get()())


def export_format() -> str:
    value = st.session_state.get(FORMAT_KEY)
    return value if value in FORMATS else "png"


def export_config(name: str) -> dict[str, Any]:
    """Plotly's ``config``: the camera button saves ``plm-lens-<name>.png|svg`` at presentation resolution."""
    fmt = export_format()
    filename = "plm-lens-" + re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-.")
    return {"toImageButtonOptions": {"format": fmt, "filename": filename, "scale": PNG_SCALE if fmt == "png" else 1},
            "displaylogo": False}


# Streamlit's plotly theme draws ticks, axis titles, legends and colour-bar labels in a grey of 3.72:1 on white
# (measured in Chromium; WCAG AA asks 4.5:1). Drawn in the page's own text colour (currentColor: Streamlit's
# theme sets it, light or dark, so dark mode still follows the viewer's setting) they reach AA in both themes.
# Subplots' tick groups are named x2tick, y3tick…: every g[class$="tick"].
CHART_TEXT_CSS = ('<style>.js-plotly-plot .main-svg .infolayer text, '
                  '.js-plotly-plot .main-svg g[class$="tick"] > text, .js-plotly-plot .main-svg .legendtext, '
                  '.js-plotly-plot .main-svg .cbaxis text, .js-plotly-plot .main-svg .annotation-text '
                  '{ fill: currentColor !important; fill-opacity: 1 !important; }</style>')


def chart_text_contrast() -> None:
    """Draw every chart's text in the theme's text colour (see :data:`CHART_TEXT_CSS`); app.py calls it on every
    run."""
    st.html(CHART_TEXT_CSS)


def plotly_chart(fig: go.Figure, *, key: str, container: Any = None, **kwargs: Any) -> Any:
    """``st.plotly_chart`` with the app's export button, scaled for the presenter view when one is drawn.

    Args:
        key: the chart's widget key (also names the exported file).
        container: where to draw (a column, ``st.sidebar``…); default the current one.
    """
    if presenter_active():
        theme.apply(fig, scale=theme.PRESENTER_SCALE)
    where = container if container is not None else st
    # the last step (it only escapes, never restyles): user text in titles, labels and legends shown literally
    return where.plotly_chart(safe_figure(fig), key=key, config=export_config(key), **kwargs)


def export_format_picker() -> None:
    """Sidebar: the format of every chart's download (camera) button."""
    st.sidebar.radio(_("Chart downloads"), list(FORMATS), format_func=lambda f: _(FORMATS[f]), key=FORMAT_KEY,
                     horizontal=True, help=_("Every chart's camera button (top right of the chart) saves it in this "
                                             "format, in the browser, without a network."))
