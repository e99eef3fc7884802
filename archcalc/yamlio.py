"""Safe YAML reading that remembers where every mapping key and list item came from.

Only PyYAML's safe constructors are used (no Python objects, nothing executed); we add
line numbers so errors can point at `alexnet.yaml:12`.
"""
import yaml

from .errors import SpecError

_Base = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class LineDict(dict):
    """A mapping that knows its own line and the line of each key."""

    line = None
    key_lines = None

    def line_of(self, key):
        return (self.key_lines or {}).get(key, self.line)


class LineList(list):
    line = None
    item_lines = None

    def line_of(self, index):
        lines = self.item_lines or []
        return lines[index] if index < len(lines) else self.line


class _LineLoader(_Base):
    pass


def _mapping(loader, node):
    loader.flatten_mapping(node)
    result = LineDict()
    result.line = node.start_mark.line + 1
    result.key_lines = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        line = key_node.start_mark.line + 1
        try:
            duplicate = key in result
        except TypeError:
            raise SpecError("a mapping key must be a plain value", line=line, column=key_node.start_mark.column + 1)
        if duplicate:
            raise SpecError(f"duplicate key '{key}'", line=line, column=key_node.start_mark.column + 1,
                            hint="each key may appear once in a mapping; remove or rename one")
        result[key] = loader.construct_object(value_node, deep=True)
        result.key_lines[key] = line
    return result


def _sequence(loader, node):
    result = LineList(loader.construct_object(child, deep=True) for child in node.value)
    result.line = node.start_mark.line + 1
    result.item_lines = [child.start_mark.line + 1 for child in node.value]
    return result


_LineLoader.add_constructor("tag:yaml.org,2002:map", _mapping)
_LineLoader.add_constructor("tag:yaml.org,2002:seq", _sequence)


def load_yaml(text, file=None):
    """Parse YAML (or JSON) text into LineDict/LineList values; malformed input becomes a SpecError."""
    try:
        return yaml.load(text, Loader=_LineLoader)  # noqa: S506 - a SafeLoader subclass
    except SpecError as err:
        raise err.located(file=file)
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        problem = err.problem or str(err)
        context = f" ({err.context})" if err.context else ""
        if err.context_mark and err.problem_mark and "flow" in (err.context or "") \
                and err.context_mark.line != err.problem_mark.line:
            # An unclosed [ ] or { }: the parser notices on a later line; the mistake is where it opened.
            opener = "{" if "mapping" in err.context else "["
            context = f" (this '{opener}' is not closed; the parser noticed at line {err.problem_mark.line + 1})"
            mark = err.context_mark
        raise SpecError(
            f"malformed YAML: {problem}{context}",
            file=file, line=mark.line + 1 if mark else None, column=mark.column + 1 if mark else None,
            hint="check the indentation and that every list item starts with '- ' and every key ends with ':'",
        ) from None
    except yaml.YAMLError as err:
        raise SpecError(f"malformed YAML: {err}", file=file) from None
