"""Inference arithmetic that needs no graph walk: the KV cache of a decoder and the bytes of weights
stored at a lower precision (int8, int4 with per-group scales). Pure functions of the model's numbers,
ready for attention layers to feed (layers, key/value heads, head dim) once the spec has them.

KV cache: every decoder layer keeps, for each token of each sequence, one key and one value vector per
key/value head: layers × 2 × kv_heads × head_dim × tokens × batch × bytes per element. Grouped-query
attention (kv_heads < heads) and multi-query attention (kv_heads = 1) shrink it by heads / kv_heads.

Quantised weights (GPTQ / AWQ style): each weight matrix of out × in values is cut along its input
dimension into groups of `group_size`; every group of every output row stores one scale (fp16 unless
said otherwise) and, for asymmetric schemes, one zero point (packed at the weight's bit width).
group_size=None means one group per output row (per-channel scales). The values themselves take
bits / 8 bytes each, packed; a row whose length is not a multiple of the group has a last, shorter group.
"""
from dataclasses import asdict, dataclass, field

from ..errors import SpecError

KV_BYTES = {"fp32": 4, "fp16": 2, "bf16": 2, "fp8": 1, "int8": 1}
SCALE_BYTES = {"fp32": 4, "fp16": 2, "bf16": 2}
WEIGHT_BITS = {"fp32": 32, "fp16": 16, "bf16": 16, "int8": 8, "int4": 4}


def _whole(name, value, minimum=1):
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise SpecError(f"{name} must be a whole number >= {minimum}, got {value!r}",
                        hint="a context or batch is a count of tokens or sequences" if name in ("tokens", "batch")
                        else None)
    return value


@dataclass(frozen=True)
class KVCache:
    layers: int
    kv_heads: int
    head_dim: int
    tokens: int
    batch: int
    dtype: str
    per_token: int          # bytes one token adds, over all layers, for one sequence
    per_sequence: int       # per_token × tokens
    total: int              # per_sequence × batch
    rule: str
    heads: int = None       # query heads, when given: the cache a full multi-head layout would need is
    mha_total: int = None   # heads / kv_heads times larger

    def to_dict(self):
        return asdict(self)


def kv_cache(*, layers, kv_heads, head_dim, tokens, batch=1, dtype="fp16", heads=None):
    """The KV cache for `batch` sequences of `tokens` tokens each (prompt + generated). `heads`, if given,
    must be a multiple of kv_heads (grouped-query attention) and adds the multi-head figure beside it."""
    for name, value in (("layers", layers), ("kv_heads", kv_heads), ("head_dim", head_dim), ("tokens", tokens),
                        ("batch", batch)):
        _whole(name, value)
    if dtype not in KV_BYTES:
        raise SpecError(f"unknown KV-cache dtype '{dtype}'", hint=f"choose one of {', '.join(KV_BYTES)}")
    width = KV_BYTES[dtype]
    per_token = layers * 2 * kv_heads * head_dim * width
    rule = f"{layers} layers × 2 (key, value) × {kv_heads} kv heads × {head_dim} head dim × {width} bytes"
    mha = None
    if heads is not None:
        _whole("heads", heads)
        if heads % kv_heads:
            raise SpecError(f"{heads} query heads do not share {kv_heads} key/value heads evenly",
                            hint="grouped-query attention needs heads to be a multiple of kv_heads")
        mha = per_token * heads // kv_heads * tokens * batch
    return KVCache(layers, kv_heads, head_dim, tokens, batch, dtype, per_token, per_token * tokens,
                   per_token * tokens * batch, rule + f" = {per_token:,} bytes per token", heads, mha)


def max_tokens(budget, *, layers, kv_heads, head_dim, batch=1, dtype="fp16"):
    """The longest context (tokens per sequence) whose KV cache for `batch` sequences fits `budget` bytes."""
    per_token = kv_cache(layers=layers, kv_heads=kv_heads, head_dim=head_dim, tokens=1, batch=1,
                         dtype=dtype).per_token
    return _whole("budget", budget, 0) // (per_token * _whole("batch", batch))


@dataclass(frozen=True)
class QuantizedWeights:
    values: int             # weights stored
    value_bytes: int        # packed: values × bits / 8, rounded up per row
    groups: int
    scale_bytes: int
    zero_bytes: int
    total: int
    bits_per_weight: float  # total × 8 / values: 4.125 for int4 with fp16 scales in groups of 128
    rule: str

    def to_dict(self):
        return asdict(self)


def quantized_matrix(out_features, in_features, *, weights="int4", group_size=128, scale="fp16",
                     zero_points=False):
    """Bytes of one out × in weight matrix stored at `weights` (int4, int8, or a float type, which keeps
    no scales), with one `scale` per group of `group_size` inputs in each output row (None: per row)."""
    _whole("out_features", out_features)
    _whole("in_features", in_features)
    if weights not in WEIGHT_BITS:
        raise SpecError(f"unknown weight format '{weights}'", hint=f"choose one of {', '.join(WEIGHT_BITS)}")
    if scale not in SCALE_BYTES:
        raise SpecError(f"unknown scale dtype '{scale}'", hint=f"choose one of {', '.join(SCALE_BYTES)}")
    bits = WEIGHT_BITS[weights]
    values = out_features * in_features
    row_bytes = -(-in_features * bits // 8)
    value_bytes = out_features * row_bytes
    if weights.startswith("int"):
        size = in_features if group_size is None else _whole("group_size", group_size)
        per_row = -(-in_features // size)
        groups = out_features * per_row
        scale_bytes = groups * SCALE_BYTES[scale]
        zero_bytes = -(-groups * bits // 8) if zero_points else 0
        rule = (f"{values:,} × {bits} bits + {groups:,} groups ({out_features:,} rows × "
                f"⌈{in_features:,} / {size}⌉) × {SCALE_BYTES[scale]}-byte {scale} scale" + (f" + {bits}-bit zero point" if zero_points else ""))
    else:
        groups = scale_bytes = zero_bytes = 0
        rule = f"{values:,} × {bits} bits"
    total = value_bytes + scale_bytes + zero_bytes
    return QuantizedWeights(values, value_bytes, groups, scale_bytes, zero_bytes, total, total * 8 / values, rule)


def quantized_model(matrices, *, other_params=0, other_dtype="fp16", **options):
    """Weight bytes of a model whose `matrices` ((out, in) pairs) are quantised and whose `other_params`
    (embeddings, norms, biases: what quantisers leave alone) stay at `other_dtype`. Returns
    (total bytes, [QuantizedWeights per matrix])."""
    rows = [quantized_matrix(out, inp, **options) for out, inp in matrices]
    if other_dtype not in WEIGHT_BITS or other_dtype.startswith("int"):
        raise SpecError(f"unquantised parameters are kept in a float type, not '{other_dtype}'",
                        hint="choose fp16, bf16 or fp32")
    other = _whole("other_params", other_params, 0) * WEIGHT_BITS[other_dtype] // 8
    return sum(r.total for r in rows) + other, rows


# ---- a whole decoder from its spec: archcalc infer

INFER_DTYPES = ("fp32", "fp16", "bf16")      # the model's own dtype (weights not quantised, activations)


@dataclass
class InferenceReport:
    """Prefill of `prompt` tokens, then `generate` decode steps, for `batch` sequences. Bytes and FLOPs are
    Python ints and include the batch unless named per_token or per_sequence.

    Decode step i (1..generate) feeds one token that attends to context P + i tokens (the prompt, the
    tokens generated before it and itself); its FLOPs are each layer's decode_flops hook at one token
    with that context, and the bytes it reads are every weight plus the KV cache of those P + i tokens."""

    model: str
    batch: int
    prompt: int
    generate: int
    dtype: str
    kv_dtype: str
    weights: str
    group_size: int = None
    cache_layers: int = 0
    kv_rule: str = ""
    kv_per_token: int = 0             # bytes one token adds to the cache of one sequence, all layers
    kv_per_sequence: int = 0          # at the full context, prompt + generated
    kv_bytes: int = 0                 # all sequences
    weight_bytes: int = 0             # parameters (quantised matrices with their scales) and buffers
    weight_rule: str = ""
    quantized_params: int = 0         # elements stored at `weights` (the rest stays at `dtype`)
    params: int = 0
    prefill_flops: int = 0            # archcalc's convention
    prefill_torch_flops: int = 0      # FlopCounterMode's: matrix products only
    prefill_activation_bytes: int = 0  # liveness peak of the prefill's forward pass, KV cache apart
    prefill_peak_layer: str = ""
    decode_flops_first: int = 0       # one decode step (all sequences) at context P + 1
    decode_flops_last: int = 0        # ... at context P + G
    decode_flops_slope: int = 0       # FLOPs each more token of context adds to one step (all sequences)
    decode_flops_total: int = 0       # all G steps
    decode_torch_flops_first: int = 0
    decode_torch_flops_last: int = 0
    decode_torch_flops_total: int = 0
    decode_read_first: int = 0        # bytes read by a step: weights + KV cache at its context
    decode_read_last: int = 0
    decode_activation_bytes: int = 0  # liveness peak of the last decode step, KV cache apart
    decode_peak_layer: str = ""
    total_bytes: int = 0              # weights + KV cache at P + G + the larger activation peak
    budget: int = None
    fits: bool = None
    max_batch: int = None             # at this prompt and generation length
    max_context: int = None           # tokens per sequence (prompt + generated) at this batch and prompt; 0: none
    notes: list = field(default_factory=list)

    def to_dict(self):
        return asdict(self)


def _count(name, value, minimum):
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        what = {"prompt": "prompt tokens", "generate": "tokens to generate", "batch": "sequences"}[name]
        raise SpecError(f"--{name} must be a whole number >= {minimum} ({what}), got {value!r}",
                        hint="e.g. --prompt 512 --generate 128 --batch 8")
    return value


def _graph_at(spec, tokens, args):
    """The spec with its input's first axis (the tokens) set to `tokens`."""
    from ..layers.shapes import to_layout
    from ..spec.graph import Graph, load_spec
    if isinstance(spec, Graph):
        raise SpecError("infer needs the spec itself (a file, a zoo name or a dict), not a loaded Graph",
                        hint="it analyses the spec at the prompt's length and at one token")
    base = load_spec(spec, args=args)
    shape = list(to_layout(base.input_shape, base.layout))
    if len(shape) > 2:
        raise SpecError(f"{base.name}'s input {tuple(shape)} is not a sequence of tokens", file=base.file,
                        hint="infer analyses decoders: input [tokens] of token ids, or [tokens, features]")
    return load_spec(spec, input_shape=[tokens] + shape[1:], args=args)


def _window(spec, args):
    """The context window: the tokens of the spec's own input (GPT-2's 1,024; a from-hf spec's
    max_position_embeddings)."""
    from ..layers.shapes import to_layout
    from ..spec.graph import load_spec
    base = load_spec(spec, args=args)
    return to_layout(base.input_shape, base.layout)[0]


def _cache_layers(graph, report):
    """[(record, kv_heads, head_dim)] of every layer that keeps a KV cache, from the layers' hook."""
    from ..errors import LayerError
    found = []
    for node, record in zip(graph.nodes, report.layers):
        try:
            heads = record.layer.kv_cache_heads(record.in_shapes)
        except (LayerError, SpecError) as err:
            raise graph.error(node, err) from None
        if heads is not None:
            found.append((record, *heads))
    if not found:
        raise SpecError(f"{graph.name} has no attention layers, so it keeps no KV cache to generate with",
                        file=graph.file, hint="infer is for decoders (causal self-attention: `attention: "
                                              "{heads: 12, causal: true}`); `archcalc memory` gives a forward pass")
    return found


def _weights(report, dtype, weights, group_size):
    """(bytes, rule, quantised elements): the matrices the layers name (weight_matrices) at `weights`, in
    groups; every other parameter (embeddings, norms, biases, a tied head's shared weight once) at `dtype`."""
    from .analyzer import DTYPE_BYTES
    matrices = []
    if weights != dtype:
        for record in report.layers:
            if record.params == record.layer.params(record.in_shapes):     # a tied weight is its owner's
                matrices += record.layer.weight_matrices(record.in_shapes)
    quantized = sum(rows * cols for rows, cols in matrices)
    total_params = report.totals.params
    buffers = report.totals.buffer_bytes
    if not matrices:
        width = WEIGHT_BITS[weights] // 8
        return total_params * width + buffers, f"{total_params:,} parameters × {width} bytes ({weights})", 0
    total, rows = quantized_model(matrices, other_params=total_params - quantized, other_dtype=dtype,
                                  weights=weights, group_size=group_size)
    values = sum(r.value_bytes for r in rows)
    scales = sum(r.scale_bytes for r in rows)
    groups = sum(r.groups for r in rows)
    rest = total_params - quantized
    if groups:
        rule = (f"{quantized:,} matrix weights × {WEIGHT_BITS[weights]} bits = {values:,} + {groups:,} groups of "
                f"{'one row' if group_size is None else group_size} × 2-byte fp16 scale = {scales:,}; "
                f"{rest:,} other parameters × {DTYPE_BYTES[dtype]} bytes ({dtype})")
    else:
        rule = (f"{quantized:,} matrix weights × {WEIGHT_BITS[weights] // 8} bytes ({weights}); "
                f"{rest:,} other parameters × {DTYPE_BYTES[dtype]} bytes ({dtype})")
    return total + buffers, rule, quantized


class _Decoder:
    """The spec analysed at one token: per context, one decode step's FLOPs and activation peak."""

    def __init__(self, graph, batch, dtype, attention="naive"):
        from .analyzer import DTYPE_BYTES, analyze
        from .memory import INPUT_BYTES
        from ..layers.shapes import numel
        self.graph, self.batch, self.width = graph, batch, DTYPE_BYTES[dtype]
        self.report = analyze(graph, batch=batch, dtype=dtype, backward=False, attention=attention)
        self.input_bytes = numel(graph.input_shape) * batch * INPUT_BYTES.get(graph.input_dtype, self.width)

    def _each(self, hook, *extra):
        from ..errors import LayerError
        values = []
        for node, record in zip(self.graph.nodes, self.report.layers):
            try:
                values.append(getattr(record.layer, hook)(record.in_shapes, record.out_shape, *extra))
            except (LayerError, SpecError) as err:
                raise self.graph.error(node, err) from None
        return values

    def flops(self, context):
        return sum(self._each("decode_flops", context)) * self.batch

    def torch_flops(self, context):
        return sum(self._each("decode_torch_flops", context)) * self.batch

    def activations(self, context):
        """(peak bytes, layer) of one decode step by liveness, its temporaries at this context."""
        from .memory import liveness_peak
        return liveness_peak(self.report, self.input_bytes, self._each("decode_workspace", self.width, context),
                             self.width)


def _affine_sum(f, first, count):
    """Σ f(first + i) for i in 0..count-1, for f affine in its argument (decode FLOPs are: the context
    enters attention's products and softmax linearly); checked at the last point."""
    a, slope = f(first), (f(first + 1) - f(first) if count > 1 else 0)
    last = f(first + count - 1)
    if last != a + slope * (count - 1):
        raise SpecError("a decode step's FLOPs do not grow linearly with the context", hint="report this spec")
    return count * a + slope * count * (count - 1) // 2, a, last, slope


def infer(spec, *, prompt, generate=0, batch=1, dtype="bf16", kv_dtype=None, weights=None, group_size=128,
          budget=None, args=None, attention="naive"):
    """An InferenceReport: the KV cache, the weights at `weights` precision (int4/int8 in groups of
    `group_size` along each matrix's input with fp16 scales; None for per row), prefill's and each
    decode step's FLOPs and activation peak, the bytes a decode step reads, and with `budget` (bytes or
    '24GB') whether it fits, the largest batch and the longest context that do. `spec` is a file, a zoo
    name or a dict whose input's first axis is the tokens; `args` sets its top-level args; `attention`
    ("naive" or "flash") the kernel, which decides prefill's activation peak (the (h, n, n) scores or not)."""
    from .analyzer import analyze
    from .memory import memory as forward_memory
    from ..units import parse_bytes
    _count("prompt", prompt, 1)
    _count("generate", generate, 0)
    _count("batch", batch, 1)
    if dtype not in INFER_DTYPES:
        raise SpecError(f"infer keeps activations in a float type, not '{dtype}'",
                        hint=f"choose one of {', '.join(INFER_DTYPES)}; quantised weights are --weights int4/int8")
    kv_dtype = kv_dtype or dtype
    weights = weights or dtype
    if kv_dtype not in KV_BYTES:
        raise SpecError(f"unknown KV-cache dtype '{kv_dtype}'", hint=f"choose one of {', '.join(KV_BYTES)}")
    if weights not in WEIGHT_BITS:
        raise SpecError(f"unknown weight format '{weights}'", hint=f"choose one of {', '.join(WEIGHT_BITS)}")
    if group_size is not None:
        _whole("group_size", group_size)
    context = prompt + generate
    window = _window(spec, args)
    if context > window:
        raise SpecError(f"a prompt of {prompt:,} and {generate:,} generated tokens make a context of {context:,}, "
                        f"past the {window:,} tokens of the spec's input (its context window)",
                        hint="shorten the prompt or the generation, or give the spec a longer input")
    prefill_graph = _graph_at(spec, prompt, args)
    report = analyze(prefill_graph, batch=1, dtype=dtype, backward=False, attention=attention)
    layers = _cache_layers(prefill_graph, report)
    if generate:
        analyze(_graph_at(spec, context, args), backward=False)      # a context the model can hold (positions)
    result = InferenceReport(report.model, batch, prompt, generate, dtype, kv_dtype, weights,
                             group_size if weights.startswith("int") else None, len(layers))
    width = KV_BYTES[kv_dtype]
    result.kv_per_token = sum(2 * kv_heads * head_dim for _, kv_heads, head_dim in layers) * width
    shapes = sorted({(kv_heads, head_dim) for _, kv_heads, head_dim in layers})
    result.kv_rule = (f"{len(layers)} layers × 2 (key, value) × {shapes[0][0]} kv heads × {shapes[0][1]} head dim × "
                      f"{width} byte{'s' if width > 1 else ''}" if len(shapes) == 1 else
                      " + ".join(f"2 × {h} × {d}" for _, h, d in layers) + f" elements × {width} bytes")
    result.kv_per_sequence = result.kv_per_token * context
    result.kv_bytes = result.kv_per_sequence * batch
    result.params = report.totals.params
    result.weight_bytes, result.weight_rule, result.quantized_params = _weights(report, dtype, weights, group_size)

    prefill = forward_memory(prefill_graph, batch=batch, dtype=dtype, attention=attention)
    result.prefill_activation_bytes, result.prefill_peak_layer = prefill.peak_activation_bytes, \
        prefill.peak_activation_layer
    result.prefill_flops = report.totals.flops * batch
    result.prefill_torch_flops = report.totals.torch_flops * batch
    decoder = _Decoder(_graph_at(spec, 1, args), batch, dtype, attention)
    if generate:
        result.decode_flops_total, result.decode_flops_first, result.decode_flops_last, \
            result.decode_flops_slope = _affine_sum(decoder.flops, prompt + 1, generate)
        result.decode_torch_flops_total, result.decode_torch_flops_first, result.decode_torch_flops_last, _ = \
            _affine_sum(decoder.torch_flops, prompt + 1, generate)
        result.decode_read_first = result.weight_bytes + result.kv_per_token * (prompt + 1) * batch
        result.decode_read_last = result.weight_bytes + result.kv_bytes
        result.decode_activation_bytes, result.decode_peak_layer = decoder.activations(context)
    result.total_bytes = _footprint(result, decoder, batch, context)
    if budget is not None:
        result.budget = budget if isinstance(budget, int) else parse_bytes(budget)
        result.fits = result.total_bytes <= result.budget
        per_sequence = result.total_bytes - result.weight_bytes
        # every activation and cache figure is `batch` times one sequence's (no allocator rounding on
        # the host's count), so the bytes beyond the weights are linear in the batch
        assert per_sequence % batch == 0
        spare = result.budget - result.weight_bytes
        result.max_batch = max(spare, 0) // (per_sequence // batch)
        result.max_context = _longest_context(spec, args, result, decoder)
    result.notes = [
        "the activation peaks count attention's k and v projections as temporaries and the KV cache apart "
        "(an upper bound by one layer's k and v); the cache is updated in place (a static cache)",
        "a decode step's attention has no mask: its one query may see every cached token",
    ]
    return result


def _footprint(result, decoder, batch, context):
    """Weights + the KV cache at `context` tokens + the larger of the prefill's and the last decode
    step's activation peaks."""
    decode = decoder.activations(context)[0] if context > result.prompt else 0
    return (result.weight_bytes + result.kv_per_token * context * batch
            + max(result.prefill_activation_bytes, decode))


def _longest_context(spec, args, result, decoder):
    """The most tokens per sequence (prompt + generated) that fit the budget at this batch and prompt,
    by doubling then bisection on the exact footprint; never past the context window (the spec's input)
    nor where the model's positions end. 0 when even the prompt alone does not fit."""
    from .analyzer import analyze

    def fits(context):
        return _footprint(result, decoder, result.batch, context) <= result.budget

    def holds(context):
        try:
            analyze(_graph_at(spec, context, args), backward=False)
        except SpecError:
            return False
        return True
    if not fits(result.prompt):
        return 0
    window = _window(spec, args)
    if fits(window):
        return window if holds(window) else _longest_held(result.prompt, window, holds)
    low, high = result.prompt, result.prompt * 2
    while high <= window and fits(high):
        low, high = high, high * 2
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (middle, high) if fits(middle) else (low, middle)
    return low if holds(low) else _longest_held(result.prompt, low, holds)


def _longest_held(good, bad, holds):
    """Bisection between a context the model holds (`good`) and one it does not (`bad`)."""
    while bad - good > 1:
        middle = (good + bad) // 2
        good, bad = (middle, bad) if holds(middle) else (good, middle)
    return good
