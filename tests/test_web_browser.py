"""The playground in a real browser: Playwright driving Debian's headless Chromium against `archcalc serve`.

It types into the editor, waits for the table and the error marker to follow, clicks layers for their
worked arithmetic, works the memory and compare views, downloads a CSV, and takes a screenshot (kept at
$ARCHCALC_SCREENSHOT when set, e.g. docs/playground.png; otherwise in the test's temporary folder).
Skipped only when playwright or chromium is not installed (`.ci/run` installs both).
Expected numbers are worked out by hand in the comments (mnist_cnn: 28×28×1 input, channels_last).
"""
import os
import shutil
import struct
from pathlib import Path

import pytest

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install playwright)")
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(),
                                reason="chromium is not installed (apt-get install -y chromium)")



@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--headless"])
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, server):
    context = browser.new_context(viewport={"width": 1440, "height": 900}, accept_downloads=True)
    page = context.new_page()
    page.problems, page.requests = [], []
    page.on("pageerror", lambda error: page.problems.append(str(error)))
    # a spec error is answered 422, which Chromium logs; anything else on the console is a fault of the page
    page.on("console", lambda message: message.type == "error" and "status of 422" not in message.text
            and page.problems.append(message.text))
    page.on("request", lambda request: page.requests.append(request.url))
    page.goto(server.url)
    page.wait_for_selector("#tab-summary tr[data-layer]")
    yield page
    context.close()


def replace_in_editor(page, old, new):
    """Select `old` in the editor and type `new` over it, key by key, as a person would."""
    page.evaluate("""(old) => { const cm = window.archcalcEditor, at = cm.getValue().indexOf(old);
        if (at < 0) throw new Error("not in the editor: " + old);
        cm.focus(); cm.setSelection(cm.posFromIndex(at), cm.posFromIndex(at + old.length)); }""", old)
    page.keyboard.type(new, delay=5)


def row_text(page, layer):
    return page.inner_text(f'#tab-summary tr[data-layer="{layer}"]')


def wait_for_row(page, layer, text):
    page.wait_for_function("([layer, text]) => { const row = document.querySelector("
                           "`#tab-summary tr[data-layer=\"${layer}\"]`); return row && row.innerText.includes(text); }",
                           arg=[layer, text], timeout=15_000)


def wait_text(page, selector, text):
    """Until the element's text contains `text` (a function, not a string: the page's CSP forbids eval)."""
    page.wait_for_function("([selector, text]) => { const el = document.querySelector(selector); "
                           "return el && el.innerText.includes(text); }", arg=[selector, text], timeout=15_000)


def test_the_page_follows_the_editor_and_marks_errors_at_their_line(page, server):
    # fc2: 64·10 + 10 = 650 parameters
    assert "650" in row_text(page, "fc2")
    assert "(5, 5, 64)" in row_text(page, "conv3") or "(3, 3, 64)" in row_text(page, "conv3")
    # mnist_cnn's pool2 floors 11/2: a warning marker on its line (13)
    assert page.evaluate("window.archcalcEditor.lineInfo(12).gutterMarkers.errors.className") == "warning-marker"

    replace_in_editor(page, "units: 10}", "units: 20}")
    wait_for_row(page, "fc2", "1,300")                      # 64·20 + 20 = 1,300
    assert "(20)" in row_text(page, "fc2")
    totals = page.inner_text("#tab-summary table.totals")
    assert "93,972" in totals                               # 93,322 − 650 + 1,300

    # conv3 sees 5×5 (28 −2 = 26, /2 = 13, −2 = 11, /2 = 5): a 9×9 kernel does not fit, on line 14
    replace_in_editor(page, "conv3, filters: 64, kernel: 3", "conv3, filters: 64, kernel: 9")
    page.wait_for_selector(".line-widget-error", timeout=15_000)
    assert page.evaluate("window.archcalcEditor.lineInfo(13).gutterMarkers.errors.className") == "error-marker"
    widget = page.inner_text(".line-widget-error")
    assert "layer 'conv3'" in widget and "kernel 9 is larger than the padded input 5" in widget and "fix:" in widget
    assert page.inner_text("#state") == "error at line 14"
    assert "stale" in page.get_attribute("#tab-summary", "class")

    replace_in_editor(page, "kernel: 9", "kernel: 3")
    page.wait_for_selector(".line-widget-error", state="detached", timeout=15_000)
    assert page.evaluate("window.archcalcEditor.lineInfo(13).gutterMarkers") is None
    assert "stale" not in page.get_attribute("#tab-summary", "class")
    assert not page.problems, page.problems
    assert all(url.startswith(server.url) or url.startswith(("data:", "blob:")) for url in page.requests), \
        [url for url in page.requests if not url.startswith(server.url)]


def test_clicking_a_layer_shows_its_worked_arithmetic(page):
    page.click('#tab-summary tr[data-layer="conv2"]')
    # conv2: 3×3 kernels over conv1's 32 channels, 64 filters: (3·3·32 + 1)·64 = 18,496
    wait_text(page, "#explain", "(3·3·32 + 1)·64 = 18,496")
    assert "selected" in page.get_attribute('#tab-summary tr[data-layer="conv2"]', "class")
    # conv2's line (12) is highlighted in the editor
    assert "line-selected" in page.evaluate("window.archcalcEditor.lineInfo(11).bgClass")

    page.click('.tabs button[data-tab="diagram"]')
    page.click('#tab-diagram g.node[data-name="fc1"]')
    # fc1: 5·5·64 = 1,600 inputs? no: conv3 gives 3×3×64 = 576 inputs; 576·64 + 64 = 36,928
    wait_text(page, "#explain", "36,928")
    assert "fc1" in page.inner_text("#explain h4")


def test_memory_controls(page):
    page.click('.tabs button[data-tab="memory"]')
    page.wait_for_selector("#memory-result h3")
    page.select_option('#memory-controls select[name="mode"]', "training")
    page.select_option('#memory-controls select[name="optimizer"]', "adam")
    page.fill('#memory-controls input[name="budget"]', "1GiB")
    wait_text(page, "#memory-result", "largest batch that fits")
    text = page.inner_text("#memory-result")
    # 93,322 params × 4 bytes = 373,288; adam keeps 2 × 373,288 = 746,576
    assert "training step, adam" in text and "373,288 bytes" in text and "746,576 bytes" in text
    assert "batch 1 fits" in text
    page.fill('#memory-controls input[name="budget"]', "100KiB")    # 102,400 bytes < the parameters alone
    wait_text(page, "#memory-result", "does NOT fit")
    page.fill('#memory-controls input[name="budget"]', "plenty")
    page.wait_for_selector("#memory-problem:not([hidden])")
    assert "cannot read the memory budget 'plenty'" in page.inner_text("#memory-problem")


def test_charts_tab(page):
    pytest.importorskip("matplotlib")
    page.click('.tabs button[data-tab="charts"]')
    page.wait_for_selector('#charts-result img.chart[src^="data:image/svg+xml;base64,"]', timeout=30_000)
    assert page.evaluate("document.querySelector('#charts-result img.chart').naturalWidth") > 500


def test_compare_side_by_side(page):
    page.click('.tabs button[data-tab="compare"]')
    wait_text(page, "#compare-result", "vs")
    text = page.inner_text("#compare-result")
    # the editor's mnist_cnn against mnist_fc: 407,050 / 93,322 = 4.36×
    assert "mnist_cnn vs mnist_fc" in text and "93,322" in text and "407,050" in text and "4.36×" in text
    page.select_option('#compare-controls select[name="other"]', "lenet5")
    # lenet5: 61,706 / 93,322 = 0.661 -> 66.1%
    wait_text(page, "#compare-result", "66.1%")


def test_check_answers(page):
    page.click('.tabs button[data-tab="check"]')
    # conv2: (3·3·32 + 1)·64 = 18,496; 18,432 = 3·3·32·64 leaves the bias out
    page.fill("#answers", "layers:\n  conv1: {params: 320}\n  conv2: {params: 18432}\n")
    wait_text(page, "#check-result", "1 of 2 answers right")
    text = page.inner_text("#check-result")
    assert "✓" in text and "✗" in text and "18,496" in text and "bias left out" in text
    page.fill("#answers", "layers:\n  conv9: {params: 1}\n")
    page.wait_for_selector("#check-problem:not([hidden])")
    assert "conv9" in page.inner_text("#check-problem")


def test_open_from_the_zoo_and_download(page, tmp_path):
    page.select_option("#zoo", "lenet5")
    wait_for_row(page, "fc3", "850")                        # (84 + 1)·10 = 850
    assert page.inner_text("#filename") == "lenet5.yaml"
    with page.expect_download() as download:
        page.click('.downloads button[data-format="csv"]')
    path = tmp_path / download.value.suggested_filename
    download.value.save_as(path)
    lines = path.read_text().splitlines()
    assert path.name == "lenet5.csv" and lines[0].startswith("name,type,output_shape,params")
    assert lines[1].startswith("conv1,conv2d,6x28x28,156,")   # (5·5·1 + 1)·6 = 156
    with page.expect_download() as download:
        page.click('.downloads button[data-format="png"]')
    png = tmp_path / "diagram.png"
    download.value.save_as(png)
    assert download.value.suggested_filename == "lenet5.png" and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_screenshot(page, tmp_path):
    """The picture in docs/playground.md: ARCHCALC_SCREENSHOT=docs/playground.png regenerates it."""
    page.select_option("#zoo", "alexnet")
    wait_for_row(page, "fc8", "4,097,000")                  # 4096·1000 + 1000
    page.click('#tab-summary tr[data-layer="conv2"]')
    # conv2: (5·5·96 + 1)·256 = 614,656
    wait_text(page, "#explain", "614,656")
    target = Path(os.environ.get("ARCHCALC_SCREENSHOT") or tmp_path / "playground.png")
    page.screenshot(path=str(target))
    data = target.read_bytes()
    width, height = struct.unpack(">II", data[16:24])
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and (width, height) == (1440, 900) and len(data) > 50_000
