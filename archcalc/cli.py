"""The `archcalc` command: thin click wrappers over the library. Exit status: 0 ok, 1 a check
found disagreement, 2 bad input (a spec, an option or a file)."""
import sys

import click

from . import __version__
from .errors import SpecError

DTYPES = ("fp32", "fp16", "bf16", "int8", "fp64")


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
@output_option
def summarize(spec, batch, dtype, input_shape, keras, strict, fmt, rf, output):
    """Per-layer table and totals for SPEC (a YAML file or a built-in name).

    \b
    Example:
      archcalc summarize alexnet --format markdown
    """
    from .analyzer import analyze
    from .render import summary
    report = analyze(spec, batch=batch, dtype=dtype, keras=keras, strict=strict, input_shape=input_shape)
    emit(summary(report, fmt, rf=rf), output)


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
@click.option("--layer", "layer", metavar="NAME", help="Explain only this layer.")
@click.option("--input", "input_shape", metavar="SHAPE", help="Override the spec's input, in its layout.")
@click.option("--format", "fmt", type=click.Choice(("text", "markdown")), default="text", show_default=True,
              help="Plain text, or Markdown to paste into a report.")
@output_option
def explain(spec, layer, input_shape, fmt, output):
    """Worked arithmetic for each layer: output size, parameters, MACs and FLOPs with
    the spec's numbers substituted, in the notation courses use.

    \b
    Example:
      archcalc explain alexnet --layer conv1
    """
    from .explain import explain as explain_spec
    from .render_homework import explanation
    emit(explanation(explain_spec(spec, layer=layer, input_shape=input_shape), fmt), output)


@main.command()
@click.argument("specs", nargs=-1, required=True)
@click.option("--batch", "-b", type=click.IntRange(min=1), default=1, show_default=True, help="Batch size N.")
@click.option("--dtype", type=click.Choice(DTYPES), default="fp32", show_default=True, help="Element type, for bytes.")
@click.option("--keras", is_flag=True, help="Count batchnorm moving statistics as non-trainable params.")
@format_option
@output_option
def compare(specs, batch, dtype, keras, fmt, output):
    """Compare specs side by side: totals, each as a share of the first spec's, and the
    split of parameters and FLOPs by layer kind (conv, dense, ...).

    \b
    Example:
      archcalc compare mnist_fc mnist_cnn
    """
    from .compare import compare as compare_specs
    from .render_homework import comparison
    emit(comparison(compare_specs(list(specs), batch=batch, dtype=dtype, keras=keras), fmt), output)


@main.command()
@click.argument("spec")
@click.argument("answers", type=click.Path(exists=True, dir_okay=False))
@click.option("--keras/--pytorch", "keras", default=None,
              help="Count batchnorm moving statistics as params the Keras way [default: Keras for Keras tables].")
@click.option("--format", "fmt", type=click.Choice(("text", "markdown", "json")), default="text",
              show_default=True, help="Output format.")
@output_option
def check(spec, answers, keras, fmt, output):
    """Check a student's ANSWERS for SPEC: each ✓ or ✗ with the correct value, the
    worked formula and, when one mistake explains a wrong number exactly, which one.

    ANSWERS is YAML keyed by layer name (output_shape, params, macs, flops) with
    `totals:`, or a pasted Keras model.summary() or torchinfo table. Numbers may be
    written 62378344, 62,378,344, 62.4M or 159K. Exit status 0 when all answers are
    right, 1 otherwise, 2 for an unreadable file.

    \b
    Example:
      archcalc check alexnet answers.yaml
    """
    from .check import check as check_answers
    from .render_homework import check_report
    result = check_answers(spec, answers, keras=keras)
    emit(check_report(result, fmt), output)
    sys.exit(0 if result.ok else 1)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
