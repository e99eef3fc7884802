"""Write every zoo spec's outputs (summarize in every format, under each convention, with --rf --train;
memory in both modes; explain; conventions) into a folder, so two versions of archcalc can be compared
byte for byte:

    python benchmarks/zoo_snapshot.py /tmp/before [SPEC ...]    # on the old code; SPECs: extra files
    python benchmarks/zoo_snapshot.py /tmp/after [SPEC ...]     # on the new code
    diff -r /tmp/before /tmp/after && echo identical

In-process through click's CliRunner (one interpreter for all specs), so it takes seconds.
"""
import sys
from pathlib import Path

from click.testing import CliRunner

from archcalc.cli import main as cli
from archcalc.spec import zoo

COMMANDS = {
    "table": ["summarize", "{}"],
    "markdown": ["summarize", "{}", "--format", "markdown"],
    "csv": ["summarize", "{}", "--format", "csv"],
    "summary": ["summarize", "{}", "--format", "json", "--batch", "2"],
    "json-rf-train": ["summarize", "{}", "--format", "json", "--rf", "--train"],
    "table-rf-train": ["summarize", "{}", "--rf", "--train"],
    "torch": ["summarize", "{}", "--format", "json", "--convention", "torch"],
    "thop": ["summarize", "{}", "--format", "json", "--convention", "thop"],
    "ptflops": ["summarize", "{}", "--format", "json", "--convention", "ptflops"],
    "fvcore": ["summarize", "{}", "--format", "json", "--convention", "fvcore"],
    "torchinfo": ["summarize", "{}", "--format", "json", "--convention", "torchinfo"],
    "memory": ["memory", "{}", "--format", "json"],
    "training": ["memory", "{}", "--format", "json", "--mode", "training", "--optimizer", "adam", "--batch", "4"],
    "cuda": ["memory", "{}", "--format", "json", "--mode", "training", "--device", "cuda"],
    "explain": ["explain", "{}"],
    "conventions": ["conventions", "{}", "--format", "json"],
}


def snapshot(folder, extra_specs=()):
    """Every command's output for every zoo spec and each extra spec file; returns how many were written."""
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    runner = CliRunner()
    specs = [(name, name) for name in zoo.names()] + [(Path(p).stem, str(p)) for p in extra_specs]
    for stem, spec in specs:
        for label, args in COMMANDS.items():
            result = runner.invoke(cli, [a.format(spec) for a in args])
            (out / f"{stem}.{label}.txt").write_text(f"exit {result.exit_code}\n{result.output}", encoding="utf-8")
    return len(specs) * len(COMMANDS)


if __name__ == "__main__":
    print(f"{snapshot(sys.argv[1], sys.argv[2:])} outputs written to {sys.argv[1]}")
