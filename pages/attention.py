"""Attention explorer: bertviz head/model views, heatmaps with rollout, token flow and the query·key view."""

import streamlit as st

from plm_core.attention import attention_rollout, describe, head_average, token_flow
from plm_core.viz.attention_plots import attention_heatmap, query_key_figures, token_flow_figure
from plm_core.viz.bertviz_html import bertviz_html
from ui import resources, widgets

EXAMPLE = "The cat sat on the mat because it was tired."
BERTVIZ_MAX_TOKENS = 128  # the head/model views draw n² lines per head: past this they are unreadable and slow

handle = widgets.require_handle()
spec = widgets.active_spec()
st.title("Attention")
st.caption("Self-attention: each token (query) takes a weighted mix of all tokens (keys), "
           "weights = softmax(QKᵀ/√d_k). Rows sum to 1.")

left, right = st.columns([3, 2])
with left:
    text = widgets.text_area("Sentence", "attention.text", EXAMPLE, height=90)
with right:
    pair = widgets.text_area("Second sentence (optional)", "attention.pair", height=90,
                             help="BERT-style models read two segments: [CLS] A [SEP] B [SEP].")
result = widgets.run_or_stop(lambda: resources.cached_attention(spec, text, pair or None))
widgets.show_notes(result.encoding)
tokens = result.encoding.tokens
st.markdown(f"**{describe(result.encoding)}** · {result.n_layers} layers × {result.n_heads} heads")

head_tab, model_tab, heat_tab, flow_tab, qk_tab = st.tabs(
    ["Head view", "Model view", "Heatmaps & rollout", "Token flow", "Query · key"])

too_long = len(tokens) > BERTVIZ_MAX_TOKENS
for tab, view, height in ((head_tab, "head", 80 + 23 * len(tokens)),
                          (model_tab, "model", 110 + result.n_layers * (14 + 7 * len(tokens)))):
    with tab:
        if too_long:
            st.info(f"The {view} view draws every pair of tokens; it is shown up to {BERTVIZ_MAX_TOKENS} tokens "
                    f"(this input has {len(tokens)}). The heatmaps show all of it.")
        else:
            st.caption("Hover a token to see what it attends to; click a colour to toggle a head; "
                       "double-click a colour to show only that head." if view == "head" else
                       "Every layer (rows) and head (columns); click a cell to enlarge it.")
            st.iframe(bertviz_html(result, view), height=min(height, 3000))

with heat_tab:
    mode = st.radio("Show", ["attention", "rollout"], horizontal=True, key="attention.mode",
                    format_func={"attention": "attention of one layer", "rollout": "attention rollout (all layers below)"}.get)
    if mode == "attention":
        layer, head = widgets.layer_head_picker("attention.heat", result.n_layers, result.n_heads)
        matrix = head_average(result, layer) if head is None else result.weights[layer, head]
        label = "average of heads" if head is None else f"head {head}"
        st.plotly_chart(attention_heatmap(matrix, tokens, f"Layer {layer}, {label}"), key="attention.heatmap")
    else:
        layer = st.selectbox("Up to layer", list(range(result.n_layers)), index=result.n_layers - 1,
                             key="attention.rollout_layer")
        st.caption("Rollout (Abnar & Zuidema, 2020): heads averaged, the residual added as 0.5·A + 0.5·I, "
                   "and the layers multiplied — how much each input token flows into each position.")
        st.plotly_chart(attention_heatmap(attention_rollout(result.weights)[layer], tokens,
                                          f"Rollout up to layer {layer}"), key="attention.rollout")

with flow_tab:
    labels = result.encoding.labels()
    chosen = st.multiselect("Tokens", list(range(len(tokens))), default=[min(2, len(tokens) - 1)],
                            format_func=lambda i: labels[i], key="attention.flow_tokens")
    layer, head = widgets.layer_head_picker("attention.flow", result.n_layers, result.n_heads,
                                            default_layer=result.n_layers - 1)
    if chosen:
        flow = token_flow(result, chosen, layer, head)
        st.plotly_chart(token_flow_figure(flow, tokens), key="attention.flow_chart")
    else:
        st.info("Choose one or more tokens.")

with qk_tab:
    layer, head = widgets.layer_head_picker("attention.qk", result.n_layers, result.n_heads, allow_average=False)
    qk = widgets.run_or_stop(lambda: resources.cached_query_key(spec, text, layer, head, pair or None))
    st.markdown(
        f"Q and K of head {head} are the model's own projections, captured while it ran: "
        f"{qk.queries.shape[0]} tokens × d_k = {qk.queries.shape[1]}; scale 1/√d_k = {qk.scale:.4f}"
        + (" ; causal mask: a token sees only itself and earlier tokens." if qk.causal else ".")
    )
    figs = query_key_figures(qk)
    c1, c2 = st.columns(2)
    c1.plotly_chart(figs["scores"], key="attention.qk_scores")
    c2.plotly_chart(figs["probs"], key="attention.qk_probs")
    widgets.check_equal("Recomputed softmax(QKᵀ/√d_k)", "the model's attention", qk.max_abs_diff,
                        widgets.PROBS_TOLERANCE)
