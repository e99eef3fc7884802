"""Issue 15, what a new user trips over: layouts, options that do nothing, one name one meaning, `calc`,
names inside blocks, messages, output that fits the terminal. Each test would have caught its point."""
import json

import pytest
from click.testing import CliRunner

import archcalc
from archcalc.analysis.memory import memory
from archcalc.cli import main
from archcalc.units import human_bytes
from archcalc.spec.graph import load_spec
from archcalc.spec.zoo import names as zoo_names
from archcalc.errors import SpecError


def invoke(*args, env=None):
    return CliRunner(env={"NO_COLOR": "1", **(env or {})}).invoke(main, [str(a) for a in args])


# ---- 1. layouts

def test_input_help_says_the_spec_layout():
    text = " ".join(invoke("summarize", "--help").output.split())
    assert "spec's layout" in text and "channels_first" in text and "channels_last" in text


def test_header_shows_the_layout_of_an_image_input_either_way():
    assert invoke("summarize", "resnet18").output.startswith(
        "resnet18: input (3, 224, 224), channels_first, batch 1, fp32")
    assert invoke("summarize", "alexnet").output.startswith(
        "alexnet: input (227, 227, 3), channels_last, batch 1, fp32")
    assert invoke("summarize", "mnist_fc").output.startswith("mnist_fc: input (784), batch 1, fp32")


def test_an_input_in_the_other_layout_that_fails_says_so_and_gives_the_fix():
    # alexnet is channels_last: 3x224x224 reads as 3 high, 224 wide, 224 channels, and conv1's 11×11 fails
    result = invoke("summarize", "alexnet", "--input", "3x224x224")
    assert result.exit_code == 2
    assert "kernel 11 is larger than the padded input 3" in result.output
    assert "read as height×width×channels" in result.output and "looks like channels_first" in result.output
    assert "fix: this spec is channels_last: write --input 224x224x3" in result.output
    assert "Traceback" not in result.output


def test_a_spec_input_in_the_other_layout_that_runs_gets_a_warning(write_spec):
    # [32, 32, 3] channels-first: 32 channels of 32×3; a 3×3 conv gives (16, 30, 1) without complaint
    path = write_spec("input: [32, 32, 3]\nlayers:\n  - conv2d: {filters: 16, kernel: 3}\n")
    result = invoke("summarize", path)
    assert result.exit_code == 0
    assert "(16, 30, 1)" in result.output
    warning = result.output.split("Warnings:", 1)[1]
    assert "32×32×3 is read as channels×height×width" in warning
    assert "add `layout: channels_last`" in warning and "input: [3, 32, 32]" in warning
    data = json.loads(invoke("summarize", path, "--format", "json").output)
    assert data["warnings"][0]["layer"] == "input" and "channels_last" in data["warnings"][0]["message"]
    for command in (["explain"], ["memory"], ["diagram", "--format", "dot"], ["conventions"]):
        ran = invoke(command[0], path, *command[1:])
        assert ran.exit_code == 0 and ran.output.count("warning: net: the input 32×32×3") == 1, command
    assert "warning:" not in result.output          # summarize: once, among its own warnings


def test_an_input_that_fails_in_the_other_layout_is_an_error_with_the_hint(write_spec):
    path = write_spec("input: [32, 32, 3]\nlayers:\n  - conv2d: {filters: 16, kernel: 5}\n")
    result = invoke("summarize", path)
    assert result.exit_code == 2 and "looks like channels_last order" in result.output


def test_no_zoo_spec_and_no_ordinary_input_is_suspected():
    assert [name for name in zoo_names() if load_spec(name).layout_note] == []
    assert load_spec("resnet18", input_shape="3x64x64").layout_note is None
    assert load_spec("alexnet", input_shape="224x224x3").layout_note is None
    assert load_spec({"input": [1, 28, 28], "layers": ["flatten"]}).layout_note is None


def test_the_zoo_shows_each_specs_layout():
    rows = {line.split()[0]: line.split() for line in invoke("zoo").output.splitlines()[3:]}
    assert rows["alexnet"][1:3] == ["227×227×3", "H×W×C"]
    assert rows["alexnet_2gpu"][1:3] == ["3×227×227", "C×H×W"]
    assert rows["mnist_fc"][1:3] == ["784", "-"]
    data = {row["name"]: row for row in json.loads(invoke("zoo", "--format", "json").output)}
    assert data["mnist_cnn"]["layout"] == "channels_last" and data["resnet50"]["layout"] == "channels_first"


# ---- 3. options that do nothing in the chosen mode

@pytest.mark.parametrize("extra,named", [
    (["--optimizer", "adam"], "--optimizer adam"),
    (["--dtype", "fp16", "--mixed-precision"], "--mixed-precision"),
])
def test_training_options_without_training_mode_are_refused(extra, named):
    result = invoke("memory", "resnet50", "--batch", "64", "--budget", "24GiB", *extra)
    assert result.exit_code == 2
    assert named in result.output and "fix: add --mode training" in result.output


def test_the_library_refuses_them_too_and_training_still_takes_them():
    with pytest.raises(SpecError, match="describes a training step"):
        memory("lenet5", optimizer="adam")
    assert memory("lenet5", mode="training", optimizer="adam").optimizer == "adam"
    assert memory("lenet5", mode="training").optimizer == "sgd"          # the default optimizer in training


# ---- 4. one name, one meaning

def test_optimizer_state_means_the_same_per_layer_and_in_the_breakdown():
    # LeNet-5, 61,706 trained parameters; Adam keeps 2 fp32 copies: 2·61,706·4 = 493,648 bytes;
    # mixed precision adds fp32 master weights, 61,706·4 = 246,824 bytes, on a line (and column) of their own
    result = memory("lenet5", mode="training", optimizer="adam", dtype="fp16", mixed_precision=True)
    assert result.optimizer_bytes == sum(layer.optimizer_bytes for layer in result.layers) == 493_648
    assert result.master_bytes == sum(layer.master_bytes for layer in result.layers) == 246_824
    text = invoke("memory", "lenet5", "--mode", "training", "--optimizer", "adam", "--dtype", "fp16",
                  "--mixed-precision").output
    header = text.splitlines()[2]
    assert "Optimizer state" in header and "fp32 master weights" in header


def test_the_sum_of_outputs_has_one_label_per_definition():
    # VGG16: summarize's sum of layer outputs is 115,306,400 − the input's 3·224·224·4 = 602,112 bytes
    # (115,206,048 for the textbook layers + torchvision's AdaptiveAvgPool2d(7) copy, 25,088 × 4 = 100,352)
    summarized = invoke("summarize", "vgg16").output
    measured = invoke("memory", "vgg16").output
    assert "Activation memory (sum of layer outputs): 109.4 MiB (114,704,288 bytes)" in summarized
    assert "Input + all layer outputs (the textbook figure, nothing ever freed): 110.0 MiB (115,306,400 bytes)" \
        in measured
    assert "Sum of all layer outputs" not in measured


# ---- 6. calc

def test_calc_conv_takes_a_layout():
    # (224 − 11)/4 + 1 = 54.25 -> 54; 96 filters
    first = invoke("calc", "conv", "--input", "224", "--kernel", "11", "--stride", "4", "--in-channels", "3",
                   "--filters", "96", "--layout", "channels_first").output
    assert "input 3×224×224 (channels_first)" in first and "→  96×54×54" in first
    last = invoke("calc", "conv", "--input", "224", "--kernel", "11", "--stride", "4", "--in-channels", "3",
                  "--filters", "96").output
    assert "input 224×224×3 (channels_last)" in last and "→  54×54×96" in last


def test_calc_dense_takes_input_like_every_other_command_and_keeps_inputs():
    for option in ("--input", "--inputs"):
        result = invoke("calc", "dense", option, "784", "--units", "10")
        assert result.exit_code == 0, result.output
        assert "(784 + 1)·10 = 7,850" in result.output            # 784·10 weights + 10 biases
    assert "--inputs" not in invoke("calc", "dense", "--help").output     # a hidden alias
    assert invoke("calc", "dense", "--units", "10").exit_code == 2


def test_calc_format_json_gives_integers():
    data = json.loads(invoke("calc", "dense", "--input", "784", "--units", "10", "--format", "json").output)
    layer = data["layers"][0]
    assert (layer["params"], layer["macs"], layer["flops"]) == (7_850, 7_840, 2 * 7_840 + 10)
    conv = json.loads(invoke("calc", "conv", "--input", "227", "--kernel", "11", "--stride", "4", "--in-channels",
                             "3", "--filters", "96", "--format", "json").output)["layers"][0]
    assert conv["output_shape"] == [55, 55, 96] and conv["params"] == (11 * 11 * 3 + 1) * 96
    pool = json.loads(invoke("calc", "pool", "--input", "55", "--kernel", "3", "--stride", "2", "--channels", "96",
                             "--format", "json", "--layout", "channels_first").output)
    assert pool["layers"][0]["output_shape"] == [96, 27, 27]     # (55 − 3)/2 + 1 = 27


# ---- 7. names inside blocks

BLOCK_NAMES = """\
input: [3, 8, 8]
blocks:
  res:
    layers:
      - conv2d: {name: conv1, filters: 3, kernel: 3, padding: 1, activation: relu}
      - conv2d: {name: a, filters: 3, kernel: 1, from: conv1_relu}
      - conv2d: {name: b, filters: 3, kernel: 1, from: conv1}
      - add: {from: [a, b, input]}
layers:
  - conv2d: {name: stem, filters: 3, kernel: 3, padding: 1, activation: relu}
  - conv2d: {name: top_a, filters: 3, kernel: 1, from: stem_relu}
  - conv2d: {name: top_b, filters: 3, kernel: 1, from: stem}
  - res: {name: r, from: top_a}
"""


def test_from_activation_node_name_works_inside_blocks_as_at_top_level():
    import yaml
    graph = load_spec(yaml.safe_load(BLOCK_NAMES))       # a plain dict with blocks: this crashed before, too
    inputs = {node.name: node.inputs for node in graph.nodes}
    assert inputs["r.a"] == inputs["r.b"] == ("r.conv1_relu",)      # both spellings: the activation's output
    assert inputs["top_a"] == inputs["top_b"] == ("stem_relu",)


# ---- 8. messages

def test_options_beside_the_type_key_say_to_indent(write_spec):
    path = write_spec("input: [3, 32, 32]\nlayers:\n  - conv2d:\n    filters: 8\n    kernel: 3\n")
    result = invoke("summarize", path)
    assert result.exit_code == 2
    assert "net.yaml:4" in result.output or "net.yaml:3" in result.output
    assert "filters, kernel are written beside `conv2d:`" in result.output
    assert "fix: indent filters, kernel two more spaces, under `conv2d:`" in result.output


def test_a_block_argument_typo_names_the_block_the_use_and_the_layer_type(write_spec):
    path = write_spec("input: [3, 32, 32]\nblocks:\n  res:\n    args: {filters: null}\n    layers:\n"
                      "      - conv2d: {filters: $filtres, kernel: 3}\nlayers:\n  - res: {filters: 8}\n")
    result = invoke("summarize", path)
    assert "unknown argument '$filtres' in the options of `conv2d` (in block 'res' used at line 8)" in result.output
    assert "did you mean 'filters'?" in result.output


@pytest.mark.parametrize("typed,meant", [("lrelu", "leaky_relu"), ("hswish", "hardswish"),
                                         ("swissh", "silu")])      # swish is silu's other spelling
def test_activation_suggestions_use_every_spelling(write_spec, typed, meant):
    path = write_spec(f"input: [3, 8, 8]\nlayers:\n  - conv2d: {{filters: 4, kernel: 3, activation: {typed}}}\n")
    result = invoke("summarize", path)
    assert result.exit_code == 2 and f"did you mean '{meant}'?" in result.output


def test_a_mistyped_layer_type_suggests_the_canonical_name(write_spec):
    result = invoke("summarize", write_spec("input: [3, 8, 8]\nlayers:\n  - lrelu\n"))
    assert "did you mean 'leaky_relu'?" in result.output


def test_an_empty_spec_points_at_zoo_and_new(write_spec):
    result = invoke("summarize", write_spec(""))
    assert result.exit_code == 2
    assert "archcalc new my_net.yaml" in result.output and "archcalc zoo" in result.output
    assert "specs/" not in result.output


def test_new_writes_a_starter_that_runs_and_refuses_to_overwrite(tmp_path):
    path = tmp_path / "my_net.yaml"
    assert invoke("new", path).exit_code == 0
    data = json.loads(invoke("summarize", path, "--format", "json").output)
    # stem 3·9·32 + 32 = 896; each residual 2·(32·32·9) + 2·(2·32) = 18,560, twice; classifier 33·10 = 330
    assert data["totals"]["params"] == 896 + 2 * 18_560 + 330
    assert data["model"] == "my_net"
    again = invoke("new", path)
    assert again.exit_code == 2 and "already exists" in again.output and "--force" in again.output
    copy = tmp_path / "mine.yaml"
    assert invoke("new", copy, "--from", "lenet5").exit_code == 0
    assert archcalc.analyze(str(copy)).totals.params == 61_706     # LeNet-5, derived in its spec's header
    assert "did you mean 'resnet18'" in invoke("new", tmp_path / "x.yaml", "--from", "resnt18").output


# ---- 9. output that fits the terminal

def widest(text):
    return max(len(line) for line in text.splitlines())


@pytest.fixture
def terminal(monkeypatch):
    """Make the CLI see a terminal on stdout (CliRunner's stdout is not one, as a pipe is not)."""
    monkeypatch.setattr("archcalc.cli.stdout_is_terminal", lambda: True)


@pytest.mark.parametrize("command", [
    ["layers"], ["zoo"], ["summarize", "resnet50", "--rf"],
    ["memory", "resnet50", "--mode", "training", "--optimizer", "adam", "--batch", "64"],
    ["memory", "resnet50", "--mode", "training", "--optimizer", "adam", "--dtype", "fp16", "--mixed-precision"],
    ["memory", "vgg16", "--inplace", "--budget", "8GiB"],
])
def test_tables_fit_an_80_column_terminal_and_wide_or_piped_output_does_not_change(command, monkeypatch):
    # before: layers 189 columns, the memory table 184, summarize --rf warnings 246 characters
    piped = invoke(*command, env={"COLUMNS": "80"}).output       # a pipe, even where a shell exports COLUMNS
    assert widest(piped) > 80
    monkeypatch.setattr("archcalc.cli.stdout_is_terminal", lambda: True)
    fitted = invoke(*command, env={"COLUMNS": "80"})
    assert fitted.exit_code == 0 and widest(fitted.output) <= 80, fitted.output
    assert piped == invoke(*command, "--wide", env={"COLUMNS": "80"}).output


def test_a_fitted_table_says_which_columns_it_left_out(terminal):
    text = invoke("memory", "resnet50", "--mode", "training", env={"COLUMNS": "80"}).output
    assert "(Type, Grads left out to fit 80 columns; --wide shows them)" in text


def test_verify_prints_results_and_its_help_says_what_is_compared():
    pytest.importorskip("torch")
    result = invoke("verify", "mnist_fc")
    assert result.exit_code == 0 and "All agree ✓" in result.output
    assert "Compared:" not in result.output and "FlopCounterMode, which counts only" not in result.output
    assert "What is compared, and how it is measured" in invoke("verify", "--help").output


@pytest.mark.parametrize("n,text", [
    (999, "999 B"), (1000, "1.0 KiB"), (1024, "1.0 KiB"),
    (1_023_948, "999.9 KiB"),                 # 999.95 KiB would round to 1000.0: it is the next unit's
    (1_036_390, "1.0 MiB"),                   # was "1012.1 KiB"
    (1000 * 2**20, "1.0 GiB"), (5 * 2**30, "5.0 GiB"),
])
def test_sizes_switch_units_at_1000_of_the_smaller(n, text):
    assert human_bytes(n) == text
