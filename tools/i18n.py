"""Maintain the message catalogue with Babel: ``python3 -m tools.i18n extract|update|check``.

- ``extract``: ``pybabel extract`` over app.py, pages/, ui/ and plm_core/ (``babel.cfg``) with this project's
  keywords into ``plm_core/locale/messages.pot``.
- ``update``: ``extract``, then ``pybabel update`` merges the template into every ``<lang>/LC_MESSAGES/messages.po``
  (new msgids arrive empty; changed ones as fuzzy, which the app does not use until a translator clears the flag).
- ``check``: every msgid of the code has a non-fuzzy translation in every language, with the same ``{placeholders}``;
  exits 1 and lists what is missing (the test ``tests/unit/test_i18n.py`` asserts the same).

A new language: ``pybabel init -i plm_core/locale/messages.pot -d plm_core/locale -D messages -l <code>``, then add
it to ``plm_core.i18n.LANGUAGES``.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LOCALE = ROOT / "plm_core" / "locale"
POT = LOCALE / "messages.pot"
# the marking functions of plm_core.i18n (and the lessons' T(...) prose); "name:1,2" = singular, plural
KEYWORDS = ("_", "_n:1,2", "_p:1c,2", "msg", "nmsg:1,2", "N_", "lazy_gettext", "gettext_in:2", "T")


def _pybabel(*args: str) -> None:
    from babel.messages.frontend import CommandLineInterface

    CommandLineInterface().run(["pybabel", "-q", *args])


def extract() -> None:
    import os

    keywords = [a for k in KEYWORDS for a in ("-k", k)]
    cwd = os.getcwd()
    os.chdir(ROOT)  # relative file names in the catalogue; file only (no line numbers: fewer merge conflicts)
    try:
        _pybabel("extract", "-F", "babel.cfg", "--no-default-keywords", *keywords, "--sort-by-file",
                 "--add-location=file", "--no-wrap", "--project", "plm-lens",
                 "--header-comment", "# Messages of plm-lens (extracted by python3 -m tools.i18n extract).",
                 "-o", str(POT.relative_to(ROOT)), ".")
    finally:
        os.chdir(cwd)


def update() -> None:
    extract()
    _pybabel("update", "-i", str(POT), "-d", str(LOCALE), "-D", "messages", "--no-wrap", "--ignore-obsolete", "--no-fuzzy-matching")


def code_messages() -> dict[str, str | None]:
    """msgid -> plural msgid (None: no plural) of every marked string of the code (Babel's extraction)."""
    from babel.messages.extract import extract_from_dir

    keywords = {}
    for k in KEYWORDS:
        name, _, spec = k.partition(":")
        keywords[name] = tuple((int(i[:-1]), "c") if i.endswith("c") else int(i) for i in spec.split(",")) if spec else None
    found: dict[str, str | None] = {}
    for _fn, _lineno, message, _comments, context in extract_from_dir(
            str(ROOT), method_map=[("app.py", "python"), ("pages/**.py", "python"), ("ui/**.py", "python"),
                                   ("plm_core/**.py", "python")], keywords=keywords, comment_tags=()):
        if context:  # a msgctxt entry: checked under its context
            message = (context, message)
        if isinstance(message, tuple) and not context:
            found[message[0]] = message[1]
        else:
            found.setdefault(message, None)
    return {m: p for m, p in found.items() if m}


def problems(lang: str) -> list[str]:
    """What the ``lang`` catalogue lacks for the code's messages (empty list: complete)."""
    from babel.messages.pofile import read_po

    from plm_core.i18n import placeholders, po_path

    with po_path(lang).open("rb") as f:
        catalog = read_po(f, locale=lang)
    out = []
    for msgid, plural in code_messages().items():
        context = None
        if isinstance(msgid, tuple):
            context, msgid = msgid
        entry = catalog.get(msgid, context=context)
        if entry is None or not entry.string or (isinstance(entry.string, tuple) and not all(entry.string)):
            out.append(f"missing: {msgid!r}")
            continue
        if entry.fuzzy:
            out.append(f"fuzzy: {msgid!r}")
        forms = entry.string if isinstance(entry.string, tuple) else (entry.string,)
        want = placeholders(msgid) | (placeholders(plural) if plural else set())
        for form in forms:
            if placeholders(form) != want:
                out.append(f"placeholders differ: {msgid!r}: {sorted(want)} vs {sorted(placeholders(form))}")
    return out


def main(argv: list[str]) -> int:
    cmd = argv[0] if argv else "check"
    if cmd == "extract":
        extract()
    elif cmd == "update":
        update()
    elif cmd == "check":
        from plm_core.i18n import DEFAULT_LANGUAGE, LANGUAGES

        bad = [f"{lang}: {p}" for lang in LANGUAGES if lang != DEFAULT_LANGUAGE for p in problems(lang)]
        print("\n".join(bad) or f"complete: {len(code_messages())} msgids")
        return 1 if bad else 0
    else:
        print(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
