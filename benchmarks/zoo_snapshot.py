"""Write every zoo spec's JSON outputs (summarize under each convention, --rf, memory in both modes,
explain) into a folder, so two builds can be diffed byte for byte: `python benchmarks/zoo_snapshot.py DIR`."""
import sys
from pathlib import Path

from click.testing import CliRunner

from archcalc.cli import main as cli
from archcalc.spec import zoo

COMMANDS = {
    "summary": ["summarize", "{}", "--format", "json", "--batch", "2"],
    "torch": ["summarize", "{}", "--format", "json", "--convention", "torch"],
    "thop": ["summarize", "{}", "--format", "json", "--convention", "thop"],
    "ptflops": ["summarize", "{}", "--format", "json", "--convention", "ptflops"],
    "fvcore": ["summarize", "{}", "--format", "json", "--convention", "fvcore"],
    "torchinfo": ["summarize", "{}", "--format", "json", "--convention", "torchinfo"],
    "rf": ["summarize", "{}", "--rf"],
    "memory": ["memory", "{}", "--format", "json"],
    "training": ["memory", "{}", "--format", "json", "--mode", "training", "--optimizer", "adam", "--batch", "4"],
    "cuda": ["memory", "{}", "--format", "json", "--mode", "training", "--device", "cuda"],
    "explain": ["explain", "{}"],
    "conventions": ["conventions", "{}", "--format", "json"],
}


def main(folder):
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    runner = CliRunner()
    for name in zoo.names():
        for label, args in COMMANDS.items():
            result = runner.invoke(cli, [a.format(name) for a in args])
            (out / f"{name}.{label}.txt").write_text(f"exit {result.exit_code}\n{result.output}")


if __name__ == "__main__":
    main(sys.argv[1])
