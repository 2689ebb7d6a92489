"""The Lessons page's shell: step navigation, presenter view, shareable links and predict-then-reveal; each step's
live view comes from :mod:`ui.lesson_views`, looked up by the step's view name.

Every input is a widget bound to the URL with Streamlit's ``bind="query-params"`` (the parameter is the widget
key): ``?lessons.lesson=2.+Self-attention…&lessons.step=3&lessons.text.2=…&lessons.layer=1&lessons.head=4
&lessons.reveal.2.2=true&lessons.presenter=true``, so the address bar is always a link to the current step with its
inputs and whether its answer is shown. A student's guess stays in the session (``persist_state``), not in links.
The presenter view hides the controls with CSS but still draws them, so their values stay in the URL. The language
is the app's (``?lang=zh``, :mod:`ui.language`): a link carries it, and the lesson picker's labels (its URL value)
are in that language.

What differs between lessons is data: the lesson's text-box label and pickers (layer, head) come from its
definition (:class:`plm_core.lessons.content.Lesson`), the inputs a step reads from its view's record.
"""

from __future__ import annotations

from urllib.parse import urlencode

import streamlit as st

from plm_core.i18n import LANGUAGES, _
from plm_core.lessons.content import LESSONS, Lang, Lesson, get_lesson
from plm_core.tokens import MAX_CHARS  # a text box keeps what the app keeps (and a link no more)
from ui import charts, keyboard, language, widgets
from ui import text as ui_text
from ui.lesson_views import VIEWS
from ui.lesson_views.base import PRESENTER_CSS, Ctx, controls, hidden, hide


def text_key(lesson: int) -> str:
    return f"lessons.text.{lesson}"


def _go(delta: int, n_steps: int) -> None:
    """One step forward or back; past a lesson's last step the next lesson's first step, before its first step
    the previous lesson's last (a clicker runs the whole sequence). The first and last steps of all stay put."""
    step = int(st.session_state.get("lessons.step") or 1) + delta
    number = int(st.session_state.get("lessons.lesson") or LESSONS[0].number)
    numbers = [lesson.number for lesson in LESSONS]
    if step > n_steps and number != numbers[-1]:
        st.session_state["lessons.lesson"] = numbers[numbers.index(number) + 1]
        step = 1
    elif step < 1 and number != numbers[0]:
        before = numbers[numbers.index(number) - 1]
        st.session_state["lessons.lesson"] = before
        step = len(get_lesson(before).steps)
    st.session_state["lessons.step"] = min(max(step, 1), len(get_lesson(st.session_state.get("lessons.lesson")
                                                                        or numbers[0]).steps))


def _open_lesson(number: int) -> None:
    st.session_state["lessons.lesson"] = number
    st.session_state["lessons.step"] = 1


def _lesson_changed() -> None:
    st.session_state["lessons.step"] = 1


def _exit_presenter() -> None:
    st.session_state["lessons.presenter"] = False


def render_page() -> None:
    # charts drawn while the presenter view is on are scaled to its type (ui/charts.py)
    with charts.presenter(lambda: bool(st.session_state.get("lessons.presenter"))):
        _render_page()


def _render_page() -> None:
    info = widgets.require_info()
    spec = widgets.active_spec()
    numbers = [lesson.number for lesson in LESSONS]
    # Every input is a widget bound to the URL (bind="query-params", the key is the parameter), so the address
    # bar is a link to this step with its inputs. The language is the app's (sidebar, ?lang=zh): the lesson
    # picker's labels (its URL values) are in that language.
    lang: Lang = language.activate()
    with controls("top"):
        title = st.empty()
        c1, c3 = st.columns([4, 1])
        number = c1.selectbox(_("Lesson"), numbers, key="lessons.lesson", on_change=_lesson_changed,
                              format_func=lambda n: f"{n}. {get_lesson(n).title(lang)}", bind="query-params")
        presenter = c3.toggle(_("Presenter view"), key="lessons.presenter", bind="query-params",
                              help=_("Large type, no controls: for a projector. The link below opens it directly."))
        lesson = get_lesson(number)
        title.title(_("Lessons"))
        position = st.segmented_control(_("Step"), list(range(1, len(lesson.steps) + 1)),
                                        default=1, required=True, key="lessons.step", bind="query-params")
        st.caption(lesson.summary(lang))  # md: trusted
    if presenter:
        st.html(PRESENTER_CSS)
    index = min(int(position or 1), len(lesson.steps)) - 1
    step = lesson.steps[index]
    view = VIEWS[step.view]

    if presenter:
        st.title(f"{lesson.number}. {lesson.title(lang)}")  # md: trusted (lesson content)
    with controls("inputs") if view.uses_text else hidden("text"):  # kept in the link where not used
        text = st.text_area(lesson.text_label(lang), lesson.default_text, max_chars=MAX_CHARS,  # md: trusted
                            key=text_key(lesson.number), height=68, bind="query-params")
        layer, head = 0, 0
        if lesson.inputs:  # the pickers the lesson's steps read (its definition's data)
            left, right = st.columns(2)
            if "layer" in lesson.inputs:
                layer = left.selectbox(_("Layer"), list(range(info.n_layers)), key="lessons.layer",
                                       bind="query-params")
            if "head" in lesson.inputs:
                head = right.selectbox(_("Head"), list(range(info.n_heads)), key="lessons.head",
                                       bind="query-params")
        units = ui_text.unit_switch(text)
    if not view.uses_text:
        hide()
    if view.hidden_inputs is not None:  # drawn before the question, so a link to the step carries them
        view.hidden_inputs()
    ctx = Ctx(spec, info, lesson, step, index, lang, presenter, text, int(layer), int(head), units)

    st.progress((index + 1) / len(lesson.steps),
                text=_("Lesson {lesson} · step {step} / {n_steps}", lesson=int(lesson.number), step=int(index + 1),
                       n_steps=len(lesson.steps)))
    st.header(step.title(lang))  # md: trusted
    st.markdown(step.body(lang))  # md: trusted
    revealed = _question(ctx)
    if revealed or view.before_reveal:
        widgets.run_or_stop(lambda: view.render(ctx))
    _navigation(lesson, index)
    if presenter:
        c1, c2 = st.columns([3, 1])
        c1.button(_("Exit presenter view"), key="lessons.exit", on_click=_exit_presenter)
        # the sidebar (and its language switch) is hidden here: the other language, named in itself
        c2.button(LANGUAGES["en" if lang == "zh" else "zh"], key="lessons.lang", on_click=language.toggle)
        _lesson_list(lesson, lang)
        return
    with st.expander(_("Glossary")):
        st.markdown("\n".join(f"- **{term(lang)}** — {definition(lang)}"  # md: trusted
                               for term, definition in lesson.glossary))
    st.caption(_("Share this step (opens in presenter view):"))
    st.code(presenter_link(ctx.spec.model_id), language=None)


def _lesson_list(current: Lesson, lang: Lang) -> None:
    """Presenter view: every lesson as a button (the sidebar and the lesson picker are hidden on the projector)."""
    st.caption(_("Lessons"))
    cols = st.columns(4)
    for k, lesson in enumerate(LESSONS):
        cols[k % 4].button(f"{lesson.number}. {lesson.title(lang)}", key=f"lessons.open.{lesson.number}",  # md: trusted
                           on_click=_open_lesson, args=(lesson.number,), width="stretch",
                           type="primary" if lesson is current else "secondary")


def presenter_link(model_id: str) -> str:
    """The address bar's link to this step (Streamlit keeps every bound widget in it), in presenter view, on
    ``model_id`` (always named: whether the address bar holds ``?model=`` yet depends on the run's timing).

    Read at the end of the run: every widget of the step has registered, so the query parameters hold their
    values (the browser's URL at the start of the run, updated by values set in this run)."""
    query = {k: st.query_params.get_all(k) for k in st.query_params}
    query["model"] = [model_id]
    query["lessons.presenter"] = ["true"]
    base = (st.context.url or "").split("?")[0]
    return f"{base}?{urlencode(query, doseq=True)}"


def _question(ctx: Ctx) -> bool:
    """Predict, then reveal. Returns True once the answer (and the live view) may be shown."""
    q = ctx.step.question
    if q is None:
        return True
    where = (ctx.lesson.number, ctx.step_index + 1)  # 1-based, as lessons.step
    lang = ctx.lang
    with st.container(border=True):
        st.markdown(_("**Predict first:** {question}", question=q.prompt(lang)))  # md: trusted
        key = f"lessons.guess.{where[0]}.{where[1]}"
        reveal_key = f"lessons.reveal.{where[0]}.{where[1]}"  # in the URL: a link can open the step revealed
        guesses = st.session_state.setdefault("lessons.guesses", {})  # the guess each reveal judged
        shown_before = bool(st.session_state.get(reveal_key))
        # a student's own guess is not in the link; it survives moving between steps
        guess = st.radio(_("Your guess"), list(range(len(q.options))), index=None,
                         key=key, format_func=lambda i: q.options[i](lang), label_visibility="collapsed",  # md: trusted
                         disabled=shown_before, persist_state="session")

        def record() -> None:  # the guess committed when the answer is revealed here (not by a link)
            if st.session_state.get(reveal_key):
                guesses[where] = st.session_state.get(key)
            else:
                guesses.pop(where, None)

        shown = st.toggle(_("Reveal the answer"), key=reveal_key, on_change=record,
                          disabled=guess is None and not shown_before, bind="query-params",
                          help=_("Commit to a guess first."))
        if not shown:
            return False
        answer, why = q.options[q.answer](lang), q.explanation(lang)
        judged = guesses.get(where)
        if judged is None:  # revealed by a link (or before a guess): the answer, without a verdict
            st.info(_("The answer: **{answer}**. {explanation}", answer=answer, explanation=why),  # md: trusted
                    icon=":material/lightbulb:")  # md: trusted (the lesson's answer)
            return True
        right = judged == q.answer
        text = (_("Right: **{answer}**. {explanation}", answer=answer, explanation=why) if right else
                _("Not quite — **{answer}**. {explanation}", answer=answer, explanation=why))
        if right:  # Material icons ship with Streamlit's frontend (no emoji font needed)
            st.success(text, icon=":material/check_circle:")  # md: trusted (the lesson's answer)
        else:
            st.info(text, icon=":material/cancel:")  # md: trusted
    return True


def _navigation(lesson: Lesson, index: int) -> None:
    n = len(lesson.steps)
    first, last = index == 0 and lesson is LESSONS[0], index == n - 1 and lesson is LESSONS[-1]
    left, _middle, right = st.columns([1, 3, 1])
    left.button(_("← Previous"), key="lessons.prev", disabled=first,
                on_click=_go, args=(-1, n), width="stretch")
    right.button(_("Next lesson →") if index == n - 1 and not last else _("Next →"), key="lessons.next",
                 disabled=last, on_click=_go, args=(1, n), width="stretch", type="primary")
    keyboard.step_keys("lessons.keys", lambda: _go(1, n), lambda: _go(-1, n))  # →/PageDown/Space, ←/PageUp
