"""Exercise sheets: questions on a network's layers (output size, parameters, MACs, receptive field) and
numeric pooling exercises on random 4×4 matrices, with an answer key of worked solutions and an
answers file that `archcalc check` grades.

Every answer and every worked step comes from explain (the layer classes' own steps) or calc (the
numeric pooling): nothing here computes a formula of its own. The same seed gives the same sheet.

    >>> from archcalc.homework.exercises import make_sheet
    >>> sheet = make_sheet("mnist_cnn", count=3, seed=1, topics=("params",))
    >>> [e.topic for e in sheet.exercises]
    ['params', 'params', 'params']
"""
import random
from dataclasses import dataclass, field

from ..analysis.analyzer import ReceptiveField, analyze
from ..errors import SpecError
from ..i18n import N_, _
from ..layers.base import Kind
from ..layers.shapes import to_layout
from ..report.homework import shape_x, step_text
from ..units import grouped
from ..spec.graph import INPUT, as_graph
from .explain import explain

TOPICS = ("output-size", "params", "macs", "receptive-field", "pooling")
COURSE_MODELS = ("mnist_cnn", "lenet5", "alexnet", "vgg16")
POOL_SIZE = 4                      # the course's 4×4 pooling exercises
TITLES = {"output-size": N_("Output size"), "params": N_("Parameters"), "macs": N_("Multiply-accumulates (MACs)"),
          "receptive-field": N_("Receptive field"), "pooling": N_("Pooling by hand")}
QUESTIONS = {
    "output-size": N_("What is the output shape of {layer}? Write it as {example}."),
    "params": N_("How many parameters (weights and biases) does {layer} have?"),
    "macs": N_("How many multiply-accumulates (MACs) does {layer} compute for one input?"),
    "receptive-field": N_("How large is the receptive field of one output position of {layer}, in input pixels?"),
}
POOL_QUESTIONS = {
    "max": N_("Max-pool this {n}×{n} input with a {k}×{k} window and stride {s}. Give the pooled output and the "
           "backward routing mask: for each input position, how many outputs' gradients flow back to it."),
    "avg": N_("Average-pool this {n}×{n} input with a {k}×{k} window and stride {s}. Give the pooled output."),
}
# The sheet's other sentences and labels, each whole, in one place (for translation).
TEXT = {
    "title": N_("{model}: exercises (seed {seed})"),
    "key title": N_("{model}: answer key (seed {seed})"),
    "network": N_("Network `{model}`, input {shape}{layout}, one example (batch 1). Its layers, in order:"),
    "layer question": N_("`{layer}` ({type}: {settings}) takes {shape} ({source}). {question}"),
    "the input": N_("the network input"),
    "copy answers": N_("Copy the block at the end of this sheet into answers.yaml, replace each ___ with your answer, "
                    "and grade it with `archcalc check {spec} answers.yaml`."),
    "answer": N_("**Answer:** {answer}"),
    "answers heading": N_("Your answers (answers.yaml)"),
    "filled heading": N_("Answers file, filled in"),
    "output shape": N_("output shape: {shape}"),
    "field start": N_("from the input (r = 1, j = 1), each windowed layer on the way in turn: "
                   "r_out = r_in + (k − 1)·j_in, j_out = j_in·s"),
    "pool window": N_("output ({row}, {column}): {mode}({values}) = {result}"),
    "pool backward": N_("backward: each output's gradient flows to the position of its window's maximum; "
                     "the mask counts the outputs routed to each input position"),
    "pooled answer": N_("output {output}"),
    "pooled answer with mask": N_("output {output}, mask {mask}"),
    "answers file header": N_("# answers to the {model} exercise sheet (seed {seed}): replace each ___, then run"),
}
ANSWER_KEYS = {"output-size": "output_shape", "params": "params", "macs": "macs", "receptive-field": "receptive_field"}
BLANK = "___"


@dataclass
class Exercise:
    number: int
    topic: str
    question: str                 # Markdown
    layer: str = None             # the spec layer asked about; None for a pooling exercise
    answer: object = None         # a shape tuple, an int, or {"output": matrix, "mask": matrix} for pooling
    solution: list = field(default_factory=list)    # worked steps, as text
    problem: dict = None          # pooling: {"input": matrix, "kernel": k, "stride": s, "mode": ...}

    @property
    def name(self):
        return f"ex{self.number}"


@dataclass
class Sheet:
    model: str
    spec: str                     # what to pass to `archcalc check`
    seed: int
    input_shape: tuple            # the spec's layout
    layout: str
    network: list                 # (name, type, settings) rows describing the layers
    exercises: list
    asked: int = 0                # how many were asked for; more than len(exercises) when the layers ran out


ALWAYS_SHOWN = ("filters", "kernel", "stride", "padding", "units")


def _settings(node):
    """A layer's options as a course writes them: "filters 64, kernel 3×3, stride 1×1, padding 0×0";
    other options only where they differ from their defaults."""
    words = []
    options = type(node.layer).options
    for key, value in node.layer.opts.items():
        default = options[key].default if key in options else None
        if key == "stride" and value is None and hasattr(node.layer, "strides"):
            value = tuple(node.layer.strides())          # a pool's stride defaults to its kernel
        if value is None or (key not in ALWAYS_SHOWN and value == default):
            continue
        shown = "×".join(map(str, value)) if isinstance(value, tuple) else str(value)
        words.append(f"{key.replace('_', ' ')} {shown}")
    return ", ".join(words)


def make_sheet(spec=None, *, count=6, seed=0, topics=TOPICS):
    """A Sheet of `count` exercises, drawn with random.Random(seed): spec questions round-robin over
    the topics, pooling exercises on random 4×4 matrices. Without a spec, one of the course's models."""
    unknown = [t for t in topics if t not in TOPICS]
    if unknown:
        raise SpecError(f"unknown topic(s): {', '.join(unknown)}", hint=f"topics: {', '.join(TOPICS)}")
    if count < 1:
        raise SpecError(f"--count must be at least 1, got {count}", hint="e.g. --count 6")
    rng = random.Random(seed)
    if spec is None:
        spec = rng.choice(COURSE_MODELS)
    graph = as_graph(spec)
    report = analyze(graph)
    explanation = explain(graph, report=report)
    records = {r.name: r for r in report.layers}
    steps = {e.name: e for e in explanation.layers}
    inputs = {INPUT: graph.input_shape}
    for node, record in zip(graph.nodes, report.layers):
        inputs[node.name] = record.output_shape
    pools = {
        "output-size": [n for n in graph.nodes if n.layer.kind in (Kind.CONV, Kind.POOL) and hasattr(n.layer, "windows")],
        "params": [n for n in graph.nodes if records[n.name].params and n.layer.kind in (Kind.CONV, Kind.DENSE)],
        "macs": [n for n in graph.nodes if records[n.name].macs and n.layer.kind in (Kind.CONV, Kind.DENSE)],
        "receptive-field": [n for n in graph.nodes if hasattr(n.layer, "windows")
                            and isinstance(records[n.name].receptive_field, ReceptiveField)],
    }
    for pool in pools.values():
        rng.shuffle(pool)
    order = list(topics)
    rng.shuffle(order)
    exercises, turn = [], 0
    while len(exercises) < count:
        available = [t for t in order if t == "pooling" or pools.get(t)]
        if not available:
            break
        topic = available[turn % len(available)]
        turn += 1
        number = len(exercises) + 1
        if topic == "pooling":
            exercises.append(_pool_exercise(number, rng))
            continue
        node = pools[topic].pop()
        exercises.append(_layer_exercise(number, topic, node, graph, records[node.name], steps[node.name],
                                         inputs, {name: e.field_steps for name, e in steps.items()}))
    network = [(n.name, n.layer.type_name, _settings(n)) for n in graph.nodes]
    spec_word = spec if isinstance(spec, str) else (graph.file or graph.name)
    return Sheet(graph.name, str(spec_word), seed, tuple(to_layout(graph.input_shape, graph.layout)), graph.layout,
                 network, exercises, count)


def _ancestors(graph, name):
    """The layers `name` depends on, and itself, in the spec's order."""
    needed, nodes = {name}, {n.name: n for n in graph.nodes}
    for node in reversed(graph.nodes):
        if node.name in needed:
            needed.update(ref for ref in node.inputs if ref in nodes)
    return [n.name for n in graph.nodes if n.name in needed]


def _layer_exercise(number, topic, node, graph, record, explained, inputs, field_steps):
    layout = graph.layout
    source = node.inputs[0]
    given = shape_x(inputs[source]) if source != INPUT else shape_x(to_layout(graph.input_shape, layout))
    where = _(TEXT["the input"]) if source == INPUT else source
    example = "H×W×C" if layout == "channels_last" else "C×H×W"
    text = _(QUESTIONS[topic]).format(layer=f"`{node.name}`", example=example)
    question = _(TEXT["layer question"]).format(layer=node.name, type=node.layer.type_name, settings=_settings(node),
                                             shape=given, source=where, question=text)
    if topic == "output-size":
        answer = tuple(record.output_shape)
        solution = [step_text(s, layout) for s in explained.steps if s.quantity not in ("params", "MACs", "FLOPs")]
        solution.append(_(TEXT["output shape"]).format(shape=shape_x(answer)))
    elif topic in ("params", "macs"):
        step = explained.step("params" if topic == "params" else "MACs")
        answer = record.params if topic == "params" else record.macs
        solution = [step_text(s, layout) for s in explained.steps if s.quantity not in ("params", "MACs", "FLOPs")]
        solution.append(step_text(step, layout))
    else:
        field_size = record.receptive_field.size
        answer = field_size[0] if len(set(field_size)) == 1 else tuple(field_size)
        solution = [_(TEXT["field start"])]
        for name in _ancestors(graph, node.name):
            worked = [f"{s.quantity} = {s.substituted} = {s.result}" for s in field_steps[name] if s.quantity[0] in "rj"]
            if worked:
                solution.append(f"{name}: " + "; ".join(worked))
    return Exercise(number, topic, question, node.name, answer, solution)


def _pool_exercise(number, rng):
    """A 4×4 matrix of distinct whole numbers (so every window has one maximum), 2×2 windows, stride 2."""
    import numpy as np
    from .calc import pool_explanation, pool_values
    mode = rng.choice(("max", "avg"))
    values = rng.sample(range(1, 21), POOL_SIZE * POOL_SIZE)
    matrix = [values[i * POOL_SIZE:(i + 1) * POOL_SIZE] for i in range(POOL_SIZE)]
    kernel = stride = 2
    pooled, mask = pool_values(np.array(matrix, dtype=float), kernel=str(kernel), stride=str(stride), mode=mode)
    sizes = pool_explanation(input_size=str(POOL_SIZE), kernel=str(kernel), stride=str(stride), mode=mode)
    solution = [step_text(s, None) for s in sizes.layers[0].steps if s.quantity not in ("params", "MACs", "FLOPs")]
    for i in range(pooled.shape[0]):
        for j in range(pooled.shape[1]):
            window = [matrix[r][c] for r in range(i * stride, i * stride + kernel)
                      for c in range(j * stride, j * stride + kernel)]
            listed = ", ".join(map(str, window))
            result = f"{pooled[i, j]:g}"
            solution.append(_(TEXT["pool window"]).format(row=i + 1, column=j + 1, mode=mode, values=listed,
                                                       result=result))
    answer = {"output": _whole(pooled)}
    if mode == "max":
        answer["mask"] = _whole(mask)
        solution.append(_(TEXT["pool backward"]))
    question = _(POOL_QUESTIONS[mode]).format(n=POOL_SIZE, k=kernel, s=stride)
    problem = {"input": matrix, "kernel": kernel, "stride": stride, "mode": mode}
    return Exercise(number, "pooling", question, None, answer, solution, problem)


def _whole(array):
    return [[int(v) if float(v).is_integer() else float(v) for v in row] for row in array.tolist()]


# ---- writing it out

def _matrix_markdown(matrix):
    width = len(matrix[0])
    lines = ["| " + " | ".join(" " for _ in range(width)) + " |", "|" + "---|" * width]
    lines += ["| " + " | ".join(str(v) for v in row) + " |" for row in matrix]
    return "\n".join(lines)


def _answer_text(exercise):
    answer = exercise.answer
    if exercise.topic == "pooling":
        if "mask" in answer:
            return _(TEXT["pooled answer with mask"]).format(output=answer["output"], mask=answer["mask"])
        return _(TEXT["pooled answer"]).format(output=answer["output"])
    if isinstance(answer, tuple):
        return shape_x(answer)
    return grouped(answer)


def _yaml_value(exercise, filled):
    answer = exercise.answer
    if not filled:
        return BLANK
    if isinstance(answer, tuple):
        return "[" + ", ".join(map(str, answer)) + "]"
    return str(answer)


def _blank_like(matrix):
    """[[___, ___], [___, ___]] with the matrix's shape (YAML reads ___ as a word, check asks for numbers)."""
    return "[" + ", ".join("[" + ", ".join([BLANK] * len(row)) + "]" for row in matrix) + "]"


def answers_yaml(sheet, *, filled=False):
    """The answers file `archcalc check` grades: blanks (___) to fill in, or the key's values."""
    lines = [_(TEXT["answers file header"]).format(model=sheet.model, seed=sheet.seed),
             f"#   archcalc check {sheet.spec} answers.yaml",
             "input: [" + ", ".join(map(str, sheet.input_shape)) + "]"]
    by_layer = {}
    for exercise in sheet.exercises:
        if exercise.layer is not None:
            by_layer.setdefault(exercise.layer, []).append(exercise)
    if by_layer:
        lines.append("layers:")
        for layer, exercises in by_layer.items():
            lines.append(f"  {layer}:")
            for exercise in exercises:
                lines.append(f"    {ANSWER_KEYS[exercise.topic]}: {_yaml_value(exercise, filled)}"
                             f"    # exercise {exercise.number}")
    pooling = [e for e in sheet.exercises if e.topic == "pooling"]
    if pooling:
        lines.append("pooling:")
        for exercise in pooling:
            problem = exercise.problem
            lines += [f"  {exercise.name}:    # exercise {exercise.number}",
                      f"    input: {problem['input']}",
                      f"    kernel: {problem['kernel']}", f"    stride: {problem['stride']}",
                      f"    mode: {problem['mode']}"]
            for key in ("output", "mask"):
                if key in exercise.answer:
                    value = exercise.answer[key] if filled else _blank_like(exercise.answer[key])
                    lines.append(f"    {key}: {value}")
    return "\n".join(lines) + "\n"


def sheet_markdown(sheet, *, key=False):
    """The sheet a teacher hands out (key=False), or its answer key with worked solutions (key=True)."""
    layout = f" ({sheet.layout})" if len(sheet.input_shape) > 1 else ""
    title = "# " + _(TEXT["key title" if key else "title"]).format(model=sheet.model, seed=sheet.seed)
    lines = [title, "", _(TEXT["network"]).format(model=sheet.model, shape=shape_x(sheet.input_shape), layout=layout), "",
             "| " + " | ".join((_("layer"), _("type"), _("settings"))) + " |", "|---|---|---|"]
    lines += [f"| {name} | {kind} | {settings or '–'} |" for name, kind, settings in sheet.network]
    if not key:
        lines += ["", _(TEXT["copy answers"]).format(spec=sheet.spec)]
    lines.append("")
    for exercise in sheet.exercises:
        lines += [f"## {exercise.number}. " + _(TITLES[exercise.topic]), "", exercise.question, ""]
        if exercise.problem:
            lines += [_matrix_markdown(exercise.problem["input"]), ""]
        if key:
            lines += [_(TEXT["answer"]).format(answer=_answer_text(exercise)), ""]
            lines += [f"- {step}" for step in exercise.solution] + [""]
    heading = "## " + _(TEXT["filled heading" if key else "answers heading"])
    lines += [heading, "", "```yaml", answers_yaml(sheet, filled=key).rstrip(), "```", ""]
    return "\n".join(lines).rstrip() + "\n"


def sheet_html(sheet, *, key=False):
    """The sheet or its key as one self-contained HTML page (no request when opened), for printing."""
    from html import escape

    from ..report.html import page, table

    def inline(text):           # `code` spans as <code>, the rest escaped
        parts = text.split("`")
        return "".join(f"<code>{escape(p)}</code>" if i % 2 else escape(p) for i, p in enumerate(parts))
    title = _(TEXT["key title" if key else "title"]).format(model=sheet.model, seed=sheet.seed)
    layout = f" ({sheet.layout})" if len(sheet.input_shape) > 1 else ""
    network = _(TEXT["network"]).format(model=sheet.model, shape=shape_x(sheet.input_shape), layout=layout)
    body = [f"<h2>{escape(title)}</h2>", f"<p>{inline(network)}</p>",
            table([_("layer"), _("type"), _("settings")], [[n, t, s or "–"] for n, t, s in sheet.network])]
    for exercise in sheet.exercises:
        body += [f"<h3>{exercise.number}. {escape(_(TITLES[exercise.topic]))}</h3>", f"<p>{inline(exercise.question)}</p>"]
        if exercise.problem:
            matrix = exercise.problem["input"]
            body.append(table([""] * len(matrix[0]), matrix, numeric=range(len(matrix[0]))).replace(
                "<thead><tr>" + "<th class=\"num\"></th>" * len(matrix[0]) + "</tr></thead>", ""))
        if key:
            answer = _(TEXT["answer"]).format(answer=_answer_text(exercise)).replace("**", "")
            body.append(f"<p><b>{escape(answer)}</b></p>")
            body += [f'<div class="step">{escape(step)}</div>' for step in exercise.solution]
    heading = _(TEXT["filled heading" if key else "answers heading"])
    body += [f"<h3>{heading}</h3>", f"<pre>{escape(answers_yaml(sheet, filled=key))}</pre>"]
    return page(title, "".join(body))
