"""Worked arithmetic for each layer of a spec, as students write it by hand.

Every number comes from the layer classes' own hooks (through Layer.explain) on the shapes the
analyzer computed, so an explanation always agrees with `archcalc summarize`.

    >>> from archcalc.explain import explain
    >>> conv1 = explain("alexnet", layer="conv1").layers[0]
    >>> conv1.result("params")
    34944
"""
from dataclasses import dataclass, field

from ..analysis.analyzer import ReceptiveField, analyze, configured
from ..errors import SpecError
from ..i18n import _
from ..layers.base import COUNTS, Step
from ..spec.graph import INPUT, as_graph


@dataclass
class LayerExplanation:
    name: str
    type: str
    kind: str
    line: int
    output_shape: tuple      # the spec's layout
    steps: list              # layers.base.Step, results of shape steps in channels-first order
    warnings: list = field(default_factory=list)
    field_steps: list = field(default_factory=list)    # the receptive-field recurrence, for windowed layers

    def step(self, quantity):
        return next((s for s in self.steps if s.quantity == quantity), None)

    def result(self, quantity):
        """The result of the step for `quantity` ("params", "MACs", "FLOPs"), 0 when the layer has none."""
        step = self.step(quantity)
        return step.result if step else 0


@dataclass
class Explanation:
    model: str
    input_shape: tuple       # the spec's layout
    layout: str
    layers: list
    total_params: int

    def _repr_html_(self):
        from ..report.html import explanation_body, fragment
        return fragment(explanation_body(self))

    def _repr_markdown_(self):
        from ..report.homework import explanation
        return explanation(self, "markdown")


def explain(spec, *, layer=None, input_shape=None, report=None, attention="naive"):
    """Explain every layer of `spec` (path, zoo name, dict or Graph), or only the layer named `layer`.
    `report`: the graph's analysis when the caller already has one (check does), so it is not redone.
    `attention` as in analyze: attention layers explain the kernel chosen."""
    graph = configured(as_graph(spec, input_shape=input_shape), attention)
    report = report or analyze(graph)
    if layer is not None and layer not in {node.name for node in graph.nodes}:
        raise SpecError(_("the spec has no layer named '{layer}'").format(layer=layer), file=graph.file,
                        hint=graph.layer_hint(layer))
    fields = {INPUT: ReceptiveField.of_input(len(graph.input_shape) - 1),
              **{r.name: r.receptive_field for r in report.layers}}
    layers = []
    for node, record in zip(graph.nodes, report.layers):
        ins, out = list(record.in_shapes), record.out_shape
        if layer is not None and node.name != layer:
            continue
        try:
            steps = node.layer.explain(ins, out)
        except SpecError as err:
            raise graph.error(node, err) from None
        if node.tie is not None:        # its weight is another layer's: counted there (model.parameters())
            steps = [step if step.quantity != "params" else
                     Step("params", step.formula + " − " + _("shared weight"), f"{record.params}", record.params,
                          _("the weight is {layer}'s (tie: {layer}), counted once, there").format(layer=node.tie))
                     for step in steps]
        warnings = [w["message"] for w in report.warnings + report.notes if w["layer"] == node.name]
        layers.append(LayerExplanation(node.name, record.type, record.kind, node.line, record.output_shape,
                                       steps, warnings, field_steps(node, ins, record, fields)))
    return Explanation(report.model, report.input_shape, report.layout, layers, report.totals.params)


AXIS_SUFFIXES = {2: ("_h", "_w"), 3: ("_d", "_h", "_w")}


def field_steps(node, ins, record, fields):
    """r_out = r_in + (k − 1)·j_in and j_out = j_in·s with the layer's numbers, per axis (one line when
    both agree); the results are the analyzer's, from the widest input field as at a merge."""
    inputs = [fields[ref] for ref in node.inputs if isinstance(fields[ref], ReceptiveField)]
    steps = node.layer.receptive_step(ins)
    out = record.receptive_field
    if not inputs or not isinstance(steps, tuple) or not isinstance(out, ReceptiveField):
        return []
    before = max(inputs, key=lambda f: f.size)
    same = all(step == steps[0] for step in steps) and len(set(before.size)) == 1
    axes = [("", 0)] if same or len(steps) == 1 else list(zip(AXIS_SUFFIXES[len(steps)], range(len(steps))))
    lines = []
    for suffix, axis in axes:
        k, s, p = steps[axis]
        r, j, start = before.size[axis], before.jump[axis], before.start[axis]
        lines += [Step(f"r{suffix}", "r_in + (k − 1)·j_in", f"{r} + ({k} − 1)·{j}", out.size[axis]),
                  Step(f"j{suffix}", "j_in·s", f"{j}·{s}", out.jump[axis]),
                  Step(f"start{suffix}", "start_in + ((k − 1)/2 − p)·j_in",
                       f"{start:g} + (({k} − 1)/2 − {p})·{j}", f"{out.start[axis]:g}")]
    return lines


__all__ = ["explain", "Explanation", "LayerExplanation", "COUNTS"]
