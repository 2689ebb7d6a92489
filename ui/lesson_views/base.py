"""What every lesson view shares: the step's context, the view record, the containers the presenter view hides
(with its CSS, the one place for it) and the static table the presenter view scales."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import streamlit as st

from plm_core.i18n import _, _p
from plm_core.lessons.content import Lang, Lesson, Step
from plm_core.loading import ModelSpec
from plm_core.model_info import ModelInfo
from plm_core.types import Encoding
from plm_core.lens import Lens
from ui import lessons  # the lessons' compositions of lens methods
from ui.lens import get_lens
from ui import text as ui_text
from ui.safe import md


@dataclass
class Ctx:
    """One run of one step: the model, the lesson and step, and the shared inputs (text, layer, head)."""

    spec: ModelSpec
    info: ModelInfo  # what the step may know about the model (it runs through ui.lessons and ui.handles)
    lesson: Lesson
    step: Step
    step_index: int  # 0-based (the URL's lessons.step is 1-based)
    lang: Lang
    presenter: bool
    text: str
    layer: int
    head: int
    units: ui_text.Units = ui_text.Units(False)

    @property
    def lens(self) -> Lens:
        """The lens on this step's model (:func:`ui.lens.get_lens`)."""
        return get_lens(self.spec)

    def words(self, encoding: Encoding) -> Encoding | None:
        """The word-level encoding in word view (the switch), None in token view."""
        return self.units.of(encoding)


@dataclass(frozen=True)
class View:
    """A step's live view, looked up by the step's view name (:attr:`plm_core.lessons.content.Step.view`)."""

    render: Callable[[Ctx], None]
    uses_text: bool = True  # reads the lesson's text box (else the box is hidden; its value stays in the link)
    before_reveal: bool = False  # the view IS the step's input: shown before the guess is revealed
    hidden_inputs: Callable[[], object] | None = None  # inputs it reads that another step shows: drawn hidden first


CONTROLS = "lessons-ctl-"  # key prefix of the containers the presenter view hides (CSS class st-key-…)
HIDDEN = "lessons-hidden"  # a container never shown: inputs a step does not use, kept in the URL
HIDDEN_CSS = f'<style>[class*="st-key-{HIDDEN}"] {{ display: none !important; }}</style>'
PRESENTER_CSS = f"""
<style>
[class*="st-key-{CONTROLS}"],
[data-testid="stSidebar"], [data-testid="stSidebarCollapsedControl"], [data-testid="stHeader"],
[data-testid="stToolbar"], [data-testid="stDecoration"] {{ display: none !important; }}
[data-testid="stMainBlockContainer"] {{ max-width: 100% !important; padding: 1.5rem 3rem !important; }}
[data-testid="stMain"] [data-testid="stMarkdownContainer"] p,
[data-testid="stMain"] [data-testid="stMarkdownContainer"] li,
[data-testid="stMain"] [data-testid="stMarkdownContainer"] td,
[data-testid="stMain"] [data-testid="stMarkdownContainer"] th {{ font-size: 1.75rem !important; line-height: 1.5; }}
[data-testid="stMain"] h1 {{ font-size: 3.2rem !important; }}
[data-testid="stMain"] h2 {{ font-size: 2.6rem !important; }}
[data-testid="stMain"] h3 {{ font-size: 2.1rem !important; }}
[data-testid="stMain"] [data-testid="stRadio"] label p {{ font-size: 1.6rem !important; }}
[data-testid="stMain"] button p {{ font-size: 1.5rem !important; }}
[data-testid="stMain"] [data-testid="stCaptionContainer"],
[data-testid="stMain"] [data-testid="stCaptionContainer"] p,
[data-testid="stMain"] [data-testid="stTable"] td, [data-testid="stMain"] [data-testid="stTable"] th,
[data-testid="stMain"] [data-testid="stProgress"] p, [data-testid="stMain"] [data-testid="stWidgetLabel"] p,
[data-testid="stMain"] [data-testid="stMetricLabel"] p,
[data-testid="stMain"] [data-testid="stCode"] code {{ font-size: 1.4rem !important; line-height: 1.45; }}
[data-testid="stMain"] [data-testid="stMetricValue"] {{ font-size: 3rem !important; }}
</style>
"""


def controls(name: str):
    """A container for inputs the presenter view hides (CSS only: they are still drawn, so their values stay in
    the URL and the link keeps opening the same step)."""
    return st.container(key=f"{CONTROLS}{name}")


def hidden(name: str):
    """A container never shown, for inputs a step does not use but a link must keep (call :func:`hide` after)."""
    return st.container(key=f"{HIDDEN}-{name}")


def hide() -> None:
    st.html(HIDDEN_CSS)


def _bool_cell(value):
    """A yes/no cell in the viewer's language (pandas would show True/False in English); other values as they are."""
    if isinstance(value, (bool, np.bool_)):
        return _p("cell", "yes") if value else _p("cell", "no")
    return value


def frame(rows: list[dict]):
    """A static table for st.table, which the presenter view scales (st.dataframe draws on a canvas and its
    toolbar fetches icons from fonts.gstatic.com). st.table renders each cell as Markdown: text cells go
    through md() so tokens such as ">", "*" or "#" show literally; yes/no cells are translated."""
    import pandas as pd

    table = pd.DataFrame([{k: md(v) if isinstance(v, str) else _bool_cell(v) for k, v in row.items()} for row in rows])
    return table.set_index(table.columns[0]) if len(table.columns) else table


def per_token_caption(ctx: Ctx) -> None:
    if ctx.units.words:
        st.caption(_("Per token: vectors and scores belong to tokens (the word view applies to attention weights)."))


def attention_steps(ctx: Ctx):
    """Lessons 2–3: the step-by-step attention of the picked layer (:func:`plm_core.lessons.compute.attention_steps`)."""
    return lessons.attention_steps(ctx.lens, ctx.text, ctx.layer)
