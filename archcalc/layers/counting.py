"""Counting rules: the vocabulary a layer class uses to say how each tool counts it.

Every layer class carries `counting`, a dict from each name in TOOLS to a Rule: how that tool's
FLOPs (or MACs) for the layer are computed, and a text saying so. The registry refuses a class that
leaves a tool out, so a new type can never count zero by accident. A rule takes (layer, input shapes,
output shape, batch), shapes without the batch, and returns an int.
"""
from dataclasses import dataclass

from ..i18n import N_
from .shapes import numel

# archcalc's own convention, then the tools whose numbers it reproduces (metadata: analysis.conventions).
TOOLS = ("archcalc", "torch", "torchvision", "fvcore", "thop", "ptflops", "torchinfo", "flashattention")


@dataclass(frozen=True)
class Rule:
    count: object       # (layer, ins, out, batch) -> int
    text: str           # what it counts, for the docs and `archcalc conventions`


def _in(layer, ins, out, batch):
    return numel(ins[0]) * batch


def _out(layer, ins, out, batch):
    return numel(out) * batch


ZERO = Rule(lambda layer, ins, out, batch: 0, "0")
MACS = Rule(lambda layer, ins, out, batch: layer.macs(ins, out) * batch, "MACs")
MACS_BIAS = Rule(lambda layer, ins, out, batch: (layer.macs(ins, out) + layer.bias_adds(ins, out)) * batch,
                 N_("MACs + bias adds"))
INPUT_ELEMENTS = Rule(_in, N_("input elements"))
OUTPUT_ELEMENTS = Rule(_out, N_("output elements"))
OWN_FLOPS = Rule(lambda layer, ins, out, batch: layer.flops(ins, out) * batch, N_("its own (README table)"))


def torch_flops(text):
    """FlopCounterMode's count, from the layer's torch_flops hook; `text` states it for this type."""
    return Rule(lambda layer, ins, out, batch: layer.torch_flops(ins, out) * batch, text)

PARAMS = Rule(lambda layer, ins, out, batch: layer.params(ins) * batch, N_("its parameter count (0 without weights)"))


def times(rule, factor, text):
    return Rule(lambda *args: factor * rule.count(*args), text)


def counted_as(**rules):
    """A full `counting` table: archcalc's own FLOPs and torch's FlopCounterMode from the layer's hooks,
    torchinfo's parameter count, and zero for the other tools unless given; the FlashAttention papers'
    convention (flashattention) counts what is not attention as torch does. Calling it is the explicit
    statement that the tools not named count the layer as 0."""
    table = {"archcalc": OWN_FLOPS, "torch": torch_flops("0"), "torchvision": ZERO, "fvcore": ZERO, "thop": ZERO,
             "ptflops": ZERO, "torchinfo": PARAMS}
    unknown = set(rules) - set(TOOLS)
    if unknown:
        raise TypeError(f"unknown counting tools {sorted(unknown)}; known: {', '.join(TOOLS)}")
    table.update(rules)
    if "flashattention" not in rules:     # the FlashAttention papers speak of attention only: the rest as torch
        table["flashattention"] = Rule(table["torch"].count, f"as torch: {table['torch'].text}")
    return table


# The rule of the weight layers (convolution, linear), shared by their families.
WEIGHTED = counted_as(torch=torch_flops("2·MACs"), torchvision=MACS, fvcore=MACS, thop=MACS, ptflops=MACS_BIAS, torchinfo=MACS_BIAS)
