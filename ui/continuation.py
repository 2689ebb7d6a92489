"""The Attribution page's continuation and segment views (issue 22, item 5): the lens's results and their
widgets, kept apart from ``ui.attribution`` so the page adds them in two calls."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import streamlit as st

from plm_core.attribution import METHOD_LABELS, METHOD_SPECS
from plm_core.attribution.segments import group_scores
from plm_core.attribution.types import AttributionResult
from plm_core.i18n import _, tr
from plm_core.lens import Lens
from plm_core.viz.attribution_plots import token_bar_chart, token_highlight_html
from plm_core.tokens import MAX_CHARS  # a text box keeps what the app keeps (and a link no more)
from ui import charts
from ui.safe import md


def segment_view(results: Sequence[AttributionResult], key: str = "attribution.segments") -> None:
    """Scores summed per sentence, per line, or over a span the user marks (completeness kept)."""
    labels = {"tokens": _("tokens"), "sentence": _("sentences"), "line": _("lines"), "spans": _("a marked span")}
    by = st.segmented_control(_("Group the scores by"), list(labels), default="tokens", key=key,
                              format_func=lambda b: labels[b], bind="query-params") or "tokens"  # md: trusted
    if by == "tokens":
        return
    spans: list[tuple[int, int]] = []
    if by == "spans":
        piece = st.text_input(_("Mark a span: type a part of the sentence"), key=f"{key}.span", max_chars=MAX_CHARS, bind="query-params")
        start = results[0].encoding.text.find(piece) if piece else -1
        if start < 0:
            st.info(_("Type a piece of the sentence above, exactly as written."))
            return
        spans = [(start, start + len(piece))]
    for r in results:
        seg = group_scores(r.encoding, r.scores, by, spans)
        st.markdown(_("**{method}** — segments add up to {total:+.4f} (the tokens: {tokens:+.4f})",
                      method=md(tr(METHOD_LABELS[r.method])), total=float(seg.scores.astype(np.float64).sum()),
                      tokens=float(r.scores.astype(np.float64).sum())))
        st.table({_("segment"): list(seg.labels), _("score"): [f"{v:+.4f}" for v in seg.scores]})


def gradient_method(results: Sequence[AttributionResult]) -> str:
    """The first chosen method that explains any objective (attention scores explain none)."""

    return next((r.method for r in results if not METHOD_SPECS[r.method].attention), "integrated_gradients")


def continuation_view(lens: Lens, prompt: str, method: str, baseline: str, n_steps: int | None) -> None:
    """Explain a continuation the user writes: the whole sequence (sum of log-probabilities) and each token."""
    cont = st.text_input(_("Explain a continuation you write (forced decoding)"), key="attribution.continuation",
                         placeholder=_("e.g. a continuation starting with a space"), max_chars=MAX_CHARS, bind="query-params")
    if not cont.strip():
        return
    from ui import widgets

    res = widgets.run_or_stop(lambda: lens.attribute_continuation(prompt, cont, method, baseline=baseline,
                                                                                  n_steps=n_steps))
    st.markdown(_("**Continuation:** {tokens} — log-probability {total:.3f}",
                  tokens=md(" · ".join(res.continuation_tokens)), total=sum(res.log_probs)))
    st.html(token_highlight_html(res.sequence))
    charts.plotly_chart(token_bar_chart(res.sequence, _("Whole continuation: sum of log-probabilities")),
                        key="attribution.continuation.bar")
    index = st.selectbox(_("Continuation token"), list(range(len(res.per_token))), key="attribution.continuation.token",
                         format_func=lambda i: f"{i + 1}: {res.continuation_tokens[i]}", bind="query-params")
    one = res.per_token[index]
    st.caption(_("Token {index}: probability {p:.3f} given everything before it.", index=md(index + 1), p=one.f_x))
    st.html(token_highlight_html(one))


BATCH = "attribution.batch.state"  # this session's file run: its key, the rows done, whether it is running
CHUNK = 4  # rows per script run: a run between two chunks shows the progress and lets Stop in


def batch_view(lens: Lens, method: str, target, baseline: str, n_steps: int | None) -> None:
    """Attribute every row of an uploaded file with the chosen method and target, a few rows per script run
    (progress, Stop, Resume), and export one CSV/JSON."""
    from plm_core.attribution.batch import read_rows, to_csv, to_json
    from ui import widgets

    with st.expander(_("Attribute every row of a file (one method, one target; CSV/JSON export)")):
        up = st.file_uploader(_("A text file (one input per line) or a CSV with a text column"), type=["txt", "csv"],
                              key="attribution.batch.file")
        if up is None:
            return
        rows = widgets.run_or_stop(lambda: read_rows(up.getvalue(), up.name))
        key = repr((lens.spec, up.name, rows, method, target, baseline, n_steps))
        state = st.session_state.get(BATCH)
        if state is None or state["key"] != key:
            state = {"key": key, "done": [], "running": False}
        done = state["done"]
        finished = len(done) >= len(rows) or bool(done and done[-1].fatal)
        c1, c2 = st.columns(2)
        if c1.button(_("Resume") if done and not finished else _("Run"), key="attribution.batch.run",
                     disabled=finished or state["running"]):
            state["running"] = True
        if c2.button(_("Stop"), key="attribution.batch.stop", disabled=not state["running"]):
            state["running"] = False
        st.progress(len(done) / len(rows), text=_("{done} of {n} rows with {method}", done=len(done), n=len(rows),
                                                  method=tr(METHOD_LABELS[method])))
        if state["running"] and len(done) < len(rows):
            more = widgets.run_or_stop(lambda: lens.attribute_rows(rows, method, target=target, start=len(done),
                                                                  limit=CHUNK, baseline=baseline, n_steps=n_steps))
            state["done"] = done + list(more)
            state["running"] = len(state["done"]) < len(rows) and bool(more) and not more[-1].fatal
            st.session_state[BATCH] = state
            st.rerun()
        st.session_state[BATCH] = state
        errors = [r for r in done if r.result is None]
        if errors:
            st.caption(_("{n} rows have no attribution (their reason is in the export's error column).", n=len(errors)))
        if done:
            d1, d2 = st.columns(2)
            d1.download_button(_("Download CSV"), to_csv(done), "attribution_rows.csv", "text/csv",
                               key="attribution.batch.csv")
            d2.download_button(_("Download JSON (full configuration)"), to_json(done), "attribution_rows.json",
                               "application/json", key="attribution.batch.json")
