"""`archcalc exercises`: sheets with answer keys, the same sheet for the same seed, and a filled-in
answers file graded by `archcalc check`. Expected answers are worked by hand in the comments."""
import re

import pytest
import yaml

from archcalc.errors import SpecError
from archcalc.homework.check import check_text
from archcalc.homework.exercises import COURSE_MODELS, answers_yaml, make_sheet, sheet_markdown
from conftest import run_cli


def test_same_seed_same_sheet_and_key():
    first, again = make_sheet("alexnet", count=8, seed=11), make_sheet("alexnet", count=8, seed=11)
    assert sheet_markdown(first) == sheet_markdown(again)
    assert sheet_markdown(first, key=True) == sheet_markdown(again, key=True)
    assert answers_yaml(first) == answers_yaml(again)
    assert sheet_markdown(make_sheet("alexnet", count=8, seed=12)) != sheet_markdown(first)


def test_params_questions_have_the_hand_counted_answers():
    # mnist_cnn: conv1 (3·3·1 + 1)·32 = 320, conv2 (3·3·32 + 1)·64 = 18,496, conv3 (3·3·64 + 1)·64 = 36,928,
    # fc1 (576 + 1)·64 = 36,928, fc2 (64 + 1)·10 = 650: five layers with parameters, each asked once
    sheet = make_sheet("mnist_cnn", count=5, seed=0, topics=("params",))
    answers = {e.layer: e.answer for e in sheet.exercises}
    assert answers == {"conv1": 320, "conv2": 18_496, "conv3": 36_928, "fc1": 36_928, "fc2": 650}
    conv2 = next(e for e in sheet.exercises if e.layer == "conv2")
    assert "params = (F·F·C_in + 1)·K = (3·3·32 + 1)·64 = 18,496" in conv2.solution
    assert "takes 13×13×32 (pool1)" in conv2.question


def test_output_size_and_receptive_field_answers():
    # lenet5 (channels_first): conv1 (32 − 5)/1 + 1 = 28 -> 6×28×28; pool1 28/2 = 14; conv2 14 − 4 = 10;
    # pool2 5. Fields: conv1 r = 5; pool1 5 + 1·1 = 6; conv2 6 + 4·2 = 14; pool2 14 + 1·2 = 16
    sizes = make_sheet("lenet5", count=4, seed=3, topics=("output-size",))
    assert {e.layer: e.answer for e in sizes.exercises} == {
        "conv1": (6, 28, 28), "pool1": (6, 14, 14), "conv2": (16, 10, 10), "pool2": (16, 5, 5)}
    fields = make_sheet("lenet5", count=4, seed=3, topics=("receptive-field",))
    assert {e.layer: e.answer for e in fields.exercises} == {"conv1": 5, "pool1": 6, "conv2": 14, "pool2": 16}
    pool2 = next(e for e in fields.exercises if e.layer == "pool2")
    assert pool2.solution[-1] == "pool2: r = 14 + (2 − 1)·2 = 16; j = 2·2 = 4"


def test_pooling_exercises_on_random_4x4_matrices():
    sheet = make_sheet("mnist_cnn", count=6, seed=5, topics=("pooling",))
    assert {e.problem["mode"] for e in sheet.exercises} == {"max", "avg"}
    for exercise in sheet.exercises:
        matrix = exercise.problem["input"]
        assert len(matrix) == 4 and all(len(row) == 4 for row in matrix)
        assert len({v for row in matrix for v in row}) == 16           # distinct: one maximum per window
        # 2×2 windows, stride 2, worked here without archcalc
        blocks = [[[matrix[r][c] for r in (2 * i, 2 * i + 1) for c in (2 * j, 2 * j + 1)] for j in (0, 1)]
                  for i in (0, 1)]
        if exercise.problem["mode"] == "max":
            assert exercise.answer["output"] == [[max(b) for b in row] for row in blocks]
            mask = exercise.answer["mask"]
            maxima = {v for row in blocks for b in row for v in [max(b)]}
            assert sum(map(sum, mask)) == 4
            assert all((mask[r][c] == 1) == (matrix[r][c] in maxima) for r in range(4) for c in range(4))
        else:
            assert exercise.answer["output"] == [[sum(b) / 4 for b in row] for row in blocks]
            assert "mask" not in exercise.answer


def test_the_filled_key_is_graded_right_by_check():
    for seed in range(3):
        sheet = make_sheet("alexnet", count=10, seed=seed)
        result = check_text(sheet.spec, answers_yaml(sheet, filled=True))
        assert result.ok, [v for v in result.verdicts if not v.ok]
        pooled = [e for e in sheet.exercises if e.topic == "pooling"]
        expected = len(sheet.exercises) + sum("mask" in e.answer for e in pooled)
        assert len(result.verdicts) == expected


def test_without_a_spec_a_course_model_is_drawn():
    sheet = make_sheet(count=3, seed=7)
    assert sheet.model in COURSE_MODELS and sheet.spec == sheet.model
    assert make_sheet(count=3, seed=7).model == sheet.model


def test_unknown_topic():
    with pytest.raises(SpecError) as info:
        make_sheet("mnist_cnn", topics=("params", "flops"))
    assert "flops" in str(info.value) and "output-size" in info.value.hint


def test_cli_sheet_filled_in_and_graded(tmp_path):
    sheet, key, answers = tmp_path / "sheet.md", tmp_path / "key.md", tmp_path / "answers.yaml"
    result = run_cli("exercises", "mnist_cnn", "--count", "6", "--seed", "4", "-o", sheet, "--key", key,
                     "--answers", answers)
    assert result.returncode == 0, result.stderr
    assert "**Answer:**" not in sheet.read_text() and "**Answer:**" in key.read_text()
    blank = answers.read_text()
    assert "___" in blank and blank.strip() in sheet.read_text()         # the sheet carries the same blank file
    # a student copies the key's values into the blank file, one wrong on purpose
    filled = yaml.safe_load(re.search(r"```yaml\n(.*?)```", key.read_text(), re.S).group(1))
    student = yaml.safe_load(blank.replace("___", "0"))
    for layer, values in (student.get("layers") or {}).items():
        student["layers"][layer] = dict(filled["layers"][layer])
    for name in student.get("pooling") or {}:
        student["pooling"][name] = dict(filled["pooling"][name])
    (tmp_path / "right.yaml").write_text(yaml.safe_dump(student), encoding="utf-8")
    graded = run_cli("check", "mnist_cnn", tmp_path / "right.yaml")
    assert graded.returncode == 0, graded.stdout + graded.stderr
    first_layer = next(iter(student["layers"]))
    quantity = next(iter(student["layers"][first_layer]))
    student["layers"][first_layer][quantity] = [1, 1, 1] if quantity == "output_shape" else 1
    (tmp_path / "wrong.yaml").write_text(yaml.safe_dump(student), encoding="utf-8")
    graded = run_cli("check", "mnist_cnn", tmp_path / "wrong.yaml")
    assert graded.returncode == 1 and f"✗ {first_layer}" in graded.stdout
    # the blank file as written, unfilled, is bad input with a line number, not a traceback
    unfilled = run_cli("check", "mnist_cnn", answers)
    assert unfilled.returncode == 2 and "___" in unfilled.stderr and "Traceback" not in unfilled.stderr


def test_cli_says_when_the_layers_run_out():
    # mnist_cnn has five layers with parameters (conv1-3, fc1-2): ten params questions cannot be asked
    result = run_cli("exercises", "mnist_cnn", "--topics", "params", "--count", "10")
    assert result.returncode == 0 and result.stdout.count("## ") == 5 + 1       # + the answers section
    assert "note: 5 exercises, not 10" in result.stderr


def test_cli_refuses_an_unknown_topic():
    result = run_cli("exercises", "mnist_cnn", "--topics", "params,flops")
    assert result.returncode == 2 and "unknown topic(s): flops" in result.stderr


def test_html_sheet_and_key(tmp_path):
    sheet, key = tmp_path / "sheet.html", tmp_path / "key.html"
    result = run_cli("exercises", "lenet5", "--count", "4", "--seed", "2", "--format", "html", "-o", sheet,
                     "--key", key)
    assert result.returncode == 0, result.stderr
    page, answers = sheet.read_text(), key.read_text()
    assert page.startswith("<!doctype html>") and "<b>Answer:" not in page and "___" in page
    assert "<b>Answer: " in answers and "http" not in page.split("<body>")[1].split("Written by")[0]
    markdown = run_cli("exercises", "lenet5", "--count", "4", "--seed", "2").stdout
    assert all(f"## {n}. " in markdown for n in range(1, 5)) and page.count("<h3>") == 4 + 1
