"""The layer registry: spelling -> layer class. Adding a layer type is one class and one line here."""
from .activation import ACTIVATIONS
from .base import Layer, did_you_mean
from .conv import Conv2d
from .dense import Dense, Flatten
from .merge import Add, Concat, Multiply
from .norm import BatchNorm, LocalResponseNorm
from .pool import AdaptiveAvgPool2d, AvgPool2d, GlobalAvgPool2d, GlobalMaxPool2d, MaxPool2d
from .regularization import Dropout

LAYER_TYPES = (
    Conv2d,
    MaxPool2d, AvgPool2d, AdaptiveAvgPool2d, GlobalAvgPool2d, GlobalMaxPool2d,
    Dense, Flatten,
    BatchNorm, LocalResponseNorm,
    Dropout,
    Add, Concat, Multiply,
    *ACTIVATIONS,
)


def normalize(name):
    """Spellings match case-insensitively and ignoring '_' and '-': Conv2D = conv2d, MaxPooling2D = max_pooling2d."""
    return str(name).lower().replace("_", "").replace("-", "")


REGISTRY = {normalize(alias): cls for cls in LAYER_TYPES for alias in (cls.type_name, *cls.aliases)}


def lookup(name):
    """The layer class for a spelling, or None."""
    return REGISTRY.get(normalize(name))


def suggest(name):
    return did_you_mean(normalize(name), REGISTRY)


__all__ = ["Layer", "LAYER_TYPES", "REGISTRY", "lookup", "suggest"]
