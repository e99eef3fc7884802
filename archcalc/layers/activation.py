"""Element-wise activations, usable as layers or as `activation:` on conv2d and dense."""
from .shapes import numel
from .base import Layer, Option, keep_input, keep_output, number


class Activation(Layer):
    """An element-wise function: shape in = shape out, no parameters, 1 FLOP per element."""

    kind = "activation"
    torch_name = ""
    flops_per_element = 1
    saves_output = False     # its derivative is a function of the output (relu, sigmoid, tanh, softmax)

    def flops(self, ins, out):
        return self.flops_per_element * numel(out)

    def torch_module(self, ins):
        from torch import nn
        return getattr(nn, self.torch_name)(**self.torch_kwargs(ins))

    def torch_kwargs(self, ins):
        return {}

    def saved_tensors(self, ins, out, grad):
        if not any(grad.inputs):
            return []
        return [keep_output(out, grad) if self.saves_output else keep_input(ins, grad)]


class ReLU(Activation):
    type_name, torch_name = "relu", "ReLU"
    saves_output = True


class ReLU6(Activation):
    type_name, torch_name = "relu6", "ReLU6"


class LeakyReLU(Activation):
    type_name, torch_name = "leaky_relu", "LeakyReLU"
    aliases = ("leakyrelu",)
    primary = "negative_slope"
    options = {"negative_slope": Option(number(minimum=0), default=0.01, aliases=("alpha",))}

    def torch_kwargs(self, ins):
        return {"negative_slope": self.negative_slope}


class ELU(Activation):
    type_name, torch_name = "elu", "ELU"
    primary = "alpha"
    options = {"alpha": Option(number(minimum=0), default=1.0)}

    def torch_kwargs(self, ins):
        return {"alpha": self.alpha}


class GELU(Activation):
    type_name, torch_name = "gelu", "GELU"


class SiLU(Activation):
    type_name, torch_name = "silu", "SiLU"
    aliases = ("swish",)


class Hardswish(Activation):
    type_name, torch_name = "hardswish", "Hardswish"
    aliases = ("hard_swish",)


class Tanh(Activation):
    type_name, torch_name = "tanh", "Tanh"
    saves_output = True


class Sigmoid(Activation):
    type_name, torch_name = "sigmoid", "Sigmoid"
    saves_output = True


class Softmax(Activation):
    """Over the channel (feature) axis; 3 FLOPs per element: exp, add to the sum, divide."""

    type_name, torch_name = "softmax", "Softmax"
    flops_per_element = 3
    saves_output = True

    def torch_kwargs(self, ins):
        return {"dim": 1}


ACTIVATIONS = (ReLU, ReLU6, LeakyReLU, ELU, GELU, SiLU, Hardswish, Tanh, Sigmoid, Softmax)
