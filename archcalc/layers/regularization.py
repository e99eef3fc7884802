"""Dropout: free at inference, a random mask in training."""
from .base import Layer, Option, Step, number


class Dropout(Layer):
    type_name = "dropout"
    kind = "regularization"
    primary = "rate"
    options = {"rate": Option(number(minimum=0, below=1), default=0.5, aliases=("p",), doc="fraction dropped")}

    def torch_module(self, ins):
        from torch import nn
        return nn.Dropout(self.rate)

    def explain(self, ins, out):
        return [self.same_shape_step(out), self.no_params_step(),
                Step("FLOPs", "", "", 0, f"inference: an identity (training zeroes a {self.rate:g} fraction)")]
