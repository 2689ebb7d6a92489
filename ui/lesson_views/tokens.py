"""Lesson 1's views (tokens and embeddings): the split, the looked-up tables, positions, static versus contextual."""

from __future__ import annotations

import numpy as np
import streamlit as st

from plm_core import tolerances
from plm_core.i18n import N_, _, _n, _p
from plm_core.tokens import MAX_CHARS  # a text box keeps what the app keeps (and a link no more)
from plm_core.viz.attention_plots import attention_heatmap
from plm_core.viz.generation_plots import contextual_figure
from plm_core.viz.lesson_plots import token_bars, vectors_heatmap
from ui import charts, widgets
from ui import text as ui_text
from ui.lesson_views.base import Ctx, View, controls, frame, per_token_caption
from ui.safe import md


def view_tokens(ctx: Ctx) -> None:
    enc = ctx.lens.encode(ctx.text)  # the split only: every model has one, with or without position tables
    widgets.show_notes(enc)
    words = ui_text.cached_words(enc, ctx.units.segment)
    st.markdown(_("**{n_tokens} tokens, {n_words} words:**", n_tokens=len(enc),
                  n_words=sum(not s for s in words.special)))
    st.code(" · ".join(enc.tokens), language=None, wrap_lines=True)  # literal: no Markdown in token text
    rows = [{"#": i, _p("column", "token"): t, "id": enc.input_ids[i], _p("column", "special"): enc.special[i],
             _p("column", "segment"): enc.segments[i]} for i, t in enumerate(enc.tokens)]
    left, right = st.columns(2)
    left.table(frame(rows))
    right.table(frame([{_p("column", "word"): w, _p("column", "pieces"): " · ".join(enc.tokens[i] for i in words.pieces[n]),
                        "n": len(words.pieces[n])} for n, w in enumerate(words.tokens) if not words.special[n]]))


def view_embedding_tables(ctx: Ctx) -> None:
    per_token_caption(ctx)
    res = ctx.lens.token_embeddings(ctx.text)
    tokens = res.encoding.tokens
    hidden = res.word.shape[1]
    parts = _("token table {vocab:,} × {hidden}, position table {positions} × {hidden}", vocab=res.vocab_size,
              hidden=int(hidden), positions=int(res.n_positions))
    st.markdown(f"**{md(parts)}**" + (_(" + segment table") if res.segment is not None else "")
                + (_(" → LayerNorm") if res.layer_norm else ""))
    bars = {_("‖token row‖"): np.linalg.norm(res.word, axis=1), _("‖position row‖"): np.linalg.norm(res.position, axis=1)}
    if res.segment is not None:
        bars[_("‖segment row‖")] = np.linalg.norm(res.segment, axis=1)
    charts.plotly_chart(token_bars(bars, tokens, _("Length of each looked-up row")), key="lessons.emb_norms")
    charts.plotly_chart(vectors_heatmap(res.combined, tokens, _("Input vectors")),
                        key="lessons.emb_vec")
    widgets.check_equal(_("Our sum + LayerNorm") if res.layer_norm else _("Our sum"), _("the model's input vectors"),
                        res.max_abs_diff, tolerances.VECTORS)


def view_positions(ctx: Ctx) -> None:
    per_token_caption(ctx)
    res = ctx.lens.token_embeddings(ctx.text)
    tokens = res.encoding.tokens
    c1, c2 = st.columns(2)
    charts.plotly_chart(attention_heatmap(res.position_similarity(), [_("pos {p}", p=p) for p in res.position_ids],
                                          _("Cosine similarity of position rows"), signed=True, colorbar_title="cos",
                                          axis_titles=(_("position"), _("position"))),
                        key="lessons.pos_sim", container=c1)
    charts.plotly_chart(attention_heatmap(res.word_similarity(), tokens, _("Cosine similarity of token rows"),
                                          signed=True, colorbar_title="cos", axis_titles=(_("token"), _("token"))),
                        key="lessons.word_sim", container=c2)
    near, far = res.position_neighbours()
    st.markdown(_("**neighbours: mean cos = {near:.3f}; far apart: mean cos = {far:.3f}**", near=near, far=far))


CONTEXT_DEFAULTS = {"lessons.ctx_a": "We sat on the bank of the river and watched the water.",
                    "lessons.ctx_b": "She went to the bank to ask for a loan.", "lessons.ctx_word": "bank"}


CONTEXT_LABELS = {"lessons.ctx_a": N_("First sentence"), "lessons.ctx_b": N_("Second sentence"),
                  "lessons.ctx_word": N_("Word")}


def view_contextual(ctx: Ctx) -> None:
    with controls("view"):
        values = [column.text_input(_(CONTEXT_LABELS[key]), default, max_chars=MAX_CHARS, key=key, bind="query-params")
                  for column, (key, default) in zip(st.columns([3, 3, 1]), CONTEXT_DEFAULTS.items())]
    res = ctx.lens.contextual_embeddings(*values)
    charts.plotly_chart(contextual_figure(res.layers, res.cosines, res.static_cosine, res.word),
                        key="lessons.contextual")
    where = _("{a} and {b}", a=_n("token {positions}", "tokens {positions}", len(res.spans[0]),
                                  positions=", ".join(map(str, res.spans[0]))),
              b=_n("token {positions}", "tokens {positions}", len(res.spans[1]),
                   positions=", ".join(map(str, res.spans[1]))))
    same = res.spans[0] == res.spans[1]
    st.markdown(_("**{where}; cosine after the embedding layer {first:.3f} ({position}), after the last layer "
                  "{last:.3f}**", where=md(where), first=res.cosines[0], last=res.cosines[-1],
                  position=_("same position") if same else _("the position embeddings differ")))
    if res.static_diff <= tolerances.VECTORS:
        widgets.check_equal(_("The second sentence's token-embedding row"), _("the first's (a static embedding)"),
                            res.static_diff, tolerances.VECTORS)
    else:  # the word is split differently in the two sentences
        st.info(_("The word's token-embedding rows differ (max |difference| = {diff:.2e}): it is split into different "
                  "pieces in the two sentences.", diff=res.static_diff))
    if not ctx.presenter:  # a static table's classic probe, with its caveat (ui.evaluate, as on the Evaluate page)
        from ui.evaluate import analogy_view

        analogy_view(ctx.lens, prefix="lessons")


VIEWS = {"tokens": View(view_tokens), "embedding_tables": View(view_embedding_tables),
         "positions": View(view_positions), "contextual": View(view_contextual, uses_text=False)}
