"""Text for the hardware what-ifs: model states per device under sharding (analysis.sharding) and
lower-bound times on a named accelerator (analysis.roofline). Numbers are computed there."""
from .tables import _csv, _tabulate, heading, to_json
from ..units import bytes_text, grouped, human_bytes, short

GIB = 2**30


def sharding_report(result, fmt="table", offload_rows=None):
    """One strategy's components per device, the total, DeepSpeed's host estimate and the notes;
    `offload_rows` (analysis.sharding.offload_table) adds DeepSpeed's table of offload options."""
    if fmt == "json":
        data = result.to_dict()
        if offload_rows is not None:
            data["deepspeed_table"] = [{"offload": o, "zero_init": z, "host_bytes": h, "device_bytes": d}
                                       for o, z, h, d in offload_rows]
        return to_json(data)
    headers = ["Component", "Bytes/param", "Params", "Sharded", "Where", "Per device"]
    if fmt == "csv":
        return _csv([[c.name, c.per_param, c.params, c.sharded, c.where, c.bytes, c.counted]
                     for c in result.components],
                    ["component", "bytes_per_param", "params", "sharded", "where", "bytes", "counted"])
    rows = [[c.name + ("" if c.counted else " *"), c.per_param, grouped(c.params),
             f"/ {result.devices}" if c.sharded else "whole", c.where, bytes_text(c.bytes)]
            for c in result.components]
    precision = "mixed precision" if result.mixed_precision else "fp32"
    title = (f"{result.model}: model states per device, {result.strategy} over {result.devices} device"
             f"{'s' if result.devices > 1 else ''} ({result.nodes} node{'s' if result.nodes > 1 else ''}), "
             f"{result.optimizer}, {precision}, offload {result.offload} ({result.convention}'s count)")
    lines = [heading(title, fmt), "",
             _tabulate(rows, headers, fmt, ["left", "right", "right", "left", "left", "right"]), ""]
    if any(not c.counted for c in result.components):
        lines += ["* held on the device but left out of the total, as DeepSpeed's estimator counts (see the notes)", ""]
    lines.append(f"Per device (GPU): {bytes_text(result.device_bytes)}")
    if result.host_bytes is not None:
        lines.append(f"Host per node (DeepSpeed's estimate): {bytes_text(result.host_bytes)}  [{result.host_rule}]")
    lines.append(f"All of it on one device, unsharded: {bytes_text(result.replicated_bytes)}")
    lines.append(f"Largest layer: '{result.largest_layer}', {grouped(result.largest_layer_params)} parameters")
    lines += _activation_lines(result)
    if offload_rows:
        lines += ["", "DeepSpeed's estimator table (estimate_"
                  f"{result.strategy}_model_states_mem_needs_all_cold), GiB as it prints them:", ""]
        table = []
        for offload, zero_init, host, device in offload_rows:
            options = f"offload {offload}" + ("" if zero_init is None else f", zero_init={int(zero_init)}")
            table.append([f"{host / GIB:.2f}GB", f"{device / GIB:.2f}GB", options, grouped(host), grouped(device)])
        lines.append(_tabulate(table, ["per CPU", "per GPU", "Options", "host bytes", "device bytes"], fmt,
                               ["right", "right", "left", "right", "right"]))
    lines += ["", "Notes:"] + [f"- {note}" for note in result.notes]
    return "\n".join(lines)


def _activation_lines(result):
    if result.activation_bytes is None:
        return []
    lines = [f"Activations of a per-device batch of {result.batch} at the end of forward (saved for backward, "
             f"input, output): {bytes_text(result.activation_bytes)}",
             f"Model states + those activations: {bytes_text(result.total_bytes)}  (a lower bound of the "
             "device's peak: backward adds activation gradients)"]
    if result.budget is not None:
        lines.append(f"Budget {human_bytes(result.budget)}: {'fits' if result.fits else 'does NOT fit'}")
    return lines


def strategies_table(results, fmt="table"):
    """Every strategy side by side for one model and device count."""
    if fmt == "json":
        return to_json([r.to_dict() for r in results])
    if fmt == "csv":
        return _csv([[r.strategy, r.devices, r.device_bytes, r.replicated_bytes, r.total_bytes] for r in results],
                    ["strategy", "devices", "device_bytes", "unsharded_bytes", "with_activations_bytes"])
    from ..analysis.sharding import STRATEGIES
    first = results[0]
    with_batch = first.activation_bytes is not None
    rows = [[r.strategy, bytes_text(r.device_bytes), f"{r.device_bytes / max(first.device_bytes, 1):.1%}"]
            + ([bytes_text(r.total_bytes)] + (["yes" if r.fits else "NO"] if r.budget is not None else [])
               if with_batch else []) + [STRATEGIES[r.strategy]] for r in results]
    extra = ((["With activations"] + (["Fits"] if first.budget is not None else [])) if with_batch else [])
    precision = "mixed precision" if first.mixed_precision else "fp32"
    title = (f"{first.model}: model states per device over {first.devices} devices, {first.optimizer}, "
             f"{precision} ({first.convention}'s count)")
    lines = [heading(title, fmt), "",
             _tabulate(rows, ["Strategy", "Per device", "of ddp"] + extra + ["What is sharded"], fmt,
                       ["left", "right", "right"] + ["right"] * len(extra) + ["left"]), "",
             f"{grouped(first.params)} parameters ({grouped(first.trainable_params)} trained); largest layer "
             f"'{first.largest_layer}' with {grouped(first.largest_layer_params)}.",
             ("Model states only (weights, gradients, optimizer state): activations come on top."
              if not with_batch else
              f"With activations: model states + what a device holds at the end of the forward pass of a "
              f"per-device batch of {first.batch} (a lower bound of its peak)"
              + (f"; budget {human_bytes(first.budget)}" if first.budget is not None else "") + "."),
             "One strategy in detail: add --strategy NAME."]
    return "\n".join(lines)


def seconds_text(t):
    """A time in the unit that reads best: 1.23 ms, 45.6 µs, 2.1 s."""
    t = float(t)
    for size, unit in ((1, "s"), (1e-3, "ms"), (1e-6, "µs")):
        if t >= size:
            return f"{t / size:.3g} {unit}"
    return f"{t * 1e9:.3g} ns" if t else "0"


def _rate(value):
    return f"{value:,.0f}" if value >= 100 else f"{value:.3g}"


def roofline_report(result, fmt="table"):
    """Per layer: FLOPs, bytes, intensity, bound and the lower-bound time; then the step's bounds."""
    if fmt == "json":
        return to_json(result.to_dict())
    if fmt == "csv":
        return _csv([[r.name, r.type, r.flops, r.bytes, r.intensity, r.bound, r.seconds] for r in result.layers],
                    ["name", "type", "flops", "bytes", "intensity", "bound", "seconds"])
    rows = [[r.name, r.type, short(r.flops), human_bytes(r.bytes),
             "-" if r.intensity is None else f"{r.intensity:.3g}", r.bound, seconds_text(r.seconds)]
            for r in result.layers]
    gpu = result.gpu
    phase = "training step (forward + backward)" if result.train else "forward pass"
    title = f"{result.model} on {gpu.name}: {phase}, batch {result.batch}, {result.dtype} — lower bounds"
    lines = [heading(title, fmt), "",
             _tabulate(rows, ["Layer", "Type", "FLOPs", "Bytes moved", "FLOP/byte", "Bound", "Time ≥"], fmt,
                       ["left", "left", "right", "right", "right", "left", "right"]), ""]
    lines += [
        f"Peak {result.dtype}: {result.peak / 1e12:g} TFLOP/s dense; memory bandwidth {result.bandwidth / 1e9:g} GB/s; "
        f"ridge point {result.ridge:.3g} FLOP/byte",
        f"Total FLOPs: {grouped(result.flops)} ({short(result.flops)}); bytes moved layer by layer: "
        f"{bytes_text(result.bytes)}",
        f"Lower bound per step, layer by layer: {seconds_text(result.seconds)} "
        f"({_rate(result.batch / result.seconds)} samples/s at most)" if result.seconds else
        "Lower bound per step: 0 (nothing to compute)",
        f"Floor whatever the fusion (all FLOPs at peak, or weights + input + output moved once): "
        f"{seconds_text(result.floor_seconds)}; all FLOPs at peak alone: {seconds_text(result.compute_seconds)}",
        f"Compute-bound layers: {result.compute_bound} of {len(result.layers)}",
        "",
        "These are LOWER BOUNDS from datasheet peaks, not predictions: no GPU measurement has been made. "
        "Real kernels reach a fraction of peak FLOP/s and bandwidth, and launch overheads add to each layer.",
        f"Source of the figures: {gpu.source}",
    ]
    lines += [f"- {note}" for note in result.notes]
    return "\n".join(lines)


def accelerators_table(known, fmt="table"):
    """The accelerators roofline knows: dense peaks per dtype, bandwidth, memory and source."""
    if fmt == "json":
        return to_json([gpu.to_dict() for gpu in known.values()])
    dtypes = ["fp32", "tf32", "fp16", "bf16", "fp8", "int8"]
    headers = (["GPU", "Name"] + [f"{d} {'TOPS' if d == 'int8' else 'TFLOP/s'}" for d in dtypes]
               + ["GB/s", "Memory GB", "Source"])
    rows = [[gpu.key, gpu.name] + [f"{float(gpu.peaks[d]) / 1e12:g}" if d in gpu.peaks else "-" for d in dtypes]
            + [f"{float(gpu.bandwidth) / 1e9:g}", gpu.memory_gb if gpu.memory_gb is not None else "-",
               gpu.source.split(";")[0].split(" (")[0]] for gpu in known.values()]
    if fmt == "csv":
        return _csv(rows, headers)
    return "\n".join([heading("Accelerators: dense peaks (sparse figures are not peaks and are not used)", fmt), "",
                      _tabulate(rows, headers, fmt)])


def kv_cache_text(cache, budget=None, longest=None):
    """The KV cache's rule and its bytes per token, per sequence and in all."""
    lines = [f"KV cache, {cache.dtype}: {cache.rule}",
             f"  per token:    {bytes_text(cache.per_token)}",
             f"  per sequence: {bytes_text(cache.per_sequence)}  ({grouped(cache.tokens)} tokens)",
             f"  in all:       {bytes_text(cache.total)}  (batch {cache.batch})"]
    if cache.mha_total is not None and cache.heads != cache.kv_heads:
        lines.append(f"  with {cache.heads} key/value heads (no grouping) it would be {bytes_text(cache.mha_total)}")
    if budget is not None:
        lines.append(f"Budget {human_bytes(budget)}: {grouped(cache.total)} bytes "
                     f"{'fit' if cache.total <= budget else 'do NOT fit'}; longest context that fits at batch "
                     f"{cache.batch}: {grouped(longest)} tokens")
    return "\n".join(lines)
