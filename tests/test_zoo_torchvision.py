"""The zoo specs against the real models they describe: torchvision's own model objects (built with
weights=None), not hand-written copies. For each spec: parameters and buffers (totals, and the sorted
sizes of every tensor), the output shape and FlopCounterMode's forward FLOPs on the meta device (eval
mode, at the spec's own input), and the bytes saved for backward by one training-mode forward on CPU,
measured with saved_tensors_hooks as `archcalc verify` does, at a smaller input (every torchvision
classifier here ends in adaptive pooling, so a smaller image runs the same layers).

Expected totals are torchvision's documented counts (the `num_params` of each Weights enum), re-derived
by hand in each spec's header and, below, in the arithmetic of the hand-derivation tests. The U-Net and
the M5 audio classifier have no torchvision model: their references are the papers' figures and tables,
derived by hand here, plain-torch models written from the papers (compared the same way), and
`archcalc verify`.
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
    "inception_v3": Case("inception_v3", kwargs={"init_weights": False}, small="3x299x299", flops_mode="train"),
    # without it, torchvision's inception_v3(aux_logits=False) and the eval forward; 75 px is its minimum
    "inception_v3-no-aux": Case("inception_v3", args={"aux_logits": False},
                                kwargs={"aux_logits": False, "init_weights": False},
                                small="3x75x75"),
}

# torchvision's documented parameter counts (Weights.meta["num_params"]), derived by hand in each header.
DOCUMENTED_PARAMS = {
    "convnext_tiny": 28_589_128,
    "shufflenet_v2_x1_0": 2_278_604,
    "efficientnet_b0": 5_288_548,
    "densenet121": 7_978_856,
    "inception_v3": 27_161_264,         # with AuxLogits (3,326,696), as torchvision documents it
    "inception_v3-no-aux": 23_834_568,  # 27,161,264 − 768·128 − 256 − 25·128·768 − 1,536 − 769,000
}


@pytest.mark.parametrize("name", ["convnext_tiny", "shufflenet_v2_x1_0", "efficientnet_b0", "densenet121",
                                  "inception_v3-no-aux"])
def test_torchvision_weights_metadata(name):
    """What torchvision's Weights enums publish (no download): num_params, and "GFLOPS" (_ops), which are
    conv + linear multiply-adds in billions to 3 decimals; inception_v3's are its eval forward, without
    the aux head (its num_params do include the head's parameters)."""
    case = CASES[name]
    meta = torchvision.models.get_model_weights(case.builder).DEFAULT.meta
    assert meta["num_params"] == DOCUMENTED_PARAMS["inception_v3" if name.startswith("inception") else name]
    report = archcalc.analyze(case.graph())
    conv_linear = sum(r.macs for r in report.layers if r.kind in ("conv", "dense"))
    assert conv_linear == report.totals.macs
    assert round(conv_linear / 1e9, 3) == meta["_ops"]


@pytest.fixture(autouse=True)
def release_memory():
    """Each CPU run builds a whole model: collect it before the next, so the file stays under 2 GB."""
    yield
    import gc
    gc.collect()


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


# ---- the zoo specs with no torchvision model: the papers' layouts, written here in plain torch

class PaperUNet(torch.nn.Module):
    """Ronneberger et al. 2015, Figure 1, written from the paper: unpadded 3×3 convolutions with ReLU,
    2×2 max pools, 2×2 up-convolutions (transposed, stride 2), centre-cropped skips concatenated before
    the upsampled map, a final 1×1 convolution to 2 classes."""

    def __init__(self):
        super().__init__()
        nn = torch.nn

        def double(c, o):
            return nn.Sequential(nn.Conv2d(c, o, 3), nn.ReLU(), nn.Conv2d(o, o, 3), nn.ReLU())
        widths = [64, 128, 256, 512]
        self.down = nn.ModuleList(double(c, o) for c, o in zip([1] + widths[:-1], widths))
        self.bottom = double(512, 1024)
        self.upconv = nn.ModuleList(nn.ConvTranspose2d(2 * w, w, 2, stride=2) for w in reversed(widths))
        self.up = nn.ModuleList(double(2 * w, w) for w in reversed(widths))
        self.final = nn.Conv2d(64, 2, 1)

    def forward(self, x):
        skips = []
        for block in self.down:
            x = block(x)
            skips.append(x)
            x = torch.nn.functional.max_pool2d(x, 2)
        x = self.bottom(x)
        for upconv, block, skip in zip(self.upconv, self.up, reversed(skips)):
            x = upconv(x)
            margin = (skip.shape[-1] - x.shape[-1]) // 2
            x = block(torch.cat([skip[:, :, margin:-margin, margin:-margin], x], 1))
        return self.final(x)


class PaperM5(torch.nn.Module):
    """Dai et al. 2017, Table 1, M5: [80/4, 128], pool 4, [3, 128], pool 4, [3, 256], pool 4, [3, 512],
    pool 4, global average pool, 10 classes; BN and ReLU after each convolution; "same" padding."""

    def __init__(self):
        super().__init__()
        nn = torch.nn
        layers, c = [], 1
        for o, k, s, p in [(128, 80, 4, 38), (128, 3, 1, 1), (256, 3, 1, 1), (512, 3, 1, 1)]:
            layers += [nn.Conv1d(c, o, k, s, p), nn.BatchNorm1d(o), nn.ReLU(), nn.MaxPool1d(4)]
            c = o
        self.features = nn.Sequential(*layers)
        self.fc = nn.Linear(512, 10)

    def forward(self, x):
        return self.fc(self.features(x).mean(-1))


PAPERS = {"unet": (PaperUNet, "1x188x188", 1), "m5": (PaperM5, "1x32000", 2)}    # (model, input, batch)


def test_unet_parameters_by_hand():
    """Figure 1: a 3×3 convolution from c to o has 9co + o parameters, a 2×2 up-convolution 4co + o."""
    def conv(k, c, o):
        return k * c * o + o
    down = sum(conv(9, c, o) + conv(9, o, o) for c, o in [(1, 64), (64, 128), (128, 256), (256, 512)])
    bottom = conv(9, 512, 1024) + conv(9, 1024, 1024)
    up = sum(conv(4, 2 * o, o) + conv(9, 2 * o, o) + conv(9, o, o) for o in [512, 256, 128, 64])
    assert (down, bottom, up) == (4_684_224, 14_157_824, 12_188_480)
    assert down + bottom + up + conv(1, 64, 2) == 31_030_658
    report = archcalc.analyze("unet")
    assert report.totals.params == 31_030_658 and report.totals.buffers == 0
    assert tuple(report.layers[-1].output_shape) == (2, 388, 388)      # the paper's output tile


def test_m5_parameters_by_hand():
    convs = [80 * 1 * 128 + 128, 3 * 128 * 128 + 128, 3 * 128 * 256 + 256, 3 * 256 * 512 + 512]
    assert convs == [10_368, 49_280, 98_560, 393_728]
    bn = 2 * (128 + 128 + 256 + 512)
    report = archcalc.analyze("m5")
    assert report.totals.params == sum(convs) + bn + 512 * 10 + 10 == 559_114
    assert report.totals.buffers == bn + 4 == 2_052            # running mean and var, 4 batch counters
    # the paper's map sizes: 32000/4 = 8000, then /4 at each pool: 2000, 500, 125, 31
    sizes = {r.name: r.output_shape[-1] for r in report.layers}
    assert [sizes[f"pool{i}"] for i in range(1, 5)] == [2000, 500, 125, 31]


@pytest.mark.parametrize("name", sorted(PAPERS))
def test_paper_models_match_their_plain_torch_reference(name):
    cls, small, batch = PAPERS[name]
    graph = archcalc.load_spec(name)
    with torch.device("meta"):
        model, ours = cls(), archcalc.to_torch(graph)
    assert sorted(p.numel() for p in ours.parameters()) == sorted(p.numel() for p in model.parameters())
    assert sorted(b.numel() for b in ours.buffers()) == sorted(b.numel() for b in model.buffers())
    flops, out = torch_flops(model, graph.input_shape, "eval")
    report = archcalc.analyze(graph, convention="torch", batch=2)
    assert tuple(out.shape[1:]) == tuple(report.layers[-1].output_shape)
    assert report.totals.flops == flops
    torch.manual_seed(0)
    shape = tuple(int(s) for s in small.split("x"))
    measured = saved_bytes(cls(), torch.randn((batch, *shape)))
    assert archcalc.analyze(archcalc.load_spec(name, input_shape=small), batch=batch).totals.saved_bytes == measured


# archcalc's own verify (the spec built with to_torch, every layer compared with real torch, forward and
# backward) for the cheap ones; the others take 10-20 s each on CPU and are verified by hand
# (`archcalc verify NAME`, docs/zoo.md).
VERIFY_SMALL = {"m5": (None, 2), "unet": ("1x188x188", 1), "shufflenet_v2_x1_0": ("3x64x64", 2)}


@pytest.mark.parametrize("name", sorted(VERIFY_SMALL))
def test_archcalc_verify_agrees(name):
    small, batch = VERIFY_SMALL[name]
    result = archcalc.verify(name, input_shape=small, batch=batch, train=True)
    bad = {layer.name: {k: v for k, v in layer.checks.items() if v[1] is not None and v[0] != v[1]}
           for layer in result.layers if not layer.ok}
    assert result.ok, bad


def test_channel_shuffle_is_torchvisions_own():
    """The spec's channel_shuffle (nn.ChannelShuffle) gives the values of torchvision's channel_shuffle."""
    from torchvision.models.shufflenetv2 import channel_shuffle
    x = torch.randn(2, 116, 3, 3)
    ours = archcalc.to_torch({"input": [116, 3, 3], "layers": [{"channel_shuffle": 2}]})
    assert torch.equal(ours(x), channel_shuffle(x, 2))
