"""attention `module: multihead`: torch's own nn.MultiheadAttention (as torchvision's ViT holds it),
counted as each real tool counts that module, verified against torch on its math path, and set by
from-torch. Also position_embedding `parameter: true` and class_token, which torchinfo counts 0."""
import pytest

import archcalc

from measured import tool_count

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402

from archcalc.layers.attention import _multihead_math_path  # noqa: E402

SPEC = {"name": "mha", "input": [5, 8], "layers": [{"attention": {"name": "attn", "heads": 2, "module": "multihead"}}]}


class Block(nn.Module):
    """A user's model as torchvision's EncoderBlock writes it: nn.MultiheadAttention held directly."""

    def __init__(self, bias=True):
        super().__init__()
        self.self_attention = nn.MultiheadAttention(8, 2, bias=bias, batch_first=True)

    def forward(self, x):
        x, _ = self.self_attention(x, x, x, need_weights=False)
        return x


def run_tool(tool, model, x):
    """The real tool on `model` (eval), `x` one batch; ptflops runs one sample."""
    model.eval()
    if tool != "torch":
        return tool_count(tool, model, x)
    with _multihead_math_path(), FlopCounterMode(display=False) as counter:
        model(x)
    return counter.get_total_flops()


# n = 5 tokens, d = 8, h = 2 heads of d_h = 4, batch 2. Projections: in_proj 5·8·24 = 960 MACs, out_proj
# 5·8·8 = 320; q·kᵀ and weights·v 2·5·5·4 = 200 MACs each over the two heads.
BY_HAND = {
    "thop": 0,                  # no hook for nn.MultiheadAttention (no leaf), none for its out_proj's class
    "torchinfo": 0,             # no leaf; out_proj, the leaf, is never called
    "fvcore": 2 * (960 + 320),  # aten::linear twice; no handle for aten::scaled_dot_product_attention
    # its hook: q scaling 5·8 + 3·5·8·8 + in_proj bias 3·5·8 + 2 heads·(2·5·5·4 + 5·5) + out_proj 5·8·(8 + 1)
    "ptflops": 2 * (40 + 960 + 120 + 2 * (200 + 25) + 360),
    "torch": 2 * 2 * (960 + 320 + 2 * 200),       # 2 per MAC: the two linears and two bmm (math path)
}


@pytest.mark.parametrize("tool", sorted(BY_HAND))
def test_each_tool_on_a_model_holding_nn_multiheadattention(tool):
    """By hand, the real tool on a user's model, the spec from-torch imports from it, and the spec written
    by hand: the same count."""
    torch.manual_seed(0)
    model, x = Block(), torch.randn(2, 5, 8)
    imported = archcalc.from_torch(model, "5x8")
    assert [next(iter(layer.values()))["module"] for layer in imported["layers"]] == ["multihead"]
    measured = run_tool(tool, model, x)
    assert measured == BY_HAND[tool]
    assert archcalc.analyze(imported, batch=2, convention=tool).totals.flops == measured
    assert archcalc.analyze(SPEC, batch=2, convention=tool).totals.flops == measured


def test_archcalc_s_own_module_is_counted_otherwise():
    """Without the option the same spec builds archcalc's explicit attention, which thop, torchinfo and
    ptflops see through its out_proj nn.Linear (5·8·8 = 320 MACs, ptflops + 5·8 bias; torchinfo its
    8·8 + 8 parameters once per sample) and fvcore through two aten::matmul (+ 400)."""
    own = {"input": [5, 8], "layers": [{"attention": {"heads": 2}}]}
    counts = {tool: archcalc.analyze(own, convention=tool).totals.flops for tool in BY_HAND}
    assert counts == {"thop": 320, "torchinfo": 64 + 8, "ptflops": 320 + 40, "fvcore": 1280 + 400,
                      "torch": 2 * (1280 + 400)}


def test_flopcountermode_needs_the_math_path():
    """Why verify runs the layer with the fast path off and the math backend: in eval without autograd
    nn.MultiheadAttention takes aten._native_multi_head_attention (no formula: 0), with autograd on CPU
    F.scaled_dot_product_attention a fused kernel (no formula: the projections only, 2·2·1280)."""
    model, x = Block().eval(), torch.randn(2, 5, 8)
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(x)
    assert counter.get_total_flops() == 0
    with FlopCounterMode(display=False) as counter:
        model(x)
    assert counter.get_total_flops() == 2 * 2 * 1280
    assert run_tool("torch", model, x) == BY_HAND["torch"]
    result = archcalc.verify(SPEC, batch=2)
    assert result.ok
    assert any("fast path off" in line and "SDPBackend.MATH" in line for line in result.compared)


@pytest.mark.parametrize("options", [{"dropout": 0.1}, {"heads": 1}, {"bias": False}], ids=str)
def test_verify_agrees_with_backward(options):
    """Shapes, parameters, FlopCounterMode forward and backward FLOPs and the bytes saved for backward
    (the math path keeps k and q scaled, the softmax output, the packed projection v is a view of, and
    out_proj's input) against the real nn.MultiheadAttention in training, at batch 1 and 2."""
    spec = {"input": [5, 8], "layers": [{"dense": 8}, {"attention": {"heads": 2, "module": "multihead", **options}}]}
    for batch in (1, 2):
        result = archcalc.verify(spec, batch=batch, train=True)
        assert result.ok, [(layer.name, layer.checks) for layer in result.layers if not layer.ok]


@pytest.mark.parametrize("attention", ["naive", "flash"])
@pytest.mark.parametrize("options", [{}, {"from": ["input", "memory"]}, {"heads": 1}], ids=str)
def test_cross_attention_and_flash_verify(attention, options):
    """Cross-attention (in_proj keeps copies of both inputs beyond batch 1, v a view of the packed k, v),
    and `--attention flash`, where the fused kernel keeps its output and a log-sum-exp per query and head."""
    spec = {"input": [5, 8], "layers": [{"dense": {"name": "memory", "units": 8}},
                                        {"attention": {"heads": 2, "module": "multihead", **options}}]}
    for batch in (1, 2):
        result = archcalc.verify(spec, batch=batch, train=True, attention=attention)
        assert result.ok, [(layer.name, layer.checks) for layer in result.layers if not layer.ok]


@pytest.mark.parametrize("options,words", [
    ({"causal": True}, "cannot have causal"), ({"kv_heads": 1}, "cannot have kv_heads"),
    ({"head_dim": 2}, "cannot have head_dim"), ({"module": "fused"}, "expected one of archcalc, multihead")])
def test_what_nn_multiheadattention_cannot_be_is_refused(options, words):
    spec = {"input": [5, 8], "layers": [{"attention": {"heads": 2, "module": "multihead", **options}}]}
    with pytest.raises(archcalc.SpecError, match=words):
        archcalc.analyze(spec)


def test_torchinfo_counts_bare_tensors_zero():
    """torchinfo counts a leaf's weight and bias only: a class token and positions held as bare tensors
    (torchvision's ViT) count 0; a position table of its own module (GPT-2's wpe) its 10·8 parameters."""
    def spec(parameter):
        return {"input": [5, 8], "layers": [{"dense": 8}, {"class_token": {}},
                                            {"position_embedding": {"length": 10, "parameter": parameter}}]}
    # dense 5·8·8 + 8 bias once per sample (torchinfo: weight and bias elements · batch)
    assert archcalc.analyze(spec(True), convention="torchinfo").totals.flops == 64 + 8
    assert archcalc.analyze(spec(False), convention="torchinfo").totals.flops == 64 + 8 + 80
    from test_conventions import measure
    for parameter in (True, False):
        assert measure("torchinfo", spec(parameter), 2) == 2 * (72 + (0 if parameter else 80))


def test_torchvision_vit_imports_as_the_zoo_spec():
    """from-torch on torchvision's vit_b_16 (meta device) writes the zoo spec's options: module: multihead
    and parameter: true, so every convention gives the zoo spec's count."""
    torchvision = pytest.importorskip("torchvision")
    with torch.device("meta"):
        model = torchvision.models.vit_b_16()
    spec = archcalc.from_torch(model, "3x224x224")
    options = [next(iter(layer.values())) for layer in spec["layers"]]
    assert sum(o.get("module") == "multihead" for o in options) == 12
    assert sum(o.get("parameter") is True for o in options) == 1
    for tool in ("thop", "ptflops", "fvcore", "torchinfo", "torch"):
        assert archcalc.analyze(spec, convention=tool).totals.flops == \
            archcalc.analyze("vit_b_16", convention=tool).totals.flops, tool


def test_the_torch_module_runs_the_math_path_itself():
    """to_torch's module turns the fast path and the fused kernels off for its own call, as archcalc's own
    attention module writes the math path out: FlopCounterMode counts it in eval without autograd, with
    no context around it; export-torch writes the same class, which counts the same."""
    from archcalc.bridges.torch_model import torch_source
    x = torch.randn(2, 5, 8)
    model = archcalc.to_torch(SPEC).eval()
    assert type(model.get_submodule("attn").attention) is nn.MultiheadAttention
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(x)
    assert counter.get_total_flops() == BY_HAND["torch"]
    assert torch.backends.mha.get_fastpath_enabled()          # restored after the call
    source = torch_source(archcalc.load_spec(SPEC))
    namespace = {}
    exec(compile(source.split('if __name__ == "__main__":')[0], "mha_export.py", "exec"), namespace)
    exported = namespace["Mha"]().eval()
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        exported(x)
    assert counter.get_total_flops() == BY_HAND["torch"]
