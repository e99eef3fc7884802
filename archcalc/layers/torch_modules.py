"""The torch modules of layer types torch.nn has no class for (merges, global pooling). Imported only
by layers' torch_module hooks and the torch bridges, so it may import torch at its top; export-torch
copies these classes' source into the file it writes."""
import torch
from torch import nn


class Add(nn.Module):
    def forward(self, *xs):
        out = xs[0]
        for x in xs[1:]:
            out = out + x
        return out


class Concat(nn.Module):
    def forward(self, *xs):
        return torch.cat(xs, dim=1)


class Multiply(nn.Module):
    """Element-wise product; an (N, C) input scales the channels of an (N, C, H, W) one."""

    def forward(self, *xs):
        rank = max(x.dim() for x in xs)
        out = None
        for x in xs:
            x = x.reshape(*x.shape, *([1] * (rank - x.dim())))
            out = x if out is None else out * x
        return out


class GlobalAvgPool(nn.Module):
    """(N, C, *spatial) -> (N, C): adaptive average pooling to size 1, flattened."""

    def forward(self, x):
        pool = (nn.functional.adaptive_avg_pool1d, nn.functional.adaptive_avg_pool2d,
                nn.functional.adaptive_avg_pool3d)[x.dim() - 3]
        return torch.flatten(pool(x, 1), 1)


class GlobalMaxPool(nn.Module):
    """(N, C, *spatial) -> (N, C): adaptive max pooling to size 1, flattened."""

    def forward(self, x):
        pool = (nn.functional.adaptive_max_pool1d, nn.functional.adaptive_max_pool2d,
                nn.functional.adaptive_max_pool3d)[x.dim() - 3]
        return torch.flatten(pool(x, 1), 1)


class GlobalAvgPool1d(GlobalAvgPool):
    pass


class GlobalAvgPool2d(GlobalAvgPool):
    pass


class GlobalAvgPool3d(GlobalAvgPool):
    pass


class GlobalMaxPool1d(GlobalMaxPool):
    pass


class GlobalMaxPool2d(GlobalMaxPool):
    pass


class GlobalMaxPool3d(GlobalMaxPool):
    pass


class Functional(nn.Module):
    """A layer the model writes as a call, torch.nn.functional.<name>(x, ...): no module type for the
    tools that hook modules (thop, ptflops) to see, as in the model it came from. from-torch traces
    through it, to the call."""

    traced_through = True

    def __init__(self, name, *args, **kwargs):
        super().__init__()
        self.name, self.args, self.kwargs = name, args, kwargs

    def forward(self, x):
        return getattr(nn.functional, self.name)(x, *self.args, **self.kwargs)

    def __repr__(self):
        given = [repr(self.name), *(repr(a) for a in self.args), *(f"{k}={v!r}" for k, v in self.kwargs.items())]
        return f"Functional({', '.join(given)})"


# ---- sequences and transformers (layers/embedding.py, attention.py, tensor_ops.py, norm.py)

class _Source(nn.Module):
    """repr() is the constructor call, which export-torch writes into the model's __init__."""

    def __init__(self, *args, **keywords):
        super().__init__()
        self._source_args, self._source_keywords = args, keywords

    def __repr__(self):
        words = [repr(a) for a in self._source_args] + [f"{k}={v!r}" for k, v in self._source_keywords.items()]
        return f"{type(self).__name__}({', '.join(words)})"


class PositionEmbedding(_Source):
    """A learned (length, dim) table whose first n rows are added to n tokens (GPT-2's wpe, BERT's
    position embeddings, ViT's pos_embedding)."""

    def __init__(self, length, dim, id_buffer=0, parameter=False):
        # parameter (a bare tensor, as torchvision's ViT adds) appears in export-torch's call only when given
        super().__init__(length, dim, id_buffer, *((parameter,) if parameter else ()))
        table = nn.Parameter(torch.zeros(length, dim).normal_(std=0.02))
        # named as the model names it: `weight` (an embedding module's), or pos_embedding (a bare tensor,
        # which torchinfo, counting only weights and biases, counts 0 as it does torchvision's)
        self.table_name = "pos_embedding" if parameter else "weight"
        setattr(self, self.table_name, table)
        if id_buffer:       # transformers' BERT: position_ids, not persistent but listed by buffers()
            self.register_buffer("ids", torch.arange(id_buffer), persistent=False)

    def forward(self, x):
        return x + getattr(self, self.table_name)[:x.shape[1]]


class TokenTypeEmbedding(_Source):
    """BERT's token type (segment) embeddings for a single-segment input: row 0 added to every token."""

    def __init__(self, types, dim, id_buffer=0):
        super().__init__(types, dim, id_buffer)
        self.weight = nn.Parameter(torch.zeros(types, dim).normal_(std=0.02))
        if id_buffer:       # transformers' BERT: token_type_ids
            self.register_buffer("ids", torch.zeros(id_buffer, dtype=torch.long), persistent=False)

    def forward(self, x):
        return x + self.weight[0]


class ClassToken(_Source):
    """A learned (dim,) token prepended to the sequence (ViT's class token)."""

    def __init__(self, dim):
        super().__init__(dim)
        self.class_token = nn.Parameter(torch.zeros(1, 1, dim))     # torchvision's name, not `weight`

    def forward(self, x):
        return torch.cat([self.class_token.expand(x.shape[0], -1, -1), x], dim=1)


class LayerScale(_Source):
    """A learned scale per feature (last axis) or per channel (axis 1 when channels_first)."""

    def __init__(self, dim, channels_first=False, init=1e-6):
        super().__init__(dim, channels_first, init)
        self.channels_first = channels_first
        # named `gamma`, not `weight`: torchinfo counts a leaf's `weight` and `bias` only, and torchvision's
        # ConvNeXt keeps its layer_scale on the block, where no tool counts it
        self.gamma = nn.Parameter(torch.full((dim,), float(init)))

    def forward(self, x):
        if self.channels_first:
            return x * self.gamma.view(-1, *([1] * (x.dim() - 2)))
        return x * self.gamma


class LayerNormChannelsFirst(_Source):
    """LayerNorm over the channels of an (N, C, *spatial) map, as torchvision's ConvNeXt writes it:
    move channels last, normalise, move them back."""

    def __init__(self, channels, eps=1e-6, elementwise_affine=True, bias=True):
        super().__init__(channels, eps, elementwise_affine, bias)
        # its own weight and bias and F.layer_norm, as torchvision's LayerNorm2d: no nn.LayerNorm child for
        # thop's and ptflops's module hooks to count
        self.channels, self.eps, self.elementwise_affine = channels, eps, elementwise_affine
        self.normalized_shape = (channels,)
        self.weight = nn.Parameter(torch.ones(channels)) if elementwise_affine else None
        self.bias = nn.Parameter(torch.zeros(channels)) if elementwise_affine and bias else None

    def forward(self, x):
        order = (0, *range(2, x.dim()), 1)
        back = (0, x.dim() - 1, *range(1, x.dim() - 1))
        return nn.functional.layer_norm(x.permute(*order), (self.channels,), self.weight, self.bias,
                                        self.eps).permute(*back)


class Attention(_Source):
    """Multi-head attention with nn.MultiheadAttention's parameters (packed in_proj_weight for
    self-attention; q/k/v_proj_weight when keys come from another width), grouped key/value heads, and
    the explicit math path (matmul, softmax, matmul), so FlopCounterMode counts it on every device."""

    def __init__(self, dim, heads, kv_heads, head_dim, bias=True, causal=False, dropout=0.0, kdim=None,
                 out_bias=None, fused=False):
        # out_bias (None: as bias) and fused appear in the constructor call export-torch writes only when given
        super().__init__(dim, heads, kv_heads, head_dim, bias, causal, dropout, kdim,
                         **{k: v for k, v in (("out_bias", out_bias), ("fused", fused)) if v not in (None, False)})
        self.heads, self.kv_heads, self.head_dim = heads, kv_heads, head_dim
        self.causal, self.dropout, self.fused = causal, dropout, fused
        q, kv = heads * head_dim, kv_heads * head_dim
        self.sizes = (q, kv, kv)
        self.packed = kdim is None
        if self.packed:
            self.in_proj_weight = nn.Parameter(torch.empty(q + 2 * kv, dim))
            nn.init.xavier_uniform_(self.in_proj_weight)
        else:
            self.q_proj_weight = nn.Parameter(nn.init.xavier_uniform_(torch.empty(q, dim)))
            self.k_proj_weight = nn.Parameter(nn.init.xavier_uniform_(torch.empty(kv, kdim)))
            self.v_proj_weight = nn.Parameter(nn.init.xavier_uniform_(torch.empty(kv, kdim)))
        self.in_proj_bias = nn.Parameter(torch.zeros(q + 2 * kv)) if bias else None
        self.out_proj = nn.Linear(q, dim, bias=bias if out_bias is None else out_bias)

    def forward(self, x, memory=None):
        batch, n = x.shape[:2]
        if self.packed and memory is None:
            q, k, v = nn.functional.linear(x, self.in_proj_weight, self.in_proj_bias).split(self.sizes, dim=-1)
        else:
            memory = x if memory is None else memory
            weights = (self.in_proj_weight.split(self.sizes) if self.packed else
                       (self.q_proj_weight, self.k_proj_weight, self.v_proj_weight))
            biases = self.in_proj_bias.split(self.sizes) if self.in_proj_bias is not None else (None,) * 3
            q = nn.functional.linear(x, weights[0], biases[0])
            k = nn.functional.linear(memory, weights[1], biases[1])
            v = nn.functional.linear(memory, weights[2], biases[2])
        m = k.shape[1]
        q = q.view(batch, n, self.heads, self.head_dim).transpose(1, 2)
        k = k.view(batch, m, self.kv_heads, self.head_dim).transpose(1, 2)
        v = v.view(batch, m, self.kv_heads, self.head_dim).transpose(1, 2)
        if self.kv_heads != self.heads:
            k = k.repeat_interleave(self.heads // self.kv_heads, dim=1)
            v = v.repeat_interleave(self.heads // self.kv_heads, dim=1)
        if self.fused:      # --attention flash: the backend F.scaled_dot_product_attention picks
            out = nn.functional.scaled_dot_product_attention(q, k, v, dropout_p=self.dropout if self.training else 0.0,
                                                             is_causal=self.causal)
            return self.out_proj(out.transpose(1, 2).reshape(batch, n, self.heads * self.head_dim))
        scores = (q * self.head_dim ** -0.5) @ k.transpose(-2, -1)
        if self.causal:
            scores = scores + torch.full((n, m), float("-inf"), device=x.device, dtype=x.dtype).triu(1)
        weights = nn.functional.dropout(scores.softmax(dim=-1), self.dropout, self.training)
        out = (weights @ v).transpose(1, 2).reshape(batch, n, self.heads * self.head_dim)
        return self.out_proj(out)


class TorchMultiheadAttention(_Source):
    """torch's own nn.MultiheadAttention(batch_first=True), called as torchvision's ViT calls it:
    attention(x, x, x, need_weights=False)[0], or (x, memory, memory) for cross-attention. The tools see
    the real module (ptflops' hook, its out_proj a NonDynamicallyQuantizableLinear that forward never
    calls, the ops F.multi_head_attention_forward runs); from-torch traces through this wrapper to it."""

    traced_through = True

    def __init__(self, dim, heads, bias=True, dropout=0.0, fused=False):
        super().__init__(dim, heads, bias, dropout, *((fused,) if fused else ()))
        self.fused = fused
        self.attention = nn.MultiheadAttention(dim, heads, dropout=dropout, bias=bias, batch_first=True)

    def forward(self, x, memory=None):
        memory = x if memory is None else memory
        if self.fused:      # --attention flash: the fused kernel F.scaled_dot_product_attention picks
            return self.attention(x, memory, memory, need_weights=False)[0]
        # naive: torch's math path, which FlopCounterMode counts: without the fast path (eval, no
        # autograd: aten._native_multi_head_attention) and the fused SDPA kernels torch picks by default
        from torch.nn.attention import SDPBackend, sdpa_kernel
        fast = torch.backends.mha.get_fastpath_enabled()
        torch.backends.mha.set_fastpath_enabled(False)
        try:
            with sdpa_kernel(SDPBackend.MATH):
                return self.attention(x, memory, memory, need_weights=False)[0]
        finally:
            torch.backends.mha.set_fastpath_enabled(fast)


class ScaledDotProductAttention(_Source):
    """softmax(q·kᵀ/√d)·v over given (N, heads, n, d) tensors, by the math path."""

    def __init__(self, causal=False, dropout=0.0, fused=False):
        super().__init__(causal, dropout, *((fused,) if fused else ()))
        self.causal, self.dropout, self.fused = causal, dropout, fused

    def forward(self, q, k, v):
        if self.fused:      # --attention flash
            return nn.functional.scaled_dot_product_attention(q, k, v, dropout_p=self.dropout if self.training else 0.0,
                                                              is_causal=self.causal)
        scores = (q * q.shape[-1] ** -0.5) @ k.transpose(-2, -1)
        if self.causal:
            n, m = scores.shape[-2:]
            scores = scores + torch.full((n, m), float("-inf"), device=q.device, dtype=q.dtype).triu(1)
        return nn.functional.dropout(scores.softmax(dim=-1), self.dropout, self.training) @ v


class Rotary(_Source):
    """Rotary position embedding (RoFormer) on (N, n, d) or (N, heads, n, d): x·cos + rotate_half(x)·sin."""

    def __init__(self, base=10000.0):
        super().__init__(base)
        self.base = base

    def forward(self, x):
        n, d = x.shape[-2:]
        inv = 1.0 / (self.base ** (torch.arange(0, d, 2, device=x.device, dtype=torch.float32) / d))
        angles = torch.outer(torch.arange(n, device=x.device, dtype=torch.float32), inv)
        angles = torch.cat([angles, angles], dim=-1).to(x.dtype)
        half = torch.cat([-x[..., d // 2:], x[..., :d // 2]], dim=-1)
        return x * angles.cos() + half * angles.sin()


class Reshape(_Source):
    def __init__(self, shape):
        super().__init__(shape)
        self.shape = tuple(shape)

    def forward(self, x):
        return x.reshape(x.shape[0], *self.shape)


class Permute(_Source):
    """Reorder the axes after the batch (`order` counts them from 0 without the batch)."""

    def __init__(self, order):
        super().__init__(order)
        self.order = tuple(order)

    def forward(self, x):
        return x.permute(0, *(a + 1 for a in self.order))


class FlattenAxes(_Source):
    def __init__(self, start, end):
        super().__init__(start, end)
        self.start, self.end = start, end

    def forward(self, x):
        return x.flatten(self.start + 1, self.end + 1 if self.end >= 0 else self.end)


class Select(_Source):
    """x[:, index] along one axis after the batch (ViT's class token: axis 0, index 0)."""

    def __init__(self, axis, index):
        super().__init__(axis, index)
        self.axis, self.index = axis, index

    def forward(self, x):
        return x.select(self.axis + 1, self.index)


class Slice(_Source):
    def __init__(self, axis, start, end, step=1):
        super().__init__(axis, start, end, step)
        self.axis, self.start, self.end, self.step = axis, start, end, step

    def forward(self, x):
        index = [slice(None)] * (self.axis + 1) + [slice(self.start, self.end, self.step)]
        return x[tuple(index)]


class Take(_Source):
    """One piece of a split: pieces of `sizes` along an axis after the batch, the `index`-th returned."""

    def __init__(self, axis, sizes, index):
        super().__init__(axis, sizes, index)
        self.axis, self.sizes, self.index = axis, tuple(sizes), index

    def forward(self, x):
        return x.split(self.sizes, dim=self.axis + 1)[self.index]


class ConcatAxis(_Source):
    def __init__(self, axis):
        super().__init__(axis)
        self.axis = axis

    def forward(self, *xs):
        return torch.cat(xs, dim=self.axis + 1)


class Matmul(_Source):
    def forward(self, a, b):
        return a @ b


class Mean(_Source):
    def __init__(self, axes, keepdim=False):
        super().__init__(axes, keepdim)
        self.axes, self.keepdim = tuple(axes), keepdim

    def forward(self, x):
        return x.mean(dim=tuple(a + 1 for a in self.axes), keepdim=self.keepdim)


class DropPath(_Source):
    """Stochastic depth: in training, each sample's branch is zeroed with probability `rate` (and the
    rest scaled by 1/(1 − rate)); at inference an identity."""

    def __init__(self, rate):
        super().__init__(rate)
        self.rate = rate

    def forward(self, x):
        if not self.training or self.rate == 0:
            return x
        keep = x.new_empty((x.shape[0],) + (1,) * (x.dim() - 1)).bernoulli_(1 - self.rate)
        return x * keep.div_(1 - self.rate)


class Recurrent(nn.Module):
    """An nn.RNN, nn.LSTM or nn.GRU built with batch_first=True, returning (`returns`) its output sequence
    (N, T, H·directions) as a contiguous batch-first tensor, a copy of its last step (N, H·directions), or
    the last layer's final hidden state of each direction side by side (N, H·directions), not h_n itself."""

    def __init__(self, rnn, returns="sequence"):
        super().__init__()
        self.rnn = rnn
        self.returns = returns

    def forward(self, x):
        out, state = self.rnn(x)
        if self.returns == "final":
            h_n = state[0] if isinstance(state, tuple) else state          # lstm: (h_n, c_n)
            directions = 2 if self.rnn.bidirectional else 1
            return torch.cat(list(h_n[-directions:]), dim=1)
        # torch's batch-first output is a transposed view of a (T, N, H) tensor: made contiguous like every
        # other archcalc tensor, so that what the next layer keeps does not depend on who made its input
        return out[:, -1].clone() if self.returns == "last" else out.contiguous()

    def __repr__(self):
        return f"{type(self).__name__}(nn.{self.rnn!r}, returns={self.returns!r})"


class SequenceRNN(Recurrent):
    pass


class SequenceLSTM(Recurrent):
    pass


class SequenceGRU(Recurrent):
    pass


class _Gated(nn.Module):
    """The input's feature axis (`dim`) split in halves a, b; out = a * act(b), as F.glu does with sigmoid."""

    activation = ""

    def __init__(self, dim=-1):
        super().__init__()
        self.dim = dim

    def forward(self, x):
        a, b = x.chunk(2, dim=self.dim)
        return a * getattr(nn.functional, self.activation)(b)

    def extra_repr(self):
        return f"dim={self.dim}"


class SwiGLU(_Gated):
    activation = "silu"


class GeGLU(_Gated):
    activation = "gelu"

