"""The Layer contract: one class per layer type owns every rule about that type.

A layer is built from a spec entry's validated options. Every analysis hook takes
the list of input shapes (internal layout, no batch) so a layer never needs to know
where it sits in the graph. Counts are Python integers.

The bridges to other frameworks are generic plumbing that finds a type through the registry; the
type's translation lives on its class, as torch's does (torch_module, torch_modules +
from_torch_module, torch_functions + from_torch_call). Keras 3 (export-keras, verify --keras,
from-keras), at the end of Layer below:
- keras_layer(plan, node, ins, inputs): add the Keras layer(s) computing this node to the plan, through
  the plan's helpers (plan.emit, plan.folded_activation, plan.padding, plan.short, plan.add/rename,
  raise plan.fail(node, message, hint)); the default raises "no Keras layer for this type".
- keras_activation: the string Keras's `activation=` takes for this type when it means the same (an
  `activation:` on conv2d or dense folds into the Keras layer; an element-wise Activation without its own
  keras_layer is written as layers.Activation of that name); keras_activation_aliases: other Keras
  activation names read back as this type.
- keras_classes = ("Conv2D",): Keras class names from-keras reads as this type, through the classmethod
  from_keras_layer(reader, layer, shape, pending) -> (type name, options), or None when the Keras layer
  vanishes (Identity); raise errors.Unsupported for what archcalc cannot express. keras_reads_padding:
  a ZeroPadding2D before it folds into its padding (`pending`).
The plan and the reader are duck-typed: this package imports no bridge (errors and i18n only).
is_no_op(options) tells an importer (from-hf) that an entry computes nothing and may be left out.
"""
from dataclasses import dataclass
from enum import Enum

from ..errors import LayerError, Unsupported
from ..i18n import N_, _
from .shapes import numel, uneven_consequence, window_warnings


class Kind(str, Enum):
    """A layer's family, read by breakdowns, the diagram's and the charts' colours and `depth`."""

    CONV = "conv"
    DENSE = "dense"
    POOL = "pool"
    NORM = "norm"
    ACTIVATION = "activation"
    MERGE = "merge"
    RESHAPE = "reshape"
    REGULARIZATION = "regularization"
    ATTENTION = "attention"
    EMBEDDING = "embedding"
    RECURRENT = "recurrent"
    OTHER = "other"

    def __str__(self):
        return self.value

    @property
    def weighted(self):
        """Conv, dense, attention and recurrent layers are what a paper counts as its depth."""
        return self in (Kind.CONV, Kind.DENSE, Kind.ATTENTION, Kind.RECURRENT)


class Option:
    """One option a layer type accepts: its parser, default and the other spellings users write."""

    def __init__(self, parse, default=None, required=False, aliases=(), doc=""):
        self.parse = parse
        self.default = default
        self.required = required
        self.aliases = tuple(aliases)
        self.doc = doc


# ---- option parsers: each takes the raw YAML value and returns a clean one or raises LayerError

def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def integer(minimum=1):
    def parse(value):
        if not _is_int(value):
            raise LayerError(_("expected an integer, got {value}").format(value=repr(value)))
        if value < minimum:
            raise LayerError(_("must be at least {minimum}, got {value}").format(minimum=minimum, value=value))
        return value
    parse.describe = f"integer >= {minimum}"
    parse.schema = {"type": "integer", "minimum": minimum}
    return parse


MAP_AXES = {1: ("length",), 2: ("height", "width"), 3: ("depth", "height", "width")}
AXES_WRITTEN = {1: "[length]", 2: "[height, width]", 3: "[depth, height, width]"}


def sizes(rank, minimum=1):
    """An int, or one per spatial axis ([h, w] in 2-D): kernel, stride, dilation."""
    single = integer(minimum)
    written = AXES_WRITTEN[rank]

    def parse(value):
        if isinstance(value, (list, tuple)):
            if len(value) != rank:
                raise LayerError(_("expected an integer or {written}, got {value}").format(written=written,
                                                                                           value=repr(list(value))))
            return tuple(single(v) for v in value)
        return (single(value),) * rank
    parse.describe = f"integer >= {minimum} or {written}"
    parse.schema = {"anyOf": [single.schema,
                              {"type": "array", "items": single.schema, "minItems": rank, "maxItems": rank}]}
    return parse


def pair(minimum=1):
    """An int, or [h, w]."""
    return sizes(2, minimum)


def padding_of(rank):
    """An int, one per axis, 'valid' (0) or 'same' (resolved by the layer, which knows its kernel)."""
    per_axis = sizes(rank, 0)
    written = AXES_WRITTEN[rank]

    def parse(value):
        if isinstance(value, str):
            word = value.lower()
            if word in ("same", "valid"):
                return word
            raise LayerError(_("padding must be an integer, {written}, 'same' or 'valid', got {value}").format(
                written=written, value=repr(value)))
        return per_axis(value)
    parse.describe = f"integer >= 0, {written}, 'same' or 'valid'"
    parse.schema = {"anyOf": [per_axis.schema, {"enum": ["same", "valid"]}]}
    return parse


padding = padding_of(2)


def boolean(value):
    if not isinstance(value, bool):
        raise LayerError(_("expected true or false, got {value}").format(value=repr(value)))
    return value


boolean.describe = N_("true or false")
boolean.schema = {"type": "boolean"}


def number(minimum=None, maximum=None, below=None):
    def parse(value):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise LayerError(_("expected a number, got {value}").format(value=repr(value)))
        if minimum is not None and value < minimum:
            raise LayerError(_("must be at least {minimum}, got {value}").format(minimum=minimum, value=value))
        if maximum is not None and value > maximum:
            raise LayerError(_("must be at most {maximum}, got {value}").format(maximum=maximum, value=value))
        if below is not None and value >= below:
            raise LayerError(_("must be below {below}, got {value}").format(below=below, value=value))
        return value
    bounds = [f">= {minimum}" if minimum is not None else "", f"<= {maximum}" if maximum is not None else "",
              f"< {below}" if below is not None else ""]
    parse.describe = "a number " + " and ".join(b for b in bounds if b) if any(bounds) else "a number"
    limits = {"minimum": minimum, "maximum": maximum, "exclusiveMaximum": below}
    parse.schema = {"type": "number", **{k: v for k, v in limits.items() if v is not None}}
    return parse


@dataclass(frozen=True)
class Autograd:
    """What decides the tensors autograd keeps for one layer in a training step: whether each input
    requires grad, whether the layer's own weights are trained, the batch size and the device; and, for
    the backward's temporaries, how each input and the output's gradient are laid out in memory (orders,
    see shapes.channels_last; () / None: contiguous), as the analyzer derives them from output_order and
    input_grad_orders along the graph."""

    inputs: tuple
    weights: bool = False
    batch: int = 1
    device: str = "cpu"
    orders: tuple = ()          # each input's memory order, None for contiguous; () when all are
    grad_order: tuple = None    # the memory order of the gradient that reaches the layer's output

    def order(self, index):
        return self.orders[index] if index < len(self.orders) else None

    @property
    def active(self):
        """False when nothing needs a gradient: the op records no backward node and saves nothing."""
        return self.weights or any(self.inputs)


@dataclass(frozen=True)
class Saved:
    """One tensor autograd keeps for backward: whose storage it is (input `index`, the layer's output,
    or a fresh tensor), its elements including the batch, and its bytes per element (None: the
    activation dtype). Two layers saving one storage count it once. `hooked` False marks a wrapped
    Python number (the 0-dim float64 tensor a `t.mul(0.5)` makes of its scalar): autograd saves it without
    calling saved_tensors_hooks ("avoid wrapped numbers from being leaked to the user",
    torch/csrc/autograd/saved_variable.cpp), so verify, which measures through those hooks, leaves it out
    of its comparison, while the memory model counts it."""

    elements: int
    element_bytes: int = None
    input: int = None          # index of the input whose storage this is
    output: bool = False       # the layer's own output
    hooked: bool = True        # False: saved_tensors_hooks never see it (a wrapped number)

    @classmethod
    def new(cls, elements, element_bytes=None):
        return cls(elements, element_bytes)


def keep_input(ins, grad, index=0):
    """A saved input: the whole tensor, which is its own storage or a view of it."""
    return Saved(numel(ins[index]) * grad.batch, input=index)


def keep_output(out, grad):
    return Saved(numel(out) * grad.batch, output=True)


@dataclass(frozen=True)
class Step:
    """One line of worked arithmetic: `quantity = formula = substituted = result`.

    `result` always comes from the layer's own hook (output_shape, params, macs, flops), never from
    evaluating `substituted`, so the explanation cannot drift from what the analyzer reports.
    `exact` holds the unrounded value when a size does not divide evenly; `note` says why or what
    PyTorch does."""

    quantity: str            # "O", "O_h", "F_eff", "output", "params", "MACs", "FLOPs"
    formula: str             # symbolic, e.g. "(F·F·C_in + 1)·K"; "" when there is none
    substituted: str         # the same with the spec's numbers, e.g. "(11·11·3 + 1)·96"
    result: object           # an int, or a shape tuple (internal channels-first layout)
    note: str = ""
    exact: str = ""          # e.g. "9/2 + 1 = 5.5" for an uneven division


COUNTS = ("params", "MACs", "FLOPs")


def dims(shape):
    """(96, 55, 55) -> "96·55·55": a product of sizes as courses write it."""
    return "·".join(str(d) for d in shape)


AXIS_SUFFIXES = {1: ("",), 2: ("_h", "_w"), 3: ("_d", "_h", "_w")}


def window_steps(windows):
    """The output-size steps of a sliding window: one "O" when every axis agrees, else O_h and O_w (O_d...)."""
    same = all(w == windows[0] for w in windows)
    axes = [("", windows[0])] if same else list(zip(AXIS_SUFFIXES[len(windows)], windows))
    same_kernel = all((w.kernel, w.dilation) == (windows[0].kernel, windows[0].dilation) for w in windows)
    steps = []
    for suffix, w in axes:
        kernel, kernel_symbol = str(w.kernel), "F"
        if w.dilation != 1:
            if w is windows[0] or not same_kernel:
                steps.append(Step(f"F_eff{'' if same_kernel else suffix}", "D·(F − 1) + 1",
                                  f"{w.dilation}·({w.kernel} − 1) + 1", w.effective_kernel,
                                  _("dilation spreads the kernel over more input")))
            kernel, kernel_symbol = str(w.effective_kernel), "F_eff"
        if w.pad_before == w.pad_after:
            pad_symbol, pad = "2P", f"2·{w.pad_before}"
        else:
            pad_symbol, pad = "P_before + P_after", f"{w.pad_before} + {w.pad_after}"
        exact = note = ""
        if w.remainder:
            exact = w.unrounded
            note = _("not an integer: {consequence}").format(consequence=uneven_consequence(w))
        steps.append(Step(f"O{suffix}", f"(N − {kernel_symbol} + {pad_symbol})/S + 1",
                          f"({w.size} − {kernel} + {pad})/{w.stride} + 1", w.output, note, exact))
    return steps


def weights_flops_step(layer, ins, out, bias_symbol, bias_count):
    """The FLOPs step of conv2d and dense: 2 per MAC, plus one per bias addition when the layer has a bias."""
    macs = layer.macs(ins, out)
    if layer.bias:
        return Step("FLOPs", f"2·MACs + {bias_symbol}", f"2·{macs:,} + {bias_count}", layer.flops(ins, out))
    return Step("FLOPs", "2·MACs", f"2·{macs:,}", layer.flops(ins, out))


def did_you_mean(word, candidates):
    import difflib  # only on the error path: keeps `summarize` start-up light
    close = difflib.get_close_matches(str(word).lower(), list(candidates), n=1, cutoff=0.6)
    return _("did you mean '{word}'?").format(word=close[0]) if close else None


# How attention runs, an analysis option (`--attention`, analyze(attention=...)) that reaches the layers
# through Layer.configured: "naive" is eager PyTorch's math path (the (heads, n, m) scores and weights are
# tensors, kept for backward); "flash" a fused kernel (F.scaled_dot_product_attention's flash or
# memory-efficient backend) that keeps O(n) softmax statistics instead and recomputes the scores in backward.
ATTENTION = ("naive", "flash")
# the kinds whose torch ops run element by element (TensorIterator), so their output and their inputs'
# gradients take the layout of the tensor they follow (Layer.output_order, input_grad_orders)
ELEMENTWISE_KINDS = frozenset((Kind.ACTIVATION, Kind.MERGE, Kind.REGULARIZATION, Kind.NORM))

PASS_THROUGH = "pass through"     # from_torch_call's answer for an op that forwards its input unchanged


@dataclass(frozen=True)
class TorchCall:
    """One function or Tensor-method call that torch.fx recorded, as a layer class sees it on import:
    the call's name, positional and keyword arguments, its tensor inputs' shapes and its output's
    (with batch)."""

    name: str
    args: tuple
    kwargs: dict
    input_shapes: tuple
    output_shape: tuple

    def arg(self, index, key, default=None):
        """The argument given at `index` or as `key`."""
        return self.kwargs.get(key, self.args[index] if len(self.args) > index else default)


def as_pair(value):
    """(3, 3) -> 3; (3, 5) -> [3, 5]: the spec's shortest spelling of a torch size."""
    if isinstance(value, (tuple, list)):
        return value[0] if len(set(value)) == 1 else list(value)
    return value


class Layer:
    """Base of every layer type. Subclasses set the class attributes and override the hooks they need."""

    type_name = ""          # canonical spelling, shown in tables
    aliases = ()            # other spellings (Keras, PyTorch), matched case-insensitively
    kind = Kind.OTHER       # family for breakdowns and colours
    counting = None         # tool -> counting.Rule for every tool in counting.TOOLS; required
    options = {}
    primary = None          # option that a bare scalar sets: `dense: 10`, `dropout: 0.5`
    min_inputs = 1
    max_inputs = 1
    accepts_activation = False
    example = None                   # a tiny spec using the type, checked against torch and the tools in tests
    imported_as = ""                 # the type from-torch reads its torch module back as (None: it vanishes)
    torch_modules = ()               # torch.nn (or layers.torch_modules) class names imported as this type
    torch_functions = ()             # functions and Tensor methods fx records that import as this type
    torch_parameter_ops = ()         # ops that combine an activation with a learned tensor read directly
    eval_identity = False            # in eval mode it returns its input tensor (dropout)
    inplace_capable = False          # may overwrite its input (element-wise activations, with --inplace)
    gradient_passes_through = False  # its inputs' gradients are its output's gradient or slices of it (add, concat)

    def __init_subclass__(cls, **kwargs):
        """imported_as defaults to the class's own type."""
        super().__init_subclass__(**kwargs)
        if vars(cls).get("imported_as", "") == "":
            cls.imported_as = cls.type_name

    def __init__(self, **opts):
        """Each option becomes an attribute (self.kernel); registration refuses an option named like a hook."""
        self.opts = opts
        self.__dict__.update(opts)
        self.memo = {}           # per input shape: what several hooks derive (windows), computed once

    def memoized(self, key, compute):
        """compute() once per `key` (a hook's name and the input shapes): a layer's hooks share their windows."""
        try:
            return self.memo[key]
        except KeyError:
            value = self.memo[key] = compute()
            return value

    # ---- construction

    @classmethod
    def option_names(cls):
        names = {}
        for name, option in cls.options.items():
            names[name] = name
            for alias in option.aliases:
                names[alias.lower()] = name
        return names

    @classmethod
    def canonical_option(cls, key):
        """The option a spelling refers to, or raise with a did-you-mean."""
        names = cls.option_names()
        if str(key).lower() in names:
            return names[str(key).lower()]
        known = ", ".join(cls.options) or "none"
        hint = did_you_mean(key, names) or _("options of {type}: {options}").format(type=cls.type_name, options=known)
        raise LayerError(_("unknown option '{key}' for {type}").format(key=key, type=cls.type_name), hint=hint)

    @classmethod
    def parse_option(cls, name, value):
        option = cls.options[name]
        try:
            return option.parse(value)
        except LayerError as err:
            err.message = _("option '{name}': {message}").format(name=name, message=err.message)
            err.hint = err.hint or _("{name} takes {values}").format(name=name,
                                                                     values=_(getattr(option.parse, "describe", N_("a value"))))
            raise

    @classmethod
    def missing_options(cls, given):
        return [name for name, option in cls.options.items() if option.required and name not in given]

    @classmethod
    def with_defaults(cls, given):
        opts = {name: option.default for name, option in cls.options.items()}
        opts.update(given)
        return opts

    @classmethod
    def example_spec(cls):
        """`example` as a whole spec: it is one already when it has `layers`, else `input`, the layers
        `before` it (so that a gradient reaches it) and one layer of this type with `options`."""
        if cls.example is None:
            return None
        if "layers" in cls.example:
            return {"name": f"example_{cls.type_name}", **cls.example}
        return {"name": f"example_{cls.type_name}", "input": cls.example["input"],
                "layers": [*cls.example.get("before", ()), {cls.type_name: dict(cls.example.get("options", {}))}]}

    @classmethod
    def non_default(cls, **given):
        """The options among `given` that differ from this type's defaults, so an imported spec reads
        like a hand-written one."""
        kept = {}
        for key, value in given.items():
            default = cls.options[key].default
            if value != default and as_pair(value) != as_pair(default):
                kept[key] = value
        return kept

    # ---- import from torch (archcalc from-torch)

    @classmethod
    def from_torch_module(cls, module):
        """The spec options of a torch module listed in `torch_modules`; raise Unsupported for a
        setting archcalc cannot express."""
        return {}

    @classmethod
    def from_torch_call(cls, call):
        """(options, indices of the tensor inputs it reads) for a TorchCall listed in
        `torch_functions`, or PASS_THROUGH; raise Unsupported for what archcalc cannot express."""
        return {}, (0,)

    @classmethod
    def from_torch_module_with(cls, module, input_shapes):
        """`from_torch_module`, for a type whose options also depend on the shapes (with batch) the module
        was called on; the default reads the module alone."""
        return cls.from_torch_module(module)

    @classmethod
    def from_torch_parameter(cls, call, shape, index):
        """Options for a call in `torch_parameter_ops` that combines the activation with a learned tensor
        of `shape` (with its leading 1s) the model reads directly (`x + self.pos_embedding`), the tensor
        being argument `index`; raise Unsupported when this type is not that."""
        raise Unsupported("not this layer type")

    # ---- analysis hooks

    def output_shape(self, ins):
        return ins[0]

    def param_tensors(self, ins):
        """Elements of each learnable tensor, in parameters() order (weight, then bias): tensors are
        counted one by one because a device allocator rounds each allocation on its own."""
        return ()

    def params(self, ins):
        """Learnable parameters, as PyTorch's parameters() counts them."""
        return sum(self.param_tensors(ins))

    def buffer_tensors(self, ins):
        """(elements, bytes per element) of each persistent non-learnable tensor, in buffers() order;
        bytes None means the model's dtype."""
        return ()

    def buffers(self, ins):
        """Persistent non-learnable state (batchnorm running statistics), as PyTorch's buffers() counts it."""
        return sum(elements for elements, _ in self.buffer_tensors(ins))

    def buffer_bytes(self, ins, width):
        return sum(elements * (element_bytes or width) for elements, element_bytes in self.buffer_tensors(ins))

    def keras_non_trainable(self, ins):
        """Weights Keras reports as non-trainable parameters but PyTorch keeps as buffers."""
        return 0

    def macs(self, ins, out):
        """Multiply-accumulates in convolution and matrix products (1 MAC = 2 FLOPs)."""
        return 0

    def flops(self, ins, out):
        """archcalc's convention: 2 per MAC plus the layer's other arithmetic (see README)."""
        return 2 * self.macs(ins, out)

    def bias_adds(self, ins, out):
        """Additions of a learned bias (one per output element that has one); counting conventions differ on them."""
        return 0

    def warnings(self, ins):
        return []

    def workspace(self, ins, out, width):
        """Bytes of temporaries alive, beside the inputs and the output, at the worst moment of the
        layer's eager PyTorch forward (per sample, `width` bytes per element); 0 for one-kernel layers."""
        return 0

    def is_view(self):
        """True when the output shares the input's memory (flatten): no new activation bytes."""
        return False

    def receptive_step(self, ins):
        """(kernel, stride, pad_before) per spatial axis as ((kh, sh, ph), (kw, sw, pw)),
        None for a pointwise layer, or 'global' when every output sees the whole input."""
        return None

    def configured(self, *, attention="naive", device="cpu"):
        """This layer as an analysis runs it, under the analysis options that change how a layer runs
        (`attention`, one of ATTENTION, and the device, where that decides which kernel torch takes): a
        layer they concern returns a copy set to them, every other layer itself."""
        return self

    def backward_workspace(self, ins, out, width, grad=None):
        """Bytes of temporaries alive, beside its saved tensors and the gradients, at the worst moment of
        the layer's own backward in eager PyTorch (per sample); 0 when its backward makes none beyond
        the input gradients. `grad` (an Autograd) says what needs a gradient and how the inputs and the
        output's gradient are laid out in memory."""
        return 0

    def backward_weight_temporaries(self, ins, out, width, grad):
        """Bytes of each temporary of the layer's backward whose size does not grow with the batch (a
        copy of its weight or of the weight's gradient in another memory layout), alive beside the
        backward_workspace at the same moment; () when it makes none."""
        return ()

    def backward_later_gradients(self, ins, out, width, grad):
        """Bytes of each of the layer's parameter gradients that its backward makes only after the worst
        moment backward_workspace describes (a layer torch runs as several autograd nodes, whose first
        parameter's gradient comes last); () when every one is made by then. The memory model counts all
        of a layer's parameter gradients from its backward's start, less these at that moment."""
        return ()

    def backward_frees_output_gradient(self, ins, out, width, grad):
        """True when, at the worst moment of its backward, the layer's first autograd node has already
        consumed its output's gradient (a layer torch runs as several nodes), so that gradient is freed
        then unless another tensor's gradient shares its storage; False (the default): the output's
        gradient lives through the layer's whole backward."""
        return False

    def output_order(self, ins, out, width, grad):
        """How the output is laid out in memory (an order, see shapes.channels_last; None: contiguous),
        given each input's (grad.order(i); `grad` also holds the batch and the device). Element-wise
        layers (activations, merges, regularisation, normalisations: TensorIterator ops, and batch norm,
        which follows suggest_memory_format) keep their first input's layout when the output has its
        shape; any other layer writes a contiguous output."""
        if self.kind in ELEMENTWISE_KINDS and ins and out == ins[0]:
            return grad.order(0)
        return None

    def input_grad_orders(self, ins, out, width, grad):
        """How the gradient the layer's backward hands each input is laid out (an order per input, None:
        contiguous), given the output gradient's (grad.grad_order): element-wise layers (see
        output_order) compute it element by element from the output's gradient, so in its layout, for
        each input of the output's shape; any other layer makes a contiguous one."""
        if self.kind in ELEMENTWISE_KINDS:
            return tuple(grad.grad_order if shape == out else None for shape in ins)
        return (None,) * len(ins)

    def torch_module(self, ins):
        raise NotImplementedError(f"{self.type_name} has no torch equivalent")

    def saved_tensors(self, ins, out, grad):
        """What autograd keeps for backward in training mode, as Saved values (elements include the
        batch). Parameters and buffers are never listed."""
        return []

    def torch_flops(self, ins, out):
        """What torch's FlopCounterMode counts for the forward: 2 per MAC of convolutions and matrix
        products, bias excluded, nothing for any other op."""
        return 2 * self.macs(ins, out)

    def torch_backward_flops(self, ins, out, grad):
        """What FlopCounterMode counts for this layer's backward (per sample)."""
        return 0

    def explain(self, ins, out):
        """Worked arithmetic as a list of Steps; the default fits element-wise layers (shape kept, no weights)."""
        return [self.same_shape_step(out), self.no_params_step(), self.flops_step(ins, out)]

    # ---- inference and checkpointing hooks (archcalc infer, memory --checkpoint)

    def kv_cache_heads(self, ins):
        """(key/value heads, head dim) of the keys and values this layer caches for every token while a
        decoder generates, or None: a layer that keeps no KV cache."""
        return None

    def weight_matrices(self, ins):
        """(rows, columns) of each parameter matrix a weight quantiser (GPTQ, AWQ) stores in groups along
        its columns, the input dimension; () when the layer has none."""
        return ()

    def decode_flops(self, ins, out, context):
        """archcalc FLOPs of one decode step (ins at one token, per sample) when the step's token attends
        to `context` tokens, itself included; a token-wise layer's are its FLOPs at one token."""
        return self.flops(ins, out)

    def decode_torch_flops(self, ins, out, context):
        """What FlopCounterMode counts for the same decode step."""
        return self.torch_flops(ins, out)

    def decode_workspace(self, ins, out, width, context):
        """Temporaries (bytes per sample) of the same decode step; the KV cache itself is counted apart."""
        return self.workspace(ins, out, width)

    def selective_recompute(self, ins, out, grad):
        """Selective activation checkpointing (Megatron-LM's): (what the layer keeps for backward instead,
        as Saved values, and the forward FLOPs per sample recomputed in backward to rebuild the rest), or
        None when the layer has nothing it would rather recompute."""
        return None

    # ---- helpers for subclasses

    @staticmethod
    def require_map(shape, what, rank=2):
        """A map of `rank` spatial axes: (channels, length), (channels, height, width) or (channels, depth,
        height, width)."""
        if len(shape) != rank + 1:
            axes = ", ".join([_("channels")] + [_(axis) for axis in MAP_AXES[rank]])
            got = _("a vector") if len(shape) == 1 else _("a {rank}-dimensional tensor").format(rank=len(shape))
            raise LayerError(
                _("{what} needs a feature map ({axes}), got {got} of shape {shape}").format(
                    what=what, axes=axes, got=got, shape=tuple(shape)),
                hint=_("apply it before flatten/dense, or use a layer meant for vectors") if len(shape) < rank + 1
                else _("use the {rank}-D form of the layer").format(rank=len(shape) - 1),
            )

    @staticmethod
    def same_shape_step(out, why=None):
        return Step("output", "", "", out, _("same as the input") if why is None else why)

    @staticmethod
    def no_params_step(why=None):
        return Step("params", "", "", 0, _("no parameters") if why is None else why)

    def flops_step(self, ins, out):
        """FLOPs of a layer that does a fixed amount of work per output element."""
        per = self.flops(ins, out) // max(numel(out), 1)
        if per == 1:
            return Step("FLOPs", _("elements"), dims(out), self.flops(ins, out))
        return Step("FLOPs", _("per element · elements"), f"{per}·{dims(out)}", self.flops(ins, out))

    # ---- Keras 3 (export-keras and verify --keras write a spec as Keras; from-keras reads one back)
    #
    # The bridges (archcalc/bridges/keras_model.py, from_keras.py) are generic plumbing: they find a type
    # through these attributes and hooks, and hand it an object with their helpers (duck-typed: layers/
    # imports no bridge). Keras models are channels_last: a (C, H, W) map is Keras's (H, W, C).

    keras_activation = None          # what Keras's `activation=` takes for this type, when it means the same
    keras_activation_aliases = ()    # other Keras activation names (a function's __name__) read as this type
    keras_classes = ()               # keras.layers class names (or archcalc's own Keras layers) read as this type
    keras_reads_padding = False      # it takes a ZeroPadding2D before it into its own padding (convs and pools)

    def keras_layer(self, plan, node, ins, inputs):
        """Add the Keras layer(s) that compute `node` (this layer) to the plan: `ins` are the input shapes
        (internal layout, no batch), `inputs` the plan's names of the Keras layers that feed it. The plan
        offers `emit(cls, inputs, args=(), custom=False, **kwargs)` (the Keras layer producing this node and
        an activation folded into it), `folded_activation()` ({"activation": ...} to pass to emit, or {}),
        `padding(node, windows, inputs, stride_one_same)` -> (padding, inputs) (Keras's 'same', or a
        ZeroPadding2D added before), `add(...)`/`rename(...)` for a helper layer, and `fail(node, message,
        hint)`, the SpecError to raise for what Keras cannot express. The default: no Keras equivalent."""
        raise plan.fail(node, "no Keras layer for this type", hint="see `archcalc layers` for the types")

    @classmethod
    def from_keras_layer(cls, reader, layer, shape, pending):
        """(type name, options) of the spec entry for a Keras `layer` whose class is in `keras_classes`,
        or None when it computes nothing and vanishes (its output is its input); `shape` is its input's
        (H, W, C) without batch, `pending` the ((top, bottom), (left, right)) of a ZeroPadding2D before it
        (only for a type with keras_reads_padding). `reader` offers pair(value), activation(layer) (the
        archcalc name of `activation=`, None for linear) and padding(layer, shape, pending, kernel, stride,
        dilation=(1, 1), ceil=False) -> (padding, rounds_up). Raise errors.Unsupported for a setting
        archcalc cannot express. The default: this type, no options."""
        return cls.type_name, {}

    # ---- importers (from-hf)

    @classmethod
    def is_no_op(cls, options):
        """True when a spec entry of this type with these options (as an importer writes them, `name` and
        `from` included) computes nothing, so the importer may leave it out and rewire its readers."""
        return False


class Windowed(Layer):
    """A sliding-window layer (convolution, pooling): its `windows(shape)`, one shapes.Window per spatial
    axis, decide the output size, the uneven-division warnings and the receptive-field step."""

    def warnings(self, ins):
        return window_warnings(self.windows(ins[0]))

    def receptive_step(self, ins):
        return tuple((w.effective_kernel, w.stride, w.pad_before) for w in self.windows(ins[0]))

    def kernel_terms(self):
        """("F·F", "3·3") for a square kernel, ("F_h·F_w", "3·5") otherwise: the window's size in a formula."""
        return self.axes_symbol("F", self.kernel), "·".join(str(k) for k in self.kernel)

    @staticmethod
    def axes_symbol(letter, values):
        """F·F for equal sizes on two axes, F_h·F_w when they differ; F in 1-D, F·F·F or F_d·F_h·F_w in 3-D."""
        if len(set(values)) == 1:
            return "·".join([letter] * len(values))
        return "·".join(letter + suffix for suffix in AXIS_SUFFIXES[len(values)])

    @classmethod
    def size_symbol(cls, out):
        """The output positions per channel in a formula: O·O when square."""
        return cls.axes_symbol("O", out[1:])
