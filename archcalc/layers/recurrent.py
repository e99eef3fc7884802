"""Recurrent layers: rnn (tanh or relu), lstm (with an optional projection) and gru, stacked and
bidirectional, on (tokens, features) sequences, as torch.nn.RNN / LSTM / GRU with batch_first=True.

Per time step and direction a layer with gates G (1 rnn, 4 lstm, 3 gru), hidden size H, recurrent
size H_r (the projection P of an lstm with proj_size, else H) and input size F computes
  G·H·(F + H_r) MACs      the two matrix products W_ih·x_t and W_hh·h_{t−1}
  H·P MACs                the lstm projection h_t = W_hr·(o ⊙ tanh c_t), when proj_size is set
  G·H adds                W_ih·x_t + W_hh·h_{t−1}
  2·G·H adds              the two biases b_ih and b_hh (bias: true)
  E·H                     the element-wise gate arithmetic: rnn 1 (tanh or relu), lstm 9 (3 sigmoid +
                          1 tanh of the gates, c_t = f⊙c + i⊙g: 3, h_t = o⊙tanh c_t: 2), gru 7 (2 sigmoid,
                          r⊙(W_hn·h + b_hn): 1, tanh: 1, h_t = (h − n)⊙z + n: 3)
docs/recurrent.md states the same and what each counting tool does with it.
"""
from ..errors import LayerError, Unsupported
from ..i18n import N_, _
from .counting import Rule, counted_as, torch_flops
from .registry import register
from .shapes import Notice
from .base import Kind, Layer, Option, Saved, Step, boolean, integer, keep_input, number


def choice(*words):
    def parse(value):
        if not isinstance(value, str) or value.lower() not in words:
            raise LayerError(_("expected one of {words}, got {value}").format(words=', '.join(words), value=repr(value)))
        return value.lower()
    parse.describe = " or ".join(repr(w) for w in words)
    parse.schema = {"enum": list(words)}
    return parse


# ---- how the tools count nn.RNN / nn.LSTM / nn.GRU (read from their sources, checked by tests/test_recurrent.py)

def _thop(layer, ins, out, batch):
    """thop/rnn_hooks.py count_rnn/count_gru/count_lstm: per step, per layer and direction, the cell's
    count with thop's own input size (input_size for layer 0, hidden·directions after; it ignores
    proj_size)."""
    steps, total = ins[0][0], 0
    for index in range(layer.num_layers):
        size = ins[0][1] if index == 0 else layer.hidden * layer.directions
        total += layer.thop_cell(size) * layer.directions
    return total * steps * batch


def _ptflops(layer, ins, out, batch):
    """ptflops/pytorch_ops.py rnn_flops_counter_hook: per step, per layer (forward direction's weights,
    times 2 when bidirectional): weight_ih and weight_hh elements, the element-wise extras (rnn H,
    gru 7H, lstm 10H) and both biases; the projection weight_hr is not counted."""
    steps, total = ins[0][0], 0
    for index in range(layer.num_layers):
        size = layer.layer_input(ins, index)
        per = layer.gates * layer.hidden * (size + layer.recurrent_size) + layer.ptflops_extra * layer.hidden
        if layer.bias:
            per += 2 * layer.gates * layer.hidden
        total += per
    return total * steps * batch * layer.directions


def _torchinfo(layer, ins, out, batch):
    """torchinfo layer_info.calculate_macs: every weight_*/bias_* parameter times the output's first two
    sizes (batch and tokens)."""
    return layer.params(ins) * ins[0][0] * batch


RECURRENT_COUNTING = counted_as(
    torch=torch_flops(N_("2·MACs of the gate and projection products, as on torch's decomposed path (meta, CPU "
                      "gru/rnn); its fused kernels count 0 (CPU oneDNN lstm, cuDNN), so verify runs with them off")),
    thop=Rule(_thop, N_("its cell's count per step: G·(H·(F + H) + H) + 2·G·H with bias, plus lstm 4H, gru 4H "
                     "(F is hidden·directions after layer 0; proj_size ignored)")),
    ptflops=Rule(_ptflops, N_("per step: weight_ih + weight_hh elements + rnn H, gru 7H, lstm 10H + both biases, "
                           "times directions (no projection)")),
    torchinfo=Rule(_torchinfo, N_("parameters · tokens")),
    fvcore=Rule(lambda *args: 0, "0: aten::lstm, aten::gru, aten::rnn_tanh have no handle"),
    torchvision=Rule(lambda *args: 0, N_("0: torchvision's figures are for convolution and linear layers")),
)


class _Recurrent(Layer):
    kind = Kind.RECURRENT
    counting = RECURRENT_COUNTING
    primary = "hidden"
    gates = 1              # G: gate blocks in weight_ih (rnn 1, gru 3, lstm 4)
    elementwise = 1        # E: element-wise operations per hidden unit and step, beside the bias and product adds
    step_state = 7         # elements (times H) autograd keeps per step with trained weights (gru, lstm)
    ptflops_extra = 1      # ptflops's element-wise operations per hidden unit
    torch_class = ""
    torch_output_index = 0  # torch's module returns (output, h_n): the layer is the output, element 0
    example = {"input": [5, 3], "before": [{"gru": {"hidden": 4}}],      # so that the input needs a gradient
               "options": {"hidden": 3, "num_layers": 2, "bidirectional": True, "dropout": 0.2}}
    options = {
        "hidden": Option(integer(1), required=True, aliases=("hidden_size", "units"), doc="H, features of h_t"),
        "num_layers": Option(integer(1), default=1, aliases=("layers",), doc="stacked layers"),
        "bidirectional": Option(boolean, default=False, doc="a second pass from the last token back"),
        "bias": Option(boolean, default=True, aliases=("use_bias",), doc="b_ih and b_hh per layer and direction"),
        "dropout": Option(number(minimum=0, below=1), default=0,
                          doc="dropout on each layer's output but the last, in training"),
        "return": Option(choice("sequence", "last", "final"), default="sequence", aliases=("returns", "output"),
                         doc="'sequence': (tokens, H·directions); 'last': the last step's output; 'final': the "
                             "last layer's final hidden state, directions side by side"),
    }

    def __init_subclass__(cls, **kwargs):
        """Imported from torch.nn.<torch_class> and from archcalc's own Sequence<torch_class> wrapper."""
        super().__init_subclass__(**kwargs)
        if "torch_modules" not in vars(cls):
            cls.torch_modules = (cls.torch_class, "Sequence" + cls.torch_class)

    # ---- sizes

    @property
    def directions(self):
        return 2 if self.bidirectional else 1

    @property
    def recurrent_size(self):
        """H_r: the size of h_t that W_hh multiplies (the projection's, for an lstm with proj_size)."""
        return self.hidden

    @property
    def output_size(self):
        return self.recurrent_size

    def sequence(self, ins):
        if len(ins[0]) != 2:
            raise LayerError(
                _("{type} needs a sequence (tokens, features), got shape {shape}").format(type=self.type_name,
                                                                                          shape=tuple(ins[0])),
                hint=_("give the spec `input: [tokens, features]`, or reshape a feature map into one first"))
        return ins[0]

    def layer_input(self, ins, index):
        """F_l: the input size of stacked layer `index`."""
        return self.sequence(ins)[1] if index == 0 else self.output_size * self.directions

    def output_shape(self, ins):
        tokens, _ = self.sequence(ins)
        width = self.output_size * self.directions
        return (tokens, width) if self.opts["return"] == "sequence" else (width,)

    def param_tensors(self, ins):
        """torch's order: per layer, per direction (forward, then _reverse): weight_ih, weight_hh, bias_ih,
        bias_hh, then weight_hr with proj_size."""
        tensors = []
        gh = self.gates * self.hidden
        for index in range(self.num_layers):
            for _direction in range(self.directions):
                tensors += [gh * self.layer_input(ins, index), gh * self.recurrent_size]
                if self.bias:
                    tensors += [gh, gh]
                tensors += self.projection_tensors()
        return tuple(tensors)

    def projection_tensors(self):
        return []

    # ---- arithmetic, per sample

    def step_macs(self, ins, index):
        """MACs of one time step of one direction of layer `index`."""
        return self.gates * self.hidden * (self.layer_input(ins, index) + self.recurrent_size) + self.projection_macs()

    def projection_macs(self):
        return 0

    def macs(self, ins, out):
        tokens = self.sequence(ins)[0]
        return tokens * self.directions * sum(self.step_macs(ins, index) for index in range(self.num_layers))

    def step_other_flops(self):
        """FLOPs of a step beside its 2·MACs: the product sum, the biases and the gate arithmetic."""
        gh = self.gates * self.hidden
        return gh + (2 * gh if self.bias else 0) + self.elementwise * self.hidden

    def flops(self, ins, out):
        tokens = self.sequence(ins)[0]
        return 2 * self.macs(ins, out) + tokens * self.directions * self.num_layers * self.step_other_flops()

    def bias_adds(self, ins, out):
        tokens = self.sequence(ins)[0]
        return tokens * self.directions * self.num_layers * 2 * self.gates * self.hidden if self.bias else 0

    def receptive_step(self, ins):
        return "global"

    def warnings(self, ins):
        if self.dropout and self.num_layers == 1:
            return [Notice(_("dropout {rate} does nothing: torch applies it between stacked layers and "
                             "this has one (torch warns the same)").format(rate=f"{self.dropout:g}"),
                           _("add a dropout layer after it, or set num_layers > 1"))]
        return []

    def torch_backward_flops(self, ins, out, grad):
        """FlopCounterMode in backward, on the decomposed path: for each forward matrix product, 2·MACs per
        operand that needs a gradient: the weight (trained), the layer input (layer 0: when the spec's
        input to it needs one), h_{t−1} from the second step on, and the projection's input."""
        if not grad.active:
            return 0
        tokens, _ = self.sequence(ins)
        active, weights = 1, int(grad.weights)
        total = 0
        for index in range(self.num_layers):
            gh = self.gates * self.hidden
            first = int(grad.inputs[0]) if index == 0 else active
            total += tokens * gh * self.layer_input(ins, index) * (first + weights)
            total += gh * self.recurrent_size * ((tokens - 1) * active + tokens * weights)
            total += tokens * self.projection_macs() * (active + weights)
        return 2 * total * self.directions

    def saved_tensors(self, ins, out, grad):
        """What torch's decomposed CPU path keeps (measured with saved_tensors_hooks, see docs/recurrent.md):
        each layer's input as one (tokens·batch, F_l) matrix for W_ih's gradient (layer 0's is a view of
        the spec input when batch or tokens is 1, else a copy per direction), the per-step state of each
        direction, and the dropout noise between layers. oneDNN's fused CPU lstm keeps a workspace of
        its own instead; verify measures with it off."""
        if not grad.active:
            return []
        tokens, features = self.sequence(ins)
        rows = tokens * grad.batch
        saved = []
        if not grad.weights:
            pass                     # the products keep only their weights, for the inputs' gradients
        elif grad.batch == 1 or tokens == 1:
            saved.append(keep_input(ins, grad))
        else:
            saved += [Saved.new(rows * features) for _ in range(self.directions)]
        width = self.output_size * self.directions
        for index in range(self.num_layers):
            if index and grad.weights:
                saved.append(Saved.new(rows * width))               # the stacked output of layer index − 1
            if index and self.dropout:
                saved.append(Saved.new(rows * width))               # its dropout noise
            saved += [Saved.new(n) for n in self.state_saved(tokens, grad.batch, grad.weights)
                      for _ in range(self.directions)]
        return saved

    def state_saved(self, tokens, batch, weights):
        """Elements of the tensors one direction of one layer keeps, beyond its input: per step the gate
        activations and cell arithmetic's operands (step_state·H), of which h_{t−1} (H_r) only when the
        weights are trained (W_hh·h_{t−1} keeps it for W_hh's gradient)."""
        return [tokens * batch * (self.step_state * self.hidden - (0 if weights else self.recurrent_size))]

    # ---- torch

    def torch_kwargs(self, ins):
        kwargs = {"num_layers": self.num_layers, "bias": self.bias, "batch_first": True,
                  "dropout": self.dropout, "bidirectional": self.bidirectional}
        return {k: v for k, v in kwargs.items() if k == "batch_first" or v != nn_default(k)}

    def torch_module(self, ins):
        from torch import nn

        from . import torch_modules
        rnn = getattr(nn, self.torch_class)(self.sequence(ins)[1], self.hidden, **self.torch_kwargs(ins))
        return getattr(torch_modules, "Sequence" + self.torch_class)(rnn, returns=self.opts["return"])

    def torch_counted_path(self, device):
        """(what, context factory) when torch would run this layer on `device` through a fused kernel
        that FlopCounterMode counts as 0 (cuDNN on CUDA): verify runs its module inside the context and
        states `what`. None when FlopCounterMode counts torch's own path."""
        if device == "cuda":
            def cudnn_off():
                import torch
                return torch.backends.cudnn.flags(enabled=False)
            return (f"{self.type_name}: cuDNN off (torch.backends.cudnn.flags(enabled=False)), since "
                    "FlopCounterMode has no formula for aten._cudnn_rnn; saved bytes are modelled for the CPU "
                    "path", cudnn_off)
        return None

    @classmethod
    def from_torch_module(cls, m):
        if hasattr(m, "rnn"):         # archcalc's own wrapper: the module it wraps, and what it returns
            return {**cls.from_torch_module(m.rnn), **cls.non_default(**{"return": m.returns})}
        if not m.batch_first:
            raise Unsupported(f"{type(m).__name__}(batch_first=False): archcalc sequences are (batch, tokens, "
                              "features); build it with batch_first=True")
        options = {"hidden": m.hidden_size, **cls.non_default(
            num_layers=m.num_layers, bidirectional=m.bidirectional, bias=m.bias, dropout=m.dropout)}
        return {**options, **cls.more_torch_options(m)}

    @classmethod
    def more_torch_options(cls, m):
        return {}

    # ---- explanation

    def step_flops(self, ins):
        """archcalc FLOPs of one time step, every layer and direction: the quantity a paper quotes per token."""
        return self.directions * sum(2 * self.step_macs(ins, index) + self.step_other_flops()
                                     for index in range(self.num_layers))

    def explain(self, ins, out):
        tokens, _features = self.sequence(ins)
        g, h, hr, d, p = self.gates, self.hidden, self.recurrent_size, self.directions, self.proj_size_or_0
        sequence = self.opts["return"] == "sequence"
        why = {"sequence": N_("every step's h_t, the directions side by side"),
               "last": N_("a copy of the output at the last step"),
               "final": N_("the last layer's final h of each direction (the reverse one's after the first token)")}
        steps = [Step("output", "(T, H·D)" if sequence else "(H·D,)", "", out, _(why[self.opts["return"]]))]
        bias = " + 2·G·H" if self.bias else ""
        proj = " + H·P" if p else ""

        def layer_terms(with_bias):
            terms = []
            for index in range(self.num_layers):
                term = f"{g}·{h}·({self.layer_input(ins, index)} + {hr})"
                if with_bias and self.bias:
                    term += f" + 2·{g}·{h}"
                if p:
                    term += f" + {h}·{p}"
                terms.append(f"({term})" if self.num_layers > 1 else term)
            return " + ".join(terms)

        steps.append(Step("params", f"D·Σ_l [G·H·(F_l + H_r){bias}{proj}]", f"{d}·({layer_terms(True)})",
                          self.params(ins),
                          _("G = {gates} gate blocks of {blocks}; F_l = {first} for layer 0, then H_r·D").format(
                              gates=g, first=self.layer_input(ins, 0), blocks="weight_ih_l{k} (G·H × F_l), weight_hh_l{k} "
                              "(G·H × H_r)" + (", bias_ih " + _("and") + " bias_hh" if self.bias else "")
                              + (", weight_hr (P × H)" if p else ""))))
        per_step = d * sum(self.step_macs(ins, index) for index in range(self.num_layers))
        steps.append(Step("MACs", f"T·D·Σ_l [G·H·(F_l + H_r){proj}]", f"{tokens}·{d}·({layer_terms(False)})",
                          self.macs(ins, out), _("per time step {macs}: {products} for every gate").format(
                              macs=f"{per_step:,}", products="W_ih·x_t " + _("and") + " W_hh·h_{t−1}")
                          + (", W_hr·h_t" if p else "")))
        other = self.step_other_flops()
        arithmetic = _(self.gate_arithmetic) if self.bias else \
            _(self.gate_arithmetic).replace(_(N_(", two biases")), "").replace(", two biases", "")
        steps.append(Step("FLOPs", f"T·(2·MACs/step + D·L·(G·H{bias} + {self.elementwise}·H))",
                          f"{tokens}·(2·{per_step:,} + {d}·{self.num_layers}·{other:,})", self.flops(ins, out),
                          _("per time step {flops}; per step and unit: {arithmetic}").format(
                              flops=f"{self.step_flops(ins):,}", arithmetic=arithmetic)))
        return steps

    @property
    def proj_size_or_0(self):
        return 0


def nn_default(name):
    return {"num_layers": 1, "bias": True, "dropout": 0, "bidirectional": False, "proj_size": 0}.get(name)


@register
class RNN(_Recurrent):
    type_name = "rnn"
    aliases = ("simple_rnn", "simplernn", "elman")
    torch_class = "RNN"
    options = {**_Recurrent.options,
               "nonlinearity": Option(choice("tanh", "relu"), default="tanh",
                                      doc="h_t = act(W_ih·x_t + b_ih + W_hh·h_{t−1} + b_hh)")}
    gate_arithmetic = N_("the sum of the two products, two biases, one tanh or relu")
    example = {"input": [5, 3], "before": [{"gru": {"hidden": 4}}],
               "options": {"hidden": 3, "num_layers": 2, "nonlinearity": "relu", "return": "last"}}

    def torch_kwargs(self, ins):
        kwargs = super().torch_kwargs(ins)
        return {**kwargs, "nonlinearity": self.nonlinearity} if self.nonlinearity != "tanh" else kwargs

    @classmethod
    def more_torch_options(cls, m):
        return cls.non_default(nonlinearity=m.nonlinearity)

    def thop_cell(self, size):
        h = self.hidden
        return h * (size + h) + h + (2 * h if self.bias else 0)

    def state_saved(self, tokens, batch, weights):
        """Each step's h_t (the activation's output, which the next step's product reads again), and h_0
        when the weights are trained."""
        return [batch * self.hidden, tokens * batch * self.hidden] if weights else [tokens * batch * self.hidden]


@register
class LSTM(_Recurrent):
    type_name = "lstm"
    aliases = ("long_short_term_memory",)
    torch_class = "LSTM"
    gates, elementwise, ptflops_extra = 4, 9, 10
    options = {**_Recurrent.options,
               "proj_size": Option(integer(0), default=0, aliases=("projection",),
                                   doc="P: h_t projected to P features by weight_hr (0: none)")}
    example = {"input": [5, 3], "before": [{"gru": {"hidden": 4}}],
               "options": {"hidden": 3, "num_layers": 2, "bidirectional": True, "proj_size": 2}}
    gate_arithmetic = N_("the sum of the two products, two biases, 3 sigmoid + 1 tanh "
                         "for i, f, g, o, c_t = f⊙c + i⊙g (3), h_t = o⊙tanh(c_t) (2)")

    @property
    def recurrent_size(self):
        return self.proj_size or self.hidden

    def output_shape(self, ins):
        if self.proj_size >= self.hidden:
            raise LayerError(_("lstm proj_size {proj_size} must be smaller than hidden {hidden}").format(
                proj_size=self.proj_size, hidden=self.hidden),
                hint=_("torch requires proj_size < hidden_size; or drop proj_size"))
        return super().output_shape(ins)

    @property
    def proj_size_or_0(self):
        return self.proj_size

    def projection_tensors(self):
        return [self.hidden * self.proj_size] if self.proj_size else []

    def projection_macs(self):
        return self.hidden * self.proj_size

    def torch_kwargs(self, ins):
        kwargs = super().torch_kwargs(ins)
        return {**kwargs, "proj_size": self.proj_size} if self.proj_size else kwargs

    @classmethod
    def more_torch_options(cls, m):
        return cls.non_default(proj_size=m.proj_size)

    def thop_cell(self, size):
        h = self.hidden
        return 4 * (h * (size + h) + h + (2 * h if self.bias else 0)) + 4 * h

    def state_saved(self, tokens, batch, weights):
        """Per step: the 4H gates and two H tensors of the cell update; with trained weights also h_{t−1}
        (H_r) and, with proj_size, the o⊙tanh c_t that W_hr multiplies (H)."""
        if not weights:
            return [tokens * batch * 6 * self.hidden]
        return [tokens * batch * (6 * self.hidden + self.recurrent_size + (self.hidden if self.proj_size else 0))]

    def torch_counted_path(self, device):
        if device == "cpu" and not self.proj_size:
            def onednn_off():
                import torch
                return torch.backends.mkldnn.flags(enabled=False)
            return ("lstm: oneDNN off (torch.backends.mkldnn.flags(enabled=False)), since FlopCounterMode has "
                    "no formula for the fused oneDNN lstm (it counts 0) and its workspace is not modelled", onednn_off)
        return super().torch_counted_path(device)


@register
class GRU(_Recurrent):
    type_name = "gru"
    aliases = ("gated_recurrent_unit",)
    torch_class = "GRU"
    gates, elementwise, ptflops_extra = 3, 7, 7
    gate_arithmetic = N_("the sum of the two products, two biases, 2 sigmoid (r, z), "
                         "r⊙(W_hn·h + b_hn), tanh (n), h_t = (h − n)⊙z + n (3)")


    def thop_cell(self, size):
        h = self.hidden
        state = (h + size) * h + h + (2 * h if self.bias else 0)
        return 3 * state + h + 3 * h
