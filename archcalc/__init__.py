"""archcalc: what a neural-network architecture costs, computed statically and exactly.

    >>> import archcalc
    >>> report = archcalc.analyze("mnist_fc")
    >>> report.totals.params
    407050

Every command has a function here: analyze, load_spec, memory, explain, compare, check, verify,
to_torch, torch_source, from_torch, to_keras, verify_keras, from_keras, make_sheet (exercises), shard,
roofline, plot_layers, plot_comparison, to_svg, to_dot, spec_schema.
Only analyze, load_spec and SpecError load with the package; the others import their module (and
torch or matplotlib) on first use, so `import archcalc` stays as light as `summarize` needs.
"""
import importlib

from .version import __version__  # noqa: F401
from .analysis.analyzer import LayerRecord, Report, Totals, analyze  # noqa: E402
from .analysis.memory import MemoryReport  # noqa: E402
from .errors import SpecError  # noqa: E402
from .spec.graph import load_spec  # noqa: E402

_LAZY = {
    "memory": "analysis.memory", "explain": "homework.explain", "compare": "homework.compare",
    "check": "homework.check", "verify": "bridges.verify", "to_torch": "bridges.torch_model",
    "torch_source": "bridges.torch_model", "from_torch": "bridges.from_torch", "plot_layers": "report.plots",
    "plot_comparison": "report.plots", "to_svg": "report.diagram", "to_dot": "report.diagram",
    "spec_schema": "spec.schema", "to_keras": "bridges.keras_model", "verify_keras": "bridges.keras_model",
    "from_keras": "bridges.from_keras", "make_sheet": "homework.exercises", "shard": "analysis.sharding",
    "roofline": "analysis.roofline", "kv_cache": "analysis.inference",
    "from_hf": "bridges.from_hf", "from_hf_yaml": "bridges.from_hf",
    "set_language": "i18n",
    "infer": "analysis.inference",
    "compare_checkpoints": "analysis.memory",
}


def _rich_display(*classes):
    """Jupyter renders these as tables (report.html, imported on first display). Wired here, at the front
    door, so that analysis never imports report."""
    def html(self):
        from .report.html import repr_html
        return repr_html(self)

    def markdown(self):
        from .report.html import repr_markdown
        return repr_markdown(self)
    for cls in classes:
        cls._repr_html_, cls._repr_markdown_ = html, markdown


_rich_display(Report, MemoryReport)


def __getattr__(name):
    """PEP 562: archcalc.memory(...) imports archcalc.analysis.memory on first use."""
    if name in _LAZY:
        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module 'archcalc' has no attribute {name!r}")


__all__ = ["analyze", "load_spec", "Report", "LayerRecord", "Totals", "SpecError", "__version__", *_LAZY]
