"""2-D convolution, including grouped, depthwise and dilated."""
from ..errors import LayerError, Unsupported
from .shapes import Window, numel
from .counting import WEIGHTED
from .registry import register
from .base import (Kind, Option, Saved, Step, Windowed, as_pair, boolean, dims, integer, keep_input, padding, pair, weights_flops_step,
                   window_steps)


@register
class Conv2d(Windowed):
    type_name = "conv2d"
    aliases = ("conv", "convolution2d", "conv2d_layer")
    kind = Kind.CONV
    counting = WEIGHTED
    torch_modules = ("Conv2d",)
    example = {"input": [6, 9, 9], "options": {"filters": 4, "kernel": 3, "stride": 2, "padding": 1, "groups": 2}}
    accepts_activation = True
    options = {
        "filters": Option(integer(1), required=True, aliases=("out_channels",), doc="output channels K"),
        "kernel": Option(pair(1), required=True, aliases=("kernel_size",), doc="F, int or [h, w]"),
        "stride": Option(pair(1), default=(1, 1), aliases=("strides",), doc="S"),
        "padding": Option(padding, default=(0, 0), aliases=("pad",), doc="P: int, [h, w], 'valid' or 'same'"),
        "dilation": Option(pair(1), default=(1, 1), aliases=("dilation_rate",), doc="D"),
        "groups": Option(integer(1), default=1, doc="1 = dense, C_in = depthwise"),
        "bias": Option(boolean, default=True, aliases=("use_bias",), doc="add a learned bias per filter"),
    }

    @classmethod
    def from_torch_module(cls, m):
        if m.padding_mode != "zeros":
            raise Unsupported(f"padding_mode='{m.padding_mode}' (archcalc pads with zeros)")
        padding = m.padding if isinstance(m.padding, str) else as_pair(m.padding)
        return {"filters": m.out_channels, "kernel": as_pair(m.kernel_size),
                **cls.non_default(stride=as_pair(m.stride), padding=padding, dilation=as_pair(m.dilation),
                                  groups=m.groups, bias=m.bias is not None)}

    def pads(self):
        """((top, bottom), (left, right)): 'same' pads d(k-1) in total, the odd pixel at the end, as PyTorch does."""
        if self.padding == "valid":
            return ((0, 0), (0, 0))
        if self.padding == "same":
            if self.stride != (1, 1):
                raise LayerError(
                    "padding 'same' needs stride 1 (PyTorch refuses it for strided convolutions)",
                    hint="write the padding as a number, e.g. padding: (kernel - 1) // 2",
                )
            totals = [d * (k - 1) for d, k in zip(self.dilation, self.kernel)]
            return tuple((t // 2, t - t // 2) for t in totals)
        return tuple((p, p) for p in self.padding)

    def windows(self, shape):
        _, height, width = shape
        return [
            Window(size, k, s, before, after, d)
            for size, k, s, (before, after), d in zip(
                (height, width), self.kernel, self.stride, self.pads(), self.dilation
            )
        ]

    def check_channels(self, shape):
        self.require_map(shape, "conv2d")
        channels = shape[0]
        if channels % self.groups or self.filters % self.groups:
            raise LayerError(
                f"groups={self.groups} must divide both the input channels ({channels}) "
                f"and filters ({self.filters})",
                hint=f"choose groups among the common divisors of {channels} and {self.filters}",
            )
        return channels

    def output_shape(self, ins):
        self.check_channels(ins[0])
        return (self.filters,) + tuple(w.output for w in self.windows(ins[0]))

    def param_tensors(self, ins):
        channels = self.check_channels(ins[0])
        kh, kw = self.kernel
        weight = self.filters * (channels // self.groups) * kh * kw
        return (weight, self.filters) if self.bias else (weight,)

    def macs(self, ins, out):
        kh, kw = self.kernel
        return out[0] * out[1] * out[2] * (ins[0][0] // self.groups) * kh * kw

    def flops(self, ins, out):
        return 2 * self.macs(ins, out) + self.bias_adds(ins, out)

    def bias_adds(self, ins, out):
        return numel(out) if self.bias else 0

    def torch_module(self, ins):
        from torch import nn
        pads = self.pads()
        symmetric = all(before == after for before, after in pads)
        return nn.Conv2d(
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
        (top, bottom), (left, right) = self.pads()
        if (top, left) == (bottom, right):
            return [keep_input(ins, grad)]
        channels, height, width = ins[0]
        return [Saved.new(grad.batch * channels * (height + bottom - top) * (width + right - left))]

    def torch_backward_flops(self, ins, out, grad):
        """grad_input costs the forward's F; FlopCounterMode counts grad_weight as groups·F."""
        forward = self.torch_flops(ins, out)
        return (forward if grad.inputs[0] else 0) + (self.groups * forward if grad.weights else 0)

    def explain(self, ins, out):
        channels = ins[0][0]
        kernel_symbol, kernel = self.kernel_terms()
        per_filter_symbol, per_filter = f"{kernel_symbol}·C_in", f"{kernel}·{channels}"
        note = ""
        if self.groups > 1:
            per_filter_symbol, per_filter = f"{kernel_symbol}·(C_in/G)", f"{kernel}·({channels}/{self.groups})"
            seen = channels // self.groups
            note = (f"depthwise (G = C_in = {channels}): each filter sees 1 input channel" if seen == 1 else
                    f"grouped (G = {self.groups}): each filter sees C_in/G = {channels}/{self.groups} = {seen} "
                    "input channels")
        if self.bias:
            params = Step("params", f"({per_filter_symbol} + 1)·K", f"({per_filter} + 1)·{self.filters}",
                          self.params(ins), note)
        else:
            params = Step("params", f"{per_filter_symbol}·K", f"{per_filter}·{self.filters}", self.params(ins),
                          "; ".join(filter(None, [note, "no bias (bias: false)"])))
        size_symbol = self.size_symbol(out)
        return window_steps(self.windows(ins[0])) + [
            params,
            Step("MACs", f"{per_filter_symbol}·K·{size_symbol}", f"{per_filter}·{self.filters}·{out[1]}·{out[2]}",
                 self.macs(ins, out)),
            weights_flops_step(self, ins, out, f"K·{size_symbol}", dims(out))]
