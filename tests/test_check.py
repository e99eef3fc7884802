"""`archcalc check`: answers graded, and each single mistake diagnosed from numbers derived by hand."""
from pathlib import Path

import pytest

import archcalc
from archcalc.homework.check import check, check_text, parse_shape_answer
from archcalc.units import parse_count
from archcalc.errors import SpecError
from conftest import cli, run_cli

FIXTURES = Path(__file__).parent / "fixtures"


def verdicts(spec, text, **kwargs):
    return {(v.layer, v.quantity): v for v in check_text(spec, text, **kwargs).verdicts}


def one(spec, text, **kwargs):
    (verdict,) = check_text(spec, text, **kwargs).verdicts
    return verdict


# ---- numbers as students write them

@pytest.mark.parametrize("written,value,right", [
    ("62,378,344", 62_378_344, True),
    (62378344, 62_378_344, True),
    ("62.4M", 62_378_344, True),           # 62.35M … 62.45M
    ("62M", 62_378_344, True),             # 61.5M … 62.5M
    ("62.3M", 62_378_344, False),          # truncated, not rounded
    ("62.38M", 62_378_344, True),
    ("62,378,345", 62_378_344, False),     # exact numbers must be exact
    ("159K", 159_232, True),               # 158.5K … 159.5K
    ("159K", 159_600, False),
    ("1.14G", 1_135_256_096, True),
    ("62 378 344", 62_378_344, True),
    ("6.24e7", 62_378_344, True),          # 6.235e7 … 6.245e7
    ("62,4M", 62_378_344, True),           # decimal comma
])
def test_student_numbers_and_their_precision(written, value, right):
    assert parse_count(written).matches(value) is right


@pytest.mark.parametrize("bad", ["sixty", "62.4Q", True, "1.2.3"])
def test_unreadable_numbers(bad):
    with pytest.raises(ValueError):
        parse_count(bad)


def test_shapes_as_written():
    assert parse_shape_answer("(None, 55, 55, 96)") == (55, 55, 96)
    assert parse_shape_answer("55×55×96") == (55, 55, 96)
    assert parse_shape_answer([55, 55, 96]) == (55, 55, 96)


# ---- the diagnoses, each from hand arithmetic

def test_right_answers_get_a_tick_and_abbreviations_pass():
    result = check_text("alexnet", "layers:\n  conv1: {output_shape: [55, 55, 96], params: 34944}\n"
                                   "  pool1: {output_shape: [27, 27, 96]}\ntotals: {params: 62.4M}\n")
    assert result.ok and len(result.verdicts) == 4


def test_bias_left_out_in_one_layer():
    # 11·11·3·96 = 34,848 instead of (11·11·3 + 1)·96 = 34,944
    v = one("alexnet", "layers:\n  conv1: {params: 34848}\n")
    assert not v.ok and v.correct == "34,944"
    assert v.diagnosis.startswith("bias left out") and "11·11·3·96 = 34,848" in v.diagnosis
    assert v.working == ["params = (F·F·C_in + 1)·K = (11·11·3 + 1)·96 = 34,944"]


def test_bias_left_out_in_every_layer_of_a_kind():
    # mnist_cnn conv biases 32 + 64 + 64 = 160: 93,322 − 160 = 93,162
    v = one("mnist_cnn", "totals: {params: 93162}\n")
    assert "every one of the 3 conv layers" in v.diagnosis and "conv1, conv2, conv3" in v.diagnosis
    assert "(32 + 64 + 64) = 160" in v.diagnosis
    # dense biases 64 + 10 = 74: 93,322 − 74 = 93,248
    assert "2 dense layers" in one("mnist_cnn", "totals: {params: 93248}\n").diagnosis
    # one layer only: conv1's 32 biases, 93,322 − 32 = 93,290
    assert one("mnist_cnn", "totals: {params: 93290}\n").diagnosis == "bias left out in conv1: − 32"


def test_bias_counted_where_there_is_none():
    # resnet50 conv1: 7·7·3·64 = 9,408, no bias; with one per filter 9,472
    v = one("resnet50", "layers:\n  conv1: {params: 9472}\n")
    assert "bias counted, but conv1 has none" in v.diagnosis and "(7·7·3 + 1)·64 = 9,472" in v.diagnosis


def test_padding_forgotten():
    # alexnet conv2 with P = 0: (27 − 5)/1 + 1 = 23
    v = one("alexnet", "layers:\n  conv2: {output_shape: [23, 23, 256]}\n")
    assert v.correct == "27×27×256"
    assert v.diagnosis.startswith("padding forgotten") and "(27 − 5 + 2·0)/1 + 1 = 23" in v.diagnosis


def test_stride_ignored():
    # alexnet conv1 with S = 1: (227 − 11)/1 + 1 = 217; pool1 with S = 1: (55 − 3)/1 + 1 = 53
    assert one("alexnet", "layers:\n  conv1: {output_shape: 217x217x96}\n").diagnosis.startswith("stride ignored")
    assert "(55 − 3 + 2·0)/1 + 1 = 53" in one("alexnet", "layers:\n  pool1: {output_shape: 53x53x96}\n").diagnosis


def test_uneven_input_size_names_the_size_meant():
    # the paper's 224: (224 − 11)/4 + 1 = 54.25, PyTorch gives 54; 55 is what 227 gives
    graph = archcalc.load_spec("alexnet", input_shape=[224, 224, 3])
    v = one(graph, "layers:\n  conv1: {output_shape: [55, 55, 96]}\n")
    assert v.correct == "54×54×96"
    assert "213/4 + 1 = 54.25" in v.diagnosis and "an input of 227 gives" in v.diagnosis
    assert "(227 − 11 + 2·0)/4 + 1 = 55" in v.diagnosis


def test_unrounded_size():
    graph = archcalc.load_spec("alexnet", input_shape=[224, 224, 3])
    # (224 − 11)/4 + 1 = 54.25 written as it is
    v = one(graph, "layers:\n  conv1: {output_shape: [54.25, 54.25, 96]}\n")
    assert v.given == "54.25×54.25×96" and v.diagnosis.startswith("not rounded") and "rounds down to 54×54×96" in v.diagnosis


def test_rounded_up_pooling():
    # mnist_cnn pool2: (11 − 2)/2 + 1 = 5.5 -> 5; rounding up gives 6 (also what an input of 12 gives)
    v = one("mnist_cnn", "layers:\n  pool2: {output_shape: [6, 6, 64]}\n")
    assert "9/2 + 1 = 5.5" in v.diagnosis and "rounding up gives the same" in v.diagnosis


def test_wrong_input_channels():
    # the two-GPU paper's conv2 sees 48 channels: (5·5·48 + 1)·256 = 307,456; one tower has 96
    v = one("alexnet", "layers:\n  conv2: {params: 307456}\n")
    assert "C_in = 48" in v.diagnosis and "has 96" in v.diagnosis and "pool1's output" in v.diagnosis
    # fc6 from a 13·13·256 = 43,264 vector: (43,264 + 1)·4,096 = 177,213,440; the real input is 6·6·256 = 9,216
    v = one("alexnet", "layers:\n  fc6: {params: 177213440}\n")
    assert "n_in = 43264" in v.diagnosis and "has 9216" in v.diagnosis


def test_macs_given_for_flops_and_the_reverse():
    # conv1: MACs 105,415,200; FLOPs 2·105,415,200 + 96·55·55 = 211,120,800
    assert one("alexnet", "layers:\n  conv1: {flops: 105415200}\n").diagnosis.startswith("MACs given where FLOPs")
    assert one("alexnet", "layers:\n  conv1: {macs: 210830400}\n").diagnosis.startswith("FLOPs (2 per MAC)")
    # totals: MACs 1,135,256,096 given as FLOPs
    assert one("alexnet", "totals: {flops: 1.14G}\n").diagnosis.startswith("MACs given where FLOPs")


def test_k_1024():
    # 62,378,344 / 1024² = 59.49: "59.5M" with binary prefixes is 59.5·1,048,576 = 62,390,272
    v = one("alexnet", "totals: {params: 59.5M}\n")
    assert not v.ok and v.diagnosis.startswith("K = 1024") and "62,390,272" in v.diagnosis


def test_grouped_convolution_ignored(write_spec):
    spec = write_spec("input: [32, 8, 8]\nlayers:\n  - conv2d: {name: g, filters: 64, kernel: 3, groups: 4}\n")
    # true: (3·3·(32/4) + 1)·64 = 4,672; ignoring groups: (3·3·32 + 1)·64 = 18,496
    v = one(archcalc.load_spec(spec), "layers:\n  g: {params: 18496}\n")
    assert v.correct == "4,672" and v.diagnosis.startswith("grouped convolution ignored (G = 1 instead of 4)")


def test_batchnorm_statistics_counted_as_trainable():
    # resnet50 bn1: γ, β = 2·64 = 128; with moving mean and variance 4·64 = 256
    v = one("resnet50", "layers:\n  bn1: {params: 256}\n")
    assert v.correct == "128" and v.diagnosis.startswith("batchnorm statistics counted as trainable")
    # batchnorm channels: 64 + layer1 3·(64+64+256)+256 + layer2 4·(128+128+512)+512
    #   + layer3 6·(256+256+1024)+1024 + layer4 3·(512+512+2048)+2048 = 26,560; 2·26,560 = 53,120 statistics
    v = one("resnet50", "totals: {trainable_params: 25610152}\n")
    assert v.correct == "25,557,032" and "53,120" in v.diagnosis
    v = one("resnet50", "totals: {non_trainable_params: 53120}\n")
    assert v.correct == "0" and v.diagnosis.startswith("batchnorm statistics counted as non-trainable")
    # Keras's own counting: 25,557,032 + 53,120 = 25,610,152 params, 53,120 of them non-trainable
    assert check_text("resnet50", "totals: {params: 25610152, non_trainable_params: 53120}\n", keras=True).ok
    # ... and Keras's trainable count is 25,610,152 − 53,120 = 25,557,032: the total given for it is the mistake
    v = one("resnet50", "totals: {trainable_params: 25610152}\n", keras=True)
    assert v.correct == "25,557,032"
    assert v.diagnosis.startswith("non-trainable batchnorm statistics counted as trainable: 53,120 of the total")


def test_error_carried_over_from_an_earlier_answer():
    # conv2 without padding gives 23; pool2 of 23 is (23 − 3)/2 + 1 = 11: right arithmetic, wrong input
    v = verdicts("alexnet", "layers:\n  conv2: {output_shape: 23x23x256}\n  pool2: {output_shape: 11x11x256}\n")
    assert v[("pool2", "output_shape")].diagnosis.startswith("carried over from your earlier answer conv2 = 23×23×256")


def test_channels_in_the_other_order():
    # alexnet is channels_last: 55×55×96; 96×55×55 is the same shape written channels-first
    v = one("alexnet", "layers:\n  conv1: {output_shape: [96, 55, 55]}\n")
    assert v.diagnosis.startswith("right sizes in channels_first order") and v.diagnosis.endswith("55×55×96")
    assert one("alexnet", "layout: channels_first\nlayers:\n  conv1: {output_shape: [96, 55, 55]}\n").ok


def test_no_diagnosis_when_no_single_mistake_explains_it():
    v = one("alexnet", "layers:\n  conv1: {params: 12345}\n")
    assert not v.ok and v.diagnosis == ""


# ---- pasted summaries

@pytest.mark.parametrize("fixture", ["keras2_mnist_cnn.txt", "keras3_mnist_cnn.txt", "torchinfo_mnist_cnn.txt"])
def test_summary_tables_are_read_and_right(fixture):
    result = check("mnist_cnn", FIXTURES / fixture)
    layers = {v.layer for v in result.verdicts if v.layer}
    # Keras folds activation="relu" into its layer; torchinfo lists the ReLU modules as rows too
    relus = {"conv1_relu", "conv2_relu", "conv3_relu", "fc1_relu"} if fixture.startswith("torchinfo") else set()
    assert layers == {"conv1", "pool1", "conv2", "pool2", "conv3", "flatten_1", "fc1", "fc2"} | relus
    assert result.ok, [v for v in result.verdicts if not v.ok]
    assert {v.quantity for v in result.verdicts if v.layer is None} == {"params", "trainable_params",
                                                                       "non_trainable_params"}


def test_keras2_wrapped_cells_and_a_wrong_row(tmp_path):
    text = (FIXTURES / "keras2_mnist_cnn.txt").read_text(encoding="utf-8")
    # conv2d_1 without bias: 3·3·32·64 = 18,432
    wrong = tmp_path / "summary.txt"
    wrong.write_text(text.replace("18496     ", "18432     "), encoding="utf-8")
    result = check("mnist_cnn", wrong)
    (bad,) = [v for v in result.verdicts if not v.ok]
    assert (bad.layer, bad.line) == ("conv2", 10) and bad.diagnosis.startswith("bias left out")


def test_real_torchinfo_table_of_a_nested_model(write_spec):
    pytest.importorskip("torch")
    torchinfo = pytest.importorskip("torchinfo")
    spec = write_spec("""
input: [3, 16, 16]
blocks:
  pair:
    layers:
      - conv2d: {name: conv, filters: 8, kernel: 3, padding: 1, bias: false}
      - batchnorm: {name: bn}
      - relu
layers:
  - pair: {name: stage1}
  - pair: {name: stage2}
  - global_avgpool2d
  - dense: {name: head, units: 4}
""")
    model = archcalc.to_torch(spec)
    table = str(torchinfo.summary(model, input_size=(1, 3, 16, 16), verbose=0))
    path = spec.parent / "table.txt"
    path.write_text(table, encoding="utf-8")
    result = check(spec, path)
    assert result.source == "torchinfo" and result.ok
    # conv 3·3·3·8 = 216, bn 2·8 = 16, conv 3·3·8·8 = 576, bn 16, head (8 + 1)·4 = 36: 860
    assert {v.layer for v in result.verdicts if v.layer} >= {"stage1.conv", "stage1.bn", "stage2.conv", "head"}
    params = {v.layer: v.given for v in result.verdicts if v.quantity == "params" and v.layer}
    assert (params["stage1.conv"], params["stage2.conv"], params["head"]) == ("216", "576", "36")


# ---- the command

def test_cli_exit_status(tmp_path):
    right = tmp_path / "right.yaml"
    right.write_text("totals: {params: 93322}\n", encoding="utf-8")
    wrong = tmp_path / "wrong.yaml"
    wrong.write_text("layers:\n  conv1: {params: 288}\n", encoding="utf-8")
    assert run_cli("check", "mnist_cnn", right).returncode == 0
    result = run_cli("check", "mnist_cnn", wrong)
    # 3·3·1·32 = 288 without the 32 biases
    assert result.returncode == 1 and "✗ conv1 params" in result.stdout and "bias left out" in result.stdout


@pytest.mark.parametrize("text,message,line", [
    ("layers:\n  conv9: {params: 1}\n", "no layer named 'conv9'", 2),
    ("layers:\n  conv1: {params: lots}\n", "cannot read 'lots'", 2),
    ("layers:\n  conv1: {parms: 320}\n", "unknown answer 'parms'", 2),
    ("totals: {params: 93,322}\n", "reads as several keys", 1),
    ("layers:\n  conv1: [320\n", "malformed YAML", 2),   # the line where the unclosed [ opens
    ("layers: {}\n", "no answers to check", 1),
    ("layers:\n  conv1: {params: 320}\n  flatten: {params: 0}\n", "did you mean 'flatten_1'?", 3),
    ("totals:\n  params: 1e999999999999\n", "exponent is out of range", 2),       # 10^(10^12) would never finish
    ("Layer (type)\n=====\nconv2d (Conv2D)   320\n", "no `Output Shape` and `Param #` columns", 1),
    ("  Layer (type)        Param #\n=====\n  conv2d (Conv2D)   320\n", "no `Output Shape`", 1),
    ("Layer (type:depth-idx)\n", "no `Output Shape` and `Param #` columns", 1),
    ("Layer (type)     Output Shape     Param #\n=====\nin (InputLayer)  (None, 28, 28, 1)0\n",
     "no answers to check", 1),
])
def test_bad_answer_files_exit_2_with_file_and_line(tmp_path, text, message, line):
    path = tmp_path / "answers.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(SpecError) as err:
        check("mnist_cnn", path)
    assert message in str(err.value) and err.value.line == line
    result = cli("check", "mnist_cnn", path)
    assert result.returncode == 2 and f"answers.yaml:{line}" in result.stderr and message in result.stderr
    assert "Traceback" not in result.stderr


def test_answers_for_a_block_use_name_its_layers(tmp_path):
    path = tmp_path / "answers.yaml"
    path.write_text("layers:\n  layer1: {params: 1}\n", encoding="utf-8")
    result = cli("check", "resnet18", path)
    assert result.returncode == 2 and f"{path}:2: the spec has no layer named 'layer1'" in result.stderr
    assert "fix: 'layer1' is a block use; name one of its layers: layer1.0.conv1" in result.stderr


def test_binary_answers_file_is_bad_input(tmp_path):
    path = tmp_path / "answers.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n")
    result = cli("check", "mnist_cnn", path)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert (f"error: {path}:1:1: cannot read the answers: byte 1 (0x89) is not UTF-8 text; "
            "this looks like a binary file\n  fix: ") in result.stderr


def test_check_takes_set_and_input_like_the_other_commands(tmp_path):
    # GoogLeNet has 13,004,888 parameters with its two auxiliary heads (torchvision), 6,624,904 without
    answers = tmp_path / "aux.yaml"
    answers.write_text("totals:\n  params: 13,004,888\n")
    assert cli("check", "googlenet", answers, "--set", "aux_logits=true").returncode == 0
    assert cli("check", "googlenet", answers).returncode == 1
    # mnist_cnn on 32×32 instead of 28×28: conv1 (3×3, no padding) gives 30×30×32
    answers.write_text("layers:\n  conv1: {output_shape: [30, 30, 32]}\n")
    assert cli("check", "mnist_cnn", answers, "--input", "32x32x1").returncode == 0
    assert cli("check", "mnist_cnn", answers).returncode == 1
