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
"""

from __future__ import annotations

import base64
import functools
import json
import uuid
from pathlib import Path
from typing import Literal

import numpy as np

from plm_core.types import AttentionResult

View = Literal["head", "model"]
# bertviz's own filter names for an encoder-decoder's stacks (head_view/model_view encoder_attention=...)
STACK_FILTERS = {"encoder": "Encoder", "decoder": "Decoder", "cross": "Cross"}

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


def bertviz_html(result: AttentionResult, view: View = "head", *, layers: list[int] | None = None,
                 heads: list[int] | None = None, display_mode: Literal["light", "dark"] = "light") -> str:
    """A bertviz view of ``result`` as one HTML document (for an iframe) that needs no network.

    Args:
        view: "head" (lines between tokens, one colour per head) or "model" (every layer × head).
        layers: layer indices to include (default all); fewer layers = smaller page.
        heads: heads pre-selected in the head view (default all).
    """
    n_layers = min(r.n_layers for r in (result, *result.stacks))  # bertviz has one layer menu for all stacks
    layers = list(range(n_layers)) if layers is None else sorted(set(layers))
    weights = result.weights[layers]
    enc = result.encoding
    n = len(enc)
    tokens = list(enc.tokens)
    name = None if enc.pair_start is None else "All"
    if result.stacks:  # encoder-decoder: bertviz's "Encoder", "Decoder" and "Cross" attention
        name = STACK_FILTERS.get(result.stack, result.stack)
    filters = [{"name": name, "rows": [0, n], "cols": [0, n], "left_text": tokens, "right_text": tokens}]
    extra_blobs = []
    for src, other in enumerate(result.stacks, start=1):
        rows, cols = other.weights.shape[-2:]
        filters.append({"name": STACK_FILTERS.get(other.stack, other.stack), "src": src, "shape": [rows, cols],
                        "rows": [0, rows], "cols": [0, cols], "left_text": list(other.encoding.tokens),
                        "right_text": list(other.keys.tokens)})
        extra_blobs.append(base64.b64encode(quantize(other.weights[layers])).decode("ascii"))
    if enc.pair_start is not None and not result.stacks:
        b = enc.pair_start
        for name, rows, cols in (("Sentence A -> Sentence A", (0, b), (0, b)), ("Sentence B -> Sentence B", (b, n), (b, n)),
                                 ("Sentence A -> Sentence B", (0, b), (b, n)), ("Sentence B -> Sentence A", (b, n), (0, b))):
            filters.append({"name": name, "rows": list(rows), "cols": list(cols),
                            "left_text": tokens[slice(*rows)], "right_text": tokens[slice(*cols)]})
    root = f"bertviz-{uuid.uuid4().hex}"
    params: dict[str, object] = {
        "attention": filters, "default_filter": "0", "root_div_id": root, "include_layers": layers,
        "blob": base64.b64encode(quantize(weights)).decode("ascii"), "extra_blobs": extra_blobs,
        "n_tokens": n, "n_heads": result.n_heads, "n_layers": len(layers),
    }
    if view == "head":
        params |= {"layer": layers[0], "heads": heads}
    else:
        params |= {"display_mode": display_mode, "include_heads": list(range(result.n_heads)),
                   "total_heads": result.n_heads}
    options = "".join(f'<option value="{i}">{f["name"]}</option>' for i, f in enumerate(filters)) if len(filters) > 1 else ""
    select = f'Attention: <select id="filter">{options}</select>' if options else ""
    layer_select = 'Layer: <select id="layer"></select>' if view == "head" else ""
    body = (f'<div id="{root}" style="font-family:\'Helvetica Neue\', Helvetica, Arial, sans-serif;">'
            f'<span style="user-select:none">{layer_select} {select}</span><div id="vis"></div></div>')
    return (
        "<!doctype html><html><head><meta charset='utf-8'></head><body>"
        f"{body}\n{_library_js()}\n<script>window.PLM_PARAMS = {_safe_json(params)};</script>\n"
        f"<script>{_DECODER_JS}</script>\n<script>{_bertviz_js(view)}</script></body></html>"
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
