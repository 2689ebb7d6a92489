"""Issue 13, item 1: every page's view from its link (Streamlit's ``bind="query-params"``), and widget state that
survives switching probes and pages.

A view configured by hand and the same view opened from a link (the query parameters the browser's address bar
shows: the widget key, a choice by its label) draw the same charts, with the same numbers; both differ from the
page's default view, so a link that is ignored fails. (The address bar itself, written by the frontend, and the
back button: tests/browser/test_links_browser.py. AppTest has no address bar.)

Cases from the issue: Attention, Attribution and Bias probes kept only ``?model=``; switching bias probe and back
emptied the template editor; coming back from a drill-down reset the probe and lost the uploaded file. Lesson links
(revealed answer without a verdict): tests/app/test_lessons_page.py.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Callable

import numpy as np
import pytest
from helpers import chart_specs, open_page, plotly_array, shown
from hostile_ui import FRAGMENTS, markup_problems

from plm_core.lessons.content import LESSONS
from plm_core.tokens import MAX_CHARS


def charts(at) -> list[tuple[str, str]]:
    """(title, data as JSON) of every chart the last run drew."""
    return [(f["layout"].get("title", {}).get("text", ""), json.dumps(f["data"], sort_keys=True))
            for f in chart_specs(at)]


@dataclass(frozen=True)
class View:
    name: str
    model: str  # a key of tiny_dirs
    page: str
    by_hand: Callable  # (AppTest) -> None: set the widgets as a user would
    link: dict  # the same view's query parameters


def _attention(at):
    at.text_area(key="attention.text").input("the dog sat on the mat").run()
    at.selectbox(key="attention.heat.layer").set_value(1).run()
    at.selectbox(key="attention.heat.head").set_value(2).run()
    at.selectbox(key="attention.flow.layer").set_value(0).run()
    at.multiselect(key="attention.flow_tokens").set_value([1, 4]).run()
    at.selectbox(key="attention.qk.layer").set_value(1).run()
    at.selectbox(key="attention.qk.head").set_value(3).run()


def _attribution(at):
    at.text_area(key="attribution.text").input("a dull and joyless film").run()
    at.multiselect(key="attribution.methods").set_value(["saliency", "integrated_gradients"]).run()
    at.radio(key="attribution.baseline").set_value("mask").run()
    at.selectbox(key="attribution.steps").set_value(16).run()
    at.radio(key="attribution.output").set_value("logit").run()


def _masking(at):
    at.text_input(key="masking.text").input("the cat sat on the mat").run()
    at.pills(key="masking.masks").set_value([2, 5]).run()
    at.segmented_control(key="masking.strategy").set_value("delete").run()
    at.toggle(key="masking.sweep").set_value(True).run()


def _compare(at):
    at.text_input(key="compare.a").input("the cat sat on the mat").run()
    at.text_input(key="compare.b").input("a dog lay on the rug").run()
    at.selectbox(key="compare.layer").set_value(0).run()
    at.selectbox(key="compare.head").set_value(1).run()
    at.toggle(key="compare.attr").set_value(True).run()
    at.selectbox(key="compare.method").set_value("saliency").run()


def _generation(at):
    at.text_area(key="generation.prompt").input("the cat sat on the").run()
    at.slider(key="generation.temperature").set_value(0.5).run()
    at.slider(key="generation.top_k").set_value(5).run()


def _lessons(at):
    at.selectbox(key="lessons.lesson").set_value(2).run()
    at.segmented_control(key="lessons.step").set_value(3).run()
    at.text_area(key="lessons.text.2").input("the dog sat on the mat").run()
    at.selectbox(key="lessons.layer").set_value(1).run()
    at.selectbox(key="lessons.head").set_value(3).run()
    at.radio(key="lessons.guess.2.3").set_value(0).run()
    at.toggle(key="lessons.reveal.2.3").set_value(True).run()


VIEWS = (
    View("attention", "masked_lm", "pages/attention.py", _attention,
         {"attention.text": "the dog sat on the mat", "attention.heat.layer": "1", "attention.heat.head": "2",
          "attention.flow.layer": "0", "attention.flow_tokens": ["1:the", "4:on"], "attention.qk.layer": "1",
          "attention.qk.head": "3", "attention.view": "Token flow"}),
    View("attribution", "classifier", "pages/attribution.py", _attribution,
         {"attribution.text": "a dull and joyless film", "attribution.methods": ["Saliency", "Integrated Gradients"],
          "attribution.baseline": "[MASK] tokens", "attribution.steps": "16", "attribution.output": "logit"}),
    View("masking", "classifier", "pages/masking.py", _masking,
         {"masking.text": "the cat sat on the mat", "masking.masks": ["cat", "the²"], "masking.strategy": "delete",
          "masking.sweep": "true"}),
    View("compare", "classifier", "pages/compare.py", _compare,
         {"compare.a": "the cat sat on the mat", "compare.b": "a dog lay on the rug", "compare.layer": "0",
          "compare.head": "1", "compare.attr": "true", "compare.method": "Saliency"}),
    View("generation", "causal_lm", "pages/generation.py", _generation,
         {"generation.prompt": "the cat sat on the", "generation.temperature": "0.5", "generation.top_k": "5"}),
    View("lessons", "masked_lm", "pages/lessons.py", _lessons,
         {"lessons.lesson": f"2. {LESSONS[1].title('en')}", "lessons.step": "3",
          "lessons.text.2": "the dog sat on the mat", "lessons.layer": "1", "lessons.head": "3",
          "lessons.reveal.2.3": "true"}),
)


@pytest.mark.parametrize("view", VIEWS, ids=[v.name for v in VIEWS])
def test_a_link_opens_the_view_configured_by_hand(app_factory, tiny_dirs, view):
    at = open_page(app_factory, tiny_dirs[view.model], view.page)
    default = charts(at)
    view.by_hand(at)
    assert not at.exception and not at.error, (at.exception, [e.value for e in at.error])
    configured = charts(at)
    assert configured and configured != default  # the configuration changes what is drawn
    linked = open_page(app_factory, tiny_dirs[view.model], view.page, view.link)
    assert not linked.error, [e.value for e in linked.error]
    assert charts(linked) == configured


def test_an_attention_link_draws_the_heads_of_its_sentence(app_factory, tiny_dirs):
    """The numbers, from transformers directly: layer 1, head 2 of the link's sentence."""
    import torch
    from transformers import AutoModelForMaskedLM, AutoTokenizer

    text = "the dog sat on the mat"
    at = open_page(app_factory, tiny_dirs["masked_lm"], "pages/attention.py",
                   {"attention.text": text, "attention.heat.layer": "1", "attention.heat.head": "2"})
    heat = next(f for f in chart_specs(at) if f["layout"]["title"]["text"] == "Layer 1, head 2")
    tok = AutoTokenizer.from_pretrained(tiny_dirs["masked_lm"])
    model = AutoModelForMaskedLM.from_pretrained(tiny_dirs["masked_lm"], attn_implementation="eager").eval()
    with torch.no_grad():
        out = model(**tok(text, return_tensors="pt"), output_attentions=True)
    np.testing.assert_allclose(plotly_array(heat["data"][0]["z"]), out.attentions[1][0, 2].numpy(), atol=1e-5)


def _settle(at) -> None:
    """Wait for the bias runs' worker threads, then rerun to show what they stored."""
    from plm_core.bias import worker

    assert worker.wait_all(180)
    at.run()


def test_a_bias_link_opens_the_probe_view_and_editor(app_factory, tiny_dirs):
    query = {"bias.probe": "Templates", "bias.templates": "[MASK] is a [JOB].", "bias.slots": "JOB: nurse, doctor",
             "bias.targets": "he, she"}
    at = open_page(app_factory, tiny_dirs["masked_lm"], "pages/bias.py", query)
    assert at.text_area(key="bias.templates").value == "[MASK] is a [JOB]."
    assert at.text_area(key="bias.slots").value == "JOB: nurse, doctor"
    at.button(key="bias.template.run").click().run()
    _settle(at)
    assert not at.exception and not at.error
    fig = chart_specs(at)[0]
    assert [list(t["x"]) for t in fig["data"] if t["type"] == "bar"][0] == ["nurse", "doctor"]
    # another probe's form from a link
    query = {"bias.probe": "CrowS-Pairs", "bias.crows_pairs.sample": "5", "bias.crows_pairs.seed": "7"}
    at = open_page(app_factory, tiny_dirs["masked_lm"], "pages/bias.py", query)
    assert at.radio(key="bias.probe").value == "crows_pairs"
    assert at.number_input(key="bias.crows_pairs.sample").value == 5
    assert at.number_input(key="bias.crows_pairs.seed").value == 7


def test_switching_bias_probe_and_back_keeps_the_template_editor(app_factory, tiny_dirs):
    at = open_page(app_factory, tiny_dirs["masked_lm"], "pages/bias.py")
    at.text_area(key="bias.templates").input("[MASK] worked as a [JOB].").run()
    at.text_area(key="bias.targets").input("he, she, they").run()
    for probe in ("crows_pairs", "seat", "template"):
        at.radio(key="bias.probe").set_value(probe).run()
        assert not at.exception
    assert at.text_area(key="bias.templates").value == "[MASK] worked as a [JOB]."
    assert at.text_area(key="bias.targets").value == "he, she, they"
    at.radio(key="bias.view").set_value("runs").run()
    at.radio(key="bias.view").set_value("run").run()
    assert at.text_area(key="bias.templates").value == "[MASK] worked as a [JOB]."


CROWS_CSV = ("sent_more,sent_less,stereo_antistereo,bias_type\n"
             "the man was a nurse,the woman was a nurse,stereo,gender\n"
             "the woman was a doctor,the man was a doctor,antistereo,gender\n"
             "the poor man is lazy,the rich man is lazy,stereo,socioeconomic\n")


def test_back_from_a_drill_down_keeps_the_probe_the_upload_and_the_pair(app_factory, tiny_dirs):
    at = open_page(app_factory, tiny_dirs["masked_lm"], "pages/bias.py")
    at.radio(key="bias.probe").set_value("crows_pairs").run()
    at.file_uploader(key="bias.crows_pairs.upload").set_value(("mine.csv", CROWS_CSV.encode(), "text/csv")).run()
    at.button(key="bias.crows_pairs.run").click().run()
    _settle(at)
    assert not at.exception and not at.error
    at.selectbox(key="bias.crows.item").set_value(2).run()
    at.button(key="bias.crows.open.attention_A").click().run()  # the drill-down
    assert not at.exception and at.text_area(key="attention.text").value == "the poor man is lazy"
    at.switch_page("pages/bias.py").run()  # and back
    assert not at.exception and not at.error
    assert at.radio(key="bias.probe").value == "crows_pairs"
    assert any("Using mine.csv" in t.value for t in at.text)  # the uploaded file, kept for this session
    assert at.selectbox(key="bias.crows.item").value == 2
    at.button(key="bias.crows_pairs.run").click().run()  # runs on the kept file: 3 pairs, not the public set
    _settle(at)
    assert not at.exception and not at.error
    assert at.selectbox(key="bias.crows.item").options == [f"#{i} " + x for i, x in
                                                           enumerate(["gender: the man was a nurse",
                                                                      "gender: the woman was a doctor",
                                                                      "socioeconomic: the poor man is lazy"])]


# ------------------------------------------------------------------ links are user input (issue 10) ----

TEXT_PARAMS = (  # page, model, a bound text box's query parameter
    ("pages/attention.py", "masked_lm", "attention.text"),
    ("pages/attribution.py", "masked_lm", "attribution.text"),
    ("pages/masking.py", "masked_lm", "masking.text"),
    ("pages/compare.py", "masked_lm", "compare.a"),
    ("pages/lessons.py", "masked_lm", "lessons.text.1"),
)


@pytest.mark.parametrize(("page", "model", "param"), TEXT_PARAMS, ids=[p[2] for p in TEXT_PARAMS])
def test_hostile_link_text_shows_literally_and_a_long_one_is_cut(app_factory, tiny_dirs, page, model, param):
    hostile = " ".join(FRAGMENTS[:6]) + " [MASK]"
    at = open_page(app_factory, tiny_dirs[model], page, {param: hostile, "lessons.reveal.1.1": "true"})
    box = next(b for b in [*at.text_area, *at.text_input] if b.key == param)
    assert box.value == hostile  # in the box as written
    assert not markup_problems(at), markup_problems(at)
    # a long text from a link is cut to what the app keeps, like a typed one (the box holds MAX_CHARS: issue 25,
    # item 7), and the page says so
    n = MAX_CHARS + 5_000
    long = ("[MASK] " + "word " * n)[:n]
    at = open_page(app_factory, tiny_dirs[model], page, {param: long, "lessons.reveal.1.1": "true"})
    assert not at.exception and not at.error, [e.value for e in at.error]
    box = next(b for b in [*at.text_area, *at.text_input] if b.key == param)
    assert box.value == long[:MAX_CHARS]
    said = " ".join(shown(m.value) for kind in ("info", "warning", "caption", "markdown") for m in getattr(at, kind))
    said += " ".join(shown(c.value) for c in at.sidebar.caption)
    assert f"keeps at most {MAX_CHARS:,} characters" in said and param in said, said[:500]


def test_a_link_with_values_a_widget_cannot_take_opens_the_defaults(app_factory, tiny_dirs):
    query = {"attention.heat.layer": "99", "attention.heat.head": "-1; drop", "attention.view": "<script>",
             "attention.mode": "rollout!", "attribution.methods": ["nope"], "compare.head": "x"}
    at = open_page(app_factory, tiny_dirs["masked_lm"], "pages/attention.py", query)
    assert not at.error
    assert at.selectbox(key="attention.heat.layer").value == 0 and at.selectbox(key="attention.heat.head").value is None
    assert at.radio(key="attention.mode").value == "attention"
