"""Checks of the Streamlit layer (ui/) that lived among the unit tests (issue 26, item 6: a unit test imports no
Streamlit): the local backend, the classroom allow-list of ui.handles, a view for every lesson step, ui.charts'
escaping, the server's configuration, and the README's app never importing Ray."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from helpers import ROOT, run_python
from plm_core.classroom import ModelNotAllowedError
from plm_core.errors import PlmCoreError
from plm_core.inference import predict
from plm_core.lessons.content import VIEWS
from plm_core.loading import ModelSpec


def test_charts_plotly_chart_escapes_every_chart(monkeypatch):
    """What ``ui.charts.plotly_chart`` hands to Streamlit shows user text literally (and the theme's line breaks
    in titles stay line breaks), in the plain and the presenter view."""
    import numpy as np

    from plm_core.viz.attention_plots import attention_heatmap
    from ui import charts

    drawn = []

    class Where:
        def plotly_chart(self, fig, **kwargs):
            drawn.append(fig.to_plotly_json())

    tokens = ["[CLS]", "<b>x</b>", "<a href='http://example.invalid'>y</a>", "a&b"]
    title = "a long title that the theme wraps onto two lines: <i>user text</i> " * 2
    for presenting in (False, True):
        with charts.presenter(presenting):
            charts.plotly_chart(attention_heatmap(np.eye(4, dtype=np.float32), tokens, title, signed=True),
                                key="t", container=Where())
    for spec in drawn:
        text = str(spec["layout"]["title"]) + str(list(spec["data"][0]["x"]))
        assert "<b>" not in text and "<a " not in text and "<i>" not in text
        assert "&lt;b&gt;x&lt;/b&gt;" in text and "a&amp;b" in text and "&amp;lt;" not in text  # escaped once
        assert "<br>" in spec["layout"]["title"]["text"]  # the theme's wrap
        assert "<br>" in spec["data"][0]["colorbar"]["title"]["text"]  # the theme's signed colour-bar legend


def test_streamlit_server_skips_the_full_gc_after_each_run():
    """.streamlit/config.toml (read from the folder `streamlit run app.py` starts in) turns off the post-run gc."""
    code = ("from streamlit import config\n"
            "config.get_config_options(force_reparse=True)\n"
            "print(config.get_option('runner.postScriptGC'), config.get_where_defined('runner.postScriptGC'))\n")
    proc = run_python(code, {})
    assert proc.returncode == 0, proc.stderr[-2000:]
    value, where = proc.stdout.split(maxsplit=1)
    assert value == "False" and where.strip().endswith(".streamlit/config.toml"), proc.stdout


def test_ui_has_a_view_for_every_step():
    from ui.lesson_views import VIEWS as UI_VIEWS

    assert VIEWS <= set(UI_VIEWS)


def test_get_handle_refuses_a_model_off_the_allowlist(monkeypatch, tiny_dirs):
    import streamlit as st

    from ui import handles

    monkeypatch.setenv("PLM_CLASSROOM", "1")
    monkeypatch.setenv("PLM_ALLOWED_MODELS", "embedded")
    st.cache_resource.clear()
    with pytest.raises(ModelNotAllowedError):
        handles.get_handle(ModelSpec(str(tiny_dirs["causal_lm"])))


def test_get_lens_is_the_cached_local_lens_and_refuses_an_unknown_backend(tiny_handles, monkeypatch):
    """get_lens(spec) with PLM_BACKEND unset: a CachingLens around a LocalLens on ui.handles' handle, whose results
    equal the core function's; an unknown backend is refused."""
    from plm_core.lens import LocalLens
    from ui import handles
    from ui.lens import CachingLens, get_lens

    handle = tiny_handles["classifier"]
    monkeypatch.delenv("PLM_BACKEND", raising=False)
    monkeypatch.setattr(handles, "get_handle", lambda spec: handle)
    monkeypatch.setattr(handles, "MODELS", {handle.spec: handle})
    lens = get_lens(handle.spec)
    assert isinstance(lens, CachingLens) and isinstance(lens.inner, LocalLens)
    got = lens.predict("good movie", top_k=3)
    np.testing.assert_array_equal(got.probs, predict(handle, "good movie", top_k=3).probs)
    assert lens.token_count("good movie") == len(got.encoding)
    monkeypatch.setenv("PLM_BACKEND", "spark")
    with pytest.raises(PlmCoreError, match="unknown PLM_BACKEND='spark'; choose one of: local, ray"):
        get_lens(handle.spec)


def test_default_app_never_imports_ray():
    """The README's app (PLM_BACKEND unset): importing every ui module and computing never imports Ray."""
    code = ("import sys, importlib, pkgutil, ui; from plm_core.loading import ModelSpec; from ui.lens import get_lens; "
            "[importlib.import_module('ui.' + m.name) for m in pkgutil.iter_modules(ui.__path__)]; "
            "get_lens(ModelSpec('embedded', device='cpu')).token_count('a b c'); "
            "print(sorted(m for m in sys.modules if m == 'ray' or m.startswith('ray.')))")
    env = {k: v for k, v in os.environ.items() if k != "PLM_BACKEND"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_pages_get_model_facts_from_one_function(tiny_handles, monkeypatch):
    """``get_lens(spec).info()``: the ModelInfo of the shared handle (the sidebar, every page and the
    attribution choices read it), frozen and picklable, with the facts of that model."""
    import pickle

    from plm_core.attribution import unavailable_baselines, unavailable_methods
    from ui import attribution as ua
    from ui import handles
    from ui.lens import get_lens

    handle = tiny_handles["t5"]
    monkeypatch.setattr(handles, "get_handle", lambda spec: handle)
    monkeypatch.setattr(handles, "MODELS", {handle.spec: handle})
    info = get_lens(handle.spec).info()
    assert pickle.loads(pickle.dumps(info)) == info
    assert (info.model_id, info.n_layers, info.mask_token) == (handle.spec.model_id, handle.model.config.num_layers,
                                                               handle.tokenizer.mask_token)
    offered, refused = ua.method_choices(info)
    assert refused == unavailable_methods(handle) and "attention_rollout" not in offered
    assert ua.baseline_choices(info)[1] == unavailable_baselines(handle)
    assert ua.default_text(info) == info.example("attribution") and "<extra_id_0>" in ua.default_text(info)


def test_caching_lens_has_the_lens_signatures_and_caches_only_its_table(tiny_handles):
    """CachingLens: exactly the Lens methods and signatures; a cached method reaches the inner lens once per
    distinct call, an uncached one every time; the app memoizes exactly the methods marked @cached."""
    import inspect

    import streamlit as st

    from plm_core.lens import CACHE_POLICIES as CACHE
    from plm_core.lens import METHODS, CachingLens, Lens, LocalLens
    from ui.lens import MEMOIZED

    assert set(CACHE) <= METHODS and set(MEMOIZED) == set(CACHE) and not CachingLens.__abstractmethods__
    for name in METHODS:
        assert inspect.signature(getattr(CachingLens, name)) == inspect.signature(getattr(Lens, name)), name

    handle = tiny_handles["classifier"]
    counted: list[str] = []

    class Counting(LocalLens):
        def predict(self, *a, **k):
            counted.append("predict")
            return super().predict(*a, **k)

        def estimate_seconds(self, *a, **k):
            counted.append("estimate_seconds")
            return super().estimate_seconds(*a, **k)

    st.cache_data.clear()
    lens = CachingLens(Counting(handle.spec, {handle.spec: handle}), MEMOIZED)
    first = lens.predict("good movie", top_k=3)
    assert lens.predict("good movie", top_k=3) is not None and counted == ["predict"]
    np.testing.assert_array_equal(first.probs, predict(handle, "good movie", top_k=3).probs)
    lens.predict("good movie", top_k=2)
    assert counted == ["predict", "predict"]
    assert "estimate_seconds" not in CACHE  # the rate follows the machine's load: never cached
    lens.estimate_seconds(5, "saliency")
    lens.estimate_seconds(5, "saliency")
    assert counted.count("estimate_seconds") == 2
    st.cache_data.clear()


def test_an_attribution_request_only_calls_down(tiny_handles, monkeypatch):
    """Issue 26: the Attribution request goes page -> plm_core and never back up. Every Python frame the call
    ``get_lens(spec).attribute(...)`` runs (uncached, so the real path runs) is recorded with sys.setprofile: none
    is in ui/ or pages/ (no callback, no override in the app), and the repository files on the path from the lens
    to ``plm_core.attribution.attribute`` are plm_core/lens.py and the allowlist check."""
    import streamlit as st

    from plm_core.attribution import attribute
    from ui import handles
    from ui.lens import get_lens

    handle = tiny_handles["classifier"]
    monkeypatch.delenv("PLM_BACKEND", raising=False)
    monkeypatch.setattr(handles, "MODELS", {handle.spec: handle})
    lens = get_lens(handle.spec)
    st.cache_data.clear()
    frames: list[tuple[str, str]] = []

    def record(frame, event, arg):
        if event == "call":
            path = frame.f_code.co_filename
            if path.startswith(str(ROOT)):
                frames.append((os.path.relpath(path, ROOT), frame.f_code.co_name))

    sys.setprofile(record)
    try:
        got = lens.attribute("good movie", "saliency")
    finally:
        sys.setprofile(None)
    st.cache_data.clear()
    np.testing.assert_array_equal(got.scores, attribute(handle, "good movie", "saliency").scores)
    assert not [f for f in frames if f[0].startswith(("ui/", "pages/", "app.py"))], frames
    until = frames.index(("plm_core/attribution/__init__.py", "attribute"))
    assert {f for f, _ in frames[:until]} <= {"plm_core/lens.py", "plm_core/classroom.py", "plm_core/settings.py"}, \
        frames[:until]
