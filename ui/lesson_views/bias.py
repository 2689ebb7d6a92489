"""Lesson 7's view (a bias probe): each occupation's he/she association per template, and its spread."""

from __future__ import annotations

import streamlit as st

from plm_core.i18n import _, tr
from plm_core.lessons import compute
from plm_core.viz.lesson_plots import probe_bars
from ui import charts, lessons
from ui.lesson_views.base import Ctx, View
from ui.safe import md


def view_bias_probe(ctx: Ctx) -> None:
    words = compute.parse_words(ctx.text)
    res = lessons.bias(ctx.lens, words)
    charts.plotly_chart(probe_bars(res.scores, res.occupations, res.templates,
                                   _("Association: + leans male, − leans female"), tr(res.method)), key="lessons.bias")
    mean = res.scores.mean(0)
    st.markdown(_("**mean over templates:**") + " " + ", ".join(f"{md(w)} {m:+.3f}" for w, m in zip(res.occupations, mean)))
    spread = res.scores.max(0) - res.scores.min(0)
    st.caption(_("Spread between templates per word:") + " " + ", ".join(f"{md(w)} {s:.3f}" for w, s in zip(res.occupations, spread)))


VIEWS = {"bias_probe": View(view_bias_probe)}
