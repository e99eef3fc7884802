"""Pooling over 1, 2 or 3 spatial axes: windowed max/average, adaptive max/average, and global pooling.
Each family is written once for any rank; the 1d/2d/3d classes set `rank` and their names."""
from ..errors import LayerError, Unsupported
from ..i18n import N_, _
from .base import Kind, Layer, Option, Saved, Step, Windowed, as_pair, boolean, dims, keep_input, sizes, window_steps
from .counting import INPUT_ELEMENTS, OUTPUT_ELEMENTS, Rule, counted_as, times
from .registry import register
from .functional import FUNCTIONAL, functional_module, module_or_call
from .shapes import Window, numel

TWICE = times(INPUT_ELEMENTS, 2, N_("2 per input element (module hook + functional)"))
ONCE = Rule(INPUT_ELEMENTS.count, N_("1 per input element (patched functional only)"))
PTFLOPS = module_or_call(TWICE, ONCE)
NO_THOP_HOOK = Rule(lambda layer, ins, out, batch: 0, N_("0: thop sees modules only"))
AXES = {1: "[l]", 2: "[h, w]", 3: "[d, h, w]"}


def _thop_adaptive_avgpool(layer, ins, out, batch):
    """thop's float arithmetic: (ΠN/O + 1) · output elements, truncated."""
    kernel = 1.0
    for size, output in zip(ins[0][1:], out[1:]):
        kernel *= size / output
    return int((kernel + 1) * numel(out) * batch)


def window_pool_options(rank):
    return {
        "kernel": Option(sizes(rank, 1), required=True, aliases=("kernel_size", "pool_size"),
                         doc=f"F, int or {AXES[rank]}"),
        "stride": Option(sizes(rank, 1), default=None, aliases=("strides",), doc="S, defaults to the kernel"),
        "padding": Option(sizes(rank, 0), default=(0,) * rank, aliases=("pad",), doc="P, at most half the kernel"),
        "ceil_mode": Option(boolean, default=False, doc="round the output size up instead of down"),
        "functional": FUNCTIONAL,
    }


def named(family, rank, **attributes):
    """One rank of a pooling family: maxpool1d, maxpool2d, maxpool3d..., registered."""
    cls = type(f"{family.__name__.lstrip('_')}{rank}d", (family,), {"rank": rank, **attributes})
    cls.__module__ = __name__
    cls.__doc__ = family.__doc__
    return register(cls)


class _WindowPool(Windowed):
    """Shared rules of max and average pooling: the window arithmetic is the convolution's."""

    kind = Kind.POOL
    primary = "kernel"      # `maxpool2d: 2`
    rank = 2

    @classmethod
    def window_options(cls, m, **more):
        return cls.non_default(kernel=as_pair(m.kernel_size), stride=as_pair(m.stride), padding=as_pair(m.padding),
                               ceil_mode=m.ceil_mode, **more)

    def strides(self):
        return self.stride or self.kernel

    def dilations(self):
        return (1,) * self.rank

    def windows(self, shape):
        return self.memoized(("windows", tuple(shape)), lambda: self.make_windows(shape))

    def make_windows(self, shape):
        self.require_map(shape, self.type_name, self.rank)
        for k, p, d in zip(self.kernel, self.padding, self.dilations()):
            if 2 * p > d * (k - 1) + 1:
                raise LayerError(
                    _("padding {padding} is more than half the kernel {kernel}; PyTorch refuses it").format(
                        padding=p, kernel=k),
                    hint=_("use padding at most {most}").format(most=(d * (k - 1) + 1) // 2),
                )
        return [
            Window(size, k, s, p, p, d, self.ceil_mode)
            for size, k, s, p, d in zip(shape[1:], self.kernel, self.strides(), self.padding, self.dilations())
        ]

    def output_shape(self, ins):
        return (ins[0][0],) + tuple(w.output for w in self.windows(ins[0]))

    def window_elements(self):
        return numel(self.kernel)

    def explain(self, ins, out):
        window_symbol, window = self.kernel_terms()
        flops = self.window_flops_step(window_symbol, window, f"C·{self.size_symbol(out)}", dims(out))
        return window_steps(self.windows(ins[0])) + [
            self.no_params_step(_("no parameters: pooling only compares or averages")),
            Step("FLOPs", flops[0], flops[1], self.flops(ins, out))]

    def keras_pool(self, plan, node, ins, inputs, keras_class):
        windows = self.windows(ins[0])
        if self.opts.get("dilation", (1, 1)) != (1, 1):
            raise plan.fail(node, "Keras pools have no dilation")
        _, inputs = plan.padding(node, windows, inputs, False)
        kwargs = {} if tuple(self.strides()) == tuple(self.kernel) else {"strides": plan.short(self.strides())}
        plan.emit(keras_class, inputs, [tuple(self.kernel)], **kwargs)

    @classmethod
    def keras_pool_options(cls, reader, layer, shape, pending, ceil, average):
        kernel, stride = layer.pool_size, layer.strides or layer.pool_size
        options = {"kernel": reader.pair(kernel)}
        if tuple(stride) != tuple(kernel):
            options["stride"] = reader.pair(stride)
        padding, rounds_up = reader.padding(layer, shape, pending, kernel, stride, ceil=ceil)
        if rounds_up:
            options["ceil_mode"] = True
        if padding != 0:
            options["padding"] = padding
            if average and layer.padding == "same":
                options["count_include_pad"] = False      # Keras averages over the real pixels only
        return cls.type_name, options


class _MaxPool(_WindowPool):
    counting = counted_as(ptflops=PTFLOPS)

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

    @classmethod
    def from_torch_call(cls, call):
        """F.max_pool2d(x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False)"""
        if call.arg(6, "return_indices", False):
            raise Unsupported("return_indices=True")
        kernel = call.arg(1, "kernel_size")
        return cls.non_default(kernel=as_pair(kernel), stride=as_pair(call.arg(2, "stride") or kernel),
                               padding=as_pair(call.arg(3, "padding", 0)), dilation=as_pair(call.arg(4, "dilation", 1)),
                               ceil_mode=call.arg(5, "ceil_mode", False)) | {"functional": True}, (0,)

    def torch_module(self, ins):
        from torch import nn
        if self.functional:
            return functional_module(f"max_pool{self.rank}d", self.kernel, self.strides(), self.padding,
                                     self.dilation, ceil_mode=self.ceil_mode)
        return getattr(nn, self.torch_modules[0])(self.kernel, self.strides(), self.padding, self.dilation,
                                                  ceil_mode=self.ceil_mode)

    def saved_tensors(self, ins, out, grad):
        """The input and the argmax of every window as int64 indices (8 bytes, whatever the dtype)."""
        return [keep_input(ins, grad), Saved.new(numel(out) * grad.batch, 8)] if grad.active else []

    @staticmethod
    def window_flops_step(window_symbol, window, outputs_symbol, outputs):
        return f"({window_symbol} − 1)·{outputs_symbol}", f"({window} − 1)·{outputs}"

    def workspace(self, ins, out, width):
        """PyTorch's kernel computes the int64 argmax indices even in inference, then drops them."""
        return numel(out) * 8

    def keras_layer(self, plan, node, ins, inputs):
        """MaxPooling2D (2-D only); padding and ceil_mode's extra end pixels are a ZeroPadding2D before it."""
        if self.rank != 2:
            return super().keras_layer(plan, node, ins, inputs)
        self.keras_pool(plan, node, ins, inputs, "MaxPooling2D")

    @classmethod
    def from_keras_layer(cls, reader, layer, shape, pending):
        """MaxPooling2D; extra end pixels of a ZeroPadding2D (fewer than the stride) read as ceil_mode."""
        return cls.keras_pool_options(reader, layer, shape, pending, ceil=True, average=False)


def max_pool_options(rank):
    return dict(window_pool_options(rank), dilation=Option(sizes(rank, 1), default=(1,) * rank, doc="D"))


class _AvgPool(_WindowPool):
    counting = counted_as(thop=module_or_call(OUTPUT_ELEMENTS, NO_THOP_HOOK), ptflops=PTFLOPS)

    @classmethod
    def from_torch_module(cls, m):
        if getattr(m, "divisor_override", None):
            raise Unsupported("divisor_override")
        return cls.window_options(m, count_include_pad=m.count_include_pad)

    def flops(self, ins, out):
        """F·F − 1 additions and one division per output element."""
        return numel(out) * self.window_elements()

    @classmethod
    def from_torch_call(cls, call):
        """F.avg_pool2d(x, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True)"""
        if call.arg(6, "divisor_override"):
            raise Unsupported("divisor_override")
        kernel = call.arg(1, "kernel_size")
        return cls.non_default(kernel=as_pair(kernel), stride=as_pair(call.arg(2, "stride") or kernel),
                               padding=as_pair(call.arg(3, "padding", 0)), ceil_mode=call.arg(4, "ceil_mode", False),
                               count_include_pad=call.arg(5, "count_include_pad", True)) | {"functional": True}, (0,)

    def torch_module(self, ins):
        from torch import nn
        if self.functional:
            return functional_module(f"avg_pool{self.rank}d", self.kernel, self.strides(), self.padding,
                                     self.ceil_mode, self.count_include_pad)
        return getattr(nn, self.torch_modules[0])(self.kernel, self.strides(), self.padding, self.ceil_mode,
                                                  self.count_include_pad)

    def saved_tensors(self, ins, out, grad):
        return [keep_input(ins, grad)] if grad.active else []

    @staticmethod
    def window_flops_step(window_symbol, window, outputs_symbol, outputs):
        return f"{window_symbol}·{outputs_symbol}", f"{window}·{outputs}"

    def keras_layer(self, plan, node, ins, inputs):
        """AveragePooling2D (2-D only); refused where padding or ceil_mode would change the averages."""
        if self.rank != 2:
            return super().keras_layer(plan, node, ins, inputs)
        windows = self.windows(ins[0])
        if self.opts.get("ceil_mode") and any(w.remainder for w in windows):
            raise plan.fail(node, "ceil_mode rounds the output size up; Keras pools round down, and "
                            "padding an average pool would change its values",
                            hint="pick an input size that divides evenly, or drop ceil_mode")
        if self.opts.get("dilation", (1, 1)) != (1, 1):
            raise plan.fail(node, "Keras pools have no dilation")
        if not self.opts.get("count_include_pad", True) and any(w.pad_before or w.pad_after for w in windows):
            raise plan.fail(node, "count_include_pad: false has no Keras equivalent with explicit padding")
        self.keras_pool(plan, node, ins, inputs, "AveragePooling2D")

    @classmethod
    def from_keras_layer(cls, reader, layer, shape, pending):
        """AveragePooling2D; padding='same' averages over the real pixels only (count_include_pad: false)."""
        return cls.keras_pool_options(reader, layer, shape, pending, ceil=False, average=True)


def avg_pool_options(rank):
    return dict(window_pool_options(rank),
                count_include_pad=Option(boolean, default=True, doc=f"divide by {'·'.join(['F'] * rank)} at borders"))


# fvcore has a handle for aten::adaptive_avg_pool2d only: its 1-D and 3-D forms (and the means that
# global pooling runs as) count 0 there.
NO_FVCORE_HANDLE = Rule(lambda layer, ins, out, batch: 0, N_("0: fvcore has no handle for the 1-D or 3-D op"))


def _spellings(base, rank, keras):
    """maxpool2d: maxpool, max_pool2d, maxpooling2d, max_pooling2d (the 2-D form also answers to `maxpool`)."""
    return tuple(filter(None, (base if rank == 2 else None, f"{base.replace('pool', '_pool')}{rank}d",
                               f"{keras}{rank}d", f"{keras.replace('pooling', '_pooling')}{rank}d")))


MAX_POOLS = {rank: named(_MaxPool, rank, type_name=f"maxpool{rank}d",
                         aliases=_spellings("maxpool", rank, "maxpooling"), options=max_pool_options(rank),
                         torch_modules=(f"MaxPool{rank}d",), torch_functions=(f"max_pool{rank}d",),
                         example={"input": [3] + [9] * rank, "options": {"kernel": 3, "stride": 2, "padding": 1}})
             for rank in (1, 2, 3)}
AVG_POOLS = {rank: named(_AvgPool, rank, type_name=f"avgpool{rank}d",
                         aliases=_spellings("avgpool", rank, "averagepooling"), options=avg_pool_options(rank),
                         torch_modules=(f"AvgPool{rank}d",), torch_functions=(f"avg_pool{rank}d",),
                         example={"input": [3] + [8] * rank, "options": {"kernel": 2}})
             for rank in (1, 2, 3)}
MaxPool2d, AvgPool2d = MAX_POOLS[2], AVG_POOLS[2]


MAX_ADAPTIVE_OUTPUT = 65_536    # adaptive pooling's output size per axis (its windows are listed one by one)


def adaptive_output(rank):
    """An adaptive pool's output size: sizes(rank) no larger than MAX_ADAPTIVE_OUTPUT per axis."""
    parse_sizes = sizes(rank, 1)

    def parse(value):
        parsed = parse_sizes(value)
        if max(parsed) > MAX_ADAPTIVE_OUTPUT:
            raise LayerError(f"{parsed} is larger than archcalc takes ({MAX_ADAPTIVE_OUTPUT:,} per axis)",
                             hint="adaptive pooling reduces a feature map to a small grid such as 1 or 7")
        return parsed
    parse.describe = parse_sizes.describe
    parse.schema = parse_sizes.schema
    return parse


def adaptive_windows(size, out):
    """Window lengths PyTorch's adaptive pooling uses: [floor(i·N/O), ceil((i+1)·N/O))."""
    return [-(-(i + 1) * size // out) - (i * size // out) for i in range(out)]


class _AdaptiveAvgPool(Layer):
    kind = Kind.POOL
    primary = "output"
    rank = 2
    counting = counted_as(fvcore=INPUT_ELEMENTS, ptflops=PTFLOPS,
                          thop=module_or_call(Rule(_thop_adaptive_avgpool, N_("(N/O window + 1) per output element")),
                                              NO_THOP_HOOK))

    @classmethod
    def from_torch_module(cls, m):
        size = m.output_size if isinstance(m.output_size, (tuple, list)) else (m.output_size,) * cls.rank
        if None in size:
            raise Unsupported("an output size of None (keep the input size)")
        return {"output": as_pair(size)}

    @classmethod
    def from_torch_call(cls, call):
        size = call.arg(1, "output_size")
        size = size if isinstance(size, (tuple, list)) else (size,) * cls.rank
        if None in size:
            raise Unsupported("an output size of None (keep the input size)")
        return {"output": as_pair(size), "functional": True}, (0,)

    def output_shape(self, ins):
        self.require_map(ins[0], self.type_name, self.rank)
        return (ins[0][0],) + tuple(self.output)

    def flops(self, ins, out):
        """One addition or division per input element of every window (windows may overlap)."""
        total = ins[0][0]
        for size, output in zip(ins[0][1:], self.output):
            total *= sum(adaptive_windows(size, output))
        return total

    def receptive_step(self, ins):
        steps = []
        for size, out in zip(ins[0][1:], self.output):
            if size % out:
                return "global"
            steps.append((size // out, size // out, 0))
        return tuple(steps)

    def torch_module(self, ins):
        from torch import nn
        if self.functional:
            return functional_module(f"adaptive_avg_pool{self.rank}d", self.output)
        return getattr(nn, self.torch_modules[0])(self.output)

    def saved_tensors(self, ins, out, grad):
        """An output of 1×1 runs as a mean, which keeps nothing; any other size keeps the input."""
        return [keep_input(ins, grad)] if grad.active and set(self.output) != {1} else []

    def explain(self, ins, out):
        channels = ins[0][0]
        sums = [sum(adaptive_windows(size, o)) for size, o in zip(ins[0][1:], self.output)]
        lengths, heights, widths, depths = (_("Σ window lengths"), _("Σ window heights"), _("Σ window widths"),
                                            _("Σ window depths"))
        symbols = {1: lengths, 2: f"{heights}·{widths}", 3: f"{depths}·{heights}·{widths}"}[self.rank]
        return [Step("output", "output_size", "", out, _("window i spans [floor(i·N/O), ceil((i+1)·N/O))")),
                self.no_params_step(_(self.no_params_note)),
                self.window_flops_step(f"C·{symbols}", "·".join(str(v) for v in (channels, *sums)), ins, out)]

    no_params_note = N_("no parameters: pooling only averages")

    def window_flops_step(self, cells_symbol, cells, ins, out):
        return Step("FLOPs", cells_symbol, cells, self.flops(ins, out),
                    _("one add or divide per input element of every window"))

    keras_pool = "AveragePooling2D"

    def keras_layer(self, plan, node, ins, inputs):
        """Keras's pooling over equal windows, when the input size is a multiple of the output (2-D only)."""
        if self.rank != 2:
            return super().keras_layer(plan, node, ins, inputs)
        size, out = ins[0][1:], self.output_shape(ins)[1:]
        if any(n % o for n, o in zip(size, out)):
            raise plan.fail(node, f"an adaptive pool from {size} to {out} has uneven windows",
                            hint="Keras expresses it only when the input size is a multiple of the output")
        plan.emit(self.keras_pool, inputs, [plan.short(tuple(n // o for n, o in zip(size, out)))])


class _AdaptiveMaxPool(_AdaptiveAvgPool):
    """The largest value of each adaptive window: the windows of adaptive average pooling, compared."""

    counting = counted_as(ptflops=PTFLOPS)
    keras_pool = "MaxPooling2D"
    no_params_note = N_("no parameters: pooling only compares")

    @classmethod
    def from_torch_module(cls, m):
        if m.return_indices:
            raise Unsupported("return_indices=True")
        return super().from_torch_module(m)

    @classmethod
    def from_torch_call(cls, call):
        if call.arg(2, "return_indices", False):
            raise Unsupported("return_indices=True")
        return super().from_torch_call(call)

    def flops(self, ins, out):
        """(window cells − 1) comparisons per output element: every window's cells, less one per output."""
        return super().flops(ins, out) - numel(out)

    def window_flops_step(self, cells_symbol, cells, ins, out):
        outputs = "·".join(str(d) for d in out)
        return Step("FLOPs", f"{cells_symbol} − C·O", f"{cells} − {outputs}", self.flops(ins, out),
                    _("one comparison per window cell but the first"))

    def torch_module(self, ins):
        from torch import nn
        if self.functional:
            return functional_module(f"adaptive_max_pool{self.rank}d", self.output)
        return getattr(nn, self.torch_modules[0])(self.output)

    def saved_tensors(self, ins, out, grad):
        """The input and the argmax of every window as int64 indices (8 bytes, whatever the dtype), for
        any output size: adaptive_max_pool's backward reads both."""
        return [keep_input(ins, grad), Saved.new(numel(out) * grad.batch, 8)] if grad.active else []

    def workspace(self, ins, out, width):
        """The kernel makes the int64 indices even in inference, then drops them."""
        return numel(out) * 8


def adaptive_options(rank):
    return {"output": Option(adaptive_output(rank), required=True, aliases=("output_size",),
                             doc=f"output size, int or {AXES[rank]}"), "functional": FUNCTIONAL}


for _rank in (1, 2, 3):
    named(_AdaptiveAvgPool, _rank, type_name=f"adaptive_avgpool{_rank}d",
          aliases=(f"adaptiveavgpool{_rank}d", f"adaptive_avg_pool{_rank}d") + (("adaptive_avgpool",) if _rank == 2 else ()),
          options=adaptive_options(_rank),
          torch_modules=(f"AdaptiveAvgPool{_rank}d",), torch_functions=(f"adaptive_avg_pool{_rank}d",),
          counting=_AdaptiveAvgPool.counting if _rank == 2 else {**_AdaptiveAvgPool.counting, "fvcore": NO_FVCORE_HANDLE},
          example={"input": [3] + [7] * _rank, "options": {"output": 3}})
    named(_AdaptiveMaxPool, _rank, type_name=f"adaptive_maxpool{_rank}d",
          aliases=(f"adaptivemaxpool{_rank}d", f"adaptive_max_pool{_rank}d") + (("adaptive_maxpool",) if _rank == 2 else ()),
          options=adaptive_options(_rank),
          torch_modules=(f"AdaptiveMaxPool{_rank}d",), torch_functions=(f"adaptive_max_pool{_rank}d",),
          example={"input": [3] + [7] * _rank, "options": {"output": 3}})


class _GlobalAvgPool(Layer):
    """Keras's GlobalAveragePooling: (C, *spatial) -> (C,), the mean of each channel."""

    kind = Kind.POOL
    rank = 2
    counting = counted_as(fvcore=INPUT_ELEMENTS, ptflops=INPUT_ELEMENTS)

    @classmethod
    def from_torch_call(cls, call):
        dims_, keepdim = call.arg(1, "dim"), call.arg(2, "keepdim", False)
        axes = list(range(2, 2 + cls.rank))
        negative = list(range(-cls.rank, 0))
        if list(dims_ or ()) in (axes, negative) and not keepdim and len(call.input_shapes[0]) == cls.rank + 2:
            return {}, (0,)
        raise Unsupported("a mean other than over every spatial axis (x.mean([2, 3]))")

    def output_shape(self, ins):
        self.require_map(ins[0], self.type_name, self.rank)
        return (ins[0][0],)

    def flops(self, ins, out):
        return numel(ins[0])

    def receptive_step(self, ins):
        return "global"

    def torch_module(self, ins):
        from . import torch_modules
        return getattr(torch_modules, self.torch_modules[0])()

    def explain(self, ins, out):
        return [Step("output", "C", "", out, _("one value per channel")),
                self.no_params_step(_("no parameters: pooling only compares or averages")),
                Step("FLOPs", *self.global_flops(ins[0]), self.flops(ins, out))]

    @staticmethod
    def global_flops(shape):
        return "C·" + "·".join(("L",) if len(shape) == 2 else ("H", "W") if len(shape) == 3 else ("D", "H", "W")), \
            dims(shape)

    keras_class = "GlobalAveragePooling2D"     # the 2-D type's; see keras_classes at the end of this file

    def keras_layer(self, plan, node, ins, inputs):
        if self.rank != 2:
            return super().keras_layer(plan, node, ins, inputs)
        plan.emit(self.keras_class, inputs)

    @classmethod
    def from_keras_layer(cls, reader, layer, shape, pending):
        if layer.keepdims:
            raise Unsupported("keepdims=True")
        return cls.type_name, {}


class _GlobalMaxPool(_GlobalAvgPool):
    counting = counted_as(ptflops=INPUT_ELEMENTS)

    @classmethod
    def from_torch_call(cls, call):
        raise Unsupported("no function imports as global max pooling")

    def flops(self, ins, out):
        return ins[0][0] * (numel(ins[0][1:]) - 1)

    def saved_tensors(self, ins, out, grad):
        """adaptive_max_pool keeps the input and one int64 index per channel."""
        return [keep_input(ins, grad), Saved.new(out[0] * grad.batch, 8)] if grad.active else []

    @staticmethod
    def global_flops(shape):
        channels, *spatial = shape
        symbols = "·".join(("L",) if len(spatial) == 1 else ("H", "W") if len(spatial) == 2 else ("D", "H", "W"))
        return f"C·({symbols} − 1)", f"{channels}·({'·'.join(str(d) for d in spatial)} − 1)"

    keras_class = "GlobalMaxPooling2D"


for _rank in (1, 2, 3):
    short = ("global_avgpool", "gap") if _rank == 2 else ()
    named(_GlobalAvgPool, _rank, type_name=f"global_avgpool{_rank}d",
          aliases=(f"globalaveragepooling{_rank}d", f"global_average_pooling{_rank}d") + short,
          torch_modules=(f"GlobalAvgPool{_rank}d",), torch_functions=("mean",) if _rank == 2 else (),
          counting=_GlobalAvgPool.counting if _rank == 2 else {**_GlobalAvgPool.counting, "fvcore": NO_FVCORE_HANDLE},
          example={"input": [3] + [5] * _rank})
    named(_GlobalMaxPool, _rank, type_name=f"global_maxpool{_rank}d",
          aliases=(f"globalmaxpooling{_rank}d", f"global_max_pooling{_rank}d") + (("global_maxpool",) if _rank == 2 else ()),
          torch_modules=(f"GlobalMaxPool{_rank}d",), torch_functions=(),
          example={"input": [3] + [5] * _rank})


from .registry import lookup as _lookup  # noqa: E402

# Keras 3's 2-D pooling layers, read by from-keras as these types (the 1-D and 3-D types have no Keras
# translation: their keras_layer is the default's "no Keras layer").
MaxPool2d.keras_classes, AvgPool2d.keras_classes = ("MaxPooling2D",), ("AveragePooling2D",)
MaxPool2d.keras_reads_padding = AvgPool2d.keras_reads_padding = True
for _global in (_lookup("global_avgpool2d"), _lookup("global_maxpool2d")):
    _global.keras_classes = (_global.keras_class,)
