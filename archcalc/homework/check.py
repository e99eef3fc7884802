"""Check a student's answers against a spec, and name the mistake when one mistake explains a wrong
number exactly (bias left out, padding forgotten, stride ignored, MACs for FLOPs, K = 1024, ...), or how
an abbreviated number came about (rounded the wrong way, binary prefixes); a wrong answer whose
diagnosis shows the method right gets partial credit (a Verdict's `credit`, named in report.homework.CREDITS).

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
from dataclasses import dataclass, field
from fractions import Fraction

from ..analysis.analyzer import ReceptiveField, analyze
from ..errors import LayerError, SpecError, read_text
from ..i18n import _
from ..layers.base import Kind
from ..layers.shapes import CHANNELS_FIRST, CHANNELS_LAST, even_sizes, from_layout, to_layout
from ..report.homework import shape_x, step_text, total_params_text
from ..spec.graph import INPUT, Graph, load_spec
from ..units import Given, grouped
from .answers import Answer, Answers, answers_input, load_answers, parse_shape_answer, read_answers
from .diagnoses import bias_sum_message, digit_slip, option_mistakes, reading_diagnosis, swapped_count_mistakes
from .explain import explain
from .summary_parse import KERAS, detect

STEP_OF = {"params": "params", "macs": "MACs", "flops": "FLOPs"}


PARTIAL = Fraction(1, 2)


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
    credit: str = ""           # partial credit for a wrong answer, a key of report.homework.CREDITS; "" for none

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
        from ..report.html import check_body, fragment
        return fragment(check_body(self))

    def _repr_markdown_(self):
        from ..report.homework import check_report
        return check_report(self, "markdown")


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
        if layer.kind not in (Kind.CONV, Kind.DENSE):
            return []
        step = layer.opts.get("groups", 1)
        channels = ins[0][0]

        def at(c):
            result = self.measure(layer, [(c,) + tuple(ins[0][1:])], quantity)
            return result[0] if result else None
        slope = (at(channels + step) or 0) - truth
        symbol = "C_in" if layer.kind == Kind.CONV else "n_in"
        source = (_("{layer}'s output").format(layer=node.inputs[0]) if node.inputs[0] != INPUT
                  else _("the network input"))

        if slope <= 0 or (given_value - truth) % slope:
            return []
        wrong = channels + (given_value - truth) // slope * step
        result = self.measure(layer, [(wrong,) + tuple(ins[0][1:])], quantity) if wrong >= 1 else None
        if not result or result[0] != given_value:
            return []
        sentence = (_("wrong number of input channels: {working} uses {symbol} = {wrong}, but {layer}'s input "
                      "({source}) has {right}") if layer.kind == Kind.CONV else
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
        hint = "" if layer.kind == Kind.CONV or ceil else _(" (ceil_mode: true would round up)")
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


# check's API; answers.py reads the answers, diagnoses.py names the mistakes, text.py holds every sentence
__all__ = ["check", "check_text", "check_answers", "CheckResult", "Verdict", "read_answers", "load_answers",
           "parse_shape_answer", "Answer", "Answers"]
