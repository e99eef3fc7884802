"""Check a student's answers against a spec, and name the mistake when one mistake explains a wrong
number exactly (bias left out, padding forgotten, stride ignored, MACs for FLOPs, K = 1024, ...), or how
an abbreviated number came about (rounded the wrong way, binary prefixes); a wrong answer whose
diagnosis shows the method right gets partial credit (CREDITS).

Answers are a small YAML file keyed by layer name (output shapes, counts, receptive fields; `input:`
for another input size; `pooling:` for numeric pooling exercises), or a pasted Keras 1/2/3 or
torchinfo summary table.
Every correct value and every "what your mistake gives" value comes from the layer classes' own
hooks, applied to a copy of the layer with one option changed (or to a different input), so a
diagnosis is exact arithmetic, never a guess from ratios.

    >>> from archcalc.homework.check import check_text
    >>> result = check_text("alexnet", "layers:\\n  conv1: {params: 34848}\\n")
    >>> result.verdicts[0].diagnosis.split(":")[0]
    'bias left out'
"""
import dataclasses
import functools
import operator
import re
import reprlib
from dataclasses import dataclass, field
from fractions import Fraction

from ..analysis.analyzer import ReceptiveField, analyze
from ..errors import LayerError, SpecError, read_text
from .explain import explain
from ..layers import lookup
from ..i18n import N_, _, ngettext
from ..layers.base import did_you_mean
from ..report.tables import grouped
from ..report.homework import KIND_LABELS, shape_x, step_text, total_params_text
from ..layers.shapes import CHANNELS_FIRST, CHANNELS_LAST, LAYOUTS, even_sizes, from_layout, to_layout
from ..spec.graph import INPUT, Graph, as_graph, load_spec
from .summary_parse import KERAS, detect, parse_summary
from ..spec.yamlio import load_yaml

LAYER_KEYS = {"output_shape": "output_shape", "shape": "output_shape", "output": "output_shape",
              "output_size": "output_shape", "params": "params", "parameters": "params", "param": "params",
              "weights": "params", "macs": "macs", "mult_adds": "macs", "flops": "flops",
              "receptive_field": "receptive_field", "rf": "receptive_field"}
TOTAL_KEYS = {"params": "params", "parameters": "params", "total_params": "params",
              "trainable_params": "trainable_params", "trainable": "trainable_params",
              "non_trainable_params": "non_trainable_params", "non_trainable": "non_trainable_params",
              "macs": "macs", "mult_adds": "macs", "flops": "flops"}
STEP_OF = {"params": "params", "macs": "MACs", "flops": "FLOPs"}
LABELS = {"output_shape": N_("output shape"), "params": N_("params"), "trainable_params": N_("trainable params"),
          "non_trainable_params": N_("non-trainable params"), "macs": "MACs", "flops": "FLOPs",
          "receptive_field": N_("receptive field"), "pool_output": N_("pooled output"),
          "pool_mask": N_("max-pool backward mask")}
ANSWER_KEYS = ("layers", "totals", "layout", "input", "pooling")
POOL_KEYS = ("input", "kernel", "stride", "mode", "output", "mask")
PARTIAL = Fraction(1, 2)
# Partial credit, for a wrong answer whose diagnosis shows the method was right (whole phrases, translatable).
CREDITS = {
    "rounding": N_("right count, wrong rounding"),
    "units": N_("right count, wrong units"),
    "arithmetic": N_("right formula, wrong arithmetic"),
    "carried": N_("right method on an input carried over from an earlier answer"),
    "order": N_("right sizes, in the other order"),
}
PREFIXES = {"": 0, "k": 1, "thousand": 1, "m": 2, "million": 2, "g": 3, "b": 3, "billion": 3, "t": 4}
MAX_EXPONENT = 100         # 6.24e7 reads fine; 1e999999999999 would take forever to compute
NUMBER = re.compile(r"^([+-]?\d+(?:\.(\d*))?)(?:e([+-]?\d+))?\s*([a-z]*)$", re.IGNORECASE)


# ---- numbers and shapes as students write them

@dataclass(frozen=True)
class Given:
    """A number as written, and the values it stands for: 62.4M means 62,350,000 … 62,450,000."""

    text: str
    value: Fraction
    tolerance: Fraction              # half a unit of the last written digit; 0 for an exact integer
    binary: tuple = None             # (value, tolerance) if the prefix is read as 1024, 1024², ...

    def matches(self, n):
        return abs(n - self.value) <= self.tolerance

    def matches_binary(self, n):
        return self.binary is not None and abs(n - self.binary[0]) <= self.binary[1]


def parse_given(raw):
    """62378344, "62,378,344", "62.4M", "159K", "1.2 billion", "6.24e7" -> Given; ValueError if unreadable."""
    if isinstance(raw, bool) or not isinstance(raw, (int, float, str)):
        raise ValueError(_("expected a number such as 62378344, 62,378,344 or 62.4M, got {value}").format(
            value=repr(raw)))
    text = str(raw).strip()
    compact = re.sub(r"[\s_'\u202f]", "", text)
    if re.fullmatch(r"[+-]?\d{1,3}(,\d{3})+(\.\d*)?[a-zA-Z]*", compact):
        compact = compact.replace(",", "")              # thousands separators
    else:
        compact = compact.replace(",", ".")             # a decimal comma: 62,4M
    if len(compact) > 40:
        raise ValueError(f"cannot read {reprlib.repr(text)}: a number written with {len(compact):,} characters; "
                         "write e.g. 62378344, 62,378,344 or 62.4M")
    match = NUMBER.match(compact)
    if not match or match.group(4).lower() not in PREFIXES:
        raise ValueError(_("cannot read {value} as a number; write e.g. 62378344, 62,378,344, 62.4M or 159K").format(
            value=repr(text)))
    digits, decimals, exponent, prefix = match.groups()
    if abs(int(exponent or 0)) > MAX_EXPONENT:
        raise ValueError(f"cannot read {text!r}: its exponent is out of range; write e.g. 6.24e7")
    power = PREFIXES[prefix.lower()]
    scale = Fraction(10) ** int(exponent or 0)
    mantissa = Fraction(digits) * scale
    unit = Fraction(1, 10 ** len(decimals or "")) * scale
    exact = not decimals and not exponent and not power
    tolerance = Fraction(0) if exact else unit / 2 * 1000 ** power
    binary = (mantissa * 1024 ** power, unit / 2 * 1024 ** power) if power else None
    if abs(mantissa * 1000 ** power) >= 2**63:
        raise ValueError(f"{text!r} is 2^63 or more, larger than any count in a network; write e.g. 62.4M")
    return Given(text, mantissa * 1000 ** power, tolerance, binary)


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


# ---- answers

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
                    parse_given(values["params"]).matches(params[name])
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
            given = parse_shape_answer(raw) if quantity in ("output_shape", "receptive_field") else parse_given(raw)
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
            items.append(Answer(name, "params", parse_given(params), row.line, layout, True))
        except ValueError as err:
            raise SpecError(str(err), file=file, line=row.line) from None
    for quantity, (text, line) in summary.totals.items():
        try:
            items.append(Answer(None, quantity, parse_given(text), line, layout))
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
            params = parse_given("0" if row.params in ("--", "", "(recursive)") else row.params)
        except ValueError:
            return                                  # reported with its line while reading the rows
        if params.value:
            cls = lookup(row.type)
            types.append(cls.type_name if cls else row.type)
    total_text = summary.totals.get("params")
    try:
        total = parse_given(total_text[0]) if total_text else None
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


# ---- verdicts

@dataclass
class Verdict:
    layer: str                 # None for a total
    quantity: str
    given: str                 # as written
    correct: str
    ok: bool
    line: int
    working: list = field(default_factory=list)
    diagnosis: str = ""
    credit: str = ""           # partial credit for a wrong answer, a key of CREDITS; "" for none

    @property
    def score(self):
        """1 for a right answer, PARTIAL for a wrong one the diagnosis shows half right, else 0."""
        return 1 if self.ok else (PARTIAL if self.credit else 0)


@dataclass
class CheckResult:
    model: str
    source: str                # "yaml", "keras" or "torchinfo"
    verdicts: list
    file: str = None

    @property
    def ok(self):
        return all(v.ok for v in self.verdicts)

    @property
    def score(self):
        """Points out of len(verdicts): 1 per right answer, PARTIAL per half-right one."""
        return sum(v.score for v in self.verdicts)

    def _repr_html_(self):
        from ..report.html import repr_html
        return repr_html(self)

    def _repr_markdown_(self):
        from ..report.html import repr_markdown
        return repr_markdown(self)


def check(spec, answers_path, *, keras=None, input_shape=None, args=None):
    """Check the answers in a file (YAML, or a Keras/torchinfo summary) against `spec`. `input_shape`
    (or an `input:` key in the answers) and `args` (a spec's top-level args, as --set) change the network."""
    return check_text(spec, read_text(answers_path, "answers"), keras=keras, input_shape=input_shape, args=args,
                      file=str(answers_path))


def check_text(spec, text, *, keras=None, input_shape=None, args=None, file=None):
    graph = answers_graph(spec, text, input_shape, args, file)
    return check_answers(graph, read_answers(text, graph, file=file), keras=keras)


def answers_graph(spec, text, input_shape, args, file):
    """The spec's graph at the input the answers are for: --input, else the answers' `input:` key."""
    written = None if detect(text) else answers_input(text, file)
    if written is not None and input_shape is not None and str(written[0]) != str(input_shape):
        raise SpecError(f"the answers are for input {written[0]} but --input says {input_shape}", file=file,
                        line=written[1], hint="give the input once: drop --input or the answers' `input:` key")
    shape = input_shape if input_shape is not None else (written[0] if written else None)
    if isinstance(spec, Graph):
        if shape is None and not args:
            return spec
        if spec.file is None:
            raise SpecError("cannot change the input of a spec built in memory", hint="pass the spec's path or name")
        spec = spec.file
    return load_spec(spec, input_shape=shape, args=args)


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


def check_answers(graph, answers, *, keras=None):
    """keras=None: Keras's counting (batchnorm statistics as non-trainable params) for Keras tables only."""
    keras = answers.source == KERAS if keras is None else keras
    checker = _Checker(graph, keras, answers)
    return CheckResult(graph.name, answers.source, [checker.verdict(a) for a in answers.items], answers.file)


class _Checker:
    def __init__(self, graph, keras, answers):
        self.graph, self.keras = graph, keras
        self.answers_file = answers.file
        self.report = analyze(graph, keras=keras)
        self.explanation = explain(graph, report=self.report)
        self.records = {r.name: r for r in self.report.layers}
        self.steps = {e.name: e for e in self.explanation.layers}
        self.nodes = {node.name: node for node in graph.nodes}
        self.shapes = {INPUT: graph.input_shape}
        for r in self.report.layers:
            self.shapes[r.name] = from_layout(r.output_shape, graph.layout)
        self.student_shapes, self.origins = self.propagate_student_shapes(answers)

    # -- the student's own shapes, for errors carried over from an earlier answer

    def propagate_student_shapes(self, answers):
        """Each layer's shape as the student's answers imply it: their own answer where they gave one,
        else the layer applied to their earlier shapes; and which answered layer each one comes from."""
        given = {a.layer: self.internal(a) for a in answers.items if a.layer and a.quantity == "output_shape"}
        shapes, origins = {INPUT: self.graph.input_shape}, {INPUT: None}
        for node in self.graph.nodes:
            shape = given.get(node.name)
            if shape is not None and len(shape) == len(self.shapes[node.name]) and all(
                    isinstance(d, int) for d in shape):
                origins[node.name] = node.name
            else:
                origins[node.name] = next((origins[r] for r in node.inputs if origins[r]), None)
                try:
                    shape = node.layer.output_shape([shapes[ref] for ref in node.inputs])
                except SpecError:
                    shape = self.shapes[node.name]
            shapes[node.name] = shape
        return shapes, origins

    def internal(self, answer):
        """A shape answer in archcalc's channels-first order, without a copied batch size."""
        shape = answer.given
        if answer.batch and len(shape) == len(self.shapes[answer.layer]) + 1:
            shape = shape[1:]
        return from_layout(shape, answer.layout)

    # -- one answer

    def verdict(self, answer):
        if answer.layer is None:
            return self.total_verdict(answer)
        if answer.problem is not None:
            return pool_verdict(answer)
        if answer.quantity == "receptive_field":
            return self.field_verdict(answer)
        node, record = self.nodes[answer.layer], self.records[answer.layer]
        explained = self.steps[answer.layer]
        if answer.quantity == "output_shape":
            truth = self.shapes[node.name]
            given = self.internal(answer)
            ok = given == truth
            working = size_working(explained.steps, self.graph.layout)
            verdict = Verdict(node.name, "output_shape", shape_x(answer.given),
                              shape_x(to_layout(truth, answer.layout)), ok, answer.line, working)
            matches = functools.partial(operator.eq, given)
        else:
            truth = getattr(record, answer.quantity)
            step = explained.step(STEP_OF[answer.quantity])
            working = [step_text(step, self.graph.layout)] if step else []
            if answer.quantity == "params" and self.keras and record.params != step.result:
                working.append(_("+ moving mean and variance, which Keras also lists: 4·C = {count}").format(
                    count=grouped(record.params)))
            ok = answer.given.matches(truth)
            verdict = Verdict(node.name, answer.quantity, answer.given.text, grouped(truth), ok, answer.line, working)
            matches = answer.given.matches
        if not ok:
            verdict.diagnosis, verdict.credit = self.diagnose(answer, truth, matches,
                                                              self.layer_mistakes(node, answer, truth))
        return verdict

    @staticmethod
    def diagnose(answer, truth, matches, mistakes):
        """(diagnosis, credit): the first mistake whose value the answer matches; for an abbreviated
        number, the closest of rounding the wrong way and reading K as 1024 (of the right count or of a
        mistake's); for an exact number, a single slipped or swapped digit."""
        mistakes = [tuple(m) + ("", None)[len(m) - 2:] for m in mistakes]
        for value, message, credit, _bias in mistakes:
            if matches(value):
                return message, credit
        given = answer.given
        if not isinstance(given, Given) or given.value <= 0:
            return "", ""
        if given.tolerance == 0:
            return digit_slip(given, truth)
        return reading_diagnosis(given, truth, mistakes)

    # -- mistakes in one layer: values via the layer's own hooks on a changed copy or a changed input

    def measure(self, layer, ins, quantity):
        """(value, working) for `quantity` of `layer` on `ins`, or None if that layer cannot take the input."""
        try:
            out = layer.output_shape(ins)
            steps = layer.explain(ins, out)
        except SpecError:
            return None
        if quantity == "output_shape":
            texts = size_working(steps, self.graph.layout)
            return out, "; ".join(texts) + f" → {shape_x(to_layout(out, self.graph.layout))}"
        value = {"params": layer.params(ins) + (layer.keras_non_trainable(ins) if self.keras else 0),
                 "macs": layer.macs(ins, out), "flops": layer.flops(ins, out)}[quantity]
        step = next((s for s in steps if s.quantity == STEP_OF[quantity]), None)
        return value, step_text(step, None) if step else grouped(value)

    def bias_reading(self, changed, ins, quantity, changes):
        """For a bias mistake, ("no bias" or "bias", " = 4096·4096"): how its count reads when an abbreviated
        answer matches it ("16,777,216 = 4096·4096, the count without bias"); None for other mistakes."""
        if quantity == "output_shape" or "bias" not in changes:
            return None
        step = next((s for s in changed.explain(ins, changed.output_shape(ins)) if s.quantity == STEP_OF[quantity]),
                    None)
        return ("no bias" if changes["bias"] is False else "bias",
                f" = {step.substituted}" if step and step.substituted else "")

    def layer_mistakes(self, node, answer, truth):
        """(value, diagnosis) for each single mistake that changes this answer, most specific first."""
        layer, ins, quantity = node.layer, [self.shapes[ref] for ref in node.inputs], answer.quantity
        found = []
        for title, changes in option_mistakes(node):
            try:
                changed = type(layer)(**{**layer.opts, **changes})
            except LayerError:
                continue
            result = self.measure(changed, ins, quantity)
            if result and result[0] != truth:
                found.append((result[0], _("{mistake}: {working}").format(mistake=title, working=result[1]), "",
                              self.bias_reading(changed, ins, quantity, changes)))
        if quantity == "params" and not self.keras and layer.keras_non_trainable(ins):
            stats = layer.keras_non_trainable(ins)
            found.append((truth + stats, _("batchnorm statistics counted as trainable: γ, β, moving mean and variance "
                                           "are 4·C = 4·{channels} = {all}, but only γ and β (2·C = {trained}) are "
                                           "trained; the statistics are buffers (Keras lists them as non-trainable "
                                           "params)").format(channels=ins[0][0], all=grouped(truth + stats),
                                                             trained=grouped(truth))))
        found += swapped_count_mistakes(quantity, truth, self.records[node.name])
        if quantity != "output_shape" and answer.given.tolerance == 0 and answer.given.value.denominator == 1:
            found += self.channel_mistakes(node, layer, ins, quantity, truth, int(answer.given.value))
        found += self.carried_mistakes(node, layer, ins, quantity, truth)
        if quantity == "output_shape":
            found += self.uneven_mistakes(node, layer, ins, truth)
            other = CHANNELS_FIRST if answer.layout == CHANNELS_LAST else CHANNELS_LAST
            if len(truth) > 1:
                found.append((from_layout(to_layout(truth, other), answer.layout),
                              _("right sizes in {other} order; these answers are read {layout}: {shape}").format(
                                  other=other, layout=answer.layout, shape=shape_x(to_layout(truth, answer.layout))),
                              "order"))
        return found

    def channel_mistakes(self, node, layer, ins, quantity, truth, given_value):
        """The wrong number of input channels: counts are linear in C_in, so solve for the C_in that gives
        the student's number, then recompute it with the layer's own hooks to confirm."""
        if layer.kind not in ("conv", "dense"):
            return []
        step = layer.opts.get("groups", 1)
        channels = ins[0][0]

        def at(c):
            result = self.measure(layer, [(c,) + tuple(ins[0][1:])], quantity)
            return result[0] if result else None
        slope = (at(channels + step) or 0) - truth
        symbol = "C_in" if layer.kind == "conv" else "n_in"
        source = (_("{layer}'s output").format(layer=node.inputs[0]) if node.inputs[0] != INPUT
                  else _("the network input"))

        if slope <= 0 or (given_value - truth) % slope:
            return []
        wrong = channels + (given_value - truth) // slope * step
        result = self.measure(layer, [(wrong,) + tuple(ins[0][1:])], quantity) if wrong >= 1 else None
        if not result or result[0] != given_value:
            return []
        sentence = (_("wrong number of input channels: {working} uses {symbol} = {wrong}, but {layer}'s input "
                      "({source}) has {right}") if layer.kind == "conv" else
                    _("wrong number of input features: {working} uses {symbol} = {wrong}, but {layer}'s input "
                      "({source}) has {right}"))
        return [(given_value, sentence.format(working=result[1], symbol=symbol, wrong=wrong, layer=node.name,
                                              source=source, right=channels))]

    def carried_mistakes(self, node, layer, ins, quantity, truth):
        theirs = [self.student_shapes[ref] for ref in node.inputs]
        if theirs == ins:
            return []
        result = self.measure(layer, theirs, quantity)
        if not result or result[0] == truth:
            return []
        earlier = ", ".join(f"{self.origins[ref]} = {shape_x(to_layout(s, self.graph.layout))}"
                            for ref, s, right in zip(node.inputs, theirs, ins) if s != right)
        return [(result[0], _("carried over from your earlier answer {earlier}: this layer's own arithmetic is "
                              "right for that input: {working}").format(earlier=earlier, working=result[1]),
                 "carried")]

    def uneven_mistakes(self, node, layer, ins, truth):
        """Sizes that do not divide evenly: rounding up, or the input size the exercise probably meant."""
        if not hasattr(layer, "windows"):
            return []
        windows = layer.windows(ins[0])
        if not any(w.remainder for w in windows):
            return []
        square = windows[0] == windows[1]
        exact = "; ".join(f"({w.size} − {w.effective_kernel} + {w.pad_before + w.pad_after})/{w.stride} + 1 = "
                          f"{w.unrounded}"
                          for w in windows[:1 if square else 2] if w.remainder)
        ceil = windows[0].ceil_mode
        rounds = (_("PyTorch rounds up (ceil_mode) to {shape}") if ceil else _("PyTorch rounds down to {shape}")
                  ).format(shape=shape_x(to_layout(truth, self.graph.layout)))
        unrounded = (truth[0],) + tuple(Fraction(w.span, w.stride) + 1 for w in windows)
        found = [(unrounded, _("not rounded: {exact} is not an integer, and a layer has whole output positions; "
                               "{rounds}").format(exact=exact, rounds=rounds))]
        rounded = (truth[0],) + tuple(dataclasses.replace(w, ceil_mode=not ceil).output for w in windows)
        for axis, w in enumerate(windows):
            for size in even_sizes(w) if w.remainder else ():
                shape = list(ins[0])
                shape[1 + axis] = size
                if square:
                    shape[2] = size
                result = self.measure(layer, [tuple(shape)], "output_shape")
                if result:
                    also = ((_("; rounding down gives the same number") if ceil else
                             _("; rounding up gives the same number")) if result[0] == rounded else "")
                    found.append((result[0], _("uneven input size: {exact} is not an integer and {rounds}; "
                                               "your answer is what an input of {size} gives: {working}; "
                                               "{size} is probably the size meant").format(
                        exact=exact, rounds=rounds, size=size, working=result[1]) + also))
        hint = "" if layer.kind == "conv" or ceil else _(" (ceil_mode: true would round up)")
        found.append((rounded, (_("rounded down: {exact} is not an integer and {rounds}") if ceil else
                                _("rounded up: {exact} is not an integer and {rounds}")).format(
            exact=exact, rounds=rounds) + hint))
        return found

    def field_verdict(self, answer):
        record, explained = self.records[answer.layer], self.steps[answer.layer]
        truth = record.receptive_field
        if not isinstance(truth, ReceptiveField):
            raise SpecError(_("'{layer}' has no receptive field to check (it is not a windowed map layer)").format(
                layer=answer.layer), file=self.answers_file, line=answer.line,
                hint=_("ask for a conv or pooling layer's"))
        given = answer.given * len(truth.size) if len(answer.given) == 1 else answer.given
        working = [" = ".join((s.quantity, s.formula, s.substituted, str(s.result))) for s in explained.field_steps
                   if s.quantity.startswith("r")]
        correct = str(truth.size[0]) if len(set(truth.size)) == 1 else shape_x(truth.size)
        verdict = Verdict(answer.layer, "receptive_field", shape_x(answer.given), correct, tuple(given) == truth.size,
                          answer.line, working)
        before = [self.records[ref].receptive_field for ref in self.nodes[answer.layer].inputs if ref in self.records]
        before = before[0] if before and isinstance(before[0], ReceptiveField) else ReceptiveField.of_input()
        if not verdict.ok and tuple(given) == before.size:
            verdict.diagnosis = _("that is the receptive field of this layer's input, r_in = {size}; "
                                  "the layer widens it by (k − 1)·j_in").format(size=shape_x(before.size))
        elif not verdict.ok and tuple(given) == truth.jump:
            verdict.diagnosis = _("that is the jump (effective stride) j = {jump}, not the field size").format(
                jump=shape_x(truth.jump))
        return verdict

    # -- totals

    def total_verdict(self, answer):
        totals = self.report.totals
        truth = getattr(totals, answer.quantity)
        working = []
        if answer.quantity == "params" and not self.keras:
            working = [total_params_text(self.explanation)]
        verdict = Verdict(None, answer.quantity, answer.given.text, grouped(truth), answer.given.matches(truth),
                          answer.line, working)
        if not verdict.ok:
            verdict.diagnosis, verdict.credit = self.diagnose(answer, truth, answer.given.matches,
                                              self.total_mistakes(answer.quantity, truth))
        return verdict

    def total_mistakes(self, quantity, truth):
        found = []
        stats = sum(n.layer.keras_non_trainable([self.shapes[ref] for ref in n.inputs]) for n in self.graph.nodes)
        buffers = _("the moving mean and variance, 2·C per batchnorm = {count}; PyTorch keeps them as "
                    "buffers, Keras lists them as non-trainable params (--keras checks Keras's totals)").format(
            count=grouped(stats))
        if quantity in ("params", "trainable_params"):
            found += self.bias_total_mistakes(truth)
            if stats and not self.keras:
                sentence = (_("batchnorm statistics counted as parameters: + {buffers}") if quantity == "params"
                            else _("batchnorm statistics counted as trainable: + {buffers}"))
                found.append((truth + stats, sentence.format(buffers=buffers)))
        if quantity == "non_trainable_params" and stats and not self.keras:
            found.append((stats, _("batchnorm statistics counted as non-trainable params: {buffers}").format(
                buffers=buffers)))
        if quantity == "trainable_params" and self.keras and self.report.totals.non_trainable_params:
            found.append((self.report.totals.params, _("non-trainable batchnorm statistics counted as trainable: "
                                                       "{count} of the total are moving means and variances").format(
                count=grouped(self.report.totals.non_trainable_params))))
        if quantity == "macs":
            found.append((self.report.totals.flops, _("FLOPs given where MACs were asked: 1 MAC = 2 FLOPs"), "units"))
            found.append((2 * truth, _("FLOPs (2 per MAC) given where MACs were asked"), "units"))
        if quantity == "flops":
            macs = self.report.totals.macs
            found.append((macs, _("MACs given where FLOPs were asked: FLOPs ≈ 2·MACs = 2·{macs}, plus bias "
                                  "and the other layers' operations").format(macs=grouped(macs)), "units"))
            found.append((2 * macs, _("FLOPs counted as 2·MACs = 2·{macs}: archcalc also counts bias "
                                      "additions, activations and pooling (see the FLOPs convention in the README)"
                                      ).format(macs=grouped(macs))))
        return found

    def bias_total_mistakes(self, truth):
        """Bias left out in one layer, in every layer of a kind, or counted in layers that have none."""
        left_out, counted = {}, {}
        for node in self.graph.nodes:
            if "bias" not in node.layer.opts:
                continue
            ins = [self.shapes[ref] for ref in node.inputs]
            flipped = type(node.layer)(**{**node.layer.opts, "bias": not node.layer.bias})
            amount = abs(flipped.params(ins) - node.layer.params(ins))
            (left_out if node.layer.bias else counted).setdefault(node.layer.kind, []).append((node.name, amount))
        found = []
        for name, amount in (item for items in left_out.values() for item in items):
            found.append((truth - amount, _("bias left out in {layer}: − {amount}").format(layer=name,
                                                                                             amount=grouped(amount))))
        groups = dict(left_out)
        if len(left_out) > 1:
            groups["all"] = [item for items in left_out.values() for item in items]
        for kind, items in groups.items():
            if len(items) > 1:
                found.append((truth - sum(a for _, a in items), bias_sum_message("left out in", kind, items)))
        groups = dict(counted)
        if len(counted) > 1:
            groups["all"] = [item for items in counted.values() for item in items]
        for kind, items in groups.items():
            found.append((truth + sum(a for _, a in items), bias_sum_message("counted in", kind, items, none=True)))
        return found


def size_working(steps, layout):
    """A layer's worked size arithmetic: its steps before the counts, as text."""
    return [step_text(s, layout) for s in steps if s.quantity not in STEP_OF.values()]


def option_mistakes(node):
    """(title, option changes) for the one-option mistakes that apply to this layer."""
    layer, opts = node.layer, node.layer.opts
    found = []
    if opts.get("bias") is True:
        found.append((_("bias left out"), {"bias": False}))
    if opts.get("bias") is False:
        found.append((_("bias counted, but {layer} has none (bias: false)").format(layer=node.name), {"bias": True}))
    if "padding" in opts and opts["padding"] not in ((0, 0), "valid"):
        found.append((_("padding forgotten (P = 0)"), {"padding": (0, 0)}))
    if "stride" in opts and (opts["stride"] or layer.kernel) != (1, 1):
        found.append((_("stride ignored (S = 1)"), {"stride": (1, 1)}))
    if opts.get("groups", 1) > 1:
        found.append((_("grouped convolution ignored (G = 1 instead of {groups})").format(groups=opts["groups"]),
                      {"groups": 1}))
    return found


def swapped_count_mistakes(quantity, truth, record):
    if quantity == "flops" and record.macs:
        return [(record.macs, _("MACs given where FLOPs were asked: FLOPs = 2·MACs + … = {flops}").format(
            flops=grouped(record.flops)), "units")]
    if quantity == "macs" and record.macs:
        return [(record.flops, _("FLOPs given where MACs were asked: 1 MAC = 2 FLOPs"), "units"),
                (2 * record.macs, _("FLOPs (2 per MAC) given where MACs were asked: MACs = {macs}").format(
                    macs=grouped(record.macs)), "units")]
    return []


BIAS_SUMS = {  # (left out or counted, of every layer or of one kind): whole sentences, to translate as one
    ("left out in", True): N_("bias left out in every one of the {count} layers ({names}): − {sum}"),
    ("left out in", False): N_("bias left out in every one of the {count} {kind} layers ({names}): − {sum}"),
    ("counted in", True): N_("bias counted in every one of the {count} layers that have none (bias: false) "
                             "({names}): + {sum}"),
    ("counted in", False): N_("bias counted in every one of the {count} {kind} layers that have none "
                              "(bias: false) ({names}): + {sum}"),
}


def bias_sum_message(verb, kind, items, none=False):
    names = ", ".join(name for name, _amount in items)
    amounts = f"({' + '.join(grouped(a) for _name, a in items)})" if len(items) <= 8 else ""
    total = grouped(sum(a for _name, a in items))
    return _(BIAS_SUMS[verb, kind == "all"]).format(count=len(items), kind=_(KIND_LABELS.get(kind, kind)),
                                                    names=names, sum=f"{amounts} = {total}" if amounts else total)


# ---- readings of an abbreviated or slipped number

PREFIX_POWERS = {"k": "1,024", "thousand": "1,024", "m": "1,024²", "million": "1,024²", "g": "1,024³",
                 "b": "1,024³", "billion": "1,024³", "t": "1,024⁴"}


def written_form(given):
    """(decimals written, prefix as written, exponent) of 102.7M -> (1, "M", 0) or 6.24e7 -> (2, "", 7);
    None for another spelling."""
    match = re.fullmatch(r"\s*[+-]?\d[\d,\s_']*?(?:[.,](\d+))?\s*([a-zA-Z]*)\s*", given.text)
    if match and match.group(2).lower() in PREFIXES:
        return len(match.group(1) or ""), match.group(2), 0
    match = re.fullmatch(r"\s*[+-]?\d+(?:\.(\d+))?[eE]([+-]?\d+)\s*", given.text)
    if match:
        return len(match.group(1) or ""), "", int(match.group(2))
    return None


def rounded_like(given, n):
    """n written with the given's digits and prefix, rounded half up: 102,764,544 like 102.7M -> 102.8M,
    62,378,344 like 6.23e7 -> 6.24e7."""
    form = written_form(given)
    if form is None:
        return None
    decimals, prefix, exponent = form
    unit = 2 * given.tolerance
    steps = (Fraction(n) / unit + Fraction(1, 2)).__floor__()
    value = steps * unit / 1000 ** PREFIXES[prefix.lower()] / Fraction(10) ** exponent
    return f"{float(value):.{decimals}f}{prefix}" + (f"e{exponent}" if exponent else "")


def roundings(given, n):
    """How the given's digits come from n other than by rounding: "rounded down" (cut off), "rounded up"."""
    unit = 2 * given.tolerance
    if given.value == (Fraction(n) / unit).__floor__() * unit:
        return "rounded down"
    if given.value == (-(-Fraction(n) // unit)) * unit:
        return "rounded up"
    return None


# Every sentence a reading of a number can give, whole, so that each can be translated as one.
READINGS = {
    "rounded down": N_("{given} is {truth} rounded down; rounded it is {rounded}"),
    "rounded up": N_("{given} is {truth} rounded up; rounded it is {rounded}"),
    "binary": N_("K = 1024: {given} read with binary prefixes ({prefix} = {power}) is {value}, which matches "
              "{truth} to the digits written; counts use K = 1,000 and M = 1,000,000, so {truth} is {rounded}"),
    ("mistake", "binary"): N_("{given}, reading {prefix} as {power}, matches {value}: {mistake}; the right count is "
                           "{truth}"),
    ("mistake", "rounded down"): N_("{given} matches {value} rounded down: {mistake}; the right count is {truth}"),
    ("mistake", "rounded up"): N_("{given} matches {value} rounded up: {mistake}; the right count is {truth}"),
    ("no bias", "binary"): N_("{given}, reading {prefix} as {power}, matches {value}{worked}, the count without "
                           "bias; with bias it is {truth}"),
    ("no bias", "rounded down"): N_("{given} matches {value}{worked} rounded down, the count without bias; with "
                                 "bias it is {truth}"),
    ("no bias", "rounded up"): N_("{given} matches {value}{worked} rounded up, the count without bias; with bias "
                               "it is {truth}"),
    ("bias", "binary"): N_("{given}, reading {prefix} as {power}, matches {value}{worked}, the count with a bias; "
                        "without one (bias: false) it is {truth}"),
    ("bias", "rounded down"): N_("{given} matches {value}{worked} rounded down, the count with a bias; without one "
                              "(bias: false) it is {truth}"),
    ("bias", "rounded up"): N_("{given} matches {value}{worked} rounded up, the count with a bias; without one "
                            "(bias: false) it is {truth}"),
    "one digit": N_("only the {place} digit differs from the right count {truth}, as a slip in the arithmetic of "
                 "the right formula would give"),
    "swapped": N_("two neighbouring digits are swapped: the right count is {truth}, as a slip in writing out the "
               "right result would give"),
}
PLACES = (N_("ones"), N_("tens"), N_("hundreds"), N_("thousands"), N_("ten-thousands"), N_("hundred-thousands"),
          N_("millions"), N_("ten-millions"), N_("hundred-millions"), N_("billions"))


def reading_diagnosis(given, truth, mistakes):
    """An abbreviated wrong number: the reading (rounded the wrong way, or K = 1024) of the right count or
    of one mistake's that lands closest to the number it explains; binary only when closer than rounding."""
    candidates = []
    for value, message, credit, bias in [(truth, None, None, None)] + mistakes:
        if not isinstance(value, int) or value <= 0:
            continue
        how = roundings(given, value)
        if how:
            candidates.append((abs(given.value - value) / value, 0, how, value, message, credit, bias))
        if given.matches_binary(value):
            candidates.append((abs(given.binary[0] - value) / value, 1, "binary", value, message, credit, bias))
    rounded = rounded_like(given, truth)
    if not candidates or rounded is None:
        return "", ""
    # rounding the wrong way: the right count before a mistake's (within one unit, closeness means nothing);
    # a binary reading only when it lands closer than that rounding
    rounded_ones = sorted((c for c in candidates if c[1] == 0), key=lambda c: (c[4] is not None, c[0]))
    binary_ones = sorted((c for c in candidates if c[1] == 1), key=lambda c: (c[0], c[4] is not None))
    best = rounded_ones[0] if rounded_ones else None
    if binary_ones and (best is None or binary_ones[0][0] < best[0]):
        best = binary_ones[0]
    _order, _kind, how, value, message, credit, bias = best
    prefix = written_form(given)[1]
    words = {"given": given.text, "truth": grouped(truth), "rounded": rounded, "value": grouped(value),
             "prefix": prefix, "power": PREFIX_POWERS.get(prefix.lower(), "1,024"), "mistake": message,
             "worked": bias[1] if bias else ""}
    if message is None:
        if how == "binary":
            words["value"] = grouped(round(given.binary[0]))
        return _(READINGS[how]).format(**words), "units" if how == "binary" else "rounding"
    return _(READINGS[(bias[0] if bias else "mistake", how)]).format(**words), credit or ""


def digit_slip(given, truth):
    """An exact number one digit away from the right one, or with two neighbouring digits swapped."""
    if given.value.denominator != 1:
        return "", ""
    theirs, right = str(int(given.value)), str(truth)
    if len(theirs) != len(right) or len(right) < 3:
        return "", ""
    differ = [i for i, (a, b) in enumerate(zip(theirs, right)) if a != b]
    if len(differ) == 1 and len(right) - 1 - differ[0] < len(PLACES):
        return _(READINGS["one digit"]).format(place=_(PLACES[len(right) - 1 - differ[0]]), truth=grouped(truth)), \
            "arithmetic"
    if len(differ) == 2 and differ[1] == differ[0] + 1 and theirs[differ[0]] == right[differ[1]] \
            and theirs[differ[1]] == right[differ[0]]:
        return _(READINGS["swapped"]).format(truth=grouped(truth)), "arithmetic"
    return "", ""


# ---- numeric pooling exercises

def pool_verdict(answer):
    """A pooled matrix or max-pool routing mask, against calc's own pooling of the exercise's input."""
    import numpy as np
    from .calc import pool_explanation, pool_values
    problem = answer.problem
    matrix = np.array([[float(v) for v in row] for row in problem["input"]])
    mode = problem.get("mode", "max")
    kernel, stride = str(problem["kernel"]), str(problem.get("stride") or problem["kernel"])
    try:
        values, mask = pool_values(matrix, kernel=kernel, stride=stride, mode=mode)
        sizes = pool_explanation(input_size=f"{matrix.shape[0]}x{matrix.shape[1]}", kernel=kernel, stride=stride,
                                 mode=mode)
    except SpecError as err:
        raise err.located(line=answer.line) from None
    working = size_working(sizes.layers[0].steps, None)
    if answer.quantity == "pool_mask":
        if mode != "max":
            raise SpecError(_("pooling exercise '{name}' asks for a mask, which only max pooling routes").format(
                name=answer.layer), line=answer.line, hint=_("remove `mask:` or set mode: max"))
        truth = mask
        working.append(_("the gradient of each output flows back to the position of its window's maximum"))
    else:
        truth = values
    given = answer.given
    ok = np.array(given, dtype=float).shape == truth.shape and bool(
        np.all(np.abs(np.array(given, dtype=float) - truth) < 0.005))
    verdict = Verdict(answer.layer, answer.quantity, matrix_words(given), matrix_words(truth), ok, answer.line,
                      working)
    if not ok and answer.quantity == "pool_output":
        other, _mask = pool_values(matrix, kernel=kernel, stride=stride, mode="avg" if mode == "max" else "max")
        if np.array(given, dtype=float).shape == other.shape and np.all(np.abs(np.array(given, dtype=float) - other)
                                                                        < 0.005):
            verdict.diagnosis = (_("these are the window averages; max pooling keeps each window's largest value")
                                 if mode == "max" else
                                 _("these are the window maxima; average pooling keeps each window's mean"))
    if not ok and answer.quantity == "pool_mask" and np.array(given).shape != truth.shape:
        verdict.diagnosis = _("the mask has the input's shape {shape}: one entry per input position").format(
            shape=f"{truth.shape[0]}×{truth.shape[1]}")
    return verdict


def matrix_words(matrix):
    """[[9, 6], [9, 9]] as one line, whole numbers without a decimal point."""
    rows = matrix.tolist() if hasattr(matrix, "tolist") else matrix
    return "[" + ", ".join("[" + ", ".join(f"{float(v):g}" for v in row) + "]" for row in rows) + "]"
