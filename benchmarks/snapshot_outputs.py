"""Write every zoo spec's `summarize` output, in every format (and with --rf --train), to a folder, so two
versions of archcalc can be compared byte for byte:

    python benchmarks/snapshot_outputs.py /tmp/before    # on the old code
    python benchmarks/snapshot_outputs.py /tmp/after     # on the new code
    diff -r /tmp/before /tmp/after && echo identical

In-process through click's CliRunner (one interpreter for all specs), so it takes seconds.
"""
import sys
from pathlib import Path

from click.testing import CliRunner

from archcalc.cli import main

ROOT = Path(__file__).resolve().parent.parent
VARIANTS = {
    "table": ["--format", "table"], "markdown": ["--format", "markdown"], "csv": ["--format", "csv"],
    "json": ["--format", "json"], "json-rf-train": ["--format", "json", "--rf", "--train"],
    "table-rf-train": ["--rf", "--train"], "fvcore": ["--convention", "fvcore", "--format", "json"],
}


def snapshot(folder, extra_specs=()):
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    runner = CliRunner()
    specs = sorted((ROOT / "specs").glob("*.yaml")) + [Path(p) for p in extra_specs]
    for spec in specs:
        for label, options in VARIANTS.items():
            result = runner.invoke(main, ["summarize", str(spec), *options])
            (folder / f"{spec.stem}.{label}.txt").write_text(f"exit {result.exit_code}\n{result.output}",
                                                            encoding="utf-8")
    return len(specs) * len(VARIANTS)


if __name__ == "__main__":
    print(f"{snapshot(sys.argv[1], sys.argv[2:])} outputs written to {sys.argv[1]}")
