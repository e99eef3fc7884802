"""The Python API as the docs (docs/api.md) show it, and the command-line conventions every command keeps."""
import doctest
import os
import re

import click
import pytest
from click.testing import CliRunner

import archcalc
from archcalc.cli import main
from conftest import ROOT, SPECS, run_cli


def docs_page(name):
    text = (ROOT / "docs" / name).read_text(encoding="utf-8")
    return re.findall(r"```python\n(.*?)```", text, re.S)


def test_readme_python_api_example_runs():
    pytest.importorskip("torch")
    blocks = docs_page("api.md")
    assert blocks, "docs/api.md has no python block"
    for code in blocks:
        exec(compile(code, "docs/api.md", "exec"), {})


def test_package_docstring_example():
    failures, tried = doctest.testmod(archcalc, verbose=False)
    assert tried and not failures


def test_analyze_takes_a_name_a_path_a_dict_or_a_graph():
    import yaml
    path = SPECS / "lenet5.yaml"
    graph = archcalc.load_spec(path)
    reports = [archcalc.analyze(x) for x in ("lenet5", str(path), path, yaml.safe_load(path.read_text()), graph)]
    assert {r.totals.params for r in reports} == {61_706}      # LeNet-5, derived in the spec's header
    assert len({r.totals.macs for r in reports}) == 1


def test_public_objects_have_docstrings():
    for name in archcalc.__all__:
        if name != "__version__":
            assert (getattr(archcalc, name).__doc__ or "").strip(), name


def all_commands():
    return sorted(main.commands.items())


@pytest.mark.parametrize("name,command", all_commands(), ids=[n for n, _ in all_commands()])
def test_every_command_has_help_with_an_example(name, command):
    result = CliRunner().invoke(main, [name, "--help"])
    assert result.exit_code == 0
    assert "Example" in result.output
    assert f"archcalc {name}" in result.output.split("Example", 1)[1]


WRITERS = ("summarize", "zoo", "layers", "schema", "diagram", "plot", "from-torch")


@pytest.mark.parametrize("name", WRITERS)
def test_commands_that_write_take_dash_o(name):
    options = {opt for param in main.commands[name].params if isinstance(param, click.Option) for opt in param.opts}
    assert "-o" in options


def test_version():
    result = run_cli("--version")
    assert result.returncode == 0 and archcalc.__version__ in result.stdout


def test_colour_only_on_a_terminal_and_never_with_no_color():
    args = ["summarize", "no_such_spec_anywhere"]
    coloured = CliRunner().invoke(main, args, color=True)           # as if on a terminal
    assert coloured.exit_code == 2 and "\x1b[" in coloured.output
    plain = CliRunner().invoke(main, args, color=True, env={"NO_COLOR": "1"})
    assert plain.exit_code == 2 and "\x1b[" not in plain.output and "error:" in plain.output
    piped = run_cli(*args)                                          # a pipe is not a terminal
    assert piped.returncode == 2 and "\x1b[" not in piped.stderr and piped.stderr.startswith("error:")


def test_shell_completion_script_and_spec_names():
    script = run_cli(env=dict(os.environ, _ARCHCALC_COMPLETE="bash_source"))
    assert script.returncode == 0 and "_archcalc_completion" in script.stdout
    words = run_cli(env=dict(os.environ, _ARCHCALC_COMPLETE="bash_complete",
                             COMP_WORDS="archcalc summarize res", COMP_CWORD="2"))
    assert "plain,resnet50" in words.stdout.splitlines()
