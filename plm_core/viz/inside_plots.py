"""Plotly figures for the views inside the model: contributions, the information-flow graph, patching, FFN neurons.

Colours follow :mod:`plm_core.viz.theme`: red raises the explained number, blue lowers it (contributions);
patching's "restored" share uses the same diverging scale (1 = the clean answer back, 0 = still corrupted).
Token text goes into charts as data; the app escapes every chart once, as it draws it (``ui.safe.safe_figure``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go

from plm_core.contributions import Contributions
from plm_core.ffn import FFNView
from plm_core.i18n import _, tr
from plm_core.patching import PatchingResult
from plm_core.viz import theme


def _signed_scale(z: np.ndarray, name: str) -> dict:
    finite = np.abs(z[np.isfinite(z)])
    lim = float(finite.max()) if finite.size and finite.max() > 0 else 1.0
    return {"colorscale": theme.DIVERGING, "zmid": 0.0, "zmin": -lim, "zmax": lim,
            "colorbar": {"title": {"text": theme.signed_title(name)}}}


def explained_label(res: Contributions | PatchingResult) -> str:
    """"logit('Paris')" or "logit('Paris') − logit('Rome')"."""
    if res.contrast_token is None:
        return _("logit({token!r})", token=res.target_token)
    return _("logit({token!r}) − logit({contrast!r})", token=res.target_token, contrast=res.contrast_token)


def contribution_heatmap(res: Contributions) -> go.Figure:
    """Layers × heads of every attention stack, then an FFN column: each cell is that part's share of the
    explained logit."""
    columns: list[str] = []
    blocks = []
    for stack, grid in zip(res.stacks, res.heads):
        prefix = "" if len(res.stacks) == 1 else f"{tr(stack)} "
        columns += [f"{prefix}H{h + 1}" for h in range(grid.shape[1])]
        blocks.append(grid)
    columns.append(_("FFN"))
    z = np.concatenate([*blocks, res.ffn[:, None]], axis=1).astype(np.float64)
    rows = [_("layer {layer}", layer=i + 1) for i in range(res.n_layers)]
    fig = go.Figure(go.Heatmap(
        z=z, x=columns, y=rows, **_signed_scale(z, _("contribution")),
        hovertemplate=_("%{y}, %{x}<br>contribution %{z:.4f}<extra></extra>")))
    fig.update_layout(
        title=_("Who wrote {what}: heads and FFN blocks", what=explained_label(res)),
        height=max(300, min(900, 26 * res.n_layers + 170)),
        xaxis={"title": _("attention heads, then the feed-forward block"), "tickangle": -60},
        yaxis={"title": _("layer"), "autorange": "reversed"})
    return theme.apply(fig)


def source_bars(res: Contributions, stack: int, layer: int, head: int) -> go.Figure:
    """One head's share split over the tokens it attended to (attention × value·output path)."""
    grid = res.sources[stack]
    tokens = res.stack_tokens[stack]
    values = grid[layer, head, : len(tokens)] if grid is not None else np.zeros(len(tokens))
    labels = [f"{i}:{t}" for i, t in enumerate(tokens)]
    fig = go.Figure(go.Bar(x=labels, y=values, marker_color=[theme.sign_color(float(v)) for v in values],
                           hovertemplate=_("%{x}<br>%{y:.4f}<extra></extra>")))
    fig.update_layout(title=_("Layer {layer}, head {head}: where its share came from", layer=layer + 1, head=head + 1),
                      xaxis={"title": _("source token"), "tickangle": -60},
                      yaxis={"title": _("contribution (red raises, blue lowers)")})
    return theme.apply(fig)


def flow_graph(res: Contributions, threshold: float) -> tuple[go.Figure, list[tuple[str, int, int, int]]]:
    """The information-flow graph (in the spirit of llm-transparency-tool): the explained token at the right,
    the parts whose |contribution| ≥ ``threshold`` × the largest, and for each head the source tokens whose
    share passes the same threshold. Direct paths only.

    Returns:
        (figure, nodes) where nodes are ("head", stack, layer, head) / ("ffn", -1, layer, -1) in drawing order.
    """
    n_layers = res.n_layers
    parts: list[tuple[str, int, int, int, float]] = []
    for s, grid in enumerate(res.heads):
        for layer in range(n_layers):
            for h in range(grid.shape[1]):
                parts.append(("head", s, layer, h, float(grid[layer, h])))
    for layer in range(n_layers):
        parts.append(("ffn", -1, layer, -1, float(res.ffn[layer])))
    biggest = max([abs(p[4]) for p in parts] + [abs(res.embeddings), 1e-12])
    kept = [p for p in parts if abs(p[4]) >= threshold * biggest]
    out_x, out_y = n_layers + 1, 0.0
    edges: list[tuple[float, float, float, float, float]] = []
    node_x, node_y, node_text, node_color = [], [], [], []
    nodes: list[tuple[str, int, int, int]] = []
    tokens = res.stack_tokens[0] if res.stack_tokens else res.encoding.tokens
    src_y = {}
    for s, toks in enumerate(res.stack_tokens or (tokens,)):
        for i, t in enumerate(toks):
            src_y[(s, i)] = -(i + 1) - (len(res.stack_tokens[0]) + 1 if s == 1 else 0)
    for s, toks in enumerate(res.stack_tokens or (tokens,)):
        for i, t in enumerate(toks):
            node_x.append(0)
            node_y.append(src_y[(s, i)])
            node_text.append(f"{i}:{t}")
            node_color.append(theme.MUTED)
    if abs(res.embeddings) >= threshold * biggest:
        edges.append((0, src_y.get((0, res.stack_position), -1), out_x, out_y, res.embeddings))
    by_layer: dict[int, int] = {}
    for kind, s, layer, h, v in kept:
        k = by_layer.get(layer, 0)
        by_layer[layer] = k + 1
        x, y = layer + 1, 1.0 + k
        node_x.append(x)
        node_y.append(y)
        node_text.append(f"L{layer + 1} H{h + 1}" if kind == "head" else _("L{layer} FFN", layer=layer + 1))
        node_color.append(theme.sign_color(v))
        nodes.append((kind, s, layer, h))
        edges.append((x, y, out_x, out_y, v))
        src = res.sources[s] if kind == "head" else None
        if src is not None:
            for i, w in enumerate(src[layer, h]):
                if abs(float(w)) >= threshold * biggest and (s, i) in src_y:
                    edges.append((0, src_y[(s, i)], x, y, float(w)))
    fig = go.Figure()
    widest = max([abs(e[4]) for e in edges] + [1e-12])
    for sign, color in ((1, theme.POSITIVE), (-1, theme.NEGATIVE)):
        for lo, hi, width in ((0.0, 1 / 3, 1.5), (1 / 3, 2 / 3, 3.5), (2 / 3, 1.01, 6.0)):
            xs: list[float | None] = []
            ys: list[float | None] = []
            for x0, y0, x1, y1, w in edges:
                if (w >= 0) == (sign > 0) and lo <= abs(w) / widest < hi:
                    xs += [x0, x1, None]
                    ys += [y0, y1, None]
            if xs:
                fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines", line={"color": theme.rgba(color, 0.6), "width": width},
                                         hoverinfo="skip", showlegend=False))
    node_x.append(out_x)
    node_y.append(out_y)
    node_text.append(explained_label(res))
    node_color.append(theme.MARKER)
    fig.add_trace(go.Scatter(x=node_x, y=node_y, mode="markers+text", text=node_text, textposition="top center",
                             marker={"size": 12, "color": node_color}, hoverinfo="text", showlegend=False))
    fig.update_layout(
        title=_("Information flow into {what} (direct paths, |share| ≥ {pct:.0%} of the largest)",
                what=explained_label(res), pct=threshold),
        height=max(360, min(1000, 24 * (len(tokens) + max(by_layer.values(), default=0)) + 200)),
        xaxis={"title": _("input tokens → layers → prediction"), "tickmode": "array",
               "tickvals": list(range(n_layers + 2)),
               "ticktext": [_("input")] + [str(i + 1) for i in range(n_layers)] + [_("output")]},
        yaxis={"visible": False})
    return theme.apply(fig), nodes


def patching_heatmap(res: PatchingResult, stack: int = 0) -> go.Figure:
    """Share of the clean answer restored by each patch: [layer, position] (residual), [layer, head] (heads)."""
    if res.what == "residual":
        z = res.restored
        x = [f"{i}:{t}" for i, t in enumerate(res.tokens)]
        y = [_("embeddings")] + [_("before layer {layer}", layer=i + 1) for i in range(1, z.shape[0])]
        xtitle = _("position patched (clean prompt's token)")
    else:
        z = res.restored[stack]
        x = [f"H{h + 1}" for h in range(z.shape[1])]
        y = [_("layer {layer}", layer=i + 1) for i in range(z.shape[0])]
        xtitle = _("head patched")
    fig = go.Figure(go.Heatmap(
        z=z.astype(np.float64), x=x, y=y, colorscale=theme.DIVERGING, zmid=0.0,
        zmin=-max(1.0, float(np.abs(z).max())), zmax=max(1.0, float(np.abs(z).max())),
        colorbar={"title": {"text": theme.signed_title(_("restored"), _("+1 = clean"), _("0 = corrupted"))}},
        hovertemplate=_("%{y}, %{x}<br>restored %{z:.3f}<extra></extra>")))
    fig.update_layout(title=_("Causal tracing: how much of {what} each patch restores", what=explained_label(res)),
                      height=max(300, min(900, 26 * z.shape[0] + 190)),
                      xaxis={"title": xtitle, "tickangle": -60}, yaxis={"title": _("layer"), "autorange": "reversed"})
    return theme.apply(fig)


def patching_bars(res: PatchingResult) -> go.Figure:
    """FFN blocks patched one at a time: share restored per layer."""
    labels = [_("layer {layer}", layer=i + 1) for i in range(res.restored.shape[0])]
    fig = go.Figure(go.Bar(x=labels, y=res.restored, marker_color=[theme.sign_color(float(v)) for v in res.restored],
                           hovertemplate=_("%{x}<br>restored %{y:.3f}<extra></extra>")))
    fig.update_layout(title=_("FFN blocks patched one at a time: share of {what} restored", what=explained_label(res)),
                      xaxis={"title": _("FFN block patched")}, yaxis={"title": _("restored (1 = clean)")})
    return theme.apply(fig)


def ffn_bars(view: FFNView) -> go.Figure:
    """The top neurons' activations and their effects on the explained logit."""
    labels = [f"#{n}" for n in view.neurons]
    fig = go.Figure([
        go.Bar(x=labels, y=view.activations, name=_("activation"), marker_color=theme.CATEGORICAL[0]),
        go.Bar(x=labels, y=view.effects, name=_("effect on logit({token!r})", token=view.target_token.strip()),
               marker_color=[theme.sign_color(float(v)) for v in view.effects]),
    ])
    fig.update_layout(barmode="group",
                      title=_("Layer {layer} FFN at {token!r}: the neurons that fire most", layer=view.layer + 1,
                              token=view.token),
                      xaxis={"title": _("neuron")}, yaxis={"title": _("value")})
    return theme.apply(fig)


def promoted_table(view: FFNView) -> dict[str, Sequence[str]]:
    """Columns of a table: neuron, activation, effect, the tokens its output vector promotes."""
    return {
        _("neuron"): [f"#{n}" for n in view.neurons],
        _("activation"): [f"{a:.3f}" for a in view.activations],
        _("effect"): [f"{e:+.4f}" for e in view.effects],
        _("tokens it promotes"): [" · ".join(t.strip() or t for t in row) for row in view.promoted],
    }
