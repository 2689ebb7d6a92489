"""The embedded real models in the app: listed in the sidebar by name and size with what their weights are, and
offered in one click where the loaded model cannot do what a page or lesson step needs (issue 20)."""

from __future__ import annotations

import pytest
from helpers import open_page, shown

from plm_core import models

# the first test to use a model converts it (minutes on a fresh machine): longer than the default timeout
pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]


def test_sidebar_lists_the_embedded_models_first(app_factory):
    at = app_factory("embedded")
    at.run()
    box = at.selectbox(key="model.choice")
    assert box.options[:3] == [models.EMBEDDED[k].label for k in ("embedded", "smollm2", "gemma3")]
    assert "540 MB" in box.options[1] and "中文" in box.options[2]
    assert any("float32 safetensors as released" in shown(c.value) and "Apache-2.0" in shown(c.value)
               for c in at.sidebar.caption)


def test_lesson_on_the_sentence_encoder_offers_smollm2_and_loads_it(app_factory, smollm2):
    from plm_core.lessons.content import LESSONS

    lesson = next(les for les in LESSONS if any(s.view == "generation" for s in les.steps))
    step = 1 + [s.view for s in lesson.steps].index("generation")
    at = open_page(app_factory, "embedded", "pages/lessons.py",
                   {"lessons.lesson": f"{lesson.number}. {lesson.title('en')}", "lessons.step": str(step)})
    [r for r in at.radio if r.key.startswith("lessons.guess.")][0].set_value(0).run()  # predict, then reveal:
    [t for t in at.toggle if t.key.startswith("lessons.reveal.")][0].set_value(True).run()  # the live view follows
    buttons = [b for b in at.button if (b.key or "").startswith("lessons.offer.") and "SmolLM2" in b.label]
    assert buttons, [(b.key, b.label) for b in at.button]
    buttons[0].click().run()
    assert not at.exception, at.exception
    assert at.query_params["model"] in ("smollm2", ["smollm2"])
    assert any("Llama-architecture causal LM" in shown(c.value) for c in at.sidebar.caption)
    assert [b for b in at.button if b.key == "lessons.sample"]  # the step now samples from SmolLM2


PAGES = ("pages/home.py", "pages/attention.py", "pages/masking.py", "pages/compare.py", "pages/generation.py",
         "pages/attribution.py", "pages/bias.py", "pages/lessons.py")


@pytest.mark.parametrize("key", ["smollm2", "gemma3"])
def test_every_page_opens_on_the_real_causal_lm(app_factory, request, key):
    """Every page on the real model, as a user who picks it in the sidebar sees it, going from page to page in one
    session (the model loaded once): no exception, no error, and the query·key view's check passes (the model's
    own attention equals softmax(QKᵀ·scale) on these weights)."""
    request.getfixturevalue(key)  # converted and loadable (skips where the packages are not installed)
    at = app_factory(key)
    at.run()  # the home page: the loop switches to each page from here
    for page in PAGES:
        at.switch_page(page).run()
        assert not at.exception, (page, at.exception)
        assert not at.error, (page, [shown(e.value) for e in at.error])
        if page == "pages/attention.py":
            checks = [shown(s.value) for s in at.success]
            assert any(c.startswith("Recomputed softmax(QKᵀ/√d_k) equals the model's attention") for c in checks), (
                checks, [shown(w.value) for w in at.warning])
