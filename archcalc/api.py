"""Small library functions the CLI builds on, reachable from Python too."""
from .spec import zoo
from .analysis.analyzer import analyze
from .layers import lookup
from .spec.graph import as_graph, load_spec


def zoo_rows():
    """One row per built-in spec: its totals at batch 1, fp32."""
    rows = []
    for path in zoo.paths():
        graph = load_spec(path)
        report = analyze(graph)
        rows.append({
            "name": path.stem, "input": list(report.input_shape), "layout": report.layout, "depth": report.depth,
            "params": report.totals.params, "macs": report.totals.macs,
            "activation_bytes": report.totals.activation_bytes,
            "source": graph.source.split("\n")[0],
        })
    return rows


def compare_conventions(spec, *, batch=1, input_shape=None, attention="naive"):
    """Each counting convention's total for one spec, split by layer kind, and its rule for each
    layer type the spec uses (plain data, for `archcalc conventions`); `attention` as in analyze."""
    from .analysis.conventions import CONVENTIONS
    graph = as_graph(spec, input_shape=input_shape)
    reports = {name: analyze(graph, batch=batch, convention=name, attention=attention, backward=False)
               for name in CONVENTIONS}
    kinds = list(dict.fromkeys(r.kind for r in reports["archcalc"].layers))
    types = list(dict.fromkeys(r.type for r in reports["archcalc"].layers))
    rows = []
    for name, convention in CONVENTIONS.items():
        by_kind = {kind: sum(r.flops for r in reports[name].layers if r.kind == kind) for kind in kinds}
        rows.append({"name": name, "tool": convention.tool, "unit": convention.unit,
                     "includes": convention.includes, "total": reports[name].totals.flops, "by_kind": by_kind})
    return {
        "model": graph.name, "batch": batch, "kinds": kinds, "conventions": rows,
        "rules": {t: {name: c.rule(lookup(t)).text for name, c in CONVENTIONS.items()} for t in types},
    }
