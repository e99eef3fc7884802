"""Compare several specs: totals side by side, each as a fraction of the first, and where the
parameters and FLOPs sit by layer kind. Plain data, so that tables, CSV, JSON and plots share it.

    >>> from archcalc.compare import compare
    >>> data = compare(["mnist_fc", "mnist_cnn"])
    >>> round(data["models"][1]["ratios"]["params"], 3)      # 93,322 / 407,050
    0.229
"""
from ..analysis.analyzer import analyze

METRICS = ("params", "trainable_params", "macs", "flops", "param_bytes", "activation_bytes", "depth", "layers")


class Comparison(dict):
    """What compare returns: a plain dict (JSON as it is) that also renders itself in a notebook."""

    def _repr_html_(self):
        from ..report.html import comparison_body, fragment
        return fragment(comparison_body(self))

    def _repr_markdown_(self):
        from ..report.homework import comparison
        return comparison(self, "markdown")


def fraction(part, whole):
    """part / whole, or None when whole is 0 (a ratio of nothing)."""
    return part / whole if whole else None


def totals_of(report):
    t = report.totals
    return {"params": t.params, "trainable_params": t.trainable_params, "macs": t.macs, "flops": t.flops,
            "param_bytes": t.param_bytes, "activation_bytes": t.activation_bytes, "depth": report.depth,
            "layers": len(report.layers)}


def by_kind(report):
    """{kind: params, macs, flops and their shares of the model's totals}, in order of first appearance."""
    kinds = {}
    for record in report.layers:
        part = kinds.setdefault(record.kind, {"params": 0, "macs": 0, "flops": 0})
        part["params"] += record.params
        part["macs"] += record.macs
        part["flops"] += record.flops
    for part in kinds.values():
        part["params_share"] = fraction(part["params"], report.totals.params)
        part["flops_share"] = fraction(part["flops"], report.totals.flops)
    return kinds


def compare(specs, *, batch=1, dtype="fp32", keras=False):
    """Analyze each spec (path, zoo name, dict or Graph) and line their numbers up against the first."""
    reports = [analyze(spec, batch=batch, dtype=dtype, keras=keras) for spec in specs]
    return compare_reports(reports, specs)


def compare_reports(reports, specs=None):
    """Line up already-analysed reports against the first; `specs` names where each came from."""
    specs = specs or [report.model for report in reports]
    first_report = reports[0]
    models = []
    for spec, report in zip(specs, reports):
        models.append({"name": report.model, "spec": str(spec) if isinstance(spec, str) else report.model,
                       "input_shape": list(report.input_shape), "layout": report.layout,
                       "totals": totals_of(report), "by_kind": by_kind(report)})
    first = models[0]["totals"]
    for model in models:
        model["ratios"] = {m: fraction(model["totals"][m], first[m]) for m in METRICS}
    kinds = list(dict.fromkeys(kind for model in models for kind in model["by_kind"]))
    return Comparison({"batch": first_report.batch, "dtype": first_report.dtype, "keras": first_report.keras,
            "metrics": list(METRICS), "kinds": kinds, "models": models})
