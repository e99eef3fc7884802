"""The first zoo's published totals, derived by hand in each spec's header."""
import pytest

import archcalc

PUBLISHED = {
    "mnist_fc": 407_050,       # (784+1)·512 + (512+1)·10
    "mnist_mlp": 669_706,      # + (512+1)·512
    "mnist_cnn": 93_322,       # 320 + 18,496 + 36,928 + 36,928 + 650
    "lenet5": 61_706,          # 156 + 2,416 + 48,120 + 10,164 + 850
    "alexnet": 62_378_344,
    "vgg16": 138_357_544,      # torchvision docs
    "resnet50": 25_557_032,    # torchvision docs
}


@pytest.mark.parametrize("name,params", PUBLISHED.items())
def test_published_parameter_counts(name, params):
    assert archcalc.analyze(name).totals.params == params
