"""The Keras bridges against real Keras 3 on the torch backend: the course's models built by hand the
way the course writes them, their model.summary() graded by `check`, the spec built in Keras by
`verify --keras` and `export-keras`, and Keras models imported by `from-keras`.

Hand arithmetic (channels_last, batch left out):
  mnist_fc   (784 + 1)·512 = 401,920; (512 + 1)·10 = 5,130; 407,050 in all
  mnist_cnn  (3·3·1 + 1)·32 = 320; (3·3·32 + 1)·64 = 18,496; (3·3·64 + 1)·64 = 36,928;
             (576 + 1)·64 = 36,928; (64 + 1)·10 = 650; 93,322 in all; sizes 26, 13, 11, 5, 3, 3·3·64 = 576
  lenet5     (5·5·1 + 1)·6 = 156; (5·5·6 + 1)·16 = 2,416; (400 + 1)·120 = 48,120; (120 + 1)·84 = 10,164;
             (84 + 1)·10 = 850; 61,706 in all; sizes 28, 14, 10, 5, 5·5·16 = 400
  alexnet    (11·11·3 + 1)·96 = 34,944; (5·5·96 + 1)·256 = 614,656; (3·3·256 + 1)·384 = 885,120;
             (3·3·384 + 1)·384 = 1,327,488; (3·3·384 + 1)·256 = 884,992; (9,216 + 1)·4,096 = 37,752,832;
             (4,096 + 1)·4,096 = 16,781,312; (4,096 + 1)·1,000 = 4,097,000; 62,378,344 in all;
             sizes (227 − 11)/4 + 1 = 55, (55 − 3)/2 + 1 = 27, 27, 13, 13, (13 − 3)/2 + 1 = 6, 6·6·256 = 9,216
  vgg16      at 32×32 (the same rules, a small input): convs 1,792 + 36,928 + 73,856 + 147,584 + 295,168
             + 2·590,080 + 1,180,160 + 5·2,359,808 = 14,714,688; after five 2×2 pools 32/2⁵ = 1, so
             fc6 (512 + 1)·4,096 = 2,101,248; fc7 16,781,312; fc8 4,097,000; 37,694,248 in all
"""
import os

import pytest

os.environ.setdefault("KERAS_BACKEND", "torch")
keras = pytest.importorskip("keras")
from click.testing import CliRunner  # noqa: E402
from keras import layers  # noqa: E402

import archcalc  # noqa: E402
from archcalc.bridges import keras_model  # noqa: E402
from archcalc.bridges.from_keras import from_keras  # noqa: E402
from archcalc.bridges.keras_model import custom_layers, keras_source, verify_keras  # noqa: E402
from archcalc.cli import main  # noqa: E402
from archcalc.errors import SpecError  # noqa: E402
from archcalc.homework.check import check_text  # noqa: E402
from conftest import run_cli  # noqa: E402

TOTALS = {"mnist_fc": 407_050, "mnist_cnn": 93_322, "lenet5": 61_706, "alexnet": 62_378_344,
          "vgg16": 37_694_248}
INPUTS = {"vgg16": "3x32x32"}           # the spec's own layout (channels_first)
# the course's VGG16 (the paper's, keras.applications') has no AdaptiveAvgPool2d(7) before fc6: at 32×32 it
# would make fc6 read a 7×7 map; the zoo spec keeps torchvision's, and drops it with avgpool=false
ARGS = {"vgg16": {"avgpool": False}}


def course_spec(name):
    return archcalc.load_spec(name, input_shape=INPUTS.get(name), args=ARGS.get(name))


def build_course_model(name):
    """The models as the course's notebooks write them, independently of archcalc."""
    if name == "mnist_fc":
        return keras.Sequential([keras.Input((784,)), layers.Dense(512, activation="relu"),
                                 layers.Dense(10, activation="softmax")], name=name)
    if name == "mnist_cnn":
        return keras.Sequential([
            keras.Input((28, 28, 1)), layers.Conv2D(32, (3, 3), activation="relu"), layers.MaxPooling2D((2, 2)),
            layers.Conv2D(64, (3, 3), activation="relu"), layers.MaxPooling2D((2, 2)),
            layers.Conv2D(64, (3, 3), activation="relu"), layers.Flatten(), layers.Dense(64, activation="relu"),
            layers.Dense(10)], name=name)
    if name == "lenet5":
        return keras.Sequential([
            keras.Input((32, 32, 1)), layers.Conv2D(6, (5, 5), activation="tanh"), layers.AveragePooling2D((2, 2)),
            layers.Conv2D(16, (5, 5), activation="tanh"), layers.AveragePooling2D((2, 2)), layers.Flatten(),
            layers.Dense(120, activation="tanh"), layers.Dense(84, activation="tanh"), layers.Dense(10)], name=name)
    if name == "alexnet":
        lrn = custom_layers()["LocalResponseNorm"]
        return keras.Sequential([
            keras.Input((227, 227, 3)), layers.Conv2D(96, (11, 11), strides=4, activation="relu"),
            lrn(size=5, alpha=1e-4, beta=0.75, k=2), layers.MaxPooling2D((3, 3), strides=2),
            layers.Conv2D(256, (5, 5), padding="same", activation="relu"),
            lrn(size=5, alpha=1e-4, beta=0.75, k=2), layers.MaxPooling2D((3, 3), strides=2),
            layers.Conv2D(384, (3, 3), padding="same", activation="relu"),
            layers.Conv2D(384, (3, 3), padding="same", activation="relu"),
            layers.Conv2D(256, (3, 3), padding="same", activation="relu"), layers.MaxPooling2D((3, 3), strides=2),
            layers.Flatten(), layers.Dense(4096, activation="relu"), layers.Dropout(0.5),
            layers.Dense(4096, activation="relu"), layers.Dropout(0.5), layers.Dense(1000, activation="softmax")],
            name=name)
    assert name == "vgg16"
    stack = [keras.Input((32, 32, 3))]
    for filters, convs in ((64, 2), (128, 2), (256, 3), (512, 3), (512, 3)):
        stack += [layers.Conv2D(filters, (3, 3), padding="same", activation="relu") for _ in range(convs)]
        stack.append(layers.MaxPooling2D((2, 2)))
    stack += [layers.Flatten(), layers.Dense(4096, activation="relu"), layers.Dropout(0.5),
              layers.Dense(4096, activation="relu"), layers.Dropout(0.5), layers.Dense(1000)]
    return keras.Sequential(stack, name=name)


@pytest.fixture(scope="module")
def course():
    """Each course model built once for the module."""
    return {name: build_course_model(name) for name in TOTALS}


def summary_text(model):
    lines = []
    model.summary(print_fn=lambda line, line_break=False: lines.append(line))
    return "\n".join(lines)


@pytest.mark.parametrize("name", list(TOTALS))
def test_keras_model_has_the_hand_counted_params(course, name):
    assert course[name].count_params() == TOTALS[name]


@pytest.mark.parametrize("name", list(TOTALS))
def test_a_real_keras3_summary_is_graded_right(course, name):
    text = summary_text(course[name])
    assert "┃ Layer (type)" in text                       # Keras 3's box table
    result = check_text(name, text, input_shape=INPUTS.get(name), args=ARGS.get(name))
    assert result.source == "keras" and result.ok, [v for v in result.verdicts if not v.ok]
    totals = {v.quantity: v.given for v in result.verdicts if v.layer is None}
    assert totals["params"].replace(",", "") == str(TOTALS[name])


def test_a_wrong_row_in_a_real_summary_is_diagnosed(course):
    # conv2d_1 of mnist_cnn without its biases: 3·3·32·64 = 18,432 (the totals lines are left as Keras wrote them)
    text = summary_text(course["mnist_cnn"]).replace("18,496", "18,432")
    bad = [v for v in check_text("mnist_cnn", text).verdicts if not v.ok]
    assert [(v.layer, v.quantity) for v in bad] == [("conv2", "params")]
    assert bad[0].diagnosis.startswith("bias left out")


def test_an_exported_resnet_summary_is_graded_right():
    """Keras 3 at 80 columns wraps shapes ("(None, 112, 112," / "64)") and cuts types with an ellipsis
    ("(BatchNormalizatio…"); export-keras's names (layer1_0_conv1) are matched to the spec's even where
    Keras lists a downsample branch in another order."""
    text = summary_text(keras_model.to_keras("resnet18")[2])
    assert "(BatchNormalizatio…" in text and "(None, 112, 112," in text
    result = check_text("resnet18", text)
    assert result.ok, [v for v in result.verdicts if not v.ok][:3]
    params = {v.layer: v.given for v in result.verdicts if v.quantity == "params" and v.layer}
    # conv1 7·7·3·64 = 9,408 (no bias); bn1 Keras's 4·64 = 256; layer4.0.downsample_conv 1·1·256·512 = 131,072
    assert (params["conv1"], params["bn1"], params["layer4.0.downsample_conv"]) == ("9,408", "256", "131,072")


def test_cut_off_names_that_fit_several_layers_are_refused(monkeypatch):
    import contextlib
    import io
    model = keras_model.to_keras("googlenet")[2]
    with pytest.raises(SpecError) as info:       # at 80 columns "inception3a_branch…" fits six convolutions
        check_text("googlenet", summary_text(model))
    assert "could be any of 6 conv2d layers" in str(info.value) and "line_length" in info.value.hint
    monkeypatch.setenv("COLUMNS", "200")          # rich prints as wide as the terminal
    wide = io.StringIO()
    with contextlib.redirect_stdout(wide):
        model.summary(line_length=170)
    assert check_text("googlenet", wide.getvalue()).ok


@pytest.mark.parametrize("name", list(TOTALS))
def test_verify_keras_agrees_on_every_layer(name):
    result = verify_keras(course_spec(name))
    assert result.ok, [layer for layer in result.layers if not layer.ok]
    assert result.totals["params"] == (TOTALS[name], TOTALS[name])


def test_verify_keras_measures_what_keras_says():
    result = verify_keras("alexnet")
    checks = {layer.name: layer.checks for layer in result.layers}
    assert checks["conv1"]["shape"] == ((55, 55, 96), (55, 55, 96))
    assert checks["conv1"]["params"] == (34_944, 34_944)
    assert checks["conv1_relu"]["params"] == (0, 0)            # folded into Conv2D(activation="relu")
    assert checks["pool5"]["shape"][1] == (6, 6, 256)
    assert checks["fc6"]["params"] == (37_752_832, 37_752_832)


def test_verify_keras_counts_batchnorm_statistics_as_keras_does(write_spec):
    spec = write_spec("input: [3, 16, 16]\nlayers:\n  - conv2d: {name: conv, filters: 8, kernel: 3, padding: 1,"
                      " bias: false}\n  - batchnorm: {name: bn}\n  - relu\n  - global_avgpool2d\n"
                      "  - dense: {name: head, units: 4}\n")
    result = verify_keras(spec)
    assert result.ok
    checks = {layer.name: layer.checks for layer in result.layers}
    # γ, β, moving mean and variance: 4·8 = 32 params, 2·8 = 16 of them non-trainable
    assert checks["bn"]["params"] == (32, 32) and checks["bn"]["non_trainable"] == (16, 16)
    # conv 3·3·3·8 = 216, head (8 + 1)·4 = 36: 216 + 32 + 36 = 284, 16 non-trainable
    assert result.totals["params"] == (284, 284) and result.totals["non_trainable_params"] == (16, 16)
    assert checks["conv"]["shape"] == ((16, 16, 8), (16, 16, 8))       # padding 1 with a 3×3 is 'same'


def test_verify_keras_finds_a_real_disagreement(monkeypatch):
    """Keras is handed a conv with one filter more than the spec: verify must see it, and exit 1."""
    original = keras_model._Planner.add

    def add(self, node_names, cls, inputs, args=(), custom=False, **kwargs):
        if node_names and node_names[0] == "conv2":
            args = [args[0] + 1, *args[1:]]
        return original(self, node_names, cls, inputs, args, custom, **kwargs)
    monkeypatch.setattr(keras_model._Planner, "add", add)
    result = verify_keras("mnist_cnn")
    bad = {layer.name: layer.checks for layer in result.layers if not layer.ok}
    # 65 filters: (3·3·32 + 1)·65 = 18,785 params, output (11, 11, 65)
    assert bad["conv2"]["params"] == (18_496, 18_785) and bad["conv2"]["shape"][1] == (11, 11, 65)
    outcome = CliRunner().invoke(main, ["verify", "mnist_cnn", "--keras"])
    assert outcome.exit_code == 1 and "DISAGREEMENT" in outcome.output


def test_cli_verify_keras(write_spec):
    outcome = CliRunner().invoke(main, ["verify", "lenet5", "--keras"])
    assert outcome.exit_code == 0, outcome.output
    assert "All agree ✓" in outcome.output and "torch backend" in outcome.output
    spec = write_spec("input: [1, 12, 12]\nlayers:\n  - maxpool2d: {name: pool, kernel: 2, dilation: 2}\n")
    refused = CliRunner().invoke(main, ["verify", str(spec), "--keras"])
    assert refused.exit_code == 2 and "Keras pools have no dilation" in refused.output
    assert "Traceback" not in refused.output
    torch_only = CliRunner().invoke(main, ["verify", "lenet5", "--keras", "--train"])
    assert torch_only.exit_code == 2 and "--keras compares output shapes and parameter counts only" in torch_only.output


def test_a_ceil_mode_max_pool_is_padded_at_the_end():
    # GoogLeNet's maxpool1 (ceil_mode) on 112×112: (112 − 3)/2 + 1 = 55.5, rounded up to 56. Keras rounds
    # down, so one zero row and column go at the end: (113 − 3)/2 + 1 = 56
    result = verify_keras("googlenet")
    assert result.ok, [layer for layer in result.layers if not layer.ok]
    pool = next(layer for layer in result.layers if layer.name == "maxpool1")
    assert pool.checks["shape"] == ((56, 56, 64), (56, 56, 64))
    assert "layers.ZeroPadding2D(padding=((0, 1), (0, 1)), name='maxpool1_pad')" in keras_source("googlenet")


# ---- export-keras

@pytest.mark.parametrize("name", ["mnist_cnn", "alexnet", "resnet18"])
def test_exported_source_builds_the_same_model(name):
    namespace = {}
    exec(compile(keras_source(name), f"<export-keras {name}>", "exec"), namespace)
    model = namespace["build_model"]()
    # resnet18: 11,689,512 trainable (torchvision's count) + 2·4,800 batchnorm statistics = 11,699,112
    expected = {"mnist_cnn": 93_322, "alexnet": 62_378_344, "resnet18": 11_699_112}[name]
    assert model.count_params() == expected


def test_export_keras_reads_like_the_course():
    source = keras_source("mnist_cnn")
    assert "keras.Sequential([" in source and "keras.Input(shape=(28, 28, 1))" in source
    assert "layers.Conv2D(32, (3, 3), activation='relu', name='conv1')" in source
    assert "layers.MaxPooling2D((2, 2), name='pool1')" in source


def test_export_keras_cli_does_not_import_keras(tmp_path):
    out = tmp_path / "net.py"
    result = run_cli("export-keras", "vgg16", "-o", out)
    assert result.returncode == 0 and "layers.Conv2D(64, (3, 3), padding='same'" in out.read_text()
    probe = run_cli.__globals__["subprocess"].run(
        [run_cli.__globals__["sys"].executable, "-c",
         "import sys, archcalc.cli; from archcalc.bridges.keras_model import keras_source; "
         "keras_source('alexnet'); print('keras' in sys.modules)"], capture_output=True, text=True, timeout=120)
    assert probe.stdout.strip() == "False", probe.stderr


# ---- from-keras

@pytest.mark.parametrize("name", list(TOTALS))
def test_from_keras_imports_the_course_models(course, name):
    spec = from_keras(course[name])
    report = archcalc.analyze(spec)
    assert report.totals.params == TOTALS[name]
    zoo = archcalc.analyze(course_spec(name))
    assert report.totals.macs == zoo.totals.macs
    if name == "mnist_cnn":
        # 3·3·1·32·26·26 = 194,688; 3·3·32·64·11·11 = 2,230,272; 3·3·64·64·3·3 = 331,776; 576·64 = 36,864;
        # 64·10 = 640: 2,794,240 MACs
        assert report.totals.macs == 2_794_240
        first = spec["layers"][0]["conv2d"]
        assert {k: v for k, v in first.items() if k != "name"} == {"filters": 32, "kernel": 3, "activation": "relu"}


def test_from_keras_cli_with_a_saved_file_and_a_callable(tmp_path, monkeypatch):
    saved = tmp_path / "small_alexnet.keras"
    lrn = custom_layers()["LocalResponseNorm"]
    keras.Sequential([keras.Input((32, 32, 3)), layers.Conv2D(16, (5, 5), strides=2, activation="relu"),
                      lrn(size=5, alpha=1e-4, beta=0.75, k=2, name="norm1"),
                      layers.MaxPooling2D((3, 3), strides=2), layers.Flatten(), layers.Dense(10)]).save(saved)
    out = tmp_path / "small_alexnet.yaml"
    outcome = CliRunner().invoke(main, ["from-keras", str(saved), "-o", str(out)])
    assert outcome.exit_code == 0, outcome.output
    assert "lrn: {name: norm1, size: 5, alpha: 0.0001, beta: 0.75, k: 2" in out.read_text()
    # (5·5·3 + 1)·16 = 1,216; (32 − 5)/2 + 1 = 14 (13.5 floored), (14 − 3)/2 + 1 = 6 (6.5 floored);
    # 6·6·16 = 576 features: (576 + 1)·10 = 5,770; 1,216 + 5,770 = 6,986
    assert archcalc.analyze(str(out)).totals.params == 6_986
    (tmp_path / "course_nets.py").write_text(
        "import keras\nfrom keras import layers\n\n"
        "def build():\n    return keras.Sequential([keras.Input((28, 28, 1)), layers.Conv2D(8, (3, 3)),"
        " layers.BatchNormalization(), layers.Flatten(), layers.Dense(10)])\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    outcome = CliRunner().invoke(main, ["from-keras", "course_nets:build", "--name", "small"])
    assert outcome.exit_code == 0, outcome.output
    assert "name: small" in outcome.output and "batchnorm" in outcome.output
    # (3·3·1 + 1)·8 = 80; batchnorm 2·8 = 16 trainable (+ 16 statistics, Keras's non-trainable);
    # 26·26·8 = 5,408 features: (5,408 + 1)·10 = 54,090; 80 + 16 + 54,090 = 54,186
    spec = tmp_path / "small.yaml"
    spec.write_text(outcome.output, encoding="utf-8")
    assert archcalc.analyze(str(spec)).totals.params == 54_186


def test_from_keras_refuses_a_spec_that_counts_differently(course, monkeypatch):
    """The spec is summarized before it is handed back: a mapping that lost a bias must not get through."""
    from archcalc.bridges import from_keras as module
    original = module._convert

    def lossy(layer, shape, pending):
        converted = original(layer, shape, pending)
        if converted and converted[0] == "dense":
            converted[1]["bias"] = False
        return converted
    monkeypatch.setattr(module, "_convert", lossy)
    with pytest.raises(SpecError) as info:
        from_keras(course["mnist_fc"])
    # without the 512 + 10 biases: 407,050 − 522 = 406,528
    assert "has 406,528 params but Keras counts 407,050" in str(info.value)


def test_from_keras_refuses_a_spec_with_other_shapes(monkeypatch):
    """Same parameter count, other shapes: the per-layer shape check catches what the total cannot."""
    from archcalc.bridges import from_keras as module
    original = module._convert

    def strided(layer, shape, pending):
        converted = original(layer, shape, pending)
        if converted and converted[0] == "conv2d":
            converted[1]["stride"] = 2
        return converted
    monkeypatch.setattr(module, "_convert", strided)
    model = keras.Sequential([keras.Input((16, 16, 3)), layers.Conv2D(8, (3, 3), name="conv"),
                              layers.GlobalAveragePooling2D(), layers.Dense(2)])
    with pytest.raises(SpecError) as info:
        from_keras(model)
    # stride 2: (16 − 3)/2 + 1 = 7 (7.5 floored) instead of (16 − 3)/1 + 1 = 14
    assert "the spec's conv gives (7, 7, 8) but Keras's conv gives (14, 14, 8)" in str(info.value)


def test_googlenet_goes_to_keras_and_back():
    """export-keras pads GoogLeNet's ceil_mode max-pools at the end; from-keras reads that back as ceil_mode."""
    graph, _, model = keras_model.to_keras("googlenet")
    spec = from_keras(model)
    pools = [entry["maxpool2d"] for entry in spec["layers"] if "maxpool2d" in entry]
    assert pools[0] == {"name": "maxpool1", "kernel": 3, "stride": 2, "ceil_mode": True}
    back, original = archcalc.analyze(spec), archcalc.analyze(graph)
    assert (back.totals.params, back.totals.macs) == (original.totals.params, original.totals.macs)


def test_a_side_head_is_a_second_keras_output_and_comes_back_a_side_branch():
    """Inception-v3's auxiliary head is read by no later layer: the Keras model returns it as a second output
    (Keras keeps only layers that reach an output), verify --keras finds every layer, and from-keras puts the
    main output last again (Keras lists the head's layers after it) with the same parameters and MACs."""
    graph, _, model = keras_model.to_keras("inception_v3")
    assert [t._keras_history.operation.name for t in model.outputs] == ["fc", "AuxLogits_fc"]
    result = keras_model.verify_keras(graph)
    assert result.ok and result.totals["params"] == (27_197_488, model.count_params())
    spec = from_keras(model)
    assert next(iter(spec["layers"][-1].values()))["name"] == "fc"
    back, original = archcalc.analyze(spec), archcalc.analyze(graph)
    assert (back.totals.params, back.totals.macs) == (original.totals.params, original.totals.macs)
    side = [[r.params for r in report.layers if r.unread] for report in (back, original)]     # the head, still a side branch
    assert side[0] == side[1] and sum(side[0]) == 3_326_696
    source = keras_model.keras_source(graph)
    assert "return keras.Model(inputs, [fc, AuxLogits_fc], name='inception_v3')" in source


def test_an_output_read_by_a_later_layer_is_refused():
    inputs = keras.Input((8,))
    hidden = layers.Dense(4, name="hidden")(inputs)
    model = keras.Model(inputs, [layers.Dense(2, name="out")(hidden), hidden])
    with pytest.raises(SpecError, match="outputs hidden are read by later layers"):
        from_keras(model)


def test_from_keras_names_every_layer_it_cannot_import():
    model = keras.Sequential([keras.Input((10,)), layers.Embedding(100, 8), layers.LSTM(5), layers.Dense(2)])
    with pytest.raises(SpecError) as info:
        from_keras(model)
    message = str(info.value)
    assert "2 layer(s)" in message and "(Embedding)" in message and "(LSTM)" in message
    assert "(Dense)" not in message           # a layer after them is not blamed for their absence
