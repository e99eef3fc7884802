"""Students' answers as they are written: numbers (62.4M, 6.24e7, 62,378,344; read by units.parse_count)
and shapes (55x55x96, (None, 55, 55, 96)) parsed exactly, YAML answer files and pasted Keras or torchinfo summaries read into
Answers, each item with its line. Nothing here grades: check does."""
import re
import reprlib
from dataclasses import dataclass
from fractions import Fraction

from ..analysis.analyzer import analyze
from ..errors import SpecError, read_text
from ..i18n import _
from ..layers import lookup
from ..layers.base import did_you_mean
from ..units import parse_count
from ..layers.shapes import CHANNELS_FIRST, CHANNELS_LAST, LAYOUTS
from ..spec.yamlio import load_yaml
from .summary_parse import KERAS, detect, parse_summary

LAYER_KEYS = {"output_shape": "output_shape", "shape": "output_shape", "output": "output_shape",
              "output_size": "output_shape", "params": "params", "parameters": "params", "param": "params",
              "weights": "params", "macs": "macs", "mult_adds": "macs", "flops": "flops",
              "receptive_field": "receptive_field", "rf": "receptive_field"}


TOTAL_KEYS = {"params": "params", "parameters": "params", "total_params": "params",
              "trainable_params": "trainable_params", "trainable": "trainable_params",
              "non_trainable_params": "non_trainable_params", "non_trainable": "non_trainable_params",
              "macs": "macs", "mult_adds": "macs", "flops": "flops"}


ANSWER_KEYS = ("layers", "totals", "layout", "input", "pooling")


POOL_KEYS = ("input", "kernel", "stride", "mode", "output", "mask")


def parse_shape_answer(raw):
    """[55, 55, 96], "55x55x96", "(None, 55, 55, 96)" -> a tuple (a leading None, the batch, is dropped)."""
    items = raw if isinstance(raw, (list, tuple)) else re.split(r"[x×*,]", str(raw).strip().strip("()[]"))
    dims = []
    for item in items:
        word = str(item).strip()
        if word.lower() in ("none", "null", "?", "") and not dims:
            continue
        if len(word) > 20:
            raise ValueError(f"cannot read {reprlib.repr(raw)} as a shape: a size written with {len(word):,} "
                             "characters; write e.g. [55, 55, 96] or 55x55x96")
        try:
            value = Fraction(word)
        except (ValueError, ZeroDivisionError):
            raise ValueError(_("cannot read {value} as a shape; write e.g. [55, 55, 96] or 55x55x96").format(
                value=reprlib.repr(raw))) from None
        if abs(value) >= 2**63:
            raise ValueError(f"{reprlib.repr(raw)} has a size of 2^63 or more; write e.g. [55, 55, 96] or 55x55x96")
        dims.append(int(value) if value.denominator == 1 else value)
    if not dims:
        raise ValueError(_("{value} has no sizes; write e.g. [55, 55, 96] or 55x55x96").format(value=repr(raw)))
    return tuple(dims)


@dataclass
class Answer:
    layer: str                 # a node name, or None for a total
    quantity: str
    given: object              # Given, or a shape tuple as written
    line: int
    layout: str = CHANNELS_FIRST
    batch: bool = False        # shapes copied from a summary carry a leading batch size
    problem: dict = None       # a numeric pooling exercise: its input matrix, kernel, stride and mode


@dataclass
class Answers:
    items: list
    source: str                # "yaml", "keras" or "torchinfo"
    file: str = None


def load_answers(path, graph):
    return read_answers(read_text(path, "answers"), graph, file=str(path))


def read_answers(text, graph, file=None):
    """Answers from YAML or a pasted Keras/torchinfo summary."""
    if detect(text):
        answers = summary_answers(parse_summary(text, file), graph, file)
    else:
        answers = yaml_answers(load_yaml(text, file=file), graph, file)
    if not answers.items:
        raise SpecError(_("the file has no answers to check"), file=file, line=1,
                        hint=_("give at least one number or shape, e.g. layers: {conv1: {params: 320}}"))
    return answers


def yaml_answers(data, graph, file):
    def fail(message, line, hint=None):
        return SpecError(message, file=file, line=line, hint=hint)

    if not isinstance(data, dict) or not ({"layers", "totals", "pooling"} & set(data)):
        raise fail(_("answers must be a mapping with `layers:` and/or `totals:`"), 1,
                   _("e.g.") + "\n  layers:\n    conv1: {output_shape: [55, 55, 96], params: 34944}\n"
                   "  totals: {params: 62378344}")
    for key in data:
        if key not in ANSWER_KEYS:
            raise fail(_("unknown key '{key}' in the answers").format(key=key), data.line_of(key),
                       did_you_mean(key, ANSWER_KEYS) or _("keys: {keys}").format(keys=", ".join(ANSWER_KEYS)))
    layout = data.get("layout", graph.layout)
    if layout not in LAYOUTS:
        raise fail(_("layout must be one of {layouts}, got {value}").format(layouts=", ".join(LAYOUTS),
                                                                            value=repr(layout)), data.line_of("layout"))
    names = [node.name for node in graph.nodes]
    items = []
    layers = data.get("layers") or {}
    if not isinstance(layers, dict):
        raise fail(_("`layers` must map layer names to answers"), data.line_of("layers"))
    unknown = [name for name in layers if name not in names]
    if unknown and len(unknown) * 2 >= len(layers) > 1:
        other = _spec_with_layers(layers, graph.name)
        if other:
            raise fail(_("these answers are for another model: {unknown} of their {count} layer names "
                         "are not in {model}, and all are in the built-in spec '{other}'").format(
                unknown=len(unknown), count=len(layers), model=graph.name, other=other),
                       layers.line_of(unknown[0]), f"archcalc check {other} {file or 'FILE'}")
    for name, values in layers.items():
        line = layers.line_of(name)
        if name not in names:
            raise fail(_("the spec has no layer named '{layer}'").format(layer=name), line, graph.layer_hint(name))
        items += answer_items(name, values, LAYER_KEYS, line, layout, fail)
    totals = data.get("totals") or {}
    items += pooling_answers(data.get("pooling") or {}, data.line_of("pooling"), fail)
    items += answer_items(None, totals, TOTAL_KEYS, data.line_of("totals"), layout, fail)
    return Answers(items, "yaml", file)


def _spec_with_layers(answers, skip):
    """The built-in spec (other than `skip`) that has a layer of every name in `answers` and agrees with
    most of their `params`, or None."""
    from ..spec import zoo
    from ..spec.graph import load_spec
    best, best_score = None, -1
    for path in zoo.paths():
        if path.stem == skip:
            continue
        try:
            graph = load_spec(path)
        except SpecError:
            continue
        if not all(name in {node.name for node in graph.nodes} for name in answers):
            continue
        params = {record.name: record.params for record in analyze(graph).layers}
        score = 0
        for name, values in answers.items():
            try:
                score += isinstance(values, dict) and "params" in values and \
                    parse_count(values["params"]).matches(params[name])
            except ValueError:
                pass
        if score > best_score:
            best, best_score = path.stem, score
    return best


def answer_items(layer, values, keys, line, layout, fail):
    where = f"'{layer}'" if layer else "totals"
    if not isinstance(values, dict):
        raise fail(_("the answers for {where} must be a mapping such as {{params: 34944}}").format(where=where), line)
    items = []
    for key, raw in values.items():
        key_line = values.line_of(key) if hasattr(values, "line_of") else line
        if isinstance(key, int) and raw is None:
            raise fail(_("a number with commas inside {{ }} reads as several keys ({key} here)").format(key=key),
                       key_line, _("quote it, params: '62,378,344', or write it without commas"))
        quantity = keys.get(str(key).lower())
        if quantity is None:
            raise fail(_("unknown answer '{key}' for {where}").format(key=key, where=where), key_line,
                       did_you_mean(key, keys) or _("answers: {keys}").format(keys=", ".join(dict.fromkeys(keys.values()))))
        try:
            given = parse_shape_answer(raw) if quantity in ("output_shape", "receptive_field") else parse_count(raw)
        except ValueError as err:
            raise fail(f"{where} {key}: {err}", key_line) from None
        items.append(Answer(layer, quantity, given, key_line, layout))
    return items


def pooling_answers(exercises, line, fail):
    """`pooling: {name: {input: [[...]], kernel: 2, stride: 2, mode: max, output: [[...]], mask: [[...]]}}`:
    numeric pooling exercises, graded by calc's own pooling."""
    if not isinstance(exercises, dict):
        raise fail("`pooling` must map exercise names to {input: [[...]], kernel: 2, mode: max, output: [[...]]}",
                   line)
    items = []
    for name, problem in exercises.items():
        where = exercises.line_of(name)
        if not isinstance(problem, dict) or "input" not in problem or "kernel" not in problem:
            raise fail(_("pooling exercise '{name}' needs `input:` (a matrix) and `kernel:`").format(name=name), where,
                       "e.g. ex5: {input: [[1, 2], [3, 4]], kernel: 2, mode: max, output: [[4]]}")
        for key in problem:
            if key not in POOL_KEYS:
                raise fail(_("unknown key '{key}' in pooling exercise '{name}'").format(key=key, name=name),
                           problem.line_of(key),
                           did_you_mean(key, POOL_KEYS) or _("keys: {keys}").format(keys=", ".join(POOL_KEYS)))
        if problem.get("mode", "max") not in ("max", "avg"):
            raise fail(_("pooling exercise '{name}': mode must be max or avg").format(name=name),
                       problem.line_of("mode"))
        matrix = read_matrix(problem["input"], _("pooling exercise '{name}' {key}").format(name=name, key="input"),
                             problem.line_of("input"), fail)
        for quantity, key in (("pool_output", "output"), ("pool_mask", "mask")):
            if key in problem:
                given = read_matrix(problem[key], _("pooling exercise '{name}' {key}").format(name=name, key=key),
                                    problem.line_of(key), fail)
                items.append(Answer(name, quantity, given, problem.line_of(key),
                                    problem={**problem, "input": matrix}))
    return items


def read_matrix(raw, what, line, fail):
    """[[1, 2], [3, 4]] -> a tuple of tuples of Fractions (finite numbers, equal rows)."""
    if not isinstance(raw, list) or not raw or not all(isinstance(row, list) and row for row in raw):
        raise fail(_("{what} must be a matrix such as [[1, 2], [3, 4]]").format(what=what), line)
    if len({len(row) for row in raw}) > 1:
        raise fail(_("{what}: the rows have different lengths").format(what=what), line)
    if any(isinstance(v, bool) or not isinstance(v, (int, float)) for row in raw for v in row):
        raise fail(_("{what}: every entry must be a number").format(what=what), line)
    try:
        return tuple(tuple(Fraction(str(v)) for v in row) for row in raw)
    except (ValueError, ZeroDivisionError):
        raise fail(_("{what}: every entry must be a number").format(what=what), line) from None


def summary_answers(summary, graph, file):
    """Match each table row to a spec layer (by name, else the next layer of its type) and read its answers."""
    layout = CHANNELS_LAST if summary.format == KERAS else CHANNELS_FIRST
    rows = [row for i, row in enumerate(summary.rows)
            if not (i + 1 < len(summary.rows) and summary.rows[i + 1].depth > row.depth)]  # skip containers
    if not rows:
        raise SpecError("the table has a header but no layer rows", file=file, line=summary.header_line,
                        hint="paste the whole table, from its header to its `Total params:` line")
    refuse_other_model(rows, summary, graph, file)
    names = {node.name: i for i, node in enumerate(graph.nodes)}
    for name, i in list(names.items()):
        names.setdefault(name.replace(".", "_"), i)    # export-keras names layer1.0.conv1 layer1_0_conv1
    position, items, used = 0, [], set()
    for row in rows:
        if row.params == "(recursive)":
            continue                                  # torchinfo repeats a module used twice; counted once
        cls = lookup(row.type)
        named = names.get(row.name)
        if named is None and row.name.endswith("…") and cls is not None:     # Keras 3 cut the name off
            begun = sorted({i for n, i in names.items() if n.startswith(row.name[:-1]) and i not in used
                            and isinstance(graph.nodes[i].layer, cls)})
            if len(begun) > 1:
                raise SpecError(f"the cut-off name '{row.name}' could be any of {len(begun)} {cls.type_name} layers "
                                f"({', '.join(graph.nodes[i].name for i in begun[:4])}{', …' if len(begun) > 4 else ''})",
                                file=file, line=row.line,
                                hint="print the table wide enough for whole names: model.summary(line_length=160) "
                                     "in a wide terminal or notebook")
            named = begun[0] if begun else None
        if named is not None and (named >= position or (cls is not None and isinstance(graph.nodes[named].layer, cls))):
            index = named                             # by name, in any order when the type agrees too
        elif cls is None:
            if row.params.strip("-0") == "":
                continue                              # InputLayer, Activation, ...: nothing to check
            raise SpecError(_("cannot match {row} ({type}) to a layer type archcalc knows").format(
                row=row.name or row.type, type=row.type), file=file, line=row.line,
                hint=_("remove the row, or add the layer to the spec"))
        else:
            index = next((i for i in range(position, len(graph.nodes)) if isinstance(graph.nodes[i].layer, cls)),
                         None)
            if index is None:
                raise SpecError(f"row {row.name or row.type} ({row.type}) has no matching {cls.type_name} layer "
                                "left in the spec", file=file, line=row.line,
                                hint="the table and the spec must list the same layers in the same order")
        position = max(position, index + 1)
        used.add(index)
        name = graph.nodes[index].name
        try:
            if row.shape:
                items.append(Answer(name, "output_shape", parse_shape_answer(row.shape), row.line, layout, True))
            params = "0" if row.params in ("--", "") else row.params
            items.append(Answer(name, "params", parse_count(params), row.line, layout, True))
        except ValueError as err:
            raise SpecError(str(err), file=file, line=row.line) from None
    for quantity, (text, line) in summary.totals.items():
        try:
            items.append(Answer(None, quantity, parse_count(text), line, layout))
        except ValueError as err:
            raise SpecError(str(err), file=file, line=line) from None
    return Answers(items, summary.format, file)


def _weighted(types):
    """'2 conv2d, 2 dense' for the layer types with weights, in order of first appearance."""
    counts = {}
    for name in types:
        counts[name] = counts.get(name, 0) + 1
    return ", ".join(f"{n} {t}" for t, n in counts.items()) or "none"


def _signature(graph):
    """(types of the layers with weights in order, {total params, counted either way})."""
    report, keras = analyze(graph), analyze(graph, keras=True)
    return [r.type for r in report.layers if r.params], {report.totals.params, keras.totals.params}


def refuse_other_model(rows, summary, graph, file):
    """A pasted table whose layers with weights and total both differ from the spec's was printed for
    another model: say so, and which built-in spec it matches, instead of grading it row by row."""
    types = []
    for row in rows:
        try:
            params = parse_count("0" if row.params in ("--", "", "(recursive)") else row.params)
        except ValueError:
            return                                  # reported with its line while reading the rows
        if params.value:
            cls = lookup(row.type)
            types.append(cls.type_name if cls else row.type)
    total_text = summary.totals.get("params")
    try:
        total = parse_count(total_text[0]) if total_text else None
    except ValueError:
        return
    spec_types, spec_totals = _signature(graph)
    same_total = total is None or any(total.matches(n) or total.matches_binary(n) for n in spec_totals)
    if same_total or types == spec_types:
        return
    looks_like = None
    from ..spec import zoo
    from ..spec.graph import load_spec
    for path in zoo.paths():
        if path.stem == graph.name:
            continue
        try:
            other_types, other_totals = _signature(load_spec(path))
        except SpecError:
            continue
        if other_types == types and (total is None or any(total.matches(n) for n in other_totals)):
            looks_like = path.stem
            break
    written = f"{total.text} params" if total else "its params"
    hint = (f"it matches the built-in spec '{looks_like}': archcalc check {looks_like} {file or 'FILE'}"
            if looks_like else f"paste the summary printed for {graph.name}, or check it against its own spec")
    raise SpecError(f"this table is for another model: its {len(types)} layer(s) with weights ({_weighted(types)}) "
                    f"and {written} do not match {graph.name}'s {len(spec_types)} ({_weighted(spec_types)}) and "
                    f"{min(spec_totals):,} params", file=file, line=summary.header_line, hint=hint)


def answers_input(text, file):
    """(the `input:` value, its line) of a YAML answers file, or None."""
    try:
        data = load_yaml(text, file=file)
    except SpecError:
        return None               # read_answers reports it with the whole file's context
    if not isinstance(data, dict) or data.get("input") is None:
        return None
    value = data["input"]
    if isinstance(value, list):
        value = "x".join(str(v) for v in value)
    return str(value), data.line_of("input")
