"""Turn reports into text: tables (tabulate's layouts), Markdown, CSV and JSON. Numbers are computed elsewhere."""
import io

from ..i18n import N_, _
from ..units import bytes_text, count_text, grouped, human_bytes, short

FORMATS = ("table", "markdown", "csv", "json", "html")


def to_json(data):
    import json  # only when asked for: keeps the table path's start-up light
    return json.dumps(data, indent=2)


def heading(title, fmt):
    """A table's title line: a Markdown heading in markdown, the plain title otherwise."""
    return f"## {title}" if fmt == "markdown" else title


def shape_text(shape):
    return "(" + ", ".join(str(d) for d in shape) + ")"


def _tabulate(rows, headers, fmt, colalign=None):
    from .grid import table
    return table(rows, headers, {"table": "simple", "markdown": "github"}[fmt], colalign)


def _csv(rows, headers):
    import csv  # only when asked for, like json
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(headers)
    writer.writerows(rows)
    return buffer.getvalue().rstrip("\n")


def wrap_lines(text, width, indent="  "):
    """One long line of prose as lines of at most `width` characters (None: as it is), later lines indented."""
    if width is None or len(text) <= width:
        return [text]
    import textwrap
    return textwrap.wrap(text, width, subsequent_indent=indent, break_long_words=False, break_on_hyphens=False)


def summary(report, fmt="table", rf=False, train=False, width=None):
    """The per-layer table, the totals and the warnings of one report; `train` adds backward FLOPs.
    `width` (a table only): fit the table and wrap the warnings to that many characters."""
    if fmt == "json":
        return to_json(report.to_dict())
    if fmt == "csv":
        headers = ["name", "type", "output_shape", "params", "trainable_params", "buffers", "macs", "flops",
                   "activation_bytes"] + (["torch_backward_flops"] if train else [])
        headers += ["receptive_field"] if rf else []
        rows = [[r.name, r.type, "x".join(map(str, r.output_shape)), r.params, r.trainable_params, r.buffers,
                 r.macs, r.flops, r.activation_bytes] + ([r.torch_backward_flops] if train else [])
                + ([rf_text(r.receptive_field)] if rf else [])
                for r in report.layers]
        return _csv(rows, headers)
    flops_title = "FLOPs" if report.convention == "archcalc" else f"FLOPs ({report.convention})"
    headers = ([_("Layer"), _("Type"), _("Output shape"), _("Params"), "MACs", flops_title]
               + ([_("Backward FLOPs (torch)")] if train else []) + [_("Activations")] + ([_("RF")] if rf else []))
    rows = []
    for r in report.layers:
        params = grouped(r.params) + ("" if r.trainable_params == r.params else " " + _("(frozen)"))
        rows.append([r.name, r.type, shape_text(r.output_shape), params, short(r.macs), short(r.flops)]
                    + ([short(r.torch_backward_flops)] if train else [])
                    + [human_bytes(r.activation_bytes)] + ([rf_text(r.receptive_field)] if rf else []))
    align = (["left", "left", "left", "right", "right", "right"] + (["right"] if train else []) + ["right"]
             + (["left"] if rf else []))
    layout = f", {report.layout}" if len(report.input_shape) == 3 else ""
    title = _("{model}: input {shape}{layout}, batch {batch}, {dtype}").format(
        model=report.model, shape=shape_text(report.input_shape), layout=layout, batch=report.batch, dtype=report.dtype)
    drop = [1, headers.index("MACs")] + ([headers.index(_("Activations"))] if rf else [])
    table = fit_table(rows, headers, width, drop=drop, colalign=align) if fmt == "table" else \
        _tabulate(rows, headers, fmt, align)
    lines = [heading(title, fmt), "", table, ""]
    lines += totals_lines(report, fmt, train)
    if report.notes:
        layers = len({n["layer"] for n in report.notes})
        lines += [""] + wrap_lines(_("Notes: {layers} layer(s) divide unevenly but lose no input pixel (only padding "
                                     "is left over); `archcalc explain` shows each.").format(layers=layers),
                                   width if fmt == "table" else None)
    if report.warnings:
        lines += ["", _("Warnings:") if fmt == "table" else "### " + _("Warnings"), ""]
        for w in report.warnings:
            where = " (" + _("line {line}").format(line=w["line"]) + ")" if w.get("line") else ""
            lines += wrap_lines(f"- {w['layer']}{where}: {w['message']}", width if fmt == "table" else None)
    return "\n".join(lines)


def totals_lines(report, fmt, train=False):
    from ..analysis.conventions import get
    t = report.totals
    convention = get(report.convention)
    counted = (_("{convention} convention").format(convention=report.convention) if report.convention == "archcalc"
               else _("{convention} convention: {tool}, which calls them {unit}").format(
                   convention=report.convention, tool=convention.tool, unit=convention.unit))
    keras = " " + _("(Keras view: batchnorm moving statistics included)") if report.keras else ""
    items = [
        (_("Total params"), f"{count_text(t.params)}{keras}"),
        (_("Trainable params"), grouped(t.trainable_params)),
        (_("Non-trainable params"), grouped(t.non_trainable_params)),
        (_("Buffers (batchnorm running statistics)"), grouped(t.buffers)),
        ("MACs", count_text(t.macs)),
        (f"FLOPs ({counted})", count_text(t.flops)),
        (_("Parameter memory"), bytes_text(t.param_bytes)),
        (_("Activation memory (sum of layer outputs)"),
         bytes_text(t.activation_bytes)),
    ]
    if train:
        items[6:6] = [(_("Forward FLOPs (torch's FlopCounterMode)"), count_text(t.torch_flops)),
                      (_("Backward FLOPs (torch's FlopCounterMode)"),
                       count_text(t.torch_backward_flops))]
    if fmt == "markdown":
        return ["| " + _("Total") + " | " + _("Value") + " |", "|---|---:|"] + [f"| {k} | {v} |" for k, v in items]
    from .grid import width as text_width
    width = max(text_width(k) for k, _v in items)
    return [f"{k}:{' ' * (width - text_width(k))} {v}" for k, v in items]


def rf_text(rf):
    if rf is None:
        return "-"
    if rf == "global":
        return "global"
    size = rf.size[0] if rf.size[0] == rf.size[1] else f"{rf.size[0]}×{rf.size[1]}"
    jump = rf.jump[0] if rf.jump[0] == rf.jump[1] else f"{rf.jump[0]}×{rf.jump[1]}"
    return f"{size} (jump {jump})"


ZOO_WIDTH = 120      # the zoo table's width when no terminal says otherwise (piped, -o): sources wrap


def short_source(source):
    """A citation cut to its authors and year ("He et al. 2016"), marked when the spec is torchvision's variant."""
    import re
    year = re.match(r".*?\b(19|20)\d\d\b", source)
    text = year.group(0) if year else re.split(r",| \(", source)[0]
    return text + (" (torchvision)" if "torchvision" in source and "torchvision" not in text else "")


def layout_text(shape, layout):
    """How a shape's axes read: 'C×H×W' (channels_first), 'H×W×C' (channels_last), '-' for a vector."""
    if len(shape) != 3:
        return "-"
    return "H×W×C" if layout == "channels_last" else "C×H×W"


def zoo_table(rows, fmt="table", width=None):
    """rows: dicts with name, input, layout, depth, params, macs, activation_bytes, source."""
    if fmt == "json":
        return to_json(rows)
    headers = ["name", "input", "layout", "depth", "params", "macs", "activation_bytes", "source"]
    if fmt == "csv":
        return _csv([[r[h] if h != "input" else "x".join(map(str, r[h])) for h in headers] for r in rows], headers)
    table = [[r["name"], "×".join(map(str, r["input"])), layout_text(r["input"], r["layout"]), r["depth"],
              grouped(r["params"]), short(r["macs"]), human_bytes(r["activation_bytes"]), short_source(r["source"])]
             for r in rows]
    title = _("Built-in specs, batch 1, fp32 (depth: conv and dense layers on the longest path)")
    headers = [_("Spec"), _("Input"), _("Layout"), _("Depth"), _("Params"), "MACs", _("Activations"), _("Source")]
    align = ["left", "left", "left", "right", "right", "right", "right", "left"]
    body = (_tabulate(table, headers, fmt, align) if fmt != "table"
            else fit_table(table, headers, width or ZOO_WIDTH, wrap=(7,), drop=(7, 3), colalign=align))
    return "\n".join([heading(title, fmt), "", body])


VERIFY_COLUMNS = (("shape", N_("Output shape")), ("params", N_("Params")), ("flops", N_("FLOPs (torch)")),
                  ("backward_flops", N_("Backward FLOPs")), ("saved_bytes", N_("Saved bytes")))
# the totals' names as shown (verify's result keys them by these)
TOTAL_NAMES = {"params": N_("params"), "trainable": N_("trainable"), "buffers": N_("buffers"), "flops": N_("flops"),
               "backward_flops": N_("backward flops"), "saved_bytes": N_("saved bytes"),
               "non_trainable": N_("non trainable"), "trainable_params": N_("trainable params"),
               "non_trainable_params": N_("non trainable params")}


def _total_name(key):
    return _(TOTAL_NAMES[key]) if key in TOTAL_NAMES else key.replace('_', ' ')


def _agreement(values, show=grouped):
    """'1,234 ✓', '1,234 ≠ 1,200 ✗' (predicted ≠ measured), or 'x (not measured)'."""
    predicted, measured = values
    if measured is None:
        return f"{show(predicted)} " + _("(not measured)")
    if predicted == measured:
        return f"{show(predicted)} ✓"
    return f"{show(predicted)} ≠ {show(measured)} ✗"


def verification(result, fmt="table"):
    """Predicted vs measured per layer with ✓/✗, the totals, and what was compared."""
    if fmt == "json":
        return to_json(result.to_dict())
    columns = [(key, title) for key, title in VERIFY_COLUMNS if key != "backward_flops" or result.train]
    headers = [_("Layer"), _("Type")] + [_(title) for _key, title in columns]
    rows = []
    for layer in result.layers:
        row = [layer.name, layer.type]
        for key, _title in columns:
            if key not in layer.checks:
                row.append("")
            else:
                row.append(_agreement(layer.checks[key], shape_text if key == "shape" else grouped))
        params = layer.checks.get("trainable")
        if params and params[0] != params[1]:
            row[3] += " " + _("(trainable {agreement})").format(agreement=_agreement(params))
        rows.append(row)
    mode = _("forward + backward") if result.train else _("forward")
    title = _("verify {model}: {device}, batch {batch}, {dtype}, training-mode {mode}").format(
        model=result.model, device=result.device, batch=result.batch, dtype=result.dtype, mode=mode)
    lines = [heading(title, fmt), "", _tabulate(rows, headers, fmt), "",
             _("Totals (predicted vs measured):")]
    for key, values in result.totals.items():
        lines.append(f"  {_total_name(key)}: {_agreement(values)}")
    if result.memory:
        m = result.memory
        lines.append("  " + _("peak memory ({what}): predicted {predicted}, measured {measured}; an estimate, "
                              "not checked").format(what=_(m['what']), predicted=bytes_text(m['predicted_peak']),
                                                    measured=bytes_text(m['measured_peak'])))
        lines.append("  " + _("held by CUDA libraries (cuBLAS workspace), left out of the measured peak: "
                              "{bytes}").format(bytes=bytes_text(m['library_bytes'])))
    # What is compared, and how, is the same on every run: `archcalc verify --help` and docs/verify.md say
    # it once (the JSON keeps it as "compared"); the run's output is its results.
    if result.not_measured:
        lines += ["", _("Not measured:")] + [f"  - {_(item)}" for item in result.not_measured]
    lines += ["", _("All agree ✓") if result.ok else _("DISAGREEMENT ✗ (exit status 1)")]
    return "\n".join(lines)


def conventions_table(comparison, fmt="table"):
    """Every convention's total side by side, what each includes, then the rule per layer type."""
    if fmt == "json":
        return to_json(comparison)
    kinds = comparison["kinds"]
    headers = ["Convention", "Total", "Tool calls it"] + kinds
    if fmt != "csv":
        headers = [_("Convention"), _("Total"), _("Tool calls it")] + kinds
    if fmt == "csv":
        return _csv([[r["name"], r["total"], r["unit"]] + [r["by_kind"][k] for k in kinds] + [r["includes"]]
                     for r in comparison["conventions"]], headers + ["includes"])
    rows = [[r["name"], count_text(r["total"]), _(r["unit"])]
            + [short(r["by_kind"][k]) for k in kinds] for r in comparison["conventions"]]
    title = _("{model}: FLOPs as each tool counts them, batch {batch}").format(model=comparison['model'],
                                                                               batch=comparison['batch'])
    rule_headers = [_("Layer type")] + [r["name"] for r in comparison["conventions"]]
    rule_rows = [[t] + [rule_text(comparison["rules"][t][r["name"]]) for r in comparison["conventions"]]
                 for t in comparison["rules"]]
    lines = [heading(title, fmt), "",
             _tabulate(rows, headers, fmt, ["left", "right", "left"] + ["right"] * len(kinds)), "",
             _("What each counts:"), ""]
    lines += [f"- {r['name']} ({_(r['tool'])}): {_(r['includes'])}" for r in comparison["conventions"]]
    lines += ["", _("Rule per layer type in this spec (per sample):"), "", _tabulate(rule_rows, rule_headers, fmt)]

    return "\n".join(lines)


def memory_report(result, fmt="table", width=None):
    """Per-layer memory, the breakdown, the peak beside the textbook sum, and the budget answer.
    `width` (a table only): fit the table (Type, then Grads, then master weights go) and wrap the text."""
    if fmt == "json":
        return to_json(result.to_dict())
    training = result.mode == "training"
    columns = ([("name", N_("Layer")), ("type", N_("Type")), ("output_bytes", N_("New output"))]
               + ([("saved_bytes", N_("Saved for backward")), ("param_bytes", N_("Params")), ("grad_bytes", N_("Grads")),
                   ("optimizer_bytes", N_("Optimizer state"))]
                  + ([("master_bytes", N_("fp32 master weights"))] if result.mixed_precision else []) if training
                  else [("live_bytes", N_("Live activations")), ("param_bytes", N_("Params"))]))
    checkpointed = training and getattr(result, "checkpoint", "none") != "none"
    if checkpointed:       # --checkpoint: what each layer rebuilds in backward, and its backward's moment
        columns = columns[:4] + [("recomputed_bytes", N_("Recomputed")), ("recompute_flops", N_("Recompute FLOPs")),
                                 ("step_bytes", N_("At its backward"))] + columns[4:]
    if fmt == "csv":
        return _csv([[getattr(layer, key) for key, _ in columns] for layer in result.layers],
                    [key for key, _ in columns])
    rows = [[getattr(layer, key) if key in ("name", "type") else short(getattr(layer, key))
             if key == "recompute_flops" else human_bytes(getattr(layer, key))
             for key, _ in columns] for layer in result.layers]
    how = (_("training step, {optimizer}").format(optimizer=result.optimizer)
           + (_(", --checkpoint {checkpoint}").format(checkpoint=result.checkpoint) if checkpointed else "")
           + (_(", mixed precision (fp32 master weights)") if result.mixed_precision else "")
           if training else _("inference")) + (_(", in-place activations") if result.inplace else "")
    title = _("{model}: memory, {how}, batch {batch}, {dtype}").format(
        model=result.model, how=how, batch=result.batch, dtype=result.dtype) + (
        _(", CUDA allocator (512-byte blocks)") if result.device == "cuda" else "")
    align = ["left", "left"] + ["right"] * (len(columns) - 2)
    titles = [_(t) for _key, t in columns]
    width = width if fmt == "table" else None
    drop = [1] + ([5] if training else []) + ([7] if len(columns) > 7 else [])
    if checkpointed:       # Type, then Grads, then the optimizer state go first; the checkpoint columns stay
        drop = [1, 8, 9] + ([10] if len(columns) > 10 else [])
    table = (fit_table(rows, titles, width, drop=drop,
                       colalign=align) if fmt == "table" else _tabulate(rows, titles, fmt, align))
    breakdown_title = _("Breakdown:")
    lines = ([heading(title, fmt)] if fmt != "table" else wrap_lines(title, width)) + ["", table, "", breakdown_title]
    from .grid import width as text_width
    names = [_(name) for name, _n, _how in result.breakdown]
    name_width = max(text_width(name) for name in names)
    for name, (_name, n, how_counted) in zip(names, result.breakdown):
        line = f"  {name + ':' + ' ' * (name_width - text_width(name))} {bytes_text(n):>30}  {how_counted}"
        lines += wrap_lines(line, width, indent=" " * (name_width + 36)) if width and width - name_width - 36 >= 40 \
            else wrap_lines(line, width, indent="      ")
    lines += [""] + wrap_lines(_("Peak memory: {bytes}").format(bytes=bytes_text(result.peak_bytes))
                        + ("  " + _("(parameters + buffers + activations at the liveness peak)") if not training else
                           "  " + _("(persistent state + the worst moment of forward/backward)")), width)
    lines += wrap_lines(_("Input + all layer outputs (the textbook figure, nothing ever freed): "
                          "{bytes}").format(bytes=bytes_text(result.outputs_bytes)), width)
    if result.allocated_bytes != result.outputs_bytes:
        lines.append("  " + (_("with views and in-place layers sharing storage, in 512-byte blocks: {bytes}")
                             if result.device == "cuda" else
                             _("with views and in-place layers sharing storage: {bytes}")).format(
                                 bytes=bytes_text(result.allocated_bytes)))
    if not training:
        lines.append(_("Activations at the liveness peak: {bytes} while '{layer}' runs").format(
            bytes=bytes_text(result.peak_activation_bytes), layer=result.peak_activation_layer))
    else:
        lines.append(_("Saved for backward (all layers, end of forward): {bytes}").format(
            bytes=bytes_text(result.saved_bytes)))
        lines.append(_("Parameter gradients (all, freed by zero_grad): {bytes}").format(
            bytes=bytes_text(result.grad_bytes)))
        lines += [f"  - {note}" for note in getattr(result, "notes", ())]     # rules that apply, in words
        if checkpointed:
            lines.append(_("Recomputed in backward (--checkpoint {checkpoint}): {flops} FLOPs").format(
                checkpoint=result.checkpoint, flops=grouped(result.recompute_flops))
                + (_(", {count} segments from '{first}' to '{last}'").format(
                    count=len(result.segments), first=result.segments[0][0], last=result.segments[-1][1])
                   if result.segments else ""))
    if result.budget is not None:
        lines += ["", (_("Budget {budget}: batch {batch} fits; largest batch that fits: {largest}") if result.fits
                       else _("Budget {budget}: batch {batch} does NOT fit; largest batch that fits: {largest}")
                       ).format(budget=human_bytes(result.budget), batch=result.batch, largest=result.max_batch)]
    after = lines.index(breakdown_title)
    return "\n".join(lines[:after] + [part for line in lines[after:] for part in wrap_lines(line, width)])


def _default_text(value):
    if isinstance(value, tuple) and len(set(value)) == 1:
        value = value[0]
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


def layer_types_table(fmt="table", width=None):
    """Every registered layer type: canonical name, other spellings, kind and options (* = required).

    `markdown` adds each option's default, its other spellings and its one-line doc (the docs' table).
    `width`: wrap the text columns so the table fits that many characters (None: one line per type)."""
    from ..layers import layer_types
    if fmt == "markdown":
        rows = []
        for cls in layer_types():
            parts = []
            for name, opt in cls.options.items():
                notes = [] if opt.required else [_default_text(opt.default) if opt.default is not None else "-"]
                notes += ["; ".join(f"`{a}`" for a in opt.aliases)] if opt.aliases else []
                notes += [opt.doc] if opt.doc else []
                parts.append(f"`{name}`{'*' if opt.required else ''}" + (f" ({'; '.join(notes)})" if notes else ""))
            if cls.accepts_activation:
                parts.append("`activation`")
            rows.append([f"`{cls.type_name}`", ", ".join(cls.aliases) or "—", cls.kind, "; ".join(parts) or "—"])
        return _tabulate(rows, ["Type", "Also written", "Kind", "Options (default; other spellings; meaning)"],
                         "markdown")
    rows = []
    for cls in layer_types():
        options = ", ".join(f"{name}{'*' if opt.required else ''}" for name, opt in cls.options.items())
        if cls.accepts_activation:
            options += ", activation"
        rows.append([cls.type_name, ", ".join(cls.aliases), cls.kind, options or "-"])
    headers = [_("Type"), _("Also written"), _("Kind"), _("Options (* required)")]
    return fit_table(rows, headers, width, wrap=(1, 3), drop=(2,))


# The counting rules' texts made from a template (layers/activation.py's not_counted, the aten ops): the
# template is the message, the names in it stay as they are
RULE_TEMPLATES = (
    (r"no hook for (?P<module>[^,]+), F\.(?P<function>\w+) not patched", N_("no hook for {module}, F.{function} not patched")),
    (r"no hook for (?P<module>.+)", N_("no hook for {module}")),
    (r"no handle for (?P<op>aten::\w+)", N_("no handle for {op}")),
    (r"aten::(?P<op>.+) has no handle", N_("aten::{op} has no handle")),
    (r"aten::(?P<op>.+) have no handle", N_("aten::{op} have no handle")),
)


def rule_text(text):
    """A counting rule's text (layers.counting.Rule.text) in the active language; "as torch: …", "0: …" and
    "aten::op: …" are composed of a translated frame and the rule or reason inside it."""
    import re
    from ..layers.counting import JOINTS
    if _(text) != text:
        return _(text)
    for joint in JOINTS:
        first, found, second = text.partition(joint)
        if found:
            return rule_text(first) + _(joint) + rule_text(second)
    if text.startswith("as torch: "):
        return _("as torch: {rule}").format(rule=rule_text(text[len("as torch: "):]))
    if text.startswith("0: "):
        return "0: " + rule_text(text[3:])
    for pattern, template in RULE_TEMPLATES:
        match = re.fullmatch(pattern, text)
        if match:
            return _(template).format(**match.groupdict())
    op = re.fullmatch(r"(aten::\w+): (.+)", text)
    if op:
        return f"{op.group(1)}: {rule_text(op.group(2))}"
    return _(text)



def fit_table(rows, headers, width, wrap=(), drop=(), colalign=None):
    """A plain table no wider than `width` characters (None: as it is, one line per row). First the
    headers wrap to their column's data; then the columns in `wrap` wrap at word boundaries; if that is
    not enough, the columns in `drop` go, in that order, until the table fits."""
    table = _tabulate(rows, headers, "table", colalign)
    if width is None or _table_width(table) <= width:
        return table
    keep = list(range(len(headers)))
    dropping = list(drop)
    while True:
        table = _wrapped(rows, headers, keep, [c for c in wrap if c in keep], width, colalign)
        if _table_width(table) <= width or not dropping:
            break
        keep.remove(dropping.pop(0))
    left_out = [headers[c] for c in range(len(headers)) if c not in keep]
    if left_out:
        sentence = (_("({columns} left out to fit {width} columns; --wide shows them)") if len(left_out) > 1 else
                    _("({columns} left out to fit {width} columns; --wide shows it)"))
        table += "\n" + sentence.format(columns=", ".join(left_out), width=width)
    return table


def _wrapped(rows, headers, keep, wrap, width, colalign):
    """The `keep` columns, headers wrapped to their data, `wrap` columns wrapped to share what is left."""
    import textwrap

    from .grid import width as text_width

    def fill(text, limit):
        return textwrap.fill(str(text), max(limit, 1), break_long_words=False, break_on_hyphens=False)
    rows = [[r[i] for i in keep] for r in rows]
    headers = [headers[i] for i in keep]
    align = [colalign[i] for i in keep] if colalign else None
    wrap = [keep.index(c) for c in wrap]
    columns = range(len(headers))
    data = [max((len(line) for r in rows for line in str(r[c]).splitlines()), default=0) for c in columns]
    words = [max((len(w) for r in rows for w in str(r[c]).split()), default=0) for c in columns]
    title_words = [max((text_width(w) for w in str(h).split()), default=0) for h in headers]
    least = {c: max(words[c], title_words[c]) for c in wrap}          # a wrapped column: its longest word
    # a column is at least its header's width plus the writer's two (report.grid.MIN_PADDING)
    fixed = sum(max(data[c], title_words[c] + 2) for c in columns if c not in wrap) + 2 * (len(headers) - 1)
    spare = width - fixed - sum(least.values())
    extra = {c: max(data[c], text_width(headers[c])) - least[c] for c in wrap}
    limits = dict(least)
    if spare > 0 and sum(extra.values()):
        for c in wrap:
            limits[c] += min(extra[c], spare * extra[c] // sum(extra.values()))
    def render():
        body = [[fill(v, limits[c]) if c in limits else v for c, v in enumerate(r)] for r in rows]
        titles = [fill(h, limits.get(c, max(data[c], title_words[c]))) for c, h in enumerate(headers)]
        return _tabulate(body, titles, "table", align)
    table = render()
    excess = _table_width(table) - width
    if excess > 0 and limits:          # the estimate left the table a little wide: take it off the widest column
        widest = max(limits, key=lambda c: limits[c] - least[c])
        limits[widest] = max(least[widest], limits[widest] - excess)
        table = render()
    return table


def _table_width(table):
    from .grid import width as text_width
    return max(text_width(line) for line in table.splitlines())


def layer_rules_markdown():
    """The docs' rule tables, from the registry: how each counting tool counts every type, and what each
    type keeps for backward (its saved_tensors rule, as `archcalc memory` and `verify --train` use it)."""
    import inspect

    from ..layers import Layer, layer_types
    from ..layers.counting import TOOLS
    types = layer_types()
    saved = []
    for cls in types:
        own = cls.saved_tensors is not Layer.saved_tensors
        rule = " ".join((inspect.getdoc(cls.saved_tensors) or "").split()) if own else ""
        saved.append([f"`{cls.type_name}`", rule or ("see its family's rule" if own else
                                                     "nothing: its backward needs no tensor")])
    return "\n".join([
        "### What each tool counts", "",
        _tabulate([[f"`{cls.type_name}`"] + [cls.counting[tool].text for tool in TOOLS] for cls in types],
                  ["Type", *TOOLS], "markdown"), "",
        "### Kept for backward", "",
        "What autograd saves for each type in a training step (checked with `saved_tensors_hooks`).", "",
        _tabulate(saved, ["Type", "Saved for backward"], "markdown")])


KERAS_VERIFY_COLUMNS = (("shape", N_("Output shape (Keras)")), ("params", N_("Params")),
                        ("non_trainable", N_("Non-trainable")))


def keras_verification(result, fmt="table"):
    """`verify --keras`: archcalc's Keras counting vs the Keras model's own, per layer and in total."""
    if fmt == "json":
        return to_json(result.to_dict())
    rows = [[layer.name, layer.type] + [_agreement(layer.checks[key], shape_text if key == "shape" else grouped)
                                        for key, _ in KERAS_VERIFY_COLUMNS] for layer in result.layers]
    headers = [_("Layer"), _("Type")] + [_(title) for _key, title in KERAS_VERIFY_COLUMNS]
    lines = [heading(_("verify {model} against {target}").format(model=result.model, target=result.device), fmt), "",
             _tabulate(rows, headers, fmt), "", _("Totals (predicted vs measured):")]
    lines += [f"  {_total_name(key)}: {_agreement(values)}" for key, values in result.totals.items()]
    lines += ["", _("Compared:")] + [f"  - {_(item)}" for item in result.compared]
    lines += [_("Not measured:")] + [f"  - {_(item)}" for item in result.not_measured]
    lines += ["", _("All agree ✓") if result.ok else _("DISAGREEMENT ✗ (exit status 1)")]

    return "\n".join(lines)


def checkpoint_table(rows, model, fmt="table"):
    """`archcalc memory --train --checkpoint compare`: each choice's saved bytes, peak and recomputed FLOPs."""
    if fmt == "json":
        return to_json(rows)
    keys = ["checkpoint", "saved_bytes", "peak_bytes", "worst", "recompute_flops"]
    if fmt == "csv":
        return _csv([[row[key] for key in keys] for row in rows], keys)
    if fmt not in ("table", "markdown"):
        from ..errors import SpecError
        raise SpecError(f"--checkpoint compare prints a table, markdown, csv or json, not {fmt}",
                        hint="use --format table, markdown, csv or json")
    table = [[row["checkpoint"], bytes_text(row["saved_bytes"]), bytes_text(row["peak_bytes"]), row["worst"],
              count_text(row["recompute_flops"])] for row in rows]
    headers = ["Checkpoint", "Saved for backward", "Peak", "Worst moment", "Recomputed FLOPs"]
    return "\n".join([heading(f"{model}: activation checkpointing, one training step", fmt), "",
                      _tabulate(table, headers, fmt,
                                ["left", "right", "right", "left", "right"])])
