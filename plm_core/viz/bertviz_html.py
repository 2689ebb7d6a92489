"""bertviz head view and model view as self-contained HTML that works with no internet.

Stock bertviz loads require.js, d3 and jQuery from a CDN (blank offline) and writes every attention
weight as a JSON float (13.2 MB for 64 tokens of MiniLM). Here:

- d3 v5 comes from the pip package ``mpld3`` and jQuery from ``xstatic-jquery``, inlined; require.js
  is replaced by a five-line shim that hands bertviz those two globals.
- the weights travel once, as base64 bytes (one byte per weight: a line opacity has 256 levels
  anyway), decoded in the page into the nested arrays bertviz's own script expects. Sentence-pair
  filters are sliced in the page from the same bytes instead of being sent four more times.
- tokens and labels are JSON with ``<``, ``>`` and ``&`` escaped, and bertviz writes them with
  ``.text()``, so text like ``<img onerror=...>`` is shown, never run.
- colours follow the page: inside Streamlit (a same-origin ``srcdoc`` iframe) the script reads the app's own
  background and text colour from the parent document, which is right for the OS-following default and for
  ``--theme.base dark`` alike (``prefers-color-scheme`` inside the iframe only sees the OS, and
  ``st.context.theme`` reports "light" on the first run of a dark app). A downloaded file on its own follows
  ``prefers-color-scheme``. Token labels use the page's text colour (bertviz hard-codes black); the model view
  gets bertviz's own dark palette.
- the model view (970 px wide in bertviz) is scaled to the frame's width, down to 60%; below that it scrolls
  sideways and says so ("Scroll sideways: 7 of 12 heads fit").
"""

from __future__ import annotations

import base64
import functools
import html
import json
import uuid
from pathlib import Path
from typing import Literal

import numpy as np

from plm_core.types import AttentionResult
from plm_core.i18n import N_, _

View = Literal["head", "model"]
# bertviz's own filter names for an encoder-decoder's stacks (head_view/model_view encoder_attention=...)
STACK_FILTERS = {"encoder": N_("Encoder"), "decoder": N_("Decoder"), "cross": N_("Cross")}

_DECODER_JS = """
(function () {
  var p = window.PLM_PARAMS, H = p.n_heads, L = p.n_layers;
  function decode(b64) {
    var raw = atob(b64), bytes = new Uint8Array(raw.length);
    for (var i = 0; i < raw.length; i++) bytes[i] = raw.charCodeAt(i);
    return bytes;
  }
  var sources = [p.blob].concat(p.extra_blobs || []).map(decode);
  function slice(bytes, nr, nc, r0, r1, c0, c1) {
    var out = [];
    for (var l = 0; l < L; l++) { var lay = [];
      for (var h = 0; h < H; h++) { var head = [];
        for (var r = r0; r < r1; r++) { var row = new Array(c1 - c0), base = ((l * H + h) * nr + r) * nc;
          for (var c = c0; c < c1; c++) row[c - c0] = bytes[base + c] / 255;
          head.push(row); }
        lay.push(head); }
      out.push(lay); }
    return out;
  }
  p.attention.forEach(function (d) {
    var shape = d.shape || [p.n_tokens, p.n_tokens];
    d.attn = slice(sources[d.src || 0], shape[0], shape[1], d.rows[0], d.rows[1], d.cols[0], d.cols[1]);
  });
  var mods = {d3: window.d3, jquery: window.jQuery};
  window.require = window.requirejs = function (deps, cb) { cb.apply(null, deps.map(function (d) { return mods[d]; })); };
  window.require.config = function () {};
})();
"""


_THEME_CSS = """
:root { --plm-bg: #ffffff; --plm-fg: #262730; --plm-hover: rgba(0,0,0,0.12); color-scheme: light; }
:root.plm-dark { --plm-bg: #0e1117; --plm-fg: #fafafa; --plm-hover: rgba(255,255,255,0.2); color-scheme: dark; }
@media (prefers-color-scheme: dark) {
  :root:not(.plm-light) { --plm-bg: #0e1117; --plm-fg: #fafafa; --plm-hover: rgba(255,255,255,0.2); color-scheme: dark; }
}
html, body { margin: 0; background: var(--plm-bg); color: var(--plm-fg); }
/* bertviz writes fill="black" / "lightgray" as attributes: any stylesheet rule wins over those */
#vis svg text { fill: var(--plm-fg); }
#vis svg rect.background { fill: var(--plm-hover); }
#vis { overflow-x: auto; }
#plm-scroll-note { font-size: 13px; margin: 2px 0 4px; }
"""

# Runs before bertviz: picks light or dark from the page around the frame (or the OS when the file stands alone),
# and follows a later switch of the app's theme.
_THEME_JS = r"""
(function () {
  var root = document.documentElement, p = window.PLM_PARAMS;
  function rgb(c) {
    var m = /rgba?\(([^)]+)\)/.exec(c || ''); if (!m) return null;
    var v = m[1].split(',').map(parseFloat); return v.length > 3 && v[3] === 0 ? null : v.slice(0, 3);
  }
  function lum(c) {
    var a = c.map(function (x) { x /= 255; return x <= 0.04045 ? x / 12.92 : Math.pow((x + 0.055) / 1.055, 2.4); });
    return 0.2126 * a[0] + 0.7152 * a[1] + 0.0722 * a[2];
  }
  function pageColors() {
    try {
      if (window.parent === window) return null;
      var doc = window.parent.document, app = doc.querySelector('[data-testid="stApp"]') || doc.body;
      var cs = window.parent.getComputedStyle(app), bg = rgb(cs.backgroundColor), fg = rgb(cs.color);
      return bg && fg ? {bg: cs.backgroundColor, fg: cs.color, dark: lum(bg) < 0.5} : null;
    } catch (e) { return null; }  /* another origin: keep the OS preference */
  }
  function osDark() { return !!(window.matchMedia && window.matchMedia('(prefers-color-scheme: dark)').matches); }
  function apply(c) {
    var dark = c ? c.dark : osDark();
    root.classList.toggle('plm-dark', dark); root.classList.toggle('plm-light', !dark);
    root.style.setProperty('--plm-bg', c ? c.bg : ''); root.style.setProperty('--plm-fg', c ? c.fg : '');
    root.style.setProperty('--plm-hover', '');
    return dark;
  }
  var dark = apply(pageColors());
  p.display_mode = dark ? 'dark' : 'light';  /* the model view's own palette */
  window.PLM_DARK = dark;
  setInterval(function () {
    var c = pageColors(), now = c ? c.dark : osDark();
    if (now !== dark) location.reload(); else apply(c);
  }, 1000);
})();
"""

# Runs after the model view: fit its fixed 970 px grid to the frame, or scroll and say so.
_FIT_JS = """
(function () {
  var p = window.PLM_PARAMS, vis = document.querySelector('#vis'), note = document.getElementById('plm-scroll-note');
  if (!vis || !note || p.total_heads === undefined) return;
  var MIN = 0.6, AXIS = 38;
  function fit() {
    var svg = vis.querySelector('svg'); if (!svg) return;
    if (!svg.getAttribute('data-w')) {
      svg.setAttribute('data-w', svg.getAttribute('width')); svg.setAttribute('data-h', svg.getAttribute('height'));
    }
    var W = +svg.getAttribute('data-w'), H = +svg.getAttribute('data-h'), avail = vis.clientWidth || W;
    var s = Math.min(1, Math.max(MIN, avail / W));
    svg.setAttribute('viewBox', '0 0 ' + W + ' ' + H);
    svg.setAttribute('width', Math.floor(W * s)); svg.setAttribute('height', Math.ceil(H * s));
    var n = p.include_heads.length, cell = (W - AXIS) / p.total_heads;
    var fits = Math.max(0, Math.min(n, Math.floor((avail / s - AXIS) / cell)));
    note.hidden = W * s <= avail + 1;
    note.textContent = p.scroll_note.replace('{fits}', fits).replace('{n}', n);
  }
  new MutationObserver(fit).observe(vis, {childList: true});
  window.addEventListener('resize', fit);
  fit();
})();
"""


@functools.cache
def _library_js() -> str:
    import mpld3
    import xstatic.pkg.jquery as xjquery

    d3 = (Path(mpld3.__file__).parent / "js" / "d3.v5.min.js").read_text(encoding="utf-8")
    jquery = (Path(xjquery.BASE_DIR) / "jquery.min.js").read_text(encoding="utf-8")
    return f"<script>{d3}</script>\n<script>{jquery}</script>"


@functools.cache
def _bertviz_js(view: View) -> str:
    import bertviz

    js = (Path(bertviz.__file__).parent / f"{view}_view.js").read_text(encoding="utf-8")
    start = js.index("requirejs(")  # drop the CDN require.config block
    return js[start:].replace("PYTHON_PARAMS", "window.PLM_PARAMS")


def _safe_json(value: object) -> str:
    return json.dumps(value).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def quantize(weights: np.ndarray) -> bytes:
    """Weights in [0, 1] → one byte each (round(255·w)), in [layer, head, query, key] order."""
    return np.clip(np.rint(weights * 255.0), 0, 255).astype(np.uint8).tobytes()


# The most SVG elements a bertviz view may draw. Measured in headless Chromium 156 (benchmarks/bench_bertviz_size.py,
# on the shared 2-core machine at load ~12): head view 13,688 elements 2.2 s, 51,896 4.8 s, 202,040 19 s; model view
# 43,436 2.1 s, 76,268 4.3 s, 299,756 27 s (the model view of 128 tokens × 6 layers × 12 heads, 1.2 million lines,
# took 115 s: bertviz #121, #82). 40,000 keeps both views near 2 s even on that loaded machine.
MAX_SVG_ELEMENTS = 40_000


def view_elements(view: View, n_tokens: int, n_layers: int, n_heads: int, n_keys: int | None = None) -> int:
    """SVG elements bertviz draws for a view (its cost in the browser): one line per (head, query, key) of the
    layer shown (head view: every head of one layer, hidden ones too) or of every layer (model view), plus the
    token labels and the model view's thumbnails."""
    lines = n_heads * n_tokens * (n_keys or n_tokens) * (n_layers if view == "model" else 1)
    # measured: ~40 elements per token label in the head view; ~one per token per thumbnail in the model view
    extra = 40 * n_tokens if view == "head" else n_layers * n_heads * n_tokens
    return int(lines + extra)


def fitting_subset(view: View, n_tokens: int, n_layers: int, n_heads: int, n_keys: int | None = None,
                   limit: int = MAX_SVG_ELEMENTS) -> tuple[list[int], list[int]] | None:
    """The largest leading (layers, heads) whose view stays within ``limit`` SVG elements (all layers and heads
    when the whole view does), or None when even one head of one layer does not (then only the heatmaps fit)."""
    per_head = view_elements(view, n_tokens, 1, 1, n_keys)
    if view_elements(view, n_tokens, n_layers, n_heads, n_keys) <= limit:
        return list(range(n_layers)), list(range(n_heads))
    if per_head > limit:
        return None
    if view == "head":  # one layer at a time: fewer heads
        return list(range(n_layers)), list(range(max(1, limit // per_head)))
    cells = limit // per_head
    if cells >= n_heads:  # whole layers
        return list(range(cells // n_heads)), list(range(n_heads))
    return [0], list(range(cells))


def bertviz_html(result: AttentionResult, view: View = "head", *, layers: list[int] | None = None,
                 heads: list[int] | None = None, display_mode: Literal["light", "dark"] = "light",
                 head_subset: list[int] | None = None) -> str:
    """A bertviz view of ``result`` as one HTML document (for an iframe) that needs no network.

    Args:
        view: "head" (lines between tokens, one colour per head) or "model" (every layer × head).
        layers: layer indices to include (default all); fewer layers = smaller page.
        heads: heads pre-selected in the head view (default all; the others are drawn too, hidden).
        display_mode: kept for older callers; the page's own script replaces it with the theme it finds (the
            app around the frame, or the OS setting for a file opened on its own).
        head_subset: only these heads are sent and drawn (default all): a smaller view of a large input
            (:func:`fitting_subset`); the model view labels them with their own numbers.
    """
    n_layers = min(r.n_layers for r in (result, *result.stacks))  # bertviz has one layer menu for all stacks
    layers = list(range(n_layers)) if layers is None else sorted(set(layers))
    head_subset = list(range(result.n_heads)) if head_subset is None else sorted(set(head_subset))
    weights = result.weights[layers][:, head_subset]
    enc = result.encoding
    n = len(enc)
    tokens = list(enc.tokens)
    name = None if enc.pair_start is None else _("All")
    if result.stacks:  # encoder-decoder: bertviz's "Encoder", "Decoder" and "Cross" attention
        name = _(STACK_FILTERS.get(result.stack, result.stack))
    filters = [{"name": name, "rows": [0, n], "cols": [0, n], "left_text": tokens, "right_text": tokens}]
    extra_blobs = []
    for src, other in enumerate(result.stacks, start=1):
        rows, cols = other.weights.shape[-2:]
        filters.append({"name": _(STACK_FILTERS.get(other.stack, other.stack)), "src": src, "shape": [rows, cols],
                        "rows": [0, rows], "cols": [0, cols], "left_text": list(other.encoding.tokens),
                        "right_text": list(other.keys.tokens)})
        extra_blobs.append(base64.b64encode(quantize(other.weights[layers][:, head_subset])).decode("ascii"))
    if enc.pair_start is not None and not result.stacks:
        b = enc.pair_start
        for name, rows, cols in ((_("Sentence A -> Sentence A"), (0, b), (0, b)),
                                 (_("Sentence B -> Sentence B"), (b, n), (b, n)),
                                 (_("Sentence A -> Sentence B"), (0, b), (b, n)),
                                 (_("Sentence B -> Sentence A"), (b, n), (0, b))):
            filters.append({"name": name, "rows": list(rows), "cols": list(cols),
                            "left_text": tokens[slice(*rows)], "right_text": tokens[slice(*cols)]})
    root = f"bertviz-{uuid.uuid4().hex}"
    params: dict[str, object] = {
        "attention": filters, "default_filter": "0", "root_div_id": root, "include_layers": layers,
        "blob": base64.b64encode(quantize(weights)).decode("ascii"), "extra_blobs": extra_blobs,
        "n_tokens": n, "n_heads": len(head_subset), "n_layers": len(layers),
    }
    if view == "head":
        params |= {"layer": layers[0], "heads": None if heads is None else [head_subset.index(h) for h in heads
                                                                            if h in head_subset]}
    else:
        params |= {"display_mode": display_mode, "include_heads": head_subset,
                   "total_heads": result.n_heads,
                   "scroll_note": _("Scroll sideways: {fits} of {n} heads fit this width.")}
    options = "".join(f'<option value="{i}">{html.escape(f["name"])}</option>' for i, f in enumerate(filters)) if len(filters) > 1 else ""
    attention_label, layer_label = html.escape(_("Attention:")), html.escape(_("Layer:"))
    select = f'{attention_label} <select id="filter">{options}</select>' if options else ""
    layer_select = f'{layer_label} <select id="layer"></select>' if view == "head" else ""
    note = '<div id="plm-scroll-note" hidden></div>' if view == "model" else ""
    body = (f'<div id="{root}" style="font-family:\'Helvetica Neue\', Helvetica, Arial, sans-serif;">'
            f'<span style="user-select:none">{layer_select} {select}</span>{note}<div id="vis"></div></div>')
    fit = f"\n<script>{_FIT_JS}</script>" if view == "model" else ""
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><style>{_THEME_CSS}</style></head><body>"
        f"{body}\n{_library_js()}\n<script>window.PLM_PARAMS = {_safe_json(params)};</script>\n"
        f"<script>{_THEME_JS}</script>\n<script>{_DECODER_JS}</script>\n<script>{_bertviz_js(view)}</script>"
        f"{fit}</body></html>"
    )


def stock_bertviz_html(result: AttentionResult, view: View = "head") -> str:
    """The HTML stock bertviz returns for the same input (CDN scripts, JSON floats): for benchmarks."""
    import torch
    from bertviz import head_view, model_view

    def layers(r: AttentionResult) -> list:
        return [torch.from_numpy(w[None]) for w in r.weights]

    fn = head_view if view == "head" else model_view
    if result.stacks:  # bertviz's encoder-decoder arguments
        return fn(encoder_attention=layers(result.get("encoder")), decoder_attention=layers(result.get("decoder")),
                  cross_attention=layers(result.get("cross")), encoder_tokens=list(result.get("encoder").encoding.tokens),
                  decoder_tokens=list(result.get("decoder").encoding.tokens), html_action="return").data
    return fn(layers(result), list(result.encoding.tokens), sentence_b_start=result.encoding.pair_start,
              html_action="return").data
