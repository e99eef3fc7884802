"""Fully-connected layers and the flatten that feeds them."""
from ..errors import LayerError, Unsupported
from .shapes import numel
from .counting import WEIGHTED, counted_as
from .registry import register
from .base import PASS_THROUGH, Kind, Layer, Option, Step, boolean, dims, integer, keep_input, weights_flops_step


@register
class Dense(Layer):
    type_name = "dense"
    aliases = ("linear", "fc", "fully_connected")
    kind = Kind.DENSE
    counting = WEIGHTED
    torch_modules = ("Linear",)
    example = {"input": [12], "options": {"units": 5}}
    accepts_activation = True
    primary = "units"
    options = {
        "units": Option(integer(1), required=True, aliases=("out_features", "features"), doc="n_out"),
        "bias": Option(boolean, default=True, aliases=("use_bias",), doc="add a learned bias per unit"),
    }

    @classmethod
    def from_torch_module(cls, m):
        return {"units": m.out_features, **cls.non_default(bias=m.bias is not None)}

    def inputs(self, ins):
        if len(ins[0]) != 1:
            raise LayerError(
                f"dense needs a vector, but its input is a feature map of shape {tuple(ins[0])}",
                hint="add `- flatten` (or a global pooling layer) before it",
            )
        return ins[0][0]

    def output_shape(self, ins):
        self.inputs(ins)
        return (self.units,)

    def param_tensors(self, ins):
        weight = self.inputs(ins) * self.units
        return (weight, self.units) if self.bias else (weight,)

    def macs(self, ins, out):
        return self.inputs(ins) * self.units

    def flops(self, ins, out):
        return 2 * self.macs(ins, out) + self.bias_adds(ins, out)

    def bias_adds(self, ins, out):
        return self.units if self.bias else 0

    def receptive_step(self, ins):
        return "global"

    def torch_module(self, ins):
        from torch import nn
        return nn.Linear(self.inputs(ins), self.units, bias=self.bias)

    def saved_tensors(self, ins, out, grad):
        """addmm keeps the input only to compute the weight's gradient (the weight, for the input's)."""
        return [keep_input(ins, grad)] if grad.weights else []

    def torch_backward_flops(self, ins, out, grad):
        """One matrix product per gradient wanted: weight's and input's, each 2·in·out."""
        return self.torch_flops(ins, out) * (int(grad.inputs[0]) + int(grad.weights))

    def explain(self, ins, out):
        n_in = self.inputs(ins)
        steps = [Step("output", "n_out", "", out)]
        if self.bias:
            steps.append(Step("params", "(n_in + 1)·n_out", f"({n_in} + 1)·{self.units}", self.params(ins),
                              "a weight per input and one bias, for each output"))
        else:
            steps.append(Step("params", "n_in·n_out", f"{n_in}·{self.units}", self.params(ins),
                              "no bias (bias: false)"))
        return steps + [Step("MACs", "n_in·n_out", f"{n_in}·{self.units}", self.macs(ins, out)),
                        weights_flops_step(self, ins, out, "n_out", self.units)]


@register
class Flatten(Layer):
    type_name = "flatten"
    kind = Kind.RESHAPE
    counting = counted_as()
    torch_modules = ("Flatten",)
    example = {"input": [2, 3, 3], "layers": ["relu", "flatten", {"dense": 4}]}
    torch_functions = ("flatten", "view", "reshape")

    @classmethod
    def from_torch_module(cls, m):
        if (m.start_dim, m.end_dim) != (1, -1):
            raise Unsupported(f"flatten(start_dim={m.start_dim}, end_dim={m.end_dim}); archcalc flattens all but batch")
        return {}

    @classmethod
    def from_torch_call(cls, call):
        before, after = call.input_shapes[0], call.output_shape
        if len(after) == 2 and len(before) > 2:
            return {}, (0,)
        if after[:len(before)] == before and all(d == 1 for d in after[len(before):]):
            return PASS_THROUGH   # (N, C) -> (N, C, 1, 1) to scale channels: archcalc's multiply takes (C,)
        raise Unsupported(f"a reshape from {tuple(before[1:])} to {tuple(after[1:])}; archcalc can only flatten")

    def output_shape(self, ins):
        return (numel(ins[0]),)

    def is_view(self):
        return True

    def torch_module(self, ins):
        from torch import nn
        return nn.Flatten()

    def explain(self, ins, out):
        return [Step("output", "C·H·W" if len(ins[0]) == 3 else "n", dims(ins[0]), out),
                self.no_params_step(), Step("FLOPs", "", "", 0, "a view of the same memory: nothing is computed")]
