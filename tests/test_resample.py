"""upsample in every mode and rank, by scale and by size: against torch (verify) and each real tool.
The per-element rules are the tools' own (thop's calculate_upsample, fvcore's upsample handles)."""
import pytest

import archcalc

from test_conventions import TOOLS, measure

torch = pytest.importorskip("torch")

CASES = [
    ([3, 7], {"scale": 2}),                                              # nearest 1-D
    ([2, 5], {"scale": 3, "mode": "linear", "align_corners": True}),
    ([3, 4, 6], {"size": [9, 5]}),                                       # nearest 2-D by size, down on one axis
    ([2, 4, 4], {"scale": 2, "mode": "bicubic", "align_corners": False}),
    ([2, 3, 4, 4], {"scale": 2, "mode": "trilinear", "align_corners": False}),
    ([2, 3, 3, 3], {"size": 5}),                                         # nearest 3-D
]


def spec(shape, options):
    return {"input": shape, "layers": [{"conv2d" if len(shape) == 3 else "conv1d" if len(shape) == 2 else "conv3d":
                                        {"filters": shape[0], "kernel": 1}}, {"upsample": options}]}


@pytest.mark.parametrize("shape,options", CASES)
def test_upsample_agrees_with_torch(shape, options):
    result = archcalc.verify(spec(shape, options), batch=2, train=True)
    assert result.ok, [(layer.name, layer.checks) for layer in result.layers if not layer.ok]


@pytest.mark.parametrize("tool", TOOLS)
@pytest.mark.parametrize("shape,options", CASES)
def test_upsample_matches_each_tool(shape, options, tool):
    assert archcalc.analyze(spec(shape, options), convention=tool).totals.flops == measure(tool, spec(shape, options), 1)


def test_floor_of_the_scaled_size():
    """torch: floor(N·scale): 5·1.5 = 7.5 -> 7."""
    report = archcalc.analyze({"input": [1, 5, 5], "layers": [{"upsample": {"scale": 1.5}}]})
    assert report.layers[0].output_shape == (1, 7, 7)


def test_mode_for_the_wrong_rank_is_a_spec_error():
    with pytest.raises(archcalc.SpecError, match="bilinear' interpolates 2-D maps"):
        archcalc.analyze({"input": [1, 5], "layers": [{"upsample": {"scale": 2, "mode": "bilinear"}}]})


@pytest.mark.parametrize("shape", [[3, 9], [2, 3, 4, 4]])
def test_batchnorm_on_signals_and_volumes(shape):
    conv = "conv1d" if len(shape) == 2 else "conv3d"
    model = {"input": shape, "layers": [{conv: {"filters": 4, "kernel": 1}}, "batchnorm"]}
    result = archcalc.verify(model, batch=2, train=True)
    assert result.ok and archcalc.analyze(model).layers[1].buffers == 4 + 4 + 1
