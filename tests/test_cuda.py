"""verify on an NVIDIA GPU: saved bytes exact (dropout keeps a bool mask there), peak memory reported."""
import pytest
from click.testing import CliRunner

from archcalc.cli import main

torch = pytest.importorskip("torch")
pytestmark = [pytest.mark.cuda,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="needs an NVIDIA GPU")]
from archcalc.bridges.verify import verify  # noqa: E402


@pytest.mark.parametrize("name,input_shape", [("alexnet", None), ("resnet50", None), ("mnist_cnn", None)])
def test_zoo_on_cuda_with_backward(name, input_shape):
    result = verify(name, device="cuda", batch=2, train=True, input_shape=input_shape)
    wrong = {layer.name: layer.checks for layer in result.layers if not layer.ok}
    assert result.ok, wrong
    assert result.totals["saved_bytes"][0] == result.totals["saved_bytes"][1] > 0
    memory = result.memory
    assert memory["measured_peak"] > 0 and memory["predicted_peak"] > 0
    # The goal: the training-step peak within 5% of what the CUDA allocator reports.
    assert abs(memory["predicted_peak"] - memory["measured_peak"]) <= 0.05 * memory["measured_peak"]


def test_cli_reports_peak_memory_on_cuda():
    out = CliRunner().invoke(main, ["verify", "alexnet", "--device", "cuda", "--batch", "4", "--train"])
    assert out.exit_code == 0, out.output
    assert "peak memory" in out.output and "measured" in out.output
