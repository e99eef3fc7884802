"""One-off calculators without a spec: a single conv, pool or dense layer, worked out with the layer
classes' own rules; and, with numpy, the actual output values of a small convolution or pooling.

    >>> from archcalc.homework.calc import conv_explanation
    >>> conv_explanation(input_size="227", kernel="11", stride="4", in_channels=3, filters=96).layers[0].result("params")
    34944

Convolution here is what deep-learning frameworks compute (cross-correlation: the kernel is not flipped).
"""
import math
import re

from ..errors import LayerError, SpecError, read_text
from ..i18n import _
from .explain import Explanation, LayerExplanation
from ..layers.conv import Conv2d
from ..layers.dense import Dense
from ..layers.pool import AvgPool2d, MaxPool2d
from ..layers.shapes import CHANNELS_LAST, LAYOUTS, to_layout

POOLS = {"max": MaxPool2d, "avg": AvgPool2d}


def size_pair(text, what, minimum=0):
    """"227" or "227x227" (also 227×227, 227,227) -> (227, 227)."""
    parts = re.split(r"[x×,]", str(text).strip().lower())
    try:
        values = [int(p) for p in parts]
    except ValueError:
        values = []
    if len(values) == 1:
        values *= 2
    if len(values) != 2:
        raise SpecError(_("--{option} must be a size such as 227 or 227x227, got {value}").format(
            option=what, value=repr(text)), hint=_("write one number, or height x width"))
    if min(values) < minimum:
        raise SpecError(_("--{option} must be at least {minimum}, got {value}").format(
            option=what, minimum=minimum, value=repr(text)), hint=_("every size is {minimum} or more").format(minimum=minimum))
    return tuple(values)


def at_least_one(value, option):
    """A count from the command line (channels, features): 1 or more."""
    if value < 1:
        raise SpecError(_("--{option} must be at least {minimum}, got {value}").format(option=option, minimum=1, value=value),
                        hint=_("a count of channels or features is 1 or more"))
    return value


def build(cls, **given):
    """A layer from command-line values, validated by the layer's own option parsers."""
    opts = {}
    for name, value in given.items():
        if value is None:
            continue
        try:
            opts[name] = cls.parse_option(name, list(value) if isinstance(value, tuple) else value)
        except LayerError as err:
            raise SpecError(f"--{name.replace('_', '-')}: {err.message}", hint=err.hint) from None
    return cls(**cls.with_defaults(opts))


def single(layer, ins, name, layout=CHANNELS_LAST):
    """A one-layer Explanation, shapes shown in `layout`: height×width×channels (channels_last, as
    courses write them, the default) or channels×height×width (channels_first, as PyTorch prints them)."""
    if layout not in LAYOUTS:
        raise SpecError(f"unknown layout '{layout}'", hint=f"choose one of {', '.join(LAYOUTS)}")
    try:
        out = layer.output_shape(ins)
        steps = layer.explain(ins, out)
        warnings = layer.warnings(ins)
    except LayerError as err:
        raise SpecError(err.message, hint=err.hint) from None
    explained = LayerExplanation(name, layer.type_name, layer.kind, None, to_layout(out, layout), steps,
                                 [] if any(s.exact for s in steps) else warnings)
    return Explanation(name, to_layout(ins[0], layout), layout, [explained], layer.params(ins))


def conv_explanation(*, input_size, kernel, stride="1", padding="0", in_channels=1, filters=1, dilation="1",
                     groups=1, bias=True, layout=CHANNELS_LAST):
    padding = padding if str(padding).lower() in ("same", "valid") else size_pair(padding, "padding")
    layer = build(Conv2d, filters=filters, kernel=size_pair(kernel, "kernel"), stride=size_pair(stride, "stride"),
                  padding=padding, dilation=size_pair(dilation, "dilation"), groups=groups, bias=bias)
    height, width = size_pair(input_size, "input", minimum=1)
    return single(layer, [(at_least_one(in_channels, "in-channels"), height, width)], "conv", layout)


def pool_explanation(*, input_size, kernel, stride=None, padding="0", channels=1, mode="max", ceil_mode=False,
                     layout=CHANNELS_LAST):
    layer = build(POOLS[mode], kernel=size_pair(kernel, "kernel"),
                  stride=size_pair(stride, "stride") if stride else None,
                  padding=size_pair(padding, "padding"), ceil_mode=ceil_mode)
    height, width = size_pair(input_size, "input", minimum=1)
    return single(layer, [(at_least_one(channels, "channels"), height, width)], f"{mode}pool", layout)


def dense_explanation(*, inputs, units, bias=True):
    return single(build(Dense, units=units, bias=bias), [(at_least_one(inputs, "input"),)], "dense")


def explanation_dict(exp):
    """An Explanation as plain data for `calc --format json`: shapes as lists in the explanation's layout,
    every count an integer, each step with its formula, substitution and result."""
    def value(result):
        return list(to_layout(result, exp.layout)) if isinstance(result, tuple) else result
    return {
        "model": exp.model, "input_shape": list(exp.input_shape), "layout": exp.layout,
        "layers": [{
            "name": layer.name, "type": layer.type, "output_shape": list(layer.output_shape),
            "params": layer.result("params"), "macs": layer.result("MACs"), "flops": layer.result("FLOPs"),
            "steps": [{"quantity": s.quantity, "formula": s.formula, "substituted": s.substituted,
                       "result": value(s.result), "exact": s.exact, "note": s.note} for s in layer.steps],
            "warnings": list(layer.warnings),
        } for layer in exp.layers],
    }


# ---- numeric versions (numpy)

def read_matrices(path):
    """A text file of numbers -> a list of 2-D float arrays; blank lines separate matrices (channels)."""
    import numpy as np
    lines = read_text(path, "matrix").splitlines()
    blocks, rows = [], []
    for number, line in enumerate(lines + [""], 1):
        words = [w for w in re.split(r"[\s,;]+", line.strip()) if w]
        if not words:
            if rows:
                blocks.append(rows)
                rows = []
            continue
        bad = next((w for w in words if not is_number(w)), None)
        if bad is not None:
            raise SpecError(f"'{bad}' is not a number", file=str(path), line=number,
                            hint="write one matrix row per line, finite numbers separated by spaces or commas")
        values = [float(w) for w in words]
        if rows and len(values) != len(rows[0][1]):
            raise SpecError(f"this row has {len(values)} numbers but the matrix's first row (line {rows[0][0]}) "
                            f"has {len(rows[0][1])}", file=str(path), line=number,
                            hint="every row of a matrix needs the same number of columns; "
                                 "separate channels with a blank line")
        rows.append((number, values))
    if not blocks:
        raise SpecError("the file has no numbers", file=str(path), line=1)
    shapes = {(len(b), len(b[0][1])) for b in blocks}
    if len(shapes) > 1:
        raise SpecError("the channels (blank-line separated matrices) have different sizes: "
                        + ", ".join(f"{h}×{w}" for h, w in sorted(shapes)), file=str(path), line=blocks[1][0][0])
    return [np.array([values for _, values in block]) for block in blocks]


def is_number(word):
    """A finite number: 3, -0.5, 1e3; not nan or inf, with which no output value means anything."""
    try:
        return math.isfinite(float(word))
    except ValueError:
        return False


def conv_values(channels, kernels, *, stride="1", padding="0", bias=0.0):
    """The output of one filter: Σ over channels of the kernel slid over the zero-padded input, plus bias.
    The output size comes from Conv2d's own rule, so the numbers and `calc conv` agree."""
    import numpy as np
    if len(kernels) != len(channels):
        raise SpecError(f"the input has {len(channels)} channel(s) but the kernel has {len(kernels)} matrix(es)",
                        hint="give one kernel matrix per input channel (blank-line separated, or repeat the option)")
    if len({k.shape for k in kernels}) > 1:
        raise SpecError("the kernel matrices have different sizes")
    layer = build(Conv2d, filters=1, kernel=kernels[0].shape, stride=size_pair(stride, "stride"),
                  padding=size_pair(padding, "padding"), bias=bool(bias))
    out = checked_shape(layer, (len(channels),) + channels[0].shape)
    (ph, pw), (sh, sw), (kh, kw) = layer.padding, layer.stride, layer.kernel
    image = np.stack([np.pad(c, ((ph, ph), (pw, pw))) for c in channels])
    weights = np.stack(kernels)
    result = np.empty(out[1:])
    for i in range(out[1]):
        for j in range(out[2]):
            result[i, j] = np.sum(image[:, i * sh:i * sh + kh, j * sw:j * sw + kw] * weights) + bias
    return result


def pool_values(matrix, *, kernel, stride=None, padding="0", mode="max"):
    """Pooled values and, for max pooling, the backward routing mask: how many outputs each input
    position's gradient flows to (1 where a window's first maximum was, 0 elsewhere)."""
    import numpy as np
    layer = build(POOLS[mode], kernel=size_pair(kernel, "kernel"),
                  stride=size_pair(stride, "stride") if stride else None, padding=size_pair(padding, "padding"))
    out = checked_shape(layer, (1,) + matrix.shape)
    (ph, pw), (sh, sw), (kh, kw) = layer.padding, layer.strides(), layer.kernel
    fill = -np.inf if mode == "max" else 0.0
    padded = np.pad(matrix, ((ph, ph), (pw, pw)), constant_values=fill)
    values, mask = np.empty(out[1:]), np.zeros(padded.shape, dtype=int)
    for i in range(out[1]):
        for j in range(out[2]):
            window = padded[i * sh:i * sh + kh, j * sw:j * sw + kw]
            if mode == "max":
                r, c = np.unravel_index(np.argmax(window), window.shape)     # the first maximum, as PyTorch
                values[i, j] = window[r, c]
                mask[i * sh + r, j * sw + c] += 1
            else:
                values[i, j] = window.sum() / window.size                   # count_include_pad, PyTorch's default
    mask = mask[ph:ph + matrix.shape[0], pw:pw + matrix.shape[1]]
    return values, (mask if mode == "max" else None)


MAX_NUMERIC_SIDE = 2048    # numeric mode slides a window in Python: padded input and output at most this per side


def checked_shape(layer, shape):
    try:
        out = layer.output_shape([shape])
    except LayerError as err:
        raise SpecError(err.message, hint=err.hint) from None
    (ph, pw) = layer.padding if isinstance(layer.padding, tuple) else (0, 0)
    padded = (shape[1] + 2 * ph, shape[2] + 2 * pw)
    if max(padded + tuple(out[1:])) > MAX_NUMERIC_SIDE:
        raise SpecError(f"numeric mode works on matrices up to {MAX_NUMERIC_SIDE} per side, padding included; "
                        f"this one is {padded[0]}×{padded[1]} padded, with a {out[1]}×{out[2]} output",
                        hint="check --padding and --stride; without --matrix, calc gives the sizes for any input")
    return out
