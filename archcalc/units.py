"""Counts and bytes, read and written: the one place that knows what 62.4M, 1.5 MiB and 24GB mean.

Written counts use SI prefixes of 1000 (62,378,344 is 62.4M); written memory uses binary units as memory
is sold (1 MiB = 1,048,576 bytes); a budget may be given in either (GB = 10^9, GiB = 2^30). Every count
read back is exact: Fractions, never floats, carry the arithmetic. A count as a student writes it
(62.4M, 6.24e7, 1.2 billion) is read with the range of values it stands for, so grading can tell
rounding from a wrong answer.
"""
import re
import reprlib
from dataclasses import dataclass
from fractions import Fraction

from .errors import SpecError
from .i18n import _

UNITS = {"b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12,
         "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}


def parse_bytes(text):
    """'24GiB', '16 GB', '512MiB', '1e9' (bytes) -> int bytes; GB is 10^9 and GiB 2^30."""
    match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+(?:e[0-9]+)?)\s*([a-z]*)\s*", str(text).lower())
    if not match or match.group(2) not in UNITS and match.group(2):
        raise SpecError(f"cannot read the memory budget '{text}'",
                        hint="write a number and a unit: 24GiB, 16GB, 512MiB (GiB = 2^30 bytes, GB = 10^9)")
    number = match.group(1)
    if len(number) > 30 or int(number.partition("e")[2] or 0) > 30:
        raise SpecError(f"the memory budget '{text}' is out of range",
                        hint="write a number and a unit: 24GiB, 16GB, 512MiB (at most 1e30 bytes)")
    return int(Fraction(number) * UNITS[match.group(2) or "b"])


def short(n):
    """62,378,344 -> 62.4M: three significant figures, SI prefixes of 1000."""
    n = int(n)
    for size, suffix in ((10**12, "T"), (10**9, "G"), (10**6, "M"), (10**3, "K")):
        if abs(n) >= size:
            value = n / size
            return f"{value:.3g}{suffix}" if value < 1000 else f"{value:.0f}{suffix}"
    return str(n)


def human_bytes(n):
    """Binary units, as memory is sold: 1 MiB = 1,048,576 bytes. The next unit takes over at 1000 of
    the smaller one, as people write sizes: 1,036,390 bytes is 1.0 MiB, not 1012.1 KiB; 1000 B is 1.0 KiB."""
    n = int(n)
    if abs(n) < 1000:
        return f"{n} B"
    for size, suffix in ((2**10, "KiB"), (2**20, "MiB"), (2**30, "GiB"), (2**40, "TiB")):
        if round(abs(n) / size, 1) < 1000 or suffix == "TiB":
            return f"{n / size:.1f} {suffix}"


def grouped(n):
    return f"{int(n):,}"


def count_text(n):
    """62,378,344 (62.4M): exact, then short."""
    return f"{grouped(n)} ({short(n)})"


def bytes_text(n):
    """1.5 MiB (1,572,864 bytes): readable, then exact."""
    from .i18n import _
    return _("{readable} ({exact} bytes)").format(readable=human_bytes(n), exact=grouped(n))


PREFIXES = {"": 0, "k": 1, "thousand": 1, "m": 2, "million": 2, "g": 3, "b": 3, "billion": 3, "t": 4}


MAX_EXPONENT = 100         # 6.24e7 reads fine; 1e999999999999 would take forever to compute


NUMBER = re.compile(r"^([+-]?\d+(?:\.(\d*))?)(?:e([+-]?\d+))?\s*([a-z]*)$", re.IGNORECASE)


@dataclass(frozen=True)
class Given:
    """A number as written, and the values it stands for: 62.4M means 62,350,000 … 62,450,000."""

    text: str
    value: Fraction
    tolerance: Fraction              # half a unit of the last written digit; 0 for an exact integer
    binary: tuple = None             # (value, tolerance) if the prefix is read as 1024, 1024², ...

    def matches(self, n):
        return abs(n - self.value) <= self.tolerance

    def matches_binary(self, n):
        return self.binary is not None and abs(n - self.binary[0]) <= self.binary[1]


def parse_count(raw):
    """62378344, "62,378,344", "62.4M", "159K", "1.2 billion", "6.24e7" -> Given; ValueError if unreadable."""
    if isinstance(raw, bool) or not isinstance(raw, (int, float, str)):
        raise ValueError(_("expected a number such as 62378344, 62,378,344 or 62.4M, got {value}").format(
            value=repr(raw)))
    text = str(raw).strip()
    compact = re.sub(r"[\s_'\u202f]", "", text)
    if re.fullmatch(r"[+-]?\d{1,3}(,\d{3})+(\.\d*)?[a-zA-Z]*", compact):
        compact = compact.replace(",", "")              # thousands separators
    else:
        compact = compact.replace(",", ".")             # a decimal comma: 62,4M
    if len(compact) > 40:
        raise ValueError(f"cannot read {reprlib.repr(text)}: a number written with {len(compact):,} characters; "
                         "write e.g. 62378344, 62,378,344 or 62.4M")
    match = NUMBER.match(compact)
    if not match or match.group(4).lower() not in PREFIXES:
        raise ValueError(_("cannot read {value} as a number; write e.g. 62378344, 62,378,344, 62.4M or 159K").format(
            value=repr(text)))
    digits, decimals, exponent, prefix = match.groups()
    if abs(int(exponent or 0)) > MAX_EXPONENT:
        raise ValueError(f"cannot read {text!r}: its exponent is out of range; write e.g. 6.24e7")
    power = PREFIXES[prefix.lower()]
    scale = Fraction(10) ** int(exponent or 0)
    mantissa = Fraction(digits) * scale
    unit = Fraction(1, 10 ** len(decimals or "")) * scale
    exact = not decimals and not exponent and not power
    tolerance = Fraction(0) if exact else unit / 2 * 1000 ** power
    binary = (mantissa * 1024 ** power, unit / 2 * 1024 ** power) if power else None
    if abs(mantissa * 1000 ** power) >= 2**63:
        raise ValueError(f"{text!r} is 2^63 or more, larger than any count in a network; write e.g. 62.4M")
    return Given(text, mantissa * 1000 ** power, tolerance, binary)
