"""Cross-check the analyzer against the real PyTorch model that `to_torch` builds.

One training-mode forward (and, with `train`, one backward) of the real model is measured with
forward hooks (output shapes), `parameters()`/`buffers()`, torch's FlopCounterMode, and
`saved_tensors_hooks` (bytes kept for backward, deduplicated by storage, parameters and buffers
excluded). Every measured number sits next to archcalc's static prediction. Plain data out;
render.verification prints it. torch is imported only inside these functions.
"""
from contextlib import contextmanager
from dataclasses import dataclass, field

from ..i18n import N_, _

from ..analysis.analyzer import DTYPE_BYTES, analyze, configured
from ..errors import SpecError, require, require_choice
from ..layers.shapes import numel, to_layout
from ..spec.graph import as_graph

TORCH_DTYPES = {"fp32": "float32", "fp64": "float64", "fp16": "float16", "bf16": "bfloat16"}
DEFAULT_MAX_GIB = 8
# What FlopCounterMode counts (everything else it counts as 0): stated in the output.
COUNTED_OPS = "aten.convolution, convolution_backward, mm, addmm, bmm, baddbmm (bias excluded)"
OUTSIDE = "(outside any layer)"


@dataclass
class LayerCheck:
    """One spec layer: {quantity: (predicted, measured)}; measured None when not measured."""

    name: str
    type: str
    checks: dict = field(default_factory=dict)

    @property
    def ok(self):
        return all(measured is None or predicted == measured for predicted, measured in self.checks.values())


@dataclass
class Verification:
    model: str
    device: str
    batch: int
    dtype: str
    train: bool
    meta: bool
    layers: list = field(default_factory=list)
    totals: dict = field(default_factory=dict)      # quantity -> (predicted, measured)
    memory: dict = None                             # CUDA peak: predicted and measured bytes
    compared: list = field(default_factory=list)    # what was compared and how, in words
    not_measured: list = field(default_factory=list)

    @property
    def ok(self):
        return all(layer.ok for layer in self.layers) and all(
            measured is None or predicted == measured for predicted, measured in self.totals.values())

    def to_dict(self):
        def pair(values):
            predicted, measured = values
            return {"predicted": _plain(predicted), "measured": _plain(measured),
                    "agree": None if measured is None else predicted == measured}
        return {
            "model": self.model, "device": self.device, "batch": self.batch, "dtype": self.dtype,
            "train": self.train, "meta": self.meta, "ok": self.ok,
            "layers": [{"name": layer.name, "type": layer.type, "ok": layer.ok,
                        **{k: pair(v) for k, v in layer.checks.items()}} for layer in self.layers],
            "totals": {k: pair(v) for k, v in self.totals.items()},
            "memory": self.memory, "compared": self.compared, "not_measured": self.not_measured,
        }


def _plain(value):
    return list(value) if isinstance(value, tuple) else value


def predicted_peak(graph, report, train):
    """The peak verify's run should reach. With --train: `archcalc memory`'s training step on the
    report's device (SGD, so no optimizer state; parameters, buffers, gradients, the input and
    activations by liveness, each tensor as the device's allocator rounds it). A forward alone:
    parameters, buffers, the input, what is saved for backward and the largest layer output."""
    if train:
        from ..analysis.memory import memory
        return memory(graph, batch=report.batch, dtype=report.dtype, mode="training", optimizer="sgd",
                      device=report.device).peak_bytes
    t, width = report.totals, DTYPE_BYTES[report.dtype]
    largest = max((r.activation_bytes for r in report.layers), default=0)
    inputs = numel(report.input_shape) * report.batch * width
    return t.param_bytes + t.buffer_bytes + inputs + t.saved_bytes + largest


MAX_TENSOR_ELEMENTS = 2**62     # torch sizes are int64; a larger tensor overflows even on the meta device


def _refuse_huge_tensors(graph, report, batch):
    """A layer whose weights or output would pass MAX_TENSOR_ELEMENTS is refused before torch sees it."""
    nodes = {node.name: node for node in graph.nodes}
    for record in report.layers:
        elements = batch
        for size in record.output_shape:
            elements *= size
        if max(elements, record.params) > MAX_TENSOR_ELEMENTS:
            node = nodes.get(record.name)
            largest = max(elements, record.params)
            raise SpecError((_("this layer's weights would hold about 2^{bits} elements, more than a torch tensor "
                               "can (2^62), even on the meta device") if record.params > elements else
                             _("this layer's output would hold about 2^{bits} elements, more than a torch tensor "
                               "can (2^62), even on the meta device")).format(bits=largest.bit_length() - 1),
                            file=graph.file, line=getattr(node, "line", None), layer=record.name,
                            hint=_("check the sizes in the spec; verify builds every tensor"))


def verify(spec, *, device="cpu", batch=1, dtype="fp32", train=False, seed=0, meta=False,
           max_gib=DEFAULT_MAX_GIB, input_shape=None, progress=None, attention="naive"):
    """Build the spec in torch, run it, and compare every layer with the static analysis.

    attention="flash" builds attention layers on F.scaled_dot_product_attention and runs them with the
    fused backends only (those the caller's torch.nn.attention.sdpa_kernel leaves enabled), so torch
    cannot fall back to the math path unseen.

    progress, if given, is called with a short message as the run goes ("forward 12/175", "backward"),
    so a caller can show feedback on large models; verify itself never prints."""
    require_choice(dtype, TORCH_DTYPES, _("verify runs floating-point models; dtype '{dtype}' is not one").format(
        dtype=dtype))
    graph = configured(as_graph(spec, input_shape=input_shape), attention, device)
    report = analyze(graph, batch=batch, dtype=dtype, device=device)
    _refuse_huge_tensors(graph, report, batch)
    torch = require("torch", "torch", "verify")
    if device == "cuda" and not torch.cuda.is_available():
        raise SpecError(_("--device cuda, but torch sees no CUDA GPU here"), hint=_("use --device cpu"))
    peak = predicted_peak(graph, report, train)
    auto_meta = not meta and peak > max_gib * 2**30
    if attention == "flash" and (meta or auto_meta):
        raise SpecError(_("--attention flash needs a real device: on the meta device torch runs "
                          "scaled_dot_product_attention as the math path") + ("" if meta else " " + _(
                              "(predicted {bytes} bytes > --max-gib)").format(bytes=f"{peak:,}")),
                        hint=_("drop --meta, or raise --max-gib, or verify a shorter --input"))
    result = Verification(report.model, "meta" if meta or auto_meta else device, batch, dtype, train,
                          meta or auto_meta)
    if auto_meta:
        result.not_measured.append(
            _("predicted memory {bytes} bytes exceeds the {limit} GiB limit (--max-gib): built on the meta "
              "device, so saved bytes and peak memory were not measured").format(bytes=f"{peak:,}", limit=max_gib))
    elif meta:
        result.not_measured.append(N_("--meta: built on the meta device; saved bytes and peak memory not measured"))
    with _fused_attention(torch, attention):
        measured = _measure(graph, report, result, seed, torch, progress or (lambda message: None))
    _compare(graph, report, result, measured, peak)
    return result


def _measure(graph, report, result, seed, torch, progress):
    from torch.utils.flop_counter import FlopCounterMode
    from .torch_model import SpecModel
    torch.manual_seed(seed)
    device = torch.device(result.device)
    dtype = getattr(torch, TORCH_DTYPES[report.dtype])
    from .torch_model import example_input
    with device:
        model = SpecModel(graph).to(dtype)
        x = example_input(graph, result.batch, dtype)
    model.train()
    modules = {node.name: model.get_submodule(node.name) for node in graph.nodes}
    owned = {p.untyped_storage().data_ptr() for p in [*model.parameters(), *model.buffers()]}
    shapes, saved_by, kept, current = {}, {}, {}, [OUTSIDE]
    measure_saved = not result.meta
    counter = FlopCounterMode(display=False)
    backward_by, claimed, started = {}, set(), [0]

    def pack(tensor):
        storage = tensor.untyped_storage()
        key = storage.data_ptr()
        if measure_saved and storage.nbytes() and key not in owned and key not in kept:
            kept[key] = tensor       # held until backward, so no later tensor can reuse the address
            saved_by[current[0]] = saved_by.get(current[0], 0) + storage.nbytes()
        return tensor.detach()   # a saved tensor holding its graph would keep the model alive

    paths = _counted_paths(graph, result.device)
    open_paths = {}

    def entering(name):
        def hook(module, args):
            current[0] = name
            if name in paths:
                open_paths[name] = paths[name][1]()
                open_paths[name].__enter__()
        return hook

    def leaving(name):
        def hook(module, args, out):
            if name in open_paths:
                open_paths.pop(name).__exit__(None, None, None)
            shapes[name] = tuple(out.shape[1:])
            progress(f"forward {len(shapes)}/{len(modules)}")
            current[0] = OUTSIDE
            if result.train:
                claim(name, out.grad_fn)
        return hook

    def claim(name, root):
        """Credit a layer with the backward FLOPs of the autograd nodes its forward created (those no
        earlier layer reached): FlopCounterMode's own module tracker misplaces some where branches meet."""
        def before(grad_outputs):
            started[0] = counter.get_total_flops()

        def after(grad_inputs, grad_outputs):
            backward_by[name] = backward_by.get(name, 0) + counter.get_total_flops() - started[0]

        stack = [root]
        while stack:
            node = stack.pop()
            if node is None or node in claimed:
                continue
            claimed.add(node)
            node.register_prehook(before)
            node.register_hook(after)
            stack.extend(following for following, _ in node.next_functions)

    cuda = result.device == "cuda"
    with _torch_errors(graph):
        libraries = _library_workspace(model, x, result.train, torch) if cuda else 0
    handles = []
    for name, module in modules.items():
        handles.append(module.register_forward_pre_hook(entering(name)))
        handles.append(module.register_forward_hook(leaving(name)))
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    try:
        with _torch_errors(graph), counter, torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            out = model(x)
            forward = {k: sum(v.values()) for k, v in counter.get_flop_counts().items()}
            if result.train and out.requires_grad:   # a model with nothing to train has no backward
                progress("backward")
                out.float().sum().backward()
        counts = {k: sum(v.values()) for k, v in counter.get_flop_counts().items()}
    finally:
        for handle in handles:
            handle.remove()
        kept.clear()            # the storages held for the address check
    peak = torch.cuda.max_memory_allocated() - libraries if cuda else None
    root = type(model).__name__
    owned_by = _first_owners(modules)
    return {
        "shapes": shapes,
        "params": {n: sum(p.numel() for p in owned_by[n]) for n in modules},
        "trainable": {n: sum(p.numel() for p in owned_by[n] if p.requires_grad) for n in modules},
        "buffers": {n: sum(b.numel() for b in m.buffers()) for n, m in modules.items()},
        "flops": {n: forward.get(f"{root}.{n}", 0) for n in modules},
        "backward_flops": backward_by,
        "total_flops": forward.get("Global", 0),
        "total_backward_flops": counts.get("Global", 0) - forward.get("Global", 0),
        "saved": saved_by,
        "peak": peak,
        "libraries": libraries,
        "paths": sorted({what for what, _ in paths.values()}),
    }


def _first_owners(modules):
    """Each layer's parameters, a shared (tied) Parameter credited to the first layer that holds it, so
    the layers add up to model.parameters(), which yields it once."""
    seen, owned = set(), {}
    for name, module in modules.items():
        owned[name] = [p for p in module.parameters() if id(p) not in seen]
        seen.update(id(p) for p in owned[name])
    return owned


def _counted_paths(graph, device):
    """{layer name: (what, context factory)} for the layers whose torch module must run another path on
    `device` for FlopCounterMode to count it (a layer class's optional `torch_counted_path` hook: torch's
    fused kernels, such as oneDNN's CPU lstm and cuDNN's recurrent layers, have no flop formula)."""
    paths = {}
    for node in graph.nodes:
        hook = getattr(node.layer, "torch_counted_path", None)
        found = hook(device) if hook is not None else None
        if found is not None:
            paths[node.name] = found
    return paths


@contextmanager
def counted_paths(graph, device="cpu"):
    """Every layer's counted path at once, for running a whole model under FlopCounterMode outside verify."""
    from contextlib import ExitStack
    with ExitStack() as stack:
        for factory in {what: factory for what, factory in _counted_paths(graph, device).values()}.values():
            stack.enter_context(factory())
        yield


@contextmanager
def _fused_attention(torch, attention):
    """Under attention="flash": only the fused SDPA backends still enabled (flash, memory-efficient, cuDNN)."""
    if attention != "flash":
        yield
        return
    from torch.nn.attention import SDPBackend, sdpa_kernel
    enabled = {SDPBackend.FLASH_ATTENTION: torch.backends.cuda.flash_sdp_enabled(),
               SDPBackend.EFFICIENT_ATTENTION: torch.backends.cuda.mem_efficient_sdp_enabled(),
               SDPBackend.CUDNN_ATTENTION: torch.backends.cuda.cudnn_sdp_enabled()}
    fused = [backend for backend, on in enabled.items() if on]
    if not fused:
        raise SpecError(_("--attention flash, but every fused scaled-dot-product backend is disabled here"),
                        hint=_("enable one (torch.nn.attention.sdpa_kernel), or use --attention naive"))
    import warnings
    with sdpa_kernel(fused), warnings.catch_warnings():
        # torch explains on stderr why each fused kernel refused a case; the refusal itself is reported once
        warnings.filterwarnings("ignore", message=".*(kernel not used|do not support|not supported).*")
        yield


@contextmanager
def _torch_errors(graph):
    """torch's RuntimeError or ValueError on running the spec, as one SpecError with a hint."""
    try:
        yield
    except (RuntimeError, ValueError) as err:
        hint = (_("batchnorm in training mode needs more than one value per channel: try --batch 2")
                if "more than 1 value" in str(err) else _("--attention flash: no fused attention kernel takes this "
                "case on this device (on CPU, none with dropout in training): use --attention naive")
                if "No available kernel" in str(err) else _("torch lacks this op for this dtype or device: "
                "try --dtype fp32") if "not implemented" in str(err) else None)
        raise SpecError(_("torch could not run '{model}': {error}").format(model=graph.name,
                                                                           error=str(err).splitlines()[0]),
                        hint=hint) from None


def _library_workspace(model, x, train, torch):
    """Bytes that CUDA libraries keep allocated once they have run (cuBLAS's workspace, one per handle,
    taken from PyTorch's allocator on the first matrix product): an untimed step first, then whatever
    stays allocated beyond what was there before it. The measured step's peak is reported without it,
    since no model needs it and its size depends on the library version and the GPU."""
    torch.cuda.synchronize()
    before = torch.cuda.memory_allocated()
    out = model(x)
    if train and out.requires_grad:
        out.float().sum().backward()
    del out
    model.zero_grad(set_to_none=True)
    torch.cuda.synchronize()
    return torch.cuda.memory_allocated() - before


def _hooked_bytes(record):
    """The layer's saved bytes that saved_tensors_hooks can see: less the wrapped Python numbers autograd
    saves without calling them (Saved.hooked False)."""
    if record.saved_bytes is None or record.autograd is None:
        return record.saved_bytes
    hidden = [tensor for tensor in record.layer.saved_tensors(record.in_shapes, record.out_shape, record.autograd)
              if not tensor.hooked]
    return record.saved_bytes - sum(tensor.elements * tensor.element_bytes for tensor in hidden)


def _compare(graph, report, result, measured, peak):
    saved = measured["saved"] if not result.meta else None
    for node, record in zip(graph.nodes, report.layers):
        name = node.name
        shape = measured["shapes"].get(name)
        checks = {
            "shape": (record.output_shape, to_layout(shape, graph.layout) if shape is not None else None),
            "params": (record.params, measured["params"][name]),
            "trainable": (record.trainable_params, measured["trainable"][name]),
            "buffers": (record.buffers, measured["buffers"][name]),
            "flops": (record.torch_flops, measured["flops"][name]),
        }
        if result.train:
            checks["backward_flops"] = (record.torch_backward_flops, measured["backward_flops"].get(name, 0))
        checks["saved_bytes"] = (_hooked_bytes(record), None if saved is None else saved.get(name, 0))
        result.layers.append(LayerCheck(name, record.type, checks))
    t = report.totals
    result.totals = {
        "params": (t.params, sum(measured["params"].values())),
        "trainable": (t.trainable_params, sum(measured["trainable"].values())),
        "buffers": (t.buffers, sum(measured["buffers"].values())),
        "flops": (t.torch_flops, measured["total_flops"]),
    }
    if result.train:
        result.totals["backward_flops"] = (t.torch_backward_flops, measured["total_backward_flops"])
    hooked = None if t.saved_bytes is None else sum(_hooked_bytes(record) for record in report.layers)
    result.totals["saved_bytes"] = (hooked, None if saved is None else sum(saved.values()))
    if measured["peak"] is not None:
        result.memory = {"predicted_peak": peak, "measured_peak": measured["peak"],
                         "library_bytes": measured["libraries"],
                         "what": (_("torch.cuda.max_memory_allocated over the forward and backward, against "
                                    "`archcalc memory --mode training --device cuda`, less what CUDA libraries keep "
                                    "after an untimed warm-up step") if result.train else
                                  _("torch.cuda.max_memory_allocated over the forward, less what CUDA libraries keep "
                                    "after an untimed warm-up step"))}

    elif not result.meta:
        result.not_measured.append(N_("peak memory: measured on CUDA only (--device cuda)"))
    result.compared = [
        "output shape per layer: forward hooks",
        "params, trainable params, buffers: numel of parameters() / requires_grad / buffers()",
        f"FLOPs: torch.utils.flop_counter.FlopCounterMode, which counts only {COUNTED_OPS}; "
        "archcalc predicts 2·MACs of convolutions, dense and recurrent layers" + (
            "; backward FLOPs per layer: the counter's total while the autograd nodes that layer's forward "
            "created run" if result.train else ""),
    ] + [f"ran on another path so that FlopCounterMode counts it: {what}" for what in measured["paths"]] + (
        [] if result.meta else [
        "saved bytes: torch.autograd.graph.saved_tensors_hooks in one training-mode forward, "
        "deduplicated by storage, parameter and buffer storages excluded"])
    if OUTSIDE in (saved or {}):
        result.layers.append(LayerCheck(OUTSIDE, "-", {"saved_bytes": (0, saved[OUTSIDE])}))
