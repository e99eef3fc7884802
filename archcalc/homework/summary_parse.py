"""Read a pasted Keras `model.summary()` or torchinfo `summary()` table back into rows.

Keras 2 prints columns padded with spaces under `Layer (type)  Output Shape  Param #`, wrapping long
cells onto extra lines; Keras 3 draws the same columns with box characters (│ ┃). torchinfo prints
`Layer (type:depth-idx)  Output Shape  Param #` with a tree (├─, └─) and `--` for "no parameters".
Only the layer name/type, output shape and parameter count are read, plus the totals lines.
"""
import re
from dataclasses import dataclass, field

from ..errors import SpecError

KERAS, TORCHINFO = "keras", "torchinfo"
BOX = "│┃"
RULE = re.compile(r"^[\s=_━─┏┓┗┛┡┩└┘├┤┼╇┳┻┬┴]*$")
TOTAL = re.compile(r"^\s*(Total|Trainable|Non-trainable) params:\s*([\d,.]+\s*[KMGT]?)", re.IGNORECASE)
TOTAL_KEYS = {"total": "params", "trainable": "trainable_params", "non-trainable": "non_trainable_params"}


@dataclass
class SummaryRow:
    name: str            # Keras layer name or torchinfo var_name; "" when the table has none
    type: str            # class name: Conv2D, MaxPooling2D, Conv2d, Linear, ...
    shape: str           # as printed: "(None, 26, 26, 32)" or "[1, 32, 26, 26]"
    params: str          # as printed; "--" or "0" when none
    line: int
    depth: int = 1


@dataclass
class Summary:
    format: str
    header_line: int = 1
    rows: list = field(default_factory=list)
    totals: dict = field(default_factory=dict)      # params/trainable_params/non_trainable_params -> (text, line)


def detect(text):
    """KERAS, TORCHINFO, or None when the text has neither table header."""
    if re.search(r"Layer \(type[^)]*(:depth-idx|\(var_name\))", text):
        return TORCHINFO
    if "Layer (type)" in text:
        return KERAS
    return None


def parse_summary(text, file=None):
    kind = detect(text)
    if kind is None:
        raise SpecError("no `Layer (type)  Output Shape  Param #` header: not a Keras or torchinfo summary",
                        file=file, line=1, hint="paste the whole table including its header line")
    lines = text.splitlines()
    header = next(i for i, line in enumerate(lines) if "Layer (type" in line)
    missing = [title for title in ("Output Shape", "Param #") if title not in lines[header]]
    if missing:
        raise SpecError(f"the table's header has no {' and '.join(f'`{t}`' for t in missing)} "
                        f"column{'s' if len(missing) > 1 else ''}", file=file, line=header + 1,
                        hint="paste the whole table as Keras or torchinfo prints it, its header line included")
    summary = Summary(kind, header + 1)
    for number, line in enumerate(lines, 1):
        match = TOTAL.match(line.strip(" │┃"))
        if match:
            summary.totals[TOTAL_KEYS[match.group(1).lower()]] = (match.group(2).strip(), number)
    try:
        cells = split_box if any(ch in lines[header] for ch in BOX) else column_splitter(lines[header])
    except SpecError as err:
        raise err.located(file=file, line=header + 1) from None
    for number in range(header + 2, len(lines) + 1):
        line = lines[number - 1]
        if TOTAL.match(line.strip(" │┃")):
            break
        if RULE.match(line) or not line.strip(" │┃"):
            continue
        first, shape, params = cells(line)
        if not shape and not params and summary.rows:
            summary.rows[-1].name += first.strip()       # a long cell wrapped onto the next line
            continue
        summary.rows.append(SummaryRow(first, "", shape, params, number, tree_depth(first)))
    for row in summary.rows:
        row.name, row.type = name_and_type(row.name, kind, file, row.line)
    return summary


def split_box(line):
    parts = [p.strip() for p in re.split(f"[{BOX}]", line)[1:-1]]
    parts += [""] * (3 - len(parts))
    return parts[0], parts[1], parts[2]


def column_splitter(header):
    """Slice rows at the header's column starts (Keras 2 and torchinfo pad columns with spaces)."""
    shape_at, params_at = header.find("Output Shape"), header.find("Param #")
    if shape_at < 0 or params_at < shape_at:
        raise SpecError("the table's header does not have `Output Shape` before `Param #`",
                        hint="paste the whole table as Keras or torchinfo prints it, its header line included")
    rest = [header.index(title) for title in ("Connected to", "Mult-Adds", "Trainable", "Param %")
            if title in header and header.index(title) > params_at]
    end = min(rest) if rest else None

    def cells(line):
        return line[:shape_at].rstrip(), line[shape_at:params_at].strip(), line[params_at:end].strip()
    return cells


def tree_depth(cell):
    """torchinfo indents 5 characters per level: '├─' (ASCII '+ ') at 0 is depth 1, '│    └─' depth 2."""
    match = re.search("[├└+]", cell)
    return 0 if match is None else match.start() // 5 + 1


def name_and_type(cell, kind, file, line):
    text = re.sub(r"^[\s│|├└+─]*", "", cell).strip()
    text = re.sub(r":\s*\d+-\d+$", "", text)         # torchinfo's depth-idx
    match = re.match(r"^(\S+?)\s*\(([^()]+)\)$", text)
    if kind == KERAS:
        if not match:
            raise SpecError(f"cannot read the layer cell {text!r}; Keras writes `name (Type)`", file=file, line=line)
        return match.group(1), match.group(2)
    return (match.group(2), match.group(1)) if match else ("", text)
