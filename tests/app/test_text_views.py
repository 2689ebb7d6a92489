"""AppTest of the text views on every page: the tokens/words switch (?units=words), word-level charts equal the
core's aggregation, pickers keyed by position with unique labels, token text in non-Markdown elements."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import chart_specs, lesson_query, open_page, plotly_array, shown

from plm_core.attention import extract_attention, head_average
from plm_core.attribution import attribute
from plm_core.loading import ModelSpec, load_model
from plm_core.tokens import encode
from plm_core.words import aggregate_attention, aggregate_scores, jieba_segmenter, word_spans

TEXT = "the quickest brownish cat sat on the mat"


def _heatmap(at, title_start: str) -> dict:
    for spec in chart_specs(at):
        title = str(spec["layout"].get("title", {}).get("text", ""))
        if title.startswith(title_start):
            return spec["data"][0]
    raise AssertionError(f"no chart titled {title_start!r}")


def test_attention_page_in_words(app_factory, tiny_dirs):
    at = open_page(app_factory, tiny_dirs["masked_lm"], "pages/attention.py", {"units": "words"})
    at.text_area(key="attention.text").input(TEXT).run()
    assert at.segmented_control(key="units").value == "words" and at.query_params["units"] == "words"
    handle = load_model(ModelSpec(str(tiny_dirs["masked_lm"]), device="cpu"))
    res = extract_attention(handle, TEXT)
    words = word_spans(res.encoding)
    heat = _heatmap(at, "Layer 0, average of heads")
    assert heat["x"] == [f"{i}:{w}" for i, w in enumerate(words.tokens)]
    z = plotly_array(heat["z"])
    np.testing.assert_allclose(z, aggregate_attention(head_average(res, 0), words), atol=1e-5)
    np.testing.assert_allclose(z.sum(-1), 1.0, atol=1e-5)
    for frame in at.get("iframe"):  # bertviz draws words too
        assert '"quickest"' in frame.proto.srcdoc and '"##est"' not in frame.proto.srcdoc
    assert any(f"{len(words)} words" in m.value for m in at.markdown)
    # the flow picker is over words, one label per word
    flow = at.multiselect(key="attention.flow_words")
    assert len(set(flow.options)) == len(flow.options) == len(words)
    # back to tokens (the address bar follows in the browser: tests/browser/test_text_browser.py)
    at.segmented_control(key="units").set_value("tokens").run()
    assert len(_heatmap(at, "Layer 0")["x"]) == len(res.encoding)
    assert not at.exception


def test_attribution_page_in_words(app_factory, tiny_dirs):
    at = open_page(app_factory, tiny_dirs["classifier"], "pages/attribution.py", {"units": "words"})
    at.text_area(key="attribution.text").input(TEXT).run()
    assert not at.exception
    handle = load_model(ModelSpec(str(tiny_dirs["classifier"]), device="cpu"))
    res = attribute(handle, TEXT, "integrated_gradients")
    words = word_spans(res.encoding)
    from plm_core.attribution import METHOD_LABELS

    bars = _heatmap(at, METHOD_LABELS["integrated_gradients"])
    assert bars["x"] == [f"{i}:{w}" for i, w in enumerate(words.tokens)]
    np.testing.assert_allclose(plotly_array(bars["y"]), aggregate_scores(res.scores, words), atol=1e-4)
    html = at.get("html")
    assert any(">quickest<" in h.proto.body for h in html)


def test_compare_page_in_words(app_factory, tiny_dirs):
    at = open_page(app_factory, tiny_dirs["masked_lm"], "pages/compare.py", {"units": "words"})
    at.text_input(key="compare.a").input("the quickest cat sat").run()
    at.text_input(key="compare.b").input("the slowest cat sat").run()
    assert not at.exception
    table = at.dataframe[0].value
    assert list(table["A"]) == ["[CLS]", "the", "quickest", "", "cat", "sat", "[SEP]"]
    assert list(table["B"]) == ["[CLS]", "the", "", "slowest", "cat", "sat", "[SEP]"]
    assert any("Aligned words" in m.value for m in at.markdown)


def test_chinese_words_with_jieba_on_the_embedded_model(app_factory):
    text = "老师说今天的课很有意思。"
    at = open_page(app_factory, "embedded", "pages/attention.py", {"units": "words"})
    at.text_area(key="attention.text").input(text).run()
    assert at.toggle(key="zh_words").value is True
    words = word_spans(encode(load_model(ModelSpec("embedded", device="cpu")), text)[0], jieba_segmenter)
    assert _heatmap(at, "Layer 0")["x"] == [f"{i}:{w}" for i, w in enumerate(words.tokens)]
    assert "有[UNK:意思]" in words.tokens
    assert any(i.value.startswith("8 of 12 characters are unknown") for i in at.info)
    at.toggle(key="zh_words").set_value(False).run()  # the tokenizer's words: one per character
    assert len(_heatmap(at, "Layer 0")["x"]) == 14


def test_lessons_token_table_shows_markdown_characters(app_factory):
    """Issue 12: the Lessons token table showed >, -, *, + and # as empty cells (st.table renders Markdown)."""
    text = "> - * + # ok"
    at = open_page(app_factory, "embedded", "pages/lessons.py",
                   lesson_query(1, 1, text=text, reveal=True))
    tokens = [shown(t) for t in at.table[0].value["token"]]  # st.table renders cells as Markdown
    assert tokens == ["[CLS]", ">", "-", "*", "+", "#", "ok", "[SEP]"]
    assert "[CLS] · > · - · * · + · # · ok · [SEP]" in [c.value for c in at.code]


@pytest.mark.parametrize("page, key", [("pages/attention.py", "attention.text")])
def test_token_pickers_have_one_label_per_position(app_factory, tiny_dirs, page, key):
    at = open_page(app_factory, tiny_dirs["masked_lm"], page)
    at.text_area(key=key).input("the cat sat on the mat the end").run()
    for widget in [*at.multiselect, *at.get("button_group")]:
        options = list(widget.options)
        assert len(set(options)) == len(options), (widget.key, options)


def test_presenter_view_keeps_the_word_view_from_the_link(app_factory, tiny_dirs):
    """The presenter view hides the controls: the switch's value comes from the link (?units=words)."""
    from plm_core.lessons.content import get_lesson

    step = next(n for n, s in enumerate(get_lesson(2).steps, start=1) if s.view == "softmax")
    at = open_page(app_factory, tiny_dirs["masked_lm"], "pages/lessons.py",
                   lesson_query(2, step, text="the quickest cat", reveal=True, presenter=True) | {"units": "words"})
    words = word_spans(encode(load_model(ModelSpec(str(tiny_dirs["masked_lm"]), device="cpu")), "the quickest cat")[0])
    heat = _heatmap(at, "softmax")
    assert heat["x"] == [f"{i}:{w}" for i, w in enumerate(words.tokens)]
    np.testing.assert_allclose(plotly_array(heat["z"]).sum(-1), 1.0, atol=1e-5)
