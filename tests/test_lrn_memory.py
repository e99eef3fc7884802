"""Local response norm's training step against torch's CPU profiler: the temporaries of its composed
backward (LocalResponseNorm.backward_workspace) and the wrapped α scalar it saves (Saved.hooked).
torch's nn.LocalResponseNorm is F.local_response_norm (torch/nn/functional.py): x·x, a channel-padded
view average-pooled over n channels, ·α, +k, ^β, then x / d, each op an autograd node of its own."""
import pytest

import archcalc
from archcalc.analysis.memory import memory
from archcalc.bridges.torch_model import example_input
from archcalc.spec.graph import load_spec

from measured import cpu_peak
from test_memory import replayed_training_peak

torch = pytest.importorskip("torch")

# conv 3 -> 8 (3×3, padding 1) on 3×8×8, LRN over 5 channels, ReLU: at batch 2 every 8-channel map is
# 2·8·8·8·4 = 4,096 bytes, the input 2·3·8·8·4 = 1,536
CONV_LRN = {"input": [3, 8, 8], "layers": [
    {"conv2d": {"name": "c", "filters": 8, "kernel": 3, "padding": 1}},
    {"lrn": {"name": "n", "size": 5, "alpha": 0.0001, "beta": 0.75, "k": 2}},
    {"relu": {"name": "r"}}]}


def measured(spec, batch):
    """The profiler's peak of one forward + backward (test_memory.measured_training_peak's step), less the
    scalar loss and its gradient (4 bytes each)."""
    graph = load_spec(spec)
    torch.manual_seed(0)
    model = archcalc.to_torch(graph).train()

    def step():
        x = example_input(graph, batch)      # held by the caller, as archcalc assumes
        out = model(x)
        (out * 1.0).sum().backward()
    return cpu_peak(step) - 8


def test_lrn_backward():
    """The peak is in n's first backward node, x / d's (DivBackward0), when it has made d's gradient
    -grad · ((x / d) / d) and not yet freed the three temporaries. Alive: the input (1,536); what n saved:
    c's output x (4,096), the channel-padded square 2·(8 + 4)·8·8·4 = 6,144, t = k + α·pool (4,096),
    d = t^β (4,096) and the float64 α that `.mul(alpha)` wrapped (8); the model's output, r's (4,096, held
    by the caller; r saves it); n's output gradient (4,096); and DivBackward0's x / d, (x / d) / d, -grad
    and d's gradient (4·4,096 = 16,384; the model counts one as the input's gradient, the other three are
    the workspace): 1,536 + 4·4,096 + 6,144 + 8 + 4,096 + 4,096 + 16,384 − 4,096 = 44,552 bytes, as the
    profiler's allocation timeline replays it. Its per-op walk (the zoo comparison's) shows one map more,
    48,648: DivBackward0 frees the three temporaries between two of its child ops, and the walk applies a
    node's own frees only at its end, so it keeps them through the last child, grad / d (x's gradient).
    c's parameter gradients come later, at c's backward."""
    assert archcalc.analyze(CONV_LRN, batch=2).layers[1].backward_workspace == 3 * 8 * 8 * 8 * 4
    result = memory(CONV_LRN, batch=2, mode="training")
    assert result.backward_peak_layer == "n"
    hand = 1_536 + 4 * 4_096 + 6_144 + 8 + 4_096 + 4_096 + 16_384 - 4_096
    assert hand == 44_552
    assert result.peak_bytes - result.param_bytes == hand == replayed_training_peak(CONV_LRN, 2, "cpu") - 8
    assert measured(CONV_LRN, 2) == hand + 4_096


@pytest.mark.parametrize("spec,walk", [("alexnet", 2 * 256 * 27 * 27 * 4), ("alexnet_2gpu", 2 * 256 * 27 * 27 * 4),
                                       ("zfnet", 2 * 96 * 55 * 55 * 4)])
def test_alexnet_and_zfnet_training_peak_to_the_byte(spec, walk):
    """Their peak is an LRN's x / d backward (AlexNet's norm2 on (256, 27, 27), ZFNet's norm1 on (96, 55, 55),
    after its max pooling's ceil mode): the prediction equals the allocation timeline's replay to the byte,
    and the per-op walk (test_memory.test_training_peak_matches_the_cpu_profiler) is that LRN's input map
    higher, at batch 2: 1,492,992 and 2,323,200 bytes (test_lrn_backward says why)."""
    result = memory(spec, batch=2, mode="training")
    predicted = result.peak_bytes - result.param_bytes
    assert result.backward_peak_layer == ("norm1" if spec == "zfnet" else "norm2")
    assert predicted == replayed_training_peak(spec, 2, "cpu") - 8
    assert predicted + walk == measured(spec, 2)


def test_lrn_saves_its_alpha_unseen_by_the_hooks():
    """n saves x (c's output, which c does not save: c keeps its own input), the padded square, t and d:
    4,096 + 6,144 + 4,096 + 4,096 = 18,432 bytes that saved_tensors_hooks see, and the 8-byte α they do not;
    the memory model counts both, verify compares the first only."""
    record = archcalc.analyze(CONV_LRN, batch=2).layers[1]
    assert record.saved_bytes == 18_432 + 8
    seen = []
    x = torch.randn(2, 8, 8, 8, requires_grad=True)
    with torch.autograd.graph.saved_tensors_hooks(lambda t: seen.append(t.untyped_storage().nbytes()) or t,
                                                  lambda t: t):
        torch.nn.functional.local_response_norm(x, 5, 0.0001, 0.75, 2.0)
    # x is packed twice (x·x saves it as both operands, x / d as the dividend), once as a storage
    assert sorted(seen) == [4_096] * 5 + [6_144] and sum(set(seen)) + 2 * 4_096 == 18_432
    check = archcalc.verify(CONV_LRN, batch=2, train=True)
    assert check.ok
    assert {layer.name: layer.checks["saved_bytes"] for layer in check.layers}["n"] == (18_432, 18_432)
    # the totals too: c saves the input (1,536) and its weight (a parameter, not counted); r its output
    assert check.totals["saved_bytes"] == (1_536 + 18_432 + 4_096,) * 2


def test_lrn_on_the_network_input_keeps_and_makes_nothing():
    """An LRN reading the network input computes no gradient: it saves nothing and its backward does not
    run, while the second one (2 channels, 7 summed: a padded square of 2·(2 + 6)·8·8·4 = 4,096 bytes,
    four times its 1,024-byte maps) keeps the same three maps of temporaries."""
    spec = {"input": [3, 8, 8], "layers": [
        {"lrn": {"name": "n0", "size": 5}},
        {"conv2d": {"name": "c", "filters": 2, "kernel": 3, "padding": 1}},
        {"lrn": {"name": "n", "size": 7}},
        {"conv2d": {"name": "d", "filters": 4, "kernel": 1}}]}
    layers = archcalc.analyze(spec, batch=2).layers
    assert (layers[0].saved_bytes, layers[0].backward_workspace) == (0, 0)
    assert layers[2].backward_workspace == 3 * 2 * 8 * 8 * 4
    result = memory(spec, batch=2, mode="training")
    assert result.backward_peak_layer == "n"
    # the per-op walk: n's x / d backward, one 1,024-byte map above the model (test_lrn_backward says why;
    # the allocation replay's peak here, 55,712, is elsewhere: buffers of 21,888 and 22,656 bytes made and
    # freed inside single ops, scratch the model does not count)
    assert measured(spec, 2) == result.peak_bytes - result.param_bytes + 2 * 2 * 8 * 8 * 4


def test_a_wide_window_over_few_channels_peaks_in_the_pools_backward():
    """One channel, 9 summed: the padded square, 2·(1 + 8)·8·8·4 = 4,608 bytes, is nine 512-byte maps, and the
    average pool's backward (its padded input's gradient) outgrows x / d's three temporaries. There the input
    (1,536), x (512), the padded square (4,608) and the model's output (512) are alive, with x's gradient
    (512), the pool's output gradient (512) and its input's (4,608): 12,800 bytes. The model's step counts
    everything n saved (1,536 + 512 + 4,608 + 512 + 512 + 8 + 512 output = 8,200), the output's and the
    input's gradients (1,024) and (9 − 1 − 1)·2·8·8·4 = 3,584: 12,808, 8 bytes over, the α the pool's node
    no longer holds."""
    spec = {"input": [3, 8, 8], "layers": [
        {"conv2d": {"name": "c", "filters": 1, "kernel": 3, "padding": 1}},
        {"lrn": {"name": "n", "size": 9}}, {"relu": {"name": "r"}}]}
    assert archcalc.analyze(spec, batch=2).layers[1].backward_workspace == 7 * 8 * 8 * 4
    result = memory(spec, batch=2, mode="training")
    assert result.backward_peak_layer == "n"
    assert result.peak_bytes - result.param_bytes == 8_200 + 1_024 + 3_584 == 12_808
    assert measured(spec, 2) == 1_536 + 512 + 4_608 + 512 + 512 + 512 + 4_608 == 12_808 - 8
