"""Timing whole processes, as a user starts them: the archcalc command, the floor it is compared with,
and medians of runs that take turns (so a change in the machine's load falls on both alike)."""
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# the floor: starting Python with what the summarize path needs
FLOOR = [sys.executable, "-c", "import click, yaml, tabulate"]
# As a user runs it: with the bytecode cache (an environment that sets PYTHONDONTWRITEBYTECODE would make
# every archcalc process compile its own source, while click, yaml and tabulate come precompiled).
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def archcalc_command():
    script = Path(sys.executable).parent / "archcalc"
    found = str(script) if script.exists() else shutil.which("archcalc")
    return [found] if found else [sys.executable, "-m", "archcalc"]


def measure(command):
    """(wall seconds, peak RSS bytes) of one process; its output is discarded."""
    start = time.perf_counter()
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=ENV)
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - start
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode:
        raise SystemExit(f"{' '.join(command)} failed:\n{process.stderr.read().decode()}")
    process.stderr.close()
    return wall, usage.ru_maxrss * 1024          # Linux reports KiB


def medians(samples):
    """(median wall, median peak RSS) of measure()'s samples."""
    return statistics.median(s[0] for s in samples), statistics.median(s[1] for s in samples)


def alternating(commands, runs):
    """[(median wall, median peak RSS)] per command, the commands taking turns run by run."""
    samples = [[] for _ in commands]
    for command in commands:
        measure(command)            # warm-up, not counted: writes the bytecode cache, fills the OS file cache
    for _ in range(runs):
        for i, command in enumerate(commands):
            samples[i].append(measure(command))
    return [medians(s) for s in samples]
