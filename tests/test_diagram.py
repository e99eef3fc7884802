"""`archcalc diagram`: DOT text and SVG carry every layer, every edge and every residual skip."""
import re
import xml.etree.ElementTree as ET

import pytest

from conftest import run_cli

SVG = "{http://www.w3.org/2000/svg}"

# ResNet-50: stem conv1, bn1, relu, maxpool; 16 bottlenecks of 10 layers (conv/bn/relu ×2, conv3, bn3,
# add, relu3), 4 of them with a downsample conv + bn; then avgpool, flatten, fc.
RESNET50_LAYERS = 4 + 16 * 10 + 4 * 2 + 3
RESNET50_EDGES = RESNET50_LAYERS + 16          # one input each, plus the second input of every add
RESNET50_IDENTITY_SKIPS = 16 - 4               # adds whose shortcut is the previous block's output


def parse_dot(text):
    nodes = dict(re.findall(r'^\s*"([^"]+)" \[label="([^"]*)"', text, re.M))
    edges = re.findall(r'^\s*"([^"]+)" -> "([^"]+)";', text, re.M)
    return nodes, edges


@pytest.fixture(scope="module")
def resnet_dot():
    result = run_cli("diagram", "resnet50", "--format", "dot")
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_dot_has_every_layer_and_edge_of_resnet50(resnet_dot):
    assert resnet_dot.startswith('digraph "resnet50" {') and resnet_dot.rstrip().endswith("}")
    assert resnet_dot.count("{") == resnet_dot.count("}")
    nodes, edges = parse_dot(resnet_dot)
    assert len(nodes) == RESNET50_LAYERS + 1          # and the input
    assert len(edges) == RESNET50_EDGES
    assert all(a in nodes and b in nodes for a, b in edges)
    assert nodes["conv1"] == "conv1\\nconv2d (64, 112, 112)"
    assert nodes["fc"] == "fc\\ndense (1000)"


def test_dot_has_the_residual_skips(resnet_dot):
    _, edges = parse_dot(resnet_dot)
    skips = [(a, b) for a, b in edges if b.endswith(".add") and a.endswith(".relu3")]
    assert len(skips) == RESNET50_IDENTITY_SKIPS
    assert ("layer1.0.relu3", "layer1.1.add") in skips
    assert ("maxpool", "layer1.0.downsample_conv") in edges
    assert ("layer1.0.downsample_bn", "layer1.0.add") in edges
    assert 'subgraph "cluster_layer3.5"' in resnet_dot


def test_svg_is_well_formed_with_one_labelled_node_per_layer(tmp_path):
    out = tmp_path / "net.svg"
    result = run_cli("diagram", "resnet50", "-o", out)
    assert result.returncode == 0, result.stderr
    root = ET.parse(out).getroot()
    assert root.tag == SVG + "svg"
    nodes = [g for g in root.iter(SVG + "g") if g.get("class") == "node"]
    assert len(nodes) == RESNET50_LAYERS + 1
    labels = {g.get("data-name"): [t.text for t in g.iter(SVG + "text")] for g in nodes}
    assert labels["layer2.0.conv2"] == ["layer2.0.conv2", "conv2d (128, 28, 28)"]
    assert labels["input"] == ["input", "input (3, 224, 224)"]
    paths = [p for p in root.iter(SVG + "path") if p.get("data-to")]
    assert len(paths) == RESNET50_EDGES
    skips = [p for p in paths if p.get("class") == "skip"]
    assert len(skips) == RESNET50_IDENTITY_SKIPS
    assert {(p.get("data-from"), p.get("data-to")) for p in skips} >= {("layer1.0.relu3", "layer1.1.add")}


def test_svg_branches_stand_side_by_side(write_spec, tmp_path):
    spec = write_spec("""
input: [3, 16, 16]
layers:
  - conv2d: {name: stem, filters: 8, kernel: 3, padding: 1}
  - conv2d: {name: a, filters: 4, kernel: 1}
  - conv2d: {name: b, from: stem, filters: 4, kernel: 3, padding: 1}
  - concat: {name: join, from: [a, b]}
""")
    out = tmp_path / "branch.svg"
    assert run_cli("diagram", spec, "-o", out).returncode == 0
    root = ET.parse(out).getroot()
    boxes = {g.get("data-name"): g.find(SVG + "rect") for g in root.iter(SVG + "g") if g.get("class") == "node"}
    assert boxes["a"].get("y") == boxes["b"].get("y") and boxes["a"].get("x") != boxes["b"].get("x")
    assert float(boxes["join"].get("y")) > float(boxes["a"].get("y")) > float(boxes["stem"].get("y"))
    labels = [t.text for t in root.iter(SVG + "text")]
    assert "concat (8, 16, 16)" in labels


def test_format_follows_the_output_suffix(tmp_path):
    out = tmp_path / "net.dot"
    assert run_cli("diagram", "lenet5", "-o", out).returncode == 0
    assert out.read_text().startswith('digraph "lenet5"')


def test_an_image_suffix_is_bad_input_not_svg_text(tmp_path):
    out = tmp_path / "net.png"
    result = run_cli("diagram", "lenet5", "-o", out)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert f"error: cannot tell the diagram format of '{out}'" in result.stderr
    assert "--format dot | dot -Tpng" in result.stderr
    assert not out.exists()
