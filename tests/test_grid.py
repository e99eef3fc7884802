"""archcalc's table writer against tabulate itself: the same bytes for every table archcalc prints
(text cells, the `simple` and `github` styles, any alignment, wide Korean characters)."""
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from archcalc.report.grid import table, width

tabulate = pytest.importorskip("tabulate").tabulate
pytest.importorskip("wcwidth")        # tabulate measures wide characters only with it

cells = st.text(alphabet=st.sampled_from("ab1 ,.·−×()합성곱층"), max_size=8).map(str.strip)


@settings(max_examples=300, deadline=None)
@given(st.integers(1, 5).flatmap(lambda n: st.tuples(
    st.lists(cells.filter(bool), min_size=n, max_size=n),
    st.lists(st.lists(cells, min_size=n, max_size=n), max_size=6),
    st.lists(st.sampled_from(["left", "right", "center"]), min_size=n, max_size=n),
    st.sampled_from(["simple", "github"]))))
def test_same_bytes_as_tabulate(case):
    headers, rows, align, style = case
    assert table(rows, headers, style, align) == tabulate(rows, headers=headers, tablefmt=style,
                                                          disable_numparse=True, colalign=align)


def test_korean_takes_two_columns():
    assert width("합성곱층") == 8 and width("conv") == 4
    assert table([["층", "1"]], ["이름", "n"]).splitlines() == ["이름    n", "------  ---", "층      1"]
