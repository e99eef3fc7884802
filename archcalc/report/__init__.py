"""Report: records -> text, JSON, CSV, Markdown, SVG/DOT diagrams and matplotlib charts.

May import: errors, i18n, units, version, layers (shape helpers), analysis (record types). Nothing here computes a count;
it formats what the analysis returned. matplotlib is imported only inside report.plots.
"""
