"""Counting conventions: how each popular tool counts a model's FLOPs (or MACs), one table of
per-layer-type rules per tool, read from the tool's own source.

Layer classes expose the building blocks (multiply-accumulates, bias additions, element counts,
parameters); a convention only decides what counts. A rule takes (layer, input shapes, output
shape, batch), shapes without the batch, and returns an int. Layer types a convention does not list
count as its `default` rule says (zero for the tools: what a tool has no rule for, it skips).
"""
from dataclasses import dataclass, field

from ..errors import SpecError
from ..layers.shapes import numel


@dataclass(frozen=True)
class Rule:
    count: object       # (layer, ins, out, batch) -> int
    text: str           # what it counts, for the README and `archcalc conventions --rules`


def _in(layer, ins, out, batch):
    return numel(ins[0]) * batch


def _out(layer, ins, out, batch):
    return numel(out) * batch


def _macs(layer, ins, out, batch):
    return layer.macs(ins, out) * batch


def _macs_and_bias(layer, ins, out, batch):
    return (layer.macs(ins, out) + layer.bias_adds(ins, out)) * batch


ZERO = Rule(lambda layer, ins, out, batch: 0, "0")
MACS = Rule(_macs, "MACs")
MACS_BIAS = Rule(_macs_and_bias, "MACs + bias adds")
INPUT_ELEMENTS = Rule(_in, "input elements")


def _times(rule, factor, text):
    return Rule(lambda *args: factor * rule.count(*args), text)


def _affine(per_element, text):
    """Norm layers: `per_element` per input element, doubled when γ and β are learned."""
    return Rule(lambda l, i, o, b: per_element * _in(l, i, o, b) * (2 if l.affine else 1), text)


def _thop_softmax(layer, ins, out, batch):
    """exp, add and divide per row of C features: rows · (3C − 1)."""
    features = out[0]
    return numel(out) * batch // features * (3 * features - 1)


def _thop_adaptive_avgpool(layer, ins, out, batch):
    """thop's float arithmetic: (ΠN/O + 1) · output elements, truncated."""
    kernel = (ins[0][1] / out[1]) * (ins[0][2] / out[2])
    return int((kernel + 1) * numel(out) * batch)


def _ptflops_lrn(layer, ins, out, batch):
    """F.local_response_norm's patched calls: x.mul(x), avg_pool3d over the channel-padded map,
    .mul(alpha), .add(k)."""
    channels, height, width = ins[0]
    return (3 * numel(ins[0]) + (channels + layer.size - 1) * height * width) * batch


@dataclass(frozen=True)
class Convention:
    name: str
    tool: str           # the call whose number this reproduces
    unit: str           # what the tool calls the number
    includes: str       # one line: what counts
    rules: dict = field(default_factory=dict)     # layer type name -> Rule
    default: Rule = ZERO

    def rule(self, type_name):
        return self.rules.get(type_name, self.default)

    def count(self, layer, ins, out, batch):
        return int(self.rule(layer.type_name).count(layer, ins, out, batch))


CONVENTIONS = {c.name: c for c in (
    Convention(
        "archcalc", "archcalc summarize", "FLOPs",
        "2 per MAC, bias adds, and every layer's own arithmetic (norm, pooling, activations, merges)",
        default=Rule(lambda l, i, o, b: l.flops(i, o) * b, "its own (README table)")),
    Convention(
        "torch", "torch.utils.flop_counter.FlopCounterMode", "FLOPs",
        "2 per MAC of convolutions and matrix products; no bias, nothing else",
        rules={t: Rule(lambda l, i, o, b: l.torch_flops(i, o) * b, "2·MACs") for t in ("conv2d", "dense")}),
    Convention(
        "torchvision", "torchvision model docs, GFLOPS column", "GFLOPS (really GMACs)",
        "MACs of convolutions and linear layers; no bias, nothing else",
        rules={"conv2d": MACS, "dense": MACS}),
    Convention(
        "fvcore", "fvcore.nn.FlopCountAnalysis(model.eval(), x).total()", "flops (one per MAC)",
        "MACs of conv and linear (no bias), batch norm in eval (2 per element), adaptive average pooling",
        rules={"conv2d": MACS, "dense": MACS,
               "batchnorm": _affine(1, "2 per input element (1 without affine); 5 in training mode"),
               "adaptive_avgpool2d": INPUT_ELEMENTS, "global_avgpool2d": INPUT_ELEMENTS}),
    Convention(
        "thop", "thop.profile(model, inputs=(x,))[0]", "MACs",
        "MACs of conv and linear (no bias), batch norm 4 per element, avg pooling, softmax; "
        "ReLU, max pooling, unregistered modules 0",
        rules={"conv2d": MACS, "dense": MACS,
               "batchnorm": _affine(2, "4 per input element (2 without affine)"),
               "avgpool2d": Rule(_out, "output elements"),
               "adaptive_avgpool2d": Rule(_thop_adaptive_avgpool, "(N/O window + 1) per output element"),
               "softmax": Rule(_thop_softmax, "rows · (3C − 1)")}),
    Convention(
        "ptflops", "ptflops.get_model_complexity_info(model, shape), pytorch backend", "MACs",
        "MACs + bias of conv and linear, batch norm 2 per element, activations and pooling per element "
        "(twice where both the module hook and the patched functional fire)",
        rules={"conv2d": MACS_BIAS, "dense": MACS_BIAS,
               "batchnorm": _affine(1, "2 per input element (1 without affine)"),
               **{t: _times(INPUT_ELEMENTS, 2, "2 per element (module hook + patched functional)")
                  for t in ("relu", "elu", "gelu")},
               "leaky_relu": Rule(_in, "1 per element (module hook)"),
               "relu6": Rule(_in, "1 per element (module hook; F.hardtanh is not patched)"),
               **{t: Rule(_in, "1 per element (patched functional only)") for t in ("silu", "softmax")},
               **{t: _times(INPUT_ELEMENTS, 2, "2 per input element (module hook + functional)")
                  for t in ("maxpool2d", "avgpool2d", "adaptive_avgpool2d")},
               "global_avgpool2d": INPUT_ELEMENTS, "global_maxpool2d": INPUT_ELEMENTS,
               "lrn": Rule(_ptflops_lrn, "3 per element + the channel-padded map")}),
    Convention(
        "torchinfo", "torchinfo.summary(model, input_size).total_mult_adds", "Mult-Adds",
        "MACs + bias of conv; every other layer with weights: its parameter count per sample",
        rules={"conv2d": MACS_BIAS, "dense": MACS_BIAS},
        default=Rule(lambda l, i, o, b: l.params(i) * b, "its parameter count (0 without weights)")),
)}


def get(name):
    try:
        return CONVENTIONS[name]
    except KeyError:
        raise SpecError(f"unknown counting convention '{name}'",
                        hint=f"choose one of {', '.join(CONVENTIONS)}") from None
