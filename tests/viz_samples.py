"""One real figure (or more) from every figure builder in plm_core.viz, computed by the real core functions.

Shared by the unit test that checks every builder uses the theme and the one diverging scale
(tests/unit/test_theme.py) and by the chart gallery the browser layout tests open (tests/browser/chart_gallery.py).
A builder missing here fails ``test_every_builder_has_a_sample``: add a sample when you add a builder.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable

import numpy as np
import plotly.graph_objects as go

from plm_core import attention as core_attention
from plm_core.viz import attention_plots, attribution_plots, bias_plots, generation_plots, lesson_plots, masking_plots

BUILDER_MODULES = (attention_plots, attribution_plots, bias_plots, generation_plots, lesson_plots, masking_plots)
TEXT = "The nurse said that the doctor was tired because the night was long."


def builders() -> dict[str, Callable]:
    """Every public function of the viz modules that returns plotly figures: ``"module.function"`` → function."""
    out = {}
    for module in BUILDER_MODULES:
        for name, fn in inspect.getmembers(module, inspect.isfunction):
            if fn.__module__ != module.__name__ or name.startswith("_"):
                continue
            ret = str(inspect.signature(fn).return_annotation)
            if "Figure" in ret:
                out[f"{module.__name__.rsplit('.', 1)[1]}.{name}"] = fn
    return out


def sample_figures(encoder, mlm, causal=None) -> dict[str, Callable[[], go.Figure | dict[str, go.Figure]]]:
    """``"module.function[:variant]"`` → a zero-argument function that builds the figure(s).

    Args:
        encoder: a sentence-encoder handle (the embedded MiniLM in the browser, a tiny BERT encoder in unit tests).
        mlm: a masked-LM handle (a tiny BERT MLM).
        causal: a causal-LM handle (a tiny GPT-2) for the generation figures.
    """
    from plm_core.attribution import Target, attribute
    from plm_core.attribution.report import rank_agreement
    from plm_core.bias import crows_pairs, seat, templates
    from plm_core.bias.bec_pro import run_bec_pro
    from plm_core.bias.datasets import BecProRow, CrowsPair, SeatTest
    from plm_core.lessons import compute
    from plm_core import generation
    from plm_core.logit_lens import logit_lens
    from plm_core.masking import MaskSpec, mask_and_predict, occlusion_sweep
    from plm_core.neuron_view import neuron_view

    @functools.cache
    def att():
        return core_attention.extract_attention(encoder, TEXT)

    @functools.cache
    def attributions():
        target = Target("similarity", other="A tired dog lay on the rug.")
        return [attribute(encoder, TEXT, m, target=target, n_steps=16)
                for m in ("integrated_gradients", "input_x_gradient", "saliency")]

    @functools.cache
    def steps():
        return compute.attention_steps(encoder, TEXT, 0)

    @functools.cache
    def masked():
        return mask_and_predict(mlm, "the cat sat on the mat because it was tired", MaskSpec((2, 5)))

    @functools.cache
    def encoded():
        return mask_and_predict(encoder, TEXT, MaskSpec((2,)), reference="A tired dog lay on the rug.")

    @functools.cache
    def template_result():
        tset = templates.TemplateSet("pronouns", ("[PERSON] said that [MASK] was late.", "the [PERSON] is [MASK]."),
                                     (("PERSON", ("nurse", "doctor", "engineer")),), ("he", "she"))
        return templates.probe_templates(mlm, tset)

    @functools.cache
    def crows():
        pairs = [CrowsPair(i, more, less, "stereo", kind) for i, (more, less, kind) in enumerate([
            ("the nurse was a woman", "the nurse was a man", "gender"),
            ("the boss was a man", "the boss was a woman", "gender"),
            ("the poor man was lazy", "the rich man was lazy", "socioeconomic"),
            ("the old man was slow", "the young man was slow", "age"),
        ])]
        return crows_pairs.run_crows_pairs(mlm, pairs)

    @functools.cache
    def bec():
        rows = [BecProRow(i, f"the {p} is a {prof}.", f"the [MASK] is a {prof}.", "the [MASK] is a [MASK].",
                          "the {person} is a {profession}.", p, g, prof, pg)
                for i, (p, g, prof, pg) in enumerate([("man", "male", "nurse", "female"),
                                                      ("woman", "female", "nurse", "female"),
                                                      ("man", "male", "engineer", "male"),
                                                      ("woman", "female", "engineer", "male")])]
        return run_bec_pro(mlm, rows)

    @functools.cache
    def seat_result():
        test = SeatTest("sample", ("the doctor is here.", "the engineer is here."),
                        ("the nurse is here.", "the teacher is here."),
                        ("he is here.", "the man is here."), ("she is here.", "the woman is here."),
                        ("career", "family", "male", "female"))
        return seat.run_seat(encoder, test, n_samples=200)

    @functools.cache
    def token_embeddings():
        return compute.token_embeddings(encoder, TEXT)

    @functools.cache
    def probe():
        return compute.bias_probe(encoder, ("nurse", "engineer", "teacher", "doctor"))

    @functools.cache
    def mask_lesson():
        return compute.mask_lesson(encoder, TEXT)

    @functools.cache
    def generated():
        settings = generation.SamplingSettings(True, 1.5, top_k=12, top_p=0.9, seed=3)
        return generation.generate(causal, "the cat sat on the", settings, 4)

    res_tokens = lambda: att().encoding.tokens  # noqa: E731

    samples: dict[str, Callable] = {
        "attention_plots.attention_heatmap": lambda: attention_plots.attention_heatmap(
            att().weights[0].mean(0), res_tokens(), "Layer 0, average of heads"),
        "attention_plots.attention_heatmap:signed": lambda: attention_plots.attention_heatmap(
            steps().scores[0], steps().encoding.tokens, "QKᵀ/√d_k (layer 0, head 0)", signed=True,
            colorbar_title="score"),
        "attention_plots.query_key_figures": lambda: attention_plots.query_key_figures(
            core_attention.query_key(encoder, TEXT, 0, 1)),
        "attention_plots.token_flow_figure": lambda: attention_plots.token_flow_figure(
            core_attention.token_flow(att(), [2, 5], att().n_layers - 1), res_tokens()),
        "attribution_plots.token_bar_chart": lambda: attribution_plots.token_bar_chart(attributions()[0]),
        "attribution_plots.methods_heatmap": lambda: attribution_plots.methods_heatmap(attributions()),
        "attribution_plots.agreement_heatmap": lambda: attribution_plots.agreement_heatmap(
            [r.method for r in attributions()], rank_agreement(attributions(), "kendall"),
            "Rank agreement: Kendall τ", statistic="τ"),
        "bias_plots.template_figure": lambda: bias_plots.template_figure(template_result()),
        "bias_plots.crows_pairs_figure": lambda: bias_plots.crows_pairs_figure(crows()),
        "bias_plots.bec_pro_figure": lambda: bias_plots.bec_pro_figure(bec()),
        "bias_plots.seat_figure": lambda: bias_plots.seat_figure(seat_result()),
        "bias_plots.estimates_figure": lambda: bias_plots.estimates_figure(
            {"model A": crows().estimates("bias_type")[1:], "model B": crows().estimates("bias_type")[1:]},
            title="CrowS-Pairs: 2 model(s) side by side, 95% Wilson CI", y_title="% of pairs", digits=1, suffix="%",
            reference=50, reference_label="50%: no preference", y_range=(0, 100)),
        "generation_plots.distribution_figure": lambda: generation_plots.distribution_figure(
            generated().steps[-1].distribution, "Step 4: sampling", chosen=generated().steps[-1].token_id),
        "generation_plots.distribution_figure:mlm": lambda: generation_plots.distribution_figure(
            generation.text_distribution(mlm, "the cat sat on the [MASK] .",
                                         generation.SamplingSettings(True, 2.0))[1], "At [MASK]: temperature 2"),
        "generation_plots.step_attention_figure": lambda: generation_plots.step_attention_figure(
            generation.step_attention(causal, generated(), 2), 0, None),
        "generation_plots.logit_lens_figure": lambda: generation_plots.logit_lens_figure(
            logit_lens(mlm, "the cat sat on the [MASK] .", top_k=6)),
        "generation_plots.logit_lens_trace": lambda: generation_plots.logit_lens_trace(
            logit_lens(causal, "the cat sat on the", top_k=6)),
        "generation_plots.neuron_view_figure": lambda: generation_plots.neuron_view_figure(
            neuron_view(core_attention.query_key(encoder, TEXT, 0, 1), 2)),
        "generation_plots.contextual_figure": lambda: (lambda c: generation_plots.contextual_figure(
            c.layers, c.cosines, c.static_cosine, c.word))(compute.contextual_embeddings(
                encoder, "I sat on the river bank.", "I paid at the bank.", "bank")),
        "lesson_plots.vectors_heatmap": lambda: lesson_plots.vectors_heatmap(
            token_embeddings().combined, token_embeddings().encoding.tokens, "Input vectors (first 64 dimensions)"),
        "lesson_plots.token_bars": lambda: lesson_plots.token_bars(
            {"‖token row‖": np.linalg.norm(token_embeddings().word, axis=1),
             "‖position row‖": np.linalg.norm(token_embeddings().position, axis=1),
             "‖segment row‖": np.linalg.norm(token_embeddings().position, axis=1) / 2},
            token_embeddings().encoding.tokens, "Length of each looked-up row"),
        "lesson_plots.head_grid": lambda: lesson_plots.head_grid(
            steps().probs, steps().encoding.tokens, f"All {steps().n_heads} heads of layer 0"),
        "lesson_plots.mask_pair": lambda: lesson_plots.mask_pair(
            mask_lesson().mask, mask_lesson().other_mask, mask_lesson().encoding.tokens,
            "loaded model: bidirectional (BERT-style)", "causal (GPT-style), constructed"),
        "lesson_plots.probe_bars": lambda: lesson_plots.probe_bars(
            probe().scores, probe().occupations, probe().templates, "Association: + leans male, − leans female",
            probe().method),
        "masking_plots.comparison_bars": lambda: masking_plots.comparison_bars(
            encoded().comparisons[0], "Similarity of the edited sentence", names=("original", "edited")),
        "masking_plots.comparison_bars:mlm": lambda: masking_plots.comparison_bars(
            masked().comparisons[0], names=("unmasked", "masked")),
        "masking_plots.fill_in_bars": lambda: masking_plots.fill_in_bars(masked().fill_ins[0]),
        "masking_plots.occlusion_bars": lambda: masking_plots.occlusion_bars(
            occlusion_sweep(encoder, TEXT, reference="A tired dog lay on the rug.")),
        "masking_plots.token_pair_bars": lambda: masking_plots.token_pair_bars(
            [f"{i}:{t}" for i, t in enumerate(res_tokens())], attributions()[0].scores, attributions()[1].scores,
            "Integrated Gradients on matched tokens — target: similarity", names=("A", "B")),
        "masking_plots.distribution_bars": lambda: masking_plots.distribution_bars(
            ["positive", "negative", "neutral"], np.array([0.7, 0.2, 0.1]), "Class probabilities"),
    }
    return samples


def figures_of(value: go.Figure | dict[str, go.Figure]) -> list[go.Figure]:
    return list(value.values()) if isinstance(value, dict) else [value]
