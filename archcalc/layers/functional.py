"""Layers a torch model may write as a module (`nn.ReLU()`) or as a call (`F.relu(x)`): the same
arithmetic, counted differently by the tools that hook modules. thop counts only registered module types
(a call is invisible to it); ptflops hooks the module AND patches the torch.nn.functional call that the
module's forward makes, so a module counts twice where the bare call counts once. fvcore, torchinfo and
FlopCounterMode see the same ops either way.

A layer type that can be written both ways takes the option `functional: true` (from-torch sets it for a
call); its torch module is then `torch_modules.Functional`, a module no tool hooks, which makes the call.
"""
from .base import Option, boolean
from .counting import Rule

FUNCTIONAL = Option(boolean, default=False, aliases=("call",),
                    doc="the model calls torch.nn.functional (F.relu(x)) instead of holding a module: "
                        "thop and ptflops count it differently")

CALL_FORM = "; as a call (functional: true): "      # joins the two rules' texts (report.tables.rule_text splits it)


def module_or_call(module, call):
    """One tool's rule: `module` for the nn.Module form, `call` for `functional: true`."""
    return Rule(lambda layer, *args: (call if getattr(layer, "functional", False) else module).count(layer, *args),
                module.text + CALL_FORM + call.text)


def functional_module(name, *args, **kwargs):
    """The torch module of a layer written as a call: torch.nn.functional.<name>(x, *args, **kwargs)."""
    from .torch_modules import Functional
    return Functional(name, *args, **kwargs)
