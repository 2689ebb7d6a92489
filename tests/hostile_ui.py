"""Drive every page's text inputs with hostile text through AppTest, and find user text turned into markup.

Used by tests/app/test_hostile_pages.py (fixed fragments) and tests/app/test_hostile_property.py
(hypothesis). The body of every Markdown element (markdown, caption, error, warning, info, success, titles)
of every run is checked:

- around each marker ("zq" + a letter) of a fragment, every ASCII punctuation character is backslash-escaped
  (``ui.safe.md``), whatever piece of the fragment the page shows (a whole sentence, an excerpt, a word);
- rendered (markdown-it, CommonMark + GFM tables), no link, image, code, strikethrough, heading, quote,
  list or table holds a marker;
- what the frontend rewrites after parsing is broken: no bare URL to the hostile hosts, no ``:streamlit:``,
  no ``->``/``<-``/``--`` between spaces, no HTML entity from user text.
"""

from __future__ import annotations

import html
import re
import string
from collections.abc import Callable
from dataclasses import dataclass
from html.parser import HTMLParser

from markdown_it import MarkdownIt

MARKDOWN_KINDS = ("title", "header", "subheader", "markdown", "caption", "error", "warning", "info", "success")
_MD = MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"])
HOSTILE_HOSTS = ("example.invalid", "127.0.0.1:9")
_MARKER = re.compile(r"zq[a-z]")
_PUNCT = set(string.punctuation)
_BARE_URL = re.compile(r"(?<!\\)(https?:(?!\u2060)//|www(?=\.))", re.IGNORECASE)
_TYPOGRAPHY = re.compile(r"(^|\s)(<->|->|<-|--|>=|<=|~=)(\s|$)")
_BLOCKING = {"a", "img", "code", "del", "s", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "table", "li", "pre",
             "b", "i", "script", "iframe"}

# one fragment per kind of markup, each with a marker ("zq" + a letter) next to its metacharacters
FRAGMENTS = (
    "a**zqa**b", "a[zqb](http://example.invalid)b", "a![zqc](http://127.0.0.1:9/i.png)b", "a<b>zqd</b>b",
    "a$zqe$b", "a`zqf`b", "a:red[zqg]b", "zqh http://example.invalid www.example.invalid", "# zqi",
    "a|zqj|b\n|-|-|", "> zqk", "_zql_ __zql__", ":streamlit: zqm", "zqn -> y <- z -- w", "&amp; &lt;b&gt;zqo",
    "zqp@example.invalid", "~~zqq~~", "zqr\n\n    zqs", "- zqt", ":smile:zqu:material/home:",
)


def bodies(at) -> list[tuple[str, str]]:
    """(kind, body) of every Markdown element the last run drew (main area and sidebar), and the option labels
    of pills and segmented controls (Markdown too: the masking lab's token and word pills)."""
    out = []
    for kind in MARKDOWN_KINDS:
        for el in getattr(at, kind):
            out.append((kind, str(el.value)))
    for el in at.pills:  # labels made from the user's tokens and words (segmented controls: the app's own labels)
        out += [("pills option", str(option)) for option in el.options]
    return out


def _bare_punctuation(label: str) -> list[str]:
    """ASCII punctuation no backslash escapes, anywhere in ``label`` (a pill label is all user text)."""
    bad, i = [], 0
    while i < len(label):
        if label[i] == "\\" and i + 1 < len(label) and label[i + 1] in _PUNCT:
            i += 2
            continue
        if label[i] in _PUNCT:
            bad.append(label[i])
        i += 1
    return bad


def _unescaped(run: str) -> list[str]:
    """ASCII punctuation in ``run`` that no backslash escapes (the page's own edges left out: ``**…**``,
    sentence punctuation, quotes and brackets around the run)."""
    units, i = [], 0
    while i < len(run):  # an escaped pair is one unit
        step = 2 if run[i] == "\\" and i + 1 < len(run) and run[i + 1] in _PUNCT else 1
        units.append(run[i:i + step])
        i += step
    while units and units[0] in ("*", "(", "'", '"'):
        units.pop(0)
    while units and units[-1] in ("*", ".", ",", ":", ";", ")", "'", '"'):
        units.pop()
    return [u for u in units if len(u) == 1 and u in _PUNCT]


class _Tags(HTMLParser):
    """Markers inside (or in the attributes of) the tags user text must never make."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.found: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag in _BLOCKING and any(_MARKER.search(str(v)) for _, v in attrs):
            self.found.append(f"<{tag} {attrs}>")
        if tag not in ("img", "br", "hr", "input"):
            self.stack.append(tag)

    def handle_endtag(self, tag):
        if tag in self.stack:
            while self.stack and self.stack.pop() != tag:
                pass

    def handle_data(self, data):
        inside = [t for t in self.stack if t in _BLOCKING]
        if inside and _MARKER.search(data):
            self.found.append(f"<{inside[-1]}>{data[:40]}")


def markup_problems(at) -> list[str]:
    """What the last run turned into markup from user text (see the module doc)."""
    problems = []
    for kind, body in bodies(at):
        where = f"{kind} {body[:140]!r}"
        if kind == "pills option" and _bare_punctuation(body):
            problems.append(f"unescaped {''.join(dict.fromkeys(_bare_punctuation(body)))!r} in {where}")
        for run in re.findall(r"\S*zq[a-z]\S*", body):
            bad = _unescaped(run)
            if bad:
                problems.append(f"unescaped {''.join(dict.fromkeys(bad))!r} around {run[:60]!r} in {where}")
        rendered = _MD.render(body)
        parser = _Tags()
        parser.feed(rendered)
        problems += [f"markup {t!r} from user text in {where}" for t in parser.found]
        shown = html.unescape(re.sub(r"<[^>]+>", "", rendered))
        for m in _BARE_URL.finditer(body):
            if any(h.split(":")[0] in body[m.start(): m.start() + 40] for h in HOSTILE_HOSTS):
                problems.append(f"a bare URL (autolink) in {where}")
        if ":streamlit:" in shown or _TYPOGRAPHY.search(shown):
            problems.append(f"text the frontend rewrites (:streamlit:, ->) in {where}")
        if re.search(r"(?<!\\)&(amp|lt|gt);", body):
            problems.append(f"an HTML entity from user text in {where}")
    return problems


class Recorder:
    """Runs the app and, after every run, records exceptions and markup made from user text."""

    def __init__(self) -> None:
        self.problems: list[str] = []
        self.runs = 0

    def run(self, at, what: str = "") -> None:
        at.run()
        self.runs += 1
        for exc in at.exception:
            self.problems.append(f"{what}: exception {str(exc.value)[:300]}")
        self.problems += [f"{what}: {p}" for p in markup_problems(at)]


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
    _text(at, "attention.pair", value)  # a second sentence, or an encoder-decoder's target so far
    rec.run(at, "attention")


def _words(at, rec: Recorder, what: str) -> None:
    """Switch the page to words (plm_core.words: word spans, word pills, word attention)."""
    at.segmented_control(key="units").set_value("words")
    rec.run(at, f"{what} in words")


def fill_attention_words(at, value: str, rec: Recorder) -> None:
    _words(at, rec, "attention")
    fill_attention(at, value, rec)


def fill_attribution(at, value: str, rec: Recorder) -> None:
    _text(at, "attribution.text", f"{value} [MASK] .")
    rec.run(at, "attribution text")
    if _exists(at, "attribution.pair"):  # a second sentence, or an encoder-decoder's target so far
        _text(at, "attribution.pair", value)
        rec.run(at, "attribution second text")
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
    if _exists(at, "masking.target"):  # an encoder-decoder's target so far
        _text(at, "masking.target", value)
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


def fill_masking_words(at, value: str, rec: Recorder) -> None:
    _text(at, "masking.text", f"the cat {value} [MASK] .")
    rec.run(at, "masking text")
    _words(at, rec, "masking")
    if not at.exception and not at.error and at.pills(key="masking.word_masks").options:
        at.pills(key="masking.word_masks").set_value([1])
        rec.run(at, "masking word pill")


def fill_compare_words(at, value: str, rec: Recorder) -> None:
    _words(at, rec, "compare")
    fill_compare_texts(at, value, rec)


def fill_compare_models(at, value: str, rec: Recorder) -> None:
    at.segmented_control(key="compare.mode").set_value("models")
    rec.run(at, "compare models")
    _text(at, "compare.text", value)
    _text(at, "compare.model_b", value)
    rec.run(at, "compare second model")


def _settle_bias(at, rec: Recorder, what: str) -> None:
    """Wait for the runs' worker threads (they score outside the script), then show what they stored."""
    from plm_core.bias import worker

    assert worker.wait_all(180)
    rec.run(at, what)


def fill_bias(at, value: str, rec: Recorder) -> None:
    at.radio(key="bias.probe").set_value("template")
    rec.run(at, "bias")
    _text(at, "bias.templates", f"{value} [X] said [MASK] .\n{value}")
    _text(at, "bias.slots", f"X: {value}, nurse")
    _text(at, "bias.targets", f"he, {value}")
    at.button(key="bias.template.run").click()
    rec.run(at, "bias template")
    _settle_bias(at, rec, "bias template result")
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


def fill_bias_runs(at, value: str, rec: Recorder) -> None:
    """A template run queued over hostile "models" (each refused: an error run), then the stored runs and the
    comparison views, which show model ids, set names, templates and error messages."""
    at.radio(key="bias.probe").set_value("template")
    at.radio(key="bias.view").set_value("run")
    rec.run(at, "bias")
    _text(at, "bias.templates", f"{value} [X] said [MASK] .")
    _text(at, "bias.slots", f"X: {value}, nurse")
    _text(at, "bias.targets", "he, she")
    _text(at, "bias.template.models", f"{value}\n~{value}")
    at.button(key="bias.template.run").click()
    rec.run(at, "bias template run on other models")
    _settle_bias(at, rec, "bias template runs on other models, scored")
    for view in ("runs", "compare"):
        at.radio(key="bias.view").set_value(view)
        rec.run(at, f"bias {view}")


def _lesson_step(at, lesson: int, step: int, rec: Recorder, what: str) -> None:
    """Open a lesson step (1-based) with its answer revealed, as a link does (the reveal toggle is bound to the URL)."""
    if at.session_state["lessons.lesson"] != lesson:  # a new lesson starts at its step 1 (the picker's on_change)
        at.session_state["lessons.lesson"] = lesson
        at.run()
    at.session_state["lessons.step"] = step
    at.session_state[f"lessons.reveal.{lesson}.{step}"] = True
    rec.run(at, what)
    assert at.session_state["lessons.step"] == step, (what, at.session_state["lessons.step"])


def fill_lessons_encdec(at, value: str, rec: Recorder) -> None:
    """The encoder-decoder step (lesson 4): source and the target so far."""
    _lesson_step(at, 4, 4, rec, "lesson 4 encoder-decoder")
    if _exists(at, "lessons.text.4"):
        _text(at, "lessons.text.4", f"{value} [MASK]")
        rec.run(at, "lesson 4 source")
    _text(at, "lessons.target.4", value)
    rec.run(at, "lesson 4 target so far")


def fill_lessons(at, value: str, rec: Recorder) -> None:
    for lesson, step in ((1, 0), (4, 2), (5, 2), (7, 0)):
        _lesson_step(at, lesson, step + 1, rec, f"lesson {lesson}")
        key = f"lessons.text.{lesson}"
        if _exists(at, key):
            _text(at, key, f"{value}, nurse" if lesson == 7 else f"{value} [MASK]")
            rec.run(at, f"lesson {lesson} text")
        if _exists(at, "lessons.pair.4"):
            _text(at, "lessons.pair.4", value)
            rec.run(at, "lesson 4 second sentence")
    _lesson_step(at, 5, 1, rec, "lesson 5 data")
    _text(at, "lessons.examples", f"pos: {value}\npos: good\nneg: bad\nneg: awful\n{value}")
    rec.run(at, "lesson 5 examples")


def fill_generation(at, value: str, rec: Recorder) -> None:
    """The generation page (issue 15): the prompt, a generated token (Next), its pill and the tabs behind it."""
    _text(at, "generation.prompt", f"{value} [MASK]")
    rec.run(at, "generation prompt")
    if at.exception or at.error or not any(b.key == "generation.next" for b in at.button):
        return  # a masked LM: the [MASK] distribution and the lens only
    at.button(key="generation.next").click()
    rec.run(at, "generation next token")
    at.button(key="generation.next").click()
    rec.run(at, "generation next token")
    if not at.exception and any(p.key == "generation.pick" and p.options for p in at.pills):  # none at the limit
        at.pills(key="generation.pick").set_value(1)
        rec.run(at, "generation pick a token")
        at.selectbox(key="generation.method").set_value("occlusion")
        rec.run(at, "generation occlusion")


def fill_lessons_generation(at, value: str, rec: Recorder) -> None:
    """Issue 15's lesson steps: static versus contextual embeddings (two sentences and a word; lesson 1) and
    generating one token at a time (lesson 4)."""
    _lesson_step(at, 1, 4, rec, "lesson 1 contextual")
    _text(at, "lessons.ctx_a", f"the {value} bank")
    _text(at, "lessons.ctx_b", f"a bank {value}")
    rec.run(at, "lesson 1 contextual sentences")
    _text(at, "lessons.ctx_word", value)
    rec.run(at, "lesson 1 contextual word")
    _lesson_step(at, 4, 5, rec, "lesson 4 generation")
    if _exists(at, "lessons.text.4"):
        _text(at, "lessons.text.4", f"{value} [MASK]")
        rec.run(at, "lesson 4 text")
    if any(b.key == "lessons.sample" for b in at.button):
        at.button(key="lessons.sample").click()
        rec.run(at, "lesson 4 sample")


def fill_inside(at, value: str, rec: Recorder) -> None:
    """The Inside the model page (issue 22): the sentence, the explained and contrast words, the corrupted
    prompt, and an encoder-decoder's target so far."""
    _text(at, "inside.text", value)
    rec.run(at, "inside text")
    for key in ("inside.pair", "inside.word", "inside.contrast", "inside.corrupt"):
        if _exists(at, key):
            _text(at, key, value)
            rec.run(at, key)


def fill_attribution_continuation(at, value: str, rec: Recorder) -> None:
    """The Attribution page's continuation box and marked span (issue 22, item 5) on a causal LM (with 8 IG steps, a
    choice of the page's: what is checked is the text shown, and auto refinement over every continuation token was
    the slowest drive, 38 s)."""
    at.selectbox(key="attribution.steps").set_value(8)
    _text(at, "attribution.text", f"the cat {value}")
    rec.run(at, "attribution text")
    _text(at, "attribution.continuation", f" {value}")
    rec.run(at, "attribution continuation")
    at.segmented_control(key="attribution.segments").set_value("spans")
    rec.run(at, "attribution segments")
    _text(at, "attribution.segments.span", value)
    rec.run(at, "attribution marked span")


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
    # pages and boxes main added since (kinds, text, bias): encoder-decoders' target box, Llama, word views,
    # stored bias runs and their comparison
    PageDrive("attention (T5)", "pages/attention.py", "t5", fill_attention),
    PageDrive("attention (Llama, words)", "pages/attention.py", "llama", fill_attention_words),
    PageDrive("attribution (BART)", "pages/attribution.py", "bart", fill_attribution),
    PageDrive("attribution (Llama)", "pages/attribution.py", "llama", fill_attribution),
    PageDrive("masking (T5)", "pages/masking.py", "t5", fill_masking),
    PageDrive("masking (words)", "pages/masking.py", "masked_lm", fill_masking_words),
    PageDrive("compare texts (words)", "pages/compare.py", "masked_lm", fill_compare_words),
    PageDrive("bias runs", "pages/bias.py", "masked_lm", fill_bias_runs),
    PageDrive("lessons (T5)", "pages/lessons.py", "t5", fill_lessons_encdec),
    # issue 15 (gen): the generation page on each kind that reaches it, its lesson steps
    PageDrive("generation (GPT-2)", "pages/generation.py", "causal_lm", fill_generation),
    PageDrive("generation (masked LM)", "pages/generation.py", "masked_lm", fill_generation),
    PageDrive("generation (T5)", "pages/generation.py", "t5", fill_generation),
    PageDrive("lessons (generation, GPT-2)", "pages/lessons.py", "causal_lm", fill_lessons_generation),
    # issue 22: the Inside the model page, the Attribution page's continuation and marked span
    PageDrive("inside (GPT-2)", "pages/inside.py", "causal_lm", fill_inside),
    PageDrive("inside (T5)", "pages/inside.py", "t5", fill_inside),
    PageDrive("attribution (GPT-2, continuation)", "pages/attribution.py", "causal_lm", fill_attribution_continuation),
)


def open_drive(app_factory, tiny_dirs, drive: PageDrive):
    """A fresh AppTest session on the drive's page and model (the first run must be clean)."""
    at = app_factory(str(tiny_dirs[drive.model]))
    at.run()
    if drive.page:
        at.switch_page(drive.page).run()
    assert not at.exception, at.exception
    return at
