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


@main.group()
def calc():
    """One-off calculators without a spec: conv, pool and dense, with the steps.

    \b
    Example:
      archcalc calc conv --input 227 --kernel 11 --stride 4 --in-channels 3 --filters 96
    """


def matrices(paths):
    from .calc import read_matrices
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
@output_option
def calc_conv(input_size, kernel, stride, padding, in_channels, filters, dilation, groups, no_bias,
              matrix_paths, kernel_paths, bias_value, output):
    """A convolution's output size, parameters and MACs with the steps; with --matrix and
    --kernel-matrix, its actual output values (needs numpy).

    \b
    Examples:
      archcalc calc conv --input 227 --kernel 11 --stride 4 --in-channels 3 --filters 96
      archcalc calc conv --matrix image.txt --kernel-matrix k.txt --stride 1 --padding 1
    """
    from . import calc as calculators
    from .render_homework import explanation, numeric
    if matrix_paths or kernel_paths:
        if not (matrix_paths and kernel_paths):
            raise click.UsageError("numeric mode needs both --matrix and --kernel-matrix")
        channels, kernels = matrices(matrix_paths), matrices(kernel_paths)
        values = calculators.conv_values(channels, kernels, stride=stride, padding=padding, bias=bias_value)
        exp = calculators.conv_explanation(input_size="x".join(map(str, channels[0].shape)),
                                           kernel="x".join(map(str, kernels[0].shape)), stride=stride,
                                           padding=padding, in_channels=len(channels), bias=bool(bias_value))
        title = (f"conv: {len(channels)} channel(s), kernel {kernels[0].shape[0]}×{kernels[0].shape[1]}, "
                 f"bias {bias_value:g} (cross-correlation, as PyTorch's conv2d)")
        emit(numeric(title, exp, [("output", values)]), output)
        return
    if not (input_size and kernel):
        raise click.UsageError("give --input and --kernel (or --matrix and --kernel-matrix for values)")
    emit(explanation(calculators.conv_explanation(
        input_size=input_size, kernel=kernel, stride=stride, padding=padding, in_channels=in_channels,
        filters=filters, dilation=dilation, groups=groups, bias=not no_bias)), output)


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
@output_option
def calc_pool(input_size, kernel, stride, padding, channels, mode, ceil_mode, matrix_path, output):
    """A pooling layer's output size with the steps; with --matrix, the pooled values and,
    for max pooling, the backward routing mask.

    \b
    Examples:
      archcalc calc pool --input 55 --kernel 3 --stride 2 --channels 96
      archcalc calc pool --matrix m.txt --kernel 2 --stride 2 --mode max
    """
    from . import calc as calculators
    from .render_homework import explanation, numeric
    if matrix_path:
        (matrix, *rest) = calculators.read_matrices(matrix_path)
        if rest:
            raise click.UsageError("pool --matrix takes one matrix (pooling works on each channel alone)")
        values, mask = calculators.pool_values(matrix, kernel=kernel, stride=stride, padding=padding, mode=mode)
        exp = calculators.pool_explanation(input_size="x".join(map(str, matrix.shape)), kernel=kernel,
                                           stride=stride, padding=padding, mode=mode)
        blocks = [(f"{mode} pooled", values)]
        if mask is not None:
            blocks.append(("routing mask (the gradient of each output flows back to its 1)", mask))
        emit(numeric(f"{mode} pooling", exp, blocks), output)
        return
    if not input_size:
        raise click.UsageError("give --input (or --matrix for values)")
    emit(explanation(calculators.pool_explanation(
        input_size=input_size, kernel=kernel, stride=stride, padding=padding, channels=channels, mode=mode,
        ceil_mode=ceil_mode)), output)


@calc.command("dense")
@click.option("--inputs", type=int, required=True, metavar="N_IN", help="Input features.")
@click.option("--units", type=int, required=True, metavar="N_OUT", help="Output features.")
@click.option("--no-bias", is_flag=True, help="No bias per unit.")
@output_option
def calc_dense(inputs, units, no_bias, output):
    """A fully-connected layer's parameters and MACs with the steps.

    \b
    Example:
      archcalc calc dense --inputs 9216 --units 4096
    """
    from .calc import dense_explanation
    from .render_homework import explanation
    emit(explanation(dense_explanation(inputs=inputs, units=units, bias=not no_bias)), output)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
