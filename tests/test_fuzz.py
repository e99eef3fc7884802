"""Fuzzing (issue 14): random specs, and zoo specs with random damage, through `summarize`, `memory` and
`explain` (the real CLI, in this process). Every run either succeeds (exit 0) or gives one message that
starts `error: FILE:LINE` (exit 2): never a traceback, never another exit status, never a hang.

The seed is fixed. CI runs ARCHCALC_FUZZ_EXAMPLES examples in all (default 200, split between the
two tests); the long run documented in docs/limits.md is

    ARCHCALC_FUZZ_EXAMPLES=15000 python -m pytest tests/test_fuzz.py -q -p no:cacheprovider
"""
import os
import re
import tempfile
import time
from pathlib import Path

import yaml
from click.testing import CliRunner
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

from archcalc.cli import main
from archcalc.layers import LAYER_TYPES
from archcalc.spec import zoo

TOTAL = int(os.environ.get("ARCHCALC_FUZZ_EXAMPLES", "200"))
EXAMPLES = max(1, TOTAL // 2)
CPU_SECONDS = 5.0           # per command; a hang would be far beyond this (hostile cases are held to 1 s)
SETTINGS = settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=False,
                    suppress_health_check=list(HealthCheck))
COMMANDS = (["summarize"], ["memory"], ["explain"])
FOLDER = Path(tempfile.mkdtemp(prefix="archcalc-fuzz-"))
COUNTS = {"ok": 0, "error": 0}

# ---- random specs

WEIRD_NUMBERS = [0, 1, 2, 3, -1, 7, 64, 2**31, 2**62, 2**63, -2**63, 10**30, 10**400, 1.5, -0.5, 1e-300,
                 1e300, float("nan"), float("inf")]
numbers = st.one_of(st.integers(-5, 300), st.sampled_from(WEIRD_NUMBERS), st.floats(allow_nan=True))
EXPRESSIONS = ["$in_channels", "${in_channels * 2}", "${k // 0}", "${k ** 64}", "${(-1) ** 0.5}", "${k}",
               "${k + 1e308 * 10}", "$missing", "${" + "(" * 30 + "k" + ")" * 30 + "}", "${k if k else 1}",
               "${__import__('os')}", "${k < 2 and k > 0}", "${1 / 3}", "${k % 0.0}", "$", "${}", "${k ** -1}"]
words = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=8)
scalars = st.one_of(numbers, st.booleans(), st.none(), words, st.sampled_from(EXPRESSIONS))
values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                        st.dictionaries(words, inner, max_size=3)), max_leaves=8)
TYPE_NAMES = [cls.type_name for cls in LAYER_TYPES]
OPTION_NAMES = sorted({name for cls in LAYER_TYPES for name in cls.options}) + ["repeat", "when", "name", "from",
                                                                                   "first", "trainable", "k"]


@st.composite
def entries(draw, kinds):
    kind = draw(st.sampled_from(kinds))
    shape = draw(st.integers(0, 3))
    if shape == 0:
        return kind
    if shape == 1:
        return {kind: draw(scalars)}
    options = draw(st.dictionaries(st.sampled_from(OPTION_NAMES), st.one_of(numbers, values), max_size=4))
    return {kind: options}


@st.composite
def random_specs(draw):
    kinds = TYPE_NAMES + ["blk", "nope"]
    data = {}
    if draw(st.integers(0, 9)):
        data["input"] = draw(st.one_of(st.lists(st.sampled_from([1, 3, 7, 28, 32, 224, 0, -1, 2**40]),
                                                min_size=1, max_size=4), values))
    if draw(st.booleans()):
        data["blocks"] = {"blk": {"args": {"k": draw(scalars)},
                                  "layers": draw(st.lists(entries(TYPE_NAMES + ["blk"]), min_size=0, max_size=4))}}
    if draw(st.integers(0, 9)):
        data["layers"] = draw(st.lists(entries(kinds), min_size=0, max_size=8))
    if draw(st.integers(0, 3)) == 0:
        data[draw(st.sampled_from(["name", "args", "layout", "description", "extra"]))] = draw(values)
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False)


# ---- zoo specs, damaged

ZOO = {path.stem: path.read_text(encoding="utf-8") for path in zoo.paths()}
TOKENS = ["999999999999999999999", "1" + "0" * 5000, "-1", "0", ".nan", ".inf", "*a", "&a ", "${2**64}",
          "$in_channels", "${in_channels // 0}", "{", "}", "[", "]", ":", "- ", "\t", "\x00", "\x07", "when: false",
          "repeat: 100000", "from: input", "'", '"', "\n", "1.0e+400", "é", "\ufeff", "  ", "#", "!!python/object "
          "x", "&x [*x]", "<<: *a", "null", "~", "true", "on", "stride: 100000000", "output: 100000000"]


@st.composite
def damaged_specs(draw):
    name = draw(st.sampled_from(sorted(ZOO)))
    text = ZOO[name]
    for _ in range(draw(st.integers(1, 4))):
        where = draw(st.integers(0, len(text)))
        action = draw(st.sampled_from(["insert", "replace", "delete", "duplicate-line", "drop-line", "number"]))
        if action == "insert":
            text = text[:where] + draw(st.sampled_from(TOKENS)) + text[where:]
        elif action == "replace":
            text = text[:where] + draw(st.sampled_from(TOKENS)) + text[where + draw(st.integers(1, 20)):]
        elif action == "delete":
            text = text[:where] + text[where + draw(st.integers(1, 40)):]
        elif action in ("duplicate-line", "drop-line"):
            lines = text.splitlines(keepends=True)
            if lines:
                i = draw(st.integers(0, len(lines) - 1))
                lines[i:i + 1] = [lines[i]] * (2 if action == "duplicate-line" else 0)
                text = "".join(lines)
        else:
            numbers_at = [m.span() for m in re.finditer(r"\d+", text)]
            if numbers_at:
                start, end = draw(st.sampled_from(numbers_at))
                text = text[:start] + str(draw(st.sampled_from(WEIRD_NUMBERS + [100000, 2**20]))) + text[end:]
    encoding = draw(st.sampled_from(["utf-8"] * 8 + ["utf-16", "utf-16-le", "latin-1"]))
    return text.encode(encoding, errors="replace")


# ---- the property

def run_all(content):
    path = FOLDER / "fuzz.yaml"
    path.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
    for command in COMMANDS:
        start = time.process_time()
        result = CliRunner().invoke(main, [*command, str(path)])
        seconds = time.process_time() - start
        assert "Traceback" not in result.output, result.output
        assert result.exit_code in (0, 2), f"{command}: exit {result.exit_code}: {result.exception!r}\n{result.output}"
        assert isinstance(result.exception, (SystemExit, type(None))), repr(result.exception)
        if result.exit_code == 2:
            assert re.match(rf"error: {re.escape(str(path))}:\d+", result.output), result.output[:500]
            assert result.output.count("\nerror:") == 0 and len(result.output) < 3000, result.output[:500]
        COUNTS["ok" if result.exit_code == 0 else "error"] += 1
        assert seconds < CPU_SECONDS, f"{command} took {seconds:.1f} s of CPU"


@seed(14)
@SETTINGS
@given(text=random_specs())
def test_random_specs(text):
    run_all(text)


@seed(1414)
@SETTINGS
@given(content=damaged_specs())
def test_damaged_zoo_specs(content):
    run_all(content)


def test_report_counts():
    """Printed with -s: how many runs succeeded and how many were refused with a located message."""
    print(f"\nfuzz: {COUNTS['ok']} runs exit 0, {COUNTS['error']} runs exit 2 with file:line "
          f"({EXAMPLES} examples per test, 3 commands each)")
