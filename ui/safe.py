"""User text in Markdown elements, shown literally: the one escaping helper of the app.

Streamlit renders the body of ``st.markdown``, ``st.caption``, ``st.error``/``warning``/``info``/``success``,
titles and headers as GitHub-flavoured Markdown with extras: ``$…$`` (LaTeX), ``:red[…]`` (colours),
``:material/…:`` and ``:smile:`` (icons, emoji), bare URLs become links and ``![…](…)`` makes the browser
fetch an image. Text a user typed, a model id, a file name, a data-set cell, a token or an error message
that quotes any of them must never become markup: put it through :func:`md` (or show it with ``st.text``,
``st.code`` or a data frame, which render no Markdown).

    st.error(md(str(err)))
    st.markdown(f"**Explained:** {md(result.target_label)} = **{value:.4g}**")
    st.markdown(_("**Explained:** {target} = **{value:.4g}**", target=md(tr(result.target_label)), value=value))

A translated message (plm_core.i18n ``_``) is the app's own text: its parameters follow the same rule.

Numbers formatted with a format spec (``{x:.3f}``, ``{n:d}``, ``{n:,}``) need no escaping.
tests/app/test_hostile_pages.py drives every page with hostile text; tests/unit/test_safe_markdown.py
checks statically that every f-string given to a Markdown element escapes what it interpolates.
"""

from __future__ import annotations

import re
import string

_PUNCTUATION = frozenset(string.punctuation)  # CommonMark lets a backslash escape any ASCII punctuation
_SPACES = re.compile(r" {2,}")
# After parsing, Streamlit's frontend rewrites text that escapes no longer protect: GFM autolinks
# ("http://…", "www.…", "name@host.org"), ":streamlit:" (an image) and "->", "<-", "<->", "--", ">=",
# "<=", "~=" (arrows and signs). An invisible WORD JOINER (U+2060) breaks each pattern without changing
# what is shown: after a ":" that is not followed by a space (a colon ending a phrase stays as it is),
# before "@", between "www" and ".", and between two of "<->=~".
WORD_JOINER = "\u2060"
_JOIN = (re.compile(r"(?<=:)(?=\S)"), re.compile(r"(?=@)"), re.compile(r"(?<=www)(?=\.)", re.IGNORECASE),
         re.compile(r"(?<=[<>=~-])(?=[<>=~-])"))


def md(text: object) -> str:
    """``text`` as Markdown that renders as exactly these characters, on one line.

    Every ASCII punctuation character is backslash-escaped (``*``, ``_``, ``[``, ``]``, ``(``, ``)``, ``!``,
    ``<``, ``>``, ``&``, `` ` ``, ``$``, ``:``, ``#``, ``|``, ``~``, ``-``, ``.`` …): no emphasis, link, image,
    HTML, code span, math, colour directive, emoji shortcode, heading, list, table or autolink can start.
    Invisible word joiners (U+2060) break what the frontend rewrites after parsing (bare URLs and e-mail
    addresses as links, ``:streamlit:``, ``->`` as an arrow). Line breaks and tabs become spaces (no
    paragraph, heading or code block), and runs of spaces keep their width with no-break spaces (four
    leading spaces would start a code block).
    """
    s = str(text).replace(WORD_JOINER, "")
    for pattern in _JOIN:
        s = pattern.sub(WORD_JOINER, s)
    out = []
    for ch in s:
        if ch in _PUNCTUATION:
            out.append("\\" + ch)
        elif ch in "\r\n\t\v\f":
            out.append(" ")
        else:
            out.append(ch)
    return _SPACES.sub(lambda m: " " + "\u00a0" * (len(m.group()) - 1), "".join(out))


# Plotly draws titles, axis labels, legend names and category labels with its own HTML subset: "<b>",
# "<i>", "<br>" and "<a href=…>" (a live link) work there. User text (tokens, words, model ids, data-set
# cells) reaches those places, so every figure passes through safe_figure before st.plotly_chart (ui.charts.plotly_chart
# does it for every chart of the app). The figure's own templates (hovertemplate, texttemplate, text) and the
# customdata they read are left alone: plm_core.viz writes them (with "<br>") and never puts user text in them.
_TRACE_TEXT = ("name", "x", "y", "labels", "ids", "hovertext")
_HTML = ("<", ">", "&")


# plm_core.viz.theme breaks long titles and colour-bar legends into lines with "<br>": in titles, that one tag is
# kept (a line break: no link, style or image), everything else is escaped
BREAK = "<br>"


def plotly_text(text: str) -> str:
    """``text`` as plotly shows it literally: its HTML subset's metacharacters as entities."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def title_text(text: str) -> str:
    """A title as plotly shows it literally, keeping the theme's line breaks (``<br>``)."""
    return BREAK.join(plotly_text(part) for part in text.split(BREAK))


def _needs(value, title: bool = False) -> bool:
    if isinstance(value, str):
        return any(c in (value.replace(BREAK, "") if title else value) for c in _HTML)
    if value is None or getattr(getattr(value, "dtype", None), "kind", "O") not in "OUS":
        return False  # numbers
    try:
        return any(isinstance(v, str) and any(c in v for c in _HTML) for v in value)
    except TypeError:
        return False


def _escaped(value):
    if isinstance(value, str):
        return plotly_text(value)
    return [plotly_text(v) if isinstance(v, str) else v for v in value]


def _title(obj) -> None:
    title = getattr(obj, "title", None)
    if title is not None and isinstance(getattr(title, "text", None), str) and _needs(title.text, title=True):
        title.text = title_text(title.text)


_OWN_TEXT = frozenset({"hovertemplate", "texttemplate", "text", "template", "customdata"})  # by plm_core.viz


def _raw_needs(node, title: bool = False) -> bool:
    """Any string with ``<``, ``>`` or ``&`` in a figure's raw dicts, outside its own templates and the theme's
    line breaks in titles (no validation: fast, so a figure with nothing to escape costs almost nothing)."""
    if isinstance(node, str):
        return _needs(node, title)
    if isinstance(node, dict):
        # layout.meta: the theme's memory of the builder's titles (never drawn)
        return any(_raw_needs(v, title or k == "title") for k, v in node.items() if k not in _OWN_TEXT and k != "meta")
    if isinstance(node, (list, tuple)):
        return any(_raw_needs(v, title) for v in node)
    return _needs(node) if getattr(getattr(node, "dtype", None), "kind", "") in "OUS" else False


def safe_figure(fig):
    """``fig`` with every title, axis and category label, legend name and annotation shown literally (no bold,
    link or image from user text). Changes the figure in place (only where a ``<``, ``>`` or ``&`` is)."""
    raw_layout, raw_data = getattr(fig, "_layout", None), getattr(fig, "_data", None)
    if raw_layout is not None and raw_data is not None and not _raw_needs(raw_layout) and not _raw_needs(raw_data):
        return fig
    layout = fig.layout
    _title(layout)
    _title(layout.legend)
    fig.for_each_xaxis(_title)
    fig.for_each_yaxis(_title)
    for axis in [*fig.select_xaxes(), *fig.select_yaxes()]:
        if axis.ticktext is not None and _needs(axis.ticktext):
            axis.ticktext = _escaped(axis.ticktext)
    for note in layout.annotations or ():  # subplot titles are annotations: the theme's line breaks are kept
        if isinstance(note.text, str) and _needs(note.text, title=True):
            note.text = title_text(note.text)
    for trace in fig.data:
        for key in _TRACE_TEXT:
            value = getattr(trace, key, None) if key in trace else None
            if value is not None and _needs(value):
                setattr(trace, key, _escaped(value))
        if "colorbar" in trace:
            _title(trace.colorbar)
        if "marker" in trace and "colorbar" in trace.marker:
            _title(trace.marker.colorbar)
    return fig
