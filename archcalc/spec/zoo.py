"""The built-in specs: specs/*.yaml, installed as the package data `archcalc/specs`."""
import re
from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent.parent


def directory():
    """archcalc/specs when installed; the checkout's specs/ when run from source or installed editable."""
    installed = _PACKAGE / "specs"
    return installed if installed.is_dir() else _PACKAGE.parent / "specs"


def paths():
    """In natural order: resnet18 before resnet101."""
    return sorted(directory().glob("*.yaml"), key=lambda p: [int(t) if t.isdigit() else t
                                                             for t in re.split(r"(\d+)", p.stem)])


def names():
    return [p.stem for p in paths()]


def find(name):
    """The path of a built-in spec by name (with or without .yaml), or None."""
    stem = name[:-5] if name.endswith(".yaml") else name
    for path in paths():
        if path.stem.lower() == stem.lower():
            return path
    return None
