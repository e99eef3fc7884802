"""The `archcalc` command: thin click wrappers over the library. Exit status: 0 ok, 1 a check
found disagreement, 2 bad input (a spec, an option or a file)."""
import contextlib
import functools
import gc
import os
import sys

import click

from . import __version__
from .analysis.conventions import CONVENTIONS
from .analysis.analyzer import DEVICES, DTYPE_BYTES
from .analysis.memory import MODES, OPTIMIZER_STATES
from .analysis.sharding import CONVENTIONS as SHARDING_CONVENTIONS, OFFLOADS, STRATEGIES
from .bridges.verify import TORCH_DTYPES
from .errors import SpecError
from .i18n import N_, _
from .homework.exercises import TOPICS as EXERCISE_TOPICS
from .layers.base import ATTENTION

DTYPES = tuple(DTYPE_BYTES)


class ArchcalcGroup(click.Group):
    """Turns a SpecError anywhere below into one clear message and exit status 2, never a traceback."""

    def parse_args(self, ctx, args):
        return super().parse_args(ctx, hoist_lang(args))

    def main(self, *args, **kwargs):
        from .i18n import kept
        with kept(), rare_collections():     # --lang holds for this run only (CliRunner runs many in one process)
            return super().main(*args, **kwargs)

    def invoke(self, ctx):
        try:
            result = super().invoke(ctx)
        except SpecError as err:
            label = _("error:")
            click.echo(f"{paint(label, fg='red', bold=True)} {err}", err=True)
            ctx.exit(2)
        except SystemExit as done:          # check and verify exit 1 on a disagreement: they still ran
            if done.code in (0, 1, None):
                warn_layouts(ctx)
            raise
        warn_layouts(ctx)
        return result


@contextlib.contextmanager
def rare_collections():
    """Fewer cyclic-garbage collections while a command runs: a spec's records are thousands of small
    objects and hardly any cycle, and Python's default (a collection every 700 allocations) spent a tenth
    of a 7,000-layer summarize looking for garbage (benchmarks/bench_deep.py). mypy's build tunes it too."""
    thresholds = gc.get_threshold()
    gc.set_threshold(50_000, 20, 100)
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)


def hoist_lang(args):
    """`--lang ko` (or `--lang=ko`) anywhere on the line, before a `--`, moves to the front where the group's
    option reads it: so every command takes it, `archcalc explain lenet5 --lang ko` as `archcalc --lang ko ...`."""
    args, found, rest = list(args), [], []
    i = 0
    while i < len(args):
        if args[i] == "--":
            rest += args[i:]
            break
        if args[i] == "--lang":
            if i + 1 == len(args):
                return ["--lang"]           # no value: the group's option says that it needs one
            found, i = args[i:i + 2], i + 2
            continue
        if args[i].startswith("--lang="):
            found, i = [args[i]], i + 1
            continue
        rest.append(args[i])
        i += 1
    return found + rest


def choose_language(ctx, param, value):
    """--lang, else $ARCHCALC_LANG, else the locale (archcalc.i18n); every run sets it afresh."""
    from .i18n import available, normalize, set_language
    if value is not None and normalize(value) not in available():
        raise click.BadParameter(f"'{value}' is not one of {', '.join(available())}", ctx, param)
    set_language(value)
    return value


def paint(text, **style):
    """Colour for a terminal only: click.echo strips it when the stream is not a tty, and NO_COLOR turns it off."""
    return text if os.environ.get("NO_COLOR") else click.style(text, **style)


def terminal_progress():
    """A one-line progress report on stderr, overwritten in place; None when stderr is not a terminal."""
    if not sys.stderr.isatty():
        return None

    def show(message):
        click.echo(f"\r\033[K{message}", err=True, nl=False)
    return show


def complete_spec(ctx, param, incomplete):
    """Shell completion for SPEC: the built-in names, then files and folders."""
    from click.shell_completion import CompletionItem

    from .spec.zoo import names
    builtin = [CompletionItem(name) for name in names() if name.startswith(incomplete)]
    return builtin + [CompletionItem(incomplete, type="file")]


def stdout_is_terminal():
    return sys.stdout.isatty()


def terminal_width(wide=False, output=None):
    """How wide a table may be: on a terminal, its width ($COLUMNS when set, as shutil reads it); None
    (no limit) with --wide, -o FILE or piped output, so that piped and saved output is the same everywhere,
    whatever $COLUMNS a shell exports."""
    if wide or output or not stdout_is_terminal():
        return None
    import shutil
    return shutil.get_terminal_size().columns


wide_option = click.option("--wide", is_flag=True,
                           help="Every column at full width, however wide the terminal (piped output always is).")


def emit(text, output):
    """Write to -o FILE, or stdout."""
    if output:
        save(output, text + "\n")
    else:
        click.echo(text)


def save(output, content, kind=None, target="output"):
    """Every file archcalc writes goes through here: archcalc.output.write_output with this command's kind
    (its name), its input files (never replaced) and --force; `target` names the option holding the path."""
    from .output import write_output
    ctx = click.get_current_context()
    kind = kind or ctx.command_path.split(" ", 1)[-1]
    inputs = [value for name, param in ctx.params.items() if name != target
              for value in (param if isinstance(param, (tuple, list)) else (param,))
              if isinstance(value, str) and value and os.path.isfile(value)]
    write_output(output, content, kind=kind, inputs=inputs, force=ctx.meta.get("archcalc.force", False))


def options(*decorators):
    """Several click options as one decorator, so commands share their spelling and help."""
    def apply(func):
        for decorator in reversed(decorators):
            func = decorator(func)
        return func
    return apply


spec_argument = click.argument("spec", shell_complete=complete_spec)
specs_argument = click.argument("specs", nargs=-1, required=True, metavar="SPEC...", shell_complete=complete_spec)
MAX_BATCH = 2**40      # docs/limits.md: a batch larger than this is refused, so every count stays exact and printable
batch_option = click.option("--batch", "-b", type=click.IntRange(min=1, max=MAX_BATCH), default=1, show_default=True,
                            help="Batch size N.")
dtype_option = click.option("--dtype", type=click.Choice(DTYPES), default="fp32", show_default=True,
                            help="Element type, for bytes.")
input_option = click.option("--input", "input_shape", metavar="SHAPE",
                            help="Override the spec's input, in the spec's layout (the header line shows it): "
                                 "3x224x224 if channels_first (C×H×W, the default), 224x224x3 if channels_last.")
set_option = click.option("--set", "settings", multiple=True, metavar="NAME=VALUE",
                          help="Set one of the spec's top-level args (repeatable): --set aux_logits=true.")
keras_option = click.option("--keras", is_flag=True, help="Count batchnorm moving statistics as non-trainable params.")
strict_option = click.option("--strict", is_flag=True, help="Treat uneven divisions as errors.")
analysis_options = options(batch_option, dtype_option, input_option, set_option, keras_option, strict_option)
# --attention: the choices come from the library (layers.base.ATTENTION)
attention_option = click.option("--attention", type=click.Choice(ATTENTION), default="naive",
                                show_default=True, help="How attention runs: naive (eager PyTorch's math path, the "
                                "(heads, n, n) scores kept for backward) or flash (a fused kernel, O(n) kept).")


LOADED = "archcalc.loaded"     # ctx.meta: the graphs a command read, for warn_layouts


def load(spec, input_shape=None, settings=()):
    """The spec as a Graph, with --input and --set applied; every command hands this to the library."""
    from .spec.graph import load_spec
    graph = load_spec(spec, input_shape=input_shape, args=parse_settings(settings))
    context = click.get_current_context(silent=True)
    if context is not None:
        context.meta.setdefault(LOADED, []).append(graph)
    return graph


def parse_settings(settings):
    """`--set NAME=VALUE` pairs -> a dict for the spec's top-level `args`; values read as YAML (true, 16, 0.5)."""
    from .spec.yamlio import load_yaml
    args = {}
    for item in settings:
        name, equals, value = item.partition("=")
        if not equals or not name.strip():
            raise SpecError(f"--set takes NAME=VALUE, got '{item}'", hint="e.g. --set aux_logits=true")
        try:
            args[name.strip()] = load_yaml(value)     # bounded like a spec's own numbers
        except SpecError as err:
            raise SpecError(f"--set {name}: cannot read the value: {err.message}",
                            hint="write a number, true/false or a word") from None
    return args


def output_option(func, required=False, help="Write to FILE instead of stdout."):
    """-o FILE and --force, for every command that writes a file (see `save`)."""
    @functools.wraps(func)
    def command(*args, force=False, **kwargs):
        click.get_current_context().meta["archcalc.force"] = force
        return func(*args, **kwargs)
    command = click.option("--force", is_flag=True,
                           help="Replace FILE even if archcalc did not write it (never an input).")(command)
    return click.option("-o", "--output", type=click.Path(dir_okay=False), required=required, help=help)(command)


image_output_option = functools.partial(output_option, required=True, help="Image file to write: .png, .svg or .pdf.")


def format_option(func):
    from .report.tables import FORMATS
    return click.option("--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True,
                        help="Output format.")(func)


@click.group(cls=ArchcalcGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="archcalc")
@click.option("--lang", metavar="LANG", callback=choose_language, is_eager=True, expose_value=False,
              help="Language of the output: en or ko (any command: archcalc explain lenet5 --lang ko). "
                   "Default: $ARCHCALC_LANG, else Korean when the locale is (LANG=ko_KR.UTF-8), else English.")
def main():
    """Static calculator for neural-network architectures: shapes, parameters,
    MACs/FLOPs, memory and receptive field, from a YAML spec.

    \b
    Example:
      archcalc summarize alexnet
    """


@main.command()
@spec_argument
@analysis_options
@format_option
@click.option("--rf", is_flag=True, help="Add a receptive-field column.")
@click.option("--convention", type=click.Choice(tuple(CONVENTIONS)), default="archcalc", show_default=True,
              help="Count FLOPs as this tool does (see `archcalc conventions`).")
@click.option("--train", is_flag=True, help="Add backward FLOPs, as torch's FlopCounterMode counts them.")
@attention_option
@wide_option
@output_option
def summarize(spec, batch, dtype, input_shape, settings, keras, strict, fmt, rf, convention, train, attention, wide,
              output):
    """Per-layer table and totals for SPEC (a YAML file or a built-in name).

    \b
    Examples:
      archcalc summarize alexnet --format markdown
      archcalc summarize googlenet --set aux_logits=true
      archcalc summarize resnet50 --convention fvcore --train
      archcalc summarize gpt2 --attention flash --convention flashattention
    """
    from .analysis.analyzer import analyze
    from .report.formats import render
    graph = load(spec, input_shape, settings)
    report = analyze(graph, batch=batch, dtype=dtype, keras=keras, strict=strict, convention=convention,
                     backward=train or fmt not in ("table", "markdown", "csv"), attention=attention)
    click.get_current_context().meta[LOADED].remove(graph)      # its warning goes into the report's
    if graph.layout_note:
        message, fix = graph.layout_note
        report.warnings.insert(0, {"layer": "input", "line": None, "message": f"{message}; {fix}"})
    emit(render("summary", report, fmt, rf=rf, train=train, width=terminal_width(wide, output)), output)


def warn_layouts(ctx):
    """On stderr, after a command that ran: each spec it read whose input looked written in the other
    layout (summarize lists it among its warnings instead). Where the spec failed, the error says it."""
    for graph in ctx.meta.pop(LOADED, []):
        if graph.layout_note:
            message, fix = graph.layout_note
            warning, fix_label = _("warning:"), _("fix:")
            click.echo(f"{paint(warning, fg='yellow', bold=True)} {graph.name}: {message}\n  {fix_label} {fix}",
                       err=True)


@main.command()
@format_option
@wide_option
@output_option
def zoo(fmt, wide, output):
    """List the built-in specs with their totals. Layout says how each input reads:
    C×H×W (channels_first, PyTorch) or H×W×C (channels_last, Keras); --input follows it.

    \b
    Example:
      archcalc zoo --format markdown
    """
    from .api import zoo_rows
    from .report.formats import render
    emit(render("zoo", zoo_rows(), fmt, width=terminal_width(wide, output)), output)


@main.command()
@click.option("--format", "fmt", type=click.Choice(("table", "markdown")), default="table", show_default=True,
              help="markdown: the docs' reference (each option's default and meaning, each tool's rule, what each "
                   "type keeps for backward)")
@wide_option
@output_option
def layers(fmt, wide, output):
    """List the layer types, their spellings and options.

    On a terminal the table is wrapped to its width; --wide (or a pipe) keeps one line per type.

    \b
    Example:
      archcalc layers --format markdown
    """
    from .report.tables import layer_rules_markdown, layer_types_table
    table = layer_types_table(fmt, width=terminal_width(wide, output))
    emit(table + "\n\n" + layer_rules_markdown() if fmt == "markdown" else table, output)


@main.command()
@click.argument("path", type=click.Path(dir_okay=False))
@click.option("--from", "from_spec", metavar="NAME", shell_complete=complete_spec,
              help="Copy this built-in spec (see `archcalc zoo`) instead of the starter network.")
@click.option("--force", is_flag=True, help="Replace PATH if it exists.")
def new(path, from_spec, force):
    """Write a starter spec to PATH: a small commented network (a stem, two residual blocks,
    a classifier) to edit, or with --from a copy of a built-in spec.

    \b
    Examples:
      archcalc new my_net.yaml && archcalc summarize my_net.yaml
      archcalc new my_resnet.yaml --from resnet18
    """
    from .spec.starter import write_starter
    written = write_starter(path, from_spec, force=force)
    click.echo(_("wrote {path}; next: archcalc summarize {path}").format(path=written), err=True)


@main.command()
@output_option
def schema(output):
    """Print the JSON Schema of the spec format.

    Point your editor's YAML extension at it for completion and validation (see the README).

    \b
    Example:
      archcalc schema -o archcalc.schema.json
    """
    from .report.tables import to_json
    from .spec.schema import spec_schema
    emit(to_json(spec_schema()), output)


@main.command()
@spec_argument
@analysis_options
@click.option("--format", "fmt", type=click.Choice(("svg", "dot")),
              help="svg (drawn by archcalc) or dot (Graphviz text); default: from the -o suffix, else svg.")
@output_option
def diagram(spec, batch, dtype, input_shape, settings, keras, strict, fmt, output):
    """Draw the layer graph of SPEC (SVG or Graphviz DOT).

    One box per layer with its name, type and output shape; branches side by side, skips drawn.

    \b
    Example:
      archcalc diagram resnet50 -o resnet50.svg
      archcalc diagram resnet50 --format dot | dot -Tpng -o resnet50.png
    """
    from .analysis.analyzer import analyze
    from .report.diagram import format_of, render
    fmt = fmt or format_of(output)
    report = analyze(load(spec, input_shape, settings), batch=batch, dtype=dtype, keras=keras, strict=strict)
    emit(render(report, fmt), output)


@main.command()
@specs_argument
@analysis_options
@click.option("--compare", is_flag=True,
              help="One chart of all SPECs: MACs against parameters, bubble area by activation memory.")
@image_output_option
def plot(specs, batch, dtype, input_shape, settings, keras, strict, compare, output):
    """Chart SPEC's layers, or compare several SPECs.

    Per layer: parameters, FLOPs and activation memory (log scale). With --compare: MACs against
    parameters, one bubble per SPEC, its area by activation memory. Needs matplotlib: pip install 'archcalc[plot]'.

    \b
    Example:
      archcalc plot resnet50 -o resnet50.png
      archcalc plot alexnet vgg16 resnet50 --compare -o cmp.png
    """
    from .analysis.analyzer import analyze
    from .report.plots import plot_comparison, plot_layers
    if len(specs) > 1 and not compare:
        raise click.UsageError(_("several specs need --compare (or plot them one at a time)"))
    reports = [analyze(load(spec, input_shape, settings), batch=batch, dtype=dtype, keras=keras, strict=strict)
               for spec in specs]
    save(output, functools.partial(plot_comparison, reports) if compare else functools.partial(plot_layers, reports[0]))
    click.echo(paint(_("wrote"), fg="green") + f" {output}", err=True)


@main.command()
@click.argument("spec", required=False, shell_complete=complete_spec)
@click.option("--port", "-p", type=click.IntRange(0, 65535), default=8765, show_default=True,
              help="Port on 127.0.0.1; 0 for any free one (8765 falls back to a free one when taken).")
@click.option("--no-browser", is_flag=True, help="Print the address; do not open a browser.")
@click.option("--verbose", is_flag=True, help="Log every request on stderr.")
def serve(spec, port, no_browser, verbose):
    """The playground: a local web page with a YAML editor, the per-layer table, totals, the
    diagram, worked arithmetic for a clicked layer, memory and comparison views, and downloads.

    Listens on 127.0.0.1 only and needs no network; SPEC (a file or built-in name) opens in the
    editor. The page computes nothing itself: the server answers with the same library as the CLI.
    Stop it with Ctrl+C.

    \b
    Example:
      archcalc serve alexnet --port 8000
    """
    from .web.server import serve as run
    run(spec, port=port, open_browser=not no_browser, verbose=verbose,
        ready=lambda url: click.echo(_("archcalc playground at {url}  (Ctrl+C stops it)").format(url=url), err=True))


@main.command("from-torch")
@click.argument("target", metavar="PACKAGE.MODULE:CALLABLE")
@click.option("--input", "input_shape", metavar="SHAPE", required=True,
              help="Input without batch: 3x224x224, 784 for a vector, 128:int64 for 128 token ids.")
@click.option("--name", help="The spec's name (default: the model's class name).")
@click.option("--take", metavar="OUTPUT", default=None,
              help="For a model returning a dict, a named tuple or a tuple: the output to keep (a key, a "
                   "field name or an index), e.g. --take logits.")
@output_option
def from_torch(target, input_shape, name, take, output):
    """Write a spec for a PyTorch model, traced with torch.fx.

    Imports PACKAGE.MODULE and calls CALLABLE with no arguments (a function, a class, or a
    module instance); this runs that code. Standard torch.nn layers are mapped; anything
    archcalc cannot express is listed by name (exit status 2). Needs torch.

    \b
    Example:
      archcalc from-torch mypackage.models:build_net --input 3x224x224 -o net.yaml
      archcalc from-torch mypackage.lm:build --input 128:int64 -o lm.yaml
      archcalc from-torch torchvision.models:googlenet --input 3x224x224 --take logits
      archcalc summarize net.yaml
    """
    from .bridges.from_torch import from_torch as convert
    from .bridges.from_torch import load_callable, to_yaml
    spec = convert(load_callable(target), input_shape, name=name, source=f"from-torch {target}", take=take)
    taken = f" --take {take}" if take is not None else ""
    emit(to_yaml(spec, header=f"Written by archcalc from-torch {target} --input {input_shape}{taken}"), output)


@main.command()
@spec_argument
@click.option("--device", type=click.Choice(DEVICES), default="cpu", show_default=True,
              help="Where to run the real model.")
@batch_option
@click.option("--dtype", type=click.Choice(tuple(TORCH_DTYPES)), default="fp32", show_default=True,
              help="Element type of the model and input.")
@input_option
@set_option
@click.option("--train", is_flag=True, help="Also run backward and compare its FLOPs (and peak memory on CUDA).")
@click.option("--seed", type=click.IntRange(0, 2**64 - 1), default=0, show_default=True,
              help="Seed for weights and the random input.")
@click.option("--meta", is_flag=True, help="Build on the meta device: shapes, params and FLOPs only.")
@click.option("--max-gib", type=click.FloatRange(min=0), default=8, show_default=True,
              help="Switch to --meta when the predicted memory exceeds this many GiB.")
@click.option("--keras", "keras", is_flag=True,
              help="Build SPEC in Keras 3 (torch backend) instead and compare shapes and Keras's parameter counts.")
@click.option("--format", "fmt", type=click.Choice(["table", "markdown", "json"]), default="table",
              show_default=True, help="Output format.")
@attention_option
@output_option
def verify(spec, device, batch, dtype, input_shape, settings, train, seed, meta, max_gib, keras, fmt, attention,
           output):
    """Run SPEC as a real PyTorch model and compare every layer with archcalc's prediction:
    output shape, parameters, FLOPs (as torch's FlopCounterMode counts them) and bytes saved
    for backward. With --keras, build it in Keras 3 and compare every layer's output shape and
    count_params() (batchnorm statistics as non-trainable, as Keras counts them). Exit status 0
    when all agree, 1 on any disagreement, 2 on a bad spec.

    \b
    What is compared, and how it is measured:
      output shape per layer: forward hooks
      params, trainable, buffers: numel of parameters(), those with requires_grad, buffers()
      FLOPs: torch.utils.flop_counter.FlopCounterMode (it counts only convolution and matrix
        products, 2 per multiply-add, no bias) against archcalc's torch_flops, 2·MACs of conv2d
        and dense; --train: backward FLOPs per layer, the counter's total while the autograd
        nodes that layer's forward created run
      saved bytes (not with --meta): saved_tensors_hooks in one training-mode forward,
        deduplicated by storage, parameter and buffer storages excluded
    (docs/verify.md has the details; --format json carries them as "compared".)

    \b
    Example:
      archcalc verify alexnet --batch 2 --train
      archcalc verify vgg16 --keras
    """
    if keras:
        if train or meta or device != "cpu" or batch != 1 or dtype != "fp32":
            raise SpecError(_("verify --keras compares output shapes and parameter counts only"),
                            hint=_("drop --train, --meta, --device, --batch and --dtype with --keras"))
        from .bridges.keras_model import verify_keras
        from .report.tables import keras_verification
        result = verify_keras(load(spec, input_shape, settings), progress=terminal_progress())
        emit(keras_verification(result, fmt), output)
        sys.exit(0 if result.ok else 1)
    from .report.tables import verification
    from .bridges.verify import verify as run
    progress = terminal_progress()
    result = run(load(spec, input_shape, settings), device=device, batch=batch, dtype=dtype, train=train,
                 seed=seed, meta=meta, max_gib=max_gib, progress=progress, attention=attention)
    if progress:
        progress("")
    emit(verification(result, fmt), output)
    if not result.ok:
        sys.exit(1)


@main.command("export-torch")
@spec_argument
@input_option
@set_option
@output_option
def export_torch(spec, input_shape, settings, output):
    """Print SPEC as plain PyTorch source: an nn.Module you can paste and train.

    \b
    Example:
      archcalc export-torch resnet50 -o resnet50.py
    """
    from .errors import require
    graph = load(spec, input_shape, settings)
    require("torch", "torch", "export-torch")
    from .bridges.torch_model import torch_source
    emit(torch_source(graph), output)


@main.command()
@spec_argument
@batch_option
@input_option
@set_option
@format_option
@attention_option
@output_option
def conventions(spec, batch, input_shape, settings, fmt, attention, output):
    """FLOPs of SPEC as each popular tool counts them, side by side, with what each includes
    and its rule for every layer type in the spec.

    \b
    Example:
      archcalc conventions resnet50
    """
    from .api import compare_conventions
    from .report.formats import render
    emit(render("conventions", compare_conventions(load(spec, input_shape, settings), batch=batch, attention=attention),
                fmt), output)


@main.command()
@spec_argument
@batch_option
@dtype_option
@input_option
@set_option
@click.option("--mode", type=click.Choice(MODES), default="inference", show_default=True,
              help="A forward pass, or one training step.")
@click.option("--optimizer", type=click.Choice(tuple(OPTIMIZER_STATES)), default=None,
              help="With --mode training (default sgd): optimizer state, 0, 1 or 2 copies of the trained weights.")
@click.option("--mixed-precision", is_flag=True,
              help="With --mode training: 16-bit weights, gradients and activations (--dtype fp16/bf16) with "
                   "fp32 master weights.")
@click.option("--inplace", is_flag=True, help="Element-wise activations overwrite their input (ReLU(inplace=True)).")
@click.option("--budget", metavar="BYTES", help="Device memory to fit in, e.g. 24GiB or 16GB: answers fits or not, "
              "and the largest batch that fits.")
@click.option("--device", type=click.Choice(DEVICES), default="cpu", show_default=True,
              help="Whose allocator to count with: cuda rounds every tensor up to 512-byte blocks, as PyTorch's "
                   "caching allocator does, and keeps dropout masks as 1-byte bools.")
@click.option("--train", "train", is_flag=True, help="Short for --mode training.")
@click.option("--checkpoint", metavar="none|blocks|every:N|selective|compare", default="none", show_default=True,
              help="With --mode training, activation checkpointing (torch.utils.checkpoint): each block the spec "
                   "names, each run of N layers, or selective (attention's scores recomputed, as Megatron-LM); "
                   "adds what each layer recomputes and its backward's moment. compare: every choice side by side "
                   "(a training step).")
@format_option
@attention_option
@wide_option
@output_option
def memory(spec, batch, dtype, input_shape, settings, mode, optimizer, mixed_precision, inplace, budget, device,
           train, checkpoint, fmt, attention, wide, output):
    """Memory of SPEC per layer: inference peak by liveness (beside the textbook sum of all
    outputs), or a training step's parameters, gradients, optimizer state and saved activations.

    \b
    --optimizer and --mixed-precision describe a training step and need --mode training
    (without it they are refused rather than ignored).

    \b
    Examples:
      archcalc memory vgg16 --inplace
      archcalc memory resnet50 --mode training --optimizer adam --batch 64 --budget 24GiB
      archcalc memory resnet50 --mode training --device cuda
      archcalc memory gpt2 --input 256 --train --checkpoint blocks --batch 8
      archcalc memory gpt2 --input 256 --checkpoint compare --batch 8
    """
    from .analysis.memory import memory as measure
    from .report.formats import render
    graph = load(spec, input_shape, settings)
    if checkpoint == "compare":         # every choice side by side
        from .analysis.memory import compare_checkpoints
        from .report.tables import checkpoint_table
        rows = compare_checkpoints(graph, batch=batch, dtype=dtype, optimizer=optimizer,
                                   mixed_precision=mixed_precision, inplace=inplace, device=device,
                                   attention=attention)
        emit(checkpoint_table(rows, graph.name, fmt), output)
        return
    result = measure(graph, batch=batch, dtype=dtype, mode="training" if train else mode, optimizer=optimizer,
                     mixed_precision=mixed_precision, inplace=inplace, budget=budget, device=device,
                     checkpoint=checkpoint, attention=attention)
    emit(render("memory", result, fmt, width=terminal_width(wide, output)), output)


@main.command()
@spec_argument
@input_option
@set_option
@click.option("--strategy", type=click.Choice(tuple(STRATEGIES)),
              help="One strategy in detail; without it, every strategy side by side.")
@click.option("--devices", "-n", type=click.IntRange(min=1), default=8, show_default=True,
              help="Devices (GPUs) in all, over all nodes.")
@click.option("--nodes", type=click.IntRange(min=1), default=1, show_default=True,
              help="Nodes the devices are spread over (DeepSpeed's host estimate is per node).")
@click.option("--offload", type=click.Choice(OFFLOADS), default="none",
              show_default=True, help="ZeRO-Offload: optimizer state (and with zero3 the weights) in host memory.")
@click.option("--optimizer", type=click.Choice(tuple(OPTIMIZER_STATES)), default="adam",
              show_default=True, help="Optimizer state: 0, 1 or 2 fp32 values per trained parameter.")
@click.option("--fp32", "fp32", is_flag=True, help="Train in fp32 (no mixed precision, no master copy).")
@click.option("--convention", type=click.Choice(SHARDING_CONVENTIONS), default="deepspeed",
              show_default=True, help="deepspeed: as its estimators count (20 bytes/param with the fp32 gradient "
                                      "copy); zero-paper: 2 + 2 + 12 bytes, as Rajbhandari et al. 2020.")
@click.option("--no-zero-init", is_flag=True, help="ZeRO-3 host estimate without deepspeed.zero.Init.")
@click.option("--batch", "-b", type=click.IntRange(min=1), help="Per-device batch: add what one device holds at "
              "the end of its forward pass (saved activations, input, output).")
@click.option("--budget", metavar="BYTES", help="Device memory, e.g. 80GB: whether model states + activations fit "
              "(needs --batch).")
@format_option
@output_option
def shard(spec, input_shape, settings, strategy, devices, nodes, offload, optimizer, fp32, convention,
          no_zero_init, batch, budget, fmt, output):
    """Model states per device when training SPEC is sharded over N devices: ZeRO stages
    1-3 and FSDP, each device's weights, gradients and optimizer state, as DeepSpeed's
    estimators count them (with and without CPU offload).

    \b
    Examples:
      archcalc shard resnet50 --devices 8
      archcalc shard vgg16 --strategy zero3 --devices 16 --nodes 2
      archcalc shard vgg16 --strategy zero2 --devices 8 --offload optimizer
      archcalc shard resnet50 --devices 8 --batch 64 --budget 24GB
    """
    from .analysis.analyzer import analyze
    from .analysis import sharding
    from .report.hardware import sharding_report, strategies_table
    if budget is not None and batch is None:
        raise click.UsageError(_("--budget needs --batch (the per-device batch whose activations come on top)"))
    graph = load(spec, input_shape, settings)
    report = analyze(graph)
    common = dict(devices=devices, nodes=nodes, optimizer=optimizer, mixed_precision=not fp32,
                  convention=convention)
    if strategy is None:
        if offload != "none":
            raise click.UsageError(_("--offload needs --strategy zero1, zero2 or zero3"))
        results = sharding.compare_strategies(report, **common)
        if batch is not None:
            results = [sharding.add_activations(r, graph, batch=batch, budget=budget) for r in results]
        emit(strategies_table(results, fmt), output)
        return
    result = sharding.shard(report, strategy=strategy, offload=offload, zero_init=not no_zero_init, **common)
    if batch is not None:
        sharding.add_activations(result, graph, batch=batch, budget=budget)
    table = None
    if strategy in ("zero2", "zero3") and not fp32 and optimizer in ("adam", "adamw") and convention == "deepspeed":
        table = sharding.offload_table(report, strategy=strategy, devices=devices, nodes=nodes)
    emit(sharding_report(result, fmt, table), output)


def _gpu_names():
    from .analysis.roofline import accelerators
    return ", ".join(accelerators())


@main.command()
@click.argument("spec", required=False, shell_complete=complete_spec)
@click.option("--gpu", "gpu", default="h100-sxm", show_default=True, metavar="NAME",
              help="Accelerator from the built-in list (see `archcalc roofline --list`) or from --gpu-file.")
@click.option("--gpu-file", type=click.Path(dir_okay=False), help="Your own accelerators, shaped like "
              "archcalc/data/accelerators.yaml; they add to (or replace) the built-in ones.")
@batch_option
@click.option("--dtype", type=click.Choice(("fp32", "tf32", "fp16", "bf16", "fp8", "int8")), default="bf16",
              show_default=True, help="Element type: bytes per element and which peak applies.")
@click.option("--train", is_flag=True, help="A training step: backward counted as 2x forward FLOPs and bytes.")
@input_option
@set_option
@click.option("--plot", "plot", type=click.Path(dir_okay=False), metavar="FILE",
              help="Also draw the log-log roofline chart to FILE (.png, .svg or .pdf).")
@click.option("--list", "list_gpus", is_flag=True, help="List the known accelerators and their sources.")
@format_option
@output_option
def roofline(spec, gpu, gpu_file, batch, dtype, train, input_shape, settings, plot, list_gpus, fmt, output):
    """Lower-bound time of SPEC on a named GPU: per layer FLOPs, bytes moved, arithmetic
    intensity, whether it is compute- or memory-bound, and max(FLOPs/peak, bytes/bandwidth);
    the sum is a lower bound per step. Datasheet peaks, no measurement: real runs are slower.

    \b
    Examples:
      archcalc roofline resnet50 --gpu a100-80gb --batch 64 --dtype bf16
      archcalc roofline resnet50 --gpu h100-sxm --train --batch 256 --plot roofline.png
      archcalc roofline --list
    """
    from .analysis.roofline import accelerators, roofline as bound
    from .report.hardware import accelerators_table, roofline_report
    if list_gpus:
        emit(accelerators_table(accelerators(gpu_file), fmt), output)
        return
    if spec is None:
        raise click.UsageError(_("give a SPEC (a YAML file or a built-in name), or --list for the GPUs"))
    result = bound(load(spec, input_shape, settings), gpu, batch=batch, dtype=dtype, train=train, gpu_file=gpu_file)
    if plot:
        from .report.plots import plot_roofline
        save(plot, functools.partial(plot_roofline, result), kind="roofline --plot", target="plot")
        click.echo(paint(_("wrote"), fg="green") + f" {plot}", err=True)
    emit(roofline_report(result, fmt), output)


@main.command()
@spec_argument
@click.option("--layer", "layer", metavar="NAME", help="Explain only this layer.")
@input_option
@set_option
@click.option("--format", "fmt", type=click.Choice(("text", "markdown", "html")), default="text", show_default=True,
              help="Plain text, Markdown to paste into a report, or a self-contained HTML page.")
@attention_option
@output_option
def explain(spec, layer, input_shape, settings, fmt, attention, output):
    """Worked arithmetic for each layer: output size, parameters, MACs and FLOPs with
    the spec's numbers substituted, in the notation courses use.

    \b
    Example:
      archcalc explain alexnet --layer conv1
    """
    from .homework.explain import explain as explain_spec
    from .report.formats import render
    graph = load(spec, input_shape, settings)
    emit(render("explanation", explain_spec(graph, layer=layer, attention=attention), fmt), output)


@main.command()
@specs_argument
@batch_option
@dtype_option
@input_option
@set_option
@keras_option
@format_option
@click.option("--plot", "plot", is_flag=True,
              help="Draw MACs against parameters (bubble area by activation memory) to -o FILE (.png/.svg/.pdf); "
                   "the table still goes to stdout.")
@output_option
def compare(specs, batch, dtype, input_shape, settings, keras, fmt, plot, output):
    """Compare specs side by side: totals, each as a share of the first spec's, and the
    split of parameters and FLOPs by layer kind (conv, dense, ...).

    \b
    Examples:
      archcalc compare mnist_fc mnist_cnn
      archcalc compare alexnet vgg16 googlenet resnet50 --plot -o cmp.png
    """
    from .analysis.analyzer import analyze
    from .homework.compare import compare_reports
    from .report.formats import render
    reports = [analyze(load(spec, input_shape, settings), batch=batch, dtype=dtype, keras=keras) for spec in specs]
    if plot:
        if not output:
            raise click.UsageError(_("--plot needs -o FILE for the image, e.g. -o cmp.png"))
        from .report.plots import plot_comparison
        save(output, functools.partial(plot_comparison, reports), kind="compare --plot")
        click.echo(paint(_("wrote"), fg="green") + f" {output}", err=True)
        output = None
    data = compare_reports(reports, list(specs))
    # the HTML page also draws the MACs-against-params chart from the reports
    emit(render("comparison", data, fmt, **({"reports": reports} if fmt == "html" else {})), output)


@main.command("export-keras")
@spec_argument
@input_option
@set_option
@output_option
def export_keras(spec, input_shape, settings, output):
    """Print SPEC as Keras 3 source: keras.Sequential for a chain of layers, the functional
    API otherwise, channels_last, the spec's layer names. Does not import Keras.

    \b
    Example:
      archcalc export-keras mnist_cnn -o mnist_cnn_keras.py
    """
    from .bridges.keras_model import keras_source
    emit(keras_source(load(spec, input_shape, settings)), output)


@main.command("from-keras")
@click.argument("target", metavar="MODEL.keras|PACKAGE.MODULE:CALLABLE")
@click.option("--name", help="The spec's name (default: the Keras model's name).")
@output_option
def from_keras(target, name, output):
    """Write a spec for a Keras 3 model: a saved .keras file, or PACKAGE.MODULE:CALLABLE that
    returns a keras.Model (this runs that code). The spec is summarized before it is written,
    so what is written is a spec archcalc reads. Needs keras.

    \b
    Example:
      archcalc from-keras mnist_cnn.keras -o mnist_cnn.yaml
      archcalc summarize mnist_cnn.yaml
    """
    from .bridges.from_keras import from_keras as convert
    from .bridges.from_keras import load_keras_model
    from .bridges.from_torch import to_yaml
    spec = convert(load_keras_model(target), name=name, source=f"from-keras {target}")
    emit(to_yaml(spec, header=f"Written by archcalc from-keras {target}"), output)


@main.command("from-hf")
@click.argument("config", metavar="CONFIG.json|FOLDER")
@click.option("--tokens", type=click.IntRange(min=1, max=2**31 - 1),
              help="Input length in tokens (default: the config's max_position_embeddings).")
@click.option("--name", help="The spec's name (default: the model's folder or _name_or_path).")
@output_option
def from_hf(config, tokens, name, output):
    """Write a spec from a Hugging Face config.json (or a model folder holding one), without the model:
    no torch, no transformers, no download. Families: gpt2, bert, llama, mistral, qwen2, gemma. The
    spec is loaded before it is written, so what is written is a spec archcalc reads.

    \b
    Example:
      archcalc from-hf Llama-2-7b-hf/config.json -o llama2_7b.yaml
      archcalc summarize llama2_7b.yaml --input 2048
    """
    from .bridges.from_hf import CONFIG_NAME, from_hf_yaml
    if os.path.isdir(config):        # the config.json inside is an input too: -o never replaces it
        click.get_current_context().params["config_file"] = os.path.join(config, CONFIG_NAME)
    emit(from_hf_yaml(config, tokens=tokens, name=name).rstrip("\n"), output)


@main.command()
@spec_argument
@click.argument("answers", type=click.Path(exists=True, dir_okay=False))
@input_option
@set_option
@click.option("--keras/--pytorch", "keras", default=None,
              help="Count batchnorm moving statistics as params the Keras way [default: Keras for Keras tables].")
@click.option("--format", "fmt", type=click.Choice(("text", "markdown", "json", "html")), default="text",
              show_default=True, help="Output format.")
@output_option
def check(spec, answers, input_shape, settings, keras, fmt, output):
    """Check a student's ANSWERS for SPEC: each ✓ or ✗ with the correct value, the
    worked formula and, when one mistake explains a wrong number exactly, which one.

    ANSWERS is YAML keyed by layer name (output_shape, params, macs, flops) with
    `totals:` (and `input:` when the exercise uses another input size), or a pasted
    Keras model.summary() (Keras 1, 2 or 3) or torchinfo table. Numbers may be
    written 62378344, 62,378,344, 62.4M or 159K. A wrong answer whose diagnosis shows
    the method right (rounding, units, one slipped digit) gets partial credit.
    Exit status 0 when all answers are right, 1 otherwise, 2 for an unreadable file.

    \b
    Example:
      archcalc check alexnet answers.yaml
      archcalc check alexnet answers.yaml --input 224x224x3
    """
    from .homework.check import check as check_answers
    from .report.formats import render
    result = check_answers(spec, answers, keras=keras, input_shape=input_shape, args=parse_settings(settings))
    emit(render("check", result, fmt), output)
    sys.exit(0 if result.ok else 1)


@main.command()
@click.argument("spec", required=False, shell_complete=complete_spec)
@click.option("--count", type=click.IntRange(min=1, max=200), default=6, show_default=True,
              help="Number of exercises.")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True,
              help="The same seed gives the same sheet.")
@click.option("--topics", default=",".join(EXERCISE_TOPICS), show_default=True, metavar="LIST",
              help=f"Comma-separated, from: {', '.join(EXERCISE_TOPICS)}.")
@click.option("--key", "key_path", type=click.Path(dir_okay=False, writable=True),
              help="Also write the answer key, with worked solutions, to FILE.")
@click.option("--answers", "answers_path", type=click.Path(dir_okay=False, writable=True),
              help="Also write the blank answers file that `archcalc check` grades to FILE.")
@click.option("--format", "fmt", type=click.Choice(("markdown", "html")), default="markdown", show_default=True,
              help="The sheet and key as Markdown, or as self-contained HTML pages to print.")
@output_option
def exercises(spec, count, seed, topics, key_path, answers_path, fmt, output):
    """Write an exercise sheet (Markdown) on SPEC's layers: output size, parameters, MACs,
    receptive field, and pooling by hand on random 4×4 matrices (forward max/average, and
    the max-pooling backward mask). Without SPEC, one of the course's models is drawn.
    A student fills in the --answers file and `archcalc check SPEC answers.yaml` grades it.

    \b
    Example:
      archcalc exercises alexnet --count 8 --seed 3 -o sheet.md --key key.md --answers answers.yaml
      archcalc check alexnet answers.yaml
    """
    from .homework.exercises import answers_yaml, make_sheet, sheet_html, sheet_markdown
    render = sheet_html if fmt == "html" else sheet_markdown
    chosen = tuple(t.strip() for t in topics.split(",") if t.strip())
    sheet = make_sheet(load(spec) if spec else None, count=count, seed=seed, topics=chosen)
    if spec:
        sheet.spec = spec
    if len(sheet.exercises) < sheet.asked:
        click.echo(f"note: {len(sheet.exercises)} exercises, not {sheet.asked}: {sheet.model} has no more layers "
                   f"for the topics {', '.join(chosen)}", err=True)
    emit(render(sheet).rstrip("\n"), output)
    if key_path:
        emit(render(sheet, key=True).rstrip("\n"), key_path)
    if answers_path:
        emit(answers_yaml(sheet).rstrip("\n"), answers_path)


@main.group()
def calc():
    """One-off calculators without a spec: conv, pool and dense, with the steps.

    \b
    Example:
      archcalc calc conv --input 227 --kernel 11 --stride 4 --in-channels 3 --filters 96
    """


def refuse_unused(ctx, names, mode):
    """A usage error for options given on the command line that `mode` would otherwise silently ignore."""
    from click.core import ParameterSource
    given = [param.opts[0] for param in ctx.command.params
             if param.name in names and ctx.get_parameter_source(param.name) is ParameterSource.COMMANDLINE]
    if given:
        listed = " and ".join([", ".join(given[:-1]), given[-1]] if len(given) > 1 else given)
        raise click.UsageError(f"{listed} {'are' if len(given) > 1 else 'is'} not used {mode}")


calc_layout_option = click.option(
    "--layout", type=click.Choice(("channels_last", "channels_first")), default="channels_last", show_default=True,
    help="How shapes are written: H×W×C (channels_last, as courses write them) or C×H×W (PyTorch).")
calc_format_option = click.option("--format", "fmt", type=click.Choice(("text", "markdown", "json")),
                                  default="text", show_default=True, help="Output format (not with --matrix).")


def calc_text(exp, fmt):
    """A calculator's explanation as text, Markdown or JSON (every count an integer)."""
    if fmt == "json":
        from .homework.calc import explanation_dict
        from .report.tables import to_json
        return to_json(explanation_dict(exp))
    from .report.formats import render
    return render("explanation", exp, fmt)


@contextlib.contextmanager
def about_matrices(paths):
    """An error about the matrices as a whole names the files they came from."""
    try:
        yield
    except SpecError as err:
        if not err.file:
            err.file = paths[0]
            if len(paths) > 1:
                err.message += f" (matrices from {', '.join(paths)})"
        raise


def matrices(paths):
    from .homework.calc import read_matrices
    return [m for path in paths for m in read_matrices(path)]


@calc.command("conv")
@click.option("--input", "input_size", metavar="N", help="Input size: 227 or 227x227.")
@click.option("--kernel", metavar="F", help="Kernel size: 11 or 3x5.")
@click.option("--stride", default="1", show_default=True, metavar="S")
@click.option("--padding", default="0", show_default=True, metavar="P", help="A size, 'same' or 'valid'.")
@click.option("--in-channels", type=int, default=1, show_default=True, metavar="C_in")
@click.option("--filters", type=int, default=1, show_default=True, metavar="K")
@click.option("--dilation", default="1", show_default=True, metavar="D")
@click.option("--groups", type=int, default=1, show_default=True, metavar="G")
@click.option("--no-bias", is_flag=True, help="Filters without a bias.")
@click.option("--matrix", "matrix_paths", multiple=True, type=click.Path(exists=True, dir_okay=False),
              help="Numeric mode: input values, one row per line; blank lines or repeats add channels.")
@click.option("--kernel-matrix", "kernel_paths", multiple=True, type=click.Path(exists=True, dir_okay=False),
              help="Numeric mode: kernel values, one matrix per input channel.")
@click.option("--bias", "bias_value", type=float, default=0.0, show_default=True, help="Numeric mode: bias added.")
@calc_layout_option
@calc_format_option
@output_option
@click.pass_context
def calc_conv(ctx, input_size, kernel, stride, padding, in_channels, filters, dilation, groups, no_bias,
              matrix_paths, kernel_paths, bias_value, layout, fmt, output):
    """A convolution's output size, parameters and MACs with the steps; with --matrix and
    --kernel-matrix, its actual output values (needs numpy).

    \b
    Examples:
      archcalc calc conv --input 227 --kernel 11 --stride 4 --in-channels 3 --filters 96
      archcalc calc conv --matrix image.txt --kernel-matrix k.txt --stride 1 --padding 1
    """
    from .homework import calc as calculators
    from .report.homework import numeric
    if matrix_paths or kernel_paths:
        if not (matrix_paths and kernel_paths):
            raise click.UsageError("numeric mode needs both --matrix and --kernel-matrix")
        refuse_unused(ctx, ("input_size", "kernel", "in_channels", "filters", "dilation", "groups", "no_bias",
                            "layout", "fmt"), "with --matrix")
        channels, kernels = matrices(matrix_paths), matrices(kernel_paths)
        with about_matrices(matrix_paths + kernel_paths):
            values = calculators.conv_values(channels, kernels, stride=stride, padding=padding, bias=bias_value)
        exp = calculators.conv_explanation(input_size="x".join(map(str, channels[0].shape)),
                                           kernel="x".join(map(str, kernels[0].shape)), stride=stride,
                                           padding=padding, in_channels=len(channels), bias=bool(bias_value))
        title = _("conv: {channels} channel(s), kernel {kernel}, bias {bias} (cross-correlation, as PyTorch's "
                  "conv2d)").format(channels=len(channels), kernel=f"{kernels[0].shape[0]}×{kernels[0].shape[1]}",
                                    bias=f"{bias_value:g}")
        emit(numeric(title, exp, [(_("output"), values)]), output)
        return
    if not (input_size and kernel):
        raise click.UsageError("give --input and --kernel (or --matrix and --kernel-matrix for values)")
    refuse_unused(ctx, ("bias_value",), "without --matrix")
    emit(calc_text(calculators.conv_explanation(
        input_size=input_size, kernel=kernel, stride=stride, padding=padding, in_channels=in_channels,
        filters=filters, dilation=dilation, groups=groups, bias=not no_bias, layout=layout), fmt), output)


@calc.command("pool")
@click.option("--input", "input_size", metavar="N", help="Input size: 55 or 55x55.")
@click.option("--kernel", required=True, metavar="F", help="Window size: 3 or 2x2.")
@click.option("--stride", metavar="S", help="Defaults to the kernel size.")
@click.option("--padding", default="0", show_default=True, metavar="P")
@click.option("--channels", type=int, default=1, show_default=True, metavar="C")
@click.option("--mode", type=click.Choice(("max", "avg")), default="max", show_default=True)
@click.option("--ceil-mode", is_flag=True, help="Round the output size up, as ceil_mode=True.")
@click.option("--matrix", "matrix_path", type=click.Path(exists=True, dir_okay=False),
              help="Numeric mode: the values to pool, one row per line (needs numpy).")
@calc_layout_option
@calc_format_option
@output_option
@click.pass_context
def calc_pool(ctx, input_size, kernel, stride, padding, channels, mode, ceil_mode, matrix_path, layout, fmt, output):
    """A pooling layer's output size with the steps; with --matrix, the pooled values and,
    for max pooling, the backward routing mask.

    \b
    Examples:
      archcalc calc pool --input 55 --kernel 3 --stride 2 --channels 96
      archcalc calc pool --matrix m.txt --kernel 2 --stride 2 --mode max
    """
    from .homework import calc as calculators
    from .report.homework import numeric
    if matrix_path:
        refuse_unused(ctx, ("input_size", "channels", "ceil_mode", "layout", "fmt"), "with --matrix")
        (matrix, *rest) = calculators.read_matrices(matrix_path)
        if rest:
            raise click.UsageError("pool --matrix takes one matrix (pooling works on each channel alone)")
        with about_matrices((matrix_path,)):
            values, mask = calculators.pool_values(matrix, kernel=kernel, stride=stride, padding=padding, mode=mode)
        exp = calculators.pool_explanation(input_size="x".join(map(str, matrix.shape)), kernel=kernel,
                                           stride=stride, padding=padding, mode=mode)
        blocks = [(_("max pooled") if mode == "max" else _("avg pooled"), values)]
        if mask is not None:
            blocks.append((_("routing mask (the gradient of each output flows back to its 1)"), mask))
        emit(numeric(_("max pooling") if mode == "max" else _("avg pooling"), exp, blocks), output)
        return
    if not input_size:
        raise click.UsageError("give --input (or --matrix for values)")
    emit(calc_text(calculators.pool_explanation(
        input_size=input_size, kernel=kernel, stride=stride, padding=padding, channels=channels, mode=mode,
        ceil_mode=ceil_mode, layout=layout), fmt), output)


@calc.command("dense")
@click.option("--input", "inputs", type=int, metavar="N_IN", help="Input features (as --input everywhere else).")
@click.option("--inputs", "inputs_alias", type=int, hidden=True)
@click.option("--units", type=int, required=True, metavar="N_OUT", help="Output features.")
@click.option("--no-bias", is_flag=True, help="No bias per unit.")
@calc_format_option
@output_option
def calc_dense(inputs, inputs_alias, units, no_bias, fmt, output):
    """A fully-connected layer's parameters and MACs with the steps.

    \b
    Example:
      archcalc calc dense --input 9216 --units 4096
    """
    from .homework.calc import dense_explanation
    if inputs is not None and inputs_alias is not None and inputs != inputs_alias:
        raise click.UsageError("--input and --inputs are the same option; give it once")
    inputs = inputs if inputs is not None else inputs_alias
    if inputs is None:
        raise click.UsageError("Missing option '--input' (the number of input features, e.g. --input 9216).")
    emit(calc_text(dense_explanation(inputs=inputs, units=units, bias=not no_bias), fmt), output)


@calc.command("kv-cache")
@click.option("--layers", type=int, required=True, help="Decoder layers.")
@click.option("--kv-heads", type=int, required=True, help="Key/value heads (num_key_value_heads; fewer than "
              "--heads under grouped-query attention).")
@click.option("--head-dim", type=int, required=True, help="Size of one head (hidden size / heads).")
@click.option("--tokens", type=int, required=True, help="Tokens per sequence: prompt + generated.")
@batch_option
@click.option("--kv-dtype", type=click.Choice(("fp32", "fp16", "bf16", "fp8", "int8")), default="fp16",
              show_default=True, help="Element type of the cache.")
@click.option("--heads", type=int, help="Query heads: also show what full multi-head attention would keep.")
@click.option("--budget", metavar="BYTES", help="Memory for the cache (24GiB): the longest context that fits.")
@output_option
def calc_kv_cache(layers, kv_heads, head_dim, tokens, batch, kv_dtype, heads, budget, output):
    """A decoder's KV cache: layers × 2 × kv heads × head dim × tokens × batch × bytes.

    \b
    Example:
      archcalc calc kv-cache --layers 32 --kv-heads 8 --head-dim 128 --tokens 8192 --batch 4 --heads 32
    """
    from .analysis.inference import kv_cache, max_tokens
    from .report.hardware import kv_cache_text
    cache = kv_cache(layers=layers, kv_heads=kv_heads, head_dim=head_dim, tokens=tokens, batch=batch,
                     dtype=kv_dtype, heads=heads)
    longest = None
    if budget is not None:
        from .units import parse_bytes
        budget = parse_bytes(budget)
        longest = max_tokens(budget, layers=layers, kv_heads=kv_heads, head_dim=head_dim, batch=batch,
                             dtype=kv_dtype)
    emit(kv_cache_text(cache, budget, longest), output)



@main.command()
@spec_argument
@set_option
@batch_option
@click.option("--prompt", type=int, required=True, help="Prompt tokens per sequence, processed at once (prefill).")
@click.option("--generate", type=int, default=0, show_default=True, help="Tokens to generate, one decode step each.")
@click.option("--dtype", type=click.Choice(("fp32", "fp16", "bf16")), default="bf16", show_default=True,
              help="The model's activations, and its weights unless --weights says otherwise.")
@click.option("--kv-dtype", type=click.Choice(("fp32", "fp16", "bf16", "fp8", "int8")), default=None,
              help="Element type of the KV cache (default: --dtype).")
@click.option("--weights", type=click.Choice(("fp32", "fp16", "bf16", "int8", "int4")), default=None,
              help="Store the weight matrices (dense and attention projections) at this precision; int4/int8 keep "
                   "one fp16 scale per group. Embeddings, norms and biases stay at --dtype.")
@click.option("--group-size", type=int, default=128, show_default=True,
              help="Inputs per quantisation group of each matrix row; -1: one scale per row (GPTQ's group_size=-1).")
@click.option("--budget", metavar="BYTES", help="Device memory, e.g. 24GB or 80GiB: fits or not, the largest batch "
              "and the longest context that fit.")
@click.option("--format", "fmt", type=click.Choice(("text", "markdown", "json")), default="text", show_default=True)
@attention_option
@output_option
def infer(spec, settings, batch, prompt, generate, dtype, kv_dtype, weights, group_size, budget, fmt, attention,
          output):
    """What serving SPEC costs: the KV cache, the weights (quantised with --weights), prefill's FLOPs and
    activation peak, each decode step's FLOPs, activation peak and bytes read, and whether it fits.

    \b
    A decode step feeds one token that attends to every token before it and itself; its FLOPs are
    each layer's at one token, with attention's products and softmax over the whole context.

    \b
    Examples:
      archcalc infer gpt2 --prompt 512 --generate 128 --batch 8
      archcalc infer gpt2 --prompt 512 --generate 128 --weights int4 --group-size 128 --budget 4GB
      archcalc infer gpt2 --prompt 1024 --attention flash
    """
    from .analysis.inference import infer as run_infer
    from .report.inference import inference_report
    result = run_infer(spec, prompt=prompt, generate=generate, batch=batch, dtype=dtype, kv_dtype=kv_dtype,
                       weights=weights, group_size=None if group_size == -1 else group_size, budget=budget,
                       args=parse_settings(settings), attention=attention)
    emit(inference_report(result, fmt), output)

# ---- --help in the active language (archcalc.i18n): the homework commands' texts are in the catalogs
# (tools/i18n.py extracts them from HELP_TRANSLATED); any other text shows as written.

HELP_TRANSLATED = ("summarize", "explain", "compare", "check", "calc", "calc conv", "calc pool", "calc dense",
                   "memory", "conventions", "shard", "roofline", "layers", "verify", "diagram", "plot", "serve",
                   "zoo", "exercises", "new", "schema", "export-torch", "export-keras", "from-keras", "from-hf")
HELP_WORDS = (N_("Usage:"), N_("Options"), N_("Commands"), N_("default:"), N_("required"))
# click writes its own messages (a usage error, its "Try ... for help." hint) through the `_` its modules take
# from gettext; pointed at archcalc's catalog, they follow --lang too. The ones users meet are marked here, so
# that tools/i18n.py puts them in the catalogs (tests/test_i18n.py checks click still writes each of them).
CLICK_MESSAGES = (N_("Error: {message}"), N_("Try '{command} {option}' for help."), N_("Invalid value: {message}"),
                  N_("Invalid value for {param_hint}: {message}"), N_("Missing argument"), N_("Missing option"),
                  N_("Missing parameter"), N_("No such option {name!r}."), N_("No such command {name!r}."),
                  N_("Missing command."), N_("{value!r} is not a valid {number_type}."),
                  N_("{value} is not in the range {range}."), N_("{name} {filename!r} does not exist."),
                  N_("Aborted!"))


def click_speaks_archcalc():
    import click.core
    import click.exceptions
    import click.parser
    import click.types
    for module in (click.core, click.exceptions, click.parser, click.types):
        module._ = _


click_speaks_archcalc()


class TranslatedHelp(click.HelpFormatter):
    """Writes a command's help, headings and option texts through the catalog."""

    def write_usage(self, prog, args="", prefix=None):
        super().write_usage(prog, args, _("Usage:") + " " if prefix is None else prefix)

    def write_heading(self, heading):
        super().write_heading(_(heading))

    def write_text(self, text):
        super().write_text(_(text))

    def write_dl(self, rows, *args, **kwargs):
        super().write_dl([(term, option_help(text)) for term, text in rows], *args, **kwargs)


def option_help(text):
    """An option's help and click's "  [default: fp32]" after it, each in the active language."""
    body, bracket, extra = text.partition("  [")
    extra = extra.replace("default:", _("default:")).replace("required", _("required"))
    return _(body) + bracket + extra


class TranslatedContext(click.Context):
    formatter_class = TranslatedHelp


def every_command(group=None, path=()):
    """(path, command) for the group and every command below it: ("calc", "conv") for `archcalc calc conv`."""
    group = group or main
    yield path, group
    for name, command in getattr(group, "commands", {}).items():
        yield from every_command(command, path + (name,)) if isinstance(command, click.Group) else \
            [(path + (name,), command)]


def translated_short_help(command, limit=45):
    """The one-line summary in a group's command list, cut from the translated description."""
    import inspect
    import warnings
    with warnings.catch_warnings():     # click 8.2+ marks it deprecated; 9.0 drops it: then the first sentence
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            from click.utils import make_default_short_help
        except ImportError:        # pragma: no cover
            def make_default_short_help(text, limit):
                first = " ".join(text.split("\n\n", 1)[0].split()).split(". ", 1)[0]
                return first if len(first) <= limit else first[:limit - 3].rsplit(" ", 1)[0] + "..."
    if command.short_help:
        return _(inspect.cleandoc(command.short_help))
    return make_default_short_help(_(inspect.cleandoc(command.help).partition("\f")[0]), limit) if command.help else ""


for _path, _command in every_command():
    _command.context_class = TranslatedContext
    _command.get_short_help_str = functools.partial(translated_short_help, _command)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
