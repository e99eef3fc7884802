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


# ---- Issue 11, the layer contract: nothing outside archcalc/layers/ branches on a layer type's name.
# A comparison (==, !=, in, not in) against a string constant spelled like a registered type or alias
# (matched as the registry matches: ignoring case, '_' and '-') is such a branch: `kind == "conv2d"`,
# `type_name in ("maxpool2d", "avgpool2d")`, a Keras class name `cls == "Conv2D"` that stands for our
# conv2d. The type's rule belongs on its class (a hook or class attribute), found through the registry.
# Nothing is allow-listed: a family is compared as the Kind enum (`layer.kind == Kind.CONV`), not a string.

import ast  # noqa: E402


def _spellings():
    from archcalc.layers import layer_types, normalize
    return {normalize(s): cls.type_name for cls in layer_types() for s in (cls.type_name, *cls.aliases)}


def _strings(node):
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
        return [e.value for e in node.elts if isinstance(e, ast.Constant) and isinstance(e.value, str)]
    return []


def _prefix_test(node):
    """`record.type_name.startswith("adaptive_")` (or endswith, on `type_name` or a record's `type`): a
    rule for the types whose names share a prefix, which belongs on their classes."""
    return (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
            and node.func.attr in ("startswith", "endswith") and isinstance(node.func.value, ast.Attribute)
            and node.func.value.attr in ("type_name", "type") and bool(node.args))


def type_name_branches(source, spellings):
    """(line, comparison, [(constant, the type it spells)]) for each comparison in `source` against a
    string constant that is a registered type name or alias."""
    from archcalc.layers import normalize
    found = []
    for node in ast.walk(ast.parse(source)):
        if _prefix_test(node):
            found.append((node.lineno, node.col_offset, ast.unparse(node),
                          [(text, "a test of type names' spelling") for text in _strings(node.args[0])]))
            continue
        if not isinstance(node, ast.Compare):
            continue
        if not all(isinstance(op, (ast.Eq, ast.NotEq, ast.In, ast.NotIn)) for op in node.ops):
            continue
        hits = [(text, spellings[normalize(text)]) for operand in (node.left, *node.comparators)
                for text in _strings(operand) if normalize(text) in spellings]
        if hits:
            found.append((node.lineno, node.col_offset, ast.unparse(node), hits))
    return [(line, code, hits) for line, _, code, hits in sorted(found)]


def test_the_type_name_scan_finds_what_it_is_meant_to():
    """The scanner itself, on code that branches on type names and on code that does not."""
    spellings = _spellings()
    source = '''
if layer.type_name == "conv2d": pass                    # 2: the canonical name
elif kind in ("maxpool2d", "avgpool2d"): pass           # 3: a tuple of them
if cls == "Conv2D" or "Dense" != cls: pass              # 4, 4: Keras spellings of conv2d and dense
if name not in {"hard_swish"}: pass                     # 5: an alias (of hardswish)
if mode == "flash" or fmt in ("json", "csv"): pass      # not type names
if layer.kind == Kind.CONV: pass                        # a family, as the enum
x = {"conv2d": 1}["conv2d"]                             # not a comparison
if cls.type_name.startswith("adaptive_"): pass          # 9: a prefix shared by several types
if r.type.endswith(("1d", "3d")) or path.endswith("d"): pass   # 10: a suffix (the path's is not one)
'''
    found = type_name_branches(source, spellings)
    assert [(line, [t for _, t in hits]) for line, _, hits in found] == [
        (2, ["conv2d"]), (3, ["maxpool2d", "avgpool2d"]), (4, ["conv2d"]), (4, ["dense"]), (5, ["hardswish"]),
        (9, ["a test of type names' spelling"]), (10, ["a test of type names' spelling"] * 2)]


def test_nothing_outside_layers_compares_a_type_name():
    """Every module of archcalc/ outside archcalc/layers/: no comparison against a registered type's spelling."""
    spellings = _spellings()
    assert {"conv2d", "maxpooling2d", "batchnormalization", "hardswish"} <= set(spellings)   # the registry is read
    modules = [p for p in sorted((ROOT / "archcalc").rglob("*.py")) if "layers" not in p.relative_to(ROOT).parts]
    assert len(modules) > 30 and ROOT / "archcalc" / "bridges" / "keras_model.py" in modules
    bad = [f"{path.relative_to(ROOT)}:{line}: {code}  ({', '.join(f'{text!r} is {t}' for text, t in hits)})"
           for path in modules for line, code, hits in type_name_branches(path.read_text(encoding="utf-8"), spellings)]
    assert not bad, ("branches on a layer type's name outside archcalc/layers/ (move the rule onto the "
                     "layer class, found through the registry):\n" + "\n".join(bad))


def test_each_keras_class_is_read_by_one_layer_type():
    """from-keras finds a Keras layer's type through `keras_classes`: two types claiming one Keras class,
    or one Keras activation name, would make the lookup depend on registration order."""
    from archcalc.layers import layer_types
    classes, activations = {}, {}
    for cls in layer_types():
        for name in cls.keras_classes:
            classes.setdefault(name, []).append(cls.type_name)
        for name in filter(None, (cls.keras_activation, *cls.keras_activation_aliases)):
            activations.setdefault(name, []).append(cls.type_name)
    assert {"Conv2D", "Dense", "MaxPooling2D", "BatchNormalization", "ReLU"} <= set(classes)
    assert {"relu", "swish", "hard_silu"} <= set(activations)
    assert not {k: v for k, v in classes.items() if len(v) > 1}
    assert not {k: v for k, v in activations.items() if len(v) > 1}
