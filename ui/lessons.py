"""Lessons page: step navigation, presenter view, shareable links, predict-then-reveal, and the live views.

Every input is a widget bound to the URL with Streamlit's ``bind="query-params"`` (the parameter is the widget
key): ``?lessons.lesson=2.+Self-attention…&lessons.step=3&lessons.text.2=…&lessons.layer=1&lessons.head=4
&lessons.reveal.2.2=true&lessons.presenter=true``, so the address bar is always a link to the current step with its
inputs and whether its answer is shown. A student's guess stays in the session (``persist_state``), not in links.
The presenter view hides the controls with CSS but still draws them, so their values stay in the URL. The language
is the app's (``?lang=zh``, :mod:`ui.language`): a link carries it, and the lesson picker's labels (its URL value)
are in that language.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlencode

import numpy as np
import streamlit as st

from plm_core import classroom, generation, tolerances
from plm_core.models import CAUSAL_LMS
from plm_core.attention import attention_rollout, head_average
from plm_core.errors import PlmCoreError
from plm_core.lessons import compute, finetune
from plm_core.lessons.content import LESSONS, Lang, Lesson, Step, get_lesson
from plm_core.loading import DEFAULT_MODEL_ID, ModelHandle, ModelSpec
from plm_core.neuron_view import neuron_view
from plm_core.types import Encoding, QueryKeyResult
from plm_core.viz.attention_plots import attention_heatmap
from plm_core.viz.generation_plots import contextual_figure, distribution_figure, logit_lens_trace, neuron_view_figure
from plm_core.viz.inside_plots import contribution_heatmap, explained_label, ffn_bars, promoted_table
from plm_core.viz.lesson_plots import head_grid, mask_pair, probe_bars, token_bars, vectors_heatmap
from plm_core.words import aggregate_attention, aggregate_scores
from ui import charts, keyboard, language, resources, widgets
from ui import text as ui_text
from ui.backend import compute as compute_op  # (plm_core.lessons.compute is `compute` here)
from plm_core.i18n import N_, _, _n, _p, LANGUAGES, lazy_gettext, msg, tr
from plm_core.tokens import MAX_CHARS  # a text box keeps what the app keeps (and a link no more)
from ui import generation as ug
from ui.safe import md

INPUT_VIEWS = {"data"}  # views that ARE the input: shown before the guess
STEPS_IG = 32  # integration steps for lesson 6 (lowered further by classroom mode)

# ------------------------------------------------------------------------------------------- caching ----


@st.cache_data(max_entries=256, show_spinner=False)
def cached_token_embeddings(spec: ModelSpec, text: str, pair: str | None = None) -> compute.TokenEmbeddings:
    return compute_op(spec, "token_embeddings", text, pair)


@st.cache_data(max_entries=128, show_spinner=False)
def cached_contextual(spec: ModelSpec, sentence_a: str, sentence_b: str, word: str) -> compute.ContextualEmbeddings:
    return compute_op(spec, "contextual_embeddings", sentence_a, sentence_b, word)


@st.cache_data(max_entries=256, show_spinner=False)
def cached_encoding(spec: ModelSpec, text: str, pair: str | None = None) -> Encoding:
    return compute_op(spec, "encode", text, pair)


@st.cache_data(max_entries=256, show_spinner=False)
def cached_attention_steps(spec: ModelSpec, text: str, layer: int) -> compute.AttentionSteps:
    return compute_op(spec, "attention_steps", text, layer, 0)


@st.cache_data(max_entries=128, show_spinner=False)
def cached_mask_lesson(spec: ModelSpec, text: str) -> compute.MaskLesson:
    return compute_op(spec, "mask_lesson", text)


@st.cache_data(max_entries=128, show_spinner=False)
def cached_occlusion(spec: ModelSpec, text: str, words: Encoding | None = None) -> compute.Occlusion:
    return compute_op(spec, "lesson_occlusion", text, words=words)


@st.cache_data(max_entries=32, show_spinner=lazy_gettext("Training the head on the frozen encoder…"))
def cached_train(spec: ModelSpec, examples: str) -> finetune.TrainedHead:
    return compute_op(spec, "train_head", examples)


@st.cache_data(max_entries=256, show_spinner=False)
def cached_classify(spec: ModelSpec, examples: str, text: str) -> np.ndarray:
    return compute_op(spec, "classify", cached_train(spec, examples), [text])[0]


@st.cache_data(max_entries=64, show_spinner=lazy_gettext("Attributing…"))
def cached_attribution(spec: ModelSpec, text: str, other: str, n_steps: int):
    from plm_core.attribution import Target  # a sibling feature: imported when used

    handle = resources.get_handle(spec)
    target = Target("similarity", other=other) if "similarity" in handle.adapter.target_kinds else None
    return compute_op(spec, "attribute", text, "integrated_gradients", target=target, n_steps=n_steps)


@st.cache_data(max_entries=64, show_spinner=lazy_gettext("Probing…"))
def cached_bias(spec: ModelSpec, words: tuple[str, ...]) -> compute.BiasProbe:
    handle = resources.get_handle(spec)
    try:
        from plm_core.bias import TemplateSet
    except ImportError:  # the bias feature is absent: the lesson's own probe
        return compute_op(spec, "lesson_bias_probe", words)
    if handle.adapter.output != "masked_token":  # plm_core.bias scores he/she as [MASK] fillers; other kinds: ours
        return compute_op(spec, "lesson_bias_probe", words)
    templates = tuple(t.replace("{mask}", "[MASK]").replace("{a} {x}", "[JOB]") for t in compute.MASKED_TEMPLATES)
    result = compute_op(spec, "probe_templates", TemplateSet("lesson 7", templates, (("JOB", words),), ("he", "she")))
    scores = np.zeros((len(templates), len(words)), np.float32)
    for row in result.rows:
        sign = 1.0 if row.target == "he" else -1.0
        scores[row.template_index, words.index(row.probe_value)] += sign * row.score
    return compute.BiasProbe(handle.model_id, msg("p(he) − p(she) at [MASK] (plm_core.bias: {metric})",
                                                  metric=result.metric),
                             templates, words, scores)


# ------------------------------------------------------------------------------------------- state ----


@dataclass
class Ctx:
    spec: ModelSpec
    handle: ModelHandle
    lesson: Lesson
    step: Step
    lang: Lang
    presenter: bool
    text: str
    layer: int
    head: int
    units: ui_text.Units = ui_text.Units(False)

    def words(self, encoding: Encoding) -> Encoding | None:
        """The word-level encoding in word view (the switch), None in token view."""
        return self.units.of(encoding)


def text_key(lesson: int) -> str:
    return f"lessons.text.{lesson}"


def controls(name: str):
    """A container for inputs the presenter view hides (CSS only: they are still drawn, so their values stay in
    the URL and the link keeps opening the same step)."""
    return st.container(key=f"{CONTROLS}{name}")


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


CONTROLS = "lessons-ctl-"  # key prefix of the containers the presenter view hides (CSS class st-key-…)
HIDDEN = "lessons-hidden"  # a container never shown: inputs a step does not use, kept in the URL
HIDDEN_CSS = f'<style>[class*="st-key-{HIDDEN}"] {{ display: none !important; }}</style>'
PRESENTER_CSS = """
<style>
[class*="st-key-lessons-ctl-"],
[data-testid="stSidebar"], [data-testid="stSidebarCollapsedControl"], [data-testid="stHeader"],
[data-testid="stToolbar"], [data-testid="stDecoration"] { display: none !important; }
[data-testid="stMainBlockContainer"] { max-width: 100% !important; padding: 1.5rem 3rem !important; }
[data-testid="stMain"] [data-testid="stMarkdownContainer"] p,
[data-testid="stMain"] [data-testid="stMarkdownContainer"] li,
[data-testid="stMain"] [data-testid="stMarkdownContainer"] td,
[data-testid="stMain"] [data-testid="stMarkdownContainer"] th { font-size: 1.75rem !important; line-height: 1.5; }
[data-testid="stMain"] h1 { font-size: 3.2rem !important; }
[data-testid="stMain"] h2 { font-size: 2.6rem !important; }
[data-testid="stMain"] h3 { font-size: 2.1rem !important; }
[data-testid="stMain"] [data-testid="stRadio"] label p { font-size: 1.6rem !important; }
[data-testid="stMain"] button p { font-size: 1.5rem !important; }
[data-testid="stMain"] [data-testid="stCaptionContainer"],
[data-testid="stMain"] [data-testid="stCaptionContainer"] p,
[data-testid="stMain"] [data-testid="stTable"] td, [data-testid="stMain"] [data-testid="stTable"] th,
[data-testid="stMain"] [data-testid="stProgress"] p, [data-testid="stMain"] [data-testid="stWidgetLabel"] p,
[data-testid="stMain"] [data-testid="stMetricLabel"] p,
[data-testid="stMain"] [data-testid="stCode"] code { font-size: 1.4rem !important; line-height: 1.45; }
[data-testid="stMain"] [data-testid="stMetricValue"] { font-size: 3rem !important; }
</style>
"""

# --------------------------------------------------------------------------------------------- page ----


def render_page() -> None:
    # charts drawn while the presenter view is on are scaled to its type (ui/charts.py)
    with charts.presenter(lambda: bool(st.session_state.get("lessons.presenter"))):
        _render_page()


def _render_page() -> None:
    handle = widgets.require_handle()
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

    if presenter:
        st.title(f"{lesson.number}. {lesson.title(lang)}")  # md: trusted (lesson content)
    uses_text = step.view not in ("data", "train", "contextual")  # these steps have their own inputs
    with controls("inputs") if uses_text else st.container(key=f"{HIDDEN}-text"):  # kept in the link where not used
        label = {5: _("Sentence to classify"), 7: _("Occupations (comma-separated)")}.get(lesson.number, _("Sentence"))
        text = st.text_area(label, lesson.default_text, max_chars=MAX_CHARS, key=text_key(lesson.number), height=68,  # md: trusted
                            bind="query-params")
        layer, head = 0, 0
        if lesson.number in (2, 3):
            left, right = st.columns(2)
            layer = left.selectbox(_("Layer"), list(range(handle.n_layers)), key="lessons.layer", bind="query-params")
            if lesson.number == 2:
                head = right.selectbox(_("Head"), list(range(handle.n_heads)), key="lessons.head", bind="query-params")
        units = ui_text.unit_switch(text)
    if not uses_text:
        st.html(HIDDEN_CSS)
    if step.view in EXAMPLE_VIEWS - INPUT_VIEWS:
        examples_input(shown=False)
    ctx = Ctx(spec, handle, lesson, step, lang, presenter, text, int(layer), int(head), units)
    ctx.step_index = index  # type: ignore[attr-defined]

    st.progress((index + 1) / len(lesson.steps),
                text=_("Lesson {lesson} · step {step} / {n_steps}", lesson=int(lesson.number), step=int(index + 1),
                       n_steps=len(lesson.steps)))
    st.header(step.title(lang))  # md: trusted
    st.markdown(step.body(lang))  # md: trusted
    revealed = _question(ctx)
    if revealed or step.view in INPUT_VIEWS:
        widgets.run_or_stop(lambda: VIEWS[step.view](ctx))
    _navigation(lesson, index, lang, presenter)
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
    where = (ctx.lesson.number, ctx.step_index + 1)  # type: ignore[attr-defined]  # 1-based, as lessons.step
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


def _navigation(lesson: Lesson, index: int, lang: Lang, presenter: bool) -> None:
    n = len(lesson.steps)
    first, last = index == 0 and lesson.number == LESSONS[0].number, index == n - 1 and lesson is LESSONS[-1]
    left, _middle, right = st.columns([1, 3, 1])
    left.button(_("← Previous"), key="lessons.prev", disabled=first,
                on_click=_go, args=(-1, n), width="stretch")
    right.button(_("Next lesson →") if index == n - 1 and not last else _("Next →"), key="lessons.next",
                 disabled=last, on_click=_go, args=(1, n), width="stretch", type="primary")
    keyboard.step_keys("lessons.keys", lambda: _go(1, n), lambda: _go(-1, n))  # →/PageDown/Space, ←/PageUp


# -------------------------------------------------------------------------------------------- views ----


def _bool_cell(value):
    """A yes/no cell in the viewer's language (pandas would show True/False in English); other values as they are."""
    if isinstance(value, (bool, np.bool_)):
        return _p("cell", "yes") if value else _p("cell", "no")
    return value


def _frame(rows: list[dict]):
    """A static table for st.table, which the presenter view scales (st.dataframe draws on a canvas and its
    toolbar fetches icons from fonts.gstatic.com). st.table renders each cell as Markdown: text cells go
    through md() so tokens such as ">", "*" or "#" show literally; yes/no cells are translated."""
    import pandas as pd

    frame = pd.DataFrame([{k: md(v) if isinstance(v, str) else _bool_cell(v) for k, v in row.items()} for row in rows])
    return frame.set_index(frame.columns[0]) if len(frame.columns) else frame


def view_tokens(ctx: Ctx) -> None:
    res = cached_token_embeddings(ctx.spec, ctx.text)
    widgets.show_notes(res.encoding)
    enc = res.encoding
    words = ui_text.cached_words(enc, ctx.units.segment)
    st.markdown(_("**{n_tokens} tokens, {n_words} words:**", n_tokens=len(enc),
                  n_words=sum(not s for s in words.special)))
    st.code(" · ".join(enc.tokens), language=None, wrap_lines=True)  # literal: no Markdown in token text
    rows = [{"#": i, _p("column", "token"): t, "id": enc.input_ids[i], _p("column", "special"): enc.special[i],
             _p("column", "segment"): enc.segments[i]} for i, t in enumerate(enc.tokens)]
    left, right = st.columns(2)
    left.table(_frame(rows))
    right.table(_frame([{_p("column", "word"): w, _p("column", "pieces"): " · ".join(enc.tokens[i] for i in words.pieces[n]),
                         "n": len(words.pieces[n])} for n, w in enumerate(words.tokens) if not words.special[n]]))


def view_embedding_tables(ctx: Ctx) -> None:
    _per_token_caption(ctx)
    res = cached_token_embeddings(ctx.spec, ctx.text)
    tokens = res.encoding.tokens
    hidden = res.word.shape[1]
    parts = _("token table {vocab:,} × {hidden}, position table {positions} × {hidden}", vocab=res.vocab_size,
              hidden=int(hidden), positions=int(res.n_positions))
    st.markdown(f"**{md(parts)}**" + (_(" + segment table") if res.segment is not None else "")
                + (_(" → LayerNorm") if res.layer_norm else ""))
    bars = {_("‖token row‖"): np.linalg.norm(res.word, axis=1), _("‖position row‖"): np.linalg.norm(res.position, axis=1)}
    if res.segment is not None:
        bars[_("‖segment row‖")] = np.linalg.norm(res.segment, axis=1)
    charts.plotly_chart(token_bars(bars, tokens, _("Length of each looked-up row")), key="lessons.emb_norms")
    charts.plotly_chart(vectors_heatmap(res.combined, tokens, _("Input vectors")),
                        key="lessons.emb_vec")
    widgets.check_equal(_("Our sum + LayerNorm") if res.layer_norm else _("Our sum"), _("the model's input vectors"),
                        res.max_abs_diff, tolerances.VECTORS)


def view_positions(ctx: Ctx) -> None:
    _per_token_caption(ctx)
    res = cached_token_embeddings(ctx.spec, ctx.text)
    tokens = res.encoding.tokens
    c1, c2 = st.columns(2)
    charts.plotly_chart(attention_heatmap(res.position_similarity(), [_("pos {p}", p=p) for p in res.position_ids],
                                          _("Cosine similarity of position rows"), signed=True, colorbar_title="cos",
                                          axis_titles=(_("position"), _("position"))),
                        key="lessons.pos_sim", container=c1)
    charts.plotly_chart(attention_heatmap(res.word_similarity(), tokens, _("Cosine similarity of token rows"),
                                          signed=True, colorbar_title="cos", axis_titles=(_("token"), _("token"))),
                        key="lessons.word_sim", container=c2)
    sim = res.position_similarity()
    n = sim.shape[0]
    near = float(np.mean([sim[i, i + 1] for i in range(n - 1)])) if n > 1 else float("nan")
    far = float(np.mean([sim[i, j] for i in range(n) for j in range(n) if j - i >= max(3, n // 2)] or [np.nan]))
    st.markdown(_("**neighbours: mean cos = {near:.3f}; far apart: mean cos = {far:.3f}**", near=near, far=far))


CONTEXT_DEFAULTS = {"lessons.ctx_a": "We sat on the bank of the river and watched the water.",
                    "lessons.ctx_b": "She went to the bank to ask for a loan.", "lessons.ctx_word": "bank"}


CONTEXT_LABELS = {"lessons.ctx_a": N_("First sentence"), "lessons.ctx_b": N_("Second sentence"),
                  "lessons.ctx_word": N_("Word")}


def view_contextual(ctx: Ctx) -> None:
    with controls("view"):
        values = [column.text_input(_(CONTEXT_LABELS[key]), default, max_chars=MAX_CHARS, key=key, bind="query-params")
                  for column, (key, default) in zip(st.columns([3, 3, 1]), CONTEXT_DEFAULTS.items())]
    res = cached_contextual(ctx.spec, *values)
    charts.plotly_chart(contextual_figure(res.layers, res.cosines, res.static_cosine, res.word),
                        key="lessons.contextual")
    where = _("{a} and {b}", a=_n("token {positions}", "tokens {positions}", len(res.spans[0]),
                                  positions=", ".join(map(str, res.spans[0]))),
              b=_n("token {positions}", "tokens {positions}", len(res.spans[1]),
                   positions=", ".join(map(str, res.spans[1]))))
    same = res.spans[0] == res.spans[1]
    st.markdown(_("**{where}; cosine after the embedding layer {first:.3f} ({position}), after the last layer "
                  "{last:.3f}**", where=md(where), first=res.cosines[0], last=res.cosines[-1],
                  position=_("same position") if same else _("the position embeddings differ")))
    if res.static_diff <= tolerances.VECTORS:
        widgets.check_equal(_("The second sentence's token-embedding row"), _("the first's (a static embedding)"),
                            res.static_diff, tolerances.VECTORS)
    else:  # the word is split differently in the two sentences
        st.info(_("The word's token-embedding rows differ (max |difference| = {diff:.2e}): it is split into different "
                  "pieces in the two sentences.", diff=res.static_diff))
    if not ctx.presenter:  # a static table's classic probe, with its caveat (ui.evaluate, as on the Evaluate page)
        from ui.evaluate import analogy_view

        analogy_view(ctx.handle, prefix="lessons")


def _steps(ctx: Ctx) -> compute.AttentionSteps:
    return cached_attention_steps(ctx.spec, ctx.text, ctx.layer)


def view_qkv(ctx: Ctx) -> None:
    _per_token_caption(ctx)
    s, h = _steps(ctx), ctx.head
    tokens = s.encoding.tokens
    st.markdown(_("**layer {layer}, head {head}: X is {rows} × {cols}; Q, K, V of one head are {n} × {d_k} "
                  "(d_k = {d_k})**", layer=int(s.layer), head=int(h), rows=int(s.inputs.shape[0]),
                  cols=int(s.inputs.shape[1]), n=int(s.queries.shape[1]), d_k=int(s.d_k)))
    cols = st.columns(3)
    for col, (name, m) in zip(cols, (("Q", s.queries[h]), ("K", s.keys[h]), ("V", s.values[h]))):
        charts.plotly_chart(vectors_heatmap(m, tokens, _("{name} (head {head})", name=name, head=h)), key=f"lessons.{name}", container=col)


def view_scores(ctx: Ctx) -> None:
    _per_token_caption(ctx)
    s, h = _steps(ctx), ctx.head
    st.markdown(_("**scale = 1/√d_k = 1/√{d_k} = {scale:.4f}**", d_k=int(s.d_k), scale=s.scale)
                + (" · " + _("causal mask: −∞ above the diagonal") if s.causal else ""))
    charts.plotly_chart(attention_heatmap(s.scores[h], s.encoding.tokens,
                                          _("QKᵀ/√d_k (layer {layer}, head {head})", layer=s.layer, head=h),
                                          signed=True, colorbar_title=_("score")), key="lessons.scores")
    _neuron_view(ctx, s)


def _per_token_caption(ctx: Ctx) -> None:
    if ctx.units.words:
        st.caption(_("Per token: vectors and scores belong to tokens (the word view applies to attention weights)."))


def _neuron_view(ctx: Ctx, s: compute.AttentionSteps) -> None:
    """One query token against every key (bertviz's neuron view), from the lesson's own Q and K."""
    h, n = ctx.head, len(s.encoding)
    if st.session_state.get("lessons.query") not in range(n):  # a position of an older, longer sentence
        st.session_state.pop("lessons.query", None)
    labels = s.encoding.labels()
    with controls("view"):
        query = st.selectbox(_("Query token (neuron view)"), list(range(n)),
                             index=min(2, n - 1), format_func=lambda i: labels[i], key="lessons.query",
                             bind="query-params")
    qk = QueryKeyResult(model_id=s.model_id, encoding=s.encoding, layer=s.layer, head=h, queries=s.queries[h],
                        keys=s.keys[h], scores=s.scores[h], probs=s.probs[h], model_probs=s.model_probs[h],
                        scale=s.scale, causal=s.causal, bias=None if s.bias is None else s.bias[h],
                        softcap=s.softcap)
    nv = neuron_view(qk, query)
    charts.plotly_chart(neuron_view_figure(nv), key="lessons.neuron")
    vis = np.array(nv.visible)
    diff = float(np.max(np.abs(nv.scores[vis] - s.scores[h][query][vis])))  # Σ q ⊙ k × scale (+ cap, bias)
    widgets.check_equal(_("Σ q ⊙ k × scale + position bias") if nv.bias is not None else _("Σ q ⊙ k × scale"),
                        _("row {row} of the score matrix", row=int(query)), diff, tolerances.SCORE_ROW)


def view_softmax(ctx: Ctx) -> None:
    s, h = _steps(ctx), ctx.head
    words = ctx.words(s.encoding)
    probs = s.probs[h] if words is None else aggregate_attention(s.probs[h], words)
    charts.plotly_chart(attention_heatmap(probs, (words or s.encoding).tokens, _("softmax (layer {layer}, head {head})", layer=s.layer, head=h)),
                    key="lessons.softmax")
    sums = probs.sum(-1)
    st.markdown(_("**row sums: min {low:.6f}, max {high:.6f}**", low=sums.min(), high=sums.max()))
    diff = float(np.max(np.abs(s.probs[h] - s.model_probs[h])))
    widgets.check_equal(_("Our softmax"), _("the attention the model returned"), diff, tolerances.PROBS)


def view_weighted_sum(ctx: Ctx) -> None:
    _per_token_caption(ctx)
    s, h = _steps(ctx), ctx.head
    tokens = s.encoding.tokens
    d = s.d_k
    c1, c2 = st.columns(2)
    charts.plotly_chart(vectors_heatmap(s.context[h], tokens, _("ours: softmax · V (head {head})", head=h)),
                        key="lessons.ctx_ours", container=c1)
    charts.plotly_chart(vectors_heatmap(s.model_concat[:, h * d:(h + 1) * d], tokens,
                                        _("the model's (input of its output projection, head {head})", head=h)),
                        key="lessons.ctx_model", container=c2)
    diff = s.head_context_diff(h)
    widgets.check_equal(_("Step by step"), _("the model's own attention output"), diff, tolerances.VECTORS)


def view_heads(ctx: Ctx) -> None:
    s = _steps(ctx)
    words = ctx.words(s.encoding)
    probs = s.probs if words is None else aggregate_attention(s.probs, words)
    charts.plotly_chart(head_grid(probs, (words or s.encoding).tokens, _("All {n} heads of layer {layer}", n=s.n_heads, layer=s.layer)),
                    key="lessons.heads")
    ent = -(probs * np.log(np.clip(probs, 1e-12, 1))).sum(-1).mean(-1)
    st.markdown(_("**mean entropy per head (low = focused):**") + " "
                + ", ".join(_("h{head} {entropy:.2f}", head=int(i), entropy=e) for i, e in enumerate(ent)))


def view_concat(ctx: Ctx) -> None:
    _per_token_caption(ctx)
    s = _steps(ctx)
    tokens = s.encoding.tokens
    st.markdown(_("**{n_heads} heads × d_k {d_k} = {width} numbers per token → W_O ({width} × {out})**",
                  n_heads=int(s.n_heads), d_k=int(s.d_k), width=int(s.concat.shape[1]), out=int(s.projected.shape[1])))
    c1, c2 = st.columns(2)
    charts.plotly_chart(vectors_heatmap(s.concat, tokens, _("concatenated heads")), key="lessons.concat", container=c1)
    charts.plotly_chart(vectors_heatmap(s.projected, tokens, _("after the output projection W_O")),
                        key="lessons.proj", container=c2)
    widgets.check_equal(_("Concatenation"), _("the model's"), s.context_diff, tolerances.VECTORS)
    widgets.check_equal(_("Projection"), _("the output of its W_O layer"), s.projection_diff, tolerances.VECTORS)


def view_masks(ctx: Ctx) -> None:
    _per_token_caption(ctx)
    m = cached_mask_lesson(ctx.spec, ctx.text)
    own = _("causal (GPT-style)") if m.causal else _("bidirectional (BERT-style)")
    other = _("bidirectional (BERT-style), constructed") if m.causal else _("causal (GPT-style), constructed")
    charts.plotly_chart(mask_pair(m.mask, m.other_mask, m.encoding.tokens, _("loaded model: {mask}", mask=own), other),
                        key="lessons.masks")
    st.markdown(_("**this model is {mask}: attention given to later tokens = {future:.3f} of each row "
                  "(averaged over layers and heads)**", mask=md(own), future=m.future_attention))
    if m.order:  # the third family: permutation LM (XLNet), for one sampled factorisation order
        tokens = m.encoding.tokens
        order = " → ".join(f"{tokens[i]!r}" for i in m.order)
        charts.plotly_chart(mask_pair(m.permuted_content, m.permuted_query, tokens,
                                      _("permuted LM (XLNet): content stream"),
                                      _("permuted LM (XLNet): query stream")), key="lessons.masks.permuted")
        st.markdown(_("**permuted LM (XLNet), one sampled factorisation order: {order}.** Each token is predicted "
                      "from the tokens before it in this order — on both sides of it in the text. Its *query "
                      "stream* sees only those (not itself: it must predict itself); its *content stream* sees them "
                      "and itself. Another order, other masks: over many orders every token learns from both "
                      "sides, without a [MASK] token.", order=md(order)))


def view_mlm(ctx: Ctx) -> None:
    m = cached_mask_lesson(ctx.spec, ctx.text)
    st.table(_frame([{"#": i, _("original"): o, _("corrupted"): c, _("predict?"): i in m.mlm_targets}
                     for i, (o, c) in enumerate(zip(m.encoding.tokens, m.mlm_tokens))]))
    if m.predictions:
        for d in m.predictions:
            what = _("next token") if ctx.handle.adapter.output == "next_token" else _("[MASK] at {position}",
                                                                                          position=d.position)
            st.text(f"{what}: " + ", ".join(f"{t!r} {p:.1%}" for t, p in zip(d.tokens, d.probs)))
    elif ctx.handle.adapter.output == "masked_token":
        st.info(_("Put [MASK] in the sentence to see the model fill it in."))
    else:
        st.info(_("{model} is a {kind}: it has no language-model head to predict with (load a masked or causal LM to "
                  "see predictions).", model=md(ctx.handle.model_id), kind=md(tr(ctx.handle.adapter.label))))


@st.cache_data(max_entries=128, show_spinner=False)
def cached_encoder_decoder(spec: ModelSpec, text: str, target: str) -> compute.EncoderDecoderLesson:
    return compute.encoder_decoder_lesson(resources.get_handle(spec), text, target or None)


def view_encdec(ctx: Ctx) -> None:
    with controls("view"):
        target = st.text_input(_("Target so far (decoder input; optional)"), "The cat sat", max_chars=MAX_CHARS, key="lessons.target.4",
                               bind="query-params")
    if not ctx.handle.arch.encoder_decoder:
        st.info(_("{model} is a {kind}: load an encoder-decoder (t5-small, facebook/bart-base) in the sidebar to see "
                  "its three attention maps computed live.", model=md(ctx.handle.model_id),
                  kind=md(tr(ctx.handle.adapter.label))))
        return
    m = cached_encoder_decoder(ctx.spec, ctx.text, target)
    src, tgt = m.source.tokens, m.target.tokens
    charts.plotly_chart(mask_pair(m.encoder_mask, m.decoder_mask, src, _("encoder: who may look at whom (source)"),
                              _("decoder: who may look at whom (target)"), other_tokens=tgt), key="lessons.encdec.masks")
    charts.plotly_chart(attention_heatmap(m.cross, src, _("cross-attention, last layer, mean of heads (target × source)"),
                                      query_tokens=tgt), key="lessons.encdec.cross")
    st.markdown(_("**encoder: {encoder}; decoder: {decoder} (read from the weights); cross-attention: "
                  "{n_target} target × {n_source} source tokens**",
                  encoder=_("bidirectional") if m.encoder_bidirectional else _("causal"),
                  decoder=_("causal") if m.decoder_causal else _("not causal"), n_target=len(tgt), n_source=len(src)))
    d = m.prediction
    st.markdown(_("**next target token:**") + " " + ", ".join(f"{md(repr(t))} {p:.1%}" for t, p in zip(d.tokens, d.probs)))
    if m.spans:
        st.markdown(_("**span filling (greedy):**") + " " + "; ".join(f"{md(s)} → “{md(t)}”" for s, t in m.spans))


def view_generation(ctx: Ctx) -> None:
    """Lesson 4: the LM's distribution at temperature 1 and T (a masked LM at its [MASK]); a model that generates
    (causal LM, encoder-decoder) samples."""
    handle = ctx.handle
    mask = handle.tokenizer.mask_token or "[MASK]"
    generates = handle.adapter.generates
    text = (ctx.text.split(mask)[0].strip() or ctx.text) if generates else ctx.text
    with controls("view"):
        t = float(st.slider(_("Temperature"), 0.1, 3.0, 2.0, step=0.1, key="lessons.temperature", bind="query-params"))
    try:
        _encoding, dist = ug.cached_text_distribution(ctx.spec, text, generation.SamplingSettings(True, t))
    except PlmCoreError as err:  # a sentence encoder: no language-model head at all; offer a model that writes
        widgets.offer_models(md(tr(err)), lambda h: h.adapter.generates, suggested=CAUSAL_LMS, key="lessons.offer")
        return
    where = _("next token") if generates else _("{mask} (token {position})", mask=mask, position=dist.position)
    charts.plotly_chart(distribution_figure(dist, _("{where}: temperature 1 and {t:g}", where=where, t=t)),
                        key="lessons.temperature_chart")
    st.markdown(_("**entropy: {before:.2f} nats at T = 1 → {after:.2f} at T = {t:g}; top token {p:.1%} → {p_t:.1%}**",
                  before=dist.entropy, after=dist.entropy_final, t=t, p=dist.probs[0], p_t=dist.probs_temperature[0]))
    if not generates:
        return
    key = ("lessons.gen", ctx.spec, text)
    state = st.session_state.get("lessons.gen")
    if state is None or state[0] != key:
        state = (key, widgets.run_or_stop(lambda: ug.start(ctx.spec, text)))
    if st.button(_("Sample the next token at T = {t:g}", t=t),
                 key="lessons.sample"):
        state = (key, widgets.run_or_stop(lambda: ug.generate_steps(ctx.spec, state[1],
                                                                    generation.SamplingSettings(True, t), 1)))
    st.session_state["lessons.gen"] = state
    st.code(generation.text_of(handle, state[1].ids), language=None, wrap_lines=True)


def view_nsp(ctx: Ctx) -> None:
    with controls("view"):
        pair = st.text_area(_("Second sentence (B)"), "It slept all afternoon.", max_chars=MAX_CHARS, key="lessons.pair.4", height=68,
                            bind="query-params")
    enc = cached_encoding(ctx.spec, ctx.text.replace("[MASK]", "mat"), pair)
    st.markdown(_("**{n} tokens, second sentence starts at {start}**", n=len(enc), start=md(enc.pair_start)))
    if ctx.handle.adapter.target_prefix:
        st.caption(_("{model} reads no sentence pairs: its second segment is the decoder's input "
                     "(the decoder start token, then the target so far).", model=md(ctx.handle.model_id)))
    st.table(_frame([{"#": i, _p("column", "token"): t, _p("column", "segment"): s, _p("column", "special"): sp}
                     for i, (t, s, sp) in enumerate(zip(enc.tokens, enc.segments, enc.special))]))


def _training_spec(ctx: Ctx) -> ModelSpec:
    """The active model when it is a BERT encoder the head can sit on, else the embedded MiniLM."""
    return ctx.spec if getattr(ctx.handle.config, "model_type", "") == "bert" else ModelSpec(DEFAULT_MODEL_ID)


EXAMPLE_VIEWS = {"data", "train", "use"}  # the steps that read the labelled examples (lesson 5)


def examples_input(shown: bool) -> str:
    """The labelled examples, drawn in every step that reads them (hidden but for the data step), so a link to
    any of those steps carries them."""
    with controls("view") if shown else st.container(key=f"{HIDDEN}-examples"):
        examples = st.text_area(_("Labelled examples"), finetune.example_text(), max_chars=MAX_CHARS, key="lessons.examples", height=260,
                                bind="query-params")
    if not shown:
        st.html(HIDDEN_CSS)
    return examples


def _examples() -> str:
    return st.session_state.get("lessons.examples", finetune.example_text())


def view_data(ctx: Ctx) -> None:
    data = finetune.parse_examples(examples_input(shown=True))
    counts = ", ".join(f"{n}: {data.labels.count(i)}" for i, n in enumerate(data.names))
    st.markdown(_("**{n} examples — {counts}**", n=len(data.texts), counts=md(counts)))


def view_train(ctx: Ctx) -> None:
    spec = _training_spec(ctx)
    trained = cached_train(spec, _examples())
    c1, c2, c3 = st.columns(3)
    c1.metric(_("training accuracy"), f"{trained.train_accuracy:.0%}")
    c2.metric(_("held-out accuracy (pooler, saved)"), f"{trained.heldout_accuracy:.0%}")
    c3.metric(_("held-out accuracy (mean pooling)"), f"{trained.heldout_accuracy_mean_pooling:.0%}")
    pool = (_("tanh([CLS]) (this model has no trained pooler)") if trained.identity_pooler
            else _("the model's pooler, tanh(W·[CLS] + b)"))
    st.markdown(_("**encoder {model} (frozen); head: {n_labels} × {hidden} linear layer on {pool}; {n} examples, "
                  "{folds}-fold stratified cross-validation**", model=md(spec.model_id),
                  n_labels=len(trained.data.names), hidden=int(trained.weight.shape[1]), pool=md(pool),
                  n=len(trained.data.texts), folds=int(trained.n_folds)))
    heldout_metrics(trained)
    if trained.heldout_accuracy_mean_pooling > trained.heldout_accuracy:
        st.caption(_("Mean pooling generalises better here: this encoder was trained for mean-pooled sentence "
                   "embeddings. The saved classifier uses the pooler because that is what BertForSequenceClassification computes."))


def heldout_metrics(trained: finetune.TrainedHead) -> None:
    """Precision, recall and F1 per label and the confusion matrix of the held-out (cross-validated) predictions."""
    from plm_core.viz.evaluate_plots import confusion_figure

    m = trained.heldout_metrics()
    rows = [{_("label"): name, _("precision"): m.get("precision", name).value, _("recall"): m.get("recall", name).value,
             "F1": m.get("f1", name).value, "n": m.get("f1", name).support} for name in m.classes]
    rows.append({_("label"): _("macro"), _("precision"): m.get("precision", "macro").value,
                 _("recall"): m.get("recall", "macro").value, "F1": m.get("f1", "macro").value, "n": m.n})
    number = st.column_config.NumberColumn(format="%.2f")
    left, right = st.columns(2)
    left.dataframe(rows, hide_index=True, key="lessons.heldout_metrics",
                   column_config={_("precision"): number, _("recall"): number, "F1": number})
    left.caption(_("Held-out predictions (each example predicted by a head trained without it), scored with "
                   "scikit-learn; {how}: macro-F1 {low:.2f}–{high:.2f}.", how=md(tr(m.interval)),
                   low=m.get("f1", "macro").ci_low, high=m.get("f1", "macro").ci_high))
    charts.plotly_chart(confusion_figure(m, _("Held-out confusion matrix")), key="lessons.heldout_confusion",
                        container=right)


def view_use(ctx: Ctx) -> None:
    spec = _training_spec(ctx)
    examples = _examples()
    trained = cached_train(spec, examples)
    probs = cached_classify(spec, examples, ctx.text)
    names = trained.data.names
    st.markdown("**" + " · ".join(f"{md(n)}: {p:.1%}" for n, p in zip(names, probs)) + "**")
    if ctx.presenter:
        return
    folder = classroom.trained_dir() / f"lesson5-{trained.data.digest}"
    if st.button(_("Save as a classifier and switch the app to it"), key="lessons.save"):
        finetune.save_classifier(resources.get_handle(spec), trained, folder)
        new = ModelSpec(str(folder))
        saved = resources.cached_prediction(new, ctx.text)
        diff = float(np.max(np.abs(saved.probs - probs)))
        st.session_state["lessons.saved"] = (str(folder), diff)
        st.session_state[widgets.SPEC_KEY] = new
        st.session_state[widgets.PENDING_KEY] = new  # the sidebar shows it too
        st.rerun()
    if "lessons.saved" in st.session_state:
        path, diff = st.session_state["lessons.saved"]
        st.info(_("Saved to {path} and loaded as a classifier. The sidebar model is now this classifier.",
                  path=md(path)))
        widgets.check_equal(_("The saved classifier's prediction"), _("the trained model's"), diff,
                            tolerances.PROBS)
        if st.button(_("Explain it on the Attention page"), key="lessons.open_attention"):
            widgets.open_page("pages/attention.py", widgets.Origin(ModelSpec(path), msg("the classifier saved in "
                                                                                       "lesson 5")),
                              **{"attention.text": ctx.text})
        if st.button(_("Evaluate it on the Evaluate page"), key="lessons.open_evaluate"):
            widgets.open_page("pages/evaluate.py", widgets.Origin(ModelSpec(path), msg("the classifier saved in "
                                                                                       "lesson 5")),
                              **{"evaluate.view": "metrics", "evaluate.data": "lesson", "evaluate.mode": "classifier"})


def view_attention_vs_attribution(ctx: Ctx) -> None:
    text = ctx.text
    att = resources.cached_attention(ctx.spec, text)
    words = ctx.words(att.encoding)  # word view: attention to a word summed over its pieces, scores summed
    units = att.encoding if words is None else words
    tokens = units.tokens
    row = ctx.handle.adapter.query_row(ctx.handle, att.encoding)  # the token the output is read from
    if words is not None:
        row = next(w for w, pieces in enumerate(words.pieces) if row % len(att.encoding) in pieces)

    def per_unit(matrix: np.ndarray) -> np.ndarray:
        return matrix if words is None else aggregate_attention(matrix, words)

    last = _("attention (last layer, mean of heads)")
    series = {last: per_unit(head_average(att, att.n_layers - 1))[row],
              _p("series", "attention rollout"): per_unit(attention_rollout(att.weights)[-1])[row]}
    occ = cached_occlusion(ctx.spec, text, words)
    series[_("leave-one-out (occlusion)")] = occ.scores
    n_steps = classroom.cap_steps(STEPS_IG)
    other = "This is a great film."
    try:
        attr = cached_attribution(ctx.spec, text, other, n_steps)
    except ImportError:
        st.info(_("Integrated gradients is not available in this installation (plm_core.attribution is absent)."))
    except PlmCoreError as err:
        st.info(_("Integrated gradients: {error}", error=md(tr(err))))
    else:
        if len(attr.scores) == len(att.encoding):
            series[_("integrated gradients ({n} steps)", n=n_steps)] = (attr.scores if words is None
                                                                  else aggregate_scores(attr.scores, words))
            if "similarity" in ctx.handle.adapter.target_kinds:  # an encoder: what IG explains needs a 2nd sentence
                st.caption(_("Integrated gradients explains the cosine similarity of your sentence's embedding with "
                             "the embedding of the sentence “{other}”.", other=md(other)))
            else:
                st.caption(_("Integrated gradients explains: {target}.", target=md(tr(attr.target_label))))
    norm = {k: np.abs(v) / (np.abs(v).max() or 1.0) for k, v in series.items()}
    title = (_("Attention from [CLS] vs attribution (each scaled to max 1)") if row == 0 else
             _("Attention from the last token vs attribution (each scaled to max 1)"))
    charts.plotly_chart(token_bars(norm, tokens, title, yaxis=_("relative importance")), key="lessons.att_attr")
    base = norm[last]
    content = [i for i, s in enumerate(units.special) if not s]
    lines = []
    for name, v in norm.items():
        if name == last:
            continue
        rho = compute.spearman(base[content], v[content]) if len(content) > 1 else float("nan")
        lines.append(f"{name}: ρ = {rho:+.2f}")
    st.markdown(_("**Spearman rank correlation with last-layer attention (word tokens): {values}**",
                  values=md("; ".join(lines))))
    st.caption(md(tr(occ.what)))


def view_bias_probe(ctx: Ctx) -> None:
    words = compute.parse_words(ctx.text)
    res = cached_bias(ctx.spec, words)
    charts.plotly_chart(probe_bars(res.scores, res.occupations, res.templates,
                                   _("Association: + leans male, − leans female"), tr(res.method)), key="lessons.bias")
    mean = res.scores.mean(0)
    st.markdown(_("**mean over templates:**") + " " + ", ".join(f"{md(w)} {m:+.3f}" for w, m in zip(res.occupations, mean)))
    spread = res.scores.max(0) - res.scores.min(0)
    st.caption(_("Spread between templates per word:") + " " + ", ".join(f"{md(w)} {s:.3f}" for w, s in zip(res.occupations, spread)))


def _inside_text(ctx: Ctx) -> str:
    """Lesson 8's sentence, with a [MASK] at the end for a masked LM that was given none."""
    mask = ctx.handle.tokenizer.mask_token
    if ctx.handle.adapter.output == "masked_token" and mask and mask not in ctx.text:
        return f"{ctx.text.rstrip()} {mask}."
    return ctx.text


def _inside_contributions(ctx: Ctx):
    from ui import inside as ui_inside

    try:
        return ui_inside.cached_contributions(ctx.spec, _inside_text(ctx), None, None, None)
    except PlmCoreError as err:
        st.info(md(tr(err)))  # says which model to load
        return None


def view_inside_halves(ctx: Ctx) -> None:
    res = _inside_contributions(ctx)
    if res is None:
        return
    attn = sum(g.sum(1) for g in res.heads) + sum(res.attention_bias)
    layers = [_("layer {layer}", layer=i + 1) for i in range(res.n_layers)]
    values = {_("attention"): np.asarray(attn, np.float32), _("FFN"): res.ffn}
    charts.plotly_chart(token_bars(values, layers, _("What each half of each layer added to {what}",
                                                        what=explained_label(res)), yaxis=_("contribution")),
                        key="lessons.inside_halves")


def view_inside_residual(ctx: Ctx) -> None:
    res = _inside_contributions(ctx)
    if res is None:
        return
    parts = {_("embeddings"): res.embeddings, _("attention heads"): sum(float(g.sum()) for g in res.heads),
             _("attention output biases"): sum(float(b.sum()) for b in res.attention_bias),
             _("FFN blocks"): float(res.ffn.sum()), _("biases and norm offsets"): res.constant,
             _("sum of the parts"): res.total, _("the model's own value"): res.value}
    st.table({_("part"): list(parts), _("contribution"): [f"{v:+.5f}" for v in parts.values()]})
    widgets.check_equal(_("The sum of the parts"), _("the model's own logit"), abs(res.difference),
                        tolerances.CONTRIBUTION_SUM * (1 + abs(res.value)))
    charts.plotly_chart(contribution_heatmap(res), key="lessons.inside_heatmap")


def view_inside_neurons(ctx: Ctx) -> None:
    from ui import inside as ui_inside

    res = _inside_contributions(ctx)
    if res is None:
        return
    view = widgets.run_or_stop(lambda: ui_inside.cached_ffn(ctx.spec, _inside_text(ctx), res.n_layers - 1, None, None,
                                                            None, "activation"))
    charts.plotly_chart(ffn_bars(view), key="lessons.inside_neurons")
    st.table(promoted_table(view))


def view_inside_lens(ctx: Ctx) -> None:
    try:
        lens = ug.cached_lens(ctx.spec, _inside_text(ctx))
    except PlmCoreError as err:
        st.info(md(tr(err)))
        return
    charts.plotly_chart(logit_lens_trace(lens), key="lessons.inside_lens")
    st.markdown(_("**final prediction: {token}; its rank after each layer: {ranks}**", token=md(repr(lens.final_token)),
                  ranks=md(", ".join(str(r + 1) for r in lens.final_ranks))))


VIEWS: dict[str, Callable[[Ctx], None]] = {
    "tokens": view_tokens, "embedding_tables": view_embedding_tables, "positions": view_positions,
    "contextual": view_contextual, "generation": view_generation, "qkv": view_qkv, "scores": view_scores, "softmax": view_softmax, "weighted_sum": view_weighted_sum,
    "heads": view_heads, "concat": view_concat, "masks": view_masks, "mlm": view_mlm, "nsp": view_nsp,
    "encdec": view_encdec,
    "data": view_data, "train": view_train, "use": view_use,
    "attention_vs_attribution": view_attention_vs_attribution, "bias_probe": view_bias_probe,
    "inside_halves": view_inside_halves, "inside_residual": view_inside_residual,
    "inside_neurons": view_inside_neurons, "inside_lens": view_inside_lens,
}
