"""Counting conventions: which tool each convention reproduces and what it calls its number.

The per-layer rules live on the layer classes (`counting`, built from archcalc.layers.counting); a
convention here only names the tool and delegates to the layer's rule.
"""
from dataclasses import dataclass

from ..errors import SpecError
from ..i18n import N_, _
from ..layers.counting import TOOLS


@dataclass(frozen=True)
class Convention:
    name: str
    tool: str           # the call whose number this reproduces
    unit: str           # what the tool calls the number
    includes: str       # one line: what counts
    traced: bool = False    # the tool counts a traced graph, so a branch whose output nothing reads (an
                            # auxiliary head) is dead code and counts 0

    def rule(self, layer_class):
        return layer_class.counting[self.name]

    def count(self, layer, ins, out, batch):
        return int(layer.counting[self.name].count(layer, ins, out, batch))


CONVENTIONS = {c.name: c for c in (
    Convention("archcalc", "archcalc summarize", "FLOPs",
               N_("2 per MAC, bias adds, and every layer's own arithmetic (norm, pooling, activations, merges)")),
    Convention("torch", "torch.utils.flop_counter.FlopCounterMode", "FLOPs",
               N_("2 per MAC of convolutions and matrix products; no bias, nothing else")),
    Convention("torchvision", N_("torchvision model docs, GFLOPS column"), N_("GFLOPS (really GMACs)"),
               N_("MACs of convolutions and linear layers; no bias, nothing else")),
    Convention("fvcore", "fvcore.nn.FlopCountAnalysis(model.eval(), x).total()", N_("flops (one per MAC)"),
               N_("MACs of conv and linear (no bias), batch norm in eval (2 per element), adaptive average pooling; "
               "a branch whose output is unused (traced away) 0"), traced=True),
    Convention("thop", "thop.profile(model, inputs=(x,))[0]", "MACs",
               N_("MACs of conv and linear (no bias), batch norm 4 per element, avg pooling, softmax; "
               "ReLU, max pooling, unregistered modules 0")),
    Convention("ptflops", N_("ptflops.get_model_complexity_info(model, shape), pytorch backend"), "MACs",
               N_("MACs + bias of conv and linear, batch norm 2 per element, activations and pooling per element "
               "(twice where both the module hook and the patched functional fire)")),
    Convention("torchinfo", "torchinfo.summary(model, input_size).total_mult_adds", "Mult-Adds",
               N_("MACs + bias of conv; every other layer with weights: its parameter count per sample")),
    Convention("flashattention", N_("FlashAttention papers (Dao et al. 2022, 2023), benchmark_flash_attention.py "
                  "flops()"), "FLOPs",
               N_("attention's q·kᵀ and weights·v as 4·n·m·h·d_h, halved when causal (no softmax, scaling or mask; "
               "their backward is 2.5× that); every other layer as torch counts it")),
)}
assert tuple(CONVENTIONS) == TOOLS, "analysis.conventions and layers.counting.TOOLS list the same tools"


def get(name):
    try:
        return CONVENTIONS[name]
    except KeyError:
        raise SpecError(_("unknown counting convention '{name}'").format(name=name),
                        hint=_("choose one of {names}").format(names=', '.join(CONVENTIONS))) from None
