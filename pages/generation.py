"""Generation, step by step: watch a language model write one token at a time; temperature, top-k and top-p
reshape each step's distribution; click a generated token for its attribution, attention and logit lens."""

import ui.preload  # noqa: F401  first: a page opened by its URL runs without app.py (see ui/preload.py)

import streamlit as st

from plm_core import tolerances
from plm_core.attribution import METHOD_LABELS, METHOD_SPECS, methods_where
from plm_core.errors import PlmCoreError
from plm_core.models import CAUSAL_LMS
from plm_core.viz.attribution_plots import color_legend_html, token_bar_chart, token_highlight_html
from plm_core.viz.generation_plots import (
    distribution_figure,
    logit_lens_figure,
    logit_lens_trace,
    step_attention_figure,
)
from ui import charts, widgets
from ui import generation as ug
from ui.safe import md
from plm_core.i18n import _, tr

STEP_METHODS = list(methods_where(generation_step=True))

info = widgets.require_info()
spec = widgets.active_spec()
lens = widgets.lens()
st.title(_("Generation"))
st.caption(_("A language model writes one token at a time: it scores every word of its vocabulary, the scores "
             "become probabilities, and one token is chosen — the most likely (greedy) or drawn at random "
             "(sampling). Temperature, top-k and top-p change the distribution it is drawn from."))

generates = info.generates
if not (generates or info.output == "masked_token"):  # no language-model head: say what to load, and offer it
    widgets.offer_models(_("{model} ({kind}) has no language-model head: it cannot generate, nor fill in a word. "
                           "Load a causal LM (the embedded SmolLM2 or Gemma 3, or gpt2) or an encoder-decoder (t5-small) to "
                           "generate, or a masked LM to see the distribution at its mask.", model=md(info.model_id),
                           kind=md(tr(info.kind_label))),
                         lambda other: other.generates or other.output == "masked_token",
                         suggested=(*CAUSAL_LMS, "gpt2", "t5-small"), key="generation.offer")
    st.stop()
default = info.example("attribution" if generates else "default")
prompt = widgets.text_area(_("Prompt"), "generation.prompt", default, height=80)
prompt = widgets.chat_wrapped(spec, prompt, "generation.chat")
settings = widgets.run_or_stop(ug.settings_controls)


def show_lens(lens) -> None:
    charts.plotly_chart(logit_lens_figure(lens), key=f"generation.lens.{lens.position}")
    charts.plotly_chart(logit_lens_trace(lens), key=f"generation.lens_trace.{lens.position}")
    widgets.check_equal(_("The last layer's read-out"), _("the model's own output"), lens.max_abs_diff,
                        tolerances.PROBS)  # probabilities


if not generates:
    # a masked LM: the distribution at [MASK] under the same settings, and the logit lens there
    encoding, dist = widgets.run_or_stop(lambda: lens.text_distribution(prompt, settings))
    widgets.show_notes(encoding)
    mask = encoding.tokens[dist.position]
    st.info(_("{model} is not a left-to-right language model: it fills in {mask} from both sides and does not "
              "generate. Below: its distribution at the mask, reshaped by the settings, and what each layer predicts "
              "there. Load a causal LM (such as gpt2) or an encoder-decoder (t5-small) to generate.",
              model=md(info.model_id), mask=md(mask)))
    charts.plotly_chart(distribution_figure(dist, _("At {mask} (token {position}): {settings}", mask=mask,
                                                    position=dist.position, settings=tr(settings.describe()))),
                        key="generation.dist")
    st.caption(_("{n:,} tokens kept, holding {mass:.1%} of the probability; entropy {before:.2f} → {after:.2f} nats.",
                 n=dist.n_kept, mass=dist.kept_mass, before=dist.entropy, after=dist.entropy_final))
    st.subheader(_("Logit lens"))
    show_lens(widgets.run_or_stop(lambda: lens.logit_lens(prompt, top_k=8)))
    st.stop()

generation = ug.current(spec, prompt)
if generation is None:
    generation = widgets.run_or_stop(lambda: lens.generation_start(prompt))
    ug.store(spec, prompt, generation)
    st.session_state.pop("generation.pick", None)

b1, b2, b3, b4 = st.columns([1, 1, 1, 1], vertical_alignment="bottom")
next_clicked = b1.button(_("Next token"), key="generation.next", type="primary", disabled=generation.finished)
n_target = b2.number_input(_("Tokens in all"), 1, ug.MAX_RUN, 10, key="generation.n", bind="query-params")
run_clicked = b3.button(_("Run to {n} tokens", n=int(n_target)), key="generation.run", disabled=generation.finished)
if b4.button(_("Restart"), key="generation.restart"):
    generation = widgets.run_or_stop(lambda: lens.generation_start(prompt))
    ug.store(spec, prompt, generation)
    st.session_state.pop("generation.pick", None)
if next_clicked or (run_clicked and len(generation.steps) < n_target):
    n = 1 if next_clicked else n_target - len(generation.steps)
    with st.spinner(_("Generating…")):
        generation = widgets.run_or_stop(lambda: lens.generate_steps(generation, settings, n))
    ug.store(spec, prompt, generation)
for note in generation.notes:  # the prompt's (cut past the limit …) and the generation's (stopped at the limit)
    widgets.show_note(note)

if not info.prompt_is_prefix:
    st.caption(_("An encoder-decoder: the encoder reads the prompt; the decoder writes a new text from its start "
                 "token, looking at the prompt through cross-attention."))
st.markdown(_("**Text so far** ({n} generated token(s)):", n=len(generation.steps)))
st.code(lens.text_of(generation.ids), language=None, wrap_lines=True)  # the tokenizer decodes the generated ids
if generation.finished:
    st.info(_("The model produced its end-of-text token: generation stops here. Restart to try again."))

# the next step under the current settings: moving a slider reshapes it without drawing anything
if not generation.finished:
    dist = widgets.run_or_stop(lambda: lens.next_distribution(generation, settings))
    charts.plotly_chart(distribution_figure(dist, _("Next token: {settings}", settings=tr(settings.describe()))),
                        key="generation.dist")
    st.caption(_("Most likely: “{token}” ({p:.1%}). {n:,} tokens can be drawn, holding {mass:.1%} of the probability "
                 "(at this temperature); entropy {before:.2f} nats for the model, {after:.2f} for what is drawn from.",
                 token=md(dist.tokens[0]), p=dist.probs[0], n=dist.n_kept, mass=dist.kept_mass, before=dist.entropy,
                 after=dist.entropy_final))

if not generation.steps:
    st.stop()

st.subheader(_("Look at a generated token"))
# read as one sequence: a character split over byte pieces is named in each ("中 1/3"), not as a lone byte
labels = lens.token_strings(generation.ids, apart=False)[generation.n_start:]
# the tokens of this session's run (not for links: a link cannot replay the clicks that made them)
picked = st.pills(_("Generated tokens — click one"), list(range(len(generation.steps))), key="generation.pick",
                  persist_state="session", format_func=lambda i: md(labels[i]),
                  help=_("Each pill is one generated token, in order (repeated words are separate pills)."))
if picked is None:
    st.caption(_("Click a token to see the distribution it was chosen from, what it depends on, and what each "
                 "layer predicted at that step."))
    st.stop()
step = generation.steps[picked]
position = generation.position(picked)
st.markdown(_("**Token {number}: “{token}”** — rank {rank} in the model's distribution (p = {p:.2%}); drawn with "
              "p = {p_final:.2%} ({settings}).", number=int(picked + 1), token=md(step.token), rank=int(step.rank + 1),
              p=step.prob, p_final=step.prob_final, settings=md(tr(step.distribution.settings.describe()))))
d_tab, a_tab, att_tab, lens_tab = st.tabs([_("Distribution"), _("Attribution"), _("Attention"), _("Logit lens")])
with d_tab:
    charts.plotly_chart(distribution_figure(step.distribution, _("Step {number}: {settings}", number=picked + 1,
                                                                  settings=tr(step.distribution.settings.describe())),
                                            chosen=step.token_id), key="generation.step_dist")
    if step.token_id not in step.distribution.token_ids:
        st.caption(_("The chosen token is outside the {n} most likely shown (rank {rank}).",
                     n=len(step.distribution.token_ids), rank=int(step.rank + 1)))
with a_tab:
    method = st.selectbox(_("Method"), STEP_METHODS, key="generation.method", format_func=lambda m: tr(METHOD_LABELS[m]),
                          bind="query-params")
    if method in METHOD_SPECS:
        try:
            result = lens.attribute_step(generation, picked, method)
        except PlmCoreError as err:
            st.error(md(tr(err)))
        else:
            st.caption(_("What made “{token}” likely at its step: {method} over the prompt and the tokens generated "
                         "before it.", token=md(step.token), method=md(tr(METHOD_LABELS[method]))))
            st.html(color_legend_html())
            st.html(token_highlight_html(result))
            charts.plotly_chart(token_bar_chart(result, tr(METHOD_LABELS[method])), key="generation.attr_bar")
with att_tab:
    att = widgets.run_or_stop(lambda: lens.step_attention(generation, picked))
    layer, head = widgets.layer_head_picker("generation.att", att.weights.shape[0], att.weights.shape[1],
                                            default_layer=att.weights.shape[0] - 1)
    charts.plotly_chart(step_attention_figure(att, layer, head), key="generation.att_chart")
    st.caption(_("The query is the last token the model read before writing this one; the keys are every token "
                 "before it (the causal mask hides nothing else).") if info.prompt_is_prefix else
               _("The decoder's self-attention: the query is the last target token read before writing this one; the "
                 "keys are the target tokens before it (the source is read through cross-attention, not shown)."))
with lens_tab:
    try:
        traced = lens.logit_lens_ids(generation.ids[:position], top_k=8)
    except PlmCoreError as err:
        st.info(md(tr(err)))
    else:
        rank_by_layer = ", ".join(f"{tr(name)}: {r + 1}" for name, r in zip(traced.layers, traced.final_ranks))
        st.caption(_("At this step the model's top token was “{token}”; its rank layer by layer: {ranks}.",
                     token=md(traced.final_token), ranks=md(rank_by_layer)))
        show_lens(traced)
