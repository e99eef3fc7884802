"""Counting conventions against the real tools (thop, ptflops, fvcore, torchinfo, FlopCounterMode,
installed with the `test` extra), against torchvision's documented GFLOPS, and by hand."""
import json

import pytest

import archcalc
from archcalc.spec import zoo
from archcalc.spec.graph import load_spec

from conftest import REDUCED_INPUT, run_cli
from measured import quiet, tool_count

torch = pytest.importorskip("torch")

ZOO = zoo.names()
SMALL = ("mnist_fc", "mnist_mlp", "mnist_cnn", "lenet5")     # also checked at batch 3

# Every layer type and the options that change a count: grouped and bias-free conv, dilation, every
# activation, LRN, each pooling (adaptive with uneven windows), merges, batch norm on maps and vectors.
EVERY_LAYER = {
    "input": [6, 20, 20],
    "layers": [
        {"conv2d": {"name": "c1", "filters": 12, "kernel": 3, "padding": 1, "groups": 3, "activation": "relu"}},
        {"batchnorm": {"name": "bn1"}},
        {"lrn": {"name": "lrn", "size": 3}},
        {"conv2d": {"name": "c2", "filters": 12, "kernel": 3, "padding": 2, "dilation": 2, "bias": False}},
        {"batchnorm": {"name": "bn2", "affine": False}},
        {"elu": {"name": "elu"}},
        {"add": {"name": "res", "from": ["elu", "lrn"]}},
        {"leaky_relu": {"name": "leaky"}},
        {"maxpool2d": {"name": "mp", "kernel": 3, "stride": 2, "padding": 1}},
        {"conv2d": {"name": "c3", "filters": 8, "kernel": 1, "activation": "relu6"}},
        {"avgpool2d": {"name": "ap", "kernel": 2}},
        {"gelu": {"name": "gelu"}},
        {"silu": {"name": "silu", "from": "ap"}},
        {"concat": {"name": "cat", "from": ["gelu", "silu"]}},
        {"hardswish": {"name": "hsw"}},
        {"adaptive_avgpool2d": {"name": "aap", "output": 3}},
        {"tanh": {"name": "tanh"}},
        {"global_avgpool2d": {"name": "gap"}},
        {"sigmoid": {"name": "gate"}},
        {"multiply": {"name": "se", "from": ["tanh", "gate"]}},
        {"global_maxpool2d": {"name": "gmp", "from": "se"}},
        {"dense": {"name": "fc1", "units": 32}},
        {"batchnorm": {"name": "bn3"}},
        {"dropout": {"name": "drop", "rate": 0.3}},
        {"dense": {"name": "fc2", "units": 10, "bias": False, "activation": "softmax"}},
    ],
}


def model_and_input(spec, batch, train=False, input_shape=None):
    from archcalc.bridges.torch_model import example_input
    graph = load_spec(spec, input_shape=input_shape)
    torch.manual_seed(0)
    model = archcalc.to_torch(graph).train(train)
    return graph, model, example_input(graph, batch)      # token ids for an int64 input


# These tools count from shapes alone, so the model and input are built on the meta device (no memory, no
# arithmetic). ptflops (which builds its own input) and fvcore (which traces with torch.jit) need real
# tensors and run on CPU.
ON_META = ("torch", "thop", "torchinfo")


def meta_model_and_input(spec, batch):
    from archcalc.bridges.torch_model import example_input
    graph = load_spec(spec)
    with torch.device("meta"):
        return graph, archcalc.to_torch(graph).eval(), example_input(graph, batch)


def measure(tool, spec, batch, input_shape=None):
    if tool in ON_META:
        graph, model, x = meta_model_and_input(spec, batch)
    else:
        graph, model, x = model_and_input(spec, batch, input_shape=input_shape)
    if tool == "torch":
        from torch.utils.flop_counter import FlopCounterMode

        from archcalc.bridges.verify import counted_paths
        # oneDNN's fused CPU lstm counts 0: measured on torch's decomposed path, as verify does.
        with counted_paths(graph), FlopCounterMode(display=False) as counter:
            model(x)
        return counter.get_total_flops()
    return tool_count(tool, model, x)


TOOLS = ["torch", "thop", "ptflops", "fvcore", "torchinfo"]


@pytest.mark.parametrize("tool", TOOLS)
@pytest.mark.parametrize("name", ZOO)
def test_zoo_totals_match_the_real_tool(name, tool):
    batch = 3 if name in SMALL else 1
    input_shape = None if tool in ON_META else REDUCED_INPUT.get(name)     # real tensors: see REDUCED_INPUT
    assert archcalc.analyze(name, batch=batch, convention=tool, input_shape=input_shape).totals.flops == \
        measure(tool, name, batch, input_shape)


@pytest.mark.parametrize("tool", TOOLS)
@pytest.mark.parametrize("batch", [1, 2])
def test_every_layer_type_matches_the_real_tool(tool, batch):
    assert archcalc.analyze(EVERY_LAYER, batch=batch, convention=tool).totals.flops == \
        measure(tool, EVERY_LAYER, batch)


def test_the_five_resnet50_figures():
    """The five figures users meet for ResNet-50 at 224, each from one convention."""
    def giga(convention):
        return round(archcalc.analyze("resnet50", convention=convention).totals.flops / 1e9, 3)
    assert giga("torchvision") == giga("torchinfo") == 4.089
    assert giga("ptflops") == 4.132
    assert giga("thop") == 4.134
    assert giga("torch") == 8.178
    assert giga("fvcore") == 4.112


def test_fvcore_in_training_mode_gives_4145():
    """fvcore counts batch norm in training mode as 5 per element, not 2: a model left in train() mode
    (as torchvision builds it) reads 4.145 G."""
    fvcore = pytest.importorskip("fvcore.nn")
    graph, model, x = model_and_input("resnet50", 1, train=True)
    analysis = fvcore.FlopCountAnalysis(model, x)
    analysis.unsupported_ops_warnings(False)
    measured = quiet(analysis.total)
    report = archcalc.analyze("resnet50")
    norm_elements = sum(r.activation_elements for r in report.layers if r.type == "batchnorm")
    assert measured == archcalc.analyze("resnet50", convention="fvcore").totals.flops + 3 * norm_elements
    assert round(measured / 1e9, 3) == 4.145


TORCHVISION_ALEXNET = {   # torchvision.models.alexnet: 224 input, 64-192-384-256-256 filters
    "input": [3, 224, 224],
    "layers": [
        {"conv2d": {"filters": 64, "kernel": 11, "stride": 4, "padding": 2, "activation": "relu"}},
        {"maxpool2d": {"kernel": 3, "stride": 2}},
        {"conv2d": {"filters": 192, "kernel": 5, "padding": 2, "activation": "relu"}},
        {"maxpool2d": {"kernel": 3, "stride": 2}},
        {"conv2d": {"filters": 384, "kernel": 3, "padding": 1, "activation": "relu"}},
        {"conv2d": {"filters": 256, "kernel": 3, "padding": 1, "activation": "relu"}},
        {"conv2d": {"filters": 256, "kernel": 3, "padding": 1, "activation": "relu"}},
        {"maxpool2d": {"kernel": 3, "stride": 2}},
        {"adaptive_avgpool2d": 6},
        "flatten", {"dropout": 0.5},
        {"dense": {"units": 4096, "activation": "relu"}}, {"dropout": 0.5},
        {"dense": {"units": 4096, "activation": "relu"}},
        {"dense": 1000},
    ],
}


@pytest.mark.parametrize("spec,gflops", [("resnet50", 4.09), ("vgg16", 15.47), (TORCHVISION_ALEXNET, 0.71)])
def test_torchvision_documented_gflops(spec, gflops):
    report = archcalc.analyze(spec, convention="torchvision")
    assert round(report.totals.flops / 1e9, 2) == gflops
    assert report.totals.flops == report.totals.macs   # conv and linear multiply-adds, nothing else


def test_small_net_by_hand():
    # conv 3×3, 2→4 filters on 6×6 (pad 1, bias): MACs 4·6·6·2·9 = 2592, bias 144 outputs;
    # batchnorm on 144 elements; relu 144; maxpool 2 → 4·3·3 = 36 outputs; dense 36→5: 180 MACs + 5 bias.
    spec = {"input": [2, 6, 6], "layers": [
        {"conv2d": {"filters": 4, "kernel": 3, "padding": 1}}, "batchnorm", "relu",
        {"maxpool2d": {"kernel": 2}}, "flatten", {"dense": 5}]}
    expected = {
        "torchvision": 2592 + 180,
        "torch": 2 * (2592 + 180),
        "fvcore": 2592 + 2 * 144 + 180,
        "thop": 2592 + 4 * 144 + 180,
        "ptflops": 2592 + 144 + 2 * 144 + 2 * 144 + 2 * 144 + 180 + 5,
        "torchinfo": 2592 + 144 + 8 + 180 + 5,
        "archcalc": 2 * 2592 + 144 + 2 * 144 + 144 + 36 * 3 + 2 * 180 + 5,
    }
    for name, flops in expected.items():
        assert archcalc.analyze(spec, convention=name).totals.flops == flops, name


def test_backward_flops_match_flopcountermode_with_a_frozen_first_layer():
    """FlopCounterMode skips grad_input of the first layer (the input needs none) and grad_weight of
    frozen layers; archcalc predicts the same per layer."""
    from torch.utils.flop_counter import FlopCounterMode
    spec = {"input": [3, 12, 12], "layers": [
        {"conv2d": {"filters": 4, "kernel": 3, "trainable": False}}, "relu",
        {"conv2d": {"filters": 6, "kernel": 3, "groups": 2}}, "batchnorm", "relu",
        "flatten", {"dense": 7}]}
    graph, model, x = model_and_input(spec, 2, train=True)
    with FlopCounterMode(display=False) as counter:
        loss = model(x).sum()
    forward = counter.get_total_flops()
    with FlopCounterMode(display=False) as counter:
        loss.backward()
    report = archcalc.analyze(spec, batch=2)
    assert report.totals.torch_flops == forward
    assert report.totals.torch_backward_flops == counter.get_total_flops()
    # by hand: the frozen first conv needs no gradient, so neither does its relu's output: the second
    # conv computes grad_weight only, which FlopCounterMode counts as groups (2) × its forward; the
    # dense layer both grad_input and grad_weight.
    first, second, dense = report.layers[0], report.layers[2], report.layers[-1]
    assert first.torch_backward_flops == 0
    assert second.torch_backward_flops == 2 * second.torch_flops
    assert dense.torch_backward_flops == 2 * dense.torch_flops


def test_cli_conventions_and_summarize_convention(tmp_path):
    result = run_cli("conventions", "resnet50")
    assert result.returncode == 0, result.stderr
    for figure in ("4,089,184,256", "4,132,436,968", "4,133,742,592", "4,111,512,576", "8,178,368,512"):
        assert figure in result.stdout
    assert "Rule per layer type" in result.stdout
    data = json.loads(run_cli("summarize", "lenet5", "--convention", "fvcore", "--format", "json").stdout)
    assert data["convention"] == "fvcore"
    assert data["totals"]["flops"] == sum(layer["flops"] for layer in data["layers"])
    text = run_cli("summarize", "mnist_cnn", "--train").stdout
    assert "Backward FLOPs (torch)" in text
    bad = run_cli("summarize", "lenet5", "--convention", "flops")
    assert bad.returncode == 2 and "Traceback" not in bad.stderr


def test_unknown_convention_in_the_api_is_a_spec_error():
    with pytest.raises(archcalc.SpecError, match="unknown counting convention 'thopp'"):
        archcalc.analyze("lenet5", convention="thopp")
