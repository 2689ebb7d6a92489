"""Every "equals the model" check shows success only within its tolerance, a warning with the difference above it.

Each check is driven through its real page with the model's side of the comparison moved by δ = tolerance × 0.98
and × 1.02 (our recomputation + δ at one element, so the measured max |difference| is δ). The page is given a lens
(``ui.lens.inject``) whose one method's result is moved: no module attribute is patched (STYLE.md 11).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from helpers import lesson_query, shown

from plm_core import tolerances
from plm_core.lens import ForwardingLens, LocalLens
from plm_core.lessons.content import LESSONS

BELOW, ABOVE = 0.98, 1.02


def _bump(ours: np.ndarray, delta: float, columns: tuple[int, ...] = (0,)) -> np.ndarray:
    """``ours`` with ``delta`` added at row 0 of the given last-axis columns (the model's side, moved by δ)."""
    out = np.array(ours, dtype=np.float32, copy=True)
    for c in columns:
        out[(0,) * (out.ndim - 1) + (c,)] += np.float32(delta)
    return out


@pytest.mark.parametrize("tol", [tolerances.PROBS, tolerances.VECTORS])
@pytest.mark.parametrize("lang", ["en", "zh"])
def test_check_equal_switches_at_its_tolerance(tol, lang):
    from streamlit.testing.v1 import AppTest

    def page(diff: float, tol: float, lang: str) -> None:
        from plm_core.i18n import set_language
        from ui import widgets  # noqa: F811  (AppTest.from_function runs this body as a script of its own)

        set_language(lang)  # as app.py does from ?lang=: the check speaks the session's language
        widgets.check_equal("Ours", "theirs", diff, tol)

    for factor, ok in ((BELOW, True), (ABOVE, False), (float("nan"), False)):
        at = AppTest.from_function(page, args=(tol * factor, tol, lang)).run()
        assert bool(at.success) == ok and bool(at.warning) == (not ok), factor
        msg = shown((at.success or at.warning)[0].value)
        assert f"{tol * factor:.1e}" in msg and f"{tol:.0e}" in msg
        if lang == "en":
            assert ("equals" in msg) == ok and ("differs from" in msg) == (not ok)
        else:
            assert ("不一致" in msg) == (not ok) and ("一致" in msg) and ("容差" in msg)


class MovedLens(ForwardingLens):
    """The real lens of ``spec`` (this process's shared handles) with the result of the method ``name`` passed
    through ``move``: the model's side of a check, moved."""

    def __init__(self, spec, name: str, move):
        from ui import handles

        self.spec = spec
        self.inner = LocalLens(spec, handles.MODELS)
        self.name, self.move = name, move

    def _call(self, name, args, /, **kwargs):
        out = getattr(self.inner, name)(*args, **kwargs)
        return self.move(out) if name == self.name else out


def _inject(at, name: str, move) -> None:
    from ui.lens import inject

    inject(at.session_state, lambda spec: MovedLens(spec, name, move))


def _where(view: str) -> tuple[int, int]:
    return next((lesson.number, i) for lesson in LESSONS for i, s in enumerate(lesson.steps) if s.view == view)


def _lesson_step(app_factory, model_dir, view: str, name: str, move):
    number, i = _where(view)
    at = app_factory(str(model_dir), query=lesson_query(number, i + 1, reveal=True))
    _inject(at, name, move)
    at.run()
    at.switch_page("pages/lessons.py").run()
    assert not at.exception, at.exception
    return at


LESSON_CHECKS = {
    # view: (Lens method whose result is moved, how to move the model's side, phrase, tolerance)
    "embedding_tables": ("token_embeddings",
                         lambda r, d: dataclasses.replace(r, model_output=_bump(r.combined, d)),
                         "input vectors", tolerances.VECTORS),
    "softmax": ("attention_steps",
                lambda r, d: dataclasses.replace(r, model_probs=np.stack([_bump(p, d) for p in r.probs])),
                "the attention the model returned", tolerances.PROBS),
    "weighted_sum": ("attention_steps",
                     lambda r, d: dataclasses.replace(r, model_concat=_bump(
                         r.concat, d, tuple(h * r.d_k for h in range(r.n_heads)))),
                     "own attention output", tolerances.VECTORS),
    "concat": ("attention_steps",
               lambda r, d: dataclasses.replace(r, model_concat=_bump(r.concat, d), model_projected=_bump(r.projected, d)),
               "W_O layer", tolerances.VECTORS),
}


@pytest.mark.parametrize("view", list(LESSON_CHECKS))
def test_lesson_checks_switch_at_their_tolerance(app_factory, tiny_dirs, view):
    name, move, phrase, tol = LESSON_CHECKS[view]
    for factor, ok in ((BELOW, True), (ABOVE, False)):
        at = _lesson_step(app_factory, tiny_dirs["encoder"], view, name, lambda r, _f=factor: move(r, tol * _f))
        boxes = [shown(b.value) for b in (at.success if ok else at.warning) if phrase in shown(b.value)]
        assert boxes, (view, factor, [b.value for b in at.success], [b.value for b in at.warning])
        assert not [b.value for b in (at.warning if ok else at.success) if phrase in shown(b.value)]
        assert f"{tol * factor:.1e}" in boxes[0]


def test_saved_classifier_check_switches_at_its_tolerance(app_factory, tiny_dirs, monkeypatch, tmp_path):
    monkeypatch.setenv("PLM_TRAINED_DIR", str(tmp_path / "trained"))
    tol = tolerances.PROBS
    for factor, ok in ((BELOW, True), (ABOVE, False)):
        number, i = _where("use")
        at = app_factory(str(tiny_dirs["encoder"]), query=lesson_query(number, i + 1, reveal=True))
        at.session_state["lessons.saved"] = (str(tmp_path / "trained" / "x"), tol * factor)
        at.run()
        at.switch_page("pages/lessons.py").run()
        assert not at.exception, at.exception
        boxes = [shown(b.value) for b in (at.success if ok else at.warning) if "saved classifier" in shown(b.value)]
        assert boxes and f"{tol * factor:.1e}" in boxes[0], (factor, [w.value for w in at.warning])


def test_query_key_check_switches_at_its_tolerance(app_factory, tiny_dirs):
    tol = tolerances.PROBS
    for factor, ok in ((BELOW, True), (ABOVE, False)):
        at = app_factory(str(tiny_dirs["encoder"]))
        _inject(at, "query_key", lambda r, _f=factor: dataclasses.replace(r, model_probs=_bump(r.probs, tol * _f)))
        at.run()
        at.switch_page("pages/attention.py").run()
        assert not at.exception, at.exception
        boxes = [shown(b.value) for b in (at.success if ok else at.warning) if "softmax(QKᵀ/√d_k)" in shown(b.value)]
        assert boxes and f"{tol * factor:.1e}" in boxes[0], factor


# ------------------------------------------------------------------ issue 15's checks (gen) ----

def test_logit_lens_check_switches_at_its_tolerance(app_factory, tiny_dirs):
    """The generation page's "the last layer's read-out equals the model's own output" (probabilities)."""
    tol = tolerances.PROBS
    for factor, ok in ((BELOW, True), (ABOVE, False)):
        at = app_factory(str(tiny_dirs["masked_lm"]))
        _inject(at, "logit_lens", lambda r, _f=factor: dataclasses.replace(r, max_abs_diff=float(np.float32(tol * _f))))
        at.run()
        at.switch_page("pages/generation.py").run()
        assert not at.exception, at.exception
        boxes = [shown(b.value) for b in (at.success if ok else at.warning) if "read-out" in shown(b.value)]
        assert boxes and f"{tol * factor:.1e}" in boxes[0], (factor, [w.value for w in at.warning])


def test_neuron_view_check_switches_at_its_tolerance(app_factory, tiny_dirs):
    """The Attention page's neuron view: Σ q ⊙ k × scale against the row of QKᵀ/√d_k (the query picked: 2)."""
    tol = tolerances.SCORE_ROW

    def moved(qk, _f):
        scores = np.array(qk.scores, dtype=np.float32, copy=True)
        scores[2, 0] += np.float32(tol * _f)
        return dataclasses.replace(qk, scores=scores)

    for factor, ok in ((BELOW, True), (ABOVE, False)):
        at = app_factory(str(tiny_dirs["encoder"]))
        _inject(at, "query_key", lambda r, _f=factor: moved(r, _f))
        at.run()
        at.switch_page("pages/attention.py").run()
        assert not at.exception, at.exception
        boxes = [shown(b.value) for b in (at.success if ok else at.warning) if "Σ q ⊙ k" in shown(b.value)]
        # (the measured difference is δ plus float32 rounding of the score: 9.7e-06 for δ = 9.8e-06)
        assert boxes and f"tolerance {tol:.0e}" in boxes[0], (factor, [w.value for w in at.warning])
        assert not [b.value for b in (at.warning if ok else at.success) if "Σ q ⊙ k" in shown(b.value)]


def test_contextual_step_check_switches_at_its_tolerance(app_factory, tiny_dirs):
    """Lesson 1's static rows: "equals" only within the tolerance; past it the page explains the difference."""
    tol = tolerances.VECTORS

    def moved(res, _f):
        static = np.array(res.static, dtype=np.float32, copy=True)
        static[1] = static[0]
        static[1, 0] += np.float32(tol * _f)
        return dataclasses.replace(res, static=static)

    for factor, ok in ((BELOW, True), (ABOVE, False)):
        at = _lesson_step(app_factory, tiny_dirs["encoder"], "contextual", "contextual_embeddings",
                          lambda r, _f=factor: moved(r, _f))
        equal = [shown(b.value) for b in at.success if "static embedding" in shown(b.value)]
        differ = [shown(i.value) for i in at.info if "token-embedding rows differ" in shown(i.value)]
        assert bool(equal) == ok and bool(differ) == (not ok), factor
