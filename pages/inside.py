"""Inside the model: which heads and FFN blocks made the answer (contributions, information flow), what happens
when we change them (patching, ablation), and what the feed-forward neurons write."""

import ui.preload  # noqa: F401  first: a page opened by its URL runs without app.py (see ui/preload.py)

from dataclasses import replace

import streamlit as st

from plm_core import tolerances
from plm_core.i18n import _, msg, tr
from plm_core.patching import Ablation, head_label
from plm_core.viz.inside_plots import (
    contribution_heatmap,
    explained_label,
    ffn_bars,
    flow_graph,
    patching_bars,
    patching_heatmap,
    promoted_table,
    source_bars,
)
from plm_core.viz.masking_plots import token_pair_bars
from plm_core.tokens import MAX_CHARS  # a text box keeps what the app keeps (and a link no more)
from ui import LIVE_PAUSE, charts, handles, widgets
from ui.safe import md

info = widgets.require_info()
spec = widgets.active_spec()
lens = widgets.lens()
masked = info.output == "masked_token"
mask = info.mask_token or "[MASK]"
CLEAN = f"The capital of France is {mask}." if masked else "The capital of France is"
CORRUPT = f"The capital of Italy is {mask}." if masked else "The capital of Italy is"

st.title(_("Inside the model"))
st.caption(_("Which attention heads and feed-forward (FFN) blocks wrote the prediction, what happens when we "
             "change them, and what the FFN neurons write. Every layer adds its attention output and its FFN "
             "output to one residual stream; the head reads it at the predicted position."))

left, right = st.columns([3, 2])
with left:
    text = widgets.text_area(_("Sentence") if not info.target_prefix else _("Source"), "inside.text", CLEAN, height=80)
with right:
    pair = (st.text_input(tr(info.pair_label), key="inside.pair", help=tr(info.pair_help), max_chars=MAX_CHARS, bind="query-params")
            or None) if info.target_prefix else None
    word = st.text_input(_("Explained token (empty: the top prediction)"), key="inside.word", live=LIVE_PAUSE,
                         max_chars=MAX_CHARS, bind="query-params") or None
    contrast = st.text_input(_("… minus the logit of (optional)"), key="inside.contrast", live=LIVE_PAUSE,
                             max_chars=MAX_CHARS, bind="query-params") or None

res = widgets.run_or_stop(lambda: lens.contributions(text, word, contrast, text_pair=pair))
widgets.show_notes(res.encoding)
for note in res.notes:
    widgets.show_note(note)

contrib_tab, flow_tab, patch_tab, ffn_tab = st.tabs(
    [_("Contributions"), _("Information flow"), _("Patching & ablation"), _("FFN neurons")], key="inside.view",
    bind="query-params")

with contrib_tab:
    st.markdown(_("**Explained:** {what} at token {position} ({token}) = {value:.4f}",
                  what=md(explained_label(res)), position=md(res.position), token=md(res.encoding.tokens[res.position]),
                  value=res.value))
    st.caption(_("Direct logit attribution: each part's output read through the rest of the residual stream with "
                 "every norm's scale frozen at this run (as TransformerLens does); with the scales frozen the parts "
                 "add up to the logit exactly. What a part changes in later layers is not counted here: patching "
                 "measures that."))
    parts = {_("embeddings"): res.embeddings, _("attention heads"): sum(float(g.sum()) for g in res.heads),
             _("attention output biases"): sum(float(b.sum()) for b in res.attention_bias),
             _("FFN blocks"): float(res.ffn.sum()), _("biases and norm offsets"): res.constant,
             _("sum of the parts"): res.total, _("the model's own value"): res.value}
    st.table({_("part"): list(parts), _("contribution"): [f"{v:+.5f}" for v in parts.values()]})
    widgets.check_equal(_("The sum of the parts"), _("the model's own logit"), abs(res.difference),
                        tolerances.CONTRIBUTION_SUM * (1 + abs(res.value)))
    charts.plotly_chart(contribution_heatmap(res), key="inside.heatmap")
    cols = st.columns(3)
    stack = cols[0].selectbox(_("Attention stack"), list(range(len(res.stacks))), key="inside.stack",
                              format_func=lambda s: tr(res.stacks[s]), bind="query-params")
    layer = cols[1].selectbox(_("Layer"), list(range(res.n_layers)), key="inside.layer",
                              format_func=lambda i: str(i + 1), bind="query-params")
    n_heads = res.heads[stack].shape[1]
    head = cols[2].selectbox(_("Head"), list(range(n_heads)), key="inside.head", format_func=lambda i: str(i + 1),
                             bind="query-params")
    if res.sources[stack] is None:
        st.info(md(tr(res.source_note or "")))
    else:
        charts.plotly_chart(source_bars(res, stack, layer, head), key="inside.sources")
    if st.button(_("Open this head in the Attention page"), key="inside.open_head"):
        stack_name = {1: "cross"}.get(stack, "decoder" if info.target_prefix else None)
        widgets.open_page("pages/attention.py", widgets.Origin(spec, msg("the Inside the model page")),
                          **{"attention.text": text, "attention.heat.layer": layer,
                                                   "attention.heat.head": head},
                          **({"attention.stack": stack_name} if stack_name else {}))

with flow_tab:
    threshold = st.slider(_("Show parts whose |share| is at least this fraction of the largest"), 0.05, 1.0, 0.25,
                          0.05, key="inside.flow.threshold", bind="query-params")
    fig, nodes = flow_graph(res, threshold)
    charts.plotly_chart(fig, key="inside.flow")
    st.caption(_("Direct paths only: each head's share through the tokens it read (attention × value·output), each "
                 "FFN block's share at the predicted token. Red raises the explained number, blue lowers it."))
    if nodes:
        labels = [head_label(res.stacks, s, la, h) if kind == "head" else _("L{layer} FFN", layer=la + 1)
                  for kind, s, la, h in nodes]
        pick = st.selectbox(_("Open a node"), list(range(len(nodes))), format_func=lambda i: labels[i],
                            key="inside.flow.node", bind="query-params")
        kind, s, la, h = nodes[pick]
        if kind == "head" and st.button(_("Open this head in the Attention page"), key="inside.flow.open"):
            widgets.open_page("pages/attention.py", widgets.Origin(spec, msg("the Inside the model page")),
                              **{"attention.text": text, "attention.heat.layer": la,
                                                       "attention.heat.head": h})
        if kind == "ffn":
            st.button(_("Show this FFN block in the FFN neurons tab"), key="inside.flow.ffn",
                      on_click=lambda la=la: st.session_state.update({"inside.ffn.layer": la}))

with patch_tab:
    st.caption(_("Causal tracing (Meng et al., 2022): run the corrupted prompt, put back one activation from the "
                 "clean run, and see how much of the clean answer returns (1 = all of it, 0 = none). Both prompts "
                 "must have the same number of tokens."))
    corrupt = widgets.text_area(_("Corrupted prompt"), "inside.corrupt", CORRUPT, height=70)
    what_labels = {"residual": _("residual stream (layer × position)"), "heads": _("each head's output"),
                   "ffn": _("each FFN block's output")}
    what = st.segmented_control(_("Patch"), list(what_labels), default="residual", key="inside.patch.what",
                                format_func=lambda w: what_labels[w], bind="query-params") or "residual"  # md: trusted
    pres = widgets.run_or_stop(lambda: lens.patch(text, corrupt, what, word=word, contrast=contrast,
                                                                text_pair=pair))
    for note in pres.notes:
        widgets.show_note(note)
    st.markdown(_("Clean {what} = {clean:.4f}; corrupted = {corrupt:.4f}; {n} forward passes.",
                  what=md(explained_label(pres)), clean=pres.clean_value, corrupt=pres.corrupt_value,
                  n=md(pres.n_forwards)))
    if what == "ffn":
        charts.plotly_chart(patching_bars(pres), key="inside.patch.chart")
    else:
        for s in range(len(pres.stacks) if what == "heads" else 1):
            charts.plotly_chart(patching_heatmap(pres, s), key=f"inside.patch.chart{s}")

    st.subheader(_("Ablation"))
    options = [("head", s, la, h) for s in range(len(res.stacks)) for la in range(res.n_layers)
               for h in range(res.heads[s].shape[1])] + [("ffn", -1, la, -1) for la in range(res.n_layers)]
    names = {o: (head_label(res.stacks, o[1], o[2], o[3]) if o[0] == "head" else _("L{layer} FFN", layer=o[2] + 1))
             for o in options}
    chosen = st.multiselect(_("Remove these heads and FFN blocks"), options, format_func=lambda o: names[o],
                            key="inside.ablate", bind="query-params")
    mode = st.segmented_control(_("Replace their output by"), ["zero", "mean"], default="zero", key="inside.ablate.mode",
                                format_func=lambda m: _("zero") if m == "zero" else _("its mean over the tokens"),
                                bind="query-params") or "zero"
    if chosen:
        ablation = Ablation(heads=tuple((s, la, h) for k, s, la, h in chosen if k == "head"),
                            ffn=tuple(la for k, _s, la, _h in chosen if k == "ffn"), mode=mode)
        ares = widgets.run_or_stop(lambda: lens.ablate(text, ablation, text_pair=pair))
        charts.plotly_chart(token_pair_bars(ares.tokens, ares.before, ares.after, _("Prediction with and without them"),
                                            names=(_("model"), _("ablated")), axis=_("probability")), key="inside.ablate.chart")
        st.text(_("Top prediction: {before!r} → {after!r}", before=ares.top_before, after=ares.top_after))
        st.caption(_("The ablation applies to this view only; the other pages use the whole model."))
        if st.button(_("Apply to every page"), key="inside.ablate.apply"):
            old = spec.ablation
            if old and old.mode != ablation.mode:
                st.info(_("The model is already ablated with the other mode: restore the full model first."))
            else:
                new = replace(spec, ablation=Ablation(heads=(old.heads if old else ()) + ablation.heads,
                                                      ffn=(old.ffn if old else ()) + ablation.ffn, mode=mode))
                widgets.use_spec(widgets.run_or_stop(lambda: handles.get_handle(new)).spec)

with ffn_tab:
    tokens = res.stack_tokens[0]
    cols = st.columns(3)
    ffn_layer = cols[0].selectbox(_("Layer"), list(range(res.n_layers)), key="inside.ffn.layer",
                                  format_func=lambda i: str(i + 1), bind="query-params")
    position = cols[1].selectbox(_("Token"), list(range(len(tokens))), index=res.stack_position,
                                 format_func=lambda i: f"{i}: {tokens[i]}", key="inside.ffn.position",
                                 bind="query-params")
    rank_by = cols[2].segmented_control(_("Rank neurons by"), ["activation", "effect"], default="activation",
                                        format_func=lambda r: _("|activation|") if r == "activation" else _("|effect|"),
                                        key="inside.ffn.rank", bind="query-params") or "activation"
    view = widgets.run_or_stop(lambda: lens.ffn_view(
        text, ffn_layer, position=position, word=word if position == res.stack_position else None, text_pair=pair,
        rank_by=rank_by))
    st.markdown(_("The FFN block of layer {layer} adds {total:+.4f} to logit({token}) at this token; its {n} neurons' "
                  "effects plus its bias give that sum (difference {diff:.1e}).", layer=md(ffn_layer + 1),
                  total=view.block_total, token=md(repr(view.target_token.strip())), n=md(view.n_neurons),
                  diff=view.max_abs_diff))
    charts.plotly_chart(ffn_bars(view), key="inside.ffn.chart")
    st.table(promoted_table(view))
    st.caption(_("A neuron's output weights are one vector added to the residual stream in proportion to its "
                 "activation; read through the head, the tokens it promotes most are listed (Geva et al., 2021)."))
