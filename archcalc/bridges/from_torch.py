"""Import a PyTorch model as an archcalc spec: trace it with torch.fx, map each standard layer to ours.

`archcalc from-torch PACKAGE.MODULE:CALLABLE` imports and calls the user's own code (that is the
point of the command); the spec it writes is plain data, read back like any other spec.
Each layer class names the torch modules and functions it is imported from (`torch_modules`,
`torch_functions`) and reads their settings (`from_torch_module`, `from_torch_call`); a layer archcalc
cannot express is named in one error that lists them all.
"""
import contextlib
import importlib
import io
import operator

from ..errors import MissingExtra, SpecError, Unsupported
from .targets import build_target
from ..layers import layer_types
from ..layers.base import PASS_THROUGH, TorchCall
from ..spec.graph import INPUT, INPUT_DTYPES, parse_shape

_PASS = object()       # the node forwards its input unchanged (Identity, contiguous, eval-mode dropout)
_DROP = object()       # an element of a module's tuple output that nothing reads (the h_n of `out, _ = lstm(x)`)


class _Alias:
    """The node's value is the spec layer made for `source` (the output element of nn.LSTM's tuple)."""

    def __init__(self, source):
        self.source = source


def _torch():
    try:
        import torch
        import torch.fx  # noqa: F401
    except ImportError:
        raise MissingExtra("torch", "torch", "from-torch") from None
    return torch


def load_callable(target):
    """'package.module:callable' -> the torch.nn.Module it builds (an instance may be named directly)."""
    nn = _torch().nn       # a missing torch is blamed on the install, not on the user's module
    return build_target(target, nn.Module, what="torch.nn.Module", framework="torch", command="from-torch",
                        example="archcalc from-torch torchvision.models:resnet18 --input 3x224x224")


def _module_table():
    """torch module class -> layer class, from each layer class's `torch_modules`."""
    from torch import nn

    from ..layers import torch_modules
    table = {nn.Identity: None}                  # None: forwards its input
    for cls in layer_types():
        for name in cls.torch_modules:
            module_class = _torch_class(name, nn, torch_modules)
            if module_class is not None:
                table[module_class] = cls
    return table


def _torch_class(name, nn, torch_modules):
    """'Conv2d' in torch.nn, 'Add' in archcalc's own torch modules, or 'package.module:Class' (a plugin's)."""
    if ":" in name:
        module, _, attribute = name.partition(":")
        if module.startswith("torchvision."):       # torchvision's own blocks, when it is installed
            try:
                return getattr(importlib.import_module(module), attribute, None)
            except ImportError:
                return None
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


def _parameter_table():
    """Op name -> the layer classes that a call combining an activation with a learned tensor (read directly,
    not through a module) may be: `x + self.pos_embedding`, `self.layer_scale * x`, `cat([token, x])`."""
    table = {}
    for cls in layer_types():
        for name in cls.torch_parameter_ops:
            table.setdefault(name, []).append(cls)
    return table


class _Converter:
    def __init__(self, modules, shapes):
        self.modules = modules
        self.shapes = shapes          # fx node name -> output tensor shape with batch, or None for a non-tensor
        self.module_types = _module_table()
        self.passed = {}              # fx node -> the node whose value it forwards (an item of a tuple)
        self.function_types = _function_table()
        self.parameter_types = _parameter_table()

    def with_parameter(self, node, learned):
        """(type, options, [the activation]) for a call that combines one activation with a learned tensor;
        `learned` maps fx node names to the get_attr node of the Parameter they are (or expand/view)."""
        tensors = self.positional_tensors(node)
        mine = [i for i, arg in enumerate(tensors) if arg.name in learned]
        others = [arg for arg in tensors if arg.name not in learned]
        name = _function_name(node).lower()
        if len(mine) != 1 or len(others) != 1:
            raise Unsupported("combines learned tensors read directly in a way archcalc has no layer for")
        parameter = learned[tensors[mine[0]].name]
        call = TorchCall(name, tuple(node.args), dict(node.kwargs), tuple(self.shapes[a.name] for a in tensors),
                         self.shapes[node.name])
        reasons = []
        for cls in self.parameter_types.get(name, ()):
            try:
                return cls.type_name, cls.from_torch_parameter(call, self.shapes[parameter.name], mine[0]), others
            except Unsupported as reason:
                reasons.append(str(reason))
        raise Unsupported("; ".join(reasons) or f"reads the learned tensor '{parameter.target}' directly "
                          f"({name} of it and an activation has no archcalc layer)")

    def convert(self, node):
        """(archcalc type, options, tensor inputs), _PASS, _Alias, or None for a value that is not a tensor."""
        element = self.tuple_element(node)
        if element is not None:
            return None if element is _DROP else element
        inputs = self.positional_tensors(node)     # sdpa(q, q, v), or a module called on x twice: repeats kept
        piece = self.piece(node)
        if piece is not None:
            return None if piece is _DROP else piece
        if node.op == "call_module":
            module = self.modules[node.target]
            cls = self.module_class(module)
            if cls is not None and cls.max_inputs is not None and len(inputs) > cls.max_inputs:
                inputs = self.tensor_inputs(node)      # attention(x, x, x): one tensor, given as q, k and v
            return _PASS if cls is None else (
                cls.type_name, cls.from_torch_module_with(module, tuple(self.shapes[a.name] for a in inputs)), inputs)
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

    def module_class(self, module):
        """The layer class of a module: its own type's, or a base class's when the module keeps that
        class's forward (a subclass that only adds attributes)."""
        kind = type(module)
        if kind in self.module_types:
            return self.module_types[kind]
        for base in kind.__mro__[1:]:
            if base in self.module_types and kind.forward is base.forward:
                return self.module_types[base]
        raise Unsupported("no archcalc layer type for it")

    def piece(self, node):
        """`out[i]` of a call that returns several tensors: a module's tuple (nn.MultiheadAttention's
        (output, weights)) gives its first item through; a split or chunk becomes that piece's layer."""
        if node.op != "call_function" or _function_name(node) != "getitem":
            return None
        producer, index = node.args[0], node.args[1]
        if not hasattr(producer, "op") or self.shapes.get(producer.name) is not None:
            return None
        if producer.op == "call_module":
            if index != 0 and not node.users:
                return _DROP          # `x, _ = self.self_attention(x, x, x)`: the weights nobody reads
            if index != 0:
                raise Unsupported(f"item {index} of {producer.target}'s outputs; archcalc keeps the first")
            self.passed[node.name] = producer
            return _PASS
        name = _function_name(producer).lower()
        if self.function_types.get(name) is None:
            return None       # x.shape[1] and the like: a plain value
        cls = self.function_types[name]
        inputs = self.positional_tensors(producer)
        call = TorchCall(name, tuple(producer.args), {**producer.kwargs, "index": index},
                         tuple(self.shapes[arg.name] for arg in inputs), self.shapes[node.name])
        options, reads = cls.from_torch_call(call)
        return cls.type_name, options, [inputs[i] for i in reads]

    def positional_tensors(self, node):
        """The tensor arguments in their order, repeats kept (all_input_nodes lists each node once)."""
        found = [arg for arg in (*node.args, *node.kwargs.values()) if self.is_tensor(arg)]
        for arg in (*node.args, *node.kwargs.values()):
            if isinstance(arg, (list, tuple)):
                found += [a for a in arg if self.is_tensor(a)]
        return found or self.tensor_inputs(node)

    def tuple_element(self, node):
        """For `out, _ = self.lstm(x)`: fx's getitem on the tuple a layer's module returns. The element the
        layer class names as its output (`torch_output_index`) is that layer's value (an _Alias); another
        element nothing reads is dropped (_DROP); one that is read is unsupported. None otherwise."""
        if node.op != "call_function" or node.target is not operator.getitem:
            return None
        source = node.args[0]
        if getattr(source, "op", None) != "call_module":
            return None
        module = self.modules[source.target]
        cls = self.module_types.get(type(module))
        index = getattr(cls, "torch_output_index", None)
        if index is None:
            return None
        if node.args[1] == index:
            return _Alias(source)
        if not node.users:
            return _DROP
        raise Unsupported(f"element {node.args[1]!r} of what torch.nn.{type(module).__name__} returns; archcalc's "
                          f"{cls.type_name} is element {index} (the output sequence; `return: last` keeps its "
                          "last step)")

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
            kind = type(module)
            if getattr(kind, "traced_through", False):
                return False            # torch_modules.Functional: the call it makes is the layer
            return (kind.__module__ == torch_modules.__name__ or kind in leaves
                    or any(base in leaves and kind.forward is base.forward for base in kind.__mro__[1:])
                    or super().is_leaf_module(module, qualified_name))
    return Tracer()


def _first_line(err, limit=300):
    """An exception as one short line: torch's messages can carry whole node dumps."""
    text = (str(err).strip().splitlines() or [type(err).__name__])[0]
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _device(model):
    """Where the model's weights are: a model built on the meta device is traced there (shapes only, no
    memory and no arithmetic)."""
    for tensor in (*model.parameters(), *model.buffers()):
        return tensor.device
    return None


def _trace(model, input_shape, dtype="float"):
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
            ShapeProp(traced).propagate(torch.zeros((1, *input_shape), dtype=torch.float32 if dtype == "float"
                                                    else getattr(torch, dtype), device=_device(model)))
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


def split_dtype(input_shape, dtype=None):
    """"128:int64" -> ("128", "int64"): --input names the dtype of token ids after a colon."""
    if isinstance(input_shape, str) and ":" in input_shape:
        input_shape, dtype = input_shape.split(":", 1)
    dtype = dtype or "float"
    if dtype not in INPUT_DTYPES:
        raise SpecError(f"input dtype must be one of {', '.join(INPUT_DTYPES)}, got {dtype!r}",
                        hint="token ids for nn.Embedding: --input 128:int64")
    return input_shape, dtype


def _attribute(root, target):
    value = root
    for part in target.split("."):
        value = getattr(value, part)
    return value


def _pick_output(value, take, model_name):
    """The output node of a model that returns a dict, a named tuple or a tuple: `take` names it (a key, a
    field or an index); a model returning one tensor needs none."""
    import torch.fx
    built = getattr(value, "target", None)
    if isinstance(value, torch.fx.Node) and isinstance(built, type) and hasattr(built, "_fields"):
        value = built(*value.args, **value.kwargs)     # fx records a named tuple as a call of its class
    if isinstance(value, torch.fx.Node) and take is None:
        return value
    if isinstance(value, dict):
        choices = {str(k): v for k, v in value.items()}
    elif isinstance(value, tuple) and hasattr(value, "_fields"):
        choices = dict(zip(value._fields, value))
        choices.update({str(i): v for i, v in enumerate(value)})
    elif isinstance(value, (tuple, list)):
        choices = {str(i): v for i, v in enumerate(value)}
    else:
        choices = {}
    if take is None:
        names = [k for k in choices if not k.isdigit()] or list(choices)
        raise SpecError(f"{model_name} returns {type(value).__name__} of {len(value) if choices else 0} outputs "
                        f"({', '.join(names)}); from-torch writes one", hint=f"name the one to keep: --take "
                        f"{names[0] if names else 0}")
    if str(take) not in choices:
        raise SpecError(f"{model_name} has no output {take!r}", hint=f"outputs: {', '.join(choices)}")
    return choices[str(take)]


def from_torch(model, input_shape, *, name=None, source=None, dtype=None, take=None):
    """A spec (a plain dict, ready for archcalc.analyze or to_yaml) equivalent to `model`.

    `input_shape` is (channels, height, width), (tokens, features), (features,) or token ids (tokens,),
    without batch, or "3x224x224"; token ids take dtype="int64" (or "128:int64"). A model that returns a
    dict, a named tuple or a tuple keeps the output `take` (a key, a field name or an index). A model
    built on the meta device (`with torch.device("meta"): model = build()`) is traced there: no memory
    and no arithmetic. The spec is read back with archcalc before it is returned: one archcalc cannot
    read is an error, never an answer.
    """
    torch = _torch()
    input_shape, dtype = split_dtype(input_shape, dtype)
    shape = list(parse_shape(input_shape, "channels_first", what="--input"))
    traced, shapes = _trace(model, shape, dtype)
    converter = _Converter(dict(traced.named_modules()), shapes)
    alias = {}            # fx node name -> the spec name that holds its value
    layers, problems, last = [], [], INPUT
    failed = set()        # nodes reported, and everything computed from them
    weights = {}          # id of a module's weight Parameter -> the spec name of the first layer holding it
    learned = {}          # fx node name -> the get_attr node of the Parameter it is (or an expand/view of it)
    used = set()          # the learned tensors a layer took
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
            if isinstance(_attribute(traced, node.target), torch.nn.Parameter):
                learned[node.name] = node         # a layer that reads it (x + pos_embedding) takes it
            else:
                problems.append(f"{node.name} (reads the buffer '{node.target}' directly)")
                failed.add(node.name)
            continue
        reads_learned = [arg for arg in node.all_input_nodes if arg.name in learned]
        if reads_learned and not any(converter.is_tensor(arg) and arg.name not in learned
                                     for arg in node.all_input_nodes):
            learned[node.name] = learned[reads_learned[0].name]      # class_token.expand(n, -1, -1)
            continue
        try:
            if reads_learned:
                converted = converter.with_parameter(node, learned)
                used.update(learned[arg.name].name for arg in reads_learned)
            else:
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
        if isinstance(converted, _Alias):
            alias[node.name] = alias[converted.source.name]
            continue
        if converted is _PASS:
            source_node = converter.passed.get(node.name) or converter.tensor_inputs(node)[0]
            alias[node.name] = alias[source_node.name]
            continue
        type_name, options, args = converted
        refs = [alias[arg.name] for arg in args]
        if isinstance(options, list):        # one torch module that is several spec layers
            last = _add_parts(layers, options, node.name, refs, last)
            alias[node.name] = last
            continue
        # fx names the children of a top-level Sequential "_0", "_1": give them their type as well.
        spec_name = f"{type_name}{node.name}" if node.name.startswith("_") else node.name
        entry = {"name": spec_name}
        if refs != [last]:
            entry["from"] = refs[0] if len(refs) == 1 else refs
        entry.update(options)
        owner = _tied_to(node, converter.modules, weights, spec_name)
        if owner is not None:
            entry["tie"] = owner
        layers.append({type_name: entry})
        alias[node.name] = last = spec_name
    problems += [f"{node.name} (reads the parameter '{node.target}' directly, in an operation archcalc has no "
                 "layer for)" for node in {id(n): n for n in learned.values()}.values()
                 if node.name not in used and node.name not in failed and node.users]
    if problems:
        listed = "\n  ".join(problems)
        raise SpecError(f"{len(problems)} operation(s) in {type(model).__name__} have no archcalc equivalent:\n  "
                        f"{listed}", hint="archcalc reads standard torch.nn layers; see `archcalc layers`")
    output = _pick_output(output, take, type(model).__name__)
    if not isinstance(output, torch.fx.Node) or alias.get(output.name) != last or not layers:
        raise SpecError(f"{type(model).__name__} must return one tensor computed by its last layer",
                        hint="from-torch handles single-output models")
    spec = {"name": name or type(model).__name__.lower(),
            "input": shape if dtype == "float" else {"shape": shape, "dtype": dtype}}
    if source:
        spec["source"] = source
    spec["layers"] = layers
    _read_back(spec, type(model).__name__)
    return spec


def _read_back(spec, model_name):
    """Summarize the spec as any user would: one that archcalc rejects is from-torch's failure, said so."""
    from ..analysis.analyzer import analyze
    try:
        analyze(spec)
    except SpecError as err:
        raise SpecError(f"from-torch mapped every operation of {model_name}, but archcalc cannot read the spec "
                        f"it wrote: {str(err).splitlines()[0]}",
                        hint="a from-torch defect for this model: please report it with the model; nothing was "
                             "written") from None


def _add_parts(layers, parts, base, refs, last):
    """The entries of a module a layer class imports as several layers (`from_torch_module` answered a
    list of (suffix, type, options, inputs), inputs naming earlier parts or INPUT): named base_suffix."""
    names = {INPUT: refs[0]}
    for suffix, type_name, options, reads in parts:
        name = f"{base}_{suffix}"
        sources = [names[r] for r in reads]
        entry = {"name": name}
        if sources != [last]:
            entry["from"] = sources[0] if len(sources) == 1 else sources
        entry.update(options)
        layers.append({type_name: entry})
        names[suffix] = last = name
    return last


def _tied_to(node, modules, weights, spec_name):
    """The spec name of an earlier layer whose `weight` Parameter this module holds too (a tied LM head),
    else None; records this module's weight for the layers after it."""
    if node.op != "call_module":
        return None
    weight = getattr(modules[node.target], "weight", None)
    if weight is None or not hasattr(weight, "data_ptr"):
        return None
    if id(weight) in weights:
        return weights[id(weight)]
    weights[id(weight)] = spec_name
    return None


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
