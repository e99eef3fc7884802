"""The spec as a real torch.nn.Module: one module per spec layer, same names, same graph.

Only this module (and verify) imports torch. Block instances become nested modules, so a
ResNet spec's state_dict keys read like torchvision's (`layer1.0.conv1.weight`).
"""
import torch
from torch import nn

from .spec import INPUT, load_spec


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


class GlobalAvgPool2d(nn.Module):
    def forward(self, x):
        return torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1)


class GlobalMaxPool2d(nn.Module):
    def forward(self, x):
        return torch.flatten(nn.functional.adaptive_max_pool2d(x, 1), 1)


class SpecModel(nn.Module):
    """Runs the spec's nodes in order, freeing each intermediate after its last use."""

    def __init__(self, graph):
        super().__init__()
        self.spec_name = graph.name
        shapes = {INPUT: graph.input_shape}
        self.plan = []
        last_use = {}
        for index, node in enumerate(graph.nodes):
            for ref in node.inputs:
                last_use[ref] = index
        for index, node in enumerate(graph.nodes):
            ins = [shapes[ref] for ref in node.inputs]
            module = node.layer.torch_module(ins)
            if not node.trainable:
                module.requires_grad_(False)
            self._register(node.name, module)
            shapes[node.name] = node.layer.output_shape(ins)
            done = tuple(ref for ref in set(node.inputs) if last_use[ref] == index)
            self.plan.append((node.name, tuple(node.inputs), done))
        self.output_name = graph.output

    def _register(self, name, module):
        parent = self
        *path, leaf = name.split(".")
        for part in path:
            if not hasattr(parent, part):
                parent.add_module(part, nn.Module())
            parent = getattr(parent, part)
        parent.add_module(leaf, module)

    def forward(self, x):
        values = {INPUT: x}
        for name, inputs, done in self.plan:
            values[name] = self.get_submodule(name)(*[values[ref] for ref in inputs])
            for ref in done:
                if ref != self.output_name:
                    del values[ref]
        return values[self.output_name]


def to_torch(spec, *, input_shape=None):
    """A spec (path, zoo name, dict or Graph) -> SpecModel, with freshly initialised weights."""
    graph = spec if hasattr(spec, "nodes") else load_spec(spec, input_shape=input_shape)
    return SpecModel(graph)
