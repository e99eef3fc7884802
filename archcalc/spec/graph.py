"""The spec loader: YAML text -> a validated graph of layer nodes, each remembering its source line.

A spec has `name`, `input` (channels-first by default, `layout: channels_last` for Keras order),
optional parameterised `blocks`, optional top-level `args` (defaults that `${expr}` in `layers` may use,
overridden by `load_spec(..., args=...)` or `--set name=value`), and `layers`. Every entry is a bare
type (`relu`), a one-key mapping (`conv2d: {filters: 96, kernel: 11}`), or a scalar for the type's
main option (`dense: 10`). Entries may carry `name`, `from`, `repeat`, `first`, `trainable`, `when` and,
for conv2d and dense, `activation`. A skipped entry (`when: false`) passes its first input through.
Inside a block, `$in_channels` is the channel count (features, for a vector) of the block's input.
"""
import reprlib
from dataclasses import dataclass, field
from pathlib import Path

from . import zoo
from ..errors import LayerError, SpecError, read_text
from ..i18n import _
from .expr import substitute
from ..layers import Kind, layer_types, lookup, normalize, suggest
from ..layers.base import did_you_mean
from ..layers.shapes import CHANNELS_FIRST, LAYOUTS, from_layout
from .yamlio import LineDict, LineList, load_yaml

INPUT = "input"
MAX_NODES = 100_000         # layers after expansion; entries visited (skipped ones too) are bounded the same
MAX_BLOCK_DEPTH = 32        # blocks used inside blocks inside blocks...; real networks nest two or three
MAX_ELEMENTS = 2**63       # elements of one layer's output (batch excluded)
TOP_KEYS = ("name", "input", "layout", "layers", "blocks", "args", "description", "source")
ENTRY_KEYS = ("name", "from", "repeat", "first", "trainable", "when", "activation", "tie")
INPUT_DTYPES = ("float", "int64", "int32")    # `input: {shape: [128], dtype: int64}`: token ids
BLOCK_KEYS = ("args", "layers", "description")
IN_CHANNELS = "in_channels"


@dataclass
class Node:
    """One layer in the expanded graph."""

    name: str
    layer: object
    inputs: tuple
    trainable: bool = True
    line: int = None
    context: str = ""
    tie: str = None       # the earlier layer whose weight tensor this layer shares (`tie: wte`)
    block: str = ""       # the outermost block use it belongs to (`h.3`), "" at the top level

    @property
    def type_name(self):
        return self.layer.type_name


@dataclass
class Graph:
    """A validated, expanded spec: nodes in execution order; every input names an earlier node or INPUT."""

    name: str
    input_shape: tuple          # internal channels-first, no batch
    layout: str = CHANNELS_FIRST
    nodes: list = field(default_factory=list)
    file: str = None
    description: str = ""
    source: str = ""
    layout_note: tuple = None   # (message, fix) when the input looks written in the other layout
    input_dtype: str = "float"  # "int64" or "int32" for token ids (`input: {shape: [128], dtype: int64}`)
    shapes: dict = field(default_factory=dict)   # node name -> output shape, as the loader's size check
                                                 # computed it (internal layout); the analyzer reuses them

    @property
    def output(self):
        return self.nodes[-1].name if self.nodes else INPUT

    def layer_hint(self, name):
        """The fix for a layer name the graph lacks: the layers of the block use so named, the closest name,
        or the first few names."""
        names = [node.name for node in self.nodes]
        inside = [n for n in names if n.startswith(f"{name}.")]
        if inside:
            return _("'{name}' is a block use; name one of its layers: {layers}, ...").format(
                name=name, layers=", ".join(inside[:4]))
        return did_you_mean(name, names) or _("its layers: {layers}").format(layers=", ".join(names[:12]))

    def error(self, node, err):
        """Locate an error raised while analysing `node`; when the input looked written in the other
        layout, say so: that is the likeliest cause of a shape that does not fit."""
        if node.context and node.context not in err.message:
            err.message += f" ({node.context})"
        if self.layout_note and self.layout_note[0] not in err.message:
            err.message += f"; {self.layout_note[0]}"
            err.hint = self.layout_note[1]
        return err.located(file=self.file, line=node.line, layer=node.name)


def is_name(word):
    """A layer or block name: one printable word, without '.' (which joins a block use to its layers)."""
    return isinstance(word, str) and word.isprintable() and word.split() == [word] and "." not in word \
        and word != INPUT


MAX_INPUT_RANK = 4      # channels and up to three spatial axes


def parse_shape(value, layout, *, file=None, line=None, what="input"):
    """[3, 224, 224], "3x224x224", [128, 768] or [784] in `layout` -> internal channels-first tuple."""
    written = value
    if isinstance(value, str):
        try:
            value = [int(part) for part in value.lower().replace("×", "x").split("x")] if len(value) < 200 else None
        except ValueError:
            value = None
    if not isinstance(value, list) or not all(isinstance(d, int) and not isinstance(d, bool) for d in value):
        raise SpecError(_("{what} shape must be a list of integers such as [3, 224, 224], got {value}").format(
            what=what, value=reprlib.repr(written)), file=file, line=line,
            hint=_("write e.g. input: [3, 224, 224] or --input 3x224x224"))
    if not 1 <= len(value) <= MAX_INPUT_RANK:
        raise SpecError(_("{what} shape {shape} has {rank} dimensions; archcalc takes [features] "
                          "vectors or token ids, [tokens, features] sequences or [channels, length] signals, "
                          "[channels, height, width] images and [channels, depth, height, width] volumes "
                          "(no batch dimension)").format(what=what, shape=list(value), rank=len(value)),
                        file=file, line=line, hint=_("for a grayscale image add the channel: [1, 28, 28]"))
    if any(d >= 2**63 for d in value):
        raise SpecError(_("{what} shape has a size of 2^63 or more").format(what=what), file=file, line=line,
                        hint=_("archcalc's sizes and counts stay below 2^63"))
    if any(d < 1 for d in value):
        raise SpecError(_("{what} shape {shape} has a size below 1").format(what=what, shape=list(value)),
                        file=file, line=line,
                        hint=_("every size is a count of channels, pixels or features: 1 or more"))
    return from_layout(tuple(value), layout)


def _as_written(value):
    if isinstance(value, str):
        try:
            return [int(part) for part in value.lower().replace("×", "x").split("x")]
        except ValueError:
            return None
    return list(value) if isinstance(value, (list, tuple)) else None


def layout_note(written, layout, *, own=None, what="input"):
    """(message, fix) when an image shape as written looks like the other layout, else None.

    Looks like channels-last under channels_first: a last axis of 1, 3 or 4 after a first axis of 16 or
    more ([32, 32, 3]); the reverse under channels_last ([3, 224, 224]). For --input, `own` is the spec's
    own input as written: an --input whose channel count sits where the spec's own does not is suspect too."""
    shape = _as_written(written)
    if not shape or len(shape) != 3:
        return None
    first, _middle, last = shape
    text = "×".join(map(str, shape))
    channels_first = layout == CHANNELS_FIRST
    reads = _("channels×height×width") if channels_first else _("height×width×channels")
    other = "channels_last" if channels_first else "channels_first"
    channels = first if channels_first else last
    suspect = (last in (1, 3, 4) and first >= 16) if channels_first else (first in (1, 3, 4) and last >= 16)
    own_shape = _as_written(own) if own is not None else None
    if not suspect and own_shape and len(own_shape) == 3:
        own_channels = own_shape[0] if channels_first else own_shape[-1]
        suspect = channels != own_channels and (last if channels_first else first) == own_channels
    if not suspect:
        return None
    reordered = [last, *shape[:2]] if channels_first else [*shape[1:], first]
    message = _("the {what} {shape} is read as {reads} ({layout}, so {channels} channels); it looks like "
                "{other} order").format(what=what, shape=text, reads=reads, layout=layout, channels=channels,
                                        other=other)
    if what == "--input":
        fix = _("this spec is {layout}: write --input {shape}").format(layout=layout,
                                                                       shape="x".join(map(str, reordered)))
    else:
        fix = _("if {shape} is {other_words}, add `layout: {other}` to the spec, or write input: [{reordered}]").format(
            shape=text, other_words=other.replace("_", " "), other=other, reordered=", ".join(map(str, reordered)))
    return message, fix


def parse_input(value, file=None, line=None):
    """`input: [3, 224, 224]`, or `input: {shape: [128], dtype: int64}` for token ids -> (shape, dtype)."""
    if not isinstance(value, dict):
        return value, "float"
    unknown = [key for key in value if key not in ("shape", "dtype")]
    if unknown or "shape" not in value:
        raise SpecError(f"`input` as a mapping takes `shape` and `dtype`, got {', '.join(map(str, value)) or 'nothing'}",
                        file=file, line=line, hint="write input: {shape: [128], dtype: int64} for 128 token ids")
    dtype = value.get("dtype", "float")
    if dtype not in INPUT_DTYPES:
        raise SpecError(f"input dtype must be one of {', '.join(INPUT_DTYPES)}, got {dtype!r}", file=file, line=line,
                        hint="token ids are int64 (what nn.Embedding takes); everything else is float")
    return value["shape"], dtype


def load_spec(source, *, input_shape=None, args=None):
    """Load a spec from a path, a built-in zoo name, or a dict; `input_shape` overrides the spec's input,
    `args` (a dict) the defaults of its top-level `args`."""
    if isinstance(source, dict):
        return build_graph(source, file=None, input_shape=input_shape, args=args)
    path = Path(source)
    if not path.is_file():
        found = zoo.find(str(source))
        if found is None and path.is_dir():
            raise SpecError(_("'{source}' is a folder, not a spec file").format(source=source),
                            hint=_("name the YAML file inside it"))
        if found is None:
            hint = did_you_mean(source, zoo.names()) or _("built-in specs: {names}").format(names=", ".join(zoo.names()))
            raise SpecError(_("no spec file or built-in spec named '{source}'").format(source=source), hint=hint)
        path = found
    text = read_text(path, "spec")
    display = str(source) if Path(source).is_file() else path.name
    return build_graph(load_yaml(text, file=display), file=display, input_shape=input_shape, args=args)


def as_graph(spec, *, input_shape=None, args=None):
    """A Graph as it is; a path, zoo name or dict through load_spec. Every library entry point takes either."""
    if isinstance(spec, Graph):
        return spec
    return load_spec(spec, input_shape=input_shape, args=args)


def build_graph(data, *, file=None, input_shape=None, args=None):
    if not isinstance(data, dict):
        raise SpecError(_("a spec must be a mapping with at least `input` and `layers`"), file=file, line=1,
                        hint="`archcalc new my_net.yaml` writes a starter spec to edit; `archcalc zoo` lists the "
                             "built-in ones, and `archcalc new my_net.yaml --from resnet18` copies one")
    line_of = getattr(data, "line_of", lambda key: None)
    for key in data:
        if key not in TOP_KEYS:
            raise SpecError(_("unknown top-level key '{key}'").format(key=key), file=file, line=line_of(key),
                            hint=did_you_mean(key, TOP_KEYS) or _("top-level keys: {keys}").format(
                                keys=", ".join(TOP_KEYS)))
    for key in ("input", "layers"):
        if key not in data:
            raise SpecError(_("the spec has no `{key}`").format(key=key), file=file, line=1,
                            hint=_("a spec needs `input: [channels, height, width]` and a `layers:` list"))
    layout = data.get("layout", CHANNELS_FIRST)
    if layout not in LAYOUTS:
        raise SpecError(_("layout must be one of {layouts}, got {value}").format(layouts=", ".join(LAYOUTS),
                                                                                 value=repr(layout)),
                        file=file, line=line_of("layout"),
                        hint=_("channels_first is [3, 224, 224] (PyTorch), channels_last is [224, 224, 3] (Keras)"))
    written, input_dtype = parse_input(data["input"], file, line_of("input"))
    if input_shape is not None:
        shape = parse_shape(input_shape, layout, what="--input")
        note = layout_note(input_shape, layout, own=written, what="--input")
    else:
        shape = parse_shape(written, layout, file=file, line=line_of("input"))
        note = layout_note(written, layout)
    blocks = data.get("blocks") or {}
    if not isinstance(blocks, dict):
        raise SpecError("`blocks` must map block names to definitions", file=file, line=line_of("blocks"),
                        hint="write `blocks: {name: {args: {...}, layers: [...]}}`")
    for block in blocks:
        line = blocks.line_of(block) if isinstance(blocks, LineDict) else None
        if not is_name(block):
            raise SpecError(f"block name must be one word without '.', and not '{INPUT}'; got {block!r}",
                            file=file, line=line, hint="e.g. bottleneck")
        # against the types loaded so far: a block's name is not looked up among plugins (that would scan every
        # installed package for each spec with blocks); where a plugin type has it, the block wins, as below
        shadowed = lookup(block, plugins=False)
        if shadowed is not None:
            spelling = ("a layer type" if normalize(block) == shadowed.type_name
                        else f"another spelling of the layer type '{shadowed.type_name}'")
            raise SpecError(f"block name '{block}' is {spelling}, so `- {block}` would be ambiguous",
                            file=file, line=line, hint=f"rename the block, e.g. '{block}_block'")
    for key in ("name", "description", "source"):
        if isinstance(data.get(key), (list, dict)):
            raise SpecError(f"`{key}` must be text, got {data[key]!r}", file=file, line=line_of(key),
                            hint=f"write {key}: followed by words on the same line")
    graph = Graph(
        name=str(data.get("name") or (Path(file).stem if file else "model")),
        input_shape=shape, layout=layout, file=file, input_dtype=input_dtype,
        description=str(data.get("description") or ""), source=str(data.get("source") or ""),
        layout_note=note,
    )
    expander = _Expander(graph, blocks)
    layers = data["layers"]
    if not isinstance(layers, list) or not layers:
        raise SpecError(_("`layers` must be a non-empty list"), file=file, line=line_of("layers"),
                        hint=_("write each layer as a list item, e.g. `- conv2d: {filters: 32, kernel: 3}`"))
    expander.expand_list(layers, _Scope(env=top_level_args(data, args, file)), line_of("layers"))
    expander.check_sizes()
    graph.shapes = expander.shapes
    if not graph.nodes:
        raise SpecError("every layer is skipped (`when: false`), so the network has no layers", file=file,
                        line=line_of("layers"), hint="let at least one layer run: remove `when: false` or set "
                                                     "the argument it names to true")
    return graph


def top_level_args(data, overrides, file):
    """The spec's `args` defaults, with the caller's overrides; every override must name a declared arg."""
    declared = data.get("args") or {}
    line = getattr(data, "line_of", lambda key: None)("args")
    if not isinstance(declared, dict):
        raise SpecError("`args` must map argument names to default values", file=file, line=line,
                        hint="e.g. args: {aux_logits: false}")
    check_argument_names(declared, getattr(declared, "line_of", lambda key: line), file, "the spec")
    for name in overrides or {}:
        if name not in declared:
            raise SpecError(f"the spec has no argument '{name}'", file=file, line=line,
                            hint=_argument_hint(name, declared))
    return {**declared, **(overrides or {})}


def _argument_hint(name, declared):
    """For an argument the spec or block does not declare: the nearest declared name, else all of them."""
    words = [d for d in declared if isinstance(d, str)]
    return (did_you_mean(name, words) if isinstance(name, str) else None) or \
        f"its arguments: {', '.join(map(str, declared)) or 'none'}"


def check_argument_names(declared, line_of, file, where):
    """Argument names are words: YAML reads a bare on/off/yes/no as true/false, and 1 as a number."""
    for name in declared:
        if not isinstance(name, str):
            spelled = {True: "on/yes/true", False: "off/no/false"}.get(name, repr(name))
            raise SpecError(f"an argument of {where} is named {spelled}, which YAML reads as "
                            f"{type(name).__name__} {name!r}, not a word", file=file, line=line_of(name),
                            hint="quote it ('on': ...) or choose another name, e.g. enabled")


def frozen(value):
    """A YAML value as a hashable key that tells apart what Python's == and hash do not (1, 1.0 and
    true), or None for a value that has no such key (anything but YAML's scalars, lists and mappings)."""
    if isinstance(value, dict):
        items = [(frozen(k), frozen(v)) for k, v in value.items()]
        return None if any(k is None or v is None for k, v in items) else (dict, tuple(items))
    if isinstance(value, list):
        items = [frozen(v) for v in value]
        return None if None in items else (list, tuple(items))
    if type(value) in (int, float, bool, str, type(None)):
        return type(value), value
    return None


@dataclass
class _Scope:
    """Where names resolve while expanding: the top level, or one use of a block."""

    prefix: str = ""
    input_ref: str = INPUT
    env: dict = field(default_factory=dict)
    trainable: bool = True
    stack: tuple = ()
    context: str = ""
    names: dict = field(default_factory=dict)
    counters: dict = field(default_factory=dict)
    last: str = None
    times: int = 1          # how many identical expansions of this scope are still to come, this one included
    block: str = ""         # the outermost block use being expanded (`h.3`, `layer1.0`)

    def previous(self):
        return self.last or self.input_ref

    def auto_name(self, base):
        self.counters[base] = self.counters.get(base, 0) + 1
        return f"{base}_{self.counters[base]}"


class _Expander:
    def __init__(self, graph, blocks):
        self.graph = graph
        self.blocks = blocks
        self.names = set()       # full node names
        self.prefixes = set()    # their dotted prefixes: block instances
        self.shapes = {INPUT: graph.input_shape}   # output shapes, computed only for `$in_channels`
        self.sizes = {}          # block name -> at most how many nodes one use adds
        self.visited = 0         # entries expanded so far, skipped ones included: bounded by MAX_NODES
        self.canonical = {}      # (layer class, spelling) -> option name, for this load: repeats look it up once
        self.layers = {}         # (layer class, frozen options) -> the layer they make (see `layer`)

    def shape_of(self, ref):
        """The output shape of an expanded node; a layer's shape error is raised located at that layer."""
        while ref not in self.shapes:
            node = self.graph.nodes[len(self.shapes) - 1]      # the first node without a shape yet
            try:
                self.shapes[node.name] = node.layer.output_shape([self.shapes[r] for r in node.inputs])
            except SpecError as err:
                raise self.graph.error(node, err) from None
        return self.shapes[ref]

    def check_sizes(self):
        """Every layer's output below MAX_ELEMENTS elements (transposed convolutions multiply sizes), so
        every count stays exact, fast and printable; the first layer past it is named."""
        for node in self.graph.nodes:
            shape = self.shape_of(node.name)
            elements = 1
            for size in shape:
                elements *= size
            if elements >= MAX_ELEMENTS:
                raise self.graph.error(node, SpecError(
                    f"this layer's output has about 2^{elements.bit_length() - 1} elements; archcalc's sizes "
                    "and counts stay below 2^63", hint="check the strides and sizes that lead here"))

    def fail(self, message, line, scope=None, layer=None, hint=None):
        if scope and scope.context:
            message += f" ({scope.context})"
        return SpecError(message, file=self.graph.file, line=line, layer=layer, hint=hint)

    def expand_list(self, entries, scope, line):
        if not isinstance(entries, list):
            raise self.fail("`layers` must be a list", line, scope,
                            hint="write each layer as a list item, e.g. `- conv2d: {filters: 32, kernel: 3}`")
        for index, entry in enumerate(entries):
            item_line = entries.line_of(index) if isinstance(entries, LineList) else line
            self.expand_entry(entry, item_line, scope)
        return scope.previous()

    def split_entry(self, entry, line, scope):
        """An entry -> (type word, options, meta); options keep their key lines."""
        if isinstance(entry, str):
            return entry, LineDict(), {}, line
        if isinstance(entry, dict) and entry:
            kinds = [k for k in entry if k not in ENTRY_KEYS]
            types = [k for k in kinds if k in self.blocks or lookup(k) is not None]
            if len(kinds) > 1 and len(types) == 1 and entry[types[0]] is None:
                beside = [k for k in kinds if k != types[0]]
                raise self.fail(
                    f"{', '.join(beside)} {'are' if len(beside) > 1 else 'is'} written beside `{types[0]}:` "
                    "instead of under it, so YAML reads them as keys of the list item, not as its options",
                    line, scope, hint=f"indent {', '.join(beside)} two more spaces, under `{types[0]}:`, or write "
                    f"`- {types[0]}: {{{', '.join(f'{k}: ...' for k in beside)}}}`")
            if len(kinds) != 1:
                raise self.fail(
                    "a layer entry must have exactly one layer or block type as its key, got "
                    + (", ".join(map(str, kinds)) or "none"),
                    line, scope, hint="write `- conv2d: {filters: 32, kernel: 3}`, one layer per list item")
            kind = kinds[0]
            options = entry[kind]
            line = entry.line_of(kind) if isinstance(entry, LineDict) else line
            siblings = {k: v for k, v in entry.items() if k != kind}
            if options is None:
                options = LineDict()
            if not isinstance(options, dict):
                options = self.primary_option(kind, options, line, scope)
            return kind, options, siblings, line
        raise self.fail(_("a layer entry must be a type name or a mapping, got {entry}").format(entry=repr(entry)),
                        line, scope, hint=_("write `- relu` or `- dense: {units: 10}`"))

    def primary_option(self, kind, value, line, scope):
        cls = lookup(kind)
        if cls is None and kind not in self.blocks:
            raise self.unknown_type(kind, line, scope, None)
        if cls is not None and cls.primary:
            options = LineDict({cls.primary: value})
            options.line, options.key_lines = line, {cls.primary: line}
            return options
        raise self.fail(_("'{kind}' needs a mapping of options, got {value}").format(kind=kind, value=repr(value)),
                        line, scope, hint=_("write `- {kind}: {{option: value, ...}}`").format(kind=kind))

    def expand_entry(self, entry, line, scope):
        kind, options, siblings, line = self.split_entry(entry, line, scope)
        try:
            options = substitute(options, scope.env)
            siblings = substitute(siblings, scope.env)
        except SpecError as err:
            if err.line:    # a layer before this block use failed while `$in_channels` was computed
                raise
            name = siblings.get("name", options.get("name"))
            if not (isinstance(name, str) and not name.startswith("$")):
                cls = lookup(kind) if isinstance(kind, str) and kind not in self.blocks else None
                base = kind if cls is None else cls.type_name
                name = f"{base}_{scope.counters.get(base, 0) + 1}"     # the name it would have been given
            message = err.message
            if message.startswith("unknown argument"):
                import re
                # "unknown argument 'filtres' in 'filtres'" is how `$filtres` reads to the expression parser
                message = re.sub(r"^unknown argument '(\w+)' in '\1'$", r"unknown argument '$\1'", message)
                message += f" in the options of `{kind}`"
            raise self.fail(message, line, scope, scope.prefix + name, err.hint) from None
        meta = {k: options.pop(k) for k in list(options) if k in ENTRY_KEYS and k != "activation"}
        meta.update(siblings)
        options_line = options.line_of if isinstance(options, LineDict) else (lambda key: line)

        name = meta.get("name")
        if name is not None and not is_name(name):
            raise self.fail(_("layer name must be one word without '.', and not '{input}'; got {name}").format(
                input=INPUT, name=repr(name)), line, scope, hint=_("e.g. name: conv1"))
        repeat = meta.get("repeat", 1)
        if not isinstance(repeat, int) or isinstance(repeat, bool) or repeat < 1:
            raise self.fail(_("repeat must be a whole number >= 1, got {repeat}").format(repeat=repr(repeat)),
                            line, scope, name, hint=_("e.g. repeat: 3; to leave a layer out write `when: false`"))
        if repeat > MAX_NODES:
            raise self.fail(f"repeat {repeat} would expand past {MAX_NODES:,} layers", line, scope, name,
                            hint="archcalc bounds expansion; check the repeat count")
        first = meta.get("first") or {}
        if not isinstance(first, dict):
            raise self.fail("`first` must be a mapping of options for the first repetition", line, scope, name,
                            hint="e.g. first: {stride: 2}")
        when = self.flag(meta, "when", line, scope, name,
                         hint="write when: true / false, or a block argument: when: $downsample")
        trainable = self.flag(meta, "trainable", line, scope, name, hint="write trainable: false to freeze the layer")
        inputs = self.resolve_inputs(meta.get("from"), scope, line, name)
        tie = meta.get("tie")
        if tie is not None:
            if not isinstance(tie, str):
                raise self.fail(f"`tie` must name one earlier layer, got {tie!r}", line, scope, name,
                                hint="e.g. tie: wte (the LM head shares the token embedding's weight)")
            tie = self.resolve_inputs(tie, scope, line, name, key="tie")[0]
            if tie == INPUT or tie == scope.input_ref:
                raise self.fail("`tie` must name an earlier layer with a weight, not the input", line, scope, name,
                                hint="e.g. tie: wte")

        self.visit(1, line, scope, name)
        if not when:
            # A skipped layer passes its input through, so later references to it still resolve.
            if name:
                scope.names[name] = inputs[0]
            scope.last = inputs[0]
            return
        is_block = kind in self.blocks
        cls = None if is_block else lookup(kind)
        if not is_block and cls is None:
            raise self.unknown_type(kind, line, scope, name)
        if is_block:
            self.check_expansion(kind, repeat, line, scope, name)
        else:
            self.visit(repeat - 1, line, scope, name)
        for index in range(repeat):
            instance = options
            if index == 0 and first:
                instance = LineDict({**options, **first})
                instance.__dict__.update(getattr(options, "__dict__", {}))     # keep the entry's lines
            if name is None:
                local = scope.auto_name(kind if is_block else cls.type_name)
            else:
                local = f"{name}.{index}" if repeat > 1 else name
            these_inputs = inputs if index == 0 else (scope.previous(),)
            if is_block:
                # Repetitions after a `first` one are alike, so their cost is known from this one's.
                times = scope.times * (repeat - index if index or not first else 1)
                out = self.expand_block(kind, self.blocks[kind], instance, local, these_inputs, scope, line,
                                        trainable and scope.trainable, times)
            else:
                out = self.add_layer(cls, instance, options_line, local, these_inputs, scope, line,
                                     trainable and scope.trainable, tie)
            scope.last = out
        if name is not None:
            scope.names[name] = scope.last

    def flag(self, meta, key, line, scope, name, hint):
        """An entry's true/false key (`when`, `trainable`), true when absent."""
        value = meta.get(key, True)
        if not isinstance(value, bool):
            raise self.fail(f"`{key}` must be true or false, got {value!r}", line, scope, name, hint=hint)
        return value

    def unknown_type(self, kind, line, scope, name):
        hint = suggest(kind) or did_you_mean(kind, self.blocks)
        return self.fail(_("unknown layer type or block '{kind}'").format(kind=kind), line, scope, name,
                         hint=hint or _("run `archcalc layers` for the layer types; blocks come from `blocks:`"))

    def visit(self, count, line, scope, name):
        """Count entries expanded, skipped ones too, so that repeats of `when: false` layers are bounded;
        refuse as soon as this scope's identical expansions still to come would pass the bound."""
        self.visited += count
        if self.visited + count * (scope.times - 1) > MAX_NODES:
            raise self.fail(f"the spec expands to more than {MAX_NODES:,} entries (layers, skipped ones "
                            "included)", line, scope, name,
                            hint="check repeat counts and blocks that use other blocks many times")

    def check_expansion(self, kind, repeat, line, scope, name):
        """Refuse a block use that would pass MAX_NODES before expanding it, so absurd specs fail at once."""
        size = repeat * self.block_size(kind, line=line, scope=scope) * scope.times
        done = max(len(self.graph.nodes), self.visited)
        if done + size > MAX_NODES:
            so_far = f" after the {done:,} entries expanded so far" if done else ""
            raise self.fail(f"block '{kind}'" + (f" repeated {repeat} times" if repeat > 1 else "")
                            + f" would expand to up to {size:,} layers{so_far}, past archcalc's limit of {MAX_NODES:,}",
                            line, scope, name, hint="check repeat counts and blocks that use other blocks many times")

    def block_size(self, kind, inside=(), line=None, scope=None):
        """At most how many nodes one use of block `kind` adds (ignoring `when`; `$arg` repeats count once)."""
        if kind in inside:
            return 0    # a block that uses itself is reported when it is expanded
        if len(inside) >= MAX_BLOCK_DEPTH:
            raise self.too_deep(inside + (kind,), line, scope)
        if kind not in self.sizes:
            self.sizes[kind] = self.count_block(kind, inside, line, scope)
        return self.sizes[kind]

    def too_deep(self, chain, line, scope):
        shown = " → ".join(chain[:3] + ("…",) + chain[-2:]) if len(chain) > 6 else " → ".join(chain)
        return self.fail(f"blocks use blocks more than {MAX_BLOCK_DEPTH} deep ({shown})", line, scope,
                         hint="real networks nest blocks two or three deep; check which block each one uses")

    def count_block(self, kind, inside, line=None, scope=None):
        block = self.blocks[kind]
        entries = block.get("layers") if isinstance(block, dict) else block
        total = 0
        for entry in entries if isinstance(entries, list) else ():
            words = [entry] if isinstance(entry, str) else [k for k in entry if k not in ENTRY_KEYS] \
                if isinstance(entry, dict) else []
            options = entry.get(words[0]) if isinstance(entry, dict) and words else None
            repeat = entry.get("repeat") if isinstance(entry, dict) else None
            if repeat is None and isinstance(options, dict):
                repeat = options.get("repeat")
            repeat = repeat if isinstance(repeat, int) and repeat > 0 else 1
            word = words[0] if len(words) == 1 else None
            activation = any(isinstance(d, dict) and "activation" in d for d in (entry, options))
            inner = self.block_size(word, inside + (kind,), line, scope) if word in self.blocks \
                else 1 + activation
            total += repeat * inner
        return total

    def resolve_inputs(self, refs, scope, line, name, key="from"):
        if refs is None:
            return (scope.previous(),)
        if isinstance(refs, str):
            refs = [refs]
        if not isinstance(refs, list) or not refs or not all(isinstance(r, str) for r in refs):
            raise self.fail(f"`from` must name an earlier layer or list them, got {refs!r}", line, scope, name,
                            hint="write from: conv1, or from: [conv1, input]")
        resolved = []
        for ref in refs:
            if ref == INPUT:
                resolved.append(scope.input_ref)
            elif ref in scope.names:
                resolved.append(scope.names[ref])
            elif not scope.prefix and ref in self.names:
                resolved.append(ref)
            else:
                sentence = (_("names defined so far here: {names}; `{input}` means the block input") if scope.prefix
                            else _("names defined so far here: {names}; `{input}` means the network input"))
                hint = did_you_mean(ref, list(scope.names) + [INPUT]) or sentence.format(
                    names=", ".join(list(scope.names)[-8:]) or _("none"), input=INPUT)
                raise self.fail(_("`{key}` refers to '{ref}', which is not an earlier layer").format(key=key, ref=ref),
                                line, scope, name, hint=hint)
        return tuple(resolved)

    def claim(self, full, line, scope):
        """Names are unique, and none is a dotted prefix of another, so to_torch can nest modules by name."""
        parts = full.split(".")
        prefixes = {".".join(parts[:i]) for i in range(1, len(parts))}
        if full in self.names:
            raise self.fail(_("two layers are named '{name}'").format(name=full), line, scope, full,
                            hint=_("give one of them another `name`"))
        if full in self.prefixes or prefixes & self.names:
            taken = full if full in self.prefixes else max(prefixes & self.names)
            raise self.fail(f"'{taken}' names both a layer and a block use (whose layers are '{taken}.…')",
                            line, scope, full, hint="give one of them another `name`")
        self.names.add(full)
        self.prefixes.update(prefixes)

    def canonical_option(self, cls, key):
        """cls.canonical_option, remembered per (class, spelling): a block repeated 1,000 times spells the
        same options 1,000 times. Unknown spellings are not remembered; they raise each time."""
        try:
            return self.canonical[cls, key]
        except KeyError:
            name = self.canonical[cls, key] = cls.canonical_option(key)
            return name
        except TypeError:        # an unhashable key: YAML allows few, and none is an option
            return cls.canonical_option(key)

    def layer(self, cls, options, options_line, scope, line, full):
        """The layer an entry's options make. Entries with the same options (a block repeated 1,000
        times) share one object, whose hooks remember what they derive (layers are immutable), so that
        the analyzer computes each layer's numbers once per input shape (analysis.analyzer.LayerCosts)."""
        key = frozen(options)
        if key is None:
            return self.build_layer(cls, options, options_line, scope, line, full)
        key = (cls, key)
        if key not in self.layers:
            self.layers[key] = self.build_layer(cls, options, options_line, scope, line, full)
        return self.layers[key]

    def build_layer(self, cls, options, options_line, scope, line, full):
        """A new layer from an entry's options, or a clear error at the line of the option that is wrong."""
        opts = {}
        for key, value in options.items():
            if key == "activation" and cls.accepts_activation:
                continue
            try:
                canonical = self.canonical_option(cls, key)
                opts[canonical] = cls.parse_option(canonical, value)
            except LayerError as err:
                raise self.fail(err.message, options_line(key), scope, full, err.hint) from None
        missing = cls.missing_options(opts)
        if missing:
            raise self.fail(_("{type} needs {options}").format(type=cls.type_name, options=", ".join(missing)),
                            line, scope, full, hint=_("add {options} to its options").format(
                                options=", ".join(f"{m}: ..." for m in missing)))
        return cls(**cls.with_defaults(opts))

    def add_layer(self, cls, options, options_line, local, inputs, scope, line, trainable, tie=None):
        full = scope.prefix + local
        # read, not popped: a repeated entry shares `options` across its repetitions
        activation = options.get("activation") if cls.accepts_activation else None
        layer = self.layer(cls, options, options_line, scope, line, full)
        if not (cls.min_inputs <= len(inputs) <= (cls.max_inputs or len(inputs))):
            sentence = (_("{type} takes at least {wanted} input(s), got {count}") if cls.max_inputs is None else
                        _("{type} takes {wanted} input(s), got {count}"))
            raise self.fail(sentence.format(type=cls.type_name, wanted=cls.min_inputs, count=len(inputs)),
                            line, scope, full,
                            hint=_("list its inputs with `from: [a, b]`") if cls.min_inputs > 1 else
                            _("give a single layer in `from`"))
        self.claim(full, line, scope)
        self.append(Node(full, layer, inputs, trainable, line, scope.context, tie, block=scope.block), line, scope)
        if activation is None:
            return full
        act_cls = lookup(activation) if isinstance(activation, str) else None
        if act_cls is None or act_cls.kind is not Kind.ACTIVATION:
            known = [t.type_name for t in layer_types() if t.kind is Kind.ACTIVATION]
            hint = suggest(activation, kind="activation")
            raise self.fail(f"unknown activation {activation!r}", options_line("activation"), scope, full,
                            hint=hint or f"activations: {', '.join(known)}")
        act_name = f"{full}_{act_cls.type_name}"
        self.claim(act_name, line, scope)
        self.append(Node(act_name, self.layer(act_cls, {}, options_line, scope, line, act_name), (full,), trainable,
                         line, scope.context, block=scope.block),
                    line, scope)
        # One rule in every scope: `from:` takes the entry's name or its activation's node name
        # (`conv1_relu`), and both mean the activation's output, inside a block as at the top level.
        scope.names[f"{local}_{act_cls.type_name}"] = act_name
        return act_name

    def append(self, node, line, scope):
        if len(self.graph.nodes) >= MAX_NODES:
            raise self.fail(f"the spec expands to more than {MAX_NODES:,} layers", line, scope, node.name,
                            hint="check repeat counts and blocks that use other blocks many times")
        self.graph.nodes.append(node)

    def expand_block(self, kind, block, args, local, inputs, scope, line, trainable, times=1):
        full = scope.prefix + local
        if kind in scope.stack:
            chain = " → ".join(scope.stack + (kind,))
            raise self.fail(f"block '{kind}' uses itself ({chain})", line, scope, full,
                            hint="a block cannot contain itself, directly or through other blocks")
        if len(scope.stack) >= MAX_BLOCK_DEPTH:
            raise self.too_deep(scope.stack + (kind,), line, scope)
        if len(inputs) != 1:
            raise self.fail(f"block '{kind}' takes one input, got {len(inputs)}", line, scope, full,
                            hint="merge the inputs first (add or concat), then use the block")
        if isinstance(block, list):
            block = LineDict(layers=block)
        elif isinstance(block, dict) and not isinstance(block, LineDict):
            block = LineDict(block)     # a spec given as a plain dict (the Python API) has no line numbers
        if not isinstance(block, dict) or "layers" not in block:
            raise self.fail(f"block '{kind}' must have a `layers:` list", getattr(block, "line", None) or line, scope,
                            hint=f"write `{kind}: {{args: {{...}}, layers: [...]}}`")
        for key in block:
            if key not in BLOCK_KEYS:
                raise self.fail(f"unknown key '{key}' in block '{kind}'", block.line_of(key), scope,
                                hint=did_you_mean(key, BLOCK_KEYS) or f"block keys: {', '.join(BLOCK_KEYS)}")
        declared = block.get("args") or {}
        if not isinstance(declared, dict):
            raise self.fail(f"`args` of block '{kind}' must map argument names to defaults", block.line_of("args"),
                            scope, hint="write `args: {filters: null, stride: 1}`; null means the user must pass it")
        check_argument_names(declared, getattr(declared, "line_of", lambda key: line), self.graph.file,
                             f"block '{kind}'")
        if IN_CHANNELS in declared:
            raise self.fail(f"block '{kind}' declares '{IN_CHANNELS}', which archcalc sets to the channels of "
                            "the block's input", block.line_of("args"), scope,
                            hint=f"use ${IN_CHANNELS} without declaring it, or rename the argument")
        for arg in args:
            if arg not in declared:
                raise self.fail(f"block '{kind}' has no argument '{arg}'", line, scope, full,
                                hint=_argument_hint(arg, declared))
        env = {**declared, **args, IN_CHANNELS: lambda: self.shape_of(inputs[0])[0]}
        missing = [a for a, v in env.items() if v is None]
        if missing:
            raise self.fail(f"block '{kind}' needs argument(s) {', '.join(missing)}", line, scope, full,
                            hint=f"pass them where the block is used: `- {kind}: {{{missing[0]}: ...}}`")
        inner = _Scope(prefix=full + ".", input_ref=inputs[0], env=env, trainable=trainable,
                       stack=scope.stack + (kind,),
                       context=_("in block '{block}' used at line {line}").format(block=kind, line=line), times=times,
                       block=scope.block or full)
        return self.expand_list(block["layers"], inner, block.line_of("layers"))
