"""Generation, step by step: watch a causal LM write one token at a time; temperature, top-k and top-p reshape
each step's distribution; click a generated token for its attribution, attention and logit lens."""

import streamlit as st

from plm_core import generation as gen
from plm_core.attribution import METHOD_LABELS, METHODS
from plm_core.errors import PlmCoreError
from plm_core.viz.attribution_plots import color_legend_html, token_bar_chart, token_highlight_html
from plm_core.viz.generation_plots import (
    distribution_figure,
    logit_lens_figure,
    logit_lens_trace,
    step_attention_figure,
)
from ui import generation as ug
from ui import widgets

STEP_METHODS = ["integrated_gradients", "input_x_gradient", "saliency", "occlusion", "attention_rollout"]

handle = widgets.require_handle()
spec = widgets.active_spec()
st.title("Generation")
st.caption("A language model writes one token at a time: it scores every word of its vocabulary, the scores "
           "become probabilities, and one token is chosen — the most likely (greedy) or drawn at random "
           "(sampling). Temperature, top-k and top-p change the distribution it is drawn from.")

generates = gen.can_generate(handle)
mask = handle.tokenizer.mask_token or "[MASK]"
default = "The capital of France is" if generates else f"The capital of France is {mask}."
prompt = widgets.text_area("Prompt", "generation.prompt", default, height=80)
settings = widgets.run_or_stop(ug.settings_controls)


def show_lens(lens) -> None:
    st.plotly_chart(logit_lens_figure(lens), key=f"generation.lens.{lens.position}")
    st.plotly_chart(logit_lens_trace(lens), key=f"generation.lens_trace.{lens.position}")
    if lens.max_abs_diff < 1e-4:
        st.success(f"The last layer's read-out equals the model's own output: max |difference| = {lens.max_abs_diff:.1e}")
    else:
        st.warning(f"The last layer's read-out differs from the model's output by up to {lens.max_abs_diff:.2e}")


if not generates:
    # a masked LM: the distribution at [MASK] under the same settings, and the logit lens there
    encoding, dist = widgets.run_or_stop(lambda: ug.cached_text_distribution(spec, prompt, settings))
    st.info(f"{handle.model_id} is not a left-to-right (causal) language model: it fills in {mask} from both "
            "sides and does not generate. Below: its distribution at the mask, reshaped by the settings, and what "
            "each layer predicts there. Load a causal LM (such as gpt2) to generate.")
    st.plotly_chart(distribution_figure(dist, f"At {mask} (token {dist.position}): {settings.describe()}"),
                    key="generation.dist")
    st.caption(f"{dist.n_kept:,} tokens kept, holding {dist.kept_mass:.1%} of the probability; entropy "
               f"{dist.entropy:.2f} → {dist.entropy_final:.2f} nats.")
    st.subheader("Logit lens")
    show_lens(widgets.run_or_stop(lambda: ug.cached_lens(spec, prompt)))
    st.stop()

generation = ug.current(spec, prompt)
if generation is None:
    generation = widgets.run_or_stop(lambda: gen.start(handle, prompt))
    ug.store(spec, prompt, generation)
    st.session_state.pop("generation.pick", None)
widgets.show_notes(generation.prompt)

b1, b2, b3, b4 = st.columns([1, 1, 1, 1], vertical_alignment="bottom")
next_clicked = b1.button("Next token", key="generation.next", type="primary", disabled=generation.finished)
n_target = b2.number_input("Tokens in all", 1, ug.MAX_RUN, 10, key="generation.n")
run_clicked = b3.button(f"Run to {n_target} tokens", key="generation.run", disabled=generation.finished)
if b4.button("Restart", key="generation.restart"):
    generation = widgets.run_or_stop(lambda: gen.start(handle, prompt))
    ug.store(spec, prompt, generation)
    st.session_state.pop("generation.pick", None)
if next_clicked or (run_clicked and len(generation.steps) < n_target):
    n = 1 if next_clicked else n_target - len(generation.steps)
    with st.spinner("Generating…"):
        generation = widgets.run_or_stop(lambda: gen.generate_steps(handle, generation, settings, n))
    ug.store(spec, prompt, generation)
for note in generation.notes:
    st.info(note[0].upper() + note[1:] + ".")

st.markdown(f"**Text so far** ({len(generation.steps)} generated token(s)):")
st.code(gen.text_of(handle, generation.ids), language=None, wrap_lines=True)
if generation.finished:
    st.info("The model produced its end-of-text token: generation stops here. Restart to try again.")

# the next step under the current settings: moving a slider reshapes it without drawing anything
if not generation.finished:
    dist = widgets.run_or_stop(lambda: gen.next_distribution(handle, generation, settings))
    st.plotly_chart(distribution_figure(dist, f"Next token: {settings.describe()}"), key="generation.dist")
    top = dist.tokens[0]
    st.caption(f"Most likely: “{ug.md(top)}” ({dist.probs[0]:.1%}). {dist.n_kept:,} tokens can be drawn, holding "
               f"{dist.kept_mass:.1%} of the probability (at this temperature); entropy {dist.entropy:.2f} nats "
               f"for the model, {dist.entropy_final:.2f} for what is drawn from.")

if not generation.steps:
    st.stop()

st.subheader("Look at a generated token")
picked = st.pills("Generated tokens — click one", list(range(len(generation.steps))), key="generation.pick",
                  format_func=lambda i: ug.md(generation.steps[i].token),
                  help="Each pill is one generated token, in order (repeated words are separate pills).")
if picked is None:
    st.caption("Click a token to see the distribution it was chosen from, what it depends on, and what each "
               "layer predicted at that step.")
    st.stop()
step = generation.steps[picked]
position = generation.position(picked)
ids = generation.ids[: position + 1]
st.markdown(f"**Token {picked + 1}: “{ug.md(step.token)}”** — rank {step.rank + 1} in the model's distribution "
            f"(p = {step.prob:.2%}); drawn with p = {step.prob_final:.2%} ({step.distribution.settings.describe()}).")
d_tab, a_tab, att_tab, lens_tab = st.tabs(["Distribution", "Attribution", "Attention", "Logit lens"])
with d_tab:
    st.plotly_chart(distribution_figure(step.distribution, f"Step {picked + 1}: {step.distribution.settings.describe()}",
                                        chosen=step.token_id), key="generation.step_dist")
    if step.token_id not in step.distribution.token_ids:
        st.caption(f"The chosen token is outside the {len(step.distribution.token_ids)} most likely shown "
                   f"(rank {step.rank + 1}).")
with a_tab:
    method = st.selectbox("Method", STEP_METHODS, key="generation.method", format_func=METHOD_LABELS.get)
    if method in METHODS:
        try:
            result = ug.cached_step_attribution(spec, ids, generation.n_start, picked, method, generation)
        except PlmCoreError as err:
            st.error(str(err))
        else:
            st.caption(f"What made “{ug.md(step.token)}” likely at its step: {METHOD_LABELS[method]} over the prompt "
                       "and the tokens generated before it.")
            st.html(color_legend_html())
            st.html(token_highlight_html(result))
            st.plotly_chart(token_bar_chart(result, METHOD_LABELS[method]), key="generation.attr_bar")
with att_tab:
    att = widgets.run_or_stop(lambda: ug.cached_step_attention(spec, ids, generation.n_start, picked, generation))
    layer, head = widgets.layer_head_picker("generation.att", att.weights.shape[0], att.weights.shape[1],
                                            default_layer=att.weights.shape[0] - 1)
    st.plotly_chart(step_attention_figure(att, layer, head), key="generation.att_chart")
    st.caption("The query is the last token the model read before writing this one; the keys are every token "
               "before it (the causal mask hides nothing else).")
with lens_tab:
    lens = widgets.run_or_stop(lambda: ug.cached_lens_ids(spec, generation.ids[:position]))
    rank_by_layer = ", ".join(f"{name}: {r + 1}" for name, r in zip(lens.layers, lens.final_ranks))
    st.caption(f"At this step the model's top token was “{ug.md(lens.final_token)}”; its rank layer by layer: "
               f"{rank_by_layer}.")
    show_lens(lens)
