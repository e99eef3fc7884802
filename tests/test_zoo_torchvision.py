"""The zoo specs against the real models they describe: torchvision's own model objects (built with
weights=None), not hand-written copies. For each spec: parameters and buffers (totals, and the sorted
sizes of every tensor), the output shape and FlopCounterMode's forward FLOPs on the meta device (eval
mode, at the spec's own input), and the bytes saved for backward by one training-mode forward on CPU,
measured with saved_tensors_hooks as `archcalc verify` does, at a smaller input (every torchvision
classifier here ends in adaptive pooling, so a smaller image runs the same layers).

Expected totals are torchvision's documented counts (the `num_params` of each Weights enum), re-derived
by hand in each spec's header and, below, in the arithmetic of the hand-derivation tests. The U-Net and
the M5 audio classifier have no torchvision model: their references are the papers' tables, derived by
hand here, and their own `archcalc verify`.
"""
import pytest

import archcalc

torch = pytest.importorskip("torch")
torchvision = pytest.importorskip("torchvision")
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402

# spec -> (torchvision builder kwargs, the spec's input, a small input for saved bytes, spec args)
TORCHVISION = {
    "convnext_tiny": ("convnext_tiny", {}, (3, 224, 224), "3x64x64", {}),
    "shufflenet_v2_x1_0": ("shufflenet_v2_x1_0", {}, (3, 224, 224), "3x64x64", {}),
    "efficientnet_b0": ("efficientnet_b0", {}, (3, 224, 224), "3x64x64", {}),
    "densenet121": ("densenet121", {}, (3, 224, 224), "3x64x64", {}),
}

# torchvision's documented parameter counts (Weights.meta["num_params"]), derived by hand in each header.
DOCUMENTED_PARAMS = {
    "convnext_tiny": 28_589_128,
    "shufflenet_v2_x1_0": 2_278_604,
    "efficientnet_b0": 5_288_548,
    "densenet121": 7_978_856,
}


def torchvision_model(name, device):
    builder, kwargs, *_ = TORCHVISION[name]
    with torch.device(device):
        return getattr(torchvision.models, builder)(weights=None, **kwargs)


def spec_args(name):
    return TORCHVISION[name][4]


@pytest.fixture(scope="module", params=sorted(TORCHVISION))
def meta_model(request):
    return request.param, torchvision_model(request.param, "meta")


def test_documented_parameter_counts(meta_model):
    name, model = meta_model
    assert sum(p.numel() for p in model.parameters()) == DOCUMENTED_PARAMS[name]
    assert archcalc.analyze(archcalc.load_spec(name, args=spec_args(name))).totals.params == DOCUMENTED_PARAMS[name]


def test_parameters_and_buffers_tensor_by_tensor(meta_model):
    """The same tensors, not only the same totals: the sorted element counts of every parameter and buffer."""
    name, model = meta_model
    graph = archcalc.load_spec(name, args=spec_args(name))
    with torch.device("meta"):
        ours = archcalc.to_torch(graph)
    assert sorted(p.numel() for p in ours.parameters()) == sorted(p.numel() for p in model.parameters())
    assert sorted(b.numel() for b in ours.buffers()) == sorted(b.numel() for b in model.buffers())
    report = archcalc.analyze(graph)
    assert report.totals.buffers == sum(b.numel() for b in model.buffers())


def test_output_shape_and_torch_flops(meta_model):
    """FlopCounterMode on torchvision's model (eval mode, meta device) = archcalc's torch convention."""
    name, model = meta_model
    shape = TORCHVISION[name][2]
    model.eval()
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        out = model(torch.empty((1, *shape), device="meta"))
    report = archcalc.analyze(archcalc.load_spec(name, args=spec_args(name)), convention="torch")
    assert tuple(out.shape[1:]) == tuple(report.layers[-1].output_shape)
    assert report.totals.flops == counter.get_total_flops()


def saved_bytes(model, x):
    """Bytes autograd keeps for backward in one training-mode forward, each storage once, parameters and
    buffers excluded: the measurement `archcalc verify` makes."""
    owned = {t.untyped_storage().data_ptr() for t in [*model.parameters(), *model.buffers()]}
    kept = {}

    def pack(tensor):
        storage = tensor.untyped_storage()
        key = storage.data_ptr()
        if storage.nbytes() and key not in owned and key not in kept:
            kept[key] = (tensor, storage.nbytes())
        return tensor.detach()

    model.train()
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        model(x)
    return sum(nbytes for _, nbytes in kept.values())


@pytest.mark.parametrize("name", sorted(TORCHVISION))
def test_saved_bytes_match_torchvision(name):
    _, _, _, small, args = TORCHVISION[name]
    torch.manual_seed(0)
    model = torchvision_model(name, "cpu")
    shape = tuple(int(s) for s in small.split("x"))
    measured = saved_bytes(model, torch.randn((2, *shape)))
    graph = archcalc.load_spec(name, args=args, input_shape=small)
    assert archcalc.analyze(graph, batch=2).totals.saved_bytes == measured


def test_efficientnet_b0_parameters_by_hand():
    """Table 1 of the paper, row by row: a block with input c, expanded e = t·c, squeeze s = c // 4, output o,
    kernel k has c·e + 2e (expansion, t > 1) + k²·e + 2e (depthwise + BN) + e·s + s + s·e + e (SE, biased)
    + e·o + 2o (projection + BN)."""
    def block(t, k, c, o):
        e, s = t * c, c // 4
        return (c * e + 2 * e if t > 1 else 0) + k * k * e + 2 * e + e * s + s + s * e + e + e * o + 2 * o
    rows = [(1, 3, 32, 16, 1), (6, 3, 16, 24, 2), (6, 5, 24, 40, 2), (6, 3, 40, 80, 3), (6, 5, 80, 112, 3),
            (6, 5, 112, 192, 4), (6, 3, 192, 320, 1)]
    blocks = sum(block(t, k, c, o) + (n - 1) * block(t, k, o, o) for t, k, c, o, n in rows)
    assert blocks == 3_594_460
    stem, head, classifier = 27 * 32 + 2 * 32, 320 * 1280 + 2 * 1280, 1280 * 1000 + 1000
    assert stem + blocks + head + classifier == DOCUMENTED_PARAMS["efficientnet_b0"]
