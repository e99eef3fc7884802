"""Layers: one class per layer type, the only home of that type's rules (shape, parameters, buffers,
MACs and FLOPs under every counting convention, saved-for-backward bytes, receptive-field step,
explanation, torch module, the torch ops it is imported from).

Adding a type is one class, in its family's file or a new one, decorated with `@register`; a new
family file is imported below. Other packages add types through the `archcalc.layers` entry-point
group (see registry). May import: errors and i18n only. Nothing outside this package branches on a type name.
"""
# The families register their classes on import, in the order `archcalc layers` lists them.
from . import conv, pool, dense, norm, regularization, merge, activation, resample, recurrent  # noqa: F401,I001
from . import embedding, attention, tensor_ops  # noqa: F401,I001
from ..i18n import _
from .base import Kind, Layer
from .registry import layer_types, lookup, normalize, register


def suggest(word, kind=None):
    """'did you mean ...?' for a mistyped layer type (or activation, with kind), over every spelling the
    registry knows (canonical names and aliases), answered with the canonical name. An abbreviation made
    of the first letters of all words but the last (lrelu = leaky_relu, hswish = hard_swish) comes first:
    plain closeness would offer 'relu' for 'lrelu'."""
    import difflib
    spellings = {}
    for cls in layer_types():
        if kind is None or cls.kind == kind:
            for spelling in (cls.type_name, *cls.aliases):
                spellings.setdefault(spelling.lower(), cls.type_name)
    typed = str(word).lower().replace("-", "_")
    for spelling, canonical in spellings.items():
        words = spelling.split("_")
        if len(words) > 1 and typed.replace("_", "") == "".join(w[0] for w in words[:-1]) + words[-1]:
            return _("did you mean '{word}'?").format(word=canonical)
    close = difflib.get_close_matches(typed, list(spellings), n=1, cutoff=0.6) or \
        difflib.get_close_matches(typed.replace("_", ""), [s.replace("_", "") for s in spellings], n=1, cutoff=0.6)
    if not close:
        return None
    by_plain = {s.replace("_", ""): c for s, c in spellings.items()}
    return _("did you mean '{word}'?").format(word=spellings.get(close[0]) or by_plain[close[0]])


def __getattr__(name):
    """LAYER_TYPES (every registered class) is computed on use, after plugins load."""
    if name == "LAYER_TYPES":
        return layer_types()
    raise AttributeError(f"module 'archcalc.layers' has no attribute {name!r}")


__all__ = ["Kind", "Layer", "layer_types", "lookup", "normalize", "register", "suggest"]
