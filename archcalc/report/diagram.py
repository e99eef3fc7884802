"""Architecture diagrams of a report's layer graph: Graphviz DOT text, or an SVG laid out here.

The SVG needs nothing but the standard library: layers run top to bottom in execution order,
parallel branches stand side by side, and a skip connection that would cross the layers of its own
column is routed in a lane to the right of that column.
"""
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

from ..errors import SpecError
from ..i18n import _
from .tables import shape_text
from ..units import human_bytes, short
from ..analysis.analyzer import INPUT

FORMATS = ("svg", "dot")
SUFFIXES = {".svg": "svg", ".dot": "dot", ".gv": "dot"}

# Fill colours by layer kind (light, so black text stays readable).
COLOURS = {
    "input": "#e0e0e0", "conv": "#cfe2ff", "dense": "#e2d4f7", "pool": "#d1f0d8", "norm": "#ffe8c2",
    "activation": "#f2f2f2", "merge": "#f8d0d0", "reshape": "#fff7c2", "regularization": "#fff7c2",
}

NODE_WIDTH, NODE_HEIGHT = 240, 44
ROW_GAP, COLUMN_GAP, LANE_GAP, MARGIN, TITLE_HEIGHT = 22, 70, 12, 20, 56


def _nodes(report):
    """(name, type, kind, inputs, shape) for the input and every layer, in execution order."""
    yield INPUT, "input", "input", (), report.input_shape
    for r in report.layers:
        yield r.name, r.type, r.kind, tuple(r.inputs), r.output_shape


def to_dot(report):
    """Graphviz DOT text: one box per layer (name, type, output shape), block instances as clusters."""
    def quote(text):
        return '"' + str(text).replace("\\", "\\\\").replace('"', '\\"') + '"'

    lines = [f"digraph {quote(report.model)} {{", "  rankdir=TB;",
             '  node [shape=box, style="rounded,filled", fontname="Helvetica", fontsize=10];']
    clusters = {}
    for name, type_, kind, _inputs, shape in _nodes(report):
        label = f"{name}\\n{type_} {shape_text(shape)}"
        statement = f'{quote(name)} [label="{label}", fillcolor="{COLOURS.get(kind, "#ffffff")}"];'
        clusters.setdefault(name.rpartition(".")[0], []).append(statement)
    for prefix, statements in clusters.items():
        if prefix:
            lines.append(f"  subgraph {quote('cluster_' + prefix)} {{")
            lines.append(f"    label={quote(prefix)}; style=dashed; color=\"#999999\";")
            lines += [f"    {s}" for s in statements]
            lines.append("  }")
        else:
            lines += [f"  {s}" for s in statements]
    for name, _type, _kind, inputs, _shape in _nodes(report):
        for ref in inputs:
            lines.append(f"  {quote(ref)} -> {quote(name)};")
    lines.append("}")
    return "\n".join(lines)


@dataclass
class _Box:
    name: str
    type: str
    kind: str
    shape: tuple
    row: int
    column: int


def layout(report):
    """Place every node: row = longest path from the input; column = its inputs' leftmost when free,
    so that the main path returns to the left after every branch."""
    boxes, taken = {}, set()
    for name, type_, kind, inputs, shape in _nodes(report):
        row = 1 + max((boxes[ref].row for ref in inputs), default=-1)
        column = min((boxes[ref].column for ref in inputs), default=0)
        while (row, column) in taken:
            column += 1
        taken.add((row, column))
        boxes[name] = _Box(name, type_, kind, shape, row, column)
    return boxes


def _lanes(boxes, edges):
    """A lane number (1, 2, ...) for every edge that must bypass nodes of its own column."""
    occupied = {(b.row, b.column) for b in boxes.values()}
    lanes, busy = {}, []      # busy: (column, first_row, last_row, lane)
    for source, target in sorted(edges, key=lambda e: (boxes[e[1]].row - boxes[e[0]].row)):
        a, b = boxes[source], boxes[target]
        if a.column != b.column or not any((row, a.column) in occupied for row in range(a.row + 1, b.row)):
            continue
        lane = 1
        while any(c == a.column and lo < b.row and a.row < hi and ln == lane for c, lo, hi, ln in busy):
            lane += 1
        busy.append((a.column, a.row, b.row, lane))
        lanes[(source, target)] = lane
    return lanes


def to_svg(report):
    """A standalone SVG diagram: one labelled box per layer, arrows for every input, skips routed aside."""
    boxes = layout(report)
    edges = [(ref, name) for name, _, _, inputs, _ in _nodes(report) for ref in inputs]
    lanes = _lanes(boxes, edges)
    max_lane = {}
    for (source, _target), lane in lanes.items():
        column = boxes[source].column
        max_lane[column] = max(max_lane.get(column, 0), lane)
    # Column x positions leave room for the bypass lanes of the column to their left.
    columns = 1 + max(b.column for b in boxes.values())
    lefts, x = [], MARGIN
    for column in range(columns):
        lefts.append(x)
        x += NODE_WIDTH + max(COLUMN_GAP, (max_lane.get(column, 0) + 1) * LANE_GAP + 10)
    rows = 1 + max(b.row for b in boxes.values())
    t = report.totals
    totals = _("{params} params, {macs} MACs, {activations} activations (batch {batch}, {dtype})").format(
        params=short(t.params), macs=short(t.macs), activations=human_bytes(t.activation_bytes), batch=report.batch,
        dtype=report.dtype)

    width = max(x - COLUMN_GAP + MARGIN, 7 * len(totals) + 2 * MARGIN)
    height = TITLE_HEIGHT + rows * (NODE_HEIGHT + ROW_GAP) + MARGIN

    def top(box):
        return TITLE_HEIGHT + box.row * (NODE_HEIGHT + ROW_GAP)

    def centre(box):
        return lefts[box.column] + NODE_WIDTH / 2

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
        f'viewBox="0 0 {width:.0f} {height:.0f}" font-family="Helvetica, Arial, sans-serif">',
        f"<title>{escape(report.model)}</title>",
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" '
        'orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" fill="#555"/></marker></defs>',
        '<rect width="100%" height="100%" fill="white"/>',
        f'<text x="{MARGIN}" y="{MARGIN + 10}" font-size="16" font-weight="bold">{escape(report.model)}</text>',
        f'<text x="{MARGIN}" y="{MARGIN + 28}" font-size="12" fill="#333">{escape(totals)}</text>',
        '<g class="edges" fill="none" stroke="#555" stroke-width="1.3">',
    ]
    inputs = {name: ins for name, _, _, ins, _ in _nodes(report)}
    for source, target in edges:
        a, b = boxes[source], boxes[target]
        # A merge's arrows land side by side on its top edge, in the order of its inputs.
        spread = [ref for ref in inputs[target] if (ref, target) not in lanes]
        offset = (spread.index(source) - (len(spread) - 1) / 2) * 40 if source in spread else 0
        x1, y1, x2, y2 = centre(a), top(a) + NODE_HEIGHT, centre(b) + offset, top(b)
        if (source, target) in lanes:
            right = lefts[a.column] + NODE_WIDTH
            lane_x = right + lanes[(source, target)] * LANE_GAP
            ya, yb = top(a) + NODE_HEIGHT / 2, top(b) + NODE_HEIGHT / 2
            path = f"M {right} {ya} H {lane_x} V {yb} H {right}"
            kind = "skip"
        elif x1 == x2:
            path = f"M {x1} {y1} V {y2}"
            kind = "edge"
        else:
            bend = y2 - ROW_GAP / 2
            path = f"M {x1} {y1} V {bend} L {x2} {y2}" if b.row - a.row > 1 else f"M {x1} {y1} L {x2} {y2}"
            kind = "edge"
        out.append(f'<path class="{kind}" data-from={quoteattr(source)} data-to={quoteattr(target)} '
                   f'd="{path}" marker-end="url(#arrow)"/>')
    out.append("</g>")
    for box in boxes.values():
        x, y = lefts[box.column], top(box)
        fill = COLOURS.get(box.kind, "#ffffff")
        out += [
            f'<g class="node" data-name={quoteattr(box.name)}>',
            f'<rect x="{x}" y="{y}" width="{NODE_WIDTH}" height="{NODE_HEIGHT}" rx="6" fill="{fill}" '
            'stroke="#444" stroke-width="1"/>',
            f'<text x="{x + NODE_WIDTH / 2}" y="{y + 18}" text-anchor="middle" font-size="12" '
            f'font-weight="bold">{escape(_fit(box.name, 34))}</text>',
            f'<text x="{x + NODE_WIDTH / 2}" y="{y + 35}" text-anchor="middle" font-size="11" fill="#333">'
            f"{escape(_fit(f'{box.type} {shape_text(box.shape)}', 38))}</text>",
            "</g>",
        ]
    out.append("</svg>")
    return "\n".join(out)


def _fit(text, limit):
    """Keep a label inside its box: long block paths lose their middle, not their ends."""
    if len(text) <= limit:
        return text
    keep = (limit - 1) // 2
    return text[:keep] + "…" + text[-(limit - 1 - keep):]


def format_of(path):
    """svg or dot from an output file's suffix; svg when there is no file or no suffix."""
    suffix = Path(path).suffix.lower() if path else ""
    if suffix and suffix not in SUFFIXES:
        raise SpecError(_("cannot tell the diagram format of '{path}'").format(path=path),
                        hint=_("end the file name with .svg, .dot or .gv, or give --format; for a picture: "
                               "{command}").format(command="archcalc diagram SPEC --format dot | dot -Tpng -o net.png"))
    return SUFFIXES.get(suffix, "svg")


def render(report, fmt):
    return to_dot(report) if fmt == "dot" else to_svg(report)
