"""A starter spec for `archcalc new`: a complete, commented network to edit, or a copy of a built-in one.

    >>> from archcalc.spec.starter import starter_text
    >>> "layers:" in starter_text("my_net")
    True
"""
from pathlib import Path

from . import zoo
from ..errors import SpecError, read_text, writing
from ..layers.base import did_you_mean

STARTER = """\
# {name}: a starter spec written by `archcalc new`. Edit it, then: archcalc summarize {file}
# Every key a spec may have: docs/spec.md; every layer type and option: archcalc layers
name: {name}
input: [3, 32, 32]                 # channels, height, width (channels_first, PyTorch order);
                                   # for height, width, channels add `layout: channels_last`
blocks:
  res_block:                       # conv-bn-relu-conv-bn, plus the block's input
    args: {{filters: null}}          # null: must be given where the block is used
    layers:
      - conv2d: {{name: conv1, filters: $filters, kernel: 3, padding: 1, bias: false}}
      - batchnorm: {{name: bn1}}
      - relu
      - conv2d: {{name: conv2, filters: $filters, kernel: 3, padding: 1, bias: false}}
      - batchnorm: {{name: bn2}}
      - add: {{from: [bn2, input]}}  # `input` is the block's input: the shortcut
      - relu

layers:
  - conv2d: {{name: stem, filters: 32, kernel: 3, padding: 1, activation: relu}}
  - res_block: {{name: res, filters: 32, repeat: 2}}
  - maxpool2d: 2
  - global_avgpool2d
  - dense: {{name: classifier, units: 10}}
"""


def starter_text(name, from_spec=None, file=None):
    """The text of a new spec named `name`: the starter network, or the built-in spec `from_spec` as it is."""
    if from_spec is None:
        return STARTER.format(name=name, file=file or f"{name}.yaml")
    found = zoo.find(from_spec)
    if found is None:
        raise SpecError(f"no built-in spec named '{from_spec}'",
                        hint=did_you_mean(from_spec, zoo.names()) or f"built-in specs: {', '.join(zoo.names())}")
    return read_text(found, "spec")


def write_starter(path, from_spec=None, force=False):
    """Write a new spec to `path` (refusing to replace a file unless `force`); returns the path."""
    path = Path(path)
    if path.exists() and not force:
        raise SpecError(f"'{path}' already exists", hint="choose another name, or add --force to replace it")
    text = starter_text(path.stem, from_spec, file=str(path))
    with writing(path), open(path, "w", encoding="utf-8") as handle:
        handle.write(text)
    return path
