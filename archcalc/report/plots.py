"""Charts of reports (needs the `plot` extra: matplotlib, imported only when a chart is drawn).

Figures are built with matplotlib's object API (no pyplot), so drawing a chart never changes the
caller's backend or global figure state.
"""
from pathlib import Path

from ..errors import MissingExtra, SpecError, writing
from ..i18n import _
from ..units import human_bytes, short

# One colour per layer kind, shared with the legend.
KIND_COLOURS = {
    "conv": "#1f77b4", "dense": "#9467bd", "pool": "#2ca02c", "norm": "#ff7f0e", "activation": "#7f7f7f",
    "merge": "#d62728", "reshape": "#bcbd22", "regularization": "#17becf", "other": "#8c564b",
}
FORMATS = (".png", ".svg", ".pdf")
BUBBLE_AREA = (40, 2500)    # points²: every bubble's floor, plus this much at the largest activation memory


def bubble_area(nbytes, smallest, largest):
    """A bubble's area in points², growing with the logarithm of activation memory: models a few KiB
    apart stay apart (mnist_fc's 4 KiB and mnist_cnn's 262 KiB are 1.8 decades), while VGG's 109 MiB
    still gets the biggest. The smallest model is one decade above the floor, so it is never a dot."""
    import math
    floor, scale = BUBBLE_AREA
    low = max(smallest, 1) / 10
    span = math.log10(max(largest, 1) / low)
    return floor + scale * math.log10(max(nbytes, 1) / low) / span


def _figure(**kwargs):
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise MissingExtra("matplotlib", "plot", "drawing charts") from None
    return Figure(**kwargs)


def _save(figure, path):
    path = Path(path)
    if path.suffix.lower() not in FORMATS:
        raise SpecError(_("cannot tell the image format of '{path}'").format(path=path),
                        hint=_("end the file name with one of {suffixes}").format(suffixes=', '.join(FORMATS)))
    from matplotlib import rc_context
    with writing(path), rc_context({"svg.fonttype": "none"}):   # SVG text stays text: searchable, selectable
        figure.savefig(path, dpi=110, bbox_inches="tight")
    return path


def _formatter(fmt):
    """Tick labels in archcalc's units (62.4M, 1.5 MiB) instead of powers of ten."""
    from matplotlib.ticker import FuncFormatter
    return FuncFormatter(lambda value, _: fmt(value) if value >= 1 else f"{value:g}")


def plot_layers(report, path):
    """Per-layer horizontal bars of parameters, FLOPs and activation memory (log scale), one row per layer."""
    layers = report.layers
    names = [r.name for r in layers]
    colours = [KIND_COLOURS.get(r.kind, KIND_COLOURS["other"]) for r in layers]
    panels = [
        ("Parameters", [r.params for r in layers], short),
        ("FLOPs", [r.flops for r in layers], short),
        ("Activation memory", [r.activation_bytes for r in layers], human_bytes),
    ]
    figure = _figure(figsize=(13, 2.2 + 0.2 * len(layers)), layout="constrained")
    axes = figure.subplots(1, 3, sharey=True)
    rows = range(len(layers))
    for ax, (label, values, fmt) in zip(axes, panels):
        ax.barh(rows, [v if v > 0 else 0 for v in values], color=colours, height=0.75)
        if any(v > 0 for v in values):
            ax.set_xscale("log")
            ax.xaxis.set_major_formatter(_formatter(fmt))
            if fmt is human_bytes:      # ticks at 1 KiB, 4 KiB, 16 KiB ... rather than 9.8 KiB, 97.7 KiB
                from matplotlib.ticker import LogLocator
                ax.xaxis.set_major_locator(LogLocator(base=4))
        ax.set_title(f"{label}\n(total {fmt(sum(values))})", fontsize=11)
        ax.grid(axis="x", which="major", alpha=0.3)
        ax.tick_params(axis="y", labelsize=8)
        if len(layers) > 40:        # a tall chart gets its scale at the top as well
            ax.tick_params(axis="x", top=True, labeltop=True)
    axes[0].set_yticks(list(rows), names)
    axes[0].invert_yaxis()          # execution order, top to bottom
    axes[0].set_ylim(len(layers) - 0.5, -0.5)
    t = report.totals
    figure.suptitle(f"{report.model}: {short(t.params)} params, {short(t.flops)} FLOPs, "
                    f"{human_bytes(t.activation_bytes)} activations (batch {report.batch}, {report.dtype})",
                    fontsize=13, fontweight="bold")
    kinds = sorted({r.kind for r in layers})
    from matplotlib.patches import Patch
    figure.legend(handles=[Patch(color=KIND_COLOURS.get(k, KIND_COLOURS["other"]), label=k) for k in kinds],
                  loc="outside lower center", ncol=len(kinds), frameon=False)
    return _save(figure, path)


def plot_comparison(reports, path):
    """The classic comparison chart: MACs (x) against parameters (y), bubble area by activation memory
    (log scale, so small models stay distinguishable; each bubble's label gives the figure)."""
    if not reports:
        raise SpecError(_("nothing to compare"), hint=_("give at least one spec"))
    figure = _figure(figsize=(9, 6.5), layout="constrained")
    from matplotlib.colors import to_rgba
    ax = figure.subplots()
    largest = max(r.totals.activation_bytes for r in reports) or 1
    smallest = min(r.totals.activation_bytes for r in reports) or 1
    for index, report in enumerate(reports):
        t = report.totals
        colour = f"C{index % 10}"
        area = bubble_area(t.activation_bytes, smallest, largest)
        fill = to_rgba(colour, alpha=0.45)           # see-through, so overlapping bubbles stay visible
        ax.scatter([t.macs], [t.params], s=area, facecolors=[fill], edgecolors=[colour], linewidths=1.5)
        radius = (area / 3.1416) ** 0.5          # points, so the label starts just right of the bubble
        ax.annotate(f"{report.model} ({human_bytes(t.activation_bytes)})", (t.macs, t.params),
                    xytext=(radius + 4, 0), textcoords="offset points", ha="left", va="center", fontsize=9,
                    fontweight="bold")
    values_x = [max(r.totals.macs, 1) for r in reports]
    values_y = [max(r.totals.params, 1) for r in reports]
    ax.set_xscale("log")
    ax.set_yscale("log")
    # Room for the largest bubbles at the ends of both axes.
    ax.set_xlim(min(values_x) / 4, max(values_x) * 30)
    ax.set_ylim(min(values_y) / 4, max(values_y) * 4)
    ax.xaxis.set_major_formatter(_formatter(short))
    ax.yaxis.set_major_formatter(_formatter(short))
    ax.set_xlabel("MACs (log scale)")
    ax.set_ylabel("Parameters (log scale)")
    ax.grid(True, which="major", alpha=0.3)
    batch = {r.batch for r in reports}
    ax.set_title("Compute against size; bubble area grows with activation memory (log scale)"
                 + (f" (batch {batch.pop()})" if len(batch) == 1 else ""), fontsize=12)
    return _save(figure, path)


def plot_roofline(result, path):
    """A log-log roofline (analysis.roofline): attainable FLOP/s against arithmetic intensity, the
    bandwidth slope meeting the dtype's dense peak, one point per layer at its lower-bound rate."""
    points = [layer for layer in result.layers if layer.bytes and layer.flops]
    if not points:
        raise SpecError(_("no layer does any arithmetic: nothing to draw on a roofline"))
    figure = _figure(figsize=(9, 6.2), layout="constrained")
    ax = figure.subplots()
    low = min(layer.intensity for layer in points) / 4
    high = max(max(layer.intensity for layer in points), result.ridge) * 4
    xs = [low, result.ridge, high]
    ax.plot(xs, [min(result.peak, x * result.bandwidth) for x in xs], color="black", linewidth=2, zorder=1)
    ax.axvline(result.ridge, color="grey", linestyle=":", linewidth=1)
    ax.annotate(f"peak {result.peak / 1e12:g} TFLOP/s ({result.dtype}, dense)", (high, result.peak),
                xytext=(-4, 6), textcoords="offset points", ha="right", fontsize=9)
    ax.annotate(f"{result.bandwidth / 1e9:g} GB/s", (low * 2, low * 2 * result.bandwidth),
                xytext=(6, -2), textcoords="offset points", ha="left", va="top", fontsize=9, rotation=0)
    kinds = sorted({layer.kind for layer in points})
    for kind in kinds:
        mine = [layer for layer in points if layer.kind == kind]
        ax.scatter([layer.intensity for layer in mine], [layer.flops / layer.seconds for layer in mine],
                   s=[24 + 600 * layer.seconds / result.seconds for layer in mine],
                   color=KIND_COLOURS.get(kind, KIND_COLOURS["other"]), alpha=0.75, label=kind, zorder=2,
                   edgecolors="white", linewidths=0.5)
    labelled = set()              # the five slowest layers by name, one label per spot on the chart
    for layer in sorted(points, key=lambda layer: layer.seconds, reverse=True):
        spot = (f"{layer.intensity:.2g}", f"{layer.flops / layer.seconds:.2g}")
        if spot in labelled or len(labelled) == 5:
            continue
        labelled.add(spot)
        ax.annotate(layer.name, (layer.intensity, layer.flops / layer.seconds), xytext=(6, -10),
                    textcoords="offset points", fontsize=8)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(low, high)
    ax.set_xlabel("Arithmetic intensity (FLOPs per byte moved, log scale)")
    ax.set_ylabel("FLOP/s at the lower-bound time (log scale)")
    ax.yaxis.set_major_formatter(_formatter(lambda v: short(v) + "FLOP/s"))
    ax.grid(True, which="major", alpha=0.3)
    phase = "training step" if result.train else "forward"
    ax.set_title(f"{result.model} on {result.gpu.name}: {phase}, batch {result.batch}, {result.dtype}\n"
                 f"lower bounds from datasheet peaks (no measurement); point area ∝ share of the step's time",
                 fontsize=11)
    ax.legend(loc="lower right", fontsize=9, frameon=False)
    return _save(figure, path)
