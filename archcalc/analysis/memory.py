"""Memory you can act on: what a forward pass or a training step keeps on the device, layer by layer,
and whether it fits a budget. Plain data; render.memory_report prints it.

Inference: parameters and buffers, plus the activations alive at the worst moment of the forward pass,
found by liveness along execution order: a layer's output is allocated when the layer runs and freed
after its last reader (so residual and concat inputs stay alive until merged; an output nothing reads,
a side head's, where it is made); views (flatten), eval-mode
dropout and, with `inplace`, element-wise activations share their input's storage. The textbook figure,
the sum of every layer's output, is reported beside it: it is what a forward pass would need if nothing
were ever freed.

Training (one steady-state step of `loss.backward(); optimizer.step(); optimizer.zero_grad()`):
parameters, buffers and optimizer state persist; the caller holds the input and the output; the
forward pass accumulates what autograd saves for backward (the analyzer's per-layer saved_bytes);
backward walks the layers in reverse, freeing each layer's saved tensors after its backward, while
parameter gradients accumulate and each activation gradient lives from its last reader's backward to
its producer's (and while an earlier reader of a tensor several layers read runs its backward, that
tensor's gradient is there twice: see _accumulated_gradients); the peak is the larger of the end of the
forward pass and the worst backward step.
A side branch no later layer reads (an auxiliary head whose output the step drops, analyzer.unread_branches)
gets no gradient: autograd frees its graph, with what its layers saved, once its output is dropped, so at
the end of the forward pass it keeps nothing but the storages a live layer also saves; its parameters get
no gradient and, the optimizer skipping a parameter without one, no optimizer state.

Every tensor is counted on its own, as the device allocator sees it: on CUDA, PyTorch's caching
allocator rounds each request up to a multiple of 512 bytes (`allocated`), so `--device cuda` counts
each parameter, buffer, gradient, optimizer state, activation and saved tensor in 512-byte blocks.
"""
from dataclasses import asdict, dataclass, field
from functools import partial

from .analyzer import DTYPE_BYTES, analyze, configured
from ..errors import SpecError, require_choice
from ..i18n import N_, _
from ..units import parse_bytes
from ..layers.shapes import numel
from ..spec.graph import INPUT, as_graph

OPTIMIZER_STATES = {"sgd": 0, "momentum": 1, "adam": 2, "adamw": 2}
MODES = ("inference", "training")
MASTER_BYTES = 4            # fp32 master weights and optimizer state under mixed precision
MAX_BATCH_SEARCHED = 2**20
CUDA_BLOCK = 512            # PyTorch's CUDA caching allocator hands out multiples of this (kMinBlockSize)
CPU_RNG_STATE_BYTES = 5056  # torch.get_rng_state(): the CPU generator's state, a uint8 tensor of 5,056 bytes


@dataclass
class LayerMemory:
    name: str
    type: str
    output_bytes: int       # new storage the layer allocates; 0 when its output shares its input's
    live_bytes: int         # inference: activation bytes alive while the layer runs
    saved_bytes: int        # training: what autograd keeps for this layer's backward
    param_bytes: int        # the layer's parameters, in the model dtype
    grad_bytes: int         # gradients of its trained parameters
    optimizer_bytes: int    # optimizer state for its trained parameters (the breakdown's "optimizer state")
    master_bytes: int = 0   # fp32 master weights of its trained parameters (mixed precision only)
    recompute_flops: int = 0     # --checkpoint: forward FLOPs run again in backward to rebuild what it saves
    recomputed_bytes: int = 0    # --checkpoint: what that rebuilds, alive from the recomputation to its backward
    step_bytes: int = 0          # training: everything on the device at the worst moment of its backward


@dataclass
class MemoryReport:
    model: str
    mode: str
    batch: int
    dtype: str
    optimizer: str
    mixed_precision: bool
    inplace: bool
    device: str = "cpu"             # whose allocator: cuda rounds every tensor up to 512-byte blocks
    layers: list = field(default_factory=list)
    input_bytes: int = 0
    param_bytes: int = 0
    buffer_bytes: int = 0
    outputs_bytes: int = 0          # textbook: the input plus every layer's output, nothing freed
    allocated_bytes: int = 0        # the input plus every new storage (views and in-place layers share)
    peak_activation_bytes: int = 0  # liveness peak of the forward pass
    peak_activation_layer: str = ""
    grad_bytes: int = 0
    optimizer_bytes: int = 0
    master_bytes: int = 0
    saved_bytes: int = 0
    released_bytes: int = 0         # training: saved by side branches nothing reads, freed after the forward
    forward_end_bytes: int = 0      # training: saved for backward + the output, at the end of the forward
    backward_peak_bytes: int = 0    # training: worst backward step (saved still held + gradients)
    backward_peak_layer: str = ""
    peak_bytes: int = 0             # everything at the worst moment
    breakdown: list = field(default_factory=list)   # [component, bytes, how it is counted]
    budget: int = None
    fits: bool = None
    max_batch: int = None
    checkpoint: str = "none"        # activation checkpointing: none, blocks, every:N, selective
    segments: list = field(default_factory=list)    # checkpointed runs of layers, [first, last] names
    recompute_flops: int = 0        # forward FLOPs recomputed in backward (archcalc's convention)
    notes: list = field(default_factory=list)       # rules that apply to this spec, in words

    def to_dict(self):
        return asdict(self)


def allocated(nbytes, device):
    """Bytes the device's allocator takes for one tensor of `nbytes`: the tensor's own on CPU (what
    PyTorch's profiler counts); on CUDA the caching allocator rounds every request up to a multiple of
    512 bytes (round_size in c10/cuda/CUDACachingAllocator.cpp), so a bias of 10 floats takes 512.
    An empty tensor takes nothing."""
    if device == "cuda":
        return -(-nbytes // CUDA_BLOCK) * CUDA_BLOCK
    return nbytes


def memory(spec, *, batch=1, dtype="fp32", mode="inference", optimizer=None, mixed_precision=False,
           inplace=False, budget=None, input_shape=None, device="cpu", attention="naive", checkpoint="none"):
    """A MemoryReport for one spec; `budget` (bytes or text like '24GiB') adds fits and max_batch;
    `device` 'cuda' counts every tensor as the CUDA caching allocator rounds it, and a dropout mask as
    the 1-byte bool CUDA keeps. `optimizer` (default sgd) and `mixed_precision` describe a training
    step: given with mode 'inference' they would change nothing, so they are refused. `checkpoint`
    (training): none, blocks (each block use the spec names, else each run ending at a residual
    merge), every:N (each run of N layers) or selective (attention's scores recomputed), see
    checkpoint_plan."""
    _refuse_training_options(mode, optimizer, mixed_precision)
    graph = configured(as_graph(spec, input_shape=input_shape), attention, device)   # --attention: naive or flash
    checkpoint = parse_checkpoint(checkpoint)
    if mode != "training" and checkpoint != ("none", 0):
        raise SpecError(f"--checkpoint {checkpoint_text(checkpoint)} describes a training step, and the mode is "
                        "inference: nothing is saved for backward to checkpoint",
                        hint="add --mode training (or --train), or leave out --checkpoint")
    options = dict(dtype=dtype, mode=mode, optimizer=optimizer or "sgd", mixed_precision=mixed_precision,
                   inplace=inplace, device=device, checkpoint=checkpoint)
    _check(**options)
    result = _measure(graph, batch, **options)
    if budget is not None:
        result.budget = budget if isinstance(budget, int) else parse_bytes(budget)
        result.fits = result.peak_bytes <= result.budget
        result.max_batch = largest_batch(graph, result.budget, **options)
    return result


def _refuse_training_options(mode, optimizer, mixed_precision):
    """An option that has no effect in the chosen mode is a mistake to report, not to ignore: the answer
    would be for inference while the user asked about an optimizer. (Switching to training instead
    would answer a question the user did not ask, by a factor of several, without their seeing it.)"""
    if mode != "inference":
        return
    given = ([f"--optimizer {optimizer}"] if optimizer is not None else []) + \
        (["--mixed-precision"] if mixed_precision else [])
    if given:
        options = (" " + _("and") + " ").join(given)
        raise SpecError((_("{options} describe a training step, and the mode is inference (the default): the answer "
                           "would ignore them") if len(given) > 1 else
                         _("{options} describes a training step, and the mode is inference (the default): the answer "
                           "would ignore it")).format(options=options),
                        hint=_("add --mode training, or leave out {options} for inference").format(options=options))


def _check(dtype, mode, optimizer, mixed_precision, inplace, device, checkpoint=("none", 0)):
    require_choice(mode, MODES, _("unknown mode '{mode}'").format(mode=mode))
    require_choice(optimizer, OPTIMIZER_STATES, _("unknown optimizer '{optimizer}'").format(optimizer=optimizer))
    if mixed_precision and DTYPE_BYTES.get(dtype) != 2:
        raise SpecError(_("mixed precision keeps weights and activations in a 16-bit type, not {dtype}").format(
            dtype=dtype), hint=_("add --dtype fp16 or --dtype bf16"))



def largest_batch(graph, budget, **options):
    """The largest batch whose peak fits `budget` (0 if even one sample does not), by bisection on
    the exact computation (peak memory grows with the batch)."""
    def fits(batch):
        return _measure(graph, batch, **options).peak_bytes <= budget
    if not fits(1):
        return 0
    low, high = 1, 2
    while high <= MAX_BATCH_SEARCHED and fits(high):
        low, high = high, high * 2
    if high > MAX_BATCH_SEARCHED:
        return low
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (middle, high) if fits(middle) else (low, middle)
    return low


def _liveness(report, input_bytes, workspace, width, mode, inplace, block):
    """Per layer, from execution order: (bytes of new storage, activation bytes alive while it runs,
    its temporaries included); `workspace` holds each layer's temporaries in bytes per sample, and
    `block` turns a tensor's bytes into what the allocator takes for it."""
    batch = report.batch
    position = {record.name: index for index, record in enumerate(report.layers)}
    last_read = {}                               # tensor name -> index of its last reader
    for index, record in enumerate(report.layers):
        for ref in record.inputs:
            last_read[ref] = index
    storage_of, members = {INPUT: INPUT}, {INPUT: [INPUT]}
    size = {INPUT: input_bytes}
    for index, record in enumerate(report.layers):
        source = storage_of[record.inputs[0]]
        sole_reader = max(last_read.get(name, -1) for name in members[source]) == index
        shares = (record.activation_elements == 0                                # a view: flatten
                  or (mode == "inference" and record.layer.eval_identity)          # eval dropout returns its input
                  or (inplace and record.layer.inplace_capable and sole_reader))
        storage = source if shares else record.name
        storage_of[record.name] = storage
        members.setdefault(storage, []).append(record.name)
        size.setdefault(storage, block(numel(record.output_shape) * batch * width))
    last_read[report.layers[-1].name] = len(report.layers)        # the model's output is kept,
    last_read[INPUT] = len(report.layers)                          # and the caller holds the input
    # a tensor nobody reads dies where it is made
    free_after = {storage: max(last_read.get(name, position.get(name, -1)) for name in names)
                  for storage, names in members.items()}
    live, rows = size[INPUT], []
    for index, record in enumerate(report.layers):
        new = size[record.name] if storage_of[record.name] == record.name else 0
        live += new
        rows.append((new, live + block(workspace[index] * batch)))
        for storage in {storage_of[ref] for ref in record.inputs} | {storage_of[record.name]}:
            if free_after[storage] == index:
                live -= size[storage]
    return rows


def liveness_peak(report, input_bytes, workspace, width, mode="inference", inplace=False):
    """(peak activation bytes, the layer running then) of a forward pass by liveness, with `workspace`
    (bytes per sample per layer) as each layer's temporaries: what infer asks of a decode step."""
    rows = _liveness(report, input_bytes, workspace, width, mode, inplace, lambda nbytes: nbytes)
    peak, layer = input_bytes, INPUT
    for record, (_step, live) in zip(report.layers, rows):
        if live > peak:
            peak, layer = live, record.name
    return peak, layer


def _own_params(record):
    """The layer's parameter tensors, less a weight it shares with an earlier layer (`tie`), which is
    allocated once, at its owner."""
    tensors = tuple(record.layer.param_tensors(record.in_shapes))
    if tensors and sum(tensors) - record.params == tensors[0]:
        return tensors[1:]
    return tensors


def _layer_facts(report):
    """What the memory model reads off the analyzer's records: each layer's temporaries (bytes per
    sample), its parameter tensors (elements of each) and buffer tensors ((elements, bytes per element
    or None) of each), which tensors get a gradient, and the index of the first layer that saves the
    network input for backward (its saved bytes hold it), or None."""
    workspaces = [record.workspace for record in report.layers]
    tensors = [(_own_params(record), record.layer.buffer_tensors(record.in_shapes)) for record in report.layers]
    needs_grad = {INPUT: False, **{record.name: record.needs_grad for record in report.layers}}
    saver = next((index for index, record in enumerate(report.layers)
                   if record.saves_network_input and not record.unread), None)
    return workspaces, tensors, needs_grad, saver


def _kept_after_forward(report):
    """Per layer, the bytes of the storages it is the first to keep for backward among the layers whose
    output reaches the model's output: the analyzer's saved_bytes, with the layers of side branches nothing
    reads (record.unread) keeping nothing, since autograd frees their graph once the forward is done, and a
    storage one of them saved first counted at the first live layer that also saves it."""
    seen, kept = set(), []
    for record in report.layers:
        added = 0
        for key, nbytes in () if record.unread else record.kept:
            if key not in seen:
                seen.add(key)
                added += nbytes
        kept.append(added)
    return kept


def _unread_notes(report, released):
    """One note per end of a side branch nothing reads (its last layer, whose output no layer takes)."""
    read = {ref for record in report.layers for ref in record.inputs}
    ends = [record.name for record in report.layers if record.unread and record.name not in read]
    return [_("'{layer}': its output is read by no later layer, so its graph is freed after the forward "
              "(no gradient flows into the branch, its parameters get none)").format(layer=name) for name in ends] + (
        [_("freed after the forward, of what was saved for backward: {bytes}").format(bytes=f"{released:,} bytes")]
        if ends and released else [])


def _gradient_lifetimes(report, needs_grad, element_bytes, block):
    """(first, last, bytes) per gradient storage of a backward pass, in layer indices: a tensor's
    gradient is made at its last reader's backward and freed after its producer's. Gradients reaching
    a view, or the only input of an add or a concat, are the merge's own gradient (the same tensor, or
    slices of it), so they share its storage and extend its life; so is the gradient of a tensor several
    layers read whose last reader is such a merge of its shape (a residual add's shortcut): autograd's
    InputBuffer keeps the add's gradient tensor as the first contribution and adds the earlier readers'
    into it in place. Measured with the CPU profiler: test_a_residual_adds_gradient_is_its_shortcuts_first,
    and ResNet-101/152 and SE-ResNet-50, each 589,824 bytes over at layer2's last bn3 without it."""
    readers = {}
    for index, record in enumerate(report.layers):
        for ref in record.inputs:
            readers.setdefault(ref, []).append(index)
    last = len(report.layers)
    owner, lifetimes = {}, {}
    for index in reversed(range(len(report.layers))):
        record = report.layers[index]
        name = record.name
        if not needs_grad[name] or record.unread:
            continue                        # a side branch nothing reads gets no gradient
        reading = [reader for reader in readers.get(name, [last] if index == last - 1 else [])
                   if reader == last or not report.layers[reader].unread]
        if not reading:
            continue                        # nobody reads it: no gradient flows
        merge = reading[0] < last and report.layers[reading[0]]
        shares = len(reading) == 1 and merge and (merge.layer.gradient_passes_through or
                                                  merge.activation_elements == 0)
        # several readers, the last of them (whose backward runs first) a merge handing this input its own
        # gradient tensor (an add's input of the sum's shape): autograd's InputBuffer takes that tensor as
        # the first contribution to this tensor's gradient, and the earlier readers' are added into it
        # (_accumulated_gradients), so the two are one storage, alive from the merge's backward on
        final = max(reading)
        merge = merge if len(reading) == 1 else final < last and report.layers[final]
        shares = shares or (len(reading) > 1 and merge and merge.layer.gradient_passes_through
                            and tuple(merge.output_shape) == tuple(record.output_shape))
        owner[name] = owner[merge.name] if shares and merge.name in owner else name
        key = owner[name]
        if key == name:
            lifetimes[key] = [index, max(reading), block(numel(record.output_shape) * element_bytes)]
        lifetimes[key][0] = min(lifetimes[key][0], index)
    return [tuple(value) for value in lifetimes.values()]


def _accumulated_gradients(report, needs_grad, element_bytes, block):
    """Per layer, bytes of the input gradients its backward makes for a tensor that already has one: a
    tensor several layers read gets its gradient buffer at its last reader's backward, and each earlier
    reader's backward makes a new input-sized gradient that autograd adds into that buffer (in place, as
    InputBuffer::accumulate does) and then frees; so while that backward runs two gradients of the tensor
    are alive. Measured with the CPU profiler: Inception-v3's peak is the backward of Mixed_7a's 1×1 conv
    reading Mixed_6e's output, whose 2·768·17·17·4 = 1,775,616-byte gradient is made twice there. A merge
    passing its gradient through (add, concat) and a view make no new tensor for it, so they add nothing."""
    last_reader = {}
    for index, record in enumerate(report.layers):
        if not record.unread:
            for ref in record.inputs:
                last_reader[ref] = index
    shapes = {record.name: record.output_shape for record in report.layers}
    extra = [0] * len(report.layers)
    for index, record in enumerate(report.layers):
        if record.unread or record.layer.gradient_passes_through or record.activation_elements == 0:
            continue
        for ref in set(record.inputs):
            if needs_grad[ref] and last_reader[ref] > index:
                extra[index] += block(numel(shapes[ref]) * element_bytes)
    return extra


INPUT_BYTES = {"int64": 8, "int32": 4}


def _measure(graph, batch, dtype, mode, optimizer, mixed_precision, inplace, device, checkpoint=("none", 0)):
    block = partial(allocated, device=device)
    report = analyze(graph, batch=batch, dtype=dtype, device=device, allocation=block)
    width = DTYPE_BYTES[dtype]
    training = mode == "training"
    result = MemoryReport(graph.name, mode, batch, dtype, optimizer if training else "-",
                          mixed_precision, inplace, device)
    input_width = INPUT_BYTES.get(graph.input_dtype, width)      # token ids: int64
    result.input_bytes = block(numel(graph.input_shape) * batch * input_width)
    workspaces, tensors, needs_grad, saver = _layer_facts(report)
    rows = _liveness(report, result.input_bytes, workspaces, width, mode, inplace, block)
    result.outputs_bytes = numel(graph.input_shape) * batch * input_width + report.totals.activation_bytes
    result.allocated_bytes = result.input_bytes + sum(new for new, _ in rows)
    result.peak_activation_bytes, result.peak_activation_layer = result.input_bytes, INPUT
    optimizer_width = MASTER_BYTES if mixed_precision else width
    states = OPTIMIZER_STATES[optimizer] if training else 0
    all_trained = []                            # elements of every trained parameter tensor
    for record, (new, live), (params, buffers) in zip(report.layers, rows, tensors):
        if live > result.peak_activation_bytes:
            result.peak_activation_bytes, result.peak_activation_layer = live, record.name
        trainable = params if training and record.trainable_params else ()
        # a side branch nothing reads gets no gradient, and the optimizer no state for its parameters
        # (fp32 master copies are made for every trained parameter all the same)
        trained = () if record.unread else trainable
        all_trained += trained
        result.buffer_bytes += sum(block(elements * (element_bytes or width)) for elements, element_bytes in buffers)
        result.layers.append(LayerMemory(
            record.name, record.type, new, live, record.saved_bytes if training else 0,
            sum(block(elements * width) for elements in params), sum(block(elements * width) for elements in trained),
            sum(states * block(elements * optimizer_width) for elements in trained),
            sum(block(elements * MASTER_BYTES) for elements in trainable) if mixed_precision else 0))
    result.param_bytes = sum(layer.param_bytes for layer in result.layers)

    if training:
        _training_step(result, report, all_trained, needs_grad, saver, width, optimizer_width, states, block)
        if checkpoint != ("none", 0):
            _checkpointed_step(result, report, checkpoint, needs_grad, width, block)
        return result
    result.peak_bytes = result.param_bytes + result.buffer_bytes + result.peak_activation_bytes
    result.breakdown = _persistent_rows(result, report, width) + [
        [N_("activations at the peak"), result.peak_activation_bytes,
         _("liveness peak, while '{layer}' runs").format(layer=result.peak_activation_layer)],
    ]
    return result


def _activation_gradients(report, needs_grad, batch, width, block):
    """Per layer, (bytes of the gradients alive during its backward: every activation gradient whose
    lifetime covers it, a tied weight's gradients in autograd's buffer (_shared_gradients) and a second
    gradient of an input that already has one (_accumulated_gradients); bytes of the gradients whose
    lifetime ends at it, its output's), in one sweep over the lifetimes."""
    n = len(report.layers)
    starts, ending = [0] * (n + 2), [0] * n       # a lifetime may last to index n, the loss
    for first, last, size in _gradient_lifetimes(report, needs_grad, batch * width, block):
        starts[first] += size
        starts[last + 1] -= size
        ending[first] += size
    shared = _shared_gradients(report, width, block)
    accumulated = _accumulated_gradients(report, needs_grad, batch * width, block)
    alive, running = [], 0
    for index in range(n):
        running += starts[index]
        alive.append(running + shared.get(index, 0) + accumulated[index])
    return alive, ending


def _backward_temporaries(record, batch, block, width, own_gradient=0):
    """What the layer's own backward allocates beside its saved tensors and the gradients at its worst
    moment: its activation-sized workspace (per sample, times the batch) and each weight-sized copy, less
    the parameter gradients it makes only after that moment (Layer.backward_later_gradients) and, where
    its first autograd node has consumed its output's gradient by then (Layer.backward_frees_output_gradient),
    that gradient's storage, `own_gradient` bytes when no earlier tensor's gradient shares it (its
    lifetime ends at this layer), else 0."""
    grad, layer, ins, out = record.autograd, record.layer, record.in_shapes, record.out_shape
    active = grad is not None and grad.active
    later = layer.backward_later_gradients(ins, out, width, grad) if active else ()
    freed = own_gradient if active and layer.backward_frees_output_gradient(ins, out, width, grad) else 0
    return (block(record.backward_workspace * batch) + sum(block(nbytes) for nbytes in record.backward_weight_temporaries)
            - sum(block(nbytes) for nbytes in later) - freed)


def _training_step(result, report, trained, needs_grad, saver, width, optimizer_width, states, block):
    """Fill the training figures: persistent state, the end of the forward pass, the worst backward step."""
    batch, mixed_precision, optimizer = report.batch, result.mixed_precision, result.optimizer
    persistent = result.param_bytes + result.buffer_bytes
    trainable = report.totals.trainable_params
    result.grad_bytes = sum(layer.grad_bytes for layer in result.layers)
    result.optimizer_bytes = states * sum(block(elements * optimizer_width) for elements in trained)
    result.master_bytes = sum(layer.master_bytes for layer in result.layers)
    result.saved_bytes = report.totals.saved_bytes          # what the forward saves, all layers
    kept = _kept_after_forward(report)                      # what is still saved when the forward ends
    result.released_bytes = result.saved_bytes - sum(kept)
    result.notes = _unread_notes(report, result.released_bytes)
    # the caller holds the input all along; where a layer also saves it (`saver`), it is counted once
    saved_input = [result.input_bytes if index == saver else 0 for index in range(len(report.layers))]
    held = result.input_bytes + block(numel(report.layers[-1].output_shape) * batch * width)   # input, output
    saved_before, grads_after = sum(kept) - sum(saved_input), 0
    result.forward_end_bytes = saved_before + held
    alive, ending = _activation_gradients(report, needs_grad, batch, width, block)
    for index in reversed(range(len(report.layers))):
        record, layer = report.layers[index], result.layers[index]
        if record.unread:
            continue                        # no backward runs for it: its graph is gone
        grads_after += layer.grad_bytes
        # + the layer's own backward temporaries
        step = (saved_before + held + alive[index] + grads_after
                + _backward_temporaries(record, batch, block, width, ending[index]))
        layer.step_bytes = step
        if step > result.backward_peak_bytes:
            result.backward_peak_bytes, result.backward_peak_layer = step, record.name
        saved_before -= kept[index] - saved_input[index]
    persistent += result.optimizer_bytes + result.master_bytes
    for record, layer in zip(report.layers, result.layers):
        layer.step_bytes += 0 if record.unread else persistent
    result.peak_bytes = persistent + max(result.forward_end_bytes, result.backward_peak_bytes)
    blocks = _block_note(result)
    result.breakdown = _persistent_rows(result, report, width) + [
        [N_("fp32 master weights"), result.master_bytes,
         _("{count} × 4 bytes").format(count=f"{trainable:,}") + blocks if mixed_precision else
         _("none (no mixed precision)")],
        [N_("optimizer state"), result.optimizer_bytes,
         f"{optimizer}: {states} × " + _("{count} × {width} bytes").format(count=f"{sum(trained):,}",
                                                                          width=optimizer_width)
         + (blocks if states else '')],
        [N_("at the worst moment"), result.peak_bytes - persistent,
         _("end of forward: everything saved for backward, the input and the output") if result.forward_end_bytes >=
         result.backward_peak_bytes else _("backward of '{layer}': saved tensors not yet freed, the input and "
                                           "output, activation gradients, parameter gradients so far").format(
                                               layer=result.backward_peak_layer)],
    ]


def _shared_gradients(report, width, block):
    """{backward step: bytes} of the gradients of a weight two layers share (`tie`): autograd holds the
    later layer's contribution from its backward on, and at the owner's backward adds the owner's out of
    place, so three weight-sized tensors are alive there, the sum being the gradient already counted."""
    position, extra = {record.name: index for index, record in enumerate(report.layers)}, {}
    for index, record in enumerate(report.layers):
        owner = position.get(record.tie)
        if owner is not None and report.layers[owner].trainable_params:
            size = block(numel(record.layer.weight_shape(record.in_shapes)) * width)
            for step in range(owner, index + 1):
                extra[step] = extra.get(step, 0) + (2 * size if step == owner else size)
    return extra


def _block_note(result):
    """Said after a `count × bytes` rule where the CUDA allocator's rounding makes the figure larger."""
    return _(", each tensor in {block}-byte blocks").format(block=CUDA_BLOCK) if result.device == "cuda" else ""


def _persistent_rows(result, report, width):
    """The breakdown's first rows, in both modes: parameters and buffers."""
    blocks = _block_note(result)
    return [[N_("parameters"), result.param_bytes,
             _("{count} × {width} bytes").format(count=f"{report.totals.params:,}", width=width) + blocks],
            [N_("buffers"), result.buffer_bytes, _("batch-norm running statistics") + blocks]]


# ---- activation checkpointing (memory --checkpoint)

CHECKPOINTS = ("none", "blocks", "every:N", "selective")


def parse_checkpoint(text):
    """'none', 'blocks', 'selective' or 'every:N' (N >= 1) -> (kind, N)."""
    if isinstance(text, tuple):
        return text
    word = str(text).strip().lower()
    if word in ("none", "blocks", "selective"):
        return word, 0
    kind, colon, count = word.partition(":")
    if kind == "every" and colon and count.isdigit() and int(count) >= 1:
        return "every", int(count)
    raise SpecError(f"unknown checkpointing '{text}'",
                    hint="choose none, blocks, every:N (N a whole number >= 1, e.g. every:4) or selective")


def checkpoint_text(plan):
    kind, count = plan
    return f"every:{count}" if kind == "every" else kind


def checkpoint_plan(report, checkpoint):
    """The checkpointed segments, as (first, end) layer indices (end excluded), in execution order:
    blocks: each block use the spec names at its top level (`h.3`, `layer1.0`: nodes that share a
    record.block), or, in a spec without blocks, each run of layers that ends at a residual merge (a
    merge layer of two or more inputs); every:N: each run of N layers, from the first; selective: none
    (the layers' selective_recompute hooks decide)."""
    kind, count = parse_checkpoint(checkpoint)
    n = len(report.layers)
    if kind == "every":
        return [(start, min(start + count, n)) for start in range(0, n, count)]
    if kind != "blocks":
        return []
    segments, start = [], None
    for index, record in enumerate(report.layers):
        if start is not None and record.block != report.layers[start].block:
            segments.append((start, index))
            start = None
        if start is None and record.block:
            start = index
    if start is not None:
        segments.append((start, n))
    if segments:
        return segments
    from ..layers.base import Kind
    start = 0
    for index, record in enumerate(report.layers):
        if record.kind == Kind.MERGE and len(record.inputs) > 1:
            segments.append((start, index + 1))
            start = index + 1
    if not segments:
        raise SpecError(f"{report.model} names no blocks and has no residual merges, so it has no blocks to "
                        "checkpoint", hint="use --checkpoint every:N to keep the input of every N-th layer")
    return segments


def _checkpointed_step(result, report, checkpoint, needs_grad, width, block):
    """Re-plan the training step under activation checkpointing (torch.utils.checkpoint, non-reentrant,
    as PyTorch runs it: a checkpointed segment keeps only its inputs through the forward pass; when
    backward reaches it, its forward runs again up to the last layer that saves anything, rebuilding
    what its layers save, which each layer's backward then frees as usual). Selective: each layer's
    selective_recompute hook replaces what it keeps, and its FLOPs are recomputed in its backward."""
    batch = report.batch
    layers = report.layers
    n = len(layers)
    segments = checkpoint_plan(report, checkpoint)
    selective = checkpoint[0] == "selective"
    segment_of = {index: s for s, (first, end) in enumerate(segments) for index in range(first, end)}
    size, producer, input_key = {}, {}, None        # storage -> bytes, -> index of the layer that made it
    for index, record in enumerate(layers):
        ins, out = record.storages
        for ref, key in zip(record.inputs, ins):
            if ref == INPUT:
                input_key = key
                size[key] = result.input_bytes
                producer[key] = -1
        if out not in size:
            size[out] = block(numel(record.out_shape) * batch * width)
            producer[out] = index
    fresh = iter(range(-1, -10**9, -1))
    kept = []                                       # per layer: [(storage, bytes)]
    recompute = [0] * n
    dropped = [0] * n                               # selective: bytes its recomputation rebuilds
    for index, record in enumerate(layers):
        tensors = list(record.kept)
        alternative = record.layer.selective_recompute(record.in_shapes, record.out_shape, record.autograd) \
            if selective else None
        if alternative is not None:
            saved, flops = alternative
            ins, out = record.storages
            tensors = []
            for tensor in saved:
                key = out if tensor.output else ins[tensor.input] if tensor.input is not None else next(fresh)
                nbytes = block(tensor.elements * (tensor.element_bytes or width))
                tensors.append((key, max(nbytes, size.get(key, 0))))
                if key not in producer:
                    producer[key] = index
            recompute[index] = flops * batch
            # what it no longer keeps is rebuilt in its backward, beside the core's temporaries
            mine = {key for key, _ in tensors}
            dropped[index] = sum(nbytes for key, nbytes in record.kept if key not in mine)
        kept.append(tensors)
    # a side branch nothing reads (record.unread) has no backward: outside a segment what its layers save
    # is seen by the hooks and freed with its graph after the forward; inside one it asks for no recomputation
    seen_only = [tensors if record.unread and segment_of.get(index) is None else []
                 for index, (record, tensors) in enumerate(zip(layers, kept))]
    kept = [[] if record.unread else tensors for record, tensors in zip(layers, kept)]
    first_live = {s: next((index for index in range(first, end) if not layers[index].unread), first)
                  for s, (first, end) in enumerate(segments)}
    # the forward pass: what stays until backward, each storage counted at the first layer keeping it
    forward = [0] * n
    recomputed = [0] * n
    alive, input_saver = set(), None
    entries, unkept = {}, set()
    for s, (first, end) in enumerate(segments):
        external = []
        for index in range(first, end):
            for key in layers[index].storages[0]:
                if producer.get(key, -1) < first and key not in external:
                    external.append(key)
        entries[s] = external
        if not any(kept[index] for index in range(first, end)):
            # torch.utils.checkpoint hands a segment's inputs to the saved-tensor hooks whatever it
            # holds, but a segment none of whose layers saves anything is never recomputed, and its
            # frame, with those inputs, is freed at once: seen by the hooks, kept by nobody
            unkept.update(key for key in external if key != input_key)
            entries[s] = []
    for index in range(n):
        s = segment_of.get(index)
        tensors = kept[index] if s is None else \
            [(key, size[key]) for key in entries[s]] if index == first_live[s] else []
        for key, nbytes in tensors:
            if key not in alive:
                alive.add(key)
                forward[index] += nbytes
                if key == input_key:
                    input_saver = index
    released, released_at = {}, [0] * n          # storage -> bytes; per layer, the bytes it is first to keep
    for index, tensors in enumerate(seen_only):
        for key, nbytes in tensors:
            if key not in alive and key not in released:
                released[key] = nbytes
                released_at[index] += nbytes
    # the recomputation of each segment: new storages for everything its layers save but its inputs
    moments = {}
    # torch.utils.checkpoint (preserve_rng_state, the default) stashes the CPU generator's state when each
    # segment runs forward, torch.get_rng_state(), to replay its dropout masks: a 5,056-byte CPU tensor its
    # frame holds until the last saved tensor of the segment is released, after the backward of its first
    # layer that saves anything (measured with the CPU profiler: tiny_gpt's three blocks hold 3·5,056 bytes
    # at the start of backward). A segment that saves nothing frees its frame at once. On CUDA the stash
    # (that state and the device's, both CPU tensors) takes no device memory.
    stash_bytes = CPU_RNG_STATE_BYTES if result.device == "cpu" else 0
    stash_freed = {}                                # layer index -> stash bytes freed after its backward
    for s, (first, end) in enumerate(segments):
        saving = [index for index in range(first, end) if kept[index]]
        if not saving:
            continue
        stash_freed[saving[0]] = stash_freed.get(saving[0], 0) + stash_bytes
        last_saving = saving[-1]
        # autograd saves a layer's inputs before it computes and its own tensors after: a last layer
        # that keeps only inputs stops the recomputation before it runs (torch's early stop)
        ran = last_saving + (0 if all(key in layers[last_saving].storages[0] for key, _ in kept[last_saving]) else 1)
        seen = set(entries[s])
        created = {}                                # storage -> (index it appears at, bytes)
        for index in range(first, last_saving + 1):
            recompute[index] = layers[index].flops if index < ran else 0
            for key, nbytes in kept[index]:
                if key not in seen:
                    seen.add(key)
                    recomputed[index] += nbytes
                    created[key] = (max(producer.get(key, index), first), nbytes)
        # PyTorch frees nothing the recomputation makes until it stops (measured with the CPU profiler:
        # the recomputed forward's outputs and temporaries all stay alive till its last saved tensor is
        # rebuilt, and till the backward that asked for it returns); then only what the layers save survives
        outputs = {layers[j].storages[1] for j in range(first, ran)} - set(created) - set(entries[s])
        worst = (sum(recomputed[first:last_saving + 1]) + sum(size[key] for key in outputs)
                 + sum(block(layers[j].workspace * batch) for j in range(first, ran)))
        moments[last_saving] = worst
    for index in range(n):
        if dropped[index]:
            recomputed[index] = dropped[index]
            moments[index] = dropped[index] + block(layers[index].workspace * batch)
    # backward, as _training_step walks it, with each recomputation in the backward of the segment's
    # last layer that saves anything
    held = result.input_bytes + block(numel(layers[-1].out_shape) * batch * width)
    input_part = result.input_bytes if input_saver is not None else 0
    saved_now = sum(forward) - input_part
    stash = sum(stash_freed.values())
    result.saved_bytes = (sum(forward) + sum(size[key] for key in unkept - alive - set(released))
                          + sum(released.values()))
    result.released_bytes = sum(released.values())
    result.notes = _unread_notes(report, result.released_bytes)
    result.forward_end_bytes = saved_now + held + stash
    result.backward_peak_bytes, result.backward_peak_layer = 0, ""
    alive, ending = _activation_gradients(report, needs_grad, batch, width, block)
    persistent = result.param_bytes + result.buffer_bytes + result.optimizer_bytes + result.master_bytes
    grads_after = 0
    for index in reversed(range(n)):
        record, layer = layers[index], result.layers[index]
        if record.unread:
            layer.saved_bytes, layer.recomputed_bytes, layer.recompute_flops = released_at[index], \
                recomputed[index], recompute[index]
            layer.step_bytes = 0            # no backward runs for it
            continue
        worst = 0
        grads_after += layer.grad_bytes
        gradient = alive[index]
        if index in moments:
            # the recomputation runs inside this layer's backward (the first to unpack a saved tensor),
            # and what it made stays until that backward returns: the gradients it computes beside it
            worst = saved_now + stash + held + gradient + grads_after + moments[index]
            s = segment_of.get(index)
            saved_now += sum(recomputed[segments[s][0]:segments[s][1]]) if s is not None else recomputed[index]
        step = max(worst, saved_now + stash + held + gradient + grads_after
                   + _backward_temporaries(record, batch, block, width, ending[index]))
        layer.saved_bytes, layer.recomputed_bytes, layer.recompute_flops = forward[index], recomputed[index], \
            recompute[index]
        layer.step_bytes = persistent + step
        if step > result.backward_peak_bytes:
            result.backward_peak_bytes, result.backward_peak_layer = step, record.name
        saved_now -= forward[index] - (input_part if index == input_saver else 0) + recomputed[index]
        stash -= stash_freed.get(index, 0)
    result.peak_bytes = persistent + max(result.forward_end_bytes, result.backward_peak_bytes)
    result.checkpoint = checkpoint_text(checkpoint)
    result.segments = [[layers[first].name, layers[end - 1].name] for first, end in segments]
    result.recompute_flops = sum(recompute)
    what = (f"{len(segments)} checkpointed segments keep only their inputs" if segments else
            "attention's scores and weights are not kept")
    result.breakdown[-1] = [
        "at the worst moment", result.peak_bytes - persistent,
        (f"end of forward ({what})" if result.forward_end_bytes >= result.backward_peak_bytes else
         f"backward of '{result.backward_peak_layer}' ({what}; what is recomputed alive until its backward)")]


def compare_checkpoints(spec, *, every=(2, 4), **options):
    """Each checkpointing choice side by side for one training step: [{checkpoint, saved_bytes,
    peak_bytes, worst, recompute_flops}], none first; `blocks` only where the spec has blocks or
    residual merges, `every:N` for each N in `every`. `options` are memory()'s (mode is training)."""
    rows = []
    choices = ["none", "blocks", "selective"] + [f"every:{n}" for n in every]
    for choice in choices:
        try:
            result = memory(spec, mode="training", checkpoint=choice, **options)
        except SpecError:
            if choice == "blocks":
                continue
            raise
        rows.append({"checkpoint": choice, "saved_bytes": result.saved_bytes, "peak_bytes": result.peak_bytes,
                     "worst": result.backward_peak_layer if result.backward_peak_bytes > result.forward_end_bytes
                     else "end of forward", "recompute_flops": result.recompute_flops})
    return rows
