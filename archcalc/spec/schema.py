"""A JSON Schema of the spec format, built from the layer registry so that it cannot drift from it.

Editors use it for completion and validation (see the README's "Editor support"). It is
slightly stricter than the loader: it lists layer types and options in the spellings the
registry declares (the loader also accepts other capitalisations).
"""
from ..layers import Kind, layer_types
from ..layers.shapes import LAYOUTS
from .graph import ENTRY_KEYS

DIALECT = "https://json-schema.org/draft/2020-12/schema"
EXPRESSION = {"$ref": "#/$defs/expression"}


def _or_expression(schema):
    """Inside a block, any value may be `$arg` or `${expr}`."""
    return {"anyOf": [schema, EXPRESSION]}


def _option_schema(option):
    schema = _or_expression(getattr(option.parse, "schema", {}))
    if option.doc:
        schema["description"] = option.doc
    if option.default is not None:
        default = option.default
        schema["default"] = list(default) if isinstance(default, tuple) else default
    return schema


def _entry_meta():
    """The keys any entry may carry besides its type: where it reads from, how often it repeats."""
    return {
        "name": {"type": "string", "pattern": r"^[^.]+$", "description": "unique layer name (no '.')"},
        "from": {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}, "minItems": 1}],
                 "description": "earlier layer(s) to read from; `input` is the network (or block) input"},
        "repeat": _or_expression({"type": "integer", "minimum": 1}),
        "first": {"type": "object", "description": "options that replace the others in the first repetition"},
        "trainable": _or_expression({"type": "boolean"}),
        "when": _or_expression({"type": "boolean"}),
    }


def _activation_names():
    return sorted({name for cls in layer_types() if cls.kind is Kind.ACTIVATION for name in (cls.type_name, *cls.aliases)})


def layer_schema(cls):
    """The options mapping of one layer type, plus its bare and scalar forms."""
    properties = {}
    for name, option in cls.options.items():
        for spelling in (name, *option.aliases):
            properties[spelling] = _option_schema(option)
    if cls.accepts_activation:
        properties["activation"] = {"enum": _activation_names()}
    properties.update({key: {"$ref": f"#/$defs/meta/properties/{key}"} for key in ENTRY_KEYS if key != "activation"})
    required = [name for name, option in cls.options.items() if option.required]
    mapping = {"type": "object", "properties": properties, "additionalProperties": False}
    if required:
        # An option may be given by any of its spellings.
        mapping["allOf"] = [{"anyOf": [{"required": [spelling]} for spelling in (name, *cls.options[name].aliases)]}
                            for name in required]
    forms = [mapping]
    if not required:
        forms.append({"type": "null"})
    if cls.primary:
        forms.append(_option_schema(cls.options[cls.primary]))
    described = (cls.__doc__ or "").strip().split("\n")[0]
    return {"anyOf": forms, "description": described or f"{cls.kind} layer"}


def spec_schema():
    """The whole schema, as a dict ready for json.dumps."""
    layers = {}
    bare_names = []
    for cls in layer_types():
        definition = layer_schema(cls)
        layers[cls.type_name] = definition
        for spelling in (cls.type_name, *cls.aliases):
            if not any(o.required for o in cls.options.values()):
                bare_names.append(spelling)
    spellings = {spelling: {"$ref": f"#/$defs/layers/{cls.type_name}"}
                 for cls in layer_types() for spelling in (cls.type_name, *cls.aliases)}
    meta = _entry_meta()
    entry = {
        "anyOf": [
            {"type": "string", "description": "a layer without options (`- relu`) or a block without arguments",
             "examples": bare_names},
            {"type": "object", "minProperties": 1,
             "properties": {**spellings, **{key: {"$ref": f"#/$defs/meta/properties/{key}"} for key in meta}},
             # Any other key is a block use: `- bottleneck: {width: 64}`; block names are the spec's own.
             "additionalProperties": {"anyOf": [{"type": "object"}, {"type": "null"}]}},
        ],
    }
    shape = {"anyOf": [
        {"type": "array", "items": {"type": "integer", "minimum": 1}, "minItems": 1, "maxItems": 3},
        {"type": "string", "pattern": r"^\d+(\s*[x×]\s*\d+)*$"},
    ]}
    block = {
        "anyOf": [
            {"type": "object", "required": ["layers"], "additionalProperties": False,
             "properties": {
                 "args": {"type": "object", "description": "argument defaults; null means required"},
                 "layers": {"$ref": "#/$defs/layer_list"},
                 "description": {"type": "string"}}},
            {"$ref": "#/$defs/layer_list"},
        ],
    }
    top = {
        "name": {"type": "string"},
        "input": {**shape, "description": "input shape without batch, in the spec's layout: [3, 224, 224]"},
        "layout": {"enum": list(LAYOUTS), "default": LAYOUTS[0]},
        "layers": {"$ref": "#/$defs/layer_list"},
        "blocks": {"type": "object", "additionalProperties": {"$ref": "#/$defs/block"}},
        "args": {"type": "object", "description": "defaults that `${expr}` in layers may use; --set NAME=VALUE"},
        "description": {"type": "string"},
        "source": {"type": "string"},
    }
    return {
        "$schema": DIALECT,
        "title": "archcalc spec",
        "description": "A neural-network architecture for archcalc: input, layers, optional blocks.",
        "type": "object",
        "required": ["input", "layers"],
        "properties": top,
        "additionalProperties": False,
        "$defs": {
            "expression": {"type": "string", "pattern": r"^\$",
                           "description": "`$arg` or `${expression}` on block arguments"},
            "meta": {"type": "object", "properties": meta},
            "layers": layers,
            "entry": entry,
            "layer_list": {"type": "array", "items": {"$ref": "#/$defs/entry"}, "minItems": 1},
            "block": block,
        },
    }
