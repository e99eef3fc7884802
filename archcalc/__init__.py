"""archcalc: what a neural-network architecture costs, computed statically and exactly.

    >>> import archcalc
    >>> report = archcalc.analyze("mnist_fc")
    >>> report.totals.params
    407050

Also: archcalc.from_torch.from_torch (a torch model -> spec), archcalc.plots.plot_layers and
plot_comparison (charts), archcalc.diagram.to_svg and to_dot, archcalc.schema.spec_schema.
"""
__version__ = "0.1.0"

from .analysis.analyzer import LayerRecord, Report, Totals, analyze  # noqa: E402
from .errors import SpecError  # noqa: E402
from .spec.graph import load_spec  # noqa: E402


def to_torch(spec, **kwargs):
    """Build the equivalent torch.nn.Module (needs the `torch` extra): one submodule per spec layer,
    same names, freshly initialised weights. spec: a path, built-in name, dict or Graph."""
    from .bridges.torch_model import to_torch as build
    return build(spec, **kwargs)


__all__ = ["analyze", "load_spec", "to_torch", "Report", "LayerRecord", "Totals", "SpecError",
           "__version__"]
