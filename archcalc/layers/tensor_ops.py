"""Tensor operations: reshape, permute/transpose, select and slice, split pieces, matmul of two
activations, mean over axes, identity and drop path.

Axes are counted without the batch, in archcalc's channels-first layout: for a (tokens, features)
sequence axis 0 is tokens and -1 features; for a (C, H, W) map axis 0 is channels. Views (reshape of a
contiguous tensor, permute, transpose, select, slice) cost no memory and no FLOPs.
"""
from ..errors import LayerError, Unsupported
from ..i18n import N_, _
from .shapes import numel
from .counting import MACS, Rule, counted_as, torch_flops
from .registry import register
from .base import PASS_THROUGH, Kind, Layer, Option, Saved, Step, boolean, dims, integer, keep_input, number


def axis_list(value):
    """[1, 0] or 1: axes after the batch, negative counting from the end."""
    values = value if isinstance(value, (list, tuple)) else [value]
    if not values or not all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        raise LayerError(_("expected an axis or a list of axes, got {value}").format(value=repr(value)))
    return tuple(values)


axis_list.describe = N_("an axis or a list of axes (0 = the first axis after the batch, -1 the last)")
axis_list.schema = {"anyOf": [{"type": "integer"}, {"type": "array", "items": {"type": "integer"}}]}


def any_int(value):
    if not isinstance(value, int) or isinstance(value, bool):
        raise LayerError(_("expected an integer, got {value}").format(value=repr(value)))
    return value


any_int.describe = N_("an integer (negative counts from the end)")
any_int.schema = {"type": "integer"}


def sizes_list(value):
    values = value if isinstance(value, (list, tuple)) else [value]
    if not all(isinstance(v, int) and not isinstance(v, bool) and (v >= 1 or v == -1) for v in values):
        raise LayerError(_("expected sizes (integers >= 1, one of them may be -1), got {value}").format(value=repr(value)))
    return tuple(values)


sizes_list.describe = N_("a list of sizes >= 1 (one may be -1)")
sizes_list.schema = {"type": "array", "items": {"type": "integer"}}


def resolve(axis, rank, what="axis"):
    if not -rank <= axis < rank:
        raise LayerError(_("{what} {axis} is out of range for an input of {rank} axes (batch not counted)").format(
            what=what, axis=axis, rank=rank), hint=_("use 0 to {last}, or -1 for the last").format(last=rank - 1))
    return axis % rank


def _batched(axes):
    """Internal axes -> torch dims (the batch is dim 0)."""
    return tuple(a + 1 for a in axes)


class _View(Layer):
    kind = Kind.RESHAPE
    counting = counted_as()

    def is_view(self):
        return True

    def explain(self, ins, out):
        return [Step("output", "", dims(ins[0]), out, self.describe(ins)), self.no_params_step(),
                Step("FLOPs", "", "", 0, _("a view of the same memory: nothing is computed"))]

    def describe(self, ins):
        return self.type_name


@register
class Reshape(_View):
    """To a new shape (batch kept); one size may be -1. Counted as a view; torch copies when the input is
    not contiguous (right after a permute), which archcalc does not track yet."""

    type_name = "reshape"
    example = {"input": [5, 8], "before": [{"dense": 8}], "options": {"shape": [5, 2, 4]}}
    aliases = ("view", "unflatten")
    torch_modules = ("Reshape", "Unflatten")
    torch_functions = ("view", "reshape", "unflatten")
    primary = "shape"
    options = {"shape": Option(sizes_list, required=True, aliases=("target_shape", "size"))}

    @classmethod
    def from_torch_module(cls, m):
        if type(m).__name__ == "Unflatten":
            raise Unsupported("nn.Unflatten (write reshape with the full shape)")
        return {"shape": list(m.shape)}

    @classmethod
    def from_torch_call(cls, call):
        before, after = call.input_shapes[0], call.output_shape
        if after[:len(before)] == before and all(d == 1 for d in after[len(before):]):
            return PASS_THROUGH   # (N, C) -> (N, C, 1, 1) to scale channels: archcalc's multiply takes (C,)
        return {"shape": list(after[1:])}, (0,)

    def output_shape(self, ins):
        shape, total = list(self.shape), numel(ins[0])
        if shape.count(-1) > 1:
            raise LayerError(_("reshape: at most one size may be -1"), hint=_("give the other sizes"))
        known = numel([d for d in shape if d != -1])
        if -1 in shape:
            if total % known:
                raise LayerError(_("reshape: {total} elements do not fill {shape}").format(total=total, shape=tuple(shape)),
                                 hint=_("check the sizes"))
            shape[shape.index(-1)] = total // known
        if numel(shape) != total:
            raise LayerError(_("reshape: {input} has {total} elements, {shape} has {count}").format(
                input=tuple(ins[0]), total=total, shape=tuple(shape), count=numel(shape)),
                hint=_("the sizes must multiply to the same number of elements"))
        return tuple(shape)

    def torch_module(self, ins):
        from .torch_modules import Reshape as Module
        return Module(self.output_shape(ins))

    keras_classes = ("Reshape",)

    @classmethod
    def from_keras_layer(cls, reader, layer, shape, pending):
        """A Keras Reshape passes its input through: export-keras writes one only to turn a (C,) scale into
        Keras's (1, 1, C) before a channel-scaling multiply, and archcalc's multiply takes the (C,) vector
        itself. A reshape of any other kind gives a shape from-keras's check against Keras then reports."""
        return None


@register
class Permute(_View):
    """Reorder the axes: `permute: [1, 0]` turns (features, tokens) into (tokens, features)."""

    type_name = "permute"
    example = {"input": [5, 8], "before": [{"dense": 8}], "options": {"order": [1, 0]}}
    torch_modules = ("Permute",)
    torch_functions = ("permute",)
    primary = "order"
    options = {"order": Option(axis_list, required=True, aliases=("dims",))}

    @classmethod
    def from_torch_module(cls, m):
        return {"order": list(m.order)}

    @classmethod
    def from_torch_call(cls, call):
        order = call.args[1:] if len(call.args) > 1 else call.kwargs.get("dims")
        order = list(order[0]) if len(order) == 1 and isinstance(order[0], (list, tuple)) else list(order)
        rank = len(call.input_shapes[0])
        order = [d % rank for d in order]
        if order[0] != 0:
            raise Unsupported("a permute that moves the batch axis")
        return {"order": [d - 1 for d in order[1:]]}, (0,)

    def permutation(self, ins):
        rank = len(ins[0])
        order = tuple(resolve(a, rank) for a in self.order)
        if sorted(order) != list(range(rank)):
            raise LayerError(_("permute order {order} is not an ordering of the {rank} axes").format(
                order=list(self.order), rank=rank), hint=_("name each of 0..{last} once").format(last=rank - 1))
        return order

    def output_shape(self, ins):
        return tuple(ins[0][a] for a in self.permutation(ins))

    def output_order(self, ins, out, width, grad):
        """A view: the output's axis i is the input's axis p[i], so the memory order of the input's axes,
        renamed, is the output's (None when that comes out contiguous)."""
        permutation = self.permutation(ins)
        stored = range(len(ins[0])) if grad.order(0) is None else grad.order(0)
        return _order([permutation.index(axis) for axis in stored])

    def input_grad_orders(self, ins, out, width, grad):
        """Its backward permutes the output's gradient back: a view of it, in the inverse renaming."""
        permutation = self.permutation(ins)
        stored = range(len(out)) if grad.grad_order is None else grad.grad_order
        return (_order([permutation[axis] for axis in stored]),)

    def torch_module(self, ins):
        from .torch_modules import Permute as Module
        return Module(self.permutation(ins))


@register
class Transpose(Permute):
    """Swap two axes (default the last two)."""

    type_name = "transpose"
    imported_as = "permute"      # torch's transpose is a permute of two axes
    example = {"input": [5, 8], "before": [{"dense": 8}]}
    aliases = ()
    torch_modules = ()
    torch_functions = ("transpose",)
    primary = "axes"
    options = {"axes": Option(axis_list, default=(-2, -1), aliases=("dims",))}

    @classmethod
    def from_torch_call(cls, call):
        rank = len(call.input_shapes[0])
        a, b = (call.arg(1, "dim0") % rank, call.arg(2, "dim1") % rank)
        if 0 in (a, b):
            raise Unsupported("a transpose of the batch axis")
        return {"axes": [a - 1, b - 1]}, (0,)

    def permutation(self, ins):
        rank = len(ins[0])
        if len(self.opts["axes"]) != 2:
            raise LayerError(_("transpose swaps two axes, got {axes}").format(axes=list(self.opts['axes'])),
                             hint=_("e.g. {example}").format(example="axes: [0, 1]"))
        a, b = (resolve(x, rank) for x in self.opts["axes"])
        order = list(range(rank))
        order[a], order[b] = order[b], order[a]
        return tuple(order)


@register
class Select(_View):
    """One index along one axis, which disappears: `select: {axis: 0, index: 0}` is x[:, 0], ViT's and
    BERT's class token."""

    type_name = "select"
    example = {"input": [5, 8], "before": [{"dense": 8}], "options": {"axis": 0, "index": 0}}
    aliases = ("index", "take_index")
    torch_modules = ("Select",)
    torch_functions = ("select", "getitem")
    options = {"axis": Option(any_int, default=0, aliases=("dim",)),
               "index": Option(any_int, default=0)}

    @classmethod
    def from_torch_module(cls, m):
        return {"axis": m.axis, "index": m.index}

    @classmethod
    def from_torch_call(cls, call):
        if call.name == "select":
            return {"axis": call.arg(1, "dim") - 1, "index": call.arg(2, "index")}, (0,)
        key = call.args[1]
        key = key if isinstance(key, tuple) else (key,)
        rank = len(call.input_shapes[0])
        picks = [(i, k) for i, k in enumerate(key) if k != slice(None)]
        if len(picks) == 1 and picks[0][0] >= 1:
            axis, k = picks[0]
            if isinstance(k, int):
                return {"axis": axis - 1, "index": k}, (0,)
        raise Unsupported(f"indexing with {key!r} on a tensor of {rank} dims")

    def output_shape(self, ins):
        axis = resolve(self.axis, len(ins[0]))
        if len(ins[0]) == 1:
            raise LayerError(_("select on a vector would leave a scalar"), hint=_("select from a sequence or map"))
        size = ins[0][axis]
        if not -size <= self.index < size:
            raise LayerError(_("select index {index} is outside axis {axis} of size {size}").format(
                index=self.index, axis=self.axis, size=size), hint=_("use 0 to {last}").format(last=size - 1))
        return tuple(d for i, d in enumerate(ins[0]) if i != axis)

    def torch_module(self, ins):
        from .torch_modules import Select as Module
        return Module(resolve(self.axis, len(ins[0])), self.index)


@register
class Slice(_View):
    """start:end:step along one axis (a view)."""

    type_name = "slice"
    example = {"input": [5, 8], "before": [{"dense": 8}], "options": {"axis": 0, "start": 1, "end": 4}}
    aliases = ("narrow", "crop_axis")
    torch_modules = ("Slice",)
    torch_functions = ("narrow",)
    options = {"axis": Option(any_int, default=0, aliases=("dim",)),
               "start": Option(any_int, default=0),
               "end": Option(any_int, default=None, aliases=("stop",)),
               "step": Option(integer(1), default=1)}

    @classmethod
    def from_torch_module(cls, m):
        return {"axis": m.axis, "start": m.start, "end": m.end, **cls.non_default(step=m.step)}

    @classmethod
    def from_torch_call(cls, call):
        start, length = call.arg(2, "start"), call.arg(3, "length")
        return {"axis": call.arg(1, "dim") - 1, "start": start, "end": start + length}, (0,)

    def output_shape(self, ins):
        axis = resolve(self.axis, len(ins[0]))
        size = ins[0][axis]
        taken = len(range(*slice(self.start, self.end, self.step).indices(size)))
        if taken == 0:
            raise LayerError(_("slice {range} of axis {axis} (size {size}) is empty").format(
                range=f"{self.start}:{self.end}", axis=self.axis, size=size), hint=_("check start and end"))
        return tuple(taken if i == axis else d for i, d in enumerate(ins[0]))

    def torch_module(self, ins):
        from .torch_modules import Slice as Module
        axis = resolve(self.axis, len(ins[0]))
        return Module(axis, self.start, self.end, self.step)


@register
class Take(_View):
    """One piece of a split or chunk: `from: qkv` with `take: {sizes: [768, 768, 768], index: 0, axis: -1}`
    (or `chunks: 3`). Write one `take` per piece you need; each is a view of its input."""

    type_name = "take"
    example = {"input": [5, 8], "before": [{"dense": 8}], "options": {"chunks": 2, "index": 1}}
    aliases = ("split", "chunk")
    torch_modules = ("Take",)
    torch_functions = ("chunk", "split")
    options = {"index": Option(integer(0), required=True),
               "chunks": Option(integer(1), default=None, doc="equal pieces (torch.chunk)"),
               "sizes": Option(sizes_list, default=None, aliases=("split_size_or_sections",),
                               doc="the pieces' sizes (torch.split)"),
               "axis": Option(any_int, default=-1, aliases=("dim",))}

    @classmethod
    def from_torch_module(cls, m):
        return {"sizes": list(m.sizes), "index": m.index, "axis": m.axis}

    @classmethod
    def from_torch_call(cls, call):
        """`x.chunk(3, dim=-1)[i]` or `x.split(768, dim=2)[i]`, as from-torch hands over an item of them."""
        rank = len(call.input_shapes[0])
        dim = call.arg(2, "dim", 0) % rank
        if dim == 0:
            raise Unsupported("a split of the batch axis")
        axis = dim - 1 - (rank - 1)          # counted from the end: stays right whatever the rank
        index = call.kwargs["index"]
        if call.name == "chunk":
            return {"chunks": call.arg(1, "chunks"), "index": index, "axis": axis}, (0,)
        sizes = call.arg(1, "split_size_or_sections", call.kwargs.get("split_size"))
        return {"sizes": list(sizes) if isinstance(sizes, (list, tuple)) else [sizes], "index": index,
                "axis": axis}, (0,)

    def pieces(self, ins):
        axis = resolve(self.axis, len(ins[0]))
        size = ins[0][axis]
        if (self.chunks is None) == (self.sizes is None):
            raise LayerError(_("take needs either chunks or sizes"),
                             hint=_("e.g. {example}").format(example="take: {chunks: 3, index: 0}"))
        if self.chunks is not None:
            step = -(-size // self.chunks)
            sizes = [min(step, size - start) for start in range(0, size, step)]
        else:
            sizes = list(self.sizes)
            if len(sizes) == 1:
                sizes = [sizes[0]] * (size // sizes[0]) + ([size % sizes[0]] if size % sizes[0] else [])
        if sum(sizes) != size:
            raise LayerError(_("take: pieces {sizes} do not add up to axis {axis}'s {size}").format(
                sizes=sizes, axis=self.axis, size=size), hint=_("the sizes must sum to the axis"))
        if self.index >= len(sizes):
            raise LayerError(_("take: index {index}, but there are {count} pieces").format(
                index=self.index, count=len(sizes)), hint=_("use 0 to {last}").format(last=len(sizes) - 1))
        return axis, sizes

    def output_shape(self, ins):
        axis, sizes = self.pieces(ins)
        return tuple(sizes[self.index] if i == axis else d for i, d in enumerate(ins[0]))

    def torch_module(self, ins):
        from .torch_modules import Take as Module
        axis, sizes = self.pieces(ins)
        return Module(axis, sizes, self.index)


@register
class Matmul(Layer):
    """The matrix product of two activations over their last two axes (leading axes broadcast):
    (…, n, k)·(…, k, m) -> (…, n, m)."""

    type_name = "matmul"
    example = {"input": [5, 8], "layers": [{"dense": {"name": "a", "units": 8}}, {"transpose": {"name": "t"}}, {"matmul": {"from": ["a", "t"]}}]}
    aliases = ("bmm", "batch_matmul")
    kind = Kind.MERGE

    def output_order(self, ins, out, width, grad):
        """torch.matmul writes a contiguous product (and its backward contiguous gradients), though its
        kind is a merge's."""
        return None

    def input_grad_orders(self, ins, out, width, grad):
        return (None,) * len(ins)
    counting = counted_as(torch=torch_flops(N_("2·MACs (bmm)")), torchvision=MACS,
                          fvcore=Rule(MACS.count, N_("MACs (aten::matmul)")))
    torch_modules = ("Matmul",)
    torch_functions = ("matmul", "bmm")
    min_inputs = max_inputs = 2

    @classmethod
    def from_torch_call(cls, call):
        return {}, (0, 1)

    def output_shape(self, ins):
        a, b = ins
        if len(a) < 2 or len(b) < 2 or a[-1] != b[-2]:
            raise LayerError(_("matmul needs (…, n, k) and (…, k, m), got {a} and {b}").format(a=tuple(a), b=tuple(b)),
                             hint=_("transpose one operand: {fix}").format(fix="transpose: {axes: [-2, -1]}"))
        lead = _broadcast(a[:-2], b[:-2], self)
        return lead + (a[-2], b[-1])

    def macs(self, ins, out):
        return numel(out) * ins[0][-1]

    def torch_backward_flops(self, ins, out, grad):
        return 2 * self.macs(ins, out) * sum(int(g) for g in grad.inputs)

    def saved_tensors(self, ins, out, grad):
        """Each operand is kept when the other needs a gradient."""
        saved = []
        if grad.inputs[1]:
            saved.append(keep_input(ins, grad, 0))
        if grad.inputs[0]:
            saved.append(keep_input(ins, grad, 1))
        return saved

    def torch_module(self, ins):
        from .torch_modules import Matmul as Module
        return Module()

    def explain(self, ins, out):
        return [Step("output", "(…, n, m)", "", out), self.no_params_step(),
                Step("MACs", _("elements of the output · k"), f"{dims(out)}·{ins[0][-1]}", self.macs(ins, out)),
                Step("FLOPs", "2·MACs", f"2·{self.macs(ins, out):,}", self.flops(ins, out))]


def _order(axes):
    """An order of axes, None when it is the contiguous one."""
    axes = tuple(axes)
    return None if axes == tuple(range(len(axes))) else axes


def _broadcast(a, b, layer):
    """numpy's rule, right-aligned; batch excluded."""
    out = []
    for i in range(1, max(len(a), len(b)) + 1):
        x = a[-i] if i <= len(a) else 1
        y = b[-i] if i <= len(b) else 1
        if x != y and 1 not in (x, y):
            raise LayerError(_("{type}: shapes {a} and {b} do not broadcast").format(type=layer.type_name, a=tuple(a),
                                                                                   b=tuple(b)),
                             hint=_("sizes must match or be 1, aligned from the last axis"))
        out.append(max(x, y))
    return tuple(reversed(out))


@register
class Mean(Layer):
    """The mean over given axes (ConvNeXt-style pooling of a map, or the mean of a sequence's tokens):
    one addition per input element and a division per output element."""

    type_name = "mean"
    example = {"input": [5, 8], "before": [{"dense": 8}], "options": {"axes": 0}}
    aliases = ("reduce_mean",)
    kind = Kind.POOL
    counting = counted_as()
    torch_modules = ("Mean",)
    torch_functions = ()     # Tensor.mean is claimed by global_avgpool2d (pool.py); see the report
    primary = "axes"
    options = {"axes": Option(axis_list, required=True, aliases=("dim", "axis")),
               "keepdim": Option(boolean, default=False, aliases=("keepdims",))}

    @classmethod
    def from_torch_module(cls, m):
        return {"axes": list(m.axes), **cls.non_default(keepdim=m.keepdim)}

    @classmethod
    def from_torch_call(cls, call):
        dims_ = call.arg(1, "dim")
        if dims_ is None:
            raise Unsupported("a mean over every axis, batch included")
        dims_ = dims_ if isinstance(dims_, (list, tuple)) else [dims_]
        rank = len(call.input_shapes[0])
        if 0 in [d % rank for d in dims_]:
            raise Unsupported("a mean over the batch")
        return {"axes": [d % rank - 1 for d in dims_], **cls.non_default(keepdim=call.arg(2, "keepdim", False))}, (0,)

    def reduced(self, ins):
        rank = len(ins[0])
        return sorted({resolve(a, rank) for a in self.axes})

    def output_shape(self, ins):
        axes = self.reduced(ins)
        if self.keepdim:
            return tuple(1 if i in axes else d for i, d in enumerate(ins[0]))
        out = tuple(d for i, d in enumerate(ins[0]) if i not in axes)
        if not out:
            raise LayerError(_("mean over every axis leaves a scalar per sample"),
                             hint=_("keep one axis, or keepdim: true"))
        return out

    def flops(self, ins, out):
        return numel(ins[0]) + numel(out)

    def receptive_step(self, ins):
        return "global"

    def torch_module(self, ins):
        from .torch_modules import Mean as Module
        return Module(self.reduced(ins), self.keepdim)

    def explain(self, ins, out):
        return [Step("output", "", dims(ins[0]), out, _("the mean over axes {axes}").format(axes=self.reduced(ins))),
                self.no_params_step(),
                Step("FLOPs", _("input elements + output elements"), f"{numel(ins[0])} + {numel(out)}",
                     self.flops(ins, out), _("one addition per input, one division per output"))]


@register
class Identity(_View):
    """Passes its input through (a placeholder); count-neutral: no parameters, FLOPs or memory."""

    type_name = "identity"
    imported_as = None           # nn.Identity forwards its input: from-torch drops it
    example = {"input": [5, 8], "before": [{"dense": 8}]}
    aliases = ("linear_activation", "passthrough")
    torch_modules = ()

    def torch_module(self, ins):
        from torch import nn
        return nn.Identity()

    def describe(self, ins):
        return _("the input itself")

    keras_classes = ("Identity",)

    @classmethod
    def from_keras_layer(cls, reader, layer, shape, pending):
        """Keras's Identity vanishes: its output is its input."""
        return None


@register
class DropPath(Layer):
    """Stochastic depth: in training each sample's branch is dropped with probability `rate`; at inference
    an identity. Count-neutral like dropout: no parameters and no FLOPs; in training it keeps a
    per-sample scale (N elements)."""

    type_name = "drop_path"
    example = {"input": [5, 8], "before": [{"dense": 8}], "options": {"rate": 0.2}}
    aliases = ("droppath", "stochastic_depth")
    kind = Kind.REGULARIZATION
    counting = counted_as()
    eval_identity = True
    torch_modules = ("DropPath",)
    torch_functions = ("stochastic_depth",)      # torchvision.ops.stochastic_depth (EfficientNet, ConvNeXt, Swin)
    primary = "rate"
    options = {"rate": Option(number(minimum=0, below=1), default=0.0, aliases=("p", "drop_prob"))}

    @classmethod
    def from_torch_module(cls, m):
        return cls.non_default(rate=m.rate)

    @classmethod
    def from_torch_call(cls, call):
        """stochastic_depth(x, p, mode, training): mode "row" drops per sample, as drop_path does."""
        if call.arg(2, "mode", "row") != "row":
            raise Unsupported(f"stochastic_depth mode {call.arg(2, 'mode')!r} (drop_path drops per sample: 'row')")
        return cls.non_default(rate=call.arg(1, "p", 0.0)), (0,)

    def is_view(self):
        return self.rate == 0

    def torch_module(self, ins):
        from .torch_modules import DropPath as Module
        return Module(self.rate)

    def saved_tensors(self, ins, out, grad):
        """x·keep keeps the (N, 1, …) scale for x's gradient."""
        if self.rate == 0 or not any(grad.inputs):
            return []
        return [Saved.new(grad.batch)]

    def explain(self, ins, out):
        return [self.same_shape_step(out), self.no_params_step(),
                Step("FLOPs", "", "", 0, _("inference: an identity (training drops a sample's branch with p = "
                                           "{rate})").format(rate=f"{self.rate:g}"))]


@register
class ChannelShuffle(Layer):
    """ShuffleNet's channel shuffle: the C channels, read as `groups` groups of C/groups, are interleaved
    (view as (g, C/g, …), swap the two, flatten back). A copy, not a view; no parameters, no FLOPs."""

    type_name = "channel_shuffle"
    example = {"input": [6, 4, 4], "before": [{"conv2d": {"filters": 6, "kernel": 1}}], "options": {"groups": 2}}
    aliases = ("channelshuffle", "shuffle_channels")
    kind = Kind.RESHAPE
    counting = counted_as()
    torch_modules = ("ChannelShuffle",)
    torch_functions = ("channel_shuffle", "native_channel_shuffle")
    primary = "groups"
    options = {"groups": Option(integer(1), required=True, doc="g: channels are read as g groups and interleaved")}

    @classmethod
    def from_torch_module(cls, m):
        return {"groups": m.groups}

    @classmethod
    def from_torch_call(cls, call):
        return {"groups": call.arg(1, "groups")}, (0,)

    def output_shape(self, ins):
        shape = ins[0]
        if len(shape) < 2:
            raise LayerError(_("channel_shuffle needs a (C, *spatial) map, got {shape}").format(shape=tuple(shape)),
                             hint=_("shuffle the channels of a convolution's output"))
        if shape[0] % self.groups:
            raise LayerError(_("channel_shuffle: {channels} channels do not split into {groups} groups").format(
                channels=shape[0], groups=self.groups),
                hint=_("use a number of groups that divides {channels}").format(channels=shape[0]))

        return tuple(shape)

    def torch_module(self, ins):
        from torch import nn
        return nn.ChannelShuffle(self.groups)

    def explain(self, ins, out):
        return [self.same_shape_step(out, _("the same shape: channel {source} moves to {target}").format(
                    source=f"i·{ins[0][0] // self.groups} + j", target=f"j·{self.groups} + i")),
                self.no_params_step(),
                Step("FLOPs", "", "", 0, _("a permuted copy: nothing is computed"))]

