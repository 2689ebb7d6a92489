"""Reusable inputs with namespaced keys, and the sidebar model picker."""

from __future__ import annotations

from dataclasses import replace
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
import streamlit as st

from plm_core.settings import settings
from plm_core import classroom
from plm_core import models as embedded
from plm_core.attention import head_choice
from plm_core.types import AVERAGE_OF_HEADS
from plm_core.devices import available_devices
from plm_core.errors import PlmCoreError
from plm_core.i18n import N_, _, sentence, tr
from plm_core.tokens import MAX_CHARS
from plm_core.loading import DEFAULT_MODEL_ID, ModelSpec
from plm_core.model_info import ModelInfo
from plm_core.kinds import MODEL_KINDS, kind_label
from plm_core.patching import format_ablation, parse_ablation
from plm_core.types import Ablation, Encoding
from plm_core.lens import Lens
from ui import handles, language
from ui.lens import get_lens
from ui.safe import md

T = TypeVar("T")

SUGGESTED_MODELS = {  # the embedded models first (no download), then Hub downloads
    **{m.model_id: m.label for m in embedded.EMBEDDED.values()},
    "bert-base-uncased": N_("bert-base-uncased — masked LM (downloads 440 MB)"),
    "distilbert-base-uncased-finetuned-sst-2-english": N_("DistilBERT SST-2 — sentiment classifier (268 MB)"),
    "gpt2": N_("gpt2 — causal LM (548 MB)"),
    "roberta-base": N_("roberta-base — masked LM (499 MB)"),
    "t5-small": N_("t5-small — encoder-decoder (242 MB)"),
    "HuggingFaceTB/SmolLM2-135M": N_("SmolLM2-135M — Llama-style causal LM (270 MB)"),
}
OTHER = N_("Other: a Hub id or a local folder…")  # the option's value; shown as _(OTHER)
SPEC_KEY = "model.spec"
# Every view is kept in the address bar by Streamlit itself: widgets take bind="query-params" (the query parameter
# is the widget key, e.g. ?attention.text=…; a value equal to the widget's default is left out; one the widget
# cannot take falls back to its default). Widgets whose value cannot or should not be in a link take
# persist_state="session" instead, so they survive switching views and pages. ?model= and ?ablate= are the
# parameters written by hand: they name the model loaded (model_picker), not a widget's value.


def canonical_model_id(model_id: str) -> str:
    """One name per embedded model ("embedded", "all-MiniLM-L6-v2" -> its Hub id; " smollm2" -> "smollm2"),
    others stripped."""
    return embedded.canonical_id(model_id)


def default_model_id() -> str:
    return canonical_model_id(settings().default_model or DEFAULT_MODEL_ID)


def lens() -> Lens:
    """The lens on the sidebar's model (:func:`ui.lens.get_lens` of :func:`active_spec`): every model operation a
    page runs goes through it."""
    return get_lens(active_spec())


def active_spec() -> ModelSpec:
    """The model this session works with (the sidebar picker sets it; ``?model=`` in the URL opens one)."""
    if SPEC_KEY not in st.session_state:
        requested = st.query_params.get("model")
        try:  # classroom mode: a link naming a model off the allowlist opens the default instead
            classroom.check_model_allowed(requested or default_model_id())
        except PlmCoreError:
            requested = None
        spec = ModelSpec(canonical_model_id(requested) if requested else default_model_id())
        if ablate := st.query_params.get("ablate"):  # ?ablate=zero:L3H2,L5F (plm_core.patching.parse_ablation)
            try:
                spec = replace(spec, ablation=parse_ablation(ablate))
            except PlmCoreError as err:
                st.sidebar.error(_("{error} — opened the full model.", error=md(tr(err))))
        st.session_state[SPEC_KEY] = spec
    return st.session_state[SPEC_KEY]


def ablation_parts(ablation: Ablation) -> str:
    """"L3 H2, L5 FFN": the parts an ablation removes, in the viewer's language (plain text)."""
    return ", ".join([f"L{la + 1} H{h + 1}" if s == 0 else _("L{layer} cross-attention H{head}", layer=la + 1,
                                                               head=h + 1) for s, la, h in ablation.heads]
                     + [_("L{layer} FFN", layer=la + 1) for la in ablation.ffn])


def use_spec(spec: ModelSpec) -> None:
    """Make ``spec`` this session's model and rerun (the caller has loaded it); the link follows."""
    st.session_state[SPEC_KEY] = spec
    st.query_params["model"] = spec.model_id
    if spec.ablation:
        st.query_params["ablate"] = format_ablation(spec.ablation)
    elif "ablate" in st.query_params:
        del st.query_params["ablate"]
    st.rerun()


def model_picker() -> ModelInfo | None:
    """Sidebar: choose, load and describe the model. Returns the loaded model's facts (None if none loads).

    A failed load shows why and keeps the previous model, so nothing the user was doing is lost.
    """
    spec = active_spec()
    sb = st.sidebar
    sb.header(_("Model"))
    if (pending := st.session_state.pop(PENDING_KEY, None)) is not None:  # a drill-down or a failed load
        _sync_picker(pending)
    if (failed := st.session_state.pop(FAILED_KEY, None)) is not None:
        sb.error(failed)  # md: trusted (built with md() on every user part when stored)
    room = classroom.current()  # classroom mode: only the allowlist (and lesson-trained folders), no pickle
    with sb.form("model.form", border=False):
        options = list(SUGGESTED_MODELS) + [OTHER]
        if room.enabled:
            options = list(classroom.allowed_models(room))
            options += [spec.model_id] if classroom.is_trained_folder(spec.model_id) else []
        index = options.index(spec.model_id) if spec.model_id in options else len(options) - 1
        choice = st.selectbox(_("Model"), options, index=index, key="model.choice",
                              format_func=lambda m: _(SUGGESTED_MODELS[m]) if m in SUGGESTED_MODELS else
                              _(OTHER) if m == OTHER else m)
        custom = "" if room.enabled else st.text_input(
            _("Hub id or folder"), value="" if spec.model_id in SUGGESTED_MODELS else spec.model_id,
            key="model.custom", placeholder=_("org/name or /path/to/folder"),
            help=_("Used when 'Other' is chosen above."))
        kinds = ["auto", *MODEL_KINDS]
        kind = st.selectbox(_("Load as"), kinds, index=kinds.index(spec.kind), key="model.kind",
                            format_func=lambda k: _("auto (from the config)") if k == "auto" else tr(kind_label(k)))
        devices = ["auto", *available_devices()]
        device = st.selectbox(_("Device"), devices, index=devices.index(spec.device) if spec.device in devices else 0,
                              key="model.device", format_func=lambda d: _("auto") if d == "auto" else d)
        allow_pickle = False if room.enabled else st.checkbox(
            _("Allow pickle weights (trusted sources only)"), value=spec.allow_pickle, key="model.allow_pickle")
        submitted = st.form_submit_button(_("Load model"))
    if submitted:
        typed = canonical_model_id(custom or "")
        # a Hub id or folder typed into the box is what the user asked for, whatever the list shows
        model_id = typed if choice == OTHER or (typed and typed != spec.model_id) else choice
        if choice == OTHER and not typed:
            model_id = spec.model_id
        new = ModelSpec(model_id, kind=kind, device=None if device == "auto" else device, allow_pickle=allow_pickle)
        try:
            handles.get_handle(new)
        except PlmCoreError as err:
            # the picker goes back to the model still in use (it showed the failed id), and says why
            st.session_state[FAILED_KEY] = _("{error} — still using {model}.", error=md(tr(err)),
                                             model=md(spec.model_id))
            st.session_state[PENDING_KEY] = spec
            st.rerun()
        else:
            st.session_state[SPEC_KEY] = spec = new
    try:
        info = get_lens(spec).info()
    except PlmCoreError as err:
        # a bad ?model= link: say why and open the default, rather than failing again on every rerun (a bad
        # ?ablate=: the full model)
        fallback = replace(spec, ablation=None) if spec.ablation else ModelSpec(default_model_id())
        if spec == fallback:
            sb.error(md(tr(err)))
            return None
        sb.error(_("{error} — opened {model} instead.", error=md(tr(err)), model=md(fallback.model_id)))
        st.session_state[SPEC_KEY] = spec = fallback
        try:
            info = get_lens(spec).info()
        except PlmCoreError as err:
            sb.error(md(tr(err)))
            return None
    st.query_params["model"] = spec.model_id
    if spec.ablation:
        st.query_params["ablate"] = format_ablation(spec.ablation)
        sb.warning(_("Ablated model: {parts} replaced by {mode}. Every page uses it.",
                     parts=md(ablation_parts(spec.ablation)),
                     mode=_("zero") if spec.ablation.mode == "zero" else _("its mean over the tokens")))
        if sb.button(_("Restore the full model"), key="model.restore"):
            use_spec(replace(spec, ablation=None))
    elif "ablate" in st.query_params:
        del st.query_params["ablate"]
    if room.enabled:
        sb.caption(md(tr(room.describe())))
    if (shipped := embedded.lookup(spec.model_id)) is not None:
        sb.caption(_("{about} [Licence: {licence}]({url})", about=_(shipped.about), licence=md(shipped.licence[0]),  # md: trusted
                     url=shipped.licence[1]))  # md: trusted
    sb.caption(
        f"**{md(spec.model_id)}**  \n{md(tr(info.kind_label))}  \n"
        + _("{layers} layers × {heads} heads, {params:.1f} M parameters", layers=int(info.n_layers),
            heads=int(info.n_heads), params=info.n_parameters / 1e6)
        + "  \n" + _("device: {device}", device=md(tr(info.device_description)))
    )
    return info


PENDING_KEY = "model.pending"  # a spec the picker's widgets must show on the next run (set before they are drawn)
FAILED_KEY = "model.failed"  # the message of a load that failed, shown after the rerun that resets the picker
ORIGIN_KEY = "model.origin"  # where a drill-down came from: {"page", "source", "model_id", "revision"}


def _sync_picker(spec: ModelSpec) -> None:
    """Make ``spec`` the session's model and the sidebar form show it (only before the form is drawn)."""
    st.session_state[SPEC_KEY] = spec
    st.session_state["model.choice"] = spec.model_id if spec.model_id in SUGGESTED_MODELS else OTHER
    st.session_state["model.custom"] = "" if spec.model_id in SUGGESTED_MODELS else spec.model_id
    st.session_state["model.kind"] = spec.kind
    st.session_state["model.device"] = spec.device or "auto"
    st.session_state["model.allow_pickle"] = spec.allow_pickle


SHELL_KEY = "shell.run"


FORCED_KEY = "shell.forced_reruns"


def mark_shell_ran() -> None:
    """Called by app.py on every run, before the page."""
    st.session_state[SHELL_KEY] = True
    st.session_state[FORCED_KEY] = 0


def ensure_shell() -> None:
    """Rerun through app.py when Streamlit ran this page on its own.

    A fresh server whose first visitor opens a page URL (/attention) runs ``pages/attention.py``
    directly in Streamlit's legacy pages/ mode: no sidebar, no model picker (AppTest does the same on
    every run after ``switch_page``). Streamlit leaves that mode once st.navigation is used; switch now
    and rerun, so app.py builds the shell around this page.
    """
    language.activate()  # this run's language, also when Streamlit runs the page without app.py
    if st.session_state.get(FORCED_KEY, 0) >= 2 or not _leave_legacy_pages_mode():
        return
    st.session_state[FORCED_KEY] = st.session_state.get(FORCED_KEY, 0) + 1  # never loop
    st.rerun()


def _leave_legacy_pages_mode() -> bool:
    """Leave Streamlit's legacy ``pages/`` mode now; True if it was on. The app's one write of a private API.

    Streamlit 1.67 (``streamlit/runtime/pages_manager.py``) starts a server in the legacy mode when the entrypoint
    has a ``pages/`` folder beside it (``PagesManager.uses_pages_directory``, a process-wide class attribute) and
    leaves it when ``st.navigation`` runs: "As soon as any session of your app executes the st.navigation command,
    your app will ignore the pages/ directory (across all sessions)" (st.navigation's docs). The documented way out
    is a folder of another name (``app_pages/``), but this project keeps ``pages/``; and st.navigation may only be
    called from the entrypoint, which the legacy mode does not run (a first visitor opening /attention runs
    ``pages/attention.py`` alone). So this sets the flag ``st.navigation`` sets. ``tests/app/test_streamlit_private.py`` fails when Streamlit changes it.
    """
    from streamlit.runtime.pages_manager import PagesManager

    # the legacy mode is a process-wide flag: a session flag would miss AppTest's per-run reset
    if not PagesManager.uses_pages_directory:
        return False
    PagesManager.uses_pages_directory = False
    return True


def require_info() -> ModelInfo:
    """What a page may know about this session's model (``Lens.info`` of :func:`lens`), or stop the page with a
    message. A page opened from a result (``open_page``) says which model produced it, and warns when the model
    loaded now differs from it."""
    ensure_shell()
    try:
        info = get_lens(active_spec()).info()
    except PlmCoreError:
        st.warning(_("No model is loaded: choose one in the sidebar."))
        st.stop()
        raise  # unreachable: st.stop() raises
    origin_note(info)
    return info


def origin_note(info: ModelInfo) -> None:
    """The drill-down's note on the page it opened: the result's source and model, and whether it is the model
    loaded now (the note goes once the user loads another model)."""
    origin = st.session_state.get(ORIGIN_KEY)
    if not origin:
        return
    if origin["model_id"] != info.model_id:  # another model was loaded since: the drill-down is over
        st.session_state.pop(ORIGIN_KEY, None)
        return
    revision = origin.get("revision")
    text = _("Opened from {source}: explained with {model}, the model that produced the result.",
             source=md(tr(origin["source"])), model=md(origin["model_id"]))
    if revision:
        text += " " + _("(revision {revision})", revision=md(revision))
    if revision and info.revision and revision != info.revision:
        st.warning(text + " " + _("The model loaded now is revision {revision}: its numbers may differ from the "  # md: trusted
                                  "result's.", revision=md(info.revision)))  # md: trusted (parts escaped above)
    else:
        st.info(text, icon=":material/link:")  # md: trusted (every user part escaped with md() above)


def use_model(spec: ModelSpec) -> None:
    """Make ``spec`` the session's model from a button's callback (the sidebar shows it on the rerun)."""
    st.session_state[SPEC_KEY] = spec
    st.session_state[PENDING_KEY] = spec


def offer_models(text: str, fits: Callable[[ModelInfo], bool], *, suggested: tuple[str, ...], key: str) -> None:
    """A page the loaded model cannot serve: ``text`` (why, what to load; md-escaped by the caller), then a button
    per model that fits: those already loaded on this server first, then ``suggested`` ones (a download unless
    cached; a failed load keeps the current model and says why in the sidebar)."""
    st.info(text, icon=":material/swap_horiz:")  # md: trusted (the caller escapes every user part)
    loaded = [s for s in (h.spec for h in handles.loaded_handles()) if _fits(fits, s)]
    specs = []
    for s in dict.fromkeys([*loaded, *(ModelSpec(m) for m in suggested)]):
        try:  # classroom mode offers only what it allows
            classroom.check_model_allowed(s.model_id, allow_pickle=s.allow_pickle)
        except PlmCoreError:
            continue
        specs.append(s)
    cols = st.columns(min(4, len(specs)) or 1)
    for n, s in enumerate(specs):
        label = (_("Use {model} (loaded)", model=md(s.model_id)) if s in loaded else
                 _("Load {model}", model=md(_(SUGGESTED_MODELS[s.model_id]) if s.model_id in SUGGESTED_MODELS
                                            else s.model_id)))
        cols[n % len(cols)].button(label, key=f"{key}.{n}", on_click=use_model, args=(s,))  # md: trusted


def _fits(fits: Callable[[ModelInfo], bool], spec: ModelSpec) -> bool:
    """Whether the loaded model of ``spec`` fits (False when it can no longer be used, e.g. off the allowlist)."""
    try:
        return fits(get_lens(spec).info())
    except PlmCoreError:
        return False


def show_notes(encoding: Encoding) -> None:
    """Tell the user what was changed on the way in (truncation, removed characters)."""
    for note in encoding.notes:
        show_note(note)


def show_note(note: str) -> None:
    """One note of the core as a sentence in an info box, in the viewer's language (it may quote user text:
    escaped). Not str.capitalize: it lower-cases the rest ("Chinese")."""
    st.info(md(sentence(note)))


def run_or_stop(fn: Callable[[], T]) -> T:
    """Call ``fn``; on a PlmCoreError show its message and stop this page's run."""
    try:
        return fn()
    except PlmCoreError as err:
        st.error(md(tr(err)))
        st.stop()
        raise  # unreachable: st.stop() raises




def check_equal(ours: str, theirs: str, diff: float, tol: float) -> bool:
    """Say that ``ours`` equals ``theirs`` (a success box) only when ``diff`` ≤ ``tol``; otherwise a warning
    that says they differ and by how much. Returns whether the difference was within the tolerance.

    Args:
        ours, theirs: what is compared, as phrases in the viewer's language (``_("Our softmax")``,
            ``_("the attention the model returned")``).
        diff: the measured max |difference|; NaN counts as not equal.
        tol: the largest difference still called equal (float32 rounding of that computation).
    """
    ok = bool(np.isfinite(diff)) and float(diff) <= tol
    if ok:
        text = _("{ours} equals {theirs}: max |difference| = {diff:.1e} (≤ tolerance {tol:.0e})", ours=ours,
                 theirs=theirs, diff=diff, tol=tol)
    else:
        text = _("{ours} differs from {theirs}: max |difference| = {diff:.1e} (> tolerance {tol:.0e})", ours=ours,
                 theirs=theirs, diff=diff, tol=tol)
    (st.success if ok else st.warning)(md(text))  # the phrases may quote a model's words: shown literally
    return ok


def head_label(head: int | None) -> str:
    """"average of heads" or "head 3": the label of a head chosen with :func:`head_picker`."""
    return _("average of heads") if head is AVERAGE_OF_HEADS else _("head {head}", head=head)


def head_picker(container, key: str, n_heads: int, *, allow_average: bool = True, default_head: int = 0) -> int | None:
    """A head select box bound to the URL (``?<key>=…``): a head index, or ``AVERAGE_OF_HEADS`` (the first choice).

    Session state preset by an older link with ``-1`` or ``"none"`` reads as the average (``head_choice``); in the
    URL those are not choices, so Streamlit falls back to the default, the average, as well.
    """
    heads: list[int | None] = ([AVERAGE_OF_HEADS] if allow_average else []) + list(range(n_heads))
    if key in st.session_state and st.session_state[key] not in heads:
        try:
            st.session_state[key] = head_choice(st.session_state[key])
        except (TypeError, ValueError):
            del st.session_state[key]
    index = 0 if allow_average else heads.index(min(default_head, n_heads - 1))
    return container.selectbox(_("Head"), heads, index=index, key=key, bind="query-params",
                               format_func=lambda h: _("average of heads") if h is AVERAGE_OF_HEADS else str(h))


def layer_head_picker(prefix: str, n_layers: int, n_heads: int, *, allow_average: bool = True,
                      default_layer: int = 0, default_head: int = 0) -> tuple[int, int | None]:
    """Two select boxes side by side. Head ``AVERAGE_OF_HEADS`` (None) means the average over heads."""
    left, right = st.columns(2)
    layer = left.selectbox(_("Layer"), list(range(n_layers)), index=min(default_layer, n_layers - 1),
                           key=f"{prefix}.layer", bind="query-params")
    head = head_picker(right, f"{prefix}.head", n_heads, allow_average=allow_average, default_head=default_head)
    return int(layer), head


def text_area(label: str, key: str, default: str = "", **kwargs) -> str:
    """A text area kept in the URL (``?<key>=…``; left out while it holds ``default``).

    Another page can preset it (``open_page``): a value set in session state wins over ``default``.
    """
    kwargs.setdefault("max_chars", MAX_CHARS)  # what the app keeps: the address bar holds no more
    return st.text_area(label, value=default, key=key, bind="query-params", **kwargs)  # md: trusted (callers: _())


@dataclass(frozen=True)
class Origin:
    """What produced a result a drill-down explains: the model (as it was loaded to score it), its revision
    (the Hub commit, or None for a folder) and a phrase naming the result ("bias run #3")."""

    spec: ModelSpec
    source: str
    revision: str | None = None


def open_page(page: str, origin: Origin, **values: object) -> None:
    """Switch to ``page`` (e.g. "pages/attention.py") on the model that produced the result, with some of its
    widgets preset (a drill-down).

    The target page loads ``origin.spec`` if needed (with the sidebar's progress), the sidebar shows it, and
    the page says which model and result it explains (:func:`origin_note`). Keys are the target page's widget
    keys ("attention.text"); values are what the widgets return (not URL text). The address bar then links to
    the view opened (``?model=`` names the model). This page's own widgets keep their values (bound to the URL
    or ``persist_state``), so going back finds the view as it was left.
    """
    for key, value in values.items():
        st.session_state[key] = value
    st.session_state[PENDING_KEY] = origin.spec  # the picker's widgets are drawn already: set on the next run
    st.session_state[SPEC_KEY] = origin.spec
    st.session_state[ORIGIN_KEY] = {"page": page, "source": origin.source, "model_id": origin.spec.model_id,
                                    "revision": origin.revision}
    # without query_params, st.switch_page clears the URL and refuses while widgets of this page are bound to it
    st.switch_page(page, query_params={"model": origin.spec.model_id})



def chat_toggle(spec: ModelSpec, key: str) -> bool:
    """A "chat template" switch, shown only for a model whose tokenizer has a chat template; whether it is on."""
    if not get_lens(spec).has_chat_template():
        return False
    return st.toggle(_("Wrap in the model's chat template"), key=key, bind="query-params",
                     help=_("A chat model was trained on conversations written in its template: the prompt becomes a "
                            "user message and the model continues as the assistant. The template's special tokens are "
                            "shown, never masked or scored."))


def chat_wrap(spec: ModelSpec, text: str) -> str:
    """``text`` as one user message in the model's chat template (``plm_core.tokens.chat_prompt``), shown as the
    model will read it; an empty text stays empty."""
    if not text.strip():
        return text
    wrapped = run_or_stop(lambda: get_lens(spec).chat_prompt(text))
    st.code(wrapped, language=None, wrap_lines=True)
    return wrapped


def chat_wrapped(spec: ModelSpec, text: str, key: str) -> str:
    """:func:`chat_toggle` under a prompt box, and the prompt wrapped (:func:`chat_wrap`) when it is on."""
    return chat_wrap(spec, text) if chat_toggle(spec, key) else text


# uvicorn reads a request's head in one 64 KiB read and h11 refuses a longer incomplete one: an address much over
# this many characters (plus the request's other headers) gets "HTTP 400 Invalid HTTP request" on reload
LINK_CHARS = 60_000


def link_check() -> None:
    """Before the page runs (it may stop early): say when a text in the address bar is longer than a box keeps
    (``MAX_CHARS``, as plm_core cuts typed text: the box and then the address hold the first ``MAX_CHARS``), and
    when the address is too long to reload or share (text outside ASCII takes up to 9 characters each in a link):
    the view's texts are then offered as a file to share instead."""
    from urllib.parse import urlencode

    params = {k: v[:MAX_CHARS] if isinstance(v, str) else v for k, v in st.query_params.to_dict().items()}
    cut = sorted(k for k, v in st.query_params.to_dict().items() if isinstance(v, str) and len(v) > MAX_CHARS)
    if cut:
        st.sidebar.caption(_("A text box keeps at most {limit:,} characters, and so does its link: {boxes} was cut "
                             "there.", limit=MAX_CHARS, boxes=md(", ".join(cut))))
    n = len(urlencode(params))
    if n > LINK_CHARS:
        st.sidebar.warning(_("This view is too long for a link: its address holds {n:,} characters and the server "
                             "reads about {limit:,} at most, so reloading or sharing the address would fail. Share "
                             "its texts as a file instead.", n=n, limit=LINK_CHARS))
        long = {k: v for k, v in params.items() if len(urlencode({k: v})) > 1000}
        st.sidebar.download_button(_("Download the view's texts"), "\n\n".join(f"{k}:\n{v}" for k, v in long.items()),
                                   file_name="plm-lens-view.txt", mime="text/plain", key="link.texts")
