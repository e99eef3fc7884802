"""The zoo against published facts and against torchvision's structure.

Totals are compared with torchvision's documented parameter counts and GFLOPS (which are conv + linear
multiply-adds in billions), or with counts derived by hand in each spec's header. Structure is proved by
building every spec with archcalc.to_torch and comparing its state_dict (the sorted list of tensor shapes,
names ignored) with a torchvision-equivalent model written below in plain torch: torchvision itself has no
CPU build to install here. The small models also run a forward pass with the reference's weights copied
in, so the wiring (branch order, where the residual is added) must agree too, not only the shapes.
"""
import pytest

import archcalc
from archcalc.cli import main
from archcalc.report.tables import short_source
from archcalc.spec.graph import load_spec

torch = pytest.importorskip("torch")
nn = torch.nn

# torchvision's documented parameter counts, or hand derivations in the spec headers.
PUBLISHED_PARAMS = {
    "zfnet": 62_357_608,                # hand count in zfnet.yaml
    "vgg19": 143_667_240,
    "vgg16_bn": 138_365_992,
    "googlenet": 6_624_904,
    "inception3a": 163_328,             # 159.5 × 1,024: "159K" in the paper's table
    "resnet18": 11_689_512,
    "resnet34": 21_797_672,
    "resnet101": 44_549_160,
    "resnet152": 60_192_808,
    "se_resnet50": 28_088_024,          # 25,557,032 + 2,530,992, derived in se_resnet50.yaml
    "mobilenet_v2": 3_504_872,
    "alexnet_torchvision": 61_100_840,
    "alexnet_2gpu": 60_965_224,         # the commonly cited figure, derived in alexnet_2gpu.yaml
}

# torchvision's documented GFLOPS: conv + linear multiply-adds, in billions, to 2 decimals.
TORCHVISION_GFLOPS = {
    "alexnet_torchvision": 0.71, "vgg16": 15.47, "vgg19": 19.63, "vgg16_bn": 15.47, "googlenet": 1.50,
    "resnet18": 1.81, "resnet34": 3.66, "resnet50": 4.09, "resnet101": 7.80, "resnet152": 11.51,
    "mobilenet_v2": 0.30,
}

# The depth each paper quotes: weighted layers on the longest path.
PAPER_DEPTH = {"resnet18": 18, "resnet34": 34, "resnet50": 50, "resnet101": 101, "resnet152": 152,
               "googlenet": 22, "vgg16": 16, "vgg19": 19, "vgg16_bn": 16, "alexnet_2gpu": 8, "zfnet": 8}


@pytest.mark.parametrize("name,params", PUBLISHED_PARAMS.items())
def test_parameter_counts_match_published(name, params):
    assert archcalc.analyze(name).totals.params == params


@pytest.mark.parametrize("name,gflops", TORCHVISION_GFLOPS.items())
def test_macs_round_to_torchvision_gflops(name, gflops):
    report = archcalc.analyze(name)
    conv_linear = sum(r.macs for r in report.layers if r.kind in ("conv", "dense"))
    assert conv_linear == report.totals.macs
    assert round(conv_linear / 1e9, 2) == gflops


@pytest.mark.parametrize("name,depth", PAPER_DEPTH.items())
def test_depth_is_the_papers(name, depth):
    assert archcalc.analyze(name).depth == depth


def test_alexnet_torchvision_macs_by_hand():
    # conv1 55²·64·3·11² + conv2 27²·192·64·5² + conv3-5 13²·(384·192 + 256·384 + 256·256)·3²
    # + fc 9216·4096 + 4096² + 4096·1000
    by_hand = (55 * 55 * 64 * 3 * 121 + 27 * 27 * 192 * 64 * 25 + 169 * (384 * 192 + 256 * 384 + 256 * 256) * 9
               + 9216 * 4096 + 4096 * 4096 + 4096 * 1000)
    assert archcalc.analyze("alexnet_torchvision").totals.macs == by_hand == 714_188_480


def test_inception3a_matches_the_papers_table():
    report = archcalc.analyze("inception3a")
    assert report.totals.params // 1024 == 159                    # "159K"
    assert report.totals.macs == 163_328 * 28 * 28 == 128_049_152  # "128M"
    assert report.layers[-1].output_shape == (256, 28, 28)


def test_googlenet_aux_heads_are_an_option():
    # each InceptionAux: conv 128·C + bn 2·128 + fc1 (2048 + 1)·1024 + fc2 (1024 + 1)·1000
    aux = [128 * c + 256 + 2049 * 1024 + 1025 * 1000 for c in (512, 528)]
    with_aux = archcalc.analyze(load_spec("googlenet", args={"aux_logits": True}))
    assert aux == [3_188_968, 3_191_016]
    assert with_aux.totals.params == 6_624_904 + sum(aux) == 13_004_888
    assert with_aux.layers[-1].name == "fc" and with_aux.depth == 22


def test_googlenet_aux_heads_from_the_command_line(tmp_path):
    from click.testing import CliRunner
    runner = CliRunner()
    result = runner.invoke(main, ["summarize", "googlenet", "--set", "aux_logits=true", "--format", "json"])
    assert result.exit_code == 0
    assert '"params": 13004888' in result.output
    wrong = runner.invoke(main, ["summarize", "googlenet", "--set", "aux_logit=true"])
    assert wrong.exit_code == 2
    assert "no argument 'aux_logit'" in wrong.output and "aux_logits" in wrong.output


def test_zoo_table_lists_every_spec_with_short_sources():
    from click.testing import CliRunner
    result = CliRunner().invoke(main, ["zoo"])
    assert result.exit_code == 0
    for name in list(PUBLISHED_PARAMS) + ["resnet50", "vgg16", "alexnet"]:
        assert f"\n{name} " in result.output
    assert "11,689,512" in result.output and "He et al. 2016 (torchvision)" in result.output
    assert result.output.index("\nresnet18 ") < result.output.index("\nresnet101 ")    # natural order
    assert max(len(line) for line in result.output.splitlines()) <= 120


def test_short_source():
    assert short_source("He et al. 2016, Deep Residual Learning (arXiv:1512.03385); torchvision resnet18") \
        == "He et al. 2016 (torchvision)"
    assert short_source("Keras examples, mnist_mlp.py") == "Keras examples"


# ---- torchvision-equivalent models in plain torch

def conv_relu(cin, cout, kernel, stride=1, padding=0, groups=1):
    return [nn.Conv2d(cin, cout, kernel, stride, padding, groups=groups), nn.ReLU(inplace=True)]


def classifier(features, dropout_first):
    """Three dense layers; dropout before fc6 and fc7 (torchvision's AlexNet) or after them (VGG, 2012 AlexNet)."""
    fc6 = [nn.Linear(features, 4096), nn.ReLU(inplace=True)]
    fc7 = [nn.Linear(4096, 4096), nn.ReLU(inplace=True)]
    if dropout_first:
        return nn.Sequential(nn.Dropout(), *fc6, nn.Dropout(), *fc7, nn.Linear(4096, 1000))
    return nn.Sequential(*fc6, nn.Dropout(), *fc7, nn.Dropout(), nn.Linear(4096, 1000))


def alexnet_torchvision():
    return nn.Sequential(
        *conv_relu(3, 64, 11, 4, 2), nn.MaxPool2d(3, 2),
        *conv_relu(64, 192, 5, padding=2), nn.MaxPool2d(3, 2),
        *conv_relu(192, 384, 3, padding=1), *conv_relu(384, 256, 3, padding=1), *conv_relu(256, 256, 3, padding=1),
        nn.MaxPool2d(3, 2), nn.AdaptiveAvgPool2d(6), nn.Flatten(), classifier(256 * 6 * 6, dropout_first=True))


def alexnet_2gpu():
    lrn = nn.LocalResponseNorm(5, 1e-4, 0.75, 2)
    return nn.Sequential(
        *conv_relu(3, 96, 11, 4), lrn, nn.MaxPool2d(3, 2),
        *conv_relu(96, 256, 5, padding=2, groups=2), lrn, nn.MaxPool2d(3, 2),
        *conv_relu(256, 384, 3, padding=1), *conv_relu(384, 384, 3, padding=1, groups=2),
        *conv_relu(384, 256, 3, padding=1, groups=2), nn.MaxPool2d(3, 2),
        nn.Flatten(), classifier(256 * 6 * 6, dropout_first=False))


def zfnet():
    lrn = nn.LocalResponseNorm(5, 1e-4, 0.75, 2)
    return nn.Sequential(
        *conv_relu(3, 96, 7, 2, 1), nn.MaxPool2d(3, 2, ceil_mode=True), lrn,
        *conv_relu(96, 256, 5, 2), nn.MaxPool2d(3, 2, ceil_mode=True), lrn,
        *conv_relu(256, 384, 3, padding=1), *conv_relu(384, 384, 3, padding=1), *conv_relu(384, 256, 3, padding=1),
        nn.MaxPool2d(3, 2), nn.Flatten(), classifier(256 * 6 * 6, dropout_first=False))


def vgg(config, batch_norm=False):
    """torchvision's make_layers: numbers are 3×3 convolutions, "M" a 2×2 max-pool."""
    layers, channels = [], 3
    for item in config:
        if item == "M":
            layers.append(nn.MaxPool2d(2, 2))
            continue
        layers.append(nn.Conv2d(channels, item, 3, padding=1))
        layers += [nn.BatchNorm2d(item)] if batch_norm else []
        layers.append(nn.ReLU(inplace=True))
        channels = item
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(7), nn.Flatten(), classifier(512 * 7 * 7, False))


VGG16 = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"]
VGG19 = [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512, "M"]


class SqueezeExcite(nn.Module):
    def __init__(self, channels, reduction=16):
        super().__init__()
        self.fc1 = nn.Linear(channels, channels // reduction)
        self.fc2 = nn.Linear(channels // reduction, channels)

    def forward(self, x):
        gate = torch.sigmoid(self.fc2(torch.relu(self.fc1(x.mean((2, 3))))))
        return x * gate[:, :, None, None]


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, cin, width, stride=1, se=False):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, width, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.downsample = downsample(cin, width, stride)

    def forward(self, x):
        out = self.bn2(self.conv2(torch.relu(self.bn1(self.conv1(x)))))
        return torch.relu(out + (self.downsample(x) if self.downsample else x))


class Bottleneck(nn.Module):
    """torchvision's (stride on the 3×3), optionally with squeeze-and-excitation before the add."""

    expansion = 4

    def __init__(self, cin, width, stride=1, se=False):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, width, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, width * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(width * 4)
        self.se = SqueezeExcite(width * 4) if se else nn.Identity()
        self.downsample = downsample(cin, width * 4, stride)

    def forward(self, x):
        out = torch.relu(self.bn1(self.conv1(x)))
        out = torch.relu(self.bn2(self.conv2(out)))
        out = self.se(self.bn3(self.conv3(out)))
        return torch.relu(out + (self.downsample(x) if self.downsample else x))


def downsample(cin, cout, stride):
    if stride == 1 and cin == cout:
        return None
    return nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))


def resnet(block, counts, se=False):
    layers, channels = [nn.Conv2d(3, 64, 7, 2, 3, bias=False), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(3, 2, 1)], 64
    for index, (width, count) in enumerate(zip((64, 128, 256, 512), counts)):
        for repeat in range(count):
            layers.append(block(channels, width, 2 if index and not repeat else 1, se))
            channels = width * block.expansion
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(channels, 1000))


class BasicConv2d(nn.Sequential):
    def __init__(self, cin, cout, kernel=1, stride=1, padding=0):
        super().__init__(nn.Conv2d(cin, cout, kernel, stride, padding, bias=False),
                         nn.BatchNorm2d(cout, eps=0.001), nn.ReLU(inplace=True))


class Inception(nn.Module):
    """torchvision's: BasicConv2d everywhere and a 3×3 kernel in the "5×5" branch; `paper=True` gives the
    paper's module instead: conv + relu without bias or batch norm, 5×5 in that branch."""

    def __init__(self, cin, c1, c3r, c3, c5r, c5, proj, paper=False):
        super().__init__()

        def conv(a, b, k=1):
            if paper:
                return nn.Sequential(nn.Conv2d(a, b, k, padding=k // 2, bias=False), nn.ReLU())
            return BasicConv2d(a, b, k, padding=k // 2)
        self.branch1 = conv(cin, c1)
        self.branch2 = nn.Sequential(conv(cin, c3r), conv(c3r, c3, 3))
        self.branch3 = nn.Sequential(conv(cin, c5r), conv(c5r, c5, 5 if paper else 3))
        self.branch4 = nn.Sequential(nn.MaxPool2d(3, 1, 1, ceil_mode=not paper), conv(cin, proj))

    def forward(self, x):
        return torch.cat([self.branch1(x), self.branch2(x), self.branch3(x), self.branch4(x)], 1)


class InceptionAux(nn.Module):
    def __init__(self, cin):
        super().__init__()
        self.conv = BasicConv2d(cin, 128)
        self.fc1 = nn.Linear(2048, 1024)
        self.fc2 = nn.Linear(1024, 1000)


class GoogLeNet(nn.Module):
    def __init__(self, aux_logits=False):
        super().__init__()
        pool = [nn.MaxPool2d(3, 2, ceil_mode=True)]
        self.main = nn.Sequential(
            BasicConv2d(3, 64, 7, 2, 3), *pool, BasicConv2d(64, 64), BasicConv2d(64, 192, 3, padding=1), *pool,
            Inception(192, 64, 96, 128, 16, 32, 32), Inception(256, 128, 128, 192, 32, 96, 64), *pool,
            Inception(480, 192, 96, 208, 16, 48, 64), Inception(512, 160, 112, 224, 24, 64, 64),
            Inception(512, 128, 128, 256, 24, 64, 64), Inception(512, 112, 144, 288, 32, 64, 64),
            Inception(528, 256, 160, 320, 32, 128, 128), nn.MaxPool2d(2, 2, ceil_mode=True),
            Inception(832, 256, 160, 320, 32, 128, 128), Inception(832, 384, 192, 384, 48, 128, 128),
            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(0.2), nn.Linear(1024, 1000))
        self.aux = nn.ModuleList([InceptionAux(512), InceptionAux(528)] if aux_logits else [])

    def forward(self, x):
        return self.main(x)


def conv_bn_relu6(cin, cout, kernel=1, stride=1, groups=1):
    return [nn.Conv2d(cin, cout, kernel, stride, (kernel - 1) // 2, groups=groups, bias=False),
            nn.BatchNorm2d(cout), nn.ReLU6(inplace=True)]


class InvertedResidual(nn.Module):
    def __init__(self, cin, cout, stride, expansion):
        super().__init__()
        hidden = cin * expansion
        self.use_residual = stride == 1 and cin == cout
        self.conv = nn.Sequential(*(conv_bn_relu6(cin, hidden) if expansion != 1 else []),
                                  *conv_bn_relu6(hidden, hidden, 3, stride, groups=hidden),
                                  nn.Conv2d(hidden, cout, 1, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        return x + self.conv(x) if self.use_residual else self.conv(x)


def mobilenet_v2():
    layers, channels = conv_bn_relu6(3, 32, 3, 2), 32
    for t, c, n, s in [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2),
                       (6, 320, 1, 1)]:
        for repeat in range(n):
            layers.append(InvertedResidual(channels, c, s if repeat == 0 else 1, t))
            channels = c
    return nn.Sequential(*layers, *conv_bn_relu6(320, 1280), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                         nn.Dropout(0.2), nn.Linear(1280, 1000))


REFERENCES = {
    "zfnet": zfnet,
    "alexnet_torchvision": alexnet_torchvision,
    "alexnet_2gpu": alexnet_2gpu,
    "vgg16": lambda: vgg(VGG16),
    "vgg19": lambda: vgg(VGG19),
    "vgg16_bn": lambda: vgg(VGG16, batch_norm=True),
    "googlenet": GoogLeNet,
    "inception3a": lambda: Inception(192, 64, 96, 128, 16, 32, 32, paper=True),
    "resnet18": lambda: resnet(BasicBlock, [2, 2, 2, 2]),
    "resnet34": lambda: resnet(BasicBlock, [3, 4, 6, 3]),
    "resnet50": lambda: resnet(Bottleneck, [3, 4, 6, 3]),
    "resnet101": lambda: resnet(Bottleneck, [3, 4, 23, 3]),
    "resnet152": lambda: resnet(Bottleneck, [3, 8, 36, 3]),
    "se_resnet50": lambda: resnet(Bottleneck, [3, 4, 6, 3], se=True),
    "mobilenet_v2": mobilenet_v2,
}
# Small enough to run for real on the CPU, with the reference's weights copied into the spec's model.
RUN_ON_CPU = ("zfnet", "alexnet_torchvision", "alexnet_2gpu", "googlenet", "inception3a", "resnet18",
              "mobilenet_v2")


def shapes(model):
    return sorted(tuple(t.shape) for t in model.state_dict().values())


def input_of(name, device):
    channels_first = load_spec(name).input_shape
    return torch.zeros((1,) + channels_first, device=device)


@pytest.mark.parametrize("name", REFERENCES)
def test_state_dict_shapes_match_torchvision_equivalent(name):
    """Same tensors, names ignored; built on the meta device so no memory is allocated."""
    with torch.device("meta"):
        spec_model, reference = archcalc.to_torch(name), REFERENCES[name]()
    assert shapes(spec_model) == shapes(reference)
    assert sum(p.numel() for p in spec_model.parameters()) == archcalc.analyze(name).totals.params
    with torch.no_grad():
        out = spec_model(input_of(name, "meta"))
    expected = reference(input_of(name, "meta")).shape
    assert out.shape == expected


def test_googlenet_with_aux_heads_matches_torchvision_equivalent():
    with torch.device("meta"):
        spec_model = archcalc.to_torch(load_spec("googlenet", args={"aux_logits": True}))
        reference = GoogLeNet(aux_logits=True)
    assert shapes(spec_model) == shapes(reference)


@pytest.mark.parametrize("name", RUN_ON_CPU)
def test_forward_matches_torchvision_equivalent(name):
    """Copy the reference's weights into the spec's model in order; both must then compute the same function."""
    torch.manual_seed(0)
    reference, spec_model = REFERENCES[name]().eval(), archcalc.to_torch(name).eval()
    with torch.no_grad():
        for (_, mine), (_, theirs) in zip(spec_model.state_dict().items(), reference.state_dict().items()):
            assert mine.shape == theirs.shape
            if theirs.dim() == 1 and theirs.is_floating_point():     # biases, batch-norm γ, β and statistics
                theirs += 0.1 * torch.rand_like(theirs)                 # away from their 0 and 1 starts
            mine.copy_(theirs)
        x = torch.randn(input_of(name, "cpu").shape)
        expected, got = reference(x), spec_model(x)
    assert got.shape == expected.shape
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-4)


# ---- the spec-format features the zoo needed

WIDEN = """
input: [3, 8, 8]
args: {factor: 2}
blocks:
  widen:
    layers:
      - conv2d: {filters: "${in_channels * 4}", kernel: 1}
layers:
  - conv2d: {filters: 6, kernel: 1}
  - widen: {repeat: 2}
  - dense: {units: "${factor * 5}", from: input, when: "${factor > 2}"}
"""


def test_in_channels_is_each_block_instances_input(write_spec):
    report = archcalc.analyze(write_spec(WIDEN))
    assert [r.output_shape[0] for r in report.layers] == [6, 24, 96]
    assert report.totals.params == (3 + 1) * 6 + (6 + 1) * 24 + (24 + 1) * 96


def test_top_level_args_default_and_override(write_spec):
    path = write_spec(WIDEN)
    assert archcalc.analyze(path).layers[-1].output_shape == (96, 8, 8)     # factor 2: the dense is skipped
    with pytest.raises(archcalc.SpecError, match="dense needs a vector"):   # factor 3: it reads the input map
        archcalc.analyze(load_spec(path, args={"factor": 3}))
    with pytest.raises(archcalc.SpecError, match="no argument 'factr'") as err:
        load_spec(path, args={"factr": 3})
    assert "did you mean 'factor'" in err.value.hint
    vector = write_spec(WIDEN.replace("[3, 8, 8]", "[3]").replace("conv2d: {filters", "dense: {units")
                        .replace(", kernel: 1", ""))
    assert archcalc.analyze(load_spec(vector, args={"factor": 3})).layers[-1].output_shape == (15,)


def test_declaring_in_channels_is_refused(write_spec):
    from conftest import run_cli
    path = write_spec(WIDEN.replace("  widen:\n", "  widen:\n    args: {in_channels: 3}\n"))
    result = run_cli("summarize", path)
    assert result.returncode == 2
    assert "declares 'in_channels'" in result.stderr and "Traceback" not in result.stderr


def test_shape_error_before_a_block_names_the_bad_layer(write_spec):
    path = write_spec(WIDEN.replace("{filters: 6, kernel: 1}", "{name: too_big, filters: 6, kernel: 9}"))
    with pytest.raises(archcalc.SpecError) as err:
        archcalc.analyze(path)
    assert err.value.layer == "too_big" and err.value.line == 9
    assert "larger than the padded input" in err.value.message


def test_set_needs_name_equals_value():
    from click.testing import CliRunner
    result = CliRunner().invoke(main, ["summarize", "googlenet", "--set", "aux_logits"])
    assert result.exit_code == 2 and "NAME=VALUE" in result.output
