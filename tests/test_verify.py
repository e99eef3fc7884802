"""`archcalc verify` and `export-torch` against the real PyTorch model. Expected numbers are derived by
hand in the comments; the zoo must agree exactly with torch."""
import ast
import json
import subprocess
import sys

import pytest
from click.testing import CliRunner

import archcalc
from archcalc.cli import main
from conftest import REDUCED_INPUT, ROOT, SPECS, cli, run_cli

torch = pytest.importorskip("torch")
from archcalc.bridges.verify import verify  # noqa: E402

ZOO = sorted(p.stem for p in SPECS.glob("*.yaml"))

# conv 1→4 k3 on 6×6, relu, maxpool 2, flatten, dense 5; batch 2, fp32.
SMALL = {"name": "small", "input": [1, 6, 6], "layers": [
    {"conv2d": {"filters": 4, "kernel": 3}, "name": "conv"}, {"relu": None, "name": "relu"},
    {"maxpool2d": {"kernel": 2}, "name": "pool"}, "flatten", {"dense": 5, "name": "fc"}]}
SMALL_SAVED = {
    "conv": 2 * 1 * 6 * 6 * 4,        # its input, the data
    "relu": 2 * 4 * 4 * 4 * 4,        # its output
    "pool": 2 * 4 * 2 * 2 * 8,        # input already kept by relu; int64 indices, 8 bytes each
    "flatten_1": 0,                   # a view
    "fc": 2 * 16 * 4,                 # the flatten view of the pool's output
}


def disagreements(result):
    return {layer.name: {k: v for k, v in layer.checks.items() if v[1] is not None and v[0] != v[1]}
            for layer in result.layers if not layer.ok}


def test_saved_bytes_derived_by_hand():
    report = archcalc.analyze(SMALL, batch=2)
    assert {r.name: r.saved_bytes for r in report.layers} == SMALL_SAVED
    assert report.totals.saved_bytes == 1184
    # FlopCounterMode: conv 2·(2·4·4·4)·(1·3·3) = 2304, dense 2·2·16·5 = 320; backward: the conv's input
    # is data, so only grad_weight (groups·F = 2304); dense both gradients, 2·320.
    assert report.totals.torch_flops == 2624
    assert report.totals.torch_backward_flops == 2304 + 640
    result = verify(SMALL, batch=2, train=True)
    assert result.ok, disagreements(result)
    assert result.totals["saved_bytes"] == (1184, 1184)
    assert result.totals["backward_flops"] == (2944, 2944)
    layers = {layer.name: layer.checks for layer in result.layers}
    assert layers["conv"]["backward_flops"] == (2304, 2304) and layers["fc"]["backward_flops"] == (640, 640)


def test_dropout_mask_depends_on_device():
    spec = {"name": "drop", "input": [8], "layers": [{"dense": 4}, {"dropout": 0.5}, {"dense": 2}]}
    # dense saves the data (2·8·4 = 64 B); the mask is 2·4 elements: fp32 on CPU, bool on CUDA;
    # the second dense saves the dropout output (32 B).
    assert archcalc.analyze(spec, batch=2).totals.saved_bytes == 64 + 32 + 32
    assert archcalc.analyze(spec, batch=2, device="cuda").totals.saved_bytes == 64 + 8 + 32
    assert verify(spec, batch=2).ok


def test_frozen_layers_on_data_save_nothing():
    spec = {"name": "frozen", "input": [1, 5, 5], "layers": [
        {"conv2d": {"filters": 2, "kernel": 3}, "trainable": False}, "relu", {"conv2d": {"filters": 3, "kernel": 1}}]}
    report = archcalc.analyze(spec, batch=2)
    # nothing needs a gradient until the last conv, which keeps the relu output: 2·2·3·3 floats
    assert [r.saved_bytes for r in report.layers] == [0, 0, 2 * 2 * 3 * 3 * 4]
    result = verify(spec, batch=2, train=True)
    assert result.ok, disagreements(result)
    assert result.totals["trainable"] == (3 * 2 + 3, 3 * 2 + 3)


@pytest.mark.filterwarnings("ignore:Using padding='same'")
def test_same_padding_with_even_kernel_keeps_the_padded_copy():
    spec = {"name": "same", "input": [1, 4, 4], "layers": [{"conv2d": {"filters": 1, "kernel": [1, 2],
                                                                       "padding": "same"}}]}
    # total padding 1 along width: torch pads a copy to 4×5 and keeps it, 2·1·4·5 floats, not the 4×4 input
    assert archcalc.analyze(spec, batch=2).totals.saved_bytes == 2 * 4 * 5 * 4
    assert verify(spec, batch=2).ok


# Inception-v3's auxiliary head (on by default, as torchvision builds it) batch-normalises a 1×1 map in
# training, which needs two samples: at batch 1 the eval forward (aux_logits false) is verified, and the
# head itself is checked against torchvision's model at batch 2 in tests/test_zoo_torchvision.py.
AT_BATCH_1 = {"inception_v3": {"aux_logits": False}}


@pytest.mark.parametrize("name", ZOO)
def test_zoo_agrees_exactly_at_batch_1(name):
    graph = archcalc.load_spec(name, input_shape=REDUCED_INPUT.get(name), args=AT_BATCH_1.get(name))
    result = verify(graph)                                           # the deepest and widest at 96×96
    assert result.ok, disagreements(result)
    assert result.totals["params"][0] == result.totals["params"][1] > 0
    assert all(check[1] is not None for layer in result.layers for check in layer.checks.values())


@pytest.mark.parametrize("name,input_shape", [("mnist_cnn", None), ("alexnet", None), ("resnet50", "3x64x64")])
def test_zoo_agrees_at_batch_2_with_backward(name, input_shape):
    result = verify(name, batch=2, train=True, input_shape=input_shape)
    assert result.ok, disagreements(result)
    assert result.totals["backward_flops"][0] > result.totals["flops"][0]
    # per layer too, where FlopCounterMode's own module table misplaces shortcut convolutions
    assert all("backward_flops" in layer.checks for layer in result.layers)


def test_meta_compares_shapes_params_flops_only():
    result = verify("resnet50", meta=True, train=True)
    assert result.ok and result.device == "meta"
    assert result.totals["params"] == (25_557_032, 25_557_032)
    assert result.totals["saved_bytes"][1] is None
    assert any("not measured" in item for item in result.not_measured)


def test_large_model_falls_back_to_meta():
    result = verify("vgg16", max_gib=0.1)
    assert result.meta and result.ok
    assert "exceeds the 0.1 GiB limit" in result.not_measured[0]


def test_cli_exit_0_and_table():
    out = CliRunner().invoke(main, ["verify", "mnist_cnn", "--batch", "2", "--train"])
    assert out.exit_code == 0, out.output
    assert "conv1" in out.output and "✓" in out.output and "✗" not in out.output
    assert "FLOPs (torch)" in out.output and "All agree" in out.output
    assert "Compared:" not in out.output         # said once, in --help and docs/verify.md (issue 15)


def test_cli_exit_1_on_disagreement(monkeypatch):
    from archcalc.layers.dense import Dense
    original = Dense.params
    monkeypatch.setattr(Dense, "params", lambda self, ins: original(self, ins) + 1)
    out = CliRunner().invoke(main, ["verify", "mnist_fc"])
    assert out.exit_code == 1
    assert "✗" in out.output and "DISAGREEMENT" in out.output


def test_cli_exit_2_on_bad_spec(write_spec):
    path = write_spec("name: bad\ninput: [3, 8, 8]\nlayers:\n  - conv2d: {filters: 4, kernal: 3}\n")
    proc = run_cli("verify", path)
    assert proc.returncode == 2
    assert "kernal" in proc.stderr and "did you mean 'kernel'" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_cli_json_output(tmp_path):
    target = tmp_path / "v.json"
    out = CliRunner().invoke(main, ["verify", "lenet5", "--format", "json", "-o", str(target)])
    assert out.exit_code == 0
    data = json.loads(target.read_text())
    assert data["ok"] is True
    assert data["totals"]["params"] == {"predicted": 61_706, "measured": 61_706, "agree": True}
    assert all(layer["shape"]["agree"] for layer in data["layers"])


def test_summarize_json_has_saved_bytes_and_does_not_import_torch(tmp_path):
    code = ("import sys; from click.testing import CliRunner; from archcalc.cli import main; "
            "r = CliRunner().invoke(main, ['summarize', 'lenet5', '--format', 'json']); "
            "print(r.output); assert 'torch' not in sys.modules")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["totals"]["saved_bytes"] == sum(layer["saved_bytes"] for layer in data["layers"]) > 0


def exported(spec, run=cli):
    """Exec the printed source and return an instance of its model class (in-process CLI; lenet5's test
    runs the real subprocess)."""
    proc = run("export-torch", spec)
    assert proc.returncode == 0, proc.stderr
    namespace = {"__name__": "exported"}
    exec(compile(proc.stdout, "exported.py", "exec"), namespace)
    classes = [v for v in namespace.values() if isinstance(v, type) and v.__module__ == "exported"]
    return classes[-1]()     # the model class comes after the helper modules it uses


def test_export_torch_lenet5_runs():
    model = exported("lenet5", run=run_cli)
    assert sum(p.numel() for p in model.parameters()) == 61_706      # LeCun et al. 1998
    assert model(torch.randn(2, 1, 32, 32)).shape == (2, 10)


def test_export_torch_keeps_every_option(write_spec):
    path = write_spec("""name: options
input: [3, 11, 11]
layers:
  - conv2d: {name: stem, filters: 4, kernel: 3, padding: same, dilation: 2, trainable: false}
  - avgpool2d: {kernel: 3, stride: 2, padding: 1, ceil_mode: true, count_include_pad: false}
  - conv2d: {name: mid, filters: 4, kernel: 1, groups: 2, bias: false}
  - add: {from: [mid, avgpool2d_1]}
  - global_avgpool2d
  - dense: {units: 3, activation: softmax}
""")
    model = exported(path)
    reference = archcalc.to_torch(str(path))
    assert sum(p.numel() for p in model.parameters()) == sum(p.numel() for p in reference.parameters()) == 4 * 3 * 9 + 4 + 4 * 2 + 4 * 3 + 3
    assert [p.requires_grad for p in model.stem.parameters()] == [False, False]
    x = torch.randn(2, 3, 11, 11)
    assert model(x).shape == reference(x).shape == (2, 3)
    # ceil_mode 11 → ceil((11 + 2 − 3)/2) + 1 = 6
    assert model.avgpool2d_1(model.stem(x)).shape == (2, 4, 6, 6)


def test_progress_reports_every_layer_then_backward():
    messages = []
    verify("lenet5", batch=2, train=True, progress=messages.append)
    layers = len(archcalc.load_spec("lenet5").nodes)       # 12: 5 conv/dense, 4 tanh, 2 pools, flatten
    assert messages[:layers] == [f"forward {i}/{layers}" for i in range(1, layers + 1)]
    assert messages[layers:] == ["backward"]


def test_no_progress_noise_when_stderr_is_not_a_terminal():
    out = CliRunner().invoke(main, ["verify", "lenet5"])
    assert out.exit_code == 0 and "forward 1/" not in out.output


@pytest.mark.parametrize("command", ["verify", "export-torch"])
def test_layer_named_like_a_torch_module_attribute_is_bad_input(write_spec, command):
    path = write_spec("input: [3, 8, 8]\nlayers:\n  - relu\n  - relu: {name: forward}\n")
    proc = cli(command, path)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert f"{path}:4: layer 'forward': PyTorch cannot hold a layer named 'forward'" in proc.stderr
    assert "fix: give it another `name`" in proc.stderr


def test_block_use_named_like_a_torch_module_attribute_is_bad_input(write_spec):
    path = write_spec("input: [3, 8, 8]\nblocks:\n  unit: [relu]\nlayers:\n  - unit: {name: training}\n")
    proc = cli("verify", path)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "layer 'training.relu_1': PyTorch cannot hold a layer named 'training'" in proc.stderr


def test_export_torch_writes_python_for_any_names(write_spec):
    path = write_spec('name: "a \\"\\"\\" b \\\\N"\ninput: [3, 8, 8]\nlayers:\n'
                      '  - relu: {name: class}\n  - relu: {name: "-apply"}\n  - relu: {name: "x²"}\n'
                      '  - relu: {name: T-destination}\n')
    source = cli("export-torch", path).stdout
    assert ast.get_docstring(ast.parse(source)).startswith('a """ b \\N, exported by archcalc export-torch')
    model = exported(path)
    assert len(list(model.children())) == 4
    assert model(torch.randn(1, 3, 8, 8)).shape == (1, 3, 8, 8)


def test_export_torch_model_named_like_a_helper_module(write_spec):
    path = write_spec("name: add\ninput: [3, 8, 8]\nlayers:\n  - relu: {name: r}\n  - add: {from: [r, input]}\n")
    model = exported(path)
    assert type(model).__name__ == "AddModel"
    x = torch.randn(1, 3, 8, 8)
    assert torch.equal(model(x), torch.relu(x) + x)


def test_seed_beyond_what_torch_takes_is_bad_input():
    proc = cli("verify", "mnist_fc", "--seed", str(2**64))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "Invalid value for '--seed'" in proc.stderr


def test_verify_releases_the_model_it_built():
    import gc

    def parameters_alive():
        gc.collect()
        return sum(isinstance(o, torch.nn.Parameter) for o in gc.get_objects())

    verify("lenet5")
    before = parameters_alive()
    verify("lenet5")                  # LeNet-5: 10 parameter tensors, which must not outlive the call
    assert parameters_alive() == before
