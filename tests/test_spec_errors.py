"""Every kind of bad input: exit status 2, no traceback, and a message that names the file, the line,
the layer, what is wrong and how to fix it. Specs are real files run through the CLI."""
import time

import pytest
from click.testing import CliRunner

from archcalc.cli import main


def fails(path, *options):
    """Run `archcalc summarize PATH` and return its error text, checking the exit status and no traceback."""
    result = CliRunner().invoke(main, ["summarize", str(path), *options])
    assert result.exit_code == 2, result.output
    assert isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output
    assert result.output.startswith("error: ")
    return result.output


def check(output, path, line, *fragments, hint=None):
    """The message starts at FILE:LINE, carries every fragment and a fix."""
    assert f"error: {path}:{line}" in output, output
    for fragment in fragments:
        assert fragment in output, output
    assert "\n  fix: " in output, output
    if hint:
        assert hint in output.split("fix: ", 1)[1], output


def test_malformed_yaml_points_at_the_unclosed_brace(write_spec):
    path = write_spec("input: [3, 32, 32]\n"
                      "layers:\n"
                      "  - conv2d: {filters: 8, kernel: 3\n"      # line 3: '}' missing
                      "  - relu\n")
    check(fails(path), path, "3:13", "malformed YAML", "'{' is not closed")


def test_malformed_yaml_bad_indentation(write_spec):
    path = write_spec("input: [3, 32, 32]\n"
                      "layers:\n"
                      "  - conv2d: {filters: 8, kernel: 3}\n"
                      "   - relu\n")                               # line 4: indented one column too far
    check(fails(path), path, 4, "malformed YAML", hint="indentation")


def test_unknown_layer_type_suggests_the_closest(write_spec):
    path = write_spec("input: [3, 32, 32]\nlayers:\n  - conv2d: {filters: 8, kernel: 3}\n  - reluu\n")
    check(fails(path), path, 4, "unknown layer type or block 'reluu'", hint="did you mean 'relu'?")


def test_unknown_layer_type_with_a_scalar(write_spec):
    path = write_spec("input: [3, 32, 32]\nlayers:\n  - denze: 10\n")
    check(fails(path), path, 3, "unknown layer type or block 'denze'", hint="did you mean 'dense'?")


def test_unknown_option_suggests_the_closest(write_spec):
    path = write_spec("input: [3, 32, 32]\n"
                      "layers:\n"
                      "  - conv2d:\n"
                      "      name: c1\n"
                      "      filters: 8\n"
                      "      kernal: 3\n")                           # line 6
    check(fails(path), path, 6, "layer 'c1'", "unknown option 'kernal' for conv2d", hint="did you mean 'kernel'?")


def test_missing_required_option(write_spec):
    path = write_spec("input: [3, 32, 32]\nlayers:\n  - conv2d: {name: c1, filters: 8}\n")
    check(fails(path), path, 3, "layer 'c1'", "conv2d needs kernel", hint="kernel: ...")


@pytest.mark.parametrize("option,value,wrong", [
    ("filters", "eight", "expected an integer, got 'eight'"),
    ("filters", "true", "expected an integer, got True"),
    ("kernel", "[3, 3, 3]", "expected an integer or [height, width], got [3, 3, 3]"),
    ("bias", "1", "expected true or false, got 1"),
    ("padding", "full", "padding must be an integer, [height, width], 'same' or 'valid', got 'full'"),
])
def test_ill_typed_value(write_spec, option, value, wrong):
    options = {"filters": "8", "kernel": "3", option: value}
    text = ", ".join(f"{k}: {v}" for k, v in options.items())
    path = write_spec(f"input: [3, 32, 32]\nlayers:\n  - relu\n  - conv2d: {{name: c2, {text}}}\n")
    check(fails(path), path, 4, "layer 'c2'", f"option '{option}'", wrong, hint=f"{option} takes")


@pytest.mark.parametrize("option,value,minimum", [
    ("filters", 0, 1), ("filters", -3, 1), ("kernel", 0, 1), ("stride", 0, 1), ("groups", 0, 1),
    ("padding", -1, 0), ("dilation", -2, 1),
])
def test_zero_or_negative_sizes(write_spec, option, value, minimum):
    options = {"filters": 8, "kernel": 3, option: value}
    text = ", ".join(f"{k}: {v}" for k, v in options.items())
    path = write_spec(f"input: [3, 32, 32]\nlayers:\n  - conv2d: {{name: c1, {text}}}\n")
    check(fails(path), path, 3, "layer 'c1'", f"must be at least {minimum}, got {value}", hint=">=")


def test_zero_size_input(write_spec):
    path = write_spec("name: t\ninput: [3, 0, 32]\nlayers: [relu]\n")
    check(fails(path), path, 2, "input shape [3, 0, 32] has a size below 1", hint="1 or more")


def test_kernel_larger_than_padded_input(write_spec):
    path = write_spec("input: [3, 8, 8]\n"
                      "layers:\n"
                      "  - conv2d: {name: c1, filters: 4, kernel: 3}\n"     # 8 -> 6
                      "  - conv2d: {name: big, filters: 4, kernel: 7, padding: 0}\n")
    check(fails(path), path, 4, "layer 'big'", "kernel 7 is larger than the padded input 6",
          hint="smaller kernel, add padding")


def test_dense_on_an_unflattened_map(write_spec):
    path = write_spec("input: [3, 8, 8]\nlayers:\n  - conv2d: {name: c1, filters: 4, kernel: 3}\n"
                      "  - dense: {name: fc, units: 10}\n")
    check(fails(path), path, 4, "layer 'fc'", "dense needs a vector", "(4, 6, 6)", hint="flatten")


def test_add_of_different_shapes(write_spec):
    path = write_spec("input: [3, 8, 8]\n"
                      "layers:\n"
                      "  - conv2d: {name: a, filters: 4, kernel: 3}\n"
                      "  - conv2d: {name: b, filters: 8, kernel: 3, from: input}\n"
                      "  - add: {name: sum, from: [a, b]}\n")
    check(fails(path), path, 5, "layer 'sum'", "add needs inputs of one shape", "(4, 6, 6) and (8, 6, 6)",
          hint="1×1 conv2d")


def test_concat_of_different_spatial_sizes(write_spec):
    path = write_spec("input: [3, 8, 8]\n"
                      "layers:\n"
                      "  - conv2d: {name: a, filters: 4, kernel: 3}\n"
                      "  - conv2d: {name: b, filters: 8, kernel: 1, from: input}\n"
                      "  - concat: {name: cat, from: [a, b]}\n")
    check(fails(path), path, 5, "layer 'cat'", "spatial sizes must match", "(4, 6, 6) and (8, 8, 8)",
          hint="same height and width")


def test_reference_to_a_missing_layer(write_spec):
    path = write_spec("input: [3, 8, 8]\nlayers:\n  - conv2d: {name: conv_a, filters: 4, kernel: 3}\n"
                      "  - relu: {name: r, from: conv_b}\n")
    check(fails(path), path, 4, "layer 'r'", "`from` refers to 'conv_b', which is not an earlier layer",
          hint="did you mean 'conv_a'?")


def test_reference_to_a_later_layer(write_spec):
    path = write_spec("input: [3, 8, 8]\nlayers:\n  - relu: {name: r1, from: r2}\n  - relu: {name: r2}\n")
    check(fails(path), path, 3, "layer 'r1'", "'r2', which is not an earlier layer")


def test_reference_to_a_missing_block(write_spec):
    path = write_spec("input: [3, 8, 8]\n"
                      "blocks:\n"
                      "  bottleneck: {args: {w: null}, layers: [{conv2d: {filters: $w, kernel: 1}}]}\n"
                      "layers:\n"
                      "  - botleneck: {name: stage1, w: 4}\n")
    check(fails(path), path, 5, "layer 'stage1'", "unknown layer type or block 'botleneck'",
          hint="did you mean 'bottleneck'?")


def test_block_that_uses_itself(write_spec):
    path = write_spec("input: [3, 8, 8]\n"
                      "blocks:\n"
                      "  a: {layers: [relu, b]}\n"
                      "  b: {layers: [relu, a]}\n"                     # line 4: b uses a, closing the loop
                      "layers:\n"
                      "  - a: {name: x}\n")
    check(fails(path), path, 4, "block 'a' uses itself (a → b → a)", "x.b_1.a_1", hint="cannot contain itself")


def test_absurd_expansion_fails_fast(write_spec):
    blocks = "".join(f"  b{i}: {{layers: [{', '.join([f'b{i - 1}'] * 10)}]}}\n" for i in range(1, 7))
    path = write_spec("input: [3, 8, 8]\n"
                      "blocks:\n"
                      "  b0: {layers: [relu, relu, relu, relu, relu, relu, relu, relu, relu, relu]}\n"
                      + blocks +                                      # lines 4-9: 10 uses of the one before
                      "layers:\n"
                      "  - b6: {name: huge, repeat: 1000}\n")          # line 11: 10^10 layers
    start = time.perf_counter()
    output = fails(path)
    assert time.perf_counter() - start < 0.5
    check(output, path, 11, "layer 'huge'", "past archcalc's limit of 100,000", hint="repeat counts")


def test_absurd_repeat_fails_fast(write_spec):
    path = write_spec("input: [3, 8, 8]\nlayers:\n  - relu: {name: r, repeat: 100000000}\n")
    start = time.perf_counter()
    output = fails(path)
    assert time.perf_counter() - start < 0.5
    check(output, path, 3, "layer 'r'", "repeat 100000000 would expand past 100,000 layers")


def test_strict_turns_an_uneven_division_into_an_error(write_spec):
    path = write_spec("input: [3, 9, 9]\nlayers:\n  - relu\n  - conv2d: {name: c1, filters: 4, kernel: 2, stride: 2}\n")
    result = CliRunner().invoke(main, ["summarize", str(path)])
    assert result.exit_code == 0 and "4.5 is not an integer" in result.output     # a warning without --strict
    # (9 − 2 + 0)/2 + 1 = 4.5; 8 and 10 divide evenly
    check(fails(path, "--strict"), path, 4, "layer 'c1'", "7/2 + 1 = 4.5 is not an integer", "(--strict)",
          hint="8 or 10")


def test_duplicate_layer_names(write_spec):
    path = write_spec("input: [3, 8, 8]\nlayers:\n  - conv2d: {name: c1, filters: 4, kernel: 3}\n"
                      "  - relu: {name: c1}\n")
    check(fails(path), path, 4, "layer 'c1'", "two layers are named 'c1'", hint="another `name`")


def test_duplicate_yaml_key(write_spec):
    path = write_spec("input: [3, 8, 8]\nlayers:\n  - conv2d: {name: c1, filters: 4, kernel: 3, filters: 8}\n")
    check(fails(path), path, 3, "duplicate key 'filters'", hint="appear once")


@pytest.mark.parametrize("value,wrong", [
    ("abc", "got 'abc'"),
    ("3x32", "has 2 dimensions"),
    ("3x32x32x1", "has 4 dimensions"),
    ("0x32x32", "has a size below 1"),
])
def test_bad_input_option(write_spec, value, wrong):
    path = write_spec("input: [3, 8, 8]\nlayers: [relu]\n")
    output = fails(path, "--input", value)
    assert output.startswith("error: --input shape")
    assert wrong in output and "\n  fix: " in output


def test_input_option_too_small_for_the_network(write_spec):
    path = write_spec("input: [3, 8, 8]\nlayers:\n  - conv2d: {name: c1, filters: 4, kernel: 5}\n")
    check(fails(path, "--input", "3x4x4"), path, 3, "layer 'c1'", "kernel 5 is larger than the padded input 4")


def test_error_inside_a_block_names_the_use(write_spec):
    path = write_spec("input: [3, 8, 8]\n"
                      "blocks:\n"
                      "  unit:\n"
                      "    args: {f: null}\n"
                      "    layers:\n"
                      "      - conv2d: {name: conv, filters: $f, kernel: 3}\n"    # line 6
                      "layers:\n"
                      "  - unit: {name: u1, f: 4}\n"
                      "  - unit: {name: u2, f: 0}\n")                             # line 9
    check(fails(path), path, 6, "layer 'u2.conv'", "must be at least 1, got 0", "in block 'unit' used at line 9")


def test_missing_spec_file_or_zoo_name():
    result = CliRunner().invoke(main, ["summarize", "alexnt"])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "no spec file or built-in spec named 'alexnt'" in result.output
    assert "did you mean 'alexnet'?" in result.output


@pytest.mark.parametrize("key,value,shown,hint", [
    ("when", "3", "got 3", "when: true / false"),
    ("trainable", "maybe", "got 'maybe'", "trainable: false"),
])
def test_entry_flags_must_be_true_or_false(write_spec, key, value, shown, hint):
    path = write_spec(f"input: [3, 8, 8]\nlayers:\n  - conv2d: {{name: c, filters: 4, kernel: 3, {key}: {value}}}\n")
    check(fails(path), path, 3, f"`{key}` must be true or false", shown, hint=hint)
