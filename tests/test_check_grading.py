"""Sharper grading: diagnoses that state what is true, rounding named, binary prefixes only when they
explain a number better than rounding, partial credit, and answers for another input size.
Every expected number is worked by hand in the comment above it."""
from fractions import Fraction

import pytest

from archcalc.errors import SpecError
from archcalc.homework.check import check_text
from archcalc.report.homework import check_report
from conftest import run_cli


def one(spec, text, **kwargs):
    (verdict,) = check_text(spec, text, **kwargs).verdicts
    return verdict


def test_16m_for_fc7_is_the_count_without_bias_read_in_binary():
    # AlexNet fc7: 4,096·4,096 = 16,777,216 weights, + 4,096 biases = 16,781,312.
    # 16M with M = 1,024² is 16·1,048,576 = 16,777,216 exactly: the count without bias;
    # rounding the true count down would land 781,312 away, the binary reading of the no-bias count 0 away.
    v = one("alexnet", "layers:\n  fc7: {params: 16M}\n")
    assert not v.ok and v.correct == "16,781,312"
    assert v.diagnosis == ("16M, reading M as 1,024², matches 16,777,216 = 4096·4096, the count without bias; "
                           "with bias it is 16,781,312")
    assert "which is" not in v.diagnosis and v.credit == ""       # the formula is wrong: no partial credit


def test_102_7m_for_vgg16_fc6_is_named_as_rounded_down():
    # VGG16 fc6: 25,088·4,096 + 4,096 = 102,760,448 + 4,096 = 102,764,544 = 102.764544M: rounded, 102.8M
    v = one("vgg16", "layers:\n  fc6: {params: 102.7M}\n")
    assert not v.ok
    assert v.diagnosis == "102.7M is 102,764,544 rounded down; rounded it is 102.8M"
    assert v.credit == "rounding"


def test_rounded_up_is_named_too():
    # AlexNet conv2: (5·5·96 + 1)·256 = 614,656 = 0.614656M: 0.61M is right (0.605M … 0.615M);
    # 0.62M is it rounded up at the second decimal
    assert one("alexnet", "layers:\n  conv2: {params: 0.61M}\n").ok
    v = one("alexnet", "layers:\n  conv2: {params: 0.62M}\n")
    assert v.diagnosis == "0.62M is 614,656 rounded up; rounded it is 0.61M" and v.credit == "rounding"


def test_rounding_in_scientific_notation():
    # 62,378,344 = 6.2378344e7: two decimals rounded is 6.24e7 (right); 6.23e7 is it cut off
    assert one("alexnet", "totals: {params: 6.24e7}\n").ok
    v = one("alexnet", "totals: {params: 6.23e7}\n")
    assert v.diagnosis == "6.23e7 is 62,378,344 rounded down; rounded it is 6.24e7" and v.credit == "rounding"


def test_binary_prefix_of_the_right_count_is_wrong_units():
    # 62,378,344 / 1,048,576 = 59.489…: "59.5M" read with M = 1,024² is 59.5·1,048,576 = 62,390,272,
    # within half a unit (0.05·1,048,576 = 52,428.8) of 62,378,344. Rounding 62.378M never gives 59.5M.
    v = one("alexnet", "totals: {params: 59.5M}\n")
    assert v.diagnosis.startswith("K = 1024: 59.5M read with binary prefixes (M = 1,024²) is 62,390,272")
    assert v.diagnosis.endswith("so 62,378,344 is 62.4M") and "which is" not in v.diagnosis
    assert v.credit == "units"


def test_binary_reading_is_not_offered_when_rounding_explains_better():
    # AlexNet total 62,378,344: "62.3M" is the count cut off (62.378 -> 62.3), 78,344 away;
    # read in binary 62.3M is 62.3·1,048,576 = 65,326,284.8, far outside 0.05·1,048,576: rounding it is.
    v = one("alexnet", "totals: {params: 62.3M}\n")
    assert v.diagnosis == "62.3M is 62,378,344 rounded down; rounded it is 62.4M"
    assert "1024" not in v.diagnosis


def test_one_slipped_digit_is_right_formula_wrong_arithmetic():
    # conv1: (11·11·3 + 1)·96 = 34,944; 34,844 differs only in the hundreds digit
    v = one("alexnet", "layers:\n  conv1: {params: 34844}\n")
    assert v.diagnosis.startswith("only the hundreds digit differs from the right count 34,944")
    assert v.credit == "arithmetic"
    # 34,494: the 9 and the 4 of 34,944 swapped
    assert one("alexnet", "layers:\n  conv1: {params: 34494}\n").credit == "arithmetic"
    # 12,345 is neither: no diagnosis, no credit
    v = one("alexnet", "layers:\n  conv1: {params: 12345}\n")
    assert (v.diagnosis, v.credit) == ("", "")


def test_macs_for_flops_is_right_count_wrong_units():
    # conv1 MACs: 11·11·3·96·55·55 = 105,415,200; given as FLOPs it is the MAC count
    v = one("alexnet", "layers:\n  conv1: {flops: 105415200}\n")
    assert v.diagnosis.startswith("MACs given where FLOPs were asked") and v.credit == "units"


def test_score_counts_half_for_partial_credit():
    # conv1 params right (1); conv4 (3·3·384 + 1)·384 = 1,327,488 written 1.32M, cut off instead of
    # rounded to 1.33M (½; without bias, 1,327,104, is no closer to 1.32M); conv2 without bias (0:
    # 5·5·96·256 = 614,400)
    result = check_text("alexnet", "layers:\n  conv1: {params: 34944}\n  conv4: {params: 1.32M}\n"
                                   "  conv2: {params: 614400}\n")
    assert [v.score for v in result.verdicts] == [1, Fraction(1, 2), 0]
    assert result.score == Fraction(3, 2)
    report = check_report(result)
    assert "partial credit: right count, wrong rounding" in report
    assert "1 of 3 answers right." in report and "score 1.5 of 3" in report


def test_carried_over_and_swapped_order_get_partial_credit():
    # conv2 written 23×23×256 (padding forgotten, 27 − 5 + 1 = 23): pool2's (23 − 3)/2 + 1 = 11 is right
    # for that input, carried over; the right 13×13×256 in channels_first order is 256×13×13
    result = check_text("alexnet", "layers:\n  conv2: {output_shape: [23, 23, 256]}\n"
                                   "  pool2: {output_shape: [11, 11, 256]}\n  pool5: {output_shape: [256, 6, 6]}\n")
    conv2, pool2, pool5 = result.verdicts
    assert conv2.credit == "" and conv2.diagnosis.startswith("padding forgotten")
    assert pool2.credit == "carried" and pool2.diagnosis.startswith("carried over")
    assert pool5.credit == "order" and pool5.score == Fraction(1, 2)


# ---- another input size: --input, --set and the answers' input: key

def test_input_key_grades_alexnet_at_224():
    # at 224: (224 − 11)/4 + 1 = 54.25 -> 54 (floor); at the spec's 227: (227 − 11)/4 + 1 = 55
    right = check_text("alexnet", "input: [224, 224, 3]\nlayers:\n  conv1: {output_shape: [54, 54, 96]}\n")
    assert right.ok
    wrong = one("alexnet", "layers:\n  conv1: {output_shape: [54, 54, 96]}\n")
    assert not wrong.ok and wrong.correct == "55×55×96"


def test_input_option_and_the_key_must_agree():
    assert check_text("alexnet", "layers:\n  conv1: {output_shape: [54, 54, 96]}\n", input_shape="224x224x3").ok
    with pytest.raises(SpecError) as info:
        check_text("alexnet", "input: 224x224x3\nlayers:\n  conv1: {output_shape: [54, 54, 96]}\n",
                   input_shape="200x200x3")
    assert "the answers are for input 224x224x3" in str(info.value) and info.value.line == 1


def test_set_changes_a_spec_argument(write_spec):
    spec = write_spec("args: {width: 8}\ninput: [1, 10, 10]\nlayers:\n  - conv2d: {name: c, filters: $width, kernel: 3}\n")
    # width 16: (3·3·1 + 1)·16 = 160; the default 8 gives 80
    assert check_text(spec, "layers:\n  c: {params: 160}\n", args={"width": 16}).ok
    assert not check_text(spec, "layers:\n  c: {params: 160}\n").ok


def test_cli_check_with_input_and_set(tmp_path, write_spec):
    answers = tmp_path / "answers.yaml"
    answers.write_text("layers:\n  conv1: {output_shape: 54x54x96}\n", encoding="utf-8")
    assert run_cli("check", "alexnet", answers).returncode == 1
    assert run_cli("check", "alexnet", answers, "--input", "224x224x3").returncode == 0
    keyed = tmp_path / "keyed.yaml"
    keyed.write_text("input: [224, 224, 3]\nlayers:\n  conv1: {output_shape: 54x54x96}\n", encoding="utf-8")
    result = run_cli("check", "alexnet", keyed)
    assert result.returncode == 0, result.stdout + result.stderr
    bad = tmp_path / "bad.yaml"
    bad.write_text("input: [224, 224]\nlayers:\n  conv1: {params: 1}\n", encoding="utf-8")
    result = run_cli("check", "alexnet", bad)
    assert result.returncode == 2 and "Traceback" not in result.stderr


# ---- receptive fields and numeric pooling

def test_receptive_field_answers():
    # mnist_cnn: conv1 r = 1 + 2·1 = 3, j 1; pool1 r = 3 + 1·1 = 4, j 2; conv2 r = 4 + 2·2 = 8, j 2;
    # pool2 r = 8 + 1·2 = 10, j 4; conv3 r = 10 + 2·4 = 18
    result = check_text("mnist_cnn", "layers:\n  conv3: {receptive_field: 18}\n  pool2: {rf: [10, 10]}\n")
    assert result.ok
    v = one("mnist_cnn", "layers:\n  conv3: {receptive_field: 10}\n")
    assert v.diagnosis.startswith("that is the receptive field of this layer's input, r_in = 10×10")
    assert v.working == ["r = r_in + (k − 1)·j_in = 10 + (3 − 1)·4 = 18"]


MATRIX = "[[1, 3, 2, 4], [5, 7, 6, 8], [9, 11, 10, 12], [13, 15, 14, 16]]"


def test_pooling_exercises_graded_numerically():
    # 2×2 windows, stride 2: maxima 7, 8, 15, 16 at (1,1), (1,3), (3,1), (3,3) (0-based rows/cols);
    # averages (1+3+5+7)/4 = 4, (2+4+6+8)/4 = 5, (9+11+13+15)/4 = 12, (10+12+14+16)/4 = 13
    text = (f"pooling:\n  a: {{input: {MATRIX}, kernel: 2, stride: 2, mode: max, output: [[7, 8], [15, 16]],\n"
            "      mask: [[0, 0, 0, 0], [0, 1, 0, 1], [0, 0, 0, 0], [0, 1, 0, 1]]}\n"
            f"  b: {{input: {MATRIX}, kernel: 2, mode: avg, output: [[4, 5], [12, 13]]}}\n")
    result = check_text("mnist_cnn", text)
    assert result.ok and [v.quantity for v in result.verdicts] == ["pool_output", "pool_mask", "pool_output"]
    v = one("mnist_cnn", f"pooling:\n  b: {{input: {MATRIX}, kernel: 2, mode: avg, output: [[7, 8], [15, 16]]}}\n")
    assert not v.ok and v.correct == "[[4, 5], [12, 13]]"
    assert v.diagnosis == "these are the window maxima; average pooling keeps each window's mean"


def test_pooling_answers_must_be_matrices():
    with pytest.raises(SpecError) as info:
        check_text("mnist_cnn", f"pooling:\n  a:\n    input: {MATRIX}\n    kernel: 2\n    output: lots\n")
    assert "must be a matrix" in str(info.value) and info.value.line == 5
