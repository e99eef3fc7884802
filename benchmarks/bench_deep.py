"""Time `archcalc summarize` on a 7,000-layer spec, whole process, against the bare-python floor.

    python benchmarks/bench_deep.py [--runs 7] [--blocks 1000] [--distinct] [--profile]

The spec is generated into a temporary file: one residual block of seven layers (conv, batchnorm,
relu, conv, batchnorm, add with the block's input, relu) repeated --blocks times, so 7 × 1,000 =
7,000 layers (DEEP_SPEC; 16 channels keep the shape constant, so identity shortcuts fit). Each measurement is a fresh process (import time counts, as
it does for a user); processes alternate archcalc / floor so load on the machine hits both alike.

Layers with the same options share one object, and the analyzer computes each (layer, input shapes)
once, so the repeated block above is the common case made cheap. --distinct measures the other
extreme: as many layers, written out one by one and each a different 1×1 convolution, so that nothing
is shared (DISTINCT_SPEC).

Goal (issue 11): under 0.4 s whole process. The per-layer cost printed is
(archcalc - floor) / layers, the part that grows with depth.

--profile runs cProfile in this process over load_spec, analyze and the table renderer on the same
spec and prints the top functions by own time, with µs per layer.
"""
import argparse
import cProfile
import io
import os
import pstats
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from processes import FLOOR, ROOT, alternating, archcalc_command

BLOCK_LAYERS = 7

DEEP_SPEC = """\
# {blocks} residual blocks of {block_layers} layers each: {layers} layers, identity shortcuts throughout.
name: deep_residual
input: [16, 8, 8]
blocks:
  res_block:
    layers:
      - conv2d: {{name: conv1, filters: 16, kernel: 3, padding: 1, bias: false}}
      - batchnorm: {{name: bn1}}
      - relu: {{name: relu1}}
      - conv2d: {{name: conv2, filters: 16, kernel: 3, padding: 1, bias: false}}
      - batchnorm: {{name: bn2}}
      - add: {{name: add, from: [bn2, input]}}
      - relu: {{name: relu2}}
layers:
  - res_block: {{name: block, repeat: {blocks}}}
"""


DISTINCT_SPEC = """\
# {layers} 1x1 convolutions, each with its own filter count: no two layers alike.
name: deep_distinct
input: [16, 8, 8]
layers:
"""


def write_spec(folder, blocks, distinct=False):
    layers = blocks * BLOCK_LAYERS
    path = Path(folder) / f"deep_{'distinct_' if distinct else ''}{blocks}.yaml"
    if distinct:
        text = DISTINCT_SPEC.format(layers=layers) + "".join(
            f"  - conv2d: {{filters: {8 + i}, kernel: 1}}\n" for i in range(layers))
    else:
        text = DEEP_SPEC.format(blocks=blocks, block_layers=BLOCK_LAYERS, layers=layers)
    path.write_text(text, encoding="utf-8")
    return path


def profile(spec, layers, top=25):
    from archcalc.analysis.analyzer import analyze
    from archcalc.report.tables import summary
    from archcalc.spec.graph import load_spec

    def work():
        graph = load_spec(str(spec))
        report = analyze(graph)
        return summary(report, "table")

    work()                                           # imports and first-call caches out of the way
    stages = {}
    for label, step in (("load_spec", lambda: load_spec(str(spec))),):
        start = time.perf_counter()
        graph = step()
        stages[label] = time.perf_counter() - start
    start = time.perf_counter()
    report = analyze(graph)
    stages["analyze"] = time.perf_counter() - start
    start = time.perf_counter()
    summary(report, "table")
    stages["summary (table)"] = time.perf_counter() - start
    print(f"stages, {layers} layers (no profiler):")
    for label, seconds in stages.items():
        print(f"  {label:<18} {seconds * 1e3:8.1f} ms  {seconds / layers * 1e6:7.1f} µs/layer")

    profiler = cProfile.Profile()
    profiler.enable()
    work()
    profiler.disable()
    stream = io.StringIO()
    stats = pstats.Stats(profiler, stream=stream)
    stats.sort_stats("tottime")
    rows = []
    for (filename, line, func), (cc, nc, tt, ct, _) in stats.stats.items():
        rows.append((tt, ct, nc, f"{os.path.relpath(filename, ROOT) if filename.startswith(str(ROOT)) else Path(filename).name}:{line}({func})"))
    rows.sort(reverse=True)
    total = sum(r[0] for r in rows)
    print(f"\ncProfile of load_spec + analyze + summary(table): {total * 1e3:.0f} ms under the profiler; "
          f"top {top} by own time")
    print(f"{'own µs/layer':>12} {'cum µs/layer':>12} {'calls':>9}  function")
    for tt, ct, nc, name in rows[:top]:
        print(f"{tt / layers * 1e6:>12.1f} {ct / layers * 1e6:>12.1f} {nc:>9}  {name}")
    stats.sort_stats("cumulative")
    print(f"\ntop {top} by cumulative time")
    cum = sorted(rows, key=lambda r: r[1], reverse=True)
    for tt, ct, nc, name in cum[:top]:
        print(f"{tt / layers * 1e6:>12.1f} {ct / layers * 1e6:>12.1f} {nc:>9}  {name}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=7, help="processes per measurement (median)")
    parser.add_argument("--blocks", type=int, default=1000, help="residual blocks (7 layers each)")
    parser.add_argument("--distinct", action="store_true", help="as many layers, no two alike (nothing shared)")
    parser.add_argument("--profile", action="store_true", help="cProfile the stages in-process instead")
    args = parser.parse_args()
    layers = args.blocks * BLOCK_LAYERS
    with tempfile.TemporaryDirectory() as folder:
        spec = write_spec(folder, args.blocks, args.distinct)
        check = subprocess.run(archcalc_command() + ["summarize", str(spec), "--format", "csv"],
                               capture_output=True, text=True, cwd=ROOT)
        if check.returncode:
            raise SystemExit(check.stderr)
        rows = len(check.stdout.strip().splitlines()) - 1       # header
        if args.profile:
            return profile(spec, layers)
        (deep, _), (bare, _) = alternating([archcalc_command() + ["summarize", str(spec)], FLOOR], args.runs)
    print(f"median of {args.runs} fresh processes each, alternating; {sys.executable}, load average "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    print(f"spec: {layers} distinct layers ({rows} CSV rows)" if args.distinct else
          f"spec: {args.blocks} residual blocks × {BLOCK_LAYERS} = {layers} layers ({rows} CSV rows)")
    print(f"{'archcalc summarize deep spec':<40} {deep:>8.3f} s")
    print(f"{'python -c import click, yaml, tabulate':<40} {bare:>8.3f} s")
    goal = ("issue 11's goal (< 0.4 s) is for the repeated block; this is the extreme where nothing is shared"
            if args.distinct else f"goal: < 0.4 s whole process ({'met' if deep < 0.4 else 'not met'})")
    print(f"ratio {deep / bare:.2f}×; per layer {(deep - bare) / layers * 1e6:.0f} µs above the floor; {goal}")


if __name__ == "__main__":
    main()
