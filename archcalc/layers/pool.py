"""Pooling: windowed max/average, adaptive average, and global pooling."""
from ..errors import LayerError, Unsupported
from .shapes import Window, numel
from .counting import INPUT_ELEMENTS, OUTPUT_ELEMENTS, Rule, counted_as, times
from .registry import register
from .base import Kind, Layer, Option, Saved, Step, Windowed, as_pair, boolean, dims, keep_input, pair, window_steps


TWICE = times(INPUT_ELEMENTS, 2, "2 per input element (module hook + functional)")


def _thop_adaptive_avgpool(layer, ins, out, batch):
    """thop's float arithmetic: (ΠN/O + 1) · output elements, truncated."""
    kernel = 1.0
    for size, output in zip(ins[0][1:], out[1:]):
        kernel *= size / output
    return int((kernel + 1) * numel(out) * batch)


class _WindowPool(Windowed):
    """Shared rules of max and average pooling: the window arithmetic is the convolution's."""

    kind = Kind.POOL
    primary = "kernel"      # `maxpool2d: 2`
    options = {
        "kernel": Option(pair(1), required=True, aliases=("kernel_size", "pool_size"), doc="F, int or [h, w]"),
        "stride": Option(pair(1), default=None, aliases=("strides",), doc="S, defaults to the kernel"),
        "padding": Option(pair(0), default=(0, 0), aliases=("pad",), doc="P, at most half the kernel"),
        "ceil_mode": Option(boolean, default=False, doc="round the output size up instead of down"),
    }

    @classmethod
    def window_options(cls, m, **more):
        return cls.non_default(kernel=as_pair(m.kernel_size), stride=as_pair(m.stride), padding=as_pair(m.padding),
                               ceil_mode=m.ceil_mode, **more)

    def strides(self):
        return self.stride or self.kernel

    def dilations(self):
        return (1, 1)

    def windows(self, shape):
        self.require_map(shape, self.type_name)
        for k, p, d in zip(self.kernel, self.padding, self.dilations()):
            if 2 * p > d * (k - 1) + 1:
                raise LayerError(
                    f"padding {p} is more than half the kernel {k}; PyTorch refuses it",
                    hint=f"use padding at most {(d * (k - 1) + 1) // 2}",
                )
        return [
            Window(size, k, s, p, p, d, self.ceil_mode)
            for size, k, s, p, d in zip(shape[1:], self.kernel, self.strides(), self.padding, self.dilations())
        ]

    def output_shape(self, ins):
        return (ins[0][0],) + tuple(w.output for w in self.windows(ins[0]))

    def window_elements(self):
        return self.kernel[0] * self.kernel[1]

    def explain(self, ins, out):
        window_symbol, window = self.kernel_terms()
        flops = self.window_flops_step(window_symbol, window, f"C·{self.size_symbol(out)}", dims(out))
        return window_steps(self.windows(ins[0])) + [
            self.no_params_step("no parameters: pooling only compares or averages"),
            Step("FLOPs", flops[0], flops[1], self.flops(ins, out))]


@register
class MaxPool2d(_WindowPool):
    type_name = "maxpool2d"
    aliases = ("maxpool", "max_pool2d", "maxpooling2d", "max_pooling2d")
    counting = counted_as(ptflops=TWICE)
    torch_modules = ("MaxPool2d",)
    example = {"input": [3, 9, 9], "options": {"kernel": 3, "stride": 2, "padding": 1}}
    options = dict(_WindowPool.options, dilation=Option(pair(1), default=(1, 1), doc="D"))

    @classmethod
    def from_torch_module(cls, m):
        if m.return_indices:
            raise Unsupported("return_indices=True")
        return cls.window_options(m, dilation=as_pair(m.dilation))

    def dilations(self):
        return self.dilation

    def flops(self, ins, out):
        """F·F − 1 comparisons per output element."""
        return numel(out) * (self.window_elements() - 1)

    def torch_module(self, ins):
        from torch import nn
        return nn.MaxPool2d(self.kernel, self.strides(), self.padding, self.dilation, ceil_mode=self.ceil_mode)

    def saved_tensors(self, ins, out, grad):
        """The input and the argmax of every window as int64 indices (8 bytes, whatever the dtype)."""
        return [keep_input(ins, grad), Saved.new(numel(out) * grad.batch, 8)] if grad.active else []

    @staticmethod
    def window_flops_step(window_symbol, window, outputs_symbol, outputs):
        return f"({window_symbol} − 1)·{outputs_symbol}", f"({window} − 1)·{outputs}"

    def workspace(self, ins, out, width):
        """PyTorch's kernel computes the int64 argmax indices even in inference, then drops them."""
        return numel(out) * 8


@register
class AvgPool2d(_WindowPool):
    type_name = "avgpool2d"
    aliases = ("avgpool", "avg_pool2d", "averagepooling2d", "average_pooling2d")
    counting = counted_as(thop=OUTPUT_ELEMENTS, ptflops=TWICE)
    torch_modules = ("AvgPool2d",)
    example = {"input": [3, 8, 8], "options": {"kernel": 2}}
    options = dict(_WindowPool.options, count_include_pad=Option(boolean, default=True, doc="divide by F·F at borders"))

    @classmethod
    def from_torch_module(cls, m):
        if m.divisor_override:
            raise Unsupported("divisor_override")
        return cls.window_options(m, count_include_pad=m.count_include_pad)

    def flops(self, ins, out):
        """F·F − 1 additions and one division per output element."""
        return numel(out) * self.window_elements()

    def torch_module(self, ins):
        from torch import nn
        return nn.AvgPool2d(self.kernel, self.strides(), self.padding, self.ceil_mode, self.count_include_pad)

    def saved_tensors(self, ins, out, grad):
        return [keep_input(ins, grad)] if grad.active else []

    @staticmethod
    def window_flops_step(window_symbol, window, outputs_symbol, outputs):
        return f"{window_symbol}·{outputs_symbol}", f"{window}·{outputs}"


def adaptive_windows(size, out):
    """Window lengths PyTorch's adaptive pooling uses: [floor(i·N/O), ceil((i+1)·N/O))."""
    return [-(-(i + 1) * size // out) - (i * size // out) for i in range(out)]


@register
class AdaptiveAvgPool2d(Layer):
    type_name = "adaptive_avgpool2d"
    aliases = ("adaptiveavgpool2d", "adaptive_avg_pool2d", "adaptive_avgpool")
    kind = Kind.POOL
    counting = counted_as(fvcore=INPUT_ELEMENTS, ptflops=TWICE,
                          thop=Rule(_thop_adaptive_avgpool, "(N/O window + 1) per output element"))
    torch_modules = ("AdaptiveAvgPool2d",)
    example = {"input": [3, 7, 7], "options": {"output": 3}}
    torch_functions = ("adaptive_avg_pool2d",)

    @classmethod
    def from_torch_module(cls, m):
        size = m.output_size if isinstance(m.output_size, (tuple, list)) else (m.output_size,) * 2
        if None in size:
            raise Unsupported("an output size of None (keep the input size)")
        return {"output": as_pair(size)}

    @classmethod
    def from_torch_call(cls, call):
        return {"output": as_pair(call.arg(1, "output_size"))}, (0,)
    primary = "output"
    options = {"output": Option(pair(1), required=True, aliases=("output_size",), doc="output size, int or [h, w]")}

    def output_shape(self, ins):
        self.require_map(ins[0], self.type_name)
        return (ins[0][0],) + tuple(self.output)

    def flops(self, ins, out):
        """One addition or division per input element of every window (windows may overlap)."""
        (channels, height, width), (oh, ow) = ins[0], self.output
        return channels * sum(adaptive_windows(height, oh)) * sum(adaptive_windows(width, ow))

    def receptive_step(self, ins):
        steps = []
        for size, out in zip(ins[0][1:], self.output):
            if size % out:
                return "global"
            steps.append((size // out, size // out, 0))
        return tuple(steps)

    def torch_module(self, ins):
        from torch import nn
        return nn.AdaptiveAvgPool2d(self.output)

    def saved_tensors(self, ins, out, grad):
        """An output of 1×1 runs as a mean, which keeps nothing; any other size keeps the input."""
        return [keep_input(ins, grad)] if grad.active and tuple(self.output) != (1, 1) else []

    def explain(self, ins, out):
        (channels, height, width), (oh, ow) = ins[0], self.output
        rows, cols = sum(adaptive_windows(height, oh)), sum(adaptive_windows(width, ow))
        return [Step("output", "output_size", "", out, "window i spans [floor(i·N/O), ceil((i+1)·N/O))"),
                self.no_params_step("no parameters: pooling only averages"),
                Step("FLOPs", "C·Σ window heights·Σ window widths", f"{channels}·{rows}·{cols}",
                     self.flops(ins, out), "one add or divide per input element of every window")]


@register
class GlobalAvgPool2d(Layer):
    """Keras's GlobalAveragePooling2D: (C, H, W) -> (C,), the mean of each channel."""

    type_name = "global_avgpool2d"
    aliases = ("globalaveragepooling2d", "global_average_pooling2d", "global_avgpool", "gap")
    kind = Kind.POOL
    counting = counted_as(fvcore=INPUT_ELEMENTS, ptflops=INPUT_ELEMENTS)
    torch_modules = ("GlobalAvgPool2d",)
    example = {"input": [3, 5, 5]}
    torch_functions = ("mean",)

    @classmethod
    def from_torch_call(cls, call):
        dims, keepdim = call.arg(1, "dim"), call.arg(2, "keepdim", False)
        if list(dims or ()) in ([2, 3], [-2, -1]) and not keepdim and len(call.input_shapes[0]) == 4:
            return {}, (0,)
        raise Unsupported("a mean other than over height and width (x.mean([2, 3]))")

    def output_shape(self, ins):
        self.require_map(ins[0], self.type_name)
        return (ins[0][0],)

    def flops(self, ins, out):
        return numel(ins[0])

    def receptive_step(self, ins):
        return "global"

    def torch_module(self, ins):
        from .torch_modules import GlobalAvgPool2d as Module
        return Module()

    def explain(self, ins, out):
        return [Step("output", "C", "", out, "one value per channel"),
                self.no_params_step("no parameters: pooling only compares or averages"),
                Step("FLOPs", *self.global_flops(ins[0]), self.flops(ins, out))]

    @staticmethod
    def global_flops(shape):
        return "C·H·W", dims(shape)


@register
class GlobalMaxPool2d(GlobalAvgPool2d):
    type_name = "global_maxpool2d"
    aliases = ("globalmaxpooling2d", "global_max_pooling2d", "global_maxpool")
    counting = counted_as(ptflops=INPUT_ELEMENTS)
    torch_modules = ("GlobalMaxPool2d",)
    example = {"input": [3, 5, 5]}
    torch_functions = ()

    def flops(self, ins, out):
        channels, height, width = ins[0]
        return channels * (height * width - 1)

    def torch_module(self, ins):
        from .torch_modules import GlobalMaxPool2d as Module
        return Module()

    def saved_tensors(self, ins, out, grad):
        """adaptive_max_pool2d keeps the input and one int64 index per channel."""
        return [keep_input(ins, grad), Saved.new(out[0] * grad.batch, 8)] if grad.active else []

    @staticmethod
    def global_flops(shape):
        channels, height, width = shape
        return "C·(H·W − 1)", f"{channels}·({height}·{width} − 1)"
