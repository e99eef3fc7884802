"""The plugin type's torch module, and a model using it for `archcalc from-torch`."""
import torch
from torch import nn


class Square(nn.Module):
    def forward(self, x):
        return x * x


def model():
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 4, 3), Square(), nn.Flatten(), nn.Linear(4 * 6 * 6, 10))
