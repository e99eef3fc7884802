"""Shared test helpers: the installed CLI as a subprocess, and torch when it is installed."""
import ctypes
import gc
import os
import shutil
import subprocess
import sys
import traceback
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# The tests read English output whatever the machine's locale (LANG=ko_KR.UTF-8 would make it Korean);
# tests/test_i18n.py chooses its languages itself.
os.environ["ARCHCALC_LANG"] = "en"
SPECS = ROOT / "specs"

# Checks whose rule is per layer and the same at any input size run the deepest and widest zoo siblings at
# 96×96 instead of 224×224 (5.4× less compute and memory): 96 = 3·32 halves evenly through every
# stride-2 stage down to an odd 3×3, as 224 does down to 7×7. resnet18, resnet50, vgg16 and the rest
# keep their spec's input.
REDUCED_INPUT = {name: "3x96x96" for name in ("resnet34", "resnet101", "resnet152", "se_resnet50",
                                               "vgg16_bn", "vgg19")}
# The transformers' rules are per token and per pair of tokens, the same at any length: GPT-2 (context
# 1024) and BERT-base (512) run at 128 tokens, 64× and 16× fewer (h, n, n) scores. Their training peak is
# the same moment at 128 tokens as at full length (the end of backward, where the tied or largest
# embedding's gradients meet), so test_memory's check loses nothing.
REDUCED_INPUT.update({"gpt2": "128", "bert_base": "128"})



def hypothesis_examples(default):
    """Examples per hypothesis test: `default` (sized for the CI run), or ARCHCALC_HYPOTHESIS_EXAMPLES
    for every such test when set (`ARCHCALC_HYPOTHESIS_EXAMPLES=5000 pytest tests/test_property.py`)."""
    return int(os.environ.get("ARCHCALC_HYPOTHESIS_EXAMPLES", default))


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


def cli(*args, env=None):
    """The CLI in this process through click's CliRunner, returned like run_cli's CompletedProcess: the
    same command, options, output and exit status, without starting Python and importing torch again.
    Each command keeps at least one run_cli test. An exception escaping the command (what a user would
    see as a traceback) is written into stderr as one, so `"Traceback" not in stderr` still checks it."""
    from click.testing import CliRunner

    from archcalc.cli import main
    try:
        runner = CliRunner(mix_stderr=False)          # click < 8.2 mixes stderr into stdout unless told
    except TypeError:
        runner = CliRunner()                          # click >= 8.2 keeps them apart
    result = runner.invoke(main, [str(a) for a in args], env=env)
    stderr = result.stderr
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        stderr += "".join(traceback.format_exception(*result.exc_info))
    return subprocess.CompletedProcess(["archcalc", *map(str, args)], result.exit_code, result.stdout, stderr)


@pytest.fixture
def write_spec(tmp_path):
    """Write spec text to a real file and return its path."""
    def write(text, name="net.yaml"):
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        return path
    return write


def _rss_mib():
    try:
        with open("/proc/self/statm") as statm:          # Linux: pages; elsewhere nothing to do
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 2**20
    except (OSError, ValueError, IndexError):
        return 0


def _malloc_trim():
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


@pytest.fixture(autouse=True)
def _give_memory_back():
    """After a test that grew the process (a torch model of the zoo), collect the model's reference cycles
    (thop and ptflops hooks make some) and hand freed pages back to the OS, so the suite's peak is its
    largest test, not the sum of them. Only on growth: memory that stays (a leak) is not re-trimmed
    after every later test."""
    yield
    rss = _rss_mib()
    if rss > _after_cleanup[0] + RSS_GROWTH_MIB:
        gc.collect()
        _malloc_trim()
        _after_cleanup[0] = _rss_mib()


RSS_GROWTH_MIB = 256
_after_cleanup = [0]


@pytest.fixture(scope="module")
def server():
    """A playground on a free loopback port, serving in a thread for the tests of one module."""
    import threading

    from archcalc.web import server as web
    srv = web.make_server(port=0)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()
