"""Drive every page's text inputs with hostile text through AppTest, and find user text turned into markup.

Used by tests/app/test_hostile_pages.py (fixed fragments) and tests/app/test_hostile_property.py
(hypothesis). A body of a Markdown element (markdown, caption, error, warning, info, success, titles) is
checked two ways:

- every link or image it renders (markdown-it, CommonMark + GFM tables) and every bare URL it holds: none
  may come from user text (the fragments point at example.invalid and 127.0.0.1:9);
- wherever a fragment's marker ("zq…") shows up, the fragment is there in the escaped form ``ui.safe.md``
  gives, i.e. the page put it through the one escaping helper.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from markdown_it import MarkdownIt

from ui.safe import md

MARKDOWN_KINDS = ("title", "header", "subheader", "markdown", "caption", "error", "warning", "info", "success")
_MD = MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"])
HOSTILE_URLS = ("example.invalid", "127.0.0.1:9")
_BARE_URL = re.compile(r"(?<!\\)(https?:(?!\u2060)//|www(?=\.))", re.IGNORECASE)

# one fragment per kind of markup; each carries a unique marker so its echo can be found
FRAGMENTS = (
    "**zqa**", "[zqb](http://example.invalid)", "![zqc](http://127.0.0.1:9/i.png)", "<b>zqd</b>", "$zqe$",
    "`zqf`", ":red[zqg]", "zqh http://example.invalid", "# zqi", "zqj | x |", "> zqk", "zql_x_ __y__",
    ":streamlit: zqm", "zqn -> y <- z", "&amp; zqo", "zqp@example.invalid", "~~zqq~~", "zqr\n\n    code",
)


def marker(fragment: str) -> str:
    return re.search(r"zq[a-z]", fragment).group()


def bodies(at) -> list[tuple[str, str]]:
    """(kind, body) of every Markdown element the last run drew (main area and sidebar)."""
    out = []
    for kind in MARKDOWN_KINDS:
        for el in getattr(at, kind):
            out.append((kind, str(el.value)))
    return out


def markup_problems(at, fragments=FRAGMENTS) -> list[str]:
    """What the last run turned into markup: links/images/bare URLs to the hostile hosts, unescaped fragments."""
    problems = []
    for kind, body in bodies(at):
        html = _MD.render(body)
        for tag in re.findall(r"<(?:a|img)\b[^>]*>", html):
            if any(u in tag for u in HOSTILE_URLS):
                problems.append(f"{kind}: a link or image from user text: {tag[:120]} in {body[:160]!r}")
        for m in _BARE_URL.finditer(body):
            rest = body[m.start(): m.start() + 40]
            if any(u.split(":")[0] in rest for u in HOSTILE_URLS):
                problems.append(f"{kind}: a bare URL (GFM autolink) from user text: {rest!r}")
        for fragment in fragments:
            mk = marker(fragment)
            if mk in body and md(fragment) not in body:
                problems.append(f"{kind}: {fragment!r} is not escaped with ui.safe.md in {body[:200]!r}")
    return problems


class Recorder:
    """Runs the app and, after every run, records exceptions and markup made from user text."""

    def __init__(self, fragments=FRAGMENTS) -> None:
        self.fragments = fragments
        self.problems: list[str] = []
        self.runs = 0

    def run(self, at, what: str = "") -> None:
        at.run()
        self.runs += 1
        for exc in at.exception:
            self.problems.append(f"{what}: exception {str(exc.value)[:300]}")
        self.problems += [f"{what}: {p}" for p in markup_problems(at, self.fragments)]


@dataclass(frozen=True)
class PageDrive:
    """How to put one text into every text box of a page (and press what makes the page use it)."""

    name: str
    page: str  # "pages/attention.py", or "" for the sidebar on the home page
    model: str  # a key of tiny_dirs
    fill: Callable[[object, str, Recorder], None]  # (AppTest, text, recorder): set the boxes, run, check


def _text(at, key: str, value: str):
    for getter in (at.text_area, at.text_input):
        try:
            return getter(key=key).input(value)
        except KeyError:
            continue
    raise KeyError(key)


def _exists(at, key: str) -> bool:
    return any(el.key == key for el in [*at.text_area, *at.text_input])


def fill_sidebar(at, value: str, rec: Recorder) -> None:
    from ui.widgets import OTHER

    at.sidebar.selectbox(key="model.choice").set_value(OTHER)
    at.sidebar.text_input(key="model.custom").input(value)
    at.sidebar.button[0].click()
    rec.run(at, "sidebar: load")
    rec.run(at, "sidebar: the next rerun")  # a later rerun of the same session must work too


def fill_attention(at, value: str, rec: Recorder) -> None:
    _text(at, "attention.text", value)
    _text(at, "attention.pair", value)
    rec.run(at, "attention")


def fill_attribution(at, value: str, rec: Recorder) -> None:
    _text(at, "attribution.text", f"{value} [MASK] .")
    rec.run(at, "attribution text")
    if _exists(at, "attribution.other"):
        _text(at, "attribution.other", value)
        rec.run(at, "attribution other")
    if _exists(at, "attribution.word"):
        _text(at, "attribution.word", value)
        rec.run(at, "attribution word")
        at.radio(key="attribution.mode").set_value("contrast")
        rec.run(at, "attribution contrast")
        _text(at, "attribution.contrast_word", value)
        _text(at, "attribution.foil", "the")
        rec.run(at, "attribution contrast words")


def fill_masking(at, value: str, rec: Recorder) -> None:
    _text(at, "masking.text", f"the cat {value} [MASK] .")
    rec.run(at, "masking text")
    if at.exception or at.error:
        return
    at.pills(key="masking.masks").set_value([1])
    at.segmented_control(key="masking.strategy").set_value("substitute")
    rec.run(at, "masking substitute")
    _text(at, "masking.sub", value)
    rec.run(at, "masking substitute word")
    if _exists(at, "masking.ref"):
        _text(at, "masking.ref", value)
        rec.run(at, "masking reference")


def fill_compare_texts(at, value: str, rec: Recorder) -> None:
    _text(at, "compare.a", f"the cat {value} [MASK]")
    _text(at, "compare.b", value)
    rec.run(at, "compare texts")


def fill_compare_models(at, value: str, rec: Recorder) -> None:
    at.segmented_control(key="compare.mode").set_value("models")
    rec.run(at, "compare models")
    _text(at, "compare.text", value)
    _text(at, "compare.model_b", value)
    rec.run(at, "compare second model")


def fill_bias(at, value: str, rec: Recorder) -> None:
    at.radio(key="bias.probe").set_value("template")
    rec.run(at, "bias")
    _text(at, "bias.templates", f"{value} [X] said [MASK] .\n{value}")
    _text(at, "bias.slots", f"X: {value}, nurse")
    _text(at, "bias.targets", f"he, {value}")
    at.button(key="bias.template.run").click()
    rec.run(at, "bias template")
    _text(at, "bias.slots", f"{value}: nurse")
    at.button(key="bias.template.run").click()
    rec.run(at, "bias slot line")
    at.radio(key="bias.probe").set_value("crows_pairs")
    rec.run(at, "bias crows")
    _text(at, "bias.crows_pairs.path", value)
    at.button(key="bias.crows_pairs.run").click()
    rec.run(at, "bias crows path")
    at.radio(key="bias.probe").set_value("seat")
    rec.run(at, "bias seat")
    _text(at, "bias.seat.path", value)
    at.button(key="bias.seat.run").click()
    rec.run(at, "bias seat path")


def fill_lessons(at, value: str, rec: Recorder) -> None:
    for lesson, step in ((1, 0), (4, 2), (5, 2), (7, 0)):
        at.session_state["lessons.lesson"] = lesson
        at.session_state["lessons.step"] = step
        at.session_state["lessons.revealed"] = {(lesson, step)}
        rec.run(at, f"lesson {lesson}")
        key = f"lessons.w.text.{lesson}"
        if _exists(at, key):
            _text(at, key, f"{value}, nurse" if lesson == 7 else f"{value} [MASK]")
            rec.run(at, f"lesson {lesson} text")
        if _exists(at, "lessons.w.pair.4"):
            _text(at, "lessons.w.pair.4", value)
            rec.run(at, "lesson 4 second sentence")
    at.session_state["lessons.lesson"] = 5
    at.session_state["lessons.step"] = 0
    rec.run(at, "lesson 5 data")
    _text(at, "lessons.w.examples", f"pos: {value}\npos: good\nneg: bad\nneg: awful\n{value}")
    rec.run(at, "lesson 5 examples")


DRIVES = (
    PageDrive("sidebar", "", "masked_lm", fill_sidebar),
    PageDrive("attention", "pages/attention.py", "masked_lm", fill_attention),
    PageDrive("attribution (masked LM)", "pages/attribution.py", "masked_lm", fill_attribution),
    PageDrive("attribution (encoder)", "pages/attribution.py", "encoder", fill_attribution),
    PageDrive("masking (masked LM)", "pages/masking.py", "masked_lm", fill_masking),
    PageDrive("masking (encoder)", "pages/masking.py", "encoder", fill_masking),
    PageDrive("compare texts", "pages/compare.py", "masked_lm", fill_compare_texts),
    PageDrive("compare models", "pages/compare.py", "masked_lm", fill_compare_models),
    PageDrive("bias", "pages/bias.py", "masked_lm", fill_bias),
    PageDrive("lessons", "pages/lessons.py", "masked_lm", fill_lessons),
)


def open_drive(app_factory, tiny_dirs, drive: PageDrive):
    """A fresh AppTest session on the drive's page and model (the first run must be clean)."""
    at = app_factory(str(tiny_dirs[drive.model]))
    at.run()
    if drive.page:
        at.switch_page(drive.page).run()
    assert not at.exception, at.exception
    return at
