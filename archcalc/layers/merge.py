"""Layers that join branches: residual add, channel concat, channel-wise multiply (squeeze-and-excitation)."""
from ..errors import LayerError, Unsupported
from ..i18n import N_, _
from .shapes import numel
from .counting import counted_as
from .registry import register
from .base import PASS_THROUGH, Kind, Layer, Option, Saved, Step, dims, keep_input


class _Merge(Layer):
    kind = Kind.MERGE
    counting = counted_as()
    min_inputs = 2
    max_inputs = None

    @classmethod
    def from_torch_call(cls, call):
        if len(call.input_shapes) != 2 or len(call.args) != 2 or call.kwargs.get("alpha", 1) != 1:
            raise Unsupported("archcalc adds and multiplies two tensors, not a tensor and a constant")
        return {}, (0, 1)

    @staticmethod
    def listed(ins):
        """"(4, 6, 6) and (8, 6, 6)": the input shapes, for an error message."""
        return (" " + _("and") + " ").join(str(tuple(s)) for s in ins)

    def flops(self, ins, out):
        """One operation per output element for each input after the first."""
        return (len(ins) - 1) * numel(out)

    def explain(self, ins, out):
        return [self.same_shape_step(out, _("the shape of the inputs")), self.no_params_step(),
                Step("FLOPs", "(inputs − 1)·elements", f"{len(ins) - 1}·{dims(out)}", self.flops(ins, out))]


@register
class Add(_Merge):
    type_name = "add"
    gradient_passes_through = True
    torch_modules = ("Add",)
    example = {"input": [3, 4, 4], "layers": [{"relu": {"name": "a"}}, {"sigmoid": {"name": "b", "from": "input"}}, {"add": {"from": ["a", "b"]}}]}
    torch_functions = ("add", "add_", "iadd")
    aliases = ("residual",)

    def output_shape(self, ins):
        """Inputs of one shape, or shapes that broadcast (numpy's rule, aligned from the last axis)."""
        out = ins[0]
        for shape in ins[1:]:
            if shape == out:
                continue
            padded = [(1,) * (max(len(out), len(shape)) - len(s)) + tuple(s) for s in (out, shape)]
            if any(a != b and 1 not in (a, b) for a, b in zip(*padded)):
                raise LayerError(
                    _("add needs inputs of one shape (or shapes that broadcast), got {shapes}").format(
                        shapes=self.listed(ins)),
                    hint=_("project the shortcut with a 1×1 conv2d of matching filters and stride"),
                )
            out = tuple(max(a, b) for a, b in zip(*padded))
        return out

    def torch_module(self, ins):
        from .torch_modules import Add as Module
        return Module()

    keras_classes = ("Add",)

    def keras_layer(self, plan, node, ins, inputs):
        plan.emit("Add", inputs)


def _axis(value):
    if not isinstance(value, int) or isinstance(value, bool):
        raise LayerError(_("expected an axis (an integer), got {value}").format(value=repr(value)))

    return value


_axis.describe = N_("an axis: 0 = channels (the first after the batch), -1 the last")
_axis.schema = {"type": "integer"}


@register
class Concat(_Merge):
    """Concatenate along the channel axis (features for vectors), or along `axis` (0 = the first axis after
    the batch: tokens of a sequence; -1 the last: a sequence's features)."""

    type_name = "concat"
    gradient_passes_through = True
    torch_modules = ("Concat", "ConcatAxis")
    example = {"input": [3, 4, 4], "layers": [{"relu": {"name": "a"}}, {"tanh": {"name": "b", "from": "input"}}, {"concat": {"from": ["a", "b"]}}]}
    torch_functions = ("cat",)
    options = {"axis": Option(_axis, default=0, aliases=("dim",), doc="axis joined, batch not counted")}

    @classmethod
    def from_torch_module(cls, m):
        return cls.non_default(axis=getattr(m, "axis", 0))

    @classmethod
    def from_torch_call(cls, call):
        if len(call.input_shapes) == 1:
            return PASS_THROUGH          # torch.cat([x]): DenseNet's first layer joins one tensor
        dim = call.arg(1, "dim", 0)
        rank = len(call.input_shapes[0])
        if dim % rank == 0:
            raise Unsupported("cat over the batch (dim 0)")
        return cls.non_default(axis=dim % rank - 1), tuple(range(len(call.input_shapes)))
    aliases = ("concatenate", "cat")

    def joined(self, ins):
        rank = len(ins[0])
        if not -rank <= self.axis < rank:
            raise LayerError(_("concat axis {axis} is out of range for inputs of {rank} axes").format(
                axis=self.axis, rank=rank), hint=_("use 0 to {last}, or -1 for the last").format(last=rank - 1))
        return self.axis % rank

    def output_shape(self, ins):
        ranks = {len(s) for s in ins}
        axis = self.joined(ins) if len(ranks) == 1 else 0
        rest = [tuple(d for i, d in enumerate(s) if i != axis) for s in ins]
        if len(ranks) > 1 or any(r != rest[0] for r in rest):
            if axis == 0:
                raise LayerError(
                    _("concat joins along channels, so the spatial sizes must match; got {shapes}").format(
                        shapes=self.listed(ins)),
                    hint=_("pad or stride the branches so that every branch has the same height and width"),
                )
            raise LayerError(_("concat joins along axis {axis}, so the other sizes must match; got {shapes}").format(
                axis=self.axis, shapes=self.listed(ins)), hint=_("reshape the inputs so only the joined axis differs"))
        return tuple(sum(s[axis] for s in ins) if i == axis else d for i, d in enumerate(ins[0]))

    def flops(self, ins, out):
        return 0

    def explain(self, ins, out):
        axis = self.joined(ins)
        symbol = "C" if axis == 0 else f"axis {axis}"
        return [Step(symbol, f"{symbol}_1 + {symbol}_2 + …", " + ".join(str(s[axis]) for s in ins), out[axis]),
                self.no_params_step(), Step("FLOPs", "", "", 0, _("concatenation copies, it computes nothing"))]

    def torch_module(self, ins):
        from .torch_modules import Concat, ConcatAxis
        axis = self.joined(ins)
        return Concat() if axis == 0 else ConcatAxis(axis)

    keras_classes = ("Concatenate",)

    def keras_layer(self, plan, node, ins, inputs):
        """Concatenate over Keras's last axis, its channels (channels_last)."""
        plan.emit("Concatenate", inputs, axis=-1)

    @classmethod
    def from_keras_layer(cls, reader, layer, shape, pending):
        if layer.axis not in (-1, 3):
            raise Unsupported(f"concatenation over axis {layer.axis}; archcalc concatenates channels")
        return cls.type_name, {}


@register
class Multiply(_Merge):
    """Element-wise product; a (C,) input scales each channel of a (C, H, W) input, as in squeeze-and-excitation."""

    type_name = "multiply"
    torch_modules = ("Multiply",)
    example = {"input": [3, 4, 4], "layers": [{"relu": {"name": "a"}}, {"global_avgpool2d": {"name": "g", "from": "input"}}, {"sigmoid": {"name": "s"}}, {"multiply": {"from": ["a", "s"]}}]}
    torch_functions = ("mul", "mul_", "imul")
    aliases = ("mul", "scale")

    def output_shape(self, ins):
        """Inputs of one shape, a (C,) vector scaling the channels of a (C, *spatial) map, or shapes of one
        rank that broadcast (a (C, 1, 1) gate times a (C, H, W) map, as torchvision's SqueezeExcitation)."""
        out = max(ins, key=len)
        for shape in ins:
            if shape == out or (len(shape) == 1 and shape[0] == out[0]):
                continue
            if len(shape) == len(out) and all(a == b or 1 in (a, b) for a, b in zip(shape, out)):
                out = tuple(max(a, b) for a, b in zip(shape, out))
                continue
            raise LayerError(
                _("multiply needs inputs of one shape, a ({channels},) vector to scale channels, or shapes that "
                  "broadcast; got {shapes}").format(channels=out[0], shapes=self.listed(ins)),
                hint=_("make the scaling branch end in dense with as many units as the map has channels"),
            )
        return out

    def explain(self, ins, out):
        steps = super().explain(ins, out)
        scales = [s for s in ins if len(s) == 1 and len(out) == 3]
        if scales:
            steps[0] = self.same_shape_step(
                out, _("the feature map's shape: each ({channels},) vector is broadcast over H×W, "
                       "one scale per channel (squeeze-and-excitation)").format(channels=out[0]))
        return steps

    def torch_module(self, ins):
        from .torch_modules import Multiply as Module
        return Module()

    def saved_tensors(self, ins, out, grad):
        """torch multiplies left to right; each product keeps each operand the other's gradient needs
        (a (C,) scale is reshaped to (C, 1, 1), a view of the same storage)."""
        rank = max(len(s) for s in ins)
        saved = []
        running, running_shape, running_grad = keep_input(ins, grad, 0), ins[0], grad.inputs[0]
        for index in range(1, len(ins)):
            if grad.inputs[index]:
                saved.append(running)
            if running_grad:
                saved.append(keep_input(ins, grad, index))
            padded = [tuple(s) + (1,) * (rank - len(s)) for s in (running_shape, ins[index])]
            running_shape = tuple(max(a, b) for a, b in zip(*padded))
            running = Saved.new(numel(running_shape) * grad.batch)
            running_grad = running_grad or grad.inputs[index]
        return saved

    def backward_workspace(self, ins, out, width, grad=None):
        """A broadcast operand's gradient is first computed at the product's full shape (MulBackward0:
        grad · other), and only after the node returns does autograd sum it down to the operand's shape
        (the engine's validate_outputs, InputMetadata::reduce_grad: the `aten::sum` after MulBackward0).
        So while the first sum runs, each broadcast operand that needs a gradient has a product-sized
        gradient alive beside the other operand's (squeeze-and-excitation's (C, 1, 1) gate: one (C, H, W)
        tensor). torch multiplies left to right: the worst of the chain's products. Measured with the CPU
        profiler (tests/test_memory.py test_broadcast_multiply_backward)."""
        if grad is None:
            return 0
        rank = max(len(s) for s in ins)
        padded = [tuple(s) + (1,) * (rank - len(s)) if len(s) < rank else tuple(s) for s in ins]
        worst, running, running_grad = 0, padded[0], grad.inputs[0]
        for index in range(1, len(ins)):
            product = tuple(max(a, b) for a, b in zip(running, padded[index]))
            size = numel(product)
            temporaries = sum(size for shape, needs in ((running, running_grad), (padded[index], grad.inputs[index]))
                              if needs and numel(shape) < size)
            worst = max(worst, temporaries)
            running, running_grad = product, running_grad or grad.inputs[index]
        return worst * width

    keras_classes = ("Multiply",)

    def keras_layer(self, plan, node, ins, inputs):
        """Multiply; a (C,) vector scaling a map's channels is first reshaped to Keras's (1, 1, C)."""
        ranks = [len(s) for s in ins]
        if len(set(ranks)) > 1:      # a (C,) vector scales the channels of a (C, H, W) map
            reshaped = []
            for ref, shape, name in zip(node.inputs, ins, inputs):
                if len(shape) == 1:
                    scale = plan.add([], "Reshape", [name], [(1, 1, shape[0])])
                    scale.name = plan.rename(scale, f"{node.name}_reshape")
                    name = scale.name
                reshaped.append(name)
            inputs = reshaped
        plan.emit("Multiply", inputs)
