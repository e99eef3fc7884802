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


@pytest.mark.parametrize("block,what", [("residual", "another spelling of the layer type 'add'"),
                                         ("Conv2D", "a layer type")])
def test_block_named_like_a_layer_type(write_spec, block, what):
    path = write_spec("input: [3, 8, 8]\n"
                      "blocks:\n"
                      "  # a residual block\n"
                      f"  {block}: {{layers: [relu]}}\n"           # line 4
                      "layers:\n"
                      f"  - {block}\n")
    check(fails(path), path, 4, f"block name '{block}' is {what}", "ambiguous", hint=f"'{block}_block'")


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
    ("3x32x32x1x2", "has 5 dimensions"),
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


def test_expression_error_inside_a_block_names_the_layer_and_the_use(write_spec):
    path = write_spec("input: [3, 8, 8]\n"
                      "blocks:\n"
                      "  unit:\n"
                      "    args: {d: 1}\n"
                      "    layers:\n"
                      "      - conv2d: {name: conv, filters: \"${4 // d}\", kernel: 1}\n"     # line 6
                      "layers:\n"
                      "  - unit: {name: u1}\n"
                      "  - unit: {name: u2, d: 0}\n")                                       # line 9
    check(fails(path), path, 6, "layer 'u2.conv'", "division by zero in '4 // d'", "in block 'unit' used at line 9",
          hint="divides by")


@pytest.mark.parametrize("args,expression,wrong", [
    ("{}", "0 ** -1", "division by zero in '0 ** -1'"),
    ("{}", "(-8) ** 0.5", "'(-8) ** 0.5' is not a real number"),
    ("{}", "1e308 ** 2", "'1e308 ** 2' is too large"),
    ("{}", "((((10 ** 60) ** 60) ** 60) ** 60) ** 60", "is too large"),      # would take hours to compute
    ("{a: [1, 2]}", "a + 3", "'a + 3' uses [1, 2], which is not a number"),
    ("{a: hello}", "a * 100000000000", "uses 'hello', which is not a number"),
    ("{a: null}", "a + 1", "uses None, which is not a number"),
    ("{a: {b: 1}}", "a < 1", "uses {'b': 1}, which is not a number"),
])
def test_expression_mistakes_fail_fast(write_spec, args, expression, wrong):
    path = write_spec(f"input: [3, 8, 8]\nargs: {args}\n"
                      f"layers:\n  - conv2d: {{name: c, filters: \"${{{expression}}}\", kernel: 1}}\n")
    start = time.perf_counter()
    output = fails(path)
    assert time.perf_counter() - start < 0.5
    check(output, path, 4, "layer 'c'", wrong)


def test_a_tab_in_the_indentation_is_named(write_spec):
    path = write_spec("input: [3, 8, 8]\nlayers:\n  - conv2d:\n\tfilters: 3\n")        # line 4 starts with a tab
    check(fails(path), path, "4:1", "malformed YAML: a tab character", hint="replace the tab with spaces")


def test_billion_laughs_is_refused_fast(write_spec):
    lines = ["input: [3, 8, 8]", "args:", "  l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    lines += [f"  l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]" for i in range(1, 10)]     # 9^10 values
    path = write_spec("\n".join(lines + ["layers:", "  - conv2d: {filters: 3, kernel: 1, stride: *l9}"]) + "\n")
    start = time.perf_counter()
    output = fails(path)
    assert time.perf_counter() - start < 0.5
    # l9 (line 12) holds its list of 9 lists ... of 9 words: 1 + 9 + 9^2 + ... + 9^10 = (9^11 − 1)/8 values
    check(output, path, "12:7", "aliases (*name) expand this file to", "this one alone holds 3,922,632,451",
          hint="each alias copies its value")


def test_a_long_spec_without_aliases_is_read(write_spec):
    """16,000 layers written out hold 112,000 YAML values, none of them through an alias."""
    entries = "".join(f"  - relu: {{name: r{i}}}\n  - add: {{name: a{i}, from: [r{i}, input]}}\n" for i in range(8000))
    path = write_spec("input: [8]\nlayers:\n" + entries)
    result = CliRunner().invoke(main, ["summarize", str(path), "--format", "json"])
    assert result.exit_code == 0, result.output


def test_lists_nested_too_deep(write_spec):
    path = write_spec("input: [3, 8, 8]\nlayers:\n  - conv2d: {filters: 3, kernel: " + "[" * 300 + "]" * 300 + "}\n")
    check(fails(path), path, 3, "lists and mappings nested more than 50 deep", hint="brackets")


def test_a_block_defined_as_nothing_is_named_as_such(write_spec):
    path = write_spec("input: [3, 8, 8]\nblocks:\n  unit:\nlayers:\n  - unit\n")
    output = fails(path)
    check(output, path, 5, "block 'unit' must have a `layers:` list", hint="layers: [...]")
    assert "unknown layer type" not in output


def test_activation_that_is_another_layer_type(write_spec):
    path = write_spec("input: [3, 8, 8]\nlayers:\n  - conv2d: {name: c, filters: 4, kernel: 3, activation: conv2d}\n")
    output = fails(path)
    check(output, path, 3, "layer 'c'", "unknown activation 'conv2d'", hint="activations: relu, relu6")
    assert "did you mean" not in output


@pytest.mark.parametrize("layers,line,layer,context", [
    ("  - relu: {name: a}\n  - unit: {name: a}\n", 3, "a.relu_1", " (in block 'unit' used at line 6)"),
    ("  - unit: {name: a}\n  - relu: {name: a}\n", 6, "a", ""),
])
def test_a_layer_and_a_block_use_of_one_name(write_spec, layers, line, layer, context):
    path = write_spec("input: [3, 8, 8]\nblocks:\n  unit: [relu]\nlayers:\n" + layers)
    output = fails(path)
    check(output, path, line, f"layer '{layer}': 'a' names both a layer and a block use (whose layers are 'a.…')"
          + context, hint="another `name`")
    assert "two layers" not in output


@pytest.mark.parametrize("name", ['"a b"', '"x\\ny"', '"tab\\there"'])
def test_layer_name_must_be_one_word(write_spec, name):
    path = write_spec(f"input: [3, 8, 8]\nlayers:\n  - relu: {{name: {name}}}\n")
    check(fails(path), path, 3, "layer name must be one word without '.', and not 'input'", hint="name: conv1")


@pytest.mark.parametrize("block", ["a.b", '"a b"', "5"])
def test_block_name_must_be_one_word(write_spec, block):
    path = write_spec(f"input: [3, 8, 8]\nblocks:\n  {block}: [relu]\nlayers:\n  - relu\n")
    check(fails(path), path, 3, "block name must be one word without '.', and not 'input'", hint="bottleneck")


def test_spec_name_must_be_text(write_spec):
    path = write_spec("name: [a, b]\ninput: [3, 8, 8]\nlayers: [relu]\n")
    check(fails(path), path, 1, "`name` must be text, got ['a', 'b']", hint="on the same line")


def test_a_folder_is_not_a_spec(tmp_path):
    output = fails(tmp_path)
    assert output.startswith(f"error: '{tmp_path}' is a folder, not a spec file\n  fix: ")


def test_a_binary_file_is_not_a_spec(tmp_path):
    path = tmp_path / "net.yaml"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\xff")
    output = fails(path)
    assert output.startswith(f"error: {path}: cannot read the spec: byte 1 is not UTF-8 text\n  fix: ")
