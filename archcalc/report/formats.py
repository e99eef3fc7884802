"""Which renderer answers a `--format`: HTML pages come from report.html, every other format (table,
text, Markdown, CSV, JSON) from the text renderers in report.tables and report.homework.

The choice is made here, once, so that report.html may reuse the text renderers' helpers without the text
renderers importing it back: the modules of report form no import cycle. Imports stay lazy, so the
summarize path loads the table renderer only.
"""
from importlib import import_module

# what is rendered: (its text renderer, its HTML page), each "module:function" in archcalc.report
RENDERERS = {
    "summary": ("tables:summary", "html:summary_page"),
    "zoo": ("tables:zoo_table", "html:zoo_page"),
    "conventions": ("tables:conventions_table", "html:conventions_page"),
    "memory": ("tables:memory_report", "html:memory_page"),
    "explanation": ("homework:explanation", "html:explanation_page"),
    "comparison": ("homework:comparison", "html:comparison_page"),
    "check": ("homework:check_report", "html:check_page"),
}
HTML_IGNORES = ("width",)       # a page fills the browser window: there is no terminal width to fit


def render(what, obj, fmt, **options):
    """`obj` (a report, a check result, ...) as `fmt`; `options` are the text renderer's keywords, and
    the HTML page takes those it has (rf, train; the comparison's reports for its chart)."""
    text, page = RENDERERS[what]
    module, function = (page if fmt == "html" else text).split(":")
    renderer = getattr(import_module(f".{module}", __package__), function)
    if fmt == "html":
        return renderer(obj, **{k: v for k, v in options.items() if k not in HTML_IGNORES})
    return renderer(obj, fmt, **options)
