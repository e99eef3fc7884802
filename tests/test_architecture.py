"""The package layout keeps its promises: what each subpackage may import (the rule in its __init__
docstring, written out as a table here), no import cycles, and heavy libraries off the summarize path.

The import edges come from tools/import_graph.py, which reads the source with `ast` (run it to see the
graph). An import inside a function counts: it is a dependency all the same, paid later.
"""
import importlib.util
import re
import subprocess
import sys

import pytest

from conftest import ROOT, SPECS

_spec = importlib.util.spec_from_file_location("import_graph", ROOT / "tools" / "import_graph.py")
graph = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(graph)

# What each subpackage may import, from its __init__ docstring ("May import: ...").
# layers' docstring states no rule yet; "errors only" is what the others imply (spec, analysis,
# report, homework and bridges all import layers, so layers importing any of them is a cycle).
ALLOWED = {
    "i18n": set(),                  # the message catalogs (archcalc/i18n.py): everything may import it
    "errors": {"i18n"},
    "version": set(),
    "units": {"errors", "i18n"},
    "layers": {"errors", "i18n"},
    "spec": {"errors", "i18n", "layers"},
    "analysis": {"errors", "i18n", "units", "layers", "spec"},
    "report": {"errors", "i18n", "units", "layers", "analysis", "version"},
    "homework": {"errors", "i18n", "units", "layers", "spec", "analysis", "report"},
    "bridges": {"errors", "i18n", "units", "layers", "spec", "analysis"},
}
TOP = {"archcalc", "__main__", "cli", "api"}       # the front doors: they may import anything, nothing imports them
HEAVY = {"torch", "numpy", "matplotlib", "keras", "tensorflow", "transformers", "torchvision", "pandas"}
NEVER_HEAVY = {"spec", "analysis"}                 # "never imports ... any heavy library" / "never imports ... torch"
HEAVY_AT_TOP_LEVEL = {"archcalc.bridges.torch_model", "archcalc.layers.torch_modules"}   # themselves imported only inside functions

# Imports that break the rules, each with where it is to be fixed. None today: keep it so. A new
# violation is fixed, not listed; the table exists so that a migration can land in steps.
KNOWN_VIOLATIONS = {}

EDGES = graph.edges()
BY_PACKAGE = graph.package_edges(EDGES)


def where(edges):
    return ", ".join(f"{e.source}:{e.line}{' (lazy)' if e.lazy else ''}" for e in edges)


def violations():
    found = {}
    for (source, target), edges in BY_PACKAGE.items():
        if target in TOP and source not in TOP:
            found[(source, target)] = edges
        elif source in ALLOWED and target not in ALLOWED[source]:
            found[(source, target)] = edges
    return found


def test_the_graph_is_read_from_the_source():
    """The edges are real, relative imports resolve, and an import inside a function is marked lazy."""
    pairs = {(e.source, e.target, e.lazy) for e in EDGES}
    assert ("archcalc.spec.graph", "archcalc.spec.yamlio", False) in pairs          # from .yamlio import ...
    assert ("archcalc.spec.graph", "archcalc.spec.zoo", False) in pairs             # from . import zoo
    assert ("archcalc.analysis.analyzer", "archcalc.layers.base", False) in pairs   # from ..layers.base import
    assert ("archcalc.cli", "archcalc.analysis.analyzer", True) in pairs            # inside a command
    assert ("spec", "layers") in BY_PACKAGE and ("layers", "spec") not in BY_PACKAGE


def test_cycles_are_found():
    """The cycle finder itself: a -> b -> c -> a is one cycle, d -> a hangs off it."""
    assert graph.cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert graph.cycles({"a": {"b"}, "b": set()}) == []


def test_every_rule_in_a_docstring_is_in_the_table():
    """The table above says what the docstrings say: a docstring edited alone makes this fail."""
    for package, allowed in ALLOWED.items():
        path = ROOT / "archcalc" / package / "__init__.py"
        if not path.exists():
            continue                                           # errors and units are modules, not packages
        text = " ".join(path.read_text(encoding="utf-8").split('"""')[1].split())
        sentence = re.search(r"May import(.*?)(\.\s|\.$)", text)
        if sentence is None:
            assert package == "layers", f"archcalc/{package}/__init__.py no longer says what it may import"
            continue
        named = {p for p in ALLOWED if re.search(rf"\b{p}\b", sentence.group(1))}
        assert named == allowed, f"archcalc/{package}/__init__.py says it may import {sorted(named)}"


def test_subpackages_import_only_what_their_docstring_allows():
    new = {pair: edges for pair, edges in violations().items() if pair not in KNOWN_VIOLATIONS}
    assert not new, "\n".join(f"{s} may not import {t} (allowed: {sorted(ALLOWED.get(s, ()))}): {where(e)}"
                              for (s, t), e in sorted(new.items()))


def test_known_violations_are_still_real():
    """KNOWN_VIOLATIONS only shrinks: once an import is fixed, its line must go."""
    gone = set(KNOWN_VIOLATIONS) - set(violations())
    assert not gone, f"fixed, delete from KNOWN_VIOLATIONS: {sorted(gone)}"


# Module cycles inside one package that are known. None today: report.formats picks the HTML page or the
# text renderer, so report.html can reuse the text renderers' helpers without them importing it back.
KNOWN_MODULE_CYCLES = {}


@pytest.mark.parametrize("level", ["package", "module"])
def test_no_import_cycle(level):
    """No cycle between subpackages or modules, apart from the known violations listed above."""
    known = {(s, t) for (s, t) in KNOWN_VIOLATIONS}
    if level == "package":
        pairs = {pair for pair in BY_PACKAGE if pair not in known}
    else:
        pairs = {(e.source, e.target) for e in EDGES
                 if (graph.unit(e.source), graph.unit(e.target)) not in known}
    found = [c for c in graph.cycles(graph.adjacency(pairs)) if frozenset(c) not in KNOWN_MODULE_CYCLES]
    assert not found, "import cycles: " + "; ".join(" <-> ".join(c) for c in found)


def test_heavy_libraries_stay_where_the_docstrings_put_them():
    bad = []
    for module, library, line, lazy in graph.external_imports():
        if library not in HEAVY:
            continue
        if graph.unit(module) in NEVER_HEAVY:
            bad.append(f"{module}:{line} imports {library}")
        elif not lazy and module not in HEAVY_AT_TOP_LEVEL:
            bad.append(f"{module}:{line} imports {library} at import time (import it inside the function)")
    assert not bad, "\n".join(bad)


def test_summarize_imports_no_torch_numpy_or_matplotlib():
    """The real process: `-X importtime` lists every module it imports, on stderr."""
    result = subprocess.run([sys.executable, "-X", "importtime", "-m", "archcalc", "summarize",
                             str(SPECS / "resnet50.yaml")], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert result.returncode == 0, result.stderr
    imported = {line.split("|")[-1].strip() for line in result.stderr.splitlines() if line.startswith("import time:")}
    assert "archcalc.analysis.analyzer" in imported and "yaml" in imported     # the listing is real
    assert not {name for name in imported if name.split(".")[0] in HEAVY}
