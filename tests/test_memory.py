"""archcalc memory: numbers worked out by hand for small nets, and the published VGG16 figure."""
import json

import pytest
from click.testing import CliRunner

from archcalc.cli import main
from archcalc.errors import SpecError
from archcalc.memory import memory, parse_bytes

from conftest import run_cli

# A residual block on a 4×8×8 input: every tensor is 256 floats = 1,024 bytes at fp32.
RESIDUAL = {"input": [4, 8, 8], "layers": [
    {"conv2d": {"name": "a", "filters": 4, "kernel": 3, "padding": 1}},
    {"relu": {"name": "r"}},
    {"conv2d": {"name": "b", "filters": 4, "kernel": 3, "padding": 1}},
    {"add": {"name": "sum", "from": ["b", "input"]}},
    {"relu": {"name": "out"}}]}
KB = 1024


def test_residual_liveness_by_hand():
    # input alive until `sum` reads it. a: in + a = 2K; r: + r = 3K, a freed -> 2K; b: in + r + b = 3K,
    # r freed -> 2K; sum: in + b + sum = 3K, in and b freed -> 1K; out: sum + out = 2K, sum freed.
    result = memory(RESIDUAL)
    assert [layer.live_bytes for layer in result.layers] == [2 * KB, 3 * KB, 3 * KB, 3 * KB, 2 * KB]
    assert result.peak_activation_bytes == 3 * KB and result.peak_activation_layer == "r"
    assert result.outputs_bytes == 6 * KB            # textbook: the input and five outputs, nothing freed
    params = 2 * (4 * 4 * 9 + 4)
    assert result.peak_bytes == params * 4 + 3 * KB


def test_residual_liveness_with_inplace_relus():
    # r overwrites a (a's only reader), out overwrites sum: a: 2K; r: 2K; b: in + a + b = 3K -> 2K; sum: 3K -> 1K.
    result = memory(RESIDUAL, inplace=True)
    assert [layer.live_bytes for layer in result.layers] == [2 * KB, 2 * KB, 3 * KB, 3 * KB, KB]
    assert result.peak_activation_layer == "b"
    assert result.allocated_bytes == 4 * KB          # input, a, b, sum
    assert result.outputs_bytes == 6 * KB


def test_shortcut_keeps_its_input_alive():
    """Without the residual the input dies after the first conv and the peak is two tensors, not three."""
    plain = {"input": [4, 8, 8], "layers": RESIDUAL["layers"][:3]}
    assert memory(plain).peak_activation_bytes == 2 * KB


def test_concat_inputs_stay_alive_until_merged():
    spec = {"input": [2, 4, 4], "layers": [      # input 32 floats = 128 B; each branch output 128 B
        {"conv2d": {"name": "x", "filters": 2, "kernel": 1}},
        {"conv2d": {"name": "y", "from": "input", "filters": 2, "kernel": 1}},
        {"concat": {"name": "cat", "from": ["x", "y"]}}]}
    # cat runs with x, y (input freed after y) and its own 256 B output: 512 B.
    result = memory(spec)
    assert [layer.live_bytes for layer in result.layers] == [256, 384, 512]


def test_vgg16_textbook_figure():
    """CS231n's VGG16 walk-through lists input, conv, pool and fc outputs (ReLUs in place): 150,528 +
    13,547,520 (conv) + 1,530,368 (pools) + 9,192 (fc) = 15,237,608 values, 60,950,432 bytes at fp32.
    Its quoted total, "24M × 4 bytes ≈ 93 MB", does not follow from its own list."""
    inplace = memory("vgg16", inplace=True)
    assert inplace.allocated_bytes == 15_237_608 * 4
    # without in-place ReLU every conv and fc6/fc7 output is stored twice, dropout once more:
    separate = memory("vgg16")
    assert separate.outputs_bytes == (150_528 + 2 * 13_547_520 + 1_530_368 + 2 * 8_192 + 8_192 + 1_000) * 4
    # what a forward pass needs at once: conv1_1's output and its ReLU's, 2 × 64·224·224 floats
    assert separate.peak_activation_bytes == 2 * 64 * 224 * 224 * 4
    assert inplace.peak_activation_bytes == 2 * 64 * 224 * 224 * 4


def test_training_step_of_mnist_fc_by_hand():
    # 784 -> 512 relu -> 10 softmax, batch 1, fp32, Adam.
    result = memory("mnist_fc", mode="training", optimizer="adam")
    params = (784 + 1) * 512 + (512 + 1) * 10
    assert result.param_bytes == result.grad_bytes == params * 4
    assert result.optimizer_bytes == 2 * params * 4
    # autograd keeps fc1's input (for its weight gradient), the ReLU's output (which fc2 also needs,
    # kept once) and the softmax's output: 784 + 512 + 10 floats.
    assert result.saved_bytes == (784 + 512 + 10) * 4
    # backward of fc1 is the worst step: fc1's saved input, the output, fc1's grad_output (512 floats)
    # and every gradient by then.
    assert result.backward_peak_layer == "fc1"
    assert result.backward_peak_bytes == 784 * 4 + 10 * 4 + 512 * 4 + params * 4
    assert result.peak_bytes == params * 4 * (1 + 2) + result.backward_peak_bytes


@pytest.mark.parametrize("optimizer,copies", [("sgd", 0), ("momentum", 1), ("adam", 2), ("adamw", 2)])
def test_optimizer_state(optimizer, copies):
    result = memory("lenet5", mode="training", optimizer=optimizer)
    assert result.optimizer_bytes == copies * 61_706 * 4


def test_mixed_precision_is_16_bytes_per_parameter_with_adam():
    """fp16 weights (2) and gradients (2), fp32 master weights (4) and Adam moments (8): 16 bytes."""
    result = memory("resnet50", mode="training", optimizer="adam", dtype="fp16", mixed_precision=True)
    params = 25_557_032
    assert result.param_bytes + result.grad_bytes + result.master_bytes + result.optimizer_bytes == 16 * params
    with pytest.raises(SpecError, match="16-bit"):
        memory("resnet50", mode="training", mixed_precision=True)


def test_budget_and_largest_batch():
    # inference of RESIDUAL: 1,184 bytes of weights + 3,072 bytes of activations per sample.
    params = 2 * (4 * 4 * 9 + 4) * 4
    result = memory(RESIDUAL, batch=2, budget=params + 3 * KB * 5)
    assert result.fits and result.max_batch == 5
    assert memory(RESIDUAL, budget=params + 3 * KB - 1).max_batch == 0
    assert parse_bytes("24GiB") == 24 * 2**30 and parse_bytes("16 GB") == 16 * 10**9
    with pytest.raises(SpecError, match="budget"):
        parse_bytes("lots")


def test_cli_memory_table_json_and_errors(tmp_path):
    result = CliRunner().invoke(main, ["memory", "vgg16", "--inplace", "--budget", "1GiB"])
    assert result.exit_code == 0, result.output
    assert "60,950,432 bytes" in result.output and "largest batch that fits" in result.output
    data = json.loads(CliRunner().invoke(main, ["memory", "mnist_fc", "--mode", "training", "--optimizer",
                                                "adam", "--format", "json"]).output)
    assert data["saved_bytes"] == (784 + 512 + 10) * 4
    bad = run_cli("memory", "vgg16", "--budget", "a lot")
    assert bad.returncode == 2 and "Traceback" not in bad.stderr and "budget" in bad.stderr
    out = tmp_path / "m.md"
    assert run_cli("memory", "lenet5", "--format", "markdown", "-o", out).returncode == 0
    assert out.read_text().startswith("## lenet5: memory")
