"""Import a PyTorch model as an archcalc spec: trace it with torch.fx, map each standard layer to ours.

`archcalc from-torch PACKAGE.MODULE:CALLABLE` imports and calls the user's own code (that is the
point of the command); the spec it writes is plain data, read back like any other spec.
Each layer class names the torch modules and functions it is imported from (`torch_modules`,
`torch_functions`) and reads their settings (`from_torch_module`, `from_torch_call`); a layer archcalc
cannot express is named in one error that lists them all.
"""
import importlib
import inspect
import operator
import sys
from pathlib import Path

from ..errors import MissingExtra, SpecError, Unsupported
from ..layers import layer_types
from ..layers.base import PASS_THROUGH, TorchCall
from ..spec.graph import INPUT, parse_shape

_PASS = object()       # the node forwards its input unchanged (Identity, contiguous, eval-mode dropout)


def _torch():
    try:
        import torch
        import torch.fx  # noqa: F401
    except ImportError:
        raise MissingExtra("torch", "torch", "from-torch") from None
    return torch


def load_callable(target):
    """'package.module:callable' -> the torch.nn.Module it builds (an instance may be named directly)."""
    module_name, _, attribute = target.partition(":")
    if not module_name or not attribute:
        raise SpecError(f"'{target}' is not PACKAGE.MODULE:CALLABLE",
                        hint="e.g. archcalc from-torch torchvision.models:resnet18 --input 3x224x224")
    if "" not in sys.path and str(Path.cwd()) not in sys.path:
        sys.path.insert(0, str(Path.cwd()))       # like `python -m`: modules beside you import
    try:
        module = importlib.import_module(module_name)
    except ImportError as err:
        raise SpecError(f"cannot import '{module_name}': {err}",
                        hint="run from the directory that holds the package, or install it") from None
    try:
        built = operator.attrgetter(attribute)(module)
    except AttributeError:
        raise SpecError(f"'{module_name}' has no attribute '{attribute}'") from None
    nn = _torch().nn
    if not isinstance(built, nn.Module):
        if not callable(built):
            raise SpecError(f"'{target}' is neither a torch.nn.Module nor callable")
        _check_callable_without_arguments(built, target)
        built = built()
    if not isinstance(built, nn.Module):
        raise SpecError(f"'{target}' returned {type(built).__name__}, not a torch.nn.Module",
                        hint="point at a function or class that builds the model with no arguments")
    return built


def _check_callable_without_arguments(function, target):
    """from-torch calls CALLABLE with no arguments: say so plainly when it needs some (torch.nn:Conv2d)."""
    try:
        inspect.signature(function).bind()
    except TypeError as err:
        raise SpecError(f"'{target}' needs arguments ({err})",
                        hint="point at a function that builds the model, e.g. def build(): return Net(10)") from None
    except ValueError:
        pass        # no signature to read (a built-in): calling it will tell


def _module_table():
    """torch module class -> layer class, from each layer class's `torch_modules`."""
    from torch import nn

    from ..layers import torch_modules
    table = {nn.Identity: None}                  # None: forwards its input
    for cls in layer_types():
        for name in cls.torch_modules:
            table[_torch_class(name, nn, torch_modules)] = cls
    return table


def _torch_class(name, nn, torch_modules):
    """'Conv2d' in torch.nn, 'Add' in archcalc's own torch modules, or 'package.module:Class' (a plugin's)."""
    if ":" in name:
        module, _, attribute = name.partition(":")
        return getattr(importlib.import_module(module), attribute)
    return getattr(nn, name, None) or getattr(torch_modules, name)


def _function_table():
    """Function or Tensor-method name (lower case) -> layer class, from each class's `torch_functions`;
    `contiguous` and `clone` forward their input."""
    table = {"contiguous": None, "clone": None}
    for cls in layer_types():
        for name in cls.torch_functions:
            if table.get(name, cls) is not cls:
                raise RuntimeError(f"torch function '{name}' is claimed by both {table[name].type_name} "
                                   f"and {cls.type_name}")
            table[name] = cls
    return table


def _function_name(node):
    target = node.target
    return target if isinstance(target, str) else getattr(target, "__name__", str(target))


def _readable(node, modules):
    """How a traced node is named in messages: its path and what it is."""
    if node.op == "call_module":
        return f"{node.target} (torch.nn.{type(modules[node.target]).__name__})"
    if node.op == "call_method":
        return f"{node.name} (Tensor.{node.target})"
    target = node.target
    module = (getattr(target, "__module__", None) or "").lstrip("_")      # _operator -> operator
    return f"{node.name} ({module + '.' if module else ''}{_function_name(node)})"


class _Converter:
    def __init__(self, modules, shapes):
        self.modules = modules
        self.shapes = shapes          # fx node name -> output tensor shape with batch, or None for a non-tensor
        self.module_types = _module_table()
        self.function_types = _function_table()

    def convert(self, node):
        """(archcalc type, options, tensor inputs), _PASS, or None for a value that is not a tensor."""
        inputs = self.tensor_inputs(node)
        if node.op == "call_module":
            module = self.modules[node.target]
            if type(module) not in self.module_types:
                raise Unsupported("no archcalc layer type for it")
            cls = self.module_types[type(module)]
            return _PASS if cls is None else (cls.type_name, cls.from_torch_module(module), inputs)
        if self.shapes.get(node.name) is None:
            return None       # a size or other plain value that feeds a reshape
        name = _function_name(node).lower()
        if name not in self.function_types:
            raise Unsupported("no archcalc layer type for it")
        cls = self.function_types[name]
        if cls is None:
            return _PASS
        call = TorchCall(name, tuple(node.args), dict(node.kwargs),
                         tuple(self.shapes[arg.name] for arg in inputs), self.shapes[node.name])
        answer = cls.from_torch_call(call)
        if answer == PASS_THROUGH:
            return _PASS
        options, reads = answer
        return cls.type_name, options, [inputs[i] for i in reads]

    def is_tensor(self, arg):
        return hasattr(arg, "op") and self.shapes.get(arg.name) is not None

    def tensor_inputs(self, node):
        return [arg for arg in node.all_input_nodes if self.is_tensor(arg)]


def _tracer():
    """fx's tracer, keeping archcalc's own torch modules whole (as it does torch.nn's)."""
    import torch.fx

    from ..layers import torch_modules
    leaves = set(_module_table())      # every module a layer type is imported from stays whole

    class Tracer(torch.fx.Tracer):
        def is_leaf_module(self, module, qualified_name):
            return (type(module).__module__ == torch_modules.__name__ or type(module) in leaves
                    or super().is_leaf_module(module, qualified_name))
    return Tracer()


def _trace(model, input_shape):
    """The fx graph of `model`, and every node's output shape from one real forward pass at batch 1."""
    import torch
    import torch.fx
    from torch.fx.passes.shape_prop import ShapeProp
    tracer = _tracer()
    try:
        graph = tracer.trace(model)
    except Exception as err:  # noqa: BLE001 - any tracing failure is reported as the user's model problem
        raise SpecError(f"torch.fx cannot trace {type(model).__name__}: {err}",
                        hint="from-torch needs a forward without data-dependent control flow") from None
    traced = torch.fx.GraphModule(tracer.root, graph)
    was_training = model.training
    traced.eval()
    try:
        with torch.no_grad():
            ShapeProp(traced).propagate(torch.zeros((1, *input_shape)))
    except Exception as err:  # noqa: BLE001
        raise SpecError(f"{type(model).__name__} does not run on an input of shape {tuple(input_shape)}: {err}",
                        hint="check --input (channels, height, width without batch)") from None
    finally:
        model.train(was_training)
    shapes = {}
    for node in traced.graph.nodes:
        meta = node.meta.get("tensor_meta")
        shapes[node.name] = tuple(meta.shape) if hasattr(meta, "shape") else None
    return traced, shapes


def from_torch(model, input_shape, *, name=None, source=None):
    """A spec (a plain dict, ready for archcalc.analyze or to_yaml) equivalent to `model`.

    `input_shape` is (channels, height, width) or (features,), without batch, or "3x224x224".
    """
    torch = _torch()
    shape = list(parse_shape(input_shape, "channels_first", what="--input"))
    traced, shapes = _trace(model, shape)
    converter = _Converter(dict(traced.named_modules()), shapes)
    alias = {}            # fx node name -> the spec name that holds its value
    layers, problems, last = [], [], INPUT
    failed = set()        # nodes reported, and everything computed from them
    output = None
    for node in traced.graph.nodes:
        if node.op == "placeholder":
            if alias:
                raise SpecError("from-torch handles models with one input", hint="wrap the model to take one tensor")
            alias[node.name] = INPUT
            continue
        if node.op == "output":
            output = node.args[0]
            continue
        downstream = any(arg.name in failed for arg in node.all_input_nodes)
        if downstream and node.op != "call_module":    # indexing into an unsupported layer's output, etc.
            failed.add(node.name)
            continue
        if node.op == "get_attr":
            problems.append(f"{node.name} (reads the parameter or buffer '{node.target}' directly)")
            failed.add(node.name)
            continue
        try:
            converted = converter.convert(node)
        except Unsupported as reason:
            problems.append(f"{_readable(node, converter.modules)}: {reason}")
            failed.add(node.name)
            continue
        if downstream:        # a layer we could map, but its input is missing: its type was checked, that is all
            failed.add(node.name)
            continue
        if converted is None:
            continue
        if converted is _PASS:
            alias[node.name] = alias[converter.tensor_inputs(node)[0].name]
            continue
        type_name, options, args = converted
        refs = [alias[arg.name] for arg in args]
        # fx names the children of a top-level Sequential "_0", "_1": give them their type as well.
        spec_name = f"{type_name}{node.name}" if node.name.startswith("_") else node.name
        entry = {"name": spec_name}
        if refs != [last]:
            entry["from"] = refs[0] if len(refs) == 1 else refs
        entry.update(options)
        layers.append({type_name: entry})
        alias[node.name] = last = spec_name
    if problems:
        listed = "\n  ".join(problems)
        raise SpecError(f"{len(problems)} operation(s) in {type(model).__name__} have no archcalc equivalent:\n  "
                        f"{listed}", hint="archcalc reads standard torch.nn layers; see `archcalc layers`")
    if not isinstance(output, torch.fx.Node) or alias.get(output.name) != last or not layers:
        raise SpecError(f"{type(model).__name__} must return one tensor computed by its last layer",
                        hint="from-torch handles single-output models")
    spec = {"name": name or type(model).__name__.lower(), "input": shape}
    if source:
        spec["source"] = source
    spec["layers"] = layers
    return spec


def to_yaml(spec, header=None):
    """The spec as YAML in the zoo's style: one flow-style line per layer."""
    import yaml

    def flow(value):
        text = yaml.safe_dump(value, default_flow_style=True, width=10**6, sort_keys=False)
        return text.replace("\n...\n", "").strip()      # a bare scalar ends with a document marker

    lines = [f"# {line}" for line in (header or "").splitlines()]
    lines += [f"{key}: {flow(spec[key])}" for key in spec if key != "layers"]
    lines.append("layers:")
    for entry in spec["layers"]:
        (type_name, options), = entry.items()
        lines.append(f"  - {type_name}: {flow(options)}")
    return "\n".join(lines)
