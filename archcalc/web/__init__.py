"""The browser playground behind `archcalc serve`: a local web server (Python's standard library
http.server, on 127.0.0.1 only) and the page it serves from static/ (CodeMirror 5 vendored, MIT).

The page computes nothing: every number, table and drawing comes from the JSON endpoints in
server.py, which call the same library functions as the CLI and render with report.html.

May import: errors, i18n, spec, analysis, homework, report. Nothing imports archcalc.web but the CLI's
`serve` command, so the server stays off every other command's start-up.
"""
