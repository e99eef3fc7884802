"""Element-wise activations, usable as layers or as `activation:` on conv2d and dense."""
from .shapes import numel
from .counting import INPUT_ELEMENTS, Rule, counted_as, times
from .registry import register
from ..errors import Unsupported
from .base import Kind, Layer, Option, keep_input, keep_output, number

FUNCTIONAL_ONLY = Rule(INPUT_ELEMENTS.count, "1 per element (patched functional only)")
TWICE = times(INPUT_ELEMENTS, 2, "2 per element (module hook + patched functional)")


class Activation(Layer):
    """An element-wise function: shape in = shape out, no parameters, 1 FLOP per element."""

    kind = Kind.ACTIVATION
    inplace_capable = True
    example = {"input": [3, 4, 4], "before": [{"conv2d": {"filters": 3, "kernel": 1}}]}
    counting = counted_as()
    torch_name = ""
    flops_per_element = 1
    saves_output = False     # its derivative is a function of the output (relu, sigmoid, tanh, softmax)

    def __init_subclass__(cls, **kwargs):
        """Imported from torch.nn.<torch_name>, and from the function of its own name and its in-place twin."""
        super().__init_subclass__(**kwargs)
        if "torch_modules" not in vars(cls):
            cls.torch_modules = (cls.torch_name,)
        if "torch_functions" not in vars(cls):
            cls.torch_functions = (cls.type_name, cls.type_name + "_")

    def flops(self, ins, out):
        return self.flops_per_element * numel(out)

    def torch_module(self, ins):
        from torch import nn
        return getattr(nn, self.torch_name)(**self.torch_kwargs(ins))

    def torch_kwargs(self, ins):
        return {}

    def saved_tensors(self, ins, out, grad):
        """The output where the derivative is a function of it (relu, sigmoid, tanh, softmax), else the
        input; nothing when no gradient reaches it."""
        if not any(grad.inputs):
            return []
        return [keep_output(out, grad) if self.saves_output else keep_input(ins, grad)]


@register
class ReLU(Activation):
    type_name, torch_name = "relu", "ReLU"
    counting = counted_as(ptflops=TWICE)
    saves_output = True


@register
class ReLU6(Activation):
    type_name, torch_name = "relu6", "ReLU6"
    counting = counted_as(ptflops=Rule(INPUT_ELEMENTS.count, "1 per element (module hook; F.hardtanh is not patched)"))


@register
class LeakyReLU(Activation):
    type_name, torch_name = "leaky_relu", "LeakyReLU"
    counting = counted_as(ptflops=Rule(INPUT_ELEMENTS.count, "1 per element (module hook)"))
    aliases = ("leakyrelu",)
    primary = "negative_slope"
    options = {"negative_slope": Option(number(minimum=0), default=0.01, aliases=("alpha",))}

    def torch_kwargs(self, ins):
        return {"negative_slope": self.negative_slope}

    @classmethod
    def from_torch_module(cls, m):
        return cls.non_default(negative_slope=m.negative_slope)

    @classmethod
    def from_torch_call(cls, call):
        return cls.non_default(negative_slope=call.arg(1, "negative_slope", 0.01)), (0,)


@register
class ELU(Activation):
    type_name, torch_name = "elu", "ELU"
    counting = counted_as(ptflops=TWICE)
    primary = "alpha"
    options = {"alpha": Option(number(minimum=0), default=1.0)}

    def torch_kwargs(self, ins):
        return {"alpha": self.alpha}

    @classmethod
    def from_torch_module(cls, m):
        return cls.non_default(alpha=m.alpha)

    @classmethod
    def from_torch_call(cls, call):
        return cls.non_default(alpha=call.arg(1, "alpha", 1.0)), (0,)


@register
class GELU(Activation):
    type_name, torch_name = "gelu", "GELU"
    counting = counted_as(ptflops=TWICE)

    @classmethod
    def from_torch_module(cls, m):
        return cls.exact(m.approximate)

    @classmethod
    def from_torch_call(cls, call):
        return cls.exact(call.kwargs.get("approximate", "none")), (0,)

    @staticmethod
    def exact(approximate):
        if approximate != "none":
            raise Unsupported(f"GELU(approximate='{approximate}')")
        return {}


@register
class SiLU(Activation):
    type_name, torch_name = "silu", "SiLU"
    counting = counted_as(ptflops=FUNCTIONAL_ONLY)
    aliases = ("swish",)


@register
class Hardswish(Activation):
    type_name, torch_name = "hardswish", "Hardswish"
    aliases = ("hard_swish",)


@register
class Tanh(Activation):
    type_name, torch_name = "tanh", "Tanh"
    saves_output = True


@register
class Sigmoid(Activation):
    type_name, torch_name = "sigmoid", "Sigmoid"
    saves_output = True


def _thop_softmax(layer, ins, out, batch):
    """exp, add and divide per row of C features: rows · (3C − 1)."""
    features = out[0]
    return numel(out) * batch // features * (3 * features - 1)


@register
class Softmax(Activation):
    """Over the channel (feature) axis; 3 FLOPs per element: exp, add to the sum, divide."""

    type_name, torch_name = "softmax", "Softmax"
    counting = counted_as(thop=Rule(_thop_softmax, "rows · (3C − 1)"), ptflops=FUNCTIONAL_ONLY)
    torch_functions = ("softmax",)

    @classmethod
    def from_torch_module(cls, m):
        if m.dim not in (1, -1, None):
            raise Unsupported(f"softmax over dim={m.dim}; archcalc's softmax runs over channels (dim 1)")
        return {}

    @classmethod
    def from_torch_call(cls, call):
        dim = call.arg(1, "dim")
        if dim not in (1, -1):
            raise Unsupported(f"softmax over dim={dim}")
        return {}, (0,)
    flops_per_element = 3
    saves_output = True
    inplace_capable = False     # it reads the whole row before writing

    def torch_kwargs(self, ins):
        return {"dim": 1}

