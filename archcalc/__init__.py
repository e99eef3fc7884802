"""archcalc: what a neural-network architecture costs, computed statically and exactly.

    >>> import archcalc
    >>> report = archcalc.analyze("mnist_fc")
    >>> report.totals.params
    407050
"""
__version__ = "0.1.0"

from .analyzer import analyze  # noqa: E402
from .errors import SpecError  # noqa: E402
from .spec import load_spec  # noqa: E402


def to_torch(spec, **kwargs):
    """Build the equivalent torch.nn.Module (needs the `torch` extra)."""
    from .torch_bridge import to_torch as build
    return build(spec, **kwargs)


__all__ = ["analyze", "load_spec", "to_torch", "SpecError", "__version__"]
