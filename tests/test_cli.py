"""The command line: every output format, the JSON contract, zoo, layers, -o FILE, `python -m archcalc`,
the installed script as a real subprocess, and the promise that summarize never imports torch or numpy."""
import csv
import io
import json
import subprocess
import sys

import pytest
from click.testing import CliRunner

from archcalc.cli import main
import archcalc

from conftest import ROOT, SPECS, run_cli

LAYER_KEYS = {"name", "type", "output_shape", "params", "trainable_params", "macs", "flops", "activation_bytes"}
TOTAL_KEYS = {"params", "trainable_params", "non_trainable_params", "buffers", "macs", "flops", "param_bytes",
              "activation_bytes"}


def invoke(*args):
    result = CliRunner().invoke(main, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    return result.output


def test_json_contract():
    data = json.loads(invoke("summarize", "mnist_fc", "--format", "json"))
    assert {"model", "input_shape", "layers", "totals", "warnings"} <= set(data)
    assert data["model"] == "mnist_fc"
    assert data["input_shape"] == [784]
    for layer in data["layers"]:
        assert LAYER_KEYS <= set(layer)
        assert isinstance(layer["output_shape"], list)
        for key in LAYER_KEYS - {"name", "type", "output_shape"}:
            assert type(layer[key]) is int, (key, layer[key])
    assert TOTAL_KEYS <= set(data["totals"])
    assert all(type(data["totals"][k]) is int for k in TOTAL_KEYS)
    # 784 -> dense 512 (relu) -> dense 10 (softmax): (784+1)·512 + (512+1)·10 = 401,920 + 5,130 = 407,050
    assert [layer["name"] for layer in data["layers"]] == ["fc1", "fc1_relu", "fc2", "fc2_softmax"]
    assert data["layers"][0]["params"] == 401_920
    assert data["layers"][0]["output_shape"] == [512]
    assert data["totals"]["params"] == 407_050
    # MACs 784·512 + 512·10 = 401,408 + 5,120 = 406,528
    assert data["totals"]["macs"] == 406_528
    assert data["totals"]["param_bytes"] == 4 * 407_050
    assert data["warnings"] == []


def test_json_shapes_in_spec_layout_and_warnings():
    data = json.loads(invoke("summarize", "mnist_cnn", "--format", "json"))
    assert data["input_shape"] == [28, 28, 1]
    assert data["layers"][0]["output_shape"] == [26, 26, 32]     # channels-last, as the spec is written
    # pool2 sees 11×11: (11 − 2)/2 + 1 = 5.5
    [warning] = data["warnings"]
    assert warning["layer"] == "pool2" and "5.5 is not an integer" in warning["message"]


def test_csv_parses():
    rows = list(csv.DictReader(io.StringIO(invoke("summarize", "mnist_cnn", "--format", "csv"))))
    assert [r["name"] for r in rows][:3] == ["conv1", "conv1_relu", "pool1"]
    assert rows[0]["output_shape"] == "26x26x32"
    assert rows[0]["params"] == "320"                       # 3·3·1·32 + 32
    assert sum(int(r["params"]) for r in rows) == 93_322


def test_markdown_is_a_table():
    text = invoke("summarize", "mnist_fc", "--format", "markdown")
    lines = text.splitlines()
    assert lines[0].startswith("## mnist_fc")
    table = [line for line in lines if line.startswith("|")]
    header, rule = table[0], table[1]
    assert [c.strip() for c in header.strip("|").split("|")][:4] == ["Layer", "Type", "Output shape", "Params"]
    assert set(rule.replace("|", "").replace(":", "")) == {"-"}
    assert any("| fc1 " in line and "401,920" in line for line in table)
    assert "| Total params | 407,050 (407K) |" in text


def test_table_default():
    text = invoke("summarize", "alexnet")
    assert text.startswith("alexnet: input (227, 227, 3), channels_last, batch 1, fp32")
    assert "(55, 55, 96)" in text                  # (227 − 11)/4 + 1 = 55, shown channels-last
    assert "62,378,344 (62.4M)" in text


def test_summarize_options_scale():
    data = json.loads(invoke("summarize", "mnist_fc", "--format", "json", "--batch", "4", "--dtype", "fp16"))
    assert data["totals"]["macs"] == 4 * 406_528
    assert data["totals"]["param_bytes"] == 2 * 407_050
    assert data["totals"]["activation_bytes"] == 4 * 2 * (512 + 512 + 10 + 10)


def test_keras_flag():
    plain = json.loads(invoke("summarize", "resnet50", "--format", "json"))
    keras = json.loads(invoke("summarize", "resnet50", "--format", "json", "--keras"))
    # Keras adds each batchnorm's moving mean and variance (2C) as non-trainable parameters
    assert plain["totals"]["non_trainable_params"] == 0
    assert keras["totals"]["non_trainable_params"] == keras["totals"]["params"] - 25_557_032
    assert keras["totals"]["non_trainable_params"] == 53_120     # Keras's ResNet50: 25,636,712 − 25,583,592


def test_output_file(tmp_path):
    target = tmp_path / "out.json"
    assert invoke("summarize", "lenet5", "--format", "json", "-o", target) == ""
    assert json.loads(target.read_text())["totals"]["params"] == 61_706


def test_zoo():
    text = invoke("zoo")
    for name in ("mnist_fc", "mnist_mlp", "mnist_cnn", "lenet5", "alexnet", "vgg16", "resnet50"):
        assert name in text
    rows = {r["name"]: r for r in json.loads(invoke("zoo", "--format", "json"))}
    assert rows["vgg16"]["params"] == 138_357_544
    assert rows["alexnet"]["depth"] == 8            # 5 conv + 3 dense


def test_zoo_csv_to_file(tmp_path):
    target = tmp_path / "zoo.csv"
    invoke("zoo", "--format", "csv", "--output", target)
    rows = list(csv.DictReader(target.open()))
    assert len(rows) == len(list(SPECS.glob("*.yaml")))


def test_layers_lists_types_and_spellings():
    text = invoke("layers")
    for word in ("conv2d", "maxpooling2d", "batchnormalization", "filters*", "ceil_mode", "adaptive_avgpool2d"):
        assert word in text


@pytest.mark.parametrize("command", [[], ["summarize"], ["zoo"], ["layers"]])
def test_help_ends_with_an_example(command):
    text = invoke(*command, "--help")
    assert "Example" in text and "archcalc " in text.split("Example")[-1]


def test_python_dash_m():
    result = subprocess.run([sys.executable, "-m", "archcalc", "summarize", "mnist_fc", "--format", "json"],
                            capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["totals"]["params"] == 407_050


def test_installed_cli_subprocess(tmp_path):
    ok = run_cli("summarize", SPECS / "alexnet.yaml")
    assert ok.returncode == 0, ok.stderr
    assert "62,378,344" in ok.stdout
    bad = tmp_path / "bad.yaml"
    bad.write_text("input: [3, 8, 8]\nlayers:\n  - conv2d: {filters: 4, kernal: 3}\n")
    failed = run_cli("summarize", bad)
    assert failed.returncode == 2
    assert "Traceback" not in failed.stderr
    assert f"{bad}:3" in failed.stderr and "did you mean 'kernel'?" in failed.stderr


def test_summarize_imports_neither_torch_nor_numpy():
    """`-X importtime` lists every module the process imports, on stderr."""
    result = subprocess.run([sys.executable, "-X", "importtime", "-m", "archcalc", "summarize",
                             str(SPECS / "resnet50.yaml")], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert result.returncode == 0, result.stderr
    imported = {line.split("|")[-1].strip() for line in result.stderr.splitlines() if line.startswith("import time:")}
    assert "archcalc.analysis.analyzer" in imported and "yaml" in imported     # the listing is real
    assert not {name for name in imported if name.split(".")[0] in ("torch", "numpy")}


def test_readme_quick_start_spec(tmp_path):
    """The spec a new user copies from the README runs and gives the numbers worked out by hand."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    text = readme.split("copy it to `my_net.yaml`:\n\n```yaml\n", 1)[1].split("```", 1)[0]
    spec = tmp_path / "my_net.yaml"
    spec.write_text(text, encoding="utf-8")
    data = json.loads(invoke("summarize", spec, "--format", "json"))
    # stem 3·9·32 + 32 = 896; each residual 2·(32·32·9) + 2·(2·32) = 18,560, twice; classifier 33·10 = 330
    assert data["totals"]["params"] == 896 + 2 * 18_560 + 330 == 38_346
    assert data["layers"][-1]["output_shape"] == [10]
    assert data["totals"]["buffers"] == 4 * (2 * 32 + 1)          # four batchnorms


@pytest.mark.parametrize("command", [
    ["summarize"], ["explain"], ["memory"], ["diagram", "--format", "dot"], ["export-torch"],
])
def test_every_spec_command_takes_set(command):
    """--set reaches the spec's top-level args everywhere: googlenet's aux heads appear only when asked."""
    plain = invoke(*command[:1], "googlenet", *command[1:])
    with_aux = invoke(*command[:1], "googlenet", *command[1:], "--set", "aux_logits=true")
    assert "aux1" not in plain and "aux1" in with_aux


def test_conventions_takes_set():
    """torch counts 2 per MAC of dense layers: fc 1,024·1,000·2 = 2,048,000; each aux head adds
    (2,048·1,024 + 1,024·1,000)·2 = 6,242,304."""
    def torch_dense(*extra):
        data = json.loads(invoke("conventions", "googlenet", "--format", "json", *extra))
        return next(c for c in data["conventions"] if c["name"] == "torch")["by_kind"]["dense"]
    assert torch_dense() == 2_048_000
    assert torch_dense("--set", "aux_logits=true") == 2_048_000 + 2 * 6_242_304


@pytest.mark.parametrize("command", [
    ["summarize", "mnist_fc"], ["zoo"], ["layers"], ["schema"], ["diagram", "lenet5", "--format", "dot"],
    ["explain", "lenet5"],
])
def test_output_into_a_missing_folder_is_bad_input(tmp_path, command):
    target = tmp_path / "no_such_folder" / "out.txt"
    result = CliRunner().invoke(main, [*command, "-o", str(target)])
    assert result.exit_code == 2 and isinstance(result.exception, SystemExit), result.output
    assert f"error: cannot write '{target}': No such file or directory" in result.output
    assert "\n  fix: check that the folder exists" in result.output


def test_resnet50_warns_only_where_input_pixels_are_lost():
    """Hand-derived: the stride-2 1×1 downsample convs see positions 0, 2, …, 54 of 56 (55 is never read):
    (56 − 1 + 2·0)/2 + 1 = 28.5, remainder 1 > padding 0, in layer2, 3 and 4: three warnings. conv1
    ((224 − 7 + 2·3)/2 + 1), the max pool ((112 − 3 + 2·1)/2 + 1) and the three strided 3×3 convs
    ((N − 3 + 2·1)/2 + 1) leave only padding over: five notes, which do not change a result."""
    report = archcalc.analyze("resnet50")
    assert [w["layer"] for w in report.warnings] == [f"layer{i}.0.downsample_conv" for i in (2, 3, 4)]
    assert [n["layer"] for n in report.notes] == ["conv1", "maxpool", "layer2.0.conv2", "layer3.0.conv2",
                                                  "layer4.0.conv2"]
    out = run_cli("summarize", "resnet50").stdout
    assert "Notes: 5 layer(s) divide unevenly but lose no input pixel" in out
    assert out.count("is not an integer") == 3
    explained = run_cli("explain", "resnet50", "--layer", "conv1").stdout
    assert "only padding is left over" in explained


def test_warning_formula_symbols_match_its_numbers(write_spec):
    """(11 − 2 + 2·0)/2 + 1 = 5.5: the symbols say 2P where the numbers say 2·P."""
    path = write_spec("input: [1, 11, 11]\nlayers:\n  - maxpool2d: {kernel: 2}\n")
    message = archcalc.analyze(path).warnings[0]["message"]
    assert message.startswith("height and width: (N − F + 2P)/S + 1 = (11 − 2 + 2·0)/2 + 1 = 9/2 + 1 = 5.5")
