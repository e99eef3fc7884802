"""The layer contract, checked over the whole registry: every registered type (built in or added by a
plugin) states how every tool counts it, and its `example` spec agrees with real PyTorch (shapes,
parameters, buffers, FlopCounterMode forward and backward FLOPs, bytes saved for backward) and with
each real counting tool. A new type is checked here without anyone editing this file."""
import pytest

import archcalc
from archcalc.errors import SpecError
from archcalc.layers import Kind, Layer, layer_types, register
from archcalc.layers.counting import TOOLS, counted_as

from test_conventions import TOOLS as MEASURED_TOOLS, measure

torch = pytest.importorskip("torch")

TYPES = layer_types()
NAMES = [cls.type_name for cls in TYPES]

# Options that change a type's torch module (and so what the tools see) get an example of their own, run
# through the same checks as each type's `example`: (id, layer class, spec).
VARIANTS = [
    ("attention-module-multihead", "attention",       # torch's nn.MultiheadAttention (torchvision's ViT)
     {"name": "example_attention_multihead", "input": [5, 8],
      "layers": [{"dense": 8}, {"attention": {"heads": 2, "module": "multihead"}}]}),
]
EXAMPLES = [pytest.param(cls, cls.example_spec(), id=cls.type_name) for cls in TYPES] + [
    pytest.param(next(cls for cls in TYPES if cls.type_name == type_name), spec, id=name)
    for name, type_name, spec in VARIANTS]


def test_registry_refuses_a_type_that_leaves_a_tool_out():
    class Half(Layer):
        type_name = "half_counted"
        counting = {"archcalc": counted_as()["archcalc"]}
    with pytest.raises(TypeError, match="does not say how torch, torchvision, fvcore, thop, ptflops, torchinfo"):
        register(Half)


def test_registry_refuses_a_spelling_already_taken():
    class Clash(Layer):
        type_name = "relu"
        counting = counted_as()
    with pytest.raises(TypeError, match="already layer type 'relu'"):
        register(Clash)


@pytest.mark.parametrize("cls", TYPES, ids=NAMES)
def test_every_type_states_every_hook(cls):
    assert set(cls.counting) == set(TOOLS)
    assert all(rule.text for rule in cls.counting.values())
    assert isinstance(cls.kind, Kind)
    assert cls.example is not None, f"{cls.type_name} has no example spec"
    assert cls.torch_modules or cls.torch_functions or cls.imported_as is None, \
        f"{cls.type_name} names no torch module or function"


@pytest.mark.parametrize("cls,spec", EXAMPLES)
def test_example_agrees_with_torch_forward_and_backward(cls, spec):
    assert cls.type_name in {r.type for r in archcalc.analyze(spec).layers}
    result = archcalc.verify(spec, batch=2, train=True)
    bad = {layer.name: {k: v for k, v in layer.checks.items() if v[1] is not None and v[0] != v[1]}
           for layer in result.layers if not layer.ok}
    assert result.ok, bad


@pytest.mark.parametrize("tool", MEASURED_TOOLS)
@pytest.mark.parametrize("cls,spec", EXAMPLES)
def test_example_matches_each_real_counting_tool(cls, spec, tool):
    assert archcalc.analyze(spec, batch=2, convention=tool).totals.flops == measure(tool, spec, 2)


@pytest.mark.parametrize("cls,spec", EXAMPLES)
def test_example_imports_back_from_torch(cls, spec):
    """from-torch maps the torch module each type builds back to the same type and counts."""
    model = archcalc.to_torch(spec).eval()
    graph = archcalc.load_spec(spec)
    back = archcalc.from_torch(model, list(graph.input_shape), dtype=graph.input_dtype)
    ours, theirs = archcalc.analyze(spec), archcalc.analyze(back)
    assert (theirs.totals.params, theirs.totals.macs, theirs.totals.flops) == \
        (ours.totals.params, ours.totals.macs, ours.totals.flops)
    assert cls.imported_as is None or cls.imported_as in {r.type for r in theirs.layers}


def test_an_unknown_tool_in_counted_as_is_refused():
    with pytest.raises(TypeError, match="unknown counting tools"):
        counted_as(flopz=None)


def test_example_spec_errors_are_spec_errors():
    with pytest.raises(SpecError):
        archcalc.analyze({"input": [3], "layers": [{"conv2d": {"filters": 2, "kernel": 3}}]})
