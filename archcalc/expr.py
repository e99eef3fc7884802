"""`$name` and `${expression}` in block bodies: arithmetic on block arguments, never code.

The expression is parsed with `ast` and walked by hand; only numbers, argument names,
arithmetic, comparisons and and/or/not are accepted, so nothing a spec says can run.
"""
import ast
import operator

from .errors import SpecError
from .layers.base import did_you_mean

_BINARY = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
    ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod, ast.Pow: operator.pow,
}
_COMPARE = {
    ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.Lt: operator.lt,
    ast.LtE: operator.le, ast.Gt: operator.gt, ast.GtE: operator.ge,
}


def _divide(a, b):
    """`/` stays an integer when it divides evenly, so `${channels / 4}` can be a filter count."""
    if isinstance(a, int) and isinstance(b, int) and b and a % b == 0:
        return a // b
    return a / b


def evaluate(text, env):
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError:
        raise SpecError(f"cannot read the expression '{text}'",
                        hint="use numbers, argument names, + - * / // % ** and comparisons") from None
    return _eval(tree.body, env, text)


def _eval(node, env, text):
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float, bool)):
        return node.value
    if isinstance(node, ast.Name):
        if node.id in env:
            value = env[node.id]
            return value() if callable(value) else value   # computed on first use: `in_channels`
        if node.id in ("true", "false", "True", "False"):
            return node.id.lower() == "true"
        hint = did_you_mean(node.id, env) or f"the arguments here are: {', '.join(env) or 'none'}"
        raise SpecError(f"unknown argument '{node.id}' in '{text}'", hint=hint)
    if isinstance(node, ast.BinOp) and (type(node.op) in _BINARY or isinstance(node.op, ast.Div)):
        left, right = _eval(node.left, env, text), _eval(node.right, env, text)
        if isinstance(node.op, (ast.Div, ast.FloorDiv, ast.Mod)) and right == 0:
            raise SpecError(f"division by zero in '{text}'")
        if isinstance(node.op, ast.Pow) and abs(right) > 64:
            raise SpecError(f"exponent too large in '{text}'")
        op = _divide if isinstance(node.op, ast.Div) else _BINARY[type(node.op)]
        return op(left, right)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd, ast.Not)):
        value = _eval(node.operand, env, text)
        return {ast.USub: lambda v: -v, ast.UAdd: lambda v: v, ast.Not: lambda v: not v}[type(node.op)](value)
    if isinstance(node, ast.BoolOp):
        values = [_eval(v, env, text) for v in node.values]
        return all(values) if isinstance(node.op, ast.And) else any(values)
    if isinstance(node, ast.Compare) and all(type(op) in _COMPARE for op in node.ops):
        left = _eval(node.left, env, text)
        for op, right_node in zip(node.ops, node.comparators):
            right = _eval(right_node, env, text)
            if not _COMPARE[type(op)](left, right):
                return False
            left = right
        return True
    raise SpecError(f"'{text}' uses something other than arithmetic",
                    hint="expressions may use numbers, argument names, + - * / // % **, comparisons, and/or/not")


def substitute(value, env):
    """Replace `$name` and `${expr}` anywhere inside a YAML value."""
    if isinstance(value, str) and value.startswith("$"):
        if value.startswith("${") and value.endswith("}"):
            return evaluate(value[2:-1], env)
        return evaluate(value[1:], env)
    if isinstance(value, list):
        return _keep_lines(value, type(value)(substitute(v, env) for v in value))
    if isinstance(value, dict):
        return _keep_lines(value, type(value)((k, substitute(v, env)) for k, v in value.items()))
    return value


def _keep_lines(original, copy):
    """Carry LineDict/LineList line numbers over to the substituted copy."""
    if hasattr(original, "__dict__"):
        copy.__dict__.update(original.__dict__)
    return copy
