"""`archcalc compare`: totals side by side, ratios to the first spec, breakdown by layer kind."""
import csv
import io
import json

import pytest

from archcalc.homework.compare import compare
from archcalc.report.homework import comparison
from conftest import run_cli


def test_mnist_cnn_has_22_9_percent_of_the_fc_nets_parameters():
    data = compare(["mnist_fc", "mnist_cnn"])
    fc, cnn = data["models"]
    assert fc["totals"]["params"] == 407_050 and cnn["totals"]["params"] == 93_322
    assert cnn["ratios"]["params"] == pytest.approx(93_322 / 407_050)      # 0.2293
    assert fc["ratios"]["params"] == 1
    # depth: 2 dense vs 3 conv + 2 dense
    assert (fc["totals"]["depth"], cnn["totals"]["depth"]) == (2, 5)
    text = comparison(data)
    assert "mnist_cnn has 22.9% of mnist_fc's parameters: 93,322/407,050" in text


def test_alexnet_dense_layers_hold_94_percent_of_params_but_few_flops():
    kinds = compare(["alexnet"])["models"][0]["by_kind"]
    # fc6 + fc7 + fc8 = 37,752,832 + 16,781,312 + 4,097,000 = 58,631,144 of 62,378,344
    assert kinds["dense"]["params"] == 58_631_144
    assert kinds["dense"]["params_share"] == pytest.approx(58_631_144 / 62_378_344)   # 0.940
    # conv params: 34,944 + 614,656 + 885,120 + 1,327,488 + 884,992 = 3,747,200
    assert kinds["conv"]["params"] == 3_747_200
    assert kinds["dense"]["flops_share"] < 0.06 < 0.9 < kinds["conv"]["flops_share"]


def test_mnist_cnn_breakdown_conv_vs_dense():
    kinds = compare(["mnist_cnn"])["models"][0]["by_kind"]
    # conv 320 + 18,496 + 36,928 = 55,744; dense 36,928 + 650 = 37,578
    assert (kinds["conv"]["params"], kinds["dense"]["params"]) == (55_744, 37_578)
    assert kinds["pool"]["params"] == 0


def test_csv_and_json_carry_the_same_numbers():
    data = compare(["mnist_fc", "mnist_mlp"])
    rows = list(csv.DictReader(io.StringIO(comparison(data, "csv"))))
    mlp_params = next(r for r in rows if r["model"] == "mnist_mlp" and r["group"] == "totals" and r["metric"] == "params")
    # 669,706 / 407,050
    assert int(mlp_params["value"]) == 669_706
    assert float(mlp_params["ratio_to_first"]) == pytest.approx(669_706 / 407_050)
    assert json.loads(comparison(data, "json"))["models"][1]["totals"]["params"] == 669_706


def test_cli_markdown_and_bad_spec():
    result = run_cli("compare", "mnist_fc", "mnist_cnn", "--format", "markdown")
    assert result.returncode == 0, result.stderr
    assert "| Total params" in result.stdout and "[22.9%]" in result.stdout
    bad = run_cli("compare", "mnist_fc", "mnist_cnx")
    assert bad.returncode == 2 and "did you mean 'mnist_cnn'" in bad.stderr


def test_compare_applies_set_to_every_spec():
    out = run_cli("compare", "googlenet", "googlenet", "--set", "aux_logits=true", "--format", "json")
    assert out.returncode == 0, out.stderr
    assert [model["totals"]["params"] for model in json.loads(out.stdout)["models"]] == [13_004_888, 13_004_888]
