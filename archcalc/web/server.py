"""`archcalc serve`: the playground's HTTP server and its JSON endpoints.

Safe by default:
- it binds to 127.0.0.1 only (there is no option to bind elsewhere);
- it answers only requests whose Host is its own (127.0.0.1:PORT or localhost:PORT) and, when a
  browser sends an Origin, only its own origin: a page elsewhere, or a DNS-rebinding name that
  resolves to 127.0.0.1, gets 403;
- POST bodies must be JSON (application/json) of at most MAX_BODY bytes (413 otherwise, unread);
  a spec inside goes through the same loader as on the command line, so a YAML bomb gets the same
  bounded SpecError;
- it reads no file but its own static assets, the built-in zoo and the one spec named on the command
  line; it writes none: files the user opens are read by the browser and sent as text, downloads are
  made in the browser from the endpoints' answers.
"""
import json
import sys
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

from ..errors import SpecError, require_choice
from ..i18n import _

HOST = "127.0.0.1"
DEFAULT_PORT = 8765
MAX_BODY = 1_000_000          # bytes of one request; the largest zoo spec is under 10 kB
STATIC = Path(__file__).resolve().parent / "static"
EXPORTS = {"json": ("application/json", "json"), "csv": ("text/csv", "csv"),
           "markdown": ("text/markdown", "md"), "svg": ("image/svg+xml", "svg"), "html": ("text/html", "html")}
# Named here, not guessed from the system's table: with nosniff, a script served as text/plain would not run.
TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
         ".css": "text/css; charset=utf-8"}
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'; "
                               "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}


class Refused(Exception):
    """A request the server will not serve: an HTTP status and a message for the page."""

    def __init__(self, status, message, hint=None):
        super().__init__(message)
        self.status, self.message, self.hint = status, message, hint


def static_files():
    """URL path -> file, for every file shipped in static/: nothing else can ever be served."""
    files = {"/": STATIC / "index.html"}
    for path in STATIC.rglob("*"):
        if path.is_file():
            files["/static/" + path.relative_to(STATIC).as_posix()] = path
    return files


# ---- the endpoints: plain functions of the request's JSON, returning JSON-ready dicts

def graph_of(source):
    """The Graph of a spec sent by the page: {"spec": YAML text, "name": file name shown in errors}."""
    from ..spec.graph import build_graph
    from ..spec.yamlio import load_yaml
    if not isinstance(source, dict) or not isinstance(source.get("spec"), str):
        raise SpecError(_("the request names no spec text"),
                        hint=_("send {example}").format(example="{\"spec\": \"<YAML>\", \"name\": \"net.yaml\"}"))
    name = str(source.get("name") or "editor.yaml")[:200]
    return build_graph(load_yaml(source["spec"], file=name), file=name)


def number(body, key, default, minimum=1):
    value = body.get(key, default)
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise SpecError(_("{key} must be a whole number >= {minimum}, got {value}").format(key=key, minimum=minimum,
                                                                                          value=repr(value)))
    return value


def analysis(body):
    from ..analysis.analyzer import analyze
    return analyze(graph_of(body), batch=number(body, "batch", 1), dtype=str(body.get("dtype", "fp32")),
                   keras=bool(body.get("keras", False)))


def api_analyze(body):
    from ..report import html
    from ..report.diagram import to_svg
    report = analysis(body)
    return {"model": report.model, "html": html.summary_body(report), "diagram": to_svg(report),
            "layers": [{"name": r.name, "line": r.line} for r in report.layers],
            "warnings": report.warnings, "totals": report.to_dict()["totals"]}


def api_charts(body):
    """Per-layer parameters, FLOPs and activation memory (report.plots, needs matplotlib) as an <img>."""
    from ..report import html
    from ..report.plots import plot_layers
    image = html.chart(plot_layers, analysis(body))
    if image is None:
        raise SpecError(_("charts need matplotlib, which is not installed"),
                        hint=_("{command}  (or: {other})").format(command="pip install 'archcalc[plot]'",
                                                                   other="pip install matplotlib"))
    return {"html": image}


def api_explain(body):
    from ..homework.explain import explain
    from ..report import html
    layer = body.get("layer")
    if not isinstance(layer, str):
        raise SpecError(_("explain needs the name of a layer"), hint=_("click a row of the table"))
    exp = explain(graph_of(body), layer=layer)
    return {"layer": layer, "line": exp.layers[0].line, "html": html.explanation_body(exp)}


def api_memory(body):
    from ..analysis.memory import memory
    from ..report import html
    budget = body.get("budget") or None
    mode = str(body.get("mode", "inference"))
    optimizer = str(body.get("optimizer", "sgd")) if mode == "training" else None    # inference has none
    result = memory(graph_of(body), batch=number(body, "batch", 1), dtype=str(body.get("dtype", "fp32")),
                    mode=mode, optimizer=optimizer,
                    mixed_precision=bool(body.get("mixed_precision", False)), inplace=bool(body.get("inplace", False)),
                    budget=str(budget) if budget is not None else None, device=str(body.get("device", "cpu")))
    return {"html": html.memory_body(result), "peak_bytes": result.peak_bytes, "fits": result.fits,
            "max_batch": result.max_batch}


def api_compare(body):
    from ..analysis.analyzer import analyze
    from ..homework.compare import compare_reports
    from ..report import html
    sides = body.get("specs")
    if not isinstance(sides, list) or len(sides) != 2:
        raise SpecError(_("compare takes two specs"),
                        hint=_("send {example}").format(example="{\"specs\": [{\"spec\": ...}, {\"spec\": ...}]}"))
    batch, dtype = number(body, "batch", 1), str(body.get("dtype", "fp32"))
    reports = []
    for index, side in enumerate(sides):
        try:
            reports.append(analyze(graph_of(side), batch=batch, dtype=dtype))
        except SpecError as err:
            err.side = index           # which of the two the page should blame
            raise
    data = compare_reports(reports, [r.model for r in reports])
    return {"html": html.comparison_body(data) + "".join(
        f'<div class="side"><h4>{html.escape(r.model)}</h4>{html.layer_table(r)}</div>' for r in reports)}


def api_export(body):
    """The text of a download: the same renderers as `summarize --format` and `diagram`."""
    from ..report.diagram import to_svg
    from ..report.formats import render
    fmt = body.get("format")
    require_choice(fmt, EXPORTS, _("cannot export as {format}").format(format=repr(fmt)))
    report = analysis(body)
    text = to_svg(report) if fmt == "svg" else render("summary", report, fmt)
    mime, suffix = EXPORTS[fmt]
    return {"filename": f"{report.model}.{suffix}", "mime": mime, "text": text}


def api_check(body):
    from ..homework.check import check_answers, read_answers
    from ..report import html
    graph = graph_of(body)
    answers = body.get("answers")
    if not isinstance(answers, str):
        raise SpecError(_("check needs the answers as text"), hint=_("paste YAML answers or a Keras/torchinfo summary"))
    result = check_answers(graph, read_answers(answers, graph, file="answers"))
    return {"all_right": result.ok, "html": html.check_body(result)}


POST = {"/api/analyze": api_analyze, "/api/explain": api_explain, "/api/charts": api_charts, "/api/memory": api_memory,
        "/api/compare": api_compare, "/api/export": api_export, "/api/check": api_check}


def error_json(err):
    return {"message": err.message, "file": err.file, "line": err.line, "column": err.column,
            "layer": err.layer, "hint": err.hint, "text": str(err), "side": getattr(err, "side", None)}


class Playground:
    """What the server knows: its port (for the Host and Origin checks) and the spec it was started with."""

    def __init__(self, port, initial=None):
        self.port = port
        self.initial = initial or {"name": "mnist_cnn.yaml", "spec": zoo_text("mnist_cnn")}
        self.files = static_files()

    @property
    def hosts(self):
        return {f"{HOST}:{self.port}", f"localhost:{self.port}"}

    def check_origin(self, headers):
        host = headers.get("Host", "")
        if host not in self.hosts:
            raise Refused(HTTPStatus.FORBIDDEN, _("refused: Host '{host}' is not this server").format(host=host[:100]),
                          _("open {url}").format(url=f"http://{HOST}:{self.port}/"))
        origin = headers.get("Origin")
        if origin is not None and origin not in {f"http://{h}" for h in self.hosts}:
            raise Refused(HTTPStatus.FORBIDDEN, _("refused: Origin '{origin}' is not this server").format(
                origin=origin[:100]))

    def get(self, path):
        """(status, content type, bytes) for a GET."""
        if path == "/api/zoo":
            from ..spec.zoo import names
            return self.json({"names": names()})
        if path.startswith("/api/zoo/"):
            name = path[len("/api/zoo/"):]
            from ..spec.zoo import names
            if name not in names():
                raise Refused(HTTPStatus.NOT_FOUND, _("no built-in spec named '{name}'").format(name=name[:100]))
            return self.json({"name": f"{name}.yaml", "spec": zoo_text(name)})
        if path == "/api/initial":
            return self.json(self.initial)
        file = self.files.get(path)
        if file is None:
            raise Refused(HTTPStatus.NOT_FOUND, _("not found"))
        return HTTPStatus.OK, TYPES.get(file.suffix, "text/plain; charset=utf-8"), file.read_bytes()

    def post(self, path, body_bytes):
        handler = POST.get(path)
        if handler is None:
            raise Refused(HTTPStatus.NOT_FOUND, _("no such endpoint"))
        try:
            body = json.loads(body_bytes.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise Refused(HTTPStatus.BAD_REQUEST, _("the request body is not JSON")) from None
        if not isinstance(body, dict):
            raise Refused(HTTPStatus.BAD_REQUEST, _("the request body must be a JSON object"))
        try:
            return self.json({"ok": True, **handler(body)})
        except SpecError as err:
            return self.json({"ok": False, "error": error_json(err)}, HTTPStatus.UNPROCESSABLE_ENTITY)

    @staticmethod
    def json(data, status=HTTPStatus.OK):
        return status, "application/json; charset=utf-8", json.dumps(data).encode("utf-8")


def zoo_text(name):
    from ..errors import read_text
    from ..spec.zoo import find
    return read_text(find(name), "spec")


class Handler(BaseHTTPRequestHandler):
    server_version = "archcalc"
    sys_version = ""
    timeout = 30                 # seconds a connection may stay silent
    protocol_version = "HTTP/1.1"

    @property
    def app(self):
        return self.server.app

    def do_GET(self):
        self.respond(lambda: self.app.get(urlsplit(self.path).path))

    def do_HEAD(self):
        self.respond(lambda: self.app.get(urlsplit(self.path).path), head=True)

    def do_POST(self):
        def answer():
            if (self.headers.get("Content-Type") or "").split(";")[0].strip() != "application/json":
                raise Refused(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, _("send {type}").format(type="application/json"))
            length = self.headers.get("Content-Length")
            if length is None or not length.isdigit():
                raise Refused(HTTPStatus.LENGTH_REQUIRED, _("the request needs a Content-Length"))
            if int(length) > MAX_BODY:
                self.close_connection = True      # the body is left unread
                raise Refused(HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                              _("the request is {size} bytes; the limit is {limit}").format(
                                  size=f"{int(length):,}", limit=f"{MAX_BODY:,}"),
                              _("a spec is a few kilobytes: is this the right file?"))

            return self.app.post(urlsplit(self.path).path, self.rfile.read(int(length)))
        self.respond(answer)

    def respond(self, answer, head=False):
        try:
            self.app.check_origin(self.headers)
            status, kind, data = answer()
        except Refused as refusal:
            text = refusal.message + (f"\n  fix: {refusal.hint}" if refusal.hint else "")
            status, kind, data = Playground.json(
                {"ok": False, "error": {"message": refusal.message, "hint": refusal.hint, "text": text}},
                refusal.status)
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(data)))
        for name, value in SECURITY_HEADERS.items():
            self.send_header(name, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if not head:
            self.wfile.write(data)

    def log_message(self, format, *args):  # noqa: A002 - the stdlib's name
        if self.server.verbose:
            sys.stderr.write("archcalc serve: " + format % args + "\n")


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = False

    def __init__(self, port, initial=None, verbose=False):
        super().__init__((HOST, port), Handler)
        self.app = Playground(self.server_address[1], initial)
        self.verbose = verbose

    @property
    def url(self):
        return f"http://{HOST}:{self.app.port}/"


def make_server(spec=None, port=DEFAULT_PORT, verbose=False):
    """A Server on 127.0.0.1:port (a free port when port is 0, or when the default one is taken),
    with `spec` (a path or zoo name, read once now) in the editor; call serve_forever() on it."""
    initial = None
    if spec is not None:
        from ..errors import read_text
        from ..spec.graph import load_spec
        from ..spec.zoo import find
        load_spec(spec)                       # a missing file or a bad spec fails here, as on the CLI
        path = Path(spec) if Path(spec).is_file() else find(str(spec))
        initial = {"name": path.name, "spec": read_text(path, "spec")}
    try:
        return Server(port, initial, verbose)
    except OSError as err:
        if port == DEFAULT_PORT:
            return Server(0, initial, verbose)
        raise SpecError(_("cannot listen on {address}: {reason}").format(address=f"{HOST}:{port}",
                                                                         reason=err.strerror or err),
                        hint=_("choose another --port, or --port 0 for any free one")) from None


def serve(spec=None, port=DEFAULT_PORT, open_browser=True, verbose=False, ready=None):
    """Run the playground until interrupted; `ready(url)` is called once it listens."""
    server = make_server(spec, port, verbose)
    (ready or print)(server.url)
    if open_browser:
        import webbrowser
        threading.Timer(0.3, webbrowser.open, [server.url]).start()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
