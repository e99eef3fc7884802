"""`archcalc serve`: the real server on a loopback port, spoken to over real HTTP (http.client), so the
Host/Origin checks, the size limit and every endpoint are tested as a browser meets them. Expected numbers
are worked out by hand in the comments."""
import http.client
import json
import re
import subprocess
import time

import pytest

from archcalc.web import server as web
from conftest import SPECS, archcalc_command, run_cli

TINY = "name: tiny\ninput: [3, 32, 32]\nlayers:\n  - conv2d: {name: c1, filters: 8, kernel: 3}\n  - flatten\n" \
       "  - dense: {name: out, units: 10}\n"
# c1: (3·3·3 + 1)·8 = 224 params, 30×30×8 = 7,200 outputs; out: 7,200·10 + 10 = 72,010; 72,234 in all.


def request(srv, method, path, body=None, headers=None, raw=None):
    """(status, headers, parsed JSON or text) of one request; Host is the server's own unless given."""
    conn = http.client.HTTPConnection(web.HOST, srv.app.port, timeout=30)
    sent = {"Host": f"127.0.0.1:{srv.app.port}"}
    if body is not None:
        raw = json.dumps(body).encode()
        sent["Content-Type"] = "application/json"
    sent.update(headers or {})
    conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
    for name, value in sent.items():
        conn.putheader(name, value)
    if raw is not None and "Content-Length" not in sent:
        conn.putheader("Content-Length", str(len(raw)))
    conn.endheaders(raw)
    response = conn.getresponse()
    data = response.read()
    conn.close()
    kind = response.getheader("Content-Type", "")
    return response.status, response, json.loads(data) if kind.startswith("application/json") else data


def post(srv, path, body, **kwargs):
    return request(srv, "POST", path, body, **kwargs)


# ---- safety

def test_binds_to_loopback_only(server):
    assert server.server_address[0] == "127.0.0.1"
    assert server.url == f"http://127.0.0.1:{server.app.port}/"


@pytest.mark.parametrize("host", ["evil.example", "evil.example:{port}", "127.0.0.1:1", "192.168.1.5:{port}",
                                  "127.0.0.1.nip.io:{port}", ""])
def test_a_foreign_host_is_refused(server, host):
    """DNS rebinding: a name that resolves to 127.0.0.1 still sends its own name as Host."""
    status, _, data = request(server, "GET", "/", headers={"Host": host.format(port=server.app.port)})
    assert status == 403 and data["ok"] is False and "is not this server" in data["error"]["message"]
    status, _, _ = post(server, "/api/analyze", {"spec": TINY}, headers={"Host": host.format(port=server.app.port)})
    assert status == 403


@pytest.mark.parametrize("host", ["127.0.0.1:{port}", "localhost:{port}"])
def test_its_own_host_is_served(server, host):
    status, response, page = request(server, "GET", "/", headers={"Host": host.format(port=server.app.port)})
    assert status == 200 and b"archcalc playground" in page
    assert "default-src 'self'" in response.getheader("Content-Security-Policy")
    assert response.getheader("X-Content-Type-Options") == "nosniff"


def test_a_foreign_origin_is_refused_and_its_own_accepted(server):
    port = server.app.port
    for origin in ("http://evil.example", f"http://evil.example:{port}", "null", f"https://127.0.0.1:{port}"):
        status, _, data = post(server, "/api/analyze", {"spec": TINY}, headers={"Origin": origin})
        assert status == 403 and "Origin" in data["error"]["message"], origin
    for origin in (f"http://127.0.0.1:{port}", f"http://localhost:{port}"):
        status, _, data = post(server, "/api/analyze", {"spec": TINY}, headers={"Origin": origin})
        assert status == 200 and data["ok"], origin


def test_a_request_over_the_size_limit_is_refused_unread(server):
    """Only the headers go out: a server that read the body first would wait here until the timeout."""
    started = time.monotonic()
    status, _, data = request(server, "POST", "/api/analyze", headers={
        "Content-Type": "application/json", "Content-Length": str(web.MAX_BODY + 1)})
    assert status == 413 and "the limit is 1,000,000" in data["error"]["message"]
    assert time.monotonic() - started < 10


def test_a_yaml_bomb_gets_the_same_bounded_error_as_the_cli(server, write_spec):
    """A billion laughs: 9 aliases of 9 aliases ... ten levels would be 9^10 values; refused while measured."""
    levels = ["a0: &a0 [x, x, x, x, x, x, x, x, x]"]
    levels += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, 10)]
    bomb = "\n".join(levels) + "\nname: bomb\ninput: [3, 8, 8]\nlayers: [relu]\n"
    assert len(bomb) < 1000
    started = time.monotonic()
    status, _, data = post(server, "/api/analyze", {"spec": bomb, "name": "bomb.yaml"})
    assert time.monotonic() - started < 10
    assert status == 422 and "aliases (*name) expand this file to" in data["error"]["message"]
    cli = run_cli("summarize", write_spec(bomb, "bomb.yaml"))
    assert cli.returncode == 2
    assert data["error"]["message"] in cli.stderr and f"bomb.yaml:{data['error']['line']}" in cli.stderr


def test_only_shipped_files_are_served(server):
    for path in ("/static/../server.py", "/static/%2e%2e/server.py", "/etc/passwd", "/../../setup.cfg",
                 "/static/", "/api/zoo/../../setup"):
        status, _, _ = request(server, "GET", path)
        assert status == 404, path
    status, response, text = request(server, "GET", "/static/codemirror/LICENSE")
    assert status == 200 and b"MIT" in text or b"Permission is hereby granted" in text


def test_post_must_be_json(server):
    status, _, _ = request(server, "POST", "/api/analyze", raw=b"spec=x",
                           headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert status == 415
    status, _, data = request(server, "POST", "/api/analyze", raw=b"{not json",
                              headers={"Content-Type": "application/json"})
    assert status == 400 and data["error"]["message"] == "the request body is not JSON"


# ---- the endpoints: the same library as the CLI

def test_analyze_returns_the_table_totals_and_diagram(server):
    status, _, data = post(server, "/api/analyze", {"spec": TINY, "name": "tiny.yaml"})
    assert status == 200 and data["ok"]
    assert data["totals"]["params"] == 224 + 72_010
    assert 'data-layer="c1"' in data["html"] and "224" in data["html"] and "72,010" in data["html"]
    assert data["diagram"].startswith("<svg") and 'data-name="out"' in data["diagram"]
    assert data["layers"][0] == {"name": "c1", "line": 4}


def test_analyze_batch_and_dtype(server):
    # c1 outputs 8·30·30 = 7,200 values; at batch 4 in fp16: 7,200·4·2 = 57,600 bytes; plus flatten's view
    # (0) and out's 10·4·2 = 80: 57,680 bytes of activations.
    _, _, data = post(server, "/api/analyze", {"spec": TINY, "batch": 4, "dtype": "fp16"})
    assert data["totals"]["activation_bytes"] == 57_680


def test_a_bad_spec_names_its_line_and_fix(server):
    broken = TINY.replace("kernel: 3", "kernel: 33")       # 33 > 32: no room for the window
    status, _, data = post(server, "/api/analyze", {"spec": broken, "name": "tiny.yaml"})
    assert status == 422 and not data["ok"]
    error = data["error"]
    assert error["line"] == 4 and error["layer"] == "c1" and error["hint"]
    assert error["text"].startswith("tiny.yaml:4: layer 'c1': ")


def test_malformed_yaml_gets_the_clis_message(server, write_spec):
    broken = TINY.replace("  - flatten", "  - flatten: {")      # line 5; the parser stops on line 6's '-'
    _, _, data = post(server, "/api/analyze", {"spec": broken, "name": "bad.yaml"})
    assert data["error"]["line"] == 6 and data["error"]["message"].startswith("malformed YAML")
    cli = run_cli("summarize", write_spec(broken, "bad.yaml"))
    assert cli.returncode == 2 and data["error"]["text"] in cli.stderr


def test_explain_one_layer(server):
    _, _, data = post(server, "/api/explain", {"spec": (SPECS / "lenet5.yaml").read_text(), "layer": "conv1"})
    # lenet5 conv1: 5×5 kernels on 1 channel, 6 filters: (5·5·1 + 1)·6 = 156
    assert data["ok"] and "(5·5·1 + 1)·6 = 156" in data["html"] and data["line"] == 8   # lenet5.yaml line 8
    _, _, data = post(server, "/api/explain", {"spec": TINY, "layer": "c2"})
    assert not data["ok"] and "no layer named 'c2'" in data["error"]["message"]


def test_memory_with_budget(server):
    spec = (SPECS / "mnist_cnn.yaml").read_text()
    _, _, data = post(server, "/api/memory", {"spec": spec, "mode": "training", "optimizer": "adam",
                                              "budget": "1GiB", "batch": 2})
    # 93,322 params × 4 bytes = 373,288; adam keeps two more copies: 746,576
    assert data["ok"] and "373,288 bytes" in data["html"] and "746,576 bytes" in data["html"]
    assert data["fits"] is True and data["max_batch"] > 2 and "largest batch that fits" in data["html"]
    _, _, data = post(server, "/api/memory", {"spec": spec, "budget": "lots"})
    assert not data["ok"] and "cannot read the memory budget 'lots'" in data["error"]["message"]


def test_compare_two_specs(server):
    fc, cnn = ((SPECS / f"{name}.yaml").read_text() for name in ("mnist_fc", "mnist_cnn"))
    _, _, data = post(server, "/api/compare", {"specs": [{"spec": fc, "name": "mnist_fc.yaml"},
                                                         {"spec": cnn, "name": "mnist_cnn.yaml"}]})
    # 93,322 / 407,050 = 0.2293 -> 22.9%
    assert data["ok"] and "407,050" in data["html"] and "93,322" in data["html"] and "[22.9%]" in data["html"]
    _, _, data = post(server, "/api/compare", {"specs": [{"spec": fc}, {"spec": "input: [1]\nlayers: [nope]"}]})
    assert not data["ok"] and data["error"]["side"] == 1


@pytest.mark.parametrize("fmt,check", [
    ("json", lambda text: json.loads(text)["totals"]["params"] == 72_234),
    ("csv", lambda text: text.splitlines()[0].startswith("name,type,output_shape,params")
     and text.splitlines()[1].startswith("c1,conv2d,8x30x30,224,")),
    ("markdown", lambda text: text.startswith("## tiny: input (3, 32, 32)") and "| c1 " in text),
    ("svg", lambda text: text.startswith("<svg") and text.rstrip().endswith("</svg>")),
    ("html", lambda text: text.startswith("<!doctype html>") and "72,234" in text),
])
def test_exports(server, fmt, check):
    _, _, data = post(server, "/api/export", {"spec": TINY, "format": fmt})
    assert data["ok"] and data["filename"].startswith("tiny.") and check(data["text"])


def test_charts(server):
    pytest.importorskip("matplotlib")
    _, _, data = post(server, "/api/charts", {"spec": TINY})
    assert data["ok"] and data["html"].startswith('<img class="chart"') and "data:image/svg+xml;base64," in data["html"]


def test_check_answers(server):
    answers = "layers:\n  c1: {params: 224}\n  out: {params: 72000}\n"
    _, _, data = post(server, "/api/check", {"spec": TINY, "answers": answers})
    # out: 7,200·10 + 10 = 72,010, not 72,000
    assert data["ok"] and data["all_right"] is False
    assert "1 of 2 answers right" in data["html"] and "72,010" in data["html"]
    _, _, data = post(server, "/api/check", {"spec": TINY, "answers": "layers:\n  nope: {params: 1}\n"})
    assert not data["ok"] and "nope" in data["error"]["message"]


def test_zoo_endpoints(server):
    _, _, data = request(server, "GET", "/api/zoo")
    assert {"lenet5", "alexnet", "vgg16", "mnist_fc", "mnist_cnn"} <= set(data["names"])
    _, _, data = request(server, "GET", "/api/zoo/lenet5")
    assert data["name"] == "lenet5.yaml" and data["spec"] == (SPECS / "lenet5.yaml").read_text()
    status, _, _ = request(server, "GET", "/api/zoo/nope")
    assert status == 404


# ---- the command

def test_serve_help_ends_with_an_example():
    result = run_cli("serve", "--help")
    description = result.stdout.split("Options:")[0]
    assert result.returncode == 0 and description.rstrip().endswith("archcalc serve alexnet --port 8000")


def test_serve_a_missing_spec_is_a_clean_error():
    result = run_cli("serve", "no_such_spec", "--no-browser")
    assert result.returncode == 2 and "no spec file or built-in spec named 'no_such_spec'" in result.stderr
    assert "Traceback" not in result.stderr


def test_serve_runs_and_opens_the_given_spec(write_spec):
    path = write_spec(TINY, "mine.yaml")
    process = subprocess.Popen(archcalc_command() + ["serve", str(path), "--port", "0", "--no-browser"],
                               stderr=subprocess.PIPE, text=True)
    try:
        line = process.stderr.readline()
        port = int(re.search(r"http://127\.0\.0\.1:(\d+)/", line).group(1))
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        conn.request("GET", "/api/initial")
        data = json.loads(conn.getresponse().read())
        assert data == {"name": "mine.yaml", "spec": TINY}
    finally:
        process.terminate()
        process.wait(timeout=30)
