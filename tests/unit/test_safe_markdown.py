"""Issue 10, case 5: ``ui.safe.md`` shows any text literally, and no page puts unescaped text into Markdown.

- properties of ``md`` (hypothesis): rendered with a CommonMark + GFM parser, ``md(s)`` is one paragraph of
  plain text equal to ``s`` (line breaks as spaces); no link, image, emphasis, code, HTML, heading, list,
  table, math ``$``, directive ``:name[``, shortcode ``:name:`` or bare URL can start. The real frontend is
  checked in tests/browser/test_hostile_browser.py.
- a static guard over pages/, ui/ and app.py: the body of every Markdown element (``st.markdown``,
  ``caption``, ``error``, ``warning``, ``info``, ``success``, titles, headers; also on columns, the sidebar
  and containers) is a literal, ``md(...)``, or an f-string whose every value is ``md(...)``, a number with
  a format spec (``{x:.3f}``, ``{n:d}``) or ``len(...)``; a translated message (``_``, ``_n``, ``_p`` of
  plm_core.i18n: the catalogue is text the app wrote) counts the same way, its every named parameter being
  ``md(...)``, a translated constant, a number call, or a placeholder with a number format in the msgid. Text the
  app itself wrote (lesson content) is marked ``# md: trusted`` on its line.
"""

from __future__ import annotations

import ast
import html
import re
import string
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from markdown_it import MarkdownIt

from ui.safe import WORD_JOINER, md

ROOT = Path(__file__).resolve().parents[2]
_MD = MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"])
MARKDOWN_CALLS = {"markdown", "caption", "error", "warning", "info", "success", "title", "header", "subheader",
                  "toast"}
NUMERIC_CALLS = {"len", "int", "float", "round", "abs", "sum", "min", "max"}


def rendered_text(body: str) -> tuple[str, str]:
    out = _MD.render(body)
    return out, html.unescape(re.sub(r"<[^>]+>", "", out)).strip()


CASES = ["**x**", "[a](http://example.invalid)", "![i](http://127.0.0.1:9/i.png)", "*", "$x$", "$$x$$", "<b>x</b>",
         "`x`", "# x", "| a | b |", "> x", ":red[x]", ":smile:", ":streamlit:", "http://example.invalid",
         "www.example.invalid", "a@example.invalid", "a -> b <- c <-> d -- e >= f <= g ~= h", "~~x~~", "&amp;",
         "_x_", "1. x", "- x", "+ x", "    code", "x\\*y", "\\", "[MASK]", "<|endoftext|>", "<extra_id_0>",
         "中文 😀 \u202eRTL", "a\nb\n\nc", "---", "***", "<!-- x -->", "[x]: http://example.invalid", "\\[a\\](b)"]


@pytest.mark.parametrize("text", CASES)
def test_md_shows_the_text_literally(text):
    body = md(text)
    out, shown = rendered_text(body)
    assert out.startswith("<p>") and out.count("<") == 2, out  # one paragraph, no other element
    assert shown.replace(WORD_JOINER, "") == " ".join(text.split()) or shown.replace(WORD_JOINER, "").replace(
        "\u00a0", " ") == " ".join(text.replace("\n", " ").split(" ")).strip(), (text, shown)


@settings(max_examples=300, derandomize=True, database=None)
@given(st.lists(st.sampled_from(list("*_`[]()!<>#|$~:&\\-+.=@/ ab1\n") + ["http", "www", "中", "😀"]),
                max_size=40).map("".join))
def test_md_never_makes_markup(text):
    body = md(text)
    out, shown = rendered_text(body)
    if text.strip():
        assert out.startswith("<p>") and out.count("<") == 2, (text, out)
    assert not re.search(r"(?<!\\)\$", body.replace("\\\\", ""))  # math needs an unescaped $
    assert not re.search(r"(?<!\\):[a-z]", body.replace("\\\\", ""))  # directives :name[, shortcodes :name:
    # what the frontend rewrites in the text after parsing: autolinks, :streamlit:, arrows and signs
    assert not re.search(r"https?://|www\.|[\w.+-]@[\w-]+\.\w", shown, re.IGNORECASE), (text, shown)
    assert ":streamlit:" not in shown
    assert not re.search(r"(^|\s)(<->|->|<-|--|>=|<=|~=)(\s|$)", shown), (text, shown)
    assert "\n" not in body


def test_md_is_literal_for_numbers_and_words():
    assert md("the cat 3") == "the cat 3"
    assert md(0.5) == "0\\.5"


# ------------------------------------------------------------------ static guard ----

def _names(target: ast.AST) -> list[str]:
    return [n.id for n in ast.walk(target) if isinstance(n, ast.Name)]


def _streamlit_names(tree: ast.AST) -> set[str]:
    """Names bound to Streamlit containers: ``st`` and whatever is assigned from it (``sb = st.sidebar``,
    ``c1, c2 = st.columns(2)``, ``with st.container() as box``, ``for col in cols``), transitively."""
    known = {"st"}
    makers = {"sidebar", "columns", "container", "tabs", "expander", "empty", "popover", "form", "status", "progress"}
    bindings = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign):
            bindings += [(t, node.value) for t in node.targets]
        elif isinstance(node, ast.For):
            bindings.append((node.target, node.iter))
        elif isinstance(node, ast.withitem) and node.optional_vars is not None:
            bindings.append((node.optional_vars, node.context_expr))
    def makes_container(value: ast.AST) -> bool:
        for n in ast.walk(value):
            if isinstance(n, ast.Attribute) and n.attr in makers and set(_names(n.value)) & known:
                return True  # st.sidebar, st.columns(2), slot.columns(...)
        return isinstance(value, (ast.Name, ast.Subscript, ast.Tuple)) and bool(set(_names(value)) & (known - {"st"}))

    for _ in range(4):
        for target, value in bindings:
            if makes_container(value):
                known |= set(_names(target))
    return known


def _markdown_calls(tree: ast.AST):
    containers = _streamlit_names(tree)
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in MARKDOWN_CALLS \
                and node.args:
            root = node.func.value
            while isinstance(root, (ast.Attribute, ast.Subscript)):
                root = root.value
            # st.markdown, st.sidebar.error, sb.caption, c1.markdown, cols[0].info (not step.title(lang))
            if isinstance(root, ast.Name) and root.id in containers:
                yield node


def _is_md(node: ast.AST) -> bool:
    return isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "md"


TRANSLATE_CALLS = {"_": 1, "_n": 2, "_p": 2}  # plm_core.i18n: name -> how many leading str arguments (msgids, context)


def _number_fields(msgids: list[str]) -> set[str]:
    """Placeholders of the msgids formatted as numbers (``{n:d}``, ``{x:.3f}``, ``{n:,}``)."""
    fields = set()
    for text in msgids:
        for _literal, field, spec, _conv in string.Formatter().parse(text):
            if field and spec and re.search(r"[bcdeEfFgGnoxX%,]$", spec):
                fields.add(field)
    return fields


def _unsafe_translation(node: ast.Call) -> list[ast.AST]:
    """A message of the catalogue: its msgids are the app's own text; each parameter must be safe by itself."""
    n_text = TRANSLATE_CALLS[node.func.id]
    texts, rest = node.args[:n_text], node.args[n_text:]  # _n's count is an int (gettext's plural choice)
    bad = [part for a in texts for part in _unsafe(a)]
    numbers = _number_fields([a.value for a in texts if isinstance(a, ast.Constant) and isinstance(a.value, str)])
    if node.func.id == "_n":
        numbers.add("n")
    for kw in node.keywords:
        value = kw.value
        if kw.arg in numbers or (isinstance(value, ast.Call) and isinstance(value.func, ast.Name)
                                 and value.func.id in NUMERIC_CALLS):
            continue
        bad += _unsafe(value) if kw.arg is not None else [value]
    return bad + [a for a in rest if node.func.id != "_n"]


# ModelInfo fields that hold the app's own texts of a kind (plm_core.kinds.texts), not user input
KIND_TEXTS = {"kind_label", "first_label", "pair_label", "pair_help", "prediction_title"}


def _attr_chain(node: ast.AST) -> list[str]:
    names = []
    while isinstance(node, ast.Attribute):
        names.append(node.attr)
        node = node.value
    return names + ([node.id] if isinstance(node, ast.Name) else [])


def _unsafe(node: ast.AST) -> list[ast.AST]:
    """Parts of a Markdown body that may carry unescaped text."""
    if isinstance(node, ast.Constant) or _is_md(node):
        return []
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in TRANSLATE_CALLS:
        return _unsafe_translation(node)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "tr" and len(node.args) == 1:
        if isinstance(node.args[0], ast.Attribute) and "adapter" in _attr_chain(node.args[0]):
            return []  # a kind adapter's own label (plm_core/kinds: N_ constants)
        if (isinstance(node.args[0], ast.Attribute) and "info" in _attr_chain(node.args[0])
                and node.args[0].attr in KIND_TEXTS):
            return []  # a ModelInfo's kind text (plm_core/kinds/texts.py: msg constants), never its model_id
        return _unsafe(node.args[0])  # a constant label the app wrote, in the viewer's language
    if isinstance(node, ast.Name) and node.id.isupper():  # a module constant the app wrote
        return []
    if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name) and node.value.id.isupper():
        return []
    if isinstance(node, ast.Attribute) and node.attr.isupper():  # a constant of another module (datasets.LICENSES)
        return []
    if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Attribute) and node.value.attr.isupper():
        return []
    if isinstance(node, ast.BoolOp):  # ``help=tr(x) or None``
        return [part for v in node.values for part in _unsafe(v)]
    if isinstance(node, ast.JoinedStr):
        bad = []
        for v in node.values:
            if isinstance(v, ast.FormattedValue):
                if v.conversion not in (-1, None) and not _is_md(v.value):
                    bad.append(v)
                elif v.format_spec is not None or _is_md(v.value):
                    continue
                elif isinstance(v.value, ast.Call) and isinstance(v.value.func, ast.Name) and \
                        v.value.func.id in NUMERIC_CALLS:
                    continue
                else:
                    bad.append(v)
        return bad
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return _unsafe(node.left) + _unsafe(node.right)
    if isinstance(node, ast.IfExp):
        return _unsafe(node.body) + _unsafe(node.orelse)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "join" \
            and node.args and isinstance(node.args[0], (ast.GeneratorExp, ast.ListComp)):
        return _unsafe(node.func.value) + _unsafe(node.args[0].elt)
    return [node]


def test_no_page_puts_unescaped_text_into_markdown():
    files = sorted([*ROOT.glob("pages/*.py"), *ROOT.glob("ui/**/*.py"), ROOT / "app.py"])
    assert len(files) > 10
    found = []
    for path in files:
        source = path.read_text(encoding="utf-8")
        lines = source.splitlines()
        for call in _markdown_calls(ast.parse(source)):
            span = lines[call.lineno - 1: (call.end_lineno or call.lineno)]
            if any("# md: trusted" in line for line in span):
                continue
            for part in _unsafe(call.args[0]):
                found.append(f"{path.relative_to(ROOT)}:{getattr(part, 'lineno', call.lineno)}: "
                             f"{ast.unparse(part)[:80]}")
    assert not found, "Markdown bodies with text not passed through ui.safe.md:\n" + "\n".join(found)


def test_the_guard_catches_the_faults_it_is_for():
    bad = ['st.error(str(err))', 'st.info(note)', 'st.markdown(f"**Explained:** {label}")',
           'sb.error(f"{err} — still using {spec.model_id}.")', 'c1.markdown(f"**A — {label_a}**")',
           'st.warning(f"top: {x!r}")', 'st.caption(", ".join(w for w in words))',
           'st.markdown(_("**Explained:** {label}", label=label))', 'st.error(tr(err))', 'st.info(sentence(note))',
           'st.caption(_("{a} and {n} more", a=name, n=len(xs)))', 'st.warning(_(text))',
           'st.caption(_n("{n} word: {w}", "{n} words: {w}", n, w=word))']
    good = ['st.error(md(str(err)))', 'st.markdown(f"**{n:d} tokens** {md(label)} = {v:.3f}")', 'st.title("A")',
            'st.caption(", ".join(md(w) for w in words))', 'log.info("x %s", x)', 'st.info(CAVEATS[probe])',
            'st.markdown(_("**Explained:** {label} = {v:.3f}", label=md(label), v=value))', 'st.info(_(NAMES[v]))',
            'st.caption(_("{n} words", n=len(ws)) + " · " + _("{layers} layers", layers=int(k)))',
            'st.error(md(tr(err)))', 'st.caption(_n("{n} word", "{n} words", count))', 'st.info(tr(LABELS[m]))',
            'st.caption(_("{view} view", view=_(VIEWS[v])))']
    for src in bad:
        (call,) = _markdown_calls(ast.parse("sb = st.sidebar\nc1, c2 = st.columns(2)\n" + src))
        assert _unsafe(call.args[0]), src
    for src in good:
        assert not any(_unsafe(c.args[0]) for c in _markdown_calls(ast.parse(src))), src
    assert len(list(_markdown_calls(ast.parse("st.title(step.title(lang))")))) == 1  # not step.title itself


def test_every_chart_goes_through_safe_figure():
    """Plotly renders <b>, <i> and <a href> in titles, axis and category labels and legend names.

    Every chart of the app is drawn by ``ui.charts.plotly_chart`` (presenter scaling, export), which passes the
    figure through ``safe_figure`` as its last step; any other ``plotly_chart`` call must wrap its figure itself.
    """
    found = []
    for path in sorted([*ROOT.glob("pages/*.py"), *ROOT.glob("ui/**/*.py"), ROOT / "app.py"]):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "plotly_chart":
                if isinstance(node.func.value, ast.Name) and node.func.value.id == "charts":
                    continue  # ui.charts.plotly_chart: checked below
                arg = node.args[0] if node.args else None
                if not (isinstance(arg, ast.Call) and getattr(arg.func, "id", "") == "safe_figure"):
                    found.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert not found, "st.plotly_chart without ui.safe.safe_figure: " + ", ".join(found)
    # ... and ui.charts.plotly_chart escapes once, as the last step before Streamlit
    tree = ast.parse((ROOT / "ui" / "charts.py").read_text(encoding="utf-8"))
    (fn,) = [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) and n.name == "plotly_chart"]
    (ret,) = [n for n in ast.walk(fn) if isinstance(n, ast.Return)]
    assert isinstance(ret.value, ast.Call) and ret.value.func.attr == "plotly_chart"
    assert getattr(ret.value.args[0].func, "id", "") == "safe_figure"


def test_safe_figure_escapes_user_text_in_charts():
    import numpy as np

    from plm_core.viz.attention_plots import attention_heatmap
    from ui.safe import safe_figure

    tokens = ["[CLS]", "<b>x</b>", "<a href='http://example.invalid'>y</a>", "a&b"]
    fig = safe_figure(attention_heatmap(np.eye(4, dtype=np.float32), tokens, "to '<img src=http://127.0.0.1:9/i>'"))
    spec = fig.to_plotly_json()
    text = str(spec["layout"]["title"]) + str(list(spec["data"][0]["x"])) + str(list(spec["data"][0]["y"]))
    assert "<b>" not in text and "<a " not in text and "<img" not in text
    assert "&lt;b&gt;x&lt;/b&gt;" in text and "a&amp;b" in text
    np.testing.assert_allclose(np.asarray(fig.data[0].z, dtype=float), np.eye(4))


# ------------------------------------------------------------------ every Markdown sink, not only bodies ----
# Issue 25, item 0: Streamlit renders Markdown in more places than st.markdown's body: progress and spinner
# text, status/toast/expander/popover/tab labels, metric labels, every widget label, every ``help`` tooltip,
# column-config labels and help, and the option labels of radio, pills and segmented_control (``format_func``).
# A model id typed into "Also run on these models" reached st.progress(text=...) unescaped.

LABEL_CALLS = {"toast", "expander", "popover", "status", "spinner", "metric", "button", "download_button", "checkbox",
               "toggle", "radio", "selectbox", "multiselect", "text_input", "text_area", "number_input", "slider",
               "select_slider", "file_uploader", "form_submit_button", "link_button", "pills", "segmented_control",
               "color_picker", "date_input", "time_input", "camera_input", "page_link", "feedback", "Column",
               "NumberColumn", "TextColumn", "CheckboxColumn", "ProgressColumn", "LinkColumn", "ListColumn",
               "SelectboxColumn", "LineChartColumn", "BarChartColumn", "DatetimeColumn", "ImageColumn"}
MARKDOWN_KEYWORDS = {"help", "text", "label"}
MARKDOWN_OPTIONS = {"radio", "pills", "segmented_control"}  # their format_func output is Markdown too


def _sink_parts(tree: ast.AST):
    """(call, part) for every argument of a Streamlit call that Streamlit renders as Markdown."""
    containers = _streamlit_names(tree) | {"widgets"}  # ui.widgets wraps text_area/text_input with a label
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
            continue
        root = node.func.value
        while isinstance(root, (ast.Attribute, ast.Subscript, ast.Call)):
            root = root.func if isinstance(root, ast.Call) else root.value
        if not (isinstance(root, ast.Name) and root.id in containers):
            continue
        if node.func.attr in LABEL_CALLS and node.args:
            yield node, node.args[0]
        if node.func.attr == "tabs" and node.args and isinstance(node.args[0], (ast.List, ast.Tuple)):
            yield from ((node, e) for e in node.args[0].elts)
        for kw in node.keywords:
            if kw.arg in MARKDOWN_KEYWORDS:
                yield node, kw.value
            if kw.arg == "format_func" and node.func.attr in MARKDOWN_OPTIONS and isinstance(kw.value, ast.Lambda):
                yield node, kw.value.body


def test_every_markdown_sink_gets_escaped_text():
    files = sorted([*ROOT.glob("pages/*.py"), *ROOT.glob("ui/**/*.py"), ROOT / "app.py"])
    found = []
    for path in files:
        source = path.read_text(encoding="utf-8")
        lines = source.splitlines()
        for call, part in _sink_parts(ast.parse(source)):
            span = lines[call.lineno - 1: (call.end_lineno or call.lineno)]
            if any("# md: trusted" in line for line in span):
                continue
            for bad in _unsafe(part):
                found.append(f"{path.relative_to(ROOT)}:{getattr(bad, 'lineno', call.lineno)}: {call.func.attr}: "
                             f"{ast.unparse(bad)[:80]}")
    assert not found, "Markdown sinks (labels, help, progress text, options) with unescaped text:\n" + "\n".join(found)


def test_the_sink_guard_catches_the_faults_it_is_for():
    bad = ['bar.progress(0.5, text=_("{probe} on {model}", probe=_(NAMES[p]), model=info.model_id))',
           'st.expander(f"Run {info.model_id}")', 'st.tabs([_("A"), model_id])', 'st.metric(label, 3)',
           'st.button("x", help=err_text)', 'st.radio("x", opts, format_func=lambda o: names[o])',
           'st.toast(text)', 'st.status(_("Loading {m}", m=spec.model_id))',
           'st.column_config.NumberColumn(name, help=h)', 'c1.checkbox(label=user_label)']
    good = ['bar.progress(0.5, text=_("{probe} on {model}", probe=_(NAMES[p]), model=md(info.model_id)))',
            'st.expander(_("Run {m}", m=md(m)))', 'st.tabs([_("A"), md(model_id)])', 'st.metric(_("x"), value)',
            'st.button("x", help=_(HELP))', 'st.radio("x", opts, format_func=lambda o: md(names[o]))',
            'st.selectbox("x", opts, format_func=lambda o: names[o])', 'st.column_config.Column(_(ROW_FIELDS[k]))']
    for src in bad:
        parts = list(_sink_parts(ast.parse("c1, c2 = st.columns(2)\nbar = c1.progress(0)\n" + src)))
        assert any(_unsafe(p) for _c, p in parts), src
    for src in good:
        assert not any(_unsafe(p) for _c, p in _sink_parts(ast.parse("bar = st.progress(0)\n" + src))), src
