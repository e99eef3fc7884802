"""`$name` and `${expression}` in block bodies: arithmetic on block arguments, never code.

The expression is parsed with `ast` and walked by hand; only numbers, argument names,
arithmetic, comparisons and and/or/not are accepted, so nothing a spec says can run.
"""
import ast
import operator
import reprlib

from ..errors import SpecError
from ..layers.base import did_you_mean

_BINARY = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
    ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod, ast.Pow: operator.pow,
}
_COMPARE = {
    ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.Lt: operator.lt,
    ast.LtE: operator.le, ast.Gt: operator.gt, ast.GtE: operator.ge,
}
_ORDERING = (ast.Lt, ast.LtE, ast.Gt, ast.GtE)
MAX_EXPONENT = 64
TOO_LARGE = 2**63       # beyond any count in a network; every step stays fast
MAX_CHARS = 500         # an expression longer than this is refused before it is parsed
MAX_DEPTH = 100         # operators nested inside each other (checked before evaluation, which recurses)


def _divide(a, b):
    """`/` stays an integer when it divides evenly, so `${channels / 4}` can be a filter count."""
    if isinstance(a, int) and isinstance(b, int) and b and a % b == 0:
        return a // b
    return a / b


def evaluate(text, env):
    if len(text) > MAX_CHARS:
        raise SpecError(f"an expression of {len(text):,} characters ('{text[:40]}...')",
                        hint=f"expressions are at most {MAX_CHARS} characters; compute the value once, as a "
                             "block argument")
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except (SyntaxError, ValueError):
        raise SpecError(f"cannot read the expression '{text}'",
                        hint="use numbers, argument names, + - * / // % ** and comparisons") from None
    except (RecursionError, MemoryError):
        raise _too_deep(text) from None
    _check_depth(tree.body, text)
    return _eval(tree.body, env, text)


def _check_depth(root, text):
    """Refuse a tree nested deeper than MAX_DEPTH, walking it without recursion."""
    stack = [(root, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise _too_deep(text)
        stack.extend((child, depth + 1) for child in ast.iter_child_nodes(node))


def _too_deep(text):
    shown = text if len(text) <= 60 else text[:57] + "..."
    return SpecError(f"the expression '{shown}' nests operators more than {MAX_DEPTH} deep",
                     hint="split it: compute parts as block arguments")


def _eval(node, env, text):
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float, bool)):
        return _checked(node.value, text)
    if isinstance(node, ast.Name):
        if node.id in env:
            value = env[node.id]
            return value() if callable(value) else value   # computed on first use: `in_channels`
        if node.id in ("true", "false", "True", "False"):
            return node.id.lower() == "true"
        hint = did_you_mean(node.id, env) or f"the arguments here are: {', '.join(env) or 'none'}"
        raise SpecError(f"unknown argument '{node.id}' in '{text}'", hint=hint)
    if isinstance(node, ast.BinOp) and (type(node.op) in _BINARY or isinstance(node.op, ast.Div)):
        left, right = _number(_eval(node.left, env, text), text), _number(_eval(node.right, env, text), text)
        if isinstance(node.op, ast.Pow) and abs(right) > MAX_EXPONENT:
            raise SpecError(f"exponent too large in '{text}'", hint=f"exponents up to {MAX_EXPONENT} are allowed")
        op = _divide if isinstance(node.op, ast.Div) else _BINARY[type(node.op)]
        try:
            return _checked(op(left, right), text)
        except ZeroDivisionError:
            raise SpecError(f"division by zero in '{text}'",
                            hint="check the arguments that the expression divides by") from None
        except (OverflowError, MemoryError):
            raise _too_large(text) from None
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        value = _number(_eval(node.operand, env, text), text)
        return -value if isinstance(node.op, ast.USub) else value
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        return not _eval(node.operand, env, text)
    if isinstance(node, ast.BoolOp):
        values = [_eval(v, env, text) for v in node.values]
        return all(values) if isinstance(node.op, ast.And) else any(values)
    if isinstance(node, ast.Compare) and all(type(op) in _COMPARE for op in node.ops):
        left = _eval(node.left, env, text)
        for op, right_node in zip(node.ops, node.comparators):
            right = _eval(right_node, env, text)
            if isinstance(op, _ORDERING):
                _number(left, text)
                _number(right, text)
            if not _COMPARE[type(op)](left, right):
                return False
            left = right
        return True
    raise SpecError(f"'{text}' uses something other than arithmetic",
                    hint="expressions may use numbers, argument names, + - * / // % **, comparisons, and/or/not")


def _number(value, text):
    """An operand of arithmetic or of <, <=, >, >=: a number (true and false count as 1 and 0)."""
    if not isinstance(value, (int, float)):
        raise SpecError(f"'{text}' uses {reprlib.repr(value)}, which is not a number",
                        hint="arithmetic and comparisons work on numbers; check the value given to that argument")
    return value


def _checked(value, text):
    """A result that is a real number of a size a network can have."""
    if isinstance(value, complex):
        raise SpecError(f"'{text}' is not a real number (a negative number to a fractional power)",
                        hint="check the signs of the numbers and arguments in the expression")
    if value != value:      # NaN: inf - inf and the like
        raise SpecError(f"'{text}' is not a number (NaN)", hint="check the expression")
    if abs(value) >= TOO_LARGE:
        raise _too_large(text)
    return value


def _too_large(text):
    return SpecError(f"'{text}' is too large: archcalc's sizes and counts stay below 2^63",
                     hint="check the expression and the values of the arguments it uses")


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
