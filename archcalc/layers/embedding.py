"""Token embeddings and the other learned tensors a transformer adds to its sequence: position and
token-type tables, the class token, layer scale. Shapes: token ids are (tokens,); sequences are
(tokens, features); layer scale also scales (channels, *spatial) maps per channel."""
from ..errors import LayerError, Unsupported
from ..i18n import N_, _
from .shapes import numel
from .counting import PARAMS, ZERO, Rule, counted_as, either
from .registry import register
from .base import Kind, Layer, Option, Saved, Step, boolean, dims, integer, keep_input, number

_THOP_NONE = Rule(ZERO.count, N_("0: thop has no hook for it"))


def _sequence(layer, ins):
    if len(ins[0]) != 2:
        raise LayerError(_("{type} needs a (tokens, features) sequence, got shape {shape}").format(
                             type=layer.type_name, shape=tuple(ins[0])),
                         hint=_("start with an embedding, or turn a map into tokens: {fix}").format(
                             fix="flatten: {start: 1} then permute: [1, 0]"))
    return ins[0]


@register
class Embedding(Layer):
    """A lookup table: each token id (an integer input) picks one row of a (vocabulary, dimension) weight."""

    type_name = "embedding"
    example = {"input": {"shape": [6], "dtype": "int64"}, "options": {"vocabulary": 20, "dimension": 8}}
    aliases = ("nn_embedding",)
    kind = Kind.EMBEDDING
    counting = counted_as(
        ptflops=Rule(ZERO.count, "0: no hook for nn.Embedding"),
        torchinfo=Rule(lambda l, i, o, b: l.params(i) * b, N_("vocabulary·dimension (its weight, once per sample)")))
    torch_modules = ("Embedding",)
    torch_functions = ("embedding",)
    primary = "dimension"
    options = {
        "vocabulary": Option(integer(1), required=True, aliases=("num_embeddings", "input_dim", "vocab_size"),
                             doc="number of token ids"),
        "dimension": Option(integer(1), required=True, aliases=("embedding_dim", "output_dim", "dim"),
                            doc="features per token"),
        "padding_idx": Option(integer(0), default=None, doc="the id whose row gets no gradient (still a parameter)"),
    }

    @classmethod
    def from_torch_module(cls, m):
        if m.max_norm is not None or m.sparse:
            raise Unsupported("nn.Embedding with max_norm or sparse gradients")
        return {"vocabulary": m.num_embeddings, "dimension": m.embedding_dim,
                **cls.non_default(padding_idx=m.padding_idx)}

    def output_shape(self, ins):
        if len(ins[0]) != 1:
            raise LayerError(_("embedding takes token ids of shape (tokens,), got {shape}").format(shape=tuple(ins[0])),
                             hint=_("write {fix}").format(fix="input: {shape: [128], dtype: int64}"))
        if self.padding_idx is not None and self.padding_idx >= self.vocabulary:
            raise LayerError(_("padding_idx {index} is not below the vocabulary {vocabulary}").format(
                index=self.padding_idx, vocabulary=self.vocabulary),
                hint=_("use an id from 0 to {last}").format(last=self.vocabulary - 1))
        return (ins[0][0], self.dimension)

    def weight_shape(self, ins):
        """Its weight as torch holds it, (vocabulary, dimension): what a tied dense must match."""
        return (self.vocabulary, self.dimension)

    def param_tensors(self, ins):
        return (self.vocabulary * self.dimension,)

    def torch_module(self, ins):
        from torch import nn
        return nn.Embedding(self.vocabulary, self.dimension, padding_idx=self.padding_idx)

    def saved_tensors(self, ins, out, grad):
        """embedding_backward needs only the ids (int64, 8 bytes each) to scatter the rows' gradients."""
        return [Saved(numel(ins[0]) * grad.batch, 8, input=0)] if grad.weights else []

    def explain(self, ins, out):
        return [Step("output", "(tokens, d)", f"({ins[0][0]}, {self.dimension})", out, _("one row per token id")),
                Step("params", "V·d", f"{self.vocabulary}·{self.dimension}", self.params(ins),
                     _("one learned row per id") + ("; " + _("the padding row is a parameter too")
                                                    if self.padding_idx is not None else "")),
                Step("FLOPs", "", "", 0, _("a lookup copies rows, it computes nothing"))]


class _Table(Layer):
    """A learned (rows, features) table added to a sequence."""

    kind = Kind.EMBEDDING
    counting = counted_as(thop=_THOP_NONE)

    def rows(self, ins):
        raise NotImplementedError

    def output_shape(self, ins):
        return _sequence(self, ins)

    def param_tensors(self, ins):
        return (self.rows(ins) * _sequence(self, ins)[1],)

    def buffer_tensors(self, ins):
        """transformers' BERT keeps its position (and token type) ids as an int64 buffer of `id_buffer` ids."""
        return ((self.id_buffer, 8),) if self.id_buffer else ()

    def flops(self, ins, out):
        """One addition per element."""
        return numel(out)

    def explain(self, ins, out):
        tokens, features = _sequence(self, ins)
        return [self.same_shape_step(out, _("the sequence's shape: a row added to each token")),
                Step("params", "rows·d", f"{self.rows(ins)}·{features}", self.params(ins)),
                Step("FLOPs", "tokens·d", f"{tokens}·{features}", self.flops(ins, out), _("one addition per element"))]


@register
class PositionEmbedding(_Table):
    """Learned absolute positions: a (length, d) table whose first `tokens` rows are added (GPT-2's wpe,
    BERT's position embeddings, ViT's pos_embedding with length = 197)."""

    type_name = "position_embedding"
    example = {"input": [5, 8], "before": [{"dense": 8}], "options": {"length": 10}}
    aliases = ("positional_embedding", "pos_embedding", "learned_positions")
    counting = counted_as(thop=_THOP_NONE, torchinfo=either(
        lambda l: l.parameter, PARAMS,
        Rule(ZERO.count, N_("0: a bare tensor (torchvision's ViT: Encoder.pos_embedding, no leaf; torchinfo counts "
                            "only weights and biases of leaf modules)")), N_("; parameter: true, ")))
    torch_modules = ("PositionEmbedding",)
    options = {
        "length": Option(integer(1), default=None, aliases=("max_len", "max_positions", "n_positions"),
                         doc="rows of the table (default: the sequence length)"),
        "id_buffer": Option(integer(0), default=0, doc="int64 position ids kept as a buffer (BERT: 512)"),
        "parameter": Option(boolean, default=False,
                            doc="the model adds a bare learned tensor (x + self.pos_embedding, torchvision's "
                                "ViT), not a module of its own (GPT-2's wpe): torchinfo counts it 0"),
    }

    @classmethod
    def from_torch_module(cls, m):
        table = getattr(m, m.table_name)
        return {"length": table.shape[0], **_id_buffer(cls, m),
                **cls.non_default(parameter=m.table_name != "weight")}

    torch_parameter_ops = ("add", "add_", "iadd")     # x + self.pos_embedding (torchvision's ViT)

    @classmethod
    def from_torch_parameter(cls, call, shape, index):
        """x + P, P a learned (1, length, d) tensor as large as the sequence."""
        tokens = call.output_shape
        if len(shape) != 3 or shape[0] != 1 or tuple(shape) != tuple(tokens):
            raise Unsupported(f"a learned tensor of shape {tuple(shape)} added to a {tuple(tokens)} sequence")
        return {**({"length": shape[1]} if shape[1] != tokens[1] else {}), "parameter": True}

    def rows(self, ins):
        tokens = _sequence(self, ins)[0]
        length = self.length or tokens
        if length < tokens:
            raise LayerError(_("position_embedding has {length} positions, fewer than the {tokens} tokens").format(
                length=length, tokens=tokens),
                hint=_("raise length to at least {tokens}, or shorten the input").format(tokens=tokens))
        return length

    def torch_module(self, ins):
        from .torch_modules import PositionEmbedding as Module
        return Module(self.rows(ins), _sequence(self, ins)[1], self.id_buffer, self.parameter)


@register
class TokenTypeEmbedding(_Table):
    """BERT's token type (segment) table, for a single-segment input: row 0 added to every token."""

    type_name = "token_type_embedding"
    example = {"input": [5, 8], "before": [{"dense": 8}]}
    aliases = ("segment_embedding",)
    torch_modules = ("TokenTypeEmbedding",)
    options = {
        "types": Option(integer(1), default=2, aliases=("type_vocab_size", "segments"), doc="rows of the table"),
        "id_buffer": Option(integer(0), default=0, doc="int64 token type ids kept as a buffer (BERT: 512)"),
    }

    @classmethod
    def from_torch_module(cls, m):
        return {"types": m.weight.shape[0], **_id_buffer(cls, m)}

    def rows(self, ins):
        return self.types

    def torch_module(self, ins):
        from .torch_modules import TokenTypeEmbedding as Module
        return Module(self.types, _sequence(self, ins)[1], self.id_buffer)


def _id_buffer(cls, m):
    ids = getattr(m, "ids", None)
    return cls.non_default(id_buffer=ids.numel() if ids is not None else 0)


@register
class ClassToken(Layer):
    """A learned (d,) token prepended to the sequence: (tokens, d) -> (tokens + 1, d), as ViT's class token."""

    type_name = "class_token"
    example = {"input": [5, 8], "before": [{"dense": 8}]}
    aliases = ("cls_token",)
    kind = Kind.EMBEDDING
    counting = counted_as(thop=_THOP_NONE, torchinfo=Rule(ZERO.count, N_("0: its learned tensor is not named weight "
                                                                        "or bias (torchinfo counts only those); "
                                                                        "torchvision's ViT holds it on the model, "
                                                                        "no leaf")))
    torch_modules = ("ClassToken",)

    @classmethod
    def from_torch_module(cls, m):
        return {}

    torch_parameter_ops = ("cat",)     # torch.cat([self.class_token.expand(n, -1, -1), x], dim=1)

    @classmethod
    def from_torch_parameter(cls, call, shape, index):
        if index != 0 or len(shape) != 3 or tuple(shape[:2]) != (1, 1) or call.arg(1, "dim", 0) not in (1, -2):
            raise Unsupported(f"a learned tensor of shape {tuple(shape)} joined to a sequence other than as "
                              "its first token")
        return {}

    def output_shape(self, ins):
        tokens, features = _sequence(self, ins)
        return (tokens + 1, features)

    def param_tensors(self, ins):
        return (_sequence(self, ins)[1],)

    def torch_module(self, ins):
        from .torch_modules import ClassToken as Module
        return Module(_sequence(self, ins)[1])

    def explain(self, ins, out):
        tokens, features = _sequence(self, ins)
        return [Step("output", "(tokens + 1, d)", f"({tokens} + 1, {features})", out,
                     _("the class token comes first")),
                Step("params", "d", str(features), self.params(ins), _("one learned token")),
                Step("FLOPs", "", "", 0, _("concatenation copies, it computes nothing"))]


@register
class LayerScale(Layer):
    """A learned scale per feature (the last axis of a sequence) or, with `channels_first`, per channel of a
    (C, *spatial) map (ConvNeXt, CaiT)."""

    type_name = "layer_scale"
    example = {"input": [5, 8], "before": [{"dense": 8}]}
    aliases = ("layerscale",)
    kind = Kind.OTHER
    counting = counted_as(thop=_THOP_NONE, torchinfo=Rule(ZERO.count, "0: its learned tensor is not named weight or "
                                                                     "bias (torchinfo counts only those)"))
    torch_modules = ("LayerScale",)
    options = {
        "channels_first": Option(boolean, default=False, doc="scale axis 0 (channels) of a map, not the last axis"),
        "init": Option(number(), default=1e-6, doc="initial value (does not change any count)"),
    }

    @classmethod
    def from_torch_module(cls, m):
        return cls.non_default(channels_first=m.channels_first)

    torch_parameter_ops = ("mul", "mul_", "imul")     # self.layer_scale * x (torchvision's ConvNeXt: (C, 1, 1))

    @classmethod
    def from_torch_parameter(cls, call, shape, index):
        x = call.output_shape
        if len(shape) == 1 and shape[0] == x[-1]:
            return {}
        if len(shape) == len(x) - 1 and shape[0] == x[1] and set(shape[1:]) == {1}:
            return {"channels_first": True}
        raise Unsupported(f"a learned tensor of shape {tuple(shape)} multiplying a {tuple(x)} tensor")

    def scaled(self, ins):
        return ins[0][0] if self.channels_first else ins[0][-1]

    def param_tensors(self, ins):
        return (self.scaled(ins),)

    def output_order(self, ins, out, width, grad):
        """γ · x is element-wise (a TensorIterator op): the output, and the input's gradient (γ times the
        output's), keep the layout of the tensor they are computed from."""
        return grad.order(0)

    def input_grad_orders(self, ins, out, width, grad):
        return (grad.grad_order,)

    def flops(self, ins, out):
        return numel(out)

    def torch_module(self, ins):
        from .torch_modules import LayerScale as Module
        return Module(self.scaled(ins), self.channels_first, self.init)

    def saved_tensors(self, ins, out, grad):
        """x·γ keeps x for γ's gradient (γ itself is a parameter, never counted)."""
        return [keep_input(ins, grad)] if grad.weights else []

    def torch_backward_flops(self, ins, out, grad):
        return 0

    def explain(self, ins, out):
        return [self.same_shape_step(out),
                Step("params", "C" if self.channels_first else "d", str(self.scaled(ins)), self.params(ins)),
                Step("FLOPs", "elements", dims(out), self.flops(ins, out), _("one multiplication per element"))]

