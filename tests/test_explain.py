"""`archcalc explain`: worked arithmetic that agrees with the analyzer and with hand calculation."""
import ast
import math
import operator

import pytest
from hypothesis import assume, given, settings, strategies as st

import archcalc
from archcalc.layers import layer_types
from archcalc.spec import zoo
from archcalc.errors import SpecError
from archcalc.layers.conv import Conv2d
from archcalc.homework.explain import explain
from archcalc.report.homework import explanation
from archcalc.layers.shapes import from_layout
from conftest import run_cli

OPERATORS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv}


def evaluate(text):
    """Evaluate the substituted arithmetic as a reader would: · is ×, − is minus, commas group digits."""
    source = text.replace("·", "*").replace("−", "-").replace(",", "")

    def walk(node):
        if isinstance(node, ast.Expression):
            return walk(node.body)
        if isinstance(node, ast.BinOp):
            return OPERATORS[type(node.op)](walk(node.left), walk(node.right))
        if isinstance(node, ast.Constant):
            return node.value
        raise ValueError(f"unexpected {ast.dump(node)} in {text!r}")
    return walk(ast.parse(source, mode="eval"))


@pytest.mark.parametrize("name", zoo.names())
def test_explained_numbers_equal_the_analyzers(name):
    report = archcalc.analyze(name)
    exp = explain(name)
    assert [layer.name for layer in exp.layers] == [r.name for r in report.layers]
    for layer, record in zip(exp.layers, report.layers):
        assert layer.result("params") == record.params, layer.name
        assert layer.result("MACs") == record.macs, layer.name
        assert layer.result("FLOPs") == record.flops, layer.name
        assert layer.output_shape == record.output_shape
        for step in layer.steps:
            if isinstance(step.result, tuple):
                assert step.result == from_layout(record.output_shape, report.layout)
            elif step.substituted:
                # The shown arithmetic gives the shown result (rounded as the note says where it is uneven).
                value = evaluate(step.substituted)
                rounded = math.ceil(value) if "rounds up" in step.note else math.floor(value)
                assert (rounded if step.exact else value) == step.result, (layer.name, step)


def test_alexnet_conv1_in_course_notation():
    text = explanation(explain("alexnet", layer="conv1"))
    # (227 − 11)/4 + 1 = 55; (11·11·3 + 1)·96 = 34,944; 11·11·3·96·55·55 = 105,415,200.
    assert "O = (N − F + 2P)/S + 1 = (227 − 11 + 2·0)/4 + 1 = 55  →  55×55×96" in text
    assert "params = (F·F·C_in + 1)·K = (11·11·3 + 1)·96 = 34,944" in text
    assert "MACs = F·F·C_in·K·O·O = 11·11·3·96·55·55 = 105,415,200" in text
    # 2·105,415,200 + 96·55·55 = 210,830,400 + 290,400
    assert "FLOPs = 2·MACs + K·O·O = 2·105,415,200 + 96·55·55 = 211,120,800" in text


def test_pooling_says_it_has_no_parameters_and_dense_counts_bias():
    pool = explain("alexnet", layer="pool1").layers[0]
    assert pool.step("params").result == 0 and "no parameters" in pool.step("params").note
    fc6 = explain("alexnet", layer="fc6").layers[0]
    # (6·6·256 + 1)·4096 = 9,217·4,096
    assert fc6.step("params").formula == "(n_in + 1)·n_out"
    assert fc6.step("params").substituted == "(9216 + 1)·4096"
    assert fc6.result("params") == 37_752_832


def test_uneven_division_shows_the_fraction_and_what_pytorch_does():
    # mnist_cnn pool2: (11 − 2)/2 + 1 = 5.5, PyTorch floors to 5 and never sees the last row/column.
    step = explain("mnist_cnn", layer="pool2").layers[0].step("O")
    assert step.exact == "9/2 + 1 = 5.5" and step.result == 5
    assert "PyTorch rounds down to 5" in step.note and "10 or 12" in step.note
    text = explanation(explain("mnist_cnn", layer="pool2"))
    assert "(11 − 2 + 2·0)/2 + 1 = 9/2 + 1 = 5.5 ⇒ 5  →  5×5×64" in text


SPECIAL = """
name: special
input: [32, 20, 16]
layers:
  - conv2d: {name: grouped, filters: 64, kernel: 3, padding: 1, groups: 4}
  - conv2d: {name: depthwise, filters: 64, kernel: 3, padding: 1, groups: 64, bias: false}
  - conv2d: {name: dilated, filters: 8, kernel: 3, dilation: 2}
  - batchnorm: {name: bn}
  - global_avgpool2d: {name: gap}
  - dense: {name: head, units: 5, bias: false}
"""


def test_grouped_depthwise_dilated_batchnorm(write_spec):
    layers = {layer.name: layer for layer in explain(write_spec(SPECIAL)).layers}
    grouped = layers["grouped"]
    # (3·3·32/4 + 1)·64 = (72 + 1)·64 = 4,672
    assert grouped.step("params").substituted == "(3·3·(32/4) + 1)·64"
    assert grouped.result("params") == 4_672
    assert "C_in/G = 32/4 = 8" in grouped.step("params").note
    depthwise = layers["depthwise"]
    # 3·3·1·64 = 576, no bias
    assert depthwise.result("params") == 576
    assert "depthwise" in depthwise.step("params").note and "no bias" in depthwise.step("params").note
    dilated = layers["dilated"]
    # F_eff = 2·(3 − 1) + 1 = 5; O_h = (20 − 5)/1 + 1 = 16, O_w = (16 − 5)/1 + 1 = 12
    assert dilated.step("F_eff").result == 5
    assert dilated.step("O_h").substituted == "(20 − 5 + 2·0)/1 + 1" and dilated.step("O_h").result == 16
    assert dilated.step("O_w").result == 12
    bn = layers["bn"]
    # γ and β: 2·8 = 16; running statistics 2·8 are buffers
    assert bn.step("params").substituted == "2·8" and bn.result("params") == 16
    assert "buffers" in bn.step("params").note
    head = layers["head"]
    assert head.step("params").formula == "n_in·n_out" and head.result("params") == 40


def test_asymmetric_same_padding_shows_both_sides(write_spec):
    path = write_spec("input: [1, 10, 10]\nlayers:\n  - conv2d: {name: c, filters: 1, kernel: 4, padding: same}\n")
    step = explain(path).layers[0].step("O")
    # 'same' pads 3 in total: 1 before, 2 after; (10 − 4 + 1 + 2)/1 + 1 = 10
    assert step.substituted == "(10 − 4 + 1 + 2)/1 + 1" and step.result == 10


def test_cli_markdown_and_total(tmp_path):
    result = run_cli("explain", "mnist_fc", "--format", "markdown")
    assert result.returncode == 0, result.stderr
    assert "### fc1 (dense)" in result.stdout
    assert "(784 + 1)·512 = **401,920**" in result.stdout
    # 401,920 + 5,130 = 407,050
    assert "Total params = 401,920 + 5,130 = 407,050" in result.stdout


def test_cli_block_use_instead_of_a_layer_names_its_layers():
    result = run_cli("explain", "resnet18", "--layer", "layer1")
    assert result.returncode == 2 and "the spec has no layer named 'layer1'" in result.stderr
    assert "fix: 'layer1' is a block use; name one of its layers: layer1.0.conv1, layer1.0.bn1," in result.stderr


def test_cli_unknown_layer_is_bad_input():
    result = run_cli("explain", "alexnet", "--layer", "conv6")
    assert result.returncode == 2
    assert "no layer named 'conv6'" in result.stderr and "conv" in result.stderr
    assert "Traceback" not in result.stderr


EVERY_TYPE = """
name: every_type
input: [8, 12, 12]
layers:
  - conv2d: {name: stem, filters: 8, kernel: 3, padding: 1, activation: relu6}
  - maxpool2d: {name: maxp, kernel: 3, stride: 1, padding: 1, dilation: 1}
  - avgpool2d: {name: avgp, kernel: 3, stride: 2, ceil_mode: true}   # (12 − 3)/2 + 1 = 5.5, rounded up to 6
  - batchnorm: {name: bn}
  - lrn: {name: lrn}
  - leaky_relu: {name: leaky}
  - elu: {name: elu}
  - gelu: {name: gelu}
  - silu: {name: silu}
  - hardswish: {name: hswish}
  - relu: {name: plain_relu}
  - tanh: {name: tanh}
  - sigmoid: {name: sigm}
  - conv2d: {name: branch, filters: 8, kernel: 1, from: sigm}
  - add: {name: add, from: [sigm, branch]}
  - concat: {name: cat, from: [add, branch]}
  - global_maxpool2d: {name: gmp, from: cat}
  - global_avgpool2d: {name: gap, from: cat}
  - multiply: {name: mul, from: [cat, gap]}
  - adaptive_avgpool2d: {name: adapt, output: 2}
  - flatten
  - dropout: 0.3
  - dense: {name: head, units: 3, activation: softmax}
"""


def check_explained(spec):
    """Every layer's explained params, MACs and FLOPs are the analyzer's, and every worked step evaluates
    to its result (floored or ceiled where the division is uneven)."""
    report = archcalc.analyze(spec)
    for layer, record in zip(explain(spec).layers, report.layers):
        assert (layer.result("params"), layer.result("MACs"), layer.result("FLOPs")) == (
            record.params, record.macs, record.flops), layer.name
        assert layer.steps[-1].quantity == "FLOPs"
        for step in layer.steps:
            if step.substituted and not isinstance(step.result, tuple):
                value = evaluate(step.substituted)
                assert (math.ceil(value) if step.exact and "ceil" in step.note else
                        math.floor(value) if step.exact else value) == step.result, (layer.name, step)


def test_a_network_of_the_classic_types_explains_itself(write_spec):
    check_explained(write_spec(EVERY_TYPE))


@pytest.mark.parametrize("cls", layer_types(), ids=lambda cls: cls.type_name)
def test_every_registered_type_explains_itself(cls):
    spec = cls.example_spec()
    assert cls.type_name in {r.type for r in archcalc.analyze(spec).layers}
    check_explained(spec)


@settings(max_examples=60, deadline=None)
@given(size=st.integers(1, 40), kernel=st.integers(1, 7), stride=st.integers(1, 4), padding=st.integers(0, 3),
       dilation=st.integers(1, 3), groups=st.sampled_from([1, 2, 4]), bias=st.booleans())
def test_any_convolution_shows_arithmetic_that_gives_its_result(size, kernel, stride, padding, dilation, groups,
                                                                bias):
    layer = Conv2d(filters=8, kernel=(kernel, kernel), stride=(stride, stride), padding=(padding, padding),
                   dilation=(dilation, dilation), groups=groups, bias=bias)
    ins = [(8, size, size)]
    try:
        out = layer.output_shape(ins)
    except SpecError:
        assume(False)
    steps = {s.quantity: s for s in layer.explain(ins, out)}
    size_step = steps["O"]
    value = evaluate(size_step.substituted)
    assert (math.floor(value) if size_step.exact else value) == size_step.result == out[1]
    assert bool(size_step.exact) == ((size + 2 * padding - dilation * (kernel - 1) - 1) % stride != 0)
    for quantity, hook in (("params", layer.params(ins)), ("MACs", layer.macs(ins, out)),
                           ("FLOPs", layer.flops(ins, out))):
        assert evaluate(steps[quantity].substituted) == steps[quantity].result == hook


def test_channel_scaling_says_how_the_vector_broadcasts():
    # SE on layer1.0: a (256,) gate scales a 256×56×56 map; 256·56·56 = 802,816 multiplies.
    layer = explain("se_resnet50", layer="layer1.0.se.scale").layers[0]
    assert "each (256,) vector is broadcast over H×W" in layer.step("output").note
    assert layer.result("FLOPs") == 802_816
