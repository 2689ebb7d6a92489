"""Lesson 6's view (attention as an explanation): last-layer attention and rollout against leave-one-out and
integrated gradients, with their rank agreement."""

from __future__ import annotations

import numpy as np
import streamlit as st

from plm_core import classroom
from plm_core.attention import attention_rollout, head_average
from plm_core.errors import PlmCoreError
from plm_core.i18n import _, _p, tr
from plm_core.lessons import compute
from plm_core.viz.lesson_plots import token_bars
from plm_core.words import aggregate_attention, aggregate_scores
from ui import charts, lessons
from ui.lesson_views.base import Ctx, View
from ui.safe import md

STEPS_IG = 32  # integration steps of integrated gradients here (lowered further by classroom mode)
OTHER = "This is a great film."  # an encoder's explained number: the similarity with this sentence


def view_attention_vs_attribution(ctx: Ctx) -> None:
    text = ctx.text
    att = ctx.lens.extract_attention(text)
    words = ctx.words(att.encoding)  # word view: attention to a word summed over its pieces, scores summed
    units = att.encoding if words is None else words
    tokens = units.tokens
    row = ctx.lens.query_row(att.encoding)  # the token the output is read from
    if words is not None:
        row = next(w for w, pieces in enumerate(words.pieces) if row % len(att.encoding) in pieces)

    def per_unit(matrix: np.ndarray) -> np.ndarray:
        return matrix if words is None else aggregate_attention(matrix, words)

    last = _("attention (last layer, mean of heads)")
    series = {last: per_unit(head_average(att, att.n_layers - 1))[row],
              _p("series", "attention rollout"): per_unit(attention_rollout(att.weights)[-1])[row]}
    occ = ctx.lens.lesson_occlusion(text, words=words)
    series[_("leave-one-out (occlusion)")] = occ.scores
    n_steps = classroom.cap_steps(STEPS_IG)
    try:
        attr = lessons.attribution(ctx.lens, text, OTHER, n_steps)
    except ImportError:
        st.info(_("Integrated gradients is not available in this installation (plm_core.attribution is absent)."))
    except PlmCoreError as err:
        st.info(_("Integrated gradients: {error}", error=md(tr(err))))
    else:
        if len(attr.scores) == len(att.encoding):
            series[_("integrated gradients ({n} steps)", n=n_steps)] = (attr.scores if words is None
                                                                      else aggregate_scores(attr.scores, words))
            if "similarity" in ctx.info.target_kinds:  # an encoder: what IG explains needs a 2nd sentence
                st.caption(_("Integrated gradients explains the cosine similarity of your sentence's embedding with "
                             "the embedding of the sentence “{other}”.", other=md(OTHER)))
            else:
                st.caption(_("Integrated gradients explains: {target}.", target=md(tr(attr.target_label))))
    norm = compute.relative_importance(series)
    title = (_("Attention from [CLS] vs attribution (each scaled to max 1)") if row == 0 else
             _("Attention from the last token vs attribution (each scaled to max 1)"))
    charts.plotly_chart(token_bars(norm, tokens, title, yaxis=_("relative importance")), key="lessons.att_attr")
    rhos = compute.rank_agreement(norm[last], {k: v for k, v in norm.items() if k != last}, units.special)
    lines = [f"{name}: ρ = {rho:+.2f}" for name, rho in rhos.items()]
    st.markdown(_("**Spearman rank correlation with last-layer attention (word tokens): {values}**",
                  values=md("; ".join(lines))))
    st.caption(md(tr(occ.what)))


VIEWS = {"attention_vs_attribution": View(view_attention_vs_attribution)}
