"""AppTest of the masking lab on tiny models: charts equal the core, state comes from and goes to the URL."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import chart_specs as figures, shown
from helpers import open_page, plotly_array

from plm_core.loading import ModelSpec, load_model
from plm_core.masking import MaskSpec, mask_and_predict
from plm_core.tokens import encode
from plm_core.words import word_spans


def test_classifier_masking_follows_the_clicked_tokens(app_factory, tiny_dirs):
    at = open_page(app_factory, tiny_dirs["classifier"], "pages/masking.py")
    at.text_input(key="masking.text").input("the cat sat on the mat").run()
    assert at.pills(key="masking.masks").options == ["the¹", "cat", "sat", "on", "the²", "mat"]
    at.pills(key="masking.masks").set_value([2]).run()
    assert not at.exception
    (fig,) = figures(at)
    handle = load_model(ModelSpec(str(tiny_dirs["classifier"]), device="cpu"))
    cmp = mask_and_predict(handle, "the cat sat on the mat", MaskSpec((2,))).comparisons[0]
    by_name = {t["name"]: t for t in fig["data"]}
    labels = list(by_name["original"]["y"])
    order = [cmp.labels.index(x) for x in labels]
    np.testing.assert_allclose(plotly_array(by_name["original"]["x"]), cmp.original[order], atol=1e-6)
    np.testing.assert_allclose(plotly_array(by_name["edited"]["x"]), cmp.perturbed[order], atol=1e-6)
    assert "[CLS] the [MASK] sat on the mat [SEP]" in [c.value for c in at.code]


def test_a_shared_link_reproduces_the_view(app_factory, tiny_dirs):
    """Widgets bound to the URL: the parameter is the widget key, a choice is its label (masks: the pills')."""
    query = {"masking.text": "the cat sat on the mat", "masking.masks": ["cat", "sat"], "masking.strategy": "delete",
             "masking.sweep": "true"}
    at = open_page(app_factory, tiny_dirs["classifier"], "pages/masking.py", query)
    assert at.session_state["masking.masks"] == [2, 3]
    assert at.segmented_control(key="masking.strategy").value == "delete"
    assert "[CLS] the on the mat [SEP]" in [c.value for c in at.code]
    titles = [f["layout"]["title"]["text"] for f in figures(at)]
    assert titles[0] == "Class probabilities" and titles[1].startswith("Occlusion (mask token)")


def test_special_token_from_a_link_is_not_offered_and_a_shorter_text_says_why(app_factory, tiny_dirs):
    query = {"masking.text": "the cat", "masking.masks": [r"\[CLS\]", "[CLS]", "the", "dog"],
             "masking.strategy": "rm -rf", "masking.sweep": "maybe"}
    at = open_page(app_factory, tiny_dirs["classifier"], "pages/masking.py", query)
    assert at.session_state["masking.masks"] == [1]  # labels that name no pill are dropped
    assert at.segmented_control(key="masking.strategy").value == "mask_token"  # unknown: the default
    assert at.toggle(key="masking.sweep").value is False
    assert not at.error and not at.exception
    at.pills(key="masking.masks").set_value([1, 2]).run()
    at.text_input(key="masking.text").input("the").run()  # position 2 is now [SEP]
    assert any("special token" in shown(w.value) and "always sees" in w.value for w in at.warning)
    assert at.session_state["masking.masks"] == [1]
    assert not at.error and not at.exception


def test_masked_lm_fill_ins_and_substitute(app_factory, tiny_dirs):
    at = open_page(app_factory, tiny_dirs["masked_lm"], "pages/masking.py")
    at.text_input(key="masking.text").input("the cat sat on the mat").run()
    at.pills(key="masking.masks").set_value([2, 6]).run()
    titles = [f["layout"]["title"]["text"] for f in figures(at)]
    assert sum(t.startswith("Fill-ins at position") for t in titles) == 2
    assert any("independently" in shown(i.value) for i in at.info)
    at.segmented_control(key="masking.strategy").set_value("substitute").run()
    assert any("Type the word" in shown(i.value) for i in at.info)
    at.text_input(key="masking.sub").input("lazy brown").run()
    assert not at.exception
    assert any("2 tokens" in shown(i.value) for i in at.info)
    assert "[CLS] the lazy brown sat on the lazy brown [SEP]" in [c.value for c in at.code]


@pytest.mark.parametrize("kind", ["causal_lm", "encoder"])
def test_other_kinds_render(app_factory, tiny_dirs, kind):
    at = open_page(app_factory, tiny_dirs[kind], "pages/masking.py")
    masks = at.pills(key="masking.masks")
    masks.set_value([masks.options and 1]).run()
    assert not at.exception and not at.error
    title = figures(at)[0]["layout"]["title"]["text"]
    assert title == {"causal_lm": "Next token", "encoder": "Similarity of the edited sentence"}[kind]
    if kind == "causal_lm":  # GPT-2 has no mask token: deletion is the default edit
        assert at.segmented_control(key="masking.strategy").options == ["delete", "substitute a word"]


@pytest.mark.parametrize("text", ["the cat sat on the mat", "天天向上，天天开心"])
def test_each_copy_of_a_repeated_token_masks_its_own_position(app_factory, text):
    """Issue 12: on `the cat sat on the mat`, clicking the first "the" masked the second (masks=5), clicking it
    again gave masks=5,5: the pills were matched back by their label."""
    at = open_page(app_factory, "embedded", "pages/masking.py")
    at.text_input(key="masking.text").input(text).run()
    options = list(at.pills(key="masking.masks").options)
    assert len(set(options)) == len(options)  # a label names one position
    encoding = encode(load_model(ModelSpec("embedded", device="cpu")), text)[0]
    repeated = [i for i, t in enumerate(encoding.tokens) if not encoding.special[i] and encoding.tokens.count(t) > 1]
    assert len(repeated) >= 2
    for position in repeated:
        at.pills(key="masking.masks").set_value([]).run()
        at.pills(key="masking.masks").select(position).run()
        assert at.session_state["masking.masks"] == [position]
        shown = [c.value for c in at.code][0].split()
        assert shown[position] == "[MASK]" and shown.count("[MASK]") == 1
        at.pills(key="masking.masks").unselect(position).run()  # clicking it again unmasks it
        assert at.session_state["masking.masks"] == []
    assert not at.exception


def test_word_view_masks_every_piece_of_a_word(app_factory, tiny_dirs):
    at = open_page(app_factory, tiny_dirs["masked_lm"], "pages/masking.py", {"units": "words"})
    at.text_input(key="masking.text").input("the quickest cat sat on the mat").run()
    words = at.pills(key="masking.word_masks")
    assert words.options == ["the¹", "quickest", "cat", "sat", "on", "the²", "mat"]
    words.select(2).run()  # "quickest": several pieces
    encoding = encode(load_model(ModelSpec(str(tiny_dirs["masked_lm"]), device="cpu")), "the quickest cat sat on the mat")[0]
    pieces = word_spans(encoding).pieces[2]
    assert len(pieces) > 1 and at.session_state["masking.masks"] == list(pieces)
    at.pills(key="masking.word_masks").select(6).run()  # the second "the"
    assert at.session_state["masking.masks"] == [*pieces, word_spans(encoding).pieces[6][0]]
    at.pills(key="masking.word_masks").unselect(2).run()
    assert at.session_state["masking.masks"] == list(word_spans(encoding).pieces[6])
    # back to tokens: the same positions are chosen there
    at.segmented_control(key="units").set_value("tokens").run()
    assert at.pills(key="masking.masks").value == list(word_spans(encoding).pieces[6])
    assert not at.exception
