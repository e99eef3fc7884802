"""`archcalc from-torch`: a traced model comes back as a spec with the model's own counts."""
import json
import os

import pytest

import archcalc
from archcalc.spec import zoo
from conftest import REDUCED_INPUT, ROOT, cli, run_cli

torch = pytest.importorskip("torch")
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402

from archcalc.bridges.from_torch import from_torch, to_yaml  # noqa: E402

import torch_models  # noqa: E402


def run_from_root(*args):
    """The CLI as a user runs it from the project root, where `tests.torch_models` imports."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return run_cli(*args, cwd=ROOT, env=env)


@pytest.fixture
def from_root(monkeypatch):
    """The same command in this process (CliRunner), the project root importable: no new torch import.
    test_cli_round_trip_of_resnet50 keeps the real subprocess."""
    monkeypatch.syspath_prepend(str(ROOT))
    monkeypatch.chdir(ROOT)
    return cli


@pytest.mark.parametrize("name", zoo.names())
def test_zoo_round_trip_keeps_every_count(name):
    graph = archcalc.load_spec(name, input_shape=REDUCED_INPUT.get(name))     # the deepest and widest at 96×96
    spec = from_torch(archcalc.to_torch(graph), list(graph.input_shape), name=name, dtype=graph.input_dtype)
    original, imported = archcalc.analyze(graph).totals, archcalc.analyze(spec).totals
    assert (imported.params, imported.buffers, imported.macs, imported.flops, imported.activation_bytes) == (
        original.params, original.buffers, original.macs, original.flops, original.activation_bytes)
    assert len(spec["layers"]) == len(graph.nodes)


def test_cli_round_trip_of_resnet50(tmp_path):
    out = tmp_path / "resnet50.yaml"
    result = run_from_root("from-torch", "tests.torch_models:resnet50", "--input", "3x224x224", "-o", out)
    assert result.returncode == 0, result.stderr
    summary = cli("summarize", out, "--format", "json")
    totals = json.loads(summary.stdout)["totals"]
    assert totals["params"] == 25_557_032                 # torchvision's documented count
    assert totals["macs"] == archcalc.analyze("resnet50").totals.macs
    text = out.read_text()
    assert "add: {name: layer1_1_add, from: [layer1_1_bn3, layer1_0_relu3]}" in text   # the identity skip


def test_functional_style_model_matches_torch_counts():
    model = torch_models.SmallNet()
    spec = from_torch(model, "3x32x32")
    totals = archcalc.analyze(spec).totals
    assert totals.params == sum(p.numel() for p in model.parameters())
    assert totals.buffers == sum(b.numel() for b in model.buffers())
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        model.eval()(torch.zeros(1, 3, 32, 32))
    assert totals.macs * 2 == counter.get_total_flops()    # torch counts 2 FLOPs per MAC in conv and matmul
    types = [next(iter(entry)) for entry in spec["layers"]]
    assert types.count("add") == 2 and "concat" in types and "multiply" in types and types[-1] == "dense"


def test_written_yaml_reads_back_as_the_same_spec():
    import yaml
    spec = from_torch(torch_models.mnist_cnn(), "1x28x28", name="mnist_cnn")
    assert yaml.safe_load(to_yaml(spec, header="a header")) == spec


def test_layers_archcalc_cannot_express_are_named(from_root):
    result = from_root("from-torch", "tests.torch_models:Unsupported", "--input", "3x32x32")
    assert result.returncode == 2
    assert "pad (torch.nn.ReflectionPad2d)" in result.stderr
    assert "fold (torch.nn.Unfold)" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("target,message", [
    ("tests.torch_models", "PACKAGE.MODULE:CALLABLE"),
    ("tests.no_such_module:build", "cannot import 'tests.no_such_module'"),
    ("tests.torch_models:missing", "has no attribute 'missing'"),
    ("tests.torch_models:not_a_model", "returned int, not a torch.nn.Module"),
    ("tests.torch_models:DataDependent", "torch.fx cannot trace DataDependent"),
    ("torch.nn:Conv2d", "'torch.nn:Conv2d' needs arguments (missing a required argument: 'in_channels')"),
])
def test_bad_targets_are_bad_input(target, message, from_root):
    result = from_root("from-torch", target, "--input", "4")
    assert result.returncode == 2, result.stderr
    assert message in result.stderr and "Traceback" not in result.stderr


def test_wrong_input_shape_is_bad_input(from_root):
    result = from_root("from-torch", "tests.torch_models:mnist_cnn", "--input", "3x28x28")
    assert result.returncode == 2
    assert "does not run on an input of shape (3, 28, 28)" in result.stderr


def test_sequential_and_functional_global_pooling():
    from torch import nn

    class Head(nn.Module):
        def __init__(self):
            super().__init__()
            self.features = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU())
            self.fc = nn.Linear(8, 2)

        def forward(self, x):
            return self.fc(self.features(x).mean([2, 3]))

    spec = from_torch(Head(), "3x16x16")
    assert [next(iter(e)) for e in spec["layers"]] == ["conv2d", "relu", "global_avgpool2d", "dense"]
    assert archcalc.analyze(spec).totals.params == (3 * 3 * 3 * 8 + 8) + (8 * 2 + 2)
    flat = from_torch(nn.Sequential(nn.Flatten(), nn.Linear(784, 10)), "1x28x28")
    assert [e[next(iter(e))]["name"] for e in flat["layers"]] == ["flatten_0", "dense_1"]
    assert archcalc.analyze(flat).totals.params == 785 * 10


def test_every_unsupported_operation_is_listed_once():
    from torch import nn

    class Recurrent(nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn = nn.LSTM(8, 8)             # sequence-first: archcalc's sequences are batch-first
            self.fc = nn.Linear(8, 2)
            self.scale = nn.Parameter(torch.ones(1))

        def forward(self, x):
            out, _ = self.rnn(x.flatten(2))
            return self.fc(out[:, -1]) * self.scale

    with pytest.raises(archcalc.SpecError) as caught:
        from_torch(Recurrent(), "8x4x2")
    message = str(caught.value)
    assert "rnn (torch.nn.LSTM): LSTM(batch_first=False)" in message   # even though its input already failed
    assert "reads the parameter 'scale' directly" in message
    assert "getitem" not in message                                  # follow-on indexing is not noise
