"""Import a PyTorch model as an archcalc spec: trace it with torch.fx, map each standard layer to ours.

`archcalc from-torch PACKAGE.MODULE:CALLABLE` imports and calls the user's own code (that is the
point of the command); the spec it writes is plain data, read back like any other spec.
Every layer is mapped by one small function below, keyed by the torch module class or the function
that fx recorded; a layer archcalc cannot express is named in one error that lists them all.
"""
import contextlib
import importlib
import io
import inspect
import operator
import sys
from pathlib import Path

from ..errors import MissingExtra, SpecError
from ..layers import lookup
from ..spec.graph import INPUT, parse_shape

_PASS = object()       # the node forwards its input unchanged (Identity, contiguous, eval-mode dropout)


class Unsupported(Exception):
    """One traced operation with no archcalc equivalent; `reason` says what is missing."""


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
    _torch()        # a missing torch is blamed on the install, not on the user's module
    try:
        module = importlib.import_module(module_name)
    except ImportError as err:
        if (err.name or "").split(".")[0] == "torch":
            raise MissingExtra("torch", "torch", "from-torch") from None
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


def _pair(value):
    """(3, 3) -> 3; (3, 5) -> [3, 5]: the spec's shortest spelling."""
    if isinstance(value, (tuple, list)):
        return value[0] if len(set(value)) == 1 else list(value)
    return value


def _options(type_name, **given):
    """Options that differ from the layer type's defaults, so the spec reads like a hand-written one."""
    options = lookup(type_name).options
    kept = {}
    for key, value in given.items():
        default = options[key].default
        if value != default and _pair(value) != _pair(default):
            kept[key] = value
    return kept


# ---- torch.nn modules -> (archcalc type, options)

def _conv(m):
    if m.padding_mode != "zeros":
        raise Unsupported(f"padding_mode='{m.padding_mode}' (archcalc pads with zeros)")
    padding = m.padding if isinstance(m.padding, str) else _pair(m.padding)
    return "conv2d", {"filters": m.out_channels, "kernel": _pair(m.kernel_size),
                      **_options("conv2d", stride=_pair(m.stride), padding=padding, dilation=_pair(m.dilation),
                                 groups=m.groups, bias=m.bias is not None)}


def _linear(m):
    return "dense", {"units": m.out_features, **_options("dense", bias=m.bias is not None)}


def _batchnorm(m):
    given = {"eps": m.eps, "affine": m.affine}
    if m.momentum is not None:
        given["momentum"] = m.momentum
    return "batchnorm", _options("batchnorm", **given)


def _window(m):
    return {"kernel": _pair(m.kernel_size), "stride": _pair(m.stride), "padding": _pair(m.padding)}


def _maxpool(m):
    if m.return_indices:
        raise Unsupported("return_indices=True")
    return "maxpool2d", _options("maxpool2d", **_window(m), dilation=_pair(m.dilation), ceil_mode=m.ceil_mode)


def _avgpool(m):
    if m.divisor_override:
        raise Unsupported("divisor_override")
    return "avgpool2d", _options("avgpool2d", **_window(m), ceil_mode=m.ceil_mode,
                                 count_include_pad=m.count_include_pad)


def _adaptive_avgpool(m):
    size = m.output_size if isinstance(m.output_size, (tuple, list)) else (m.output_size,) * 2
    if None in size:
        raise Unsupported("an output size of None (keep the input size)")
    return "adaptive_avgpool2d", {"output": _pair(size)}


def _flatten(m):
    if (m.start_dim, m.end_dim) != (1, -1):
        raise Unsupported(f"flatten(start_dim={m.start_dim}, end_dim={m.end_dim}); archcalc flattens all but batch")
    return "flatten", {}


def _softmax(m):
    if m.dim not in (1, -1, None):
        raise Unsupported(f"softmax over dim={m.dim}; archcalc's softmax runs over channels (dim 1)")
    return "softmax", {}


def _module_table():
    from torch import nn

    from . import torch_model as torch_bridge
    table = {
        nn.Conv2d: _conv, nn.Linear: _linear,
        nn.BatchNorm2d: _batchnorm, nn.BatchNorm1d: _batchnorm,
        nn.MaxPool2d: _maxpool, nn.AvgPool2d: _avgpool, nn.AdaptiveAvgPool2d: _adaptive_avgpool,
        nn.Flatten: _flatten, nn.Softmax: _softmax,
        nn.Dropout: lambda m: ("dropout", _options("dropout", rate=m.p)),
        nn.LocalResponseNorm: lambda m: ("lrn", {"size": m.size, "alpha": m.alpha, "beta": m.beta, "k": m.k}),
        nn.LeakyReLU: lambda m: ("leaky_relu", _options("leaky_relu", negative_slope=m.negative_slope)),
        nn.ELU: lambda m: ("elu", _options("elu", alpha=m.alpha)),
        nn.GELU: lambda m: _exact_gelu(m.approximate),
        nn.Identity: lambda m: _PASS,
        # archcalc's own modules, so that a model from archcalc.to_torch comes back unchanged
        torch_bridge.Add: lambda m: ("add", {}), torch_bridge.Concat: lambda m: ("concat", {}),
        torch_bridge.Multiply: lambda m: ("multiply", {}),
        torch_bridge.GlobalAvgPool2d: lambda m: ("global_avgpool2d", {}),
        torch_bridge.GlobalMaxPool2d: lambda m: ("global_maxpool2d", {}),
    }
    for name in ("ReLU", "ReLU6", "SiLU", "Hardswish", "Tanh", "Sigmoid"):
        table[getattr(nn, name)] = lambda m, type_name=name.lower(): (type_name, {})
    return table


def _exact_gelu(approximate):
    if approximate != "none":
        raise Unsupported(f"GELU(approximate='{approximate}')")
    return "gelu", {}


# ---- functions and tensor methods that fx records

_ADD = ("add", "add_", "iadd")
_MUL = ("mul", "mul_", "imul")
_ACTIVATIONS = {"relu": "relu", "relu_": "relu", "sigmoid": "sigmoid", "tanh": "tanh", "gelu": "gelu",
                "silu": "silu", "relu6": "relu6", "hardswish": "hardswish"}
_RESHAPES = ("flatten", "view", "reshape")
_PASS_THROUGH = ("contiguous", "clone")


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
        self.table = _module_table()

    def convert(self, node):
        """(archcalc type, options, tensor inputs), _PASS, or None for a value that is not a tensor."""
        if node.op == "call_module":
            module = self.modules[node.target]
            mapper = self.table.get(type(module))
            if mapper is None:
                raise Unsupported("no archcalc layer type for it")
            result = mapper(module)
            return result if result is _PASS else (*result, self.tensor_inputs(node))
        name = _function_name(node).lower()
        if self.shapes.get(node.name) is None:
            return None       # a size or other plain value that feeds a reshape
        inputs = self.tensor_inputs(node)
        if name in _ADD or name in _MUL:
            operands = [a for a in node.args if self.is_tensor(a)]
            if len(operands) != 2 or len(node.args) != 2 or node.kwargs.get("alpha", 1) != 1:
                raise Unsupported("archcalc adds and multiplies two tensors, not a tensor and a constant")
            return ("add" if name in _ADD else "multiply", {}, operands)
        if name == "cat":
            dim = node.kwargs.get("dim", node.args[1] if len(node.args) > 1 else 0)
            if dim != 1:
                raise Unsupported(f"cat over dim={dim}; archcalc concatenates channels (dim 1)")
            return ("concat", {}, [arg for arg in node.args[0] if self.is_tensor(arg)])
        if name in _ACTIVATIONS:
            if node.kwargs.get("approximate", "none") != "none":
                raise Unsupported(f"gelu(approximate='{node.kwargs['approximate']}')")
            return (_ACTIVATIONS[name], {}, inputs[:1])
        if name == "dropout":
            rate = node.kwargs.get("p", node.args[1] if len(node.args) > 1 else 0.5)
            return ("dropout", _options("dropout", rate=rate), inputs[:1])
        if name == "softmax":
            dim = node.kwargs.get("dim", node.args[1] if len(node.args) > 1 else None)
            if dim not in (1, -1):
                raise Unsupported(f"softmax over dim={dim}")
            return ("softmax", {}, inputs[:1])
        if name == "adaptive_avg_pool2d":
            size = node.kwargs.get("output_size", node.args[1] if len(node.args) > 1 else None)
            return ("adaptive_avgpool2d", {"output": _pair(size)}, inputs[:1])
        if name == "mean":
            dims = node.kwargs.get("dim", node.args[1] if len(node.args) > 1 else None)
            keepdim = node.kwargs.get("keepdim", node.args[2] if len(node.args) > 2 else False)
            if list(dims or ()) in ([2, 3], [-2, -1]) and not keepdim and len(self.shapes[inputs[0].name]) == 4:
                return ("global_avgpool2d", {}, inputs[:1])
            raise Unsupported("a mean other than over height and width (x.mean([2, 3]))")
        if name in _RESHAPES:
            before, after = self.shapes[inputs[0].name], self.shapes[node.name]
            if len(after) == 2 and len(before) > 2:
                return ("flatten", {}, inputs[:1])
            if after[:len(before)] == before and all(d == 1 for d in after[len(before):]):
                return _PASS      # (N, C) -> (N, C, 1, 1) to scale channels: archcalc's multiply takes (C,)
            raise Unsupported(f"a reshape from {tuple(before[1:])} to {tuple(after[1:])}; archcalc can only flatten")
        if name in _PASS_THROUGH:
            return _PASS
        raise Unsupported("no archcalc layer type for it")

    def is_tensor(self, arg):
        return hasattr(arg, "op") and self.shapes.get(arg.name) is not None

    def tensor_inputs(self, node):
        return [arg for arg in node.all_input_nodes if self.is_tensor(arg)]


def _tracer():
    """fx's tracer, keeping archcalc's own torch modules whole (as it does torch.nn's)."""
    import torch.fx

    from . import torch_model as torch_bridge

    class Tracer(torch.fx.Tracer):
        def is_leaf_module(self, module, qualified_name):
            return type(module).__module__ == torch_bridge.__name__ or super().is_leaf_module(module, qualified_name)
    return Tracer()


def _first_line(err, limit=300):
    """An exception as one short line: torch's messages can carry whole node dumps."""
    text = (str(err).strip().splitlines() or [type(err).__name__])[0]
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _trace(model, input_shape):
    """The fx graph of `model`, and every node's output shape from one real forward pass at batch 1."""
    import torch
    import torch.fx
    from torch.fx.passes.shape_prop import ShapeProp
    tracer = _tracer()
    try:
        graph = tracer.trace(model)
    except Exception as err:  # noqa: BLE001 - any tracing failure is reported as the user's model problem
        raise SpecError(f"torch.fx cannot trace {type(model).__name__}: {_first_line(err)}",
                        hint="from-torch needs a forward without data-dependent control flow") from None
    traced = torch.fx.GraphModule(tracer.root, graph)
    was_training = model.training
    traced.eval()
    try:
        # ShapeProp prints its own traceback to stderr before raising; keep it off the user's terminal.
        with torch.no_grad(), contextlib.redirect_stderr(io.StringIO()):
            ShapeProp(traced).propagate(torch.zeros((1, *input_shape)))
    except Exception as err:  # noqa: BLE001
        cause = err.__cause__ if err.__cause__ is not None and str(err).startswith("ShapeProp error") else err
        raise SpecError(f"{type(model).__name__} does not run on an input of shape {tuple(input_shape)}: "
                        f"{_first_line(cause)}",
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
