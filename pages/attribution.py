"""Attribution: which input tokens made the prediction — captum methods and attention scores side by side."""

import ui.preload  # noqa: F401  first: a page opened by its URL runs without app.py (see ui/preload.py)

import streamlit as st

from plm_core.attribution import METHOD_LABELS, METHOD_SPECS, every_label_table
from plm_core.attribution.report import rank_agreement, to_csv, to_json
from plm_core.errors import PlmCoreError
from plm_core.viz.attribution_plots import (agreement_heatmap, color_legend_html, methods_heatmap,
                                            token_bar_chart, token_highlight_html)
from ui import attribution as ua
from ui import continuation as uc
from plm_core.words import word_attribution
from ui import text as ui_text
from ui import charts, widgets
from plm_core.i18n import _, tr
from ui.safe import md

SLOW_S = 4.0  # estimated seconds above which the page asks before running

info = widgets.require_info()
spec = widgets.active_spec()
lens = widgets.lens()
st.title(_("Attribution"))
st.caption(_("Which input tokens made the model's output? Red tokens raise the explained number, blue ones lower "
             "it. Integrated Gradients, SHAP, LIME and occlusion compare the input with a baseline (the same sentence "
             "with every word replaced by [PAD], [MASK] or a zero vector)."))

first_label, pair_label, pair_help = info.text_labels
text = widgets.text_area(tr(first_label), "attribution.text", ua.default_text(info), height=80)  # md: trusted
text = widgets.chat_wrapped(spec, text, "attribution.chat")
pair = None
if info.takes_pair:  # a pair classifier's second text, an encoder-decoder's target prefix
    pair = widgets.text_area(tr(pair_label), "attribution.pair", height=68, help=tr(pair_help)).strip() or None  # md: trusted
target = ua.target_picker(info, text)
offered, refused = ua.method_choices(info)
methods = st.multiselect(_("Methods"), offered, default=["integrated_gradients"], key="attribution.methods",
                         format_func=lambda m: tr(METHOD_LABELS[m]), bind="query-params")
for m, why in refused.items():
    st.caption(_("Not offered for this model — {method}: {reason}", method=md(tr(METHOD_LABELS[m])), reason=md(tr(why))))
for m in methods:  # what to expect before it runs (GradientSHAP: its error is measured only after)
    if METHOD_SPECS[m].note:
        st.caption(tr(METHOD_SPECS[m].note))  # md: trusted (a MethodSpec note: a core constant)
units = ui_text.unit_switch(text)
with st.expander(_("Settings: baseline, steps, samples")):
    c1, c2, c3, c4 = st.columns(4)
    baselines, no_baseline = ua.baseline_choices(info)
    baseline = c1.radio(_("Baseline"), baselines, key="attribution.baseline", bind="query-params",
                        format_func={"pad": _("[PAD] tokens"), "mask": _("[MASK] tokens"), "zero": _("zero embedding")}.get)
    for b, why in no_baseline.items():
        c1.caption(_("No {baseline} baseline: {reason}.", baseline=md(b), reason=md(tr(why))))
    steps_choice = c2.selectbox(_("IG steps"), ["auto", 8, 16, 32, 50, 64, 128], key="attribution.steps",
                                format_func=lambda v: _("auto") if v == "auto" else str(v), bind="query-params",
                                help=_("auto: never less complete than the fixed 50-step rule. Where the output "
                                       "changes evenly along the path, 9 or 17 gradients whose scores add up to float "
                                       "rounding; otherwise captum's 50-step Gauss–Legendre rule, and where that misses "
                                       "the tolerance, up to 65 more gradients gathered where the output changes, "
                                       "showing the more complete result. A number: captum's fixed Gauss–Legendre rule "
                                       "with that many steps."))
    tolerance = c3.select_slider(_("Tolerance (auto)"), [0.0001, 0.001, 0.01, 0.05], value=0.001,
                                 key="attribution.tolerance", format_func=lambda v: f"{v * 100:g}%", bind="query-params")
    samples_choice = c4.select_slider(_("Samples (SHAP, LIME)"), ["auto", 16, 32, 64, 128, 256, 512], value="auto",
                                      key="attribution.samples", format_func=lambda v: _("auto") if v == "auto" else str(v),
                                      bind="query-params",
                                      help=_("auto: 32 → 512 until the scores add up within 2.5 % (GradientSHAP, "
                                             "KernelSHAP) or settle within 5 % (LIME)."))
n_steps = None if steps_choice == "auto" else int(steps_choice)
n_samples = None if samples_choice == "auto" else int(samples_choice)
if not text.strip():
    st.info(_("Type a sentence above."))
    st.stop()
if target is None or not methods:
    st.info(_("Choose at least one method.") if target is not None else _("Complete the target above."))
    st.stop()

n_tokens = lens.token_count(text, pair)
seconds = sum(lens.estimate_seconds(n_tokens, m, n_steps=n_steps, n_samples=n_samples) for m in methods)
run_kw = ua.run_settings(pair, baseline, n_steps, tolerance, n_samples)
request = repr((spec, text, pair, methods, target, baseline, n_steps, tolerance, n_samples))
approved = st.session_state.setdefault("attribution.approved", [])
if seconds > SLOW_S and request not in approved:
    if st.button(_("Run anyway (about {seconds:.0f} s)", seconds=seconds), key="attribution.run"):
        approved[:] = approved[-20:] + [request]
        st.rerun()
    st.warning(_("{n_tokens} tokens with {n_methods} method(s) will take about {seconds:.0f} s. "
                 "Shorten the text or choose fewer methods, or run it anyway.", n_tokens=int(n_tokens),
                 n_methods=len(methods), seconds=seconds))
    st.stop()

results, failed = [], {}
with st.spinner(_("Computing attributions…")):
    for m in methods:
        try:
            results.append(lens.attribute(text, m, target=target, **run_kw))
        except PlmCoreError as err:
            failed[m] = tr(err)
for m, msg in failed.items():
    st.error(f"{md(tr(METHOD_LABELS[m]))}: {md(msg)}")
if not results:
    st.stop()
first = results[0]
widgets.show_notes(first.encoding)
# word view: a word's score is the sum of its pieces' (completeness holds); export stays per token
results, token_results = [r if units.of(r.encoding) is None else word_attribution(r, units.of(r.encoding))
                          for r in results], results
for note in first.notes:
    widgets.show_note(note)
st.markdown(_("**Explained:** {target} = **{value:.4g}** (baseline: {baseline})",
              target=md(tr(first.target_label)), value=first.f_x,
              baseline=_("n/a") if first.f_baseline is None else md(f"{first.f_baseline:.4g}")))
st.html(color_legend_html())
for r in results:
    st.subheader(tr(METHOD_LABELS[r.method]))
    st.html(token_highlight_html(r))
    quality = ua.quality_message(r)
    if quality:
        (st.warning if quality[0] == "warning" else st.caption)(md(quality[1]))
    with st.expander(_("Bar chart"), expanded=len(results) == 1):
        charts.plotly_chart(token_bar_chart(r, tr(METHOD_LABELS[r.method])), key=f"attribution.bar.{r.method}")

if len(results) > 1:
    st.subheader(_("Methods side by side"))
    names = [tr(METHOD_LABELS[r.method]) for r in results]
    charts.plotly_chart(methods_heatmap(results), key="attribution.heatmap")
    left, right = st.columns(2) if len(results) <= 4 else (st.container(), st.container())
    charts.plotly_chart(agreement_heatmap(names, rank_agreement(results, "spearman"), _("Rank agreement: Spearman ρ"),
                                          statistic="ρ"), key="attribution.spearman", container=left)
    charts.plotly_chart(agreement_heatmap(names, rank_agreement(results, "kendall"), _("Rank agreement: Kendall τ"),
                                          statistic="τ"), key="attribution.kendall", container=right)
    st.caption(_("Correlation of the token rankings (special tokens left out). 1 = same order, −1 = reversed."))

if "class" in info.target_kinds:  # every class of a classifier, with the first method: one table
    n_labels = len(ua.class_names(info))
    every = st.toggle(_("Explain every label ({n} labels, about {seconds:.0f} s)", n=n_labels,  # md: trusted
                        seconds=n_labels * lens.estimate_seconds(n_tokens, methods[0], n_steps=n_steps, n_samples=n_samples)),
                      key="attribution.every_label", bind="query-params")
    if every:
        with st.spinner(_("Explaining every label…")):
            every_results = widgets.run_or_stop(lambda: lens.attribute_every_label(
                text, methods[0], output=target.output, **run_kw))
        st.subheader(_("Every label: {method}", method=tr(METHOD_LABELS[methods[0]])))
        st.caption(_("One column per label: what raised (positive) or lowered (negative) that label's {output}.",
                     output=_("probability") if target.output == "prob" else _("logit")))
        st.dataframe(every_label_table(every_results), hide_index=True, key="attribution.every_table")
        e1, e2 = st.columns(2)
        e1.download_button(_("Download every label (CSV)"), to_csv(every_results), "attribution-every-label.csv",
                           "text/csv", key="attribution.every_csv")
        e2.download_button(_("Download every label (JSON)"), to_json(every_results), "attribution-every-label.json",
                           "application/json", key="attribution.every_json")
uc.segment_view(token_results)
if info.generates and info.prompt_is_prefix:  # a causal LM continues the text
    uc.continuation_view(lens, text, uc.gradient_method(token_results), baseline, n_steps)
uc.batch_view(lens, token_results[0].method, target, baseline, n_steps)

d1, d2 = st.columns(2)
d1.download_button(_("Download CSV"), to_csv(token_results), "attribution.csv", "text/csv", key="attribution.csv")
d2.download_button(_("Download JSON (full configuration)"), to_json(token_results), "attribution.json",
                   "application/json", key="attribution.json")
