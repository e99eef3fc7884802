"""Safe YAML reading that remembers where every mapping key and list item came from.

Only PyYAML's safe constructors are used (no Python objects, nothing executed); we add
line numbers so errors can point at `alexnet.yaml:12`.
"""
import math

import yaml

from ..errors import SpecError
from ..i18n import N_, _

_Base = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
MAX_DEPTH = 50              # lists and mappings inside each other; a spec needs fewer than ten
MAX_ALIAS_VALUES = 100_000  # values that aliases (*name) add once expanded; a "billion laughs" adds 9^10
MAX_INT_CHARS = 100         # an integer written longer than this is refused before it is converted
TOO_LARGE = 2**63           # integers in a spec or answer file stay below this, as expression results do


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
    def construct_document(self, node):
        sizes, aliased = {}, []
        values, _ = _measure(node, 1, sizes, aliased)
        if values - len(sizes) > MAX_ALIAS_VALUES:
            largest = max(aliased, key=lambda n: sizes[id(n)][0])
            raise _refused(largest, f"aliases (*name) expand this file to {values:,} values; this one alone "
                           f"holds {sizes[id(largest)][0]:,}",
                           "each alias copies its value; aliases in lists of aliases multiply")
        return super().construct_document(node)


def _measure(node, depth, sizes, aliased):
    """(values, depth) of `node` with its aliases expanded, memoised in `sizes` by node; a node met again
    through an alias goes into `aliased`. Refuses lists and mappings nested deeper than MAX_DEPTH."""
    if id(node) in sizes:
        aliased.append(node)
    else:
        if depth > MAX_DEPTH:
            raise _refused(node, f"lists and mappings nested more than {MAX_DEPTH} deep",
                           "a spec needs only a few levels: check the brackets and aliases (*name) here")
        sizes[id(node)] = (0, 0)        # until measured: an alias inside itself, which PyYAML reports
        children = [child for pair in node.value for child in pair] if isinstance(node, yaml.MappingNode) \
            else node.value if isinstance(node, yaml.SequenceNode) else []
        values, height = 1, 1
        for child in children:
            if type(child) is yaml.ScalarNode and id(child) not in sizes:
                sizes[id(child)] = (1, 1)      # most nodes: one value, one level, measured without a call
                child_values, child_height = 1, 1
            else:
                child_values, child_height = _measure(child, depth + 1, sizes, aliased)
            values += child_values
            height = max(height, child_height + 1)
        sizes[id(node)] = values, height
    values, height = sizes[id(node)]
    if depth + height - 1 > MAX_DEPTH:
        raise _refused(node, f"lists and mappings nested more than {MAX_DEPTH} deep",
                       "a spec needs only a few levels: check the brackets and aliases (*name) here")
    return values, height


def _refused(node, message, hint):
    return SpecError(message, line=node.start_mark.line + 1, column=node.start_mark.column + 1, hint=hint)


_STR_TAG, _INT_TAG = "tag:yaml.org,2002:str", "tag:yaml.org,2002:int"


def _child(loader, node):
    """loader.construct_object(node), without its bookkeeping for the commonest nodes, plain strings
    and integers: a scalar is built the same every time it is met, alias or not."""
    if type(node) is yaml.ScalarNode:
        if node.tag == _STR_TAG:
            return node.value
        if node.tag == _INT_TAG:
            return _integer(loader, node)
    return loader.construct_object(node, deep=True)


def _mapping(loader, node):
    loader.flatten_mapping(node)
    result = LineDict()
    result.line = node.start_mark.line + 1
    result.key_lines = {}
    for key_node, value_node in node.value:
        key = _child(loader, key_node)
        line = key_node.start_mark.line + 1
        try:
            duplicate = key in result
        except TypeError:
            raise SpecError(_("a mapping key must be a plain value"), line=line, column=key_node.start_mark.column + 1)
        if duplicate:
            raise SpecError(_("duplicate key '{key}'").format(key=key), line=line, column=key_node.start_mark.column + 1,
                            hint=_("each key may appear once in a mapping; remove or rename one"))
        result[key] = _child(loader, value_node)
        result.key_lines[key] = line
    return result


def _sequence(loader, node):
    result = LineList(_child(loader, child) for child in node.value)
    result.line = node.start_mark.line + 1
    result.item_lines = [child.start_mark.line + 1 for child in node.value]
    return result


def _integer(loader, node):
    """A YAML integer, refused (with its line) when it is longer than MAX_INT_CHARS characters or not
    below 2^63, before Python's own digit limit or the arithmetic downstream can fail on it."""
    written = loader.construct_scalar(node)
    if len(written) > MAX_INT_CHARS:
        raise _refused(node, f"an integer written with {len(written):,} characters",
                       "archcalc's sizes and counts stay below 2^63 (19 digits); check this number")
    value = yaml.constructor.SafeConstructor.construct_yaml_int(loader, node)
    if abs(value) >= TOO_LARGE:
        raise _refused(node, f"the integer {written[:40]}{'...' if len(written) > 40 else ''} is too large",
                       "archcalc's sizes and counts stay below 2^63 (9,223,372,036,854,775,808)")
    return value


def _float(loader, node):
    """A YAML float; .nan, .inf and numbers too large for a float (1.0e999) are refused with their line."""
    value = yaml.constructor.SafeConstructor.construct_yaml_float(loader, node)
    if not math.isfinite(value):
        raise _refused(node, f"'{loader.construct_scalar(node)}' is not a finite number",
                       "write an ordinary number such as 0.5 or 1e-5; .nan and .inf are not sizes or rates")
    return value


_LineLoader.add_constructor("tag:yaml.org,2002:int", _integer)
_LineLoader.add_constructor("tag:yaml.org,2002:float", _float)
_LineLoader.add_constructor("tag:yaml.org,2002:map", _mapping)
_LineLoader.add_constructor("tag:yaml.org,2002:seq", _sequence)


# PyYAML's most frequent complaints, in the active language (others are shown as PyYAML words them)
YAML_PROBLEMS = {
    "mapping values are not allowed here": N_("mapping values are not allowed here"),
    "could not find expected ':'": N_("could not find expected ':'"),
    "found character that cannot start any token": N_("found character that cannot start any token"),
    "found undefined alias": N_("found undefined alias"),
    "did not find expected ',' or '}'": N_("did not find expected ',' or '}'"),
    "did not find expected ',' or ']'": N_("did not find expected ',' or ']'"),
    "did not find expected key": N_("did not find expected key"),
    "did not find expected '-' indicator": N_("did not find expected '-' indicator"),
}


def load_yaml(text, file=None):
    """Parse YAML (or JSON) text into LineDict/LineList values; malformed input becomes a SpecError."""
    try:
        return yaml.load(text, Loader=_LineLoader)  # noqa: S506 - a SafeLoader subclass
    except SpecError as err:
        raise err.located(file=file)
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        problem = err.problem or str(err)
        problem = _(YAML_PROBLEMS[problem]) if problem in YAML_PROBLEMS else problem
        context = f" ({err.context})" if err.context else ""
        if err.context_mark and err.problem_mark and "flow" in (err.context or "") \
                and err.context_mark.line != err.problem_mark.line:
            # An unclosed [ ] or { }: the parser notices on a later line; the mistake is where it opened.
            opener = "{" if "mapping" in err.context else "["
            context = " (" + _("this '{opener}' is not closed; the parser noticed at line {line}").format(
                opener=opener, line=err.problem_mark.line + 1) + ")"
            mark = err.context_mark
        hint = _("check the indentation and that every list item starts with '- ' and every key ends with ':'")
        if mark and _character_at(text, mark) == "\t":
            problem, context, hint = (_("a tab character"), "",
                                      _("YAML indents with spaces only: replace the tab with spaces"))
        raise SpecError(
            _("malformed YAML: {problem}").format(problem=problem + context),
            file=file, line=mark.line + 1 if mark else None, column=mark.column + 1 if mark else None, hint=hint,
        ) from None
    except yaml.reader.ReaderError as err:
        line = text.count("\n", 0, err.position) + 1 if isinstance(err.position, int) else None
        column = err.position - (text.rfind("\n", 0, err.position) + 1) + 1 if line else None
        raise SpecError(f"malformed YAML: {err.reason} (character {err.character!r})", file=file, line=line,
                        column=column, hint="delete the character; YAML files are printable text") from None
    except yaml.YAMLError as err:
        raise SpecError(_("malformed YAML: {problem}").format(problem=err), file=file) from None
    except RecursionError:
        raise SpecError(f"lists and mappings nested too deep (more than {MAX_DEPTH} levels)", file=file,
                        hint="a spec needs only a few levels: check the brackets") from None


def _character_at(text, mark):
    lines = text.splitlines()
    return lines[mark.line][mark.column:mark.column + 1] if mark.line < len(lines) else ""
