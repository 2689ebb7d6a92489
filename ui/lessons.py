"""Lessons page: step navigation, presenter view, shareable links, predict-then-reveal, and the live views.

Every input is a widget bound to the URL with Streamlit's ``bind="query-params"`` (the parameter is the widget
key): ``?lessons.lesson=2.+Self-attention…&lessons.step=3&lessons.text.2=…&lessons.layer=1&lessons.head=4
&lessons.reveal.2.2=true&lessons.presenter=true``, so the address bar is always a link to the current step with its
inputs and whether its answer is shown. A student's guess stays in the session (``persist_state``), not in links.
The presenter view hides the controls with CSS but still draws them, so their values stay in the URL.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlencode

import numpy as np
import streamlit as st

from plm_core import classroom, generation
from plm_core.attention import attention_rollout, head_average
from plm_core.errors import PlmCoreError
from plm_core.lessons import compute, finetune
from plm_core.lessons.content import LESSONS, Lang, Lesson, Step, get_lesson
from plm_core.loading import DEFAULT_MODEL_ID, ModelHandle, ModelSpec
from plm_core.neuron_view import neuron_view
from plm_core.types import Encoding, QueryKeyResult
from plm_core.viz.attention_plots import attention_heatmap
from plm_core.viz.generation_plots import contextual_figure, distribution_figure, neuron_view_figure
from plm_core.viz.lesson_plots import head_grid, mask_pair, probe_bars, token_bars, vectors_heatmap
from plm_core.words import aggregate_attention, aggregate_scores
from ui import charts, keyboard, resources, widgets
from ui import text as ui_text
from ui.backend import compute as compute_op  # (plm_core.lessons.compute is `compute` here)
from ui import generation as ug
from ui import neuron
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


@st.cache_data(max_entries=32, show_spinner="Training the head on the frozen encoder…")
def cached_train(spec: ModelSpec, examples: str) -> finetune.TrainedHead:
    return compute_op(spec, "train_head", examples)


@st.cache_data(max_entries=256, show_spinner=False)
def cached_classify(spec: ModelSpec, examples: str, text: str) -> np.ndarray:
    return compute_op(spec, "classify", cached_train(spec, examples), [text])[0]


@st.cache_data(max_entries=64, show_spinner="Attributing…")
def cached_attribution(spec: ModelSpec, text: str, other: str, n_steps: int):
    from plm_core.attribution import Target  # a sibling feature: imported when used

    handle = resources.get_handle(spec)
    target = Target("similarity", other=other) if "similarity" in handle.adapter.target_kinds else None
    return compute_op(spec, "attribute", text, "integrated_gradients", target=target, n_steps=n_steps)


@st.cache_data(max_entries=64, show_spinner="Probing…")
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
    return compute.BiasProbe(handle.model_id, f"p(he) − p(she) at [MASK] (plm_core.bias: {result.metric})",
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
    st.session_state["lessons.step"] = min(max(st.session_state.get("lessons.step", 1) + delta, 1), n_steps)


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
    # bar is a link to this step with its inputs. The language is drawn first: the lesson picker's labels (its
    # URL values) are in that language.
    with controls("top"):
        title = st.empty()
        c1, c2, c3 = st.columns([3, 1, 1])
        lang: Lang = c2.radio("Language / 语言", ["en", "zh"], horizontal=True, key="lessons.lang",
                              format_func={"en": "English", "zh": "中文"}.get, bind="query-params")
        number = c1.selectbox("Lesson", numbers, key="lessons.lesson", on_change=_lesson_changed,
                              format_func=lambda n: f"{n}. {get_lesson(n).title(lang)}", bind="query-params")
        presenter = c3.toggle("Presenter view", key="lessons.presenter", bind="query-params",
                              help="Large type, no controls: for a projector. The link below opens it directly.")
        lesson = get_lesson(number)
        title.title("Lessons" if lang == "en" else "课程")
        position = st.segmented_control("Step" if lang == "en" else "步骤", list(range(1, len(lesson.steps) + 1)),
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
        label = {5: "Sentence to classify", 7: "Occupations (comma-separated)"}.get(lesson.number, "Sentence")
        text = st.text_area(label, lesson.default_text, key=text_key(lesson.number), height=68, bind="query-params")
        layer, head = 0, 0
        if lesson.number in (2, 3):
            left, right = st.columns(2)
            layer = left.selectbox("Layer", list(range(handle.n_layers)), key="lessons.layer", bind="query-params")
            if lesson.number == 2:
                head = right.selectbox("Head", list(range(handle.n_heads)), key="lessons.head", bind="query-params")
        units = ui_text.unit_switch(text)
    if not uses_text:
        st.html(HIDDEN_CSS)
    if step.view in EXAMPLE_VIEWS - INPUT_VIEWS:
        examples_input(shown=False)
    ctx = Ctx(spec, handle, lesson, step, lang, presenter, text, int(layer), int(head), units)
    ctx.step_index = index  # type: ignore[attr-defined]

    st.progress((index + 1) / len(lesson.steps),
                text=f"Lesson {lesson.number} · step {index + 1} / {len(lesson.steps)}" if lang == "en"
                else f"第 {lesson.number} 课 · 第 {index + 1} / {len(lesson.steps)} 步")
    st.header(step.title(lang))  # md: trusted
    st.markdown(step.body(lang))  # md: trusted
    revealed = _question(ctx)
    if revealed or step.view in INPUT_VIEWS:
        widgets.run_or_stop(lambda: VIEWS[step.view](ctx))
    _navigation(lesson, index, lang, presenter)
    if presenter:
        st.button("Exit presenter view" if lang == "en" else "退出演示模式", key="lessons.exit", on_click=_exit_presenter)
        return
    with st.expander("Glossary" if lang == "en" else "术语表"):
        st.markdown("\n".join(f"- **{term(lang)}** — {definition(lang)}"  # md: trusted
                               for term, definition in lesson.glossary))
    st.caption("Share this step (opens in presenter view):" if lang == "en" else "分享这一步（以演示模式打开）：")
    st.code(presenter_link(ctx.spec.model_id), language=None)


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
    where = (ctx.lesson.number, ctx.step_index)  # type: ignore[attr-defined]
    lang = ctx.lang
    with st.container(border=True):
        st.markdown(("**Predict first:** " if lang == "en" else "**先预测：** ") + q.prompt(lang))  # md: trusted
        key = f"lessons.guess.{where[0]}.{where[1]}"
        reveal_key = f"lessons.reveal.{where[0]}.{where[1]}"  # in the URL: a link can open the step revealed
        guesses = st.session_state.setdefault("lessons.guesses", {})  # the guess each reveal judged
        shown_before = bool(st.session_state.get(reveal_key))
        # a student's own guess is not in the link; it survives moving between steps
        guess = st.radio("Your guess" if lang == "en" else "你的猜测", list(range(len(q.options))), index=None,
                         key=key, format_func=lambda i: q.options[i](lang), label_visibility="collapsed",
                         disabled=shown_before, persist_state="session")

        def record() -> None:  # the guess committed when the answer is revealed here (not by a link)
            if st.session_state.get(reveal_key):
                guesses[where] = st.session_state.get(key)
            else:
                guesses.pop(where, None)

        shown = st.toggle("Reveal the answer" if lang == "en" else "揭晓答案", key=reveal_key, on_change=record,
                          disabled=guess is None and not shown_before, bind="query-params",
                          help="Commit to a guess first." if lang == "en" else "请先选择一个答案。")
        if not shown:
            return False
        answer = q.options[q.answer](lang)
        judged = guesses.get(where)
        if judged is None:  # revealed by a link (or before a guess): the answer, without a verdict
            st.info(("The answer: " if lang == "en" else "答案：") + f"**{answer}**. {q.explanation(lang)}",
                    icon=":material/lightbulb:")  # md: trusted (the lesson's answer)
            return True
        right = judged == q.answer
        verdict = ("Right: " if right else "Not quite — ") if lang == "en" else ("答对了：" if right else "不完全对——")
        msg = f"{verdict}**{answer}**. {q.explanation(lang)}"
        if right:  # Material icons ship with Streamlit's frontend (no emoji font needed)
            st.success(msg, icon=":material/check_circle:")  # md: trusted (the lesson's answer)
        else:
            st.info(msg, icon=":material/cancel:")  # md: trusted
    return True


def _navigation(lesson: Lesson, index: int, lang: Lang, presenter: bool) -> None:
    n = len(lesson.steps)
    left, _, right = st.columns([1, 3, 1])
    left.button("← Previous" if lang == "en" else "← 上一步", key="lessons.prev", disabled=index == 0,
                on_click=_go, args=(-1, n), width="stretch")
    right.button("Next →" if lang == "en" else "下一步 →", key="lessons.next", disabled=index == n - 1,
                 on_click=_go, args=(1, n), width="stretch", type="primary")
    keyboard.step_keys("lessons.keys", lambda: _go(1, n), lambda: _go(-1, n))  # →/PageDown/Space, ←/PageUp


# -------------------------------------------------------------------------------------------- views ----


def _frame(rows: list[dict]):
    """A static table for st.table, which the presenter view scales (st.dataframe draws on a canvas and its
    toolbar fetches icons from fonts.gstatic.com). st.table renders each cell as Markdown: text cells go
    through md() so tokens such as ">", "*" or "#" show literally."""
    import pandas as pd

    frame = pd.DataFrame([{k: md(v) if isinstance(v, str) else v for k, v in row.items()} for row in rows])
    return frame.set_index(frame.columns[0]) if len(frame.columns) else frame


def _check(ctx: Ctx, ours: tuple[str, str], theirs: tuple[str, str], diff: float, tol: float) -> None:
    """An "equals the model" check in the lesson's language: success only within ``tol`` (widgets.check_equal)."""
    zh = ctx.lang == "zh"
    widgets.check_equal(ours[zh], theirs[zh], diff, tol, lang=ctx.lang)


def view_tokens(ctx: Ctx) -> None:
    res = cached_token_embeddings(ctx.spec, ctx.text)
    widgets.show_notes(res.encoding)
    enc = res.encoding
    words = ui_text.cached_words(enc, ctx.units.segment)
    st.markdown(f"**{len(enc):d} tokens, {sum(not s for s in words.special):d} words:**")
    st.code(" · ".join(enc.tokens), language=None, wrap_lines=True)  # literal: no Markdown in token text
    rows = [{"#": i, "token": t, "id": enc.input_ids[i], "special": enc.special[i], "segment": enc.segments[i]}
            for i, t in enumerate(enc.tokens)]
    left, right = st.columns(2)
    left.table(_frame(rows))
    right.table(_frame([{"word": w, "pieces": " · ".join(enc.tokens[i] for i in words.pieces[n]),
                         "n": len(words.pieces[n])} for n, w in enumerate(words.tokens) if not words.special[n]]))


def view_embedding_tables(ctx: Ctx) -> None:
    _per_token_caption(ctx)
    res = cached_token_embeddings(ctx.spec, ctx.text)
    tokens = res.encoding.tokens
    hidden = res.word.shape[1]
    parts = f"token table {res.vocab_size:,} × {hidden}, position table {res.n_positions} × {hidden}"
    st.markdown(f"**{md(parts)}**" + (" + segment table" if res.segment is not None else "")
                + (" → LayerNorm" if res.layer_norm else ""))
    bars = {"‖token row‖": np.linalg.norm(res.word, axis=1), "‖position row‖": np.linalg.norm(res.position, axis=1)}
    if res.segment is not None:
        bars["‖segment row‖"] = np.linalg.norm(res.segment, axis=1)
    charts.plotly_chart(token_bars(bars, tokens, "Length of each looked-up row"), key="lessons.emb_norms")
    charts.plotly_chart(vectors_heatmap(res.combined, tokens, "Input vectors (first 64 dimensions)"),
                        key="lessons.emb_vec")
    ln = " + LayerNorm" if res.layer_norm else ""
    _check(ctx, (f"Our sum{ln}", f"我们的求和{ln}"), ("the model's input vectors", "模型的输入向量"), res.max_abs_diff,
           widgets.VECTORS_TOLERANCE)


def view_positions(ctx: Ctx) -> None:
    _per_token_caption(ctx)
    res = cached_token_embeddings(ctx.spec, ctx.text)
    tokens = res.encoding.tokens
    c1, c2 = st.columns(2)
    charts.plotly_chart(attention_heatmap(res.position_similarity(), [f"pos {p}" for p in res.position_ids],
                                          "Cosine similarity of position rows", signed=True, colorbar_title="cos"),
                        key="lessons.pos_sim", container=c1)
    charts.plotly_chart(attention_heatmap(res.word_similarity(), tokens, "Cosine similarity of token rows",
                                          signed=True, colorbar_title="cos"), key="lessons.word_sim", container=c2)
    sim = res.position_similarity()
    n = sim.shape[0]
    near = float(np.mean([sim[i, i + 1] for i in range(n - 1)])) if n > 1 else float("nan")
    far = float(np.mean([sim[i, j] for i in range(n) for j in range(n) if j - i >= max(3, n // 2)] or [np.nan]))
    st.markdown(f"**neighbours: mean cos = {near:.3f}; far apart: mean cos = {far:.3f}**")


CONTEXT_DEFAULTS = {"lessons.ctx_a": "We sat on the bank of the river and watched the water.",
                    "lessons.ctx_b": "She went to the bank to ask for a loan.", "lessons.ctx_word": "bank"}


CONTEXT_LABELS = {"lessons.ctx_a": ("First sentence", "第一句"), "lessons.ctx_b": ("Second sentence", "第二句"),
                  "lessons.ctx_word": ("Word", "词")}


def view_contextual(ctx: Ctx) -> None:
    with controls("view"):
        values = [column.text_input(CONTEXT_LABELS[key][ctx.lang != "en"], default, key=key, bind="query-params")
                  for column, (key, default) in zip(st.columns([3, 3, 1]), CONTEXT_DEFAULTS.items())]
    res = cached_contextual(ctx.spec, *values)
    charts.plotly_chart(contextual_figure(res.layers, res.cosines, res.static_cosine, res.word),
                        key="lessons.contextual")
    where = " and ".join(f"token{'s' if len(sp) > 1 else ''} {', '.join(map(str, sp))}" for sp in res.spans)
    same = res.spans[0] == res.spans[1]
    st.markdown(f"**{md(where)}; cosine after the embedding layer {res.cosines[0]:.3f} "
                f"({md('same position' if same else 'the position embeddings differ')}), after the last layer "
                f"{res.cosines[-1]:.3f}**")
    if res.static_diff <= widgets.VECTORS_TOLERANCE:
        _check(ctx, ("The second sentence's token-embedding row", "第二句的词元嵌入行"),
               ("the first's (a static embedding)", "第一句的（静态嵌入）"), res.static_diff, widgets.VECTORS_TOLERANCE)
    else:  # the word is split differently in the two sentences
        st.info(f"The word's token-embedding rows differ (max |difference| = {res.static_diff:.2e}): it is split "
                "into different pieces in the two sentences.")


def _steps(ctx: Ctx) -> compute.AttentionSteps:
    return cached_attention_steps(ctx.spec, ctx.text, ctx.layer)


def view_qkv(ctx: Ctx) -> None:
    _per_token_caption(ctx)
    s, h = _steps(ctx), ctx.head
    tokens = s.encoding.tokens
    st.markdown(f"**layer {s.layer:d}, head {h:d}: X is {s.inputs.shape[0]:d} × {s.inputs.shape[1]:d}; "
                f"Q, K, V of one head are {s.queries.shape[1]:d} × {s.d_k:d} (d_k = {s.d_k:d})**")
    cols = st.columns(3)
    for col, (name, m) in zip(cols, (("Q", s.queries[h]), ("K", s.keys[h]), ("V", s.values[h]))):
        charts.plotly_chart(vectors_heatmap(m, tokens, f"{name} (head {h})"), key=f"lessons.{name}", container=col)


def view_scores(ctx: Ctx) -> None:
    _per_token_caption(ctx)
    s, h = _steps(ctx), ctx.head
    st.markdown(f"**scale = 1/√d_k = 1/√{s.d_k:d} = {s.scale:.4f}**" + (" · causal mask: −∞ above the diagonal" if s.causal else ""))
    charts.plotly_chart(attention_heatmap(s.scores[h], s.encoding.tokens, f"QKᵀ/√d_k (layer {s.layer}, head {h})",
                                          signed=True, colorbar_title="score"), key="lessons.scores")
    _neuron_view(ctx, s)


def _per_token_caption(ctx: Ctx) -> None:
    if ctx.units.words:
        st.caption("Per token: vectors and scores belong to tokens (the word view applies to attention weights)."
                   if ctx.lang == "en" else "按词元显示：向量和分数属于词元（词视图只适用于注意力权重）。")


def _neuron_view(ctx: Ctx, s: compute.AttentionSteps) -> None:
    """One query token against every key (bertviz's neuron view), from the lesson's own Q and K."""
    h, n = ctx.head, len(s.encoding)
    if st.session_state.get("lessons.query") not in range(n):  # a position of an older, longer sentence
        st.session_state.pop("lessons.query", None)
    labels = s.encoding.labels()
    with controls("view"):
        query = st.selectbox("Query token (neuron view)" if ctx.lang == "en" else "查询词元（神经元视图）", list(range(n)),
                             index=min(2, n - 1), format_func=lambda i: labels[i], key="lessons.query",
                             bind="query-params")
    qk = QueryKeyResult(model_id=s.model_id, encoding=s.encoding, layer=s.layer, head=h, queries=s.queries[h],
                        keys=s.keys[h], scores=s.scores[h], probs=s.probs[h], model_probs=s.model_probs[h],
                        scale=s.scale, causal=s.causal, bias=None if s.bias is None else s.bias[h])
    nv = neuron_view(qk, query)
    charts.plotly_chart(neuron_view_figure(nv), key="lessons.neuron")
    vis = np.array(nv.visible)
    bias = nv.bias[vis] if nv.bias is not None else 0.0  # T5: a position bias added to QKᵀ
    diff = float(np.max(np.abs(nv.dots[vis] * nv.scale + bias - s.scores[h][query][vis])))
    plus = " + position bias" if nv.bias is not None else ""
    _check(ctx, (f"Σ q ⊙ k × scale{plus}", f"Σ q ⊙ k × 缩放系数{plus}"),
           (f"row {query:d} of the score matrix", f"分数矩阵的第 {query:d} 行"), diff, neuron.TOLERANCE)


def view_softmax(ctx: Ctx) -> None:
    s, h = _steps(ctx), ctx.head
    words = ctx.words(s.encoding)
    probs = s.probs[h] if words is None else aggregate_attention(s.probs[h], words)
    charts.plotly_chart(attention_heatmap(probs, (words or s.encoding).tokens, f"softmax (layer {s.layer}, head {h})"),
                    key="lessons.softmax")
    sums = probs.sum(-1)
    st.markdown(f"**row sums: min {sums.min():.6f}, max {sums.max():.6f}**")
    diff = float(np.max(np.abs(s.probs[h] - s.model_probs[h])))
    _check(ctx, ("Our softmax", "我们的 softmax"), ("the attention the model returned", "模型返回的注意力"), diff,
           widgets.PROBS_TOLERANCE)


def view_weighted_sum(ctx: Ctx) -> None:
    _per_token_caption(ctx)
    s, h = _steps(ctx), ctx.head
    tokens = s.encoding.tokens
    d = s.d_k
    c1, c2 = st.columns(2)
    charts.plotly_chart(vectors_heatmap(s.context[h], tokens, f"ours: softmax · V (head {h})"),
                        key="lessons.ctx_ours", container=c1)
    charts.plotly_chart(vectors_heatmap(s.model_concat[:, h * d:(h + 1) * d], tokens,
                                        f"the model's (input of its output projection, head {h})"),
                        key="lessons.ctx_model", container=c2)
    diff = s.head_context_diff(h)
    _check(ctx, ("Step by step", "一步步计算的结果"), ("the model's own attention output", "模型自己的注意力输出"), diff,
           widgets.VECTORS_TOLERANCE)


def view_heads(ctx: Ctx) -> None:
    s = _steps(ctx)
    words = ctx.words(s.encoding)
    probs = s.probs if words is None else aggregate_attention(s.probs, words)
    charts.plotly_chart(head_grid(probs, (words or s.encoding).tokens, f"All {s.n_heads} heads of layer {s.layer}"),
                    key="lessons.heads")
    ent = -(probs * np.log(np.clip(probs, 1e-12, 1))).sum(-1).mean(-1)
    st.markdown("**mean entropy per head (low = focused):** " + ", ".join(f"h{i:d} {e:.2f}" for i, e in enumerate(ent)))


def view_concat(ctx: Ctx) -> None:
    _per_token_caption(ctx)
    s = _steps(ctx)
    tokens = s.encoding.tokens
    st.markdown(f"**{s.n_heads:d} heads × d_k {s.d_k:d} = {s.concat.shape[1]:d} numbers per token → W_O "
                f"({s.concat.shape[1]:d} × {s.projected.shape[1]:d})**")
    c1, c2 = st.columns(2)
    charts.plotly_chart(vectors_heatmap(s.concat, tokens, "concatenated heads"), key="lessons.concat", container=c1)
    charts.plotly_chart(vectors_heatmap(s.projected, tokens, "after the output projection W_O"),
                        key="lessons.proj", container=c2)
    _check(ctx, ("Concatenation", "拼接结果"), ("the model's", "模型的"), s.context_diff, widgets.VECTORS_TOLERANCE)
    _check(ctx, ("Projection", "投影结果"), ("the output of its W_O layer", "其 W_O 层输出"), s.projection_diff,
           widgets.VECTORS_TOLERANCE)


def view_masks(ctx: Ctx) -> None:
    _per_token_caption(ctx)
    m = cached_mask_lesson(ctx.spec, ctx.text)
    own = "causal (GPT-style)" if m.causal else "bidirectional (BERT-style)"
    other = "bidirectional (BERT-style), constructed" if m.causal else "causal (GPT-style), constructed"
    charts.plotly_chart(mask_pair(m.mask, m.other_mask, m.encoding.tokens, f"loaded model: {own}", other),
                        key="lessons.masks")
    st.markdown(f"**this model is {md(own)}: attention given to later tokens = {m.future_attention:.3f} of each row "
                f"(averaged over layers and heads)**")


def view_mlm(ctx: Ctx) -> None:
    m = cached_mask_lesson(ctx.spec, ctx.text)
    st.table(_frame([{"#": i, "original": o, "corrupted": c, "predict?": i in m.mlm_targets}
                     for i, (o, c) in enumerate(zip(m.encoding.tokens, m.mlm_tokens))]))
    if m.predictions:
        for d in m.predictions:
            what = "next token" if ctx.handle.adapter.output == "next_token" else f"[MASK] at {d.position}"
            st.text(f"{what}: " + ", ".join(f"{t!r} {p:.1%}" for t, p in zip(d.tokens, d.probs)))
    elif ctx.handle.adapter.output == "masked_token":
        st.info("Put [MASK] in the sentence to see the model fill it in.")
    else:
        st.info(f"{md(ctx.handle.model_id)} is a {md(ctx.handle.adapter.label)}: it has no language-model head to predict with "
                "(load a masked or causal LM to see predictions).")


@st.cache_data(max_entries=128, show_spinner=False)
def cached_encoder_decoder(spec: ModelSpec, text: str, target: str) -> compute.EncoderDecoderLesson:
    return compute.encoder_decoder_lesson(resources.get_handle(spec), text, target or None)


def view_encdec(ctx: Ctx) -> None:
    with controls("view"):
        target = st.text_input("Target so far (decoder input; optional)", "The cat sat", key="lessons.target.4",
                               bind="query-params")
    if not ctx.handle.arch.encoder_decoder:
        st.info(f"{md(ctx.handle.model_id)} is a {md(ctx.handle.adapter.label)}: load an encoder-decoder (t5-small, "
                "facebook/bart-base) in the sidebar to see its three attention maps computed live."
                if ctx.lang == "en" else
                f"{md(ctx.handle.model_id)} 不是编码器-解码器模型：在侧边栏加载 t5-small 或 facebook/bart-base 即可实时看到三张注意力图。")
        return
    m = cached_encoder_decoder(ctx.spec, ctx.text, target)
    src, tgt = m.source.tokens, m.target.tokens
    charts.plotly_chart(mask_pair(m.encoder_mask, m.decoder_mask, src, "encoder: who may look at whom (source)",
                              "decoder: who may look at whom (target)", other_tokens=tgt), key="lessons.encdec.masks")
    charts.plotly_chart(attention_heatmap(m.cross, src, "cross-attention, last layer, mean of heads (target × source)",
                                      query_tokens=tgt), key="lessons.encdec.cross")
    st.markdown(f"**encoder: {md('bidirectional' if m.encoder_bidirectional else 'causal')}; decoder: "
                f"{md('causal' if m.decoder_causal else 'not causal')} (read from the weights); cross-attention: "
                f"{len(tgt):d} target × {len(src):d} source tokens**")
    d = m.prediction
    st.markdown("**next target token:** " + ", ".join(f"{md(repr(t))} {p:.1%}" for t, p in zip(d.tokens, d.probs)))
    if m.spans:
        st.markdown("**span filling (greedy):** " + "; ".join(f"{md(s)} → “{md(t)}”" for s, t in m.spans))


def view_generation(ctx: Ctx) -> None:
    """Lesson 4: the LM's distribution at temperature 1 and T (a masked LM at its [MASK]); a model that generates
    (causal LM, encoder-decoder) samples."""
    handle = ctx.handle
    mask = handle.tokenizer.mask_token or "[MASK]"
    generates = handle.adapter.generates
    text = (ctx.text.split(mask)[0].strip() or ctx.text) if generates else ctx.text
    with controls("view"):
        t = float(st.slider("Temperature" if ctx.lang == "en" else "温度", 0.1, 3.0, 2.0, step=0.1,
                            key="lessons.temperature", bind="query-params"))
    try:
        _, dist = ug.cached_text_distribution(ctx.spec, text, generation.SamplingSettings(True, t))
    except PlmCoreError as err:
        st.info(md(err) if ctx.lang == "en" else f"{md(err)}（请加载掩码或因果语言模型）")
        return
    where = "next token" if generates else f"{mask} (token {dist.position})"
    charts.plotly_chart(distribution_figure(dist, f"{where}: temperature 1 and {t:g}"), key="lessons.temperature_chart")
    st.markdown(f"**entropy: {dist.entropy:.2f} nats at T = 1 → {dist.entropy_final:.2f} at T = {t:g}; top token "
                f"{dist.probs[0]:.1%} → {dist.probs_temperature[0]:.1%}**")
    if not generates:
        return
    key = ("lessons.gen", ctx.spec, text)
    state = st.session_state.get("lessons.gen")
    if state is None or state[0] != key:
        state = (key, widgets.run_or_stop(lambda: ug.start(ctx.spec, text)))
    if st.button(f"Sample the next token at T = {t:g}" if ctx.lang == "en" else f"在 T = {t:g} 时采样下一个词元",
                 key="lessons.sample"):
        state = (key, widgets.run_or_stop(lambda: ug.generate_steps(ctx.spec, state[1],
                                                                    generation.SamplingSettings(True, t), 1)))
    st.session_state["lessons.gen"] = state
    st.code(generation.text_of(handle, state[1].ids), language=None, wrap_lines=True)


def view_nsp(ctx: Ctx) -> None:
    with controls("view"):
        pair = st.text_area("Second sentence (B)", "It slept all afternoon.", key="lessons.pair.4", height=68,
                            bind="query-params")
    enc = cached_encoding(ctx.spec, ctx.text.replace("[MASK]", "mat"), pair)
    st.markdown(f"**{len(enc):d} tokens, second sentence starts at {md(enc.pair_start)}**")
    if ctx.handle.adapter.target_prefix:
        st.caption(f"{md(ctx.handle.model_id)} reads no sentence pairs: its second segment is the decoder's input "
                   "(the decoder start token, then the target so far).")
    st.table(_frame([{"#": i, "token": t, "segment": s, "special": sp}
                     for i, (t, s, sp) in enumerate(zip(enc.tokens, enc.segments, enc.special))]))


def _training_spec(ctx: Ctx) -> ModelSpec:
    """The active model when it is a BERT encoder the head can sit on, else the embedded MiniLM."""
    return ctx.spec if getattr(ctx.handle.config, "model_type", "") == "bert" else ModelSpec(DEFAULT_MODEL_ID)


EXAMPLE_VIEWS = {"data", "train", "use"}  # the steps that read the labelled examples (lesson 5)


def examples_input(shown: bool) -> str:
    """The labelled examples, drawn in every step that reads them (hidden but for the data step), so a link to
    any of those steps carries them."""
    with controls("view") if shown else st.container(key=f"{HIDDEN}-examples"):
        examples = st.text_area("Labelled examples", finetune.example_text(), key="lessons.examples", height=260,
                                bind="query-params")
    if not shown:
        st.html(HIDDEN_CSS)
    return examples


def _examples() -> str:
    return st.session_state.get("lessons.examples", finetune.example_text())


def view_data(ctx: Ctx) -> None:
    data = finetune.parse_examples(examples_input(shown=True))
    counts = ", ".join(f"{n}: {data.labels.count(i)}" for i, n in enumerate(data.names))
    st.markdown(f"**{len(data.texts)} examples — {md(counts)}**")


def view_train(ctx: Ctx) -> None:
    spec = _training_spec(ctx)
    trained = cached_train(spec, _examples())
    c1, c2, c3 = st.columns(3)
    c1.metric("training accuracy", f"{trained.train_accuracy:.0%}")
    c2.metric("held-out accuracy (pooler, saved)", f"{trained.heldout_accuracy:.0%}")
    c3.metric("held-out accuracy (mean pooling)", f"{trained.heldout_accuracy_mean_pooling:.0%}")
    pool = "tanh([CLS]) (this model has no trained pooler)" if trained.identity_pooler else "the model's pooler, tanh(W·[CLS] + b)"
    st.markdown(f"**encoder {md(spec.model_id)} (frozen); head: {len(trained.data.names)} × "
                f"{trained.weight.shape[1]:d} linear layer on {md(pool)}; {len(trained.data.texts)} examples, "
                "5-fold cross-validation**")
    if trained.heldout_accuracy_mean_pooling > trained.heldout_accuracy:
        st.caption("Mean pooling generalises better here: this encoder was trained for mean-pooled sentence "
                   "embeddings. The saved classifier uses the pooler because that is what BertForSequenceClassification computes.")


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
    if st.button("Save as a classifier and switch the app to it", key="lessons.save"):
        finetune.save_classifier(resources.get_handle(spec), trained, folder)
        new = ModelSpec(str(folder))
        saved = resources.cached_prediction(new, ctx.text)
        diff = float(np.max(np.abs(saved.probs - probs)))
        st.session_state["lessons.saved"] = (str(folder), diff)
        st.session_state[widgets.SPEC_KEY] = new
        st.rerun()
    if "lessons.saved" in st.session_state:
        path, diff = st.session_state["lessons.saved"]
        st.info(f"已保存到 {md(path)} 并作为分类器加载。侧边栏的模型现在就是这个分类器。" if ctx.lang == "zh" else
                f"Saved to {md(path)} and loaded as a classifier. The sidebar model is now this classifier.")
        _check(ctx, ("The saved classifier's prediction", "保存的分类器给出的概率"),
               ("the trained model's", "训练好的模型的概率"), diff, widgets.PROBS_TOLERANCE)
        if st.button("Explain it on the Attention page", key="lessons.open_attention"):
            widgets.open_page("pages/attention.py", **{"attention.text": ctx.text})


def view_attention_vs_attribution(ctx: Ctx) -> None:
    text = ctx.text
    att = resources.cached_attention(ctx.spec, text)
    words = ctx.words(att.encoding)  # word view: attention to a word summed over its pieces, scores summed
    units = att.encoding if words is None else words
    tokens = units.tokens
    row = len(tokens) - 1 if ctx.handle.adapter.output == "next_token" else 0

    def per_unit(matrix: np.ndarray) -> np.ndarray:
        return matrix if words is None else aggregate_attention(matrix, words)

    series = {"attention (last layer, mean of heads)": per_unit(head_average(att, att.n_layers - 1))[row],
              "attention rollout": per_unit(attention_rollout(att.weights)[-1])[row]}
    occ = cached_occlusion(ctx.spec, text, words)
    series["leave-one-out (occlusion)"] = occ.scores
    n_steps = classroom.cap_steps(STEPS_IG)
    other = "This is a great film."
    try:
        attr = cached_attribution(ctx.spec, text, other, n_steps)
    except ImportError:
        st.info("Integrated gradients is not available in this installation (plm_core.attribution is absent).")
    except PlmCoreError as err:
        st.info(f"Integrated gradients: {md(err)}")
    else:
        if len(attr.scores) == len(att.encoding):
            series[f"integrated gradients ({n_steps} steps)"] = (attr.scores if words is None
                                                                  else aggregate_scores(attr.scores, words))
    norm = {k: np.abs(v) / (np.abs(v).max() or 1.0) for k, v in series.items()}
    where = "[CLS]" if row == 0 else "the last token"
    charts.plotly_chart(token_bars(norm, tokens, f"Attention from {where} vs attribution (each scaled to max 1)",
                                   yaxis="relative importance"), key="lessons.att_attr")
    base = norm["attention (last layer, mean of heads)"]
    content = [i for i, s in enumerate(units.special) if not s]
    lines = []
    for name, v in norm.items():
        if name.startswith("attention (last"):
            continue
        rho = compute.spearman(base[content], v[content]) if len(content) > 1 else float("nan")
        lines.append(f"{name}: ρ = {rho:+.2f}")
    st.markdown("**Spearman rank correlation with last-layer attention (word tokens): " + md("; ".join(lines)) + "**")
    st.caption(md(occ.what))


def view_bias_probe(ctx: Ctx) -> None:
    words = compute.parse_words(ctx.text)
    res = cached_bias(ctx.spec, words)
    charts.plotly_chart(probe_bars(res.scores, res.occupations, res.templates,
                                   "Association: + leans male, − leans female", res.method), key="lessons.bias")
    mean = res.scores.mean(0)
    st.markdown("**mean over templates:** " + ", ".join(f"{md(w)} {m:+.3f}" for w, m in zip(res.occupations, mean)))
    spread = res.scores.max(0) - res.scores.min(0)
    st.caption("Spread between templates per word: " + ", ".join(f"{md(w)} {s:.3f}" for w, s in zip(res.occupations, spread)))


VIEWS: dict[str, Callable[[Ctx], None]] = {
    "tokens": view_tokens, "embedding_tables": view_embedding_tables, "positions": view_positions,
    "contextual": view_contextual, "generation": view_generation, "qkv": view_qkv, "scores": view_scores, "softmax": view_softmax, "weighted_sum": view_weighted_sum,
    "heads": view_heads, "concat": view_concat, "masks": view_masks, "mlm": view_mlm, "nsp": view_nsp,
    "encdec": view_encdec,
    "data": view_data, "train": view_train, "use": view_use,
    "attention_vs_attribution": view_attention_vs_attribution, "bias_probe": view_bias_probe,
}
