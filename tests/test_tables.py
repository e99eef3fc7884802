"""The table renderer writes tabulate's "simple" and "github" layouts itself (no tabulate import on the
summarize path): every table archcalc prints must be byte-identical to tabulate's own rendering."""
import pytest
from click.testing import CliRunner
from hypothesis import given, settings, strategies as st

from archcalc.cli import main
from archcalc.report import tables
from conftest import hypothesis_examples

tabulate = pytest.importorskip("tabulate").tabulate

COMMANDS = [
    ["summarize", "resnet50"], ["summarize", "googlenet", "--rf", "--train"], ["summarize", "mnist_cnn", "--keras"],
    ["summarize", "vgg16", "--convention", "fvcore"], ["zoo"], ["conventions", "resnet50"], ["conventions", "alexnet"],
    ["memory", "vgg16", "--mode", "training", "--optimizer", "adam"], ["compare", "alexnet", "vgg16", "resnet50"],
]


def output(args):
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    return result.output


def with_tabulate(monkeypatch):
    """Render every table with tabulate itself instead of archcalc's writer."""
    monkeypatch.setattr(tables, "_tabulate", lambda rows, headers, fmt, colalign=None: tabulate(
        rows, headers=headers, tablefmt={"table": "simple", "markdown": "github"}[fmt], disable_numparse=True,
        colalign=colalign))


@pytest.mark.parametrize("fmt", ["table", "markdown"])
@pytest.mark.parametrize("args", COMMANDS, ids=" ".join)
def test_every_table_is_what_tabulate_prints(args, fmt, monkeypatch):
    ours = output(args + ["--format", fmt])
    with_tabulate(monkeypatch)
    assert output(args + ["--format", fmt]) == ours


@pytest.mark.parametrize("args", [["layers"], ["layers", "--wide"], ["zoo"]], ids=" ".join)
def test_layers_table_is_what_tabulate_prints(args, monkeypatch):
    ours = output(args)
    with_tabulate(monkeypatch)
    assert output(args) == ours


cells = st.text(st.characters(min_codepoint=32, max_codepoint=0xFF, blacklist_categories=("Cc",)), max_size=12)


@settings(max_examples=hypothesis_examples(200), deadline=None)
@given(st.integers(1, 5).flatmap(lambda n: st.tuples(
    st.lists(cells, min_size=n, max_size=n),
    st.lists(st.lists(cells, min_size=n, max_size=n), min_size=1, max_size=6),
    st.lists(st.sampled_from(["left", "right"]), min_size=n, max_size=n),
    st.sampled_from(["table", "markdown"]))))
def test_random_text_cells_match_tabulate(case):
    """Any printable Latin-1 text, blanks around cells included (tabulate strips them; so does the writer)."""
    headers, rows, align, fmt = case
    theirs = tabulate(rows, headers=headers, tablefmt={"table": "simple", "markdown": "github"}[fmt],
                      disable_numparse=True, colalign=align)
    assert tables._tabulate(rows, headers, fmt, align) == theirs
