"""The layer reference in the docs is generated from the registry (`archcalc layers --format markdown`);
this fails when a layer type, an option, a counting rule or a saved-tensor rule changes and the page was
not regenerated."""
from pathlib import Path

from archcalc.report.tables import layer_reference_markdown

PAGE = Path(__file__).resolve().parent.parent / "docs" / "layers.md"


def test_layer_reference_page_is_current():
    assert PAGE.read_text(encoding="utf-8") == layer_reference_markdown() + "\n", \
        "docs/layers.md is stale: run `archcalc layers --format markdown -o docs/layers.md`"
