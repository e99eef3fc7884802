"""A layer type from outside archcalc, registered through the `archcalc.layers` entry-point group:
y = x·x element-wise (a test of the extension point, not a layer anyone needs)."""
from archcalc.layers import Kind, Layer, register
from archcalc.layers.base import Step, dims, keep_input
from archcalc.layers.counting import counted_as
from archcalc.layers.shapes import numel


@register
class Square(Layer):
    type_name = "square"
    aliases = ("squared",)
    kind = Kind.ACTIVATION
    counting = counted_as()          # one multiply per element; no tool has a hook for it
    torch_modules = ("archcalc_square.torch_module:Square",)
    example = {"input": [3, 4, 4], "before": [{"conv2d": {"filters": 3, "kernel": 1}}]}

    def flops(self, ins, out):
        return numel(out)

    def saved_tensors(self, ins, out, grad):
        """x * x keeps both operands: the same storage, counted once."""
        return [keep_input(ins, grad)] if any(grad.inputs) else []

    def torch_module(self, ins):
        from .torch_module import Square as Module
        return Module()

    def explain(self, ins, out):
        return [self.same_shape_step(out), self.no_params_step(), Step("FLOPs", "elements", dims(out), self.flops(ins, out))]
