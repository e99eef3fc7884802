"""The ordered registry of layer types: `@register` on a class adds it; other packages add theirs
through the `archcalc.layers` entry-point group, loaded the first time a spelling is not built in or
the whole list is asked for (so `summarize` on a built-in spec never scans installed packages)."""
from .counting import TOOLS

ENTRY_POINT_GROUP = "archcalc.layers"
_TYPES = []         # in registration order: built-in families first, then plugins
_SPELLINGS = {}     # normalized spelling -> class
_plugins_loaded = False


def normalize(name):
    """Spellings match case-insensitively and ignoring '_' and '-': Conv2D = conv2d, MaxPooling2D = max_pooling2d."""
    return str(name).lower().replace("_", "").replace("-", "")


def register(cls):
    """Add a layer class to the registry (use as a class decorator). Refuses a class that does not state
    how every counting tool counts it, or whose spelling another type already has."""
    if not cls.type_name:
        raise TypeError(f"{cls.__name__} has no type_name")
    missing = [tool for tool in TOOLS if tool not in (cls.counting or {})]
    if missing:
        raise TypeError(f"layer type '{cls.type_name}' ({cls.__module__}.{cls.__name__}) does not say how "
                        f"{', '.join(missing)} count it: set `counting = counted_as(...)` "
                        "(archcalc.layers.counting)")
    shadowing = [name for name in cls.options if hasattr(cls, name)]
    if shadowing:
        raise TypeError(f"options {shadowing} of '{cls.type_name}' have the names of class attributes or hooks")
    for spelling in (cls.type_name, *cls.aliases):
        taken = _SPELLINGS.get(normalize(spelling))
        if taken is not None and taken is not cls:
            raise TypeError(f"spelling '{spelling}' of {cls.__name__} is already layer type '{taken.type_name}'")
    for spelling in (cls.type_name, *cls.aliases):
        _SPELLINGS[normalize(spelling)] = cls
    _TYPES.append(cls)
    return cls


def load_plugins():
    """Import every `archcalc.layers` entry point once; each module registers its classes with @register
    (an entry point naming a class registers that class)."""
    global _plugins_loaded
    if _plugins_loaded:
        return
    _plugins_loaded = True
    from importlib.metadata import entry_points
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        loaded = entry.load()
        if isinstance(loaded, type) and loaded not in _TYPES:
            register(loaded)


def layer_types():
    """Every registered layer class, built-in and plugin, in registration order."""
    load_plugins()
    return tuple(_TYPES)


def lookup(name, plugins=True):
    """The layer class for a spelling, or None; `plugins=False` looks among the types loaded so far only
    (the built-in ones, unless a plugin was already needed), without scanning installed packages."""
    found = _SPELLINGS.get(normalize(name))
    if found is None and plugins and not _plugins_loaded:
        load_plugins()
        found = _SPELLINGS.get(normalize(name))
    return found
