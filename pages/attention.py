"""Attention explorer: bertviz head/model views, heatmaps with rollout, token flow and the query·key view."""

import ui.preload  # noqa: F401  first: a page opened by its URL runs without app.py (see ui/preload.py)

import functools

import streamlit as st

from plm_core.attention import attention_rollout, cross_attention_rollout, describe, layer_head, token_flow
from plm_core.viz.attention_plots import attention_heatmap, query_key_figures, token_flow_figure
from plm_core.viz.bertviz_html import MAX_SVG_ELEMENTS, bertviz_html, fitting_subset, view_elements
from ui import charts, neuron, widgets
from ui import text as ui_text
from plm_core import tolerances
from plm_core.i18n import N_, _, tr
from ui.safe import md

EXAMPLE = "The cat sat on the mat because it was tired."
STACK_LABELS = {"encoder": N_("encoder self-attention"), "decoder": N_("decoder self-attention"),
                "cross": N_("cross-attention (target → source)"), "self": N_("self-attention")}
VIEW_NAMES = {"head": N_("head"), "model": N_("model")}  # bertviz's two views, in "the head view"

info = widgets.require_info()
spec = widgets.active_spec()
lens = widgets.lens()
st.title(_("Attention"))
st.caption(_("Self-attention: each token (query) takes a weighted mix of all tokens (keys), "
             "weights = softmax(QKᵀ/√d_k). Rows sum to 1."))

left, right = st.columns([3, 2])
with left:
    first_label, pair_label, pair_help = info.text_labels
    text = widgets.text_area(tr(first_label), "attention.text", EXAMPLE, height=90)  # md: trusted
with right:
    pair = widgets.text_area(tr(pair_label), "attention.pair", height=90, help=tr(pair_help))  # md: trusted
result = widgets.run_or_stop(lambda: lens.extract_attention(text, pair or None))
widgets.show_notes(result.encoding)
units = ui_text.unit_switch(text, pair)
in_units = units.attention(result)  # words: rows mean over a word's pieces, columns sum (every stack)
st.markdown(f"**{md(tr(describe(result.encoding)))}**"
            + (" · " + _("{n} words", n=len(in_units.encoding)) if units.words else "")
            + " · " + _("{layers} layers × {heads} heads", layers=int(result.n_layers), heads=int(result.n_heads)))
if result.stacks:  # an encoder-decoder: pick the stack the heatmaps, token flow and query·key view show
    st.caption(_("Encoder-decoder: the encoder reads the source (self-attention), the decoder reads the target so "
                 "far (causal self-attention) and, through cross-attention, the encoder's output: one row per target "
                 "token, one column per source token."))
    stack = st.segmented_control(_("Attention stack"), result.stack_names, key="attention.stack",
                                 format_func=lambda s: _(STACK_LABELS[s]), bind="query-params") or result.stack
else:
    stack = result.stack
shown = in_units.get(stack)  # the stack the tabs below show (the only one of a single-stack model), in tokens or words
shown_tokens = result.get(stack)
tokens = shown.encoding.tokens
keys = shown.keys.tokens

head_tab, model_tab, heat_tab, flow_tab, qk_tab = st.tabs(
    [_("Head view"), _("Model view"), _("Heatmaps & rollout"), _("Token flow"), _("Query · key")], key="attention.view",
    bind="query-params")

n_layers, n_heads = in_units.n_layers, in_units.n_heads
for tab, view in ((head_tab, "head"), (model_tab, "model")):
    with tab:
        # bertviz draws one SVG line per (head, query, key): estimate before drawing, offer a subset past the limit
        layers, heads, n = list(range(n_layers)), list(range(n_heads)), len(tokens)
        total = view_elements(view, n, n_layers, n_heads)
        if total > MAX_SVG_ELEMENTS:
            fit = fitting_subset(view, n, n_layers, n_heads)
            if fit is None:
                st.info(_("The {view} view of {n} tokens would draw {total:,} lines, and even one head draws "
                          "{one:,}: past {limit:,} the browser takes more than 2 s to draw it. The heatmaps show all "
                          "of it.", view=_(VIEW_NAMES[view]), n=int(n), total=total,
                          one=view_elements(view, n, 1, 1), limit=MAX_SVG_ELEMENTS))
                continue
            st.info(_("The {view} view of every layer and head would draw {total:,} lines ({n} × {n} per head); past "
                      "{limit:,} the browser takes more than 2 s to draw it (measured in Chromium). It shows the "
                      "layers and heads chosen below; the heatmaps show all of it.", view=_(VIEW_NAMES[view]),
                      total=total, n=int(n), limit=MAX_SVG_ELEMENTS))
            c1, c2 = st.columns(2)
            if view == "model":
                layers = c1.multiselect(_("Layers"), list(range(n_layers)), default=fit[0],
                                        key="attention.model_layers", bind="query-params")
            heads = c2.multiselect(_("Heads"), list(range(n_heads)), default=fit[1], key=f"attention.{view}_heads",
                                   bind="query-params")
            chosen = view_elements(view, n, len(layers), len(heads))
            if not layers or not heads or chosen > MAX_SVG_ELEMENTS:
                st.warning(_("These layers and heads would draw {chosen:,} lines (the limit is {limit:,}): choose "
                             "fewer.", chosen=chosen, limit=MAX_SVG_ELEMENTS))
                continue
        st.caption(_("Hover a token to see what it attends to; click a colour to toggle a head; "
                     "double-click a colour to show only that head.") if view == "head" else
                   _("Every layer (rows) and head (columns); click a cell to enlarge it."))
        draw = functools.partial(bertviz_html, in_units, view, layers=layers if view == "model" else None,
                                 head_subset=heads)
        height = 80 + 23 * n if view == "head" else 134 + len(layers) * (14 + 7 * n)
        st.iframe(draw(), height=min(height, 3000))
        st.download_button(_("Download the {view} view (HTML, opens offline)", view=_(VIEW_NAMES[view])),
                           draw, f"attention-{view}-view.html",
                           "text/html", key=f"attention.{view}_html", on_click="ignore",
                           help=_("One self-contained file with its scripts inlined: for slides or a lesson "
                                  "without a server. It follows the viewer's light or dark setting."))

with heat_tab:
    mode = st.radio(_("Show"), ["attention", "rollout"], horizontal=True, key="attention.mode", bind="query-params",
                    format_func={"attention": _("attention of one layer"),
                                 "rollout": _("attention rollout (all layers below)")}.get)
    if mode == "attention":
        layer, head = widgets.layer_head_picker("attention.heat", shown.n_layers, shown.n_heads)
        matrix = layer_head(shown.weights, layer, head)
        label = widgets.head_label(head)
        charts.plotly_chart(attention_heatmap(matrix, keys, _("Layer {layer}, {label}", layer=layer, label=label),
                                              query_tokens=shown.encoding.tokens),
                        key="attention.heatmap")
    else:
        layer = st.selectbox(_("Up to layer"), list(range(shown.n_layers)), index=shown.n_layers - 1,
                             key="attention.rollout_layer", bind="query-params")
        if shown.square:
            st.caption(_("Rollout (Abnar & Zuidema, 2020): heads averaged, the residual added as 0.5·A + 0.5·I, "
                         "and the layers multiplied — how much each input token flows into each position."))
            flow_matrix = attention_rollout(shown_tokens.weights)[layer]
        else:
            st.caption(_("Cross-attention rollout: the encoder's rollout (every encoder layer), then the "
                         "head-averaged cross-attention of this decoder layer — how much each source token flows into "
                         "each target position (the decoder's own mixing is left out)."))
            flow_matrix = cross_attention_rollout(shown_tokens.weights, result.get("encoder").weights)[layer]
        # over tokens (the model's own flow), then to words
        charts.plotly_chart(attention_heatmap(units.matrix(flow_matrix, shown_tokens), keys, _("Rollout up to layer {layer}", layer=layer),
                                          query_tokens=shown.encoding.tokens), key="attention.rollout")

with flow_tab:
    labels = ui_text.picker_labels(shown.encoding.labels())
    flow_tokens = shown.encoding.tokens
    if not shown.square:
        st.info(_("Token flow follows one self-attention (the same tokens as queries and keys): choose the encoder "
                  "or the decoder stack above. The heatmaps show the cross-attention."))
    else:
        chosen = st.multiselect(_("Words") if units.words else _("Tokens"), list(range(len(flow_tokens))),
                                default=[min(2, len(flow_tokens) - 1)], format_func=lambda i: labels[i],
                                key=f"attention.flow_{units.name}" + (f".{stack}" if result.stacks else ""),
                                bind="query-params")
        layer, head = widgets.layer_head_picker("attention.flow", shown.n_layers, shown.n_heads,
                                                default_layer=shown.n_layers - 1)
        if chosen:
            flow = token_flow(shown, chosen, layer, head)
            charts.plotly_chart(token_flow_figure(flow, flow_tokens), key="attention.flow_chart")
        else:
            st.info(_("Choose one or more tokens."))

with qk_tab:
    if units.words:
        st.caption(_("Queries and keys are vectors of tokens: this view stays per token."))
    layer, head = widgets.layer_head_picker("attention.qk", shown.n_layers, shown.n_heads, allow_average=False)
    qk_stack = stack if result.stacks else None
    qk = widgets.run_or_stop(lambda: lens.query_key(text, layer, head, pair or None, stack=qk_stack))
    st.markdown(
        _("Q and K of head {head} are the model's own projections, captured while it ran: "
          "{n} tokens × d_k = {d_k}; scale 1/√d_k = {scale:.4f}", head=int(head), n=int(qk.queries.shape[0]),
          d_k=int(qk.queries.shape[1]), scale=qk.scale)
        + (_(" ; causal mask: a token sees only itself and earlier tokens.") if qk.causal else _("."))
    )
    if qk.positions == "rotary":
        st.caption(_("Rotary positions (RoPE): Q and K are rotated by their token's position before the product, "
                     "so QKᵀ depends on how far apart two tokens are. Q and K are shown rotated."))
    if qk.n_kv_heads is not None and qk.n_kv_heads < shown.n_heads:
        st.caption(_("Grouped-query attention: {n_heads} query heads share {n_kv} key/value head(s); head {head} "
                     "reads key/value head {kv_head}.", n_heads=int(shown.n_heads), n_kv=int(qk.n_kv_heads),
                     head=int(head), kv_head=int(qk.kv_head)))
    if qk.bias is not None:
        st.caption(_("Relative positions: a learned bias per head and distance is added to QKᵀ before the softmax "
                     "(T5 does not scale QKᵀ)."))
    if qk.window is not None:
        st.caption(_("Sliding window: in this layer a token sees at most the last {window} tokens, itself included "
                     "(the model's own mask).", window=int(qk.window)))
    if qk.softcap is not None:
        st.caption(_("Soft-capping: the scores are cap · tanh(score / cap) with cap = {cap:g} before the mask and "
                     "the softmax (Gemma-2).", cap=float(qk.softcap)))
    figs = query_key_figures(qk)
    c1, c2 = st.columns(2)
    charts.plotly_chart(figs["scores"], key="attention.qk_scores", container=c1)
    charts.plotly_chart(figs["probs"], key="attention.qk_probs", container=c2)
    widgets.check_equal(_("Recomputed softmax(QKᵀ/√d_k)"), _("the model's attention"), qk.max_abs_diff,
                        tolerances.PROBS)
    neuron.render(qk, "attention.qk")
