"""Plain-text and GitHub-Markdown tables, written here because `summarize` prints thousands of rows and
importing and running tabulate costs more than the whole analysis. The output is tabulate's `simple` and
`github` formats (with disable_numparse) byte for byte: tests/test_grid.py checks that against tabulate.
Cells are text; East Asian wide characters count two columns, as in a terminal."""
import unicodedata

MIN_PADDING = 2        # tabulate's: a column is at least two wider than its header


def width(text):
    """Columns a string takes in a terminal: wide and full-width characters (Korean, Chinese) take two."""
    if text.isascii():
        return len(text)
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 0 if unicodedata.combining(ch) else 1
               for ch in text)


def _pad(text, size, align):
    gap = size - width(text)
    if align == "right":
        return " " * gap + text
    if align == "center":
        return " " * (gap // 2) + text + " " * (gap - gap // 2)
    return text + " " * gap


def table(rows, headers, style="simple", colalign=None):
    """`rows` of cells (None prints empty) under `headers`; style 'simple' (the terminal) or 'github'."""
    headers = [str(h) for h in headers]
    rows = [["" if cell is None else str(cell) for cell in row] for row in rows]
    columns = len(headers)
    rows = [row + [""] * (columns - len(row)) for row in rows]
    align = list(colalign or ()) + ["left"] * (columns - len(colalign or ()))
    if not rows:
        align = ["left"] * columns       # tabulate aligns the headers of an empty table to the left
    sizes = [max([width(h) + MIN_PADDING] + [width(row[i]) for row in rows]) for i, h in enumerate(headers)]

    def line(cells):
        padded = [_pad(cell, size, a) for cell, size, a in zip(cells, sizes, align)]
        if style == "github":
            return "| " + " | ".join(padded) + " |"
        return "  ".join(padded).rstrip()

    if style == "github":
        rule = "|" + "|".join("-" * (size + 2) for size in sizes) + "|"
    elif style == "simple":
        rule = "  ".join("-" * size for size in sizes)
    else:
        raise ValueError(f"unknown table style {style!r}")
    return "\n".join([line(headers), rule] + [line(row) for row in rows])
