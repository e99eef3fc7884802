"""Element-wise activations, usable as layers or as `activation:` on conv2d and dense."""
from ..i18n import N_, _
from .shapes import numel
from .counting import INPUT_ELEMENTS, ZERO, Rule, counted_as, times
from .registry import register
from .functional import FUNCTIONAL, functional_module, module_or_call
from ..errors import LayerError, Unsupported
from .base import Kind, Layer, Option, Saved, Step, dims, integer, keep_input, keep_output, number

FUNCTIONAL_ONLY = Rule(INPUT_ELEMENTS.count, N_("1 per element (patched functional only)"))
TWICE = times(INPUT_ELEMENTS, 2, N_("2 per element (module hook + patched functional)"))


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
        if cls.keras_layer_class is not None and "keras_classes" not in vars(cls):
            cls.keras_classes = (cls.keras_layer_class,)

    def flops(self, ins, out):
        return self.flops_per_element * numel(out)

    # options that torch's module takes under the same names, and its function in this order after the input
    # (nn.LeakyReLU(negative_slope), F.leaky_relu(x, negative_slope)); from-torch reads them back
    torch_options = ()
    # a Keras layer of its own that takes torch_options under the same names (LeakyReLU, ELU); without one,
    # an activation with a Keras name is written as Keras's Activation layer of that name
    keras_layer_class = None

    def torch_module(self, ins):
        from torch import nn
        return getattr(nn, self.torch_name)(**self.torch_kwargs(ins))

    def torch_kwargs(self, ins):
        return {name: getattr(self, name) for name in self.torch_options}

    @classmethod
    def from_torch_module(cls, m):
        return cls.non_default(**{name: getattr(m, name) for name in cls.torch_options})

    @classmethod
    def from_torch_call(cls, call):
        return cls.non_default(**{name: call.arg(index, name, cls.options[name].default)
                                  for index, name in enumerate(cls.torch_options, 1)}), (0,)

    def saved_tensors(self, ins, out, grad):
        """The output where the derivative is a function of it (relu, sigmoid, tanh, softmax), else the
        input; nothing when no gradient reaches it."""
        if not any(grad.inputs):
            return []
        return [keep_output(out, grad) if self.saves_output else keep_input(ins, grad)]

    def keras_layer(self, plan, node, ins, inputs):
        """Its own Keras layer (keras_layer_class) with its options; else, with a Keras name, Keras's
        Activation layer of that name."""
        if self.keras_layer_class is not None:
            return plan.emit(self.keras_layer_class, inputs, **self.torch_kwargs(ins))
        if self.keras_activation is None:
            return super().keras_layer(plan, node, ins, inputs)
        plan.emit("Activation", inputs, [self.keras_activation])

    @classmethod
    def from_keras_layer(cls, reader, layer, shape, pending):
        """Its keras_layer_class, the options read back under their names."""
        return cls.type_name, {name: float(getattr(layer, name)) for name in cls.torch_options}


@register
class ReLU(Activation):
    type_name, torch_name = "relu", "ReLU"
    counting = counted_as(ptflops=module_or_call(TWICE, FUNCTIONAL_ONLY))
    saves_output = True
    options = {"functional": FUNCTIONAL}    # torchvision's BasicConv2d and DenseNet call F.relu

    @classmethod
    def from_torch_call(cls, call):
        return {"functional": True}, (0,)

    def torch_module(self, ins):
        return functional_module("relu") if self.functional else super().torch_module(ins)

    keras_activation = "relu"
    keras_classes = ("ReLU",)

    @classmethod
    def from_keras_layer(cls, reader, layer, shape, pending):
        """Keras's ReLU layer: plain, or relu6 with max_value=6."""
        if layer.negative_slope or layer.threshold:
            raise Unsupported("ReLU with negative_slope or threshold")
        if layer.max_value is None:
            return cls.type_name, {}
        if float(layer.max_value) == 6:
            return ReLU6.type_name, {}
        raise Unsupported(f"ReLU(max_value={layer.max_value})")


@register
class ReLU6(Activation):
    type_name, torch_name = "relu6", "ReLU6"
    counting = counted_as(ptflops=Rule(INPUT_ELEMENTS.count, N_("1 per element (module hook; F.hardtanh is not patched)")))

    keras_activation = "relu6"


@register
class LeakyReLU(Activation):
    type_name, torch_name = "leaky_relu", "LeakyReLU"
    counting = counted_as(ptflops=Rule(INPUT_ELEMENTS.count, N_("1 per element (module hook)")))
    aliases = ("leakyrelu",)
    primary = "negative_slope"
    options = {"negative_slope": Option(number(minimum=0), default=0.01, aliases=("alpha",))}
    torch_options = ("negative_slope",)
    keras_activation_aliases = ("leaky_relu",)     # read back; written as a LeakyReLU layer, which has the slope
    keras_layer_class = "LeakyReLU"


@register
class ELU(Activation):
    type_name, torch_name = "elu", "ELU"
    counting = counted_as(ptflops=TWICE)
    primary = "alpha"
    options = {"alpha": Option(number(minimum=0), default=1.0)}
    torch_options = ("alpha",)
    keras_activation_aliases = ("elu",)            # read back; written as an ELU layer, which has alpha
    keras_layer_class = "ELU"


def _approximation(value):
    if value not in ("none", "tanh"):
        raise LayerError(_("approximate must be 'none' or 'tanh', got {value}").format(value=repr(value)))
    return value


_approximation.describe = N_("'none' (exact erf) or 'tanh' (GPT-2's gelu_new)")
_approximation.schema = {"enum": ["none", "tanh"]}


@register
class GELU(Activation):
    """GELU; `approximate: tanh` is the tanh form GPT-2 uses (the same counts: one FLOP per element)."""

    type_name, torch_name = "gelu", "GELU"
    counting = counted_as(ptflops=TWICE)
    options = {"approximate": Option(_approximation, default="none")}
    torch_options = ("approximate",)            # F.gelu takes it by keyword only
    keras_activation = "gelu"


@register
class SiLU(Activation):
    type_name, torch_name = "silu", "SiLU"
    counting = counted_as(ptflops=FUNCTIONAL_ONLY)
    aliases = ("swish",)

    keras_activation = "silu"
    keras_activation_aliases = ("swish",)


@register
class Hardswish(Activation):
    type_name, torch_name = "hardswish", "Hardswish"
    aliases = ("hard_swish",)

    keras_activation = "hard_swish"
    keras_activation_aliases = ("hard_silu",)


@register
class Tanh(Activation):
    type_name, torch_name = "tanh", "Tanh"
    saves_output = True

    keras_activation = "tanh"


@register
class Sigmoid(Activation):
    type_name, torch_name = "sigmoid", "Sigmoid"
    saves_output = True

    keras_activation = "sigmoid"


def _thop_softmax(layer, ins, out, batch):
    """exp, add and divide per row of C features: rows · (3C − 1)."""
    features = out[0]
    return numel(out) * batch // features * (3 * features - 1)


@register
class Softmax(Activation):
    """Over the channel (feature) axis; 3 FLOPs per element: exp, add to the sum, divide."""

    type_name, torch_name = "softmax", "Softmax"
    counting = counted_as(thop=Rule(_thop_softmax, N_("rows · (3C − 1)")), ptflops=FUNCTIONAL_ONLY)
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

    keras_activation = "softmax"
    keras_classes = ("Softmax",)

    def keras_layer(self, plan, node, ins, inputs):
        """Keras's Softmax layer (over the last axis, the channels); `activation: softmax` folds as the string."""
        plan.emit("Softmax", inputs)



# ---- issue 12: learned, smooth and gated activations

def feature_dim(shape):
    """torch's dim of the feature axis for an input of this shape (internal layout, no batch): the last
    for vectors (N, F) and sequences (N, T, F), the channels (dim 1) of a map (N, C, *spatial)."""
    return -1 if len(shape) <= 2 else 1


def feature_axis(shape):
    """The same axis in the internal shape: the last for vectors and sequences, 0 (channels) for maps."""
    return len(shape) - 1 if len(shape) <= 2 else 0


def not_counted(module, function, aten=None, **rules):
    """counted_as() with every tool that ignores the activation saying why (read from each tool's source)."""
    aten = aten or function
    zero = {
        "torch": Rule(ZERO.count, N_("0: FlopCounterMode counts only matrix products and convolutions")),
        "fvcore": Rule(ZERO.count, f"0: aten::{aten} {'have' if ' and ' in aten else 'has'} no handle"),
        "thop": Rule(ZERO.count, f"0: no hook for {module}"),
        "ptflops": Rule(ZERO.count, f"0: no hook for {module}, F.{function} not patched"),
    }
    zero.update(rules)
    return counted_as(**zero)


def torch_axis(layer, shape):
    """The internal axis of the layer's `dim` option (torch's dim, batch included; None: the feature axis)."""
    if layer.dim is None:
        return feature_axis(shape)
    rank = len(shape) + 1
    if not -rank <= layer.dim < rank or layer.dim % rank == 0:
        raise LayerError(_("{type} dim={dim} is not an axis of a sample of shape {shape} (torch's dims 1 to {last}, "
                           "or -1 to -{last}; dim 0 is the batch)").format(type=layer.type_name, dim=layer.dim,
                                                                          shape=tuple(shape), last=rank - 1),
                         hint=_("leave dim out for the feature axis: the last of vectors and sequences, a map's "
                                "channels"))
    return layer.dim % rank - 1


DIM = Option(integer(-5), default=None, aliases=("axis",),
             doc="torch's dim, batch included (default: the feature axis, the last of vectors and sequences, a map's channels)")


@register
class PReLU(Activation):
    """max(0, x) + a·min(0, x) with a learned slope a: one for the whole tensor, or one per torch channel
    (dim 1: the channels of a map, the features of a vector, the tokens of a sequence)."""

    type_name, torch_name = "prelu", "PReLU"
    counting = not_counted(
        "nn.PReLU", "prelu", aten="prelu",
        thop=Rule(INPUT_ELEMENTS.count, N_("input elements (count_prelu: in eval mode only, 0 in train mode)")),
        ptflops=TWICE)
    torch_functions = ()         # F.prelu(x, weight) reads a parameter directly: only nn.PReLU imports
    primary = "num_parameters"
    example = {"input": [3, 4, 4], "before": [{"conv2d": {"filters": 3, "kernel": 1}}], "options": {"num_parameters": 3}}
    options = {"num_parameters": Option(integer(1), default=1, aliases=("channels",),
                                        doc="1, or the size of torch's dim 1 (one slope each)"),
               "init": Option(number(), default=0.25, doc="initial slope (does not change any count)")}
    inplace_capable = False

    def output_shape(self, ins):
        if self.num_parameters not in (1, ins[0][0]):
            raise LayerError(_("prelu num_parameters {count} must be 1 or the size of the input's first axis ({size} "
                               "in {shape})").format(count=self.num_parameters, size=ins[0][0], shape=tuple(ins[0])),
                             hint=_("torch's PReLU has one slope, or one per channel (dim 1 of the batch)"))
        return ins[0]

    def param_tensors(self, ins):
        return (self.num_parameters,)

    def saved_tensors(self, ins, out, grad):
        """The input, for both the input's gradient and the slope's."""
        return [keep_input(ins, grad)] if grad.active else []

    def torch_kwargs(self, ins):
        return {"num_parameters": self.num_parameters, "init": self.init}

    @classmethod
    def from_torch_module(cls, m):
        return cls.non_default(num_parameters=m.num_parameters)

    def explain(self, ins, out):
        return [self.same_shape_step(out), Step("params", "1 or C", "", self.params(ins), _("learned negative slopes")),
                self.flops_step(ins, out)]


@register
class Hardsigmoid(Activation):
    """relu6(x + 3)/6."""

    type_name, torch_name = "hardsigmoid", "Hardsigmoid"
    aliases = ("hard_sigmoid",)
    counting = not_counted("nn.Hardsigmoid", "hardsigmoid")


@register
class Mish(Activation):
    """x·tanh(softplus(x))."""

    type_name, torch_name = "mish", "Mish"
    counting = not_counted("nn.Mish", "mish")


@register
class SELU(Activation):
    """scale·elu(x, alpha) with torch's fixed scale ≈ 1.0507 and alpha ≈ 1.6733."""

    type_name, torch_name = "selu", "SELU"
    counting = not_counted("nn.SELU", "selu")


@register
class Softplus(Activation):
    """log(1 + exp(β·x))/β, linear above `threshold`."""

    type_name, torch_name = "softplus", "Softplus"
    counting = not_counted("nn.Softplus", "softplus")
    inplace_capable = False
    torch_functions = ("softplus",)
    example = {"input": [3, 4, 4], "before": [{"conv2d": {"filters": 3, "kernel": 1}}],
               "options": {"beta": 2, "threshold": 10}}
    options = {"beta": Option(number(), default=1.0), "threshold": Option(number(), default=20.0)}
    torch_options = ("beta", "threshold")


@register
class LogSoftmax(Activation):
    """x − log Σ exp(x) along `dim` (default the feature axis): exp, add to the sum and subtract per
    element, one log per row."""

    type_name, torch_name = "log_softmax", "LogSoftmax"
    counting = not_counted("nn.LogSoftmax", "log_softmax", aten="log_softmax")
    aliases = ("logsoftmax",)
    torch_functions = ("log_softmax",)
    saves_output = True
    inplace_capable = False
    options = {"dim": DIM}

    def output_shape(self, ins):
        torch_axis(self, ins[0])
        return ins[0]

    def rows(self, out):
        return numel(out) // out[torch_axis(self, out)]

    def flops(self, ins, out):
        return 3 * numel(out) + self.rows(out)

    def torch_kwargs(self, ins):
        return {"dim": feature_dim(ins[0]) if self.dim is None else self.dim}

    @classmethod
    def from_torch_module(cls, m):
        if m.dim is None:
            raise Unsupported("LogSoftmax() without dim (torch picks one from the rank, deprecated): give dim")
        return {"dim": m.dim}

    @classmethod
    def from_torch_call(cls, call):
        dim = call.arg(1, "dim")
        if dim is None:
            raise Unsupported("log_softmax without dim: give dim")
        return {"dim": dim}, (0,)

    def explain(self, ins, out):
        return [self.same_shape_step(out), self.no_params_step(),
                Step("FLOPs", "3·elements + rows", f"3·{dims(out)} + {self.rows(out)}", self.flops(ins, out),
                     _("exp, sum and subtract per element; one log per row along axis {axis}").format(
                         axis=torch_axis(self, out)))]


class _Gated(Activation):
    """a ⊙ act(b), where a and b are the first and second halves of the input's feature axis (the last for
    vectors and sequences, a map's channels), as torch.nn.functional.glu splits: the output has half the
    features. In a Llama or Gemma MLP, `dense` with 2·d units (the up and gate projections fused) then
    swiglu / geglu is `up(x) ⊙ act(gate(x))`."""

    inplace_capable = False
    gate = ""
    example = {"input": [5, 3], "before": [{"lstm": {"hidden": 6}}]}
    options = {"dim": DIM}

    def torch_kwargs(self, ins):
        return {"dim": feature_dim(ins[0]) if self.dim is None else self.dim}

    @classmethod
    def from_torch_module(cls, m):
        return {"dim": m.dim}

    def output_shape(self, ins):
        shape, axis = tuple(ins[0]), torch_axis(self, ins[0])
        if shape[axis] % 2:
            raise LayerError(_("{type} splits axis {axis} in two halves, but it has {size} (shape {shape})").format(
                type=self.type_name, axis=axis, size=shape[axis], shape=shape),
                hint=_("give the layer before it an even number of units"))
        return shape[:axis] + (shape[axis] // 2,) + shape[axis + 1:]

    def flops(self, ins, out):
        """The gate's activation and the product: 2 per output element."""
        return 2 * numel(out)

    def saved_tensors(self, ins, out, grad):
        """The input (both halves are views of it) and act(b), which the product keeps for a's gradient."""
        if not any(grad.inputs):
            return []
        return [keep_input(ins, grad), Saved.new(numel(out) * grad.batch)] if self.gate else [keep_input(ins, grad)]

    def explain(self, ins, out):
        axis = torch_axis(self, ins[0])
        return [Step("output", "features/2", f"{ins[0][axis]}/2", out, _("a and b: the two halves of the features")),
                self.no_params_step(),
                Step("FLOPs", "2·output elements", f"2·{dims(out)}", self.flops(ins, out),
                     _("{gate}(b) and the product a⊙{gate}(b)").format(gate=self.gate or 'sigmoid'))]



@register
class GLU(_Gated):
    type_name, torch_name = "glu", "GLU"
    counting = not_counted("nn.GLU", "glu")
    torch_functions = ("glu",)
    saves_output = False

    @classmethod
    def from_torch_call(cls, call):
        return {"dim": call.arg(1, "dim", -1)}, (0,)


class _TorchGated(_Gated):
    torch_functions = ()      # a chunk, an activation and a product in fx: not matched as one layer

    def torch_module(self, ins):
        from . import torch_modules
        return getattr(torch_modules, self.torch_name)(**self.torch_kwargs(ins))


GATE_ONLY = Rule(lambda layer, ins, out, batch: numel(out) * batch,
                 N_("output elements: its patched F.silu / F.gelu on b (the product a * b is not counted)"))


@register
class SwiGLU(_TorchGated):
    type_name, torch_name, gate = "swiglu", "SwiGLU", "silu"
    counting = not_counted("archcalc's SwiGLU module", "silu", aten="silu and aten::mul", ptflops=GATE_ONLY)


@register
class GeGLU(_TorchGated):
    type_name, torch_name, gate = "geglu", "GeGLU", "gelu"
    counting = not_counted("archcalc's GeGLU module", "gelu", aten="gelu and aten::mul", ptflops=GATE_ONLY)
