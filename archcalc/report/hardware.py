"""Text for the hardware what-ifs: model states per device under sharding (analysis.sharding) and
lower-bound times on a named accelerator (analysis.roofline). Numbers are computed there."""
from ..i18n import N_, _, ngettext
from .tables import _csv, _tabulate, heading, to_json
from ..units import bytes_text, grouped, human_bytes, short

GIB = 2**30
WHERE = {"device": N_("device"), "host": N_("host")}      # where a sharded component lives, as shown


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
    if fmt != "csv":
        headers = [_("Component"), _("Bytes/param"), _("Params"), _("Sharded"), _("Where"), _("Per device")]
    if fmt == "csv":
        return _csv([[c.name, c.per_param, c.params, c.sharded, c.where, c.bytes, c.counted]
                     for c in result.components],
                    ["component", "bytes_per_param", "params", "sharded", "where", "bytes", "counted"])
    from ..analysis.sharding import component_text
    rows = [[component_text(c.name) + ("" if c.counted else " *"), c.per_param, grouped(c.params),
             f"/ {result.devices}" if c.sharded else _("whole"), _(WHERE.get(c.where, c.where)), bytes_text(c.bytes)]
            for c in result.components]
    precision = _("mixed precision") if result.mixed_precision else "fp32"
    title = _("{model}: model states per device, {strategy} over {devices} ({nodes}), {optimizer}, {precision}, "
              "offload {offload} ({convention}'s count)").format(
        model=result.model, strategy=result.strategy,
        devices=(ngettext("{n} device", "{n} devices", result.devices) if result.devices > 1 else
                 _("{n} device")).format(n=result.devices),
        nodes=(ngettext("{n} node", "{n} nodes", result.nodes) if result.nodes > 1 else _("{n} node")).format(
            n=result.nodes),
        optimizer=result.optimizer, precision=precision, offload=result.offload, convention=result.convention)
    lines = [heading(title, fmt), "",
             _tabulate(rows, headers, fmt, ["left", "right", "right", "left", "left", "right"]), ""]
    if any(not c.counted for c in result.components):
        lines += [_("* held on the device but left out of the total, as DeepSpeed's estimator counts (see the "
                    "notes)"), ""]
    lines.append(_("Per device (GPU): {bytes}").format(bytes=bytes_text(result.device_bytes)))
    if result.host_bytes is not None:
        lines.append(_("Host per node (DeepSpeed's estimate): {bytes}  [{rule}]").format(
            bytes=bytes_text(result.host_bytes), rule=result.host_rule))
    lines.append(_("All of it on one device, unsharded: {bytes}").format(bytes=bytes_text(result.replicated_bytes)))
    lines.append(_("Largest layer: '{layer}', {params} parameters").format(
        layer=result.largest_layer, params=grouped(result.largest_layer_params)))
    lines += _activation_lines(result)
    if offload_rows:
        lines += ["", _("DeepSpeed's estimator table ({function}), GiB as it prints them:").format(
            function=f"estimate_{result.strategy}_model_states_mem_needs_all_cold"), ""]
        table = []
        for offload, zero_init, host, device in offload_rows:
            options = _("offload {offload}").format(offload=offload) + ("" if zero_init is None else
                                                                         f", zero_init={int(zero_init)}")
            table.append([f"{host / GIB:.2f}GB", f"{device / GIB:.2f}GB", options, grouped(host), grouped(device)])
        lines.append(_tabulate(table, [_("per CPU"), _("per GPU"), _("Options"), _("host bytes"), _("device bytes")],
                               fmt, ["right", "right", "left", "right", "right"]))
    lines += ["", _("Notes:")] + [f"- {note}" for note in result.notes]
    return "\n".join(lines)


def _activation_lines(result):
    if result.activation_bytes is None:
        return []
    lines = [_("Activations of a per-device batch of {batch} at the end of forward (saved for backward, "
               "input, output): {bytes}").format(batch=result.batch, bytes=bytes_text(result.activation_bytes)),
             _("Model states + those activations: {bytes}  (a lower bound of the "
               "device's peak: backward adds activation gradients)").format(bytes=bytes_text(result.total_bytes))]
    if result.budget is not None:
        lines.append((_("Budget {budget}: fits") if result.fits else _("Budget {budget}: does NOT fit")).format(
            budget=human_bytes(result.budget)))
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
            + ([bytes_text(r.total_bytes)] + ([_("yes") if r.fits else _("NO")] if r.budget is not None else [])
               if with_batch else []) + [_(STRATEGIES[r.strategy])] for r in results]
    extra = (([_("With activations")] + ([_("Fits")] if first.budget is not None else [])) if with_batch else [])
    precision = _("mixed precision") if first.mixed_precision else "fp32"
    title = _("{model}: model states per device over {devices} devices, {optimizer}, {precision} ({convention}'s "
              "count)").format(model=first.model, devices=first.devices, optimizer=first.optimizer,
                               precision=precision, convention=first.convention)
    lines = [heading(title, fmt), "",
             _tabulate(rows, [_("Strategy"), _("Per device"), _("of ddp")] + extra + [_("What is sharded")], fmt,
                       ["left", "right", "right"] + ["right"] * len(extra) + ["left"]), "",
             _("{params} parameters ({trained} trained); largest layer '{layer}' with {largest}.").format(
                 params=grouped(first.params), trained=grouped(first.trainable_params), layer=first.largest_layer,
                 largest=grouped(first.largest_layer_params)),
             (_("Model states only (weights, gradients, optimizer state): activations come on top.")
              if not with_batch else
              _("With activations: model states + what a device holds at the end of the forward pass of a "
                "per-device batch of {batch} (a lower bound of its peak)").format(batch=first.batch)
              + (_("; budget {budget}").format(budget=human_bytes(first.budget)) if first.budget is not None else "")
              + "."),
             _("One strategy in detail: add --strategy NAME.")]

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
    bounds = {"compute": _("compute"), "memory": _("memory")}
    rows = [[r.name, r.type, short(r.flops), human_bytes(r.bytes),
             "-" if r.intensity is None else f"{r.intensity:.3g}", bounds.get(r.bound, r.bound),
             seconds_text(r.seconds)]
            for r in result.layers]
    gpu = result.gpu
    phase = _("training step (forward + backward)") if result.train else _("forward pass")
    title = _("{model} on {gpu}: {phase}, batch {batch}, {dtype} — lower bounds").format(
        model=result.model, gpu=gpu.name, phase=phase, batch=result.batch, dtype=result.dtype)
    lines = [heading(title, fmt), "",
             _tabulate(rows, [_("Layer"), _("Type"), "FLOPs", _("Bytes moved"), "FLOP/byte", _("Bound"), _("Time ≥")],
                       fmt, ["left", "left", "right", "right", "right", "left", "right"]), ""]
    lines += [
        _("Peak {dtype}: {peak} TFLOP/s dense; memory bandwidth {bandwidth} GB/s; ridge point {ridge} "
          "FLOP/byte").format(dtype=result.dtype, peak=f"{result.peak / 1e12:g}",
                              bandwidth=f"{result.bandwidth / 1e9:g}", ridge=f"{result.ridge:.3g}"),
        _("Total FLOPs: {flops} ({short}); bytes moved layer by layer: {bytes}").format(
            flops=grouped(result.flops), short=short(result.flops), bytes=bytes_text(result.bytes)),
        _("Lower bound per step, layer by layer: {time} ({rate} samples/s at most)").format(
            time=seconds_text(result.seconds), rate=_rate(result.batch / result.seconds)) if result.seconds else
        _("Lower bound per step: 0 (nothing to compute)"),
        _("Floor whatever the fusion (all FLOPs at peak, or weights + input + output moved once): "
          "{floor}; all FLOPs at peak alone: {compute}").format(floor=seconds_text(result.floor_seconds),
                                                                compute=seconds_text(result.compute_seconds)),
        _("Compute-bound layers: {bound} of {layers}").format(bound=result.compute_bound, layers=len(result.layers)),
        "",
        _("These are LOWER BOUNDS from datasheet peaks, not predictions: no GPU measurement has been made. "
          "Real kernels reach a fraction of peak FLOP/s and bandwidth, and launch overheads add to each layer."),
        _("Source of the figures: {source}").format(source=gpu.source),
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
    if fmt != "csv":
        headers = headers[:1] + [_("Name")] + headers[2:-2] + [_("Memory GB"), _("Source")]
    rows = [[gpu.key, gpu.name] + [f"{float(gpu.peaks[d]) / 1e12:g}" if d in gpu.peaks else "-" for d in dtypes]
            + [f"{float(gpu.bandwidth) / 1e9:g}", gpu.memory_gb if gpu.memory_gb is not None else "-",
               gpu.source.split(";")[0].split(" (")[0]] for gpu in known.values()]
    if fmt == "csv":
        return _csv(rows, headers)
    return "\n".join([heading(_("Accelerators: dense peaks (sparse figures are not peaks and are not used)"), fmt), "",

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
