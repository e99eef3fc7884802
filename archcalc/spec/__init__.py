"""Spec: YAML text -> a validated Graph whose every node keeps its source line.

Owns reading YAML with line numbers (yamlio), the safe expression evaluator (expr), block
expansion and validation (graph), the JSON Schema generated from the layer registry (schema) and
the built-in zoo's files (zoo). May import: errors, i18n, layers. Never imports analysis, report,
homework, bridges or any heavy library.
"""
from .graph import INPUT, Graph, Node, as_graph, load_spec  # noqa: F401
