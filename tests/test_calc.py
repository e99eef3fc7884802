"""`archcalc calc`: one-layer formulas and small numeric convolutions / poolings, checked by hand."""
import subprocess
import sys

import numpy as np
import pytest

from archcalc.homework.calc import (conv_explanation, conv_values, dense_explanation, pool_explanation, pool_values,
                           read_matrices)
from archcalc.errors import SpecError
from conftest import ROOT, run_cli


def test_conv_formulas_alexnet_conv1():
    layer = conv_explanation(input_size="227", kernel="11", stride="4", in_channels=3, filters=96).layers[0]
    # (227 − 11)/4 + 1 = 55; (11·11·3 + 1)·96 = 34,944; 11·11·3·96·55·55 = 105,415,200
    assert layer.output_shape == (55, 55, 96)
    assert (layer.result("params"), layer.result("MACs")) == (34_944, 105_415_200)


def test_conv_rectangular_input_and_kernel():
    layer = conv_explanation(input_size="32x16", kernel="5x3", padding="1", in_channels=2, filters=4).layers[0]
    # O_h = (32 − 5 + 2)/1 + 1 = 30, O_w = (16 − 3 + 2)/1 + 1 = 16; params (5·3·2 + 1)·4 = 124
    assert layer.output_shape == (30, 16, 4)
    assert layer.result("params") == 124
    assert [s.quantity for s in layer.steps][:2] == ["O_h", "O_w"]


def test_pool_and_dense_formulas():
    pool = pool_explanation(input_size="55", kernel="3", stride="2", channels=96).layers[0]
    # (55 − 3)/2 + 1 = 27; (3·3 − 1)·96·27·27 = 559,872 comparisons
    assert pool.output_shape == (27, 27, 96) and pool.result("params") == 0 and pool.result("FLOPs") == 559_872
    dense = dense_explanation(inputs=9216, units=4096).layers[0]
    # (9216 + 1)·4096
    assert dense.result("params") == 37_752_832 and dense.result("MACs") == 9216 * 4096


def test_cli_conv_prints_the_steps():
    result = run_cli("calc", "conv", "--input", "227x227", "--kernel", "11", "--stride", "4", "--padding", "0",
                     "--in-channels", "3", "--filters", "96")
    assert result.returncode == 0, result.stderr
    assert "(227 − 11 + 2·0)/4 + 1 = 55  →  55×55×96" in result.stdout
    assert "(11·11·3 + 1)·96 = 34,944" in result.stdout
    assert "11·11·3·96·55·55 = 105,415,200" in result.stdout


def test_calc_bad_sizes_are_bad_input():
    result = run_cli("calc", "conv", "--input", "5", "--kernel", "7")
    assert result.returncode == 2 and "kernel 7 is larger than the padded input 5" in result.stderr
    result = run_cli("calc", "pool", "--input", "ab", "--kernel", "2")
    assert result.returncode == 2 and "--input must be a size" in result.stderr


@pytest.mark.parametrize("args,message", [
    (["conv", "--input", "0", "--kernel", "1", "--padding", "1"], "--input must be at least 1, got '0'"),
    (["conv", "--input", "5", "--kernel", "3", "--in-channels", "0"], "--in-channels must be at least 1, got 0"),
    (["pool", "--input", "5", "--kernel", "2", "--channels", "0"], "--channels must be at least 1, got 0"),
    (["pool", "--input", "5", "--kernel", "2", "--channels", "-3"], "--channels must be at least 1, got -3"),
    (["dense", "--input", "0", "--units", "3"], "--input must be at least 1, got 0"),      # --inputs: the same
])
def test_calc_sizes_below_one_are_bad_input(args, message):
    result = run_cli("calc", *args)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert f"error: {message}" in result.stderr and "\n  fix: " in result.stderr


# ---- numeric


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


IMAGE = "1 2 3 4\n5 6 7 8\n9 10 11 12\n13 14 15 16\n"


def test_conv_values_by_hand():
    image = np.arange(1, 17, dtype=float).reshape(4, 4)
    kernel = np.array([[1.0, 0.0], [0.0, -1.0]])
    # each window: top-left − bottom-right = x − (x + 5) = −5, plus bias 1 = −4
    assert conv_values([image], [kernel], bias=1.0).tolist() == [[-4.0] * 3] * 3
    # stride 2, padding 1 on a 3×3 ones kernel over the 4×4 ramp: output 2×2
    # (0,0): window rows −1..1, cols −1..1 -> 1+2+5+6 = 14; (0,1): rows −1..1, cols 1..3 -> 2+3+4+6+7+8 = 30
    # (1,0): rows 1..3, cols −1..1 -> 5+6+9+10+13+14 = 57; (1,1): rows 1..3, cols 1..3 -> 6+7+8+10+11+12+14+15+16 = 99
    ones = np.ones((3, 3))
    assert conv_values([image], [ones], stride="2", padding="1").tolist() == [[14, 30], [57, 99]]


def test_conv_values_two_channels_sum(tmp_path):
    path = write(tmp_path, "x.txt", "1 2\n3 4\n\n10 20\n30 40\n")
    channels = read_matrices(path)
    kernels = [np.array([[1.0]]), np.array([[2.0]])]
    # 1×1 kernels: 1·x + 2·y -> [[21, 42], [63, 84]]
    assert conv_values(channels, kernels).tolist() == [[21, 42], [63, 84]]


def test_max_pool_values_and_routing_mask():
    matrix = np.array([[1, 3, 2, 1], [4, 2, 0, 1], [5, 1, 9, 9], [0, 2, 3, 4]], dtype=float)
    values, mask = pool_values(matrix, kernel="2", stride="2", mode="max")
    # windows: {1,3,4,2} -> 4, {2,1,0,1} -> 2, {5,1,0,2} -> 5, {9,9,3,4} -> 9 (first 9 takes the gradient)
    assert values.tolist() == [[4, 2], [5, 9]]
    assert mask.tolist() == [[0, 0, 1, 0], [1, 0, 0, 0], [1, 0, 1, 0], [0, 0, 0, 0]]


def test_avg_pool_values():
    matrix = np.arange(1, 17, dtype=float).reshape(4, 4)
    values, mask = pool_values(matrix, kernel="2", mode="avg")
    # (1+2+5+6)/4 = 3.5, (3+4+7+8)/4 = 5.5, (9+10+13+14)/4 = 11.5, (11+12+15+16)/4 = 13.5
    assert values.tolist() == [[3.5, 5.5], [11.5, 13.5]] and mask is None


def test_overlapping_max_windows_route_twice():
    # kernel 2, stride 1 over a 2×3 matrix: the 9 is the maximum of both windows, so two gradients reach it
    values, mask = pool_values(np.array([[0, 9, 0], [0, 0, 0]], dtype=float), kernel="2", stride="1")
    assert values.tolist() == [[9, 9]] and mask.tolist() == [[0, 2, 0], [0, 0, 0]]


def test_cli_numeric_pool_and_conv(tmp_path):
    image = write(tmp_path, "m.txt", IMAGE)
    result = run_cli("calc", "pool", "--matrix", image, "--kernel", "2", "--stride", "2", "--mode", "max")
    assert result.returncode == 0, result.stderr
    # maxima 6, 8, 14, 16 at the bottom-right of each window
    assert " 6  8\n  14 16" in result.stdout and "0 1 0 1" in result.stdout
    kernel = write(tmp_path, "k.txt", "1 0\n0 -1\n")
    result = run_cli("calc", "conv", "--matrix", image, "--kernel-matrix", kernel, "--bias", "1")
    assert result.returncode == 0 and "-4 -4 -4" in result.stdout


@pytest.mark.parametrize("text,message,line", [
    ("1 2 3\n4 5\n", "this row has 2 numbers but the matrix's first row (line 1) has 3", 2),
    ("1 2\n3 x\n", "'x' is not a number", 2),
    ("\n\n", "no numbers", 1),
    ("1 nan\n2 3\n", "'nan' is not a number", 1),
    ("1 2\n1e999 3\n", "'1e999' is not a number", 2),
])
def test_bad_matrices(tmp_path, text, message, line):
    path = write(tmp_path, "bad.txt", text)
    with pytest.raises(SpecError) as err:
        read_matrices(path)
    assert message in str(err.value) and err.value.line == line
    result = run_cli("calc", "pool", "--matrix", path, "--kernel", "2")
    assert result.returncode == 2 and f"bad.txt:{line}" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize("args,unused", [
    (["conv", "--matrix", "m.txt", "--kernel-matrix", "k.txt", "--dilation", "2", "--groups", "2"],
     "--dilation and --groups are not used with --matrix"),
    (["conv", "--matrix", "m.txt", "--kernel-matrix", "k.txt", "--filters", "3"],
     "--filters is not used with --matrix"),
    (["pool", "--matrix", "m.txt", "--kernel", "2", "--ceil-mode"], "--ceil-mode is not used with --matrix"),
    (["conv", "--input", "5", "--kernel", "3", "--bias", "2"], "--bias is not used without --matrix"),
])
def test_options_a_mode_would_ignore_are_refused(tmp_path, args, unused):
    write(tmp_path, "m.txt", IMAGE)
    write(tmp_path, "k.txt", "1 0\n0 -1\n")
    result = run_cli("calc", *args, cwd=tmp_path)
    assert result.returncode == 2 and unused in result.stderr and "Traceback" not in result.stderr


def test_binary_matrix_file_is_bad_input(tmp_path):
    path = tmp_path / "m.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n")
    result = run_cli("calc", "pool", "--matrix", path, "--kernel", "2")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert (f"error: {path}:1:1: cannot read the matrix: byte 1 (0x89) is not UTF-8 text; "
            "this looks like a binary file\n  fix: ") in result.stderr


def test_kernel_larger_than_the_input(tmp_path):
    image = write(tmp_path, "m.txt", "1 2\n3 4\n")
    kernel = write(tmp_path, "k.txt", "1 1 1\n1 1 1\n1 1 1\n")
    result = run_cli("calc", "conv", "--matrix", image, "--kernel-matrix", kernel)
    assert result.returncode == 2 and "kernel 3 is larger than the padded input 2" in result.stderr


def test_summarize_does_not_import_numpy():
    code = "import sys, archcalc.cli, archcalc.homework.check, archcalc.homework.calc; print('numpy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert out.stdout.strip() == "False"


def test_numeric_results_equal_pytorch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    channels = [rng.integers(-5, 6, (6, 7)).astype(float) for _ in range(2)]
    kernels = [rng.integers(-2, 3, (3, 2)).astype(float) for _ in range(2)]
    ours = conv_values(channels, kernels, stride="2", padding="1", bias=0.5)
    x = torch.tensor(np.stack(channels))[None]
    w = torch.tensor(np.stack(kernels))[None]
    theirs = torch.nn.functional.conv2d(x, w, torch.tensor([0.5], dtype=torch.float64), stride=2, padding=1)
    assert ours.tolist() == theirs[0, 0].tolist()
    # max pooling: values, and the gradient that flows back equals the routing mask
    matrix = rng.integers(0, 4, (5, 5)).astype(float)          # small integers: many ties
    values, mask = pool_values(matrix, kernel="3", stride="2", padding="1")
    x = torch.tensor(matrix)[None, None].requires_grad_()
    pooled = torch.nn.functional.max_pool2d(x, 3, 2, 1)
    pooled.sum().backward()
    assert values.tolist() == pooled[0, 0].tolist()
    assert mask.tolist() == x.grad[0, 0].int().tolist()
