"""The message catalogue (plm_core.i18n, Babel): complete for the code, placeholders kept, Messages translated when
shown (so cached results are right for every viewer), and no string the extractor cannot see."""

from __future__ import annotations

import ast
import pickle
import subprocess
import sys

import pytest

from helpers import ROOT
from plm_core.i18n import Message, _, _n, gettext_in, msg, nmsg, placeholders, sentence, tr, use_language

pytest.importorskip("babel")


def test_catalogue_translates_every_message_of_the_code():
    from tools.i18n import code_messages, problems

    assert len(code_messages()) > 900  # the lessons' prose, every page, the core's errors and notes
    assert problems("zh") == []  # none missing, none fuzzy, the same {placeholders}


MARKERS = {"_", "_n", "_p", "msg", "nmsg", "N_", "lazy_gettext", "gettext_in", "T"}


def _calls_in_fstrings(path):
    """Marked calls with a literal argument written inside an f-string (Babel cannot extract those)."""
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):
            for inner in ast.walk(node):
                if (isinstance(inner, ast.Call) and isinstance(inner.func, ast.Name) and inner.func.id in MARKERS
                        and any(isinstance(a, ast.Constant) and isinstance(a.value, str) for a in inner.args)):
                    yield f"{path.relative_to(ROOT)}:{inner.lineno}"


def test_no_marked_string_hides_inside_an_fstring():
    files = [ROOT / "app.py", *ROOT.glob("pages/*.py"), *ROOT.glob("ui/**/*.py"), *ROOT.glob("plm_core/**/*.py")]
    hidden = [where for f in files for where in _calls_in_fstrings(f)]
    assert hidden == []


STREAMLIT_TEXT = {"title", "header", "subheader", "markdown", "caption", "text", "info", "warning", "error", "success",
                  "button", "download_button", "form_submit_button", "toggle", "checkbox", "radio", "selectbox",
                  "multiselect", "segmented_control", "pills", "text_input", "text_area", "number_input",
                  "select_slider", "slider", "file_uploader", "expander", "metric", "spinner", "progress", "tabs"}


def _literal_words(node) -> bool:
    """A str literal (or an f-string's literal part) with English words, not wrapped in a marker."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return sum(ch.isalpha() and ch.isascii() for ch in node.value) >= 3
    if isinstance(node, ast.JoinedStr):
        return any(_literal_words(v) for v in node.values if isinstance(v, ast.Constant))
    if isinstance(node, ast.BinOp):
        return _literal_words(node.left) or _literal_words(node.right)
    if isinstance(node, ast.IfExp):
        return _literal_words(node.body) or _literal_words(node.orelse)
    if isinstance(node, (ast.List, ast.Tuple)):
        return any(_literal_words(e) for e in node.elts)
    return False


ALLOWED_LITERALS = {"plm-lens", "embedded", "JSON", "p"}  # the product, the embedded model alias users type, a format, a symbol


def test_every_streamlit_text_is_marked():
    """Labels, help, placeholders and bodies of every Streamlit call in app.py, pages/ and ui/ go through the
    catalogue: a literal with English words passed straight to st.* is a string the 中文 page would show in English."""
    bad = []
    for path in [ROOT / "app.py", *ROOT.glob("pages/*.py"), *ROOT.glob("ui/**/*.py")]:
        for node in ast.walk(ast.parse(path.read_text())):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr in STREAMLIT_TEXT):
                continue
            args = node.args[:1] + [k.value for k in node.keywords if k.arg in ("label", "help", "placeholder", "body", "text")]
            for a in args:
                if _literal_words(a) and not (isinstance(a, ast.Constant) and a.value in ALLOWED_LITERALS):
                    bad.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert bad == []


def test_message_is_english_text_and_renders_in_each_language():
    note = msg("the input has {n_full:,} tokens; only the first {limit} (the limit here) are used", n_full=40, limit=8)
    assert note == "the input has 40 tokens; only the first 8 (the limit here) are used"  # a str, in English
    assert tr(note, "zh") == "输入有 40 个词元；只使用前 8 个（此处的上限）"
    with use_language("zh"):
        assert tr(note) == "输入有 40 个词元；只使用前 8 个（此处的上限）" and sentence(note).endswith("。")
    assert sentence(note) == "The input has 40 tokens; only the first 8 (the limit here) are used."
    copy = pickle.loads(pickle.dumps(note))  # st.cache_data and the Ray backend pickle results
    assert isinstance(copy, Message) and copy == note and tr(copy, "zh") == tr(note, "zh")


def test_nested_messages_and_errors_render_in_the_viewers_language():
    from plm_core.errors import InvalidInputError

    inner = msg("second sentence")
    outer = msg("the {what} is empty: type a sentence", what=inner)
    assert outer == "the second sentence is empty: type a sentence"
    assert tr(outer, "zh") == "第二个句子为空：请输入一个句子"
    err = InvalidInputError(outer)
    assert str(err) == "the second sentence is empty: type a sentence" and tr(err, "zh") == tr(outer, "zh")


def test_plural_forms_and_named_placeholders():
    assert nmsg("{n} token", "{n} tokens", 1) == "1 token" and nmsg("{n} token", "{n} tokens", 3) == "3 tokens"
    assert _n("{n} token", "{n} tokens", 2) == "2 tokens"
    assert placeholders("{n:,} of {total} ({x!r})") == {"n", "total", "x"}
    with use_language("zh"):
        assert _("Layer {layer}, {label}", layer=2, label=_("average of heads")) == "第 2 层，各头平均"
    assert _("Layer {layer}, {label}", layer=2, label="average of heads") == "Layer 2, average of heads"
    assert gettext_in("zh", "no such msgid 123") == "no such msgid 123"  # not in the catalogue: unchanged


def test_lesson_prose_comes_from_the_catalogue():
    from plm_core.lessons.content import LESSONS

    title = LESSONS[0].title
    assert title("en") == "Tokens and embeddings" and title("zh") == "词元与嵌入" == title.zh
    with use_language("zh"):
        assert title() == "词元与嵌入"


def test_plm_core_i18n_needs_no_streamlit():
    code = "import plm_core.i18n, sys; assert 'streamlit' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


def _core_errors() -> set[str]:
    """Names of every error class a page shows (PlmCoreError and its subclasses in plm_core)."""
    import inspect

    import plm_core.classroom
    import plm_core.errors
    from plm_core.errors import PlmCoreError

    return {name for module in (plm_core.errors, plm_core.classroom) for name, cls in inspect.getmembers(module)
            if inspect.isclass(cls) and issubclass(cls, PlmCoreError)}


def _english(node) -> bool:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return sum(ch.isalpha() and ch.isascii() for ch in node.value) >= 3
    if isinstance(node, ast.JoinedStr):
        return any(_english(v) for v in node.values if isinstance(v, ast.Constant))
    if isinstance(node, (ast.BinOp, ast.BoolOp)):
        return any(_english(v) for v in ([node.left, node.right] if isinstance(node, ast.BinOp) else node.values))
    if isinstance(node, ast.IfExp):
        return _english(node.body) or _english(node.orelse)
    if isinstance(node, (ast.Tuple, ast.List, ast.GeneratorExp, ast.ListComp)):
        return any(_english(e) for e in (node.elts if hasattr(node, "elts") else [node.elt]))
    return False


def test_core_errors_and_notes_are_messages():
    """Every error a page shows (a PlmCoreError made in plm_core) and every note added to a result is a msg(...)
    (translated when shown), never an English str or f-string: the 中文 page would show it in English. (The bias
    command line, plm_core/bias/__main__.py, speaks English.)"""
    errors = _core_errors()
    bad = []
    for path in sorted(ROOT.glob("plm_core/**/*.py")):
        if path.name == "__main__.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            texts = []
            if isinstance(node, ast.Call) and node.args \
                    and getattr(node.func, "id", getattr(node.func, "attr", "")) in errors:  # raised or returned
                texts.append(node.args[0])
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                    and node.func.attr in ("append", "extend") and "note" in ast.unparse(node.func.value):
                texts += node.args
            if isinstance(node, ast.AugAssign) and "note" in ast.unparse(node.target):
                texts.append(node.value)
            bad += [f"{path.relative_to(ROOT)}:{t.lineno}: {ast.unparse(t)[:70]}" for t in texts if _english(t)]
    assert bad == [], "English text shown to the user, not marked with msg():\n" + "\n".join(bad)


def test_translated_markdown_renders_like_the_english():
    """CommonMark closes ``**`` only where it is "right-flanking": after CJK punctuation it must be followed by a space
    or punctuation, so ``**被解释的量：**{target}`` showed its asterisks once {target} began with a character (seen on
    the Attribution page in 中文). Every translation, with each placeholder filled by a letter, renders with no more
    literal ``*`` or ``_`` than its English msgid."""
    import re

    from babel.messages.pofile import read_po
    from markdown_it import MarkdownIt

    render = MarkdownIt("commonmark").renderInline

    def shown(text: str) -> str:
        return re.sub(r"<[^>]+>", "", render(re.sub(r"\{[^{}]*\}", "x", text)))

    bad = []
    for lang in ("zh",):
        with open(ROOT / "plm_core" / "locale" / lang / "LC_MESSAGES" / "messages.po", "rb") as f:
            catalogue = read_po(f)
        for m in catalogue:
            ids = m.id if isinstance(m.id, tuple) else (m.id,)
            strings = m.string if isinstance(m.string, tuple) else (m.string,)
            for english, translated in zip(ids * len(strings), strings):
                if not english or not translated:
                    continue
                for mark in ("*", "_"):
                    if shown(translated).count(mark) > shown(english).count(mark):
                        bad.append(f"{lang}: {translated!r} shows {shown(translated)!r}")
    assert not bad, "\n".join(bad)
