"""`check` reads Keras summaries as students paste them: Keras 1 and early Keras 2 tables that cut long
cells off, Keras 2 tables that wrap them, Keras 3 box tables, and rows pasted with tabs or single spaces.

The Keras 1 / 2.2 fixtures were written with those versions' print_row rule (documented in
keras/utils/layer_utils.py of Keras 1.2 and 2.2): each cell is cut at its column's end and the cell's
last character overwritten by a space, so `max_pooling2d_1 (MaxPooling2D)` (30 characters) in a
29-character column prints as `max_pooling2d_1 (MaxPooling2`.
"""
from pathlib import Path

import pytest

from archcalc.errors import SpecError
from archcalc.homework.check import check, check_text
from archcalc.homework.summary_parse import parse_summary

FIXTURES = Path(__file__).parent / "fixtures"
# mnist_cnn by hand: conv 3·3·1·32 + 32 = 320, 3·3·32·64 + 64 = 18,496, 3·3·64·64 + 64 = 36,928,
# dense 576·64 + 64 = 36,928, 64·10 + 10 = 650; 93,322 in all
MNIST_CNN_PARAMS = {"conv1": "320", "pool1": "0", "conv2": "18496", "pool2": "0", "conv3": "36928",
                    "flatten_1": "0", "fc1": "36928", "fc2": "650"}


@pytest.mark.parametrize("fixture", ["keras1_mnist_cnn.txt", "keras22_mnist_cnn.txt"])
def test_cut_off_cells_are_completed_and_graded(fixture):
    text = (FIXTURES / fixture).read_text(encoding="utf-8")
    assert "(MaxPooling2 " in text or "maxpooling2d_1 (MaxPooling2D)" in text
    result = check("mnist_cnn", FIXTURES / fixture)
    assert result.ok, [v for v in result.verdicts if not v.ok]
    params = {v.layer: v.given for v in result.verdicts if v.quantity == "params" and v.layer}
    assert params == MNIST_CNN_PARAMS
    shapes = {v.layer: v.given for v in result.verdicts if v.quantity == "output_shape"}
    # (28 − 3)/1 + 1 = 26; 26/2 = 13; 13 − 2 = 11; ⌊11/2⌋ = 5; 5 − 2 = 3; 3·3·64 = 576
    assert shapes["pool1"] == "13×13×32" and shapes["pool2"] == "5×5×64" and shapes["flatten_1"] == "576"


def test_the_cut_type_is_recorded_with_its_completion():
    rows = parse_summary((FIXTURES / "keras22_mnist_cnn.txt").read_text(encoding="utf-8")).rows
    pool = rows[1]
    assert (pool.name, pool.type, pool.cut) == ("max_pooling2d_1", "MaxPooling2D", "MaxPooling2")
    assert rows[0].cut == ""


def test_a_wrong_number_in_a_cut_table_is_diagnosed_on_its_line(tmp_path):
    text = (FIXTURES / "keras22_mnist_cnn.txt").read_text(encoding="utf-8")
    wrong = tmp_path / "summary.txt"
    # conv2d_2 without its 64 biases: 3·3·32·64 = 18,432
    wrong.write_text(text.replace("18496     ", "18432     "), encoding="utf-8")
    (bad,) = [v for v in check("mnist_cnn", wrong).verdicts if not v.ok]
    assert bad.layer == "conv2" and bad.line == 8 and bad.diagnosis.startswith("bias left out")


def test_a_batchnorm_type_cut_in_keras_1(write_spec):
    # Keras 1's 33-character first column: "batchnormalization_1 (BatchNormalization)" is cut to
    # "batchnormalization_1 (BatchNorma" + " "; Keras counts 4·16 = 64 params, 2·16 = 32 non-trainable
    spec = write_spec("input: [8, 8, 3]\nlayout: channels_last\nlayers:\n"
                      "  - conv2d: {name: conv, filters: 16, kernel: 3, bias: false}\n  - batchnorm: {name: bn}\n")
    text = "\n".join([
        "Layer (type)                     Output Shape          Param #     Connected to                     ",
        "=" * 100,
        "convolution2d_1 (Convolution2D)  (None, 6, 6, 16)      432         convolution2d_input_1[0][0]      ",
        "_" * 100,
        "batchnormalization_1 (BatchNorma (None, 6, 6, 16)      64          convolution2d_1[0][0]            ",
        "=" * 100, "Total params: 496", "Trainable params: 464", "Non-trainable params: 32", ""])
    # conv 3·3·3·16 = 432 (no bias); total 432 + 64 = 496, trainable 432 + 32 = 464
    result = check_text(spec, text)
    assert result.ok, [v for v in result.verdicts if not v.ok]
    assert {v.layer for v in result.verdicts if v.layer} == {"conv", "bn"}


def test_an_ambiguous_cut_type_is_named_with_its_candidates():
    text = ("Layer (type)                 Output Shape              Param #   \n" + "=" * 65 + "\n"
            "pool_a (MaxPooling          (None, 13, 13, 32)        0         \n")
    with pytest.raises(SpecError) as info:
        parse_summary(text)
    message = str(info.value)
    assert "'MaxPooling'" in message and "ambiguous" in message
    assert "MaxPooling1D, MaxPooling2D or MaxPooling3D" in message and info.value.line == 3
    assert info.value.hint == "write the type in full, e.g. `pool_a (MaxPooling2D)`"


def test_the_default_layer_name_settles_a_cut_type():
    # "Conv2" could be Conv2D or Conv2DTranspose; the default name conv2d_4 is Keras's name for Conv2D
    text = ("Layer (type)                 Output Shape              Param #   \n" + "=" * 65 + "\n"
            "conv2d_4 (Conv2             (None, 26, 26, 32)        320       \n")
    (row,) = parse_summary(text).rows
    assert row.type == "Conv2D"


def test_rows_pasted_with_tabs():
    text = ("Layer (type)\tOutput Shape\tParam #\n"
            "conv2d (Conv2D)\t(None, 26, 26, 32)\t320\n"
            "max_pooling2d (MaxPooling2D)\t(None, 13, 13, 32)\t0\n"
            "conv2d_1 (Conv2D)\t(None, 11, 11, 64)\t18,496\n"
            "Total params: 93,322\n")
    result = check_text("mnist_cnn", text)
    assert result.source == "keras" and result.ok
    assert [(v.layer, v.quantity) for v in result.verdicts][:3] == [
        ("conv1", "output_shape"), ("conv1", "params"), ("pool1", "output_shape")]


def test_rows_pasted_from_a_pdf_with_single_spaces():
    text = ("Layer (type) Output Shape Param #\n"
            "conv2d_1 (Conv2D) (None, 26, 26, 32) 320\n"
            "max_pooling2d_1 (MaxPooling2 (None, 13, 13, 32) 0\n"
            "conv2d_2 (Conv2D) (None, 11, 11, 64) 18496\n")
    rows = parse_summary(text).rows
    assert [(r.name, r.type, r.shape, r.params) for r in rows] == [
        ("conv2d_1", "Conv2D", "(None, 26, 26, 32)", "320"),
        ("max_pooling2d_1", "MaxPooling2D", "(None, 13, 13, 32)", "0"),
        ("conv2d_2", "Conv2D", "(None, 11, 11, 64)", "18496")]
    assert check_text("mnist_cnn", text).ok


def test_keras3_wrapped_type_cells():
    # Keras 3 puts a long type on the cell's second line: "batch_normalization" / "(BatchNormalization)"
    text = (FIXTURES / "keras3_mnist_cnn.txt").read_text(encoding="utf-8")
    rows = parse_summary(text).rows
    assert all(r.type for r in rows) and rows[1].type == "MaxPooling2D"
