"""Plain-text and GitHub-Markdown tables, written here because `summarize` prints thousands of rows and
importing and running tabulate costs more than the whole analysis. The output is tabulate's `simple` and
`github` formats (with disable_numparse) byte for byte: tests/test_grid.py checks that against tabulate.
Cells are text, possibly of several lines; East Asian wide characters count two columns, as in a terminal."""
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


def _padded(cells, size, align):
    """One column's cells padded to `size` columns; plain ASCII columns (nearly all) by str's own padding."""
    if align != "center" and "".join(cells).isascii():
        pad = str.rjust if align == "right" else str.ljust
        return [pad(cell, size) for cell in cells]
    return [_pad(cell, size, align) for cell in cells]


def _widest(cells):
    return max(map(len if "".join(cells).isascii() else width, cells), default=0)


def _folded(cells):
    """A row of multi-line cells as the lines it prints: as many as its tallest cell, shorter cells
    padded below (a row of empty cells then takes none)."""
    split = [cell.splitlines() for cell in cells]
    height = max(len(lines) for lines in split)
    return [[lines[k] if k < len(lines) else "" for lines in split] for k in range(height)]


def table(rows, headers, style="simple", colalign=None):
    """`rows` of cells (None prints empty) under `headers`; style 'simple' (the terminal) or 'github'."""
    if style not in ("simple", "github"):
        raise ValueError(f"unknown table style {style!r}")
    headers = [str(h) for h in headers]
    columns = len(headers)
    rows = [["" if cell is None else str(cell).strip() for cell in row] + [""] * (columns - len(row))
            for row in rows]                                                # tabulate strips cells
    align = list(colalign or ()) + ["left"] * (columns - len(colalign or ()))
    if not rows:
        align = ["left"] * columns       # tabulate aligns the headers of an empty table to the left
    # With a line break anywhere, tabulate folds each row into as many lines as its tallest cell;
    # without one, every row is one line.
    if any("\n" in cell for cell in headers) or any("\n" in cell for row in rows for cell in row):
        head, body = _folded(headers), [line for row in rows for line in _folded(row)]
    else:
        head, body = [headers], rows
    head_columns = list(zip(*head)) or [()] * columns
    body_columns = list(zip(*body)) or [()] * columns
    sizes = [max(_widest(titles) + MIN_PADDING, _widest(cells)) for titles, cells in zip(head_columns, body_columns)]
    padded = [_padded(list(titles) + list(cells), size, a)
              for titles, cells, size, a in zip(head_columns, body_columns, sizes, align)]
    if style == "github":
        lines = ["| " + " | ".join(cells) + " |" for cells in zip(*padded)]
        rule = "|" + "|".join("-" * (size + 2) for size in sizes) + "|"
    else:
        lines = ["  ".join(cells).rstrip() for cells in zip(*padded)]
        rule = "  ".join("-" * size for size in sizes)
    return "\n".join(lines[:len(head)] + [rule] + lines[len(head):])
