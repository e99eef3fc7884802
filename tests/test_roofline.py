"""archcalc roofline: lower-bound times of layers on named GPUs, every number worked by hand from the
datasheet figures in archcalc/data/accelerators.yaml."""
import json
from fractions import Fraction

import pytest

from archcalc.analysis.roofline import accelerator, accelerators, roofline
from archcalc.errors import SpecError

from conftest import run_cli

# One dense layer, 1024 -> 1024 with bias: 1,048,576 + 1,024 = 1,049,600 parameters and, per sample,
# 2 · 1024 · 1024 + 1024 = 2,098,176 FLOPs (a multiply and an add per weight, one add per bias).
DENSE = {"name": "one_dense", "input": [1024], "layers": [{"dense": {"name": "fc", "units": 1024}}]}
PARAMS, FLOPS_PER_SAMPLE = 1_049_600, 2_098_176


def test_dense_layer_alone_is_memory_bound_at_batch_1():
    # bf16 (2 bytes): reads 1,024 inputs and 1,049,600 weights, writes 1,024 outputs:
    # (1,024 + 1,024 + 1,049,600) · 2 = 2,103,296 bytes for 2,098,176 FLOPs, intensity 0.9976 FLOP/byte.
    # A100 80GB: 2,098,176 / 312e12 = 6.7 ns of math, 2,103,296 / 2,039e9 = 1.0315 µs of memory traffic.
    result = roofline(DENSE, "a100-80gb", batch=1, dtype="bf16")
    (layer,) = result.layers
    assert (layer.flops, layer.bytes, layer.bound) == (2_098_176, 2_103_296, "memory")
    assert layer.seconds == pytest.approx(2_103_296 / 2_039e9, rel=1e-12)
    assert layer.intensity == pytest.approx(2_098_176 / 2_103_296, rel=1e-12)


def test_same_layer_at_batch_512_compute_bound_on_a100_memory_bound_on_h100():
    # batch 512: FLOPs 512 · 2,098,176 = 1,074,266,112; bytes (512 · 1024 · 2 + 1,049,600) · 2 = 2,098,176 · 2
    # = 4,196,352, so the intensity is exactly 256 FLOP/byte.
    # A100 80GB bf16 ridge: 312e12 / 2,039e9 = 153 < 256 -> compute-bound, 1,074,266,112 / 312e12 = 3.4433 µs.
    a100 = roofline(DENSE, "a100-80gb", batch=512, dtype="bf16").layers[0]
    assert (a100.flops, a100.bytes, a100.intensity, a100.bound) == (1_074_266_112, 4_196_352, 256.0, "compute")
    assert a100.seconds == pytest.approx(1_074_266_112 / 312e12, rel=1e-12)
    # H100 SXM bf16 ridge: 989.5e12 / 3,350e9 = 295.4 > 256 -> memory-bound, 4,196,352 / 3,350e9 = 1.2526 µs.
    h100 = roofline(DENSE, "h100-sxm", batch=512, dtype="bf16")
    assert h100.layers[0].bound == "memory"
    assert h100.layers[0].seconds == pytest.approx(4_196_352 / 3_350e9, rel=1e-12)
    assert h100.ridge == pytest.approx(989.5e12 / 3_350e9, rel=1e-12)


def test_training_triples_flops_and_bytes():
    # forward + backward at backward = 2 × forward: 3 · 1,074,266,112 FLOPs and 3 · 4,196,352 bytes;
    # still 256 FLOP/byte, so compute-bound on the A100: 3,222,798,336 / 312e12 = 10.33 µs.
    result = roofline(DENSE, "a100-80gb", batch=512, dtype="bf16", train=True)
    layer = result.layers[0]
    assert (layer.flops, layer.bytes) == (3_222_798_336, 12_589_056)
    assert result.seconds == pytest.approx(3_222_798_336 / 312e12, rel=1e-12)
    assert any("2× the forward" in note for note in result.notes)


def test_fp32_bytes_and_the_fp32_peak():
    # fp32 doubles the bytes: (1,024 + 1,024 + 1,049,600) · 4 = 4,206,592; T4's fp32 peak is 8.1 TFLOP/s and
    # its bandwidth 320 GB/s: memory 4,206,592 / 320e9 = 13.15 µs beats math 2,098,176 / 8.1e12 = 0.26 µs.
    layer = roofline(DENSE, "t4", batch=1, dtype="fp32").layers[0]
    assert layer.bytes == 4_206_592 and layer.seconds == pytest.approx(4_206_592 / 320e9, rel=1e-12)


def test_view_moves_nothing_and_merges_read_every_input():
    # input 4×2×2 -> flatten (a view: 0 bytes, 0 s) -> dense 3: 16·3 + 3 = 51 params, 2·48 + 3 = 99 FLOPs,
    # (16 + 3 + 51) · 4 = 280 bytes at fp32. Then add(fc, fc2) of two 3-vectors: 3 FLOPs,
    # (3 + 3 + 3) · 4 = 36 bytes, where fc2 is dense 3 -> 3: 12 params, 2·9 + 3 = 21 FLOPs, (3 + 3 + 12) · 4 = 72.
    spec = {"input": [4, 2, 2], "layers": [
        {"flatten": {"name": "flat"}}, {"dense": {"name": "fc", "units": 3}},
        {"dense": {"name": "fc2", "units": 3}}, {"add": {"name": "sum", "from": ["fc", "fc2"]}}]}
    result = roofline(spec, "a10", dtype="fp32")
    rows = {layer.name: (layer.flops, layer.bytes, layer.bound) for layer in result.layers}
    assert rows == {"flat": (0, 0, "-"), "fc": (99, 280, "memory"), "fc2": (21, 72, "memory"),
                    "sum": (3, 36, "memory")}
    # A10: 600 GB/s; every layer memory-bound, so the step is (280 + 72 + 36) / 600e9 s
    assert result.seconds == pytest.approx(388 / 600e9, rel=1e-12)
    assert (result.flops, result.bytes) == (123, 388)


def test_floor_is_below_the_layer_by_layer_bound():
    # the floor: all FLOPs at peak, or weights + input + output moved once; for the single dense layer at
    # batch 1 both are the same traffic, 2,103,296 bytes, so the floor equals the layer's bound.
    single = roofline(DENSE, "a100-80gb", dtype="bf16")
    assert single.floor_seconds == pytest.approx(single.seconds, rel=1e-12)
    resnet = roofline("resnet50", "h100-sxm", batch=32, dtype="bf16")
    assert resnet.floor_seconds < resnet.seconds
    assert resnet.compute_seconds == pytest.approx(resnet.flops / 989.5e12, rel=1e-12)


def test_builtin_accelerators_have_sources_and_dense_halves_of_sparse():
    known = accelerators()
    for key in ("h100-sxm", "h100-pcie", "h200", "a100-40gb", "a100-80gb", "l4", "t4", "a10", "rtx-4090",
                "rtx-3090"):
        gpu = known[key]
        assert gpu.source and "fp32" in gpu.peaks and "fp16" in gpu.peaks and gpu.bandwidth > 0
        for dtype, sparse in gpu.sparse_printed.items():
            # a datasheet's "with sparsity" figure is twice the dense one (to its printed rounding)
            assert abs(sparse / 2 - gpu.peaks[dtype]) <= Fraction(1, 2) * 10**12, (key, dtype)
    assert known["h100-sxm"].peaks["bf16"] == Fraction(9895, 10) * 10**12
    assert known["a100-40gb"].bandwidth == 1_555 * 10**9


def test_gpu_file_adds_a_gpu(tmp_path):
    # 1 TFLOP/s and 1 GB/s: the dense layer at batch 1 takes max(2,098,176 / 1e12, 2,103,296 / 1e9) = 2.1033 ms
    path = tmp_path / "mine.yaml"
    path.write_text("toy:\n  name: Toy GPU\n  bandwidth_gb_s: 1\n  dense_tflops: {bf16: 1}\n  source: made up\n")
    result = roofline(DENSE, "toy", dtype="bf16", gpu_file=path)
    assert result.seconds == pytest.approx(2_103_296 / 1e9, rel=1e-12)
    assert accelerator("TOY", gpu_file=path).name == "Toy GPU"


@pytest.mark.parametrize("text, words", [
    ("toy:\n  name: Toy\n  dense_tflops: {bf16: 1}\n  source: x\n", "lacks bandwidth_gb_s"),
    ("toy:\n  name: Toy\n  bandwidth_gb_s: fast\n  dense_tflops: {bf16: 1}\n  source: x\n", "positive number"),
    ("toy:\n  name: Toy\n  bandwidth_gb_s: 1\n  dense_tflops: {bf17: 1}\n  source: x\n", "unknown dtype 'bf17'"),
    ("- just a list\n", "maps names to GPUs"),
])
def test_bad_gpu_file(tmp_path, text, words):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(SpecError, match=words) as caught:
        accelerators(path)
    assert str(path) in str(caught.value)


def test_cli_table_json_and_errors(tmp_path):
    ok = run_cli("roofline", "resnet50", "--gpu", "a100-80gb", "--batch", "8")
    assert ok.returncode == 0, ok.stderr
    assert "LOWER BOUNDS" in ok.stdout and "no GPU measurement" in ok.stdout
    data = json.loads(run_cli("roofline", "mnist_mlp", "--gpu", "l4", "--format", "json").stdout)
    assert data["lower_bound"] is True and data["gpu"]["key"] == "l4"
    for args, words in ((("--gpu", "h900"), "unknown GPU 'h900'"), (("--gpu", "t4", "--dtype", "bf16"), "no bf16"),
                        (("--batch", "0"), "0 is not in the range"), (("--gpu-file", tmp_path / "none.yaml"),
                                                                       "cannot read the GPU file")):
        bad = run_cli("roofline", "resnet50", *args)
        assert bad.returncode == 2, (args, bad.stderr)
        assert words in bad.stderr and "Traceback" not in bad.stderr
    listed = run_cli("roofline", "--list")
    assert "rtx-3090" in listed.stdout and "sparse figures are not peaks" in listed.stdout
    assert run_cli("roofline").returncode == 2


def test_cli_plot(tmp_path):
    pytest.importorskip("matplotlib")
    out = tmp_path / "roof.png"
    done = run_cli("roofline", "vgg16", "--gpu", "h100-sxm", "--train", "--batch", "4", "--plot", out)
    assert done.returncode == 0, done.stderr
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
