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

