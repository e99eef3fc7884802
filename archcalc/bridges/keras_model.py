"""The spec as a real Keras 3 model, its Keras source, and a check of every layer against Keras's own counts.

This module is generic plumbing: each layer class writes its own Keras layer (its `keras_layer` hook, and
`keras_activation` for the string Keras's `activation=` takes; see archcalc/layers/base.py), calling back
the plan below (emit, padding, fail); a type without the hook has no Keras equivalent.

Keras is imported inside the functions that build a model (with KERAS_BACKEND=torch unless the user
chose a backend), so `summarize` and `export-keras` never pay for it; the plan that maps spec layers
to Keras layers is plain data. Keras models are channels_last whatever the spec's layout, as the
course writes them: a spec's (C, H, W) is Keras's (None, H, W, C).

Keras has no explicit padding on its layers: a padding that equals 'same' becomes padding="same",
any other becomes a ZeroPadding2D layer before the conv or pool (named `<layer>_pad`); a max-pool with
ceil_mode gets the extra end pixels that make Keras's rounding down give PyTorch's size. ZeroPadding2D
pads zeros where PyTorch's max-pool pads −∞: the values agree after a ReLU, the shapes always. An activation
written as `activation: relu` on a conv or dense folds back into that Keras layer, as the course writes
`layers.Conv2D(32, (3, 3), activation='relu')`. Local response normalization, which Keras lacks, is
the small LocalResponseNorm layer below (registered so that a saved .keras file loads back).
"""
import os
from dataclasses import dataclass, field

from ..analysis.analyzer import analyze
from ..errors import MissingExtra, SpecError
from ..i18n import N_, _
from ..layers.shapes import CHANNELS_LAST, from_layout, to_layout
from ..spec.graph import INPUT, as_graph

INPUT_NAME = "input"


@dataclass
class KerasLayer:
    """One Keras layer of the plan: its class (in keras.layers, or archcalc's own), arguments, the plan
    names it reads, and the spec nodes whose output it produces (a folded activation adds a second)."""

    name: str
    cls: str
    args: list = field(default_factory=list)
    kwargs: dict = field(default_factory=dict)
    inputs: list = field(default_factory=list)
    nodes: list = field(default_factory=list)
    custom: bool = False

    def call_source(self):
        words = [repr(a) for a in self.args] + [f"{k}={v!r}" for k, v in self.kwargs.items()]
        words.append(f"name={self.name!r}")
        prefix = "" if self.custom else "layers."
        return f"{prefix}{self.cls}({', '.join(words)})"


def keras_shape(shape):
    """archcalc's channels-first (C, H, W) -> Keras's (H, W, C); vectors unchanged."""
    return tuple(to_layout(tuple(shape), CHANNELS_LAST))


class _Planner:
    def __init__(self, graph):
        self.graph = graph
        self.shapes = {INPUT: graph.input_shape}
        for node in graph.nodes:
            self.shapes[node.name] = node.layer.output_shape([self.shapes[r] for r in node.inputs])
        self.consumers = {}
        for node in graph.nodes:
            for ref in node.inputs:
                self.consumers.setdefault(ref, []).append(node.name)
        self.plan, self.produced = [], {INPUT: INPUT_NAME}
        self.names = {INPUT_NAME}
        self.nodes, self.activation = [], {}      # the node being translated (and its folded activation)

    def fail(self, node, message, hint=None):
        return SpecError(f"Keras cannot express {node.name} ({node.layer.type_name}): {message}",
                         file=self.graph.file, line=node.line, layer=node.name, hint=hint)

    def unique(self, name):
        """A Keras name for a spec name: dots become underscores (the torch backend refuses dots)."""
        name = name.replace(".", "_").replace("/", "_")
        candidate, count = name, 1
        while candidate in self.names:
            count += 1
            candidate = f"{name}_{count}"
        self.names.add(candidate)
        return candidate

    def add(self, node_names, cls, inputs, args=(), custom=False, **kwargs):
        layer = KerasLayer(self.unique(node_names[0] if node_names else "layer"), cls, list(args), kwargs,
                           inputs, list(node_names), custom)
        self.plan.append(layer)
        for name in node_names:
            self.produced[name] = layer.name
        return layer

    def run(self):
        skip = set()
        for index, node in enumerate(self.graph.nodes):
            if node.name in skip:
                continue
            following = self.graph.nodes[index + 1] if index + 1 < len(self.graph.nodes) else None
            folded = self.foldable(node, following)
            if folded:
                skip.add(following.name)
            self.layer(node, [self.produced[r] for r in node.inputs], folded and following)
        return self.plan

    def foldable(self, node, following):
        """An `activation:` written on a conv or dense (the node after it, named <name>_<activation>)."""
        return (following is not None and node.layer.accepts_activation
                and following.name == f"{node.name}_{following.layer.type_name}"
                and tuple(following.inputs) == (node.name,) and self.consumers.get(node.name) == [following.name]
                and following.layer.keras_activation is not None
                and not type(following.layer).non_default(**following.layer.opts))

    def padding(self, node, windows, inputs, stride_one_same):
        """'same' when the pads are Keras's 'same', else a ZeroPadding2D layer before; -> (padding, inputs).
        A ceil_mode pool gets the extra pixels at the end that make Keras's rounding down give its size."""
        pads = [(w.pad_before, w.pad_after + max((w.output - 1) * w.stride + w.effective_kernel
                                                   - (w.size + w.pad_before + w.pad_after), 0))
                for w in windows]
        if all(p == (0, 0) for p in pads):
            return None, inputs
        if stride_one_same and all(w.stride == 1 and w.pad_before + w.pad_after == w.effective_kernel - 1
                                   and w.pad_after - w.pad_before in (0, 1) for w in windows):
            return "same", inputs
        pad = self.add([], "ZeroPadding2D", inputs, padding=tuple(pads))
        pad.name = self.rename(pad, f"{node.name}_pad")
        return None, [pad.name]

    def rename(self, layer, name):
        self.names.discard(layer.name)
        return self.unique(name)

    def layer(self, node, inputs, activation_node):
        """The Keras layer(s) of one spec node, from its layer class's keras_layer hook."""
        ins = [self.shapes[r] for r in node.inputs]
        self.nodes = [node.name] + ([activation_node.name] if activation_node else [])
        self.activation = {"activation": activation_node.layer.keras_activation} if activation_node else {}
        node.layer.keras_layer(self, node, ins, inputs)

    # ---- what a layer class's keras_layer hook calls back (see archcalc/layers/base.py)

    def emit(self, cls, inputs, args=(), custom=False, **kwargs):
        """The Keras layer that produces the node being translated (and an activation folded into it)."""
        return self.add(self.nodes, cls, inputs, args, custom, **kwargs)

    def folded_activation(self):
        """{"activation": name} when an `activation:` folds into the node being translated, else {}."""
        return dict(self.activation)

    @staticmethod
    def short(pair):
        return _short(pair)


def _short(pair):
    """(3, 3) -> 3, (3, 5) -> (3, 5): Keras takes either."""
    pair = tuple(pair)
    return pair[0] if len(set(pair)) == 1 else pair


def keras_plan(spec, *, input_shape=None):
    """The Keras layers that build `spec`, in order (plain data, no Keras import)."""
    graph = as_graph(spec, input_shape=input_shape)
    return graph, _Planner(graph).run()


def _is_chain(plan):
    previous = INPUT_NAME
    for layer in plan:
        if layer.inputs != [previous]:
            return False
        previous = layer.name
    return True


LRN_SOURCE = '''
@keras.saving.register_keras_serializable(package="archcalc")
class LocalResponseNorm(keras.layers.Layer):
    """b = a / (k + alpha/n * sum of a**2 over n neighbouring channels)**beta, as torch.nn.LocalResponseNorm."""

    def __init__(self, size=5, alpha=1e-4, beta=0.75, k=1.0, **kwargs):
        super().__init__(**kwargs)
        self.size, self.alpha, self.beta, self.k = size, alpha, beta, k

    def call(self, x):
        squared = keras.ops.square(x)
        channels = x.shape[-1]
        before = self.size // 2
        padded = keras.ops.pad(squared, [[0, 0]] * (len(x.shape) - 1) + [[before, self.size - 1 - before]])
        total = sum(padded[..., i:i + channels] for i in range(self.size))
        return x / keras.ops.power(self.k + self.alpha / self.size * total, self.beta)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "size": self.size, "alpha": self.alpha, "beta": self.beta, "k": self.k}
'''

CUSTOM_SOURCES = {"LocalResponseNorm": LRN_SOURCE}     # archcalc's own Keras layers (custom=True in the plan)


def keras_source(spec, *, input_shape=None):
    """Readable, self-contained Keras 3 source of the spec's model: keras.Sequential for a chain of
    layers, the functional API otherwise; layer names are the spec's."""
    graph, plan = keras_plan(spec, input_shape=input_shape)
    shape = keras_shape(graph.input_shape)
    lines = [f'"""{graph.name}, exported by archcalc export-keras. Input: (None, {", ".join(map(str, shape))})."""',
             "import os", "", 'os.environ.setdefault("KERAS_BACKEND", "torch")', "",
             "import keras  # noqa: E402", "from keras import layers  # noqa: E402", ""]
    for custom in dict.fromkeys(layer.cls for layer in plan if layer.custom):
        lines += [CUSTOM_SOURCES[custom].rstrip(), ""]
    lines += ["", "def build_model():"]
    if _is_chain(plan):
        lines += ["    return keras.Sequential([", f"        keras.Input(shape={shape!r}),"]
        lines += [f"        {layer.call_source()}," for layer in plan]
        lines += [f"    ], name={graph.name!r})"]
    else:
        variables = {INPUT_NAME: "inputs"}
        lines.append(f"    inputs = keras.Input(shape={shape!r}, name={INPUT_NAME!r})")
        for layer in plan:
            variable = variables[layer.name] = "".join(c if c.isalnum() else "_" for c in layer.name)
            args = [variables[i] for i in layer.inputs]
            arg = args[0] if len(args) == 1 else f"[{', '.join(args)}]"
            lines.append(f"    {variable} = {layer.call_source()}({arg})")
        outputs = [variables[name] for name in output_names(plan)]
        returned = outputs[0] if len(outputs) == 1 else f"[{', '.join(outputs)}]"
        lines.append(f"    return keras.Model(inputs, {returned}, name={graph.name!r})")
    lines += ["", "", 'if __name__ == "__main__":', "    build_model().summary()"]
    return "\n".join(lines)


# ---- with Keras

def import_keras():
    """Keras 3, on the torch backend unless KERAS_BACKEND says otherwise."""
    os.environ.setdefault("KERAS_BACKEND", "torch")
    try:
        import keras
    except ImportError:
        raise MissingExtra("keras", "keras", "verify --keras") from None
    if not keras.__version__.startswith("3"):
        raise SpecError(f"archcalc needs Keras 3, found {keras.__version__}", hint="pip install 'keras>=3'")
    return keras


_CUSTOM = {}


def custom_layers():
    """archcalc's own Keras layers (LocalResponseNorm), defined once from the source export-keras writes."""
    if not _CUSTOM:
        keras = import_keras()
        namespace = {"keras": keras}
        exec(compile(LRN_SOURCE, __file__ + ":LRN_SOURCE", "exec"), namespace)    # archcalc's own code, not a spec's
        _CUSTOM["LocalResponseNorm"] = namespace["LocalResponseNorm"]
    return _CUSTOM


def to_keras(spec, *, input_shape=None):
    """A spec -> (graph, plan, keras.Model) built with the functional API, names as in the plan."""
    keras = import_keras()
    graph, plan = keras_plan(spec, input_shape=input_shape)
    tensors = {INPUT_NAME: keras.Input(shape=keras_shape(graph.input_shape), name=INPUT_NAME)}
    for layer in plan:
        cls = custom_layers()[layer.cls] if layer.custom else getattr(keras.layers, layer.cls)
        built = cls(*layer.args, **layer.kwargs, name=layer.name)
        args = [tensors[i] for i in layer.inputs]
        tensors[layer.name] = built(args[0] if len(args) == 1 else args)
    outputs = [tensors[name] for name in output_names(plan)]
    model = keras.Model(tensors[INPUT_NAME], outputs[0] if len(outputs) == 1 else outputs, name=graph.name)
    return graph, plan, model


def output_names(plan):
    """The Keras model's outputs: the spec's (its last layer), then the end of each side branch no later
    layer reads (Inception-v3's auxiliary head), which a Keras model keeps only as an output of its own."""
    read = {name for layer in plan for name in layer.inputs}
    return [plan[-1].name] + [layer.name for layer in plan[:-1] if layer.name not in read]


def _weights(weights):
    import math
    return sum(math.prod(w.shape) for w in weights)


def verify_keras(spec, *, input_shape=None, progress=None):
    """Build the spec in Keras 3 and compare every spec layer's output shape and parameter count (Keras's
    count_params, batchnorm moving statistics included as non-trainable) with archcalc's Keras counting."""
    from .verify import LayerCheck, Verification
    graph = as_graph(spec, input_shape=input_shape)
    if progress:
        progress(f"building {graph.name} in Keras")
    graph, plan, model = to_keras(graph)
    report = analyze(graph, keras=True)
    records = {r.name: r for r in report.layers}
    by_node = {name: layer for layer in plan for name in layer.nodes}
    layers = []
    for node in graph.nodes:
        record, planned = records[node.name], by_node[node.name]
        built = model.get_layer(planned.name)
        predicted_shape = keras_shape(from_layout(tuple(record.output_shape), graph.layout))
        measured_shape = tuple(built.output.shape[1:])
        host = planned.nodes[0] == node.name      # a folded activation owns no weights of its own
        check = LayerCheck(node.name, f"{record.type} → {planned.cls}" if host else f"{record.type} (in {planned.name})")
        check.checks["shape"] = (predicted_shape, measured_shape)
        check.checks["params"] = (record.params, built.count_params() if host else 0)
        check.checks["non_trainable"] = (record.params - record.trainable_params,
                                         _weights(built.non_trainable_weights) if host else 0)
        layers.append(check)
    totals, keras = report.totals, import_keras()
    result = Verification(graph.name, f"Keras {keras.__version__} ({keras.backend.backend()} backend)",
                          1, "fp32", False, False, layers)
    result.totals = {"params": (totals.params, model.count_params()),
                     "trainable_params": (totals.trainable_params, _weights(model.trainable_weights)),
                     "non_trainable_params": (totals.non_trainable_params, _weights(model.non_trainable_weights))}
    helpers = [layer.name for layer in plan if not layer.nodes]
    result.compared = [N_("output shape of each layer: Keras's layer.output.shape, channels_last, without the batch"),
                       N_("params: Keras's layer.count_params() (batchnorm's moving mean and variance included, "
                          "as Keras's model.summary() lists them); non-trainable: the layer's non_trainable_weights"),
                       N_("totals: model.count_params(), trainable_weights and non_trainable_weights")]
    if helpers:
        result.compared.append(_("Keras layers with no spec layer of their own (padding, reshapes): {layers}").format(
            layers=', '.join(helpers)))
    result.not_measured = [N_("FLOPs and saved bytes: Keras does not count them (archcalc verify without --keras "
                              "does)")]
    return result
