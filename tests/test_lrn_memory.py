"""Local response norm's training step against torch's CPU profiler: the temporaries of its composed
backward (LocalResponseNorm.backward_workspace) and the wrapped α scalar it saves (Saved.hooked)."""
import pytest

import archcalc
from archcalc.analysis.memory import memory
from archcalc.bridges.torch_model import example_input
from archcalc.spec.graph import load_spec

from measured import cpu_peak

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
    """The peak is n's first backward node, x / d's (DivBackward0), during its last division. Alive: the
    input (1,536); what n saved: c's output x (4,096), the channel-padded square 2·(8 + 4)·8·8·4 = 6,144,
    t = k + α·pool (4,096), d = t^β (4,096) and the float64 α that `.mul(alpha)` wrapped (8); the model's
    output, r's (4,096, held by the caller; r saves it); n's output gradient (4,096); and DivBackward0's
    own: x's gradient grad / d (4,096, the input gradient the model counts anyway), then x / d, −grad, their
    product and d's gradient, four more maps (16,384): 1,536 + 4·4,096 + 6,144 + 8 + 4,096 + 4,096 + 16,384
    = 48,648 bytes. c's parameter gradients come later, at c's backward."""
    assert archcalc.analyze(CONV_LRN, batch=2).layers[1].backward_workspace == 4 * 8 * 8 * 8 * 4
    result = memory(CONV_LRN, batch=2, mode="training")
    assert result.backward_peak_layer == "n"
    hand = 1_536 + 4 * 4_096 + 6_144 + 8 + 4_096 + 4_096 + 16_384
    assert hand == 48_648
    assert result.peak_bytes - result.param_bytes == hand == measured(CONV_LRN, 2)


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
    four times its 1,024-byte maps) still agrees with the profiler."""
    spec = {"input": [3, 8, 8], "layers": [
        {"lrn": {"name": "n0", "size": 5}},
        {"conv2d": {"name": "c", "filters": 2, "kernel": 3, "padding": 1}},
        {"lrn": {"name": "n", "size": 7}},
        {"conv2d": {"name": "d", "filters": 4, "kernel": 1}}]}
    layers = archcalc.analyze(spec, batch=2).layers
    assert (layers[0].saved_bytes, layers[0].backward_workspace) == (0, 0)
    assert layers[2].backward_workspace == 4 * 2 * 8 * 8 * 4
    result = memory(spec, batch=2, mode="training")
    assert result.peak_bytes - result.param_bytes == measured(spec, 2)
