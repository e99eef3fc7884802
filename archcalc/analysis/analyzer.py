"""Walk a graph and compute every number as plain data. Never prints; renderers do that."""
from dataclasses import dataclass, field, fields, replace
from typing import NamedTuple

from . import conventions
from ..errors import SpecError
from ..layers.base import ATTENTION, Autograd
from ..layers.shapes import numel, to_layout
from ..spec.graph import INPUT, as_graph

DTYPE_BYTES = {"fp32": 4, "fp16": 2, "bf16": 2, "int8": 1, "fp64": 8}
DEVICES = ("cpu", "cuda")


@dataclass
class ReceptiveField:
    """Per spatial axis (e.g. height, width): field size r, jump j (effective stride) and start
    (input coordinate of the centre of the first output's field; pixel centres are 0, 1, ...)."""

    size: tuple
    jump: tuple
    start: tuple

    @classmethod
    def of_input(cls, axes=2):
        return cls((1,) * axes, (1,) * axes, (0.0,) * axes)

    def step(self, steps):
        """r_out = r_in + (k − 1)·j_in, j_out = j_in·s, start_out = start_in + ((k − 1)/2 − p)·j_in."""
        size, jump, start = [], [], []
        for (k, s, p), r, j, c in zip(steps, self.size, self.jump, self.start):
            size.append(r + (k - 1) * j)
            jump.append(j * s)
            start.append(c + ((k - 1) / 2 - p) * j)
        return ReceptiveField(tuple(size), tuple(jump), tuple(start))


INTERNAL = {"internal": True}


@dataclass
class LayerRecord:
    """One layer's numbers. Counts are Python ints and include the batch (MACs, FLOPs, activations);
    parameters and buffers do not depend on it. Shapes are in the spec's layout, without batch."""

    name: str
    type: str
    kind: str
    inputs: tuple
    output_shape: tuple          # in the spec's layout, without batch
    params: int
    trainable_params: int
    buffers: int
    macs: int
    flops: int
    activation_elements: int
    activation_bytes: int
    receptive_field: object = None   # ReceptiveField, "global" or None for vectors
    line: int = None
    saved_bytes: int = 0             # kept for backward by this layer, storages saved earlier not recounted
    torch_flops: int = 0             # what torch's FlopCounterMode counts: conv and matmul, no bias
    torch_backward_flops: int = 0
    # What later stages read instead of walking the graph again (not part of the JSON contract):
    layer: object = field(default=None, repr=False, metadata=INTERNAL)       # the Layer, for its hooks
    in_shapes: tuple = field(default=(), repr=False, metadata=INTERNAL)      # internal layout, no batch
    out_shape: tuple = field(default=(), repr=False, metadata=INTERNAL)
    needs_grad: bool = field(default=False, repr=False, metadata=INTERNAL)   # its output requires grad
    saves_network_input: bool = field(default=False, repr=False, metadata=INTERNAL)
    workspace: int = field(default=0, repr=False, metadata=INTERNAL)         # temporaries, bytes per sample
    backward_workspace: int = field(default=0, repr=False, metadata=INTERNAL)    # its backward's, bytes per sample
    tie: str = field(default=None, repr=False, metadata=INTERNAL)            # the layer whose weight it shares
    # what checkpointing re-plans from: (storage, bytes) of every tensor the layer saves (before
    # de-duplication), its inputs' storages and its output's
    kept: tuple = field(default=(), repr=False, metadata=INTERNAL)
    storages: tuple = field(default=((), None), repr=False, metadata=INTERNAL)
    autograd: object = field(default=None, repr=False, metadata=INTERNAL)    # the layer's Autograd
    block: str = field(default="", repr=False, metadata=INTERNAL)            # its outermost block use
    # its output never reaches the model's output (a side head no later layer reads, see unread_branches):
    # no gradient flows back into it, so autograd frees what it saved once the forward is done
    unread: bool = field(default=False, repr=False, metadata=INTERNAL)
    # its backward's temporaries that do not grow with the batch (weight copies), bytes of each
    backward_weight_temporaries: tuple = field(default=(), repr=False, metadata=INTERNAL)

    def as_row(self):
        """The record's JSON-contract fields, as plain values."""
        return {f.name: getattr(self, f.name) for f in fields(self) if not f.metadata.get("internal")}


@dataclass
class Totals:
    """Sums over all layers; bytes use the report's dtype (batchnorm's num_batches_tracked is always 8)."""

    params: int = 0
    trainable_params: int = 0
    non_trainable_params: int = 0
    buffers: int = 0
    macs: int = 0
    flops: int = 0
    param_bytes: int = 0
    buffer_bytes: int = 0
    activation_bytes: int = 0
    saved_bytes: int = 0
    torch_flops: int = 0
    torch_backward_flops: int = 0


@dataclass
class Report:
    """What `analyze` returns: per-layer records in execution order, totals and warnings, as plain data.

    `to_dict()` gives the JSON contract that `archcalc summarize --format json` prints.
    """

    model: str
    input_shape: tuple           # spec's layout, without batch
    layout: str
    batch: int
    dtype: str
    layers: list = field(default_factory=list)
    totals: Totals = field(default_factory=Totals)
    warnings: list = field(default_factory=list)    # {"layer", "line", "message"}: what changes a result
    notes: list = field(default_factory=list)       # the same, for what does not (padding left over)
    keras: bool = False
    file: str = None
    convention: str = "archcalc"      # how `flops` is counted (archcalc.conventions)
    device: str = "cpu"

    @property
    def depth(self):
        """Layers with weights (conv and dense) on the longest path from the input to the output: the depth
        a paper quotes. ResNet-18 is 18: projection shortcuts, side branches and auxiliary heads are off it."""
        along = {}
        for r in self.layers:
            before = max((along.get(ref, 0) for ref in r.inputs), default=0)
            along[r.name] = before + r.kind.weighted
        return along[self.layers[-1].name] if self.layers else 0

    def to_dict(self):
        """The JSON contract: raw integers, shapes as lists in the spec's layout."""
        def field_of(rf):
            return rf if not isinstance(rf, ReceptiveField) else {
                "size": list(rf.size), "jump": list(rf.jump), "start": list(rf.start)}
        layers = []
        for r in self.layers:
            row = r.as_row()
            row["output_shape"] = list(r.output_shape)
            row["inputs"] = list(r.inputs)
            row["receptive_field"] = field_of(r.receptive_field)
            layers.append(row)
        return {
            "model": self.model,
            "input_shape": list(self.input_shape),
            "layout": self.layout,
            "batch": self.batch,
            "dtype": self.dtype,
            "keras": self.keras,
            "convention": self.convention,
            "device": self.device,
            "layers": layers,
            "totals": dict(vars(self.totals)),
            "warnings": list(self.warnings),
            "notes": list(self.notes),
        }


class LayerCosts(NamedTuple):
    """What a layer's hooks give for one set of input shapes, batch, dtype and convention: a function of
    those alone, so the analyzer asks once for each (a block repeated 1,000 times builds its layers
    once per distinct set of options, and the spec loader shares those objects)."""

    params: int              # the layer's own, before a `tie` shares them
    buffers: int
    buffer_bytes: int
    macs: int                # with the batch, as every count below
    flops: int               # under the report's convention
    torch_flops: int
    elements: int            # of the output
    view: bool
    keras_extra: int         # what Keras counts as non-trainable parameters besides (keras=True)
    steps: object            # receptive_step
    warnings: list

    @classmethod
    def of(cls, layer, ins, out, counting, batch, width, keras):
        return cls(layer.params(ins), layer.buffers(ins), layer.buffer_bytes(ins, width),
                   layer.macs(ins, out) * batch, counting.count(layer, ins, out, batch),
                   layer.torch_flops(ins, out) * batch, numel(out) * batch, layer.is_view(),
                   layer.keras_non_trainable(ins) if keras else 0, layer.receptive_step(ins), layer.warnings(ins))


def configured(graph, attention="naive", device="cpu"):
    """The graph as it runs under the analysis options that change how layers run: `attention` is one
    of layers.base.ATTENTION (naive: eager PyTorch's math path; flash: F.scaled_dot_product_attention's
    fused kernel). Each layer's `configured` hook decides whether the option concerns it; with the
    defaults the graph is returned as it is."""
    if attention not in ATTENTION:
        raise SpecError(f"unknown attention kernel '{attention}'",
                        hint="choose naive (the math path: scores and weights kept for backward) or flash "
                             "(a fused kernel keeping O(n) statistics)")
    if attention == "naive":
        return graph
    return replace(graph, nodes=[replace(node, layer=node.layer.configured(attention=attention, device=device))
                                 for node in graph.nodes])


def analyze(spec, *, batch=1, dtype="fp32", keras=False, strict=False, input_shape=None, device="cpu",
            convention="archcalc", allocation=None, backward=True, attention="naive"):
    """Analyze a spec and return a Report; nothing is printed.

    spec: a YAML path, a built-in name ("resnet50"), a dict shaped like a YAML spec, or a Graph
    from load_spec. batch multiplies MACs, FLOPs and activations; dtype sets the bytes per element
    (fp32, fp16, bf16, int8, fp64). keras=True counts batchnorm moving statistics as parameters,
    as Keras's summary does. strict=True turns uneven-division warnings into errors. input_shape
    ("3x224x224" or a list, in the spec's layout) replaces the spec's input. convention chooses how
    FLOPs are counted (archcalc, torch, torchvision, fvcore, thop, ptflops, torchinfo). Bad input
    raises SpecError.

    Saved-for-backward bytes assume a training step: modules in training mode, the input a plain
    data tensor, every layer's weights trained unless the spec freezes them; `device` matters
    because dropout keeps a different mask on CUDA. allocation, if given, maps one tensor's bytes to
    what the device allocator takes for it (archcalc.memory passes the CUDA caching allocator's
    rounding); saved_bytes then counts allocated bytes instead of the tensors' own. backward=False skips
    what only training needs (saved bytes, backward FLOPs, temporaries): those fields are then None.
    attention: "naive" (eager PyTorch's math path) or "flash" (a fused scaled-dot-product kernel): it
    changes what attention layers keep and make, and what FlopCounterMode counts for them (see configured).
    """
    graph = as_graph(spec, input_shape=input_shape)
    if dtype not in DTYPE_BYTES:
        raise SpecError(f"unknown dtype '{dtype}'", hint=f"choose one of {', '.join(DTYPE_BYTES)}")
    if not isinstance(batch, int) or batch < 1:
        raise SpecError(f"batch must be a whole number >= 1, got {batch!r}")
    if device not in DEVICES:
        raise SpecError(f"unknown device '{device}'", hint=f"choose one of {', '.join(DEVICES)}")
    width = DTYPE_BYTES[dtype]
    counting = conventions.get(convention)
    graph = configured(graph, attention, device)
    report = Report(graph.name, to_layout(graph.input_shape, graph.layout), graph.layout, batch, dtype,
                    keras=keras, file=graph.file, device=device, convention=convention)
    shapes = {INPUT: graph.input_shape}
    spatial_axes = len(graph.input_shape) - 1
    fields = {INPUT: ReceptiveField.of_input(spatial_axes) if spatial_axes else None}
    totals = report.totals
    saved = SavedStorages(allocation)
    needs_grad = {INPUT: False}
    storage = {INPUT: saved.fresh(numel(graph.input_shape) * batch)}
    built = {}      # name -> (layer, input shapes): what a `tie` refers to
    dead = unread_branches(graph)
    forward_costs, backward_costs = {}, {}      # see LayerCosts: one computation per layer and input shapes
    orders = {INPUT: None}                      # each tensor's memory order (None: contiguous)
    for node in graph.nodes:
        ins = tuple(shapes[ref] for ref in node.inputs)
        layer = node.layer
        built[node.name] = (layer, ins)
        try:
            out = graph.shapes[node.name] if node.name in graph.shapes else layer.output_shape(ins)
            key = (layer, ins)
            costs = forward_costs.get(key)
            if costs is None:
                costs = forward_costs[key] = LayerCosts.of(layer, ins, out, counting, batch, width, keras)
            params = costs.params - shared_params(node, ins, built)
            flops = 0 if counting.traced and node.name in dead else costs.flops
            field_ = receptive_field(costs.steps, [fields[ref] for ref in node.inputs])
            in_orders = tuple(orders[ref] for ref in node.inputs) if backward else ()
            grad = Autograd(tuple(needs_grad[ref] for ref in node.inputs), node.trainable and costs.params > 0,
                            batch, device, in_orders if any(in_orders) else ())
            storage[node.name] = storage[node.inputs[0]] if costs.view else saved.fresh(costs.elements)
            if backward:
                # memory layouts matter only to the backward's temporaries (_laid_out_backward)
                orders[node.name] = layer.output_order(ins, out, width, grad)
                key = (layer, ins, grad)
                if key not in backward_costs:
                    backward_costs[key] = (layer.saved_tensors(ins, out, grad), layer.workspace(ins, out, width),
                                           layer.backward_workspace(ins, out, width, grad) if grad.active else 0,
                                           layer.torch_backward_flops(ins, out, grad) * batch)
                kept, workspace, backward_workspace, torch_backward_flops = backward_costs[key]
                saved_bytes = saved.add(kept, width, [storage[ref] for ref in node.inputs], storage[node.name])
            else:
                kept, saved_bytes, workspace, torch_backward_flops = (), None, None, None
                backward_workspace = None
                saved.last = []
        except SpecError as err:
            raise graph.error(node, err) from None
        for notice in costs.warnings:
            if strict:
                raise graph.error(node, SpecError(notice.message + " (--strict)", hint=notice.hint or None))
            (report.warnings if notice.changes_result else report.notes).append(
                {"layer": node.name, "line": node.line, "message": notice.text})
        trainable = params if node.trainable else 0
        elements = 0 if costs.view else costs.elements
        shapes[node.name] = out
        fields[node.name] = field_
        needs_grad[node.name] = grad.active
        report.layers.append(LayerRecord(
            node.name, layer.type_name, layer.kind, node.inputs, to_layout(out, graph.layout),
            params + costs.keras_extra, trainable, costs.buffers, costs.macs, flops, elements, elements * width,
            field_, node.line, saved_bytes, costs.torch_flops, torch_backward_flops, layer, ins, out, grad.active,
            any(s.input is not None and node.inputs[s.input] == INPUT for s in kept), workspace, backward_workspace,
            node.tie, tuple(saved.last), (tuple(storage[ref] for ref in node.inputs), storage[node.name]), grad,
            getattr(node, "block", ""), node.name in dead))
        totals.params += params + costs.keras_extra
        totals.trainable_params += trainable
        totals.buffers += costs.buffers
        totals.macs += costs.macs
        totals.flops += flops
        totals.activation_bytes += elements * width
        totals.buffer_bytes += costs.buffer_bytes
        totals.torch_flops += costs.torch_flops
        if backward:
            totals.saved_bytes += saved_bytes
            totals.torch_backward_flops += torch_backward_flops
    if backward:
        _laid_out_backward(report, orders, width)
    else:
        totals.saved_bytes = totals.torch_backward_flops = None
    totals.non_trainable_params = totals.params - totals.trainable_params
    totals.param_bytes = totals.params * width
    return report


def _laid_out_backward(report, orders, width):
    """The backward temporaries that depend on memory layout (a convolution's copies when its input or
    its output's gradient is channels last: Layer.backward_workspace, backward_weight_temporaries).
    Forward, each layer's output_order gave its output's layout; here each gradient's follows backward:
    a tensor's gradient takes the layout of the first contribution to reach it, from its last reader
    (autograd runs the later readers' backward first and adds the others into that one). Nothing is
    recomputed when every tensor is contiguous."""
    if not any(orders.values()):
        return
    grad_orders = {report.layers[-1].name: None}         # the loss's gradient: contiguous
    for record in reversed(report.layers):
        grad = record.autograd
        if not grad.active:
            continue
        grad_order = grad_orders.get(record.name)
        layer, ins, out = record.layer, record.in_shapes, record.out_shape
        if grad_order is not None:
            grad = record.autograd = replace(grad, grad_order=grad_order)
        for ref, order in zip(record.inputs, layer.input_grad_orders(ins, out, width, grad)):
            grad_orders.setdefault(ref, order)
        if grad.orders or grad_order is not None:
            record.backward_workspace = layer.backward_workspace(ins, out, width, grad)
        record.backward_weight_temporaries = tuple(layer.backward_weight_temporaries(ins, out, width, grad))


def unread_branches(graph):
    """Names of the layers whose output never reaches the model's output (a side head no later layer
    reads, as Inception's auxiliary classifier when no loss reads it): traced tools count nothing for
    them, and in a training step autograd frees their graph after the forward (LayerRecord.unread).
    One backward pass over the nodes, which are in execution order."""
    live, unread = {graph.output}, set()
    for node in reversed(graph.nodes):
        if node.name in live:
            live.update(node.inputs)
        else:
            unread.add(node.name)
    return unread


def shared_params(node, ins, built):
    """Elements of the weight a layer shares with the earlier layer its `tie` names (a GPT-2 LM head
    reusing the token embedding): counted once, at the owner, as model.parameters() counts a shared
    Parameter. Both layers state their weight's torch shape (`weight_shape`), which must agree."""
    if node.tie is None:
        return 0
    owner, owner_ins = built[node.tie]
    mine = getattr(node.layer, "weight_shape", None)
    theirs = getattr(owner, "weight_shape", None)
    if mine is None or theirs is None:
        which = node.layer if mine is None else owner
        raise SpecError(f"`tie: {node.tie}`: {which.type_name} has no single weight tensor to share",
                        hint="tie a dense layer to an embedding (or another dense) of the same weight shape")
    if mine(ins) != theirs(owner_ins):
        raise SpecError(f"`tie: {node.tie}`: this layer's weight {tuple(mine(ins))} and {node.tie}'s "
                        f"{tuple(theirs(owner_ins))} differ, so they cannot be one tensor",
                        hint="a tied LM head has units = the embedding's vocabulary and inputs = its dimension")
    return numel(mine(ins))


class SavedStorages:
    """Storages autograd already keeps: a tensor saved by two layers (a relu's output that the next
    conv saves as its input, a flatten view of it) costs its bytes once."""

    def __init__(self, allocation=None):
        self.count = 0
        self.kept = set()
        self.sizes = {}     # storage -> its elements: a saved view (x[:, 0]) keeps its whole storage alive
        self.allocation = allocation or (lambda nbytes: nbytes)
        self.last = []      # (storage, bytes) of each tensor the last `add` was given

    def fresh(self, elements=None):
        self.count += 1
        if elements is not None:
            self.sizes[self.count] = elements
        return self.count

    def add(self, tensors, width, input_storages, output_storage):
        """Bytes that `tensors` (a layer's saved_tensors) add to what is kept."""
        added = 0
        self.last = []
        for tensor in tensors:
            if tensor.output:
                key = output_storage
            elif tensor.input is not None:
                key = input_storages[tensor.input]
            else:
                key = self.fresh()
            nbytes = self.allocation(max(tensor.elements, self.sizes.get(key, 0)) * (tensor.element_bytes or width))
            self.last.append((key, nbytes))
            if key not in self.kept:
                self.kept.add(key)
                added += nbytes
        return added


def receptive_field(steps, fields):
    """The field of one output element after a layer whose receptive_step is `steps`: 'global' once it
    sees the whole input, None on a vector-only path."""
    if "global" in fields:
        return "global"
    spatial = [f for f in fields if f is not None]
    if not spatial:
        return None
    if steps == "global":
        return "global"
    widest = max(spatial, key=lambda f: f.size)
    return widest if steps is None else widest.step(steps)
