"""Bridges to real frameworks: build the torch model of a spec (torch_model), check every number
against PyTorch (verify), and import a torch model into a spec (from_torch).

May import everything below it (errors, i18n, units, layers, spec, analysis). torch is imported inside these
modules only, so nothing on the summarize path pays for it.
"""
