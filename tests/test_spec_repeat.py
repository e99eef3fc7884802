"""A repeated entry keeps its `activation` on every repetition."""
import archcalc


def test_repeated_conv_keeps_its_activation():
    spec = {"input": [1, 8, 8], "layers": [
        {"conv2d": {"name": "c", "filters": 2, "kernel": 3, "padding": 1, "activation": "relu", "repeat": 3}}]}
    names = [r.name for r in archcalc.analyze(spec).layers]
    assert names == ["c.0", "c.0_relu", "c.1", "c.1_relu", "c.2", "c.2_relu"]


def test_vgg16_has_a_relu_after_each_of_its_15_weight_layers_but_the_last():
    report = archcalc.analyze("vgg16")
    assert sum(r.type == "relu" for r in report.layers) == 13 + 2
