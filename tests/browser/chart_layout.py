"""Read the layout of every plotly chart on a page from the DOM (bounding boxes of the SVG parts) and list
overlaps: a title on a legend, a legend on the plot, an axis title or tick labels, text cut off at the edge."""

from __future__ import annotations

from playwright.sync_api import Page

BOXES_JS = r"""
() => {
  const box = (el) => { const r = el.getBoundingClientRect();
    return {x0: r.left, y0: r.top, x1: r.right, y1: r.bottom, w: r.width, h: r.height}; };
  const visible = (el) => { const r = el.getBoundingClientRect(); return r.width > 0 && r.height > 0
    && getComputedStyle(el).visibility !== 'hidden' && getComputedStyle(el).display !== 'none'
    && !el.closest('[visibility="hidden"]'); };
  const all = (root, sel) => Array.from(root.querySelectorAll(sel)).filter(visible);
  return Array.from(document.querySelectorAll('.js-plotly-plot')).filter(visible).map((plot, i) => {
    const chart = plot.closest('[data-testid="stPlotlyChart"]') || plot;
    const title = plot.querySelector('.g-gtitle text.gtitle');
    const legend = plot.querySelector('g.legend');
    const text = (el) => el ? el.textContent : '';
    return {
      index: i,
      key: (chart.closest('[class*="st-key-"]') || {className: ''}).className.split(' ')
             .filter(c => c.startsWith('st-key-')).join(' '),
      title: title && visible(title) ? {...box(title), text: text(title)} : null,
      legend: legend && visible(legend) ? {...box(legend), text: text(legend)} : null,
      svg: box(plot.querySelector('svg.main-svg')),
      plots: all(plot, '.draglayer .nsewdrag').map(box),
      axis_titles: all(plot, '.infolayer text[class$="title"]:not(.gtitle)').map(e => ({...box(e), text: text(e)})),
      ticks: all(plot, 'g.xtick text, g.ytick text').map(box),
      colorbars: all(plot, 'g.colorbar').map(box),
      annotations: all(plot, 'g.annotation').map(e => ({...box(e), text: text(e)})),
    };
  });
}
"""


def chart_boxes(page: Page) -> list[dict]:
    return page.evaluate(BOXES_JS)


def _hit(a: dict, b: dict, slack: float = 1.0) -> bool:
    return a["x0"] < b["x1"] - slack and b["x0"] < a["x1"] - slack and a["y0"] < b["y1"] - slack \
        and b["y0"] < a["y1"] - slack


def _inside(a: dict, outer: dict, slack: float = 1.5) -> bool:
    return a["x0"] >= outer["x0"] - slack and a["x1"] <= outer["x1"] + slack and a["y0"] >= outer["y0"] - slack \
        and a["y1"] <= outer["y1"] + slack


def layout_problems(charts: list[dict]) -> list[str]:
    """Every overlap or cut-off text in ``charts`` (from :func:`chart_boxes`), as readable sentences."""
    out = []
    for c in charts:
        name = f"chart {c['index']} {c['key']} {(c['title'] or {}).get('text', '')!r}"
        title, legend = c["title"], c["legend"]
        texts = ([("title", title)] if title else []) + ([("legend", legend)] if legend else []) \
            + [(f"axis title {t['text']!r}", t) for t in c["axis_titles"]]
        for what, b in texts:
            if not _inside(b, c["svg"]):
                out.append(f"{name}: {what} is cut off by the chart's edge ({b} outside {c['svg']})")
        if title:
            for other, items in (("legend", [legend] if legend else []), ("plot area", c["plots"]),
                                 ("subplot title", c["annotations"]), ("colour bar", c["colorbars"])):
                if any(_hit(title, b) for b in items):
                    out.append(f"{name}: the title overlaps the {other}")
        if legend:
            for other, items in (("plot area", c["plots"]), ("axis title", c["axis_titles"]),
                                 ("tick labels", c["ticks"]), ("colour bar", c["colorbars"]),
                                 ("subplot title", c["annotations"])):
                if any(_hit(legend, b) for b in items):
                    out.append(f"{name}: the legend overlaps the {other}")
        for t in c["axis_titles"]:
            if any(_hit(t, p) for p in c["plots"]):
                out.append(f"{name}: axis title {t['text']!r} overlaps the plot area")
        notes = c["annotations"]
        for i, a in enumerate(notes):  # subplot titles side by side (the neuron view's at 390 px)
            for b in notes[i + 1:]:
                if _hit(a, b):
                    out.append(f"{name}: subplot titles {a['text']!r} and {b['text']!r} overlap")
    return out
