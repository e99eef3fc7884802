"""The activations of issue 12 (prelu, hardsigmoid, mish, selu, softplus, log_softmax, glu, swiglu, geglu)
against real torch (parameters, shapes, FlopCounterMode forward and backward, saved_tensors_hooks bytes,
through `verify`), against the real counting tools, by hand, and through from-torch."""
import re

import pytest

import archcalc
from archcalc.errors import SpecError

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from archcalc.bridges.from_torch import from_torch  # noqa: E402
from archcalc.bridges.verify import verify  # noqa: E402

# A trained layer in front, so that the activation's input needs a gradient and autograd keeps what it keeps.
FRONTS = {
    "vector": ([6], [{"dense": 8}]),
    "sequence": ([3, 5], [{"lstm": {"hidden": 8}}]),
    "map": ([2, 4, 4], [{"conv2d": {"filters": 8, "kernel": 3, "padding": 1}}]),
}
# prelu per channel: torch's dim 1 has 8 entries for the vector and the map, 3 (tokens) for the sequence
ACTIVATIONS = ["prelu", "prelu_per_channel", "hardsigmoid", "mish", "selu", {"softplus": {"beta": 2, "threshold": 10}},
               "log_softmax", "glu", "swiglu", "geglu"]


def spec_for(activation, front):
    inp, layers = FRONTS[front]
    if activation == "prelu_per_channel":
        activation = {"prelu": {"num_parameters": 3 if front == "sequence" else 8}}
    return {"name": "act", "input": inp, "layers": layers + [activation]}


def label(activation):
    return activation if isinstance(activation, str) else next(iter(activation))


@pytest.mark.parametrize("front", FRONTS)
@pytest.mark.parametrize("activation", ACTIVATIONS, ids=label)
def test_verify_agrees_with_torch(activation, front):
    for batch in (1, 2):
        result = verify(spec_for(activation, front), batch=batch, train=True)
        assert result.ok, [(layer.name, layer.checks) for layer in result.layers if not layer.ok]


@pytest.mark.parametrize("tool", ["thop", "ptflops", "fvcore", "torchinfo", "torch"])
@pytest.mark.parametrize("activation", ACTIVATIONS, ids=label)
def test_each_convention_is_what_the_real_tool_counts(activation, tool):
    from test_conventions import measure
    front = "sequence" if activation in ("log_softmax", "glu") else "map"
    spec = spec_for(activation, front)
    assert archcalc.analyze(spec, batch=2, convention=tool).totals.flops == measure(tool, spec, 2)


def record(layers, input):
    return archcalc.analyze({"input": input, "layers": layers}).layers[-1]


def test_by_hand():
    # prelu: 1 slope, or one per channel (8); 1 FLOP per element, 8·4·4 = 128
    assert record([{"prelu": {}}], [8, 4, 4]).params == 1
    per_channel = record([{"prelu": 8}], [8, 4, 4])
    assert (per_channel.params, per_channel.flops) == (8, 128)
    assert per_channel.params == sum(p.numel() for p in nn.PReLU(8).parameters())
    # log_softmax over 10 features of 7 tokens: 3·70 + 7 logs = 217
    assert record(["log_softmax"], [7, 10]).flops == 217
    # glu halves the features: (7, 10) -> (7, 5); sigmoid and product per output element: 2·35 = 70
    glu = record(["glu"], [7, 10])
    assert (glu.output_shape, glu.flops) == ((7, 5), 70)
    assert tuple(nn.GLU()(torch.zeros(1, 7, 10)).shape[1:]) == (7, 5)
    # on a map the channels are split: (8, 4, 4) -> (4, 4, 4)
    assert record(["swiglu"], [8, 4, 4]).output_shape == (4, 4, 4) == tuple(F.glu(torch.zeros(1, 8, 4, 4), 1).shape[1:])
    # swiglu saves its input (both halves are views) and silu(b): (2·5 + 5)·7 tokens·4 bytes = 420, batch 1
    spec = {"input": [7, 5], "layers": [{"lstm": 10}, "swiglu"]}
    assert archcalc.analyze(spec).layers[-1].saved_bytes == (70 + 35) * 4
    # thop counts prelu as its input elements in eval mode: 128 at batch 1
    assert archcalc.analyze({"input": [8, 4, 4], "layers": [{"prelu": 8}]}, convention="thop").totals.flops == 128


@pytest.mark.parametrize("layers,input,message", [
    (["glu"], [7, 9], "glu splits axis 1 in two halves, but it has 9 (shape (7, 9))"),
    ([{"log_softmax": {"dim": 0}}], [7, 9], "log_softmax dim=0 is not an axis of a sample of shape (7, 9)"),
    ([{"glu": {"dim": 3}}], [7, 9], "glu dim=3 is not an axis"),
    ([{"prelu": 5}], [8, 4, 4], "prelu num_parameters 5 must be 1 or the size of the input's first axis (8"),
])
def test_bad_input_is_one_clear_message(layers, input, message):
    with pytest.raises(SpecError, match=re.escape(message)):
        archcalc.analyze({"input": input, "layers": layers})


class Everything(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(6, 16)
        self.prelu = nn.PReLU()
        self.hsig = nn.Hardsigmoid()
        self.mish = nn.Mish()
        self.selu = nn.SELU()
        self.softplus = nn.Softplus(beta=2.0)
        self.glu = nn.GLU()
        self.logsm = nn.LogSoftmax(dim=-1)

    def forward(self, x):
        x = self.softplus(self.selu(self.mish(self.hsig(self.prelu(self.fc(x))))))
        x = F.softplus(F.glu(F.selu(F.mish(F.hardsigmoid(x))), -1), beta=3.0)
        return F.log_softmax(self.logsm(self.glu(x)), dim=-1)


def test_from_torch_modules_and_functions():
    model = Everything()
    spec = from_torch(model, [6])
    assert [(next(iter(e)), {k: v for k, v in e[next(iter(e))].items() if k != "name"}) for e in spec["layers"]] == [
        ("dense", {"units": 16}), ("prelu", {}), ("hardsigmoid", {}), ("mish", {}), ("selu", {}),
        ("softplus", {"beta": 2.0}), ("hardsigmoid", {}), ("mish", {}), ("selu", {}),
        ("glu", {"dim": -1}), ("softplus", {"beta": 3.0}), ("glu", {"dim": -1}),
        ("log_softmax", {"dim": -1}), ("log_softmax", {"dim": -1})]
    report = archcalc.analyze(spec)
    assert report.totals.params == sum(p.numel() for p in model.parameters()) == 6 * 16 + 16 + 1
    assert report.layers[-1].output_shape == (4,)


def test_another_axis_is_imported_and_counted():
    class Tokens(nn.Module):
        def forward(self, x):
            return F.log_softmax(x, dim=1)
    spec = from_torch(Tokens(), [5, 4])
    assert spec["layers"] == [{"log_softmax": {"name": "log_softmax", "dim": 1}}]
    # over the 5 tokens of each of the 4 features: 3·20 + 4 logs = 64
    assert archcalc.analyze(spec).totals.flops == 64
    assert verify(spec, batch=2).ok
