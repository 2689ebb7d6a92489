"""AppTest of the attribution page: every model kind's targets, methods side by side, bad input, export."""

from __future__ import annotations


import pytest
from helpers import chart_specs, shown

PAGE = "pages/attribution.py"


def _run_if_asked(at):
    """On a busy machine the page may ask before a run it estimates as slow: answer yes."""
    asked = [b for b in at.button if b.key == "attribution.run"]
    if asked:
        asked[0].click().run()
    return at


def _open(app_factory, model_id: str):
    at = app_factory(model_id).run()
    assert not at.exception, at.exception
    at.switch_page(PAGE).run()
    assert not at.exception, at.exception
    return _run_if_asked(at)


def _html(at) -> list[str]:
    return [h.proto.body for h in at.get("html")]


def _highlights(at) -> list[str]:
    return [h for h in _html(at) if "plm-attribution" in h]


def _texts(at, kind: str) -> list[str]:
    """Element texts as shown (helpers.shown: escapes resolved, markup and ui.safe's word joiners dropped)."""
    return [shown(e.value) for e in getattr(at, kind)]


@pytest.mark.slow
def test_embedded_similarity_two_methods(app_factory):
    at = _open(app_factory, "embedded")
    assert len(_highlights(at)) == 1  # IG by default, on the default sentence and second sentence
    assert any("cosine similarity" in m for m in _texts(at, "markdown"))
    captions = _texts(at, "caption")
    assert any("Completeness error" in c for c in captions), captions
    _run_if_asked(at.multiselect(key="attribution.methods").select("occlusion").run())
    assert not at.exception
    assert len(_highlights(at)) == 2
    charts = chart_specs(at)
    titles = [str(c["layout"].get("title", {}).get("text", "")) for c in charts]
    assert any("Spearman" in t for t in titles) and any("Kendall" in t for t in titles)
    spearman = next(c for c, t in zip(charts, titles) if "Spearman" in t)
    z = spearman["data"][0]["z"]
    assert z[0][0] == pytest.approx(1.0) and -1 <= z[0][1] <= 1
    buttons = at.get("download_button")
    assert len(buttons) == 2
    # empty second sentence: a clear message, no exception
    _run_if_asked(at.text_area(key="attribution.other").input("  ").run())
    assert not at.exception
    assert any("second sentence" in w for w in _texts(at, "warning"))


def test_masked_lm_targets_and_missing_mask(app_factory, tiny_dirs):
    at = _open(app_factory, str(tiny_dirs["masked_lm"]))
    assert not at.exception and len(_highlights(at)) == 1
    assert any("at [MASK]" in m for m in _texts(at, "markdown"))
    # contrast: he rather than she
    _run_if_asked(at.radio(key="attribution.mode").set_value("contrast").run())
    assert not at.exception
    assert any("rather than" in m for m in _texts(at, "markdown"))
    # a word that is several tokens: its first piece, and the page says so
    _run_if_asked(at.radio(key="attribution.mode").set_value("single").run())
    _run_if_asked(at.text_input(key="attribution.word").input("zebra").run())
    assert any("first piece" in i for i in _texts(at, "info"))
    # no [MASK]: say so and offer to insert one
    _run_if_asked(at.text_area(key="attribution.text").input("the man worked as a doctor").run())
    assert not at.exception
    assert any("[MASK]" in w for w in _texts(at, "warning"))
    _run_if_asked(at.button(key="attribution.insert_mask").click().run())
    assert at.text_area(key="attribution.text").value.endswith("[MASK]")
    assert len(_highlights(at)) == 1


def test_classifier_and_deeplift_message(app_factory, tiny_dirs):
    at = _open(app_factory, str(tiny_dirs["classifier"]))
    _run_if_asked(at.selectbox(key="attribution.class").set_value("negative").run())
    _run_if_asked(at.multiselect(key="attribution.methods").select("deeplift").select("attention_rollout").run())
    assert not at.exception
    errors = _texts(at, "error")
    assert any("DeepLift" in e for e in errors), errors  # unsupported: said why, the others still shown
    assert len(_highlights(at)) == 2
    assert any("class 'negative'" in m for m in _texts(at, "markdown"))


def test_causal_lm_next_token(app_factory, tiny_dirs):
    at = _open(app_factory, str(tiny_dirs["causal_lm"]))
    assert not at.exception
    assert any("next token" in m for m in _texts(at, "markdown"))
    at.expander  # settings: the mask baseline does not fit GPT-2 -> a clear message
    _run_if_asked(at.radio(key="attribution.baseline").set_value("mask").run())
    assert not at.exception
    assert any("no mask token" in e for e in _texts(at, "error"))
