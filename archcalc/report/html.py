"""HTML for reports: fragments for Jupyter (`_repr_html_`) and the playground, and self-contained pages
for `--format html`. Numbers are computed elsewhere; every text that reaches the markup is escaped.

A page holds its CSS, its diagram (inline SVG) and its charts (base64 images from report.plots, when
matplotlib is installed) in itself: it makes no request when opened.
"""
import base64
import tempfile
from html import escape
from pathlib import Path

from ..i18n import _
from ..version import __version__
from ..layers.base import COUNTS
from ..layers.shapes import CHANNELS_FIRST
from .tables import rf_text, shape_text
from ..units import bytes_text, count_text, grouped, human_bytes, short

CSS = """
.archcalc{font-family:system-ui,-apple-system,"Segoe UI",Helvetica,Arial,sans-serif;font-size:13px;color:#1d2430}
.archcalc h2,.archcalc h3,.archcalc h4{margin:.7em 0 .35em;font-weight:600}
.archcalc table{border-collapse:collapse;margin:.3em 0 .8em}
.archcalc th,.archcalc td{padding:3px 9px;border-bottom:1px solid #e3e6ea;text-align:left;white-space:nowrap}
.archcalc th{background:#f3f5f8;font-weight:600;border-bottom:1px solid #c9ced6}
.archcalc td.num,.archcalc th.num{text-align:right;font-variant-numeric:tabular-nums}
.archcalc tr.layer:hover td{background:#eef4ff}
.archcalc tr.selected td{background:#dbe8ff}
.archcalc .kind{display:inline-block;width:.7em;height:.7em;border-radius:2px;margin-right:.4em;
  vertical-align:baseline;border:1px solid #8a93a0}
.archcalc .totals td:first-child{color:#4a5361}
.archcalc .warnings{background:#fff8e1;border-left:3px solid #f0b400;padding:.4em .8em;margin:.4em 0}
.archcalc .warnings li{margin:.15em 0}
.archcalc .ok{color:#1a7f37;font-weight:600}.archcalc .bad{color:#c62828;font-weight:600}
.archcalc code,.archcalc .step{font-family:ui-monospace,"SFMono-Regular",Menlo,Consolas,monospace;font-size:12px}
.archcalc .step{margin:.15em 0}.archcalc .note{color:#5b6470;margin:0 0 .2em 1.2em;font-size:12px}
.archcalc .muted{color:#6b7380}
.archcalc details{margin:.4em 0}.archcalc summary{cursor:pointer;color:#2b5fb4}
.archcalc .diagram svg{max-width:100%;height:auto}
.archcalc img.chart{max-width:100%}
.archcalc table.breakdown td:last-child{white-space:normal}
.archcalc .columns{display:flex;flex-wrap:wrap;gap:28px;align-items:flex-start}
"""

PAGE = """<!doctype html>
<html lang="{lang}"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="archcalc {version}">
<title>{title}</title>
<style>body{{margin:24px auto;max-width:1200px;padding:0 16px}}{css}</style>
</head><body><div class="archcalc">
{body}
<p class="muted">{footer}</p>
</div></body></html>
"""

KIND_FILL = {
    "conv": "#cfe2ff", "dense": "#e2d4f7", "pool": "#d1f0d8", "norm": "#ffe8c2", "activation": "#f2f2f2",
    "merge": "#f8d0d0", "reshape": "#fff7c2", "regularization": "#fff7c2",
}


def page(title, body):
    """A whole HTML document around `body` (a fragment from this module): CSS inline, no external request."""
    from ..i18n import language
    footer = escape(_("Written by archcalc {version}: computed statically from the spec.").format(version=__version__))
    return PAGE.format(version=__version__, title=escape(title), css=CSS, body=body, lang=language(), footer=footer)


def fragment(body):
    """A fragment for a notebook cell: its own scoped style, so it looks the same in any front end."""
    return f'<div class="archcalc"><style>{CSS}</style>{body}</div>'


def table(headers, rows, numeric=(), row_attrs=None, cls=""):
    """An escaped <table>: `numeric` are the column indices aligned right; `row_attrs[i]` extra attributes
    (already escaped) of row i. A cell given as ("html", markup) is inserted as markup."""
    def cell(tag, value, i):
        align = ' class="num"' if i in numeric else ""
        if isinstance(value, tuple) and value and value[0] == "html":
            return f"<{tag}{align}>{value[1]}</{tag}>"
        return f"<{tag}{align}>{escape(str(value))}</{tag}>"
    head = "".join(cell("th", h, i) for i, h in enumerate(headers))
    body = []
    for r, row in enumerate(rows):
        attrs = row_attrs[r] if row_attrs else ""
        body.append(f"<tr{attrs}>" + "".join(cell("td", v, i) for i, v in enumerate(row)) + "</tr>")
    klass = f' class="{cls}"' if cls else ""
    return f"<table{klass}><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def definition_table(items, cls="totals"):
    return table(["", ""], items, numeric=(1,), cls=cls).replace("<thead><tr><th></th><th class=\"num\"></th>"
                                                                 "</tr></thead>", "")


def svg_image(svg_text, alt):
    """An SVG as a base64 <img>: its ids cannot clash with another drawing's on the same page."""
    data = base64.b64encode(svg_text.encode("utf-8")).decode("ascii")
    return f'<img class="chart" alt="{escape(alt)}" src="data:image/svg+xml;base64,{data}">'


def chart(draw, *args):
    """A matplotlib chart from report.plots as a base64 SVG <img>, or None without matplotlib.
    The figure is written in a private temporary folder, read back, and the folder removed."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return None
    with tempfile.TemporaryDirectory(prefix="archcalc-") as folder:
        path = Path(folder) / "chart.svg"
        draw(*args, path)
        return svg_image(path.read_text(encoding="utf-8"), "chart")


# ---- summarize

def summary_title(report):
    layout = "" if report.layout == CHANNELS_FIRST else f", {report.layout}"
    return f"{report.model}: input {shape_text(report.input_shape)}{layout}, batch {report.batch}, {report.dtype}"


def kind_mark(kind, label=None):
    """A cell: the kind's colour (as in the diagram), then `label` (the kind itself by default)."""
    return ("html", f'<span class="kind" title="{escape(kind)}" style="background:{KIND_FILL.get(kind, "#ffffff")}">'
                    f"</span>{escape(label or kind)}")


def layer_table(report, rf=False, train=False):
    """The per-layer table; each row carries data-layer (its name) and data-line (its spec line)."""
    flops_title = "FLOPs" if report.convention == "archcalc" else f"FLOPs ({report.convention})"
    headers = ([_("Layer"), _("Type"), _("Output shape"), _("Params"), "MACs", flops_title]
               + ([_("Backward FLOPs (torch)")] if train else []) + [_("Activations")] + ([_("RF")] if rf else []))
    rows, attrs = [], []
    for r in report.layers:
        params = grouped(r.params) + ("" if r.trainable_params == r.params else " " + _("(frozen)"))
        rows.append([r.name, kind_mark(r.kind, r.type), shape_text(r.output_shape), params, short(r.macs),
                     short(r.flops)] + ([short(r.torch_backward_flops)] if train else [])
                    + [human_bytes(r.activation_bytes)] + ([rf_text(r.receptive_field)] if rf else []))
        attrs.append(f' class="layer" data-layer="{escape(r.name)}" data-line="{r.line or ""}"'
                     f' title="{escape(grouped(r.macs))} MACs, {escape(grouped(r.flops))} FLOPs"')
    numeric = set(range(3, len(headers) - (1 if rf else 0)))
    return table(headers, rows, numeric=numeric, row_attrs=attrs, cls="layers")


def totals_items(report, train=False):
    t = report.totals
    keras = " " + _("(Keras view)") if report.keras else ""
    convention = _("{convention} convention").format(convention=report.convention)
    items = [(_("Total params"), count_text(t.params) + keras), (_("Trainable params"), grouped(t.trainable_params)),
             (_("Non-trainable params"), grouped(t.non_trainable_params)), (_("Buffers"), grouped(t.buffers)),
             ("MACs", count_text(t.macs)), (f"FLOPs ({convention})", count_text(t.flops)),
             (_("Parameter memory"), bytes_text(t.param_bytes)),
             (_("Activation memory (sum of layer outputs)"), bytes_text(t.activation_bytes))]
    if train:
        items[6:6] = [(_("Forward FLOPs (torch)"), count_text(t.torch_flops)),
                      (_("Backward FLOPs (torch)"), count_text(t.torch_backward_flops))]
    return items


def warnings_list(warnings):
    if not warnings:
        return ""
    items = []
    for w in warnings:
        where = " (" + _("line {line}").format(line=w["line"]) + ")" if w.get("line") else ""
        items.append(f"<li><b>{escape(w['layer'])}</b>{where}: {escape(w['message'])}</li>")
    items = "".join(items)
    return f'<div class="warnings"><b>{escape(_("Warnings"))}</b><ul>{items}</ul></div>'


def summary_body(report, rf=False, train=False):
    """Title, per-layer table, totals and warnings."""
    return (f"<h3>{escape(summary_title(report))}</h3>" + layer_table(report, rf, train)
            + definition_table(totals_items(report, train)) + warnings_list(report.warnings))


def diagram(report):
    from .diagram import to_svg
    return f'<div class="diagram">{to_svg(report)}</div>'


def summary_fragment(report):
    """A Report in a notebook: the table, totals and warnings, the diagram folded under them."""
    return fragment(summary_body(report) + f"<details><summary>Diagram</summary>{diagram(report)}</details>")


def summary_page(report, rf=False, train=False):
    """`archcalc summarize --format html`: one self-contained file."""
    from .plots import plot_layers
    charts = chart(plot_layers, report)
    drawing, per_layer = escape(_("Diagram")), escape(_("Per-layer charts"))
    body = (f'<div class="columns"><div>{summary_body(report, rf, train)}</div>'
            f"<div><h3>{drawing}</h3>{diagram(report)}</div></div>"
            + (f"<h3>{per_layer}</h3>" + charts if charts else
               '<p class="muted">Charts need matplotlib: pip install \'archcalc[plot]\'.</p>'))
    return page(f"{report.model}: archcalc summary", body)


# ---- memory

def memory_title(result):
    training = result.mode == "training"
    how = (_("training step, {optimizer}").format(optimizer=result.optimizer)
           + (", " + _("mixed precision") if result.mixed_precision else "")
           if training else _("inference")) + (_(", in-place activations") if result.inplace else "")
    return _("{model}: memory, {how}, batch {batch}, {dtype}").format(
        model=result.model, how=how, batch=result.batch, dtype=result.dtype) + (
        _(", CUDA allocator") if result.device == "cuda" else "")


def breakdown_chart(result):
    """Horizontal bars, one per breakdown component, scaled to the largest (drawing only)."""
    parts = [(_(name), n) for name, n, _how in result.breakdown]
    largest = max((n for _, n in parts), default=0) or 1
    row, label_w, bar_w = 22, 190, 360
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{label_w + bar_w + 110}" height="{row * len(parts) + 8}"'
           ' font-family="system-ui, Helvetica, Arial, sans-serif" font-size="12" class="breakdown">']
    for i, (name, n) in enumerate(parts):
        y = 4 + i * row
        width = max(1, round(bar_w * n / largest)) if n else 0
        out.append(f'<text x="{label_w - 8}" y="{y + 14}" text-anchor="end">{escape(name)}</text>'
                   f'<rect x="{label_w}" y="{y + 3}" width="{width}" height="{row - 8}" rx="2" fill="#6c9bd2"/>'
                   f'<text x="{label_w + width + 6}" y="{y + 14}" fill="#333">{escape(human_bytes(n))}</text>')
    out.append("</svg>")
    return "".join(out)


def memory_body(result):
    training = result.mode == "training"
    columns = ([("name", _("Layer")), ("type", _("Type")), ("output_bytes", _("New output"))]
               + ([("saved_bytes", _("Saved for backward")), ("param_bytes", _("Params")), ("grad_bytes", _("Grads")),
                   ("optimizer_bytes", _("Optimizer state"))] if training
                  else [("live_bytes", _("Live activations")), ("param_bytes", _("Params"))]))
    rows = [[getattr(layer, key) if key in ("name", "type") else human_bytes(getattr(layer, key))
             for key, _ in columns] for layer in result.layers]
    attrs = [f' class="layer" data-layer="{escape(layer.name)}"' for layer in result.layers]
    peak = [(_("Peak memory"), bytes_text(result.peak_bytes)),
            (_("Sum of all layer outputs (textbook, nothing freed)"), bytes_text(result.outputs_bytes))]
    if training:
        peak.append((_("Saved for backward"), bytes_text(result.saved_bytes)))
    else:
        peak.append((_("Activations at the liveness peak ({layer})").format(layer=result.peak_activation_layer),
                     bytes_text(result.peak_activation_bytes)))
    verdict = ""
    if result.budget is not None:
        mark = ('<span class="ok">' + escape(_("fits")) + '</span>' if result.fits else
                '<span class="bad">' + escape(_("does NOT fit")) + '</span>')
        verdict = ('<p class="budget">' + _("Budget {budget}: batch {batch} {verdict}; largest batch that fits: "
                                             "{largest}").format(budget=escape(human_bytes(result.budget)),
                                                                 batch=result.batch, verdict=mark,
                                                                 largest=f"<b>{escape(str(result.max_batch))}</b>")
                   + "</p>")
    breakdown = table([_("Component"), _("Bytes"), _("How it is counted")],
                      [[_(name), bytes_text(n), how] for name, n, how in result.breakdown], numeric=(1,),
                      cls="breakdown")
    notes = ("<ul class=\"notes\">" + "".join(f"<li>{escape(note)}</li>" for note in result.notes) + "</ul>"
             if getattr(result, "notes", None) else "")      # rules that apply to this spec, in words
    return (f"<h3>{escape(memory_title(result))}</h3>" + verdict + definition_table(peak)
            + breakdown_chart(result) + breakdown + notes
            + table([t for _, t in columns], rows, numeric=set(range(2, len(columns))), row_attrs=attrs,
                    cls="layers"))


def memory_page(result):
    return page(f"{result.model}: archcalc memory", memory_body(result))


# ---- compare

def comparison_body(data):
    from .homework import comparison_rows, percent
    models = data["models"]
    names = [m["name"] for m in models]
    rows = comparison_rows(data)
    body = f"<h3>{escape(' vs '.join(names))}</h3>" + table([""] + names, rows, numeric=set(range(1, len(names) + 1)))
    if len(models) > 1:
        note = _("[ ] = as a share or multiple of {first}'s value.").format(first=names[0])
        body += f'<p class="muted">{escape(note)}</p>'
    from .homework import KIND_LABELS
    kinds = data["kinds"]
    kind_rows = [[kind_mark(kind, _(KIND_LABELS[kind]) if kind in KIND_LABELS else None)] + [f"{percent(m['by_kind'][kind]['params_share'])} / "
                                      f"{percent(m['by_kind'][kind]['flops_share'])}"
                                      if kind in m["by_kind"] else "-" for m in models] for kind in kinds]
    heading = escape(_("By layer kind (share of params / share of FLOPs)"))
    body += f"<h4>{heading}</h4>" + table(
        [_("kind")] + names, kind_rows, numeric=set(range(1, len(names) + 1)))
    return body


def comparison_page(data, reports=None):
    """`archcalc compare --format html`; with the reports, the MACs-against-params chart too."""
    body = comparison_body(data)
    if reports:
        from .plots import plot_comparison
        charts = chart(plot_comparison, reports)
        heading = escape(_("Compute against size"))
        body += f"<h3>{heading}</h3>" + charts if charts else ""
    return page(" vs ".join(m["name"] for m in data["models"]) + ": archcalc comparison", body)


# ---- check

def check_body(result):
    from .homework import CREDITS, LABELS
    if result.file:
        title = _("{model}: checking {file} ({source})").format(model=result.model, file=result.file,
                                                                 source=result.source)
    else:
        title = _("{model}: checking {source} answers").format(model=result.model, source=result.source)
    diagnosis, partial_credit, total = escape(_("diagnosis")), escape(_("partial credit")), _("total")
    rows = []
    for v in result.verdicts:
        mark = ("html", '<span class="ok">✓</span>' if v.ok else '<span class="bad">✗</span>')
        working = ("html", "<br>".join(f"<code>{escape(w)}</code>" for w in v.working)
                   + (f"<br><b>{diagnosis}:</b> {escape(v.diagnosis)}" if v.diagnosis else "")
                   + (f"<br><b>{partial_credit}:</b> {escape(_(CREDITS[v.credit]))}" if v.credit else ""))
        rows.append([mark, (v.layer or total) + " " + _(LABELS[v.quantity]), v.given, v.correct, working])
    right = sum(v.ok for v in result.verdicts)
    score = _("{right} of {count} answers right.").format(right=right, count=len(result.verdicts))
    return (f"<h3>{escape(title)}</h3>"
            + table(["", _("Answer"), _("Given"), _("Correct"), _("Working")], rows)
            + f"<p><b>{escape(score)}</b></p>")


def check_page(result):
    return page(f"{result.model}: archcalc check", check_body(result))


# ---- explain

def explanation_body(exp):
    from .homework import arrow_index, shape_x, step_text, total_params_text
    heading = escape(_("{model}: worked arithmetic").format(model=exp.model))
    parts = [f"<h3>{heading}</h3>"]
    for layer in exp.layers:
        arrow = arrow_index(layer.steps)
        parts.append(f'<div class="explained" data-layer="{escape(layer.name)}">'
                     f"<h4>{escape(layer.name)} <span class=\"muted\">({escape(layer.type)})</span></h4>")
        for i, step in enumerate(layer.steps):
            text = step_text(step, exp.layout)
            if i == arrow:
                text += f"  →  {shape_x(layer.output_shape)}"
            count = " count" if step.quantity in COUNTS else ""
            parts.append(f'<div class="step{count}">{escape(text)}</div>')
            if step.note:
                parts.append(f'<div class="note">↳ {escape(step.note)}</div>')
        for i, step in enumerate(layer.field_steps):
            text = " = ".join((step.quantity, step.formula, step.substituted, str(step.result)))
            label = escape(_("receptive field"))
            parts.append(f'<div class="step field">{escape(text)}'
                         f'{f" <span class=muted>({label})</span>" if i == 0 else ""}</div>')
        parts += [f'<div class="warnings">⚠ {escape(w)}</div>' for w in layer.warnings]
        parts.append("</div>")
    if len(exp.layers) > 1:
        parts.append(f"<p><b>{escape(total_params_text(exp))}</b></p>")
    return "".join(parts)


def explanation_page(exp):
    return page(f"{exp.model}: archcalc explain", explanation_body(exp))


# ---- zoo and conventions (the other commands with --format)

def zoo_page(rows):
    from .tables import short_source
    body = "<h3>Built-in specs, batch 1, fp32</h3>" + table(
        ["Spec", "Input", "Depth", "Params", "MACs", "Activations", "Source"],
        [[r["name"], "×".join(map(str, r["input"])), r["depth"], grouped(r["params"]), short(r["macs"]),
          human_bytes(r["activation_bytes"]), short_source(r["source"])] for r in rows], numeric=(2, 3, 4, 5))
    return page("archcalc zoo", body)


def conventions_page(comparison):
    kinds = comparison["kinds"]
    from .tables import rule_text
    rows = [[r["name"], count_text(r["total"]), _(r["unit"])] + [short(r["by_kind"][k]) for k in kinds]
            for r in comparison["conventions"]]
    rules = [[t] + [rule_text(comparison["rules"][t][r["name"]]) for r in comparison["conventions"]]
             for t in comparison["rules"]]

    title = _("{model}: FLOPs as each tool counts them, batch {batch}").format(model=comparison['model'],
                                                                               batch=comparison['batch'])
    body = (f"<h3>{escape(title)}</h3>"

            + table([_("Convention"), _("Total"), _("Tool calls it")] + kinds, rows,
                    numeric=set(range(3, 3 + len(kinds))) | {1})
            + "<ul>" + "".join(f"<li><b>{escape(r['name'])}</b> ({escape(_(r['tool']))}): {escape(_(r['includes']))}</li>"
                               for r in comparison["conventions"]) + "</ul>"
            + "<h4>" + escape(_("Rule per layer type (per sample)")) + "</h4>"
            + table([_("Layer type")] + [r["name"] for r in comparison["conventions"]], rules))
    return page(f"{comparison['model']}: archcalc conventions", body)


# ---- what the analysis reports' _repr_html_ / _repr_markdown_ call (the homework results have their own)

def repr_html(obj):
    """Rich notebook output for a Report or a MemoryReport (archcalc/__init__ wires it)."""
    from ..analysis.memory import MemoryReport
    return fragment(memory_body(obj)) if isinstance(obj, MemoryReport) else summary_fragment(obj)


def repr_markdown(obj):
    from ..analysis.memory import MemoryReport
    from . import tables
    return tables.memory_report(obj, "markdown") if isinstance(obj, MemoryReport) else tables.summary(obj, "markdown")
