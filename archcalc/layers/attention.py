"""Attention: multi-head self- and cross-attention (grouped key/value heads), scaled dot-product
attention over given q, k, v, and rotary position embedding.

Convention (archcalc's FLOPs): per head, q·kᵀ is 2·n·m·d_h and weights·v is 2·n·m·d_h (n queries, m keys);
the projections are dense layers (2 per MAC plus bias adds); the 1/√d_h scaling is n·d_h per head, the
softmax 3 per score (exp, sum, divide), a causal mask 1 per score. FlopCounterMode counts only the four
matrix products (no bias, scaling, mask or softmax); it counts q·kᵀ and weights·v where torch runs them as
bmm (the math path, the meta device), but nothing on CPU where F.scaled_dot_product_attention takes a
fused kernel — archcalc's torch module takes the math path, so verify counts them on CPU as on meta.

Under `--attention flash` (analyze(attention="flash")) the same layers run F.scaled_dot_product_attention's
fused kernel instead: archcalc's own FLOPs are unchanged (the same products, scaling and softmax, tiled);
what changes is memory (no (h, n, m) tensor is made or kept: the kernel keeps the output and one fp32
log-sum-exp per query and head, and recomputes the scores in backward) and what FlopCounterMode counts:
its registered formula for the fused ops (aten._scaled_dot_product_flash_attention, _efficient_attention,
_cudnn_attention) on CUDA, 2·2·h·n·m·d_h forward whatever the mask and 5 products (2·5·h·n·m·d_h, the
scores recomputed) backward; on CPU torch runs aten._scaled_dot_product_flash_attention_for_cpu, which has no
formula, so FlopCounterMode counts 0 for the attention core there. The FlashAttention papers' convention
(`--convention flashattention`) counts the core as their benchmarks do: 4·h·n·m·d_h, halved when causal,
and 2.5× that for backward.
"""
from contextlib import contextmanager

from ..errors import LayerError, Unsupported
from ..i18n import N_, _
from .shapes import numel
from .counting import MACS, ZERO, Rule, counted_as, either, torch_flops
from .registry import register
from .base import Autograd, Kind, Layer, Option, Saved, Step, boolean, dims, integer, number


def _sequence(layer, shape, what="input"):
    if len(shape) != 2:
        raise LayerError((_("{type} needs a (tokens, features) sequence as its input, got {shape}") if what == "input"
                          else _("{type} needs a (tokens, features) sequence as its memory, got {shape}")).format(
                              type=layer.type_name, shape=tuple(shape)),
                         hint=_("turn a map into tokens first: {fix}").format(fix="flatten: {start: 1} then permute: [1, 0]"))
    return shape


def _whole_context(context):
    if isinstance(context, bool) or not isinstance(context, int) or context < 1:
        raise LayerError(f"a decode step's context must be a whole number of tokens >= 1, got {context!r}")
    return context


def _flash_paper(layer, ins, out, batch):
    """The FlashAttention papers' forward count (benchmark_flash_attention.py's flops()): 4·n·m·h·d_h for
    the two products, halved when causal; the projections as FlopCounterMode counts them (2 per MAC)."""
    return (2 * layer.projection_macs(ins) + layer.paper_core(ins)) * batch


FLASH_PAPER_RULE = (N_("FlashAttention papers: 2·MACs of the projections + 4·h·n·m·d_h for q·kᵀ and weights·v, "
                    "halved when causal (no softmax, scaling or mask); their backward is 2.5× the core"))


def _out_proj(layer, ins, out, batch):
    """The out_proj nn.Linear child, which is all these tools see of the module."""
    n, q = out[0], layer.q_width(ins)
    return n * (q * out[1] + (out[1] if layer.out_biased else 0)) * batch


MODULES = ("archcalc", "multihead")


def _module_kind(value):
    if not isinstance(value, str) or value.lower() not in MODULES:
        raise LayerError(f"expected one of {', '.join(MODULES)}, got {value!r}",
                         hint="multihead: the model holds torch's nn.MultiheadAttention (torchvision's ViT)")
    return value.lower()


_module_kind.describe = " or ".join(repr(w) for w in MODULES)
_module_kind.schema = {"enum": list(MODULES)}


def module_or_multihead(own, multihead):
    """One tool's rule: `own` for archcalc's attention module, `multihead` for `module: multihead`."""
    return either(lambda layer: layer.multihead, own, multihead, N_("; module: multihead (nn.MultiheadAttention): "))


def _ptflops_multihead(layer, ins, out, batch):
    """ptflops' multihead_attention_counter_hook (it does not descend into out_proj): q scaling n·d,
    projections n·d² + 2·m·d², in_proj bias (n + 2m)·d, per head n·m·d_h twice + n·m (softmax), and
    out_proj n·d·(d + 1), whose bias it always counts."""
    n, d, m, *_ = layer.dims(ins)
    heads, head_dim = layer.heads, d // layer.heads
    in_bias = (n + 2 * m) * d if layer.bias else 0
    return (n * d + n * d * d + 2 * m * d * d + in_bias + heads * (2 * n * m * head_dim + n * m)
            + n * d * (d + 1)) * batch


MULTIHEAD_THOP = Rule(ZERO.count, N_("0: nn.MultiheadAttention is no leaf and has no hook; its out_proj is a "
                                     "NonDynamicallyQuantizableLinear, which thop's exact-type table misses"))
MULTIHEAD_PTFLOPS = Rule(_ptflops_multihead, N_("its MultiheadAttention hook: n·d (q scaling) + projection MACs "
                                                "+ in_proj bias + h·n·m·(2·d_h + 1) + out_proj bias n·d (always)"))
MULTIHEAD_FVCORE = Rule(lambda l, i, o, b: l.projection_macs(i) * b,
                        N_("projection MACs only: aten::linear for in_proj and out_proj; no handle for "
                           "aten::scaled_dot_product_attention, which F.multi_head_attention_forward calls"))
MULTIHEAD_TORCHINFO = Rule(ZERO.count, N_("0: nn.MultiheadAttention is no leaf, and its out_proj leaf is never "
                                          "called (forward passes out_proj.weight to F.multi_head_attention_forward)"))


@contextmanager
def _multihead_math_path():
    import torch
    from torch.nn.attention import SDPBackend, sdpa_kernel
    was = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(False)
    try:
        with sdpa_kernel(SDPBackend.MATH):
            yield
    finally:
        torch.backends.mha.set_fastpath_enabled(was)


class Fusable(Layer):
    """What the attention types share: how they run under the `attention` analysis option (base.ATTENTION)
    and the device, which decides the fused kernel FlopCounterMode sees."""

    attention = "naive"      # set per analysis by configured()
    device = "cpu"

    def configured(self, *, attention="naive", device="cpu"):
        if (attention, device) == (self.attention, self.device):
            return self
        clone = type(self)(**self.opts)
        clone.attention, clone.device = attention, device
        return clone

    @property
    def fused(self):
        return self.attention == "flash"

    @property
    def counted_by_torch(self):
        """Whether FlopCounterMode counts the fused op: it has formulas for the CUDA kernels only."""
        return self.device == "cuda"


@register
class MultiHeadAttention(Fusable):
    """Self-attention on one (n, d) input, or cross-attention from it to a second (m, d_kv) input
    (`from: [x, memory]`). Parameters as nn.MultiheadAttention: in_proj (q, k, v) and out_proj, with
    `kv_heads` < `heads` for grouped-query (1 = multi-query) attention."""

    type_name = "attention"
    example = {"input": [5, 8], "before": [{"dense": 8}], "options": {"heads": 2, "causal": True}}
    aliases = ("multihead_attention", "multiheadattention", "mha", "self_attention", "cross_attention")
    kind = Kind.ATTENTION
    counting = counted_as(
        torch=torch_flops(N_("naive: 2·(projection MACs + 2·h·n·m·d_h), q·kᵀ and weights·v as bmm, no softmax or "
                          "scaling; flash: 2·projection MACs + the fused op's formula, 2·2·h·n·m·d_h on CUDA "
                          "(causal not halved), 0 on CPU (no formula for the CPU flash kernel); module: "
                          "multihead the same, run with its fast path and fused kernels off (verify says so)")),
        flashattention=Rule(_flash_paper, FLASH_PAPER_RULE),
        torchvision=Rule(MACS.count, N_("MACs of the projections, q·kᵀ and weights·v (the docs' rule), naive or flash")),
        fvcore=module_or_multihead(
            Rule(lambda l, i, o, b: (l.projection_macs(i) if l.fused else l.macs(i, o)) * b,
                 N_("MACs: aten::linear for the projections, aten::matmul for q·kᵀ and weights·v "
                    "(naive); flash: the projections only (no handle for aten::scaled_dot_product_attention)")),
            MULTIHEAD_FVCORE),
        thop=module_or_multihead(
            Rule(lambda l, i, o, b: l.q_width(i) * o[1] * o[0] * b, N_("out_proj's MACs only: the nn.Linear child "
                                                                       "(no hook for the rest), naive or flash")),
            MULTIHEAD_THOP),
        ptflops=module_or_multihead(
            Rule(_out_proj, N_("out_proj's MACs + bias: its nn.Linear child (F.linear, @ and "
                               "F.scaled_dot_product_attention are not patched), naive or flash")),
            MULTIHEAD_PTFLOPS),
        torchinfo=module_or_multihead(
            Rule(lambda l, i, o, b: (l.q_width(i) * o[1] + (o[1] if l.out_biased else 0)) * b,
                 N_("out_proj's parameters, once per sample: its only leaf child (weight·batch), naive or flash")),
            MULTIHEAD_TORCHINFO))
    torch_modules = ("Attention", "MultiheadAttention", "TransformerEncoderLayer", "TransformerEncoder")
    primary = "heads"
    min_inputs, max_inputs = 1, 2
    options = {
        "heads": Option(integer(1), required=True, aliases=("num_heads", "n_head", "num_attention_heads")),
        "kv_heads": Option(integer(1), default=None, aliases=("num_kv_heads", "num_key_value_heads"),
                           doc="key/value heads (default: heads; 1 = multi-query)"),
        "head_dim": Option(integer(1), default=None, doc="features per head (default: d / heads)"),
        "bias": Option(boolean, default=True, doc="biases on the projections"),
        "out_bias": Option(boolean, default=None, doc="a bias on the output projection (default: as `bias`); "
                                                      "Qwen2 has q, k, v biases and none on o_proj"),
        "causal": Option(boolean, default=False, doc="each query sees only keys at or before it"),
        "dropout": Option(number(minimum=0, below=1), default=0.0, doc="on the attention weights"),
        "module": Option(_module_kind, default="archcalc",
                         doc="the torch module: archcalc's own (explicit math), or multihead = torch's "
                             "nn.MultiheadAttention(batch_first=True) called with need_weights=False, as "
                             "torchvision's ViT holds it; thop, ptflops, fvcore and torchinfo count the two "
                             "differently"),
    }

    @classmethod
    def from_torch_module(cls, m):
        if type(m).__name__ == "TransformerEncoderLayer":
            return cls.encoder_layer_parts(m)
        if type(m).__name__ == "TransformerEncoder":
            return cls.encoder_parts(m)
        if type(m).__name__ == "Attention":
            return {"heads": m.heads, **cls.non_default(kv_heads=m.kv_heads if m.kv_heads != m.heads else None,
                                                        bias=m.in_proj_bias is not None, causal=m.causal,
                                                        dropout=m.dropout),
                    **({"out_bias": m.out_proj.bias is not None}
                       if (m.out_proj.bias is not None) != (m.in_proj_bias is not None) else {})}
        if not m.batch_first:
            raise Unsupported("nn.MultiheadAttention(batch_first=False); archcalc's sequences are (N, n, d)")
        if m.bias_k is not None or m.add_zero_attn or m.kdim != m.embed_dim or m.vdim != m.embed_dim:
            raise Unsupported("nn.MultiheadAttention with add_bias_kv, add_zero_attn, kdim or vdim")
        return {"heads": m.num_heads, **cls.non_default(bias=m.in_proj_bias is not None, dropout=m.dropout),
                "module": "multihead"}

    @classmethod
    def encoder_parts(cls, m):
        """nn.TransformerEncoder: each layer's parts (named layers_0_…), then its final norm if any."""
        parts, previous = [], "input"
        for index, layer in enumerate(m.layers):
            for suffix, type_name, options, reads in cls.encoder_layer_parts(layer):
                parts.append((f"layers_{index}_{suffix}", type_name, options,
                              [previous if r == "input" else f"layers_{index}_{r}" for r in reads]))
            previous = parts[-1][0]
        if m.norm is not None:
            parts.append(("norm", "layernorm", {"eps": m.norm.eps} if m.norm.eps != 1e-5 else {}, [previous]))
        return parts

    @classmethod
    def encoder_layer_parts(cls, m):
        """nn.TransformerEncoderLayer as the spec layers it is: self-attention, dropout, residual add and
        LayerNorm, then linear1, activation, dropout, linear2, dropout, add and LayerNorm (post-norm), or
        each LayerNorm first (norm_first)."""
        import torch.nn.functional as F
        activation = {F.relu: "relu", F.gelu: "gelu"}.get(m.activation)
        if activation is None:
            name = type(m.activation).__name__.lower()
            activation = name if name in ("relu", "gelu") else None
        if activation is None:
            raise Unsupported(f"TransformerEncoderLayer with activation {m.activation!r}")
        attention = {"heads": m.self_attn.num_heads, **cls.from_torch_module(m.self_attn)}
        if not m.norm1.elementwise_affine or m.norm1.bias is None:
            raise Unsupported("TransformerEncoderLayer without LayerNorm bias")
        ln = {"eps": m.norm1.eps} if m.norm1.eps != 1e-5 else {}
        ff = [("linear1", "dense", {"units": m.linear1.out_features, **({} if m.linear1.bias is not None
                                                                       else {"bias": False})}),
              ("activation", activation, {}), ("dropout", "dropout", {"rate": m.dropout.p}),
              ("linear2", "dense", {"units": m.linear2.out_features, **({} if m.linear2.bias is not None
                                                                       else {"bias": False})}),
              ("dropout2", "dropout", {"rate": m.dropout2.p})]
        chain = lambda parts, start: [(s, t, o, [start if i == 0 else parts[i - 1][0]])  # noqa: E731
                                      for i, (s, t, o) in enumerate(parts)]
        if m.norm_first:
            attn = chain([("norm1", "layernorm", ln), ("self_attn", "attention", attention),
                          ("dropout1", "dropout", {"rate": m.dropout1.p})], "input")
            return (attn + [("add1", "add", {}, ["dropout1", "input"])]
                    + chain([("norm2", "layernorm", ln)] + ff, "add1") + [("add2", "add", {}, ["dropout2", "add1"])])
        attn = chain([("self_attn", "attention", attention), ("dropout1", "dropout", {"rate": m.dropout1.p})], "input")
        return (attn + [("add1", "add", {}, ["dropout1", "input"]), ("norm1", "layernorm", ln, ["add1"])]
                + chain(ff, "norm1") + [("add2", "add", {}, ["dropout2", "norm1"]), ("norm2", "layernorm", ln, ["add2"])])

    # ---- sizes

    @property
    def out_biased(self):
        """Whether the output projection has a bias: `out_bias` where given, else `bias`."""
        return self.bias if self.out_bias is None else self.out_bias

    @property
    def multihead(self):
        """`module: multihead`: torch's nn.MultiheadAttention, not archcalc's own module."""
        return getattr(self, "module", "archcalc") == "multihead"

    def dims(self, ins):
        n, d = _sequence(self, ins[0])
        m, d_kv = _sequence(self, ins[1], "memory") if len(ins) > 1 else (n, d)
        kv_heads = self.kv_heads or self.heads
        if self.multihead:
            self.multihead_limits(d, d_kv, kv_heads)
        if self.head_dim is None and d % self.heads:
            raise LayerError(_("attention: {features} features do not split into {heads} heads").format(
                features=d, heads=self.heads), hint=_("choose heads dividing {features}, or give head_dim").format(
                    features=d))
        if self.heads % kv_heads:
            raise LayerError(_("attention: {heads} heads do not share {kv_heads} key/value heads evenly").format(
                heads=self.heads, kv_heads=kv_heads), hint=_("kv_heads must divide heads (1 = multi-query)"))
        head_dim = self.head_dim or d // self.heads
        return n, d, m, d_kv, kv_heads, head_dim

    def multihead_limits(self, d, d_kv, kv_heads):
        """What nn.MultiheadAttention (as `module: multihead` builds it) cannot be."""
        refused = [what for what, given in (
            ("kv_heads", kv_heads != self.heads), ("head_dim", self.head_dim not in (None, d // self.heads)),
            ("out_bias", self.out_bias not in (None, self.bias)), ("causal", self.causal),
            (f"a memory of {d_kv} features (kdim)", d_kv != d)) if given]
        if refused:
            raise LayerError(f"attention with module: multihead (torch's nn.MultiheadAttention) cannot have "
                             f"{', '.join(refused)}",
                             hint="drop module: multihead (archcalc's own attention module has them all)")

    def q_width(self, ins):
        n, d, m, d_kv, kv_heads, head_dim = self.dims(ins)
        return self.heads * head_dim

    def output_shape(self, ins):
        n, d, *_ = self.dims(ins)
        return (n, d)

    def param_tensors(self, ins):
        """nn.MultiheadAttention's order: in_proj_weight (q, k, v stacked; q/k/v_proj_weight apart for
        cross-attention from another width), in_proj_bias, out_proj.weight, out_proj.bias."""
        n, d, m, d_kv, kv_heads, head_dim = self.dims(ins)
        q, kv = self.heads * head_dim, kv_heads * head_dim
        weights = (q * d + 2 * kv * d,) if len(ins) == 1 or d_kv == d else (q * d, kv * d_kv, kv * d_kv)
        return (weights + ((q + 2 * kv,) if self.bias else ()) + (d * q,)
                + ((d,) if self.out_biased else ()))

    def products(self, ins):
        """MACs of each matrix product: the q, k, v projections, q·kᵀ, weights·v, out_proj."""
        n, d, m, d_kv, kv_heads, head_dim = self.dims(ins)
        q, kv = self.heads * head_dim, kv_heads * head_dim
        scores = self.heads * n * m * head_dim
        return {"q": n * d * q, "k": m * d_kv * kv, "v": m * d_kv * kv, "qk": scores, "av": scores, "out": n * q * d}

    def macs(self, ins, out):
        return sum(self.products(ins).values())

    def projection_macs(self, ins):
        p = self.products(ins)
        return p["q"] + p["k"] + p["v"] + p["out"]

    def paper_core(self, ins):
        """The FlashAttention papers' count of q·kᵀ and weights·v: 4·h·n·m·d_h, halved when causal."""
        p = self.products(ins)
        return 2 * (p["qk"] + p["av"]) // (2 if self.causal else 1)

    def bias_adds(self, ins, out):
        n, d, m, d_kv, kv_heads, head_dim = self.dims(ins)
        return (((n * self.heads * head_dim + 2 * m * kv_heads * head_dim) if self.bias else 0)
                + (n * d if self.out_biased else 0))

    def flops(self, ins, out):
        """2 per MAC, bias adds, scaling q (n·h·d_h), softmax 3 per score, the causal mask 1 per score."""
        n, d, m, d_kv, kv_heads, head_dim = self.dims(ins)
        scores = self.heads * n * m
        return (2 * self.macs(ins, out) + self.bias_adds(ins, out) + n * self.heads * head_dim + 3 * scores
                + (scores if self.causal else 0))

    def torch_flops(self, ins, out):
        """naive: 2·MACs (the four bmm); flash: the projections, and the fused op's formula
        (2·2·h·n·m·d_h) where torch has one (CUDA), 0 on CPU."""
        if self.fused and not self.counted_by_torch:
            return 2 * self.projection_macs(ins)
        return 2 * self.macs(ins, out)

    def torch_backward_flops(self, ins, out, grad):
        """Each product's backward computes the gradient of each operand that needs one (2·MACs each);
        flash: the fused backward's formula, 5 products (the scores recomputed) = 2·5·h·n·m·d_h on CUDA,
        0 on CPU."""
        if not grad.active:
            return 0
        p, w = self.products(ins), int(grad.weights)
        x_grad = int(grad.inputs[0])
        mem_grad = int(grad.inputs[1]) if len(ins) > 1 else x_grad
        q_needs = bool(w or x_grad)
        kv_needs = bool(w or mem_grad)
        total = 2 * p["q"] * (w + x_grad) + 2 * (p["k"] + p["v"]) * (w + mem_grad) + 2 * p["out"] * (w + 1)
        if self.fused:
            return total + (5 * 2 * p["qk"] if self.counted_by_torch else 0)
        return total + 2 * p["qk"] * (int(q_needs) + int(kv_needs)) + 2 * p["av"] * (1 + int(kv_needs))

    def saved_tensors(self, ins, out, grad):
        """What the math path keeps (checked with saved_tensors_hooks): the inputs for the projections'
        weight gradients; q (scaled) and kᵀ, copied contiguous for bmm; the softmax output; with dropout
        its mask and output; v, copied; the heads' output, reshaped for out_proj. At batch 1 (or with
        one head) kᵀ and v are views of the packed q, k, v projection, which is kept whole instead."""
        if not grad.active:
            return []
        n, d, m, d_kv, kv_heads, head_dim = self.dims(ins)
        b, h = grad.batch, self.heads
        saved = []
        if grad.weights:
            saved.append(Saved(numel(ins[0]) * b, input=0))
            if len(ins) > 1:
                saved.append(Saved(numel(ins[1]) * b, input=1))
        if self.multihead:
            return self.multihead_saved(ins, n, d, m, grad)
        if self.fused:
            return saved + self.fused_saved(n, m, kv_heads, head_dim, b, len(ins) == 1)
        # bmm takes kᵀ and v as views of the packed projection's output where the reshape to
        # (N·h, …) needs no copy (one sample, or one head); then that whole output is what stays alive.
        packed_views = (len(ins) == 1 and kv_heads == h and (b == 1 or h == 1))
        keys = ([Saved.new(b * n * (h + 2 * kv_heads) * head_dim)] if packed_views else
                [Saved.new(b * h * head_dim * m)])
        saved += [Saved.new(b * h * n * head_dim)] + keys + [Saved.new(b * h * n * m)]
        if self.dropout:
            cuda = grad.device == "cuda"
            saved += [Saved.new(b * h * n * m, 1 if cuda else None), Saved.new(b * h * n * m)]
        if not packed_views:
            saved.append(Saved.new(b * h * m * head_dim))
        if grad.weights:
            saved.append(Saved.new(b * n * h * head_dim))
        return saved

    def multihead_saved(self, ins, n, d, m, grad):
        """module: multihead on its math path (checked with saved_tensors_hooks on CPU):
        F.multi_head_attention_forward works on (n, N, d), so in_proj keeps the input itself at batch 1
        and a transposed copy beyond (memory too, for cross-attention); then k scaled and transposed
        (N·m·d), q scaled (N·n·d), the softmax output (N·h·n·m), with dropout its mask and output, v as a
        view of the packed k, v (and q) projection, which stays alive whole (3·N·m·d; 2·N·m·d for
        cross-attention), and out_proj's input (N·n·d). flash (sdpa_kernel(FLASH_ATTENTION) on CPU): the
        inputs as above, the packed projection q, k and v are views of (3·N·n·d; for cross-attention the
        packed k, v, 2·N·m·d, and q, N·n·d), the kernel's fp32 log-sum-exp (N·h·n) and its output, which
        out_proj reads as it is."""
        b, h = grad.batch, self.heads
        saved = []
        if grad.weights:
            saved.append(Saved(b * n * d, input=0) if b == 1 else Saved.new(b * n * d))
            if len(ins) > 1:
                saved.append(Saved(b * m * d, input=1) if b == 1 else Saved.new(b * m * d))
        if self.fused:
            saved += [Saved.new(3 * b * n * d)] if len(ins) == 1 else [Saved.new(2 * b * m * d), Saved.new(b * n * d)]
            return saved + [Saved.new(b * h * n, 4), Saved.new(b * n * d)]
        saved += [Saved.new(b * m * d), Saved.new(b * n * d), Saved.new(b * h * n * m)]
        if self.dropout:
            saved += [Saved.new(b * h * n * m, 1 if grad.device == "cuda" else None), Saved.new(b * h * n * m)]
        saved.append(Saved.new((3 if len(ins) == 1 else 2) * b * m * d))
        if grad.weights:
            saved.append(Saved.new(b * n * d))
        return saved

    def fused_saved(self, n, m, kv_heads, head_dim, b, packed):
        """flash (checked with saved_tensors_hooks under sdpa_kernel(FLASH_ATTENTION) on CPU): the kernel
        keeps q, k and v as given (views of the packed projection for self-attention, which then stays
        alive whole; grouped heads' k and v repeated first), its output (which out_proj reads as a view)
        and one fp32 log-sum-exp per query and head, b·h·n. No (h, n, m) tensor."""
        h, q, kv = self.heads, self.heads * head_dim, kv_heads * head_dim
        saved = [Saved.new(b * n * (q + 2 * kv))] if packed else [Saved.new(b * n * q)]
        if kv_heads != h:
            saved += [Saved.new(b * h * m * head_dim), Saved.new(b * h * m * head_dim)]
        elif not packed:
            saved += [Saved.new(b * m * kv), Saved.new(b * m * kv)]
        return saved + [Saved.new(b * h * n, 4), Saved.new(b * n * q)]

    def receptive_step(self, ins):
        return "global"

    def torch_counted_path(self, device):
        """module: multihead (naive): nn.MultiheadAttention takes torch's fused fast path
        (aten._native_multi_head_attention) in eval without autograd, and F.scaled_dot_product_attention
        picks a fused kernel on CPU and CUDA; FlopCounterMode has no formula for the fast path or the CPU
        kernel, so this layer runs with the fast path off and the math backend only (its torch module
        does so itself, as archcalc's own module runs the math path; verify states it)."""
        if not self.multihead or self.fused:
            return None
        return ("attention (module: multihead): nn.MultiheadAttention's fast path off "
                "(torch.backends.mha.set_fastpath_enabled(False)) and sdpa_kernel(SDPBackend.MATH), so that "
                "FlopCounterMode counts q·kᵀ and weights·v", _multihead_math_path)

    def workspace(self, ins, out, width):
        """The math path's temporaries, beside the input and the output (measured in eager PyTorch): the
        q, k, v projection (P), grouped heads' repeated k and v (R), the scores (S; with a causal mask a
        second copy) and softmax weights (W), q scaled and copied for bmm, and the heads' output with its
        reshaped copy. Worst of two moments: q·kᵀ (P + R + q + S) and the reshape before out_proj
        (P + R + S_causal + W + 2·heads' output), less the output the liveness model counts itself.
        flash: P + R + the kernel's output and its fp32 log-sum-exp (h·n); no (h, n, m) tensor.
        module: multihead on torch's math path holds the same (tests/test_memory.py: vit_b_16's inference
        peak exact; its training step's attention backward too, multihead_backward_moment); flash there is
        not measured (CUDA peaks only)."""
        n, d, m, d_kv, kv_heads, head_dim = self.dims(ins)
        q, kv, h = self.heads * head_dim, kv_heads * head_dim, self.heads
        projections = n * q + 2 * m * kv
        repeated = 2 * h * m * head_dim if kv_heads != h else 0
        if self.fused:
            # flash: P + R + the kernel's output, with its fp32 log-sum-exp (h·n) while it runs, or with
            # out_proj's output (counted by the liveness model) after
            return (projections + repeated + n * q) * width + max(4 * h * n - n * d * width, 0)
        scores = h * n * m
        at_scores = projections + repeated + n * q + scores
        at_output = projections + repeated + (scores if self.causal else 0) + scores + 2 * n * q
        return max(max(at_scores, at_output) - n * d, 0) * width

    def backward_workspace(self, ins, out, width, grad=None):
        """naive (measured with the CPU profiler): at softmax's backward two score-sized gradients are
        alive, of the weights (from weights·v's backward) and of the scores (2·h·n·m), while four
        (n, d)-sized tensors the memory model holds through the layer's backward are already freed or not
        yet made (out_proj's saved input and its output's gradient, v's copy, the input's gradient);
        grouped heads add the gradient of the repeated v. With dropout the worst moment is earlier, at
        weights·v's backward: one score-sized gradient, out_proj's saved input and its output's gradient
        freed (by the softmax's backward dropout's mask and output are freed). flash: the kernel's backward
        works in tiles, nothing score-sized. module: multihead (self-attention, no dropout, weights trained):
        the worst of its nodes' moments, multihead_backward_moment."""
        if self.fused:
            return 0
        moment = self.multihead_backward_moment(ins, width, grad)
        if moment is not None:
            return moment[0]
        n, d, m, d_kv, kv_heads, head_dim = self.dims(ins)
        h = self.heads
        if self.dropout:
            return max(h * n * m - 2 * n * d, 0) * width
        repeated = h * m * head_dim if kv_heads != h else 0
        return max(2 * h * n * m - (n * h * head_dim + h * m * head_dim + 2 * n * d) + repeated, 0) * width

    def backward_later_gradients(self, ins, out, width, grad):
        """module: multihead: in_proj's weight and bias gradients, made by its nodes at the end of the
        layer's backward, after the worst moment (multihead_backward_moment) where that moment is earlier."""
        moment = None if self.fused else self.multihead_backward_moment(ins, width, grad)
        return () if moment is None else moment[1]

    def backward_frees_output_gradient(self, ins, out, width, grad):
        """module: multihead (multihead_backward_moment): by the worst moment the output's gradient has
        gone through the transpose's and out_proj's nodes (at batch > 1 as a contiguous copy)."""
        return not self.fused and self.multihead_backward_moment(ins, width, grad) is not None

    def multihead_backward_moment(self, ins, width, grad):
        """module: multihead, self-attention without dropout, on the math path, its weights trained:
        (bytes per sample, the parameter gradients not made yet) of the worst moment of the layer's
        backward, relative to what the memory model holds there by default (every tensor the layer saved,
        all four parameter gradients, the input's gradient), or None where the rule is not measured.

        torch runs the layer as a chain of autograd nodes, each freeing what it saved as it ends
        (measured with the CPU profiler: ViT-B/16, test_multihead_attention_backward_frees_as_its_nodes_end).
        With P = N·n·d and S = N·h·n·n elements (here per sample, times `width`), W_o and W_in the out_proj
        and in_proj gradients, G_x = P when the input needs a gradient (else 0), and the output's gradient
        gone after the first nodes (backward_frees_output_gradient), the moments, above the state where
        the layer's backward starts:
        A, out_proj's addmm backward: a contiguous copy of the output's gradient (the output is the
        (n, N, d) result transposed; none at N = 1, where the view needs no copy), its input's gradient
        P and W_o; then its saved input (P) and the copy go.
        B, weights·v's bmm backward: W_o, out_proj's input gradient (P, its saved input gone), the
        weights' gradient S and v's P: W_o + S + P; then out_proj's input gradient goes, and so does the
        packed q, k, v projection (3·P), whose last view v was.
        C, the softmax's backward: the scores' gradient beside, W_o + 2·S − 3·P (then the weights and
        their gradient go).
        G, in_proj's mm backward: W_o + W_in + G_x − S − 3·P (W_in, the input's gradient and the packed
        projection's, 3·P, made; out_proj's input, the packed projection, the weights, q and k gone).
        (q·kᵀ's backward, W_o − P, and the select nodes between C and G stay below these.)
        Less the model's default, W_o + W_in + G_x: A copy + P − G_x − W_in, B S + P − G_x − W_in,
        C 2·S − 3·P − G_x − W_in, G −S − 3·P; the largest at this batch is the moment."""
        if not self.multihead or self.dropout or len(ins) > 1 or not grad.weights:
            return None
        n, d, *_ = self.dims(ins)
        b = grad.batch
        p, s = n * d * width, self.heads * n * n * width
        gx = p if grad.inputs[0] else 0
        copy = p if b > 1 else 0
        in_proj = (3 * d * d * width,) + ((3 * d * width,) if self.bias else ())
        moments = [(copy + p - gx, in_proj), (s + p - gx, in_proj), (2 * s - 3 * p - gx, in_proj), (-s - 3 * p, ())]
        return max(moments, key=lambda moment: moment[0] * b - sum(moment[1]))

    def torch_module(self, ins):
        from .torch_modules import Attention, TorchMultiheadAttention
        n, d, m, d_kv, kv_heads, head_dim = self.dims(ins)
        if self.multihead:
            return TorchMultiheadAttention(d, self.heads, self.bias, self.dropout, fused=self.fused)
        return Attention(d, self.heads, kv_heads, head_dim, self.bias, self.causal, self.dropout,
                         kdim=None if len(ins) == 1 or d_kv == d else d_kv, out_bias=self.out_bias,
                         fused=self.fused)

    def explain(self, ins, out):
        n, d, m, d_kv, kv_heads, head_dim = self.dims(ins)
        p, h = self.products(ins), self.heads
        biases = (" + " + _("biases") if self.bias and self.out_biased else " + " + _("q, k, v biases") if self.bias
                  else " + " + _("out bias") if self.out_biased else "")
        params = Step("params", _("q, k, v and out projections") + biases,
                      " + ".join(f"{t:,}" for t in self.param_tensors(ins)), self.params(ins),
                      _("as nn.MultiheadAttention") + ("; " + _("{kv_heads} key/value heads shared by {heads} query "
                                                                "heads").format(kv_heads=kv_heads, heads=h)
                                                       if kv_heads != h else ""))
        return [Step("output", "(n, d)", f"({n}, {d})", out, _("{heads} heads of d_h = {head_dim}").format(
                    heads=h, head_dim=head_dim)), params,
                Step("MACs", _("projections") + " + 2·h·n·m·d_h", f"{p['q'] + p['k'] + p['v'] + p['out']:,} + "
                     f"2·{h}·{n}·{m}·{head_dim}", self.macs(ins, out), _("q·kᵀ and weights·v, per head")),
                *self.attention_steps(ins, out),
                Step("FLOPs", "2·MACs + " + _("biases") + " + " + _("scaling") + " + 3·h·n·m (" + _("softmax") + ")"
                     + (" + h·n·m (" + _("mask") + ")" if self.causal else ""),
                     f"2·{self.macs(ins, out):,} + {self.bias_adds(ins, out)} + {n * h * head_dim} + 3·{h * n * m}"
                     + (f" + {h * n * m}" if self.causal else ""), self.flops(ins, out))]

    def attention_steps(self, ins, out):
        """The attention arithmetic beyond the counts: the core's FLOPs under the FlashAttention papers'
        rule, what the chosen kernel keeps, and where 6·N·D (training FLOPs per token) departs from the
        exact count of matrix products, forward and backward."""
        n, d, m, d_kv, kv_heads, head_dim = self.dims(ins)
        p, h = self.products(ins), self.heads
        core = 2 * (p["qk"] + p["av"])
        paper = self.paper_core(ins)
        steps = [Step("attention FLOPs", "2·2·h·n·m·d_h (" + _("q·kᵀ and weights·v") + ")", f"4·{h}·{n}·{m}·{head_dim}",
                      core, (_("under the FlashAttention papers' rule causal halves it: {paper}, backward 2.5× = "
                               "{backward}") if self.causal else
                             _("under the FlashAttention papers' rule the same, backward 2.5× = {backward}")).format(
                                 paper=f"{paper:,}", backward=f"{5 * paper // 2:,}"))]
        if self.fused:
            steps.append(Step("kept (flash)", "h·n (" + _("fp32 log-sum-exp") + ")", f"{h}·{n}", h * n,
                              _("the (h, n, m) scores are never made: the kernel keeps its output and one fp32 "
                                "statistic per query and head, and recomputes the scores in backward")))
        else:
            steps.append(Step("kept (naive)", "h·n·m (" + _("softmax weights") + ")", f"{h}·{n}·{m}", h * n * m,
                              _("the scores and the softmax weights are (h, n, m) tensors; backward keeps the "
                                "weights (and with dropout its mask and output); --attention flash keeps O(n)")))
        naive = self.configured(attention="naive")
        every = Autograd((True,) * len(ins), True)
        exact = naive.torch_flops(ins, out) + naive.torch_backward_flops(ins, out, every)
        rule = 6 * self.params(ins) * n
        steps += [Step("6·N·D", "6·params·n (" + _("the rule of thumb for training FLOPs") + ")",
                       f"6·{self.params(ins):,}·{n}", rule, _("6 per weight per token: forward 2, backward 4")),
                  Step("training FLOPs", "6·" + _("projection MACs") + " + 6·2·h·n·m·d_h",
                       f"6·{self.projection_macs(ins):,} + 12·{h}·{n}·{m}·{head_dim}", exact,
                       _("forward and backward as FlopCounterMode counts the math path; 6·N·D leaves out the "
                         "attention term 12·h·n·m·d_h = {term} ({share}% of the exact count) and counts the biases "
                         "as weights").format(term=f"{3 * core:,}", share=f"{100 * 3 * core / exact:.1f}"))]
        return steps


    # ---- decoding with a KV cache (archcalc infer) and selective checkpointing (memory --checkpoint)

    def kv_cache_heads(self, ins):
        """Causal self-attention caches one key and one value per key/value head for every token; an
        encoder's (non-causal) attention or cross-attention keeps no cache that grows with decoding."""
        n, d, m, d_kv, kv_heads, head_dim = self.dims(ins)
        if len(ins) > 1:
            raise LayerError("attention over a second input (cross-attention) is not modelled while decoding",
                             hint="archcalc infer models decoder-only models: causal self-attention")
        if not self.causal:
            raise LayerError("this attention is not causal: its tokens also attend to later ones, so "
                             "nothing computed for a prompt carries over to the next token (no KV cache)",
                             hint="archcalc infer is for decoders (causal: true); `archcalc memory` and "
                                  "`summarize` give an encoder's forward pass")
        return kv_heads, head_dim

    def weight_matrices(self, ins):
        n, d, m, d_kv, kv_heads, head_dim = self.dims(ins)
        q, kv = self.heads * head_dim, kv_heads * head_dim
        inputs = ((q + 2 * kv, d),) if len(ins) == 1 or d_kv == d else ((q, d), (kv, d_kv), (kv, d_kv))
        return inputs + ((d, q),)

    def _decode_terms(self, ins, context):
        """One query token over `context` cached keys: the projections of that one token (its q, and the
        k and v it adds to the cache), then q·kᵀ and weights·v over the context (2·h·C·d_h MACs)."""
        n, d, m, d_kv, kv_heads, head_dim = self.dims(ins)
        if n != 1 or len(ins) > 1:
            raise LayerError("a decode step is one token of self-attention", hint="analyse it at one token")
        q, kv, h = self.heads * head_dim, kv_heads * head_dim, self.heads
        projections = d * q + 2 * d * kv + q * d
        return projections, 2 * h * context * head_dim, h, head_dim, q, kv

    def decode_flops(self, ins, out, context):
        """2 per MAC, bias adds of one token, scaling h·d_h, softmax 3·h·C; no mask: the newest token may
        attend to every cached one (a causal mask over one query row masks nothing)."""
        projections, scores, h, head_dim, q, kv = self._decode_terms(ins, _whole_context(context))
        return 2 * (projections + scores) + self.bias_adds(ins, out) + h * head_dim + 3 * h * context

    def decode_torch_flops(self, ins, out, context):
        projections, scores, *_ = self._decode_terms(ins, _whole_context(context))
        return 2 * (projections + scores)

    def decode_workspace(self, ins, out, width, context):
        """workspace's two moments at one query over C keys: the token's projections (P), grouped heads'
        repeated k and v over the context (R), scores and weights (h·C each), q scaled, the heads' output
        and its reshaped copy; less the output. The cache's keys and values are counted apart."""
        projections_, scores_, h, head_dim, q, kv = self._decode_terms(ins, _whole_context(context))
        n, d, m, d_kv, kv_heads, _ = self.dims(ins)
        projections = q + 2 * kv
        repeated = 2 * h * context * head_dim if kv_heads != h else 0
        scores = h * context
        at_scores = projections + repeated + q + scores
        at_output = projections + repeated + 2 * scores + 2 * q
        return max(max(at_scores, at_output) - d, 0) * width

    def selective_recompute(self, ins, out, grad):
        """Megatron-LM's selective recomputation: the core attention (scaling, q·kᵀ, mask, softmax,
        dropout, weights·v) runs under checkpoint (torch.utils.checkpoint, non-reentrant), so the (h, n, m) scores, weights and dropout tensors
        are not kept; the core's inputs q, k and v are (views of the packed projection where it is one
        tensor), beside the projections' input and the heads' output that out_proj keeps."""
        if not grad.active:
            return None
        n, d, m, d_kv, kv_heads, head_dim = self.dims(ins)
        b, h = grad.batch, self.heads
        q, kv = h * head_dim, kv_heads * head_dim
        saved = []
        if grad.weights:
            saved += [Saved(numel(ins[0]) * b, input=0)] + ([Saved(numel(ins[1]) * b, input=1)] if len(ins) > 1 else [])
        if len(ins) == 1:
            saved.append(Saved.new(b * n * (q + 2 * kv)))
        else:
            saved += [Saved.new(b * n * q), Saved.new(b * m * kv), Saved.new(b * m * kv)]
        if grad.weights:
            saved.append(Saved.new(b * n * q))
        # recomputed: the scaling, q·kᵀ, the mask and the softmax (and dropout); not weights·v, whose
        # inputs autograd saves before it runs, so torch's early stop ends the recomputation there
        scores = h * n * m
        flops = n * q + 2 * scores * head_dim + 3 * scores + (scores if self.causal else 0)
        return saved, flops


@register
class ScaledDotProductAttention(Fusable):
    """softmax(q·kᵀ/√d)·v over three given (heads, n, d) tensors: `from: [q, k, v]`."""

    type_name = "scaled_dot_product_attention"
    example = {"input": [5, 8], "layers": [{"dense": 8}, {"reshape": {"shape": [5, 2, 4]}}, {"permute": {"name": "h", "order": [1, 0, 2]}}, {"scaled_dot_product_attention": {"from": ["h", "h", "h"], "causal": True}}]}
    aliases = ("sdpa", "dot_product_attention")
    kind = Kind.ATTENTION
    counting = counted_as(torch=torch_flops(N_("2·2·h·n·m·d: q·kᵀ and weights·v (naive: two bmm; flash: the fused "
                                            "op's registered formula on CUDA, 0 on CPU: no formula for its kernel)")),
                          flashattention=Rule(lambda l, i, o, b: l.paper_core(i) * b,
                                              N_("FlashAttention papers: 2·h·n·m·(d + d_v), halved when causal; "
                                              "backward 2.5× that")),
                          thop=Rule(ZERO.count, N_("0: no module hook reaches the products, naive or flash")),
                          ptflops=Rule(ZERO.count, N_("0: @ and F.scaled_dot_product_attention are not patched, "
                                                   "naive or flash")),
                          torchinfo=Rule(ZERO.count, N_("0: no parameters, naive or flash")),
                          torchvision=Rule(MACS.count, N_("MACs, naive or flash")),
                          fvcore=Rule(lambda l, i, o, b: 0 if l.fused else l.macs(i, o) * b,
                                                        N_("MACs: two aten::matmul (naive); flash 0: no handle for "
                                                        "aten::scaled_dot_product_attention")))
    torch_modules = ("ScaledDotProductAttention",)
    torch_functions = ("scaled_dot_product_attention",)
    min_inputs = max_inputs = 3
    options = {
        "causal": Option(boolean, default=False, aliases=("is_causal",)),
        "dropout": Option(number(minimum=0, below=1), default=0.0, aliases=("dropout_p",)),
    }

    @classmethod
    def from_torch_module(cls, m):
        return cls.non_default(causal=m.causal, dropout=m.dropout)

    @classmethod
    def from_torch_call(cls, call):
        if call.arg(3, "attn_mask") is not None or call.kwargs.get("scale") is not None:
            raise Unsupported("scaled_dot_product_attention with attn_mask or scale")
        return cls.non_default(causal=call.arg(5, "is_causal", False), dropout=call.arg(4, "dropout_p", 0.0)), (0, 1, 2)

    def shapes(self, ins):
        q, k, v = ins
        if len(q) != 3 or len(k) != 3 or len(v) != 3 or q[-1] != k[-1] or k[1] != v[1] or not q[0] == k[0] == v[0]:
            raise LayerError(_("scaled_dot_product_attention needs q (h, n, d), k (h, m, d), v (h, m, d_v); got "
                               "{q}, {k}, {v}").format(q=tuple(q), k=tuple(k), v=tuple(v)),
                             hint=_("split heads first with reshape and permute"))
        return q[0], q[1], k[1], q[2], v[2]

    def output_shape(self, ins):
        h, n, m, d, dv = self.shapes(ins)
        return (h, n, dv)

    def macs(self, ins, out):
        h, n, m, d, dv = self.shapes(ins)
        return h * n * m * d + h * n * m * dv

    def flops(self, ins, out):
        h, n, m, d, dv = self.shapes(ins)
        return 2 * self.macs(ins, out) + h * n * d + 3 * h * n * m + (h * n * m if self.causal else 0)

    def paper_core(self, ins):
        return 2 * self.macs(ins, None) // (2 if self.causal else 1)

    def torch_flops(self, ins, out):
        return 0 if self.fused and not self.counted_by_torch else 2 * self.macs(ins, out)

    def torch_backward_flops(self, ins, out, grad):
        """naive: each bmm's two operand gradients (2× the forward); flash on CUDA: the fused backward's
        5 products, 2·h·n·m·(3·d + 2·d_v); 0 on CPU."""
        if not grad.active:
            return 0
        if self.fused:
            h, n, m, d, dv = self.shapes(ins)
            return 2 * h * n * m * (3 * d + 2 * dv) if self.counted_by_torch else 0
        return self.torch_flops(ins, out) * 2

    def saved_tensors(self, ins, out, grad):
        """naive: q scaled, kᵀ, the softmax output (with dropout its mask and output), v; flash: q, k and
        v as given, the output and an fp32 log-sum-exp per query and head (h·n)."""
        if not grad.active:
            return []
        h, n, m, d, dv = self.shapes(ins)
        b = grad.batch
        if self.fused:
            return [Saved(numel(ins[i]) * b, input=i) for i in range(3)] + [Saved(numel(out) * b, output=True),
                                                                           Saved.new(b * h * n, 4)]
        saved = [Saved.new(b * h * n * d), Saved.new(b * h * d * m), Saved.new(b * h * n * m)]
        if self.dropout:
            saved += [Saved.new(b * h * n * m, 1 if grad.device == "cuda" else None), Saved.new(b * h * n * m)]
        return saved + [Saved(numel(ins[2]) * b, input=2)]

    def torch_module(self, ins):
        from .torch_modules import ScaledDotProductAttention as Module
        return Module(self.causal, self.dropout, self.fused)

    def explain(self, ins, out):
        h, n, m, d, dv = self.shapes(ins)
        return [Step("output", "(h, n, d_v)", f"({h}, {n}, {dv})", out), self.no_params_step(),
                Step("MACs", "h·n·m·d + h·n·m·d_v", f"{h}·{n}·{m}·{d} + {h}·{n}·{m}·{dv}", self.macs(ins, out)),
                Step("FLOPs", "2·MACs + " + _("scaling") + " + 3·h·n·m (" + _("softmax") + ")"
                     + (" + h·n·m (" + _("mask") + ")" if self.causal else ""),
                     f"2·{self.macs(ins, out):,} + {h * n * d} + 3·{h * n * m}" + (f" + {h * n * m}" if self.causal
                                                                                   else ""), self.flops(ins, out))]


@register
class Rotary(Layer):
    """Rotary position embedding: x·cos θ + rotate_half(x)·sin θ on (…, n, d); no parameters. archcalc counts
    3 FLOPs per element (two multiplications, one addition); the angles are not counted."""

    type_name = "rotary"
    example = {"input": [5, 8], "layers": [{"dense": 8}, {"reshape": {"shape": [5, 2, 4]}}, {"permute": {"name": "h", "order": [1, 0, 2]}}, {"rotary": {}}]}
    aliases = ("rope", "rotary_embedding")
    kind = Kind.EMBEDDING
    counting = counted_as()
    torch_modules = ("Rotary",)
    options = {"base": Option(number(minimum=1), default=10000.0, aliases=("theta",))}

    def output_shape(self, ins):
        if len(ins[0]) < 2 or ins[0][-1] % 2:
            raise LayerError(_("rotary needs (…, tokens, features) with an even number of features, got "
                               "{shape}").format(shape=tuple(ins[0])), hint=_("apply it to q and k, per head"))
        return ins[0]

    def flops(self, ins, out):
        return 3 * numel(out)

    def torch_module(self, ins):
        from .torch_modules import Rotary as Module
        return Module(self.base)

    def saved_tensors(self, ins, out, grad):
        """x·cos and half·sin each keep the angle tensor (n, d, not per sample)."""
        if not any(grad.inputs):
            return []
        n, d = ins[0][-2:]
        return [Saved.new(n * d), Saved.new(n * d)]

    def explain(self, ins, out):
        return [self.same_shape_step(out), self.no_params_step(_("no parameters: the angles are fixed")),
                Step("FLOPs", "3·elements", f"3·{dims(out)}", self.flops(ins, out),
                     _("x·cos + rotate_half(x)·sin; computing the angles is not counted"))]

