"""Dropout: free at inference, a random mask in training."""
from .base import Layer, Option, number


class Dropout(Layer):
    type_name = "dropout"
    kind = "regularization"
    primary = "rate"
    options = {"rate": Option(number(minimum=0, below=1), default=0.5, aliases=("p",), doc="fraction dropped")}

    def torch_module(self, ins):
        from torch import nn
        return nn.Dropout(self.rate)
