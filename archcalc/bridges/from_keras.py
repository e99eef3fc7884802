"""Import a Keras 3 model as an archcalc spec: each Keras layer is read by the layer class that names its
Keras class (`keras_classes`, `from_keras_layer`; `keras_activation` for `activation=`; see
archcalc/layers/base.py), the wiring read from the functional graph Keras keeps. This module is the
generic plumbing: the registry lookup, ZeroPadding2D folded into the conv or pool after it, names, and
the check against Keras's own counts.

`archcalc from-keras model.keras` loads a saved model; `archcalc from-keras PACKAGE.MODULE:CALLABLE`
imports and calls the user's code (that is the point of the command). Before the spec is handed back it
is analyzed with Keras's counting and its total compared with the model's count_params(), so a spec that
archcalc would read differently from Keras is never written. Keras is imported inside these functions.
"""
import math
import re
from pathlib import Path

from ..errors import SpecError, Unsupported
from ..layers import layer_types
from ..spec.graph import INPUT
from .keras_model import import_keras
from .targets import build_target



def keras_classes():
    """Keras layer class name -> the archcalc layer class that reads it, from each class's `keras_classes`."""
    found = {}
    for cls in layer_types():
        for name in cls.keras_classes:
            found.setdefault(name, cls)
    return found


def activation_names():
    """Keras activation name (a function's __name__) -> archcalc type, from `keras_activation` and
    `keras_activation_aliases`."""
    found = {}
    for cls in layer_types():
        for name in (cls.keras_activation, *cls.keras_activation_aliases):
            if name:
                found.setdefault(name, cls.type_name)
    return found


def load_keras_model(target):
    """A .keras file, or 'package.module:callable' returning a keras.Model (or the model itself)."""
    keras = import_keras()
    from .keras_model import custom_layers
    if target.endswith((".keras", ".h5")) or Path(target).is_file():
        if not Path(target).is_file():
            raise SpecError(f"no such file: {target}", hint="save the model with model.save('net.keras')")
        try:
            return keras.saving.load_model(target, custom_objects=custom_layers(), compile=False)
        except Exception as err:  # noqa: BLE001 - any load failure is the file's problem, said plainly
            raise SpecError(f"Keras cannot load {target}: {err}", hint="save it with Keras 3: model.save('net.keras')")
    if ":" not in target:
        raise SpecError(f"'{target}' is neither a .keras file nor PACKAGE.MODULE:CALLABLE",
                        hint="e.g. archcalc from-keras net.keras, or archcalc from-keras mypackage.models:build")
    return build_target(target, keras.Model, what="keras.Model", framework="keras", command="from-keras",
                        example="archcalc from-keras mypackage.models:build")


def _pair(value):
    value = tuple(value) if isinstance(value, (tuple, list)) else (value, value)
    return value[0] if value[0] == value[1] else list(value)


def _activation(layer):
    """The archcalc name of a layer's `activation=`, None for linear."""
    function = getattr(layer, "activation", None)
    name = getattr(function, "__name__", None) if function is not None else None
    if name is None or function is import_keras().activations.linear:
        return None
    names = activation_names()
    if name not in names:
        raise Unsupported(f"activation '{name}'")
    return names[name]


def _same_padding(size, kernel, stride, dilation=1):
    """Keras's padding='same' as archcalc's symmetric padding, when it is symmetric."""
    effective = dilation * (kernel - 1) + 1
    total = max((math.ceil(size / stride) - 1) * stride + effective - size, 0)
    if total % 2:
        raise Unsupported(f"padding='same' pads {total} pixel(s) unevenly (more at the end); archcalc pads "
                          "both sides alike")
    return total // 2


def _padding(layer, shape, pending, kernel, stride, dilation=(1, 1), ceil=False):
    """(the spec's padding, ceil_mode) for a conv or pool: its own 'same', plus a ZeroPadding2D folded into
    it. `ceil`: a max-pool may take extra end pixels (fewer than its stride) as ceil_mode, as export-keras
    writes GoogLeNet's; from_keras then checks every output shape against Keras's."""
    if layer.padding == "same":
        pads = [_same_padding(n, k, s, d) for n, k, s, d in zip(shape[:2], kernel, stride, dilation)]
    else:
        pads = [0, 0]
    rounds_up = False
    if pending:
        (top, bottom), (left, right) = pending
        extra = (bottom - top, right - left)
        if extra != (0, 0):
            if not (ceil and layer.padding == "valid" and all(0 <= e < s for e, s in zip(extra, stride))):
                raise Unsupported("ZeroPadding2D with different padding before and after")
            rounds_up = True
        pads = [pads[0] + top, pads[1] + left]
    return _pair(pads), rounds_up


class _Reader:
    """The helpers a layer class's from_keras_layer hook calls back (see archcalc/layers/base.py)."""

    pair = staticmethod(_pair)
    activation = staticmethod(_activation)
    padding = staticmethod(_padding)


READER = _Reader()


def _convert(layer, shape, pending):
    """(archcalc type, options) for one Keras layer, or None when it vanishes; `shape` is its input's
    (H, W, C) without batch."""
    cls = type(layer).__name__
    if getattr(layer, "data_format", "channels_last") != "channels_last":
        raise Unsupported("data_format='channels_first' (archcalc reads Keras models as channels_last)")
    reads = keras_classes().get(cls)
    if pending and not (reads and reads.keras_reads_padding):
        raise Unsupported("ZeroPadding2D before a layer other than a conv or pool")
    if cls == "Activation":             # Keras's generic activation layer: the type its function names
        name = _activation(layer)
        return (name, {}) if name else None
    if reads is None:
        raise Unsupported("no archcalc layer type for it")
    return reads.from_keras_layer(READER, layer, shape, pending)


def _spec_name(name, taken):
    word = re.sub(r"[^A-Za-z0-9_]", "_", name) or "layer"
    candidate, count = word, 1
    while candidate in taken or candidate == INPUT:
        count += 1
        candidate = f"{word}_{count}"
    taken.add(candidate)
    return candidate


def _output_last(layers, reads, outs, index):
    """The entries with the output's (entry `index`) moved to the end, as a spec's output is its last
    layer: Keras may list an auxiliary head's layers after it. Every entry keeps what it reads; `from`
    is written where that is not the entry before."""
    order = [i for i in range(len(layers)) if i != index] + [index]
    moved, previous = [], INPUT
    for i in order:
        (type_name, options), = layers[i].items()
        rest = {k: v for k, v in options.items() if k not in ("name", "from")}
        read = reads[i]
        where = {} if read == [previous] else {"from": read[0] if len(read) == 1 else read}
        moved.append({type_name: {"name": options["name"], **where, **rest}})
        previous = outs[i]
    return moved


def _sources(layer):
    """The names of the layers whose outputs feed `layer`."""
    inputs = layer.input if isinstance(layer.input, (list, tuple)) else [layer.input]
    return [tensor._keras_history.operation.name for tensor in inputs]


def from_keras(model, *, name=None, source=None):
    """A spec (a plain dict, for archcalc.analyze or to_yaml) equivalent to the Keras `model`, checked
    against Keras's own count_params() before it is returned."""
    import_keras()
    try:
        model.inputs
    except (AttributeError, ValueError):
        raise SpecError(f"{model.name} has no input shape yet",
                        hint="build it with keras.Input(shape=(28, 28, 1)) as its first layer") from None
    if not model.inputs or len(model.inputs) != 1 or not model.outputs:
        raise SpecError("from-keras handles models with one input",
                        hint="a spec has one `input`; build the model from a single keras.Input")
    input_shape = tuple(model.inputs[0].shape[1:])
    if any(d is None for d in input_shape):
        raise SpecError(f"the model's input shape {input_shape} has unknown sizes",
                        hint="build it with keras.Input(shape=(28, 28, 1)) and fixed sizes")
    alias, pending, problems, layers, taken, produced, consumed = {}, {}, [], [], set(), {}, set()
    reads, outs = [], []          # per entry: the spec names it reads, and the name of its output
    last = INPUT
    alias[model.inputs[0]._keras_history.operation.name] = INPUT     # Sequential leaves its InputLayer out
    for layer in model.layers:
        cls = type(layer).__name__
        if cls == "InputLayer":
            alias[layer.name] = INPUT
            continue
        refs = _sources(layer)
        if any(ref not in alias for ref in refs):       # after a layer already reported: only its own type
            if cls == "ZeroPadding2D":
                continue
            try:
                _convert(layer, tuple(layer.input.shape[1:]) if len(refs) == 1 else (), None)
            except Unsupported as reason:
                problems.append(f"{layer.name} ({cls}): {reason}")
            continue
        if cls == "ZeroPadding2D":
            pending[layer.name] = (tuple(tuple(p) for p in layer.padding), alias[refs[0]])
            alias[layer.name] = layer.name
            continue
        padded = [pending.pop(ref) for ref in refs if ref in pending]
        inputs = [padded[0][1]] if padded else [alias[ref] for ref in refs]
        try:
            converted = _convert(layer, tuple(layer.input.shape[1:]) if len(refs) == 1 else (), padded and padded[0][0])
        except Unsupported as reason:
            problems.append(f"{layer.name} ({cls}): {reason}")
            continue
        if converted is None:
            alias[layer.name] = alias[refs[0]]
            continue
        type_name, options = converted
        consumed.update(inputs)
        spec_name = _spec_name(layer.name, taken)
        entry = {"name": spec_name}
        if inputs != [last]:
            entry["from"] = inputs[0] if len(inputs) == 1 else inputs
        entry.update(options)
        layers.append({type_name: entry})
        activation = options.get("activation")
        alias[layer.name] = last = f"{spec_name}_{activation}" if activation else spec_name
        reads.append(inputs)
        outs.append(last)
        produced[layer.name] = last
        if activation:
            taken.add(last)
    if pending:
        problems += [f"{key} (ZeroPadding2D): nothing archcalc can fold it into follows" for key in pending]
    if problems:
        listed = "\n  ".join(problems)
        raise SpecError(f"{len(problems)} layer(s) of {model.name} have no archcalc equivalent:\n  {listed}",
                        hint="archcalc reads standard Keras layers; see `archcalc layers`")
    output, *side = [tensor._keras_history.operation.name for tensor in model.outputs]
    if side and alias.get(output) in outs and alias.get(output) != last:
        layers, last = _output_last(layers, reads, outs, outs.index(alias[output])), alias[output]
    if alias.get(output) != last:
        raise SpecError(f"{model.name} must return the output of its last layer first", hint="from-keras reads "
                        "the first output as the spec's; further outputs (auxiliary heads) as side branches")
    inner = [name for name in side if alias.get(name) in consumed or alias.get(name) not in produced.values()]
    if inner:
        raise SpecError(f"{model.name}'s outputs {', '.join(inner)} are read by later layers or are not layers "
                        "of their own", hint="from-keras takes further outputs only at the ends of side branches "
                                             "(an auxiliary head's classifier)")
    spec = {"name": name or model.name, "input": list(input_shape), "layout": "channels_last"}
    if source:
        spec["source"] = source
    spec["layers"] = layers
    _check_against_keras(spec, model, produced)
    return spec


def _check_against_keras(spec, model, produced):
    """Summarize the spec with Keras's counting: its total must be Keras's count_params(), and each spec
    layer's output shape the shape of the Keras layer it came from."""
    from ..analysis.analyzer import analyze
    try:
        report = analyze(spec, keras=True)
    except SpecError as err:
        raise SpecError(f"the spec written for {model.name} does not summarize: {err}",
                        hint="please report this model; the import missed something") from None
    if report.totals.params != model.count_params():
        raise SpecError(f"the spec for {model.name} has {report.totals.params:,} params but Keras counts "
                        f"{model.count_params():,}", hint="please report this model; the import missed something")
    shapes = {r.name: tuple(r.output_shape) for r in report.layers}
    for keras_name, spec_name in produced.items():
        theirs = tuple(model.get_layer(keras_name).output.shape[1:])
        if shapes[spec_name] != theirs:
            raise SpecError(f"the spec's {spec_name} gives {shapes[spec_name]} but Keras's {keras_name} gives "
                            f"{theirs}", hint="please report this model; the import missed something")
