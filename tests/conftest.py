"""Shared test helpers: the installed CLI as a subprocess, and torch when it is installed."""
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SPECS = ROOT / "specs"


def archcalc_command():
    """The installed `archcalc` script beside this interpreter, else `python -m archcalc`."""
    script = Path(sys.executable).parent / "archcalc"
    if script.exists():
        return [str(script)]
    found = shutil.which("archcalc")
    return [found] if found else [sys.executable, "-m", "archcalc"]


def run_cli(*args, **kwargs):
    """Run the real CLI in a subprocess and return the CompletedProcess."""
    return subprocess.run(archcalc_command() + [str(a) for a in args], capture_output=True, text=True,
                          timeout=120, **kwargs)


@pytest.fixture
def write_spec(tmp_path):
    """Write spec text to a real file and return its path."""
    def write(text, name="net.yaml"):
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        return path
    return write
