"""Counts and bytes, read and written: the one place that knows what 62.4M, 1.5 MiB and 24GB mean.

Written counts use SI prefixes of 1000 (62,378,344 is 62.4M); written memory uses binary units as memory
is sold (1 MiB = 1,048,576 bytes); a budget may be given in either (GB = 10^9, GiB = 2^30). Every count
read back is an exact integer: Fractions, never floats, carry the arithmetic.
"""
import re
from fractions import Fraction

from .errors import SpecError

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
