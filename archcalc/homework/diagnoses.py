"""The catalogue of mistakes `check` recognises: one option changed in a layer (bias, padding,
stride, groups), counts swapped (MACs for FLOPs), a bias sum over layers of a kind, and the readings of
a wrong number (rounded the wrong way, K = 1024, one slipped or swapped digit). Each returns values
and sentences; the Checker applies them with the layer classes' own hooks."""
import re
from fractions import Fraction

from ..i18n import _
from ..report.homework import KIND_LABELS
from ..units import PREFIXES, grouped
from .text import BIAS_SUMS, PLACES, PREFIX_POWERS, READINGS


def option_mistakes(node):
    """(title, option changes) for the one-option mistakes that apply to this layer."""
    layer, opts = node.layer, node.layer.opts
    found = []
    if opts.get("bias") is True:
        found.append((_("bias left out"), {"bias": False}))
    if opts.get("bias") is False:
        found.append((_("bias counted, but {layer} has none (bias: false)").format(layer=node.name), {"bias": True}))
    if "padding" in opts and opts["padding"] not in ((0, 0), "valid"):
        found.append((_("padding forgotten (P = 0)"), {"padding": (0, 0)}))
    if "stride" in opts and (opts["stride"] or layer.kernel) != (1, 1):
        found.append((_("stride ignored (S = 1)"), {"stride": (1, 1)}))
    if opts.get("groups", 1) > 1:
        found.append((_("grouped convolution ignored (G = 1 instead of {groups})").format(groups=opts["groups"]),
                      {"groups": 1}))
    return found


def swapped_count_mistakes(quantity, truth, record):
    if quantity == "flops" and record.macs:
        return [(record.macs, _("MACs given where FLOPs were asked: FLOPs = 2·MACs + … = {flops}").format(
            flops=grouped(record.flops)), "units")]
    if quantity == "macs" and record.macs:
        return [(record.flops, _("FLOPs given where MACs were asked: 1 MAC = 2 FLOPs"), "units"),
                (2 * record.macs, _("FLOPs (2 per MAC) given where MACs were asked: MACs = {macs}").format(
                    macs=grouped(record.macs)), "units")]
    return []


def bias_sum_message(verb, kind, items, none=False):
    names = ", ".join(name for name, _amount in items)
    amounts = f"({' + '.join(grouped(a) for _name, a in items)})" if len(items) <= 8 else ""
    total = grouped(sum(a for _name, a in items))
    return _(BIAS_SUMS[verb, kind == "all"]).format(count=len(items), kind=_(KIND_LABELS.get(kind, kind)),
                                                    names=names, sum=f"{amounts} = {total}" if amounts else total)


def written_form(given):
    """(decimals written, prefix as written, exponent) of 102.7M -> (1, "M", 0) or 6.24e7 -> (2, "", 7);
    None for another spelling."""
    match = re.fullmatch(r"\s*[+-]?\d[\d,\s_']*?(?:[.,](\d+))?\s*([a-zA-Z]*)\s*", given.text)
    if match and match.group(2).lower() in PREFIXES:
        return len(match.group(1) or ""), match.group(2), 0
    match = re.fullmatch(r"\s*[+-]?\d+(?:\.(\d+))?[eE]([+-]?\d+)\s*", given.text)
    if match:
        return len(match.group(1) or ""), "", int(match.group(2))
    return None


def rounded_like(given, n):
    """n written with the given's digits and prefix, rounded half up: 102,764,544 like 102.7M -> 102.8M,
    62,378,344 like 6.23e7 -> 6.24e7."""
    form = written_form(given)
    if form is None:
        return None
    decimals, prefix, exponent = form
    unit = 2 * given.tolerance
    steps = (Fraction(n) / unit + Fraction(1, 2)).__floor__()
    value = steps * unit / 1000 ** PREFIXES[prefix.lower()] / Fraction(10) ** exponent
    return f"{float(value):.{decimals}f}{prefix}" + (f"e{exponent}" if exponent else "")


def roundings(given, n):
    """How the given's digits come from n other than by rounding: "rounded down" (cut off), "rounded up"."""
    unit = 2 * given.tolerance
    if given.value == (Fraction(n) / unit).__floor__() * unit:
        return "rounded down"
    if given.value == (-(-Fraction(n) // unit)) * unit:
        return "rounded up"
    return None


def reading_diagnosis(given, truth, mistakes):
    """An abbreviated wrong number: the reading (rounded the wrong way, or K = 1024) of the right count or
    of one mistake's that lands closest to the number it explains; binary only when closer than rounding."""
    candidates = []
    for value, message, credit, bias in [(truth, None, None, None)] + mistakes:
        if not isinstance(value, int) or value <= 0:
            continue
        how = roundings(given, value)
        if how:
            candidates.append((abs(given.value - value) / value, 0, how, value, message, credit, bias))
        if given.matches_binary(value):
            candidates.append((abs(given.binary[0] - value) / value, 1, "binary", value, message, credit, bias))
    rounded = rounded_like(given, truth)
    if not candidates or rounded is None:
        return "", ""
    # rounding the wrong way: the right count before a mistake's (within one unit, closeness means nothing);
    # a binary reading only when it lands closer than that rounding
    rounded_ones = sorted((c for c in candidates if c[1] == 0), key=lambda c: (c[4] is not None, c[0]))
    binary_ones = sorted((c for c in candidates if c[1] == 1), key=lambda c: (c[0], c[4] is not None))
    best = rounded_ones[0] if rounded_ones else None
    if binary_ones and (best is None or binary_ones[0][0] < best[0]):
        best = binary_ones[0]
    _order, _kind, how, value, message, credit, bias = best
    prefix = written_form(given)[1]
    words = {"given": given.text, "truth": grouped(truth), "rounded": rounded, "value": grouped(value),
             "prefix": prefix, "power": PREFIX_POWERS.get(prefix.lower(), "1,024"), "mistake": message,
             "worked": bias[1] if bias else ""}
    if message is None:
        if how == "binary":
            words["value"] = grouped(round(given.binary[0]))
        return _(READINGS[how]).format(**words), "units" if how == "binary" else "rounding"
    return _(READINGS[(bias[0] if bias else "mistake", how)]).format(**words), credit or ""


def digit_slip(given, truth):
    """An exact number one digit away from the right one, or with two neighbouring digits swapped."""
    if given.value.denominator != 1:
        return "", ""
    theirs, right = str(int(given.value)), str(truth)
    if len(theirs) != len(right) or len(right) < 3:
        return "", ""
    differ = [i for i, (a, b) in enumerate(zip(theirs, right)) if a != b]
    if len(differ) == 1 and len(right) - 1 - differ[0] < len(PLACES):
        return _(READINGS["one digit"]).format(place=_(PLACES[len(right) - 1 - differ[0]]), truth=grouped(truth)), \
            "arithmetic"
    if len(differ) == 2 and differ[1] == differ[0] + 1 and theirs[differ[0]] == right[differ[1]] \
            and theirs[differ[1]] == right[differ[0]]:
        return _(READINGS["swapped"]).format(truth=grouped(truth)), "arithmetic"
    return "", ""
