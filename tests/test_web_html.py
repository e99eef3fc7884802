"""`--format html` reports and the notebook representations: self-contained pages (no request when opened),
escaped text, and the numbers of the text renderers. Expected numbers are worked out by hand in comments."""
import re
from html.parser import HTMLParser

import pytest

import archcalc
from archcalc.analysis.memory import memory
from archcalc.homework.check import check_text
from archcalc.homework.compare import compare
from archcalc.homework.explain import explain
from conftest import run_cli


class Links(HTMLParser):
    """Every URL a page would fetch or link to, and its tags."""

    def __init__(self):
        super().__init__()
        self.urls, self.tags = [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.urls += [value for name, value in attrs if name in ("src", "href", "srcset", "action", "data")]


def assert_self_contained(page):
    links = Links()
    links.feed(page)
    assert page.startswith("<!doctype html>") and page.rstrip().endswith("</html>")
    assert "script" not in links.tags and "link" not in links.tags and "iframe" not in links.tags
    assert all(url.startswith(("data:", "#")) for url in links.urls), links.urls
    assert "@import" not in page and "url(http" not in page
    # the only http(s) text left is the SVG namespace, which is a name, not a request
    assert set(re.findall(r"https?://[^\s\"'<>]+", page)) <= {"http://www.w3.org/2000/svg"}
    return links


def test_summarize_html_file(tmp_path):
    target = tmp_path / "report.html"
    result = run_cli("summarize", "lenet5", "--format", "html", "-o", target)
    assert result.returncode == 0, result.stderr
    page = target.read_text(encoding="utf-8")
    links = assert_self_contained(page)
    # (5·5·1+1)·6 = 156 ... 61,706 params in all; 156·4 bytes... the totals: 61,706 × 4 = 246,824 bytes
    assert "<table" in page and "61,706 (61.7K)" in page and "246,824 bytes" in page
    assert 'data-layer="conv1"' in page and "<svg" in page                   # the inline diagram
    assert any(url.startswith("data:image/svg+xml;base64,") for url in links.urls)   # the charts (matplotlib)


def test_summarize_html_lists_warnings():
    page = run_cli("summarize", "mnist_cnn", "--format", "html").stdout
    # pool2 sees 11×11 and floors 11/2 to 5
    assert '<div class="warnings">' in page and "<b>pool2</b> (line 13)" in page


@pytest.mark.parametrize("args,expected", [
    (["memory", "mnist_cnn", "--mode", "training", "--optimizer", "adam", "--budget", "1GiB"],
     ["373,288 bytes", "746,576 bytes", "fits"]),            # 93,322 × 4; Adam 2 × 373,288
    (["compare", "mnist_fc", "mnist_cnn"], ["407,050", "93,322", "[22.9%]"]),   # 93,322 / 407,050
    (["explain", "alexnet", "--layer", "conv1"], ["(11·11·3 + 1)·96 = 34,944"]),
    (["zoo"], ["lenet5", "61,706"]),
    (["conventions", "lenet5"], ["thop", "fvcore"]),
])
def test_other_commands_write_html(tmp_path, args, expected):
    target = tmp_path / "out.html"
    result = run_cli(*args, "--format", "html", "-o", target)
    assert result.returncode == 0, result.stderr
    page = target.read_text(encoding="utf-8")
    assert_self_contained(page)
    for text in expected:
        assert text in page, text


def test_check_html_exit_status_and_diagnosis(tmp_path):
    answers = tmp_path / "answers.yaml"
    answers.write_text("layers:\n  conv2: {params: 614400}\n")
    target = tmp_path / "check.html"
    result = run_cli("check", "alexnet", answers, "--format", "html", "-o", target)
    page = target.read_text(encoding="utf-8")
    assert result.returncode == 1          # a wrong answer
    assert_self_contained(page)
    # (5·5·96 + 1)·256 = 614,656; 614,400 = 5·5·96·256 leaves the bias out
    assert '<span class="bad">✗</span>' in page and "614,656" in page and "bias left out" in page


def test_text_in_a_spec_is_escaped():
    spec = {"name": "<script>alert(1)</script>", "input": [4],
            "layers": [{"dense": {"name": "<img/src=x>", "units": 2}}]}
    report = archcalc.analyze(spec)
    for page in (report._repr_html_(), archcalc.report.html.summary_page(report)):
        assert "<script>" not in page and "<img/src=x>" not in page
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "&lt;img/src=x&gt;" in page


def test_every_report_object_renders_in_a_notebook():
    # mnist_fc: 784·512 + 512 = 401,920; 512·10 + 10 = 5,130; 407,050 in all
    objects = {
        "report": (archcalc.analyze("mnist_fc"), "407,050"),
        "memory": (memory("mnist_fc", budget="1MiB"), "largest batch that fits"),
        "comparison": (compare(["mnist_fc", "mnist_cnn"]), "[22.9%]"),
        "check": (check_text("mnist_fc", "totals: {params: 407050}\n"), "1 of 1 answers right"),
        "explanation": (explain("mnist_fc"), "Total params = 401,920 + 5,130 = 407,050"),
    }
    for name, (obj, text) in objects.items():
        html, markdown = obj._repr_html_(), obj._repr_markdown_()
        assert html.startswith('<div class="archcalc"><style>') and html.endswith("</div>"), name
        assert text in html, name
        assert markdown.startswith("## "), name
    assert objects["comparison"][0]["models"][0]["totals"]["params"] == 407_050     # still a plain dict
