"""Attention: multi-head self- and cross-attention (grouped key/value heads), scaled dot-product
attention over given q, k, v, and rotary position embedding.

Convention (archcalc's FLOPs): per head, q·kᵀ is 2·n·m·d_h and weights·v is 2·n·m·d_h (n queries, m keys);
the projections are dense layers (2 per MAC plus bias adds); the 1/√d_h scaling is n·d_h per head, the
softmax 3 per score (exp, sum, divide), a causal mask 1 per score. FlopCounterMode counts only the four
matrix products (no bias, scaling, mask or softmax); it counts q·kᵀ and weights·v where torch runs them as
bmm (the math path, the meta device), but nothing on CPU where F.scaled_dot_product_attention takes a
fused kernel — archcalc's torch module takes the math path, so verify counts them on CPU as on meta.
"""
from ..errors import LayerError, Unsupported
from .shapes import numel
from .counting import MACS, Rule, counted_as, torch_flops
from .registry import register
from .base import Kind, Layer, Option, Saved, Step, boolean, dims, integer, number


def _sequence(layer, shape, what="input"):
    if len(shape) != 2:
        raise LayerError(f"{layer.type_name} needs a (tokens, features) sequence as its {what}, got {tuple(shape)}",
                         hint="turn a map into tokens first: flatten: {start: 1} then permute: [1, 0]")
    return shape


def _out_proj(layer, ins, out, batch):
    """The out_proj nn.Linear child, which is all these tools see of the module."""
    n, q = out[0], layer.q_width(ins)
    return n * (q * out[1] + (out[1] if layer.out_biased else 0)) * batch


@register
class MultiHeadAttention(Layer):
    """Self-attention on one (n, d) input, or cross-attention from it to a second (m, d_kv) input
    (`from: [x, memory]`). Parameters as nn.MultiheadAttention: in_proj (q, k, v) and out_proj, with
    `kv_heads` < `heads` for grouped-query (1 = multi-query) attention."""

    type_name = "attention"
    example = {"input": [5, 8], "before": [{"dense": 8}], "options": {"heads": 2, "causal": True}}
    aliases = ("multihead_attention", "multiheadattention", "mha", "self_attention", "cross_attention")
    kind = Kind.ATTENTION
    counting = counted_as(
        torch=torch_flops("2·(projection MACs + 2·h·n·m·d_h): q·kᵀ and weights·v as bmm, no softmax or scaling"),
        torchvision=MACS, fvcore=Rule(MACS.count, "MACs: aten::linear for the projections, aten::matmul for "
                                                  "q·kᵀ and weights·v"),
        thop=Rule(lambda l, i, o, b: l.q_width(i) * o[1] * o[0] * b, "out_proj's MACs only: the nn.Linear child "
                                                                     "(no hook for the rest)"),
        ptflops=Rule(_out_proj, "out_proj's MACs + bias: its nn.Linear child (F.linear and @ are not patched)"),
        torchinfo=Rule(lambda l, i, o, b: (l.q_width(i) * o[1] + (o[1] if l.out_biased else 0)) * b,
                       "out_proj's parameters, once per sample: its only leaf child (weight·batch)"))
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
        return {"heads": m.num_heads, **cls.non_default(bias=m.in_proj_bias is not None, dropout=m.dropout)}

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

    def dims(self, ins):
        n, d = _sequence(self, ins[0])
        m, d_kv = _sequence(self, ins[1], "memory") if len(ins) > 1 else (n, d)
        kv_heads = self.kv_heads or self.heads
        if self.head_dim is None and d % self.heads:
            raise LayerError(f"attention: {d} features do not split into {self.heads} heads",
                             hint=f"choose heads dividing {d}, or give head_dim")
        if self.heads % kv_heads:
            raise LayerError(f"attention: {self.heads} heads do not share {kv_heads} key/value heads evenly",
                             hint="kv_heads must divide heads (1 = multi-query)")
        head_dim = self.head_dim or d // self.heads
        return n, d, m, d_kv, kv_heads, head_dim

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
        return 2 * self.macs(ins, out)

    def torch_backward_flops(self, ins, out, grad):
        """Each product's backward computes the gradient of each operand that needs one (2·MACs each)."""
        if not grad.active:
            return 0
        p, w = self.products(ins), int(grad.weights)
        x_grad = int(grad.inputs[0])
        mem_grad = int(grad.inputs[1]) if len(ins) > 1 else x_grad
        q_needs = bool(w or x_grad)
        kv_needs = bool(w or mem_grad)
        total = 2 * p["q"] * (w + x_grad) + 2 * (p["k"] + p["v"]) * (w + mem_grad)
        total += 2 * p["qk"] * (int(q_needs) + int(kv_needs)) + 2 * p["av"] * (1 + int(kv_needs))
        return total + 2 * p["out"] * (w + 1)

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

    def receptive_step(self, ins):
        return "global"

    def workspace(self, ins, out, width):
        """The math path's temporaries, beside the input and the output (measured in eager PyTorch): the
        q, k, v projection (P), grouped heads' repeated k and v (R), the scores (S; with a causal mask a
        second copy) and softmax weights (W), q scaled and copied for bmm, and the heads' output with its
        reshaped copy. Worst of two moments: q·kᵀ (P + R + q + S) and the reshape before out_proj
        (P + R + S_causal + W + 2·heads' output), less the output the liveness model counts itself."""
        n, d, m, d_kv, kv_heads, head_dim = self.dims(ins)
        q, kv, h = self.heads * head_dim, kv_heads * head_dim, self.heads
        projections = n * q + 2 * m * kv
        repeated = 2 * h * m * head_dim if kv_heads != h else 0
        scores = h * n * m
        at_scores = projections + repeated + n * q + scores
        at_output = projections + repeated + (scores if self.causal else 0) + scores + 2 * n * q
        return max(max(at_scores, at_output) - n * d, 0) * width

    def torch_module(self, ins):
        from .torch_modules import Attention
        n, d, m, d_kv, kv_heads, head_dim = self.dims(ins)
        return Attention(d, self.heads, kv_heads, head_dim, self.bias, self.causal, self.dropout,
                         kdim=None if len(ins) == 1 or d_kv == d else d_kv, out_bias=self.out_bias)

    def explain(self, ins, out):
        n, d, m, d_kv, kv_heads, head_dim = self.dims(ins)
        p, h = self.products(ins), self.heads
        biases = (" + biases" if self.bias and self.out_biased else " + q, k, v biases" if self.bias
                  else " + out bias" if self.out_biased else "")
        params = Step("params", "q, k, v and out projections" + biases,
                      " + ".join(f"{t:,}" for t in self.param_tensors(ins)), self.params(ins),
                      "as nn.MultiheadAttention" + (f"; {kv_heads} key/value heads shared by {h} query heads"
                                                     if kv_heads != h else ""))
        return [Step("output", "(n, d)", f"({n}, {d})", out, f"{h} heads of d_h = {head_dim}"), params,
                Step("MACs", "projections + 2·h·n·m·d_h", f"{p['q'] + p['k'] + p['v'] + p['out']:,} + 2·{h}·{n}·{m}·"
                     f"{head_dim}", self.macs(ins, out), "q·kᵀ and weights·v, per head"),
                Step("FLOPs", "2·MACs + biases + scaling + 3·h·n·m (softmax)" + (" + h·n·m (mask)" if self.causal
                                                                                 else ""),
                     f"2·{self.macs(ins, out):,} + {self.bias_adds(ins, out)} + {n * h * head_dim} + 3·{h * n * m}"
                     + (f" + {h * n * m}" if self.causal else ""), self.flops(ins, out))]


@register
class ScaledDotProductAttention(Layer):
    """softmax(q·kᵀ/√d)·v over three given (heads, n, d) tensors: `from: [q, k, v]`."""

    type_name = "scaled_dot_product_attention"
    example = {"input": [5, 8], "layers": [{"dense": 8}, {"reshape": {"shape": [5, 2, 4]}}, {"permute": {"name": "h", "order": [1, 0, 2]}}, {"scaled_dot_product_attention": {"from": ["h", "h", "h"], "causal": True}}]}
    aliases = ("sdpa", "dot_product_attention")
    kind = Kind.ATTENTION
    counting = counted_as(torch=torch_flops("2·2·h·n·m·d: q·kᵀ and weights·v (what its flop formula registers)"),
                          torchvision=MACS, fvcore=Rule(MACS.count, "MACs: two aten::matmul"))
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
        if len(q) != 3 or len(k) != 3 or len(v) != 3 or q[-1] != k[-1] or k[1] != v[1] or q[0] != k[0] != v[0]:
            raise LayerError(f"scaled_dot_product_attention needs q (h, n, d), k (h, m, d), v (h, m, d_v); got "
                             f"{tuple(q)}, {tuple(k)}, {tuple(v)}", hint="split heads first with reshape and permute")
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

    def torch_backward_flops(self, ins, out, grad):
        return self.torch_flops(ins, out) * 2 if grad.active else 0

    def saved_tensors(self, ins, out, grad):
        if not grad.active:
            return []
        h, n, m, d, dv = self.shapes(ins)
        b = grad.batch
        saved = [Saved.new(b * h * n * d), Saved.new(b * h * d * m), Saved.new(b * h * n * m)]
        if self.dropout:
            saved += [Saved.new(b * h * n * m, 1 if grad.device == "cuda" else None), Saved.new(b * h * n * m)]
        return saved + [Saved(numel(ins[2]) * b, input=2)]

    def torch_module(self, ins):
        from .torch_modules import ScaledDotProductAttention as Module
        return Module(self.causal, self.dropout)

    def explain(self, ins, out):
        h, n, m, d, dv = self.shapes(ins)
        return [Step("output", "(h, n, d_v)", f"({h}, {n}, {dv})", out), self.no_params_step(),
                Step("MACs", "h·n·m·d + h·n·m·d_v", f"{h}·{n}·{m}·{d} + {h}·{n}·{m}·{dv}", self.macs(ins, out)),
                Step("FLOPs", "2·MACs + scaling + 3·h·n·m (softmax)" + (" + h·n·m (mask)" if self.causal else ""),
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
            raise LayerError(f"rotary needs (…, tokens, features) with an even number of features, got {tuple(ins[0])}",
                             hint="apply it to q and k, per head")
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
        return [self.same_shape_step(out), self.no_params_step("no parameters: the angles are fixed"),
                Step("FLOPs", "3·elements", f"3·{dims(out)}", self.flops(ins, out),
                     "x·cos + rotate_half(x)·sin; computing the angles is not counted")]
