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


@pytest.mark.parametrize("fmt", ["table", "markdown"])
@pytest.mark.parametrize("args", COMMANDS, ids=" ".join)
def test_every_table_is_what_tabulate_prints(args, fmt, monkeypatch):
    original, rendered = tables._plain_table, []
    monkeypatch.setattr(tables, "_plain_table", lambda *a: rendered.append(original(*a)) or rendered[-1])
    ours = output(args + ["--format", fmt])
    assert rendered                                    # tables were drawn; summarize's always on the fast path
    assert None not in rendered or args[0] != "summarize"
    monkeypatch.setattr(tables, "_plain_table", lambda *a: None)      # now tabulate renders them
    assert output(args + ["--format", fmt]) == ours


def test_layers_table_is_what_tabulate_prints(monkeypatch):
    ours = output(["layers"])
    monkeypatch.setattr(tables, "_plain_table", lambda *a: None)
    assert output(["layers"]) == ours


cells = st.text(st.characters(min_codepoint=32, max_codepoint=0xFF), max_size=12)


@settings(max_examples=hypothesis_examples(200), deadline=None)
@given(st.integers(1, 5).flatmap(lambda n: st.tuples(
    st.lists(cells, min_size=n, max_size=n),
    st.lists(st.lists(cells, min_size=n, max_size=n), min_size=1, max_size=6),
    st.lists(st.sampled_from(["left", "right"]), min_size=n, max_size=n),
    st.sampled_from(["table", "markdown"]))))
def test_random_text_cells_match_tabulate(case):
    headers, rows, align, fmt = case
    ours = tables._plain_table(rows, headers, fmt, align)
    theirs = tabulate(rows, headers=headers, tablefmt={"table": "simple", "markdown": "github"}[fmt],
                      disable_numparse=True, colalign=align)
    if ours is not None:              # None: a cell tabulate handles itself (blanks around, not printable)
        assert ours == theirs
    assert tables._tabulate(rows, headers, fmt, align) == theirs


def test_cells_tabulate_must_handle_fall_back():
    assert tables._plain_table([["a\nb"]], ["h"], "table", None) is None      # a line break
    assert tables._plain_table([[" a"]], ["h"], "table", None) is None        # blanks tabulate strips
    assert tables._plain_table([["漢字"]], ["h"], "table", None) is None       # width beyond Latin-1
    assert tables._plain_table([[3]], ["h"], "table", None) is None           # not text
    assert tables._plain_table([["a"]], ["h"], "table", None) == "h\n---\na"
