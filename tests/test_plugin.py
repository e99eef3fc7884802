"""The extension point: a separate distribution (tests/plugin_dist, found through importlib.metadata
on PYTHONPATH, as an installed package is) adds the layer type `square`; every command reads it
through the real CLI in a subprocess, without archcalc being edited."""
import json
import os
from pathlib import Path

import pytest

from conftest import run_cli

PLUGIN = Path(__file__).parent / "plugin_dist"
SPEC = """name: squared_net
input: [3, 8, 8]
layers:
  - conv2d: {name: conv, filters: 4, kernel: 3}
  - square: {name: sq}
  - flatten
  - dense: {name: fc, units: 10}
"""


def env():
    return {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(PLUGIN), os.environ.get("PYTHONPATH")]))}


@pytest.fixture
def spec(write_spec):
    return write_spec(SPEC)


def test_without_the_plugin_the_type_is_unknown(spec):
    result = run_cli("summarize", spec)
    assert result.returncode == 2 and "unknown layer type or block 'square'" in result.stderr


def test_summarize_counts_the_plugin_type(spec):
    result = run_cli("summarize", spec, "--format", "json", env=env())
    assert result.returncode == 0, result.stderr
    layers = {r["name"]: r for r in json.loads(result.stdout)["layers"]}
    assert layers["sq"]["type"] == "square" and layers["sq"]["output_shape"] == [4, 6, 6]
    assert layers["sq"]["flops"] == 4 * 6 * 6          # one multiply per element


def test_explain_conventions_schema_and_layers_list_it(spec):
    explained = run_cli("explain", spec, "--layer", "sq", env=env())
    assert explained.returncode == 0 and "4·6·6" in explained.stdout
    conventions = run_cli("conventions", spec, "--format", "json", env=env())
    assert conventions.returncode == 0 and "square" in json.loads(conventions.stdout)["rules"]
    schema = run_cli("schema", env=env())
    assert schema.returncode == 0 and '"squared"' in schema.stdout
    assert "square" in run_cli("layers", env=env()).stdout


def test_verify_and_from_torch_use_its_torch_module(spec, tmp_path):
    pytest.importorskip("torch")
    verified = run_cli("verify", spec, "--train", env=env())
    assert verified.returncode == 0, verified.stdout + verified.stderr
    imported = run_cli("from-torch", "archcalc_square.torch_module:model", "--input", "3x8x8",
                       "-o", tmp_path / "back.yaml", env=env())
    assert imported.returncode == 0, imported.stderr
    assert "square:" in (tmp_path / "back.yaml").read_text()
