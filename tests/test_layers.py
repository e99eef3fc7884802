"""Every layer type's rules, with expected numbers worked out by hand from the formulas.

Output size per spatial axis: O = floor((N + P_before + P_after − D·(F − 1) − 1) / S) + 1.
Where torch can measure a number (an output shape, a parameter count) the test also builds the
same module by hand in torch and checks that archcalc agrees with it.
"""
import pytest
import torch
from torch import nn

from archcalc import analyze, to_torch
from archcalc.spec import zoo
from archcalc.errors import SpecError
from archcalc.layers.pool import adaptive_windows
from archcalc.spec.graph import INPUT, load_spec


def run(layers, input=(3, 32, 32), **options):
    """Analyze a one-off spec given as plain Python data."""
    return analyze({"name": "t", "input": list(input), "layers": layers}, **options)


def only(layer, input=(3, 32, 32), **options):
    """The record of a single-layer spec."""
    return run([layer], input, **options).layers[0]


def torch_shape(module, input):
    """Output shape (without batch) of a real torch module on a zero input."""
    with torch.no_grad():
        return tuple(module(torch.zeros(1, *input)).shape[1:])


def torch_params(module):
    return sum(p.numel() for p in module.parameters())


# ---------------------------------------------------------------- conv2d

def test_conv_plain():
    r = only({"conv2d": {"filters": 16, "kernel": 3}})
    # O = (32 − 3)/1 + 1 = 30
    assert r.output_shape == (16, 30, 30)
    # weights K·C·F·F + bias K = 16·3·3·3 + 16 = 432 + 16 = 448
    assert r.params == 448
    # MACs = K·Oh·Ow · C·F·F = 16·30·30 · 27 = 14,400 · 27 = 388,800
    assert r.macs == 388_800
    # FLOPs = 2·MACs + one bias add per output = 777,600 + 14,400 = 792,000
    assert r.flops == 792_000
    # activations: 14,400 fp32 elements = 57,600 bytes
    assert r.activation_bytes == 57_600
    conv = nn.Conv2d(3, 16, 3)
    assert torch_shape(conv, (3, 32, 32)) == r.output_shape
    assert torch_params(conv) == r.params


def test_conv_without_bias_has_flops_exactly_twice_macs():
    r = only({"conv2d": {"filters": 16, "kernel": 3, "bias": False}})
    assert r.params == 432                      # 16·3·3·3
    assert r.flops == 2 * r.macs == 777_600


def test_conv_stride_and_padding():
    r = only({"conv2d": {"filters": 8, "kernel": 3, "stride": 2, "padding": 1}}, input=(3, 33, 33))
    # O = (33 + 2 − 3)/2 + 1 = 32/2 + 1 = 17, divides evenly: no warning
    assert r.output_shape == (8, 17, 17)
    assert run([{"conv2d": {"filters": 8, "kernel": 3, "stride": 2, "padding": 1}}], (3, 33, 33)).warnings == []
    conv = nn.Conv2d(3, 8, 3, stride=2, padding=1)
    assert torch_shape(conv, (3, 33, 33)) == r.output_shape


def test_conv_rectangular_kernel_stride_padding():
    r = only({"conv2d": {"filters": 4, "kernel": [3, 5], "stride": [1, 2], "padding": [1, 0]}}, input=(2, 10, 11))
    # H: (10 + 2 − 3)/1 + 1 = 10;  W: (11 + 0 − 5)/2 + 1 = 3 + 1 = 4
    assert r.output_shape == (4, 10, 4)
    # 4·2·3·5 + 4 = 120 + 4 = 124
    assert r.params == 124
    conv = nn.Conv2d(2, 4, (3, 5), stride=(1, 2), padding=(1, 0))
    assert torch_shape(conv, (2, 10, 11)) == r.output_shape
    assert torch_params(conv) == 124


def test_conv_dilation():
    r = only({"conv2d": {"filters": 2, "kernel": 3, "dilation": 2}}, input=(1, 10, 10))
    # effective kernel D(F − 1) + 1 = 2·2 + 1 = 5;  O = (10 − 5)/1 + 1 = 6
    assert r.output_shape == (2, 6, 6)
    # dilation spreads the taps but adds no weights: 2·1·9 + 2 = 20; MACs = 2·6·6·9 = 648
    assert r.params == 20
    assert r.macs == 648
    assert torch_shape(nn.Conv2d(1, 2, 3, dilation=2), (1, 10, 10)) == (2, 6, 6)


def test_conv_depthwise():
    r = only({"conv2d": {"filters": 32, "kernel": 3, "padding": 1, "groups": 32}}, input=(32, 16, 16))
    assert r.output_shape == (32, 16, 16)
    # each filter sees C/groups = 1 channel: 32·1·9 + 32 = 320
    assert r.params == 320
    # MACs = 32·16·16 · 1·9 = 8,192 · 9 = 73,728
    assert r.macs == 73_728
    assert torch_params(nn.Conv2d(32, 32, 3, padding=1, groups=32)) == 320


def test_conv_groups():
    r = only({"conv2d": {"filters": 16, "kernel": 3, "groups": 4}}, input=(8, 5, 5))
    # 16 filters, each over 8/4 = 2 channels: 16·2·9 + 16 = 288 + 16 = 304; O = 3
    assert r.params == 304
    assert r.macs == 16 * 3 * 3 * 2 * 9      # 2,592
    assert torch_params(nn.Conv2d(8, 16, 3, groups=4)) == 304


def test_conv_groups_must_divide_channels():
    with pytest.raises(SpecError, match="groups=3 must divide"):
        only({"conv2d": {"filters": 16, "kernel": 3, "groups": 3}}, input=(8, 5, 5))


def test_conv_padding_valid_is_zero():
    r = only({"conv2d": {"filters": 1, "kernel": 3, "padding": "valid"}}, input=(1, 7, 9))
    assert r.output_shape == (1, 5, 7)          # 7 − 3 + 1, 9 − 3 + 1


@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel")
@pytest.mark.parametrize("kernel,dilation", [(3, 1), (4, 1), (2, 1), (3, 2), ([4, 5], 1)])
def test_conv_padding_same_keeps_size_like_torch(kernel, dilation):
    r = only({"conv2d": {"filters": 2, "kernel": kernel, "padding": "same", "dilation": dilation}}, input=(1, 7, 8))
    assert r.output_shape == (2, 7, 8)
    conv = nn.Conv2d(1, 2, kernel, padding="same", dilation=dilation)
    assert torch_shape(conv, (1, 7, 8)) == r.output_shape


def test_conv_padding_same_even_kernel_is_asymmetric():
    from archcalc.layers.conv import Conv2d
    layer = Conv2d(**Conv2d.with_defaults({"filters": 1, "kernel": (4, 4), "padding": "same"}))
    # total padding D(F − 1) = 3: one pixel before, two after (PyTorch puts the odd pixel at the end)
    assert layer.pads() == ((1, 2), (1, 2))


def test_conv_padding_same_rejects_stride():
    with pytest.raises(SpecError, match="stride 1"):
        only({"conv2d": {"filters": 1, "kernel": 3, "stride": 2, "padding": "same"}})


def test_conv_uneven_division_warns_with_arithmetic():
    report = run([{"conv2d": {"name": "c", "filters": 1, "kernel": 3, "stride": 2}}])
    # (32 − 3 + 0)/2 + 1 = 29/2 + 1 = 15.5 -> PyTorch floors to 15
    assert report.layers[0].output_shape == (1, 15, 15)
    [warning] = report.warnings
    assert warning["layer"] == "c"
    assert "29/2 + 1 = 15.5" in warning["message"]
    assert "rounds down to 15" in warning["message"]
    # 31 and 33 divide evenly: (31 − 3)/2, (33 − 3)/2
    assert "31 or 33" in warning["message"]


# ---------------------------------------------------------------- pooling

def test_maxpool_stride_defaults_to_kernel():
    r = only({"maxpool2d": {"kernel": 2}}, input=(32, 26, 26))
    assert r.output_shape == (32, 13, 13)        # (26 − 2)/2 + 1
    # F·F − 1 = 3 comparisons per output: 32·13·13·3 = 5,408·3 = 16,224
    assert r.flops == 16_224
    assert r.params == 0 and r.macs == 0


def test_maxpool_overlapping_alexnet():
    r = only({"maxpool2d": {"kernel": 3, "stride": 2}}, input=(96, 55, 55))
    assert r.output_shape == (96, 27, 27)        # (55 − 3)/2 + 1 = 27
    assert torch_shape(nn.MaxPool2d(3, 2), (96, 55, 55)) == r.output_shape


@pytest.mark.parametrize("size,kernel,stride,pad,floor,ceil", [
    (5, 2, 2, 0, 2, 3),    # (5 − 2)/2 + 1 = 2.5: floor 2, ceil 3
    (6, 3, 2, 1, 3, 4),    # (6 + 2 − 3)/2 + 1 = 3.5; the 4th window starts at 6 − 1 = 5, an input pixel: kept
    (5, 2, 2, 1, 3, 3),    # (5 + 2 − 2)/2 + 1 = 3.5; the 4th window starts at 6 − 1 = 5 = N: all padding, dropped
    (11, 2, 2, 0, 5, 6),   # mnist_cnn's pool2: 4.5 + 1
])
def test_maxpool_ceil_mode_like_torch(size, kernel, stride, pad, floor, ceil):
    for mode, expected in ((False, floor), (True, ceil)):
        spec = {"maxpool2d": {"kernel": kernel, "stride": stride, "padding": pad, "ceil_mode": mode}}
        r = only(spec, input=(1, size, size))
        assert r.output_shape == (1, expected, expected)
        assert torch_shape(nn.MaxPool2d(kernel, stride, pad, ceil_mode=mode), (1, size, size)) == r.output_shape


def test_avgpool_ceil_mode_drop_rule_like_torch():
    r = only({"avgpool2d": {"kernel": 2, "stride": 2, "padding": 1, "ceil_mode": True}}, input=(1, 5, 5))
    assert r.output_shape == (1, 3, 3)
    assert torch_shape(nn.AvgPool2d(2, 2, 1, ceil_mode=True), (1, 5, 5)) == (1, 3, 3)


def test_ceil_mode_warning_says_rounds_up():
    report = run([{"maxpool2d": {"kernel": 2, "ceil_mode": True}}], (1, 5, 5))
    assert "rounds up (ceil_mode) to 3" in report.warnings[0]["message"]


def test_avgpool_lenet():
    r = only({"avgpool2d": {"kernel": 2}}, input=(6, 28, 28))
    assert r.output_shape == (6, 14, 14)
    # F·F − 1 additions + 1 division = 4 per output: 6·14·14·4 = 1,176·4 = 4,704
    assert r.flops == 4_704


def test_pool_padding_over_half_kernel_is_refused():
    with pytest.raises(SpecError, match="more than half the kernel"):
        only({"maxpool2d": {"kernel": 2, "padding": 2}})


def test_maxpool_dilation():
    r = only({"maxpool2d": {"kernel": 2, "stride": 1, "dilation": 2}}, input=(1, 6, 6))
    # effective kernel 2·1 + 1 = 3: O = 6 − 3 + 1 = 4
    assert r.output_shape == (1, 4, 4)
    assert torch_shape(nn.MaxPool2d(2, 1, dilation=2), (1, 6, 6)) == (1, 4, 4)


@pytest.mark.parametrize("size,out,windows", [
    # window i covers [floor(i·N/O), ceil((i+1)·N/O))
    (7, 3, [3, 3, 3]),     # [0,3) [2,5) [4,7)
    (5, 3, [2, 3, 2]),     # [0,2) [1,4) [3,5)
    (10, 3, [4, 4, 4]),    # [0,4) [3,7) [6,10)
    (6, 3, [2, 2, 2]),     # divides evenly: no overlap
    (3, 5, [1, 2, 1, 2, 1]),  # more outputs than inputs: [0,1) [0,2) [1,2) [1,3) [2,3)
])
def test_adaptive_windows_match_torch(size, out, windows):
    assert adaptive_windows(size, out) == windows
    # torch: the gradient of output i is non-zero exactly on its window
    x = torch.zeros(1, 1, size, requires_grad=True)
    y = nn.functional.adaptive_avg_pool1d(x, out)
    lengths = []
    for i in range(out):
        (grad,) = torch.autograd.grad(y[0, 0, i], x, retain_graph=True)
        lengths.append(int((grad != 0).sum()))
    assert lengths == windows


def test_adaptive_avgpool():
    r = only({"adaptive_avgpool2d": {"output": 3}}, input=(2, 5, 7))
    assert r.output_shape == (2, 3, 3)
    # one op per input element of each window: C · Σh · Σw = 2 · (2+3+2) · (3+3+3) = 2·7·9 = 126
    assert r.flops == 126
    assert torch_shape(nn.AdaptiveAvgPool2d(3), (2, 5, 7)) == (2, 3, 3)
    assert only({"adaptive_avgpool2d": [1, 2]}, input=(4, 6, 6)).output_shape == (4, 1, 2)


def test_global_pools():
    avg = only("global_avgpool2d", input=(64, 7, 7))
    assert avg.output_shape == (64,)
    assert avg.flops == 64 * 49          # one add (or the final divide) per input element: 3,136
    mx = only("globalmaxpooling2d", input=(64, 7, 7))
    assert mx.output_shape == (64,)
    assert mx.flops == 64 * 48           # 49 − 1 comparisons per channel: 3,072


# ---------------------------------------------------------------- dense, flatten

def test_dense():
    r = only({"dense": 512}, input=(784,))
    # (784 + 1)·512 = 401,920;  MACs 784·512 = 401,408;  FLOPs 2·401,408 + 512 = 803,328
    assert (r.params, r.macs, r.flops) == (401_920, 401_408, 803_328)
    assert r.output_shape == (512,)
    assert torch_params(nn.Linear(784, 512)) == 401_920


def test_dense_without_bias():
    r = only({"linear": {"out_features": 10, "bias": False}}, input=(64,))
    assert r.params == 640 and r.flops == 2 * r.macs == 1_280


def test_flatten_is_a_view():
    report = run(["flatten"], input=(64, 3, 3))
    r = report.layers[0]
    assert r.output_shape == (576,)               # 64·3·3
    assert r.activation_bytes == 0 and report.totals.activation_bytes == 0
    assert torch_shape(nn.Flatten(), (64, 3, 3)) == (576,)


# ---------------------------------------------------------------- normalisation

def test_batchnorm_params_and_buffers():
    r = only("batchnorm", input=(64, 8, 8))
    # γ, β per channel: 2·64 = 128; running mean + var + num_batches_tracked: 2·64 + 1 = 129
    assert (r.params, r.buffers) == (128, 129)
    # folded scale and shift: 2 per element = 2·64·8·8 = 8,192
    assert r.flops == 8_192
    bn = nn.BatchNorm2d(64)
    assert torch_params(bn) == 128
    assert sum(b.numel() for b in bn.buffers()) == 129


def test_batchnorm_keras_view_counts_moving_statistics():
    report = run(["batchnorm"], input=(64, 8, 8), keras=True)
    # Keras: γ, β trainable (128) + moving mean, moving variance non-trainable (128) = 256
    assert report.totals.params == 256
    assert report.totals.trainable_params == 128
    assert report.totals.non_trainable_params == 128
    plain = run(["batchnorm"], input=(64, 8, 8))
    assert plain.totals.params == 128 and plain.totals.non_trainable_params == 0 and plain.totals.buffers == 129


def test_batchnorm_buffer_bytes():
    # fp16: running stats 2·64·2 bytes = 256, plus the int64 counter 8 = 264
    assert run(["batchnorm"], input=(64, 8, 8), dtype="fp16").totals.buffer_bytes == 264


def test_batchnorm_on_vectors_and_without_affine():
    assert only("BatchNormalization", input=(10,)).params == 20
    assert torch_params(nn.BatchNorm1d(10)) == 20
    assert only({"batchnorm": {"affine": False}}, input=(10, 4, 4)).params == 0


def test_local_response_norm():
    r = only({"lrn": {"size": 5}}, input=(96, 55, 55))
    # per element 2n + 3 = 13: 96·55·55·13 = 290,400·13 = 3,775,200
    assert r.flops == 3_775_200
    assert r.params == 0 and r.output_shape == (96, 55, 55)


# ---------------------------------------------------------------- activations, dropout

@pytest.mark.parametrize("name,per_element", [
    ("relu", 1), ("tanh", 1), ("sigmoid", 1), ("leaky_relu", 1), ("ELU", 1), ("gelu", 1), ("silu", 1),
    ("softmax", 3),
])
def test_activation_layers(name, per_element):
    r = only(name, input=(4, 5, 5))
    assert r.output_shape == (4, 5, 5) and r.params == 0 and r.macs == 0
    assert r.flops == per_element * 100


def test_activation_shorthand_adds_a_named_node():
    report = run([{"conv2d": {"name": "c", "filters": 2, "kernel": 1, "activation": "relu"}}], (1, 4, 4))
    assert [r.name for r in report.layers] == ["c", "c_relu"]
    assert report.layers[1].flops == 2 * 4 * 4


def test_dropout_is_free():
    r = only({"dropout": 0.3}, input=(100,))
    assert (r.params, r.macs, r.flops, r.output_shape) == (0, 0, 0, (100,))


# ---------------------------------------------------------------- merges

def test_add_concat_multiply():
    report = run([
        {"conv2d": {"name": "a", "filters": 4, "kernel": 1}},
        {"conv2d": {"name": "b", "filters": 4, "kernel": 1, "from": "input"}},
        {"add": {"name": "s", "from": ["a", "b"]}},
        {"concat": {"name": "c", "from": ["a", "b", "s"]}},
        {"global_avgpool2d": {"name": "g", "from": "c"}},
        {"dense": {"name": "e", "units": 12}},
        {"multiply": {"name": "m", "from": ["c", "e"]}},
    ], input=(3, 5, 5))
    by = {r.name: r for r in report.layers}
    assert by["s"].output_shape == (4, 5, 5)
    assert by["s"].flops == 100                 # (2 − 1) adds per element · 4·5·5
    assert by["c"].output_shape == (12, 5, 5)   # 4 + 4 + 4 channels
    assert by["c"].flops == 0                   # a copy, no arithmetic
    assert by["m"].output_shape == (12, 5, 5)   # (12,) scales each channel of (12, 5, 5)
    assert by["m"].flops == 300                 # one multiply per element
    assert by["s"].inputs == ("a", "b")


# ---------------------------------------------------------------- frozen layers, layout, options

def test_trainable_false_on_a_layer():
    report = run([{"conv2d": {"filters": 16, "kernel": 3, "trainable": False}}, "flatten", {"dense": 10}])
    conv, _, dense = report.layers
    assert conv.params == 448 and conv.trainable_params == 0
    # dense: (16·30·30 + 1)·10 = 144,010
    assert dense.trainable_params == dense.params == 144_010
    assert report.totals.params == 144_458
    assert report.totals.trainable_params == 144_010
    assert report.totals.non_trainable_params == 448


def test_trainable_false_on_a_block_use(write_spec):
    path = write_spec("""
input: [3, 8, 8]
blocks:
  unit:
    args: {f: null}
    layers:
      - conv2d: {filters: $f, kernel: 3, padding: 1}
      - batchnorm
layers:
  - unit: {name: frozen, f: 4, trainable: false}
  - unit: {name: live, f: 4}
""")
    report = analyze(str(path))
    # frozen: conv 4·3·9 + 4 = 112, bn 8 -> 120 frozen; live: conv 4·4·9 + 4 = 148, bn 8 -> 156
    frozen = [r for r in report.layers if r.name.startswith("frozen.")]
    assert [r.name for r in frozen] == ["frozen.conv2d_1", "frozen.batchnorm_1"]
    assert all(r.trainable_params == 0 for r in frozen)
    assert report.totals.params == 276
    assert report.totals.trainable_params == 156
    assert report.totals.non_trainable_params == 120


def test_channels_last_layout_is_shown_back():
    report = analyze({"input": [28, 28, 1], "layout": "channels_last",
                      "layers": [{"conv2d": {"filters": 32, "kernel": 3}}, {"maxpool2d": 2}, "flatten"]})
    assert report.input_shape == (28, 28, 1)
    # internally (1, 28, 28) -> (32, 26, 26), shown as (26, 26, 32); pool -> (13, 13, 32)
    assert [r.output_shape for r in report.layers] == [(26, 26, 32), (13, 13, 32), (5408,)]
    assert report.layers[0].params == 320     # 32·1·9 + 32


def test_batch_dtype_and_input_override():
    layers = [{"conv2d": {"filters": 16, "kernel": 3}}]
    base = run(layers)
    big = run(layers, batch=8, dtype="fp16", input_shape="3x64x64")
    # 64 − 3 + 1 = 62: MACs = 8 · 16·62·62·27 = 8 · 1,660,608 = 13,284,864
    assert big.layers[0].output_shape == (16, 62, 62)
    assert big.totals.macs == 13_284_864
    # activations: 8·16·62·62 = 492,032 elements · 2 bytes = 984,064
    assert big.totals.activation_bytes == 984_064
    # parameters do not scale with batch; fp16 halves their bytes
    assert big.totals.params == base.totals.params == 448
    assert big.totals.param_bytes == 896 and base.totals.param_bytes == 1_792
    assert run(layers, dtype="int8").totals.param_bytes == 448
    assert run(layers, dtype="bf16").totals.activation_bytes == 2 * 14_400


def test_input_override_is_in_the_spec_layout():
    spec = {"input": [28, 28, 1], "layout": "channels_last", "layers": [{"conv2d": {"filters": 2, "kernel": 3}}]}
    report = analyze(spec, input_shape="32x32x1")
    assert report.input_shape == (32, 32, 1)
    assert report.layers[0].output_shape == (30, 30, 2)


@pytest.mark.parametrize("word,options,input,canonical", [
    ("Conv2D", {"filters": 1, "kernel": 1}, (3, 8, 8), "conv2d"),
    ("CONV_2D", {"filters": 1, "kernel": 1}, (3, 8, 8), "conv2d"),
    ("MaxPooling2D", {"pool_size": 2}, (3, 8, 8), "maxpool2d"),
    ("MaxPool2d", {"kernel_size": 2}, (3, 8, 8), "maxpool2d"),
    ("AveragePooling2D", {"pool_size": 2}, (3, 8, 8), "avgpool2d"),
    ("Linear", {"out_features": 2}, (8,), "dense"),
    ("Dense", {"units": 2}, (8,), "dense"),
    ("BatchNorm2d", {}, (3, 8, 8), "batchnorm"),
    ("BatchNormalization", {"epsilon": 0.001}, (3, 8, 8), "batchnorm"),
    ("GlobalAveragePooling2D", {}, (3, 8, 8), "global_avgpool2d"),
])
def test_keras_and_pytorch_spellings(word, options, input, canonical):
    assert only({word: options} if options else word, input=input).type == canonical


@pytest.mark.parametrize("name", zoo.names())
def test_parameter_and_buffer_tensors_are_torchs_one_by_one(name):
    """Each layer lists its tensors as its torch module holds them, in order: a device allocator
    rounds each on its own, so memory counts them one by one."""
    graph = load_spec(name)
    with torch.device("meta"):
        model = to_torch(graph)
    shapes = {INPUT: graph.input_shape}
    for node in graph.nodes:
        ins = [shapes[ref] for ref in node.inputs]
        shapes[node.name] = node.layer.output_shape(ins)
        module = model.get_submodule(node.name)
        assert list(node.layer.param_tensors(ins)) == [p.numel() for p in module.parameters()], node.name
        assert [(elements, element_bytes or 4) for elements, element_bytes in node.layer.buffer_tensors(ins)] == [
            (b.numel(), b.element_size()) for b in module.buffers()], node.name


# ---- issue 12's zoo additions: a broadcast gate, Linear on a channels-last map, channel shuffle

def test_multiply_broadcasts_a_channel_gate():
    """torchvision's SqueezeExcitation: a (C, 1, 1) gate times the (C, H, W) map."""
    layers = [{"adaptive_avgpool2d": {"name": "gate", "output": 1}},
              {"multiply": {"name": "m", "from": ["gate", "input"]}}]
    by = {r.name: r for r in run(layers, input=(4, 6, 6)).layers}
    assert by["m"].output_shape == (4, 6, 6)
    assert by["m"].flops == 4 * 6 * 6            # one multiplication per output element
    with pytest.raises(SpecError, match="broadcast"):
        run([{"adaptive_avgpool2d": {"name": "g", "output": [2, 1]}},
             {"multiply": {"from": ["g", "input"]}}], input=(4, 6, 6))


def test_dense_on_a_channels_last_map_only_when_asked():
    layers = [{"permute": [1, 2, 0]}, {"dense": {"units": 8, "last_axis": True}}]
    fc = run(layers, input=(4, 5, 6)).layers[-1]
    assert fc.output_shape == (5, 6, 8)
    assert fc.macs == 5 * 6 * 4 * 8 and fc.params == (4 + 1) * 8    # one weight, every (h, w) position
    with pytest.raises(SpecError, match="last_axis"):
        run([{"permute": [1, 2, 0]}, {"dense": 8}], input=(4, 5, 6))


def test_channel_shuffle_interleaves_like_torchvisions_function():
    """nn.ChannelShuffle(2), which archcalc builds, moves the channels as ShuffleNetV2's own
    view-transpose-view does: channel i·(C/g) + j goes to j·g + i."""
    model = to_torch({"input": [6, 2, 2], "layers": [{"channel_shuffle": 2}]})
    x = torch.arange(6.0).repeat_interleave(4).reshape(1, 6, 2, 2)
    assert model(x)[0, :, 0, 0].tolist() == [0, 3, 1, 4, 2, 5]
    assert only({"channel_shuffle": 2}, input=(6, 2, 2)).flops == 0
    with pytest.raises(SpecError, match="do not split into 4 groups"):
        only({"channel_shuffle": 4}, input=(6, 2, 2))
