"""Convolutions over 1, 2 or 3 spatial axes, including grouped, depthwise and dilated, and their
transposed forms. One class per family is written for any rank; Conv1d/2d/3d set the rank."""
from ..errors import LayerError, Unsupported
from ..i18n import N_, _
from .base import (Kind, Option, Saved, Step, Windowed, as_pair, boolean, dims, integer, keep_input, padding_of,
                   sizes, weights_flops_step, window_steps)
from .counting import MACS, MACS_BIAS, WEIGHTED, Rule, counted_as, torch_flops
from .registry import register
from .shapes import Window, channels_last, laid_out_as, numel, runs_channels_last


def conv_options(rank):
    return {
        "filters": Option(integer(1), required=True, aliases=("out_channels",), doc="output channels K"),
        "kernel": Option(sizes(rank, 1), required=True, aliases=("kernel_size",), doc=f"F, int or {_axes(rank)}"),
        "stride": Option(sizes(rank, 1), default=(1,) * rank, aliases=("strides",), doc="S"),
        "padding": Option(padding_of(rank), default=(0,) * rank, aliases=("pad",),
                          doc=f"P: int, {_axes(rank)}, 'valid' or 'same'"),
        "dilation": Option(sizes(rank, 1), default=(1,) * rank, aliases=("dilation_rate",), doc="D"),
        "groups": Option(integer(1), default=1, doc="1 = dense, C_in = depthwise"),
        "bias": Option(boolean, default=True, aliases=("use_bias",), doc="add a learned bias per filter"),
    }


def _axes(rank):
    return {1: "[l]", 2: "[h, w]", 3: "[d, h, w]"}[rank]


class _Conv(Windowed):
    """A convolution with `rank` spatial axes: O = (N − D(F − 1) − 1 + 2P)/S + 1 on each."""

    rank = 2
    kind = Kind.CONV
    counting = WEIGHTED
    accepts_activation = True

    @classmethod
    def from_torch_module(cls, m):
        if m.padding_mode != "zeros":
            raise Unsupported(f"padding_mode='{m.padding_mode}' (archcalc pads with zeros)")
        padding = m.padding if isinstance(m.padding, str) else as_pair(m.padding)
        return {"filters": m.out_channels, "kernel": as_pair(m.kernel_size),
                **cls.non_default(stride=as_pair(m.stride), padding=padding, dilation=as_pair(m.dilation),
                                  groups=m.groups, bias=m.bias is not None)}

    def pads(self):
        """((before, after), ...) per axis: 'same' pads d(k-1) in total, the odd pixel at the end, as PyTorch does."""
        return self.memoized("pads", self.resolve_padding)

    def resolve_padding(self):
        if self.padding == "valid":
            return ((0, 0),) * self.rank
        if self.padding == "same":
            if any(s != 1 for s in self.stride):
                raise LayerError(
                    _("padding 'same' needs stride 1 (PyTorch refuses it for strided convolutions)"),
                    hint=_("write the padding as a number, e.g. {example}").format(example="padding: (kernel - 1) // 2"),
                )
            totals = [d * (k - 1) for d, k in zip(self.dilation, self.kernel)]
            return tuple((t // 2, t - t // 2) for t in totals)
        return tuple((p, p) for p in self.padding)

    def windows(self, shape):
        return self.memoized(("windows", tuple(shape)), lambda: [
            Window(size, k, s, before, after, d)
            for size, k, s, (before, after), d in zip(shape[1:], self.kernel, self.stride, self.pads(), self.dilation)])

    def check_channels(self, shape):
        self.require_map(shape, self.type_name, self.rank)
        channels = shape[0]
        if channels % self.groups or self.filters % self.groups:
            raise LayerError(
                _("groups={groups} must divide both the input channels ({channels}) and filters ({filters})").format(
                    groups=self.groups, channels=channels, filters=self.filters),
                hint=_("choose groups among the common divisors of {channels} and {filters}").format(
                    channels=channels, filters=self.filters),
            )
        return channels

    def output_shape(self, ins):
        self.check_channels(ins[0])
        return (self.filters,) + tuple(w.output for w in self.windows(ins[0]))

    def param_tensors(self, ins):
        channels = self.check_channels(ins[0])
        weight = self.filters * (channels // self.groups) * numel(self.kernel)
        return (weight, self.filters) if self.bias else (weight,)

    def macs(self, ins, out):
        return numel(out) * (ins[0][0] // self.groups) * numel(self.kernel)

    def flops(self, ins, out):
        return 2 * self.macs(ins, out) + self.bias_adds(ins, out)

    def bias_adds(self, ins, out):
        return numel(out) if self.bias else 0

    def torch_module(self, ins):
        from torch import nn
        pads = self.pads()
        symmetric = all(before == after for before, after in pads)
        return getattr(nn, self.torch_modules[0])(
            ins[0][0], self.filters, self.kernel, stride=self.stride,
            padding=tuple(before for before, _ in pads) if symmetric else "same",
            dilation=self.dilation, groups=self.groups, bias=self.bias,
        )

    def saved_tensors(self, ins, out, grad):
        """The input (and the weight, a parameter), whenever any gradient flows. For 'same' padding
        with an odd total, torch first pads a copy of the input by the extra pixel at the end and
        convolves that copy, so the copy is what it keeps."""
        if not grad.active:
            return []
        pads = self.pads()
        if all(before == after for before, after in pads):
            return [keep_input(ins, grad)]
        channels, *spatial = ins[0]
        padded = [size + after - before for size, (before, after) in zip(spatial, pads)]
        return [Saved.new(grad.batch * channels * numel(padded))]

    def torch_backward_flops(self, ins, out, grad):
        """grad_input costs the forward's F; FlopCounterMode counts grad_weight as groups·F."""
        forward = self.torch_flops(ins, out)
        return (forward if grad.inputs[0] else 0) + (self.groups * forward if grad.weights else 0)

    # ---- memory layout (channels last): what the CPU convolution copies

    def runs_mkldnn(self, ins, width, grad):
        """Whether torch runs this convolution with oneDNN (mkldnn) on CPU: use_mkldnn in
        aten/src/ATen/native/Convolution.cpp takes fp32 inputs when the convolution is grouped, or both
        kernel sides exceed 3, or the batch exceeds 1, or the input (its first four dimensions) holds more
        than 20,480 elements; otherwise the slow (thnn) kernel runs. (Its other clause, about unstrided
        1×1 kernels at batches under 16, holds whenever torch runs more than one thread, as assumed.)"""
        if grad.device != "cpu" or width != 4:
            return False
        return (self.groups > 1 or all(k > 3 for k in self.kernel) or grad.batch > 1
                or grad.batch * numel(ins[0][:3]) > 20_480)

    def layout(self, ins, width, grad):
        """The memory order the convolution runs in: channels last when oneDNN runs it and its input is
        stored so (mkldnn_conv_use_channels_last reads the input's suggest_memory_format; archcalc's
        weights are contiguous), else contiguous (None): the slow kernel makes everything contiguous."""
        if self.runs_mkldnn(ins, width, grad) and runs_channels_last(ins[0], grad.order(0)):
            return channels_last(len(ins[0]))
        return None

    def output_order(self, ins, out, width, grad):
        """The output is written in the layout the convolution runs in."""
        return self.layout(ins, width, grad)

    def input_grad_orders(self, ins, out, width, grad):
        """So is the input's gradient."""
        return (self.layout(ins, width, grad),)

    def backward_workspace(self, ins, out, width, grad=None):
        """On CPU, convolution_backward first makes the output's gradient (and the input) contiguous in
        the layout the convolution runs in (mkldnn_convolution_backward: `grad_output.contiguous(
        memory_format)`; the slow kernel makes them plainly contiguous): a copy of the output's gradient
        when it reaches the layer in the other layout (a channels-last gradient of a contiguous
        convolution, ConvNeXt's stem; a contiguous gradient of a channels-last one, the residual gradient
        of ConvNeXt-T's last downsampling), of the input when it is in neither. Both live until the
        backward returns. (The slow kernel's own column buffers are not counted, see tests/test_memory.py
        TOLERANCE.) Measured with the CPU profiler: test_channels_last_convolution_backward."""
        if grad is None or grad.device != "cpu":
            return 0
        target = self.layout(ins, width, grad)
        copies = 0 if laid_out_as(out, grad.grad_order, target) else numel(out)
        copies += 0 if laid_out_as(ins[0], grad.order(0), target) else numel(ins[0])
        return (copies + self.strided_input_copy(ins, width, grad)) * width

    def strided_input_copy(self, ins, width, grad):
        """Elements per sample of the second input-sized tensor a strided convolution's backward makes on
        CPU: when oneDNN runs it contiguous, ungrouped, with a stride above 1 on some axis, and the input
        needs a gradient, aten::convolution_backward allocates the input's gradient and then an
        aten::contiguous copy of an input-sized tensor (the profiler's aten::contiguous → aten::clone
        inside convolution_backward, before the weight's gradient is allocated), which lives through the
        weight's gradient and is freed before the backward returns. Not made at stride 1, by grouped or
        depthwise convolutions, channels last, or by the slow kernel (measured with the CPU profiler on
        torch 2.14: test_strided_convolution_backward_copies_its_input_gradient). ResNet-18's peak is
        layer3.0.conv1's backward, with this 2·128·28·28·4 = 802,816-byte copy alive."""
        if not (grad.inputs and grad.inputs[0]) or self.groups != 1 or all(s == 1 for s in self.stride):
            return 0
        if not self.runs_mkldnn(ins, width, grad) or self.layout(ins, width, grad) is not None:
            return 0
        return numel(ins[0])

    def backward_weight_temporaries(self, ins, out, width, grad):
        """A channels-last convolution's backward (mkldnn_convolution_backward) also makes the weight
        contiguous channels last, a copy unless the weight (K, C_in/G, *F) is laid out both ways (C_in/G
        = 1, depthwise, or a 1×1 kernel); and it computes the weight's gradient contiguous and returns
        `.to(channels_last)` of it, a second weight-sized tensor alive beside the first while it copies
        (the memory model counts one as the parameter's gradient). AccumulateGrad then copies that
        gradient back into the parameter's own layout where they differ, after the convolution's
        temporaries are freed: a smaller moment, not counted."""
        if grad.device != "cpu" or self.layout(ins, width, grad) is None:
            return ()
        channels = ins[0][0]
        weight_axes = (channels // self.groups, *self.kernel)
        weight = self.param_tensors(ins)[0] * width
        clone = () if laid_out_as(weight_axes, None, channels_last(len(weight_axes))) else (weight,)
        return clone + ((weight,) if grad.weights else ())

    def explain(self, ins, out):
        channels = ins[0][0]
        kernel_symbol, kernel = self.kernel_terms()
        per_filter_symbol, per_filter = f"{kernel_symbol}·C_in", f"{kernel}·{channels}"
        note = ""
        if self.groups > 1:
            per_filter_symbol, per_filter = f"{kernel_symbol}·(C_in/G)", f"{kernel}·({channels}/{self.groups})"
            seen = channels // self.groups
            note = (_("depthwise (G = C_in = {channels}): each filter sees 1 input channel").format(channels=channels)
                    if seen == 1 else
                    _("grouped (G = {groups}): each filter sees C_in/G = {channels}/{groups} = {seen} "
                      "input channels").format(groups=self.groups, channels=channels, seen=seen))
        if self.bias:
            params = Step("params", f"({per_filter_symbol} + 1)·K", f"({per_filter} + 1)·{self.filters}",
                          self.params(ins), note)
        else:
            params = Step("params", f"{per_filter_symbol}·K", f"{per_filter}·{self.filters}", self.params(ins),
                          "; ".join(filter(None, [note, _("no bias (bias: false)")])))
        size_symbol = self.size_symbol(out)
        positions = "·".join(str(d) for d in out[1:])
        return window_steps(self.windows(ins[0])) + [
            params,
            Step("MACs", f"{per_filter_symbol}·K·{size_symbol}", f"{per_filter}·{self.filters}·{positions}",
                 self.macs(ins, out)),
            weights_flops_step(self, ins, out, f"K·{size_symbol}", dims(out))]


@register
class Conv1d(_Conv):
    type_name = "conv1d"
    aliases = ("convolution1d", "conv1d_layer")
    rank = 1
    options = conv_options(1)
    torch_modules = ("Conv1d",)
    example = {"input": [4, 11], "options": {"filters": 6, "kernel": 3, "stride": 2, "padding": 1, "groups": 2}}


@register
class Conv2d(_Conv):
    type_name = "conv2d"
    aliases = ("conv", "convolution2d", "conv2d_layer")
    rank = 2
    options = conv_options(2)
    torch_modules = ("Conv2d",)
    example = {"input": [6, 9, 9], "options": {"filters": 4, "kernel": 3, "stride": 2, "padding": 1, "groups": 2}}
    keras_classes = ("Conv2D",)
    keras_reads_padding = True

    def keras_layer(self, plan, node, ins, inputs):
        """Conv2D; a padding other than Keras's 'same' is a ZeroPadding2D before it."""
        windows = self.windows(ins[0])
        padding, inputs = plan.padding(node, windows, inputs, True)
        kwargs = {}
        if self.stride != (1, 1):
            kwargs["strides"] = plan.short(self.stride)
        if padding:
            kwargs["padding"] = padding
        if self.dilation != (1, 1):
            kwargs["dilation_rate"] = plan.short(self.dilation)
        if self.opts.get("groups", 1) != 1:
            kwargs["groups"] = self.opts["groups"]
        if not self.bias:
            kwargs["use_bias"] = False
        plan.emit("Conv2D", inputs, [self.filters, tuple(self.kernel)], **kwargs, **plan.folded_activation())

    @classmethod
    def from_keras_layer(cls, reader, layer, shape, pending):
        kernel, stride, dilation = layer.kernel_size, layer.strides, layer.dilation_rate
        options = {"filters": layer.filters, "kernel": reader.pair(kernel)}
        if tuple(stride) != (1, 1):
            options["stride"] = reader.pair(stride)
        padding = reader.padding(layer, shape, pending, kernel, stride, dilation)[0]
        if padding != 0:
            options["padding"] = padding
        if tuple(dilation) != (1, 1):
            options["dilation"] = reader.pair(dilation)
        if layer.groups != 1:
            options["groups"] = layer.groups
        if not layer.use_bias:
            options["bias"] = False
        activation = reader.activation(layer)
        return cls.type_name, {**options, **({"activation": activation} if activation else {})}


@register
class Conv3d(_Conv):
    type_name = "conv3d"
    aliases = ("convolution3d", "conv3d_layer")
    rank = 3
    options = conv_options(3)
    torch_modules = ("Conv3d",)
    example = {"input": [2, 5, 6, 6], "options": {"filters": 4, "kernel": [3, 3, 2], "stride": 2, "padding": 1}}


class _ConvTranspose(_Conv):
    """The gradient of a convolution as a layer: O = (N − 1)·S − 2P + D·(F − 1) + output_padding + 1 on each
    axis; every input position is scattered through the whole kernel."""

    counting = counted_as(torch=torch_flops("2·MACs"), torchvision=MACS, fvcore=MACS, ptflops=MACS_BIAS,
                          torchinfo=Rule(lambda l, i, o, b: l.params(i) * numel(o[1:]) * b,
                                         N_("weight and bias elements · output positions (its Conv rule)")),
                          thop=Rule(lambda l, i, o, b: numel(o) * b * (i[0][0] // l.groups) * numel(l.kernel),
                                    N_("the convolution formula on the output: O elements·(C_in/G)·F^r")))
    accepts_activation = True

    @classmethod
    def transposed_options(cls, rank):
        options = {k: v for k, v in conv_options(rank).items() if k != "padding"}
        options["padding"] = Option(sizes(rank, 0), default=(0,) * rank, aliases=("pad",), doc="P removed from each side")
        options["output_padding"] = Option(sizes(rank, 0), default=(0,) * rank, doc="added to one side of the output")
        return options

    @classmethod
    def from_torch_module(cls, m):
        if m.padding_mode != "zeros":
            raise Unsupported(f"padding_mode='{m.padding_mode}'")
        return {"filters": m.out_channels, "kernel": as_pair(m.kernel_size),
                **cls.non_default(stride=as_pair(m.stride), padding=as_pair(m.padding),
                                  output_padding=as_pair(m.output_padding), dilation=as_pair(m.dilation),
                                  groups=m.groups, bias=m.bias is not None)}

    def pads(self):
        return tuple((p, p) for p in self.padding)

    def axis_sizes(self, shape):
        """(output, (N − 1)·S − 2P + D·(F − 1) + output_padding + 1 worked) per axis."""
        for k, s, d, op in zip(self.kernel, self.stride, self.dilation, self.output_padding):
            if op >= max(s, d):
                raise LayerError(_("output_padding {padding} must be smaller than the stride or the dilation").format(
                    padding=op), hint=_("PyTorch refuses it: use output_padding below max(stride, dilation)"))
        out = []
        for n, k, s, p, d, op in zip(shape[1:], self.kernel, self.stride, self.padding, self.dilation,
                                     self.output_padding):
            size = (n - 1) * s - 2 * p + d * (k - 1) + op + 1
            if size < 1:
                raise LayerError(_("the output size {size} is below 1").format(size=size),
                                 hint=_("use less padding or a larger input"))

            out.append(size)
        return out

    def windows(self, shape):
        raise AssertionError("a transposed convolution has no sliding window over its input")

    def warnings(self, ins):
        return []

    def receptive_step(self, ins):
        """Each output sees ceil(F/S) inputs along an axis: not a window of the input, so the field is
        not carried through (documented)."""
        return None

    def output_shape(self, ins):
        self.check_channels(ins[0])
        return (self.filters,) + tuple(self.axis_sizes(ins[0]))

    def param_tensors(self, ins):
        channels = self.check_channels(ins[0])
        weight = channels * (self.filters // self.groups) * numel(self.kernel)
        return (weight, self.filters) if self.bias else (weight,)

    def macs(self, ins, out):
        """Each input element meets K/G filters through the whole kernel."""
        return numel(ins[0]) * (self.filters // self.groups) * numel(self.kernel)

    def torch_module(self, ins):
        from torch import nn
        return getattr(nn, self.torch_modules[0])(
            ins[0][0], self.filters, self.kernel, stride=self.stride, padding=self.padding,
            output_padding=self.output_padding, groups=self.groups, bias=self.bias, dilation=self.dilation)

    def saved_tensors(self, ins, out, grad):
        return [keep_input(ins, grad)] if grad.active else []

    def strided_input_copy(self, ins, width, grad):
        """A transposed convolution's backward is not the strided convolution's: not measured, not counted."""
        return 0

    def explain(self, ins, out):
        channels = ins[0][0]
        steps = []
        for suffix, n, k, s, p, d, op, o in zip(
                ("",) if self.rank == 1 or len(set(out[1:])) == 1 and len(set(ins[0][1:])) == 1 else
                ("_d", "_h", "_w")[3 - self.rank:], ins[0][1:], self.kernel, self.stride, self.padding,
                self.dilation, self.output_padding, out[1:]):
            steps.append(Step(f"O{suffix}", "(N − 1)·S − 2P + D·(F − 1) + output_padding + 1",
                              f"({n} − 1)·{s} − 2·{p} + {d}·({k} − 1) + {op} + 1", o))
        kernel_symbol, kernel = self.kernel_terms()
        per = f"{kernel}·({self.filters}/{self.groups})" if self.groups > 1 else f"{kernel}·{self.filters}"
        per_symbol = f"{kernel_symbol}·(K/G)" if self.groups > 1 else f"{kernel_symbol}·K"
        bias = f" + {self.filters}" if self.bias else ""
        return steps + [
            Step("params", f"C_in·{per_symbol}" + (" + K" if self.bias else ""), f"{channels}·{per}{bias}",
                 self.params(ins)),
            Step("MACs", f"C_in·{self.axes_symbol('N', ins[0][1:])}·{per_symbol}",
                 f"{dims(ins[0])}·{per}", self.macs(ins, out), _("every input element is spread over the kernel")),
            weights_flops_step(self, ins, out, f"K·{self.size_symbol(out)}", dims(out))]


@register
class ConvTranspose1d(_ConvTranspose):
    type_name = "conv_transpose1d"
    aliases = ("conv1dtranspose", "convtranspose1d", "deconv1d")
    rank = 1
    options = _ConvTranspose.transposed_options(1)
    torch_modules = ("ConvTranspose1d",)
    example = {"input": [4, 7], "options": {"filters": 6, "kernel": 3, "stride": 2, "padding": 1, "output_padding": 1}}


@register
class ConvTranspose2d(_ConvTranspose):
    type_name = "conv_transpose2d"
    aliases = ("conv2dtranspose", "convtranspose2d", "deconv2d", "deconv")
    rank = 2
    options = _ConvTranspose.transposed_options(2)
    torch_modules = ("ConvTranspose2d",)
    example = {"input": [4, 5, 5], "options": {"filters": 6, "kernel": 3, "stride": 2, "groups": 2}}


@register
class ConvTranspose3d(_ConvTranspose):
    type_name = "conv_transpose3d"
    aliases = ("conv3dtranspose", "convtranspose3d", "deconv3d")
    rank = 3
    options = _ConvTranspose.transposed_options(3)
    torch_modules = ("ConvTranspose3d",)
    example = {"input": [2, 3, 4, 4], "options": {"filters": 3, "kernel": 2, "stride": 2}}
