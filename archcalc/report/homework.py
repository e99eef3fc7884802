"""Text for homework mode (explain, compare, check, calc). Numbers are computed elsewhere."""
from ..i18n import N_, _
from ..layers.base import COUNTS
from .grid import width as text_width
from .tables import _csv, _tabulate, heading, to_json
from ..units import count_text, grouped, human_bytes
from ..layers.shapes import to_layout

MAX_SUM_TERMS = 12      # longer sums are shown as their total only


def shape_x(shape, layout=None):
    """(96, 55, 55) channels-first -> "55×55×96" in a channels_last spec; shapes already in layout if layout is None.
    A size that is not a whole number (a student's unrounded answer, a Fraction) shows as a decimal."""
    return "×".join(str(d) if isinstance(d, int) else f"{float(d):g}"
                    for d in (to_layout(shape, layout) if layout else shape))


def value_text(result, layout):
    return shape_x(result, layout) if isinstance(result, tuple) else grouped(result)


def step_text(step, layout, bold=False):
    """`params = (F·F·C_in + 1)·K = (11·11·3 + 1)·96 = 34,944`; uneven sizes show the exact value first."""
    result = value_text(step.result, layout)
    result = f"**{result}**" if bold else result
    if step.exact:
        result = f"{step.exact} ⇒ {result}"
    parts = [quantity_text(step.quantity)] + [p for p in (step.formula, step.substituted) if p] + [result]
    return " = ".join(parts)


QUANTITIES = {"params": N_("params"), "weights": N_("weights"), "output": N_("output"),
              "attention FLOPs": N_("attention FLOPs"), "kept (flash)": N_("kept (flash)"),
              "kept (naive)": N_("kept (naive)"), "training FLOPs": N_("training FLOPs")}


def quantity_text(quantity):
    """A step's quantity as shown: "params" in the active language; symbols (O_h, MACs, r) as they are."""
    return _(QUANTITIES[quantity]) if quantity in QUANTITIES else quantity


def arrow_index(steps):
    """The step that gets `→ output shape`: the last size step before the counts, unless it shows the shape itself."""
    first_count = next((i for i, s in enumerate(steps) if s.quantity in COUNTS), len(steps))
    sizes = [i for i, s in enumerate(steps[:first_count]) if s.quantity not in COUNTS]   # not steps after the counts
    if not sizes or isinstance(steps[sizes[-1]].result, tuple):
        return None
    return sizes[-1]


def explanation(exp, fmt="text"):
    """The worked arithmetic of every explained layer, as aligned text or Markdown."""
    layout = exp.layout
    markdown = fmt == "markdown"
    shown = shape_x(exp.input_shape) + (f" ({layout})" if len(exp.input_shape) > 1 else "")
    lines = [heading(_("{model}: worked arithmetic").format(model=exp.model), fmt),
             _("input {shape}; counts for one example").format(shape=shown), ""]
    width = max((len(layer.name) for layer in exp.layers), default=0) + 2
    for layer in exp.layers:
        arrow = arrow_index(layer.steps)
        shape = shape_x(layer.output_shape)
        if markdown:
            lines.append(f"### {layer.name} ({layer.type})")
        for i, step in enumerate(layer.steps):
            text = step_text(step, layout, bold=markdown)
            if i == arrow:
                text += f"  →  {shape}"
            inline = step.note and not step.formula and not step.substituted
            if inline:
                text += f" ({step.note})"
            if markdown:
                lines.append(f"- {text}" + (f"  \n  *{step.note}*" if step.note and not inline else ""))
                continue
            label = f"{layer.name}" if i == 0 else ""
            lines.append(f"{label:<{width}}{text}")
            if step.note and not inline:
                lines.append(f"{'':<{width}}  ↳ {step.note}")
        for i, step in enumerate(layer.field_steps):
            text = " = ".join((step.quantity, step.formula, step.substituted, str(step.result)))
            text += "  (" + _("receptive field") + ")" if i == 0 else ""
            lines.append(f"- {text}" if markdown else f"{'':<{width}}{text}")
        for warning in layer.warnings:
            if not any(s.exact for s in layer.steps):      # uneven sizes already explained in their step
                lines.append(f"- ⚠ {warning}" if markdown else f"{'':<{width}}  ⚠ {warning}")
        lines.append("")
    if len(exp.layers) > 1:
        lines.append(total_params_text(exp))
    return "\n".join(lines).rstrip("\n")


def total_params_text(exp):
    terms = [layer.result("params") for layer in exp.layers if layer.result("params")]
    if 1 < len(terms) <= MAX_SUM_TERMS:
        return _("Total params = {sum} = {total}").format(sum=" + ".join(grouped(t) for t in terms),
                                                          total=grouped(exp.total_params))
    return _("Total params = {total} ({layers} layers with parameters)").format(total=grouped(exp.total_params),
                                                                               layers=len(terms))


# ---- compare

# What each checked quantity and each kind of partial credit is called (homework.check grades; this says it).
LABELS = {"output_shape": N_("output shape"), "params": N_("params"), "trainable_params": N_("trainable params"),
          "non_trainable_params": N_("non-trainable params"), "macs": "MACs", "flops": "FLOPs",
          "receptive_field": N_("receptive field"), "pool_output": N_("pooled output"),
          "pool_mask": N_("max-pool backward mask")}
# Partial credit, for a wrong answer whose diagnosis shows the method was right (whole phrases, translatable).
CREDITS = {
    "rounding": N_("right count, wrong rounding"),
    "units": N_("right count, wrong units"),
    "arithmetic": N_("right formula, wrong arithmetic"),
    "carried": N_("right method on an input carried over from an earlier answer"),
    "order": N_("right sizes, in the other order"),
}

COMPARE_LABELS = {
    "params": N_("Total params"), "trainable_params": N_("Trainable params"), "macs": "MACs", "flops": "FLOPs",
    "param_bytes": N_("Parameter memory"), "activation_bytes": N_("Activation memory"),
    "depth": N_("Depth (conv + dense)"), "layers": N_("Layers"),
}


# the layer kinds (layers.base.Kind values) in the words of a course
KIND_LABELS = {"conv": N_("conv"), "dense": N_("dense"), "pool": N_("pool"), "norm": N_("norm"),
               "activation": N_("activation"), "merge": N_("merge"), "reshape": N_("reshape"),
               "regularization": N_("regularization"), "attention": N_("attention"),
               "embedding": N_("embedding"), "recurrent": N_("recurrent"), "other": N_("other")}


def compare_value(metric, value):
    if metric.endswith("bytes"):
        return human_bytes(value)
    if metric in ("depth", "layers"):
        return str(value)
    return count_text(value) if value >= 1000 else grouped(value)


def percent(fraction):
    return "-" if fraction is None else f"{100 * fraction:.1f}%"


def ratio(fraction):
    """A share below 2 as a percentage (22.9%), a larger one as a multiple (153×)."""
    if fraction is None or fraction < 2:
        return percent(fraction)
    return f"{fraction:.3g}×" if fraction < 1000 else f"{fraction:,.0f}×"


def comparison_rows(data):
    """One row per metric: its label, then each model's value, the later ones with [their ratio to the first]."""
    rows = []
    for metric in data["metrics"]:
        row = [_(COMPARE_LABELS[metric])]
        for i, m in enumerate(data["models"]):
            cell = compare_value(metric, m["totals"][metric])
            row.append(cell if i == 0 else f"{cell} [{ratio(m['ratios'][metric])}]")
        rows.append(row)
    return rows


def comparison(data, fmt="table"):
    """Side-by-side totals, ratios to the first model, and the breakdown by layer kind."""
    if fmt == "json":
        return to_json(data)
    models = data["models"]
    if fmt == "csv":
        rows = []
        for m in models:
            rows += [[m["name"], "totals", metric, value, m["ratios"][metric], ""]
                     for metric, value in m["totals"].items()]
            for kind, part in m["by_kind"].items():
                rows += [[m["name"], kind, q, part[q], "", part[f"{q}_share"]] for q in ("params", "flops")]
        return _csv(rows, ["model", "group", "metric", "value", "ratio_to_first", "share_of_model"])
    names = [m["name"] for m in models]
    rows = comparison_rows(data)
    lines = [heading(" vs ".join(names), fmt), "", _tabulate(rows, [""] + names, fmt), ""]
    if len(models) > 1:
        lines.append(_("[ ] = as a share or multiple of {first}'s value.").format(first=names[0]))
        first = models[0]
        sentences = {("params", True): N_("{model} has {share} {first}'s parameters: {value}/{first_value}"),
                     ("params", False): N_("{model} has {share} of {first}'s parameters: {value}/{first_value}"),
                     ("flops", True): N_("{model} has {share} {first}'s FLOPs: {value}/{first_value}"),
                     ("flops", False): N_("{model} has {share} of {first}'s FLOPs: {value}/{first_value}")}
        for m in models[1:]:
            for metric in ("params", "flops"):
                share = ratio(m["ratios"][metric])
                lines.append(_(sentences[metric, share.endswith("×")]).format(
                    model=m["name"], share=share, first=first["name"], value=grouped(m["totals"][metric]),
                    first_value=grouped(first["totals"][metric])))
        lines.append("")
    kinds = data["kinds"]
    rows = [[kind] + [f"{percent(m['by_kind'][kind]['params_share'])} / {percent(m['by_kind'][kind]['flops_share'])}"
                      if kind in m["by_kind"] else "-" for m in models] for kind in kinds]
    rows = [[_(KIND_LABELS[row[0]]) if row[0] in KIND_LABELS else row[0]] + row[1:] for row in rows]
    lines += [heading(_("By layer kind (share of params / share of FLOPs)"), fmt), "",
              _tabulate(rows, [_("kind")] + names, fmt)]
    return "\n".join(lines)


# ---- check

def check_report(result, fmt="text"):
    """Each answer ✓ or ✗, the correct value, the worked formula and, for a wrong one, the diagnosis."""
    if fmt == "json":
        from dataclasses import asdict
        return to_json({"model": result.model, "file": result.file, "source": result.source, "ok": result.ok,
                        "score": float(result.score), "verdicts": [asdict(v) for v in result.verdicts]})
    markdown = fmt == "markdown"
    if result.file:
        title = _("{model}: checking {file} ({source})").format(model=result.model, file=result.file,
                                                                 source=result.source)
    else:
        title = _("{model}: checking {source} answers").format(model=result.model, source=result.source)
    lines = [heading(title, fmt), ""]
    total = _("total")
    labels = [(v.layer or total) + " " + _(LABELS[v.quantity]) for v in result.verdicts]
    diagnosis, partial_credit = _("diagnosis"), _("partial credit")
    width = max(map(text_width, labels), default=0)
    for verdict, label in zip(result.verdicts, labels):
        mark = "✓" if verdict.ok else "✗"
        value = verdict.given if verdict.ok else _("{given}, correct: {correct}").format(given=verdict.given,
                                                                                         correct=verdict.correct)
        if verdict.ok and verdict.given.replace(",", "") != verdict.correct.replace(",", ""):
            value += f" ({verdict.correct})"
        if markdown:
            lines.append(f"- {mark} **{label}**: {value}")
            details = [f"`{w}`" for w in verdict.working]
            details += [f"**{diagnosis}**: {verdict.diagnosis}"] if verdict.diagnosis else []
            details += [f"**{partial_credit}**: {_(CREDITS[verdict.credit])}"] if verdict.credit else []
            lines += [f"  - {d}" for d in details]
            continue
        pad = " " * (width - text_width(label))
        where = _("line {line}").format(line=verdict.line)
        lines.append(f"{mark} {label}{pad}  {value}  ({where})")
        lines += [f"    {w}" for w in verdict.working]
        if verdict.diagnosis:
            lines.append(f"    {diagnosis}: {verdict.diagnosis}")
        if verdict.credit:
            lines.append(f"    {partial_credit}: " + _(CREDITS[verdict.credit]))
    right = sum(v.ok for v in result.verdicts)
    lines += ["", _("{right} of {count} answers right.").format(right=right, count=len(result.verdicts))]
    partial = sum(1 for v in result.verdicts if v.credit and not v.ok)
    if partial:
        lines.append(_("{partial} more half right: score {score} of {count}.").format(
            partial=partial, score=f"{float(result.score):g}", count=len(result.verdicts)))
    return "\n".join(lines)


# ---- calc

def matrix_text(matrix, indent="  "):
    """Rows of numbers in right-aligned columns; integers without a decimal point."""
    cells = [[f"{value:g}" for value in row] for row in matrix.tolist()]
    width = max(len(c) for row in cells for c in row)
    return "\n".join(indent + " ".join(c.rjust(width) for c in row) for row in cells)


def size_lines(exp):
    """The output-size steps of a one-layer explanation, with the arrow to its shape."""
    layer = exp.layers[0]
    steps = [s for s in layer.steps if s.quantity not in COUNTS]
    lines = [step_text(s, exp.layout) for s in steps]
    lines[-1] += f"  →  {shape_x(layer.output_shape)}"
    lines += [f"  ↳ {s.note}" for s in steps if s.note]
    return lines


def numeric(title, exp, blocks):
    """`calc conv/pool --matrix`: the size arithmetic, then each (label, matrix) block."""
    lines = [title, *size_lines(exp)]
    for label, matrix in blocks:
        lines += ["", f"{label}:", matrix_text(matrix)]
    return "\n".join(lines)
