"""Side by side: two sentences on one model, or one sentence on two models."""

import ui.preload  # noqa: F401  first: a page opened by its URL runs without app.py (see ui/preload.py)

import numpy as np
import streamlit as st

from plm_core.attention import layer_head
from plm_core.attribution import METHOD_LABELS, METHOD_SPECS, methods_where
from plm_core.compare import AttentionDifference, alignment_rows, compare_words
from plm_core.loading import ModelSpec
from plm_core.kinds import kind_label
from plm_core.viz.attention_plots import attention_heatmap
from plm_core.viz.masking_plots import comparison_bars, distribution_bars, token_pair_bars
from ui import masking as ui_masking
from plm_core.words import aggregate_scores
from ui import LIVE_PAUSE, charts, widgets
from ui import text as ui_text
from ui.safe import md
from plm_core.i18n import _, tr
from plm_core.tokens import MAX_CHARS  # a text box keeps what the app keeps (and a link no more)

MODES = ("texts", "models")
# cheapest first (the default is one gradient pass)
ATTR_METHODS = tuple(sorted(methods_where(compare=True), key=lambda m: METHOD_SPECS[m].cost(1, None, None)))

info = widgets.require_info()
spec = widgets.active_spec()
lens = widgets.lens()

st.title(_("Compare"))
mode = st.segmented_control(_("Compare"), MODES, default="texts", key="compare.mode", bind="query-params", format_func={
    "texts": _("two sentences, one model"), "models": _("one sentence, two models")}.get) or "texts"


def layer_and_head(n_layers: int, n_heads: int) -> tuple[int, int | None]:
    """Layer and head (``AVERAGE_OF_HEADS`` = average of heads) pickers bound to the URL."""
    c1, c2 = st.columns(2)
    layer = c1.selectbox(_("Layer"), list(range(n_layers)), index=n_layers - 1, key="compare.layer", bind="query-params")
    return int(layer), widgets.head_picker(c2, "compare.head", n_heads)


def difference_heatmap(diff: AttentionDifference, layer: int, head: int | None, key: str) -> None:
    """B − A attention on the matched tokens at one layer and head (``AVERAGE_OF_HEADS``: their average)."""
    charts.plotly_chart(attention_heatmap(layer_head(diff.weights, layer, head), [t.split(":", 1)[1] for t in diff.tokens],
                                          _("Layer {layer}, {label}: B − A", layer=layer, label=widgets.head_label(head)),
                                          signed=True,
                                          colorbar_title="B − A"), key=key)


if mode == "texts":
    c1, c2 = st.columns(2)
    text_a = c1.text_input(_("Sentence A"), "The cat sat on the mat.", max_chars=MAX_CHARS, key="compare.a", live=LIVE_PAUSE, bind="query-params")
    text_b = c2.text_input(_("Sentence B"), "The dog sat on the rug.", max_chars=MAX_CHARS, key="compare.b", live=LIVE_PAUSE, bind="query-params")
    if widgets.chat_toggle(spec, "compare.chat"):
        text_a, text_b = widgets.chat_wrap(spec, text_a), widgets.chat_wrap(spec, text_b)
    pair = None
    if info.takes_pair:  # a pair classifier's hypothesis, an encoder-decoder's target: one for both
        _first, pair_label, pair_help = info.text_labels
        pair = st.text_input(_("{label} (read with both sentences)", label=tr(pair_label)), max_chars=MAX_CHARS, key="compare.pair",  # md: trusted
                             live=LIVE_PAUSE, bind="query-params", help=tr(pair_help)).strip() or None  # md: trusted
    result = widgets.run_or_stop(lambda: lens.compare_texts(text_a, text_b, text_pair=pair))
    for note in result.notes:  # first each sentence's own (cut input, unknown characters), then the comparison's
        widgets.show_note(note)
    units = ui_text.unit_switch(text_a, text_b)
    words = None
    if units.words:  # the same views over words: aligned by word text, attention summed/averaged per word
        words = compare_words(result.attention_a, result.attention_b, units.of(result.a.encoding),
                              units.of(result.b.encoding))
    alignment, enc_a, enc_b = ((result.alignment, result.a.encoding, result.b.encoding) if words is None
                               else (words.alignment, words.words_a, words.words_b))
    rows = alignment_rows(alignment, enc_a, enc_b)
    n_match = sum(1 for r in rows if r[2])
    st.markdown((_("**Aligned words**") if units.words else _("**Aligned tokens**")) + " — "
                + _("{matched} matched, {only_a} only in A, {only_b} only in B", matched=int(n_match),
                    only_a=len(alignment.only_a), only_b=len(alignment.only_b)))
    # every row shown (the header and each row are 35 px, plus the frame's border), scrolling only past 400 px
    st.dataframe({"A": [r[0] for r in rows], "B": [r[1] for r in rows],
                  _("match"): ["=" if r[2] else "≠" for r in rows]},
                 hide_index=True, height=min(400, 35 * (len(rows) + 1) + 3), key="compare.alignment")
    st.subheader(_("Prediction difference"))
    if not result.comparisons:
        st.info(_("Nothing to compare for this model kind and these inputs."))
    for n, cmp in enumerate(result.comparisons):
        similarity = cmp.measure == "cosine similarity"
        title = _("Similarity of B to A") if similarity else tr(cmp.what)
        charts.plotly_chart(comparison_bars(cmp, title, names=("A", "B")), key=f"compare.pred{n}")
        if similarity:
            st.markdown(_("Cosine similarity of the two sentence embeddings: **{value:.3f}**",
                          value=float(cmp.perturbed[0])))
        elif cmp.label_changed:
            st.warning(_("The top prediction differs: {a} (A) vs {b} (B).",
                         a=md(repr(cmp.top_original)), b=md(repr(cmp.top_perturbed))))
    st.subheader(_("Attention difference (B − A) on matched words") if units.words else
                 _("Attention difference (B − A) on matched tokens"))
    layer, head = layer_and_head(result.attention_a.n_layers, result.attention_a.n_heads)
    difference_heatmap(result.attention if words is None else words.attention, layer, head, "compare.attn_diff")
    st.subheader(_("Attribution difference"))
    similarity = "similarity" in info.target_kinds  # an encoder: each sentence by its similarity to the other
    if st.toggle(_("Attribute both sentences"), key="compare.attr", bind="query-params"):
        method = st.selectbox(_("Method"), ATTR_METHODS, key="compare.method", format_func=lambda m: tr(METHOD_LABELS[m]),
                              bind="query-params")
        attr = widgets.run_or_stop(lambda: lens.attribution_difference(text_a, text_b, method, pair))
        st.caption(_("A sentence encoder has no output of its own: A is explained by its cosine similarity to B, and "
                     "B by its similarity to A (one number, explained from each side).") if similarity else
                   _("The target is resolved on A and explained on both sentences: the same number."))
        scores_a, scores_b = attr.scores_a, attr.scores_b
        if words is not None:  # a word's attribution is the sum of its pieces'
            scores_a, scores_b = aggregate_scores(scores_a, enc_a), aggregate_scores(scores_b, enc_b)
        labels = [enc_a.tokens[i] if enc_a.tokens[i] == enc_b.tokens[j] else f"{enc_a.tokens[i]}/{enc_b.tokens[j]}"
                  for i, j in alignment.pairs]
        labels = [f"{n}:{t}" for n, t in enumerate(labels)]
        target = _("cosine similarity of A and B") if similarity else tr(attr.target_label)
        charts.plotly_chart(token_pair_bars(labels, np.asarray([scores_a[i] for i, _ in alignment.pairs]),
                                        np.asarray([scores_b[j] for _, j in alignment.pairs]),
                                        (_("{method} on matched words — target: {target}", method=tr(METHOD_LABELS[method]),
                                           target=target) if units.words else
                                         _("{method} on matched tokens — target: {target}", method=tr(METHOD_LABELS[method]),
                                           target=target)),
                                        names=("A", "B"), axis=_("attribution")), key="compare.attr_chart")
else:
    model_b = st.text_input(_("Second model (Hub id, local folder, or 'embedded')"), max_chars=MAX_CHARS, key="compare.model_b",
                            placeholder="embedded", help=_("Loading a model downloads it unless it is local."),
                            bind="query-params")
    text = st.text_input(_("Sentence"), "The cat sat on the mat.", max_chars=MAX_CHARS, key="compare.text", live=LIVE_PAUSE, bind="query-params")
    pair = None
    if info.takes_pair:  # a pair classifier's hypothesis, read by both models
        _first, pair_label, pair_help = info.text_labels
        pair = st.text_input(tr(pair_label), max_chars=MAX_CHARS, key="compare.model_pair", live=LIVE_PAUSE, bind="query-params",  # md: trusted
                             help=tr(pair_help)).strip() or None  # md: trusted
    if not model_b.strip():
        st.info(_("Enter a second model to put next to the sidebar's model."))
    else:
        spec_b = ModelSpec(model_b.strip())
        result = widgets.run_or_stop(lambda: lens.compare_models(spec_b, text, text_pair=pair))
        for note in result.notes:
            widgets.show_note(note)
        units = ui_text.unit_switch(text)
        words = None
        if units.words:  # one text: words matched by the characters they cover
            words = compare_words(result.attention_a, result.attention_b, units.of(result.attention_a.encoding),
                                  units.of(result.attention_b.encoding), by="characters")
        depth = min(result.attention_a.n_layers, result.attention_b.n_layers)
        n_heads = min(result.attention_a.n_heads, result.attention_b.n_heads)
        c1, c2 = st.columns(2)
        layer = c1.selectbox(_("Layer (counted from the top when the depths differ)"), list(range(1, 1 + depth)),
                             key="compare.layer_from_top", format_func=lambda n: _("{n} from the top", n=n),
                             bind="query-params")
        head = widgets.head_picker(c2, "compare.head", n_heads)
        cols = st.columns(2)
        att_a, att_b = ((result.attention_a, result.attention_b) if words is None
                        else (words.attention_a, words.attention_b))
        for col, name, pred, att in ((cols[0], f"A: {spec.model_id}", result.a, att_a),
                                     (cols[1], f"B: {spec_b.model_id}", result.b, att_b)):
            with col:
                st.markdown(f"**{md(name)}**")
                if pred is None:
                    st.caption(_("no prediction for this input (see the note above)"))
                else:
                    st.caption(md(tr(kind_label(pred.kind))))
                    if pred.labels:  # class probabilities
                        charts.plotly_chart(distribution_bars(
                            pred.labels, pred.probs, _("Class probabilities"),
                            _("probability (sigmoid, each label on its own)") if pred.multi_label else None),
                                        key=f"compare.mpred.{name}")
                    elif pred.embedding is not None:
                        st.markdown(_("Sentence embedding: {n} dimensions", n=int(pred.embedding.shape[0])))
                    else:
                        for n, d in enumerate(pred.distributions):
                            charts.plotly_chart(distribution_bars([repr(t) for t in d.tokens], d.probs,
                                                                  _("Top tokens at position {position}", position=d.position)),
                                                key=f"compare.mpred.{name}.{n}")
                lyr = att.n_layers - layer
                charts.plotly_chart(attention_heatmap(layer_head(att.weights, lyr, head), att.encoding.tokens,
                                                      _("Layer {layer}, {label}", layer=lyr, label=widgets.head_label(head))),
                                    key=f"compare.matt.{name}")
        for n, cmp in enumerate(result.comparisons):
            charts.plotly_chart(comparison_bars(cmp, names=("A", "B")), key=f"compare.mcmp{n}")
        difference = result.attention if words is None else words.attention
        if difference is not None:  # same layers and heads (two checkpoints of one architecture)
            st.subheader(_("Attention difference (B − A)"))
            difference_heatmap(difference, result.attention_a.n_layers - layer, head, "compare.mattn_diff")
            if np.abs(difference.weights).max() == 0:  # (NaN is not "identical")
                st.caption(_("The two models attend identically on this input: B − A is 0 at every layer and head."))

with st.expander(_("Loaded models and memory")):
    loaded = ui_masking.loaded_models()
    st.dataframe({_("model"): [m.model_id for m in loaded], _("kind"): [tr(kind_label(m.kind)) for m in loaded],
                  _("device"): [tr(m.device) for m in loaded],
                  _("parameters (M)"): [round(m.n_parameters / 1e6, 1) for m in loaded],
                  _("weights (MB)"): [round(m.weight_bytes / 2**20, 1) for m in loaded]}, hide_index=True)
    gpu = ui_masking.gpu_report()
    if gpu:
        st.markdown(_("GPU: {allocated:.2f} GiB allocated, {reserved:.2f} GiB reserved, {free:.2f} of {total:.2f} GiB "
                      "free", allocated=gpu["allocated"] / 2**30, reserved=gpu["reserved"] / 2**30,
                      free=gpu["free"] / 2**30, total=gpu["total"] / 2**30))
    else:
        st.caption(_("No GPU: models run on the CPU."))
    st.caption(_("The server keeps models loaded within {budget:,.0f} MB of weights (PLM_MODEL_MEMORY_MB); when it "
                 "needs room, it drops the model unused for longest, never one used in the last 5 minutes.",
                 budget=ui_masking.memory_budget_mb()))
    ui_masking.unload_controls()
