"""The spec reader (archcalc.spec.yamlio) against PyYAML's own safe loader: the same values for any
document, with lines added; aliases give equal values wherever they are used."""
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from archcalc.spec.yamlio import LineDict, LineList, load_yaml

scalars = (st.integers(-2**62, 2**62) | st.floats(allow_nan=False, allow_infinity=False) | st.booleans()
           | st.none() | st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), max_size=6))
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4)
                      | st.dictionaries(st.text("abc_", min_size=1, max_size=4) | st.integers(0, 9), inner,
                                        max_size=4), max_leaves=20)


def plain(value):
    """LineDict/LineList as dict/list, to compare with PyYAML's values (and check the types on the way)."""
    if isinstance(value, dict):
        assert type(value) is LineDict
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        assert type(value) is LineList
        return [plain(v) for v in value]
    return value


@settings(max_examples=200, deadline=None)
@given(values, st.sampled_from([False, True]))
def test_same_values_as_pyyaml(value, flow):
    text = yaml.safe_dump(value, default_flow_style=flow, allow_unicode=True)
    assert plain(load_yaml(text)) == yaml.safe_load(text)


def test_quoted_numbers_stay_text_and_aliases_repeat_their_value():
    text = "a: &k [3, '3', yes, 'yes', 0x10, 1_000, null]\nb: *k\nc: {n: *k}\n"
    loaded = load_yaml(text)
    assert plain(loaded) == yaml.safe_load(text)
    assert loaded["a"] == [3, "3", True, "yes", 16, 1000, None] == loaded["b"] == loaded["c"]["n"]
    assert loaded.line_of("c") == 3 and loaded["a"].line == 1
