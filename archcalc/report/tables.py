"""Turn reports into text: tables (tabulate), Markdown, CSV and JSON. Numbers are computed elsewhere."""
import csv
import io

from ..layers.shapes import CHANNELS_FIRST

FORMATS = ("table", "markdown", "csv", "json", "html")


def to_json(data):
    import json  # only when asked for: keeps the table path's start-up light
    return json.dumps(data, indent=2)


def short(n):
    """62,378,344 -> 62.4M: three significant figures, SI prefixes of 1000."""
    n = int(n)
    for size, suffix in ((10**12, "T"), (10**9, "G"), (10**6, "M"), (10**3, "K")):
        if abs(n) >= size:
            value = n / size
            return f"{value:.3g}{suffix}" if value < 1000 else f"{value:.0f}{suffix}"
    return str(n)


def human_bytes(n):
    """Binary units, as memory is sold: 1 MiB = 1,048,576 bytes."""
    n = int(n)
    for size, suffix in ((2**40, "TiB"), (2**30, "GiB"), (2**20, "MiB"), (2**10, "KiB")):
        if n >= size:
            return f"{n / size:.1f} {suffix}"
    return f"{n} B"


def grouped(n):
    return f"{int(n):,}"


def count_text(n):
    """62,378,344 (62.4M): exact, then short."""
    return f"{grouped(n)} ({short(n)})"


def bytes_text(n):
    """1.5 MiB (1,572,864 bytes): readable, then exact."""
    return f"{human_bytes(n)} ({grouped(n)} bytes)"


def heading(title, fmt):
    """A table's title line: a Markdown heading in markdown, the plain title otherwise."""
    return f"## {title}" if fmt == "markdown" else title


def shape_text(shape):
    return "(" + ", ".join(str(d) for d in shape) + ")"


def _tabulate(rows, headers, fmt, colalign=None):
    from .grid import table
    return table(rows, headers, {"table": "simple", "markdown": "github"}[fmt], colalign)


def _csv(rows, headers):
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(headers)
    writer.writerows(rows)
    return buffer.getvalue().rstrip("\n")


def summary(report, fmt="table", rf=False, train=False):
    """The per-layer table, the totals and the warnings of one report; `train` adds backward FLOPs."""
    if fmt == "json":
        return to_json(report.to_dict())
    if fmt == "html":
        from .html import summary_page
        return summary_page(report, rf=rf, train=train)
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
    headers = (["Layer", "Type", "Output shape", "Params", "MACs", flops_title]
               + (["Backward FLOPs (torch)"] if train else []) + ["Activations"] + (["RF"] if rf else []))
    rows = []
    for r in report.layers:
        params = grouped(r.params) + ("" if r.trainable_params == r.params else " (frozen)")
        rows.append([r.name, r.type, shape_text(r.output_shape), params, short(r.macs), short(r.flops)]
                    + ([short(r.torch_backward_flops)] if train else [])
                    + [human_bytes(r.activation_bytes)] + ([rf_text(r.receptive_field)] if rf else []))
    align = (["left", "left", "left", "right", "right", "right"] + (["right"] if train else []) + ["right"]
             + (["left"] if rf else []))
    layout = "" if report.layout == CHANNELS_FIRST else f", {report.layout}"
    title = f"{report.model}: input {shape_text(report.input_shape)}{layout}, batch {report.batch}, {report.dtype}"
    lines = [heading(title, fmt), "", _tabulate(rows, headers, fmt, align), ""]
    lines += totals_lines(report, fmt, train)
    if report.notes:
        layers = len({n["layer"] for n in report.notes})
        lines += ["", f"Notes: {layers} layer(s) divide unevenly but lose no input pixel (only padding is left "
                      "over); `archcalc explain` shows each."]
    if report.warnings:
        lines += ["", "Warnings:" if fmt == "table" else "### Warnings", ""]
        for w in report.warnings:
            where = f" (line {w['line']})" if w.get("line") else ""
            lines.append(f"- {w['layer']}{where}: {w['message']}")
    return "\n".join(lines)


def totals_lines(report, fmt, train=False):
    from ..analysis.conventions import get
    t = report.totals
    convention = get(report.convention)
    counted = (f"{report.convention} convention" if report.convention == "archcalc"
               else f"{report.convention} convention: {convention.tool}, which calls them {convention.unit}")
    keras = " (Keras view: batchnorm moving statistics included)" if report.keras else ""
    items = [
        ("Total params", f"{count_text(t.params)}{keras}"),
        ("Trainable params", grouped(t.trainable_params)),
        ("Non-trainable params", grouped(t.non_trainable_params)),
        ("Buffers (batchnorm running statistics)", grouped(t.buffers)),
        ("MACs", count_text(t.macs)),
        (f"FLOPs ({counted})", count_text(t.flops)),
        ("Parameter memory", bytes_text(t.param_bytes)),
        ("Activation memory (sum of layer outputs)",
         bytes_text(t.activation_bytes)),
    ]
    if train:
        items[6:6] = [("Forward FLOPs (torch's FlopCounterMode)", count_text(t.torch_flops)),
                      ("Backward FLOPs (torch's FlopCounterMode)",
                       count_text(t.torch_backward_flops))]
    if fmt == "markdown":
        return ["| Total | Value |", "|---|---:|"] + [f"| {k} | {v} |" for k, v in items]
    width = max(len(k) for k, _ in items)
    return [f"{k + ':':<{width + 1}} {v}" for k, v in items]


def rf_text(rf):
    if rf is None:
        return "-"
    if rf == "global":
        return "global"
    size = rf.size[0] if rf.size[0] == rf.size[1] else f"{rf.size[0]}×{rf.size[1]}"
    jump = rf.jump[0] if rf.jump[0] == rf.jump[1] else f"{rf.jump[0]}×{rf.jump[1]}"
    return f"{size} (jump {jump})"


def short_source(source):
    """A citation cut to its authors and year ("He et al. 2016"), marked when the spec is torchvision's variant."""
    import re
    year = re.match(r".*?\b(19|20)\d\d\b", source)
    text = year.group(0) if year else re.split(r",| \(", source)[0]
    return text + (" (torchvision)" if "torchvision" in source and "torchvision" not in text else "")


def zoo_table(rows, fmt="table"):
    """rows: dicts with name, input, depth, params, macs, activation_bytes, source."""
    if fmt == "json":
        return to_json(rows)
    if fmt == "html":
        from .html import zoo_page
        return zoo_page(rows)
    headers = ["name", "input", "depth", "params", "macs", "activation_bytes", "source"]
    if fmt == "csv":
        return _csv([[r[h] if h != "input" else "x".join(map(str, r[h])) for h in headers] for r in rows], headers)
    table = [[r["name"], "×".join(map(str, r["input"])), r["depth"], grouped(r["params"]),
              short(r["macs"]), human_bytes(r["activation_bytes"]), short_source(r["source"])] for r in rows]
    title = "Built-in specs, batch 1, fp32 (depth: conv and dense layers on the longest path)"
    body = _tabulate(table, ["Spec", "Input", "Depth", "Params", "MACs", "Activations", "Source"], fmt,
                     ["left", "left", "right", "right", "right", "right", "left"])
    return "\n".join([heading(title, fmt), "", body])


VERIFY_COLUMNS = (("shape", "Output shape"), ("params", "Params"), ("flops", "FLOPs (torch)"),
                  ("backward_flops", "Backward FLOPs"), ("saved_bytes", "Saved bytes"))


def _agreement(values, show=grouped):
    """'1,234 ✓', '1,234 ≠ 1,200 ✗' (predicted ≠ measured), or 'x (not measured)'."""
    predicted, measured = values
    if measured is None:
        return f"{show(predicted)} (not measured)"
    if predicted == measured:
        return f"{show(predicted)} ✓"
    return f"{show(predicted)} ≠ {show(measured)} ✗"


def verification(result, fmt="table"):
    """Predicted vs measured per layer with ✓/✗, the totals, and what was compared."""
    if fmt == "json":
        return to_json(result.to_dict())
    columns = [(key, title) for key, title in VERIFY_COLUMNS if key != "backward_flops" or result.train]
    headers = ["Layer", "Type"] + [title for _, title in columns]
    rows = []
    for layer in result.layers:
        row = [layer.name, layer.type]
        for key, _ in columns:
            if key not in layer.checks:
                row.append("")
            else:
                row.append(_agreement(layer.checks[key], shape_text if key == "shape" else grouped))
        params = layer.checks.get("trainable")
        if params and params[0] != params[1]:
            row[3] += f" (trainable {_agreement(params)})"
        rows.append(row)
    mode = "forward + backward" if result.train else "forward"
    title = (f"verify {result.model}: {result.device}, batch {result.batch}, {result.dtype}, "
             f"training-mode {mode}")
    lines = [heading(title, fmt), "", _tabulate(rows, headers, fmt), "",
             "Totals (predicted vs measured):"]
    for key, values in result.totals.items():
        lines.append(f"  {key.replace('_', ' ')}: {_agreement(values)}")
    if result.memory:
        m = result.memory
        lines.append(f"  peak memory ({m['what']}): predicted {bytes_text(m['predicted_peak'])}, "
                     f"measured {bytes_text(m['measured_peak'])}; an estimate, not checked")
        lines.append(f"  held by CUDA libraries (cuBLAS workspace), left out of the measured peak: "
                     f"{bytes_text(m['library_bytes'])}")
    lines += ["", "Compared:"] + [f"  - {item}" for item in result.compared]
    if result.not_measured:
        lines += ["Not measured:"] + [f"  - {item}" for item in result.not_measured]
    lines += ["", "All agree ✓" if result.ok else "DISAGREEMENT ✗ (exit status 1)"]
    return "\n".join(lines)


def conventions_table(comparison, fmt="table"):
    """Every convention's total side by side, what each includes, then the rule per layer type."""
    if fmt == "json":
        return to_json(comparison)
    if fmt == "html":
        from .html import conventions_page
        return conventions_page(comparison)
    kinds = comparison["kinds"]
    headers = ["Convention", "Total", "Tool calls it"] + kinds
    if fmt == "csv":
        return _csv([[r["name"], r["total"], r["unit"]] + [r["by_kind"][k] for k in kinds] + [r["includes"]]
                     for r in comparison["conventions"]], headers + ["includes"])
    rows = [[r["name"], count_text(r["total"]), r["unit"]]
            + [short(r["by_kind"][k]) for k in kinds] for r in comparison["conventions"]]
    title = f"{comparison['model']}: FLOPs as each tool counts them, batch {comparison['batch']}"
    rule_headers = ["Layer type"] + [r["name"] for r in comparison["conventions"]]
    rule_rows = [[t] + [comparison["rules"][t][r["name"]] for r in comparison["conventions"]]
                 for t in comparison["rules"]]
    lines = [heading(title, fmt), "",
             _tabulate(rows, headers, fmt, ["left", "right", "left"] + ["right"] * len(kinds)), "",
             "What each counts:", ""]
    lines += [f"- {r['name']} ({r['tool']}): {r['includes']}" for r in comparison["conventions"]]
    lines += ["", "Rule per layer type in this spec (per sample):", "", _tabulate(rule_rows, rule_headers, fmt)]
    return "\n".join(lines)


def memory_report(result, fmt="table"):
    """Per-layer memory, the breakdown, the peak beside the textbook sum, and the budget answer."""
    if fmt == "json":
        return to_json(result.to_dict())
    if fmt == "html":
        from .html import memory_page
        return memory_page(result)
    training = result.mode == "training"
    columns = ([("name", "Layer"), ("type", "Type"), ("output_bytes", "New output")]
               + ([("saved_bytes", "Saved for backward"), ("param_bytes", "Params"), ("grad_bytes", "Grads"),
                   ("optimizer_bytes", "Optimizer state")] if training
                  else [("live_bytes", "Live activations"), ("param_bytes", "Params")]))
    if fmt == "csv":
        return _csv([[getattr(layer, key) for key, _ in columns] for layer in result.layers],
                    [key for key, _ in columns])
    rows = [[getattr(layer, key) if key in ("name", "type") else human_bytes(getattr(layer, key))
             for key, _ in columns] for layer in result.layers]
    how = (f"training step, {result.optimizer}" + (", mixed precision (fp32 master weights)"
                                                   if result.mixed_precision else "")
           if training else "inference") + (", in-place activations" if result.inplace else "")
    title = f"{result.model}: memory, {how}, batch {result.batch}, {result.dtype}" + (
        ", CUDA allocator (512-byte blocks)" if result.device == "cuda" else "")
    lines = [heading(title, fmt), "",
             _tabulate(rows, [t for _, t in columns], fmt, ["left", "left"] + ["right"] * (len(columns) - 2)), "",
             "Breakdown:"]
    width = max(len(name) for name, _, _ in result.breakdown)
    lines += [f"  {name + ':':<{width + 1}} {bytes_text(n):>30}  {how_counted}"
              for name, n, how_counted in result.breakdown]
    lines += ["", f"Peak memory: {bytes_text(result.peak_bytes)}"
              + ("  (parameters + buffers + activations at the liveness peak)" if not training else
                 "  (persistent state + the worst moment of forward/backward)")]
    lines.append(f"Sum of all layer outputs (the textbook figure, nothing ever freed): {bytes_text(result.outputs_bytes)}")
    if result.allocated_bytes != result.outputs_bytes:
        blocks = ", in 512-byte blocks" if result.device == "cuda" else ""
        lines.append(f"  with views and in-place layers sharing storage{blocks}: {bytes_text(result.allocated_bytes)}")
    if not training:
        lines.append(f"Activations at the liveness peak: {bytes_text(result.peak_activation_bytes)} "
                     f"while '{result.peak_activation_layer}' runs")
    else:
        lines.append(f"Saved for backward (all layers, end of forward): {bytes_text(result.saved_bytes)}")
        lines.append(f"Parameter gradients (all, freed by zero_grad): {bytes_text(result.grad_bytes)}")
    if result.budget is not None:
        verdict = "fits" if result.fits else "does NOT fit"
        lines += ["", f"Budget {human_bytes(result.budget)}: batch {result.batch} {verdict}; "
                      f"largest batch that fits: {result.max_batch}"]
    return "\n".join(lines)


def layer_types_table():
    """Every registered layer type: canonical name, other spellings, kind and options (* = required)."""
    from ..layers import layer_types
    rows = []
    for cls in layer_types():
        options = ", ".join(f"{name}{'*' if opt.required else ''}" for name, opt in cls.options.items())
        if cls.accepts_activation:
            options += ", activation"
        rows.append([cls.type_name, ", ".join(cls.aliases), cls.kind, options or "-"])
    return _tabulate(rows, ["Type", "Also written", "Kind", "Options (* required)"], "table")


def layer_reference_markdown():
    """The docs' layer reference, generated from the registry: every type with its spellings, kind and
    options; how each counting tool counts it; and what it keeps for backward (its saved_tensors rule)."""
    import inspect

    from ..layers import Layer, layer_types
    from ..layers.counting import TOOLS
    types = layer_types()
    rows = []
    for cls in types:
        options = ", ".join(f"`{name}`{'*' if opt.required else ''}" for name, opt in cls.options.items())
        if cls.accepts_activation:
            options += ", `activation`"
        rows.append([f"`{cls.type_name}`", ", ".join(cls.aliases), str(cls.kind), options or "-",
                     (inspect.getdoc(cls) or "").split("\n")[0]])
    lines = ["## Layer types", "", "`*` marks a required option.", "",
             _tabulate(rows, ["Type", "Also written", "Kind", "Options", "What it is"], "markdown"), "",
             "## What each tool counts", "",
             _tabulate([[f"`{cls.type_name}`"] + [cls.counting[tool].text for tool in TOOLS] for cls in types],
                       ["Type", *TOOLS], "markdown"), "",
             "## Kept for backward", "",
             "What autograd saves for each type in a training step (the rule `archcalc memory` and `verify "
             "--train` use; checked with `saved_tensors_hooks`).", ""]
    saved = []
    for cls in types:
        own = cls.saved_tensors is not Layer.saved_tensors
        rule = " ".join((inspect.getdoc(cls.saved_tensors) or "").split()) if own else ""
        saved.append([f"`{cls.type_name}`", rule or ("see its family's rule" if own else
                                                     "nothing: its backward needs no tensor")])
    lines.append(_tabulate(saved, ["Type", "Saved for backward"], "markdown"))
    return "\n".join(lines)


KERAS_VERIFY_COLUMNS = (("shape", "Output shape (Keras)"), ("params", "Params"), ("non_trainable", "Non-trainable"))


def keras_verification(result, fmt="table"):
    """`verify --keras`: archcalc's Keras counting vs the Keras model's own, per layer and in total."""
    if fmt == "json":
        return to_json(result.to_dict())
    rows = [[layer.name, layer.type] + [_agreement(layer.checks[key], shape_text if key == "shape" else grouped)
                                        for key, _ in KERAS_VERIFY_COLUMNS] for layer in result.layers]
    headers = ["Layer", "Type"] + [title for _, title in KERAS_VERIFY_COLUMNS]
    lines = [heading(f"verify {result.model} against {result.device}", fmt), "", _tabulate(rows, headers, fmt), "",
             "Totals (predicted vs measured):"]
    lines += [f"  {key.replace('_', ' ')}: {_agreement(values)}" for key, values in result.totals.items()]
    lines += ["", "Compared:"] + [f"  - {item}" for item in result.compared]
    lines += ["Not measured:"] + [f"  - {item}" for item in result.not_measured]
    lines += ["", "All agree ✓" if result.ok else "DISAGREEMENT ✗ (exit status 1)"]
    return "\n".join(lines)
