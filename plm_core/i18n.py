"""Translations: one gettext catalogue for every string the app shows (pages, widgets, charts, core messages).

The catalogue is ``plm_core/locale/<lang>/LC_MESSAGES/messages.po`` (gettext, maintained with Babel's
``pybabel extract / update``; ``python3 -m tools.i18n`` runs them with this project's keywords). It is compiled in
memory on first use with Babel's ``read_po`` / ``write_mo`` into a :class:`gettext.GNUTranslations`, so no binary
``.mo`` file is kept in the repository and the text shown is always the ``.po``'s.

Which language a string is shown in is the *active language*: a :class:`~contextvars.ContextVar`, so each
thread (Streamlit runs each browser session's script in its own thread) and each asyncio task has its own. The
app sets it at the top of every script run from the sidebar's language switch (``?lang=zh``); outside the app it
is English.

Three ways to mark a string (the names Babel extracts):

- ``_("Layer {layer}", layer=3)``: translated *now*, into the active language, then formatted with the named
  placeholders (``str.format`` syntax, ``{x!r}`` and ``{x:.3f}`` included). For the UI and the chart builders,
  which run in the viewer's script run. ``_n(singular, plural, n, **params)`` picks the plural form.
- ``msg("the input has {n} tokens", n=40)``: a :class:`Message`, translated *when shown*. For the core's errors
  and notes: results are cached and shared by every session (``st.cache_data``), so a note computed for an English
  session can be shown to a Chinese one. A Message *is* its English text (a ``str`` subclass), so code and logs
  that read it as a string see English; :func:`tr` renders it in the active language. ``nmsg`` is the plural form.
- ``N_("masked language model")``: marks a constant for extraction and returns it unchanged (labels in tables
  and dicts); show it with ``_(value)`` or :func:`tr`. ``lazy_gettext`` returns a string that translates itself
  when ``str()`` is called on it (a ``st.cache_data(show_spinner=...)`` text fixed at import).

Model names, numbers, token text and the user's own text are parameters, never part of a msgid, and are never
translated.
"""

from __future__ import annotations

import contextlib
import functools
import gettext
import io
import string
import threading
from collections.abc import Iterator
from contextvars import ContextVar
from pathlib import Path
from typing import Any

DOMAIN = "messages"
LOCALE_DIR = Path(__file__).with_name("locale")
LANGUAGES: dict[str, str] = {"en": "English", "zh": "中文"}  # code -> the language's own name (the switch shows it)
DEFAULT_LANGUAGE = "en"

_active: ContextVar[str] = ContextVar("plm_language", default=DEFAULT_LANGUAGE)
_lock = threading.Lock()


# ------------------------------------------------------------------------------------------- catalogue ----

def po_path(lang: str) -> Path:
    return LOCALE_DIR / lang / "LC_MESSAGES" / f"{DOMAIN}.po"


@functools.lru_cache(maxsize=None)
def _compiled(lang: str) -> gettext.NullTranslations:
    """The catalogue of ``lang`` compiled in memory from its .po (fuzzy entries left out); English: none."""
    path = po_path(lang)
    if lang == DEFAULT_LANGUAGE or not path.is_file():
        return gettext.NullTranslations()
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    with path.open("rb") as f:
        catalog = read_po(f, locale=lang, domain=DOMAIN)
    buf = io.BytesIO()
    write_mo(buf, catalog, use_fuzzy=False)
    buf.seek(0)
    return gettext.GNUTranslations(buf)


def translations(lang: str) -> gettext.NullTranslations:
    """The compiled catalogue of ``lang`` (compiled once per process, thread-safe)."""
    with _lock:
        return _compiled(lang if lang in LANGUAGES else DEFAULT_LANGUAGE)


def reload() -> None:
    """Forget the compiled catalogues (after editing a .po in a running process)."""
    with _lock:
        _compiled.cache_clear()


# ------------------------------------------------------------------------------------- active language ----

def get_language() -> str:
    """The active language code (``"en"`` or ``"zh"``)."""
    return _active.get()


def set_language(lang: str | None) -> str:
    """Make ``lang`` the active language of this thread / task (unknown codes: English). Returns the code set."""
    code = lang if lang in LANGUAGES else DEFAULT_LANGUAGE
    _active.set(code)
    return code


@contextlib.contextmanager
def use_language(lang: str) -> Iterator[None]:
    """``with use_language("zh"):`` the block's strings are Chinese; the previous language is restored after."""
    token = _active.set(lang if lang in LANGUAGES else DEFAULT_LANGUAGE)
    try:
        yield
    finally:
        _active.reset(token)


# -------------------------------------------------------------------------------------------- marking ----

def _format(text: str, params: dict[str, Any], lang: str) -> str:
    if not params:
        return text
    return text.format(**{k: _param(v, lang) for k, v in params.items()})


def _param(value: Any, lang: str) -> Any:
    """A parameter as shown: a Message (or an exception raised with one) rendered in ``lang``; data unchanged."""
    if isinstance(value, BaseException):
        value = error_message(value)
    return value.render(lang) if isinstance(value, Message) else value


def _lookup(msgid: str, plural: str | None, n: int | None, lang: str) -> str:
    t = translations(lang)
    if plural is None:
        return t.gettext(msgid)
    return t.ngettext(msgid, plural, int(n or 0))


def _(msgid: str, /, **params: Any) -> str:
    """``msgid`` in the active language, formatted with ``params`` (named ``str.format`` placeholders)."""
    lang = get_language()
    return _format(_lookup(msgid, None, None, lang), params, lang)


def _n(singular: str, plural: str, n: int, /, **params: Any) -> str:
    """The plural form for ``n`` in the active language, formatted with ``n`` and ``params``."""
    lang = get_language()
    return _format(_lookup(singular, plural, n, lang), {"n": n, **params}, lang)


def _p(context: str, msgid: str, /, **params: Any) -> str:
    """``msgid`` in the sense ``context`` (gettext's msgctxt: "column" for a table header, where the same English
    word elsewhere reads differently), in the active language."""
    lang = get_language()
    text = translations(lang).pgettext(context, msgid)
    return _format(text, params, lang)


def N_(msgid: str) -> str:  # noqa: N802 - the gettext convention
    """Mark a constant for extraction; returns it unchanged (translate it where it is shown: ``_(value)``)."""
    return msgid


def gettext_in(lang: str, msgid: str, /, **params: Any) -> str:
    """``msgid`` in ``lang`` (not the active language): for tests and exports that name their language."""
    return _format(_lookup(msgid, None, None, lang), params, lang)


class Message(str):
    """A message translated when shown: its ``str`` value is the English text; :meth:`render` (or :func:`tr`)
    gives it in any language. Immutable, hashable and picklable (results holding it can be cached and shared)."""

    msgid: str
    plural: str | None
    n: int | None
    params: tuple[tuple[str, Any], ...]

    def __new__(cls, msgid: str, params: dict[str, Any] | None = None, plural: str | None = None,
                n: int | None = None) -> Message:
        items = tuple(sorted((params or {}).items()))
        if plural is not None:
            items = tuple(sorted({"n": n, **dict(items)}.items()))
        english = _format(msgid if plural is None or n == 1 else plural, dict(items), DEFAULT_LANGUAGE)
        self = super().__new__(cls, english)
        self.msgid, self.plural, self.n, self.params = msgid, plural, n, items
        return self

    def render(self, lang: str | None = None) -> str:
        """The message in ``lang`` (default: the active language), its parameters formatted in."""
        lang = lang or get_language()
        return _format(_lookup(self.msgid, self.plural, self.n, lang), dict(self.params), lang)

    def __reduce__(self):
        return (_rebuild, (self.msgid, dict(self.params), self.plural, self.n))

    def __repr__(self) -> str:
        return f"Message({str.__repr__(self)})"


def _rebuild(msgid: str, params: dict[str, Any], plural: str | None, n: int | None) -> Message:
    return Message(msgid, params, plural, n)


def msg(msgid: str, /, **params: Any) -> Message:
    """A message for the user from the core (an error, a note), translated when it is shown."""
    return Message(msgid, params)


def nmsg(singular: str, plural: str, n: int, /, **params: Any) -> Message:
    """A plural-aware :func:`msg`; ``{n}`` is available to both forms."""
    return Message(singular, params, plural, n)


class LazyString(str):
    """A constant that translates itself when ``str()`` is called on it (its plain value is the English text)."""

    def __str__(self) -> str:
        return _(str.__str__(self))


def lazy_gettext(msgid: str) -> LazyString:
    return LazyString(msgid)


def tr(value: Any, lang: str | None = None) -> str:
    """Anything the core hands to the UI, in the active language (or ``lang``).

    A :class:`Message` is rendered; an exception shows its message (rendered when it is a Message); a plain
    string is looked up in the catalogue (a label marked with :func:`N_`), and shown unchanged when it is not
    there (user text, token text, model names).
    """
    lang = lang or get_language()
    if isinstance(value, BaseException):
        value = error_message(value)
    if isinstance(value, Message):
        return value.render(lang)
    text = str.__str__(value) if isinstance(value, str) else str(value)
    return _lookup(text, None, None, lang) if text else text


def error_message(err: BaseException) -> str:
    """The message of ``err``: its :class:`Message` when it was raised with one (translatable), else ``str(err)``."""
    if len(err.args) == 1 and isinstance(err.args[0], Message):
        return err.args[0]
    return str(err)


def sentence(value: Any) -> str:
    """A note as a sentence of its own: first letter capitalised, final full stop (English) — in the active
    language."""
    text = tr(value).strip()
    if not text:
        return text
    text = text[:1].upper() + text[1:]
    return text if text[-1] in ".。!！?？" else text + ("。" if get_language() == "zh" else ".")


def placeholders(text: str) -> set[str]:
    """The named fields of a ``str.format`` string (``"{n} of {total:,}"`` -> ``{"n", "total"}``)."""
    names = set()
    for _literal, field, _spec, _conv in string.Formatter().parse(text):
        if field is not None:
            names.add(field.split(".")[0].split("[")[0])
    return names
