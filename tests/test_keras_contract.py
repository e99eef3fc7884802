"""The Keras half of the layer contract, enumerated from the registry: every type whose class writes a
Keras layer (its keras_layer hook) builds in real Keras 3 with Keras's own shapes and counts, and is read
back by from-keras as itself (its keras_classes or keras_activation), so export and import cannot drift
apart when a type is added. Each type's `example` spec is the model.
"""
import os

import pytest

os.environ.setdefault("KERAS_BACKEND", "torch")
keras = pytest.importorskip("keras")
from keras import layers  # noqa: E402

import archcalc  # noqa: E402
from archcalc.bridges.from_keras import from_keras  # noqa: E402
from archcalc.bridges.keras_model import keras_plan, to_keras, verify_keras  # noqa: E402
from archcalc.errors import SpecError  # noqa: E402
from archcalc.layers import layer_types, lookup  # noqa: E402

EXAMPLES = [cls.type_name for cls in layer_types() if cls.example_spec() is not None]


def exported(spec):
    """The plan for `spec`; None when one of its types has no Keras layer (the default hook's message); the
    message when a type that has one refuses these options."""
    try:
        return keras_plan(spec)[1]
    except SpecError as err:
        if "no Keras layer for this type" in err.message:
            return None
        return err.message


def test_the_types_that_write_keras_are_the_ones_expected():
    """The registry's answer, against the list export-keras wrote by hand before the move (issue 11)."""
    answers = {name: exported(lookup(name).example_spec()) for name in EXAMPLES}
    writes = {name for name, answer in answers.items() if isinstance(answer, list)}
    refused = {name: answer for name, answer in answers.items() if isinstance(answer, str)}
    # adaptive pools write Keras only for even windows: their examples (7 -> 3) are refused, said plainly
    assert sorted(refused) == ["adaptive_avgpool2d", "adaptive_maxpool2d"]
    assert all("from (7, 7) to (3, 3) has uneven windows" in message for message in refused.values())
    assert writes == {"conv2d", "dense", "maxpool2d", "avgpool2d", "flatten", "batchnorm", "lrn", "dropout",
                      "global_avgpool2d", "global_maxpool2d", "add", "concat", "multiply", "softmax",
                      "leaky_relu", "elu", "relu", "tanh", "sigmoid", "gelu", "silu", "hardswish", "relu6"}


@pytest.mark.parametrize("type_name", EXAMPLES)
def test_an_exported_type_builds_in_keras_and_reads_back_as_itself(type_name):
    spec = lookup(type_name).example_spec()
    if not isinstance(exported(spec), list):
        pytest.skip(f"{type_name}'s example has a type with no Keras layer, or options Keras cannot express")
    result = verify_keras(spec)
    assert result.ok, [(layer.name, layer.checks) for layer in result.layers if not layer.ok]
    _, _, model = to_keras(spec)
    back = from_keras(model)            # itself checks count_params() and every layer's shape against Keras
    types = [next(iter(entry)) for entry in back["layers"]]
    assert type_name in types, f"{type_name} was written to Keras but read back as {types}"
    assert archcalc.analyze(back, keras=True).totals.params == model.count_params()


@pytest.mark.parametrize("family, keras_class", [("avg", "AveragePooling2D"), ("max", "MaxPooling2D")])
def test_an_adaptive_pool_with_even_windows_is_a_plain_pool(family, keras_class):
    """adaptive_{avg,max}pool2d 8 -> 2 is {Average,Max}Pooling2D(4): windows of 8/2 = 4 pixels, stride 4;
    4·4·3 = 48 outputs; read back it is an {avg,max}pool2d (Keras has no adaptive pool), same (2, 2, 3) output."""
    spec = {"name": "adaptive", "input": [3, 8, 8], "layers": [{f"adaptive_{family}pool2d": 2}]}
    plan = exported(spec)
    assert [(layer.cls, layer.args) for layer in plan] == [(keras_class, [4])]
    assert verify_keras(spec).ok
    back = from_keras(to_keras(spec)[2])
    assert back["layers"] == [{f"{family}pool2d": {"name": f"adaptive_{family}pool2d_1", "kernel": 4}}]


def test_a_keras_class_no_type_claims_is_reported_by_name():
    """LayerNormalization is not in any type's keras_classes: from-keras lists it, with the generic reason."""
    model = keras.Sequential([keras.Input((4, 4, 3)), layers.LayerNormalization(name="ln")])
    with pytest.raises(SpecError) as info:
        from_keras(model)
    assert "ln (LayerNormalization): no archcalc layer type for it" in str(info.value)
