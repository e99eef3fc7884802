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


def test_repeated_blocks_share_their_layers_and_count_each_use():
    """Entries with the same options share one layer object (its hooks remember what they derive), and
    every use is still its own row: 3 blocks of conv-bn-relu give 9 rows and 3× one block's numbers."""
    from archcalc.spec.graph import load_spec
    block = {"layers": [{"conv2d": {"filters": 4, "kernel": 3, "padding": 1}}, "batchnorm", "relu"]}
    one = {"input": [4, 8, 8], "blocks": {"unit": block}, "layers": [{"unit": {"repeat": 1}}]}
    three = {**one, "layers": [{"unit": {"repeat": 3}}]}
    graph = load_spec(three)
    assert len(graph.nodes) == 9
    assert graph.nodes[0].layer is graph.nodes[3].layer is graph.nodes[6].layer
    assert graph.nodes[0].layer is not graph.nodes[1].layer
    single, triple = archcalc.analyze(one).totals, archcalc.analyze(three).totals
    assert (triple.params, triple.flops, triple.activation_bytes) == (
        3 * single.params, 3 * single.flops, 3 * single.activation_bytes)
    fields = [r.receptive_field.size for r in archcalc.analyze(three).layers if r.type == "conv2d"]
    assert fields == [(3, 3), (5, 5), (7, 7)]      # shared layer, fields still grow along the path


def test_options_equal_in_python_but_not_in_yaml_make_different_layers():
    """1, 1.0 and true are equal to Python's == (and hash alike); as option values they are different
    spellings, which an option may read differently, so their keys differ and they never share a layer."""
    from archcalc.spec.graph import frozen
    assert len({frozen(1), frozen(1.0), frozen(True)}) == 3
    assert frozen([3, 3]) != frozen({3: 3}) and frozen([[1], 2]) == frozen([[1], 2])
    assert frozen(object()) is None and frozen({"k": object()}) is None
