"""The hostile-input corpus (issue 14): every case is one test. A bad input exits with status 2 and one
message that names its place (`file:line`, or the option or output file at fault), never a traceback,
within 1 s of CPU time and 200 MB of Python allocations. Large inputs are generated here, in tmp_path.

Each case is (id, files, command, expected): `files` maps a file name to its text (str), its bytes, or
a function of the tmp folder; `{name}` in the command is that file's path; `expected` is the text that
must follow "error: " (with `{name}` expanded), or None for a run that must succeed (exit 0).
"""
import os
import sys
import time
import tracemalloc
from pathlib import Path

import pytest
from click.testing import CliRunner

from archcalc.cli import main
from conftest import ROOT

# Bounds that tell a refusal from a hang or an expansion, not a benchmark: the worst case refused here
# (20,002 entries expanded, then the refusal) takes 0.6-0.75 s of CPU under tracemalloc here (measured with two cores busy);
# expanding what it refuses would take minutes and gigabytes. 3 s leaves room for a loaded 2-core CI machine.
CPU_SECONDS = 3.0
PEAK_BYTES = 200 * 2**20
FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(autouse=True)
def own_state(tmp_path, monkeypatch):
    """The record of archcalc's own outputs lives in tmp_path, so tests never see a user's."""
    monkeypatch.setenv("ARCHCALC_STATE_DIR", str(tmp_path / "state"))


def spec(*layers, top="", blocks=""):
    return "input: [3, 32, 32]\n" + top + (f"blocks:\n{blocks}" if blocks else "") + "layers:\n" + \
        "".join(f"  - {layer}\n" for layer in layers)


def in_block(expression):
    """A spec whose block `b` (line 5) computes a conv's filters with `expression`; used at line 8."""
    return ("input: [3, 32, 32]\n"
            "blocks:\n"
            "  b:\n"
            "    args: {k: 2}\n"
            f"    layers: [{{conv2d: {{filters: '${{{expression}}}', kernel: 3, name: c}}}}]\n"
            "layers:\n"
            "  - relu\n"
            "  - b\n")


LAUGHS = "".join(f"{x}: &{x} [{', '.join([f'*{p}'] * 9) if p else ', '.join(['lol'] * 9)}]\n"
                 for p, x in zip(["", *"abcdefgh"], "abcdefghi"))      # *i expands to 9^9 = 387,420,489 strings


def laughs(where):
    """A billion-laughs document (lines 1-9) whose last alias is used at `where` (line 11 or later)."""
    return LAUGHS + "input: [3, 32, 32]\n" + where


def block_chain(n):
    """n blocks, each using the next: b0 -> b1 -> ... -> b{n-1}."""
    lines = ["input: [3, 32, 32]", "blocks:"]
    for i in range(n):
        lines.append(f"  b{i}: {{layers: [{'relu' if i == n - 1 else f'b{i + 1}'}]}}")
    return "\n".join(lines + ["layers: [b0]", ""])


SKIPPED_REPEATS = ("input: [3, 32, 32]\n"
                   "blocks:\n"
                   "  inner: {args: {active: false}, layers: [{relu: {when: $active}}]}\n"
                   "  outer: {args: {n: 1}, layers: [{inner: {repeat: $n}}]}\n"
                   "layers:\n"
                   "  - relu\n"
                   "  - outer: {n: 60000, repeat: 100}\n")   # 6,000,000 skipped entries, no layer added


def sparse(size):
    def make(folder):
        path = folder / "big.yaml"
        with open(path, "wb") as handle:
            handle.truncate(size)
        return path
    return make


def long_text(folder):
    """A 5 MiB spec: a description of 5 million characters."""
    path = folder / "long.yaml"
    path.write_text("input: [3, 32, 32]\nlayers: [relu]\ndescription: " + "x" * (5 * 2**20) + "\n")
    return path


KERAS_MNIST = (FIXTURES / "keras2_mnist_cnn.txt").read_text(encoding="utf-8")
KERAS_HEADER_ONLY = "\n".join(KERAS_MNIST.splitlines()[:4]) + "\n"

CASES = [
    # ---- numbers in YAML
    ("int-5000-digits", {"net.yaml": spec("conv2d: {filters: 1" + "0" * 5000 + ", kernel: 3}")},
     ["summarize", "{net.yaml}"], "{net.yaml}:3:23: an integer written with 5,001 characters"),
    ("int-10-pow-400", {"net.yaml": spec("conv2d: {filters: 1" + "0" * 400 + ", kernel: 3}")},
     ["summarize", "{net.yaml}"], "{net.yaml}:3:23: an integer written with 401 characters"),
    ("int-10-pow-30", {"net.yaml": spec("conv2d: {filters: 1" + "0" * 30 + ", kernel: 3}")},
     ["summarize", "{net.yaml}"], "{net.yaml}:3:23: the integer 1000000000000000000000000000000 is too large"),
    ("int-2-pow-63-input", {"net.yaml": "input: [3, 9223372036854775808, 32]\nlayers: [relu]\n"},
     ["summarize", "{net.yaml}"], "{net.yaml}:1:12: the integer 9223372036854775808 is too large"),
    ("rate-nan", {"net.yaml": spec("relu", "dropout: {rate: .nan}")},
     ["summarize", "{net.yaml}"], "{net.yaml}:4:21: '.nan' is not a finite number"),
    ("eps-inf", {"net.yaml": spec("batchnorm: {eps: .inf}")},
     ["summarize", "{net.yaml}"], "{net.yaml}:3:22: '.inf' is not a finite number"),
    ("float-1e999", {"net.yaml": spec("dropout: {rate: 1.0e+999}")},
     ["summarize", "{net.yaml}"], "{net.yaml}:3:21: '1.0e+999' is not a finite number"),
    ("set-5000-digits", {}, ["summarize", "googlenet", "--set", "aux_logits=" + "9" * 5000],
     "--set aux_logits: cannot read the value: an integer written with 5,000 characters"),
    # ---- expressions: every arithmetic failure at its file, line and layer
    ("expr-zero-pow-negative", {"net.yaml": in_block("0 ** -1")}, ["summarize", "{net.yaml}"],
     "{net.yaml}:5: layer 'b_1.c': division by zero in '0 ** -1'"),
    ("expr-float-overflow", {"net.yaml": in_block("1e300 ** 2")}, ["summarize", "{net.yaml}"],
     "{net.yaml}:5: layer 'b_1.c': '1e300 ** 2' is too large"),
    ("expr-huge-true-division", {"net.yaml": in_block("(10**64)**7 / 3")}, ["summarize", "{net.yaml}"],
     "{net.yaml}:5: layer 'b_1.c': '(10**64)**7 / 3' is too large"),
    ("expr-complex", {"net.yaml": in_block("(-1) ** 0.5 < 1")}, ["summarize", "{net.yaml}"],
     "{net.yaml}:5: layer 'b_1.c': '(-1) ** 0.5 < 1' is not a real number"),
    ("expr-tower-of-powers", {"net.yaml": in_block("(((10**64)**64)**64)**64")}, ["summarize", "{net.yaml}"],
     "{net.yaml}:5: layer 'b_1.c': '(((10**64)**64)**64)**64' is too large"),
    ("expr-exponent-65", {"net.yaml": in_block("2 ** 65")}, ["summarize", "{net.yaml}"],
     "{net.yaml}:5: layer 'b_1.c': exponent too large in '2 ** 65'"),
    ("expr-100000-terms", {"net.yaml": in_block("+".join(["1"] * 100_000))}, ["summarize", "{net.yaml}"],
     "{net.yaml}:5: layer 'b_1.c': an expression of 199,999 characters"),
    ("expr-50000-unary", {"net.yaml": in_block("-" * 50_000 + "1")}, ["summarize", "{net.yaml}"],
     "{net.yaml}:5: layer 'b_1.c': an expression of 50,001 characters"),
    ("expr-deep-under-length-limit", {"net.yaml": in_block("-" * 150 + "k")}, ["summarize", "{net.yaml}"],
     "{net.yaml}:5: layer 'b_1.c': the expression '-----"),
    ("expr-unknown-argument-unnamed-layer",
     {"net.yaml": "input: [3, 32, 32]\nblocks:\n  b:\n    layers: [{conv2d: {filters: $width, kernel: 3}}]\n"
                  "layers: [b]\n"},
     ["summarize", "{net.yaml}"], "{net.yaml}:4: layer 'b_1.conv2d_1': unknown argument '$width' in the options of `conv2d`"),
    ("expr-nan-from-inf", {"net.yaml": in_block("1e308 * 10 - 1e308 * 10")}, ["summarize", "{net.yaml}"],
     "{net.yaml}:5: layer 'b_1.c': '1e308 * 10 - 1e308 * 10' is too large"),
    # ---- blocks
    ("block-argument-mapping",
     {"net.yaml": "input: [3, 32, 32]\nblocks:\n  b:\n    args: {k: 3}\n    layers: [{conv2d: {filters: 4, "
                  "kernel: $k}}]\nlayers:\n  - b: {k: {}}\n"},
     ["summarize", "{net.yaml}"], "{net.yaml}:5: layer 'b_1.conv2d_1': option 'kernel'"),
    ("block-argument-mapping-in-expression",
     {"net.yaml": "input: [3, 32, 32]\nblocks:\n  b:\n    args: {k: 3}\n    layers: [{conv2d: {filters: '${k * 2}', "
                  "kernel: 3}}]\nlayers:\n  - b: {k: {a: 1}}\n"},
     ["summarize", "{net.yaml}"], "{net.yaml}:5: layer 'b_1.conv2d_1': 'k * 2' uses {'a': 1}, which is not a number"),
    ("block-argument-named-on",
     {"net.yaml": "input: [3, 32, 32]\nblocks:\n  b: {args: {on: false}, layers: [{relu: {when: $on}}]}\n"
                  "layers: [relu, b]\n"},
     ["summarize", "{net.yaml}"], "{net.yaml}:3: an argument of block 'b' is named on/yes/true, which YAML reads"),
    ("block-argument-given-as-on",
     {"net.yaml": "input: [3, 32, 32]\nblocks:\n  b: {args: {k: 1}, layers: [relu]}\nlayers: [{b: {on: 1}}]\n"},
     ["summarize", "{net.yaml}"], "{net.yaml}:4: layer 'b_1': block 'b' has no argument 'True'"),
    ("block-chain-2000", {"net.yaml": block_chain(2000)}, ["summarize", "{net.yaml}"],
     "{net.yaml}:2003: blocks use blocks more than 32 deep (b0 → b1 → b2 → … → b31 → b32)"),
    ("block-chain-33", {"net.yaml": block_chain(34)}, ["summarize", "{net.yaml}"],
     "{net.yaml}:37: blocks use blocks more than 32 deep"),
    ("skipped-repeats-through-arguments", {"net.yaml": SKIPPED_REPEATS}, ["summarize", "{net.yaml}"],
     "{net.yaml}:4: block 'inner' repeated 60000 times would expand to up to 6,000,000 layers"),
    ("skipped-repeats-first-differs",
     {"net.yaml": SKIPPED_REPEATS.replace("{n: 60000, repeat: 100}", "{n: 1, repeat: 3, first: {n: 90000}}")
      .replace("  - relu\n", "  - relu: {repeat: 20000}\n")},
     ["summarize", "{net.yaml}"], "{net.yaml}:4: block 'inner' repeated 90000 times would expand to up to 90,000 "
                                  "layers after the 20,002 entries expanded so far"),
    ("only-layer-skipped-summarize", {"net.yaml": spec("relu: {when: false}")}, ["summarize", "{net.yaml}"],
     "{net.yaml}:2: every layer is skipped (`when: false`)"),
    ("only-layer-skipped-memory", {"net.yaml": spec("relu: {when: false}")}, ["memory", "{net.yaml}"],
     "{net.yaml}:2: every layer is skipped (`when: false`)"),
    # ---- YAML aliases: refused while counting, before anything is expanded
    ("laughs-description", {"net.yaml": laughs("layers: [relu]\ndescription: *i\n")}, ["summarize", "{net.yaml}"],
     "{net.yaml}:9:4: aliases (*name) expand this file to"),
    ("laughs-input", {"net.yaml": LAUGHS + "input: *i\nlayers: [relu]\n"}, ["summarize", "{net.yaml}"],
     "{net.yaml}:9:4: aliases (*name) expand this file to"),
    ("laughs-kernel", {"net.yaml": laughs("layers: [{conv2d: {filters: 2, kernel: *i}}]\n")},
     ["summarize", "{net.yaml}"], "{net.yaml}:9:4: aliases"),
    ("laughs-option", {"net.yaml": laughs("layers: [{dropout: {rate: *i}}]\n")}, ["summarize", "{net.yaml}"],
     "{net.yaml}:9:4: aliases"),
    ("laughs-name", {"net.yaml": laughs("layers: [{relu: {name: *i}}]\n")}, ["summarize", "{net.yaml}"],
     "{net.yaml}:9:4: aliases"),
    ("laughs-from", {"net.yaml": laughs("layers: [relu, {add: {from: *i}}]\n")}, ["summarize", "{net.yaml}"],
     "{net.yaml}:9:4: aliases"),
    ("laughs-block-argument",
     {"net.yaml": laughs("blocks: {b: {args: {k: 1}, layers: [relu]}}\nlayers: [{b: {k: *i}}]\n")},
     ["summarize", "{net.yaml}"], "{net.yaml}:9:4: aliases"),
    ("laughs-layer-list", {"net.yaml": laughs("layers: *i\n")}, ["summarize", "{net.yaml}"],
     "{net.yaml}:9:4: aliases"),
    ("laughs-answers", {"answers.yaml": LAUGHS + "totals: {params: *i}\n"}, ["check", "lenet5", "{answers.yaml}"],
     "{answers.yaml}:9:4: aliases"),
    ("nesting-100000", {"net.yaml": "input: [3, 32, 32]\nlayers: [relu]\ndescription: " + "[" * 100_000
                        + "]" * 100_000 + "\n"},
     ["summarize", "{net.yaml}"], "{net.yaml}:3:"),
    ("nesting-60-blocks", {"net.yaml": "input: [3, 32, 32]\nlayers: [relu]\nargs: {a: " + "[" * 60 + "]" * 60
                           + "}\n"},
     ["summarize", "{net.yaml}"], "{net.yaml}:3:"),
    ("long-value-quoted-in-message", {"net.yaml": spec("conv2d: {filters: 3, kernel: 3, activation: " + "q" * 100_000
                                                       + "}")},
     ["summarize", "{net.yaml}"], "{net.yaml}:3: layer 'conv2d_1': unknown activation 'qqqq"),   # cut to one screen
    ("long-input-option", {}, ["summarize", "alexnet", "--input", "3x" + "a" * 5000],
     "--input shape must be a list of integers such as [3, 224, 224], got '3xaaaaaaaaaa...aaaaaaaaaaaaa'"),
    # ---- sizes and loops
    ("file-50-mb", {"big.yaml": sparse(50 * 2**20)}, ["summarize", "{big.yaml}"],
     "{big.yaml}: the spec is 52,428,800 bytes, more than archcalc reads (4,194,304 bytes)"),
    ("file-5-mib", {"long.yaml": long_text}, ["summarize", "{long.yaml}"],
     "{long.yaml}: the spec is 5,242,928 bytes, more than archcalc reads"),
    ("answers-50-mb", {"big.yaml": sparse(50 * 2**20)}, ["check", "lenet5", "{big.yaml}"],
     "{big.yaml}: the answers is 52,428,800 bytes"),
    ("adaptive-output-1e8", {"net.yaml": spec("adaptive_avgpool2d: 100000000")}, ["summarize", "{net.yaml}"],
     "{net.yaml}:3: layer 'adaptive_avgpool2d_1': option 'output': (100000000, 100000000) is larger"),
    ("repeat-past-limit", {"net.yaml": spec("relu: {repeat: 100001}")}, ["summarize", "{net.yaml}"],
     "{net.yaml}:3: repeat 100001 would expand past 100,000 layers"),
    ("budget-1e400", {}, ["memory", "alexnet", "--budget", "1e400"],
     "the memory budget '1e400' is out of range"),
    ("budget-1e400-out-of-range", {}, ["memory", "alexnet", "--budget", "1e40GiB"],
     "the memory budget '1e40GiB' is out of range"),
    # ---- encodings and characters
    ("utf16-without-bom", {"net.yaml": spec("relu").encode("utf-16-le")}, ["summarize", "{net.yaml}"],
     "{net.yaml}:1:2: cannot read the spec: it holds NUL bytes between its characters, as UTF-16"),
    ("invalid-utf8-line-3", {"net.yaml": b"input: [3, 32, 32]\nlayers:\n  - relu \xff\n"},
     ["summarize", "{net.yaml}"], "{net.yaml}:3:10: cannot read the spec: byte 0xff is not UTF-8"),
    ("latin1", {"net.yaml": "input: [3, 32, 32]\nname: café\nlayers: [relu]\n".encode("latin-1")},
     ["summarize", "{net.yaml}"], "{net.yaml}:2:10: cannot read the spec: byte 0xe9 is not UTF-8"),
    ("utf16-bom-then-garbage", {"net.yaml": b"\xff\xfe" + "input: [3]\n".encode("utf-16-le") + b"\x00\xd8"},
     ["summarize", "{net.yaml}"], "{net.yaml}:2:2: cannot read the spec: is not valid UTF-16-LE text"),
    ("nul-character", {"net.yaml": "input: [3, 32, 32]\nlayers:\n  - relu\n  - re\x00lu\n"},
     ["summarize", "{net.yaml}"], "{net.yaml}:4:7: the spec holds a NUL character"),
    ("control-character", {"net.yaml": "input: [3, 32, 32]\nlayers:\n  - re\x07lu\n"},
     ["summarize", "{net.yaml}"], "{net.yaml}:3:7: malformed YAML: control characters are not allowed"),
    ("nul-in-answers", {"answers.yaml": "totals:\n  params: 1\x00\n"}, ["check", "lenet5", "{answers.yaml}"],
     "{answers.yaml}:2:12: the answers holds a NUL character"),
    ("latin1-matrix", {"m.txt": "1 2\n3 4 é\n".encode("latin-1"), "k.txt": "1\n"},
     ["calc", "conv", "--matrix", "{m.txt}", "--kernel-matrix", "{k.txt}"],
     "{m.txt}:2:5: cannot read the matrix: byte 0xe9 is not UTF-8"),
    # ---- check: answer files and pasted tables
    ("check-header-without-rows", {"table.txt": KERAS_HEADER_ONLY}, ["check", "mnist_cnn", "{table.txt}"],
     "{table.txt}:3: the table has a header but no layer rows"),
    ("check-shape-1e999999", {"answers.yaml": "layers:\n  conv1: {output_shape: '1e999999x26x32'}\n"},
     ["check", "mnist_cnn", "{answers.yaml}"],
     "{answers.yaml}:2: 'conv1' output_shape: '1e999999x26x32' has a size of 2^63 or more"),
    ("check-params-1e999999999", {"answers.yaml": "totals:\n  params: 1e999999999\n"},
     ["check", "mnist_cnn", "{answers.yaml}"], "{answers.yaml}:2: totals params: cannot read '1e999999999'"),
    ("check-params-5000-digits", {"answers.yaml": "totals:\n  params: '" + "9" * 5000 + "'\n"},
     ["check", "mnist_cnn", "{answers.yaml}"], "{answers.yaml}:2: totals params: cannot read"),
    ("check-params-1e30", {"answers.yaml": "totals:\n  params: 1e30\n"},
     ["check", "mnist_cnn", "{answers.yaml}"], "{answers.yaml}:2: totals params: '1e30' is 2^63 or more"),
    ("check-table-for-another-model", {"table.txt": KERAS_MNIST}, ["check", "alexnet", "{table.txt}"],
     "{table.txt}:3: this table is for another model: its 5 layer(s) with weights (3 conv2d, 2 dense)"),
    ("check-answers-for-another-model",
     {"answers.yaml": "layers:\n  conv1: {params: 320}\n  conv2: {params: 18496}\n  fc1: {params: 36928}\n"
                      "  fc2: {params: 650}\n"},
     ["check", "vgg16", "{answers.yaml}"],
     "{answers.yaml}:2: these answers are for another model: 4 of their 4 layer names are not in vgg16"),
    # ---- calc
    ("calc-matrix-channels", {"m.txt": "1 2 3\n4 5 6\n7 8 9\n", "k.txt": "1 0\n0 1\n\n1 1\n1 1\n"},
     ["calc", "conv", "--matrix", "{m.txt}", "--kernel-matrix", "{k.txt}"],
     "{m.txt}: the input has 1 channel(s) but the kernel has 2 matrix(es)"),
    ("calc-matrix-kernel-too-large", {"m.txt": "1 2\n3 4\n"}, ["calc", "pool", "--matrix", "{m.txt}", "--kernel", "3"],
     "{m.txt}: kernel 3 is larger than the padded input 2"),
    ("calc-matrix-huge-padding", {"m.txt": "1 2\n3 4\n", "k.txt": "1 1 1\n1 1 1\n1 1 1\n"},
     ["calc", "conv", "--matrix", "{m.txt}", "--kernel-matrix", "{k.txt}", "--padding", "100000"],
     "{m.txt}: numeric mode works on matrices up to 2048 per side"),
    ("calc-matrix-number-too-long", {"m.txt": "1 " + "9" * 400 + "\n"},
     ["calc", "pool", "--matrix", "{m.txt}", "--kernel", "1"], "{m.txt}:1: "),
    # ---- verify refuses tensors torch cannot hold, before importing torch
    ("verify-meta-huge-weights", {"net.yaml": "input: [1073741824]\nlayers:\n  - dense: 1099511627776\n"},
     ["verify", "--meta", "{net.yaml}"],     # 2^30 inputs · 2^40 units = 2^70 weights
     "{net.yaml}:3: layer 'dense_1': this layer's weights would hold about 2^70 elements"),
    ("verify-meta-huge-batch", {"net.yaml": "input: [1073741824]\nlayers:\n  - relu\n"},
     ["verify", "--meta", "--batch", "1099511627776", "{net.yaml}"],     # 2^40 · 2^30 = 2^70 outputs
     "{net.yaml}:3: layer 'relu_1': this layer's output would hold about 2^70 elements"),
    ("huge-output-elements", {"net.yaml": spec("conv2d: {filters: 4611686018427387904, kernel: 3}")},
     ["summarize", "{net.yaml}"],          # 2^62 filters · 30 · 30 outputs each: about 2^71
     "{net.yaml}:3: layer 'conv2d_1': this layer's output has about 2^71 elements"),
    ("conv-transpose-growth", {"net.yaml": spec(*["conv_transpose2d: {filters: 3, kernel: 2, stride: 1048576}"] * 40)},
     # per axis (N - 1)·S + K: 31·2^20 + 2 = 32,505,858, so 3·32,505,858² ≈ 2^51.5 elements pass; then
     # 32,505,857·2^20 + 2 ≈ 3.41e13 per axis, 3·(3.41e13)² ≈ 3.5e27 ≈ 2^91.5: refused at the second
     ["summarize", "{net.yaml}"],
     "{net.yaml}:4: layer 'conv_transpose2d_2': this layer's output has about 2^91 elements"),
    # ---- runs that must succeed quickly
    ("stride-100000000", {"net.yaml": spec("maxpool2d: {kernel: 3, stride: 100000000}")},
     ["summarize", "{net.yaml}"], None),
    ("utf8-bom", {"net.yaml": b"\xef\xbb\xbf" + spec("relu").encode()}, ["summarize", "{net.yaml}"], None),
    ("utf16-bom", {"net.yaml": spec("relu").encode("utf-16")}, ["summarize", "{net.yaml}"], None),
]


def materialise(files, folder):
    paths = {}
    for name, content in files.items():
        if callable(content):
            paths[name] = content(folder)
            continue
        path = folder / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
        paths[name] = path
    return paths


def expand(text, paths):
    for name, path in paths.items():
        text = text.replace("{" + name + "}", str(path))
    return text


def measured(args):
    """Run the CLI in this process: (result, CPU seconds, peak bytes Python allocated)."""
    tracemalloc.start()
    start = time.process_time()
    try:
        result = CliRunner().invoke(main, args)
    finally:
        seconds = time.process_time() - start
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    return result, seconds, peak


@pytest.mark.parametrize("files,command,expected", [case[1:] for case in CASES], ids=[case[0] for case in CASES])
def test_case(tmp_path, files, command, expected):
    paths = materialise(files, tmp_path)
    result, seconds, peak = measured([expand(word, paths) for word in command])
    assert "Traceback" not in result.output
    if expected is None:
        assert result.exit_code == 0, result.output
    else:
        assert result.exit_code == 2, result.output
        assert isinstance(result.exception, SystemExit), repr(result.exception)
        assert result.output.startswith("error: " + expand(expected, paths)), result.output[:600]
        assert result.output.count("error:") == 1
        assert len(result.output) < 2000, result.output[:600]      # one message, not a dump
    assert seconds < CPU_SECONDS, f"{seconds:.2f} s of CPU"
    assert peak < PEAK_BYTES, f"{peak / 2**20:.0f} MB"


def test_corpus_ids_are_unique():
    ids = [case[0] for case in CASES]
    assert len(ids) == len(set(ids))


# ---- output files: never replaced silently, never an input, written whole

def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def refused(result, text):
    assert result.exit_code == 2 and isinstance(result.exception, SystemExit), result.output
    assert "Traceback" not in result.output and result.output.startswith("error: "), result.output
    assert text in result.output, result.output


@pytest.fixture
def my_spec(tmp_path):
    path = tmp_path / "my.yaml"
    path.write_text((ROOT / "specs" / "lenet5.yaml").read_text(encoding="utf-8"), encoding="utf-8")
    return path


def test_summarize_over_its_own_spec_is_refused_even_with_force(my_spec):
    before = my_spec.read_bytes()
    for extra in ((), ("--force",)):
        refused(invoke("summarize", my_spec, "-o", my_spec, *extra),
                f"cannot write '{my_spec}': it is an input of this command")
    assert my_spec.read_bytes() == before


def test_check_over_its_answers_is_refused(tmp_path):
    answers = tmp_path / "answers.yaml"
    answers.write_text("totals: {params: 61706}\n")      # lenet5: 61,706 params
    refused(invoke("check", "lenet5", answers, "-o", answers), "it is an input of this command")
    assert answers.read_text() == "totals: {params: 61706}\n"


def test_calc_over_its_matrix_is_refused(tmp_path):
    matrix = tmp_path / "image.txt"
    matrix.write_text("1 2\n3 4\n")
    refused(invoke("calc", "pool", "--matrix", matrix, "--kernel", "2", "-o", matrix), "it is an input")
    assert matrix.read_text() == "1 2\n3 4\n"


@pytest.mark.parametrize("command", [
    ["summarize", "lenet5"], ["zoo"], ["layers"], ["schema"], ["diagram", "lenet5"], ["explain", "lenet5"],
    ["memory", "lenet5"], ["conventions", "lenet5"], ["compare", "lenet5", "alexnet"],
    ["calc", "dense", "--inputs", "3", "--units", "2"], ["calc", "conv", "--input", "5", "--kernel", "3"],
    ["calc", "pool", "--input", "4", "--kernel", "2"],
])
def test_an_existing_file_is_replaced_only_when_archcalc_wrote_it(tmp_path, command):
    target = tmp_path / ("notes.svg" if command[0] == "diagram" else "notes.txt")
    target.write_text("my notes\n")
    refused(invoke(*command, "-o", target), f"'{target}' exists and was not written by `archcalc ")
    assert target.read_text() == "my notes\n"
    assert invoke(*command, "-o", target, "--force").exit_code == 0      # --force replaces it
    first = target.read_text()
    assert first != "my notes\n"
    assert invoke(*command, "-o", target).exit_code == 0                 # its own output: rewritten
    assert target.read_text() == first
    with open(target, "a") as handle:
        handle.write("edited\n")                                          # changed since: not ours any more
    refused(invoke(*command, "-o", target), "exists and was not written by")
    assert target.read_text().endswith("edited\n")


def test_another_commands_output_is_not_replaced(tmp_path):
    target = tmp_path / "out.txt"
    assert invoke("summarize", "lenet5", "-o", target).exit_code == 0
    refused(invoke("explain", "lenet5", "-o", target), "was not written by `archcalc explain`")


def test_images_follow_the_same_rule(tmp_path):
    pytest.importorskip("matplotlib")
    chart = tmp_path / "chart.png"
    chart.write_bytes(b"my photo")
    refused(invoke("plot", "lenet5", "-o", chart), "exists and was not written by `archcalc plot`")
    refused(invoke("compare", "lenet5", "alexnet", "--plot", "-o", chart),
            "exists and was not written by `archcalc compare --plot`")
    assert chart.read_bytes() == b"my photo"
    assert invoke("plot", "lenet5", "-o", chart, "--force").exit_code == 0
    assert chart.read_bytes().startswith(b"\x89PNG")
    assert invoke("plot", "lenet5", "-o", chart).exit_code == 0


def test_write_goes_through_a_temporary_file(tmp_path, monkeypatch):
    """A run interrupted while writing leaves the old file whole, and no temporary file behind."""
    from archcalc import output
    target = tmp_path / "out.txt"
    assert invoke("summarize", "lenet5", "-o", target).exit_code == 0
    before = target.read_bytes()

    def full_disk(path, content):
        with open(path, "wb") as handle:
            handle.write(b"half")
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(output, "_fill", full_disk)
    refused(invoke("summarize", "alexnet", "-o", target), f"cannot write '{target}': No space left on device")
    assert "the disk is full" in invoke("summarize", "alexnet", "-o", target).output
    assert target.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.txt", "state"]


@pytest.mark.parametrize("where,message", [
    ("missing/out.txt", "No such file or directory"),
    ("afile/out.txt", "Not a directory"),
    ("x" * 300 + ".txt", "File name too long"),
])
def test_unwritable_targets(tmp_path, where, message):
    (tmp_path / "afile").write_text("")
    result = invoke("summarize", "lenet5", "-o", tmp_path / where)
    refused(result, message)
    assert result.output.count("error:") == 1


def test_a_folder_is_not_a_target(tmp_path):
    result = invoke("summarize", "lenet5", "-o", tmp_path)     # click's own check: one message, exit 2
    assert result.exit_code == 2 and "is a directory" in result.output and "Traceback" not in result.output


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_a_full_device_is_one_message():
    refused(invoke("summarize", "lenet5", "-o", "/dev/full"), "cannot write '/dev/full': No space left on device")


def test_devices_are_written_in_place(tmp_path):
    assert invoke("summarize", "lenet5", "-o", os.devnull).exit_code == 0


def test_the_permissions_of_a_replaced_file_are_kept(tmp_path):
    target = tmp_path / "out.txt"
    assert invoke("summarize", "lenet5", "-o", target).exit_code == 0
    target.chmod(0o640)
    assert invoke("summarize", "lenet5", "-o", target).exit_code == 0
    assert target.stat().st_mode & 0o777 == 0o640


# ---- optional extras missing: one message naming the extra, exit 2 (a fresh interpreter without them)

BLOCKED = ("import sys\nfor name in {modules!r}:\n    sys.modules[name] = None\n"
           "from archcalc.cli import main\nsys.argv[0] = 'archcalc'\nmain()\n")


def without(modules, *args, cwd=None):
    import subprocess
    return subprocess.run([sys.executable, "-c", BLOCKED.format(modules=modules), *map(str, args)],
                          capture_output=True, text=True, timeout=120, cwd=cwd)


@pytest.mark.parametrize("command,extra", [
    (["verify", "lenet5"], "torch"),
    (["export-torch", "lenet5"], "torch"),
    (["from-torch", "tests.torch_models:resnet50", "--input", "3x224x224"], "torch"),
    (["plot", "lenet5", "-o", "{tmp}/chart.png"], "plot"),
    (["compare", "lenet5", "alexnet", "--plot", "-o", "{tmp}/cmp.png"], "plot"),
])
def test_missing_extra_is_named(tmp_path, command, extra):
    blocked = ["torch"] if extra == "torch" else ["matplotlib"]
    result = without(blocked, *[c.replace("{tmp}", str(tmp_path)) for c in command], cwd=ROOT)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert f"pip install 'archcalc[{extra}]'" in result.stderr, result.stderr
    assert "cannot import" not in result.stderr          # never blamed on the user's module


# ---- from-torch: its own message, not torch.fx's traceback

def test_from_torch_failure_prints_no_shapeprop_traceback(tmp_path):
    pytest.importorskip("torch")
    (tmp_path / "badnet.py").write_text(
        "from torch import nn\n\n\nclass Net(nn.Module):\n    def __init__(self):\n        super().__init__()\n"
        "        self.fc = nn.Linear(10, 5)\n\n    def forward(self, x):\n        return self.fc(x)\n")
    from conftest import run_cli
    result = run_cli("from-torch", "badnet:Net", "--input", "3x32x32", cwd=tmp_path,
                     env={**os.environ, "ARCHCALC_STATE_DIR": str(tmp_path / "state")})
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr and "ShapeProp" not in result.stderr, result.stderr
    # 3·32·32 = 3072 inputs per row of 32 columns... the Linear takes 10 features: torch's own words
    assert "error: Net does not run on an input of shape (3, 32, 32): mat1 and mat2" in result.stderr
    assert len(result.stderr.splitlines()) == 2          # the message and its fix


def test_from_torch_does_not_replace_a_users_spec(tmp_path):
    pytest.importorskip("torch")
    mine = tmp_path / "my.yaml"
    mine.write_text("my own spec\n")
    result = invoke("from-torch", "tests.torch_models:resnet50", "--input", "3x224x224", "-o", mine)
    refused(result, "exists and was not written by `archcalc from-torch`")
    assert mine.read_text() == "my own spec\n"


def test_export_torch_errors_name_file_line_and_layer(tmp_path):
    pytest.importorskip("torch")
    path = tmp_path / "net.yaml"
    path.write_text("input: [3, 8, 8]\nlayers:\n  - relu\n  - conv2d: {filters: 4, kernel: 30}\n")
    refused(invoke("export-torch", path), f"error: {path}:4: layer 'conv2d_1': kernel 30 is larger")
    path.write_text("input: [1073741824]\nlayers:\n  - dense: 1099511627776\n")     # 2^70 weights: 2^72 bytes
    refused(invoke("export-torch", path), f"error: {path}:3: layer 'dense_1': PyTorch cannot build this layer")


# ---- the arithmetic that replaced input-driven loops

def test_even_padding_is_the_smallest_that_divides():
    """_even_padding solves 2d = -r (mod S); the oracle is the search it replaced, over small windows."""
    import itertools

    from archcalc.layers.shapes import Window, _even_padding
    for n, k, s, p, d in itertools.product(range(1, 12), range(1, 6), range(1, 9), range(0, 4), range(1, 3)):
        w = Window(n, k, s, p, p, d)
        search = next((q for q in range(p, p + s + 1) if (n + 2 * q - w.effective_kernel) % s == 0), None)
        assert _even_padding(w) == search, (n, k, s, p, d)


def test_even_padding_for_a_huge_stride_is_immediate():
    from archcalc.layers.shapes import Window, _even_padding
    # N=33, F=3, P=0, S=10^8+1 (odd): 30 + 2p = 0 (mod S); S - 30 is odd, so the smallest even multiple
    # is 2S - 30: p = S - 15 = 99,999,986
    start = time.process_time()
    assert _even_padding(Window(33, 3, 10**8 + 1, 0, 0)) == 99_999_986
    # S even, 29 + 2p odd: no padding divides evenly
    assert _even_padding(Window(32, 3, 10**8, 0, 0)) is None
    assert time.process_time() - start < 0.01


def test_write_output_from_python(tmp_path, monkeypatch):
    """The writer is a library function: the same rules without the CLI."""
    from archcalc.errors import SpecError
    from archcalc.output import write_output
    target = tmp_path / "report.txt"
    write_output(target, "one\n", kind="summarize")
    write_output(target, "two\n", kind="summarize")                      # its own output
    with pytest.raises(SpecError, match="was not written by `archcalc explain`"):
        write_output(target, "three\n", kind="explain")
    spec_file = tmp_path / "net.yaml"
    spec_file.write_text("input: [3]\n")
    with pytest.raises(SpecError, match="it is an input of this command"):
        write_output(spec_file, "x", kind="summarize", inputs=[str(spec_file)], force=True)
    assert target.read_text() == "two\n" and spec_file.read_text() == "input: [3]\n"
