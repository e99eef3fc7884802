"""`archcalc schema`: every zoo spec validates, and specs the loader rejects fail validation too."""
import json

import jsonschema
import pytest
import yaml

import archcalc
from archcalc.spec import zoo
from archcalc.layers import LAYER_TYPES
from archcalc.spec.schema import spec_schema
from archcalc.spec.graph import BLOCK_KEYS, ENTRY_KEYS, TOP_KEYS
from conftest import ROOT, run_cli


@pytest.fixture(scope="module")
def validator():
    schema = spec_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def test_cli_prints_the_schema(tmp_path):
    result = run_cli("schema")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == spec_schema()
    out = tmp_path / "spec.schema.json"
    assert run_cli("schema", "-o", out).returncode == 0
    assert json.loads(out.read_text()) == spec_schema()


@pytest.mark.parametrize("path", zoo.paths(), ids=lambda p: p.stem)
def test_every_zoo_spec_validates(validator, path):
    errors = [e.message for e in validator.iter_errors(yaml.safe_load(path.read_text()))]
    assert errors == []


def test_the_readme_quick_start_spec_validates(validator):
    text = (ROOT / "docs" / "getting-started.md").read_text(encoding="utf-8").split("copy it to `my_net.yaml`:\n\n<!-- archcalc file my_net.yaml -->\n```yaml\n", 1)[1].split("```", 1)[0]
    assert [e.message for e in validator.iter_errors(yaml.safe_load(text))] == []


def test_the_schema_has_the_loaders_keys():
    schema = spec_schema()
    assert set(schema["properties"]) == set(TOP_KEYS)
    assert set(schema["$defs"]["block"]["anyOf"][0]["properties"]) == set(BLOCK_KEYS)
    assert set(schema["$defs"]["meta"]["properties"]) == set(ENTRY_KEYS) - {"activation"}


def test_every_registered_type_and_option_is_in_the_schema():
    layers = spec_schema()["$defs"]["layers"]
    for cls in LAYER_TYPES:
        mapping = layers[cls.type_name]["anyOf"][0]
        for name, option in cls.options.items():
            for spelling in (name, *option.aliases):
                assert spelling in mapping["properties"], (cls.type_name, spelling)
        assert ("activation" in mapping["properties"]) == cls.accepts_activation


GOOD = {"input": [3, 32, 32], "layers": [{"conv2d": {"filters": 8, "kernel": 3}}, "relu", "flatten", {"dense": 10}]}

BAD = {
    "filters is not a number": {"input": [3, 32, 32], "layers": [{"conv2d": {"filters": "eight", "kernel": 3}}]},
    "unknown conv2d option": {"input": [3, 32, 32], "layers": [{"conv2d": {"filters": 8, "kernel": 3, "size": 2}}]},
    "kernel missing": {"input": [3, 32, 32], "layers": [{"conv2d": {"filters": 8}}]},
    "repeat 0": {"input": [3, 32, 32], "layers": [{"relu": {"repeat": 0}}]},
    "dropout rate 1": {"input": [10], "layers": [{"dropout": 1.0}]},
    "unknown top-level key": {"input": [10], "layers": ["relu"], "layer": []},
    "no layers": {"input": [10]},
    "unknown activation": {"input": [10], "layers": [{"dense": {"units": 4, "activation": "relu7"}}]},
}


def test_a_small_valid_spec_validates_and_loads(validator):
    assert list(validator.iter_errors(GOOD)) == []
    assert archcalc.analyze(GOOD).totals.params == (3 * 3 * 3 * 8 + 8) + (8 * 30 * 30 * 10 + 10)


@pytest.mark.parametrize("spec", BAD.values(), ids=BAD.keys())
def test_bad_specs_fail_validation_and_loading(validator, spec):
    assert list(validator.iter_errors(spec)), "the schema accepted a bad spec"
    with pytest.raises(archcalc.SpecError):
        archcalc.analyze(spec)


def test_block_arguments_may_stand_where_numbers_go(validator):
    spec = {"input": [3, 32, 32],
            "blocks": {"unit": {"args": {"width": None}, "layers": [
                {"conv2d": {"filters": "${width * 2}", "kernel": 3, "padding": "$pad"}}]}},
            "layers": [{"unit": {"width": 4}}]}
    assert list(validator.iter_errors(spec)) == []

