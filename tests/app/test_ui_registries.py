"""The app's side of the method and probe registries (issue 26, item 2): the Attribution page's choices and the
Bias page's forms and views derive from METHOD_SPECS and PROBE_SPECS (app tier: these import ui, hence
Streamlit)."""

from __future__ import annotations

from plm_core.attribution import METHOD_SPECS, methods_where
from plm_core.bias import jobs
from plm_core.bias.probes import NAMES, PROBE_SPECS


def test_page_choices_derive_from_the_registry(tiny_classifier):
    from plm_core.attribution import unavailable_methods
    from plm_core.model_info import model_info
    from ui.attribution import method_choices

    offered, refused = method_choices(model_info(tiny_classifier))
    assert refused == unavailable_methods(tiny_classifier)
    assert offered == [m for m in METHOD_SPECS if m not in refused]
    assert methods_where(generation_step=True) == ("integrated_gradients", "input_x_gradient", "saliency",
                                                   "occlusion", "attention_rollout")
    assert set(methods_where(compare=True)) == {"input_x_gradient", "saliency", "integrated_gradients"}


def test_the_page_forms_and_views_cover_the_registry():
    from ui import bias as ui_bias
    from ui import bias_forms

    assert {s.form for s in PROBE_SPECS.values()} == set(bias_forms.FORMS)
    assert set(ui_bias.SHOW) == set(PROBE_SPECS)
    assert jobs.NAMES is NAMES and {n: NAMES[n] for n in PROBE_SPECS} == {n: s.label for n, s in PROBE_SPECS.items()}
    assert set(PROBE_SPECS) <= set(jobs.PROBES)  # every probe the page offers has a scorer
    for spec in PROBE_SPECS.values():
        assert spec.name and (spec.data is not None) == (spec.form == "dataset")
