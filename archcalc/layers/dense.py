"""Fully-connected layers and the flatten that feeds them. A dense layer takes a (features,) vector or a
(tokens, features) sequence, applied at each position with one shared weight (MACs = tokens·in·out)."""
from ..errors import LayerError, Unsupported
from ..i18n import N_, _
from .shapes import numel
from .counting import WEIGHTED, Rule, counted_as
from .registry import register
from .base import Kind, Layer, Option, Step, boolean, dims, integer, keep_input, weights_flops_step


def any_axis(value):
    if not isinstance(value, int) or isinstance(value, bool):
        raise LayerError(f"expected an axis (an integer), got {value!r}")
    return value


any_axis.describe = N_("an axis: 0 = the first after the batch, -1 the last")
any_axis.schema = {"type": "integer"}


@register
class Dense(Layer):
    type_name = "dense"
    aliases = ("linear", "fc", "fully_connected")
    kind = Kind.DENSE
    counting = {**WEIGHTED, "torchinfo": Rule(lambda l, i, o, b: l.params(i) * b,
                                              N_("its parameters (in + 1)·out, once per sample even for a sequence"))}
    torch_modules = ("Linear",)
    example = {"input": [12], "options": {"units": 5}}
    accepts_activation = True
    primary = "units"
    options = {
        "units": Option(integer(1), required=True, aliases=("out_features", "features"), doc="n_out"),
        "bias": Option(boolean, default=True, aliases=("use_bias",), doc="add a learned bias per unit"),
        "last_axis": Option(boolean, default=False,
                            doc="act on the last axis of an input of any rank, at every position, as torch's "
                                "Linear does on a channels-last (H, W, C) map (ConvNeXt's pointwise layers)"),
    }

    @classmethod
    def from_torch_module(cls, m):
        return {"units": m.out_features, **cls.non_default(bias=m.bias is not None)}

    @classmethod
    def from_torch_module_with(cls, m, input_shapes):
        """nn.Linear on a channels-last map (N, H, W, C): `last_axis: true`."""
        options = cls.from_torch_module(m)
        return {**options, "last_axis": True} if input_shapes and len(input_shapes[0]) > 3 else options

    def inputs(self, ins):
        if len(ins[0]) > 2 and not self.last_axis:
            raise LayerError(
                _("dense needs a vector or a (tokens, features) sequence, but its input is a feature map of shape "
                  "{shape}").format(shape=tuple(ins[0])),
                hint=_("add `- flatten` (or a global pooling layer) before it; or, for a map permuted to "
                       "channels last, `last_axis: true`"),
            )
        return ins[0][-1]

    def positions(self, ins):
        """1 for a vector; the tokens of a sequence (or the positions of a `last_axis` map), each multiplied by
        the same weight."""
        return numel(ins[0][:-1])

    def output_shape(self, ins):
        self.inputs(ins)
        return tuple(ins[0][:-1]) + (self.units,)

    def weight_matrices(self, ins):
        return ((self.units, self.inputs(ins)),)

    def weight_shape(self, ins):
        """Its weight as torch holds it, (out, in): what `tie` matches against the layer it shares with."""
        return (self.units, self.inputs(ins))

    def param_tensors(self, ins):
        weight = self.inputs(ins) * self.units
        return (weight, self.units) if self.bias else (weight,)

    def macs(self, ins, out):
        return self.positions(ins) * self.inputs(ins) * self.units

    def flops(self, ins, out):
        return 2 * self.macs(ins, out) + self.bias_adds(ins, out)

    def bias_adds(self, ins, out):
        return self.positions(ins) * self.units if self.bias else 0

    def receptive_step(self, ins):
        return "global" if len(ins[0]) == 1 else None

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
        if len(ins[0]) >= 2:
            return self.explain_sequence(ins, out)
        steps = [Step("output", "n_out", "", out)]
        if self.bias:
            steps.append(Step("params", "(n_in + 1)·n_out", f"({n_in} + 1)·{self.units}", self.params(ins),
                              _("a weight per input and one bias, for each output")))
        else:
            steps.append(Step("params", "n_in·n_out", f"{n_in}·{self.units}", self.params(ins),
                              _("no bias (bias: false)")))
        return steps + [Step("MACs", "n_in·n_out", f"{n_in}·{self.units}", self.macs(ins, out)),
                        weights_flops_step(self, ins, out, "n_out", self.units)]

    def explain_sequence(self, ins, out):
        n, n_in = self.positions(ins), ins[0][-1]
        word = "tokens" if len(ins[0]) == 2 else "positions"     # a `last_axis` map: every (h, w)
        where = f"({n}, {self.units})" if len(ins[0]) == 2 else f"({'×'.join(map(str, ins[0][:-1]))}, {self.units})"
        params = (Step("params", "(n_in + 1)·n_out", f"({n_in} + 1)·{self.units}", self.params(ins),
                       _("one weight shared by every token") if len(ins[0]) == 2 else
                       _("one weight shared by every position")) if self.bias else
                  Step("params", "n_in·n_out", f"{n_in}·{self.units}", self.params(ins), _("no bias (bias: false)")))
        flops = (Step("FLOPs", f"2·MACs + {word}·n_out", f"2·{self.macs(ins, out):,} + {n}·{self.units}",
                      self.flops(ins, out)) if self.bias else
                 Step("FLOPs", "2·MACs", f"2·{self.macs(ins, out):,}", self.flops(ins, out)))
        return [Step("output", f"({word}, n_out)", where, out, _("applied at each position")), params,
                Step("MACs", f"{word}·n_in·n_out", f"{n}·{n_in}·{self.units}", self.macs(ins, out)), flops]

    keras_classes = ("Dense",)
    # as before the move (issue 11): a ZeroPadding2D before Dense is dropped, and from-keras's shape check reports it
    keras_reads_padding = True

    def keras_layer(self, plan, node, ins, inputs):
        kwargs = {} if self.bias else {"use_bias": False}
        plan.emit("Dense", inputs, [self.units], **kwargs, **plan.folded_activation())

    @classmethod
    def from_keras_layer(cls, reader, layer, shape, pending):
        options = {"units": layer.units, **({} if layer.use_bias else {"bias": False})}
        activation = reader.activation(layer)
        return cls.type_name, {**options, **({"activation": activation} if activation else {})}


@register
class Flatten(Layer):
    type_name = "flatten"
    kind = Kind.RESHAPE
    counting = counted_as()
    torch_modules = ("Flatten",)
    example = {"input": [2, 3, 3], "layers": ["relu", "flatten", {"dense": 4}]}
    torch_functions = ("flatten",)
    options = {
        "start": Option(any_axis, default=0, aliases=("start_dim",), doc="first axis flattened (batch not counted)"),
        "end": Option(any_axis, default=-1, aliases=("end_dim",), doc="last axis flattened"),
    }

    @classmethod
    def from_torch_module(cls, m):
        return cls.axes_of(m.start_dim, m.end_dim)

    @classmethod
    def axes_of(cls, start, end):
        if start == 0:
            raise Unsupported("flatten(start_dim=0), which merges the batch")
        return cls.non_default(start=start - 1, end=end if end < 0 else end - 1)

    @classmethod
    def from_torch_call(cls, call):
        rank = len(call.input_shapes[0])
        start, end = call.arg(1, "start_dim", 0), call.arg(2, "end_dim", -1)
        if end >= 0:
            end -= rank
        return cls.axes_of(start % rank, end), (0,)

    def span(self, ins):
        rank = len(ins[0])
        start, end = self.start % rank if -rank <= self.start < rank else None, \
            self.end % rank if -rank <= self.end < rank else None
        if start is None or end is None or start > end:
            raise LayerError(_("flatten axes {start}..{end} do not fit an input of shape {shape}").format(
                start=self.start, end=self.end, shape=tuple(ins[0])),
                hint=_("axes count from 0 after the batch; -1 is the last"))
        return start, end

    def output_shape(self, ins):
        start, end = self.span(ins)
        shape = ins[0]
        return tuple(shape[:start]) + (numel(shape[start:end + 1]),) + tuple(shape[end + 1:])

    def is_view(self):
        return True

    def torch_module(self, ins):
        from torch import nn
        start, end = self.span(ins)
        return nn.Flatten(start + 1, end + 1)

    def explain(self, ins, out):
        if len(out) > 1:
            first, last = self.span(ins)
            return [Step("output", "", dims(ins[0]), out, _("axes {first}..{last} joined").format(first=first, last=last)),
                    self.no_params_step(), Step("FLOPs", "", "", 0, _("a view of the same memory: nothing is computed"))]
        return [Step("output", "C·H·W" if len(ins[0]) == 3 else "n", dims(ins[0]), out),
                self.no_params_step(), Step("FLOPs", "", "", 0, _("a view of the same memory: nothing is computed"))]

    keras_classes = ("Flatten",)

    def keras_layer(self, plan, node, ins, inputs):
        plan.emit("Flatten", inputs)
