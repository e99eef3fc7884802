"""`PACKAGE.MODULE:CALLABLE` on the command line (from-torch, from-keras): import the user's module, as
`python -m` would from where they stand, and take the model it names or builds. Importing and calling the
user's code is the point of these commands; a spec is never executed."""
import importlib
import inspect
import operator
import sys
from pathlib import Path

from ..errors import MissingExtra, SpecError


def build_target(target, model_class, *, what, example, framework, command):
    """The `model_class` instance that `target` names, or that calling it with no arguments returns. A
    module that fails to import because `framework` is missing is blamed on the install, not on the user."""
    module_name, _, attribute = target.partition(":")
    if not module_name or not attribute:
        raise SpecError(f"'{target}' is not PACKAGE.MODULE:CALLABLE", hint=f"e.g. {example}")
    if "" not in sys.path and str(Path.cwd()) not in sys.path:
        sys.path.insert(0, str(Path.cwd()))       # like `python -m`: modules beside you import
    try:
        module = importlib.import_module(module_name)
    except ImportError as err:
        if (err.name or "").split(".")[0] == framework:
            raise MissingExtra(framework, framework, command) from None
        raise SpecError(f"cannot import '{module_name}': {err}",
                        hint="run from the directory that holds the package, or install it") from None
    try:
        built = operator.attrgetter(attribute)(module)
    except AttributeError:
        raise SpecError(f"'{module_name}' has no attribute '{attribute}'") from None
    if not isinstance(built, model_class):
        if not callable(built):
            raise SpecError(f"'{target}' is neither a {what} nor callable")
        _check_callable_without_arguments(built, target)
        built = built()
    if not isinstance(built, model_class):
        raise SpecError(f"'{target}' returned {type(built).__name__}, not a {what}",
                        hint="point at a function or class that builds the model with no arguments")
    return built


def _check_callable_without_arguments(function, target):
    """CALLABLE is called with no arguments: say so plainly when it needs some (torch.nn:Conv2d)."""
    try:
        inspect.signature(function).bind()
    except TypeError as err:
        raise SpecError(f"'{target}' needs arguments ({err})",
                        hint="point at a function that builds the model, e.g. def build(): return Net(10)") from None
    except ValueError:
        pass        # no signature to read (a built-in): calling it will tell
