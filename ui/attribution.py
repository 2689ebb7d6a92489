"""The Attribution page's helpers: its settings passed to the lens, method and baseline choices, the quality
message and the target widgets."""

from __future__ import annotations

from typing import Any

import streamlit as st

from plm_core.attribution import (
    COMPLETENESS_WARNING,
    METHOD_SPECS,
    AttributionResult,
    Target,
)
from plm_core.classroom import cap_steps
from plm_core.model_info import ModelInfo
from plm_core.i18n import _
from plm_core.tokens import MAX_CHARS  # a text box keeps what the app keeps (and a link no more)
from ui.safe import md


def run_settings(text_pair: str | None, baseline: str, n_steps: int | None, tolerance: float,
                 n_samples: int | None) -> dict[str, Any]:
    """The page's settings as keyword arguments of ``Lens.attribute`` and ``Lens.attribute_every_label``
    (``n_samples`` only when set: a method that samples nothing takes none)."""
    params = {} if n_samples is None else {"n_samples": int(n_samples)}
    return dict(text_pair=text_pair, baseline=baseline, n_steps=n_steps, tolerance=tolerance, **params)


def class_names(info: ModelInfo) -> tuple[str, ...]:
    """The classifier's labels in id order."""
    return info.labels


def method_choices(info: ModelInfo) -> tuple[list[str], dict[str, str]]:
    """(methods this model can use, {method: why not} for the others), in :data:`METHOD_SPECS` order
    (``ModelInfo.methods``)."""
    return _choices(info.methods)


def baseline_choices(info: ModelInfo) -> tuple[list[str], dict[str, str]]:
    """(baselines this model's tokenizer can build, {baseline: why not} for the others), in :data:`BASELINES`
    order (``ModelInfo.baselines``)."""
    return _choices(info.baselines)


def _choices(reasons) -> tuple[list[str], dict[str, str]]:
    return [n for n, why in reasons.items() if why is None], {n: why for n, why in reasons.items() if why is not None}


def quality_message(r: AttributionResult, warn: float = COMPLETENESS_WARNING) -> tuple[str, str] | None:
    """(level, text) saying how far ``r`` can be trusted and what produced it; level "caption" or "warning".

    Never advises more steps or samples than the method may take (adaptive IG and adaptive sampling have
    already used their budget when they miss). None for methods with nothing to report.
    """
    p = r.params
    complete = METHOD_SPECS[r.method].completeness
    parts, advice = [], ""
    if complete and r.delta_rel is not None:
        parts.append(_("Completeness error |Σ scores − (f(x) − f(baseline))| = {abs:.2e} ({share} of {change:.4g})",
                       abs=r.delta_abs, share=_share(r.delta_rel), change=abs(r.f_x - r.f_baseline)))
    if METHOD_SPECS[r.method].steps:
        strategy = p.get("strategy")
        if strategy == "smooth":
            parts.append(_("auto: {n} gradients (Clenshaw–Curtis): f changes evenly along the path and the scores add "
                           "up to float rounding", n=p["n_steps"]))
        elif strategy == "fixed" and str(p["rule"]).startswith("clenshaw"):
            parts.append(_("auto: {nodes} Clenshaw–Curtis gradients (f changes evenly along the path), more complete "
                           "than the fixed {steps}-step rule computed after them; {n} gradients in all",
                           nodes=p["nodes"], steps=p["fixed_steps"], n=p["n_steps"]))
        elif strategy == "fixed":
            parts.append(_("auto: the fixed {steps}-step rule (Gauss–Legendre) is within the {tolerance} tolerance",
                           steps=p["fixed_steps"], tolerance=_share(p["tolerance"])))
        elif strategy == "refined":
            missed = _share(float(p["fixed_completeness_error"]) / max(abs(r.f_x - r.f_baseline), 1e-12))
            if str(p["rule"]).startswith("clenshaw"):
                parts.append(_("auto: the fixed {steps}-step rule missed the {tolerance} tolerance ({missed}), so "
                               "{nodes} more gradients were placed around α ≈ {center:.2f}, where f changes "
                               "(Clenshaw–Curtis); {n} gradients in all, estimated token error ≤ {error} of the "
                               "largest |score|", steps=p["fixed_steps"], tolerance=_share(p["tolerance"]),
                               missed=missed, nodes=p["nodes"], center=p["center"], n=p["n_steps"],
                               error=_share(p["token_error"])))
            else:
                parts.append(_("auto: the fixed {steps}-step rule missed the {tolerance} tolerance ({missed}); "
                               "{nodes} more gradients placed around α ≈ {center:.2f} were less complete, so the "
                               "fixed rule's scores are shown ({n} gradients in all)", steps=p["fixed_steps"],
                               tolerance=_share(p["tolerance"]), missed=missed, nodes=p["nodes"],
                               center=p["center"], n=p["n_steps"]))
        else:
            parts.append(_("{n} steps (Gauss–Legendre)", n=p["n_steps"]))
            larger = cap_steps(1024) > int(p["n_steps"])
            advice = (_(" — above the warning level: choose 'auto' (error-controlled) or more steps in Settings before "
                        "trusting the scores.") if larger else _(" — above the warning level: choose 'auto' in Settings."))
    elif p.get("exact_single_feature"):
        parts.append(_("exact: one token to explain, nothing sampled"))
    elif "n_samples" in p:
        if p.get("adaptive_samples") and not p.get("samples_met"):
            what = _("add up within 2.5 %") if complete else _("settle within 5 %")
            parts.append(_("{n} samples, the most allowed: the scores did not {what}; Integrated Gradients explains "
                           "the same change without sampling", n=p["n_samples"], what=what))
        else:
            parts.append(_("{n} samples", n=p["n_samples"]) + (_(" (auto)") if p.get("adaptive_samples") else ""))
            if not p.get("adaptive_samples") and int(p["n_samples"]) < min(cap_steps(512), 512):
                advice = _(" — above the warning level: choose 'auto' samples in Settings before trusting the scores.")
    if not parts:
        return None
    above = r.delta_rel is not None and complete and r.delta_rel > warn
    return ("warning" if above else "caption"), " · ".join(parts) + (advice if above else "")


def _share(x: float) -> str:
    """A share as a percentage, with enough digits for small ones (0.0034 %, 0.14 %, 6.2 %)."""
    pct = 100.0 * float(x)
    if pct == 0:
        return "0%"
    if pct >= 10:
        return f"{pct:.0f}%"
    return f"{pct:.2g}%" if pct >= 1e-4 else "< 0.0001%"


# ---------------------------------------------------------------- page helpers (widgets per model kind)

DEFAULT_OTHER = "A tired dog lay on the rug."


def default_text(info: ModelInfo) -> str:
    return info.example("attribution")


def _insert_mask(key: str, mask: str) -> None:
    text = (st.session_state.get(key) or "").rstrip()
    st.session_state[key] = f"{text} {mask}".strip()


def target_picker(info: ModelInfo, text: str, prefix: str = "attribution") -> Target | None:
    """Widgets for the target of this model kind (``ModelInfo.target_kinds``). Returns None (after a
    message) when it cannot be built."""
    kinds = info.target_kinds
    if "class" in kinds:
        labels = info.labels
        left, right = st.columns([3, 1])
        choice = left.selectbox(_("Explain the class"), ["predicted"] + list(labels), key=f"{prefix}.class",
                                format_func=lambda c: _("predicted") if c == "predicted" else c, bind="query-params")
        output = right.radio(_("Explain"), ["prob", "logit"], horizontal=True, key=f"{prefix}.output",
                             format_func={"prob": _("probability"), "logit": _("logit")}.get, bind="query-params")
        return Target("class", label=None if choice == "predicted" else choice, output=output)
    if "similarity" in kinds:
        from ui import widgets

        other = widgets.text_area(_("Second sentence (the target is the cosine similarity to it)"), f"{prefix}.other",
                                  DEFAULT_OTHER, height=68)
        if not other.strip():
            st.warning(_("The similarity target needs a second sentence: type one above."))
            return None
        return Target("similarity", other=other)
    # a word at a mask (masked LM) or as the next token (causal LM)
    mask = info.mask_token or "[MASK]"
    at_mask = "token" in kinds
    if at_mask:
        n_masks = text.count(mask)
        if n_masks == 0:
            st.warning(_("This is a masked language model: the sentence needs a {mask} token where the model "
                         "should fill in a word.", mask=md(mask)))
            st.button(_("Insert {mask} at the end", mask=md(mask)), key=f"{prefix}.insert_mask", on_click=_insert_mask,
                      args=(f"{prefix}.text", mask))
            return None
    modes = {"single": _("a word at {mask}", mask=md(mask)) if at_mask else _("a word as the next token"),
             "contrast": _("a word rather than another (contrast)")}
    mode = st.radio(_("Explain"), list(modes), format_func=modes.get, horizontal=True, key=f"{prefix}.mode",
                    bind="query-params")
    cols = st.columns(4 if at_mask else 3)
    if mode == "contrast":
        word = cols[0].text_input(_("Why this word…"), max_chars=MAX_CHARS, key=f"{prefix}.contrast_word", value="he", bind="query-params")
        foil = cols[1].text_input(_("…rather than this one"), max_chars=MAX_CHARS, key=f"{prefix}.foil", value="she", bind="query-params")
        if not word.strip() or not foil.strip():
            st.warning(_("A contrast needs two words: the word and the one it is compared with."))
            return None
    else:
        word = cols[0].text_input(_("Word (empty = the model's top prediction)"), max_chars=MAX_CHARS, key=f"{prefix}.word",
                                  bind="query-params")
        output = cols[1].radio(_("Explain"), ["prob", "logit"], horizontal=True, key=f"{prefix}.output",
                               format_func={"prob": _("probability"), "logit": _("logit")}.get, bind="query-params")
    mask_index = 0
    if at_mask and text.count(mask) > 1:
        mask_index = cols[2].selectbox(_("Which {mask}", mask=md(mask)), list(range(text.count(mask))), key=f"{prefix}.mask_index",
                                       format_func=lambda i: f"{mask} #{i + 1}", bind="query-params")
    if mode == "contrast":
        return Target("contrast", word=word.strip(), contrast=foil.strip(), mask_index=mask_index)
    return Target(kinds[0], word=word.strip() or None,
                  mask_index=mask_index, output=output)
