"""Time on a named accelerator, as a roofline lower bound: for each layer, the FLOPs it must do and the
bytes it must move, against the datasheet's dense peak FLOP/s and memory bandwidth.

Per layer (eager, layer-by-layer execution, as PyTorch runs a model without fusion):
  bytes moved = (elements of every input read + elements of the output written + parameters read)
                × bytes per element of the dtype; a view (flatten) moves nothing
  arithmetic intensity = FLOPs / bytes moved
  time ≥ max(FLOPs / peak FLOP/s, bytes moved / bandwidth); compute-bound when the first is larger
Training (train=True) counts a backward pass at twice the forward FLOPs and twice the bytes, per layer
(the convention of 6·N·D = 2·N·D forward + 4·N·D backward); the optimizer step is not counted.

These are lower bounds, never predictions: real kernels reach a fraction of peak FLOP/s and bandwidth,
and every kernel launch adds microseconds. The step's bound sums the layers' bounds; a fused kernel
(torch.compile, cuDNN's conv+bias+relu) skips writing intermediates, so `floor_seconds` also gives a
bound that no execution can beat: all FLOPs at peak, or the weights, the input and the output moved
once, whichever is longer. All layers are timed against the dtype's tensor-core peak, which element-wise
layers cannot use; they are memory-bound at that peak anyway, and a higher peak only lowers a bound.

Plain data; report.hardware.roofline_report prints it and report.plots.plot_roofline draws it.
"""
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

from .analyzer import Report, analyze
from ..errors import SpecError, read_text, require_choice
from ..i18n import _
from ..layers.shapes import numel
from ..spec.graph import INPUT, as_graph

DTYPE_WIDTH = {"fp32": 4, "tf32": 4, "fp16": 2, "bf16": 2, "fp8": 1, "int8": 1}
BACKWARD_FACTOR = 2          # backward FLOPs and bytes per forward FLOP and byte
DATA_FILE = Path(__file__).resolve().parent.parent / "data" / "accelerators.yaml"
REQUIRED = ("name", "bandwidth_gb_s", "dense_tflops", "source")


@dataclass(frozen=True)
class Accelerator:
    """One GPU's datasheet figures: peaks in FLOP/s per dtype (exact rationals), bandwidth in bytes/s."""

    key: str
    name: str
    memory_gb: object
    bandwidth: Fraction
    peaks: dict
    sparse_printed: dict
    source: str
    file: str = None

    def to_dict(self):
        return {"key": self.key, "name": self.name, "memory_gb": self.memory_gb,
                "bandwidth_bytes_per_s": float(self.bandwidth),
                "dense_peak_flops": {k: float(v) for k, v in self.peaks.items()},
                "sparse_printed_flops": {k: float(v) for k, v in self.sparse_printed.items()},
                "source": self.source}


def _number(value, where, what):
    """A datasheet figure as an exact rational: 494.5 -> 989/2 (bool and text refused)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise SpecError(_("{what} must be a positive number, got {value}").format(what=what, value=repr(value)),
                        **where, hint=_("write the datasheet figure as a number, e.g. {example}").format(example="989.5"))
    return Fraction(str(value))


def read_accelerators(path):
    """{key: Accelerator} from a YAML file shaped like archcalc/data/accelerators.yaml."""
    from ..spec.yamlio import load_yaml
    text = read_text(path, "GPU file")
    data = load_yaml(text, file=str(path))
    if not isinstance(data, dict) or not data:
        raise SpecError(_("a GPU file maps names to GPUs"), file=str(path),
                        hint=_("e.g.  {example}").format(
                            example="my-gpu: {name: ..., bandwidth_gb_s: 900, dense_tflops: {bf16: 120}, source: ...}"))
    found = {}
    for key, entry in data.items():
        line = data.line_of(key) if hasattr(data, "line_of") else None
        where = {"file": str(path), "line": line, "layer": None}
        if not isinstance(entry, dict):
            raise SpecError(_("GPU '{key}' must be a mapping of its figures").format(key=key), file=str(path), line=line)
        missing = [name for name in REQUIRED if name not in entry]
        if missing:
            raise SpecError(_("GPU '{key}' lacks {missing}").format(key=key, missing=', '.join(missing)),
                            file=str(path), line=line,
                            hint=_("each GPU needs {required}").format(required=', '.join(REQUIRED)))
        peaks_in = entry["dense_tflops"]
        if not isinstance(peaks_in, dict) or not peaks_in:
            raise SpecError(_("GPU '{key}': dense_tflops maps dtypes to TFLOP/s").format(key=key), file=str(path),
                            line=line, hint=_("e.g. {example}").format(example="dense_tflops: {fp32: 19.5, bf16: 312}"))
        unknown = [d for d in peaks_in if d not in DTYPE_WIDTH and d != "fp64"]
        if unknown:
            raise SpecError(_("GPU '{key}': unknown dtype {dtype} in dense_tflops").format(key=key, dtype=repr(unknown[0])),
                            file=str(path), line=line,
                            hint=_("use {dtypes} (and fp64)").format(dtypes=', '.join(DTYPE_WIDTH)))
        peaks = {d: _number(v, where, f"GPU '{key}' dense_tflops.{d}") * 10**12 for d, v in peaks_in.items()}
        sparse = {d: _number(v, where, f"GPU '{key}' sparse_tflops_printed.{d}") * 10**12
                  for d, v in (entry.get("sparse_tflops_printed") or {}).items()}
        found[str(key).lower()] = Accelerator(
            str(key).lower(), str(entry["name"]), entry.get("memory_gb"),
            _number(entry["bandwidth_gb_s"], where, f"GPU '{key}' bandwidth_gb_s") * 10**9, peaks, sparse,
            str(entry["source"]), str(path))
    return found


def accelerators(gpu_file=None):
    """The built-in accelerators, then those of `gpu_file` (which may add GPUs or replace built-in ones)."""
    found = read_accelerators(DATA_FILE)
    if gpu_file is not None:
        found.update(read_accelerators(gpu_file))
    return found


def accelerator(gpu, gpu_file=None):
    """One Accelerator by name (case-insensitive); an unknown name raises SpecError listing the known ones."""
    known = accelerators(gpu_file)
    key = str(gpu).lower()
    if key not in known:
        raise SpecError(_("unknown GPU '{gpu}'").format(gpu=gpu),
                        hint=_("choose one of {names}, or describe yours in a file and pass --gpu-file").format(
                            names=', '.join(known)))
    return known[key]


@dataclass
class LayerTime:
    name: str
    type: str
    kind: str
    flops: int                   # forward, or forward + backward when training
    bytes: int
    intensity: float             # FLOPs per byte; None when the layer moves nothing
    bound: str                   # "compute", "memory", or "-" for a view
    seconds: float               # the lower bound


@dataclass
class RooflineReport:
    model: str
    gpu: Accelerator
    dtype: str
    batch: int
    train: bool
    peak: float                  # FLOP/s
    bandwidth: float             # bytes/s
    ridge: float                 # FLOPs per byte where the two roofs meet
    layers: list = field(default_factory=list)
    flops: int = 0
    bytes: int = 0
    seconds: float = 0.0         # sum of the layers' lower bounds
    compute_seconds: float = 0.0  # all FLOPs at peak
    floor_seconds: float = 0.0   # max(all FLOPs at peak, weights + input + output moved once)
    compute_bound: int = 0
    notes: list = field(default_factory=list)

    def to_dict(self):
        return {"model": self.model, "gpu": self.gpu.to_dict(), "dtype": self.dtype, "batch": self.batch,
                "train": self.train, "peak_flops": self.peak, "bandwidth_bytes_per_s": self.bandwidth,
                "ridge_flops_per_byte": self.ridge, "lower_bound": True,
                "layers": [vars(layer) for layer in self.layers],
                "totals": {"flops": self.flops, "bytes": self.bytes, "seconds": self.seconds,
                           "compute_seconds": self.compute_seconds, "floor_seconds": self.floor_seconds,
                           "compute_bound_layers": self.compute_bound},
                "notes": self.notes}


def roofline(spec, gpu="h100-sxm", *, batch=1, dtype="bf16", train=False, gpu_file=None, input_shape=None,
             convention="archcalc"):
    """A RooflineReport of lower-bound times for `spec` (a path, zoo name, dict, Graph, or an analyzer
    Report, whose batch is then used) on `gpu` (a key of accelerators(), e.g. "h100-sxm") at `dtype`
    (fp32, tf32, fp16, bf16, fp8, int8). Bad input raises SpecError."""
    require_choice(dtype, DTYPE_WIDTH, _("unknown dtype '{dtype}' for a roofline").format(dtype=dtype))
    device = accelerator(gpu, gpu_file)
    if dtype not in device.peaks:
        raise SpecError(_("{gpu} has no {dtype} figure in its datasheet").format(gpu=device.name, dtype=dtype),
                        hint=_("choose one of {names}").format(names=', '.join(d for d in device.peaks
                                                                              if d in DTYPE_WIDTH)))
    if isinstance(spec, Report):
        report = spec
    else:
        if not isinstance(batch, int) or isinstance(batch, bool) or batch < 1:
            raise SpecError(_("batch must be a whole number >= 1, got {batch}").format(batch=repr(batch)))

        report = analyze(as_graph(spec, input_shape=input_shape), batch=batch, convention=convention)
    width, peak, bandwidth = DTYPE_WIDTH[dtype], device.peaks[dtype], device.bandwidth
    passes = 1 + BACKWARD_FACTOR if train else 1
    result = RooflineReport(report.model, device, dtype, report.batch, train, float(peak), float(bandwidth),
                            float(peak / bandwidth))
    elements = {INPUT: numel(report.input_shape) * report.batch}
    total_time = Fraction(0)
    for record in report.layers:
        elements[record.name] = numel(record.output_shape) * report.batch
        if record.activation_elements == 0 and record.flops == 0:        # a view: no data moves
            result.layers.append(LayerTime(record.name, record.type, record.kind, 0, 0, None, "-", 0.0))
            continue
        moved = (sum(elements[ref] for ref in record.inputs) + record.activation_elements + record.params) * width
        flops, moved = record.flops * passes, moved * passes
        compute, memory = Fraction(flops) / peak, Fraction(moved) / bandwidth
        bound = "compute" if compute >= memory else "memory"
        result.compute_bound += bound == "compute"
        time = max(compute, memory)
        total_time += time
        result.layers.append(LayerTime(record.name, record.type, record.kind, flops, moved,
                                       flops / moved if moved else None, bound, float(time)))
        result.flops += flops
        result.bytes += moved
    result.seconds = float(total_time)
    result.compute_seconds = float(Fraction(result.flops) / peak)
    output = report.layers[-1].name if report.layers else INPUT
    unavoidable = (report.totals.params + elements[INPUT] + elements[output]) * width
    result.floor_seconds = float(max(Fraction(result.flops) / peak, Fraction(unavoidable) / bandwidth))
    result.notes = _notes(result, device, dtype)
    return result


def _notes(result, device, dtype):
    notes = []
    if result.train:
        notes.append(_("training: backward counted as {factor}× the forward FLOPs and bytes of each layer; "
                       "the optimizer step and gradient communication are not counted").format(factor=BACKWARD_FACTOR))
    notes.append(_("each layer reads its inputs and parameters and writes its output once (no cache reuse across "
                   "layers, no fusion); a fused execution can move fewer bytes, but never beats the floor"))
    if dtype == "fp32" and "tf32" in device.peaks:
        notes.append(_("fp32 is bounded by the CUDA-core peak; PyTorch runs convolutions in TF32 on this GPU by "
                       "default (torch.backends.cudnn.allow_tf32), which --dtype tf32 bounds"))
    if dtype in device.sparse_printed:
        notes.append(_("the datasheet's {dtype} figure with sparsity, {tflops} TFLOP/s, is not a peak for dense "
                       "layers and is not used").format(dtype=dtype,
                                                        tflops=f"{float(device.sparse_printed[dtype]) / 1e12:g}"))

    return notes
