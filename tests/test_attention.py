"""Attention under named conventions (`--attention naive|flash`, `--convention flashattention`): FLOPs and
saved bytes worked out by hand, checked against real torch (FlopCounterMode, saved_tensors_hooks under each
SDPA backend torch offers on CPU), the real counting tools, and the CLI."""
import json

import pytest

import archcalc
from archcalc.analysis.analyzer import configured
from archcalc.errors import SpecError
from archcalc.spec.graph import load_spec

from conftest import cli, run_cli

torch = pytest.importorskip("torch")
from torch.nn.attention import SDPBackend, sdpa_kernel  # noqa: E402

# n = m = 6 tokens of d = 8, h = 2 heads of d_h = 4, causal, after a dense layer (so a gradient reaches it).
SPEC = {"input": [6, 8], "layers": [{"dense": {"name": "pre", "units": 8}},
                                    {"attention": {"name": "attn", "heads": 2, "causal": True}}]}
# Projection MACs: q, k, v and out are each 6·8·8 = 384 (1,536 together); q·kᵀ and weights·v each
# h·n·m·d_h = 2·6·6·4 = 288.
PROJECTION_MACS, CORE_MACS = 4 * 384, 2 * 288


def attn(report):
    return next(r for r in report.layers if r.name == "attn")


@pytest.mark.parametrize("attention", ["naive", "flash"])
def test_forward_flops_by_hand_under_each_convention(attention):
    flops = {c: attn(archcalc.analyze(SPEC, convention=c, attention=attention)).flops
             for c in ("archcalc", "torch", "flashattention")}
    # archcalc: 2·MACs = 2·(1,536 + 576) = 4,224; bias adds 6·8 (q) + 2·6·8 (k, v) + 6·8 (out) = 192;
    # scaling q: n·h·d_h = 48; softmax 3 per score, 3·h·n·m = 3·72 = 216; the causal mask 72: 4,752.
    # The same for both kernels: flash does the same arithmetic, tiled.
    assert flops["archcalc"] == 4224 + 192 + 48 + 216 + 72
    # torch, naive: the four products as bmm, 2·2,112 = 4,224. flash on CPU: torch runs
    # aten._scaled_dot_product_flash_attention_for_cpu, which FlopCounterMode has no formula for: the
    # projections' 2·1,536 = 3,072 only.
    assert flops["torch"] == (2 * (PROJECTION_MACS + CORE_MACS) if attention == "naive" else 2 * PROJECTION_MACS)
    # FlashAttention papers: 4·n·m·h·d_h = 4·6·6·2·4 = 1,152 for the core, halved when causal (576), the
    # projections as torch counts them (3,072): 3,648, whichever kernel runs.
    assert flops["flashattention"] == 3072 + 1152 // 2


def test_flash_on_cuda_counts_the_registered_formulas():
    """On CUDA FlopCounterMode has formulas for the fused ops (sdpa_flop, sdpa_backward_flop): forward
    2 products whatever the mask, backward 5 (the scores recomputed)."""
    flash = attn(archcalc.analyze(SPEC, convention="torch", attention="flash", device="cuda"))
    assert flash.flops == 2 * (PROJECTION_MACS + CORE_MACS) == 4224
    # backward, weights trained and the input needing a gradient: each projection's weight and input
    # gradients, 2·2·384 for q, k, v and out = 6,144; the core 5 products of 2·288 = 2,880.
    assert flash.torch_backward_flops == 6144 + 2880
    naive = attn(archcalc.analyze(SPEC, attention="naive"))
    # naive: q·kᵀ's two operand gradients and weights·v's two, 4 products: 6,144 + 4·2·288 = 8,448
    assert naive.torch_backward_flops == 6144 + 2304
    assert attn(archcalc.analyze(SPEC, attention="flash")).torch_backward_flops == 6144     # CPU: core 0


def test_saved_bytes_by_hand():
    naive = attn(archcalc.analyze(SPEC, batch=2, attention="naive")).saved_bytes
    flash = attn(archcalc.analyze(SPEC, batch=2, attention="flash")).saved_bytes
    # batch 2, fp32. naive: the input (2·6·8 = 96 floats), q scaled and kᵀ (96 each), the softmax
    # weights (2·h·n·m = 144), v's copy (96), the heads' output for out_proj (96): 624 floats.
    assert naive == (96 + 96 + 96 + 144 + 96 + 96) * 4
    # flash: the input (96), the packed q, k, v projection q, k, v are views of (2·6·24 = 288), the kernel's
    # output, which out_proj reads as a view (96), and 2·h·n = 24 fp32 log-sum-exp values: 504 floats.
    assert flash == (96 + 288 + 96 + 24) * 4


def test_training_memory_shrinks_by_the_scores_kept():
    """GPT-2 at 1024 tokens, batch 1 (n = 1024, d = 768, h = 12). Per layer, naive keeps the input (n·d),
    the packed projection (3·n·d: k and v are its views at batch 1), q scaled (n·d), the softmax weights,
    the dropout mask and the dropped weights (3·h·n·n) and the heads' output (n·d); flash keeps the input,
    the packed projection, the kernel's output (n·d) and h·n fp32 statistics. The difference per layer is
    n·d + 3·h·n·n − h·n = 786,432 + 37,748,736 − 12,288 = 38,522,880 floats."""
    naive = archcalc.memory("gpt2", mode="training")
    flash = archcalc.memory("gpt2", mode="training", attention="flash")
    assert naive.saved_bytes - flash.saved_bytes == 12 * 38_522_880 * 4


def measured_saved_bytes(graph, batch, backend):
    """Bytes saved for backward by one training-mode forward, deduplicated by storage, parameters excluded
    (as verify measures them), with F.scaled_dot_product_attention restricted to `backend`."""
    from archcalc.bridges.torch_model import example_input
    torch.manual_seed(0)
    model = archcalc.to_torch(graph).train()
    owned = {p.untyped_storage().data_ptr() for p in model.parameters()}
    x, kept = example_input(graph, batch), {}

    def pack(tensor):
        storage = tensor.untyped_storage()
        if storage.nbytes() and storage.data_ptr() not in owned:
            kept[storage.data_ptr()] = (tensor, storage.nbytes())
        return tensor
    with sdpa_kernel([backend]), torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        model(x)
    return sum(size for _, size in kept.values())


GQA = {"input": [6, 8], "layers": [{"dense": 8}, {"attention": {"heads": 4, "kv_heads": 2}}]}
CROSS = {"input": [6, 8], "layers": [{"dense": {"name": "a", "units": 8}},
                                     {"dense": {"name": "memory", "units": 12, "from": "input"}},
                                     {"attention": {"heads": 2, "from": ["a", "memory"]}}]}
CASES = {"causal": SPEC, "grouped": GQA, "cross": CROSS,
         "sdpa": archcalc.layers.lookup("scaled_dot_product_attention").example_spec()}


def cpu_runs(backend):
    """Whether torch has a CPU kernel for `backend` (fp32, no dropout), and why not."""
    q = torch.randn(1, 2, 4, 8)
    try:
        with sdpa_kernel([backend]):
            torch.nn.functional.scaled_dot_product_attention(q, q, q)
        return True
    except RuntimeError:
        return False


@pytest.mark.parametrize("batch", [1, 2])
@pytest.mark.parametrize("case", CASES)
def test_flash_agrees_with_torchs_cpu_flash_kernel(case, batch):
    """verify under sdpa_kernel(FLASH_ATTENTION): shapes, parameters, FlopCounterMode forward and backward
    FLOPs (0 for the CPU kernel) and saved bytes (saved_tensors_hooks), layer by layer."""
    with sdpa_kernel([SDPBackend.FLASH_ATTENTION]):
        result = archcalc.verify(CASES[case], batch=batch, train=True, attention="flash")
    bad = {layer.name: {k: v for k, v in layer.checks.items() if v[1] is not None and v[0] != v[1]}
           for layer in result.layers if not layer.ok}
    assert result.ok, bad


@pytest.mark.parametrize("backend", [SDPBackend.MATH, SDPBackend.FLASH_ATTENTION, SDPBackend.EFFICIENT_ATTENTION,
                                     SDPBackend.CUDNN_ATTENTION], ids=lambda b: b.name)
def test_saved_bytes_under_each_sdpa_backend(backend):
    """F.scaled_dot_product_attention (the module --attention flash builds) under each backend torch has on
    this machine: the fused ones keep what `flash` predicts; the MATH backend keeps what `naive` predicts."""
    if not cpu_runs(backend) and not torch.cuda.is_available():
        pytest.skip(f"{backend.name} needs CUDA: torch {torch.__version__} has no CPU kernel for it")
    graph = configured(load_spec(GQA), "flash")
    if backend == SDPBackend.MATH:
        # at batch 2 the math backend's copies are the explicit math path's
        assert measured_saved_bytes(graph, 2, backend) == archcalc.analyze(GQA, batch=2).totals.saved_bytes
        # at batch 1 with one k/v head per query head the explicit path bmm's v as a view of the packed
        # projection, and the math backend copies it: 1·h·m·d_h = 2·6·4 floats = 192 bytes more
        plain = {"input": [6, 8], "layers": [{"dense": 8}, {"attention": {"heads": 2}}]}
        assert measured_saved_bytes(configured(load_spec(plain), "flash"), 1, backend) == \
            archcalc.analyze(plain).totals.saved_bytes + 2 * 6 * 4 * 4
    else:
        device = "cpu" if cpu_runs(backend) else "cuda"
        with sdpa_kernel([backend]):
            result = archcalc.verify(GQA, batch=2, train=True, attention="flash", device=device)
        assert result.ok


def test_verify_flash_refuses_a_silent_fallback():
    """With only the math backend enabled, --attention flash would measure the math path: refused."""
    with sdpa_kernel([SDPBackend.MATH]), pytest.raises(SpecError, match="fused"):
        archcalc.verify(SPEC, attention="flash")
    dropout = {"input": [6, 8], "layers": [{"dense": 8}, {"attention": {"heads": 2, "dropout": 0.1}}]}
    with pytest.raises(SpecError, match="--attention naive"):        # no CPU fused kernel with dropout
        archcalc.verify(dropout, train=True, attention="flash")
    with pytest.raises(SpecError, match="meta"):
        archcalc.verify(SPEC, meta=True, attention="flash")


@pytest.mark.parametrize("tool", ["fvcore", "thop", "ptflops", "torchinfo"])
def test_flash_rules_match_the_real_tools(tool):
    """The module --attention flash builds calls F.scaled_dot_product_attention: fvcore has no handle for
    it (the projections only), thop, ptflops and torchinfo see the out_proj child either way."""
    import contextlib
    import io
    import warnings
    from archcalc.bridges.torch_model import example_input
    graph = configured(load_spec(SPEC), "flash")
    torch.manual_seed(0)
    model, x = archcalc.to_torch(graph).eval(), example_input(graph, 2)
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        if tool == "fvcore":
            fvcore = pytest.importorskip("fvcore.nn")
            analysis = fvcore.FlopCountAnalysis(model, x)
            analysis.unsupported_ops_warnings(False)
            measured = analysis.total()
        elif tool == "thop":
            measured = int(pytest.importorskip("thop").profile(model, inputs=(x,), verbose=False)[0])
        elif tool == "ptflops":
            per_sample, _ = pytest.importorskip("ptflops").get_model_complexity_info(
                model, tuple(graph.input_shape), as_strings=False, print_per_layer_stat=False,
                input_constructor=lambda shape: x[:1])
            measured = per_sample * 2
        else:
            measured = pytest.importorskip("torchinfo").summary(model, input_data=[x], verbose=0).total_mult_adds
    assert archcalc.analyze(SPEC, batch=2, convention=tool, attention="flash").totals.flops == measured
    if tool == "fvcore":
        # the dense (6·8·8 = 384 MACs) and the four projections (1,536), per sample: 1,920·2 = 3,840
        assert measured == (384 + 1536) * 2


def test_explain_shows_the_attention_arithmetic_and_6nd():
    steps = {s.quantity: s for s in archcalc.explain("gpt2", layer="h.0.attn").layers[0].steps}
    # params: in_proj 768·2304 = 1,769,472 + 2,304, out_proj 768·768 = 589,824 + 768: 2,362,368
    assert steps["6·N·D"].result == 6 * 2_362_368 * 1024 == 14_514_388_992
    # exact: 6 per projection MAC (4·1024·768·768 = 2,415,919,104) + 12·h·n·m·d_h = 12·12·1024·1024·64
    assert steps["training FLOPs"].result == 6 * 2_415_919_104 + 12 * 12 * 1024 * 1024 * 64 == 24_159_191_040
    assert "9,663,676,416" in steps["training FLOPs"].note          # the n²·d term 6·N·D leaves out
    assert steps["kept (naive)"].result == 12 * 1024 * 1024
    assert steps["attention FLOPs"].result == 4 * 12 * 1024 * 1024 * 64
    flash = {s.quantity: s for s in archcalc.explain("gpt2", layer="h.0.attn", attention="flash").layers[0].steps}
    assert flash["kept (flash)"].result == 12 * 1024 and "kept (naive)" not in flash


def test_unknown_attention_kernel_is_one_clear_error():
    with pytest.raises(SpecError, match="unknown attention kernel 'paged'") as err:
        archcalc.analyze("gpt2", attention="paged")
    assert "naive" in err.value.hint and "flash" in err.value.hint
    bad = run_cli("summarize", "gpt2", "--attention", "paged")
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    errors = [line for line in bad.stderr.splitlines() if line.startswith("Error")]
    assert errors == ["Error: Invalid value for '--attention': 'paged' is not one of 'naive', 'flash'."]


def test_cli_commands_take_attention(write_spec):
    path = write_spec("input: [6, 8]\nlayers:\n  - dense: {name: pre, units: 8}\n"
                      "  - attention: {name: attn, heads: 2, causal: true}\n")
    flashes = cli("summarize", path, "--attention", "flash", "--convention", "flashattention", "--format", "json")
    assert flashes.returncode == 0
    rows = {row["name"]: row for row in json.loads(flashes.stdout)["layers"]}
    assert rows["attn"]["flops"] == 3072 + 576            # as in test_forward_flops_by_hand_under_each_convention
    conventions = cli("conventions", path, "--attention", "flash")
    assert conventions.returncode == 0 and "flashattention" in conventions.stdout
    memory = cli("memory", path, "--mode", "training", "--batch", "2", "--attention", "flash", "--format", "json")
    assert memory.returncode == 0 and '"saved_bytes": ' in memory.stdout
    explained = cli("explain", path, "--attention", "flash")
    assert explained.returncode == 0 and "kept (flash)" in explained.stdout and "6·N·D" in explained.stdout
    verified = cli("verify", path, "--train", "--batch", "2", "--attention", "flash")
    assert verified.returncode == 0, verified.stdout + verified.stderr
