"""`archcalc plot`: real PNG and SVG files whose pixels show the bars and bubbles."""
import sys
import xml.etree.ElementTree as ET

import numpy as np
import pytest
from click.testing import CliRunner

import archcalc
from archcalc.cli import main
from archcalc.report.plots import KIND_COLOURS, bubble_area, plot_comparison
from conftest import run_cli

image = pytest.importorskip("matplotlib.image")


def rgb(hex_colour):
    return np.array([int(hex_colour[i:i + 2], 16) / 255 for i in (1, 3, 5)])


def share_of(pixels, colour, tolerance=0.02):
    """Fraction of the image's pixels within `tolerance` of `colour` in every channel."""
    return float(np.mean(np.all(np.abs(pixels[..., :3] - colour) < tolerance, axis=-1)))


def distinct_colours(pixels):
    return len(np.unique((pixels[..., :3] * 255).astype(np.uint8).reshape(-1, 3), axis=0))


@pytest.fixture(scope="module")
def layer_charts(tmp_path_factory):
    folder = tmp_path_factory.mktemp("plots")
    charts = {}
    for name in ("mnist_cnn", "resnet50"):
        path = folder / f"{name}.png"
        result = run_cli("plot", name, "-o", path)
        assert result.returncode == 0, result.stderr
        charts[name] = image.imread(path)
    return charts


def test_layer_chart_is_a_real_picture(layer_charts):
    pixels = layer_charts["mnist_cnn"]
    height, width = pixels.shape[:2]
    assert width > 1000 and height > 400
    assert distinct_colours(pixels) > 50                      # text, axes, antialiasing, bars
    assert share_of(pixels, np.ones(3)) < 0.9                 # not blank
    for kind in ("conv", "dense", "pool", "activation"):      # mnist_cnn has bars of each of these kinds
        assert share_of(pixels, rgb(KIND_COLOURS[kind])) > 0.002, kind
    assert share_of(pixels, rgb(KIND_COLOURS["merge"])) == 0  # and no merge layer


def test_layer_chart_grows_with_the_layers(layer_charts):
    small, large = layer_charts["mnist_cnn"].shape[0], layer_charts["resnet50"].shape[0]
    # mnist_cnn has 12 layers, resnet50 175: one row of bars each, 0.2 inch at 110 dpi = 22 pixels.
    assert large - small > (175 - 12) * 20
    assert share_of(layer_charts["resnet50"], rgb(KIND_COLOURS["merge"])) > 0.001    # the residual adds


def test_comparison_chart_has_one_bubble_per_model(tmp_path):
    reports = [archcalc.analyze(name) for name in ("alexnet", "vgg16", "resnet50")]
    path = plot_comparison(reports, tmp_path / "cmp.png")
    pixels = image.imread(path)
    assert pixels.shape[1] > 800 and pixels.shape[0] > 600
    # Bubbles take matplotlib's colour cycle C0, C1, C2, filled at 45 % over white.
    fills = [1 - 0.45 * (1 - rgb(c)) for c in ("#1f77b4", "#ff7f0e", "#2ca02c")]
    alexnet, vgg16, resnet50 = (share_of(pixels, fill) for fill in fills)
    assert share_of(pixels, 1 - 0.45 * (1 - rgb("#d62728"))) == 0     # no fourth bubble
    # Area grows with activation memory (ResNet-50 keeps the most, AlexNet the least).
    assert resnet50 > vgg16 > alexnet > 0
    memory = [r.totals.activation_bytes for r in reports]
    expected = (bubble_area(memory[2], min(memory), max(memory))
                / bubble_area(memory[1], min(memory), max(memory)))      # the areas the chart promises
    assert resnet50 / vgg16 == pytest.approx(expected, rel=0.2)


def test_small_models_get_bubbles_of_their_own_size(tmp_path):
    """Issue 15: with area ∝ memory, mnist_cnn (261.9 KiB of activations) and mnist_fc (4.1 KiB) both sat on
    the floor and looked the same. mnist_fc: outputs 512 + 512 + 10 + 10 = 1,044 floats = 4,176 bytes.
    On the log scale: low = 4,176 / 10 bytes; span = log10(268,200 / 417.6) = 2.808 decades;
    mnist_fc 40 + 2500·1/2.808 = 930 points², mnist_cnn 40 + 2500 = 2540 points²."""
    reports = [archcalc.analyze(name) for name in ("mnist_fc", "mnist_cnn")]
    fc_bytes, cnn_bytes = (r.totals.activation_bytes for r in reports)
    assert fc_bytes == 4 * (512 + 512 + 10 + 10)
    assert bubble_area(fc_bytes, fc_bytes, cnn_bytes) == pytest.approx(930, abs=2)
    assert bubble_area(cnn_bytes, fc_bytes, cnn_bytes) == pytest.approx(2540)
    path = plot_comparison(reports, tmp_path / "small.png")
    pixels = image.imread(path)
    fc, cnn = (share_of(pixels, 1 - 0.45 * (1 - rgb(c))) for c in ("#1f77b4", "#ff7f0e"))
    assert cnn / fc == pytest.approx(2540 / 930, rel=0.25)


def test_compare_from_the_command_line_writes_svg(tmp_path):
    out = tmp_path / "cmp.svg"
    result = run_cli("plot", "lenet5", "mnist_cnn", "--compare", "-o", out)
    assert result.returncode == 0, result.stderr
    text = "".join(ET.parse(out).getroot().itertext())
    assert "lenet5" in text and "mnist_cnn" in text


def test_several_specs_need_compare(tmp_path):
    result = run_cli("plot", "lenet5", "mnist_cnn", "-o", tmp_path / "x.png")
    assert result.returncode == 2 and "--compare" in result.stderr


def test_unknown_image_suffix_is_bad_input(tmp_path):
    result = run_cli("plot", "lenet5", "-o", tmp_path / "chart.txt")
    assert result.returncode == 2 and ".png" in result.stderr
    assert not (tmp_path / "chart.txt").exists()


def test_missing_matplotlib_names_the_install_command(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    result = CliRunner().invoke(main, ["plot", "lenet5", "-o", str(tmp_path / "x.png")])
    assert result.exit_code == 2
    assert "pip install 'archcalc[plot]'" in result.output


def test_compare_plot_draws_the_bubble_chart_and_still_prints_the_table(tmp_path):
    out = tmp_path / "cmp.png"
    result = CliRunner().invoke(main, ["compare", "alexnet", "vgg16", "resnet50", "--plot", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "vgg16 has 2.22× alexnet's parameters: 138,357,544/62,378,344" in result.output
    pixels = image.imread(out)
    fills = [1 - 0.45 * (1 - rgb(c)) for c in ("#1f77b4", "#ff7f0e", "#2ca02c")]
    assert all(share_of(pixels, fill) > 0 for fill in fills)      # three bubbles


def test_compare_plot_needs_an_image_file():
    result = CliRunner().invoke(main, ["compare", "alexnet", "vgg16", "--plot"])
    assert result.exit_code == 2 and "-o FILE" in result.output


def test_chart_into_a_missing_folder_is_bad_input(tmp_path):
    target = tmp_path / "no_such_folder" / "chart.png"
    result = run_cli("plot", "lenet5", "-o", target)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert f"error: cannot write '{target}'" in result.stderr and "fix: " in result.stderr
