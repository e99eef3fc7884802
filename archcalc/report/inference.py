"""The text of `archcalc infer`: the KV cache, the weights, prefill and decode, and the budget answer."""
from .tables import bytes_text, count_text, grouped, heading, human_bytes, to_json


def inference_report(result, fmt="table"):
    if fmt == "json":
        return to_json(result.to_dict())
    r = result
    context = r.prompt + r.generate
    weights = r.weights + (f", groups of {r.group_size}" if r.group_size else
                           ", one scale per row" if r.weights.startswith("int") else "")
    lines = [heading(f"{r.model}: inference, batch {r.batch}, prompt {grouped(r.prompt)} + generate "
                     f"{grouped(r.generate)} tokens, activations {r.dtype}, weights {weights}, KV cache {r.kv_dtype}",
                     fmt), ""]
    lines += [f"KV cache: {r.kv_rule} = {grouped(r.kv_per_token)} bytes per token",
              f"  per sequence ({grouped(context)} tokens): {bytes_text(r.kv_per_sequence)}",
              f"  all {r.batch} sequences:        {bytes_text(r.kv_bytes)}",
              f"Weights: {bytes_text(r.weight_bytes)}  ({r.weight_rule})", ""]
    lines += [f"Prefill ({grouped(r.prompt)} tokens × {r.batch}):",
              f"  FLOPs: {count_text(r.prefill_flops)}  (FlopCounterMode's matrix products: "
              f"{count_text(r.prefill_torch_flops)})",
              f"  activation peak: {bytes_text(r.prefill_activation_bytes)} while '{r.prefill_peak_layer}' runs"]
    if r.generate:
        lines += [f"Decode ({grouped(r.generate)} steps of one token × {r.batch}; step i attends to "
                  f"{grouped(r.prompt)} + i tokens):",
                  f"  FLOPs per step: {count_text(r.decode_flops_first)} at context {grouped(r.prompt + 1)}, "
                  f"{count_text(r.decode_flops_last)} at {grouped(context)} (+{grouped(r.decode_flops_slope)} "
                  "per token of context)",
                  f"  FlopCounterMode per step: {count_text(r.decode_torch_flops_first)} to "
                  f"{count_text(r.decode_torch_flops_last)}",
                  f"  all steps: {count_text(r.decode_flops_total)} FLOPs "
                  f"(FlopCounterMode {count_text(r.decode_torch_flops_total)})",
                  f"  bytes read per step (weights + KV cache): {bytes_text(r.decode_read_first)} to "
                  f"{bytes_text(r.decode_read_last)}",
                  f"  activation peak of the last step: {bytes_text(r.decode_activation_bytes)} while "
                  f"'{r.decode_peak_layer}' runs"]
    lines += ["", f"Total: {bytes_text(r.total_bytes)}  (weights + KV cache at {grouped(context)} tokens + the "
                  "larger activation peak)"]
    if r.budget is not None:
        lines += [f"Budget {human_bytes(r.budget)}: {'fits' if r.fits else 'does NOT fit'}; largest batch that "
                  f"fits: {grouped(r.max_batch)}; longest context at batch {r.batch}: {grouped(r.max_context)} "
                  "tokens (prompt + generated)"]
    lines += ["", "Notes:"] + [f"  - {note}" for note in r.notes]
    return "\n".join(lines)
