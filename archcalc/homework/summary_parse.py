"""Read a pasted Keras `model.summary()` or torchinfo `summary()` table back into rows.

Keras 1 and early Keras 2 print columns padded with spaces under `Layer (type)  Output Shape  Param #`
and cut a cell that is too long (`max_pooling2d_1 (MaxPooling2`); later Keras 2 wraps long cells onto
extra lines; Keras 3 draws the same columns with box characters (│ ┃), wraps long names and shapes onto
a second line and ends a cell it still has to cut with "…". A cut type is matched to the one
Keras class it begins (with the layer's default name to tell MaxPooling1D from MaxPooling2D). Rows
pasted from slides or PDFs, with tabs or single spaces between the cells, are read by the shape
`(None, 26, 26, 32)` in the middle. torchinfo prints `Layer (type:depth-idx)  Output Shape  Param #`
with a tree (├─, └─) and `--` for "no parameters". Only the layer name/type, output shape and
parameter count are read, plus the totals lines.
"""
import re
from dataclasses import dataclass, field

from ..errors import SpecError
from ..i18n import _

KERAS, TORCHINFO = "keras", "torchinfo"
BOX = "│┃"
RULE = re.compile(r"^[\s=_━─┏┓┗┛┡┩└┘├┤┼╇┳┻┬┴]*$")
TOTAL = re.compile(r"^\s*(Total|Trainable|Non-trainable) params:\s*([\d,.]+\s*[KMGT]?)", re.IGNORECASE)
TOTAL_KEYS = {"total": "params", "trainable": "trainable_params", "non-trainable": "non_trainable_params"}
SHAPE = re.compile(r"\[?\((?:None|\d+)(?:\s*,\s*(?:None|\d+))*\s*,?\s*\)\]?|\[\d+(?:\s*,\s*\d+)*\]")

# Keras layer classes a summary can name (Keras 1, 2 and 3), so a cut-off type cell can be completed.
KERAS_CLASSES = (
    "Activation", "ActivityRegularization", "Add", "AdditiveAttention", "AlphaDropout", "Attention",
    "Average", "AveragePooling1D", "AveragePooling2D", "AveragePooling3D", "BatchNormalization",
    "Bidirectional", "CategoryEncoding", "CenterCrop", "Concatenate", "Conv1D", "Conv1DTranspose", "Conv2D",
    "Conv2DTranspose", "Conv3D", "Conv3DTranspose", "ConvLSTM2D", "Convolution1D", "Convolution2D",
    "Convolution3D", "Cropping1D", "Cropping2D", "Cropping3D", "Deconvolution2D", "Dense", "DepthwiseConv1D",
    "DepthwiseConv2D", "Dot", "Dropout", "ELU", "Embedding", "Flatten", "GRU", "GaussianDropout",
    "GaussianNoise", "GlobalAveragePooling1D", "GlobalAveragePooling2D", "GlobalAveragePooling3D",
    "GlobalMaxPooling1D", "GlobalMaxPooling2D", "GlobalMaxPooling3D", "GroupNormalization", "InputLayer",
    "LSTM", "Lambda", "LayerNormalization", "LeakyReLU", "LocalResponseNorm", "Masking", "MaxPooling1D",
    "MaxPooling2D", "MaxPooling3D", "Maximum", "Minimum", "MultiHeadAttention", "Multiply", "PReLU",
    "Permute", "ReLU", "RepeatVector", "Rescaling", "Reshape", "Resizing", "SeparableConv1D",
    "SeparableConv2D", "SimpleRNN", "Softmax", "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D",
    "Subtract", "UpSampling1D", "UpSampling2D", "UpSampling3D", "ZeroPadding1D", "ZeroPadding2D",
    "ZeroPadding3D", "Functional", "Sequential", "Model", "TFOpLambda", "SlicingOpLambda",
)


@dataclass
class SummaryRow:
    name: str            # Keras layer name or torchinfo var_name; "" when the table has none
    type: str            # class name: Conv2D, MaxPooling2D, Conv2d, Linear, ...; a cut-off one completed
    shape: str           # as printed: "(None, 26, 26, 32)" or "[1, 32, 26, 26]"
    params: str          # as printed; "--" or "0" when none
    line: int
    depth: int = 1
    cut: str = ""        # the type as printed when Keras cut it off ("MaxPooling2"), else ""


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
        raise SpecError(_("no `Layer (type)  Output Shape  Param #` header: not a Keras or torchinfo summary"),
                        file=file, line=1, hint=_("paste the whole table including its header line"))
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
    if kind == KERAS:
        cells = keras_cells(cells)
    for number in range(header + 2, len(lines) + 1):
        line = lines[number - 1]
        if TOTAL.match(line.strip(" │┃")):
            break
        if RULE.match(line) or not line.strip(" │┃"):
            continue
        first, shape, params = cells(line)
        if not params and summary.rows and (not shape or kind == KERAS):
            summary.rows[-1].name += first.strip()       # long cells wrapped onto the next line
            summary.rows[-1].shape += shape
            continue
        summary.rows.append(SummaryRow(first, "", shape, params, number, tree_depth(first)))
    for row in summary.rows:
        row.name, row.type, whole = name_and_type(row.name, kind, file, row.line)
        if not whole:
            row.cut, row.type = row.type, complete_type(row.type, row.name, file, row.line)
    return summary


def keras_cells(columns):
    """Cells of a Keras row: by tabs when it has them, else by the header's columns, else (cells pasted
    with single spaces) around the shape: everything before it is the layer, the number after it the params."""
    def cells(line):
        if "\t" in line:
            parts = [p.strip() for p in line.split("\t") if p.strip()]
            if len(parts) >= 3:
                return parts[0], parts[1], parts[2]
        first, shape, params = columns(line)
        if any(ch in line for ch in BOX):
            return first, shape, params                  # Keras 3's boxes say where each cell is
        if (shape and not SHAPE.fullmatch(shape)) or (not shape and SHAPE.search(first)):
            found = SHAPE.search(line)
            if found:
                after = line[found.end():].replace("│", " ").split()
                return line[:found.start()].rstrip(" \t│┃"), found.group(0), after[0] if after else ""
        return first, shape, params
    return cells


def snake(name):
    """Keras's default layer name for a class: MaxPooling2D -> maxpooling2d (underscores ignored)."""
    return name.lower().replace("_", "")


def complete_type(prefix, name, file, line):
    """The Keras class a cut-off type cell begins; the layer's default name (max_pooling2d_1) decides
    between MaxPooling1D and MaxPooling2D. An error naming the candidates when it stays ambiguous."""
    candidates = [c for c in KERAS_CLASSES if c.lower().startswith(prefix.lower())]
    base = snake(re.sub(r"_\d+$", "", name))
    named = [c for c in candidates if snake(c) == base]
    if len(named) == 1 or len(candidates) == 1:
        return (named or candidates)[0]
    if not prefix:
        raise SpecError(_("the layer cell '{name} (' was cut off before its type").format(name=name), file=file,
                        line=line, hint=_("write the type in full, e.g. `max_pooling2d_1 (MaxPooling2D)`"))
    if not candidates:
        return prefix
    from ..layers import lookup
    listed = ", ".join(candidates[:-1]) + f" or {candidates[-1]}"
    known = sorted((c for c in candidates if lookup(c)), key=lambda c: "2D" not in c)   # the course's 2-D first
    example = (known or candidates)[0]
    raise SpecError(_("the cut-off type '{prefix}' of layer '{name}' is ambiguous: it could be {listed}").format(
        prefix=prefix, name=name, listed=listed), file=file, line=line,
        hint=_("write the type in full, e.g. `{name} ({example})`").format(name=name, example=example))


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
    """(name, type, whole): whole is False when Keras cut the type off."""
    text = re.sub(r"^[\s│|├└+─]*", "", cell).strip()
    text = re.sub(r":\s*\d+-\d+$", "", text)         # torchinfo's depth-idx
    match = re.match(r"^(\S+?)\s*\(([^()]+)\)$", text)
    if kind == KERAS and text.endswith("…"):          # Keras 3 ends a cut cell with an ellipsis
        text, match = text[:-1], None
    if kind == KERAS:
        cut = re.match(r"^(\S+?)\s*\(([^()]*)$", text)         # Keras 1/2 cut the cell off
        if not match and cut:
            return cut.group(1), cut.group(2), False
        if not match:
            raise SpecError(f"cannot read the layer cell {text!r}; Keras writes `name (Type)`", file=file, line=line)
        return match.group(1), match.group(2), True
    return ((match.group(2), match.group(1)) if match else ("", text)) + (True,)
