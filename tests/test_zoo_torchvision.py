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

class Case:
    """One spec (with its `--set` args) against one torchvision model: the builder's keyword arguments,
    the mode FlopCounterMode runs it in, and the smaller input for the saved-bytes run."""

    def __init__(self, spec, builder=None, *, args=None, kwargs=None, small="3x64x64", flops_mode="eval",
                 batch=2):
        self.spec, self.builder = spec, builder or spec
        self.args, self.kwargs = args or {}, kwargs or {}
        self.small, self.flops_mode, self.batch = small, flops_mode, batch

    def graph(self, input_shape=None):
        return archcalc.load_spec(self.spec, args=self.args, input_shape=input_shape)

    def model(self, device):
        with torch.device(device):
            return getattr(torchvision.models, self.builder)(weights=None, **self.kwargs)


CASES = {
    "convnext_tiny": Case("convnext_tiny"),
    "shufflenet_v2_x1_0": Case("shufflenet_v2_x1_0"),
    "efficientnet_b0": Case("efficientnet_b0"),
    "densenet121": Case("densenet121"),
    # torchvision runs the auxiliary head only in training: the spec's default (aux_logits: true) is
    # torchvision's training forward, FLOPs and saved bytes alike; the aux head needs the full 299 input
    # (its 5×5 pool and 5×5 convolution need Mixed_6e's 17×17).
    "inception_v3": Case("inception_v3", small="3x299x299", flops_mode="train"),
    # without it, torchvision's inception_v3(aux_logits=False) and the eval forward; 75 px is its minimum
    "inception_v3-no-aux": Case("inception_v3", args={"aux_logits": False}, kwargs={"aux_logits": False},
                                small="3x75x75"),
}

# torchvision's documented parameter counts (Weights.meta["num_params"]), derived by hand in each header.
DOCUMENTED_PARAMS = {
    "convnext_tiny": 28_589_128,
    "shufflenet_v2_x1_0": 2_278_604,
    "efficientnet_b0": 5_288_548,
    "densenet121": 7_978_856,
    "inception_v3": 27_161_264,         # with AuxLogits (3,326_696), as torchvision documents it
    "inception_v3-no-aux": 23_834_568,  # 27,161,264 − 768·128 − 256 − 25·128·768 − 1,536 − 769,000
}


@pytest.fixture(scope="module", params=sorted(CASES))
def meta_model(request):
    return request.param, CASES[request.param].model("meta")


def test_documented_parameter_counts(meta_model):
    name, model = meta_model
    assert sum(p.numel() for p in model.parameters()) == DOCUMENTED_PARAMS[name]
    assert archcalc.analyze(CASES[name].graph()).totals.params == DOCUMENTED_PARAMS[name]


def test_parameters_and_buffers_tensor_by_tensor(meta_model):
    """The same tensors, not only the same totals: the sorted element counts of every parameter and buffer."""
    name, model = meta_model
    graph = CASES[name].graph()
    with torch.device("meta"):
        ours = archcalc.to_torch(graph)
    assert sorted(p.numel() for p in ours.parameters()) == sorted(p.numel() for p in model.parameters())
    assert sorted(b.numel() for b in ours.buffers()) == sorted(b.numel() for b in model.buffers())
    assert archcalc.analyze(graph).totals.buffers == sum(b.numel() for b in model.buffers())


def torch_flops(model, shape, mode, batch=2):
    """FlopCounterMode's forward FLOPs and the (main) output, on the meta device, for a batch of 2
    (training-mode batch norm refuses one value per channel, as on the aux head's 1×1 map)."""
    model.train(mode == "train")
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        out = model(torch.empty((batch, *shape), device="meta"))
    return counter.get_total_flops(), out[0] if isinstance(out, tuple) else out


def test_output_shape_and_torch_flops(meta_model):
    """FlopCounterMode on torchvision's model (meta device, eval mode unless the case says training) =
    archcalc's torch convention at the spec's own input."""
    name, model = meta_model
    graph = CASES[name].graph()
    flops, out = torch_flops(model, graph.input_shape, CASES[name].flops_mode)
    report = archcalc.analyze(graph, convention="torch", batch=2)
    assert tuple(out.shape[1:]) == tuple(report.layers[-1].output_shape)
    assert report.totals.flops == flops


def test_inception_v3_eval_forward_is_the_spec_without_aux():
    """torchvision's default inception_v3 (aux head built) in eval mode skips the head: its FLOPs are the
    spec's with --set aux_logits=false, and the head's own are the difference."""
    flops, _ = torch_flops(CASES["inception_v3"].model("meta"), (3, 299, 299), "eval")
    no_aux = archcalc.analyze(CASES["inception_v3-no-aux"].graph(), convention="torch", batch=2).totals.flops
    assert no_aux == flops
    with_aux = archcalc.analyze(CASES["inception_v3"].graph(), convention="torch", batch=2).totals.flops
    # the head's convolutions and linear, for 2 samples: 2·2·(25·768·128 + 25·128·768 + 768·1000)
    assert with_aux - no_aux == 2 * 2 * (25 * 768 * 128 + 25 * 128 * 768 + 768 * 1000)


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


@pytest.mark.parametrize("name", sorted(CASES))
def test_saved_bytes_match_torchvision(name):
    case = CASES[name]
    torch.manual_seed(0)
    model = case.model("cpu")
    shape = tuple(int(s) for s in case.small.split("x"))
    measured = saved_bytes(model, torch.randn((case.batch, *shape)))
    assert archcalc.analyze(case.graph(case.small), batch=case.batch).totals.saved_bytes == measured


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
