"""The spec as a real torch.nn.Module: one module per spec layer, same names, same graph.

This module imports torch at its top, so nothing on the summarize path imports it: the layers'
torch_module hooks, verify and from_torch import torch (and this module) inside functions. Block
instances become nested modules, so a ResNet spec's state_dict keys read like torchvision's
(`layer1.0.conv1.weight`).
"""
import keyword

import torch
from torch import nn

from ..errors import SpecError
from ..layers import torch_modules
from ..spec.graph import INPUT, as_graph

# Words the exported source cannot use for a layer: the forward's own names and every nn.Module attribute.
RESERVED = frozenset(("x", "self", "torch", "nn", "input", *dir(nn.Module())))


class SpecModel(nn.Module):
    """Runs the spec's nodes in order, freeing each intermediate after its last use (an output nothing
    reads, as an auxiliary head's, at once: autograd then frees that branch's graph mid-forward)."""

    def __init__(self, graph):
        super().__init__()
        self.spec_name = graph.name
        self.output_name = graph.output
        shapes = {INPUT: graph.input_shape}
        self.plan = []
        last_use = {}
        for index, node in enumerate(graph.nodes):
            for ref in node.inputs:
                last_use[ref] = index
        for index, node in enumerate(graph.nodes):
            ins = [shapes[ref] for ref in node.inputs]
            try:
                module = node.layer.torch_module(ins)
                if not node.trainable:
                    module.requires_grad_(False)
                self._register(node.name, module)
                shapes[node.name] = node.layer.output_shape(ins)
            except SpecError as err:
                raise graph.error(node, err) from None
            except (RuntimeError, ValueError, TypeError, OverflowError, MemoryError) as err:
                first = str(err).strip().splitlines()[0][:200] if str(err).strip() else type(err).__name__
                raise graph.error(node, SpecError(f"PyTorch cannot build this layer: {first}",
                                                  hint="check its sizes; `archcalc summarize` shows them")) from None
            done = tuple(ref for ref in set(node.inputs) if last_use[ref] == index)
            if node.name not in last_use:     # a side head no later layer reads: dropped as soon as it is made
                done += (node.name,)
            self.plan.append((node.name, tuple(node.inputs), done))
        for node in graph.nodes:
            if node.tie is not None:      # one Parameter in two modules: parameters() yields it once
                self.get_submodule(node.name).weight = self.get_submodule(node.tie).weight

    def _register(self, name, module):
        """Add `module` under its dotted name: block instances become nested modules."""
        parent = self
        *path, leaf = name.split(".")
        for part in path:
            if part not in parent._modules:
                parent.add_module(_free(parent, part), nn.Module())
            parent = parent._modules[part]
        parent.add_module(_free(parent, leaf), module)

    def forward(self, x):
        values = {INPUT: x}
        for name, inputs, done in self.plan:
            values[name] = self.get_submodule(name)(*[values[ref] for ref in inputs])
            for ref in done:
                if ref != self.output_name:
                    del values[ref]
        return values[self.output_name]


def _free(module, name):
    """`name`, when a submodule may take it: not torch's own attributes (forward, training, ...)."""
    if hasattr(module, name):
        raise SpecError(f"PyTorch cannot hold a layer named '{name}': the torch.nn.Module archcalc builds "
                        f"already has an attribute '{name}'", hint=f"give it another `name`, e.g. {name}_")
    return name


TORCH_INPUT_DTYPES = {"int64": "long", "int32": "int32"}


def example_input(graph, batch=1, dtype=None, device=None):
    """An input the spec's model accepts: random floats, or token ids (zeros, valid for any vocabulary)
    for an `input: {shape: [...], dtype: int64}` spec."""
    shape = (batch,) + tuple(graph.input_shape)
    if graph.input_dtype in TORCH_INPUT_DTYPES:
        return torch.zeros(shape, dtype=getattr(torch, TORCH_INPUT_DTYPES[graph.input_dtype]), device=device)
    return torch.randn(shape, dtype=dtype, device=device)


def to_torch(spec, *, input_shape=None):
    """A spec (path, zoo name, dict or Graph) -> SpecModel, with freshly initialised weights."""
    graph = as_graph(spec, input_shape=input_shape)
    return SpecModel(graph)


def _identifier(name, taken):
    """A Python name for a spec name: layer1.0.conv1 -> layer1_0_conv1, unique among `taken`."""
    word = "".join(c if c.isascii() and c.isalnum() else "_" for c in name)
    word = word if word and not word[0].isdigit() else f"v_{word}"
    candidate, count = word, 1
    while candidate in taken or candidate in RESERVED or keyword.iskeyword(candidate):
        count += 1
        candidate = f"{word}_{count}"
    taken.add(candidate)
    return candidate


def _module_source(module):
    """Constructor source for a module; repr() is that, except where torch's repr drops an argument."""
    if isinstance(module, nn.AvgPool2d):
        return (f"nn.AvgPool2d({module.kernel_size!r}, stride={module.stride!r}, padding={module.padding!r}, "
                f"ceil_mode={module.ceil_mode}, count_include_pad={module.count_include_pad})")
    text = repr(module)
    if isinstance(module, nn.Conv2d) and isinstance(module.padding, str):
        text = text.replace(f"padding={module.padding}", f"padding={module.padding!r}")
    return text if type(module).__module__ == torch_modules.__name__ else f"nn.{text}"


def _docstring(text):
    """A triple-quoted literal of any text: its backslashes and quotes escaped."""
    return '"""' + text.replace("\\", "\\\\").replace('"', '\\"') + '"""'


def torch_source(graph):
    """Readable, self-contained PyTorch source of the spec's model: one attribute per layer (dots in
    names become underscores) and a forward that reads like the spec."""
    import inspect
    with torch.device("meta"):
        model = SpecModel(graph)
    attrs, variables = set(), {INPUT: "x"}
    init, forward, helpers = [], [], []
    for node in graph.nodes:
        module = model.get_submodule(node.name)
        attr = _identifier(node.name, attrs)
        for cls in reversed(type(module).__mro__):          # a helper's own base class first
            if cls.__module__ == torch_modules.__name__ and cls not in helpers:
                helpers.append(cls)
        comment = f"  # {node.name}" if attr != node.name else ""
        init.append(f"        self.{attr} = {_module_source(module)}{comment}")
        if not node.trainable and any(True for _ in module.parameters()):
            init.append(f"        self.{attr}.requires_grad_(False)")
        variables[node.name] = attr
        args = ", ".join(variables[ref] for ref in node.inputs)
        forward.append(f"        {attr} = self.{attr}({args})")
        if node.tie is not None:
            init.append(f"        self.{attr}.weight = self.{variables[node.tie]}.weight  # tied")
    forward[-1] = forward[-1].replace(f"{variables[graph.output]} = ", "return ", 1)
    class_name = "".join(part.capitalize() for part in _identifier(graph.name, set()).split("_")) or "Model"
    if class_name in (helper.__name__ for helper in helpers):
        class_name += "Model"       # a spec named `add` must not hide the Add it uses
    shape = ", ".join(str(d) for d in graph.input_shape)
    example = (f"torch.zeros(1, {shape}, dtype=torch.{TORCH_INPUT_DTYPES[graph.input_dtype]})"
               if graph.input_dtype in TORCH_INPUT_DTYPES else f"torch.randn(1, {shape})")
    lines = [_docstring(f"{graph.name}, exported by archcalc export-torch. Input: (N, {shape})."),
             "import torch", "from torch import nn", ""]
    for helper in helpers:
        lines += ["", inspect.getsource(helper).rstrip(), ""]
    lines += ["", f"class {class_name}(nn.Module):", "    def __init__(self):", "        super().__init__()",
              *init, "", "    def forward(self, x):", *forward, "", "",
              "if __name__ == \"__main__\":",
              f"    print({class_name}()({example}).shape)"]
    return "\n".join(lines)
