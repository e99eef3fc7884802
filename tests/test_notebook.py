"""docs/notebooks/archcalc_intro.ipynb runs top to bottom in a real Jupyter kernel (nbclient + ipykernel), and
its outputs hold the numbers a student should see, each worked out by hand below."""
import base64
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

NOTEBOOK = Path(__file__).resolve().parent.parent / "docs" / "notebooks" / "archcalc_intro.ipynb"


@pytest.fixture(scope="module")
def outputs(tmp_path_factory):
    """Each code cell's outputs, keyed by the cell's first source line; run in a temporary folder."""
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    folder = tmp_path_factory.mktemp("notebook")
    nbclient.NotebookClient(notebook, timeout=300, kernel_name="python3",
                            resources={"metadata": {"path": str(folder)}}).execute()
    return {cell.source.splitlines()[0]: cell.outputs for cell in notebook.cells if cell.cell_type == "code"}


def rich(outputs, first_line, kind="text/html"):
    (result,) = [o for o in outputs[first_line] if o.output_type == "execute_result"]
    return result["data"][kind]


def test_no_cell_fails(outputs):
    assert not [o for cell in outputs.values() for o in cell if o.output_type == "error"]


def test_a_report_is_a_table_with_its_diagram(outputs):
    html = rich(outputs, 'lenet = archcalc.analyze("lenet5")')
    # (5·5·1+1)·6 = 156; (5·5·6+1)·16 = 2,416; 401·120 = 48,120; 121·84 = 10,164; 85·10 = 850: 61,706
    assert "<table" in html and "61,706" in html and "2,416" in html and "48,120" in html
    assert "<details><summary>Diagram</summary>" in html and "<svg" in html
    markdown = rich(outputs, 'lenet = archcalc.analyze("lenet5")', "text/markdown")
    assert markdown.startswith("## lenet5: input (1, 32, 32)") and "| Total params | 61,706 (61.7K) |" in markdown


def test_the_course_networks(outputs):
    text = "".join(o.get("text", "") for o in outputs['for name in ("lenet5", "alexnet", "vgg16"):'])
    # AlexNet: 34,944 + 614,656 + 885,120 + 1,327,488 + 884,992 + 37,752,832 + 16,781,312 + 4,097,000
    # VGG-16: 14,714,688 in its 13 convs + 102,764,544 + 16,781,312 + 4,097,000 in its 3 dense layers
    assert "61,706 params" in text and "62,378,344 params" in text and "138,357,544 params" in text
    html = rich(outputs, 'archcalc.analyze("alexnet", batch=32, dtype="fp16")')
    assert "batch 32, fp16" in html and "124,756,688 bytes" in html        # 62,378,344 × 2 bytes


def test_explain_compare_memory_and_check(outputs):
    assert "(11·11·3 + 1)·96 = 34,944" in rich(outputs, "from archcalc.homework.explain import explain")
    compared = rich(outputs, "from archcalc.homework.compare import compare")
    assert "407,050" in compared and "93,322" in compared and "[22.9%]" in compared   # 93,322 / 407,050
    memory = rich(outputs, "from archcalc.analysis.memory import memory")
    # 138,357,544 params × 4 bytes = 553,430,176, once for the weights and once for their gradients;
    # Adam keeps two more copies: 1,106,860,352
    assert "553,430,176 bytes" in memory and "1,106,860,352 bytes" in memory and "fits" in memory
    checked = rich(outputs, "from archcalc.homework.check import check_text")
    # conv2 (5·5·96 + 1)·256 = 614,656; 614,400 is 5·5·96·256, the bias left out
    assert "3 of 4 answers right" in checked and "614,656" in checked and "bias left out" in checked


def test_a_chart_is_a_figure(outputs):
    pytest.importorskip("matplotlib")
    png = rich(outputs, "from IPython.display import Image", "image/png")
    assert base64.b64decode(png)[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_diagram_alone_is_svg(outputs):
    assert rich(outputs, "from IPython.display import SVG", "image/svg+xml").lstrip().startswith("<svg")
