"""Draw archcalc's internal imports from the source, with `ast` only (nothing is imported or run).

    python tools/import_graph.py              # package level: which subpackage imports which
    python tools/import_graph.py --modules    # module level
    python tools/import_graph.py --cycles     # only the import cycles (exit 1 when there is one)

Every `import` / `from ... import` statement in archcalc/ counts, wherever it is: an import inside a
function ("lazy") is a dependency all the same, only paid later; lazy edges are marked `(lazy)`.
A subpackage's modules are grouped under its name (archcalc.spec.graph -> spec); top-level modules
(cli, api, errors, __init__ = archcalc) stand for themselves. tests/test_architecture.py reads the same
edges and checks them against what each package's __init__ docstring says it may import.
"""
import argparse
import ast
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "archcalc"


@dataclass(frozen=True)
class Edge:
    source: str       # importing module, dotted
    target: str       # imported archcalc module, dotted
    line: int
    lazy: bool        # inside a function or method body


def module_name(path, root=ROOT):
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules(root=ROOT):
    """{dotted name: path} for every module of the package."""
    return {module_name(p, root): p for p in sorted((root / PACKAGE).rglob("*.py"))}


def _resolve(node, current, is_package, known):
    """The archcalc modules one import statement names (empty for the standard library and the rest)."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names if alias.name.split(".")[0] == PACKAGE]
    if node.level:
        base = current.split(".") if is_package else current.split(".")[:-1]
        base = base[:len(base) - (node.level - 1)]
        stem = ".".join(base + ([node.module] if node.module else []))
    else:
        stem = node.module or ""
    if stem.split(".")[0] != PACKAGE:
        return []
    # `from .pkg import name`: name is a module when such a file exists, else an attribute of pkg
    found = [f"{stem}.{a.name}" for a in node.names if f"{stem}.{a.name}" in known]
    if len(found) < len(node.names):
        found.append(stem)
    return found


def edges(root=ROOT):
    known = modules(root)
    result = []
    for name, path in known.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        is_package = path.name == "__init__.py"

        def visit(node, lazy):
            for child in ast.iter_child_nodes(node):
                if isinstance(child, (ast.Import, ast.ImportFrom)):
                    for target in _resolve(child, name, is_package, known):
                        if target != name:
                            result.append(Edge(name, target, child.lineno, lazy))
                visit(child, lazy or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)))
        visit(tree, False)
    return result


def external_imports(root=ROOT):
    """(module, top-level library name, line, lazy) for every import of something outside archcalc."""
    result = []
    for name, path in modules(root).items():
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))

        def visit(node, lazy):
            for child in ast.iter_child_nodes(node):
                if isinstance(child, ast.Import):
                    result.extend((name, a.name.split(".")[0], child.lineno, lazy) for a in child.names
                                  if a.name.split(".")[0] != PACKAGE)
                elif isinstance(child, ast.ImportFrom) and not child.level and child.module:
                    top = child.module.split(".")[0]
                    if top != PACKAGE:
                        result.append((name, top, child.lineno, lazy))
                visit(child, lazy or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)))
        visit(tree, False)
    return result


def unit(module):
    """archcalc.spec.graph -> 'spec'; archcalc.cli -> 'cli'; archcalc -> 'archcalc'."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def _is_package(module):
    return (ROOT / module.replace(".", "/") / "__init__.py").exists()


def package_edges(all_edges):
    """{(source unit, target unit): [Edge, ...]} without edges inside one unit."""
    grouped = {}
    for e in all_edges:
        key = unit(e.source), unit(e.target)
        if key[0] != key[1]:
            grouped.setdefault(key, []).append(e)
    return grouped


def cycles(graph):
    """Strongly connected components with more than one node (Tarjan), each sorted; graph: {node: {node}}."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []
    counter = [0]

    def strong(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            strong(v)
    return sorted(found)


def adjacency(pairs):
    graph = {}
    for a, b in pairs:
        graph.setdefault(a, set()).add(b)
        graph.setdefault(b, set())
    return graph


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--modules", action="store_true", help="module level instead of package level")
    parser.add_argument("--cycles", action="store_true", help="print only the cycles; exit 1 if any")
    args = parser.parse_args(argv)
    all_edges = edges()
    if args.modules:
        grouped = {}
        for e in all_edges:
            grouped.setdefault((e.source, e.target), []).append(e)
    else:
        grouped = package_edges(all_edges)
    graph = adjacency(grouped)
    found = cycles(graph)
    if not args.cycles:
        for source in sorted(graph):
            targets = sorted(t for (s, t) in grouped if s == source)
            if not targets:
                continue
            shown = []
            for t in targets:
                es = grouped[(source, t)]
                shown.append(t + (" (lazy)" if all(e.lazy for e in es) else ""))
            print(f"{source} -> {', '.join(shown)}")
    for component in found:
        members = set(component)
        print("cycle: " + " <-> ".join(component))
        for (s, t), es in sorted(grouped.items()):
            if s in members and t in members:
                where = ", ".join(f"{e.source.replace('.', '/')}{'/__init__' if _is_package(e.source) else ''}.py:"
                                  f"{e.line}{' lazy' if e.lazy else ''}" for e in es)
                print(f"    {s} -> {t}: {where}")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
