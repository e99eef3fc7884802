"""Small library functions the CLI builds on, reachable from Python too."""
from . import zoo
from .analyzer import analyze
from .spec import load_spec


def zoo_rows():
    """One row per built-in spec: its totals at batch 1, fp32."""
    rows = []
    for path in zoo.paths():
        graph = load_spec(path)
        report = analyze(graph)
        rows.append({
            "name": path.stem, "input": list(report.input_shape), "depth": report.depth,
            "params": report.totals.params, "macs": report.totals.macs,
            "activation_bytes": report.totals.activation_bytes,
            "source": graph.source.split("\n")[0],
        })
    return rows
