"""Layers: one class per layer type, the only home of that type's rules (shape, parameters, buffers,
MACs and FLOPs under every counting convention, saved-for-backward bytes, receptive-field step,
explanation, torch module, the torch ops it is imported from).

Adding a type is one class, in its family's file or a new one, decorated with `@register`; a new
family file is imported below. Other packages add types through the `archcalc.layers` entry-point
group (see registry). May import: errors only. Nothing outside this package branches on a type name.
"""
# The families register their classes on import, in the order `archcalc layers` lists them.
from . import conv, pool, dense, norm, regularization, merge, activation, resample  # noqa: F401,I001
from .base import Kind, Layer, did_you_mean
from .registry import layer_types, lookup, normalize, register, spellings


def suggest(name):
    return did_you_mean(normalize(name), spellings())


def __getattr__(name):
    """LAYER_TYPES (every registered class) is computed on use, after plugins load."""
    if name == "LAYER_TYPES":
        return layer_types()
    raise AttributeError(f"module 'archcalc.layers' has no attribute {name!r}")


__all__ = ["Kind", "Layer", "layer_types", "lookup", "normalize", "register", "suggest"]
