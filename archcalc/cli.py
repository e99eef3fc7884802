"""The `archcalc` command: thin click wrappers over the library. Exit status: 0 ok, 1 a check
found disagreement, 2 bad input (a spec, an option or a file)."""
import sys

import click

from . import __version__
from .errors import SpecError

DTYPES = ("fp32", "fp16", "bf16", "int8", "fp64")
CONVENTION_NAMES = ("archcalc", "torch", "torchvision", "fvcore", "thop", "ptflops", "torchinfo")


class ArchcalcGroup(click.Group):
    """Turns a SpecError anywhere below into one clear message and exit status 2, never a traceback."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except SpecError as err:
            click.echo(f"error: {err}", err=True)
            ctx.exit(2)


def emit(text, output):
    """Write to -o FILE, or stdout."""
    if output:
        with open(output, "w", encoding="utf-8") as handle:
            handle.write(text + "\n")
    else:
        click.echo(text)


def analysis_options(func):
    """The options every analysing command shares."""
    for decorator in reversed([
        click.option("--batch", "-b", type=click.IntRange(min=1), default=1, show_default=True, help="Batch size N."),
        click.option("--dtype", type=click.Choice(DTYPES), default="fp32", show_default=True,
                     help="Element type, for bytes."),
        click.option("--input", "input_shape", metavar="SHAPE",
                     help="Override the spec's input, in its layout: 3x224x224."),
        click.option("--keras", is_flag=True, help="Count batchnorm moving statistics as non-trainable params."),
        click.option("--strict", is_flag=True, help="Treat uneven divisions as errors."),
    ]):
        func = decorator(func)
    return func


def output_option(func):
    return click.option("-o", "--output", type=click.Path(dir_okay=False, writable=True),
                        help="Write to FILE instead of stdout.")(func)


def format_option(func):
    from .render import FORMATS
    return click.option("--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True,
                        help="Output format.")(func)


@click.group(cls=ArchcalcGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="archcalc")
def main():
    """Static calculator for neural-network architectures: shapes, parameters,
    MACs/FLOPs, memory and receptive field, from a YAML spec.

    \b
    Example:
      archcalc summarize alexnet
    """


@main.command()
@click.argument("spec")
@analysis_options
@format_option
@click.option("--rf", is_flag=True, help="Add a receptive-field column.")
@click.option("--convention", type=click.Choice(CONVENTION_NAMES), default="archcalc", show_default=True,
              help="Count FLOPs as this tool does (see `archcalc conventions`).")
@click.option("--train", is_flag=True, help="Add backward FLOPs, as torch's FlopCounterMode counts them.")
@output_option
def summarize(spec, batch, dtype, input_shape, keras, strict, fmt, rf, convention, train, output):
    """Per-layer table and totals for SPEC (a YAML file or a built-in name).

    \b
    Example:
      archcalc summarize alexnet --format markdown
      archcalc summarize resnet50 --convention fvcore --train
    """
    from .analyzer import analyze
    from .render import summary
    report = analyze(spec, batch=batch, dtype=dtype, keras=keras, strict=strict, input_shape=input_shape,
                     convention=convention)
    emit(summary(report, fmt, rf=rf, train=train), output)


@main.command()
@format_option
@output_option
def zoo(fmt, output):
    """List the built-in specs with their totals.

    \b
    Example:
      archcalc zoo --format markdown
    """
    from .api import zoo_rows
    from .render import zoo_table
    emit(zoo_table(zoo_rows(), fmt), output)


@main.command()
@output_option
def layers(output):
    """List the layer types, their spellings and options.

    \b
    Example:
      archcalc layers
    """
    from .layers import LAYER_TYPES
    from .render import _tabulate
    rows = []
    for cls in LAYER_TYPES:
        options = ", ".join(
            f"{name}{'*' if opt.required else ''}" for name, opt in cls.options.items())
        if cls.accepts_activation:
            options += ", activation"
        rows.append([cls.type_name, ", ".join(cls.aliases), cls.kind, options or "-"])
    emit(_tabulate(rows, ["Type", "Also written", "Kind", "Options (* required)"], "table") , output)


@main.command()
@click.argument("spec")
@click.option("--device", type=click.Choice(["cpu", "cuda"]), default="cpu", show_default=True,
              help="Where to run the real model.")
@click.option("--batch", "-b", type=click.IntRange(min=1), default=1, show_default=True, help="Batch size N.")
@click.option("--dtype", type=click.Choice(["fp32", "fp64", "fp16", "bf16"]), default="fp32", show_default=True,
              help="Element type of the model and input.")
@click.option("--input", "input_shape", metavar="SHAPE", help="Override the spec's input, in its layout: 3x224x224.")
@click.option("--train", is_flag=True, help="Also run backward and compare its FLOPs (and peak memory on CUDA).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed for weights and the random input.")
@click.option("--meta", is_flag=True, help="Build on the meta device: shapes, params and FLOPs only.")
@click.option("--max-gib", type=click.FloatRange(min=0), default=8, show_default=True,
              help="Switch to --meta when the predicted memory exceeds this many GiB.")
@click.option("--format", "fmt", type=click.Choice(["table", "markdown", "json"]), default="table",
              show_default=True, help="Output format.")
@output_option
def verify(spec, device, batch, dtype, input_shape, train, seed, meta, max_gib, fmt, output):
    """Run SPEC as a real PyTorch model and compare every layer with archcalc's prediction:
    output shape, parameters, FLOPs (as torch's FlopCounterMode counts them) and bytes saved
    for backward. Exit status 0 when all agree, 1 on any disagreement, 2 on a bad spec.

    \b
    Example:
      archcalc verify alexnet --batch 2 --train
    """
    from .render import verification
    from .verify import verify as run
    result = run(spec, device=device, batch=batch, dtype=dtype, train=train, seed=seed, meta=meta,
                 max_gib=max_gib, input_shape=input_shape)
    emit(verification(result, fmt), output)
    if not result.ok:
        sys.exit(1)


@main.command("export-torch")
@click.argument("spec")
@click.option("--input", "input_shape", metavar="SHAPE", help="Override the spec's input, in its layout: 3x224x224.")
@output_option
def export_torch(spec, input_shape, output):
    """Print SPEC as plain PyTorch source: an nn.Module you can paste and train.

    \b
    Example:
      archcalc export-torch resnet50 -o resnet50.py
    """
    from .torch_bridge import torch_source
    from .spec import load_spec
    emit(torch_source(load_spec(spec, input_shape=input_shape)), output)


@main.command()
@click.argument("spec")
@click.option("--batch", "-b", type=click.IntRange(min=1), default=1, show_default=True, help="Batch size N.")
@click.option("--input", "input_shape", metavar="SHAPE", help="Override the spec's input, in its layout: 3x224x224.")
@format_option
@output_option
def conventions(spec, batch, input_shape, fmt, output):
    """FLOPs of SPEC as each popular tool counts them, side by side, with what each includes
    and its rule for every layer type in the spec.

    \b
    Example:
      archcalc conventions resnet50
    """
    from .api import compare_conventions
    from .render import conventions_table
    emit(conventions_table(compare_conventions(spec, batch=batch, input_shape=input_shape), fmt), output)


@main.command()
@click.argument("spec")
@click.option("--batch", "-b", type=click.IntRange(min=1), default=1, show_default=True, help="Batch size N.")
@click.option("--dtype", type=click.Choice(DTYPES), default="fp32", show_default=True, help="Element type.")
@click.option("--input", "input_shape", metavar="SHAPE", help="Override the spec's input, in its layout: 3x224x224.")
@click.option("--mode", type=click.Choice(["inference", "training"]), default="inference", show_default=True,
              help="A forward pass, or one training step.")
@click.option("--optimizer", type=click.Choice(["sgd", "momentum", "adam", "adamw"]), default="sgd",
              show_default=True, help="Optimizer state in training: 0, 1 or 2 copies of the trained weights.")
@click.option("--mixed-precision", is_flag=True,
              help="16-bit weights, gradients and activations (--dtype fp16/bf16) with fp32 master weights.")
@click.option("--inplace", is_flag=True, help="Element-wise activations overwrite their input (ReLU(inplace=True)).")
@click.option("--budget", metavar="BYTES", help="Device memory to fit in, e.g. 24GiB or 16GB: answers fits or not, "
              "and the largest batch that fits.")
@format_option
@output_option
def memory(spec, batch, dtype, input_shape, mode, optimizer, mixed_precision, inplace, budget, fmt, output):
    """Memory of SPEC per layer: inference peak by liveness (beside the textbook sum of all
    outputs), or a training step's parameters, gradients, optimizer state and saved activations.

    \b
    Example:
      archcalc memory vgg16 --inplace
      archcalc memory resnet50 --mode training --optimizer adam --batch 64 --budget 24GiB
    """
    from .memory import memory as measure
    from .render import memory_report
    result = measure(spec, batch=batch, dtype=dtype, mode=mode, optimizer=optimizer,
                     mixed_precision=mixed_precision, inplace=inplace, budget=budget, input_shape=input_shape)
    emit(memory_report(result, fmt), output)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
