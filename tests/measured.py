"""What the real tools and torch's own profiler measure, called as their users call them: one place for
the tests that compare archcalc's conventions and memory model with them."""
import contextlib
import io
import logging
import warnings

import pytest


def quiet(call):
    """Run a tool (or a torchvision builder) that prints and warns freely."""
    logging.disable(logging.WARNING)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            return call()
    finally:
        logging.disable(logging.NOTSET)


def tool_count(tool, model, x):
    """thop's, ptflops', fvcore's or torchinfo's number for `model` on the batch `x`, as each tool's
    documented call gives it; ptflops always runs one sample, so its number is scaled to the batch."""
    if tool == "thop":
        thop = pytest.importorskip("thop")
        return int(quiet(lambda: thop.profile(model, inputs=(x,), verbose=False))[0])
    if tool == "ptflops":
        ptflops = pytest.importorskip("ptflops")
        per_sample, _ = quiet(lambda: ptflops.get_model_complexity_info(
            model, tuple(x.shape[1:]), as_strings=False, print_per_layer_stat=False,
            input_constructor=lambda shape: x[:1]))
        return per_sample * x.shape[0]
    if tool == "fvcore":
        fvcore = pytest.importorskip("fvcore.nn")
        analysis = fvcore.FlopCountAnalysis(model, x)
        analysis.unsupported_ops_warnings(False)
        analysis.uncalled_modules_warnings(False)
        return quiet(analysis.total)
    if tool == "torchinfo":
        torchinfo = pytest.importorskip("torchinfo")
        return quiet(lambda: torchinfo.summary(model, input_data=[x], device=x.device, verbose=0)).total_mult_adds
    raise AssertionError(f"not a tool: {tool}")


def cpu_peak(step):
    """Peak bytes that `step()` (a forward and backward) allocates on CPU, from the profiler's per-op
    memory accounting, each op's children replayed in order inside it."""
    from torch.profiler import ProfilerActivity, profile
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        step()
    live = peak = 0

    def walk(event):
        nonlocal live, peak
        before = live
        for child in sorted(event.cpu_children, key=lambda e: e.time_range.start):
            walk(child)
        live = before + event.cpu_memory_usage
        peak = max(peak, live)
    for event in sorted((e for e in prof.events() if e.cpu_parent is None), key=lambda e: e.time_range.start):
        walk(event)
    return peak
