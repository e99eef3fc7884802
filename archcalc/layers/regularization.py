"""Dropout: free at inference, a random mask in training."""
from ..i18n import _
from .shapes import numel
from .counting import counted_as
from .registry import register
from .base import Kind, Layer, Option, Saved, Step, number


@register
class Dropout(Layer):
    type_name = "dropout"
    kind = Kind.REGULARIZATION
    counting = counted_as()
    primary = "rate"
    eval_identity = True
    torch_modules = ("Dropout",)
    example = {"input": [3, 4, 4], "layers": ["relu", {"dropout": 0.3}]}
    torch_functions = ("dropout",)

    @classmethod
    def from_torch_module(cls, m):
        return cls.non_default(rate=m.p)

    @classmethod
    def from_torch_call(cls, call):
        return cls.non_default(rate=call.arg(1, "p", 0.5)), (0,)
    options = {"rate": Option(number(minimum=0, below=1), default=0.5, aliases=("p",), doc="fraction dropped")}

    def torch_module(self, ins):
        from torch import nn
        return nn.Dropout(self.rate)

    def is_view(self):
        """Rate 0 returns the input tensor itself."""
        return self.rate == 0

    def saved_tensors(self, ins, out, grad):
        """The mask only, never the input. On CPU torch draws it as a tensor of the activation dtype
        (values 0 and 1/(1 − rate)); on CUDA the fused native_dropout keeps a bool mask (1 byte)."""
        if self.rate == 0 or not any(grad.inputs):
            return []
        return [Saved.new(numel(ins[0]) * grad.batch, 1 if grad.device == "cuda" else None)]

    def explain(self, ins, out):
        return [self.same_shape_step(out), self.no_params_step(),
                Step("FLOPs", "", "", 0, _("inference: an identity (training zeroes a {rate} fraction)").format(rate=f"{self.rate:g}"))]

    keras_classes = ("Dropout",)

    def keras_layer(self, plan, node, ins, inputs):
        plan.emit("Dropout", inputs, [self.opts.get("rate", 0.5)])

    @classmethod
    def from_keras_layer(cls, reader, layer, shape, pending):
        return cls.type_name, {"rate": float(layer.rate)}

    @classmethod
    def is_no_op(cls, options):
        """A dropout of rate 0 passes its input through."""
        return not options.get("rate", cls.options["rate"].default)
