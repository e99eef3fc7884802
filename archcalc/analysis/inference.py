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
from dataclasses import asdict, dataclass

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
