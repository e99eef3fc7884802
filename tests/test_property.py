"""Random valid specs agree exactly with the real PyTorch model: shapes, parameters, FLOPs and bytes
saved for backward. ARCHCALC_HYPOTHESIS_EXAMPLES sets the number of examples (default 60 in the suite;
ARCHCALC_HYPOTHESIS_EXAMPLES=5000 for a long run)."""

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from archcalc.errors import SpecError
from conftest import hypothesis_examples
from archcalc.layers import lookup

torch = pytest.importorskip("torch")
from archcalc.bridges.verify import verify  # noqa: E402

EXAMPLES = hypothesis_examples(60)
ACTIVATIONS = ["relu", "relu6", "leaky_relu", "elu", "gelu", "silu", "hardswish", "tanh", "sigmoid", "softmax"]


class Builder:
    """Appends named layers to a spec and tracks the current shape with the layer classes' own rule
    (torch then checks that rule too), so every generated spec is valid."""

    def __init__(self, shape):
        self.layers, self.shape, self.last, self.count = [], tuple(shape), "input", 0
        self.shapes = {"input": self.shape}

    def add(self, kind, options=None, inputs=None, **meta):
        """Add the layer if its options fit the current shape; return its name or None."""
        options = dict(options or {})
        activation = options.pop("activation", None)
        cls = lookup(kind)
        refs = inputs or [self.last]
        shapes = [self.shapes[r] for r in refs]
        try:
            out = cls(**cls.with_defaults({k: cls.parse_option(k, v) for k, v in options.items()})).output_shape(shapes)
        except SpecError:
            return None
        self.count += 1
        name = f"n{self.count}"
        self.layers.append({kind: dict(options, activation=activation) if activation else options,
                            "name": name, "from": refs, **meta})
        if activation:     # the loader adds the activation as its own layer, named after this one
            self.shapes[name] = out
            name = f"{name}_{lookup(activation).type_name}"
        self.shapes[name], self.last, self.shape = out, name, out
        return name


@st.composite
def conv_options(draw, channels):
    groups = draw(st.sampled_from([g for g in (1, 2, 3, 4) if channels % g == 0]))
    filters = groups * draw(st.integers(1, 3))
    stride = draw(st.integers(1, 2))
    options = {
        "filters": filters, "groups": groups,
        "kernel": draw(st.one_of(st.integers(1, 4), st.lists(st.integers(1, 3), min_size=2, max_size=2))),
        "stride": stride, "padding": draw(st.sampled_from([0, 1, 2] + (["same"] if stride == 1 else []))),
        "dilation": draw(st.integers(1, 2)), "bias": draw(st.booleans()),
    }
    if draw(st.integers(0, 3)) == 0:
        options["activation"] = draw(st.sampled_from(ACTIVATIONS))
    return options


@st.composite
def map_step(draw, b):
    """One layer or small block on a feature map."""
    choice = draw(st.sampled_from(["conv", "conv", "maxpool", "avgpool", "adaptive", "batchnorm", "activation",
                                   "dropout", "lrn", "residual", "concat", "se"]))
    channels = b.shape[0]
    if choice == "conv":
        b.add("conv2d", draw(conv_options(channels)), trainable=draw(st.sampled_from([True, True, False])))
    elif choice in ("maxpool", "avgpool"):
        kernel = draw(st.integers(1, 3))
        options = {"kernel": kernel, "stride": draw(st.integers(1, 3)), "padding": draw(st.integers(0, kernel // 2)),
                   "ceil_mode": draw(st.booleans())}
        if choice == "avgpool":
            options["count_include_pad"] = draw(st.booleans())
        else:
            options["dilation"] = draw(st.integers(1, 2))
        b.add(f"{choice}2d", options)
    elif choice == "adaptive":
        b.add("adaptive_avgpool2d", {"output": draw(st.one_of(
            st.integers(1, 3), st.lists(st.integers(1, 3), min_size=2, max_size=2)))})
    elif choice == "batchnorm":
        b.add("batchnorm", {"affine": draw(st.booleans())})
    elif choice == "activation":
        b.add(draw(st.sampled_from(ACTIVATIONS)))
    elif choice == "dropout":
        b.add("dropout", {"rate": draw(st.sampled_from([0, 0.25, 0.5]))})
    elif choice == "lrn":
        b.add("lrn", {"size": draw(st.integers(1, 5))})
    elif choice == "residual":
        start = b.last
        kernel = draw(st.sampled_from([1, 3]))
        b.add("conv2d", {"filters": channels, "kernel": kernel, "padding": kernel // 2, "bias": draw(st.booleans())})
        if draw(st.booleans()):
            b.add("batchnorm")
        b.add("add", inputs=[start, b.last])
        if draw(st.booleans()):
            b.add("relu")
    elif choice == "concat":
        start = b.last
        left = b.add("conv2d", {"filters": draw(st.integers(1, 3)), "kernel": 1})
        right = b.add("conv2d", {"filters": draw(st.integers(1, 3)), "kernel": 3, "padding": 1}, inputs=[start])
        b.add("concat", inputs=[left, right] if draw(st.booleans()) else [start, left, right])
    else:   # squeeze-and-excitation scaling
        start = b.last
        b.add("global_avgpool2d")
        b.add("dense", {"units": draw(st.integers(1, 4))})
        b.add("relu")
        b.add("dense", {"units": channels})
        b.add("sigmoid")
        operands = draw(st.permutations([start, b.last] + draw(st.sampled_from([[], [start], [b.last]]))))
        b.add("multiply", inputs=operands)


@st.composite
def specs(draw):
    shape = (draw(st.integers(1, 4)), draw(st.integers(4, 10)), draw(st.integers(4, 10)))
    b = Builder(shape)
    if draw(st.booleans()):   # the first layer sees data that needs no gradient
        first = draw(st.sampled_from(["relu", "maxpool2d", "dropout", "batchnorm"]))
        b.add(first, {"kernel": 2} if first == "maxpool2d" else None)
    for _ in range(draw(st.integers(1, 5))):
        draw(map_step(b))
    if not b.layers:      # every step was rejected for this shape
        b.add("relu")
    head = draw(st.sampled_from(["flatten", "global_avgpool2d", "global_maxpool2d", "none"]))
    if head != "none":
        b.add(head)
        for _ in range(draw(st.integers(0, 2))):
            b.add("dense", {"units": draw(st.integers(1, 8)), "bias": draw(st.booleans())},
                  trainable=draw(st.sampled_from([True, True, False])))
            extra = draw(st.sampled_from(["none", "activation", "dropout", "batchnorm"]))
            if extra == "activation":
                b.add(draw(st.sampled_from(ACTIVATIONS)))
            elif extra != "none":
                b.add(extra)
    return {"name": "random", "input": list(shape), "layers": b.layers}


@pytest.mark.filterwarnings("ignore:Using padding='same'")
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(spec=specs(), train=st.booleans())
def test_random_specs_agree_with_torch(spec, train):
    result = verify(spec, batch=2, train=train)
    wrong = {layer.name: {k: v for k, v in layer.checks.items() if v[1] is not None and v[0] != v[1]}
             for layer in result.layers if not layer.ok}
    wrong.update({k: v for k, v in result.totals.items() if v[1] is not None and v[0] != v[1]})
    assert result.ok, (wrong, spec)
    assert all(check[1] is not None for layer in result.layers for check in layer.checks.values())
