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


