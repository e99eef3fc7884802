"""Receptive field: the recurrence against published figures and against autograd.

The numerical check: with positive weights and no ReLU dead zones, the gradient of one output
element with respect to the input is non-zero exactly on the input pixels that element depends on.
Those pixels must lie inside the predicted field (clipped to the image), and where no stride skips
pixels and no dilation leaves holes they must fill it.
"""
import json
import math

import pytest

import archcalc
from archcalc.analysis.analyzer import ReceptiveField

torch = pytest.importorskip("torch")
hypothesis = pytest.importorskip("hypothesis")
from hypothesis import given, settings, strategies as st  # noqa: E402

from conftest import hypothesis_examples  # noqa: E402


def last_field(spec, layer=None):
    report = archcalc.analyze(spec)
    records = [r for r in report.layers if layer is None or r.name == layer]
    return records[-1].receptive_field


# ---- published and hand-derived fields

def test_resnet50_last_stage_sees_427_pixels():
    # conv1 7/2: r 7, j 2; maxpool 3/2: 11, j 4; layer1: three 3×3 at j 4: 35; layer2: 3×3/2 at j 4: 43,
    # then three at j 8: 91; layer3: 107, five at j 16: 267; layer4: 299, two at j 32: 427 (torchvision v1.5).
    rf = last_field("resnet50", "layer4.2.relu3")
    assert rf.size == (427, 427) and rf.jump == (32, 32)
    # avgpool averages the 7×7 map: a 7/7 window at jump 32 adds 6·32, more than the image.
    assert last_field("resnet50", "avgpool").size == (427 + 6 * 32,) * 2
    assert last_field("resnet50", "fc") == "global"


def test_vgg16_and_alexnet_fields():
    # VGG16: 2+2 3×3 at j 1,2 then pools ... pool5 sees 212 pixels with jump 32 (Simonyan & Zisserman).
    assert last_field("vgg16", "block5.pool").size == (212, 212)
    # AlexNet: conv1 11/4: 11; pool1 3/2: 19; conv2 5 at j 8: 51; pool2: 67; conv3-5 at j 16: 163; pool5: 195.
    rf = last_field("alexnet", "pool5")
    assert rf.size == (195, 195) and rf.jump == (32, 32)
    assert last_field("alexnet") == "global"


def test_start_is_the_centre_of_the_first_field():
    # 3×3 conv, padding 1: the first output is centred on pixel 0; then 2×2/2 pool: centre at 0.5.
    spec = {"input": [1, 8, 8], "layers": [{"conv2d": {"filters": 1, "kernel": 3, "padding": 1}},
                                          {"maxpool2d": {"kernel": 2}}]}
    report = archcalc.analyze(spec)
    assert report.layers[0].receptive_field == ReceptiveField((3, 3), (1, 1), (0.0, 0.0))
    assert report.layers[1].receptive_field == ReceptiveField((4, 4), (2, 2), (0.5, 0.5))


def test_dilation_and_rectangular_kernels():
    # kernel [3, 5] dilation 2: effective 5 and 9; then stride-2 3×3: r += 2·1.
    spec = {"input": [1, 32, 32], "layers": [
        {"conv2d": {"filters": 2, "kernel": [3, 5], "dilation": 2}},
        {"conv2d": {"filters": 2, "kernel": 3, "stride": 2}},
        {"conv2d": {"filters": 2, "kernel": 3}}]}
    rf = last_field(spec)
    assert rf.size == (5 + 2 + 2 * 2, 9 + 2 + 2 * 2) and rf.jump == (2, 2)


def test_merge_reports_the_largest_branch():
    spec = {"input": [1, 16, 16], "layers": [
        {"conv2d": {"name": "a", "filters": 1, "kernel": 3, "padding": 1}},
        {"conv2d": {"name": "b", "from": "input", "filters": 1, "kernel": 7, "padding": 3}},
        {"add": {"name": "sum", "from": ["a", "b"]}},
        {"concat": {"name": "cat", "from": ["a", "sum"]}}]}
    assert last_field(spec, "sum").size == (7, 7)
    assert last_field(spec, "cat").size == (7, 7)


def test_summarize_rf_column_and_json(tmp_path):
    from click.testing import CliRunner
    from archcalc.cli import main
    result = CliRunner().invoke(main, ["summarize", "alexnet", "--rf"])
    assert result.exit_code == 0 and "195 (jump 32)" in result.output
    result = CliRunner().invoke(main, ["summarize", "alexnet", "--format", "json"])
    layers = {r["name"]: r for r in json.loads(result.output)["layers"]}
    # start: conv1 (11, pad 0) 5; pool1 5 + 1·4 = 9; conv2 (pad 2) 9; pool2 9 + 1·8 = 17; pad-1 convs 17;
    # pool5 17 + 1·16 = 33.
    assert layers["pool5"]["receptive_field"] == {"size": [195, 195], "jump": [32, 32], "start": [33.0, 33.0]}
    assert layers["fc8"]["receptive_field"] == "global"


# ---- the numerical check against autograd

class WindowSum(torch.nn.Module):
    """Max pooling's window geometry with a gradient on every tap: max passes gradient only to the
    argmax, so the check swaps it for the sum over the very same windows."""

    def __init__(self, pool):
        super().__init__()
        self.pool = pool

    def forward(self, x):
        n, c, h, w = x.shape
        p = self.pool
        cols = torch.nn.functional.unfold(x, p.kernel_size, p.dilation, p.padding, p.stride)
        oh = (h + 2 * p.padding[0] - p.dilation[0] * (p.kernel_size[0] - 1) - 1) // p.stride[0] + 1
        ow = (w + 2 * p.padding[1] - p.dilation[1] * (p.kernel_size[1] - 1) - 1) // p.stride[1] + 1
        return cols.view(n, c, -1, oh * ow).sum(2).view(n, c, oh, ow)


def positive_model(spec):
    """The spec as torch, float64, eval mode, every weight positive, max pooling as window sums."""
    torch.manual_seed(0)
    model = archcalc.to_torch(spec).double().eval()
    for name, module in list(model.named_modules()):
        if isinstance(module, torch.nn.MaxPool2d):
            module.kernel_size, module.stride, module.padding, module.dilation = (
                torch.nn.modules.utils._pair(v) for v in
                (module.kernel_size, module.stride, module.padding, module.dilation))
            parent_name, _, leaf = name.rpartition(".")
            setattr(model.get_submodule(parent_name) if parent_name else model, leaf, WindowSum(module))
    with torch.no_grad():
        for param in model.parameters():
            param.copy_(0.5 + torch.rand_like(param))
    return model


def gradient_support(model, input_shape, index):
    """Per axis, the input rows and columns whose pixels change output[0, 0, i, j]."""
    x = (0.5 + torch.rand((1,) + tuple(input_shape), dtype=torch.float64)).requires_grad_()
    out = model(x)
    out[(0, 0) + tuple(index)].backward()
    nonzero = (x.grad[0].abs().sum(0) != 0)
    return nonzero


def predicted_box(rf, index, input_shape):
    """[(lo, hi)] per axis: the field of output `index`, clipped to the image."""
    box = []
    for axis, i in enumerate(index):
        centre = rf.start[axis] + i * rf.jump[axis]
        half = (rf.size[axis] - 1) / 2
        lo, hi = math.ceil(centre - half), math.floor(centre + half)
        assert lo == centre - half and hi == centre + half
        box.append((max(lo, 0), min(hi, input_shape[axis + 1] - 1)))
    return box


def check_field(spec, dense):
    """The gradient's support lies in the predicted field; with `dense`, it is the whole clipped field."""
    report = archcalc.analyze(spec)
    rf, out = report.layers[-1].receptive_field, report.layers[-1].output_shape
    model = positive_model(spec)
    size = tuple(report.input_shape)
    for index in [(0, 0), (out[1] // 2, out[2] // 2), (out[1] - 1, out[2] - 1)]:
        support = gradient_support(model, size, index)
        (top, bottom), (left, right) = predicted_box(rf, index, size)
        expected = torch.zeros_like(support)
        expected[top:bottom + 1, left:right + 1] = True
        assert not (support & ~expected).any(), f"gradient outside the predicted field at output {index}"
        if dense:
            assert torch.equal(support, expected), f"predicted field not filled at output {index}"


def test_gradient_fills_the_field_of_a_small_cnn():
    spec = {"input": [2, 23, 23], "layers": [
        {"conv2d": {"filters": 3, "kernel": 5, "stride": 2, "padding": 2}},
        {"batchnorm": {}},
        {"maxpool2d": {"kernel": 3, "stride": 2, "padding": 1}},
        {"conv2d": {"filters": 2, "kernel": 3, "padding": 1}},
        {"avgpool2d": {"kernel": 2}}]}
    check_field(spec, dense=True)


def test_gradient_of_a_residual_merge_covers_the_widest_branch():
    spec = {"input": [1, 15, 15], "layers": [
        {"conv2d": {"name": "narrow", "filters": 2, "kernel": 3, "padding": 1}},
        {"conv2d": {"name": "wide", "from": "input", "filters": 2, "kernel": 3, "padding": 2, "dilation": 2}},
        {"conv2d": {"name": "wide2", "filters": 2, "kernel": 3, "padding": 1}},
        {"add": {"from": ["narrow", "wide2"]}},
        {"conv2d": {"filters": 1, "kernel": 3, "stride": 2}}]}
    assert last_field(spec).size == (9, 9)
    check_field(spec, dense=True)


def test_dilation_leaves_holes_inside_the_field():
    spec = {"input": [1, 11, 11], "layers": [{"conv2d": {"filters": 1, "kernel": 3, "dilation": 3}}]}
    report = archcalc.analyze(spec)
    support = gradient_support(positive_model(spec), (1, 11, 11), (2, 2))
    rows = support.any(1).nonzero().flatten().tolist()
    assert rows == [2, 5, 8] and report.layers[-1].receptive_field.size == (7, 7)
    check_field(spec, dense=False)


@st.composite
def chains(draw):
    """A chain of conv/pool layers; the input size is worked backwards from a small output so that no
    layer drops trailing pixels (floor division would leave pixels no output sees)."""
    layers, windows = [], []
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["conv2d", "maxpool2d", "avgpool2d"]))
        kernel = draw(st.integers(1, 4))
        stride = draw(st.integers(1, 3))
        dilation = draw(st.integers(1, 2)) if kind != "avgpool2d" else 1
        effective = dilation * (kernel - 1) + 1
        pad = draw(st.integers(0, (effective - 1) // 2))
        options = {"kernel": kernel, "stride": stride, "padding": pad}
        if kind == "conv2d":
            options.update(filters=2, dilation=dilation)
        elif kind == "maxpool2d":
            options.update(dilation=dilation)
        layers.append({kind: options})
        windows.append((effective, stride, pad, dilation, kernel))
    size = draw(st.integers(1, 3))
    for effective, stride, pad, _, _ in reversed(windows):
        size = (size - 1) * stride + effective - 2 * pad
    dense = all(d == 1 and k >= s for _, s, _, d, k in windows)
    return {"input": [1, size, size], "layers": layers}, dense


@settings(max_examples=hypothesis_examples(40), deadline=None)
@given(chains())
def test_gradient_support_matches_random_chains(chain):
    spec, dense = chain
    check_field(spec, dense)


def test_explain_shows_the_recurrence_with_the_layers_numbers():
    # AlexNet pool1 (3/2) after conv1 (11/4): r = 11 + (3 − 1)·4 = 19, j = 4·2 = 8, start = 5 + 1·4 = 9
    from archcalc.homework.explain import explain
    from archcalc.report.homework import explanation
    text = explanation(explain("alexnet", layer="pool1"))
    assert "r = r_in + (k − 1)·j_in = 11 + (3 − 1)·4 = 19  (receptive field)" in text
    assert "j = j_in·s = 4·2 = 8" in text
    assert "start = start_in + ((k − 1)/2 − p)·j_in = 5 + ((3 − 1)/2 − 0)·4 = 9" in text
    # a rectangular, strided kernel gets one line per axis; a vector layer none
    spec = {"input": [1, 9, 12], "layers": [{"conv2d": {"filters": 1, "kernel": [3, 5], "stride": [1, 2]}},
                                           "flatten", {"dense": 2}]}
    layers = explain(spec).layers
    assert [s.quantity for s in layers[0].field_steps] == ["r_h", "j_h", "start_h", "r_w", "j_w", "start_w"]
    assert layers[0].field_steps[3].result == 5 and layers[0].field_steps[4].result == 2
    assert layers[2].field_steps == []
